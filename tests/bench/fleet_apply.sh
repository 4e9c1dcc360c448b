#!/usr/bin/env bash
# How long plbyctl apply and diff take on a fleet of N real plby-node processes on this
# machine (docs/benchmarks.md, "Fleet-wide apply"). Usage: tests/bench/fleet_apply.sh [N ...]
# (default 10 50 100). Each node has one worker and an empty pool "web"; the file gives it 10
# backends.
# Per N: the first apply (10 adds and the mark per node), a second apply (every node in sync:
# reads only), a diff; each the median of 3 runs, at --concurrency 16 (the default) and 64.
set -euo pipefail
cd "$(dirname "$0")/../.."
node=build/node/plby-node
ctl=build/ctl/plbyctl
[ -x "$node" ] && [ -x "$ctl" ] || { echo "build first: $node and $ctl" >&2; exit 2; }
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 50 100)
work=$(mktemp -d /tmp/plby-fleet.XXXXXX)
pids=()
cleanup() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cat >"$work/node.toml" <<'TOML'
[control]
listen = "127.0.0.1:0"
[[server]]
name = "web"
listen = "127.0.0.1:0"
[server.health]
check = "none"
[[server.forward]]
backends = []
TOML
{
  echo '[[pool]]'
  echo 'name = "web"'
  echo 'backends = ['
  for i in $(seq 1 10); do echo "  { address = \"127.0.0.1:$((20000 + i))\" },"; done
  echo ']'
} >"$work/pools.toml"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# Milliseconds one command takes; a command that fails stops the benchmark (a failed apply is
# no timing of an apply).
timed() {
  local start end
  start=$(date +%s%N)
  if ! "$@" >"$work/last.out" 2>&1; then
    echo "fleet_apply.sh: failed: $*" >&2
    cat "$work/last.out" >&2
    exit 1
  fi
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

printf '%6s %12s %10s %10s %10s\n' nodes concurrency "apply(ms)" "again(ms)" "diff(ms)"
for n in "${sizes[@]}"; do
  # The last fleet is gone before the next one starts.
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  pids=()
  for i in $(seq 1 "$n"); do
    "$node" --config "$work/node.toml" --workers 1 >"$work/node-$n-$i.log" 2>&1 &
    pids+=($!)
  done
  nodes=()
  for i in $(seq 1 "$n"); do
    for _ in $(seq 1 200); do
      address=$(grep -ao 'control service listening address=[0-9.:]*' "$work/node-$n-$i.log" |
        sed 's/.*address=//' || true)
      [ -n "$address" ] && break
      sleep 0.05 # waits for the node's log line, up to 10 s
    done
    [ -n "$address" ] || { echo "fleet_apply.sh: node $i of $n did not start:" >&2; cat "$work/node-$n-$i.log" >&2; exit 1; }
    nodes+=("$address")
  done
  list=$(IFS=,; echo "${nodes[*]}")
  for concurrency in 16 64; do
    first=() again=() diff=()
    for run in 1 2 3; do
      # Back to empty pools, so that each first apply makes the same changes.
      echo -e '[[pool]]\nname = "web"\nbackends = []' >"$work/empty.toml"
      "$ctl" --node "$list" apply -f "$work/empty.toml" --concurrency 64 >/dev/null 2>&1 ||
        { echo "fleet_apply.sh: emptying the pools failed" >&2; exit 1; }
      first+=("$(timed "$ctl" --node "$list" apply -f "$work/pools.toml" --concurrency "$concurrency")")
      again+=("$(timed "$ctl" --node "$list" apply -f "$work/pools.toml" --concurrency "$concurrency")")
      diff+=("$(timed "$ctl" --node "$list" diff -f "$work/pools.toml" --concurrency "$concurrency")")
    done
    printf '%6s %12s %10s %10s %10s\n' "$n" "$concurrency" \
      "$(printf '%s\n' "${first[@]}" | median)" "$(printf '%s\n' "${again[@]}" | median)" \
      "$(printf '%s\n' "${diff[@]}" | median)"
  done
done
