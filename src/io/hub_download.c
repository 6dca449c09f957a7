/* hub_download.c — fetch a MusicGen checkpoint from the Hugging Face hub into the
 * hub cache (layout in hub.h); the HTTP side is hub_http.c.
 *
 * Plans the files (config, tokenizer, the safetensors or the shards its index names),
 * then per file: blobs/<etag>.incomplete is fetched (resumed, retried), its size and,
 * for LFS files, the sha256 the etag names are checked, it is renamed to
 * blobs/<etag>, snapshots/<commit>/<file> -> ../../blobs/<etag> is linked, and
 * finally refs/<revision> is written. The first file fixes the commit; every other
 * file is requested at that commit so the snapshot is consistent.
 *
 * Only the files the engine reads are fetched (no .bin weights, no README). Does not
 * print: progress goes to opt->progress. */
#include "io/hub_http.h"
#include "base/file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- one blob ------------------------------------------------------------------------- */

/* Check size and sha256 of the finished .incomplete file; delete it if wrong. */
static mg_status verify_blob(hub_session *s, const hub_file *f, const char *inc) {
    int64_t got = mg_hub_file_size(inc);
    if (f->size >= 0 && got != f->size) {
        unlink(inc);
        return mg_fail(MG_ERR_NETWORK, "%s of %s has %lld bytes, the hub announced %lld; the file was deleted, run "
                       "the command again", f->name, s->repo_id, (long long)got, (long long)f->size);
    }
    if (!f->verify)
        return MG_OK;
    char hex[65];
    MG_TRY(mg_sha256_file(inc, hex));
    if (strcmp(hex, f->etag)) {
        unlink(inc);
        return mg_fail(MG_ERR_FORMAT,
                       "%s of %s is corrupt: its sha256 is %s but the hub says %s. The damaged download was deleted; "
                       "run the command again (if this repeats, a proxy or the server %s is altering the data)",
                       f->name, s->repo_id, hex, f->etag, s->endpoint);
    }
    return MG_OK;
}

static char *blob_path(const hub_session *s, const char *etag, const char *suffix) {
    size_t n = strlen(s->blobs_dir) + strlen(etag) + strlen(suffix) + 2;
    char *p = mg_malloc(n, "a path");
    if (p)
        snprintf(p, n, "%s/%s%s", s->blobs_dir, etag, suffix);
    return p;
}

/* Held while a blob is written, on the same lock file huggingface_hub uses. While
 * another process writes the blob, waits, asking the progress callback every 0.1 s so
 * that the wait can be cancelled. Returns the locked descriptor, -1 when the lock
 * cannot be taken (the download then goes on without it), -2 when cancelled. */
static int lock_blob(hub_session *s, const char *etag) {
    if (mg_hub_mkdirs(s->locks_dir) != MG_OK)
        return -1;
    size_t n = strlen(s->locks_dir) + strlen(etag) + 8;
    char *p = mg_malloc(n, "a path");
    if (!p)
        return -1;
    snprintf(p, n, "%s/%s.lock", s->locks_dir, etag);
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    free(p);
    if (fd < 0)
        return -1;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            close(fd);
            return -1;
        }
        if (mg_hub_wait_tick(s)) {
            close(fd);
            return -2;
        }
    }
    return fd;
}

