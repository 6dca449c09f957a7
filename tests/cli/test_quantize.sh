#!/usr/bin/env bash
# test_quantize.sh — `musicgen quantize` end to end:
#  1. tiny-mono and tiny-stereo to every type (q8_0, q4_0, f16, bf16, f32; q8_0 and
#     q4_0 also with --pure, which quantizes the small matrices a fixture has): the GGUF
#     passes an independent Python reader that checks the ggml layout (magic, v3,
#     typed metadata, names <= 63 bytes, ggml type ids, reversed dims, offsets
#     contiguous and aligned as ggml's reader demands, file size), carries
#     config.json verbatim, the generation config, the tokenizer bytes, holds every
#     tensor in the documented format, and `musicgen info -m x.gguf` loads it and
#     reports the same model with the right weight type;
#  2. a random checkpoint whose sizes are multiples of 32 reports q8_0 / q4_0 with
#     --pure (without it: its small matrices stay f32, and info says so), and
#     --no-mmap gives the same greedy codes as the mapped weights; converting on load
#     (--weight-type T) gives the same greedy codes as the file quantize --type T makes;
#  3. GGUF -> GGUF works (also over itself); an existing output is refused without
#     --force and left untouched; -o - and -o naming a file of the model folder are
#     refused even with --force; bad options and inputs fail with a message;
#  4. Ctrl-C while converting: exit 130, no output and no temporary file, and an
#     output --force was about to replace stays as it was.
set -euo pipefail

BUILD="${MG_BUILD_DIR:-$(dirname "$0")/../../build}"
REF="${MG_REFERENCE_DIR:-$(dirname "$0")/../../../shared/reference}"
MUSICGEN="${MUSICGEN:-$BUILD/musicgen}"
MAKER="$BUILD/mg-random-checkpoint"
[ -x "$MUSICGEN" ] || { echo "FAIL: $MUSICGEN not built" >&2; exit 1; }
PY="$(command -v python3 || command -v /usr/bin/python3)"

DIR="$(mktemp -d /tmp/mg_quantize.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

cat > "$DIR/check_gguf.py" <<'PYEOF'
"""Independent GGUF v3 reader (stdlib only) + the MusicGen conversion rules."""
import json, struct, sys

path, model_dir, want_type, info_path, src_info_path, pure = sys.argv[1:7]
pure = pure == "1"
SMALL = 1 << 18  # MG_SMALL_MATRIX_VALUES: smaller matrices stay f32 in q8_0 / q4_0 unless --pure
bad = 0
def check(cond, msg):
    global bad
    if not cond:
        bad += 1
        print(f"FAIL {path}: {msg}", file=sys.stderr)

data = open(path, "rb").read()
pos = 0
def take(n):
    global pos
    if pos + n > len(data):
        raise SystemExit(f"FAIL {path}: truncated at {pos}")
    b = data[pos:pos + n]; pos += n
    return b
def u32(): return struct.unpack("<I", take(4))[0]
def u64(): return struct.unpack("<Q", take(8))[0]
def gstr(): return take(u64()).decode("utf-8")
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
def value(t):
    if t == 8: return gstr()
    if t == 9:
        et, n = u32(), u64()
        if et == 0: return take(n)
        return [value(et) for _ in range(n)]
    return struct.unpack(SCALAR[t], take(struct.calcsize(SCALAR[t])))[0]

check(take(4) == b"GGUF", "magic")
check(u32() == 3, "version")
n_t, n_kv = u64(), u64()
kv, kv_types = {}, {}
for _ in range(n_kv):
    k = gstr(); t = u32()
    check(k not in kv, f"duplicate key {k}")
    kv[k] = value(t); kv_types[k] = t
align = kv.get("general.alignment", 32)
check(kv_types.get("general.alignment") == 4 and align == 32, "general.alignment u32 32")
check(kv.get("general.architecture") == "musicgen", "architecture")
config_text = open(f"{model_dir}/config.json").read()
check(kv.get("musicgen.config_json") == config_text, "config.json not verbatim")
gen = json.loads(kv.get("musicgen.generation_config_json", "{}"))
src_gen = json.load(open(f"{model_dir}/generation_config.json"))
check(all(gen.get(k) == src_gen[k] for k in ("guidance_scale", "top_k", "max_length", "pad_token_id", "do_sample")),
      "generation config")
