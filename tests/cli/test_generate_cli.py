"""test_generate_cli.py — the generate contract through the CLI, against the
reference on both fixtures: greedy codes (--codes-out), greedy audio
(--sample-format f32), unconditional (""), audio-prompt continuation; plus the
output rules (file vs folder, --force, -d with --steps) and one-line errors; long-form on
models whose window is only a few frames."""
import json
import shutil
import subprocess
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import mgtest as t
import numpy as np


def fixture_checks(fx):
    g, meta = t.golden(fx)
    model = os.path.join(t.REF, fx)
    prompts = json.loads(meta["prompts"])
    d = t.tmpdir()
    print(fx + ":")
    steps = g["gen.logits_raw"].shape[0]
    codes = os.path.join(d, "codes.npy")
    wav = os.path.join(d, "out")
    # Greedy batch: codes and audio in one run (audio into a folder, one file per prompt).
    p = t.run(["generate", "-m", model, "--greedy", "--steps", str(steps), "--codes-out", codes,
               "--sample-format", "f32", "-o", wav + "/", "-q"] + prompts)
    if p.returncode == 0:
        t.report_codes("gen codes (CLI)", np.load(codes), g["gen.codes_interleaved"])
        files = sorted(os.listdir(wav))
        t.check(len(files) == 2, f"two audio files expected, got {files}")
        for b, prompt in enumerate(prompts):
            path = [l for l in p.stdout.splitlines() if l.endswith(".wav")][b]
            audio, rate = t.read_wav(path)
            t.check(rate == 32000, "sample rate")
            t.report(f"gen audio item {b} (CLI, f32 WAV)", audio, g["gen.audio"][b], 1e-4)
    # Same prompt alone into a file path.
    one = os.path.join(d, "one.wav")
    p = t.run(["generate", "-m", model, "--greedy", "--steps", str(steps), "--sample-format", "f32",
               "-o", one, "-q", prompts[0]])
    if p.returncode == 0:
        audio, _ = t.read_wav(one)
        t.report("single prompt == batch item 0", audio, g["gen.audio"][0], 1e-4)
    # Unconditional.
    ucodes = os.path.join(d, "uncond.npy")
    p = t.run(["generate", "-m", model, "--greedy", "--steps", str(g["uncond.scores"].shape[0]),
               "--codes-out", ucodes, "-q", ""])
    if p.returncode == 0:
        t.report_codes("uncond codes (CLI)", np.load(ucodes), g["uncond.codes"])
    # Continuation from an audio prompt.
    prompt_wav = os.path.join(d, "prompt.wav")
    t.write_wav_f32(prompt_wav, g["cont.input_values"][0])
    ccodes = os.path.join(d, "cont.npy")
    cwav = os.path.join(d, "cont.wav")
    p = t.run(["generate", "-m", model, "--greedy", "--steps", str(g["cont.scores"].shape[0]),
               "--audio-prompt", prompt_wav, "--codes-out", ccodes, "--sample-format", "f32", "-o", cwav, "-q",
               meta["cont_prompt"]])
    if p.returncode == 0:
        t.report_codes("continuation codes (CLI)", np.load(ccodes), g["cont.codes"])
        audio, _ = t.read_wav(cwav)
        t.report("continuation audio (CLI)", audio, g["cont.audio"][0], 1e-4)
    return d