static void unlock_blob(int fd) {
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

/* Download f into blobs/<etag> (resume, retry, verify, rename). */
static mg_status fetch_blob(hub_session *s, const hub_file *f, int first_file) {
    MG_TRY(mg_hub_mkdirs(s->blobs_dir));
    char *blob = blob_path(s, f->etag, "");
    char *inc = blob_path(s, f->etag, ".incomplete");
    if (!blob || !inc) {
        free(blob);
        free(inc);
        return MG_ERR_NOMEM;
    }
    int lock = lock_blob(s, f->etag);
    mg_status st = MG_OK;
    if (lock == -2) {
        st = mg_hub_cancelled(s);
        goto done;
    }
    int64_t have = mg_hub_file_size(blob);
    if (have >= 0 && (f->size < 0 || have == f->size))
        goto done; /* another process finished it while we waited for the lock */
    for (int attempt = 0, failures = 0;; attempt++) {
        int again = 0, progressed = 0;
        st = mg_hub_get_once(s, f, inc, first_file, &again, &progressed);
        if (!again)
            break;
        if (progressed)
            failures = 0; /* a connection that keeps delivering may keep going */
        if (++failures >= MG_HUB_MAX_ATTEMPTS)
            break;
        mg_clear_error();
        st = MG_OK;
        if (mg_hub_backoff(s, failures - 1)) {
            st = mg_hub_cancelled(s);
            break;
        }
    }
    if (st == MG_OK)
        st = verify_blob(s, f, inc);
    if (st == MG_OK && rename(inc, blob) != 0)
        st = mg_fail(MG_ERR_IO, "cannot rename %s to %s: %s", inc, blob, strerror(errno));
    if (st == MG_OK)
        s->fetched++;
done:
    unlock_blob(lock);
    free(blob);
    free(inc);
    return st;
}

/* ---- snapshot placement ------------------------------------------------------------- */

static char *snapshot_dir(const hub_session *s) {
    char *snaps = mg_path_join(s->repo_dir, "snapshots");
    char *dir = snaps ? mg_path_join(snaps, s->commit) : NULL;
    free(snaps);
    return dir;
}

/* snapshots/<commit>/<name> -> ../../blobs/<etag>, created atomically (symlink at a
 * temporary name, then rename over). An existing working entry is kept. */
static mg_status link_file(hub_session *s, const hub_file *f) {
    char *dir = snapshot_dir(s);
    if (!dir)
        return MG_ERR_NOMEM;
    mg_status st = mg_hub_mkdirs(dir);
    char *ptr = st == MG_OK ? mg_path_join(dir, f->name) : NULL;
    free(dir);
    if (!ptr)
        return st != MG_OK ? st : MG_ERR_NOMEM;
    size_t n = strlen(f->etag) + 32;
    char *target = mg_malloc(n, "a path"), *tmp = mg_malloc(strlen(ptr) + 32, "a path");
    if (!target || !tmp) {
        free(target);
        free(tmp);
        free(ptr);
        return MG_ERR_NOMEM;
    }
    snprintf(target, n, "../../blobs/%s", f->etag);
    snprintf(tmp, strlen(ptr) + 32, "%s.tmp%ld", ptr, (long)getpid());
    char cur[512];
    ssize_t cn = readlink(ptr, cur, sizeof cur - 1);
    if (cn >= 0)
        cur[cn] = 0;
    if (cn >= 0 && !strcmp(cur, target) && mg_hub_file_size(ptr) >= 0)
        st = MG_OK; /* already linked */
    else {
        unlink(tmp);
        if (symlink(target, tmp) != 0)
            st = mg_fail(MG_ERR_IO, "cannot create the link %s: %s", tmp, strerror(errno));
        else if (rename(tmp, ptr) != 0) {
            st = mg_fail(MG_ERR_IO, "cannot create the link %s: %s", ptr, strerror(errno));
            unlink(tmp);
        }
    }
    free(target);
    free(tmp);
    free(ptr);
    return st;
}

/* .no_exist/<commit>/<name>: the hub has no such file (as huggingface_hub records it). */
static void mark_missing(hub_session *s, const char *name) {
    char *ne = mg_path_join(s->repo_dir, ".no_exist");
    char *dir = ne ? mg_path_join(ne, s->commit) : NULL;
    char *p = dir ? mg_path_join(dir, name) : NULL;
    if (p && mg_hub_mkdirs(dir) == MG_OK) {
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd >= 0)
            close(fd);
    }
    mg_clear_error();
    free(ne);
    free(dir);
    free(p);
}

/* ---- the plan: which files ------------------------------------------------------------ */