check(kv.get("tokenizer.spm.model") == open(f"{model_dir}/spiece.model", "rb").read(), "tokenizer bytes")
check(kv_types.get("tokenizer.extra_ids") == 4 and kv.get("tokenizer.extra_ids") == 100, "extra_ids")
check(kv.get("musicgen.weight_type") == want_type, "musicgen.weight_type")
check(kv.get("general.file_type") == {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "bf16": 32}[want_type], "file_type")

GGML = {0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18), 8: ("q8_0", 32, 34), 30: ("bf16", 1, 2),
        0x4D470010: ("q8_0x16", 32, 34), 0x4D470011: ("q4_0x16", 32, 18)}  # musicgen.c's 16-row groups (docs/gguf.md)
tensors = []
for _ in range(n_t):
    name = gstr(); nd = u32(); ne = [u64() for _ in range(nd)]; t = u32(); off = u64()
    check(len(name.encode()) <= 63, f"name {name} longer than 63 bytes")
    check(t in GGML, f"{name}: ggml type {t}")
    tensors.append((name, list(reversed(ne)), GGML[t][0], off, ne[0] // GGML[t][1] * GGML[t][2] *
                    (1 if nd == 1 else __import__("math").prod(ne[1:]))))
data_start = (pos + align - 1) // align * align
expect = 0
for name, shape, tname, off, nbytes in tensors:  # ggml: contiguous, each padded to the alignment
    check(off == expect, f"{name}: offset {off}, ggml expects {expect}")
    expect = (off + nbytes + align - 1) // align * align
check(len(data) == data_start + expect, f"file size {len(data)} != {data_start + expect}")

# Formats by name (docs/gguf.md), checked against the source checkpoint's header.
def src_header(d):
    import os
    idx = f"{d}/model.safetensors.index.json"
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    h = {}
    for f in files:
        raw = open(f"{d}/{f}", "rb").read(8)
        n = struct.unpack("<Q", raw)[0]
        with open(f"{d}/{f}", "rb") as fh:
            fh.seek(8); h.update(json.loads(fh.read(n)))
    h.pop("__metadata__", None)
    return h
src = src_header(model_dir)
names = {"rel_bias": "relative_attention_bias", "SelfAttn": "SelfAttention", "DRD": "DenseReluDense",
         "xattn_norm": "encoder_attn_layer_norm"}
got = {}
for name, shape, tname, off, nbytes in tensors:
    hf = ".".join(names.get(p, p) for p in name.split("."))
    got[hf] = (shape, tname)
want = {}
import re
big = re.compile(r"^(enc_to_dec_proj\.weight|decoder\.lm_heads\.\d+\.weight|"
                 r"decoder\.model\.decoder\.layers\.\d+\.((self_attn|encoder_attn)\.(q|k|v|out)_proj|fc1|fc2)\.weight|"
                 r"text_encoder\.encoder\.block\.\d+\.layer\.(0\.SelfAttention\.[qkvo]|1\.DenseReluDense\.w[io])\.weight)$")
emb = re.compile(r"^(text_encoder\.shared\.weight|decoder\.model\.decoder\.embed_tokens\.\d+\.weight)$")
for n, e in src.items():
    if n.endswith(".weight_g"):
        continue
    if n.endswith(".weight_v"):
        want[n[:-2]] = (e["shape"], "f32")
        continue
    s = e["shape"]
    block = want_type in ("q8_0", "q4_0")
    small = block and not pure and len(s) == 2 and s[0] * s[1] < SMALL  # kept f32, text encoder or decoder
    stored = {"F32": "f32", "F16": "f16", "BF16": "bf16"}.get(e["dtype"], "f32")
    if big.match(n) and want_type != "f32" and (n.startswith("text_encoder.") or n.startswith("enc_to_dec_proj.")):
        t = "f32" if small else "f16"  # the text encoder stays f16 in every reduced format
    elif big.match(n):
        t = "f32" if small else "f16" if block and s[1] % 32 else want_type
        if t in ("q8_0", "q4_0") and s[0] % 16 == 0:
            t += "x16"  # whole 16-row groups are stored grouped
    elif emb.match(n):  # block formats keep T5's or a small table's stored float format
        keep = n == "text_encoder.shared.weight" or small
        t = (stored if keep else "f16") if block else {"f32": "f32", "bf16": "bf16"}.get(want_type, "f16")
    else:
        t = "f32"
    want[n] = (s, t)
