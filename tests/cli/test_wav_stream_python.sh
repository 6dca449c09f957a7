#!/usr/bin/env bash
# test_wav_stream_python.sh — the streaming WAV format (open-ended 0xFFFFFFFF sizes)
# against Python's own `wave` module, which must open it and read back the samples
# (s16), and the raw mode, which must be exactly the samples. The stream is written by
# the test_audio binary's helper mode (--write-stream).
set -euo pipefail

BUILD="${MG_BUILD_DIR:-$(dirname "$0")/../../build}"
TEST_AUDIO="$BUILD/test_audio"
[ -x "$TEST_AUDIO" ] || { echo "FAIL: $TEST_AUDIO not built" >&2; exit 1; }
PY=python3
command -v "$PY" >/dev/null 2>&1 || PY=/usr/bin/python3

DIR="$(mktemp -d /tmp/mg_wav_py.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT

"$TEST_AUDIO" --write-stream "$DIR/s16.wav" s16 0
"$TEST_AUDIO" --write-stream "$DIR/s16.raw" s16 1
# Through a pipe, as `musicgen generate -o - | player` would do.
"$TEST_AUDIO" --write-stream /dev/stdout s16 0 | cat > "$DIR/piped.wav"

"$PY" - "$DIR" <<'PYEOF'
import math, os, struct, sys, wave

d = sys.argv[1]
fails = 0
def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", msg)

def signal(i, c):  # as stream_signal() in tests/test_audio.c
    if i == 500 and c == 0:
        return 1.7
    return 0.8 * math.sin(2 * math.pi * 440 * (1 + c) * i / 32000)

want = []
for i in range(1000):
    for c in range(2):
        x = max(-1.0, min(1.0, signal(i, c)))
        want.append(int(round(x * 32767)))

for name in ["s16.wav", "piped.wav"]:
    with wave.open(os.path.join(d, name), "rb") as w:
        check(w.getnchannels() == 2, "channels %d" % w.getnchannels())
        check(w.getsampwidth() == 2, "sample width %d" % w.getsampwidth())
        check(w.getframerate() == 32000, "rate %d" % w.getframerate())
        print("%s: wave module reports %d frames (open-ended header)" % (name, w.getnframes()))
        data = w.readframes(5000)  # asks for more than there is: gets what is there
        check(len(data) == 4000, "%s: %d bytes of samples" % (name, len(data)))
        got = list(struct.unpack("<%dh" % (len(data) // 2), data))
        bad = sum(1 for a, b in zip(got, want) if abs(a - b) > 1)
        check(bad == 0 and len(got) == len(want), "%s: %d samples differ" % (name, bad))

raw = open(os.path.join(d, "s16.raw"), "rb").read()
wav = open(os.path.join(d, "s16.wav"), "rb").read()
check(raw == wav[44:], "raw mode is the wav stream without its 44-byte header")
check(wav[:4] == b"RIFF" and struct.unpack("<I", wav[4:8])[0] == 0xFFFFFFFF, "open-ended RIFF size")
sys.exit(1 if fails else 0)
PYEOF
echo "wav stream: python wave module reads it"