def contract_checks(d):
    model = os.path.join(t.REF, "tiny-mono")
    out = os.path.join(d, "c.wav")
    t.run(["generate", "-m", model, "--greedy", "--steps", "8", "-o", out, "-q", "x"])
    t.check(os.path.exists(out), "file written")
    before = open(out, "rb").read()
    t.run(["generate", "-m", model, "--greedy", "--steps", "9", "-o", out, "-q", "x"], expect_ok=False)
    t.check(open(out, "rb").read() == before, "existing file untouched without --force")
    t.run(["generate", "-m", model, "--greedy", "--steps", "9", "-o", out, "--force", "-q", "x"])
    t.check(open(out, "rb").read() != before, "--force overwrites")
    t.run(["generate", "-m", model, "--greedy", "--steps", "8", "-o", out, "-f", "-q", "x"])  # -f as in encode/decode
    t.check(open(out, "rb").read() == before, "-f overwrites")
    # `--audio-prompt FILE` without a text prompt continues unconditionally, as with "".
    ap = [os.path.join(d, n) for n in ("ap_none.npy", "ap_empty.npy")]
    t.run(["generate", "-m", model, "--greedy", "--steps", "8", "--audio-prompt", out, "--codes-out", ap[0], "-q"])
    t.run(["generate", "-m", model, "--greedy", "--steps", "8", "--audio-prompt", out, "--codes-out", ap[1], "-q", ""])
    t.check(all(map(os.path.exists, ap)) and np.array_equal(np.load(ap[0]), np.load(ap[1])),
            "--audio-prompt without a prompt differs from the unconditional prompt \"\"")
    # Every help fits one 80 x 24 terminal screen; `musicgen help CMD` is `CMD --help`.
    for cmd in ("generate", "bench", "info", "encode", "decode", "tokenize", "download", "quantize", None):
        h = subprocess.run([t.MUSICGEN] + ([cmd, "--help"] if cmd else ["--help"]), capture_output=True, text=True)
        wide = [l for l in h.stdout.splitlines() if len(l) > 80]
        t.check(h.returncode == 0 and h.stdout and not wide, f"{cmd or 'musicgen'} --help: lines over 80 columns: {wide}")
        n = len(h.stdout.splitlines())
        t.check(n <= 24, f"{cmd or 'musicgen'} --help: {n} lines, more than a 24-line screen")
        if cmd:
            t.check(subprocess.run([t.MUSICGEN, "help", cmd], capture_output=True, text=True).stdout == h.stdout,
                    f"musicgen help {cmd} differs from {cmd} --help")
    t.run(["generate", "-m", model, "-d", "1", "--steps", "8", "-o", os.path.join(d, "e.wav"), "x"], expect_ok=False)
    t.run(["generate", "-m", model, "-o", os.path.join(d, "two.wav"), "-d", "0.5", "a", "b"], expect_ok=False)
    t.run(["generate", "-m", model, "-d", "0", "x"], expect_ok=False)
    t.run(["generate", "-m", model, "-d", "nan", "x"], expect_ok=False)
    t.run(["generate", "-m", model, "-d", "100000", "-o", os.path.join(d, "long.wav"), "x"], expect_ok=False)
    t.run(["generate", "-m", model, "--top-p", "1.5", "x"], expect_ok=False)
    t.run(["generate", "-m", model, "--top-k", "-1", "x"], expect_ok=False)
    t.run(["generate", "-m", model, "--cfg", "-2", "x"], expect_ok=False)
    t.run(["generate", "-m", model, "-o", os.path.join(d, "nofolder", "x.wav"), "x"], expect_ok=False)
    t.run(["generate", "-m", model, "--bogus", "x"], expect_ok=False)
    t.run(["generate", "-m", os.path.join(d, "missing-model"), "x"], expect_ok=False)
    for f in ("e.wav", "two.wav", "long.wav"):
        t.check(not os.path.exists(os.path.join(d, f)), f"no file left behind for a failed run ({f})")
    # Duration: exactly round(D * 32000) samples.
    dur = os.path.join(d, "dur.wav")
    t.run(["generate", "-m", model, "--seed", "3", "-d", "0.73", "-o", dur, "-q", "x"])
    if os.path.exists(dur):
        audio, _ = t.read_wav(dur)
        t.check(audio.shape[1] == round(0.73 * 32000), f"0.73 s gives {audio.shape[1]} samples")
    # ceil(D * 50) frames, also where D * 50 in floating point is a hair above a whole number.
    for sec, want in (("0.1", 5), ("0.3", 15), ("0.6", 30), ("0.8", 40), ("1.13", 57)):
        p = t.run(["generate", "-m", model, "--seed", "1", "-d", sec, "--codes-out", os.path.join(d, "f.npy"),
                   "--force", "--json", "-q", "x"])
        if p.returncode == 0:
            j = json.loads(p.stdout.strip().splitlines()[-1])
            t.check(j["frames"] == want and j["samples"] == round(float(sec) * 32000),
                    f"-d {sec}: {j['frames']} frames, {j['samples']} samples (want {want} frames)")
    # -p/--prompt: the same batch item as a positional prompt; -p ones come first.
    pa, pb = os.path.join(d, "p1.npy"), os.path.join(d, "p2.npy")
    t.run(["generate", "-m", model, "--greedy", "--steps", "8", "--codes-out", pa, "-o", d + "/p1/", "-q",
           "-p", "rock", "--prompt", "jazz", "folk"])
    t.run(["generate", "-m", model, "--greedy", "--steps", "8", "--codes-out", pb, "-o", d + "/p2/", "-q",
           "rock", "jazz", "folk"])
    if os.path.exists(pa) and os.path.exists(pb):
        t.check(np.array_equal(np.load(pa), np.load(pb)), "-p / --prompt give the batch positional prompts give")
    t.run(["generate", "-m", model, "-p"], expect_ok=False)
    # A UTF-8 byte order mark at the start of a prompts file is not part of the first prompt.
    bom = os.path.join(d, "bom.txt")
    open(bom, "wb").write(b"\xef\xbb\xbfrock\njazz\nfolk\n")
    pbom = os.path.join(d, "pbom.npy")
    t.run(["generate", "-m", model, "--greedy", "--steps", "8", "--codes-out", pbom, "-o", d + "/pbom/", "-q",
           "--prompts-file", bom])
    if os.path.exists(pbom) and os.path.exists(pb):
        t.check(np.array_equal(np.load(pbom), np.load(pb)), "a BOM changes the first prompt")
        t.check(os.path.exists(os.path.join(d, "pbom")) and any(f.startswith("rock-") for f in os.listdir(d + "/pbom")),
                f"BOM in the file name: {os.listdir(d + '/pbom')}")
    # Greedy float WAVs are byte-identical run to run (no PEAK chunk with a timestamp).
    g1, g2 = os.path.join(d, "g1.wav"), os.path.join(d, "g2.wav")
    for g in (g1, g2):
        t.run(["generate", "-m", model, "--greedy", "--steps", "8", "--sample-format", "f32", "-o", g, "-q", "x"])
    if os.path.exists(g1) and os.path.exists(g2):
        t.check(open(g1, "rb").read() == open(g2, "rb").read(), "greedy f32 WAVs differ between runs")
    # --prompts-file - reads standard input; lines of only blanks are skipped.
    pc = os.path.join(d, "p3.npy")
    p = subprocess.run([t.MUSICGEN, "generate", "-m", model, "--greedy", "--steps", "8", "--codes-out", pc, "-o",
                        d + "/p3/", "-q", "--prompts-file", "-"], input="rock\n  \t\njazz\r\n\nfolk\n", text=True,
                       capture_output=True)
    if p.returncode == 0 and os.path.exists(pb):
        t.check(np.array_equal(np.load(pc), np.load(pb)), "--prompts-file - gives the batch of the same prompts")
    else:
        t.check(False, f"--prompts-file -: {p.stderr.strip()}")
    # Lines ending in a lone \r (classic Mac files) are lines too.
    mac, pm = os.path.join(d, "mac.txt"), os.path.join(d, "pmac.npy")
    open(mac, "wb").write(b"rock\r\rjazz\rfolk")
    t.run(["generate", "-m", model, "--greedy", "--steps", "8", "--codes-out", pm, "-q", "--prompts-file", mac])
    t.check(os.path.exists(pm) and np.array_equal(np.load(pm), np.load(pb)), "a file with \\r line ends was not read as three prompts")
    # --json stays valid JSON for paths holding quotes and backslashes.
    odd = os.path.join(d, 'q"uo\\te')
    os.makedirs(odd, exist_ok=True)
    p = t.run(["generate", "-m", model, "--steps", "8", "-o", os.path.join(odd, "a.wav"), "--codes-out",
               os.path.join(odd, "c.npy"), "--json", "-q", "x"])
    try:
        j = json.loads(p.stdout.strip().splitlines()[-1])
        t.check(j["files"] == [os.path.join(odd, "a.wav")] and j["codes"] == os.path.join(odd, "c.npy"),
                f"--json paths: {j}")
        t.check(j["items"] == [{"prompt": "x", "seed": j["seed"], "file": os.path.join(odd, "a.wav")}],
                f"--json items: {j['items']}")
    except (ValueError, IndexError) as e:
        t.check(False, f"--json with a quote in the path is not JSON: {e}: {p.stdout.strip()[-300:]}")
    # --json is valid JSON (UTF-8) for prompts that are not: Latin-1 bytes become U+FFFD.
    p = subprocess.run([t.MUSICGEN, "generate", "-m", model, "--steps", "8", "--seed", "2", "--codes-out",
                        os.path.join(d, "l1.npy"), "--json", "-q", b"caf\xe9 \xc3\xa9 \"q\""], capture_output=True)
    try:
        j = json.loads(p.stdout.decode("utf-8").strip().splitlines()[-1])
        t.check(j["items"] == [{"prompt": 'caf\ufffd \u00e9 "q"', "seed": 2, "file": None}], f"--json items: {j['items']}")
    except (ValueError, IndexError) as e:
        t.check(False, f"--json with a Latin-1 prompt is not UTF-8 JSON: {e}: {p.stdout[-300:]!r} {p.stderr[-300:]!r}")
    # -o and --codes-out on one file; names of prompts without ASCII letters.
    same = os.path.join(d, "same.wav")
    p = t.run(["generate", "-m", model, "--steps", "8", "-o", same, "--codes-out", same, "-q", "x"], expect_ok=False)
    t.check("names an audio file" in p.stderr and not os.path.exists(same), f"--codes-out x.wav: {p.stderr.strip()}")
    open(same, "wb").close()
    link = os.path.join(d, "same-link.npy")  # the same file under a codes name
    os.symlink(same, link)
    p = t.run(["generate", "-m", model, "--steps", "8", "-o", same, "--codes-out", link, "--force", "-q", "x"],
              expect_ok=False)
    t.check("both name" in p.stderr and os.path.getsize(same) == 0, f"-o = --codes-out: {p.stderr.strip()}")
    names = os.path.join(d, "names")
    t.run(["generate", "-m", model, "--seed", "5", "--steps", "8", "-o", names + "/", "-q", "日本の音楽", "",
           "Café del Mar, señor Straße (Łódź)"])
    if os.path.isdir(names):
        t.check(sorted(os.listdir(names)) == ["cafe-del-mar-senor-strasse-lodz-seed7.wav", "prompt-seed5.wav",
                                              "unconditional-seed6.wav"],
                f"file names: {sorted(os.listdir(names))}")
    # --audio-format names the files of a folder: MP3 (ID3 tag, then MPEG frames) and FLAC,
    # the same music as the WAV of the same seed (codes compared).
    fmts = os.path.join(d, "fmts")
    for fmt, magic in (("mp3", b"ID3"), ("flac", b"fLaC"), ("wav", b"RIFF")):
        p = t.run(["generate", "-m", model, "--seed", "9", "--steps", "20", "-o", fmts + "/", "--audio-format",
                   fmt.upper() if fmt == "mp3" else fmt, "--codes-out", os.path.join(d, f"fmt-{fmt}.npy"), "-q",
                   "rock"])
        f = os.path.join(fmts, "rock-seed9." + fmt)
        t.check(p.returncode == 0 and os.path.exists(f) and open(f, "rb").read(4).startswith(magic),
                f"--audio-format {fmt}: {sorted(os.listdir(fmts)) if os.path.isdir(fmts) else p.stderr.strip()}")
    t.check(np.array_equal(np.load(os.path.join(d, "fmt-mp3.npy")), np.load(os.path.join(d, "fmt-wav.npy"))),
            "--audio-format mp3 generates the same codes as wav")
    p = t.run(["generate", "-m", model, "--steps", "8", "-o", os.path.join(d, "one.mp3"), "--audio-format", "mp3",
               "-q", "x"])
    t.check(p.returncode == 0 and open(os.path.join(d, "one.mp3"), "rb").read(3) == b"ID3",
            "-o x.mp3 with a matching --audio-format")
    # Same seed, same codes; JSON summary.
    a, b = os.path.join(d, "s1.npy"), os.path.join(d, "s2.npy")
    t.run(["generate", "-m", model, "--seed", "42", "--steps", "12", "--codes-out", a, "-q", "x"])
    p = t.run(["generate", "-m", model, "--seed", "42", "--steps", "12", "--codes-out", b, "--json", "-t", "1", "x"])
    if os.path.exists(a) and os.path.exists(b):
        t.check(np.array_equal(np.load(a), np.load(b)), "same seed (1 vs 2 threads) gives the same codes")
        t.check(json.loads(p.stdout.strip().splitlines()[-1])["seed"] == 42, "JSON summary has the seed")
    # Seed 0 is a seed like any other (it once meant "random" in the library).
    z1, z2 = os.path.join(d, "z1.npy"), os.path.join(d, "z2.npy")
    t.run(["generate", "-m", model, "--seed", "0", "--steps", "12", "--codes-out", z1, "-q", "x"])
    p = t.run(["generate", "-m", model, "--seed", "0", "--steps", "12", "--codes-out", z2, "--json", "-q", "x"])
    if os.path.exists(z1) and os.path.exists(z2):
        t.check(np.array_equal(np.load(z1), np.load(z2)), "--seed 0 twice gives the same codes")
        t.check(json.loads(p.stdout.strip().splitlines()[-1])["seed"] == 0, "--seed 0 is reported as 0")
    p = t.run(["generate", "-m", model, "--seed", "-1", "--steps", "8", "--codes-out", os.path.join(d, "r.npy"),
               "--json", "-q", "x"])
    if p.returncode == 0:
        t.check(json.loads(p.stdout.strip().splitlines()[-1])["seed"] < 2**32, "--seed -1 draws a seed")
    # Greedy output does not depend on a seed: --json says null, not a number drawn for nothing.
    p = t.run(["generate", "-m", model, "--greedy", "--steps", "8", "--codes-out", os.path.join(d, "greedy-json.npy"),
               "--json", "-q", "x", "y"])
    if p.returncode == 0:
        j = json.loads(p.stdout.strip().splitlines()[-1])
        t.check(j["seed"] is None and [i["seed"] for i in j["items"]] == [None, None] and j["greedy"] is True,
                f"--greedy --json seeds: {j}")
    p = t.run(["generate", "-m", model, "--seed", str(2**64 - 1), "--steps", "8", "x"], expect_ok=False)
    t.check("at most" in p.stderr, f"--seed 2^64-1: {p.stderr.strip()}")


