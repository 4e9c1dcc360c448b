#!/usr/bin/env bash
# The benchmark: installs its peers (HAProxy, nginx with the stream module, wrk, iperf3,
# valgrind), builds plby in Release and runs plby-bench, which prints a markdown table of medians
# on stdout (progress goes to stderr). Arguments go to plby-bench:
#   --rounds N (3)  --seconds S (5)  --threads 1,2  --no-callgrind
# Not part of the test suite: it takes about 10 minutes with the defaults, and its figures are
# only meaningful next to each other, on a machine that is otherwise quiet.
set -euo pipefail
cd "$(dirname "$0")/../.."

tests/deps.sh haproxy nginx-light libnginx-mod-stream wrk iperf3 valgrind
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --parallel "$(nproc)" --target plby-node plby-testpeer plby-bench >&2
exec build/tests/plby-bench "$@"
