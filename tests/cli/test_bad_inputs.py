"""test_bad_inputs.py — the bad-input table (issue 8 item 4, issue 6 item 5) through the
CLI, on mutated copies of the tiny-mono fixture made in a temporary folder (the shared
fixtures are never touched).

Every failing case must: exit with a code in 1..127 (never a signal; interrupted by a
signal: 128 + its number, 130 for Ctrl-C),
print exactly one line on stderr that names the thing at fault (checked by
substrings), print nothing on stdout, leave nothing in its output folder (no file,
no temporary/partial file; a pre-existing file stays byte-identical) and return
within the timeout. Extreme-but-valid inputs must work as documented. The table of
cases and their messages is printed; `test_bad_inputs.py --update-docs` (run from the
build folder) also writes it into README.md and docs/hardening.md.

Environment: MUSICGEN (the CLI), MG_REFERENCE_DIR (fixtures), MG_BUILD_DIR."""
import json
import os
import pwd
import random
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import mgtest as t
import numpy as np

TIMEOUT = 300  # per command; generous for sanitizer builds on a busy machine
ROOT = t.tmpdir()
os.chmod(ROOT, 0o755)
FIXTURE = os.path.join(t.REF, "tiny-mono")
rows = []  # (case, outcome, stderr line) for the printed table
n_work = [0]


# ---- fixture copies and mutations ---------------------------------------------------------

def copy_model(dst):
    """A writable copy of tiny-mono without the golden tensors."""
    os.makedirs(dst)
    for f in os.listdir(FIXTURE):
        if f.startswith("golden"):
            continue
        shutil.copyfile(os.path.join(FIXTURE, f), os.path.join(dst, f))
    os.chmod(dst, 0o755)
    return dst


def st_read(path):
    """-> (header dict without __metadata__, metadata, data section bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    return header, meta, data[8 + n:]


def st_tensors(path):
    """name -> (dtype, shape, bytes) of a safetensors file."""
    header, _, data = st_read(path)
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}


def st_write_raw(path, header, data, meta={"format": "pt"}):
    h = dict(header)
    if meta is not None:
        h = {"__metadata__": meta, **h}
    hb = json.dumps(h).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + data)


def st_write(path, tensors, meta={"format": "pt"}):
    header, blobs, off = {}, [], 0
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        off += len(blob)
        blobs.append(blob)
    st_write_raw(path, header, b"".join(blobs), meta)


def edit_header(model, fn):
    """Apply fn(header) to model.safetensors' header (data unchanged)."""
    p = os.path.join(model, "model.safetensors")
    header, meta, data = st_read(p)
    fn(header)
    st_write_raw(p, header, data, meta)


def edit_tensors(model, fn):
    p = os.path.join(model, "model.safetensors")
    tensors = st_tensors(p)
    fn(tensors)
    st_write(p, tensors)


def edit_json(model, name, fn):
    p = os.path.join(model, name)
    with open(p) as f:
        cfg = json.load(f)
    fn(cfg)
    with open(p, "w") as f:
        json.dump(cfg, f)


def set_values(tensors, name, values):
    dtype, shape, blob = tensors[name]
    a = np.frombuffer(blob, dtype=np.float32).copy()
    a[:len(values)] = values
    tensors[name] = (dtype, shape, a.tobytes())


def convert_dtype(tensors, dtype):
    """F32 -> F16 or BF16 (round to nearest even), as save_pretrained(torch_dtype=...) does."""
    out = {}
    for name, (dt, shape, blob) in tensors.items():
        a = np.frombuffer(blob, dtype=np.float32)
        if dtype == "F16":
            b = a.astype(np.float16).tobytes()
        else:
            u = a.view(np.uint32).astype(np.uint64)
            b = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes()
        out[name] = (dtype, shape, b)
    return out


def shard_model(model, n=2):
    """Split model.safetensors into n shards + model.safetensors.index.json."""
    p = os.path.join(model, "model.safetensors")
    tensors = st_tensors(p)
    os.remove(p)
    names = sorted(tensors)
    per = (len(names) + n - 1) // n
    wm = {}
    for i in range(n):
        shard = "model-%05d-of-%05d.safetensors" % (i + 1, n)
        part = {k: tensors[k] for k in names[i * per:(i + 1) * per]}
        st_write(os.path.join(model, shard), part)
        wm.update({k: shard for k in part})
    with open(os.path.join(model, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(len(v[2]) for v in tensors.values())}, "weight_map": wm}, f)
    return wm


FC1 = "decoder.model.decoder.layers.0.fc1.weight"
LN = "decoder.model.decoder.layer_norm.weight"


# ---- audio / codes helpers ------------------------------------------------------------------

def write_wav_s16(path, x, rate=32000, data_len=None):
    """x: [channels, frames] float -> PCM 16 WAV; data_len overrides the data chunk size."""
    x = np.asarray(x, dtype=np.float32)
    ch, n = x.shape
    pcm = (np.clip(x.T, -1, 1) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, ch, rate, rate * ch * 2, ch * 2, 16)
    dl = len(pcm) if data_len is None else data_len
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt)
        f.write(b"data" + struct.pack("<I", dl) + pcm)


def tone(ch, seconds, rate=32000):
    n = int(seconds * rate)
    return np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * np.arange(n) / rate) for c in range(ch)])


def codes_file(path, codes, dtype="<i8"):
    np.save(path, np.asarray(codes).astype(dtype))


# ---- running one case -----------------------------------------------------------------------

class Work:
    """A fresh folder per case: `out` is the (empty) output folder checked afterwards."""

    def __init__(self, name):
        n_work[0] += 1
        self.dir = os.path.join(ROOT, "case-%02d" % n_work[0])
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.out = os.path.join(self.dir, "out")
        os.makedirs(self.out)
        os.chmod(self.out, 0o777)
        self.name = name

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def model(self, mutate=None):
        m = copy_model(self.path("model"))
        if mutate:
            mutate(m)
        return m


def gguf_tensors(data):
    """The tensor infos of a GGUF (v3) held in `data`: (name, ne, position of the type
    field, absolute offset of the data) each; assumes the default 32-byte alignment."""
    pos = [24]
    def take(n):
        pos[0] += n
        return data[pos[0] - n:pos[0]]
    u32 = lambda: struct.unpack("<I", take(4))[0]
    u64 = lambda: struct.unpack("<Q", take(8))[0]
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    def skip(vt):
        if vt == 8:
            take(u64())
        elif vt == 9:
            et, n = u32(), u64()
            for _ in range(n):
                skip(et)
        else:
            take(sizes[vt])
    n_t, n_kv = struct.unpack("<QQ", data[8:24])
    for _ in range(n_kv):
        take(u64())
        skip(u32())
    infos = []
    for _ in range(n_t):
        name = take(u64()).decode()
        ne = [u64() for _ in range(u32())]
        type_pos = pos[0]
        take(4)
        infos.append((name, ne, type_pos, u64()))
    start = (pos[0] + 31) // 32 * 32
    return [(name, ne, type_pos, start + off) for name, ne, type_pos, off in infos]


def retype_gguf_vector(data, ggml_type):
    """Sets the ggml type of the first 1-D tensor whose length is a multiple of 32 in a
    GGUF (v3) held in `data`; returns its name."""
    for name, ne, type_pos, _ in gguf_tensors(data):
        if len(ne) == 1 and ne[0] % 32 == 0:
            data[type_pos:type_pos + 4] = struct.pack("<I", ggml_type)
            return name
    raise SystemExit("no 1-D tensor of a multiple of 32 values in the GGUF")


def nan_scale_in_gguf(data, ggml_type):
    """Makes the second f16 scale of the first tensor of `ggml_type` NaN (in the 16-row
    grouped formats: row 1's scale of its first block); returns the tensor's name."""
    for name, ne, type_pos, at in gguf_tensors(data):
        if struct.unpack("<I", data[type_pos:type_pos + 4])[0] == ggml_type:
            data[at + 2:at + 4] = struct.pack("<H", 0x7E00)
            return name
    raise SystemExit(f"no tensor of ggml type {ggml_type:#x} in the GGUF")


def snapshot(folder):
    return {f: open(os.path.join(folder, f), "rb").read() for f in os.listdir(folder)
            if os.path.isfile(os.path.join(folder, f))}


def as_nobody():
    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def file_size_limit(n):
    # SIGXFSZ keeps its default action (killing the process), as in a shell after
    # `ulimit -f`: the CLI itself must ignore it so that write() fails with EFBIG.
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    return limit


def run(w, args, expect, env=None, preexec=None, sigint_after=None, sigints=1, during=None, sig=signal.SIGINT,
        sigs_sent=None):
    """Run a case that must fail cleanly. `expect`: substrings (case-insensitive) the
    one stderr line must contain. `during(p)`, if given, runs while the process does.
    `sigint_after`: send `sig` (SIGINT: Ctrl-C) that many seconds after the start,
    `sigints` times; the exit code must then be 128 + sig. `sigs_sent`: signals
    `during` sends instead; the exit code must be 128 + one of them."""
    before_out, before_dir = snapshot(w.out), set(os.listdir(w.dir))
    cmd = [t.MUSICGEN] + args
    e = dict(os.environ, **(env or {}))
    start = time.monotonic()
    p = subprocess.Popen(cmd, cwd=w.dir, env=e, preexec_fn=preexec, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, errors="replace")
    if during is not None:
        during(p)
    if sigint_after is not None:
        time.sleep(sigint_after)
        for i in range(sigints):  # a second Ctrl-C leaves at once
            if i:
                time.sleep(0.05)
            p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        t.check(False, f"{w.name}: no answer within {TIMEOUT} s (hang)")
    secs = time.monotonic() - start
    rc = p.returncode
    lines = err.rstrip("\n").split("\n") if err else []  # strict: a blank line counts too
    line = lines[0] if len(lines) == 1 else " / ".join(lines)
    want_rc = (tuple(128 + s for s in sigs_sent) if sigs_sent else (128 + sig,) if sigint_after is not None
               else range(1, 128))
    ok = t.check(rc in want_rc, f"{w.name}: exit code {rc} (want {list(want_rc) if len(want_rc) < 9 else '1..127'}); "
                 f"stderr: {err.strip()[:2000]}")
    ok &= t.check(len(lines) == 1, f"{w.name}: {len(lines)} stderr lines: {lines[:6]}")
    for s in expect:
        ok &= t.check(s.lower() in err.lower(), f"{w.name}: message lacks \"{s}\": {line}")
    ok &= t.check(out.strip() == "", f"{w.name}: stdout not empty on failure: {out.strip()[:200]}")
    after = snapshot(w.out)
    ok &= t.check(set(os.listdir(w.out)) == set(before_out), f"{w.name}: output folder now holds {sorted(os.listdir(w.out))}")
    for f, data in before_out.items():
        ok &= t.check(after.get(f) == data, f"{w.name}: pre-existing {f} was changed")
    new = set(os.listdir(w.dir)) - before_dir
    ok &= t.check(not new, f"{w.name}: new files in the working folder: {sorted(new)}")
    rows.append((w.name, f"exit {rc}", line if ok else "FAILED: " + line))
    print(f"  {'ok ' if ok else 'BAD'} {w.name}: exit {rc}, {secs:.1f} s: {line}")
    return err


