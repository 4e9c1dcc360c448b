#!/usr/bin/env bash
# The demo: installs what is missing, builds, starts three backends answering
# "Hi from server 8080/8081/8082" (like the PLBY seed's server.py), runs plby-node on the
# top-level config.toml in front of them and sends requests through port 8200 to show the round
# robin. From a terminal the node then keeps running until Ctrl-C. Without a terminal (CI, a
# pipe, `ssh host cmd`) it stops after the requests, unless --keep-running is given; then it
# runs until SIGTERM/SIGINT/SIGHUP, and its pid is in build/demo/demo.pid.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'USAGE'
Usage: tests/demo.sh [--keep-running]

  --keep-running   without a terminal, keep the node running after the requests
                   (stop it with: kill "$(cat build/demo/demo.pid)")
USAGE
}

keep_running=0
[ -t 0 ] && keep_running=1
for arg in "$@"; do
  case "$arg" in
    --keep-running) keep_running=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "tests/demo.sh: unknown argument \"$arg\"" >&2; usage >&2; exit 2 ;;
  esac
done

tests/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --parallel "$(nproc)" --target plby-node plbyctl plby-testpeer

demo=build/demo
mkdir -p "$demo"
echo $$ >"$demo/demo.pid"
children=()
cleanup() {
  trap - EXIT INT TERM HUP
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$demo/demo.pid"
}
trap cleanup EXIT
trap 'echo; echo "demo: stopping"; exit 0' INT TERM HUP

# Waits until `file` has a line matching `pattern`, or fails after 10 s or when `pid` dies.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3
  for _ in $(seq 100); do
    grep -q "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: gave up waiting for \"$pattern\" in $file:" >&2
  cat "$file" >&2
  exit 1
}

for port in 8080 8081 8082 8083; do
  build/tests/plby-testpeer hi --listen "127.0.0.1:$port" >"$demo/backend-$port.log" 2>&1 &
  children+=($!)
  wait_for_line "$demo/backend-$port.log" "^listening" $!
  echo "demo: backend on 127.0.0.1:$port answers \"Hi from server $port\""
done
echo "demo: (8083 is not in config.toml: it waits for you to add it with plbyctl)"

build/node/plby-node --config config.toml 2> >(tee -i "$demo/node.log" >&2) &
node_pid=$!
children+=($node_pid)
wait_for_line "$demo/node.log" " ready " $node_pid

echo
echo "demo: six requests through plby-node on 127.0.0.1:8200 (algorithm WRR, equal weights):"
build/tests/plby-testpeer request --connect 127.0.0.1:8200 --count 6 --message "hello"
echo

add_fourth=(build/ctl/plbyctl backends add 127.0.0.1:8083)
send_four=(build/tests/plby-testpeer request --connect 127.0.0.1:8200 --count 4)
if [ "$keep_running" -eq 0 ]; then
  echo "demo: adding the fourth backend through the control service: ${add_fourth[*]}"
  "${add_fourth[@]}"
  echo
  echo "demo: four more requests; 8083 now takes its turn:"
  "${send_four[@]}"
  echo
  echo "demo: no terminal, so stopping now (use --keep-running to keep the node up)."
  exit 0
fi
cat <<EOT
demo: plby-node is running (pid $node_pid), its control service on 127.0.0.1:9100.
demo: in another terminal, from $(pwd), add the fourth backend and watch it take traffic:
        ${add_fourth[*]}
        ${send_four[*]}
        build/ctl/plbyctl backends list
      or try: curl http://127.0.0.1:8200/
demo: stop it with Ctrl-C, or from another shell: kill "\$(cat $demo/demo.pid)"
EOT
wait "$node_pid"
