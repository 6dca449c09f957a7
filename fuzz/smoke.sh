#!/usr/bin/env bash
# smoke.sh — the CI fuzz smoke run (called by scripts/test.sh): builds every fuzz
# target and runs each for 15 s (two at a time), starting from seeds made from the
# reference fixtures. About a minute in total; fails on any crash, leak, timeout or
# UBSan report. Longer runs: fuzz/run.sh SECONDS [TARGET...] (docs/hardening.md).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v "${CC:-clang}" >/dev/null; then
  echo "fuzz/smoke.sh: clang not found; install it (scripts/deps.sh does) to run the fuzz smoke test" >&2
  exit 1
fi
FUZZ_JOBS="${FUZZ_JOBS:-2}" exec fuzz/run.sh "${FUZZ_SMOKE_SECONDS:-15}"
