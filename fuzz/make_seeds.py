#!/usr/bin/env python3
"""make_seeds.py — seed corpora for the fuzz targets, made from the reference
fixtures (python3 only, no numpy): small valid inputs plus a few near-misses, one
folder per target under OUT_DIR. Regenerated on every fuzz/run.sh; never committed.

    fuzz/make_seeds.py REFERENCE_DIR OUT_DIR

Targets: safetensors, index, config, spiece, tokenize, gguf, npy, audio (WAV
variants written here; fuzz/seed_audio adds the other containers)."""
import json
import os
import struct
import sys


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- safetensors ---------------------------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    return {k: (v["dtype"], v["shape"], data[base + v["data_offsets"][0]:base + v["data_offsets"][1]])
            for k, v in header.items()}


def safetensors_bytes(tensors, metadata=None):
    header, off, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        off += len(blob)
        blobs.append(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def seeds_safetensors(ref, out):
    t = read_safetensors(os.path.join(ref, "tiny-mono", "model.safetensors"))
    small = dict(sorted(t.items(), key=lambda kv: len(kv[1][2]))[:12])
    write(f"{out}/small.safetensors", safetensors_bytes(small, {"format": "pt"}))
    name, (dt, shape, blob) = next(iter(small.items()))
    n = len(blob) // 4
    mixed = {
        "a.f16": ("F16", [n], blob[: 2 * n]),
        "b.bf16": ("BF16", [2, n // 2], blob[: 2 * (n // 2) * 2]),
        "c.i64": ("I64", [n // 2], blob[: 8 * (n // 2)]),
        "d.i32": ("I32", [1, n], blob[: 4 * n]),
        "e.empty": ("F32", [0, 3], b""),
        "f.scalar": ("F32", [], blob[:4]),
    }
    write(f"{out}/mixed.safetensors", safetensors_bytes(mixed))
    big = dict(sorted(t.items(), key=lambda kv: len(kv[1][2]))[:60])
    write(f"{out}/fixture-part.safetensors", safetensors_bytes(big))
    good = safetensors_bytes(small)
    write(f"{out}/truncated.safetensors", good[: len(good) - 7])
    write(f"{out}/header-only.safetensors", good[: 8 + struct.unpack("<Q", good[:8])[0]])


# ---- index JSON -----------------------------------------------------------------------

def seeds_index(ref, out):
    t = read_safetensors(os.path.join(ref, "tiny-mono", "model.safetensors"))
    names = sorted(t)
    half = len(names) // 2
    wm = {n: "model-0000%d-of-00002.safetensors" % (1 if i < half else 2) for i, n in enumerate(names)}
    write(f"{out}/index.json", json.dumps({"metadata": {"total_size": 2501632}, "weight_map": wm}, indent=2))
    write(f"{out}/small.json", json.dumps({"weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                                          "b.bias": "model-00002-of-00002.safetensors",
                                                          "c": "model-00001-of-00002.safetensors"}}))
    write(f"{out}/bad-name.json", json.dumps({"weight_map": {"a": "../x.safetensors", "b": 3}}))
    write(f"{out}/empty.json", '{"weight_map": {}}')


# ---- configs --------------------------------------------------------------------------

def seeds_config(ref, out):
    i = 0
    for fx in ("tiny-mono", "tiny-stereo"):
        for f in ("config.json", "generation_config.json"):
            p = os.path.join(ref, fx, f)
            if os.path.exists(p):
                write(f"{out}/{fx}-{f}", open(p, "rb").read())
    cdir = os.path.join(ref, "configs")
    if os.path.isdir(cdir):
        for f in sorted(os.listdir(cdir)):
            if f.endswith(".json"):
                write(f"{out}/released-{f}", open(os.path.join(cdir, f), "rb").read())
                i += 1


# ---- spiece.model ---------------------------------------------------------------------

def varint(v):
    b = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        b.append(c | (0x80 if v else 0))
        if not v:
            return bytes(b)


def read_varint(data, pos):
    """(value, position after it) of the protobuf varint at data[pos]."""
    v, shift = 0, 0
    while True:
        c = data[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, pos


def pb_fields(data):
    """Top-level (field, wire, raw_bytes_of_whole_field, payload) of a protobuf message."""
    pos, out = 0, []
    while pos < len(data):
        start = pos
        key, pos = read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            while data[pos] & 0x80:
                pos += 1
            pos += 1
            payload = None
        elif wire == 2:
            n, pos = read_varint(data, pos)
            payload = data[pos:pos + n]
            pos += n
        elif wire == 5:
            pos += 4
            payload = None
        elif wire == 1:
            pos += 8
            payload = None
        else:
            raise ValueError("unexpected wire type")
        out.append((field, wire, data[start:pos], payload))
    return out


def ld(field, payload):
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def small_spiece(model, n_pieces, normalizer=None):
    """The first n_pieces pieces of a SentencePiece model; the normalizer spec kept as
    it is (normalizer None) or replaced by (name, precompiled charsmap bytes)."""
    out = bytearray()
    kept = 0
    for field, wire, raw, payload in pb_fields(model):
        if field == 1:
            if kept < n_pieces:
                out += raw
                kept += 1
        elif field == 3 and normalizer is not None:
            name, charsmap = normalizer
            norm = bytearray(ld(1, name) + (ld(2, charsmap) if charsmap else b""))
            for f2, w2, raw2, p2 in pb_fields(payload):
                if f2 not in (1, 2):
                    norm += raw2
            out += ld(3, bytes(norm))
        else:
            out += raw
    return bytes(out)


IDENTITY = (b"identity", b"")


def darts_trie(mapping):
    """A darts-clone double array (the format of sentencepiece's precompiled charsmap)
    for {key bytes: value}, built naively: every node gets its own base, so a lookup
    of a byte that is not a child lands on a unit with another label."""
    root = {}
    for key, value in mapping.items():
        node = root
        for b in key:
            node = node.setdefault(b, {})
        node[None] = value
    units, used_bases = {}, set()

    def free(i):
        return i not in units

    def place(node, idx):
        labels = sorted(k for k in node if k is not None)
        base = 1
        while base in used_bases or not free(base) or any(not free(base ^ c) for c in labels):
            base += 1
        assert idx ^ base < 1 << 21
        used_bases.add(base)
        units[idx] = units.get(idx, 0) | (idx ^ base) << 10  # lookups move by XOR
        if None in node:
            units[base] = node[None] | 1 << 31  # the leaf (label 0 slot)
        for c in labels:
            units[base ^ c] = c | ((None in node[c]) << 8)
        for c in labels:
            place(node[c], base ^ c)

    units[0] = 0
    place(root, 0)
    n = max(units) + 1
    return b"".join(struct.pack("<I", units.get(i, 0)) for i in range(n))


def small_charsmap():
    """A charsmap of a few NFKC-like rules (full-width letters, ligatures, tabs,
    circled digits, combining sequences) — small enough to fuzz quickly."""
    rules = {"\uff46": "f", "\ufb01": "fi", "\t": " ", "\u2460": "1", "A\u030a": "\u00c5", "\u3000": " ",
             "\uff21\uff22": "AB", "\u00bd": "1\u20442", "\u2126": "\u03a9", "\u00a0": " "}
    strings, mapping = b"", {}
    for k, v in rules.items():
        mapping[k.encode()] = len(strings)
        strings += v.encode() + b"\0"
    trie = darts_trie(mapping)
    return struct.pack("<I", len(trie)) + trie + strings


def seeds_spiece(ref, out):
    model = open(os.path.join(ref, "tiny-mono", "spiece.model"), "rb").read()
    write(f"{out}/spiece-full.model", model)
    write(f"{out}/spiece-300-identity.model", small_spiece(model, 300, IDENTITY))
    write(f"{out}/spiece-40-identity.model", small_spiece(model, 40, IDENTITY))
    write(f"{out}/spiece-300-nfkc.model", small_spiece(model, 300))
    write(f"{out}/spiece-300-small-charsmap.model", small_spiece(model, 300, (b"nmt_nfkc", small_charsmap())))
    write(f"{out}/spiece-60-small-charsmap.model", small_spiece(model, 60, (b"nmt_nfkc", small_charsmap())))
    return small_spiece(model, 300, IDENTITY)


def seeds_tokenize(ref, out):
    g = json.load(open(os.path.join(ref, "tokenizer_golden.json"), encoding="utf-8"))
    for i, p in enumerate(g["prompts"]):
        write(f"{out}/prompt-{i:02d}.txt", p["text"].encode("utf-8"))
    write(f"{out}/specials.txt", "drums <extra_id_0> bass </s> <pad> <unk> <extra_id_99>")
    write(f"{out}/binary.txt", bytes(range(256)))


# ---- GGUF -----------------------------------------------------------------------------

def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def seeds_gguf(ref, out, spiece):
    cfg = open(os.path.join(ref, "tiny-mono", "config.json"), encoding="utf-8").read()
    gen = open(os.path.join(ref, "tiny-mono", "generation_config.json"), encoding="utf-8").read()
    kv = [
        ("general.architecture", 8, gstr("musicgen")),
        ("general.alignment", 4, struct.pack("<I", 32)),
        ("general.name", 8, gstr("seed")),
        ("musicgen.weight_type", 8, gstr("q8_0")),
        ("musicgen.config_json", 8, gstr(cfg)),
        ("musicgen.generation_config_json", 8, gstr(gen)),
        ("tokenizer.spm.model", 9, struct.pack("<IQ", 0, len(spiece)) + spiece),
        ("tokenizer.extra_ids", 4, struct.pack("<I", 100)),
        ("general.tags", 9, struct.pack("<IQ", 8, 2) + gstr("a") + gstr("b")),
        ("general.f", 6, struct.pack("<f", 1.5)),
    ]
    # (name, ggml type, ne (ggml order), bytes)
    tensors = [
        ("decoder.model.decoder.layer_norm.weight", 0, [48], b"\0\0\x80\x3f" * 48),
        ("decoder.model.decoder.layers.0.fc1.weight", 1, [48, 64], b"\0\x3c" * 48 * 64),
        ("text_encoder.encoder.block.0.layer.0.SelfAttn.rel_bias.weight", 30, [4, 32], b"\x80\x3f" * 128),
        ("x.q8", 8, [64, 2], (b"\0\x3c" + b"\x01" * 32) * 4),
        ("x.q4", 2, [32, 3], (b"\0\x3c" + b"\x88" * 16) * 3),
        ("x.q8x16", 0x4D470010, [32, 16], (b"\0\x3c" * 16 + b"\x01" * 512)),  # musicgen.c's q8_0x16
        ("x.q4x16", 0x4D470011, [32, 16], (b"\0\x3c" * 16 + b"\x88" * 256)),  # musicgen.c's q4_0x16
    ]
    body = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, v in kv:
        body += gstr(k) + struct.pack("<I", t) + v
    off, datas = 0, b""
    for name, t, ne, blob in tensors:
        body += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<q", n) for n in ne)
        body += struct.pack("<IQ", t, off)
        pad = -len(blob) % 32
        datas += blob + b"\0" * pad
        off += len(blob) + pad
    body += b"\0" * (-len(body) % 32)
    write(f"{out}/seed.gguf", body + datas)
    write(f"{out}/truncated.gguf", (body + datas)[: len(body) + 40])
    write(f"{out}/header.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 0))


# ---- .npy -----------------------------------------------------------------------------

def npy(descr, shape, data, fortran=False, version=(1, 0)):
    sh = str(tuple(shape))  # numpy's own spelling: (1, 4, 10), (5,), ()
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", sh)
    hl = 4 if version[0] >= 2 else 2
    pre = 6 + 2 + hl
    d += " " * (-(pre + len(d) + 1) % 64) + "\n"
    head = b"\x93NUMPY" + bytes(version) + (struct.pack("<I", len(d)) if hl == 4 else struct.pack("<H", len(d)))
    return head + d.encode("latin1") + data


def seeds_npy(out):
    vals = [(i * 37) % 64 for i in range(40)]
    write(f"{out}/i8.npy", npy("<i8", [1, 4, 10], struct.pack("<40q", *vals)))
    write(f"{out}/i4-2d.npy", npy("<i4", [4, 10], struct.pack("<40i", *vals)))
    write(f"{out}/be-i2.npy", npy(">i2", [2, 4, 5], struct.pack(">40h", *vals)))
    write(f"{out}/u1.npy", npy("|u1", [4, 10], bytes(vals)))
    write(f"{out}/fortran.npy", npy("<u4", [4, 10], struct.pack("<40I", *vals), fortran=True))
    write(f"{out}/v2.npy", npy("<i8", [1, 4, 10], struct.pack("<40q", *vals), version=(2, 0)))
    write(f"{out}/f4.npy", npy("<f4", [4, 10], struct.pack("<40f", *vals)))
    write(f"{out}/zero.npy", npy("<i8", [1, 4, 0], b""))
    # Empty arrays whose other sizes multiply past int64 (regressions: an overflow in
    # the parser's strides, then in this harness's own count).
    write(f"{out}/zero-huge.npy", npy("<i8", [0, 1 << 28, 1 << 28, 1 << 28], b"", fortran=True))
    write(f"{out}/huge-zero.npy", npy("<u4", [1 << 28, 1 << 28, 1 << 28, 0], b""))
    write(f"{out}/scalar.npy", npy("<i8", [], struct.pack("<q", 5)))


# ---- audio (WAV written by hand; other containers come from seed_audio) ---------------

def wav(ch, rate, bits, frames, fmt_tag=1, data_len=None, extra=b""):
    bps = bits // 8
    data = bytes((i * 13) & 0xFF for i in range(frames * ch * bps))
    fmt = struct.pack("<HHIIHH", fmt_tag, ch, rate, rate * ch * bps, ch * bps, bits) + extra
    dl = len(data) if data_len is None else data_len
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt " +
            struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", dl) + data)


def seeds_audio(out):
    write(f"{out}/pcm16.wav", wav(1, 32000, 16, 200))
    write(f"{out}/float.wav", wav(2, 44100, 32, 100, fmt_tag=3))
    write(f"{out}/8ch.wav", wav(8, 48000, 16, 50))
    write(f"{out}/lying-length.wav", wav(1, 32000, 16, 100, data_len=0x7FFFFFF0))
    write(f"{out}/1hz.wav", wav(1, 1, 16, 100))
    write(f"{out}/zero-frames.wav", wav(1, 32000, 16, 0))
    write(f"{out}/u8.wav", wav(1, 8000, 8, 300))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    ref, out = sys.argv[1], sys.argv[2]
    seeds_safetensors(ref, f"{out}/safetensors")
    seeds_index(ref, f"{out}/index")
    seeds_config(ref, f"{out}/config")
    spiece = seeds_spiece(ref, f"{out}/spiece")
    seeds_tokenize(ref, f"{out}/tokenize")
    seeds_gguf(ref, f"{out}/gguf", spiece)
    seeds_npy(f"{out}/npy")
    seeds_audio(f"{out}/audio")


if __name__ == "__main__":
    main()
