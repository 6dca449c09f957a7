/* hub_cache.c — the Hugging Face hub cache on disk (see hub.h for the layout):
 * where it is (the same environment variables huggingface_hub reads), which names
 * are repo ids, refs/ and snapshots/, and resolving "org/name" to a snapshot folder
 * for mg_model_load — downloading it first unless offline.
 * Follows huggingface_hub's file_download.py / constants.py behaviour (as used by
 * transformers/utils/hub.py). Does no HTTP itself (hub_download.c does). */
#include "io/hub.h"
#include "base/file.h"
#include "base/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- names ------------------------------------------------------------------- */

static int is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
}

static int is_word_char(char c) { return is_name_char(c) && c != '-' && c != '.'; }

/* One part of a repo id: [\w.-]+ starting and ending with a word character. */
static int valid_part(const char *s, size_t n) {
    if (n == 0 || !is_word_char(s[0]) || !is_word_char(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char(s[i]))
            return 0;
    return 1;
}

int mg_hub_is_repo_id(const char *s) {
    if (!s)
        return 0;
    size_t n = strlen(s);
    const char *slash = strchr(s, '/');
    if (n == 0 || n > 96 || !slash || strchr(slash + 1, '/'))
        return 0;
    if (strstr(s, "--") || strstr(s, "..") || mg_str_ends_with(s, ".gguf") || mg_str_ends_with(s, ".safetensors"))
        return 0;
    return valid_part(s, (size_t)(slash - s)) && valid_part(slash + 1, strlen(slash + 1));
}

int mg_hub_is_commit_hash(const char *s) {
    if (!s || strlen(s) != 40)
        return 0;
    for (int i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int mg_hub_valid_revision(const char *rev) {
    if (!rev || !rev[0] || rev[0] == '/' || strlen(rev) > 255)
        return 0;
    for (const char *p = rev; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
            return 0;
    /* No "." or ".." path component (refs/<revision> must stay inside refs/). */
    const char *p = rev;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += len + (e ? 1 : 0);
        if (e && !*p)
            return 0; /* trailing '/' */
    }
    return 1;
}

char *mg_hub_split_revision(const char *id, const char **revision) {
    const char *at = strchr(id, '@');
    size_t n = at ? (size_t)(at - id) : strlen(id);
    char *repo = mg_malloc(n + 1, "a repo id");
    if (repo) {
        memcpy(repo, id, n);
        repo[n] = 0;
    }
    *revision = at ? at + 1 : NULL;
    return repo;
}

/* huggingface_hub's _is_true: 1, ON, YES, TRUE (any case). */
static int env_true(const char *name) {
    const char *v = getenv(name);
    if (!v)
        return 0;
    return !strcasecmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true");
}

const char *mg_hub_env_offline_var(void) {
    const char *v = getenv("HF_HUB_OFFLINE");
    if (v && v[0])
        return env_true("HF_HUB_OFFLINE") ? "HF_HUB_OFFLINE" : NULL;
    return env_true("TRANSFORMERS_OFFLINE") ? "TRANSFORMERS_OFFLINE" : NULL;
}

int mg_hub_env_offline(void) { return mg_hub_env_offline_var() != NULL; }

/* ---- where the cache is ------------------------------------------------------- */

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* "~" and "~/x" expand to $HOME (as os.path.expanduser does). */
static char *expand_user(const char *path) {
    if (path[0] != '~' || (path[1] && path[1] != '/'))
        return mg_strdup(path);
    const char *home = env_nonempty("HOME");
    if (!home) {
        mg_fail(MG_ERR_INVALID_ARG, "cannot expand %s: HOME is not set (set HF_HUB_CACHE to an absolute folder)", path);
        return NULL;
    }
    return mg_path_join(home, path[1] ? path + 2 : "");
}

mg_status mg_hub_cache_dir(const char *override, char **out) {
    *out = NULL;
    const char *v;
    char *dir = NULL;
    if (override && override[0])
        dir = expand_user(override);
    else if ((v = env_nonempty("HF_HUB_CACHE")) || (v = env_nonempty("HUGGINGFACE_HUB_CACHE")))
        dir = expand_user(v);
    else {
        char *home;
        if ((v = env_nonempty("HF_HOME")))
            home = expand_user(v);
        else if ((v = env_nonempty("XDG_CACHE_HOME"))) {
            char *xdg = expand_user(v);
            home = xdg ? mg_path_join(xdg, "huggingface") : NULL;
            free(xdg);
        } else
            home = expand_user("~/.cache/huggingface");
        if (!home)
            return MG_ERR_INVALID_ARG;
        dir = mg_path_join(home, "hub");
        free(home);
    }
    if (!dir)
        return MG_ERR_NOMEM;
    *out = dir;
    return MG_OK;
}

mg_status mg_hub_repo_dir(const char *cache_dir, const char *repo_id, char **out) {
    *out = NULL;
    if (!mg_hub_is_repo_id(repo_id))
        return mg_fail(MG_ERR_INVALID_ARG, "\"%s\" is not a Hugging Face repo id (expected ORG/NAME, such as "
                       "facebook/musicgen-small)", repo_id);
    /* models--ORG--NAME: "models" + every '/'-separated part, joined with "--". */
    size_t n = strlen(repo_id);
    char *name = mg_malloc(n + 16, "a cache folder name");
    if (!name)
        return MG_ERR_NOMEM;
    char *w = name + sprintf(name, "models--");
    for (const char *p = repo_id; *p; p++) {
        if (*p == '/') {
            *w++ = '-';
            *w++ = '-';
        } else
            *w++ = *p;
    }
    *w = 0;
    *out = mg_path_join(cache_dir, name);
    free(name);
    return *out ? MG_OK : MG_ERR_NOMEM;
}

/* ---- folders and refs ------------------------------------------------------- */

mg_status mg_hub_mkdirs(const char *path) { return mg_mkdirs(path, " (set HF_HUB_CACHE to a writable folder)", NULL); }

static char *ref_path(const char *repo_dir, const char *revision) {
    char *refs = mg_path_join(repo_dir, "refs");
    char *p = refs ? mg_path_join(refs, revision) : NULL;
    free(refs);
    return p;
}

mg_status mg_hub_read_ref(const char *repo_dir, const char *revision, char **commit) {
    *commit = NULL;
    if (!mg_hub_valid_revision(revision))
        return mg_fail(MG_ERR_INVALID_ARG, "revision \"%s\" is not a valid branch, tag or commit name", revision);
    char *path = ref_path(repo_dir, revision);
    if (!path)
        return MG_ERR_NOMEM;
    char *text = NULL;
    mg_status st = mg_path_is_dir(path) ? MG_ERR_NOT_FOUND : mg_file_read_all(path, &text, NULL);
    if (st != MG_OK) {
        free(path);
        return st == MG_ERR_NOT_FOUND ? mg_fail(MG_ERR_NOT_FOUND, "no refs/%s in %s", revision, repo_dir) : st;
    }
    /* The hub cache stores the bare hash; tolerate surrounding whitespace. */
    char *b = text;
    while (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t')
        b++;
    size_t n = strlen(b);
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\n' || b[n - 1] == '\r' || b[n - 1] == '\t'))
        b[--n] = 0;
    if (!n || strchr(b, '/') || !strcmp(b, ".") || !strcmp(b, "..")) {
        st = mg_fail(MG_ERR_FORMAT, "%s does not hold a commit hash; delete it and download the model again", path);
        free(text);
        free(path);
        return st;
    }
    *commit = mg_strdup(b);
    free(text);
    free(path);
    return *commit ? MG_OK : MG_ERR_NOMEM;
}

mg_status mg_hub_write_ref(const char *repo_dir, const char *revision, const char *commit) {
    char *old = NULL;
    if (mg_hub_read_ref(repo_dir, revision, &old) == MG_OK && !strcmp(old, commit)) {
        free(old);
        return MG_OK;
    }
    free(old);
    mg_clear_error();
    char *path = ref_path(repo_dir, revision);
    if (!path)
        return MG_ERR_NOMEM;
    char *slash = strrchr(path, '/');
    *slash = 0;
    mg_status st = mg_hub_mkdirs(path);
    *slash = '/';
    if (st == MG_OK) {
        mg_atomic_file af;
        st = mg_atomic_open(&af, path, 1);
        if (st == MG_OK) {
            fputs(commit, af.fp);
            st = mg_atomic_commit(&af, 1);
        }
    }
    free(path);
    return st;
}

/* ---- snapshots ---------------------------------------------------------------- */

static void add_missing(char *missing, size_t size, const char *name) {
    size_t n = strlen(missing);
    if (n + 1 >= size)
        return;
    snprintf(missing + n, size - n, "%s%s", n ? ", " : "", name);
}

static int snapshot_has(const char *snapshot, const char *name) {
    char *p = mg_path_join(snapshot, name);
    struct stat st;
    int ok = p && stat(p, &st) == 0 && S_ISREG(st.st_mode); /* follows the symlink into blobs/ */
    free(p);
    return ok;
}

/* Every distinct shard the index lists must be present. */
static int count_missing_shards(const char *snapshot, char *missing, size_t size) {
    char *path = mg_path_join(snapshot, "model.safetensors.index.json");
    char *text = NULL;
    size_t len = 0;
    if (!path || mg_file_read_all(path, &text, &len) != MG_OK) {
        free(path);
        add_missing(missing, size, "model.safetensors.index.json (unreadable)");
        return 1;
    }
    free(path);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        add_missing(missing, size, "a valid model.safetensors.index.json");
        return 1;
    }
    int n = 0;
    for (cJSON *it = wm->child; it; it = it->next) {
        if (!cJSON_IsString(it))
            continue;
        int seen = 0;
        for (cJSON *b = wm->child; b != it && !seen; b = b->next)
            seen = cJSON_IsString(b) && !strcmp(b->valuestring, it->valuestring);
        if (!seen && (strchr(it->valuestring, '/') || !snapshot_has(snapshot, it->valuestring))) {
            add_missing(missing, size, it->valuestring);
            n++;
        }
    }
    cJSON_Delete(root);
    return n;
}

int mg_hub_snapshot_missing(const char *snapshot, char *missing, size_t missing_size) {
    if (missing_size)
        missing[0] = 0;
    int n = 0;
    static const char *required[] = {"config.json", "spiece.model"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!snapshot_has(snapshot, required[i])) {
            add_missing(missing, missing_size, required[i]);
            n++;
        }
    if (snapshot_has(snapshot, "model.safetensors.index.json"))
        n += count_missing_shards(snapshot, missing, missing_size);
    else if (!snapshot_has(snapshot, "model.safetensors")) {
        add_missing(missing, missing_size, "model.safetensors");
        n++;
    }
    return n;
}

mg_status mg_hub_find_cached(const char *repo_id, const mg_download_params *opt, char **snapshot) {
    *snapshot = NULL;
    const char *revision = opt && opt->revision && opt->revision[0] ? opt->revision : "main";
    char *cache = NULL, *repo = NULL, *commit = NULL, *snaps = NULL, *snap = NULL;
    mg_status st = mg_hub_cache_dir(opt ? opt->cache_dir : NULL, &cache);
    if (st == MG_OK)
        st = mg_hub_repo_dir(cache, repo_id, &repo);
    if (st == MG_OK && !mg_path_is_dir(repo))
        st = mg_fail(MG_ERR_NOT_FOUND, "%s is not in the cache %s", repo_id, cache);
    if (st == MG_OK) {
        if (mg_hub_is_commit_hash(revision))
            commit = mg_strdup(revision);
        else if (mg_hub_read_ref(repo, revision, &commit) != MG_OK)
            st = mg_fail(MG_ERR_NOT_FOUND, "%s is in the cache %s but revision \"%s\" was never downloaded (no refs/%s)",
                         repo_id, cache, revision, revision);
        if (st == MG_OK && !commit)
            st = MG_ERR_NOMEM;
    }
    if (st == MG_OK) {
        snaps = mg_path_join(repo, "snapshots");
        snap = snaps ? mg_path_join(snaps, commit) : NULL;
        if (!snap)
            st = MG_ERR_NOMEM;
        else if (!mg_path_is_dir(snap))
            st = mg_fail(MG_ERR_NOT_FOUND, "%s (revision %s) is not in the cache %s: no snapshot folder %s", repo_id,
                         revision, cache, snap);
    }
    if (st == MG_OK) {
        char missing[512];
        if (mg_hub_snapshot_missing(snap, missing, sizeof missing) > 0)
            st = mg_fail(MG_ERR_NOT_FOUND, "the cached snapshot %s of %s is incomplete (missing: %s)", snap, repo_id,
                         missing);
    }
    if (st == MG_OK) {
        *snapshot = snap;
        snap = NULL;
    }
    free(cache);
    free(repo);
    free(commit);
    free(snaps);
    free(snap);
    return st;
}

/* A snapshot may lack generation_config.json because another tool fetched only
 * some files; the hub cache records files the hub does not have in .no_exist/. */
static int lacks_generation_config(const char *snapshot) {
    if (snapshot_has(snapshot, "generation_config.json"))
        return 0;
    /* snapshot = <repo>/snapshots/<commit> -> <repo>/.no_exist/<commit>/generation_config.json */
    const char *commit = strrchr(snapshot, '/');
    size_t repo_len = (size_t)(commit - snapshot) - strlen("/snapshots");
    char *marker = mg_malloc(strlen(snapshot) + 64, "a path");
    if (!marker)
        return 0;
    snprintf(marker, strlen(snapshot) + 64, "%.*s/.no_exist%s/generation_config.json", (int)repo_len, snapshot, commit);
    int lacks = !mg_path_exists(marker);
    free(marker);
    return lacks;
}

/* ---- mg_model_load's entry point -------------------------------------------------- */

/* `st`, whose message says `path` is not a cached hub model, with "there is no folder
 * PATH here (ORG has no NAME)" in front when ORG is a folder here: then PATH was most
 * likely a mistyped local folder, not a repo id. */
static mg_status local_folder_hint(mg_status st, const char *path) {
    char org[256];
    size_t n = strcspn(path, "/");
    if (n >= sizeof org || !path[n])
        return st;
    snprintf(org, sizeof org, "%.*s", (int)n, path);
    if (!mg_path_is_dir(org))
        return st;
    return mg_fail_context(st, "there is no folder %s here (%s has no %s), and as a hub name", path, org, path + n + 1);
}

/* The cached (or downloaded) snapshot of repo id `path` at `revision` (NULL: the
 * params' revision, else main). */
static mg_status resolve_repo(const char *path, const char *revision, const mg_model_params *params, char **resolved) {
    mg_download_params opt;
    memset(&opt, 0, sizeof opt);
    opt.endpoint = params ? params->hub_endpoint : NULL;
    opt.revision = revision                                            ? revision
                   : params && params->revision && params->revision[0] ? params->revision
                                                                       : "main";
    const char *offline_var = mg_hub_env_offline_var();
    int env_offline = offline_var != NULL;
    opt.offline = (params && params->offline) || env_offline;
    if (params) {
        opt.progress = params->download_progress;
        opt.user = params->download_user;
    }

    char *snap = NULL;
    mg_status st = mg_hub_find_cached(path, &opt, &snap);
    if (st == MG_OK && (opt.offline || !lacks_generation_config(snap))) {
        *resolved = snap;
        return MG_OK;
    }
    free(snap);
    if (st != MG_OK && st != MG_ERR_NOT_FOUND)
        return st;
    if (opt.offline) {
        char why[600], how[120] = "offline was requested", unset[120] = "";
        snprintf(why, sizeof why, "%s", mg_last_error());
        if (env_offline) {
            snprintf(how, sizeof how, "%s is set", offline_var);
            snprintf(unset, sizeof unset, " (unset %s to let musicgen download it)", offline_var);
        }
        return local_folder_hint(
            mg_fail(MG_ERR_NOT_FOUND,
                    "model %s (revision %s) is not cached and offline mode is on (%s): %s. Download it first with "
                    "`musicgen download %s%s%s`%s, or pass a local checkpoint folder to -m",
                    path, opt.revision, how, why, path, strcmp(opt.revision, "main") ? " -r " : "",
                    strcmp(opt.revision, "main") ? opt.revision : "", unset),
            path);
    }
    mg_log_info("%s is not cached; downloading it from the Hugging Face hub", path);
    mg_download_result r;
    st = mg_hub_download(path, &opt, &r);
    if (st == MG_ERR_NOT_FOUND)
        return mg_fail_context(st, "there is no file or folder %s here, so it was looked up on the hub", path);
    if (st == MG_ERR_NETWORK)
        return local_folder_hint(mg_fail_context(st, "model %s is not cached and cannot be downloaded", path), path);
    if (st != MG_OK)
        return st;
    *resolved = r.snapshot;
    r.snapshot = NULL;
    mg_download_result_free(&r);
    return MG_OK;
}

mg_status mg_hub_resolve_model(const char *path, const mg_model_params *params, char **resolved) {
    *resolved = NULL;
    if (!path || mg_path_exists(path))
        return MG_OK;
    if (mg_hub_is_repo_id(path))
        return resolve_repo(path, NULL, params, resolved);
    /* ORG/NAME@REVISION, as huggingface_hub's file system paths write it: a branch,
     * tag or commit (what `musicgen download -r` fetched). */
    const char *at = strchr(path, '@');
    if (!at || !mg_hub_valid_revision(at + 1))
        return MG_OK;
    const char *revision;
    char *repo = mg_hub_split_revision(path, &revision);
    if (!repo)
        return MG_ERR_NOMEM;
    mg_status st = mg_hub_is_repo_id(repo) ? resolve_repo(repo, revision, params, resolved) : MG_OK;
    free(repo);
    return st;
}