check(got == want, "tensors/formats differ: " + str(sorted((k, got.get(k), want.get(k)) for k in set(got) | set(want)
                                                            if got.get(k) != want.get(k))[:4]))

info, src_info = json.load(open(info_path)), json.load(open(src_info_path))
# info names the format asked for first ("q8_0 (none of 24 matrices quantized: ...)"
# when no matrix is; "q8_0 (+ f16 for 22 matrices)" when some stayed float)
check(info["weight_type"].split()[0] == want_type, f"info weight_type {info['weight_type']} does not start with {want_type}")
dec = [n for n in src if big.match(n) and n.startswith("decoder.")]
if want_type in ("q8_0", "q4_0") and all(got[n][1] in ("f16", "f32") for n in dec):
    check("none of %d matrices quantized" % len(dec) in info["weight_type"], f"info weight_type {info['weight_type']}")
for k in ("kind", "channels", "codebooks", "codebook_size", "decoder", "text_encoder", "max_steps", "sample_rate"):
    check(info[k] == src_info[k], f"info {k}: {info[k]} != {src_info[k]}")
# the same counts as the folder's (transformers' num_parameters): the folded convolutions
# still count their weight_g, which the folder holds
check(info["params"] == src_info["params"], f"info params {info['params']} != {src_info['params']}")
sys.exit(1 if bad else 0)
PYEOF

# ---- 1. fixtures, every type --------------------------------------------------------------
for fx in tiny-mono tiny-stereo; do
    "$MUSICGEN" info -m "$REF/$fx" --json > "$DIR/$fx.src.json" || fail "info $fx"
    for tp in q8_0 q4_0 f16 bf16 f32 q8_0:1 q4_0:1; do
        t="${tp%:1}" pure=0 flag=""
        [ "$t" != "$tp" ] && pure=1 flag="--pure"
        out="$DIR/$fx-$t${flag}.gguf"
        if ! "$MUSICGEN" quantize -m "$REF/$fx" -o "$out" --type "$t" $flag 2> "$DIR/log"; then
            fail "quantize $fx $t $flag: $(cat "$DIR/log")"
            continue
        fi
        grep -q "wrote $out ($t" "$DIR/log" || fail "no summary line: $(cat "$DIR/log")"
        if [ "$t" = q8_0 ] || [ "$t" = q4_0 ]; then  # every fixture matrix is small
            if [ $pure = 1 ]; then
                ! grep -q "small decoder matrices.*kept in f32" "$DIR/log" || fail "--pure kept matrices: $(cat "$DIR/log")"
                # hidden 48: rows of 48 values cannot be 32-value blocks, --pure or not
                grep -q "decoder matrices kept in f16: their rows are not a multiple of 32" "$DIR/log" ||
                    fail "no note on matrices with rows not a multiple of 32: $(cat "$DIR/log")"
            else
                grep -q "small decoder matrices .* kept in f32; --pure" "$DIR/log" ||
                    fail "no note on small matrices: $(cat "$DIR/log")"
                ! grep -q "kept in f16" "$DIR/log" || fail "small matrices counted as f16: $(cat "$DIR/log")"
            fi
        fi
        "$MUSICGEN" info -m "$out" --json > "$DIR/$fx-$t$flag.json" || { fail "info on $out"; continue; }
        "$PY" "$DIR/check_gguf.py" "$out" "$REF/$fx" "$t" "$DIR/$fx-$t$flag.json" "$DIR/$fx.src.json" $pure \
            || fail "check $fx $t $flag"
    done
