#!/usr/bin/env bash
# The test command (README, and CI through .ci/run): installs what is missing, builds with
# warnings as errors, and runs every unit and integration test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPLBY_WERROR=ON
cmake --build build --parallel "$(nproc)"
cd build
ctest --output-on-failure --parallel "$(nproc)"