def short_window_checks(d):
    """Models whose whole window is a handful of frames (max_position_embeddings 15 with
    8 codebooks; 1 position with 1 codebook; a window has one column more than the
    positions, since its last column is never fed back, and mg-random-checkpoint sets
    max_length to that): every duration either works with exactly round(D * rate)
    samples or says what the model can do."""
    import subprocess
    tool = os.path.join(os.path.dirname(t.MUSICGEN), "mg-random-checkpoint")
    base = json.load(open(os.path.join(t.REF, "tiny-mono", "config.json")))
    spiece = os.path.join(t.REF, "tiny-mono", "spiece.model")
    models = {}
    for name, K, pos, bw in (("k8p15", 8, 15, 4.25), ("k1p1", 1, 1, 0.5)):
        cfg = json.loads(json.dumps(base))
        cfg["decoder"].update(num_codebooks=K, max_position_embeddings=pos)
        cfg["audio_encoder"]["target_bandwidths"] = [bw]
        path = os.path.join(d, name + ".json")
        json.dump(cfg, open(path, "w"))
        models[name] = os.path.join(d, name)
        p = subprocess.run([tool, path, models[name], "--spiece", spiece], capture_output=True, text=True)
        t.check(p.returncode == 0, f"mg-random-checkpoint {name}: {p.stderr.strip()}")
    # 8 frames per window, 8 delayed codebooks: windows of 0.16 s (stride 0.08 s); a
    # last window shorter than the delay pattern's 7 frames is lengthened, then trimmed.
    for dur in (0.1, 0.3, 0.4, 0.5, 0.8, 0.9, 1.7):
        out = os.path.join(d, "short.wav")
        t.run(["generate", "-m", models["k8p15"], "--seed", "1", "-d", str(dur), "-o", out, "--force", "-q", "x"])
        if os.path.exists(out):
            audio, _ = t.read_wav(out)
            t.check(audio.shape[1] == round(dur * 32000), f"k8p15 -d {dur}: {audio.shape[1]} samples")
    # Beyond one window the CLI says it works window by window (not with -q); a duration
    # the window holds says nothing.
    out = os.path.join(d, "note.wav")
    p = t.run(["generate", "-m", models["k8p15"], "--seed", "1", "-d", "0.3", "-o", out, "--force", "x"])
    t.check("0.3 s is longer than the model's 0.16 s window" in p.stderr, f"no long-form note: {p.stderr.strip()}")
    p = t.run(["generate", "-m", models["k8p15"], "--seed", "1", "-d", "0.16", "-o", out, "--force", "x"])
    t.check("window after window" not in p.stderr, f"long-form note for one window: {p.stderr.strip()}")
    p = t.run(["generate", "-m", models["k8p15"], "--seed", "1", "-d", "0.3", "-o", out, "--force", "-q", "x"])
    t.check("window after window" not in p.stderr, f"long-form note despite -q: {p.stderr.strip()}")
    # --window / --stride: any positive length; the model's frames decide.
    t.run(["generate", "-m", models["k8p15"], "-d", "1", "--window", "0.16", "--stride", "0.06", "-o",
           os.path.join(d, "ws.wav"), "--force", "-q", "x"])
    # A stride far below the window works but is slow: the CLI says so (22 windows of
    # ~10 s for 14 s of tiny-mono with a 0.2 s stride); a usual stride says nothing.
    fx = os.path.join(t.REF, "tiny-mono")
    p = t.run(["generate", "-m", fx, "-d", "14", "--stride", "0.2", "--sample-format", "f32", "-o",
               os.path.join(d, "slow.wav"), "--force", "-q", "x"])
    t.check("makes about 22 windows" in p.stderr and "expect it to be slow" in p.stderr,
            f"no warning on a tiny stride: {p.stderr.strip()}")
    p = t.run(["generate", "-m", fx, "-d", "14", "--stride", "6", "--sample-format", "f32", "-o",
               os.path.join(d, "slow.wav"), "--force", "-q", "x"])
    t.check("windows" not in p.stderr, f"warning on a usual stride: {p.stderr.strip()}")
    # The window as audiocraft and issue 9 name it (max_length columns: 30 s for the
    # released models, 10 s here) is the model's window, whose audio is D - 1 frames
    # shorter (9.92 s): --window 10 gives the default's codes; beyond it is an error.
    codes = {}
    for name, extra in (("default", []), ("window 10", ["--window", "10"])):
        codes[name] = os.path.join(d, name.replace(" ", "_") + ".npy")
        t.run(["generate", "-m", fx, "-d", "14", "--stride", "6", "--seed", "1", "--codes-out", codes[name], "--force",
               "-q", "x"] + extra)
    same = all(os.path.exists(c) for c in codes.values()) and np.array_equal(*[np.load(c) for c in codes.values()])
    t.check(same, "--window 10 (max_length / frame rate) gives other codes than the model's window")
    p = t.run(["generate", "-m", fx, "-d", "14", "--window", "10.1", "-q", "x"], expect_ok=False)
    t.check("window 10.1 s is longer than the model's 10.000 s (9.920 s of audio)" in p.stderr,
            f"--window 10.1: {p.stderr.strip()}")
    p = t.run(["generate", "-m", models["k8p15"], "-d", "1", "--stride", "0.001", "-q", "x"], expect_ok=False)
    t.check("shorter than one codec frame" in p.stderr, f"sub-frame stride: {p.stderr.strip()}")
    # One frame per window: one window works, more cannot continue from itself.
    t.run(["generate", "-m", models["k1p1"], "-d", "0.02", "-o", os.path.join(d, "one.wav"), "--force", "-q", "x"])
    p = t.run(["generate", "-m", models["k1p1"], "-d", "1", "-q", "x"], expect_ok=False)
    t.check("window holds 1 frame" in p.stderr and "at most 0.020 s" in p.stderr, f"1-frame window: {p.stderr.strip()}")


