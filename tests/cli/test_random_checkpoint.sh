#!/usr/bin/env bash
# test_random_checkpoint.sh — tools/mg-random-checkpoint against an independent
# description of the Hugging Face checkpoint layout:
#  1. from the tiny-mono config: the safetensors header is byte-identical to the
#     fixture's (same names, shapes, dtypes, offsets, padding: what save_pretrained
#     wrote), the position table matches the fixture's within float32 rounding, the
#     spiece.model is copied, generation_config.json has MusicGen's defaults, values
#     are finite and scaled as documented, the same seed gives the same file;
#  2. from a custom stereo config with other dimensions (no enc_to_dec_proj, 3
#     upsampling ratios, 2 resnet blocks per stage, 1 LSTM layer, codebook_dim !=
#     hidden_size) in f16: every tensor name and shape equals what a Python
#     re-derivation of MusicgenForConditionalGeneration's modules gives, and
#     `musicgen info` reports the config's sizes and parameter counts;
#  3. sharding: --max-shard-size splits the weights exactly like
#     huggingface_hub's split_torch_state_dict_into_shards (module order, one shard
#     per oversized tensor), with a save_pretrained-style index, and the sharded
#     folder loads;
#  4. --init reference: every decoder / T5 tensor drawn with the scale of the
#     fixture's (its README's recipe), compared with the fixture's own values;
#  5. errors: existing files are not replaced without --force, bad options fail, configs
#     musicgen refuses (no LSTM, codebook_dim != hidden_size, a stereo codec, residual
#     blocks 0 channels wide, too many codec channels, a tokenizer larger than T5's
#     vocabulary) are refused before anything is written.
set -euo pipefail

BUILD="${MG_BUILD_DIR:-$(dirname "$0")/../../build}"
REF="${MG_REFERENCE_DIR:-$(dirname "$0")/../../../shared/reference}"
MUSICGEN="${MUSICGEN:-$BUILD/musicgen}"
MAKER="$BUILD/mg-random-checkpoint"
[ -x "$MAKER" ] || { echo "FAIL: $MAKER not built" >&2; exit 1; }
[ -x "$MUSICGEN" ] || { echo "FAIL: $MUSICGEN not built" >&2; exit 1; }
PY="$(command -v python3 || command -v /usr/bin/python3)"

DIR="$(mktemp -d /tmp/mg_randckpt.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# ---- 1. tiny-mono config -------------------------------------------------------------
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/mono" --seed 7 2> "$DIR/log" || { cat "$DIR/log" >&2; fail "maker (tiny-mono)"; }
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/mono2" --seed 7 2> /dev/null || fail "maker (tiny-mono, again)"
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/mono3" --seed 8 2> /dev/null || fail "maker (tiny-mono, seed 8)"
cmp -s "$DIR/mono/model.safetensors" "$DIR/mono2/model.safetensors" || fail "same seed, different weights"
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/monoref" --seed 7 --init reference 2> /dev/null || fail "maker (--init reference)"
cmp -s "$DIR/mono/model.safetensors" "$DIR/mono3/model.safetensors" && fail "different seeds, same weights"
cmp -s "$DIR/mono/config.json" "$REF/tiny-mono/config.json" || fail "config.json not copied verbatim"
cmp -s "$DIR/mono/spiece.model" "$REF/tiny-mono/spiece.model" || fail "spiece.model not copied"

# ---- 2. a custom stereo config ----------------------------------------------------------
"$PY" - "$REF/tiny-stereo/config.json" "$DIR/custom.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
t, a, d = c["text_encoder"], c["audio_encoder"], c["decoder"]
t.update(d_model=64, d_kv=16, num_heads=4, d_ff=96, num_layers=3, relative_attention_num_buckets=16)
a.update(num_filters=6, hidden_size=24, codebook_dim=24, codebook_size=128, upsampling_ratios=[8, 4, 5],
         num_residual_layers=2, num_lstm_layers=1, kernel_size=5, last_kernel_size=3, residual_kernel_size=5,
         compress=3, target_bandwidths=[8.0])