static hub_file *add_file(hub_session *s, const char *name) {
    hub_file *nf = realloc(s->files, (size_t)(s->n_files + 1) * sizeof *nf);
    if (!nf) {
        mg_fail(MG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->files = nf;
    hub_file *f = &s->files[s->n_files];
    memset(f, 0, sizeof *f);
    f->name = mg_strdup(name);
    if (!f->name)
        return NULL;
    s->n_files++;
    return f;
}

/* HEAD `name`; *found = 0 if the hub has no such file (allowed only if optional). */
static mg_status plan_file(hub_session *s, const char *name, int optional, int *found) {
    int first = s->commit == NULL;
    hub_http h;
    *found = 0;
    MG_TRY(mg_hub_head(s, first ? s->revision : s->commit, name, &h));
    int ok = (h.code >= 200 && h.code < 300) || (h.code >= 300 && h.code < 400 && h.commit[0]);
    if (!ok) {
        int entry_missing = h.code == 404 && !mg_hub_repo_missing(&h, first) && strcmp(h.error_code, "RevisionNotFound");
        if (entry_missing && optional && !first) {
            mark_missing(s, name);
            return MG_OK;
        }
        if (entry_missing && first)
            return mg_fail(MG_ERR_NOT_FOUND, "%s on %s has no %s: it is not a Hugging Face transformers checkpoint "
                           "(known MusicGen models: " MG_HUB_KNOWN_MODELS ")", s->repo_id, s->endpoint, name);
        return mg_hub_http_error(s, &h, name, first);
    }
    hub_file *f = add_file(s, name);
    if (!f)
        return MG_ERR_NOMEM;
    MG_TRY(mg_hub_describe(s, &h, f));
    *found = 1;
    return MG_OK;
}

/* The index is needed to know the shards: fetch and link it right away. */
static mg_status plan_shards(hub_session *s) {
    hub_file idx = s->files[s->n_files - 1];
    MG_TRY(fetch_blob(s, &idx, 0));
    MG_TRY(link_file(s, &idx));
    s->files[s->n_files - 1].cached = 1;
    char *path = blob_path(s, idx.etag, ""), *text = NULL;
    size_t len = 0;
    mg_status st = path ? mg_file_read_all(path, &text, &len) : MG_ERR_NOMEM;
    free(path);
    if (st != MG_OK)
        return st;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return mg_fail(MG_ERR_FORMAT, "model.safetensors.index.json of %s has no \"weight_map\" object", s->repo_id);
    }
    for (cJSON *it = wm->child; it && st == MG_OK; it = it->next) {
        const char *shard = cJSON_IsString(it) ? it->valuestring : "";
        if (!mg_hub_safe_name(shard) || strlen(shard) < 12 || strcmp(shard + strlen(shard) - 12, ".safetensors")) {
            st = mg_fail(MG_ERR_FORMAT, "model.safetensors.index.json of %s names \"%s\" for %s, not a .safetensors "
                         "file in the repo", s->repo_id, shard, it->string ? it->string : "?");
            break;
        }
        int seen = 0;
        for (int i = 0; i < s->n_files && !seen; i++)
            seen = !strcmp(s->files[i].name, shard);
        int found;
        if (!seen)
            st = plan_file(s, shard, 0, &found);
    }
    cJSON_Delete(root);
    return st;
}

static mg_status plan(hub_session *s) {
    int found;
    MG_TRY(plan_file(s, "config.json", 0, &found));
    MG_TRY(plan_file(s, "generation_config.json", 1, &found));
    MG_TRY(plan_file(s, "spiece.model", 0, &found));
    MG_TRY(plan_file(s, "tokenizer_config.json", 1, &found));
    MG_TRY(plan_file(s, "model.safetensors.index.json", 1, &found));
    if (found)
        return plan_shards(s);
    mg_status st = plan_file(s, "model.safetensors", 1, &found);
    if (st == MG_OK && !found)
        st = mg_fail(MG_ERR_NOT_FOUND, "%s has neither model.safetensors nor model.safetensors.index.json at revision "
                     "%s: this engine reads safetensors checkpoints (PyTorch .bin weights are not supported)",
                     s->repo_id, s->commit);
    return st;
}

static const char *human_bytes(int64_t n, char *buf, size_t size) {
    if (n >= 1000000000)
        snprintf(buf, size, "%.1f GB", (double)n / 1e9);
    else
        snprintf(buf, size, "%.1f MB", (double)n / 1e6);
    return buf;
}

static mg_status check_disk_space(hub_session *s, int64_t needed) {
    struct statvfs fs;
    if (needed <= 0 || statvfs(s->blobs_dir, &fs) != 0)
        return MG_OK;
    int64_t avail = (int64_t)fs.f_bavail * (int64_t)fs.f_frsize;
    if (avail >= needed)
        return MG_OK;
    char a[32], b[32];
    return mg_fail(MG_ERR_IO, "not enough disk space for %s in %s: %s needed, %s free (free some space or set "
                   "HF_HUB_CACHE to a folder on a bigger disk)", s->repo_id, s->cache,
                   human_bytes(needed, a, sizeof a), human_bytes(avail, b, sizeof b));
}

/* ---- entry point ------------------------------------------------------------------- */

static mg_status download(hub_session *s, mg_download_result *out) {
    MG_TRY(plan(s));
    MG_TRY(mg_hub_mkdirs(s->blobs_dir));
    /* What is already cached (a blob of the right size) is only linked. */
    int64_t needed = 0;
    int unknown_size = 0;
    for (int i = 0; i < s->n_files; i++) {
        hub_file *f = &s->files[i];
        char *blob = blob_path(s, f->etag, "");
        char *inc = blob_path(s, f->etag, ".incomplete");
        if (!blob || !inc) {
            free(blob);
            free(inc);
            return MG_ERR_NOMEM;
        }
        int64_t have = mg_hub_file_size(blob);
        if (!f->cached)
            f->cached = have >= 0 && (f->size < 0 || have == f->size);
        if (!f->cached) {
            int64_t part = mg_hub_file_size(inc);
            s->prog.n_files++;
            if (f->size >= 0) {
                s->prog.total += f->size;
                int64_t partial = part > 0 && part <= f->size ? part : 0;
                s->prog.resumed += partial;
                needed += f->size - partial;
            } else
                unknown_size = 1;
        }
        free(blob);
        free(inc);
        out->bytes_total += f->size > 0 ? f->size : 0;
    }
    if (unknown_size)
        s->prog.total = -1;
    MG_TRY(check_disk_space(s, needed));
    s->report = 1;
    s->prog.done = 0;
    for (int i = 0; i < s->n_files; i++) {
        hub_file *f = &s->files[i];
        if (!f->cached) {
            s->prog.file = f->name;
            s->prog.file_index++;
            s->prog.file_done = 0;
            s->prog.file_total = f->size;
            if (mg_hub_report(s))
                return mg_hub_cancelled(s);
            MG_TRY(fetch_blob(s, f, 0));
            char *blob = blob_path(s, f->etag, "");
            s->prog.file_done = blob ? mg_hub_file_size(blob) : f->size;
            free(blob);
            s->done_before += s->prog.file_done;
            s->prog.done = s->done_before;
            if (mg_hub_report(s))
                return mg_hub_cancelled(s);
        }
        MG_TRY(link_file(s, f));
    }
    if (strcmp(s->revision, s->commit))
        MG_TRY(mg_hub_write_ref(s->repo_dir, s->revision, s->commit));
    s->prog.file = NULL;
    s->prog.finished = 1;
    mg_hub_report(s);
    out->n_files = s->n_files;
    out->n_downloaded = s->fetched;
    out->bytes_downloaded = s->received;
    out->snapshot = snapshot_dir(s);
    out->commit = mg_strdup(s->commit);
    return out->snapshot && out->commit ? MG_OK : MG_ERR_NOMEM;
}

MG_API void mg_download_result_free(mg_download_result *r) {
    if (!r)
        return;
    free(r->snapshot);
    free(r->commit);
    memset(r, 0, sizeof *r);
}

mg_status mg_hub_download(const char *repo_id, const mg_download_params *opt, mg_download_result *out) {
    memset(out, 0, sizeof *out);
    mg_download_params none;
    if (!opt) {
        memset(&none, 0, sizeof none);
        opt = &none;
    }
    if (!repo_id || !mg_hub_is_repo_id(repo_id))
        return mg_fail(MG_ERR_INVALID_ARG, "\"%s\" is not a Hugging Face repo id: expected ORG/NAME such as "
                       "facebook/musicgen-small", repo_id ? repo_id : "");
    const char *offline_var = mg_hub_env_offline_var();
    if (offline_var)
        return mg_fail(MG_ERR_NETWORK, "cannot download %s: offline mode is on (%s is set); unset it to allow downloads",
                       repo_id, offline_var);
    if (opt->offline)
        return mg_fail(MG_ERR_NETWORK, "cannot download %s: offline mode was requested", repo_id);
    hub_session s;
    mg_status st = mg_hub_session_init(&s, repo_id, opt);
    if (st == MG_OK)
        st = download(&s, out);
    if (st != MG_OK)
        mg_download_result_free(out);
    out->bytes_downloaded = s.received;
    mg_hub_session_free(&s);
    return st;
}