def position_limit_checks(d):
    """A window uses every position of the table, as the reference does: N steps after
    a P-frame audio prompt feed positions 0 .. P + N - 1 (the last column is never fed
    back). The same weights with a 12- and a 20-row table give the same greedy codes
    for the 12 steps the small one allows; one step more is refused, naming the limit."""
    tool = os.path.join(os.path.dirname(t.MUSICGEN), "mg-random-checkpoint")
    base = json.load(open(os.path.join(t.REF, "tiny-mono", "config.json")))
    spiece = os.path.join(t.REF, "tiny-mono", "spiece.model")
    models = {}
    for pos in (12, 20):
        cfg = json.loads(json.dumps(base))
        cfg["decoder"]["max_position_embeddings"] = pos
        path = os.path.join(d, "pos%d.json" % pos)
        json.dump(cfg, open(path, "w"))
        models[pos] = os.path.join(d, "pos%d" % pos)
        p = subprocess.run([tool, path, models[pos], "--spiece", spiece, "--seed", "3"], capture_output=True, text=True)
        t.check(p.returncode == 0, f"mg-random-checkpoint pos{pos}: {p.stderr.strip()}")

    def greedy(pos, steps, extra=(), name="c"):
        out = os.path.join(d, "%s%d_%d.npy" % (name, pos, steps))
        t.run(["generate", "-m", models[pos], "--greedy", "--steps", str(steps), "--codes-out", out, "-o",
               os.path.join(d, "pl.wav"), "--force", "-q", *extra, "rock"])
        return np.load(out) if os.path.exists(out) else None

    a, b = greedy(12, 12), greedy(20, 12)
    t.check(a is not None and b is not None and np.array_equal(a, b), "12 steps on a 12-position table == on a 20-row one")
    p = t.run(["generate", "-m", models[12], "--greedy", "--steps", "13", "-q", "rock"], expect_ok=False)
    t.check("13 decoder positions" in p.stderr and "at most 12 steps" in p.stderr, f"13 steps: {p.stderr.strip()}")
    # A 5-frame audio prompt (0.1 s at 50 Hz) leaves 7 steps.
    prompt = os.path.join(d, "pl_prompt.wav")
    t.run(["generate", "-m", models[20], "--seed", "1", "-d", "0.1", "-o", prompt, "--force", "-q", "rock"])
    a = greedy(12, 7, ("--audio-prompt", prompt), "p")
    b = greedy(20, 7, ("--audio-prompt", prompt), "p")
    t.check(a is not None and b is not None and np.array_equal(a, b), "audio prompt + 7 steps on 12 positions == on 20")
    p = t.run(["generate", "-m", models[12], "--greedy", "--steps", "8", "--audio-prompt", prompt, "-q", "rock"],
              expect_ok=False)
    t.check("at most 7 steps" in p.stderr, f"audio prompt + 8 steps: {p.stderr.strip()}")


