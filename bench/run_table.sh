#!/usr/bin/env bash
# run_table.sh — the speed/memory table of the README, measured on this machine:
# a random-weight checkpoint of the real musicgen-small shapes (made once, never
# committed), converted to every weight format, each timed with `musicgen bench`
# (10 s of audio, sampling + CFG, all cores), plus one full 30 s window for f32 and
# q8_0, each against the read bandwidth bench samples between its steps. Prints a
# Markdown table (with the attention-cache bytes a step reads on average and the
# limit counting them); the raw JSON lines go to $OUT/bench.jsonl.
# Before each run the model's files are dropped from the page cache (dd iflag=nocache),
# so the load reads them back in order into contiguous pages: a file whose cached pages
# were evicted and re-read piecemeal (memory pressure, other big files) streams up to
# ~20 % slower per step (docs/speed.md, "Where mapped weights sit in memory").
#   bench/run_table.sh [WORK_DIR]      (default /tmp/musicgen-bench; needs ~6 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/tmp/musicgen-bench}"
mg=build/musicgen
mkdir -p "$work"
ck="$work/musicgen-small-random"
[ -f "$ck/model.safetensors" ] || build/mg-random-checkpoint ../shared/reference/configs/musicgen-small.json "$ck" --seed 1
for t in f16 bf16 q8_0 q4_0; do # again whenever the binary is newer: its layout may have changed
  g="$work/small-$t.gguf"
  if [ ! -f "$g" ] || [ "$mg" -nt "$g" ]; then "$mg" quantize -q --force -m "$ck" -o "$g" --type "$t"; fi
done
out="$work/bench.jsonl"
: > "$out"
drop_cache() { # a model file or folder
  local f
  for f in "$1" "$1"/*.safetensors; do
    [ -f "$f" ] && dd if="$f" iflag=nocache count=0 status=none 2>/dev/null || true
  done
}
run() { # label model extra-args...
  local label="$1" model="$2"; shift 2
  drop_cache "$model"
  "$mg" bench -m "$model" --json "$@" | tail -1 | sed "s/^{/{\"label\": \"$label\", /" >> "$out"
}
run "f32 (safetensors)" "$ck"
for t in f16 bf16 q8_0 q4_0; do run "$t (GGUF)" "$work/small-$t.gguf"; done
run "f32, 30 s window" "$ck" --duration 29.9
run "q8_0, 30 s window" "$work/small-q8_0.gguf" --duration 29.9
run "f32, 1 thread" "$ck" -t 1
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| run | ms/step (median) | p90 | weights/step | limit at the bandwidth sampled during the run (mean, range): step / limit | cache/step | limit with cache: step / limit | "
      "mean step: weights (GB/s) + self-attn (GB/s) + cross-attn + rest | RTF | first audio | T5 | codec ms per audio s | peak RSS |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    lim = (f"{r['limit_ms_per_step']:.1f} ms ({r['read_gbs']:.1f} GB/s, {r['read_gbs_min']:.0f}-{r['read_gbs_max']:.0f}): "
           f"{r['step_over_limit']:.2f}x" if r["read_gbs"] else "-")
    lim_kv = f"{r['limit_with_kv_ms_per_step']:.1f} ms: {r['step_over_limit_with_kv']:.2f}x" if r["read_gbs"] else "-"
    mm, sa, ca = r["matmul_ms_per_step"], r["self_attn_ms_per_step"], r["cross_attn_ms_per_step"]
    rest = r["mean_ms_per_step"] - mm - sa - ca
    parts = (f"{mm:.1f} ({r['weight_bytes_per_step'] / mm / 1e6:.0f}) + {sa:.1f} ({r['kv_bytes_per_step'] / sa / 1e6:.0f})"
             f" + {ca:.2f} + {rest:.2f}")
    print(f"| {r['label']} | {r['ms_per_step']:.1f} | {r['ms_per_step_p90']:.1f} | {r['weight_bytes_per_step']/1e6:.0f} MB | {lim} | "
          f"{r['kv_bytes_per_step']/1e6:.0f} MB | {lim_kv} | {parts} | "
          f"{r['rtf']:.2f} | {r['first_audio_ms']:.0f} ms | {r['t5_ms']:.0f} ms | {r['codec_ms_per_audio_s']:.0f} | {r['peak_rss_mb']:.0f} MB |")
PY
