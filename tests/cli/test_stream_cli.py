"""test_stream_cli.py — `musicgen generate --stream`: a WAV with an open length (or raw
PCM with --raw) on standard output, readable by a player from a pipe (python's wave
module here), whose samples equal the file `generate -o` writes for the same seed;
plus the one-line errors of impossible combinations."""
import os
import signal
import subprocess
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import mgtest as t
import numpy as np


def main():
    d = t.tmpdir()
    for fx in ("tiny-mono", "tiny-stereo"):
        model = os.path.join(t.REF, fx)
        base = ["generate", "-m", model, "-d", "1.3", "--seed", "21", "-q"]
        p = subprocess.run([t.MUSICGEN] + base + ["--stream", "-o", "-", "streamed"], capture_output=True)
        t.check(p.returncode == 0, f"{fx}: --stream failed: {p.stderr.decode()}")
        wav = p.stdout
        t.check(wav[:4] == b"RIFF" and wav[8:12] == b"WAVE", f"{fx}: stream starts with a WAV header")
        t.check(struct.unpack("<I", wav[4:8])[0] == 0xFFFFFFFF and struct.unpack("<I", wav[40:44])[0] == 0xFFFFFFFF,
                f"{fx}: open-length sizes (0xFFFFFFFF) as sox/ffmpeg write to pipes")
        ch = struct.unpack("<H", wav[22:24])[0]
        pcm = np.frombuffer(wav[44:], dtype="<i2").astype(np.float32).reshape(-1, ch).T / 32767.0
        raw = subprocess.run([t.MUSICGEN] + base + ["--stream", "--raw", "--sample-format", "f32", "streamed"],
                             capture_output=True).stdout
        streamed = np.frombuffer(raw, dtype="<f4").reshape(-1, ch).T
        out = os.path.join(d, fx + ".wav")
        t.run(base + ["--sample-format", "f32", "-o", out, "streamed"])
        ref, _ = t.read_wav(out)
        t.check(streamed.shape == ref.shape == (ch, round(1.3 * 32000)), f"{fx}: stream length {streamed.shape}")
        t.report(f"{fx}: raw f32 stream vs file", streamed, ref, 0.0)
        t.report(f"{fx}: s16 WAV stream vs file", pcm, np.clip(ref, -1, 1), 1.0 / 32767 + 1e-6)
    model = os.path.join(t.REF, "tiny-mono")
    # With --codes-out, standard output still carries only the audio: the file list goes to stderr.
    codes = os.path.join(d, "sc.npy")
    p = subprocess.run([t.MUSICGEN, "generate", "-m", model, "-d", "1", "--seed", "1", "--stream", "--codes-out", codes,
                        "-o", "-", "a"], capture_output=True)
    t.check(p.returncode == 0 and len(p.stdout) == 44 + 32000 * 2 and codes in p.stderr.decode(),
            f"--stream --codes-out: {len(p.stdout)} bytes on stdout (want {44 + 64000}); stderr {p.stderr.decode()!r}")
    t.run(["generate", "-m", model, "--stream", "-o", os.path.join(d, "x.wav"), "a"], expect_ok=False)
    t.run(["generate", "-m", model, "--stream", "-o", "-", "a", "b"], expect_ok=False)
    t.run(["generate", "-m", model, "--stream", "--json", "a"], expect_ok=False)
    t.run(["generate", "-m", model, "--raw", "-o", os.path.join(d, "y.wav"), "a"], expect_ok=False)
    t.check(not os.path.exists(os.path.join(d, "x.wav")) and not os.path.exists(os.path.join(d, "y.wav")),
            "no file from a rejected stream")
    # Write errors while streaming: a full disk and a reader that quits are reported as
    # what they are (exit 1, one line), not as Ctrl-C and not as a SIGPIPE death.
    stream = [t.MUSICGEN, "generate", "-m", model, "-d", "3", "-o", "-", "--stream", "-q", "x"]
    if os.path.exists("/dev/full"):
        p = subprocess.run(stream, stdout=open("/dev/full", "wb"), stderr=subprocess.PIPE, text=True)
        t.check(p.returncode == 1 and "No space left" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
                f"stream to a full device: exit {p.returncode}, {p.stderr.strip()}")
    p = subprocess.Popen(stream, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=False)
    p.stdout.read(100)
    p.stdout.close()  # the reader quits
    err = p.stderr.read().decode()
    p.wait()
    t.check(p.returncode == 1 and "Broken pipe" in err, f"stream to a reader that quit: exit {p.returncode}, {err.strip()}")
    # Ctrl-C / SIGTERM while the write is blocked on a reader that is behind (the pipe
    # full) is an interruption (exit 128 + signal, "interrupted after streaming"), not a
    # write error from the interrupted write (EINTR): when the reader catches up later,
    # when it never reads again (one SIGTERM must still stop the command, as `timeout` or
    # `docker stop` send it), and when the same Ctrl-C ends the player too (EPIPE).
    long_stream = [t.MUSICGEN, "generate", "-m", model, "--greedy", "-q", "-d", "600", "--window", "0.3", "--stride",
                   "0.06", "--stream", "--raw", "-s", "f32", "-o", "-", "x"]
    for sig, reader in ((signal.SIGINT, "catches up"), (signal.SIGTERM, "catches up"), (signal.SIGTERM, "stopped"),
                        (signal.SIGINT, "ended by the same Ctrl-C")):
        p = subprocess.Popen(long_stream, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)  # long enough to fill the pipe and block in write()
        p.send_signal(sig)
        if reader == "catches up":
            time.sleep(0.5)
            p.stdout.read()
        elif reader == "ended by the same Ctrl-C":
            p.stdout.close()
        try:  # stdout is not read here: a stopped reader stays stopped
            p.wait(timeout=20)
            err = p.stderr.read().decode()
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            err = "(still running 20 s after the signal)"
        t.check(p.returncode == 128 + sig and "interrupted after streaming" in err,
                f"{signal.Signals(sig).name} with the pipe full, reader {reader}: exit {p.returncode}, {err.strip()!r}")
    t.finish("test_stream_cli")


main()
