#!/usr/bin/env python3
"""test_download.py — `musicgen download` and `-m ORG/NAME` against a fake Hugging Face hub.

The test starts an HTTP server on 127.0.0.1 (random free port, python standard library
only) that serves hub-layout repos built from $MG_REFERENCE_DIR/tiny-mono: a single-file
repo and a sharded variant (the safetensors split into 2 shards + index). It answers
`{repo}/resolve/{revision}/{file}` like the hub: LFS files (weights, spiece.model) with a
302 to a CDN path carrying X-Linked-Etag (sha256) / X-Linked-Size / X-Repo-Commit, small
files with 200 + ETag (git blob sha1), 404s with X-Error-Code, Range requests (206), and
fault injection: a connection dropped mid-file, a corrupted file.

Checks: the exact cache layout huggingface_hub uses (blobs named by etag, relative
snapshot symlinks, refs/<revision>), resume with Range, sha256 mismatch handling (clear
error, nothing half-written), no re-fetch on a second download, `info -m ORG/NAME` offline
from the cache, clear errors for offline+absent, unknown repos and no network.

Env: MUSICGEN (the CLI), MG_REFERENCE_DIR (fixtures); both set by ctest.
"""
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

MUSICGEN = os.environ.get("MUSICGEN") or os.path.join(os.environ.get("MG_BUILD_DIR", "build"), "musicgen")
REF = os.environ.get("MG_REFERENCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared",
                                                          "reference")
FIXTURE = os.path.join(REF, "tiny-mono")

failures = 0
checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL: " + what, file=sys.stderr)
    return cond


# ---- the repos -------------------------------------------------------------------------

def sha256(data):
    return hashlib.sha256(data).hexdigest()


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(name):
    return name.endswith(".safetensors") or name.endswith(".model")


