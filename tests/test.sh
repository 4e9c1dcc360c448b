#!/usr/bin/env bash
# The test command (README, and CI through .ci/run): installs what is missing, then
#   1. builds (Release, warnings are errors) and runs every unit and integration test;
#   2. the same tests under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the integration tests under ThreadSanitizer;
#   4. the libFuzzer targets for the config, state file, address, PROXY header, ClientHello and
#      HTTP/1.1 parsers, 15 s each;
#   5. the image: deploy/Dockerfile built with podman and run as Kubernetes would (tests/image.sh).
# `tests/test.sh --quick` stops after stage 1 (for the edit-build-test loop).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  *) echo "tests/test.sh: unknown argument \"$1\" (valid: --quick)" >&2; exit 2 ;;
esac

# chromium: the status page is checked in a real browser (headless). haproxy, nginx and openssl
# are the peers the PROXY protocol and TLS tests talk to; python3 (http.server, http.client)
# and wrk are the HTTP tests' backends and clients; testssl.sh judges a TLS listener, and
# python3-cryptography makes the OCSP responses it staples.
tests/deps.sh chromium haproxy nginx-light python3 python3-cryptography testssl.sh wrk
# kubectl renders deploy/ offline (kubectl kustomize); it is not a Debian 12 package.
if ! command -v kubectl >/dev/null; then
  echo "tests/test.sh: kubectl is missing; the manifest tests render deploy/ with" \
    "'kubectl kustomize' (kubectl 1.27 or later: https://kubernetes.io/docs/tasks/tools/)" >&2
  exit 1
fi
jobs=$(nproc)
root=$PWD
started=$SECONDS
stage() { printf '\n=== %s (at %ds) ===\n' "$*" $((SECONDS - started)); }
# Sanitizer builds: -O1 keeps them quick to build and run; -g1 keeps line numbers in reports.
sanitizer_flags=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -g1")

stage "1/5 Release build, warnings as errors, every test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPLBY_WERROR=ON
cmake --build build --parallel "$jobs"
(cd build && ctest --output-on-failure --parallel "$jobs")
if [ "$quick" -eq 1 ]; then
  echo "tests/test.sh --quick: stage 1 passed (sanitizers and fuzzing skipped)"
  exit 0
fi

# The sanitizer stages build the node's binaries and the unit tests with the sanitizer, and run
# stage 1's integration tests against those binaries (the harness takes them from
# PLBY_*_BINARY): the test code itself needs no sanitizer, and building it twice more cost
# minutes of CI.
# (The test peer, a backend the tests talk to, is not what is under test: stage 1's serves.)
# testssl.sh takes about a minute a run; its handshakes are the kind the other TLS tests make,
# so the sanitizer stages leave it to stage 1.
stage1_only='^TlsTerminationTest\.TestsslFindsNothingNotOkButTheTestCertificatesTrust$'
sanitized_binaries() {
  echo "PLBY_NODE_BINARY=$root/$1/node/plby-node PLBY_CTL_BINARY=$root/$1/ctl/plbyctl"
}

stage "2/5 AddressSanitizer + UndefinedBehaviorSanitizer, every test"
cmake -S . -B build-asan "${sanitizer_flags[@]}" -DPLBY_SANITIZE=address
cmake --build build-asan --parallel "$jobs" --target plby-node plbyctl plby_unit_tests
(cd build-asan && ctest --output-on-failure --parallel "$jobs" -L unit)
(cd build && env $(sanitized_binaries build-asan) \
  ctest --output-on-failure --parallel "$jobs" -L integration -E "$stage1_only")

# Races are between threads: the node's workers, control, health and discovery threads, and
# plbyctl's fan-out, which the integration tests drive. The unit tests are single-threaded
# logic, run under ASan above.
stage "3/5 ThreadSanitizer, the integration tests"
cmake -S . -B build-tsan "${sanitizer_flags[@]}" -DPLBY_SANITIZE=thread -DPLBY_BUILD_TESTS=OFF
cmake --build build-tsan --parallel "$jobs" --target plby-node plbyctl
(cd build && env $(sanitized_binaries build-tsan) \
  TSAN_OPTIONS="ignore_noninstrumented_modules=1 suppressions=$root/tests/tsan.supp" \
    ctest --output-on-failure --parallel "$jobs" -L integration -E "$stage1_only")

stage "4/5 libFuzzer: config, state file, address, PROXY header, ClientHello and HTTP parsers"
CC=clang CXX=clang++ cmake -S . -B build-fuzz "${sanitizer_flags[@]}" -DPLBY_FUZZ=ON \
  -DPLBY_BUILD_TESTS=OFF
fuzz_targets=(config state address proxy_header client_hello http)
fuzzers=()
for target in "${fuzz_targets[@]}"; do fuzzers+=("plby-$target-fuzzer"); done
cmake --build build-fuzz --parallel "$jobs" --target "${fuzzers[@]}"
for target in "${fuzz_targets[@]}"; do
  corpus=build-fuzz/corpus-$target
  mkdir -p "$corpus"
  cp tests/fuzz/seeds/$target/* "$corpus"/
  build-fuzz/tests/fuzz/plby-$target-fuzzer -max_total_time="${PLBY_FUZZ_SECONDS:-15}" \
    -artifact_prefix=build-fuzz/ -print_final_stats=1 "$corpus"
done

stage "5/5 The image: deploy/Dockerfile built with podman, run as Kubernetes would, a fleet"
tests/image.sh build

stage "all stages passed"
