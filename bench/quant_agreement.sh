#!/usr/bin/env bash
# quant_agreement.sh — how often a quantized model keeps the f32 model's greedy codes,
# over many random tiny checkpoints (one fixture's agreement is a lottery: one near tie
# flips every later step). For each seed: mg-random-checkpoint with CONFIG (weights drawn
# with the reference fixtures' recipe, --init reference, unless INIT says otherwise),
# musicgen quantize --type TYPE as users run it and with --pure, then STEPS greedy steps
# for 3 prompts from the f32 folder and from both GGUFs; prints each run's agreement and
# a summary per file. On toy configs every matrix and embedding table is under
# MG_SMALL_MATRIX_VALUES (or is T5's table), so the default file keeps them f32 (it is
# the f32 model: its column should read 100 %) and --pure measures TYPE itself (T5
# f16). Needs python3-numpy.
#   bench/quant_agreement.sh [CONFIG_JSON] [TYPE] [SEEDS] [STEPS] [INIT]
#   (defaults: ../shared/reference/tiny-mono/config.json, q8_0, 12, 100, reference)
set -euo pipefail
cd "$(dirname "$0")/.."
cfg="${1:-../shared/reference/tiny-mono/config.json}"
type="${2:-q8_0}"
seeds="${3:-12}"
steps="${4:-100}"
init="${5:-reference}"
mg=build/musicgen
py="${MG_PYTHON:-/usr/bin/python3}"
spiece=../shared/reference/tiny-mono/spiece.model
work="$(mktemp -d /tmp/mg_agree.XXXXXX)"
trap 'rm -rf "$work"' EXIT
agree() { "$py" -c "import numpy as np; print('%5.1f' % (100 * (np.load('$1') == np.load('$2')).mean()))"; }
for s in $(seq 1 "$seeds"); do
  build/mg-random-checkpoint "$cfg" "$work/m" --seed "$s" --init "$init" --spiece "$spiece" --force >/dev/null 2>&1
  "$mg" quantize -q --force -m "$work/m" -o "$work/d.gguf" --type "$type"
  "$mg" quantize -q --force -m "$work/m" -o "$work/p.gguf" --type "$type" --pure
  for p in "lo-fi hip hop" "epic orchestral choir" "jazz"; do
    for m in m d.gguf p.gguf; do
      "$mg" generate -q --force -m "$work/$m" --greedy --steps "$steps" --codes-out "$work/$m.npy" "$p" >/dev/null 2>&1
    done
    printf 'seed %-3s %-24s default %s %%  --pure %s %%\n' "$s" "\"$p\"" "$(agree "$work/m.npy" "$work/d.gguf.npy")" \
      "$(agree "$work/m.npy" "$work/p.gguf.npy")"
  done
  rm -rf "$work/m" "$work"/*.gguf
done | tee "$work/runs.txt"
awk -v t="$type" -v c="$(basename "$(dirname "$cfg")")/$(basename "$cfg")" '
  { a = $(NF-4); b = $(NF-1); n++; sa += a; sb += b; if (a >= 95) ka++; if (b >= 95) kb++ }
  END { printf "%s %s, %d runs: default file %d keep >= 95%% (mean %.1f%%), --pure %d (mean %.1f%%)\n",
        c, t, n, ka, sa / n, kb, sb / n }' "$work/runs.txt"
