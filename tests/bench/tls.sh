#!/usr/bin/env bash
# TLS termination, plby next to HAProxy (`bind ... ssl crt`), in one run: the same certificates
# (ECDSA P-256 and RSA-2048), the same nginx backend, at 1 and 2 worker threads.
#   full      new handshakes per second: two `openssl s_time -new` clients at once
#   resumed   resumed handshakes per second: the same with -reuse (session tickets)
#   keepalive requests per second over kept-alive TLS connections: wrk, 2 threads, 32 conns
#   bulk      MB/s of one 256 MiB download through TLS: curl
#   idle_kib  KiB of proxy memory (RSS) per idle TLS connection: 400 openssl s_client held open
# Each measurement alternates the two proxies, R times (default 3), and the medians are
# printed with the median of each round's plby/HAProxy ratio. Both offer the same ciphers,
# suites and groups: plby's defaults (ECDHE with AEAD; TLS 1.3 prefers AES-128-GCM), given to
# HAProxy as its ssl-default-bind-* settings. Usage: tests/bench/tls.sh [R] (after a build in
# build/; PLBY_NODE_BINARY=path measures another plby-node).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
seconds=3
tests/deps.sh haproxy nginx-light wrk openssl curl
node=${PLBY_NODE_BINARY:-build/node/plby-node}
[ -x "$node" ] || { echo "tests/bench/tls.sh: build first (cmake --build build)" >&2; exit 1; }

dir=$(mktemp -d /tmp/plby-tls-bench.XXXXXX)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT

# Certificates: a CA, and a server certificate for localhost of each kind.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=bench CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
for kind in ecdsa rsa; do
  if [ "$kind" = ecdsa ]; then key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1); else key=(-newkey rsa:2048); fi
  openssl req "${key[@]}" -nodes -subj "/CN=localhost" -keyout "$dir/$kind.key" \
    -out "$dir/$kind.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost\n' >"$dir/$kind.ext"
  openssl x509 -req -in "$dir/$kind.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/$kind.ext" -out "$dir/$kind.pem" 2>/dev/null
  cat "$dir/$kind.pem" "$dir/$kind.key" >"$dir/$kind.combined.pem"
done
openssl rand -base64 80 | tr -d '\n' >"$dir/tickets.key"
# plby's defaults (node/tls/ciphers.h), for HAProxy too.
ciphers=$(sed -n '/kDefaultCiphers\[\] =/,/;/p' node/tls/ciphers.h | grep -o '"[^"]*"' | tr -d '"\n')
ciphersuites=$(sed -n '/kDefaultCiphersuites\[\] =/,/;/p' node/tls/ciphers.h | grep -o '"[^"]*"' | tr -d '"\n')
groups=$(sed -n '/kDefaultGroups\[\] =/,/;/p' node/tls/ciphers.h | grep -o '"[^"]*"' | tr -d '"\n')

# The backend: nginx, one worker, a small answer and a 256 MiB body.
head -c $((256 << 20)) /dev/zero >"$dir/big"
cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
user root;
pid $dir/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:18980;
    root $dir;
    location = / { return 200 "hello from the backend\n"; }
  }
}
EOF
nginx -p "$dir" -c "$dir/nginx.conf" &
pids+=($!)

wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
wait_port 18980

start_proxy() {  # system kind threads -> sets proxy_pid, port 18981
  local system=$1 kind=$2 threads=$3
  if [ "$system" = plby ]; then
    cat >"$dir/plby.toml" <<EOF
[control]
listen = "127.0.0.1:0"
[[server]]
listen = "127.0.0.1:18981"
[server.tls]
certificates = [ { cert = "$kind.pem", key = "$kind.key" } ]
session_ticket_keys = "tickets.key"
[[server.forward]]
backends = [ { address = "127.0.0.1:18980" } ]
EOF
    "$node" --config "$dir/plby.toml" --workers "$threads" --log-level warn 2>"$dir/plby.log" &
  else
    cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread $threads
  maxconn 9000
  tune.ssl.default-dh-param 2048
  ssl-default-bind-ciphers $ciphers
  ssl-default-bind-ciphersuites $ciphersuites
  ssl-default-bind-curves $groups
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen tls
  bind 127.0.0.1:18981 ssl crt $dir/$kind.combined.pem
  server s1 127.0.0.1:18980
EOF
    haproxy -db -f "$dir/haproxy.cfg" 2>"$dir/haproxy.log" &
  fi
  proxy_pid=$!
  wait_port 18981
}
stop_proxy() { kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true; }