def run_ok(w, args, expect_stderr=(), env=None):
    """An extreme-but-valid case: must succeed (warnings allowed)."""
    p = subprocess.run([t.MUSICGEN] + args, cwd=w.dir, env=dict(os.environ, **(env or {})), capture_output=True,
                       text=True, errors="replace", timeout=TIMEOUT)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    ok = t.check(p.returncode == 0, f"{w.name}: failed with {p.returncode}: {p.stderr.strip()[:2000]}")
    for s in expect_stderr:
        ok &= t.check(s.lower() in p.stderr.lower(), f"{w.name}: stderr lacks \"{s}\": {lines}")
    line = " / ".join(l for l in lines if "clipped" not in l) or "(no message)"
    rows.append((w.name, "works" if ok else f"FAILED exit {p.returncode}", line))
    print(f"  {'ok ' if ok else 'BAD'} {w.name}: exit {p.returncode}: {line}")
    return p


def gen(model, out, *extra, prompt="rock"):
    # One thread: a two-thread pool crawls on a loaded two-core CI machine; the thread
    # count does not change any result (test_isolation checks that).
    return ["generate", "-m", model, "-d", "0.5", "-o", out, "-q", "-t", "1"] + list(extra) + [prompt]


# ---- the cases --------------------------------------------------------------------------------

