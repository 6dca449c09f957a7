"""test_bench_cli.py — `musicgen bench`: the figures it prints and its --json line.

Runs a short bench on each fixture and checks that the JSON object (last line) has
every key issue 7 and the README rely on, that the counts are the ones the model
implies (steps, weight bytes a decoder step streams, computed here from the
safetensors header; attention-cache bytes per step from the config), that the timings
are consistent (p90 >= median > 0, RTF > 0), that the bandwidth-limit figures are
the bytes divided by the measured bandwidth, that --no-mmap is reported (it changes
no count), and that pinned to one CPU its default is one thread. Timings themselves
are never asserted against a speed: machines differ."""
import json
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import mgtest as t

KEYS = ["model", "threads", "kernels", "kv_type", "weight_type", "steps", "ms_per_step", "ms_per_step_p90", "weight_bytes_per_step",
        "read_gbs", "limit_ms_per_step", "rtf", "peak_rss_mb", "load_s", "t5_ms", "codec_ms_per_audio_s", "audio_s",
        "first_audio_ms", "kv_bytes_per_step", "limit_with_kv_ms_per_step", "step_over_limit",
        "step_over_limit_with_kv", "mean_ms_per_step", "matmul_ms_per_step", "self_attn_ms_per_step", "cross_attn_ms_per_step",
        "read_gbs_before", "read_gbs_after", "weights_huge_mapped_pct", "no_mmap", "read_gbs_samples", "read_gbs_min",
        "read_gbs_max"]
DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2}
STEP_MATRIX = re.compile(r"^decoder\.(model\.decoder\.layers\.\d+\.(self_attn\.(q|k|v|out)_proj|"
                         r"encoder_attn\.(q|out)_proj|fc1|fc2)|lm_heads\.\d+)\.weight$")


def step_weight_bytes(folder):
    """Bytes of the matrices one decoder step multiplies (cross-attention K/V are
    computed once per generation, so they are not in it)."""
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    total = 0
    for name, e in header.items():
        if name != "__metadata__" and STEP_MATRIX.match(name):
            numel = 1
            for d in e["shape"]:
                numel *= d
            total += numel * DTYPE_BYTES[e["dtype"]]
    return total


