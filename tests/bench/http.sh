#!/usr/bin/env bash
# HTTP/1.1 proxying, plby (mode = "http") next to HAProxy (mode http, http-reuse always) and
# nginx (proxy_pass with upstream keepalive), in one run: the same two nginx backends, at 1 and
# 2 worker threads (nginx: worker processes).
#   keepalive  requests per second over kept-alive client connections: wrk, 2 threads, 64 conns
#   p50_ms     its median latency, and p99_ms its 99th percentile (wrk --latency)
#   cpu_us     CPU microseconds (user + system) the proxy spent per request in that run
#   newconn    requests per second with a new client connection each (Connection: close)
#   idle_kib   KiB of proxy memory (RSS) per idle keep-alive client connection: 1000 held open
# Each measurement alternates the three proxies, R times (default 3), and the medians are
# printed with the plby/HAProxy and plby/nginx ratios. Usage: tests/bench/http.sh [R] (after a
# build in build/).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
seconds=3
tests/deps.sh haproxy nginx-light wrk python3
node=build/node/plby-node
[ -x "$node" ] || { echo "tests/bench/http.sh: build first (cmake --build build)" >&2; exit 1; }

dir=$(mktemp -d /tmp/plby-http-bench.XXXXXX)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT

# The backends: two nginx, one worker each, a small answer.
for port in 18970 18971; do
  mkdir -p "$dir/backend-$port"
  cat >"$dir/backend-$port/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
user root;
pid $dir/backend-$port/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 "hello from backend $port\n"; }
  }
}
EOF
  nginx -p "$dir/backend-$port" -c "$dir/backend-$port/nginx.conf" &
  pids+=($!)
done

wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
wait_port 18970
wait_port 18971

start_proxy() {  # system threads -> sets proxy_pid (and proxy_pids), port 18972
  local system=$1 threads=$2
  case $system in
    plby)
      cat >"$dir/plby.toml" <<EOF
[control]
listen = "127.0.0.1:0"
[[server]]
listen = "127.0.0.1:18972"
mode = "http"
[[server.forward]]
algorithm = "RR"
backends = [ { address = "127.0.0.1:18970" }, { address = "127.0.0.1:18971" } ]
[server.health]
check = "none"
EOF
      "$node" --config "$dir/plby.toml" --workers "$threads" --log-level warn 2>"$dir/plby.log" &
      proxy_pid=$!
      proxy_pids=$proxy_pid ;;
    haproxy)
      cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread $threads
  maxconn 9000
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
listen web
  bind 127.0.0.1:18972
  balance roundrobin
  server s1 127.0.0.1:18970
  server s2 127.0.0.1:18971
EOF
      haproxy -db -f "$dir/haproxy.cfg" 2>"$dir/haproxy.log" &
      proxy_pid=$!
      proxy_pids=$proxy_pid ;;
    nginx)
      mkdir -p "$dir/proxy"
      cat >"$dir/proxy/nginx.conf" <<EOF
