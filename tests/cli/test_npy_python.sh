#!/usr/bin/env bash
# test_npy_python.sh — our .npy files against NumPy itself:
#  1. numpy.load reads the int64 file we write with the right dtype, shape and values,
#     and numpy.save of the same array produces the very same bytes;
#  2. files numpy writes (every integer dtype, both byte orders, Fortran order, format
#     versions 1.0 / 2.0 / 3.0) read back through our parser with the right values;
#  3. a float32 file is refused with a message naming the file and the dtype.
# Uses the test_npy binary's helper modes (--write / --read). Skips (exit 0, "SKIP")
# only when no python3 with numpy is installed.
set -euo pipefail

BUILD="${MG_BUILD_DIR:-$(dirname "$0")/../../build}"
TEST_NPY="$BUILD/test_npy"
[ -x "$TEST_NPY" ] || { echo "FAIL: $TEST_NPY not built" >&2; exit 1; }

PY=""
for cand in python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import numpy' 2>/dev/null; then
        PY="$cand"
        break
    fi
done
if [ -z "$PY" ]; then
    echo "SKIP: no python3 with numpy (apt-get install python3-numpy)"
    exit 0
fi

DIR="$(mktemp -d /tmp/mg_npy_py.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT

"$TEST_NPY" --write "$DIR/ours.npy"

"$PY" - "$DIR" "$TEST_NPY" <<'PYEOF'
import io, os, subprocess, sys
import numpy as np

d, test_npy = sys.argv[1], sys.argv[2]
fails = 0

def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", msg)

# 1. Our file, read by numpy.
def ref_value(i):
    if i == 0:
        return -2**63
    if i == 1:
        return 2**63 - 1
    return (i * 7919) % 4096 - 2048
want = np.array([ref_value(i) for i in range(56)], dtype=np.int64).reshape(2, 4, 7)
a = np.load(os.path.join(d, "ours.npy"))
check(a.dtype == np.dtype("<i8"), "dtype %s" % a.dtype)
check(a.shape == (2, 4, 7), "shape %s" % (a.shape,))
check(np.array_equal(a, want), "values differ")
buf = io.BytesIO()
np.save(buf, want)
ours = open(os.path.join(d, "ours.npy"), "rb").read()
check(buf.getvalue() == ours, "bytes differ from numpy.save (%d vs %d bytes): %r vs %r"
      % (len(ours), len(buf.getvalue()), ours[:128], buf.getvalue()[:128]))

# 2. numpy's files, read by us.
def ours_read(path):
    r = subprocess.run([test_npy, "--read", path], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr

rng = np.random.default_rng(0)
cases = 0
for dt in ["<i1", "|u1", "<i2", ">i2", "<u2", ">u2", "<i4", ">i4", "<u4", ">u4", "<i8", ">i8", "<u8", ">u8"]:
    info = np.iinfo(np.dtype(dt))
    for order in ["C", "F"]:
        for version in [(1, 0), (2, 0), (3, 0)]:
            x = rng.integers(max(info.min, -2**62), min(info.max, 2**62), size=(3, 4, 5), dtype=np.dtype(dt).newbyteorder("="))
            x = x.astype(np.dtype(dt))
            x.flat[0] = info.min if info.min >= -2**63 else 0
            x.flat[1] = min(info.max, 2**63 - 1)
            x = np.asfortranarray(x) if order == "F" else np.ascontiguousarray(x)
            p = os.path.join(d, "np_%s_%s_%d.npy" % (dt.replace("<", "le").replace(">", "be").replace("|", ""), order, version[0]))
            with open(p, "wb") as f:
                np.lib.format.write_array(f, x, version=version)
            rc, out, err = ours_read(p)
            cases += 1
            check(rc == 0, "%s: %s" % (p, err.strip()))
            if rc == 0:
                lines = out.split()
                check(lines[0] == "shape=3,4,5", "%s: %s" % (p, lines[0]))
                got = np.array([int(v) for v in lines[1:]], dtype=object)
                check(list(got) == [int(v) for v in np.ascontiguousarray(x).ravel()], "%s: values differ" % p)

# 3. Floats are refused with a clear message.
p = os.path.join(d, "float.npy")
np.save(p, np.zeros((2, 3), dtype=np.float32))
rc, out, err = ours_read(p)
check(rc != 0 and "float32" in err and "float.npy" in err and "integer" in err, "float32 accepted? %r" % err)
print("npy vs numpy %s: %d numpy-written files read, %d failures" % (np.__version__, cases, fails))
sys.exit(1 if fails else 0)
PYEOF