def sampling_default_checks(d):
    """What the options leave open comes from generation_config.json (do_sample, top_k,
    top_p, temperature), and greedy runs use an f32 attention cache unless --kv-type says
    otherwise: an f16 cache flips near-ties (on tiny-stereo from frame ~50 of these 120
    steps), and the greedy codes must be the reference's."""
    fx = os.path.join(t.REF, "tiny-stereo")
    def codes(model, name, *args):
        out = os.path.join(d, name + ".npy")
        t.run(["generate", "-m", model, "--steps", "120", "--codes-out", out, "-q", "--force"] + list(args) +
              ["lo-fi hip hop, mellow piano, 90 bpm"])
        return np.load(out) if os.path.exists(out) else None
    dflt, f32, f16 = (codes(fx, "g", "--greedy"), codes(fx, "g32", "--greedy", "--kv-type", "f32"),
                      codes(fx, "g16", "--greedy", "--kv-type", "f16"))
    if dflt is not None and f32 is not None and f16 is not None:
        print(f"  greedy, 120 steps: default cache == f32 cache: {np.array_equal(dflt, f32)}; "
              f"the f16 cache agrees on {np.mean(f16 == f32):.1%} of the codes")
        t.check(np.array_equal(dflt, f32), "--greedy does not use the f32 cache by default")
    # A copy of the fixture whose generation_config.json asks for greedy decoding, then for
    # top-k 1 sampling at a low temperature: both must be what the options would give.
    m = os.path.join(d, "gencfg")
    shutil.copytree(fx, m, ignore=shutil.ignore_patterns("golden.safetensors"))
    gc_path = os.path.join(m, "generation_config.json")
    gc = json.load(open(gc_path))
    json.dump(dict(gc, do_sample=False), open(gc_path, "w"))
    t.check(np.array_equal(codes(m, "cfg_greedy"), f32), "do_sample false in generation_config.json is not greedy")
    p = t.run(["info", "-m", m, "--json"])
    info = json.loads(p.stdout) if p.returncode == 0 else {}
    t.check(info.get("do_sample") is False, f"info --json do_sample: {info.get('do_sample')}")
    json.dump(dict(gc, do_sample=True, top_p=0.5, temperature=0.25), open(gc_path, "w"))
    a = codes(m, "cfg_sample", "--seed", "3")
    b = codes(fx, "opt_sample", "--seed", "3", "--top-p", "0.5", "--temperature", "0.25")
    t.check(a is not None and np.array_equal(a, b), "top_p / temperature of generation_config.json not applied")
    t.check(not np.array_equal(a, codes(fx, "plain_sample", "--seed", "3")), "the sampling settings changed nothing")
    # A temperature or top-p below the smallest float is their limit, argmax (they
    # overflowed to NaN probabilities and the last code, resp. turned top-p off).
    for opt, val in (("--temperature", "1e-40"), ("--temperature", "1e-50"), ("--top-p", "1e-50")):
        c = codes(fx, "tiny_" + opt[2:], "--seed", "3", opt, val, "--weight-type", "f32", "--kv-type", "f32")
        t.check(c is not None and np.array_equal(c, f32), f"{opt} {val} is not argmax")
    # The same from generation_config.json, which transformers takes with any positive
    # temperature (a greedy run must not even look at it); 0 is refused.
    for val in (1e-9, 1e-300):
        json.dump(dict(gc, do_sample=True, top_k=250, temperature=val), open(gc_path, "w"))
        c = codes(m, f"cfg_temp_{val:g}", "--seed", "3", "--weight-type", "f32", "--kv-type", "f32")
        t.check(c is not None and np.array_equal(c, f32), f"generation_config temperature {val:g} is not argmax")
        t.check(np.array_equal(codes(m, f"cfg_temp_greedy_{val:g}", "--greedy"), f32),
                f"--greedy with generation_config temperature {val:g}")
    json.dump(dict(gc, temperature=0), open(gc_path, "w"))
    p = t.run(["info", "-m", m], expect_ok=False)
    t.check("temperature must be a positive number (got 0)" in p.stderr, f"temperature 0: {p.stderr.strip()}")
    # A key given twice: Python's json (transformers) keeps the last value, so must we.
    text = json.dumps(dict(gc, top_k=7))
    open(gc_path, "w").write(text[:-1] + ', "top_k": 11}')
    p = t.run(["info", "-m", m, "--json"])
    info = json.loads(p.stdout) if p.returncode == 0 else {}
    t.check(info.get("top_k") == 11, f"a key given twice: the last value counts (top_k {info.get('top_k')})")


