"""test_codec_variants.py — EnCodec settings the golden fixtures do not have, through
`musicgen decode` / `musicgen encode`, against encodec_ref.py (a float64 numpy
transcription of transformers' modeling_encodec.py): causal convolutions with
trim_right_ratio 1, 0.5 and 0, replicate and constant padding, 1x1 conv shortcuts,
two residual layers, other ratios and even kernels. The reference is first checked
against the fixtures' golden tensors, so a wrong reference fails here as well.
Needs python3 with numpy (test-side only)."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgtest as t  # noqa: E402
from encodec_ref import EncodecRef  # noqa: E402

BUILD = os.environ.get("MG_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
MAKER = os.path.join(BUILD, "mg-random-checkpoint")
TOL = 2e-5  # float32 engine vs float64 reference (|audio| ~ 1)
tmp = t.tmpdir()


def check_reference_against_goldens():
    for fx in ("tiny-mono", "tiny-stereo"):
        g, _ = t.golden(fx)
        ref = EncodecRef(os.path.join(t.REF, fx))
        print(f"{fx} (the reference itself):")
        codes, _ = ref.encode(g["encodec.input"][0].astype(np.float64))
        t.report_codes("encodec.codes", codes, g["encodec.codes"][0])
        t.report("encodec.decoded_audio", ref.decode(g["encodec.codes"][0]), g["encodec.decoded_audio"][0], 1e-5)


def make_checkpoint(name, overrides, seed):
    cfg = json.load(open(os.path.join(t.REF, "tiny-mono", "config.json")))
    cfg["audio_encoder"].update(overrides)
    d = os.path.join(tmp, name)
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    p = t.subprocess.run([MAKER, os.path.join(d, "config.json"), os.path.join(d, "model"), "--seed", str(seed),
                          "--spiece", os.path.join(t.REF, "tiny-mono", "spiece.model")],
                         capture_output=True, text=True)
    t.check(p.returncode == 0, f"{name}: mg-random-checkpoint failed: {p.stderr.strip()}")
    return os.path.join(d, "model")


def check_variant(name, overrides, frames, seed):
    print(f"{name}: {json.dumps(overrides)}")
    model = make_checkpoint(name, overrides, seed)
    ref = EncodecRef(model)
    c = ref.cfg
    rng = np.random.default_rng(seed)
    d = os.path.dirname(model)
    # decode: random codes of every level the model generates
    codes = rng.integers(0, c.codebook_size, size=(1, ref.n_codes(), frames), dtype=np.int64)
    np.save(os.path.join(d, "codes.npy"), codes)
    t.run(["decode", "-m", model, os.path.join(d, "codes.npy"), "-o", os.path.join(d, "dec.wav"), "-s", "f32"])
    got, rate = t.read_wav(os.path.join(d, "dec.wav"))
    t.check(rate == c.sampling_rate, f"{name}: decoded at {rate} Hz")
    t.report("decode vs reference", got, ref.decode(codes[0]), TOL)
    # encode: a tone with noise, frames * hop - 3 samples (the last frame padded)
    n = frames * c.hop - 3
    x = 0.4 * np.sin(np.arange(n) * 2 * np.pi * 220 / c.sampling_rate) + 0.1 * rng.standard_normal(n)
    t.write_wav_f32(os.path.join(d, "in.wav"), x[None].astype(np.float32), c.sampling_rate)
    x32 = x.astype(np.float32).astype(np.float64)[None]
    t.run(["encode", "-m", model, os.path.join(d, "in.wav"), "-o", os.path.join(d, "enc.npy")])
    got = np.load(os.path.join(d, "enc.npy"))[0]
    want, margin = ref.encode(x32, nq=got.shape[0])
    # a choice the reference makes by a relative margin below 1e-4 may go either way in float32
    near_tie = margin < 1e-4
    differ = got != want
    print(f"  {'encode vs reference':40s} {int(differ.sum())} of {want.size} codes differ"
          f" ({int(near_tie.sum())} near-ties)")
    t.check(got.shape == want.shape and not np.any(differ & ~near_tie), f"{name}: encoded codes differ")


check_reference_against_goldens()
check_variant("causal", {"use_causal_conv": True}, 9, 1)
check_variant("causal_trim05_replicate_shortcut",
              {"use_causal_conv": True, "trim_right_ratio": 0.5, "pad_mode": "replicate", "use_conv_shortcut": True,
               "num_residual_layers": 2, "dilation_growth_rate": 3}, 12, 2)
check_variant("causal_trim0_constant_even_kernels",
              {"use_causal_conv": True, "trim_right_ratio": 0.0, "pad_mode": "constant", "kernel_size": 6,
               "last_kernel_size": 4, "residual_kernel_size": 2}, 9, 3)
check_variant("replicate_shortcut", {"pad_mode": "replicate", "use_conv_shortcut": True}, 9, 4)
check_variant("causal_one_frame", {"use_causal_conv": True, "upsampling_ratios": [8, 8, 10]}, 1, 5)
# The settings travel in GGUF files too: decoding through an f32 GGUF gives the same audio.
d = os.path.join(tmp, "causal_trim05_replicate_shortcut")
t.run(["quantize", "-m", os.path.join(d, "model"), "-o", os.path.join(d, "m.gguf"), "--type", "f32", "-q"])
t.run(["decode", "-m", os.path.join(d, "m.gguf"), os.path.join(d, "codes.npy"), "-o", os.path.join(d, "g.wav"),
       "-s", "f32"])
if os.path.exists(os.path.join(d, "g.wav")):
    t.report("GGUF decode vs folder decode", t.read_wav(os.path.join(d, "g.wav"))[0],
             t.read_wav(os.path.join(d, "dec.wav"))[0], 0.0)
t.finish("test_codec_variants")