def model_cases():
    print("checkpoint files:")
    w = Work("model.safetensors truncated (cut at 60 %)")
    def cut(m):
        p = os.path.join(m, "model.safetensors")
        data = open(p, "rb").read()
        open(p, "wb").write(data[:len(data) * 6 // 10])
    run(w, gen(w.model(cut), w.path("out", "x.wav")), ["model.safetensors", "truncated"])

    w = Work("model.safetensors of 0 bytes")
    run(w, gen(w.model(lambda m: open(os.path.join(m, "model.safetensors"), "wb").close()), w.path("out", "x.wav")),
        ["model.safetensors", "truncated"])

    w = Work("safetensors header length beyond the file")
    def long_header(m):
        p = os.path.join(m, "model.safetensors")
        data = bytearray(open(p, "rb").read())
        data[:8] = struct.pack("<Q", 1 << 40)
        open(p, "wb").write(data)
    run(w, gen(w.model(long_header), w.path("out", "x.wav")), ["model.safetensors", "header"])

    w = Work("safetensors header is not JSON")
    def garbage_header(m):
        p = os.path.join(m, "model.safetensors")
        data = bytearray(open(p, "rb").read())
        data[8:40] = b"\xff" * 32
        open(p, "wb").write(data)
    run(w, gen(w.model(garbage_header), w.path("out", "x.wav")), ["model.safetensors", "JSON"])

    w = Work("overlapping data offsets")
    def overlap(m):
        def fn(h):
            a, b = "decoder.model.decoder.layers.0.final_layer_norm.bias", "decoder.model.decoder.layers.1.final_layer_norm.bias"
            h[b]["data_offsets"] = list(h[a]["data_offsets"])
        edit_header(m, fn)
    run(w, gen(w.model(overlap), w.path("out", "x.wav")), ["overlap", "final_layer_norm.bias"])

    w = Work("data offsets beyond the data section")
    def beyond(m):
        def fn(h):
            e = h[FC1]["data_offsets"]
            h[FC1]["data_offsets"] = [e[0] + 10**9, e[1] + 10**9]
        edit_header(m, fn)
    run(w, gen(w.model(beyond), w.path("out", "x.wav")), [FC1, "truncated"])

    w = Work("wrong dtype (fc1.weight stored as I32)")
    run(w, gen(w.model(lambda m: edit_header(m, lambda h: h[FC1].update(dtype="I32"))), w.path("out", "x.wav")),
        [FC1, "I32"])

    w = Work("unknown dtype (F8_E4M3)")
    run(w, gen(w.model(lambda m: edit_header(m, lambda h: h[FC1].update(dtype="F8_E4M3"))), w.path("out", "x.wav")),
        [FC1, "F8_E4M3"])

    w = Work("dtype and byte count disagree (F16 label on F32 data)")
    run(w, gen(w.model(lambda m: edit_header(m, lambda h: h[FC1].update(dtype="F16"))), w.path("out", "x.wav")),
        [FC1, "bytes"])

    w = Work("missing tensor")
    run(w, gen(w.model(lambda m: edit_tensors(m, lambda ts: ts.pop(FC1))), w.path("out", "x.wav")),
        [FC1, "missing"])

    w = Work("mis-shaped tensor (fc1.weight transposed)")
    def transpose(ts):
        dt, shape, blob = ts[FC1]
        ts[FC1] = (dt, shape[::-1], blob)
    run(w, gen(w.model(lambda m: edit_tensors(m, transpose)), w.path("out", "x.wav")), [FC1, "shape"])

    w = Work("tensor with an extra dimension")
    def extra_dim(ts):
        dt, shape, blob = ts[FC1]
        ts[FC1] = (dt, shape + [1], blob)
    run(w, gen(w.model(lambda m: edit_tensors(m, extra_dim)), w.path("out", "x.wav")), [FC1, "shape"])

    w = Work("NaN in a decoder matrix (generate: f16 on load names it)")
    run(w, gen(w.model(lambda m: edit_tensors(m, lambda ts: set_values(ts, FC1, [np.nan]))), w.path("out", "x.wav")),
        [FC1, "non-finite", "download or convert"])

    w = Work("NaN in a decoder matrix (generate, f32 as mapped: found while generating)")
    run(w, gen(w.model(lambda m: edit_tensors(m, lambda ts: set_values(ts, FC1, [np.nan]))), w.path("out", "x.wav"),
               "--weight-type", "f32"), ["non-finite", "musicgen info"])

    w = Work("NaN in a decoder matrix (info names the tensor)")
    run(w, ["info", "-m", w.model(lambda m: edit_tensors(m, lambda ts: set_values(ts, FC1, [1.0, np.nan])))],
        [FC1, "NaN"])

    w = Work("Inf in a layer norm")
    run(w, gen(w.model(lambda m: edit_tensors(m, lambda ts: set_values(ts, LN, [np.inf]))), w.path("out", "x.wav")),
        [LN, "non-finite"])

    # The EnCodec encoder runs only for audio prompts (and `musicgen encode`): its weights
    # are folded at first use, so a NaN there fails that use, naming the tensor, while
    # text-to-music works; a missing or mis-shaped encoder tensor still fails at load.
    ENC = "audio_encoder.encoder.layers.1.block.1.conv.weight_v"
    w = Work("NaN in an EnCodec encoder weight (text prompt: valid, the encoder does not run)")
    nan_enc = w.model(lambda m: edit_tensors(m, lambda ts: set_values(ts, ENC, [np.nan])))
    run_ok(w, gen(nan_enc, w.path("out", "x.wav")))

    w = Work("NaN in an EnCodec encoder weight (with an audio prompt)")
    write_wav_s16(w.path("p.wav"), tone(1, 0.3))
    run(w, gen(nan_enc, w.path("out", "x.wav"), "--audio-prompt", w.path("p.wav"), "-d", "1"), [ENC, "non-finite"])

    w = Work("mis-shaped EnCodec encoder weight (fails at load)")
    def enc_shape(ts):
        dt, shape, blob = ts[ENC]
        ts[ENC] = (dt, shape[::-1], blob)
    run(w, gen(w.model(lambda m: edit_tensors(m, enc_shape)), w.path("out", "x.wav")), [ENC, "shape"])

    w = Work("every tensor at an odd data offset (valid: read through aligned copies)")
    def misalign(m):
        p = os.path.join(m, "model.safetensors")
        header, meta, data = st_read(p)
        for v in header.values():
            v["data_offsets"] = [v["data_offsets"][0] + 1, v["data_offsets"][1] + 1]
        st_write_raw(p, header, b"\0" + data, meta)
    mis = w.model(misalign)
    run_ok(w, gen(mis, w.path("out", "x.wav"), "--seed", "3", "--codes-out", w.path("out", "a.npy")))
    run_ok(w, gen(FIXTURE, w.path("out", "y.wav"), "--seed", "3", "--codes-out", w.path("out", "b.npy")))
    rows.pop()
    if os.path.exists(w.path("out", "a.npy")) and os.path.exists(w.path("out", "b.npy")):
        t.check(np.array_equal(np.load(w.path("out", "a.npy")), np.load(w.path("out", "b.npy"))),
                "misaligned tensors give the same codes as the original file")

    w = Work("duplicate tensor across shards")
    def dup(m):
        shard_model(m)
        first = st_tensors(os.path.join(m, "model-00001-of-00002.safetensors"))
        name = sorted(first)[0]
        p = os.path.join(m, "model-00002-of-00002.safetensors")
        ts = st_tensors(p)
        ts[name] = first[name]
        st_write(p, ts)
    run(w, gen(w.model(dup), w.path("out", "x.wav")), ["appears twice"])


def sharded_cases():
    print("sharded checkpoints:")
    w = Work("sharded model, index names a missing shard")
    def missing_shard(m):
        shard_model(m)
        os.remove(os.path.join(m, "model-00002-of-00002.safetensors"))
    run(w, gen(w.model(missing_shard), w.path("out", "x.wav")), ["model-00002-of-00002.safetensors", "missing"])

    w = Work("sharded model, truncated shard")
    def trunc_shard(m):
        shard_model(m)
        p = os.path.join(m, "model-00001-of-00002.safetensors")
        data = open(p, "rb").read()
        open(p, "wb").write(data[:len(data) // 2])
    run(w, gen(w.model(trunc_shard), w.path("out", "x.wav")), ["model-00001-of-00002.safetensors", "truncated"])

    w = Work("sharded model, index is not JSON")
    def bad_index(m):
        shard_model(m)
        open(os.path.join(m, "model.safetensors.index.json"), "w").write('{"weight_map": {"a": ')
    run(w, gen(w.model(bad_index), w.path("out", "x.wav")), ["model.safetensors.index.json"])

    w = Work("sharded model, index points outside the folder")
    def escaping(m):
        wm = shard_model(m)
        wm[FC1] = "../model-00001-of-00002.safetensors"
        json.dump({"weight_map": wm}, open(os.path.join(m, "model.safetensors.index.json"), "w"))
    run(w, gen(w.model(escaping), w.path("out", "x.wav")), ["model.safetensors.index.json", FC1])

    w = Work("sharded model, index promises a tensor no shard has")
    def promise(m):
        wm = shard_model(m)
        wm["decoder.extra.weight"] = "model-00001-of-00002.safetensors"
        json.dump({"weight_map": wm}, open(os.path.join(m, "model.safetensors.index.json"), "w"))
    run(w, gen(w.model(promise), w.path("out", "x.wav")), ["decoder.extra.weight", "missing"])

    w = Work("sharded model (valid)")
    m = w.model(shard_model)
    run_ok(w, gen(m, w.path("out", "x.wav")))
    t.check(os.path.exists(w.path("out", "x.wav")), "sharded model: audio written")

    for dtype in ("F16", "BF16"):
        w = Work(f"{dtype.lower()} weights (valid)")
        m = w.model(lambda m: edit_tensors(m, lambda ts: ts.update(convert_dtype(ts, dtype))))
        run_ok(w, gen(m, w.path("out", "x.wav"), "--seed", "1"))
        t.check(os.path.exists(w.path("out", "x.wav")), f"{dtype} model: audio written")


def config_cases():
    print("config.json, generation_config.json, spiece.model:")
    w = Work("config.json is not JSON")
    run(w, gen(w.model(lambda m: open(os.path.join(m, "config.json"), "w").write("{\"decoder\": [1, 2")),
               w.path("out", "x.wav")), ["config.json", "not valid JSON"])

    # Python's json (transformers) refuses bytes after the value; cJSON alone ignored them.
    w = Work("config.json with a second object after the first")
    run(w, gen(w.model(lambda m: open(os.path.join(m, "config.json"), "a").write("\n{\"decoder\": {}}\n")),
               w.path("out", "x.wav")), ["config.json", "not valid JSON"])

    w = Work("generation_config.json followed by NUL bytes")
    run(w, gen(w.model(lambda m: open(os.path.join(m, "generation_config.json"), "ab").write(bytes(4096))),
               w.path("out", "x.wav")), ["generation_config.json", "not valid JSON"])

    w = Work("safetensors header with garbage after its JSON")
    def header_garbage(m):
        p = os.path.join(m, "model.safetensors")
        data = bytearray(open(p, "rb").read())
        n = struct.unpack("<Q", data[:8])[0]
        data[8 + n - 1:8 + n] = b"x"  # the last padding space
        open(p, "wb").write(data)
    run(w, gen(w.model(header_garbage), w.path("out", "x.wav")), ["model.safetensors", "not valid JSON"])

    w = Work("config.json is a FIFO (nobody writes to it)")
    run(w, gen(w.model(lambda m: (os.remove(os.path.join(m, "config.json")), os.mkfifo(os.path.join(m, "config.json")))),
               w.path("out", "x.wav")), ["config.json", "not a regular file"])

    # Too short a window for the delay pattern: a duration cannot be planned, an
    # explicit number of steps still runs (the window only bounds durations).
    w = Work("generation_config max_length shorter than the delay pattern")
    run(w, gen(w.model(lambda m: edit_json(m, "generation_config.json", lambda c: c.update(max_length=3))),
               w.path("out", "x.wav")), ["generation window is empty", "max_length 3", "number of steps"])
    w = Work("the same model: info (valid: a warning)")
    short = lambda m: edit_json(m, "generation_config.json", lambda c: c.update(max_length=3))
    run_ok(w, ["info", "-m", w.model(short)], ["generation window is empty", "--steps"])
    w = Work("the same model: generate --steps 4 (valid)")
    run_ok(w, ["generate", "-m", w.model(short), "--steps", "4", "-o", w.path("out", "x.wav"), "-q", "-t", "1", "rock"])
    # A window of 2 frames, fewer than the pattern's minimum of 3 (4 codebooks): info
    # and generate judge it by the same rule (info reported 0.04 s while generate refused).
    few_frames = lambda m: edit_json(m, "generation_config.json", lambda c: c.update(max_length=6))
    w = Work("max_length 6: a window of 2 frames, under the delay pattern's 3")
    run(w, gen(w.model(few_frames), w.path("out", "x.wav")), ["generation window is empty", "max_length 6"])
    w = Work("the same model: info (valid: a warning)")
    run_ok(w, ["info", "-m", w.model(few_frames)], ["generation window is empty", "--steps"])

    w = Work("config.json missing")
    run(w, gen(w.model(lambda m: os.remove(os.path.join(m, "config.json"))), w.path("out", "x.wav")),
        ["config.json"])

    w = Work("config with zero attention heads")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["decoder"].update(num_attention_heads=0))),
               w.path("out", "x.wav")), ["num_attention_heads"])

    w = Work("config with a non-integer size (hidden_size 48.5)")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["decoder"].update(hidden_size=48.5))),
               w.path("out", "x.wav")), ["hidden_size", "integer"])

    w = Work("config with a size given as a string")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["decoder"].update(ffn_dim="64"))),
               w.path("out", "x.wav")), ["ffn_dim"])

    w = Work("hidden size not divisible by the heads")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["decoder"].update(num_attention_heads=5))),
               w.path("out", "x.wav")), ["hidden_size", "num_attention_heads"])

    w = Work("T5 relative_attention_num_buckets 2 (the reference divides by zero)")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json",
                                           lambda c: c["text_encoder"].update(relative_attention_num_buckets=2))),
               w.path("out", "x.wav")), ["relative_attention_num_buckets"])

    # max_distance below num_buckets / 4: buckets fall with distance and run out for long
    # prompts (the reference then indexes its table at -1); short prompts still work.
    few = lambda m: edit_json(m, "config.json", lambda c: c["text_encoder"].update(relative_attention_max_distance=4))
    w = Work("T5 relative_attention_max_distance 4, short prompt (valid)")
    run_ok(w, gen(w.model(few), w.path("out", "x.wav"), prompt="rock"))
    w = Work("T5 relative_attention_max_distance 4, 40-word prompt")
    run(w, gen(w.model(few), w.path("out", "x.wav"), prompt=" ".join(["drums"] * 40)),
        ["relative_attention_max_distance 4", "or more apart", "a prompt of at most"])

    w = Work("decoder vocab larger than the codec codebook size")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["decoder"].update(vocab_size=128))),
               w.path("out", "x.wav")), ["vocab_size 128 is larger than audio_encoder.codebook_size 64"])

    # transformers refuses a cross_attention_hidden_size other than the text encoder's
    # width, and with it set drops enc_to_dec_proj: the fixture's T5 (32) is narrower
    # than its decoder (48), so neither value can run.
    w = Work("decoder cross_attention_hidden_size not the text encoder's width")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["decoder"].update(
        cross_attention_hidden_size=40))), w.path("out", "x.wav")), ["cross_attention_hidden_size 40", "d_model"])
    w = Work("decoder cross_attention_hidden_size set, text encoder narrower than the decoder")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["decoder"].update(
        cross_attention_hidden_size=c["text_encoder"]["d_model"]))), w.path("out", "x.wav")),
        ["cross_attention_hidden_size", "enc_to_dec_proj", "null"])

    w = Work("config sizes that disagree with the weights (2 -> 3 layers)")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["decoder"].update(num_hidden_layers=3))),
               w.path("out", "x.wav")), ["layers.2", "missing"])

    # Found by a mutation sweep: each ratio was checked, their product wrapped an int to 0
    # and the frame rate divided by it (SIGFPE).
    w = Work("codec upsampling_ratios multiplying past 2^32 (64 x 6)")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["audio_encoder"].update(
        upsampling_ratios=[64] * 6))), w.path("out", "x.wav")), ["upsampling_ratios", "samples per codec frame"])

    w = Work("generation_config.json of 3 GB (zeros after the JSON)")
    run(w, gen(w.model(lambda m: os.truncate(os.path.join(m, "generation_config.json"), 3 << 30)),
               w.path("out", "x.wav")), ["generation_config.json", "damaged"])

    w = Work("codec codebook_size not a power of 2 (transformers' EncodecModel refuses it)")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["audio_encoder"].update(codebook_size=48))),
               w.path("out", "x.wav")), ["codebook_size 48", "power of 2"])

    w = Work("config with huge sizes (hidden 65536)")
    run(w, gen(w.model(lambda m: edit_json(m, "config.json", lambda c: c["decoder"].update(hidden_size=65536, num_attention_heads=4))),
               w.path("out", "x.wav")), ["shape"])

    w = Work("generation_config.json is not JSON")
    run(w, gen(w.model(lambda m: open(os.path.join(m, "generation_config.json"), "w").write("nope")),
               w.path("out", "x.wav")), ["generation_config.json"])

    w = Work("generation_config with a negative top_k")
    run(w, gen(w.model(lambda m: edit_json(m, "generation_config.json", lambda c: c.update(top_k=-3))),
               w.path("out", "x.wav")), ["generation_config.json", "top_k"])

    w = Work("spiece.model truncated")
    def trunc_spiece(m):
        p = os.path.join(m, "spiece.model")
        data = open(p, "rb").read()
        open(p, "wb").write(data[:len(data) // 3])
    run(w, gen(w.model(trunc_spiece), w.path("out", "x.wav")), ["spiece.model"])

    w = Work("spiece.model is garbage")
    run(w, gen(w.model(lambda m: open(os.path.join(m, "spiece.model"), "wb").write(random.Random(5).randbytes(5000))),
               w.path("out", "x.wav")), ["spiece.model"])

    w = Work("spiece.model empty")
    run(w, gen(w.model(lambda m: open(os.path.join(m, "spiece.model"), "wb").close()), w.path("out", "x.wav")),
        ["spiece.model"])

    w = Work("spiece.model missing")
    run(w, gen(w.model(lambda m: os.remove(os.path.join(m, "spiece.model"))), w.path("out", "x.wav")),
        ["spiece.model"])

    w = Work("no weights at all")
    run(w, gen(w.model(lambda m: os.remove(os.path.join(m, "model.safetensors"))), w.path("out", "x.wav")),
        ["model.safetensors"])

    w = Work("GGUF file truncated")
    g = w.path("m.gguf")
    subprocess.run([t.MUSICGEN, "quantize", "-m", FIXTURE, "-o", g, "-q"], check=True, timeout=TIMEOUT)
    data = open(g, "rb").read()
    open(g, "wb").write(data[:len(data) // 2])
    run(w, gen(g, w.path("out", "x.wav")), ["m.gguf"])

    for fmt, type_id in (("q8_0x16", 0x4D470010), ("q4_0x16", 0x4D470011)):
        w = Work(f"GGUF {fmt} tensor that is not whole 16-row groups")
        g = w.path("m.gguf")
        subprocess.run([t.MUSICGEN, "quantize", "-m", FIXTURE, "-o", g, "-q"], check=True, timeout=TIMEOUT)
        data = bytearray(open(g, "rb").read())
        name = retype_gguf_vector(data, type_id)  # a 1-D tensor claims the grouped layout
        open(g, "wb").write(data)
        run(w, gen(g, w.path("out", "x.wav")), ["m.gguf", name, fmt, "16-row"])

        w = Work(f"GGUF {fmt} tensor with a NaN scale (info names the tensor)")
        g = w.path("m.gguf")
        subprocess.run([t.MUSICGEN, "quantize", "-m", FIXTURE, "-o", g, "-q", "--type", fmt[:4], "--pure"], check=True,
                       timeout=TIMEOUT)  # --pure: the fixture's matrices are small
        data = bytearray(open(g, "rb").read())
        name = nan_scale_in_gguf(data, type_id)
        open(g, "wb").write(data)
        run(w, ["info", "-m", g], [name, "NaN"])

    # Found by a mutation sweep: a tensor relabelled to a type of fewer bytes (f32 as f16)
    # left a hole in the data section and was read as other values, without a word.
    w = Work("GGUF tensor relabelled to a smaller type (f32 as f16)")
    g = w.path("m.gguf")
    subprocess.run([t.MUSICGEN, "quantize", "-m", FIXTURE, "-o", g, "-q", "-t", "f32"], check=True, timeout=TIMEOUT)
    data = bytearray(open(g, "rb").read())
    name = next(n for n, ne, tp, _ in gguf_tensors(data)
                if struct.unpack("<I", data[tp:tp + 4])[0] == 0 and int(np.prod(ne)) >= 64)
    tp = next(tp for n, ne, tp, _ in gguf_tensors(data) if n == name)
    data[tp:tp + 4] = struct.pack("<I", 1)
    open(g, "wb").write(data)
    run(w, gen(g, w.path("out", "x.wav")), ["m.gguf", name, "belong to no tensor"])

    w = Work("safetensors data_offsets that are not whole numbers")
    def half_offset(h):
        h[FC1]["data_offsets"][0] += 0.5
    run(w, gen(w.model(lambda d: edit_header(d, half_offset)), w.path("out", "x.wav")), [FC1, "data_offsets"])

    w = Work("a file that is not a model")
    open(w.path("notes.txt"), "w").write("hello\n")
    run(w, gen(w.path("notes.txt"), w.path("out", "x.wav")), ["notes.txt"])


def hub_cases():
    print("models by name:")
    cache = os.path.join(ROOT, "hf-cache")
    os.makedirs(cache, exist_ok=True)
    w = Work("unknown model name, offline")
    run(w, gen("facebook/musicgen-nonexistent", w.path("out", "x.wav")), ["facebook/musicgen-nonexistent"],
        env={"HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1"})

    w = Work("no network and model not cached")
    run(w, gen("facebook/musicgen-small", w.path("out", "x.wav")), ["facebook/musicgen-small"],
        env={"HF_HUB_CACHE": cache, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": ""})

    for name, env in (("offline", {"HF_HUB_OFFLINE": "1"}),
                      ("no network", {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": ""})):
        w = Work(f"a mistyped folder under a folder here (models/nonexist), {name}")
        os.makedirs(w.path("models"))
        run(w, gen("models/nonexist", w.path("out", "x.wav")),
            ["there is no folder models/nonexist here (models has no nonexist)"], env=dict(env, HF_HUB_CACHE=cache))

    w = Work("model path that does not exist")
    run(w, gen(w.path("no-such-model"), w.path("out", "x.wav")), ["no-such-model"],
        env={"HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1"})


def param_cases():
    print("generation parameters:")
    m = FIXTURE
    for name, args, expect in [
        ("duration 0", ["-d", "0"], ["duration"]),
        ("duration negative", ["-d", "-3"], ["duration"]),
        ("duration NaN", ["-d", "nan"], ["duration"]),
        ("duration inf", ["-d", "inf"], ["duration"]),
        ("duration 1e9", ["-d", "1e9"], ["duration", "3600"]),
        ("duration 5e-324 (below double's normal range)", ["-d", "5e-324"], ["duration", "shorter than one sample"]),
        ("top-k -1", ["--top-k", "-1"], ["top-k"]),
        ("ambiguous abbreviation --st", ["--st", "5"], ["ambiguous", "--steps", "--stride", "--stream"]),
        ("top-k not a number", ["--top-k", "ten"], ["top-k"]),
        ("top-p 0", ["--top-p", "0"], ["top-p"]),
        ("top-p 1.5", ["--top-p", "1.5"], ["top-p"]),
        ("top-p NaN", ["--top-p", "nan"], ["top-p"]),
        ("negative guidance scale", ["--cfg", "-1"], ["cfg"]),
        ("temperature 0", ["--temperature", "0"], ["temperature"]),
        ("threads 0", ["-t", "0"], ["threads"]),
        ("threads 10000", ["-t", "10000"], ["threads"]),
        ("--steps beyond the position table", ["--steps", "100000"], ["steps"]),
        ("--steps with --duration", ["--steps", "20", "-d", "1"], ["--steps"]),
        ("unknown --sample-format", ["--sample-format", "s8"], ["sample-format"]),
        ("unknown --kv-type", ["--kv-type", "f8"], ["kv-type"]),
        ("unknown --weight-type", ["--weight-type", "q2_k"], ["weight-type"]),
        ("negative seed", ["--seed", "-5"], ["seed"]),
        ("window longer than the model's", ["--window", "100"], ["window"]),
        ("stride longer than the window", ["-d", "20", "--window", "5", "--stride", "6"], ["stride"]),
        ("loudness target out of range", ["--loudness-normalize=5"], ["loudness"]),
        ("unknown option", ["--bogus"], ["--bogus"]),
        ("a prompt that starts with '-' (\"-heavy metal\": -h is --help)", ["-heavy metal"],
         ["'-heavy metal' is not an option", "goes after --"]),
        ("-o - without --stream", ["-o", "-"], ["--stream"]),
        ("--codes-out with an audio name", ["--codes-out", "c.wav"], ["c.wav", ".npy"]),
        ("duration in hexadecimal", ["-d", "0x10"], ["--duration"]),
        ("duration 1e20", ["-d", "1e20"], ["1e+20", "3600"]),
        ("seed with a space and a minus (\" -5\")", ["--seed", " -5"], ["--seed", "non-negative"]),
    ]:
        w = Work(name)
        full = ["generate", "-m", m, "-t", "1"]
        if "-d" not in args and "--steps" not in args:
            full += ["-d", "0.5"]
        if "-o" not in args:
            full += ["-o", w.path("out", "x.wav")]
        run(w, full + ["-q"] + args + ["rock"], expect)

    w = Work("a prompt that starts with '-' after -- (valid)")
    run_ok(w, ["generate", "-m", m, "-t", "1", "-d", "0.5", "-o", w.path("out", "x.wav"), "-q", "--", "-heavy metal"])
    t.check(os.path.exists(w.path("out", "x.wav")), f"{w.name}: no audio written")

    w = Work("no prompt given")
    run(w, ["generate", "-m", m, "-o", w.path("out", "x.wav"), "-q"], ["prompt"])

    # Audio (every item's, kept to the end) or an attention cache bigger than the memory
    # left is refused before any work, not by the OOM killer mid-run; MG_MEMORY_LIMIT
    # stands in for a small machine (test_isolation checks the cache on its own).
    # The encoder's weights are packed at the first audio prompt (~0.3 MB for this
    # fixture, 80 MB for musicgen-small), after the audio and cache checks passed.
    w = Work("audio prompt beyond the available memory (MG_MEMORY_LIMIT=200000)")
    write_wav_s16(w.path("p.wav"), tone(1, 0.2))
    run(w, gen(m, w.path("out", "x.wav"), "--audio-prompt", w.path("p.wav")),
        ["packing EnCodec's encoder", "MB of memory is available"], env={"MG_MEMORY_LIMIT": "200000"})

    w = Work("audio beyond the available memory (MG_MEMORY_LIMIT=300000)")
    run(w, ["generate", "-m", m, "-d", "5", "-o", w.path("out", "x.wav"), "-q", "rock"],
        ["audio of 1 prompt x 5.0 s", "MB of memory is available", "fewer prompts"],
        env={"MG_MEMORY_LIMIT": "300000"})

    w = Work("the same into new nested folders out/a/b/ (made as mkdir -p does, removed again)")
    run(w, ["generate", "-m", m, "-d", "5", "-o", w.path("out", "a", "b") + "/", "-q", "rock"],
        ["audio of 1 prompt x 5.0 s"], env={"MG_MEMORY_LIMIT": "300000"})

    w = Work("output into new nested folders out/a/b/ (valid: made as mkdir -p does)")
    run_ok(w, gen(m, w.path("out", "a", "b") + "/"))
    t.check(len(os.listdir(w.path("out", "a", "b"))) == 1, f"{w.name}: no file in out/a/b/")

    w = Work("MG_MEMORY_LIMIT that is not a number (valid: a warning)")
    run_ok(w, ["generate", "-m", m, "--steps", "4", "-o", w.path("out", "x.wav"), "-q", "rock"],
           ["MG_MEMORY_LIMIT=\"1e9\" is not a whole number of bytes"], env={"MG_MEMORY_LIMIT": "1e9"})

    for name, tail, expect in [
        ("long option without its value (last argument)", ["rock", "--seed"], ["--seed", "needs a value"]),
        ("a switch given a value (--greedy=1)", ["--greedy=1", "rock"], ["--greedy", "no value"]),
        ("loudness target without '=' (--loudness-normalize 14)", ["--loudness-normalize", "14", "rock"],
         ["--loudness-normalize=14"]),
        ("negative number as an option (--loudness-normalize -14)", ["--loudness-normalize", "-14", "rock"],
         ["--loudness-normalize=-14"]),
    ]:
        w = Work(name)
        run(w, ["generate", "-m", m, "-t", "1", "-d", "0.5", "-o", w.path("out", "x.wav"), "-q"] + tail, expect)

    w = Work("100 KB prompt (more than 2048 tokens)")
    run(w, gen(m, w.path("out", "x.wav"), prompt="lo-fi hip hop with mellow piano " * 3200), ["2048", "prompt"])

    for name, extra in [("top-k 0 (valid: no top-k)", ["--top-k", "0"]), ("top-p 1 (valid: no top-p)", ["--top-p", "1"]),
                        ("guidance 0 (valid: no CFG)", ["--cfg", "0"]), ("threads 1024 (valid)", ["-t", "1024"])]:
        w = Work(name)
        run_ok(w, gen(m, w.path("out", "x.wav"), *extra))

    w = Work("--window with --steps (valid: ignored, with a warning)")
    run_ok(w, ["generate", "-m", m, "-t", "1", "--steps", "20", "--window", "1", "-o", w.path("out", "x.wav"), "-q",
               "rock"], ["--window and --stride apply to --duration"])

    w = Work("--sample-format and --normalize with only --codes-out (valid: ignored, with a warning)")
    run_ok(w, ["generate", "-m", m, "-t", "1", "--steps", "8", "--codes-out", w.path("out", "c.npy"), "-s", "f32",
               "--normalize", "-q", "rock"], ["with only --codes-out none is written, so they are ignored"])

    # tiny-mono's heads are 12 values: q8_0 blocks are 32, so the cache stays f16.
    w = Work("--kv-type q8_0 with 12-value heads (valid: f16 cache, with a warning)")
    run_ok(w, gen(m, w.path("out", "x.wav"), "--kv-type", "q8_0"), ["multiple of 32", "using f16"])

    w = Work("--negative-prompt with the unconditional prompt \"\" (valid: no effect, with a warning)")
    run_ok(w, gen(m, w.path("out", "x.wav"), "--negative-prompt", "drums", "--cfg", "3", prompt=""),
           ["no effect on an unconditional"])

    w = Work("--loudness-normalize on 0.2 s (valid: too short to measure, with a warning)")
    run_ok(w, gen(m, w.path("out", "x.wav"), "-d", "0.2", "--loudness-normalize"), ["shorter than 0.4 s"])

    w = Work("duration 0.01 s (valid: 320 samples)")
    run_ok(w, gen(m, w.path("out", "x.wav"), "-d", "0.01"))
    if os.path.exists(w.path("out", "x.wav")):
        t.check(t.read_wav(w.path("out", "x.wav"))[0].shape == (1, 320), "-d 0.01 gives 320 samples")

    w = Work("prompt of invalid UTF-8 and emoji (valid: <unk> tokens)")
    run_ok(w, ["generate", "-m", m, "-t", "1", "-d", "0.3", "-o", w.path("out", "x.wav"), "-q",
               os.fsdecode(b"\xff\xfe caf\xc3\xa9 \xf0\x9f\x8e\xb8 \xe6\x97\xa5")])

    w = Work("prompt of spaces only (valid)")
    run_ok(w, gen(m, w.path("out", "x.wav"), prompt="   "))

    w = Work("output file name longer than the file system allows")
    run(w, gen(m, w.path("out", "x" * 300 + ".wav")), [".wav"])

    w = Work("--prompts-file missing")
    run(w, gen(m, w.path("out"), "--prompts-file", w.path("nope.txt")), ["nope.txt"])

    w = Work("--prompts-file empty and no prompt")
    open(w.path("empty.txt"), "w").close()
    run(w, ["generate", "-m", m, "-o", w.path("out") + "/", "-q", "--prompts-file", w.path("empty.txt")],
        ["empty.txt", "no prompts"])

    w = Work("--prompts-file of blank lines (spaces, tabs)")
    open(w.path("blank.txt"), "w").write("   \n\t\n\n")
    run(w, ["generate", "-m", m, "-o", w.path("out") + "/", "-q", "--prompts-file", w.path("blank.txt")],
        ["blank.txt", "no prompts"])

    w = Work("--prompts-file given twice")
    open(w.path("a.txt"), "w").write("rock\n")
    run(w, gen(m, w.path("out") + "/", "--prompts-file", w.path("a.txt"), "--prompts-file", w.path("a.txt")),
        ["--prompts-file", "twice"])

    w = Work("batch whose seeds would pass 2^64 - 2")
    run(w, ["generate", "-m", m, "-t", "1", "-d", "0.5", "-o", w.path("out") + "/", "-q", "--seed",
            str(2**64 - 2), "a", "b"], ["--seed", str(2**64 - 3)])

    w = Work("--prompts-file is an audio file")
    write_wav_s16(w.path("a.wav"), tone(1, 0.2))
    run(w, ["generate", "-m", m, "-o", w.path("out") + "/", "-q", "--prompts-file", w.path("a.wav")],
        ["a.wav", "not a text file", "--audio-prompt"])


def output_cases():
    print("outputs:")
    m = FIXTURE
    w = Work("output into a missing folder")
    run(w, gen(m, w.path("out", "missing", "x.wav")), ["missing"])

    w = Work("output path through a file (x.wav/y.wav)")
    open(w.path("out", "x.wav"), "wb").write(b"keep me")
    run(w, gen(m, w.path("out", "x.wav", "y.wav")), ["x.wav is a file, not a folder"])

    w = Work("output folder that is a file (x.wav/ for a batch)")
    open(w.path("out", "x.wav"), "wb").write(b"keep me")
    run(w, gen(m, w.path("out", "x.wav") + "/", "-p", "a", "-p", "b", prompt="c"), ["exists and is not a folder"])

    w = Work("output folder that is a dangling symbolic link (link/ for a batch)")
    os.symlink(w.path("nowhere"), w.path("link"))
    run(w, gen(m, w.path("link") + "/", "-p", "a", "-p", "b", prompt="c"), ["symbolic link", "does not exist"])

    w = Work("output file under a dangling symbolic link (link/x.wav)")
    os.symlink(w.path("nowhere"), w.path("link"))
    run(w, gen(m, w.path("link", "x.wav")), ["symbolic link", "does not exist"])

    w = Work("output into a read-only folder")
    ro = w.path("out", "ro")
    os.makedirs(ro)
    os.chmod(ro, 0o555)
    w.out = ro  # the folder that must stay empty
    run(w, gen(m, os.path.join(ro, "x.wav")), ["ro", "writable"], preexec=as_nobody if os.geteuid() == 0 else None)

    w = Work("output is an existing folder name without '/' for one file")  # writes into it: valid
    os.makedirs(w.path("out", "d"))
    p = run_ok(w, gen(m, w.path("out", "d"), "--seed", "2"))
    t.check(len(os.listdir(w.path("out", "d"))) == 1, "one file written into the folder")

    w = Work("existing output file without --force")
    open(w.path("out", "x.wav"), "wb").write(b"keep me")
    run(w, gen(m, w.path("out", "x.wav")), ["x.wav", "--force"])

    w = Work("existing --codes-out without --force")
    open(w.path("out", "c.npy"), "wb").write(b"keep me")
    run(w, gen(m, w.path("out", "x.wav"), "--codes-out", w.path("out", "c.npy")), ["c.npy", "--force"])

    w = Work(".aac output extension")
    run(w, gen(m, w.path("out", "x.aac")), ["x.aac", ".wav", ".mp3"])

    w = Work("unknown --audio-format")
    run(w, gen(m, w.path("out") + "/", "--audio-format", "aac"), ["--audio-format", "aac", "mp3"])

    w = Work("--audio-format against the -o file's extension")
    run(w, gen(m, w.path("out", "x.wav"), "--audio-format", "mp3"), ["--audio-format", "x.wav", "x.mp3"])

    w = Work("--audio-format mp3 with --stream")
    run(w, gen(m, "-", "--stream", "--audio-format", "mp3"), ["--stream", "WAV", "--audio-format"])

    w = Work("output without an extension")
    run(w, gen(m, w.path("out", "x")), [".wav"])

    w = Work("FLAC output with f32 samples")
    run(w, gen(m, w.path("out", "x.flac"), "--sample-format", "f32"), ["flac"])

    w = Work("-o names one file but there are two prompts")
    run(w, ["generate", "-m", m, "-d", "0.5", "-o", w.path("out", "x.wav"), "-q", "a", "b"], ["x.wav", "folder"])

    w = Work("disk full while writing (file size limit)")
    run(w, gen(m, w.path("out", "x.wav"), "-d", "5"), ["x.wav"], preexec=file_size_limit(20000))

    w = Work("disk full while writing codes (file size limit)")
    run(w, ["generate", "-m", m, "-t", "1", "-d", "5", "--codes-out", w.path("out", "c.npy"), "-q", "rock"], ["c.npy"],
        preexec=file_size_limit(2000))

    if os.geteuid() == 0:
        for name, size, args in [
            ("disk full on a 64 KiB tmpfs", "64k", ["-d", "5", "rock"]),
            ("disk full after the first of two files (400 KiB tmpfs)", "400k", ["-d", "5", "--seed", "1", "a", "b"]),
        ]:
            w = Work(name)
            mnt = w.path("out", "tiny")
            os.makedirs(mnt)
            if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", mnt],
                              capture_output=True).returncode != 0:
                print(f"  (not run: {name}: mounting a tmpfs is not permitted here; the file-size-limit cases "
                      "cover a full disk)")
                continue
            try:
                w.out = mnt
                o = os.path.join(mnt, "x.wav") if len(args) == 3 else mnt + "/"
                run(w, ["generate", "-m", m, "-t", "1", "-o", o, "-q"] + args, ["tiny"])
            finally:
                subprocess.run(["umount", mnt])

    w = Work("output is a device (--force)")
    os.mknod(w.path("dev.wav"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
    run(w, ["generate", "-m", m, "-t", "1", "--steps", "8", "-o", w.path("dev.wav"), "--force", "-q", "rock"],
        ["not a regular file"])
    t.check(stat.S_ISCHR(os.stat(w.path("dev.wav")).st_mode), "the device is still a device")

    w = Work("model file truncated in place during generation")
    weights = os.path.realpath(os.path.join(w.model(), "model.safetensors"))

    def truncate_once_mapped(p):
        deadline = time.monotonic() + TIMEOUT
        while p.poll() is None and time.monotonic() < deadline:
            try:
                if weights in open(f"/proc/{p.pid}/maps").read():
                    break
            except OSError:
                break
            time.sleep(0.02)
        time.sleep(0.3)
        os.truncate(weights, 0)  # in place, as `cp other model.safetensors` would

    run(w, ["generate", "-m", os.path.dirname(weights), "-t", "1", "-d", "600", "-o", w.path("out", "x.wav"), "-q",
            "rock"], ["truncated or rewritten in place"], during=truncate_once_mapped)

    w = Work("Ctrl-C twice during generation")
    run(w, ["generate", "-m", m, "-t", "1", "-d", "600", "-o", w.path("out", "x.wav"), "-q", "rock"], ["interrupted"],
        sigint_after=1.0, sigints=2)

    # Two signals before the first is acted on (both pending while the process is
    # stopped, so the second is sure to reach the handler first): the second leaves from
    # the signal handler, which must also remove the folder generate made.
    def two_signals_at_once(p):
        time.sleep(1.0)
        for s in (signal.SIGSTOP, signal.SIGINT, signal.SIGTERM, signal.SIGCONT):
            p.send_signal(s)

    w = Work("Ctrl-C and SIGTERM at once during generation into a new folder")
    run(w, ["generate", "-m", m, "-t", "1", "-d", "600", "-o", w.path("out", "new") + "/", "-q", "rock"],
        ["interrupted; nothing was written"], during=two_signals_at_once, sigs_sent=(signal.SIGINT, signal.SIGTERM))

    w = Work("Ctrl-C during generation")
    run(w, ["generate", "-m", m, "-t", "1", "-d", "600", "-o", w.path("out", "x.wav"), "-q", "rock"], ["interrupted"],
        sigint_after=2.0)

    w = Work("SIGTERM during generation")
    run(w, ["generate", "-m", m, "-t", "1", "-d", "600", "-o", w.path("out", "x.wav"), "-q", "rock"], ["interrupted"],
        sigint_after=2.0, sig=signal.SIGTERM)

    w = Work("terminal closed (SIGHUP) during generation")
    run(w, ["generate", "-m", m, "-t", "1", "-d", "600", "-o", w.path("out", "x.wav"), "-q", "rock"], ["interrupted"],
        sigint_after=2.0, sig=signal.SIGHUP)


def audio_prompt_cases():
    print("audio prompts:")
    m = FIXTURE
    def ap(w, f, *extra):
        return gen(m, w.path("out", "x.wav"), "--audio-prompt", f, *extra)

    w = Work("audio prompt missing")
    run(w, ap(w, w.path("nope.wav")), ["nope.wav"])

    w = Work("audio prompt of 0 bytes")
    open(w.path("empty.wav"), "wb").close()
    run(w, ap(w, w.path("empty.wav")), ["empty.wav", "empty"])

    w = Work("audio prompt with 0 samples")
    write_wav_s16(w.path("zero.wav"), np.zeros((1, 0)))
    run(w, ap(w, w.path("zero.wav")), ["zero.wav"])

    w = Work("audio prompt that is not audio")
    open(w.path("text.wav"), "w").write("this is not a wav file\n" * 20)
    run(w, ap(w, w.path("text.wav")), ["text.wav", "audio"])

    # Found by fuzz_audio: LIST entries whose sizes wrap libsndfile 1.2.0's 32-bit
    # counter, so it loops forever inside sf_open (no I/O a callback could stop).
    for name, data in [
        ("WAV whose LIST chunk claims 4 GB (libsndfile would loop forever)",
         "524946464e040000574156454c495354120" + "0" + "ffff" * 31 + "f7ff" + "ffff" * 5 + "ff00000000"),
        ("WAV whose LIST entry size wraps around (libsndfile would loop forever)",
         "5249464644030055574156454c4953544100000003000400f7ffffff" + "00" * 6 + "17" + "00" * 87
         + "9f0000574156454c494646490175808f009ca9b6"),
        # a 16-byte LIST whose last entry header runs 4 bytes past it: libsndfile goes on
        # from there, to a second LIST whose entry wraps
        ("WAV whose LIST overruns into a second, wrapping LIST (libsndfile would loop forever)",
         "5249464624d00000574156454c495354100000006164746c010000" + "ff" * 5 + "24000000574156454c495354100000"
         + "ffffffff" + "5d" + "ff" * 173 + "fe" + "ff" * 66 + "ef" + "ff" * 83 + "ee" + "ffffffff"
         + "4c49535400000000a1")]:
        w = Work(name)
        open(w.path("list.wav"), "wb").write(bytes.fromhex(data))
        run(w, ap(w, w.path("list.wav")), ["list.wav", "LIST"])

    # A warning (stereo audio averaged for a mono model) then a failure: only the error
    # line, the warnings of a failing command are held back.
    w = Work("stereo audio prompt longer than the duration (a warning, then the error)")
    write_wav_s16(w.path("st.wav"), tone(2, 1.0))
    run(w, ap(w, w.path("st.wav"), "-d", "0.5"), ["duration", "prompt"])

    w = Work("audio prompt is a FIFO (nobody writes to it)")
    os.mkfifo(w.path("p.wav"))
    run(w, ap(w, w.path("p.wav")), ["p.wav", "not a regular file"])

    # libmpg123 (inside libsndfile) prints its own notes on stderr: six lines before ours.
    w = Work("audio prompt: a broken MP3")
    open(w.path("bad.mp3"), "wb").write(b"ID3" + bytes(100))
    run(w, ap(w, w.path("bad.mp3")), ["bad.mp3", "audio file"])

    w = Work("audio prompt at 1 Hz")
    write_wav_s16(w.path("1hz.wav"), tone(1, 0.25)[:, :100], rate=1)
    run(w, ap(w, w.path("1hz.wav")), ["1hz.wav", "1 Hz"])

    w = Work("audio prompt is a folder")
    os.makedirs(w.path("d.wav"))
    run(w, ap(w, w.path("d.wav")), ["d.wav", "folder"])

    w = Work("audio prompt longer than the duration")
    write_wav_s16(w.path("long.wav"), tone(1, 1.0))
    run(w, ap(w, w.path("long.wav")), ["duration", "prompt"])

    # Found by a review: fewer steps than the delays after a prompt used to overflow the
    # code buffer (the prompt's frames did not fit in the output).
    w = Work("--steps 3 after an audio prompt (4 codebooks need 4)")
    write_wav_s16(w.path("p.wav"), tone(1, 0.3))
    run(w, ["generate", "-m", m, "--steps", "3", "--audio-prompt", w.path("p.wav"), "-o", w.path("out", "x.wav"),
            "-q", "-t", "1", "rock"], ["steps", "at least 4"])

    w = Work("audio prompt longer than the model's window (-d 20)")
    write_wav_s16(w.path("long.wav"), tone(1, 11.0, rate=8000), rate=8000)
    run(w, ap(w, w.path("long.wav"), "-d", "20"), ["audio prompt", "window"])

    w = Work("audio prompt unreadable (no permission)")
    write_wav_s16(w.path("secret.wav"), tone(1, 0.2))
    os.chmod(w.path("secret.wav"), 0o000)
    run(w, ap(w, w.path("secret.wav")), ["secret.wav"], preexec=as_nobody if os.geteuid() == 0 else None)

    w = Work("audio prompt whose header claims more data than the file has (valid)")
    write_wav_s16(w.path("lying.wav"), tone(1, 0.2), data_len=0x7FFFFF00)
    run_ok(w, ap(w, w.path("lying.wav"), "-d", "1"))

    w = Work("8-channel audio prompt (valid: downmixed)")
    write_wav_s16(w.path("8ch.wav"), tone(8, 0.2))
    run_ok(w, ap(w, w.path("8ch.wav"), "-d", "1"), ["8-channel"])


def codes_cases():
    print("codes files (decode):")
    m = FIXTURE
    rng = np.random.default_rng(0)
    good = rng.integers(0, 64, size=(1, 4, 20))

    def dec(w, f, out="x.wav", *extra):
        return ["decode", "-m", m, "-t", "1", f, "-o", w.path("out", out)] + list(extra)

    for name, arr, dtype, expect in [
        ("codebook id out of range (64 for 64 entries)", np.where(np.arange(20) == 7, 64, good), "<i8", ["64", "codebook"]),
        ("negative codebook id", np.where(np.arange(20) == 3, -1, good), "<i8", ["-1"]),
        ("codes with float dtype", good, "<f4", ["float", "integer"]),
        ("codes with wrong K (5 codebooks for a 4-codebook model)", np.concatenate([good, good[:, :1]], axis=1), "<i8",
         ["5 codebooks"]),
        ("0-frame codes", good[:, :, :0], "<i8", ["codes"]),
        ("codes with 4 dimensions", good[None], "<i8", ["dimensions"]),
    ]:
        w = Work(name)
        codes_file(w.path("c.npy"), arr, dtype)
        run(w, dec(w, w.path("c.npy")), expect)

    w = Work("codes file truncated")
    codes_file(w.path("c.npy"), good)
    data = open(w.path("c.npy"), "rb").read()
    open(w.path("c.npy"), "wb").write(data[:len(data) - 50])
    run(w, dec(w, w.path("c.npy")), ["c.npy"])

    w = Work("codes file is not .npy")
    open(w.path("c.npy"), "w").write("1 2 3\n")
    run(w, dec(w, w.path("c.npy")), ["c.npy", "npy"])

    w = Work("codes with several rows into one file")
    codes_file(w.path("c.npy"), np.concatenate([good, good]))
    run(w, dec(w, w.path("c.npy")), ["2 rows", "directory"])

    # a wrong K is wrong for every row: the message names the file, not row 0
    w = Work("3 rows of codes with wrong K (5 codebooks)")
    codes_file(w.path("c.npy"), np.concatenate([np.concatenate([good, good[:, :1]], axis=1)] * 3))
    err = run(w, dec(w, w.path("c.npy"), "rows/"), ["c.npy: 5 codebooks"])
    t.check("row 0 of" not in err, f"{w.name}: the message names a row: {err.strip()}")

    w = Work("3 rows of codes, row 1 with an id out of range")
    rows3 = np.concatenate([good, np.where(np.arange(20) == 7, 64, good), good])
    codes_file(w.path("c.npy"), rows3)
    run(w, dec(w, w.path("c.npy"), "rows/"), ["row 1 of", "64"])

    w = Work("codes with fewer codebooks than the model (3 of 4)")  # either decodes or fails cleanly
    codes_file(w.path("c.npy"), good[:, :3])
    p = subprocess.run([t.MUSICGEN] + dec(w, w.path("c.npy")), capture_output=True, text=True, timeout=TIMEOUT)
    if p.returncode == 0:
        rows.append((w.name, "works", "(decoded with the first 3 RVQ levels)"))
        print(f"  ok  {w.name}: decoded")
    else:
        shutil.rmtree(w.out)
        os.makedirs(w.out)
        run(w, dec(w, w.path("c.npy")), ["3 codebooks"])

    w = Work("codes from a pipe (/dev/stdin, valid)")
    codes_file(w.path("c.npy"), good)
    p = subprocess.run([t.MUSICGEN] + dec(w, "/dev/stdin", "piped.wav"), stdin=open(w.path("c.npy"), "rb"),
                       capture_output=True, text=True, timeout=TIMEOUT)
    ok = t.check(p.returncode == 0 and os.path.exists(w.path("out", "piped.wav")), f"{w.name}: {p.stderr.strip()}")
    rows.append((w.name, "works" if ok else "FAILED", "(read to the end of the pipe)"))
    print(f"  {'ok ' if ok else 'BAD'} {w.name}")

    w = Work("codes from a FIFO nobody writes to")
    os.mkfifo(w.path("c.npy"))
    run(w, dec(w, w.path("c.npy")), ["c.npy", "npy"])

    w = Work("1-frame codes (valid)")
    codes_file(w.path("c.npy"), good[:, :, :1])
    run_ok(w, dec(w, w.path("c.npy"), "one.wav"))
    if t.check(os.path.exists(w.path("out", "one.wav")), "1-frame codes decode to a file"):
        audio, rate = t.read_wav(w.path("out", "one.wav"))
        t.check(audio.shape == (1, 640), f"1 frame = 640 samples, got {audio.shape}")

    w = Work("codes with 3 of the model's 4 codebooks (valid: a lower bandwidth, with a warning)")
    codes_file(w.path("c.npy"), good[:, :3, :])
    run_ok(w, dec(w, w.path("c.npy"), "three.wav"), ["3 codebooks", "lower bandwidth"])

    print("encode:")
    w = Work("encode an empty audio file")
    open(w.path("empty.wav"), "wb").close()
    run(w, ["encode", "-m", m, w.path("empty.wav"), "-o", w.path("out", "c.npy")], ["empty.wav"])

    w = Work("encode into a missing folder")
    write_wav_s16(w.path("a.wav"), tone(1, 0.2))
    run(w, ["encode", "-m", m, w.path("a.wav"), "-o", w.path("out", "no", "c.npy")], ["c.npy"])


def other_command_cases():
    print("other commands:")
    m = FIXTURE
    w = Work("quantize: existing output without --force")
    open(w.path("out", "m.gguf"), "wb").write(b"keep me")
    run(w, ["quantize", "-m", m, "-o", w.path("out", "m.gguf"), "-q"], ["m.gguf", "--force"])

    w = Work("quantize: unknown --type")
    run(w, ["quantize", "-m", m, "-o", w.path("out", "m.gguf"), "-t", "q3_k"], ["--type"])

    w = Work("quantize: -t 2 (meant as threads)")
    run(w, ["quantize", "-m", m, "-o", w.path("out", "m.gguf"), "-t", "2"], ["--type", "--threads"])

    w = Work("quantize: disk full (file size limit)")
    run(w, ["quantize", "-m", m, "-o", w.path("out", "m.gguf"), "-q"], ["m.gguf"], preexec=file_size_limit(100000))

    w = Work("quantize: malformed checkpoint")
    run(w, ["quantize", "-m", w.model(lambda d: edit_header(d, lambda h: h[FC1].update(dtype="F16"))), "-o",
            w.path("out", "m.gguf"), "-q"], [FC1])

    w = Work("quantize: a checkpoint generation cannot use (a tensor missing)")
    run(w, ["quantize", "-m", w.model(lambda d: edit_tensors(d, lambda ts: ts.pop(FC1))), "-o",
            w.path("out", "m.gguf"), "-q"], [FC1, "missing"])

    w = Work("quantize: NaN weights")
    run(w, ["quantize", "-m", w.model(lambda d: edit_tensors(d, lambda ts: set_values(ts, FC1, [float("nan")]))), "-o",
            w.path("out", "m.gguf"), "-q"], [FC1, "NaN"])

    w = Work("decode: 3 of 4 codebooks (a warning) with a code out of range")
    bad3 = np.random.default_rng(2).integers(0, 64, size=(1, 3, 20))
    bad3[0, 1, 5] = 64
    codes_file(w.path("c.npy"), bad3)
    run(w, ["decode", "-m", m, w.path("c.npy"), "-o", w.path("out", "x.wav")], ["outside the codebook"])

    w = Work("decode: more than 4 hours of codes (refused before decoding)")
    np.save(w.path("c.npy"), np.zeros((1, 4, 720001), np.int8))
    run(w, ["decode", "-m", m, "-t", "1", w.path("c.npy"), "-o", w.path("out", "x.wav")],
        ["720001 frames", "14400.02 s", "at most 14400 s"])

    w = Work("decode: more than 4 hours of codes into new nested folders out/a/b/ (removed again)")
    np.save(w.path("c.npy"), np.zeros((2, 4, 720001), np.int8))
    run(w, ["decode", "-m", m, "-t", "1", w.path("c.npy"), "-o", w.path("out", "a", "b") + "/"], ["720001 frames"])

    w = Work("decode: a batch beyond the available memory (MG_MEMORY_LIMIT=1000000)")
    np.save(w.path("c.npy"), np.zeros((8, 4, 500), np.int8))
    run(w, ["decode", "-m", m, "-t", "1", w.path("c.npy"), "-o", w.path("out", "")],
        ["decoding 8 rows of 500 frames needs 10.2 MB but 1.0 MB", "split the codes"],
        env={"MG_MEMORY_LIMIT": "1000000"})

    w = Work("decode: --threads 0")
    codes_file(w.path("c.npy"), np.random.default_rng(1).integers(0, 64, size=(1, 4, 20)))
    run(w, ["decode", "-m", m, "-t", "0", w.path("c.npy"), "-o", w.path("out", "x.wav")], ["--threads"])

    w = Work("encode: disk full (file size limit)")
    write_wav_s16(w.path("a.wav"), tone(1, 2.0))
    run(w, ["encode", "-m", m, "-t", "1", w.path("a.wav"), "-o", w.path("out", "c.npy")], ["c.npy"],
        preexec=file_size_limit(500))

    w = Work("decode: disk full (file size limit)")
    codes_file(w.path("c.npy"), np.random.default_rng(1).integers(0, 64, size=(1, 4, 200)))
    run(w, ["decode", "-m", m, "-t", "1", w.path("c.npy"), "-o", w.path("out", "x.wav")], ["x.wav"],
        preexec=file_size_limit(30000))

    w = Work("decode: Ctrl-C")
    codes_file(w.path("c.npy"), np.random.default_rng(2).integers(0, 64, size=(1, 4, 60000)))
    run(w, ["decode", "-m", m, "-t", "1", w.path("c.npy"), "-o", w.path("out", "x.wav")], ["interrupted"],
        sigint_after=1.5)

    w = Work("tokenize: garbage spiece.model")
    run(w, ["tokenize", "-m", w.model(lambda d: open(os.path.join(d, "spiece.model"), "wb").write(b"\x0a\xff" * 999)),
            "rock"], ["spiece.model"])

    w = Work("quantize: truncated spiece.model")
    spm = w.model(lambda d: open(os.path.join(d, "spiece.model"), "r+b").truncate(1000))
    run(w, ["quantize", "-m", spm, "-o", w.path("out", "x.gguf"), "--type", "q8_0"], ["spiece.model"])

    w = Work("bench: --steps 0")
    run(w, ["bench", "-m", m, "--steps", "0"], ["--steps"])

    w = Work("bench: --steps with --duration (valid: --steps decides, with a warning)")
    run_ok(w, ["bench", "-m", m, "--steps", "10", "-d", "1", "--no-bandwidth"], ["--duration is ignored"])

    w = Work("help for an unknown command")
    run(w, ["help", "nonsense"], ["nonsense"])

    w = Work("info: the model as a positional argument")
    run(w, ["info", m], ["-m " + m])

    w = Work("encode: -o - (stdout)")
    write_wav_s16(w.path("a.wav"), tone(1, 0.2))
    run(w, ["encode", "-m", m, w.path("a.wav"), "-o", "-"], [".npy"])

    w = Work("encode: -o with an audio name")
    write_wav_s16(w.path("a.wav"), tone(1, 0.2))
    run(w, ["encode", "-m", m, w.path("a.wav"), "-o", w.path("out", "c.wav")], ["c.wav", ".npy"])

    for name, flags in (("encode: -o naming a folder", []), ("encode: -o naming a folder, with --force", ["--force"])):
        w = Work(name)
        write_wav_s16(w.path("a.wav"), tone(1, 0.2))
        run(w, ["encode", "-m", m, w.path("a.wav"), "-o", w.out] + flags, ["is a folder", "codes.npy"])

    w = Work("decode: -o - (stdout)")
    codes_file(w.path("c.npy"), np.zeros((1, 4, 5), dtype=np.int64))
    run(w, ["decode", "-m", m, w.path("c.npy"), "-o", "-"], ["standard output"])

    w = Work("download: not a repo id")
    run(w, ["download", "../../etc", "-q"], ["../../etc"])


def info_cases():
    print("info (validation):")
    w = Work("info on a valid model")
    p = run_ok(w, ["info", "-m", FIXTURE, "--json"])
    if p.returncode == 0:
        j = json.loads(p.stdout)
        v = j.get("validation", {})
        t.check(v.get("ok") is True, f"info --json: validation ok: {v}")
        t.check(v.get("tensors_checked", 0) > 0 and v.get("nonfinite", -1) == 0, f"info --json: counts: {v}")

    w = Work("info: unknown extra tensor (warning, still valid)")
    m = w.model(lambda m: edit_tensors(m, lambda ts: ts.update({"decoder.extra.weight": ("F32", [2], b"\0" * 8)})))
    p = run_ok(w, ["info", "-m", m, "--json"], ["decoder.extra.weight"])
    if p.returncode == 0:
        v = json.loads(p.stdout).get("validation", {})
        t.check("decoder.extra.weight" in v.get("unused_tensors", []), f"unused tensor listed: {v}")

    w = Work("info: T5 position buckets that cannot place far-apart tokens (warning, still valid)")
    m = w.model(lambda m: edit_json(m, "config.json",
                                    lambda c: c["text_encoder"].update(relative_attention_max_distance=4)))
    run_ok(w, ["info", "-m", m], ["relative_attention_max_distance 4", "prompts of more than"])

    w = Work("info: Inf in an attention matrix")
    name = "decoder.model.decoder.layers.1.self_attn.k_proj.weight"
    m = w.model(lambda m: edit_tensors(m, lambda ts: set_values(ts, name, [0, 0, np.inf])))
    err = run(w, ["info", "-m", m], [name, "inf"])

    w = Work("info: spiece.model with more ids than text_encoder.vocab_size")
    def small_vocab(m):
        edit_json(m, "config.json", lambda c: c["text_encoder"].update(vocab_size=8050))
        def cut(ts):
            dt, shape, blob = ts["text_encoder.shared.weight"]
            ts["text_encoder.shared.weight"] = (dt, [8050, shape[1]], blob[:8050 * shape[1] * 4])
        edit_tensors(m, cut)
    run(w, ["info", "-m", w.model(small_vocab)], ["spiece.model", "8050"])

    w = Work("info: truncated weights")
    def cut(m):
        p = os.path.join(m, "model.safetensors")
        data = open(p, "rb").read()
        open(p, "wb").write(data[:len(data) - 1000])
    run(w, ["info", "-m", w.model(cut)], ["model.safetensors", "truncated"])


def random_mutation_cases():
    """Seeded random mutations of the checkpoint (config values, safetensors header
    fields, weight bytes, tokenizer bytes, truncation): whatever happens, `generate`
    and `info` must either work or fail by the contract (no signal, one line, no
    leftover file, no hang). MG_MUTATIONS=N runs more (default 24)."""
    import random
    n = int(os.environ.get("MG_MUTATIONS", "24"))
    print(f"random mutations ({n}):")
    rng = random.Random(20240611)
    values = [0, -1, 1, 2, 3, 7, 1 << 31, 2**63, 1e308, 0.5, "x", None, True, [], {}, 65536, 1 << 20, 1e9]

    def mutate_json(path):
        c = json.load(open(path))
        paths = []

        def walk(o, pre):
            if isinstance(o, dict):
                for k, v in o.items():
                    walk(v, pre + [k])
            elif isinstance(o, list):
                for i, v in enumerate(o):
                    walk(v, pre + [i])
            paths.append(pre)
        walk(c, [])
        p = rng.choice(paths[:-1])
        o = c
        for k in p[:-1]:
            o = o[k]
        if rng.random() < 0.15:
            del o[p[-1]]
        else:
            o[p[-1]] = rng.choice(values)
        json.dump(c, open(path, "w"))

    def flip(path, lo, hi, count):
        d = bytearray(open(path, "rb").read())
        for _ in range(count):
            d[rng.randrange(lo, min(hi, len(d)))] = rng.randrange(256)
        open(path, "wb").write(d)

    def mutate(m):
        st = os.path.join(m, "model.safetensors")
        kind = rng.choice(["config.json", "generation_config.json", "header bytes", "header field", "weight bytes",
                           "spiece bytes", "truncation"])
        if kind.endswith(".json"):
            mutate_json(os.path.join(m, kind))
        elif kind == "header bytes":
            n = struct.unpack("<Q", open(st, "rb").read(8))[0]
            flip(st, 0, 8 + n, rng.randint(1, 4))
        elif kind == "header field":
            def fn(h):
                name = rng.choice(sorted(h))
                f = rng.choice(["dtype", "shape", "data_offsets"])
                if f == "dtype":
                    h[name][f] = rng.choice(["F32", "F16", "BF16", "I64", "I32", "U8", "F64", "BOOL", 3])
                elif f == "shape":
                    h[name][f] = rng.choice([[], [0], [1], [-1], [2**40], h[name][f][::-1], h[name][f] + [1], [1.5]])
                else:
                    h[name][f] = rng.choice([[0, 0], [0, 4], [2**62, 2**62 + 4], [-4, 0], [5, 1], [0], [1, 5]])
            edit_header(m, fn)
        elif kind == "weight bytes":
            n = struct.unpack("<Q", open(st, "rb").read(8))[0]
            flip(st, 8 + n, os.path.getsize(st), rng.randint(1, 50))
        elif kind == "spiece bytes":
            sp = os.path.join(m, "spiece.model")
            flip(sp, 0, os.path.getsize(sp), rng.randint(1, 20))
        else:
            f = os.path.join(m, rng.choice(["model.safetensors", "spiece.model", "config.json"]))
            d = open(f, "rb").read()
            open(f, "wb").write(d[:rng.randrange(len(d))])
        return kind

    for i in range(n):
        w = Work(f"random mutation {i + 1}")
        box = {}
        m = w.model(lambda d: box.update(kind=mutate(d)))
        w.name = f"random mutation {i + 1} ({box['kind']})"
        for args in (gen(m, w.path("out", "x.wav")), ["info", "-m", m]):
            try:
                p = subprocess.run([t.MUSICGEN] + args, cwd=w.dir, capture_output=True, text=True, errors="replace",
                                   timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                t.check(False, f"{w.name}: {args[0]} hangs")
                continue
            lines = p.stderr.rstrip("\n").split("\n") if p.stderr else []
            what = f"{w.name}, {args[0]}"
            t.check(0 <= p.returncode < 128, f"{what}: exit {p.returncode}: {p.stderr[-2000:]}")
            if p.returncode:
                t.check(len(lines) == 1, f"{what}: {len(lines)} stderr lines: {lines[:5]}")
                if args[0] == "generate":
                    t.check(not os.listdir(w.out), f"{what}: left {os.listdir(w.out)}")
            print(f"  {what}: exit {p.returncode}: {lines[0][:160] if lines else ''}")
            if args[0] == "generate":
                shutil.rmtree(w.out)
                os.makedirs(w.out)


def table_lines():
    """The table for the docs (temporary folders shortened to their case folder)."""
    import re
    lines = ["| input | result | message (stderr) |", "|---|---|---|"]
    for name, res, msg in rows:
        msg = re.sub(re.escape(ROOT) + r"/(case-\d+/)?", "", msg).replace("|", "/")
        msg = msg.replace(t.REF + "/", "").replace(os.path.realpath(t.REF) + "/", "")
        lines.append(f"| {name} | {res} | {msg} |")
    return lines


def update_docs(lines):
    """--update-docs: replace the whole table in README.md and docs/hardening.md (and the
    case count README's summary line gives) with this run's."""
    import re
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    for doc in ("README.md", os.path.join("docs", "hardening.md")):
        path = os.path.join(root, doc)
        text = open(path).read().split("\n")
        start = text.index(lines[0])
        end = start
        while end < len(text) and text[end].startswith("|"):
            end += 1
        text[start:end] = lines
        text = "\n".join(text)
        text = re.sub(r"The whole bad-input table \(\d+ cases", f"The whole bad-input table ({len(rows)} cases", text)
        open(path, "w").write(text)
        print(f"updated the table in {doc}")


if __name__ == "__main__":
    update = "--update-docs" in sys.argv
    only = [a for a in sys.argv[1:] if a != "--update-docs"]
    groups = [model_cases, sharded_cases, config_cases, hub_cases, param_cases, output_cases, audio_prompt_cases,
              codes_cases, other_command_cases, info_cases, random_mutation_cases]
    for g in groups:
        if not only or g.__name__ in only:
            g()
    print("\n" + "\n".join(table_lines()))
    print(f"{len(rows)} cases")
    if update and not only and not t.failures:
        update_docs(table_lines())
    if not t.failures:
        shutil.rmtree(ROOT, ignore_errors=True)
    t.finish("test_bad_inputs")