done

# ---- 2. a model whose matrices are all block-quantizable ------------------------------------
if [ -x "$MAKER" ]; then
    "$PY" - "$REF/tiny-mono/config.json" "$DIR/c32.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["decoder"].update(hidden_size=64, ffn_dim=128)
json.dump(c, open(sys.argv[2], "w"), indent=1)
PYEOF
    "$MAKER" "$DIR/c32.json" "$DIR/c32" --spiece "$REF/tiny-mono/spiece.model" 2> /dev/null || fail "random checkpoint"
    "$MUSICGEN" info -m "$DIR/c32" --json > "$DIR/c32.src.json" || fail "info c32"
    for t in q8_0 q4_0; do
        "$MUSICGEN" quantize -q -m "$DIR/c32" -o "$DIR/c32-$t.gguf" -t "$t" --pure || fail "quantize c32 $t"
        "$MUSICGEN" info -m "$DIR/c32-$t.gguf" --json > "$DIR/c32-$t.json" || fail "info c32 $t"
        "$PY" "$DIR/check_gguf.py" "$DIR/c32-$t.gguf" "$DIR/c32" "$t" "$DIR/c32-$t.json" "$DIR/c32.src.json" 1 \
            || fail "check c32 $t"
        grep -q "\"weight_type\": \"$t\"" "$DIR/c32-$t.json" || fail "info does not report $t"
    done
    # without --pure its matrices (64 x 64 .. 128 x 64) are small: f32, and info says so
    "$MUSICGEN" quantize -q -m "$DIR/c32" -o "$DIR/c32-small.gguf" -t q8_0 || fail "quantize c32 q8_0"
    "$MUSICGEN" info -m "$DIR/c32-small.gguf" --json > "$DIR/c32-small.json" || fail "info c32 q8_0"
    "$PY" "$DIR/check_gguf.py" "$DIR/c32-small.gguf" "$DIR/c32" q8_0 "$DIR/c32-small.json" "$DIR/c32.src.json" 0 \
        || fail "check c32 q8_0 without --pure"
    # --no-mmap reads the step's matrices into memory: the same codes as the mapped file,
    # for a mapped GGUF, a mapped f32 folder and a folder converted on load.
    for src in "$DIR/c32-q8_0.gguf" "$DIR/c32" "$DIR/c32 --weight-type q4_0"; do
        set -- $src
        name="$(basename "$1")${3:+-$3}"
        for flag in "" --no-mmap; do
            mode="${flag:-mapped}"
            "$MUSICGEN" generate -m "$@" $flag "a prompt" --greedy --steps 12 -q --force --sample-format f32 \
                -o "$DIR/$name-$mode.wav" --codes-out "$DIR/$name-$mode.npy" > /dev/null || fail "generate $name $mode"
        done
        cmp -s "$DIR/$name-mapped.npy" "$DIR/$name---no-mmap.npy" || fail "--no-mmap changed the codes of $name"
    done
    # Converting on load gives what the quantized file gives: the same greedy codes from
    # `--weight-type T` as from `quantize --type T`, for a model whose embedding tables
    # are not small (the file makes the decoder's f16, and T5's f16 in f16 / bf16 files;
    # the loader rounds their rows the same way) and whose fc1 rows and lm heads (1000
    # and 2047 rows) are not whole 16-row groups.
    "$PY" - "$REF/tiny-mono/config.json" "$DIR/emb.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["decoder"].update(hidden_size=512, num_attention_heads=8, ffn_dim=1000, num_hidden_layers=1, vocab_size=2047)
