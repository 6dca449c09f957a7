#!/usr/bin/env bash
# test.sh — the test command: builds and runs the whole suite twice, as a normal
# Release build (./build) and under AddressSanitizer + UndefinedBehaviorSanitizer +
# LeakSanitizer (./build-asan). Every golden test prints its errors.
#   scripts/test.sh            both builds
#   scripts/test.sh --fast     the normal build only
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$jobs"
if [ "${1:-}" != "--fast" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMG_SANITIZE=ON -DMG_WERROR=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
if [ -x fuzz/smoke.sh ]; then fuzz/smoke.sh; fi
echo "all tests passed"