def main():
    for fx, bandwidth, no_mmap in (("tiny-mono", True, False), ("tiny-stereo", False, True)):
        model = os.path.join(t.REF, fx)
        cfg = json.load(open(os.path.join(model, "config.json")))["decoder"]
        steps = 40
        args = ["bench", "-m", model, "--steps", str(steps), "-t", "2", "--json"]
        p = t.run(args + ([] if bandwidth else ["--no-bandwidth"]) + (["--no-mmap"] if no_mmap else []))
        lines = p.stdout.strip().splitlines()
        r = json.loads(lines[-1])
        t.check(all(k in r for k in KEYS), f"{fx}: keys missing from --json: {[k for k in KEYS if k not in r]}")
        for label in ("load", "T5 + tokenizer", "decoder", "EnCodec decode", "end to end", "peak RSS",
                      "weights/step", "cache/step"):
            t.check(any(l.startswith(label) for l in lines), f"{fx}: no '{label}' line in the report")
        t.check(r["steps"] == steps, f"{fx}: steps {r['steps']} != {steps}")
        t.check(r["no_mmap"] is no_mmap, f"{fx}: no_mmap {r['no_mmap']}, ran with{'' if no_mmap else 'out'} --no-mmap")
        t.check(("read into memory" in lines[0]) == no_mmap, f"{fx}: model line '{lines[0]}'")
        t.check(r["ms_per_step"] > 0 and r["ms_per_step_p90"] >= r["ms_per_step"], f"{fx}: median / p90 {r}")
        t.check(r["rtf"] > 0 and r["peak_rss_mb"] > 0 and r["load_s"] >= 0 and r["first_audio_ms"] > 0,
                f"{fx}: rtf / rss / load / first audio {r}")
        # The step's parts: the weight matrices take time on any model (the attention
        # parts of a toy model may print as 0 at 4 decimals), and together they are no
        # more than the whole run.
        parts = [r["matmul_ms_per_step"], r["self_attn_ms_per_step"], r["cross_attn_ms_per_step"]]
        t.check(parts[0] > 0 and all(p >= 0 for p in parts) and sum(parts) <= r["mean_ms_per_step"] + 2e-4,
                f"{fx}: step parts {parts} against a mean step of {r['mean_ms_per_step']} ms")
        t.check(any(l.strip().startswith("per step") and "weights" in l and "self-attention" in l for l in lines),
                f"{fx}: no per-step parts line in the report")
        t.check(r["weight_type"] == "f32", f"{fx}: weight type {r['weight_type']}")
        t.check(r["kv_type"] == "f16", f"{fx}: attention cache {r['kv_type']} (the default is f16)")
        huge = r["weights_huge_mapped_pct"]  # null with --no-mmap, or where the kernel does not say
        t.check((huge is None) if no_mmap else (huge is None or 0 <= huge <= 100),
                f"{fx}: weights_huge_mapped_pct {huge} (no_mmap {no_mmap})")
        want_w = step_weight_bytes(model)
        t.check(r["weight_bytes_per_step"] == want_w, f"{fx}: weight bytes {r['weight_bytes_per_step']} != {want_w}")
        # Self-attention K and V of positions 0..s at step s, every layer, 2 rows (CFG),
        # f16 (the default cache; q8_0 would need head_dim % 32 == 0).
        per_position = 2 * cfg["num_hidden_layers"] * 2 * cfg["hidden_size"] * 2
        want_kv = per_position * (steps + 1) / 2
        t.check(abs(r["kv_bytes_per_step"] - want_kv) <= 1, f"{fx}: cache bytes {r['kv_bytes_per_step']} != {want_kv}")
        if bandwidth:
            gbs = r["read_gbs"]
            t.check(gbs > 0, f"{fx}: no bandwidth measured")
            # Sampled between the steps (at least after the first and after the last)
            # by a helper process, so its buffer stays out of the peak RSS: read_gbs
            # is their mean. One probe before and one after the run are reported too.
            before, after = r["read_gbs_before"], r["read_gbs_after"]
            t.check(before is not None and after is not None and before > 0 and after > 0,
                    f"{fx}: no probe before / after the run: {before}, {after}")
            n, lo, hi = r["read_gbs_samples"], r["read_gbs_min"], r["read_gbs_max"]
            t.check(n >= 2 and 0 < lo <= gbs + 0.006 and gbs <= hi + 0.006,
                    f"{fx}: read_gbs {gbs} from {n} samples between steps, {lo}-{hi}")
            t.check(any(f"during the run (mean of {n} samples" in l for l in lines),
                    f"{fx}: the bandwidth line does not say it was sampled during the run")
            t.check(r["peak_rss_mb"] < 512, f"{fx}: the bandwidth probe's 1 GiB shows in the peak RSS: {r['peak_rss_mb']} MB")
            lim = want_w / (gbs * 1e9) * 1e3
            lim_kv = (want_w + want_kv) / (gbs * 1e9) * 1e3
            t.check(abs(r["limit_ms_per_step"] - lim) <= 1e-3 + 1e-2 * lim, f"{fx}: limit {r['limit_ms_per_step']} != {lim}")
            t.check(abs(r["limit_with_kv_ms_per_step"] - lim_kv) <= 1e-3 + 1e-2 * lim_kv,
                    f"{fx}: limit with cache {r['limit_with_kv_ms_per_step']} != {lim_kv}")
            for key, limit in (("step_over_limit", "limit_ms_per_step"),
                               ("step_over_limit_with_kv", "limit_with_kv_ms_per_step")):
                want = r["ms_per_step"] / r[limit]  # both printed to 3 decimals: allow for that rounding
                tol = 2e-3 + want * (6e-4 / r["ms_per_step"] + 6e-4 / r[limit])
                t.check(abs(r[key] - want) <= tol, f"{fx}: {key} {r[key]} != {want}")
        else:
            t.check(r["read_gbs"] is None and r["limit_ms_per_step"] is None and r["limit_with_kv_ms_per_step"] is None
                    and r["step_over_limit"] is None and r["read_gbs_before"] is None and r["read_gbs_after"] is None
                    and r["read_gbs_samples"] == 0 and r["read_gbs_min"] is None and r["read_gbs_max"] is None,
                    f"{fx}: --no-bandwidth gives figures {r['read_gbs']}, {r['limit_ms_per_step']} (want null)")
        print(f"  {fx}: {r['steps']} steps, {r['ms_per_step']:.2f} ms/step, weights {r['weight_bytes_per_step']} B, "
              f"cache {r['kv_bytes_per_step']:.0f} B per step, read {r['read_gbs']} GB/s")
    # The default thread count follows the CPUs the process may use: pinned to one
    # (taskset -c N, a 1-CPU cpuset), a bench without -t runs one thread.
    cpu = min(os.sched_getaffinity(0))
    p = subprocess.run([t.MUSICGEN, "bench", "-m", os.path.join(t.REF, "tiny-mono"), "--steps", "5", "--no-bandwidth",
                        "--json"], capture_output=True, text=True, timeout=600,
                       preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    t.check(p.returncode == 0, f"pinned bench failed: {p.stderr.strip()}")
    if p.returncode == 0:
        r = json.loads(p.stdout.strip().splitlines()[-1])
        t.check(r["threads"] == 1, f"pinned to CPU {cpu}, the default is {r['threads']} threads (want 1)")
        print(f"  pinned to CPU {cpu}: {r['threads']} thread")
    t.finish("test_bench_cli")


main()