c["audio_encoder"]["codebook_size"] = 2048
json.dump(c, open(sys.argv[2], "w"), indent=1)
PYEOF
    "$MAKER" "$DIR/emb.json" "$DIR/emb" --spiece "$REF/tiny-mono/spiece.model" 2> /dev/null || fail "random checkpoint emb"
    for t in q8_0 q4_0 f16 bf16; do
        "$MUSICGEN" quantize -q -m "$DIR/emb" -o "$DIR/emb-$t.gguf" -t "$t" || fail "quantize emb $t"
        "$MUSICGEN" generate -m "$DIR/emb-$t.gguf" --greedy --steps 16 -q --force --codes-out "$DIR/emb-$t-file.npy" \
            -- "80s pop track" "lo-fi hip hop" > /dev/null || fail "generate emb $t file"
        "$MUSICGEN" generate -m "$DIR/emb" --weight-type "$t" --greedy --steps 16 -q --force \
            --codes-out "$DIR/emb-$t-load.npy" -- "80s pop track" "lo-fi hip hop" > /dev/null || fail "generate emb $t load"
        cmp -s "$DIR/emb-$t-file.npy" "$DIR/emb-$t-load.npy" || fail "--weight-type $t gives other codes than its GGUF"
    done
else
    fail "$MAKER not built"
fi

# ---- 3. GGUF input, overwriting, errors ---------------------------------------------------------
"$MUSICGEN" quantize -q -m "$DIR/tiny-mono-q8_0.gguf" -o "$DIR/from-gguf.gguf" -t f32 || fail "GGUF -> GGUF"
"$MUSICGEN" info -m "$DIR/from-gguf.gguf" > /dev/null || fail "info on GGUF made from GGUF"
before="$(sha256sum < "$DIR/tiny-mono-f32.gguf")"
if "$MUSICGEN" quantize -m "$REF/tiny-mono" -o "$DIR/tiny-mono-f32.gguf" -t q4_0 2> "$DIR/err"; then
    fail "existing output overwritten without --force"
fi
grep -q -- "--force" "$DIR/err" || fail "refusal does not mention --force: $(cat "$DIR/err")"
[ "$before" = "$(sha256sum < "$DIR/tiny-mono-f32.gguf")" ] || fail "existing output changed"
ls -a "$DIR" | grep -q "\.part" && fail "temporary file left behind"
"$MUSICGEN" quantize -q -m "$REF/tiny-mono" -o "$DIR/tiny-mono-f32.gguf" -t q4_0 --force || fail "--force"
[ "$before" != "$(sha256sum < "$DIR/tiny-mono-f32.gguf")" ] || fail "--force did not replace the file"
"$MUSICGEN" quantize -m "$REF/tiny-mono" -o "$DIR/x.gguf" -t q5_0 2> "$DIR/err" && fail "--type q5_0 accepted"
grep -q "q8_0" "$DIR/err" || fail "bad type message: $(cat "$DIR/err")"
"$MUSICGEN" quantize -m "$REF/tiny-mono" 2> "$DIR/err" && fail "missing -o accepted"
"$MUSICGEN" quantize -m "$DIR/nothing-here" -o "$DIR/y.gguf" 2> "$DIR/err" && fail "missing model accepted"
grep -q "nothing-here" "$DIR/err" || fail "missing model message: $(cat "$DIR/err")"
head -c 1000 "$DIR/tiny-mono-q8_0.gguf" > "$DIR/cut.gguf"
"$MUSICGEN" info -m "$DIR/cut.gguf" 2> "$DIR/err" && fail "truncated GGUF accepted"
grep -q "cut.gguf" "$DIR/err" || fail "truncated GGUF message: $(cat "$DIR/err")"
[ -e "$DIR/x.gguf" ] || [ -e "$DIR/y.gguf" ] && fail "output written on error"
"$MUSICGEN" quantize -m "$REF/tiny-mono" -o - 2> "$DIR/err" && fail "-o - accepted"
grep -q "not to standard output" "$DIR/err" || fail "-o - message: $(cat "$DIR/err")"
[ -e ./- ] && fail "-o - wrote a file named -"
# -o naming one of the model folder's own files (even through a symbolic link, even
# with --force) is refused and leaves it as it was; a GGUF converted over itself works
cp -r "$REF/tiny-mono" "$DIR/own" && chmod -R u+w "$DIR/own" && rm -f "$DIR/own/golden.safetensors"
ln -s "$DIR/own/config.json" "$DIR/own-config-link"
for target in "$DIR/own/model.safetensors" "$DIR/own/./spiece.model" "$DIR/own-config-link"; do
    before="$(sha256sum < "$target")"
    "$MUSICGEN" quantize -m "$DIR/own" -o "$target" --force 2> "$DIR/err" && fail "-o $target (the model's own) accepted"
    grep -q "the model's own" "$DIR/err" || fail "-o the model's own file: $(cat "$DIR/err")"
    [ "$before" = "$(sha256sum < "$target")" ] || fail "quantize changed the model's own $target"
