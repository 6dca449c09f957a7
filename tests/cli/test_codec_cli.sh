#!/usr/bin/env bash
# test_codec_cli.sh — the `musicgen encode` / `musicgen decode` contracts on both
# fixtures, against the reference's golden tensors:
#   encode: a float WAV of encodec.input -> encodec.codes (stereo model: each level
#           twice, mono input duplicated), cont.input_values -> the prompt frames of
#           cont.codes; decode: cont.codes -> cont.audio and the [B, K, T] generation
#           codes -> one f32 file per row matching gen.audio; [K, T] input;
#   the same through a checkpoint whose weight-normed convs use the names newer
#   transformers save (parametrizations.weight.original0/1);
#   plus --force, existing outputs left untouched, bad codes, missing input, s16
#   clipping notice, all-or-nothing writes of several rows (a signal while writing),
#   --help size. Needs python3 with numpy (test-side only).
set -u
MUSICGEN=${MUSICGEN:-${MG_BUILD_DIR:-build}/musicgen}
REF=${MG_REFERENCE_DIR:-$(dirname "$0")/../../../shared/reference}
PY=python3
if ! "$PY" -c 'import numpy' 2>/dev/null; then PY=/usr/bin/python3; fi
if ! "$PY" -c 'import numpy' 2>/dev/null; then echo "SKIP: python3 with numpy not found"; exit 0; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# decode_until DIR FILE [ARGS]: decode $d/rows.npy into DIR/ as FLAC, send SIGTERM once
# DIR/FILE appears (twice, 10 ms apart, when $signals is 2: the second one ends decode
# from its handler while the next row is being written), and leave decode's exit code
# in rc (its stderr in $d/err)
decode_until() {
    local dir="$1" file="$2" pid
    shift 2
    "$MUSICGEN" decode -m "$model" "$d/rows.npy" -o "$dir/" --audio-format flac "$@" >/dev/null 2>"$d/err" &
    pid=$!
    while kill -0 $pid 2>/dev/null && [ ! -e "$dir/$file" ]; do sleep 0.005; done
    kill -TERM $pid 2>/dev/null
    if [ "${signals:-1}" = 2 ]; then sleep 0.01; kill -TERM $pid 2>/dev/null; fi
    wait $pid
    rc=$?
}
ok() { checks=$((checks + 1)); }

cat >"$tmp/h.py" <<'EOF'
# Test helper: golden tensors -> WAV / .npy inputs, and comparisons of the outputs.
import json, struct, sys
import numpy as np

