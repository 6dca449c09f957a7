"""alloc_failures.py — every allocation of a CLI run fails once, and the run must fail
cleanly or succeed unchanged.

For each scenario (generate from a folder and from a GGUF, a stereo batch into a
folder with --codes-out, an audio-prompt continuation, long-form windows, --stream
to stdout, encode, decode, quantize, info, tokenize, and download from the fake hub
of tests/cli/test_download.py) the run is made once to count its allocations, and
then once per allocation with that one failing. In the Release build these are every
malloc / calloc / realloc / posix_memalign / aligned_alloc of the CLI, the library and
every library they use (tests/fault/failmalloc.c, preloaded); in the sanitizer build,
whose runtime owns malloc, every such call (and strdup, realpath) that our own code
makes, in the CLI and the library, mg_malloc / mg_calloc included: that build links
them with -Wl,--wrap=malloc,... and counts the calls in base/status.c
(MG_FAULT_INJECTION), while libc's, cJSON's, libsndfile's, libcurl's and OpenSSL's
own allocations are neither counted nor failed; LeakSanitizer then checks at every
exit that the error paths freed what they allocated (5,149 runs, about 2 minutes on
2 cores). Each such run must
  - end by itself (no signal, no hang: 60 s), with exit code 0 or 1;
  - on exit 1, say why on stderr ("musicgen ...: ..."), and leave no output file
    and no temporary file behind (a download keeps what it fetched, by design: there
    a rerun without a failure must then complete the cache exactly);
  - on exit 0, give exactly the output of the run without a failure (a failed
    allocation may cost speed, as a thread not started does, never the result).
In the Release build, allocations made directly by libsndfile and the codec libraries
behind it (libFLAC, libvorbis, libogg, libopus, libmpg123, libmp3lame) are counted
but spared: they crash when some of theirs fail, which no caller can prevent.
libsndfile 1.2.0, for one, crashes when its chunk-table calloc fails while reading a
WAV (psf_store_read_chunk leaves count = 20 with chunks = NULL, the WAV parser
ignores the error, and the next chunk is stored through NULL; still so upstream),
and when writing FLAC (FLAC__format_vorbiscomment_entry_is_legal on a string whose
copy failed). MG_FAULT_STRIDE=K fails every K-th allocation only and MG_FAULT_ONLY=TEXT
runs the scenarios whose name contains TEXT (quick local runs); CI fails every one."""
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cli"))
import mgtest as t
import test_download as fake_hub  # its FakeHub serves hub-layout repos of the fixture

# Release build: the preloaded library fails every caller's allocations. Sanitizer
# build (no FAILMALLOC_LIB): the allocations of our own code fail instead (linked with
# --wrap, MG_FAULT_INJECTION in base/status.c), and LeakSanitizer checks every error path.
LIB = os.environ.get("FAILMALLOC_LIB")
STRIDE = int(os.environ.get("MG_FAULT_STRIDE", "1"))
SPARE = "libsndfile,libFLAC,libvorbis,libogg,libopus,libmpg123,libmp3lame"


