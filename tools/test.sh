#!/usr/bin/env bash
# Builds attnlab and runs every test: the Release build (CUDA compiled when nvcc is present,
# GPU tests skip without a device), then the ASan+UBSan build. This is the README's test command
# and what CI runs (.ci/run).
#
#   tools/test.sh                 # both builds
#   ATTNLAB_SANITIZE=0 tools/test.sh   # Release build only (faster local loop)
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
bash tools/setup.sh

start=$(date +%s)
echo "== Release build (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 600

if [[ "${ATTNLAB_SANITIZE:-1}" != "0" ]]; then
  echo "== ASan+UBSan build (build-asan/)"
  # CUDA and benchmarks add nothing to what the sanitizers check on a CPU machine.
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNLAB_SANITIZE=ON \
    -DATTNLAB_CUDA=OFF -DATTNLAB_BENCH=OFF
  cmake --build build-asan -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -j "$jobs" --output-on-failure --timeout 900
fi
echo "== all tests passed in $(( $(date +%s) - start )) s"
