#!/usr/bin/env bash
# test.sh — the test command: builds and runs the whole suite three times, as a normal
# Release build (./build), under AddressSanitizer + UndefinedBehaviorSanitizer +
# LeakSanitizer (./build-asan) and under ThreadSanitizer (./build-tsan: the pool, the
# lazily packed codec encoder, contexts sharing a model). Every golden test prints its
# errors.
#   scripts/test.sh            all three builds
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
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMG_TSAN=ON -DMG_WERROR=ON >/dev/null
  cmake --build build-tsan -j"$jobs"
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --test-dir build-tsan --output-on-failure -j"$jobs"
fi
if [ -x fuzz/smoke.sh ]; then fuzz/smoke.sh; fi
echo "all tests passed"