def run(argv, cwd, n=None, count=False, extra_env=None, preload=True):
    env = dict(os.environ, **(extra_env or {}))
    if preload and LIB:
        env.update(LD_PRELOAD=LIB, FAILMALLOC_SPARE=SPARE)
    env.pop("FAILMALLOC_N", None)
    if n is not None:
        env["FAILMALLOC_N"] = str(n)
    if count:
        env["FAILMALLOC_COUNT"] = "1"
    try:
        p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None, b"", "timeout"
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def outputs(d):
    """{relative path: bytes} of every file under d."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            path = os.path.join(root, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, d)] = fh.read()
    return out


def scenario(name, argv_of, setup_dir, env_of=None, resumable=False, optional=(), workers=None):
    """argv_of(out_dir) -> argv writing only inside out_dir (or to stdout); env_of(out_dir)
    -> extra environment. `resumable`: a failed run may leave what it fetched (a
    download cache keeps its partial files on purpose), but a rerun without a failure
    in the same folder must then complete it to exactly the clean run's files.
    `optional`: path parts of files that are best effort (a download's lock files and
    "not on the hub" markers: the download goes on without them), left out of the
    comparison of a successful run with the clean one. `workers`: runs at a time (default:
    one per CPU, at most 4); a download mostly waits (a failed transfer is retried
    after a pause), so it runs more."""
    env_of = env_of or (lambda d: {})
    clean_dir = tempfile.mkdtemp(prefix="mg_fault_", dir=setup_dir)
    rc, stdout, err = run(argv_of(clean_dir), clean_dir, count=True, extra_env=env_of(clean_dir))
    stdout = stdout.replace(clean_dir.encode(), b"<DIR>")  # generate prints the paths it wrote
    if not t.check(rc == 0, f"{name}: the run without a failure exits {rc}: {err.strip()[-300:]}"):
        return
    total = [int(l.split()[-1]) for l in err.splitlines() if l.startswith("FAILMALLOC total")]
    if not t.check(len(total) >= 1, f"{name}: no allocation count (is {LIB} loaded?)" if LIB else
                   f"{name}: no allocation count: this build of {argv_of(clean_dir)[0]} lacks MG_FAULT_INJECTION"):
        return
    total = total[-1]
    want_files, want_stdout = outputs(clean_dir), stdout
    bad = []

    def one(n):
        d = tempfile.mkdtemp(prefix=f"mg_fault_{n}_", dir=setup_dir)
        try:
            rc, out, err = run(argv_of(d), d, n=n, extra_env=env_of(d))
            out = out.replace(d.encode(), b"<DIR>")
            lines = [l for l in err.splitlines() if not l.startswith("FAILMALLOC")]
            files = outputs(d)
            kept = lambda fs: {k: v for k, v in fs.items() if not any(part in k for part in optional)}
            if rc is None:
                return f"allocation {n}: hung (killed after 60 s)"
            if rc < 0 or rc not in (0, 1):
                report = [l for l in lines if "Sanitizer" in l or l.lstrip().startswith("#")][:10] or lines[-2:]
                return f"allocation {n}: exit {rc}{' (signal %d)' % -rc if rc < 0 else ''}; stderr {report}"
            if rc == 1:
                if not lines or not lines[-1].startswith("musicgen"):
                    return f"allocation {n}: exit 1 without a message (stderr {lines[-2:]})"
                if resumable:
                    rc2, out2, err2 = run(argv_of(d), d, extra_env=env_of(d), preload=False)
                    if rc2 != 0 or kept(outputs(d)) != kept(want_files):
                        return (f"allocation {n}: after exit 1 ({lines[-1]}), a rerun without a failure exits {rc2} "
                                f"{'with files unlike the clean run' if rc2 == 0 else err2.strip()[-200:]}")
                elif files:
                    return f"allocation {n}: exit 1 left {sorted(files)} behind ({lines[-1]})"
                return None
            if kept(files) != kept(want_files) or out != want_stdout:
                diff = sorted(k for k in set(files) | set(want_files) if files.get(k) != want_files.get(k))
                return (f"allocation {n}: exit 0 with output unlike the clean run's (files {diff}, stdout "
                        f"{'same' if out == want_stdout else 'differs'}; stderr {lines[-2:]})")
            return None
        finally:
            shutil.rmtree(d, ignore_errors=True)

    with concurrent.futures.ThreadPoolExecutor(workers or max(1, min(4, os.cpu_count() or 1))) as ex:
        for msg in ex.map(one, range(1, total + 1, STRIDE)):
            if msg:
                bad.append(msg)
    t.check(not bad, f"{name}: {len(bad)} of {len(range(1, total + 1, STRIDE))} failed allocations handled "
                     f"badly:\n    " + "\n    ".join(bad[:12]))
    print(f"  {name}: {len(range(1, total + 1, STRIDE))} of {total} allocations failed in turn, "
          f"{len(bad)} handled badly")


def main():
    if LIB and not os.path.exists(LIB):
        print(f"alloc_failures: {LIB} not built", file=sys.stderr)
        sys.exit(1)
    print(f"failing the allocations of every caller ({LIB} preloaded)" if LIB else
          "failing the allocations of our own code (the CLI and the library; sanitizer build)")
    mg = t.MUSICGEN
    mono, stereo = os.path.join(t.REF, "tiny-mono"), os.path.join(t.REF, "tiny-stereo")
    work = tempfile.mkdtemp(prefix="mg_fault_")
    try:
        # Inputs made once, without any failure.
        gguf = os.path.join(work, "mono-q8_0.gguf")
        wav = os.path.join(work, "prompt.wav")
        codes = os.path.join(work, "codes.npy")
        for argv in ([mg, "quantize", "-q", "-m", mono, "-o", gguf, "--type", "q8_0"],
                     [mg, "generate", "-q", "-m", mono, "--steps", "20", "--seed", "3", "-o", wav, "lofi"],
                     [mg, "encode", "-m", mono, wav, "-o", codes]):
            p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            if not t.check(p.returncode == 0, f"setup {' '.join(argv[1:3])} failed: {p.stderr.strip()}"):
                t.finish("alloc_failures")
        scenarios = [
            ("generate (folder)", lambda d: [mg, "generate", "-q", "-m", mono, "--steps", "8", "--seed", "1",
                                             "-o", os.path.join(d, "a.wav"), "lofi beat"]),
            ("generate (GGUF)", lambda d: [mg, "generate", "-q", "-m", gguf, "--steps", "8", "--seed", "1",
                                           "-o", os.path.join(d, "a.wav"), "lofi beat"]),
            ("generate (stereo batch, folder, --codes-out)",
             lambda d: [mg, "generate", "-q", "-m", stereo, "-p", "a", "-p", "b c", "--steps", "8", "--seed", "1",
                        "-o", os.path.join(d, "out") + "/", "--codes-out", os.path.join(d, "codes.npy")]),
            ("generate --audio-prompt", lambda d: [mg, "generate", "-q", "-m", mono, "--audio-prompt", wav, "-d", "1",
                                                   "--seed", "1", "-o", os.path.join(d, "c.wav"), "jazz"]),
            ("generate long-form", lambda d: [mg, "generate", "-q", "-m", mono, "-d", "6", "--window", "3", "--stride",
                                              "1.5", "--seed", "1", "-o", os.path.join(d, "l.flac"), "jazz"]),
            ("generate --stream", lambda d: [mg, "generate", "-q", "-m", mono, "--steps", "12", "--seed", "1",
                                             "--stream", "-o", "-", "jazz"]),
            ("encode", lambda d: [mg, "encode", "-m", mono, wav, "-o", os.path.join(d, "c.npy")]),
            ("decode", lambda d: [mg, "decode", "-m", mono, codes, "-o", os.path.join(d, "d.wav")]),
            ("quantize", lambda d: [mg, "quantize", "-q", "-m", mono, "-o", os.path.join(d, "q.gguf"), "--type",
                                    "q4_0"]),
            ("info", lambda d: [mg, "info", "-m", mono]),
            ("tokenize", lambda d: [mg, "tokenize", "-m", mono, "lo-fi hip hop, mellow piano"]),
        ]
        only = os.environ.get("MG_FAULT_ONLY")
        for name, argv_of in scenarios:
            if not only or only in name:
                scenario(name, argv_of, work)
        if not only or only in "download":
            hub = fake_hub.FakeHub(fake_hub.build_repos())
            try:
                scenario("download", lambda d: [mg, "download", "-q", "test-org/tiny-mono"], work,
                         env_of=lambda d: {"HF_HUB_CACHE": os.path.join(d, "cache"), "HF_ENDPOINT": hub.url},
                         resumable=True, optional=("/.locks/", "/.no_exist/"), workers=12)
            finally:
                hub.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    t.finish("alloc_failures")


if __name__ == "__main__":
    main()