def golden(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        hdr = json.loads(f.read(n))
        out = {}
        for k, v in hdr.items():
            if k == '__metadata__':
                continue
            a, b = v['data_offsets']
            f.seek(8 + n + a)
            dt = {'F32': '<f4', 'I64': '<i8'}[v['dtype']]
            out[k] = np.frombuffer(f.read(b - a), dtype=dt).reshape(v['shape'])
        return out

def write_wav_f32(path, x, rate):
    # x: [channels, n] -> interleaved IEEE float WAV (format 3)
    ch, n = x.shape
    data = np.ascontiguousarray(x.T.astype('<f4')).tobytes()
    fmt = struct.pack('<HHIIHH', 3, ch, rate, rate * ch * 4, ch * 4, 32)
    with open(path, 'wb') as f:
        f.write(b'RIFF' + struct.pack('<I', 4 + 8 + len(fmt) + 8 + len(data)) + b'WAVE')
        f.write(b'fmt ' + struct.pack('<I', len(fmt)) + fmt)
        f.write(b'data' + struct.pack('<I', len(data)) + data)

def read_wav(path):
    # returns [channels, n] float64, for PCM 16/24 or IEEE float 32
    b = open(path, 'rb').read()
    assert b[:4] == b'RIFF' and b[8:12] == b'WAVE', 'not a WAV file'
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(b):
        cid, size = b[pos:pos + 4], struct.unpack('<I', b[pos + 4:pos + 8])[0]
        body = b[pos + 8:pos + 8 + size]
        if cid == b'fmt ':
            fmt = struct.unpack('<HHIIHH', body[:16])
            if fmt[0] == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the tag
                fmt = (struct.unpack('<H', body[24:26])[0],) + fmt[1:]
        elif cid == b'data':
            data = body
        pos += 8 + size + (size & 1)
    tag, ch, rate, _, _, bits = fmt
    if tag == 3:
        x = np.frombuffer(data, dtype='<f4').astype(np.float64)
    elif bits == 16:
        x = np.frombuffer(data, dtype='<i2') / 32768.0
    elif bits == 24:
        u = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = u[:, 0] | (u[:, 1] << 8) | (u[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)
    else:
        raise SystemExit('unexpected WAV format %r' % (fmt,))
    return x.reshape(-1, ch).T, rate, tag, bits

def load_npy(path):
    return np.load(path)

cmd = sys.argv[1]
if cmd == 'prep':
    g = golden(sys.argv[2]); out = sys.argv[3]; rate = int(sys.argv[4])
    write_wav_f32(out + '/enc_input.wav', g['encodec.input'][0], rate)
    write_wav_f32(out + '/cont_input.wav', g['cont.input_values'][0], rate)
    np.save(out + '/cont_codes.npy', g['cont.codes'])
    np.save(out + '/cont_codes_2d.npy', g['cont.codes'][0].astype(np.int32))
    np.save(out + '/gen_codes.npy', g['gen.codes_interleaved'])
    bad = g['cont.codes'].copy(); bad[0, -1, 5] = int(sys.argv[5])
    np.save(out + '/bad_codes.npy', bad)
elif cmd == 'check_encode':  # got.npy golden key [prefix frames] [duplicate levels]
    g = golden(sys.argv[2]); got = load_npy(sys.argv[3]); want = g[sys.argv[4]]
    frames = int(sys.argv[5]); dup = int(sys.argv[6])
    assert got.dtype == np.dtype('<i8'), 'dtype %s' % got.dtype
    if dup == 2:
        want = np.repeat(want, 2, axis=1)
    want = want[:, :, :frames] if frames > 0 else want
    assert got.shape == want.shape, 'shape %s, want %s' % (got.shape, want.shape)
    bad = int((got != want).sum())
    print('  %-44s %d of %d codes differ' % (sys.argv[4] + ' via CLI', bad, want.size))
    sys.exit(1 if bad else 0)
elif cmd == 'parametrized':  # model_dir out_dir: weight_g/_v saved as newer transformers names them
    import os, shutil
    src, dst = sys.argv[2], sys.argv[3]
    os.makedirs(dst, exist_ok=True)
    for f in os.listdir(src):
        if f not in ('model.safetensors', 'golden.safetensors'):
            shutil.copy(os.path.join(src, f), dst)
    with open(os.path.join(src, 'model.safetensors'), 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    ren = {'.weight_g': '.parametrizations.weight.original0', '.weight_v': '.parametrizations.weight.original1'}
    out = {}
    for k, v in hdr.items():
        for a, b in ren.items():
            if k.endswith(a):
                k = k[:-len(a)] + b
        out[k] = v
    assert sum('.parametrizations.' in k for k in out) > 10
    h = json.dumps(out).encode()
    h += b' ' * (-len(h) % 8)
    with open(os.path.join(dst, 'model.safetensors'), 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + data)
elif cmd == 'check_wav':  # wav golden key row tol [expect_tag]
    g = golden(sys.argv[2]); x, rate, tag, bits = read_wav(sys.argv[3])
    want = g[sys.argv[4]][int(sys.argv[5])].astype(np.float64); tol = float(sys.argv[6])
    if tag == 1:  # integer PCM: the writer clips to [-1, 1] and rounds
        want = np.clip(want, -1.0, 1.0)
    assert x.shape == want.shape, 'shape %s, want %s' % (x.shape, want.shape)
    err = float(np.abs(x - want).max())
    print('  %-44s max abs err %.3e (format %d/%d bit)' % (sys.argv[4] + '[%s] via CLI' % sys.argv[5], err, tag, bits))
    sys.exit(0 if err <= tol and (len(sys.argv) < 8 or tag == int(sys.argv[7])) else 1)
EOF

sha() { sha256sum "$1" | cut -d' ' -f1; }
# An MP3: an ID3v2 tag or an MPEG audio frame's sync bits first.
is_mp3() { local h; h=$(od -An -tx1 -N3 "$1" | tr -d ' \n'); [ "$h" = 494433 ] || [ "${h:0:3}" = fff ]; }

for fx in tiny-stereo tiny-mono; do
    model="$REF/$fx"
    echo "$fx:"
    rate=$("$PY" -c "import json; print(json.load(open('$model/config.json'))['audio_encoder']['sampling_rate'])")
    vocab=$("$PY" -c "import json; print(json.load(open('$model/config.json'))['audio_encoder']['codebook_size'])")
    stereo=$("$PY" -c "import json; print(int(json.load(open('$model/config.json'))['decoder'].get('audio_channels', 1) == 2))")
    d="$tmp/$fx"
    mkdir -p "$d"
    "$PY" "$tmp/h.py" prep "$model/golden.safetensors" "$d" "$rate" "$vocab" || { fail "$fx: preparing inputs"; continue; }

    # encode: encodec.input (mono) -> encodec.codes; a stereo model duplicates mono input
    if "$MUSICGEN" encode -m "$model" "$d/enc_input.wav" -o "$d/enc.npy" >/dev/null 2>"$d/enc.err"; then ok
    else fail "$fx: encode"; fi
    # mono input to a stereo model is copied to both channels, and the user is told
    if [ "$stereo" = 1 ] && ! grep -q "both channels" "$d/enc.err"; then fail "$fx: mono to stereo said nothing"
    elif [ "$stereo" = 0 ] && [ -s "$d/enc.err" ]; then fail "$fx: encode printed $(cat "$d/enc.err")"
    else ok; fi
    if "$PY" "$tmp/h.py" check_encode "$model/golden.safetensors" "$d/enc.npy" encodec.codes 0 $((stereo + 1)); then ok
    else fail "$fx: encoded codes differ from encodec.codes"; fi

    # encode: the continuation prompt -> the prompt frames of cont.codes
    if "$MUSICGEN" encode -m "$model" "$d/cont_input.wav" -o "$d/cont_enc.npy" >/dev/null; then ok; else fail "$fx: encode prompt"; fi
    frames=$("$PY" -c "import numpy as np; print(np.load('$d/cont_enc.npy').shape[2])" 2>/dev/null || echo 0)
    if "$PY" "$tmp/h.py" check_encode "$model/golden.safetensors" "$d/cont_enc.npy" cont.codes "$frames" 1; then ok
    else fail "$fx: encoded prompt differs from cont.codes"; fi

    # decode: cont.codes [1, K, T] -> f32 WAV == cont.audio; [K, T] int32 gives the same
    if "$MUSICGEN" decode -m "$model" "$d/cont_codes.npy" -o "$d/cont.wav" --sample-format f32 >/dev/null; then ok
    else fail "$fx: decode"; fi
    if "$PY" "$tmp/h.py" check_wav "$model/golden.safetensors" "$d/cont.wav" cont.audio 0 1e-4 3; then ok
    else fail "$fx: decoded audio differs from cont.audio"; fi
    if "$MUSICGEN" decode -m "$model" "$d/cont_codes_2d.npy" -o "$d/cont2d.wav" --sample-format f32 >/dev/null &&
        "$PY" "$tmp/h.py" check_wav "$model/golden.safetensors" "$d/cont2d.wav" cont.audio 0 1e-4 3; then ok
    else fail "$fx: decoding [K, T] int32 codes"; fi

    # the same checkpoint with its weight-normed convs named as newer transformers save
    # them (X.parametrizations.weight.original0 / original1): same codes, same audio
    if "$PY" "$tmp/h.py" parametrized "$model" "$d/param" &&
        "$MUSICGEN" encode -m "$d/param" "$d/enc_input.wav" -o "$d/enc_param.npy" >/dev/null &&
        cmp -s "$d/enc.npy" "$d/enc_param.npy" &&
        "$MUSICGEN" decode -m "$d/param" "$d/cont_codes.npy" -o "$d/cont_param.wav" -s f32 >/dev/null &&
        cmp -s "$d/cont.wav" "$d/cont_param.wav"; then ok
    else fail "$fx: a checkpoint with parametrizations.weight.original0/1 names"; fi

    # decode: [B, K, T] into a directory, one file per row
    if "$MUSICGEN" decode -m "$model" "$d/gen_codes.npy" -o "$d/gen/" -s f32 >"$d/gen.out"; then ok
    else fail "$fx: decode of [B, K, T] into a directory"; fi
    for b in 0 1; do
        if "$PY" "$tmp/h.py" check_wav "$model/golden.safetensors" "$d/gen/gen_codes-$b.wav" gen.audio $b 1e-4 3; then ok
        else fail "$fx: gen row $b differs from gen.audio"; fi
    done
    # --audio-format names a directory's files: MP3 (untagged: MPEG frames from the first byte)
    if "$MUSICGEN" decode -m "$model" "$d/gen_codes.npy" -o "$d/genmp3/" --audio-format mp3 >/dev/null 2>"$d/err" &&
        is_mp3 "$d/genmp3/gen_codes-0.mp3" && is_mp3 "$d/genmp3/gen_codes-1.mp3"; then ok
    else fail "$fx: decode --audio-format mp3 into a directory: $(cat "$d/err"; ls "$d/genmp3" 2>&1)"; fi
    if "$MUSICGEN" decode -m "$model" "$d/gen_codes.npy" -o "$d/gen_single.wav" 2>"$d/err" >/dev/null; then
        fail "$fx: [B, K, T] to a single file was accepted"
    elif [ -e "$d/gen_single.wav" ] || [ "$(wc -l <"$d/err")" -ne 1 ]; then fail "$fx: bad B>1 error handling"
    else ok; fi

    # s16 clips (|gen audio| > 1 here) and says so; the file is still written
    if "$MUSICGEN" decode -m "$model" "$d/cont_codes.npy" -o "$d/cont16.wav" 2>"$d/err" >/dev/null &&
        grep -q clipped "$d/err" && "$PY" "$tmp/h.py" check_wav "$model/golden.safetensors" "$d/cont16.wav" cont.audio 0 1e-4 1; then ok
    else fail "$fx: s16 decode with clipping notice"; fi

    # existing outputs: error, file untouched; --force overwrites
    before=$(sha "$d/enc.npy")
    if "$MUSICGEN" encode -m "$model" "$d/cont_input.wav" -o "$d/enc.npy" 2>"$d/err" >/dev/null; then
        fail "$fx: encode overwrote without --force"
    elif [ "$(sha "$d/enc.npy")" != "$before" ] || ! grep -q -- --force "$d/err"; then fail "$fx: encode existing output"
    else ok; fi
    if "$MUSICGEN" encode -m "$model" "$d/cont_input.wav" -o "$d/enc.npy" --force >/dev/null &&
        [ "$(sha "$d/enc.npy")" != "$before" ]; then ok
    else fail "$fx: encode --force"; fi
    before=$(sha "$d/cont.wav")
    if "$MUSICGEN" decode -m "$model" "$d/gen_codes.npy" -o "$d/gen/" -s f32 2>"$d/err" >/dev/null; then
        fail "$fx: decode overwrote files in a directory without --force"
    else ok; fi
    if "$MUSICGEN" decode -m "$model" "$d/cont_codes_2d.npy" -o "$d/cont.wav" 2>"$d/err" >/dev/null; then
        fail "$fx: decode overwrote without --force"
    elif [ "$(sha "$d/cont.wav")" != "$before" ] || [ "$(wc -l <"$d/err")" -ne 1 ]; then fail "$fx: decode existing output"
    else ok; fi
    if "$MUSICGEN" decode -m "$model" "$d/cont_codes_2d.npy" -o "$d/cont.wav" --force -s f32 >/dev/null; then ok
    else fail "$fx: decode --force"; fi

    # bad codes: one clear line, no file
    if "$MUSICGEN" decode -m "$model" "$d/bad_codes.npy" -o "$d/bad.wav" 2>"$d/err" >/dev/null; then
        fail "$fx: code $vocab accepted"
    elif [ -e "$d/bad.wav" ] || [ "$(wc -l <"$d/err")" -ne 1 ] || ! grep -q "outside the codebook" "$d/err"; then
        fail "$fx: bad codes error: $(cat "$d/err")"
    else ok; fi

    # bad codes into a folder decode would create: the folder does not stay behind
    if "$MUSICGEN" decode -m "$model" "$d/bad_codes.npy" -o "$d/newdir/" 2>"$d/err" >/dev/null; then
        fail "$fx: code $vocab accepted (into a folder)"
    elif [ -e "$d/newdir" ]; then fail "$fx: a failed decode left the folder it made"
    else ok; fi

    # all or nothing: a signal while the rows are written removes the rows already
    # written (a failed write takes the same path; a file size limit cannot pick the
    # second of equal-size files, so only the signal is tested here)
    if [ "$stereo" = 0 ]; then
        "$PY" - "$d/rows.npy" "$vocab" <<'PYEOF'
import sys, numpy as np
r = np.random.default_rng(5)
np.save(sys.argv[1], r.integers(0, int(sys.argv[2]), (5, 4, 4000)).astype(np.int64))
PYEOF
        # one signal (acted on before the next row's file), then two (the second ends
        # decode from the handler, which must undo the same and say the same)
        for signals in 1 2; do
            rm -rf "$d/sig" "$d/sigf"
            decode_until "$d/sig" rows-0.flac
            if [ "$rc" = 0 ]; then echo "note: $fx: decode finished before the signal (not checked)"
            elif [ "$rc" != 143 ] || [ -e "$d/sig" ] || ! grep -q "interrupted; nothing was written" "$d/err"; then
                fail "$fx: decode stopped by $signals SIGTERM (exit $rc) left: $(ls "$d/sig" 2>&1) / $(cat "$d/err")"
            else ok; fi
            # the same with --force over an existing rows-0.flac: once it is replaced, its
            # new audio stays (removing it would lose both versions); the new rows-1 goes
            mkdir -p "$d/sigf" && echo old > "$d/sigf/rows-0.flac"
            decode_until "$d/sigf" rows-1.flac --force
            if [ "$rc" = 0 ]; then echo "note: $fx: decode --force finished before the signal (not checked)"
            elif [ "$rc" != 143 ] || [ "$(ls "$d/sigf")" != "rows-0.flac" ] ||
                [ "$(head -c 4 "$d/sigf/rows-0.flac")" != fLaC ] ||
                ! grep -q "1 existing file already replaced (--force) keeps the new audio" "$d/err"; then
                fail "$fx: decode --force stopped by $signals SIGTERM (exit $rc) left: $(ls "$d/sigf" 2>&1) / $(cat "$d/err")"
            else ok; fi
        done
        signals=1
    fi

    # a multi-channel file for a mono model is averaged, with a warning
    if [ "$stereo" = 0 ]; then
        if "$MUSICGEN" encode -m "$model" "$tmp/tiny-stereo/cont_input.wav" -o "$d/mix.npy" 2>"$d/err" >/dev/null &&
            grep -q "averaged" "$d/err"; then ok
        else fail "$fx: stereo input to a mono model: $(cat "$d/err")"; fi
    fi

    # missing / unreadable inputs
    if "$MUSICGEN" encode -m "$model" "$d/none.wav" -o "$d/none.npy" 2>"$d/err" >/dev/null; then fail "$fx: missing input"
    elif [ -e "$d/none.npy" ] || [ "$(wc -l <"$d/err")" -ne 1 ]; then fail "$fx: missing input error"
    else ok; fi
    if "$MUSICGEN" encode -m "$model" "$d/cont_codes.npy" -o "$d/notaudio.npy" 2>/dev/null >/dev/null ||
        [ -e "$d/notaudio.npy" ]; then fail "$fx: a .npy accepted as audio"
    else ok; fi
    if "$MUSICGEN" decode -m "$model" "$d/none.npy" -o "$d/none.wav" 2>"$d/err" >/dev/null; then fail "$fx: missing codes"
    elif [ -e "$d/none.wav" ] || [ "$(wc -l <"$d/err")" -ne 1 ]; then fail "$fx: missing codes error"
    else ok; fi
    if "$MUSICGEN" decode -m "$model" "$d/enc_input.wav" -o "$d/x.wav" 2>/dev/null >/dev/null || [ -e "$d/x.wav" ]; then
        fail "$fx: a WAV accepted as codes"
    else ok; fi
    if "$MUSICGEN" encode -m "$model" "$d/enc_input.wav" 2>/dev/null >/dev/null; then fail "$fx: encode without -o"
    else ok; fi
done

# --help fits a screen and exits 0
for c in encode decode; do
    if n=$("$MUSICGEN" $c --help | wc -l) && [ "$n" -le 24 ]; then ok; else fail "$c --help"; fi
done

if [ "$failures" -ne 0 ]; then
    echo "test_codec_cli: $failures of $((checks + failures)) checks FAILED" >&2
    exit 1
fi
echo "test_codec_cli: all $checks checks passed"
