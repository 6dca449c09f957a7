#!/usr/bin/env bash
# quant_agreement.sh — how often a quantized model keeps the f32 model's greedy codes,
# over many random tiny checkpoints (one fixture's agreement is a lottery: one near tie
# flips every later step). For each seed: mg-random-checkpoint with CONFIG, musicgen
# quantize --type TYPE, then 100 greedy steps for 3 prompts from the f32 folder and from
# the GGUF; prints each run's agreement and a summary. Needs python3-numpy.
#   bench/quant_agreement.sh [CONFIG_JSON] [TYPE] [SEEDS]
#   (defaults: ../shared/reference/tiny-mono/config.json, q8_0, 12)
set -euo pipefail
cd "$(dirname "$0")/.."
cfg="${1:-../shared/reference/tiny-mono/config.json}"
type="${2:-q8_0}"
seeds="${3:-12}"
mg=build/musicgen
py="${MG_PYTHON:-/usr/bin/python3}"
work="$(mktemp -d /tmp/mg_agree.XXXXXX)"
trap 'rm -rf "$work"' EXIT
for s in $(seq 1 "$seeds"); do
  build/mg-random-checkpoint "$cfg" "$work/m" --seed "$s" >/dev/null 2>&1
  "$mg" quantize -q --force -m "$work/m" -o "$work/m.gguf" --type "$type"
  for p in "lo-fi hip hop" "epic orchestral choir" "jazz"; do
    "$mg" generate -q --force -m "$work/m" --greedy --steps 100 --codes-out "$work/f.npy" "$p" >/dev/null 2>&1
    "$mg" generate -q --force -m "$work/m.gguf" --greedy --steps 100 --codes-out "$work/q.npy" "$p" >/dev/null 2>&1
    "$py" -c "import numpy as np; f=np.load('$work/f.npy'); q=np.load('$work/q.npy'); print('seed $s %-24s %5.1f %%' % ('\"$p\"', 100*(f==q).mean()))"
  done
  rm -rf "$work/m" "$work/m.gguf"
done | tee "$work/runs.txt"
awk '{a = $(NF-1); n++; s += a; if (a >= 95) k++} END {printf "%s: %d runs, %d keep >= 95%% agreement, mean %.1f%%\n", "'"$type"'", n, k, s / n}' "$work/runs.txt"