worker_processes $threads;
daemon off;
user root;
pid $dir/proxy/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile 20000;
events { worker_connections 8000; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  upstream backends {
    server 127.0.0.1:18970;
    server 127.0.0.1:18971;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:18972;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
      nginx -p "$dir/proxy" -c "$dir/proxy/nginx.conf" 2>"$dir/nginx.log" &
      proxy_pid=$!
      wait_port 18972
      # The master and its workers: their CPU and memory together.
      proxy_pids="$proxy_pid $(pgrep -P "$proxy_pid" | tr '\n' ' ')" ;;
  esac
  wait_port 18972
}
stop_proxy() { kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true; }

# Clock ticks of CPU (user + system) of the proxy's processes.
cpu_ticks() {
  local total=0 pid
  for pid in $proxy_pids; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
rss_kib() {
  local total=0 pid
  for pid in $proxy_pids; do total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status"))); done
  echo "$total"
}

# wrk's report in milliseconds: "1.23ms", "456.00us", "1.02s".
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f\n", v}'; }

keepalive_run() {  # -> "$dir/wrk.out", and the CPU per request in "$dir/cpu_us"
  local before after requests
  before=$(cpu_ticks)
  wrk -t2 -c64 -d"${seconds}s" --latency http://127.0.0.1:18972/ >"$dir/wrk.out" 2>&1
  after=$(cpu_ticks)
  requests=$(awk '/requests in/ {print $1}' "$dir/wrk.out")
  awk -v a="$after" -v b="$before" -v n="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN{printf "%.2f\n", (a - b) / hz * 1e6 / n}' >"$dir/cpu_us"
}

measure() {  # workload -> appends one number per metric to $dir/$system.<metric>
  local system=$1
  case $2 in
    keepalive)
      keepalive_run
      awk '/Requests\/sec/ {print $2}' "$dir/wrk.out" >>"$dir/$system.keepalive"
      awk '$1 == "50%" {print $2}' "$dir/wrk.out" | to_ms >>"$dir/$system.p50_ms"
      awk '$1 == "99%" {print $2}' "$dir/wrk.out" | to_ms >>"$dir/$system.p99_ms"
      cat "$dir/cpu_us" >>"$dir/$system.cpu_us" ;;
    newconn)
      wrk -t2 -c32 -d"${seconds}s" -H "Connection: close" http://127.0.0.1:18972/ 2>/dev/null |
        awk '/Requests\/sec/ {print $2}' >>"$dir/$system.newconn" ;;
    idle_kib)
      local count=1000 before after
      before=$(rss_kib)
      python3 - "$count" <<'EOF' &
import socket, sys, time
held = []
for _ in range(int(sys.argv[1])):
    s = socket.create_connection(("127.0.0.1", 18972))
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    s.recv(4096)
    held.append(s)
time.sleep(30)
EOF
      local holder=$!
      for _ in $(seq 600); do
        [ "$(ss -Htn state established '( dport = :18972 )' | wc -l)" -ge "$count" ] && break
        sleep 0.1
      done
      sleep 1
      after=$(rss_kib)
      kill "$holder" 2>/dev/null || true
      wait "$holder" 2>/dev/null || true
      awk -v a="$after" -v b="$before" -v n="$count" 'BEGIN{printf "%.1f\n", (a - b) / n}' \
        >>"$dir/$system.idle_kib" ;;
  esac
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v p="$1" -v h="$2" 'BEGIN{ if (h > 0) printf "%.2f", p / h; else print "-" }'; }

printf '%-8s %-10s %10s %10s %10s %9s %9s\n' threads metric plby haproxy nginx vs_hap vs_ngx
for threads in 1 2; do
  for system in plby haproxy nginx; do
    for metric in keepalive p50_ms p99_ms cpu_us newconn idle_kib; do : >"$dir/$system.$metric"; done
  done
  for workload in keepalive newconn idle_kib; do
    for _ in $(seq "$runs"); do
      for system in plby haproxy nginx; do
        start_proxy "$system" "$threads"
        measure "$system" "$workload" 2>/dev/null
        stop_proxy
      done
    done
  done
  for metric in keepalive p50_ms p99_ms cpu_us newconn idle_kib; do
    p=$(median <"$dir/plby.$metric")
    h=$(median <"$dir/haproxy.$metric")
    n=$(median <"$dir/nginx.$metric")
    printf '%-8s %-10s %10s %10s %10s %9s %9s\n' "$threads" "$metric" "$p" "$h" "$n" \
      "$(ratio "$p" "$h")" "$(ratio "$p" "$n")"
  done
done
echo "(keepalive, newconn: requests/s, higher is better; p50_ms, p99_ms: latency; cpu_us: CPU"
echo " per request; idle_kib: KiB per idle client connection; those lower is better. Medians of"
echo " $runs runs; a ratio is plby / the other)"