d.update(vocab_size=128, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, ffn_dim=96,
         num_codebooks=8, audio_channels=2, max_position_embeddings=300, pad_token_id=128, bos_token_id=128)
json.dump(c, open(sys.argv[2], "w"), indent=2)
PYEOF
cp "$REF/tiny-mono/spiece.model" "$DIR/spiece-copy.model"
"$MAKER" "$DIR/custom.json" "$DIR/custom" --dtype f16 --spiece "$DIR/spiece-copy.model" 2> "$DIR/log" \
    || { cat "$DIR/log" >&2; fail "maker (custom)"; }

# ---- 3. sharding --------------------------------------------------------------------------
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/sharded" --seed 7 --max-shard-size 0.3MB 2> "$DIR/log" \
    || { cat "$DIR/log" >&2; fail "maker (sharded)"; }
[ -f "$DIR/sharded/model.safetensors.index.json" ] || fail "no shard index"
[ -f "$DIR/sharded/model.safetensors" ] && fail "sharded folder also has model.safetensors"

"$MUSICGEN" info -m "$DIR/mono" --json > "$DIR/mono.json" || fail "info (tiny-mono random)"
"$MUSICGEN" info -m "$REF/tiny-mono" --json > "$DIR/fixture.json" || fail "info (fixture)"
"$MUSICGEN" info -m "$DIR/custom" --json > "$DIR/custom_info.json" || fail "info (custom)"
"$MUSICGEN" info -m "$DIR/sharded" --json > "$DIR/sharded_info.json" || fail "info (sharded)"

"$PY" - "$DIR" "$REF" <<'PYEOF' || fails=$((fails + 1))
import json, math, os, struct, sys
from array import array

d, ref = sys.argv[1], sys.argv[2]
bad = 0
def check(cond, msg):
    global bad
    if not cond:
        bad += 1
        print("FAIL:", msg, file=sys.stderr)

def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        raw = f.read(n)
    return raw, json.loads(raw), 8 + n

def tensor_values(path, name):
    raw, h, base = header(path)
    e = h[name]
    b, end = e["data_offsets"]
    with open(path, "rb") as f:
        f.seek(base + b)
        data = f.read(end - b)
    if e["dtype"] == "F32":
        return array("f", data)
    return array("f", [struct.unpack("<e", data[i:i + 2])[0] for i in range(0, len(data), 2)])

