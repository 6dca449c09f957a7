#!/usr/bin/env bash
# run.sh — run the libFuzzer targets for a chosen time each and report.
#
#   fuzz/run.sh SECONDS [TARGET...]     e.g. fuzz/run.sh 60, fuzz/run.sh 600 gguf npy
#
# Builds the targets (fuzz/build.sh), writes seed corpora made from the reference
# fixtures ($MG_REFERENCE_DIR, default ../shared/reference) into build-fuzz/seeds.PID/,
# and runs each target for SECONDS with ASan + UBSan + LeakSanitizer, growing its
# corpus in build-fuzz/corpus/TARGET/ (kept between runs; delete it to start over).
# Findings (crash-*, leak-*, timeout-*, oom-* inputs) of this run go to
# build-fuzz/crashes/TARGET/ (emptied when the target starts: copy them elsewhere to keep them).
# Prints one line per target (executions, seconds, findings) and exits non-zero if any
# target found anything. FUZZ_JOBS=N runs N targets at a time (default 1).
# Reproduce a finding: build-fuzz/fuzz_TARGET build-fuzz/crashes/TARGET/crash-...
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: fuzz/run.sh SECONDS [TARGET...]   (targets: $(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_||; s|\.c||' | tr '\n' ' '))" >&2
  exit 2
fi
secs="$1"; shift
OUT="${MG_FUZZ_BUILD:-build-fuzz}"
REF="${MG_REFERENCE_DIR:-../shared/reference}"
JOBS="${FUZZ_JOBS:-1}"
if [ $# -gt 0 ]; then targets="$*"; else targets=$(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_||; s|\.c$||'); fi

fuzz/build.sh $targets || exit 1
PY=$(command -v /usr/bin/python3 || command -v python3)
SEEDS="$OUT/seeds.$$"  # per run, so runs of different targets can overlap
trap 'rm -rf "$SEEDS"' EXIT
"$PY" fuzz/make_seeds.py "$REF" "$SEEDS" || exit 1
if [[ " $targets " == *" audio "* ]]; then
  cc -O1 fuzz/seed_audio.c -lsndfile -lm -o "$OUT/seed_audio" && "$OUT/seed_audio" "$SEEDS/audio" >/dev/null
fi

# Per target: seed folder and libFuzzer options (max input size, per-input time limit).
opts_for() {
  case "$1" in
    spiece) echo "-max_len=16384" ;;       # small models (the full one is fuzzed through tokenize)
    tokenize) echo "-max_len=4096" ;;       # prompts are short; long inputs only slow it down
    safetensors | gguf) echo "-max_len=65536" ;;
    index) echo "-max_len=32768" ;;
    audio) echo "-max_len=16384" ;;
    *) echo "-max_len=8192" ;;
  esac
}

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan_libs.supp:${LSAN_OPTIONS:-}"
export MG_SPIECE="$REF/tiny-mono/spiece.model"

run_one() {
  local t="$1" log="$OUT/logs/$1.log"
  rm -rf "$OUT/crashes/$t"  # findings of this run only
  mkdir -p "$OUT/corpus/$t" "$OUT/crashes/$t" "$OUT/logs"
  local seeds="$SEEDS/$t"
  [ -d "$seeds" ] || seeds=""
  local start end
  start=$(date +%s)
  # shellcheck disable=SC2046
  "$OUT/fuzz_$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$OUT/crashes/$t/" $(opts_for "$t") "$OUT/corpus/$t" $seeds >"$log" 2>&1
  local rc=$?
  end=$(date +%s)
  local execs findings
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  # slow-unit-* (an input that took over 10 s) is reported but is not a finding: on a
  # loaded machine it is noise; a real hang shows up as timeout-* (over 20 s).
  findings=$(ls "$OUT/crashes/$t" | grep -vc '^slow-unit-')
  local ub=0
  grep -q 'runtime error:' "$log" && ub=1
  local status="ok"
  if [ "$rc" != 0 ] || [ "$findings" != 0 ] || [ "$ub" != 0 ]; then status="FINDING (exit $rc; see $log)"; fi
  printf '%-12s %12s execs %6s s  corpus %5s  findings %s  %s\n' "$t" "${execs:-?}" "$((end - start))" \
    "$(ls "$OUT/corpus/$t" | wc -l)" "$findings" "$status" | tee "$OUT/logs/$t.summary"
  [ "$status" = ok ]
}

failed=0
running=0
pids=()
for t in $targets; do
  run_one "$t" &
  pids+=($!)
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
    running=$((running - 1))
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
for t in $targets; do
  for f in "$OUT/crashes/$t"/*; do [ -e "$f" ] && echo "finding: $f"; done
done
if [ "$failed" != 0 ]; then echo "fuzz/run.sh: FINDINGS (see $OUT/logs/)"; exit 1; fi
echo "fuzz/run.sh: no findings"
