"""test_model_variants.py — greedy codes of `musicgen generate --greedy --codes-out` on
random checkpoints of shapes and settings the golden fixtures do not have, against
musicgen_ref.py (a float64 numpy transcription of transformers' MusicGen greedy
generation): decoder widths / heads / layers / codebooks, mono and stereo, T5 sizes
(inner != d_model, no enc_to_dec_proj, position buckets), bf16 / f16 / sharded files,
unconditional rows, and every feed-forward activation a config can name (T5 plain and
gated, the decoder's activation_function). The reference is first checked against
both fixtures' golden tensors (T5 states, logits, scores, delay pattern, codes), so a
wrong reference fails here as well. Needs python3 with numpy (test-side only)."""
import copy
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgtest as t  # noqa: E402
import musicgen_ref as mr  # noqa: E402

BUILD = os.environ.get("MG_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
MAKER = os.path.join(BUILD, "mg-random-checkpoint")
PROMPTS = ["80s pop track with bassy drums and synth", "lo-fi hip hop, mellow piano, 90 bpm"]
LONG_PROMPT = ("a very long prompt about a slow ambient piece with many layers of synth pads, soft strings, field "
               "recordings of rain, distant thunder, a mellow electric piano and a deep sub bass drone")
STEPS = 30


def close(name, ours, ref, tol=1e-4):
    """max |ours - ref| relative to max |ref| (float32 HF vs float64 here)."""
    err = float(np.abs(ours - ref).max()) if ours.shape == ref.shape else float("inf")
    rel = err / max(float(np.abs(ref).max()), 1e-30)
    print(f"  {name:30s} max abs err {err:.3g} (relative {rel:.3g})")
    t.check(rel <= tol, f"reference: {name} relative error {rel:.3g}")


def equal(name, ours, ref):
    ok = ours.shape == ref.shape and np.array_equal(ours, ref)
    print(f"  {name:30s} {'identical' if ok else 'DIFFERENT'}")
    t.check(ok, f"reference: {name} differs from the golden tensor")


def check_reference(fixture):
    """musicgen_ref.py against the fixture's golden tensors."""
    model = os.path.join(t.REF, fixture)
    print(f"{fixture} (the reference itself):")
    g = mr.read_safetensors(os.path.join(model, "golden.safetensors"))
    _, meta = t.golden(fixture)
    prompts = json.loads(meta["prompts"])
    W, cfg, gen = mr.load_model(model)
    te, de = cfg["text_encoder"], cfg["decoder"]
    B, K, V = len(prompts), de["num_codebooks"], de["vocab_size"]
    ids_list = mr.tokenize(model, prompts, t.MUSICGEN)
    ids, mask = g["text.input_ids"], g["text.attention_mask"]
    last, _ = mr.t5_encode(W, te, ids, mask.astype(np.float64))
    close("t5.last_hidden_state", last, g["t5.last_hidden_state"])
    enc, emask = mr.encoder_states(W, cfg, ids_list)
    close("enc_to_dec_proj.out_masked", enc, g["enc_to_dec_proj.out_masked"])
    dec_ids = g["tf.decoder_input_ids"].reshape(B, K, -1)
    state = mr.decoder_start(W, de, enc, emask)
    logits = np.stack([mr.decoder_step(W, de, state, dec_ids[:, :, i]) for i in range(dec_ids.shape[2])], 2)
    close("tf.logits", logits.reshape(B * K, -1, V), g["tf.logits"])
    steps = g["gen.scores"].shape[0]
    seq, scores, _ = mr.generate(W, cfg, ids_list, steps, gen["guidance_scale"])
    close("gen.scores", scores.reshape(steps, B * K, V), g["gen.scores"])
    codes, _ = mr.greedy_codes(model, prompts, steps, t.MUSICGEN)
    equal("gen.codes_interleaved", codes, g["gen.codes_interleaved"])
    codes, _ = mr.greedy_codes(model, [""], g["uncond.scores"].shape[0], t.MUSICGEN)
    equal("uncond.codes", codes, g["uncond.codes"])


def t5_ff(proj):
    """text_encoder keys as save_pretrained writes them for feed_forward_proj `proj`."""
    act = "gelu_new" if proj == "gated-gelu" else proj.split("-")[-1]
    return {"feed_forward_proj": proj, "dense_act_fn": act, "is_gated_act": proj.startswith("gated-")}


# name, fixture whose config is changed, text_encoder changes, decoder changes, maker args, prompts
CASES = [
    ("dec-h64-heads8", "tiny-mono", {}, {"hidden_size": 64, "num_attention_heads": 8}, [], PROMPTS),
    ("dec-h40-heads5-ffn96-l3", "tiny-mono", {},
     {"hidden_size": 40, "num_attention_heads": 5, "ffn_dim": 96, "num_hidden_layers": 3}, [], PROMPTS),
    ("dec-k3", "tiny-mono", {}, {"num_codebooks": 3}, [], PROMPTS),
    ("t5-d48-no-proj", "tiny-mono", {"d_model": 48, "d_kv": 16, "num_heads": 3, "d_ff": 128}, {}, [], PROMPTS),
    ("t5-inner48-dff96-l3", "tiny-mono", {"d_kv": 12, "num_heads": 4, "d_ff": 96, "num_layers": 3}, {}, [],
     PROMPTS),
    ("t5-buckets16-dist20", "tiny-mono",
     {"relative_attention_num_buckets": 16, "relative_attention_max_distance": 20}, {}, [], [LONG_PROMPT, "rock"]),
    ("stereo-h64-k4", "tiny-stereo", {}, {"hidden_size": 64, "num_attention_heads": 4, "num_codebooks": 4}, [],
     PROMPTS),
    ("mixed-unconditional-row", "tiny-mono", {}, {}, [], ["", PROMPTS[1]]),
    ("bf16-sharded", "tiny-mono", {}, {}, ["--dtype", "bf16", "--max-shard-size", "400KB"], PROMPTS),
    ("f16-stereo", "tiny-stereo", {}, {}, ["--dtype", "f16"], PROMPTS),
    ("t5-gated-gelu", "tiny-mono", t5_ff("gated-gelu"), {}, [], PROMPTS),
    ("t5-gelu", "tiny-mono", t5_ff("gelu"), {}, [], PROMPTS),
    ("t5-gated-silu", "tiny-mono", t5_ff("gated-silu"), {}, [], PROMPTS),
    ("t5-gated-relu", "tiny-mono", t5_ff("gated-relu"), {}, [], PROMPTS),
    # feed_forward_proj changed but dense_act_fn / is_gated_act left as relu / false: HF's
    # kwargs win, so this is a plain relu T5 (and its checkpoint has wi, not wi_0 / wi_1)
    ("t5-stale-keys", "tiny-mono", {"feed_forward_proj": "gated-gelu"}, {}, [], PROMPTS),
    ("dec-silu", "tiny-mono", {}, {"activation_function": "silu"}, [], PROMPTS),
    ("dec-gelu_new", "tiny-mono", {}, {"activation_function": "gelu_new"}, [], PROMPTS),
    ("dec-relu", "tiny-mono", {}, {"activation_function": "relu"}, [], PROMPTS),
    ("dec-quick_gelu", "tiny-mono", {}, {"activation_function": "quick_gelu"}, [], PROMPTS),
    ("dec-tanh", "tiny-mono", {}, {"activation_function": "tanh"}, [], PROMPTS),
    ("dec-mish", "tiny-mono", {}, {"activation_function": "mish"}, [], PROMPTS),
    # transformers computes embed_scale = sqrt(hidden) from scale_embedding but never
    # applies it (MusicgenDecoder.forward): neither do we, nor musicgen_ref.py.
    ("dec-scale_embedding", "tiny-mono", {}, {"scale_embedding": True}, [], PROMPTS),
    # fewer decoder tokens than codec codes (transformers allows it; the reverse fails there)
    ("dec-vocab32-codebook64", "tiny-mono", {}, {"vocab_size": 32}, [], PROMPTS),
]


def check_case(work, seed, name, fixture, te_changes, dec_changes, maker_args, prompts):
    cfg = copy.deepcopy(json.load(open(os.path.join(t.REF, fixture, "config.json"))))
    cfg["text_encoder"].update(te_changes)
    cfg["decoder"].update(dec_changes)
    model = os.path.join(work, name)
    with open(model + ".json", "w") as f:
        json.dump(cfg, f)
    p = subprocess.run([MAKER, model + ".json", model, "--seed", str(seed), "--spiece",
                        os.path.join(t.REF, "tiny-mono", "spiece.model")] + maker_args, capture_output=True, text=True)
    if not t.check(p.returncode == 0, f"{name}: mg-random-checkpoint failed: {p.stderr.strip()}"):
        return
    codes = model + ".npy"
    if not t.run(["generate", "-m", model, "--greedy", "--steps", str(STEPS), "--codes-out", codes, "-q", "--"] +
                 prompts).returncode == 0:
        return
    got = np.load(codes)
    # `info --json` reports the shapes and activations the engine took from the config
    info = json.loads(t.run(["info", "-m", model, "--json"]).stdout or "{}")
    act, gated = mr.t5_ffn_activation(cfg["text_encoder"])
    seen = (info.get("decoder", {}).get("hidden"), info.get("decoder", {}).get("activation"),
            info.get("text_encoder", {}).get("head_dim"), info.get("text_encoder", {}).get("activation"),
            info.get("text_encoder", {}).get("gated"))
    expect = (cfg["decoder"]["hidden_size"], cfg["decoder"].get("activation_function", "gelu"),
              cfg["text_encoder"]["d_kv"], act, gated)
    t.check(seen == expect, f"{name}: info --json says {seen}, the config {expect}")
    want, gap = mr.greedy_codes(model, prompts, STEPS, t.MUSICGEN)
    bad = int((got != want).sum()) if got.shape == want.shape else -1
    print(f"  {name:30s} {'identical' if bad == 0 else f'{bad} codes differ'} {tuple(want.shape)}, "
          f"smallest top-2 gap {gap:.2g}")
    t.check(bad == 0, f"{name}: greedy codes differ from the reference ({bad})")


def check_few_steps(work):
    """Fewer steps than the delay pattern needs (1 + steps < 2D - 1 columns): the reference
    generates every codebook from the first column on, with no delays, and so must the engine."""
    models = {"tiny-mono": os.path.join(t.REF, "tiny-mono"), "tiny-stereo": os.path.join(t.REF, "tiny-stereo")}
    cfg = json.load(open(os.path.join(t.REF, "tiny-mono", "config.json")))
    cfg["decoder"]["num_codebooks"] = 8
    cfg["audio_encoder"]["target_bandwidths"] = [4.0]  # 8 quantizers at 50 Hz
    with open(os.path.join(work, "k8.json"), "w") as f:
        json.dump(cfg, f)
    p = subprocess.run([MAKER, os.path.join(work, "k8.json"), os.path.join(work, "k8"), "--seed", "7", "--spiece",
                        os.path.join(t.REF, "tiny-mono", "spiece.model")], capture_output=True, text=True)
    t.check(p.returncode == 0, f"mono K=8 checkpoint: {p.stderr.strip()}")
    models["mono K=8"] = os.path.join(work, "k8")
    for name, steps in (("tiny-mono", 1), ("tiny-mono", 5), ("tiny-mono", 6), ("tiny-stereo", 3),
                        ("mono K=8", 10), ("mono K=8", 14)):
        codes = os.path.join(work, f"few-{steps}.npy")
        if t.run(["generate", "-m", models[name], "--greedy", "--steps", str(steps), "--codes-out", codes, "-q",
                  "--force", "--"] + PROMPTS).returncode != 0:
            continue
        got = np.load(codes)
        want, _ = mr.greedy_codes(models[name], PROMPTS, steps, t.MUSICGEN)
        ok = got.shape == want.shape and np.array_equal(got, want)
        print(f"  {name}, {steps:2d} steps: {'identical' if ok else 'DIFFERENT'} {tuple(want.shape)}")
        t.check(ok, f"{name}, {steps} steps: codes {got.shape} differ from the reference's {want.shape}")


def check_generation_config(work):
    """generation_config.json keys read as transformers reads them: a missing key takes
    GenerationConfig's default (no guidance, greedy, top-k 50), an explicit null turns the
    setting off; a folder without the file gets the released checkpoints' values (with a
    warning). Greedy codes follow the file's guidance like the reference's."""
    import shutil
    src = os.path.join(t.REF, "tiny-mono")
    base = json.load(open(os.path.join(src, "generation_config.json")))
    cases = [("no guidance_scale", lambda g: g.pop("guidance_scale"), (1, 250, 1)),
             ("guidance_scale null", lambda g: g.update(guidance_scale=None), (1, 250, 1)),
             ("guidance_scale 1.5", lambda g: g.update(guidance_scale=1.5), (1.5, 250, 1)),
             ("only the token ids", lambda g: [g.pop(k) for k in ("guidance_scale", "top_k", "do_sample", "max_length")],
              (1, 50, 0)),
             ("top_k null, do_sample null", lambda g: g.update(top_k=None, do_sample=None), (3, 0, 0)),
             ("top_p, temperature null", lambda g: g.update(top_p=None, temperature=None), (3, 250, 1)),
             ("no file", None, (3, 250, 1))]
    for i, (name, edit, (want_g, want_k, want_s)) in enumerate(cases):
        model = os.path.join(work, f"gen-config-{i}")
        shutil.copytree(src, model)
        for f in os.listdir(model):
            os.chmod(os.path.join(model, f), 0o644)
        gpath = os.path.join(model, "generation_config.json")
        if edit is None:
            os.remove(gpath)
        else:
            g = copy.deepcopy(base)
            edit(g)
            with open(gpath, "w") as f:
                json.dump(g, f)
        info = json.loads(t.run(["info", "-m", model, "--json"]).stdout or "{}")
        seen = (info.get("guidance_scale"), info.get("top_k"), int(bool(info.get("do_sample"))), info.get("top_p"),
                info.get("temperature"))
        t.check(seen == (want_g, want_k, want_s, 1, 1), f"{name}: info --json says guidance / top_k / do_sample / "
                f"top_p / temperature {seen}, transformers {want_g, want_k, want_s, 1, 1}")
        # The same file inside a GGUF means the same (quantize copies it byte for byte).
        gguf = model + ".gguf"
        t.run(["quantize", "-m", model, "-o", gguf, "--type", "f32", "-q"])
        ginfo = json.loads(t.run(["info", "-m", gguf, "--json"]).stdout or "{}")
        keys = ("guidance_scale", "top_k", "do_sample", "top_p", "temperature", "max_steps")
        t.check(all(ginfo.get(k) == info.get(k) for k in keys), f"{name}: the GGUF's defaults "
                f"{[ginfo.get(k) for k in keys]} differ from the folder's {[info.get(k) for k in keys]}")
        p = t.run(["generate", "-m", model, "--greedy", "--steps", "12", "--codes-out", model + ".npy", "-q", "--"] +
                  PROMPTS)
        if edit is None:
            t.check("no generation_config.json" in p.stderr, f"{name}: no warning: {p.stderr.strip()}")
            tok = t.run(["tokenize", "-m", model, "rock"])
            t.check("generation_config" not in tok.stderr, f"{name}: tokenize, which does not generate, warns: "
                    f"{tok.stderr.strip()}")
        if name == "only the token ids":
            # no max_length: the window is what the 512 positions allow (under the released 1500)
            t.check(info.get("max_steps") == 512, f"{name}: window of {info.get('max_steps')} steps, want 512")
            # greedy by default: a seed changes nothing, and says so
            q = t.run(["generate", "-m", model, "-d", "0.3", "--seed", "5", "-o", model + "-s.wav", "-q", "rock"])
            t.check("--seed has no effect" in q.stderr, f"{name}: --seed with a greedy default: {q.stderr.strip()!r}")
        if p.returncode != 0:
            continue
        want, _ = mr.greedy_codes(model, PROMPTS, 12, t.MUSICGEN, guidance_scale=want_g)
        got = np.load(model + ".npy")
        ok = got.shape == want.shape and np.array_equal(got, want)
        print(f"  {name:30s} guidance {want_g}, top-k {want_k}, do_sample {want_s}: "
              f"{'identical' if ok else 'DIFFERENT'}")
        t.check(ok, f"{name}: greedy codes differ from the reference's with guidance {want_g}")


for fx in ("tiny-mono", "tiny-stereo"):
    check_reference(fx)
print("generation_config.json keys missing or null:")
check_generation_config(t.tmpdir())
print(f"random checkpoints, {STEPS} greedy steps, engine vs reference:")
work = t.tmpdir()
for i, case in enumerate(CASES):
    check_case(work, 100 + i, *case)
# That model cannot continue audio that EnCodec codes beyond its 32 tokens: one line says so.
small_vocab = os.path.join(work, "dec-vocab32-codebook64")
song = os.path.join(work, "song.wav")
t.run(["generate", "-m", os.path.join(t.REF, "tiny-mono"), "-d", "1", "--seed", "1", "-o", song, "-q", "rock"])
p = t.run(["generate", "-m", small_vocab, "-d", "2", "--audio-prompt", song, "-o", os.path.join(work, "c.wav"), "-q",
           "rock"], expect_ok=False)
t.check("decoder.vocab_size 32 < audio_encoder.codebook_size 64" in p.stderr, f"audio prompt beyond the vocab: {p.stderr}")
print("fewer steps than the delay pattern needs:")
check_few_steps(work)
# The settings travel in GGUF files too: an f32 GGUF of the gated T5 / SiLU-decoder
# checkpoints gives the folder's codes.
print("as GGUF:")
for name in ("t5-gated-silu", "dec-silu"):
    model, gguf, a, b = (os.path.join(work, name + ext) for ext in ("", ".gguf", ".a.npy", ".b.npy"))
    t.run(["quantize", "-m", model, "-o", gguf, "--type", "f32", "-q"])
    for m, out in ((model, a), (gguf, b)):
        t.run(["generate", "-m", m, "--greedy", "--steps", "12", "--codes-out", out, "-q", "rock"])
    same = os.path.exists(a) and os.path.exists(b) and np.array_equal(np.load(a), np.load(b))
    print(f"  {name:30s} {'identical' if same else 'DIFFERENT'}")
    t.check(same, f"{name}: the f32 GGUF gives other codes than the folder")
t.finish("test_model_variants")