# MusicgenForConditionalGeneration's tensors in state_dict order, re-derived from the
# transformers modules (T5EncoderModel, EncodecModel, MusicgenForCausalLM, enc_to_dec_proj).
def expected(cfg):
    out = []
    def add(name, *shape): out.append((name, list(shape)))
    t, a, dc = cfg["text_encoder"], cfg["audio_encoder"], cfg["decoder"]
    D, inner = t["d_model"], t["num_heads"] * t["d_kv"]
    add("text_encoder.shared.weight", t["vocab_size"], D)
    for b in range(t["num_layers"]):
        p = f"text_encoder.encoder.block.{b}.layer."
        for w in "qkv":
            add(p + f"0.SelfAttention.{w}.weight", inner, D)
        add(p + "0.SelfAttention.o.weight", D, inner)
        if b == 0:
            add(p + "0.SelfAttention.relative_attention_bias.weight", t["relative_attention_num_buckets"], t["num_heads"])
        add(p + "0.layer_norm.weight", D)
        add(p + "1.DenseReluDense.wi.weight", t["d_ff"], D)
        add(p + "1.DenseReluDense.wo.weight", D, t["d_ff"])
        add(p + "1.layer_norm.weight", D)
    add("text_encoder.encoder.final_layer_norm.weight", D)
    F, ch, comp = a["num_filters"], a.get("audio_channels", 1), a.get("compress", 2)
    def conv(p, cin, cout, k, transposed=False):
        add(p + ".conv.bias", cout)
        add(p + ".conv.weight_g", cin if transposed else cout, 1, 1)
        add(p + ".conv.weight_v", *([cin, cout, k] if transposed else [cout, cin, k]))
    def res(p, dim):
        conv(p + ".block.1", dim, dim // comp, a["residual_kernel_size"])
        conv(p + ".block.3", dim // comp, dim, 1)
    def lstm(p, dim):
        for l in range(a["num_lstm_layers"]):
            add(p + f".lstm.weight_ih_l{l}", 4 * dim, dim)
            add(p + f".lstm.weight_hh_l{l}", 4 * dim, dim)
            add(p + f".lstm.bias_ih_l{l}", 4 * dim)
            add(p + f".lstm.bias_hh_l{l}", 4 * dim)
    layers = []  # (kind, args) per EnCodec layer index
    enc = [("conv", (ch, F, a["kernel_size"]))]
    s = 1
    for r in reversed(a["upsampling_ratios"]):
        enc += [("res", (s * F,))] * a["num_residual_layers"] + [("elu",), ("conv", (s * F, 2 * s * F, 2 * r))]
        s *= 2
    enc += [("lstm", (s * F,)), ("elu",), ("conv", (s * F, a["hidden_size"], a["last_kernel_size"]))]
    s = 2 ** len(a["upsampling_ratios"])
    dec = [("conv", (a["hidden_size"], s * F, a["kernel_size"])), ("lstm", (s * F,))]
    for r in a["upsampling_ratios"]:
        dec += [("elu",), ("convT", (s * F, s * F // 2, 2 * r))] + [("res", (s * F // 2,))] * a["num_residual_layers"]
        s //= 2
    dec += [("elu",), ("conv", (F, ch, a["last_kernel_size"]))]
    for part, mods in (("encoder", enc), ("decoder", dec)):
        for i, m in enumerate(mods):
            p = f"audio_encoder.{part}.layers.{i}"
            if m[0] == "conv": conv(p, *m[1])
            elif m[0] == "convT": conv(p, *m[1], transposed=True)
            elif m[0] == "res": res(p, *m[1])
            elif m[0] == "lstm": lstm(p, *m[1])
    hop = math.prod(a["upsampling_ratios"])
    frame_rate = math.ceil(a["sampling_rate"] / hop)
    nq = int(1000 * a["target_bandwidths"][-1] // (frame_rate * 10))
    cd = a.get("codebook_dim") or a["hidden_size"]
    for q in range(nq):
        p = f"audio_encoder.quantizer.layers.{q}.codebook."
        add(p + "inited", 1); add(p + "cluster_size", a["codebook_size"])
        add(p + "embed", a["codebook_size"], cd); add(p + "embed_avg", a["codebook_size"], cd)
    H, V, K = dc["hidden_size"], dc["vocab_size"], dc["num_codebooks"]
    for k in range(K):
        add(f"decoder.model.decoder.embed_tokens.{k}.weight", V + 1, H)
    add("decoder.model.decoder.embed_positions.weights", dc["max_position_embeddings"], H)
    for i in range(dc["num_hidden_layers"]):
        p = f"decoder.model.decoder.layers.{i}."
        for att in ("self_attn", "encoder_attn"):
            for w in ("k_proj", "v_proj", "q_proj", "out_proj"):
                add(p + f"{att}.{w}.weight", H, H)
            add(p + f"{att}_layer_norm.weight", H); add(p + f"{att}_layer_norm.bias", H)
        add(p + "fc1.weight", dc["ffn_dim"], H); add(p + "fc2.weight", H, dc["ffn_dim"])
        add(p + "final_layer_norm.weight", H); add(p + "final_layer_norm.bias", H)
    add("decoder.model.decoder.layer_norm.weight", H); add("decoder.model.decoder.layer_norm.bias", H)
    for k in range(K):
        add(f"decoder.lm_heads.{k}.weight", V, H)
    if D != H and dc.get("cross_attention_hidden_size") is None:
        add("enc_to_dec_proj.weight", H, D); add("enc_to_dec_proj.bias", H)
    return out

def numel(shape): return math.prod(shape)

# 1. tiny-mono: header identical to the fixture's, and the expected layout
raw_ref, h_ref, _ = header(os.path.join(ref, "tiny-mono/model.safetensors"))
raw, h, _ = header(os.path.join(d, "mono/model.safetensors"))
check(raw == raw_ref, "tiny-mono header differs from the fixture's")
exp = expected(json.load(open(os.path.join(ref, "tiny-mono/config.json"))))
check(sorted(n for n, _ in exp) == sorted(k for k in h_ref if k != "__metadata__"), "re-derived layout != fixture")
check(all(h_ref[n]["shape"] == s for n, s in exp if n in h_ref), "re-derived shapes != fixture")
mono = os.path.join(d, "mono/model.safetensors")
pos = tensor_values(mono, "decoder.model.decoder.embed_positions.weights")
pos_ref = tensor_values(os.path.join(ref, "tiny-mono/model.safetensors"), "decoder.model.decoder.embed_positions.weights")
err = max(abs(x - y) for x, y in zip(pos, pos_ref))
print(f"  embed_positions vs fixture: max abs err {err:.3e} ({len(pos)} values)")
check(err < 5e-5, f"position table differs from the fixture by {err}")
for name, lo, hi, kind in [("decoder.model.decoder.layers.0.fc1.weight", 0.9, 1.1, "std*sqrt(fan_in)"),
                           ("text_encoder.encoder.block.1.layer.1.DenseReluDense.wo.weight", 0.9, 1.1, "std*sqrt(fan_in)"),
                           ("text_encoder.shared.weight", 0.97, 1.03, "std"),
                           ("decoder.model.decoder.layers.1.final_layer_norm.weight", 0.95, 1.05, "mean")]:
    v = tensor_values(mono, name)
    mean = sum(v) / len(v)
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / len(v))
    val = mean if kind == "mean" else std * (math.sqrt(h[name]["shape"][1]) if "fan_in" in kind else 1)
    print(f"  {name}: {kind} = {val:.3f}")
    check(lo <= val <= hi, f"{name}: {kind} = {val} outside [{lo}, {hi}]")
    check(all(math.isfinite(x) for x in v), f"{name}: non-finite values")
# --init reference: the fixtures' recipe; each decoder / T5 tensor's mean and std as the
# fixture's (EnCodec keeps the realistic init: its codebooks are k-means-like there)
ref_st = os.path.join(ref, "tiny-mono/model.safetensors")
monoref = os.path.join(d, "monoref/model.safetensors")
n_cmp = 0
for name in sorted(h_ref):
    if name == "__metadata__" or not name.startswith(("decoder.", "text_encoder.")) or "embed_positions" in name:
        continue
    a, b = tensor_values(ref_st, name), tensor_values(monoref, name)
    if len(a) < 48:
        continue
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    sa = math.sqrt(sum((x - ma) ** 2 for x in a) / len(a))
    sb = math.sqrt(sum((x - mb) ** 2 for x in b) / len(b))
    n_cmp += 1
    check(abs(sb - sa) <= 0.25 * sa and abs(mb - ma) <= 0.1 + 0.2 * abs(ma),
          f"--init reference {name}: mean {mb:.3f} std {sb:.3f}, fixture {ma:.3f} / {sa:.3f}")
print(f"  --init reference: {n_cmp} decoder / T5 tensors scaled like the fixture's")
check(n_cmp > 40, f"only {n_cmp} tensors compared")
g = json.load(open(os.path.join(d, "mono/generation_config.json")))
check(g.get("do_sample") is True and g.get("guidance_scale") == 3 and g.get("top_k") == 250, f"generation defaults {g}")
# max_length counts columns: 512 positions hold 513 (the last column is never fed back)
check(g.get("decoder_start_token_id") == 64 and g.get("pad_token_id") == 64 and g.get("max_length") == 513,
      f"generation ids / max_length {g}")

# 2. custom config: names, shapes, dtype, info
cfg = json.load(open(os.path.join(d, "custom.json")))
raw, h, base = header(os.path.join(d, "custom/model.safetensors"))
meta = h.pop("__metadata__", None)
check(meta == {"format": "pt"}, f"metadata {meta}")
exp = expected(cfg)
check(list(h.keys()) == sorted(h.keys()), "header not sorted by name")
check(sorted(n for n, _ in exp) == sorted(h), "custom: tensor names differ: missing %s, extra %s" % (
      sorted(set(n for n, _ in exp) - set(h))[:5], sorted(set(h) - set(n for n, _ in exp))[:5]))
check(all(h[n]["shape"] == s for n, s in exp if n in h), "custom: shapes differ")
check(all(e["dtype"] == "F16" for e in h.values()), "custom: not all F16")
check("enc_to_dec_proj.weight" not in h, "custom: enc_to_dec_proj should not exist (d_model == hidden)")
off = 0
for n in sorted(h):
    check(h[n]["data_offsets"] == [off, off + 2 * numel(h[n]["shape"])], f"custom: offsets of {n}")
    off += 2 * numel(h[n]["shape"])
check(os.path.getsize(os.path.join(d, "custom/model.safetensors")) == base + off, "custom: file size")
info = json.load(open(os.path.join(d, "custom_info.json")))
dc, t = cfg["decoder"], cfg["text_encoder"]
check(info["kind"] == "stereo" and info["channels"] == 2 and info["codebooks"] == 8 and info["codebook_size"] == 128,
      f"custom info kind {info}")
check(info["decoder"] == {"layers": 3, "hidden": 64, "heads": 4, "ffn": 96, "activation": "gelu"},
      f"custom decoder {info['decoder']}")
check(info["text_encoder"] == {"layers": 3, "hidden": 64, "heads": 4, "vocab": t["vocab_size"], "head_dim": t["d_kv"],
                               "ffn": t["d_ff"], "activation": "relu", "gated": False}, f"custom t5 {info['text_encoder']}")
check(info["hop_length"] == 160 and info["codec_quantizers"] == 4, f"custom codec {info}")
def count(prefixes, skip=()):
    return sum(numel(s) for n, s in exp if n.startswith(prefixes) and not n.endswith(skip))
want = {"text": count(("text_encoder.", "enc_to_dec_proj.")), "decoder": count(("decoder.",)),
        "codec": count(("audio_encoder.",), (".embed_avg", ".cluster_size", ".inited", ".codebook.embed"))}
want["total"] = sum(want.values())
check(info["params"] == want, f"custom params {info['params']} != {want}")
fx = json.load(open(os.path.join(d, "fixture.json")))
mo = json.load(open(os.path.join(d, "mono.json")))
for k in ("params", "decoder", "text_encoder", "codebooks", "kind"):
    check(fx[k] == mo[k], f"info {k}: random {mo[k]} != fixture {fx[k]}")

# 3. sharding like huggingface_hub (max 0.3 MB = 300000 bytes, f32)
idx = json.load(open(os.path.join(d, "sharded/model.safetensors.index.json")))
exp = expected(json.load(open(os.path.join(ref, "tiny-mono/config.json"))))
shards, cur, cur_size = [], {}, 0
for n, s in exp:
    size = 4 * numel(s)
    if size > 300000:
        shards.append({n: s}); continue
    if cur_size + size > 300000:
        shards.append(cur); cur, cur_size = {}, 0
    cur[n] = s; cur_size += size
if cur: shards.append(cur)
want_map = {n: f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i, sh in enumerate(shards) for n in sh}
check(idx["weight_map"] == want_map, "shard assignment differs from huggingface_hub's")
check(idx["metadata"]["total_size"] == sum(4 * numel(s) for _, s in exp), "index total_size")
text = open(os.path.join(d, "sharded/model.safetensors.index.json")).read()
check(text == json.dumps(idx, indent=2, sort_keys=True) + "\n", "index is not json.dumps(indent=2, sort_keys=True)")
seen = {}
for f in sorted(set(want_map.values())):
    _, hs, _ = header(os.path.join(d, "sharded", f))
    hs.pop("__metadata__", None)
    check(list(hs) == sorted(hs), f"{f}: header not sorted")
    for n, e in hs.items():
        seen[n] = e["shape"]
check(seen == {n: s for n, s in exp}, "shards do not hold exactly the expected tensors")
def raw_tensor(path, name):
    _, hh, base = header(path)
    b, e = hh[name]["data_offsets"]
    with open(path, "rb") as f:
        f.seek(base + b)
        return f.read(e - b)
same = all(raw_tensor(mono, n) == raw_tensor(os.path.join(d, "sharded", want_map[n]), n) for n, _ in exp)
check(same, "same seed, sharded: tensor values differ from the single-file checkpoint")
check(json.load(open(os.path.join(d, "sharded_info.json")))["params"] == mo["params"], "sharded info params")
print(f"  {len(shards)} shards, {len(exp)} tensors")
sys.exit(1 if bad else 0)
PYEOF

# ---- 5. errors --------------------------------------------------------------------------------
before="$(sha256sum "$DIR/mono/model.safetensors")"
if "$MAKER" "$REF/tiny-mono/config.json" "$DIR/mono" --seed 9 2> "$DIR/err"; then
    fail "existing checkpoint overwritten without --force"
fi
grep -q -- "--force" "$DIR/err" || fail "refusal does not mention --force: $(cat "$DIR/err")"
[ "$before" = "$(sha256sum "$DIR/mono/model.safetensors")" ] || fail "existing weights changed"
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/mono" --seed 9 --force 2> /dev/null || fail "--force"
[ "$before" != "$(sha256sum "$DIR/mono/model.safetensors")" ] || fail "--force did not rewrite"
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/x" --dtype q8_0 2> /dev/null && fail "--dtype q8_0 accepted"
"$MAKER" "$DIR/missing.json" "$DIR/y" 2> /dev/null && fail "missing config accepted"
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/v" --init hf 2> "$DIR/err" && fail "--init hf accepted"
grep -q "realistic.*reference" "$DIR/err" || fail "bad --init message: $(cat "$DIR/err")"
echo '{"model_type": "musicgen"}' > "$DIR/broken.json"
"$MAKER" "$DIR/broken.json" "$DIR/z" --spiece "$REF/tiny-mono/spiece.model" 2> "$DIR/err" && fail "broken config accepted"
grep -q "broken.json" "$DIR/err" || fail "config error does not name the file: $(cat "$DIR/err")"
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/w" --spiece "$DIR/nope.model" 2> /dev/null && fail "missing --spiece accepted"
# The same config checks as musicgen: what it would refuse is not written.
"$PY" -c "import json,sys; c=json.load(open(sys.argv[1])); c['audio_encoder']['num_lstm_layers']=0; json.dump(c, open(sys.argv[2],'w'))" \
    "$REF/tiny-mono/config.json" "$DIR/no_lstm.json"
"$MAKER" "$DIR/no_lstm.json" "$DIR/l" --spiece "$REF/tiny-mono/spiece.model" 2> "$DIR/err" && fail "num_lstm_layers 0 accepted"
grep -q "num_lstm_layers" "$DIR/err" || fail "num_lstm_layers message: $(cat "$DIR/err")"
[ ! -e "$DIR/l/model.safetensors" ] || fail "a refused config left weights behind"
"$PY" -c "import json,sys; c=json.load(open(sys.argv[1])); c['audio_encoder']['codebook_dim']=8; json.dump(c, open(sys.argv[2],'w'))" \
    "$REF/tiny-mono/config.json" "$DIR/cbdim.json"
"$MAKER" "$DIR/cbdim.json" "$DIR/cb" --spiece "$REF/tiny-mono/spiece.model" 2> "$DIR/err" && fail "codebook_dim 8 accepted"
grep -q "codebook_dim 8 differs" "$DIR/err" || fail "codebook_dim message: $(cat "$DIR/err")"
# codec settings only the codec's loader used to refuse (the maker wrote checkpoints
# musicgen then would not load): a stereo EnCodec, residual blocks 0 channels wide
# (num_filters // compress = 0), more LSTM channels than supported
for edit in "audio_channels=2:audio_channels = 2; only mono EnCodec" \
            "num_filters=1:num_filters 1 // compress 2 leaves" \
            "num_filters=4096:num_filters 4096 doubled for each of the 5 upsampling ratios gives 131072"; do
    kv="${edit%%:*}" want="${edit#*:}"
    if [ "$kv" = num_filters=4096 ]; then patch="a.update(num_filters=4096, upsampling_ratios=[8, 5, 4, 4, 1])"
    else patch="a.update(${kv})"; fi
    "$PY" -c "import json,sys; c=json.load(open(sys.argv[1])); a=c['audio_encoder']; ${patch}; json.dump(c, open(sys.argv[2],'w'))" \
        "$REF/tiny-mono/config.json" "$DIR/codec_refused.json"
    rm -rf "$DIR/cr"
    "$MAKER" "$DIR/codec_refused.json" "$DIR/cr" --spiece "$REF/tiny-mono/spiece.model" 2> "$DIR/err" &&
        fail "codec config $kv accepted"
    grep -qF "$want" "$DIR/err" || fail "codec config $kv message: $(cat "$DIR/err")"
    [ ! -e "$DIR/cr/model.safetensors" ] || fail "refused codec config $kv left weights behind"
done
"$PY" -c "import json,sys; c=json.load(open(sys.argv[1])); c['text_encoder']['vocab_size']=4000; json.dump(c, open(sys.argv[2],'w'))" \
    "$REF/tiny-mono/config.json" "$DIR/t5v.json"
"$MAKER" "$DIR/t5v.json" "$DIR/tv" --spiece "$REF/tiny-mono/spiece.model" 2> "$DIR/err" && fail "T5 vocab 4000 accepted"
grep -q "vocab_size is 4000" "$DIR/err" || fail "T5 vocab message: $(cat "$DIR/err")"
[ ! -e "$DIR/tv/model.safetensors" ] || fail "a refused tokenizer left weights behind"
# OUT_DIR's missing parents are made, as by mkdir -p; a file in the way is named.
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/a/b/c" --seed 2 2> "$DIR/err" || fail "nested OUT_DIR: $(cat "$DIR/err")"
[ -s "$DIR/a/b/c/model.safetensors" ] || fail "nested OUT_DIR has no weights"
: > "$DIR/plain_file"
"$MAKER" "$REF/tiny-mono/config.json" "$DIR/plain_file/m" 2> "$DIR/err" && fail "OUT_DIR under a file accepted"
grep -q "plain_file" "$DIR/err" || fail "OUT_DIR under a file: $(cat "$DIR/err")"
"$MAKER" "$REF/tiny-mono/config.json" "" 2> "$DIR/err" && fail "empty OUT_DIR accepted"
grep -q "empty folder name" "$DIR/err" || fail "empty OUT_DIR: $(cat "$DIR/err")"

if [ "$fails" -ne 0 ]; then
    echo "test_random_checkpoint: $fails failure(s)" >&2
    exit 1
fi
echo "test_random_checkpoint: all checks passed"