def weight_default_checks(d):
    """Sampled runs load an f32 checkpoint's matrices as f16 unless --weight-type says
    otherwise; greedy runs (--greedy, or a generation_config.json without do_sample)
    keep f32, and a file's own formats stay. The JSON summary says which."""
    fx = os.path.join(t.REF, "tiny-mono")
    def weights(model, *args):
        p = t.run(["generate", "-m", model, "--steps", "8", "--json", "-q", "--codes-out",
                   os.path.join(d, "w.npy"), "--force"] + list(args) + ["x"])
        return json.loads(p.stdout.strip().splitlines()[-1]).get("weights") if p.returncode == 0 else None
    for args, want in ((), "f16"), (("--top-k", "5"), "f16"), (("--greedy",), "f32"), \
                      (("--weight-type", "f32"), "f32"), (("--weight-type", "bf16"), "bf16"):
        got = weights(fx, *args)
        print(f"  weights of generate {' '.join(args) or '(defaults)'}: {got}")
        t.check(got == want, f"generate {' '.join(args)}: weights {got}, want {want}")
    m = os.path.join(d, "gencfg")  # sampling_default_checks' copy: do_sample false there first
    gc_path = os.path.join(m, "generation_config.json")
    gc = json.load(open(gc_path))
    json.dump(dict(gc, do_sample=False), open(gc_path, "w"))
    t.check(weights(m) == "f32", "a model that decodes greedily by default keeps its f32 weights")
    json.dump(gc, open(gc_path, "w"))
    g = os.path.join(d, "w-f16.gguf")
    t.run(["quantize", "-m", fx, "-o", g, "--type", "f16", "-q", "--force"])
    t.check(weights(g) == "f16" and weights(g, "--greedy") == "f16", "an f16 file is used as it is")