class Repo:
    def __init__(self, files, commit, tags=()):
        self.files = files  # name -> bytes
        self.commit = commit
        self.revisions = {"main", commit, *tags}

    def etag(self, name):
        data = self.files[name]
        return sha256(data) if is_lfs(name) else git_blob_sha1(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def split_safetensors(data):
    """Two safetensors shards (first half / second half of the tensors) + index JSON."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    names = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
    halves = [names[:len(names) // 2], names[len(names) // 2:]]
    shard_names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    shards, weight_map, total = {}, {}, 0
    for fname, part in zip(shard_names, halves):
        h, chunks, off = {"__metadata__": {"format": "pt"}}, [], 0
        for k in part:
            b, e = header[k]["data_offsets"]
            h[k] = {"dtype": header[k]["dtype"], "shape": header[k]["shape"], "data_offsets": [off, off + e - b]}
            chunks.append(body[b:e])
            off += e - b
            weight_map[k] = fname
        hj = json.dumps(h).encode()
        hj += b" " * (-len(hj) % 8)
        shards[fname] = struct.pack("<Q", len(hj)) + hj + b"".join(chunks)
        total += off
    index = json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2).encode()
    return shards, index


def build_repos():
    base = {name: read(os.path.join(FIXTURE, name))
            for name in ["config.json", "generation_config.json", "spiece.model", "tokenizer_config.json",
                         "special_tokens_map.json", "preprocessor_config.json", "model.safetensors"]}
    mono = Repo(dict(base), "1a2b3c4d5e6f708192a3b4c5d6e7f80911223344")
    shards, index = split_safetensors(base["model.safetensors"])
    sharded_files = {k: v for k, v in base.items() if k not in ("model.safetensors", "tokenizer_config.json")}
    sharded_files.update(shards)
    sharded_files["model.safetensors.index.json"] = index
    sharded = Repo(sharded_files, "99887766554433221100ffeeddccbbaa00112233", tags=("v1",))
    return {"test-org/tiny-mono": mono, "test-org/tiny-sharded": sharded}


# ---- the fake hub ---------------------------------------------------------------------------

class FakeHub:
    def __init__(self, repos):
        self.repos = repos
        self.blobs = {}
        for r in repos.values():
            for name, data in r.files.items():
                if is_lfs(name):
                    self.blobs[sha256(data)] = data
        self.log = []        # (method, path, Range header, Authorization header)
        self.drop_once = set()  # sha256: first GET sends half the body, then closes
        self.corrupt = set()    # sha256: the body has one byte flipped
        self.ignore_range = set()  # sha256: answer 200 with the whole file even to a Range request
        self.stall = set()      # sha256: send half the body, then hold the connection open
        self.stall_head = set()  # file names: a HEAD for them waits for unstall (listing the files)
        self.busy = set()        # file names: answered 503 (the client retries after a pause)
        self.stalled = threading.Event()  # set once a stalled body's first half is sent
        self.unstall = threading.Event()
        self.lock = threading.Lock()
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                hub.route(self, head=True)

            def do_GET(self):
                hub.route(self, head=False)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # Clients hanging up (curl after a refused resume) are expected, not errors.
                if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def requests(self):
        with self.lock:
            return list(self.log)

    def send(self, h, code, headers, body=b"", head=False):
        h.send_response(code)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def send_error(self, h, code, error_code, head):
        body = json.dumps({"error": error_code}).encode()
        self.send(h, code, {"X-Error-Code": error_code, "X-Error-Message": error_code,
                            "Content-Type": "application/json"}, body, head)

    def send_data(self, h, data, headers, head, sha=None):
        """200 or 206 (Range) with optional fault injection."""
        rng = h.headers.get("Range") if sha not in self.ignore_range else None
        start = 0
        if rng:
            if not rng.startswith("bytes=") or not rng[6:].endswith("-"):
                return self.send(h, 400, {}, b"unsupported range", head)
            start = int(rng[6:-1])
            if start >= len(data):
                return self.send(h, 416, {"Content-Range": "bytes */%d" % len(data)}, b"", head)
        body = data[start:]
        if sha in self.corrupt and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        headers = dict(headers)
        code = 200
        if rng:
            code = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        stall, drop = sha in self.stall, sha in self.drop_once
        if not head and sha is not None and (stall or drop):
            # Half the body, then: hold the connection open (stall) or close it (drop).
            if drop:
                with self.lock:
                    self.drop_once.discard(sha)
            h.send_response(code)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[:len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            if stall:
                self.stalled.set()
                self.unstall.wait(60)
            else:
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send(h, code, headers, body, head)

    def route(self, h, head):
        with self.lock:
            self.log.append(("HEAD" if head else "GET", h.path, h.headers.get("Range"),
                             h.headers.get("Authorization")))
        parts = h.path.split("/")
        # /cdn/<sha256>
        if len(parts) == 3 and parts[1] == "cdn" and parts[2] in self.blobs:
            return self.send_data(h, self.blobs[parts[2]], {"ETag": '"%s"' % parts[2]}, head, parts[2])
        # /<org>/<name>/resolve/<revision>/<file>
        if len(parts) != 6 or parts[3] != "resolve":
            return self.send(h, 404, {}, b"no such page", head)
        repo_id = parts[1] + "/" + parts[2]
        revision = urllib.parse.unquote(parts[4])
        name = urllib.parse.unquote(parts[5])
        repo = self.repos.get(repo_id)
        if repo is None:
            return self.send_error(h, 404, "RepoNotFound", head)  # what the hub sends
        if revision not in repo.revisions:
            return self.send_error(h, 404, "RevisionNotFound", head)
        if name not in repo.files:
            return self.send_error(h, 404, "EntryNotFound", head)
        if head and name in self.stall_head:
            self.stalled.set()
            self.unstall.wait(60)
        if name in self.busy:
            self.stalled.set()
            return self.send(h, 503, {}, b"busy", head)
        data = repo.files[name]
        if is_lfs(name):
            sha = sha256(data)
            return self.send(h, 302, {"Location": self.url + "/cdn/" + sha, "X-Repo-Commit": repo.commit,
                                      "X-Linked-Etag": '"%s"' % sha, "X-Linked-Size": str(len(data)),
                                      # the hub's ETag of an LFS file is not the content hash
                                      "ETag": '"%s"' % git_blob_sha1(b"lfs pointer " + sha.encode())}, b"", head)
        etag = git_blob_sha1(data)
        # The hub sends some etags weak; the cache name must strip W/ and the quotes.
        etag_header = ('W/"%s"' if name == "generation_config.json" else '"%s"') % etag
        self.send_data(h, data, {"ETag": etag_header, "X-Repo-Commit": repo.commit}, head)


# ---- running the CLI ----------------------------------------------------------------------------

def run(args, env_extra, timeout=300):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HF_") and k not in ("HUGGINGFACE_HUB_CACHE", "HUGGING_FACE_HUB_TOKEN",
                                                     "TRANSFORMERS_OFFLINE")}
    env.update(env_extra)
    p = subprocess.run([MUSICGEN] + args, env=env, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def repo_dir(cache, repo_id):
    return os.path.join(cache, "models--" + repo_id.replace("/", "--"))


def check_interrupted_download(hub, args, cache, sha, size, sig, ignored):
    """Runs the CLI with the weights' body stalled halfway and sends `sig` once the first
    half is on its way. Handled: exit 128 + sig, one line saying how to resume, the first
    half kept as .incomplete. `ignored` (the CLI started with sig ignored, as under nohup):
    the download goes on and completes once the body flows again."""
    inc = os.path.join(repo_dir(cache, "test-org/tiny-mono"), "blobs", sha + ".incomplete")
    hub.stall.add(sha)
    hub.stalled.clear()
    hub.unstall.clear()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_HUB_CACHE": cache, "HF_ENDPOINT": hub.url})
    p = subprocess.Popen([MUSICGEN] + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=(lambda: signal.signal(sig, signal.SIG_IGN)) if ignored else None)
    hub.stalled.wait(60)  # held in the CLI's write buffer, not yet in the file
    time.sleep(0.5)
    p.send_signal(sig)
    time.sleep(0.5)
    still_running = p.poll() is None
    hub.stall.discard(sha)
    hub.unstall.set()
    out, err = p.communicate(timeout=60)
    what = "%s, %s%s" % (args[0], signal.Signals(sig).name, " ignored" if ignored else "")
    if ignored:
        check(still_running and p.returncode == 0, "%s: the download goes on (rc %d, %r)" % (what, p.returncode, err))
        return
    check(p.returncode == 128 + sig and "interrupted; run the same command again to resume" in err,
          "%s: exits %d saying how to resume (rc %d, %r)" % (what, 128 + sig, p.returncode, err))
    check(len(err.strip().splitlines()) == 1, "%s: one line on stderr (%r)" % (what, err))
    check(os.path.exists(inc) and os.path.getsize(inc) == size // 2,
          "%s: what arrived is kept (the write buffer flushed) for resuming" % what)


def interrupt_download(hub, cache, wait):
    """Starts `musicgen download test-org/tiny-mono` into `cache`, calls wait(), sends
    SIGINT; returns (exit code, stderr, seconds from the signal to the exit)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_HUB_CACHE": cache, "HF_ENDPOINT": hub.url})
    p = subprocess.Popen([MUSICGEN, "download", "test-org/tiny-mono"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    wait()
    p.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    try:
        err = p.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        err = p.communicate()[1]
    return p.returncode, err, time.monotonic() - t0


def check_layout(cache, repo_id, repo, expected, revision="main"):
    """Exact hub layout: blobs/<etag>, relative symlinks, refs/<revision> = commit."""
    d = repo_dir(cache, repo_id)
    ref = os.path.join(d, "refs", revision)
    check(os.path.isfile(ref) and read(ref).decode() == repo.commit,
          "%s: refs/%s holds exactly the commit hash" % (repo_id, revision))
    snap = os.path.join(d, "snapshots", repo.commit)
    check(sorted(os.listdir(snap)) == sorted(expected),
          "%s: snapshot holds %s (got %s)" % (repo_id, sorted(expected), sorted(os.listdir(snap))))
    for name in expected:
        p = os.path.join(snap, name)
        etag = repo.etag(name)
        check(os.path.islink(p) and os.readlink(p) == "../../blobs/" + etag,
              "%s: %s is a relative symlink to ../../blobs/%s (got %s)"
              % (repo_id, name, etag, os.readlink(p) if os.path.islink(p) else "not a link"))
        check(os.path.isfile(p) and read(p) == repo.files[name], "%s: %s has the repo's content" % (repo_id, name))
    blobs = sorted(os.listdir(os.path.join(d, "blobs")))
    check(blobs == sorted({repo.etag(n) for n in expected}),
          "%s: blobs/ holds exactly the etags of the files (got %s)" % (repo_id, blobs))


def info_json(args, env):
    rc, out, err = run(["info", "--json"] + args, env)
    if not check(rc == 0, "info %s works (rc %d, stderr: %s)" % (" ".join(args), rc, err.strip())):
        return None
    try:
        j = json.loads(out)
    except ValueError:
        check(False, "info --json prints JSON (got %r)" % out)
        return None
    j.pop("model", None)
    return j


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def gets(log):
    return [r for r in log if r[0] == "GET"]


# ---- the tests -----------------------------------------------------------------------------------

def main():
    if not os.path.isdir(FIXTURE):
        print("test_download: fixture %s not found (set MG_REFERENCE_DIR)" % FIXTURE, file=sys.stderr)
        return 1
    if not os.access(MUSICGEN, os.X_OK):
        print("test_download: CLI %s not found (set MUSICGEN)" % MUSICGEN, file=sys.stderr)
        return 1
    repos = build_repos()
    mono, sharded = repos["test-org/tiny-mono"], repos["test-org/tiny-sharded"]
    hub = FakeHub(repos)
    tmp = tempfile.mkdtemp(prefix="mg_test_download_")
    dead = "http://127.0.0.1:%d" % closed_port()
    try:
        cache = os.path.join(tmp, "cache")
        env = {"HF_HUB_CACHE": cache, "HF_ENDPOINT": hub.url}
        mono_files = ["config.json", "generation_config.json", "spiece.model", "tokenizer_config.json",
                      "model.safetensors"]
        weights_sha = sha256(mono.files["model.safetensors"])

        # 1. Download with the connection dropped halfway through the weights: resumes with Range.
        hub.drop_once.add(weights_sha)
        rc, out, err = run(["download", "test-org/tiny-mono"], env)
        snap = os.path.join(repo_dir(cache, "test-org/tiny-mono"), "snapshots", mono.commit)
        check(rc == 0, "download test-org/tiny-mono succeeds (rc %d, stderr: %s)" % (rc, err.strip()))
        check(out.strip() == snap, "download prints the snapshot folder (got %r)" % out)
        check("downloaded" in err, "download prints a summary line (got %r)" % err)
        log = hub.requests()
        resumed = [r for r in log if r[0] == "GET" and r[1] == "/cdn/" + weights_sha and r[2]]
        check(len(resumed) == 1 and resumed[0][2].startswith("bytes=") and resumed[0][2] != "bytes=0-",
              "the dropped weight file is resumed with a Range request (got %s)" % resumed)
        check(not hub.drop_once, "the fault was triggered")
        heads = [r for r in log if r[0] == "HEAD"]
        check(all(mono.commit in r[1] for r in heads[1:]) and "/resolve/main/" in heads[0][1],
              "the first file is asked at 'main', the others at the commit it resolved to")
        check_layout(cache, "test-org/tiny-mono", mono, mono_files)
        check(not os.path.exists(os.path.join(snap, "special_tokens_map.json")), "only the needed files")
        check(os.path.isdir(os.path.join(cache, ".locks", "models--test-org--tiny-mono")),
              "locks live in .locks/models--ORG--NAME like huggingface_hub's")

        # 2. `info -m ORG/NAME` offline from the cache equals info on the fixture folder.
        want = info_json(["-m", FIXTURE], {})
        n_before = len(hub.requests())
        got = info_json(["-m", "test-org/tiny-mono"],
                        {"HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": dead})
        check(want is not None and got == want, "info -m test-org/tiny-mono offline matches the fixture folder")
        # Online, a complete cached snapshot is used without any request either.
        got = info_json(["-m", "test-org/tiny-mono"], env)
        check(got == want, "info -m test-org/tiny-mono online from the cache")
        check(len(hub.requests()) == n_before, "a cached model is opened without network requests")

        # 3. A second download fetches nothing (HEADs only).
        n_before = len(hub.requests())
        rc, out, err = run(["download", "test-org/tiny-mono"], env)
        new = hub.requests()[n_before:]
        check(rc == 0 and out.strip() == snap, "second download succeeds (rc %d, %s)" % (rc, err.strip()))
        check(not gets(new), "second download does not GET anything (got %s)" % gets(new))
        check("up to date" in err, "second download says it is up to date (got %r)" % err)
        check_layout(cache, "test-org/tiny-mono", mono, mono_files)

        # 3b. A snapshot another tool filled only partly (no generation_config.json, no .no_exist
        # marker) is completed when online; the blob is still cached, so nothing is fetched.
        os.unlink(os.path.join(snap, "generation_config.json"))
        n_before = len(hub.requests())
        got = info_json(["-m", "test-org/tiny-mono"], env)
        new = hub.requests()[n_before:]
        check(got == want and new and not gets(new), "a partial snapshot is completed from the cached blobs")
        check_layout(cache, "test-org/tiny-mono", mono, mono_files)

        # 4. Offline and absent: clear error, no request.
        n_before = len(hub.requests())
        rc, out, err = run(["info", "-m", "test-org/absent"], dict(env, HF_HUB_OFFLINE="1"))
        check(rc != 0 and "not cached" in err and "musicgen download test-org/absent" in err
              and "HF_HUB_OFFLINE" in err, "offline + absent model: clear error (got rc %d, %r)" % (rc, err))
        check(len(hub.requests()) == n_before, "offline mode makes no request")
        rc, out, err = run(["download", "test-org/tiny-mono"], dict(env, HF_HUB_OFFLINE="1"))
        check(rc != 0 and "offline" in err, "download refuses to run offline (got rc %d, %r)" % (rc, err))

        # 5. Unknown model: clear error naming the known MusicGen repos.
        rc, out, err = run(["download", "test-org/nope"], env)
        check(rc != 0 and "not found" in err and "facebook/musicgen-small" in err,
              "unknown repo: clear error listing known models (got rc %d, %r)" % (rc, err))
        check(not os.path.exists(os.path.join(repo_dir(cache, "test-org/nope"), "snapshots")),
              "unknown repo leaves no snapshot")
        rc, out, err = run(["info", "-m", "test-org/nope"], env)
        check(rc != 0 and "facebook/musicgen-small" in err, "info -m unknown repo: clear error (got %r)" % err)
        rc, out, err = run(["download", "test-org/tiny-mono", "--revision", "no-such-branch"], env)
        check(rc != 0 and "no-such-branch" in err, "unknown revision: clear error (got %r)" % err)

        # 6. No network: clear error.
        rc, out, err = run(["download", "test-org/tiny-mono"], {"HF_HUB_CACHE": cache, "HF_ENDPOINT": dead})
        check(rc != 0 and "cannot reach" in err and "HF_HUB_OFFLINE" in err,
              "no network: clear error (got rc %d, %r)" % (rc, err))
        rc, out, err = run(["info", "-m", "test-org/other"], {"HF_HUB_CACHE": cache, "HF_ENDPOINT": dead})
        check(rc != 0 and "cannot reach" in err, "info -m with no network: clear error (got %r)" % err)

        # 7. Corrupted weights: sha256 mismatch -> clear error, nothing in the snapshot or blobs.
        cache2 = os.path.join(tmp, "cache2")
        env2 = {"HF_HUB_CACHE": cache2, "HF_ENDPOINT": hub.url}
        hub.corrupt.add(weights_sha)
        rc, out, err = run(["download", "test-org/tiny-mono"], env2)
        hub.corrupt.discard(weights_sha)
        d2 = repo_dir(cache2, "test-org/tiny-mono")
        check(rc != 0 and "sha256" in err and "model.safetensors" in err,
              "corrupt download: clear error (got rc %d, %r)" % (rc, err))
        snap2 = os.path.join(d2, "snapshots", mono.commit)
        check(not os.path.lexists(os.path.join(snap2, "model.safetensors")), "no corrupt file in the snapshot")
        blobs2 = os.listdir(os.path.join(d2, "blobs")) if os.path.isdir(os.path.join(d2, "blobs")) else []
        check(not [b for b in blobs2 if b.startswith(weights_sha)],
              "the corrupt blob and its .incomplete are deleted (blobs: %s)" % blobs2)
        check(not os.path.exists(os.path.join(d2, "refs", "main")), "no refs/main for a failed download")
        rc, out, err = run(["info", "-m", "test-org/tiny-mono"], dict(env2, HF_HUB_OFFLINE="1"))
        check(rc != 0 and "not cached" in err, "a failed download is not taken as cached (got %r)" % err)

        # 8. Resume from an .incomplete file left by an earlier run; the token is sent.
        os.makedirs(os.path.join(d2, "blobs"), exist_ok=True)
        with open(os.path.join(d2, "blobs", weights_sha + ".incomplete"), "wb") as f:
            f.write(mono.files["model.safetensors"][:100000])
        n_before = len(hub.requests())
        rc, out, err = run(["download", "test-org/tiny-mono"], dict(env2, HF_TOKEN="hf_test_token"))
        new = hub.requests()[n_before:]
        check(rc == 0, "download after a failure succeeds (rc %d, %s)" % (rc, err.strip()))
        check(any(r[1] == "/cdn/" + weights_sha and r[2] == "bytes=100000-" for r in new),
              "an existing .incomplete blob is resumed with Range: bytes=100000-")
        check(all(r[3] == "Bearer hf_test_token" for r in new if "/resolve/" in r[1]),
              "HF_TOKEN is sent as Authorization: Bearer")
        check_layout(cache2, "test-org/tiny-mono", mono, mono_files)

        # 8b. A server that ignores Range: the partial file is discarded and fetched whole.
        cache4 = os.path.join(tmp, "cache4")
        d4 = repo_dir(cache4, "test-org/tiny-mono")
        os.makedirs(os.path.join(d4, "blobs"))
        with open(os.path.join(d4, "blobs", weights_sha + ".incomplete"), "wb") as f:
            f.write(b"\xff" * 5000)  # garbage: must not end up in the file
        hub.ignore_range.add(weights_sha)
        rc, out, err = run(["download", "test-org/tiny-mono"], {"HF_HUB_CACHE": cache4, "HF_ENDPOINT": hub.url})
        hub.ignore_range.discard(weights_sha)
        check(rc == 0, "download from a server ignoring Range succeeds (rc %d, %s)" % (rc, err.strip()))
        check_layout(cache4, "test-org/tiny-mono", mono, mono_files)

        # 8c. Ctrl-C in the middle of a file: one line saying how to go on, exit 130, what
        # arrived kept; the same command then resumes it. As `download` and as the download
        # that `generate -m ORG/NAME` starts (whose output folder is not left behind).
        size = len(mono.files["model.safetensors"])
        out_dir = os.path.join(tmp, "ctrl-c-out")
        for i, args in enumerate([["download", "test-org/tiny-mono"],
                                  ["generate", "-m", "test-org/tiny-mono", "--steps", "3", "-o", out_dir + "/",
                                   "-p", "a", "-p", "b"]]):
            cache5 = os.path.join(tmp, "cache5-%d" % i)
            check_interrupted_download(hub, args, cache5, weights_sha, size, signal.SIGINT, False)
            n_before = len(hub.requests())
            rc, out, err = run(["download", "test-org/tiny-mono"], {"HF_HUB_CACHE": cache5, "HF_ENDPOINT": hub.url})
            check(rc == 0 and any(r[1] == "/cdn/" + weights_sha and r[2] == "bytes=%d-" % (size // 2)
                                  for r in hub.requests()[n_before:]),
                  "%s: the download after Ctrl-C resumes the partial blob (rc %d, %s)" % (args[0], rc, err.strip()))
            check_layout(cache5, "test-org/tiny-mono", mono, mono_files)
        check(not os.path.exists(out_dir), "an interrupted generate leaves no output folder")

        # 8d. The C API: a host program (examples/background_music.c) that loads ORG/NAME
        # sees the download through mg_model_params.download_progress and cancels it there
        # (its Ctrl-C handler); what arrived is kept, and the next load resumes it.
        example = os.path.join(os.environ.get("MG_BUILD_DIR", "build"), "example_background_music")
        check(os.path.exists(example), "the example host program is built (%s)" % example)
        if os.path.exists(example):
            cache_host = os.path.join(tmp, "cache_host")
            env6 = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
            env6.update({"HF_HUB_CACHE": cache_host, "HF_ENDPOINT": hub.url})
            wav = os.path.join(tmp, "host.wav")
            inc = os.path.join(repo_dir(cache_host, "test-org/tiny-mono"), "blobs", weights_sha + ".incomplete")
            hub.stall.add(weights_sha)
            hub.stalled.clear()
            hub.unstall.clear()
            p = subprocess.Popen([example, "-m", "test-org/tiny-mono", "-d", "0.5", "-o", wav, "calm piano"], env=env6,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            hub.stalled.wait(60)
            time.sleep(0.5)
            p.send_signal(signal.SIGINT)
            time.sleep(0.5)
            hub.stall.discard(weights_sha)
            hub.unstall.set()
            out, err = p.communicate(timeout=60)
            check(p.returncode == 130 and "cancelled" in err and "downloading model.safetensors" in err,
                  "host program: its download callback saw the weights and cancelled them (rc %d, %r)"
                  % (p.returncode, err))
            check(os.path.exists(inc) and os.path.getsize(inc) == size // 2, "host program: what arrived is kept")
            n_before = len(hub.requests())
            p = subprocess.run([example, "-m", "test-org/tiny-mono", "-d", "0.5", "-o", wav, "calm piano"], env=env6,
                               capture_output=True, text=True, timeout=120)
            check(p.returncode == 0 and os.path.exists(wav) and "downloaded test-org/tiny-mono" in p.stderr,
                  "host program: the next run downloads the rest and generates (rc %d, %r)" % (p.returncode, p.stderr))
            check(any(r[1] == "/cdn/" + weights_sha and r[2] == "bytes=%d-" % (size // 2)
                      for r in hub.requests()[n_before:]), "host program: the second load resumed the partial blob")
            check_layout(cache_host, "test-org/tiny-mono", mono, mono_files)

        # 8d1. quantize -m ORG/NAME downloads the model first (into the hub cache, in its
        # layout) and converts it.
        cache_q = os.path.join(tmp, "cache-quantize")
        gguf = os.path.join(tmp, "from-hub.gguf")
        rc, out, err = run(["quantize", "-m", "test-org/tiny-mono", "-o", gguf], {"HF_HUB_CACHE": cache_q,
                                                                                 "HF_ENDPOINT": hub.url})
        check(rc == 0 and os.path.getsize(gguf) > 0 and "wrote" in err,
              "quantize -m ORG/NAME downloads and converts (rc %d, %r)" % (rc, err))
        check_layout(cache_q, "test-org/tiny-mono", mono, mono_files)

        # 8d2. Ctrl-C while another process holds the weights' blob lock (huggingface_hub
        # writing the same file): the wait asks the progress callback too, so it stops.
        import fcntl
        cache_lock = os.path.join(tmp, "cache-lock")
        locks = os.path.join(cache_lock, ".locks", "models--test-org--tiny-mono")
        os.makedirs(locks)
        with open(os.path.join(locks, weights_sha + ".lock"), "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            rc, err, secs = interrupt_download(hub, cache_lock, lambda: time.sleep(2))
        check(rc == 130 and secs < 2 and "run the same command again to resume" in err,
              "Ctrl-C while another process holds the blob lock stops in %.1f s (rc %d, %r)" % (secs, rc, err))

        # 8e. Ctrl-C while the files are being listed (a HEAD that does not answer) or
        # while a retry waits (the hub answers 503): stops within a second or two.
        for what in ("stall_head", "busy"):
            cache7 = os.path.join(tmp, "cache7-" + what)
            getattr(hub, what).add("generation_config.json")
            hub.stalled.clear()
            hub.unstall.clear()
            rc, err, secs = interrupt_download(hub, cache7, lambda: (hub.stalled.wait(60), time.sleep(0.3)))
            getattr(hub, what).discard("generation_config.json")
            hub.unstall.set()
            check(rc == 130 and secs < 5 and "run the same command again to resume" in err,
                  "%s: Ctrl-C stops the download in %.1f s (rc %d, %r)" % (what, secs, rc, err))

        # 8d. A hangup the download was started ignoring (nohup) does not stop it.
        cache6 = os.path.join(tmp, "cache6")
        check_interrupted_download(hub, ["download", "test-org/tiny-mono"], cache6, weights_sha, size, signal.SIGHUP,
                                   True)
        check_layout(cache6, "test-org/tiny-mono", mono, mono_files)

        # 9. Sharded checkpoint: index + both shards, a tag, optional file absent.
        rc, out, err = run(["download", "test-org/tiny-sharded"], env)
        sh_files = ["config.json", "generation_config.json", "spiece.model", "model.safetensors.index.json",
                    "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        check(rc == 0, "download of the sharded repo succeeds (rc %d, %s)" % (rc, err.strip()))
        check_layout(cache, "test-org/tiny-sharded", sharded, sh_files)
        ds = repo_dir(cache, "test-org/tiny-sharded")
        check(os.path.isfile(os.path.join(ds, ".no_exist", sharded.commit, "tokenizer_config.json")),
              "a missing optional file is recorded in .no_exist/<commit>/ like huggingface_hub does")
        got = info_json(["-m", "test-org/tiny-sharded"],
                        {"HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": dead})
        check(want is not None and got == want, "info -m on the sharded snapshot matches the single-file fixture")
        n_before = len(hub.requests())
        rc, out, err = run(["download", "test-org/tiny-sharded", "--revision", "v1"], env)
        snap_v1 = out.strip()
        check(rc == 0 and not gets(hub.requests()[n_before:]), "download --revision v1 (a tag) reuses the blobs")
        check(os.path.isfile(os.path.join(ds, "refs", "v1")) and read(os.path.join(ds, "refs", "v1")).decode()
              == sharded.commit, "refs/v1 holds the commit")
        rc, out, err = run(["download", "test-org/tiny-sharded", "--revision", sharded.commit], env)
        check(rc == 0 and not os.path.exists(os.path.join(ds, "refs", sharded.commit)),
              "a commit-hash revision writes no ref (as huggingface_hub)")
        # -m ORG/NAME@REV uses that revision offline: the tag, the commit, and an unknown
        # one fails naming it.
        offline = {"HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": dead}
        for rev in ("v1", sharded.commit):
            got = info_json(["-m", "test-org/tiny-sharded@" + rev], offline)
            check(want is not None and got == want, "info -m test-org/tiny-sharded@%s offline" % rev[:8])
        rc, out, err = run(["download", "test-org/tiny-sharded@v1"], env)
        check(rc == 0 and out.strip() == snap_v1, "download ORG/NAME@REV is download -r REV (%r)" % err)
        rc, out, err = run(["info", "-m", "test-org/tiny-sharded@nope"], offline)
        check(rc != 0 and "revision nope" in err and "-r nope" in err, "unknown @revision offline: %r" % err)

        # 10. `-m ORG/NAME` online with an empty cache downloads, then loads.
        cache3 = os.path.join(tmp, "cache3")
        got = info_json(["-m", "test-org/tiny-mono"], {"HF_HUB_CACHE": cache3, "HF_ENDPOINT": hub.url})
        check(got == want, "info -m test-org/tiny-mono downloads into an empty cache and loads")
        check_layout(cache3, "test-org/tiny-mono", mono, mono_files)

        # 11. HF_HOME/hub is the cache when HF_HUB_CACHE is not set.
        home = os.path.join(tmp, "hfhome")
        rc, out, err = run(["download", "test-org/tiny-mono"], {"HF_HOME": home, "HF_ENDPOINT": hub.url})
        check(rc == 0 and out.strip().startswith(os.path.join(home, "hub", "models--test-org--tiny-mono")),
              "HF_HOME/hub is used (got %r)" % out)

        # 12. Bad arguments.
        rc, out, err = run(["download"], env)
        check(rc != 0 and "repo id" in err, "download without a repo id: usage error")
        rc, out, err = run(["download", "not-a-repo-id"], env)
        check(rc != 0 and "not a Hugging Face repo id" in err, "download of a non repo id: clear error")
        rc, out, err = run(["download", "--help"], env)
        check(rc == 0 and "--revision" in out, "download --help")
    finally:
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("test_download: %d checks, %d failures" % (checks, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