done
"$MUSICGEN" info -m "$DIR/own" > /dev/null || fail "the model was damaged by a refused quantize"
"$MUSICGEN" quantize -q -m "$DIR/own" -o "$DIR/own/model-q8_0.gguf" || fail "a new GGUF inside the model folder"
"$MUSICGEN" quantize -q -m "$DIR/own" -o "$DIR/own/model-q8_0.gguf" -t q4_0 --force ||
    fail "an earlier GGUF inside the model folder replaced with --force"
"$MUSICGEN" quantize -q -m "$DIR/own/model-q8_0.gguf" -o "$DIR/own/model-q8_0.gguf" -t f16 --force ||
    fail "a GGUF converted over itself"
"$MUSICGEN" info -m "$DIR/own/model-q8_0.gguf" 2>/dev/null | grep -q "f16" || fail "GGUF over itself: not f16"

# ---- 4. Ctrl-C while converting: exit 130, no output and no temporary file; an output
# that --force was about to replace stays as it was. The model is big enough (~400 MB
# of f32 decoder weights) that the conversion is still running when its temporary file
# appears, which is when the signal is sent.
if [ -x "$MAKER" ]; then
    "$PY" - "$REF/tiny-mono/config.json" "$DIR/big.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["decoder"].update(hidden_size=1024, ffn_dim=4096, num_attention_heads=16, num_hidden_layers=6)
json.dump(c, open(sys.argv[2], "w"), indent=1)
PYEOF
    "$MAKER" "$DIR/big.json" "$DIR/big" --spiece "$REF/tiny-mono/spiece.model" 2> /dev/null || fail "random checkpoint big"
    echo "keep me" > "$DIR/kept.gguf"
    for out in "$DIR/new.gguf" "$DIR/kept.gguf"; do
        "$PY" - "$MUSICGEN" "$DIR/big" "$out" <<'PYEOF' || fail "Ctrl-C during quantize to $out"
import glob, os, signal, subprocess, sys, time
mg, model, out = sys.argv[1:]
part = os.path.join(os.path.dirname(out), "." + os.path.basename(out) + ".part*")
keep = open(out).read() if os.path.exists(out) else None
for attempt in range(3):  # a machine fast enough to finish before the signal: try again
    if keep is not None:
        open(out, "w").write(keep)
    elif os.path.exists(out):
        os.remove(out)
    p = subprocess.Popen([mg, "quantize", "-m", model, "-o", out, "-t", "q8_0", "--force", "--threads", "1"],
                         stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not glob.glob(part) and p.poll() is None and time.monotonic() - t0 < 60:
        time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=60)[1]
    if p.returncode != 0:
        break
ok = p.returncode == 130 and "interrupted; nothing was written" in err and not glob.glob(part)
if os.path.basename(out) == "kept.gguf":
    ok = ok and open(out).read() == "keep me\n"
else:
    ok = ok and not os.path.exists(out)
if not ok:
    print("rc %d, %r, left: %s" % (p.returncode, err, os.listdir(os.path.dirname(out))), file=sys.stderr)
sys.exit(0 if ok else 1)
PYEOF
    done
    rm -rf "$DIR/big"
fi

if [ "$fails" -ne 0 ]; then
    echo "test_quantize: $fails failure(s)" >&2
    exit 1
fi
echo "test_quantize: all checks passed"