def riff_info(path):
    """The INFO tags of a WAV file, as raw bytes per chunk id (ICMT = comment)."""
    import struct
    b, out, i = open(path, "rb").read(), {}, 12
    while i + 8 <= len(b):
        cid, n = b[i:i + 4], struct.unpack("<I", b[i + 4:i + 8])[0]
        if cid == b"LIST" and b[i + 8:i + 12] == b"INFO":
            j = i + 12
            while j + 8 <= i + 8 + n:
                sid, m = b[j:j + 4], struct.unpack("<I", b[j + 4:j + 8])[0]
                out[sid.decode()] = b[j + 8:j + 8 + m].rstrip(b"\0")
                j += 8 + m + (m & 1)
        i += 8 + n + (n & 1)
    return out


def comment_checks(d):
    """The comment tag says what it takes to make the piece again: the settings first
    (window, stride and audio prompt when given), then the prompt, then the negative
    prompt, so that a long tag (cut at 2000 bytes, at a character boundary) loses the
    end of the negative prompt, not the prompt; an unconditional item is tagged as run
    without guidance (and without the negative prompt, which it does not use)."""
    fx = os.path.join(t.REF, "tiny-mono")
    out = os.path.join(d, "tags") + "/"
    neg = "no drums " * 300
    t.run(["generate", "-m", fx, "-d", "0.2", "--seed", "1", "-o", out, "-f", "-q", "--window", "5",
           "--negative-prompt", neg, "--", "ambient pads", ""])
    c = {n: riff_info(os.path.join(out, n)).get("ICMT", b"") for n in ("ambient-pads-seed1.wav",
                                                                         "unconditional-seed2.wav")}
    a, u = c["ambient-pads-seed1.wav"].decode(errors="replace"), c["unconditional-seed2.wav"].decode(errors="replace")
    version = t.run(["--version"]).stdout.split()[-1]
    sw = riff_info(os.path.join(out, "ambient-pads-seed1.wav")).get("ISFT", b"").decode(errors="replace")
    t.check(sw.startswith(f"musicgen.c {version} (libsndfile"), f"software tag {sw!r} (version {version})")
    print(f"  comment of a prompt with a 2700-byte negative prompt: {len(c['ambient-pads-seed1.wav'])} bytes")
    t.check("seed 1;" in a and "guidance 3; window 5 s, stride the default; prompt: ambient pads; negative prompt: no "
            "drums" in a, f"comment: {a[:300]}")
    t.check("unconditional, no guidance; window 5 s, stride the default; prompt: " in u and "negative" not in u,
            f"unconditional item's comment: {u[:300]}")
    long_prompt = "日" * 800
    w = os.path.join(d, "tags-utf8.wav")
    t.run(["generate", "-m", fx, "-d", "0.2", "--seed", "1", "-o", w, "-f", "-q", "--", long_prompt])
    raw = riff_info(w).get("ICMT", b"")
    try:
        raw.decode("utf-8")
        whole = True
    except UnicodeDecodeError:
        whole = False
    t.check(whole and 1990 <= len(raw) <= 2000, f"a 2400-byte comment: {len(raw)} bytes, whole characters {whole}")


if __name__ == "__main__":
    for fx in ("tiny-mono", "tiny-stereo"):
        d = fixture_checks(fx)
    sampling_default_checks(d)
    weight_default_checks(d)
    contract_checks(d)
    short_window_checks(d)
    position_limit_checks(d)
    comment_checks(d)
    t.finish("test_generate_cli")
