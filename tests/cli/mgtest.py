"""mgtest.py — shared helpers for the CLI tests (python3 + numpy only):
read golden.safetensors, read/write .npy and float WAV, run the CLI and check
one-line errors. Test scripts import it from their own folder."""
import atexit
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

REF = os.environ.get("MG_REFERENCE_DIR", os.path.join(os.path.dirname(__file__), "../../../shared/reference"))
MUSICGEN = os.environ.get("MUSICGEN", os.path.join(os.path.dirname(__file__), "../../build/musicgen"))

failures = 0
checks = 0


def check(cond, msg):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", msg, file=sys.stderr)
    return cond


def finish(name):
    if failures:
        print(f"{name}: {failures} of {checks} checks FAILED", file=sys.stderr)
        sys.exit(1)
    print(f"{name}: all {checks} checks passed")
    sys.exit(0)


def golden(fixture):
    """All tensors of <fixture>/golden.safetensors as numpy arrays, plus metadata."""
    path = os.path.join(REF, fixture, "golden.safetensors")
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    dt = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + end], dtype=dt[e["dtype"]]).reshape(e["shape"])
    return out, meta


def write_wav_f32(path, audio, rate=32000):
    """audio: [channels, samples] float32 -> IEEE-float WAV (test fixture writer)."""
    audio = np.asarray(audio, dtype=np.float32)
    ch, n = audio.shape
    payload = audio.T.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, ch, rate, rate * ch * 4, ch * 4, 32)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(payload)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        f.write(b"data" + struct.pack("<I", len(payload)) + payload)


def read_wav(path):
    """-> (float32 [channels, samples], rate). Handles PCM 16/24/32 and IEEE float."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", "not a WAV file"
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
            if fmt[0] == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: real format in the sub-format GUID
                fmt = (struct.unpack("<H", body[24:26])[0],) + fmt[1:]
        elif cid == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    tag, ch, rate, _, _, bits = fmt
    if tag == 3:
        x = np.frombuffer(pcm, dtype="<f4")
    elif bits == 16:
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    elif bits == 24:
        b = np.frombuffer(pcm, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float32) / (1 << 23)
    else:
        x = np.frombuffer(pcm, dtype="<i4").astype(np.float32) / 2147483648.0
    return x.reshape(-1, ch).T.copy(), rate


def run(args, expect_ok=True, env=None, timeout=600):
    """Run the CLI; returns CompletedProcess. Checks the exit code and that a
    failure prints exactly one line on stderr."""
    p = subprocess.run([MUSICGEN] + args, capture_output=True, text=True, env=env, timeout=timeout)
    if expect_ok:
        check(p.returncode == 0, f"musicgen {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    else:
        check(p.returncode not in (0,) and p.returncode > 0,
              f"musicgen {' '.join(args)} should fail with an exit code, got {p.returncode}")
        lines = [l for l in p.stderr.strip().splitlines() if l.strip()]
        check(len(lines) == 1, f"musicgen {' '.join(args)}: expected one error line, got {lines}")
    return p


def report(name, got, want, atol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        check(False, f"{name}: shape {got.shape} != {want.shape}")
        return
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    print(f"  {name:40s} max abs err {err:.3e}")
    check(err <= atol, f"{name}: max abs err {err:.3e} > {atol}")


def report_codes(name, got, want):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        check(False, f"{name}: shape {got.shape} != {want.shape}")
        return
    bad = int(np.sum(got != want))
    print(f"  {name:40s} {bad} of {want.size} codes differ")
    check(bad == 0, f"{name}: {bad} codes differ")


def tmpdir():
    """A fresh temporary folder, removed again when the test script exits."""
    d = tempfile.mkdtemp(prefix="mgtest_")
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d