measure() {  # workload -> prints one number
  case $1 in
    full | resumed)
      local flag=-new
      [ "$1" = resumed ] && flag=-reuse
      local total=0 clients=()
      for i in 1 2; do
        openssl s_time -connect 127.0.0.1:18981 "$flag" -time "$seconds" -CAfile "$dir/ca.pem" \
          >"$dir/s_time.$i" 2>&1 &
        clients+=($!)
      done
      wait "${clients[@]}" || true
      # "N connections in T real seconds": s_time runs for -time seconds of wall time.
      for i in 1 2; do
        n=$(awk '/connections in [0-9]+ real seconds/ {print $1; exit}' "$dir/s_time.$i")
        total=$((total + ${n:-0}))
      done
      awk -v n="$total" -v s="$seconds" 'BEGIN{printf "%.0f\n", n / s}' ;;
    keepalive)
      wrk -t2 -c32 -d"${seconds}s" https://127.0.0.1:18981/ 2>/dev/null |
        awk '/Requests\/sec/ {print $2}' ;;
    bulk)
      curl -sk -o /dev/null -w '%{speed_download}\n' https://127.0.0.1:18981/big |
        awk '{printf "%.0f\n", $1 / 1e6}' ;;
    idle_kib)
      local count=400 before after holders=()
      before=$(rss_kib)
      for _ in $(seq "$count"); do
        (sleep 120 | openssl s_client -connect 127.0.0.1:18981 -quiet >/dev/null 2>&1) &
        holders+=($!)
      done
      # Every handshake done: as many established connections to the proxy as clients.
      for _ in $(seq 600); do
        [ "$(ss -Htn state established '( dport = :18981 )' | wc -l)" -ge "$count" ] && break
        sleep 0.1
      done
      sleep 1  # the proxies' backend connects, which follow the handshakes
      after=$(rss_kib)
      for pid in "${holders[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
      wait "${holders[@]}" 2>/dev/null || true
      awk -v a="$after" -v b="$before" -v n="$count" 'BEGIN{printf "%.1f\n", (a - b) / n}' ;;
  esac
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$proxy_pid/status"; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-6s %-8s %-10s %12s %12s %7s\n' cert threads workload plby haproxy ratio
for kind in ecdsa rsa; do
  for threads in 1 2; do
    for workload in full resumed keepalive bulk idle_kib; do
      : >"$dir/plby.runs"
      : >"$dir/haproxy.runs"
      : >"$dir/ratios"
      for run in $(seq "$runs"); do
        # Which goes first alternates: a machine that slows down within a round favours neither.
        order=(plby haproxy)
        [ $((run % 2)) -eq 0 ] && order=(haproxy plby)
        for system in "${order[@]}"; do
          start_proxy "$system" "$kind" "$threads"
          # (stderr: the shell's notes on the idle clients it kills)
          measure "$workload" >"$dir/$system.last" 2>/dev/null
          cat "$dir/$system.last" >>"$dir/$system.runs"
          stop_proxy
        done
        awk -v p="$(cat "$dir/plby.last")" -v h="$(cat "$dir/haproxy.last")" \
          'BEGIN{ if (h > 0) printf "%.3f\n", p / h }' >>"$dir/ratios"
      done
      p=$(median <"$dir/plby.runs")
      h=$(median <"$dir/haproxy.runs")
      # The ratio: the median of each round's own (rounds run minutes apart on a noisy machine).
      printf '%-6s %-8s %-10s %12s %12s %7s\n' "$kind" "$threads" "$workload" "$p" "$h" \
        "$(if [ -s "$dir/ratios" ]; then median <"$dir/ratios" | awk '{printf "%.2f", $1}'; else echo -; fi)"
    done
  done
done
echo "(full, resumed: handshakes/s; keepalive: requests/s; bulk: MB/s; idle_kib: KiB per idle"
echo " TLS connection, lower is better; medians of $runs; the ratio, plby / HAProxy, is the median"
echo " of each round's own ratio, the two measured back to back, which goes first alternating)"
