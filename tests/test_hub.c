/* test_hub.c — unit tests of the hub cache logic (src/io/hub.h) without network:
 * repo id / revision validation, where the cache is (the huggingface_hub environment
 * variables), the models--ORG--NAME folder name, refs/ reading and writing, snapshot
 * completeness (single file and sharded), resolving a repo id from a hand-built cache,
 * offline errors, sha256, and loading libcurl on demand (src/io/curl_api.h). Downloads
 * are tested by tests/cli/test_download.py. */
#include "test.h"
#include "base/file.h"
#include "io/curl_api.h"
#include "io/hub.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_tmp[256];

static void test_names(void) {
    static const char *good[] = {"facebook/musicgen-small", "a/b", "Org_1/name.v2", "x/musicgen-stereo-large"};
    static const char *bad[] = {"",      "facebook",   "/abs/path", "a/b/c",     "./x",       "a--b/c", "a/..",
                                "a/b.gguf", "-a/b",    "a/b-",      "a/.b",      "a b/c",     "a/b/",   "/a",
                                "../up", "a/b.safetensors"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(mg_hub_is_repo_id(good[i]), "\"%s\" is a repo id", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!mg_hub_is_repo_id(bad[i]), "\"%s\" is not a repo id", bad[i]);
    char longid[128];
    memset(longid, 'a', sizeof longid);
    longid[10] = '/';
    longid[97] = 0;
    CHECK(!mg_hub_is_repo_id(longid), "97-character ids are too long");
    longid[96] = 0;
    CHECK(mg_hub_is_repo_id(longid), "96-character ids are fine");

    CHECK(mg_hub_is_commit_hash("1a2b3c4d5e6f708192a3b4c5d6e7f80911223344"), "40 hex digits");
    CHECK(!mg_hub_is_commit_hash("1a2b3c4d5e6f708192a3b4c5d6e7f8091122334"), "39 hex digits");
    CHECK(!mg_hub_is_commit_hash("1A2B3C4D5E6F708192A3B4C5D6E7F80911223344"), "uppercase is not a hub hash");
    CHECK(!mg_hub_is_commit_hash("main"), "a branch");

    static const char *revs_ok[] = {"main", "v1.0", "refs/pr/1", "1a2b3c"};
    static const char *revs_bad[] = {"", "/x", "../x", "a/../b", "a/", "a\nb", "a//b", "."};
    for (size_t i = 0; i < sizeof revs_ok / sizeof revs_ok[0]; i++)
        CHECK(mg_hub_valid_revision(revs_ok[i]), "revision \"%s\" is valid", revs_ok[i]);
    for (size_t i = 0; i < sizeof revs_bad / sizeof revs_bad[0]; i++)
        CHECK(!mg_hub_valid_revision(revs_bad[i]), "revision \"%s\" is rejected", revs_bad[i]);
}

static void clear_env(void) {
    static const char *vars[] = {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME",
                                 "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

static void expect_cache(const char *override, const char *want, const char *what) {
    char *dir = NULL;
    CHECK_OK(mg_hub_cache_dir(override, &dir));
    CHECK(dir && !strcmp(dir, want), "%s: cache dir %s, want %s", what, dir ? dir : "(null)", want);
    free(dir);
}

static void test_cache_dir(void) {
    char *home_saved = getenv("HOME") ? mg_strdup(getenv("HOME")) : NULL;
    clear_env();
    setenv("HOME", "/home/u", 1);
    expect_cache(NULL, "/home/u/.cache/huggingface/hub", "default");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    expect_cache(NULL, "/xdg/huggingface/hub", "XDG_CACHE_HOME");
    setenv("HF_HOME", "/hfhome", 1);
    expect_cache(NULL, "/hfhome/hub", "HF_HOME");
    setenv("HF_HOME", "~/hf", 1);
    expect_cache(NULL, "/home/u/hf/hub", "HF_HOME with ~");
    setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
    expect_cache(NULL, "/legacy", "HUGGINGFACE_HUB_CACHE");
    setenv("HF_HUB_CACHE", "/hubcache", 1);
    expect_cache(NULL, "/hubcache", "HF_HUB_CACHE wins");
    setenv("HF_HUB_CACHE", "", 1);
    expect_cache(NULL, "/legacy", "an empty variable counts as unset");
    expect_cache("/explicit", "/explicit", "an explicit folder wins");

    char *repo = NULL;
    CHECK_OK(mg_hub_repo_dir("/c", "facebook/musicgen-small", &repo));
    CHECK(repo && !strcmp(repo, "/c/models--facebook--musicgen-small"), "repo folder %s", repo ? repo : "(null)");
    free(repo);
    CHECK(mg_hub_repo_dir("/c", "not a repo", &repo) == MG_ERR_INVALID_ARG && !repo, "invalid id rejected");

    clear_env();
    CHECK(!mg_hub_env_offline(), "online by default");
    static const char *on[] = {"1", "true", "YES", "On"};
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        setenv("HF_HUB_OFFLINE", on[i], 1);
        CHECK(mg_hub_env_offline(), "HF_HUB_OFFLINE=%s is offline", on[i]);
    }
    setenv("HF_HUB_OFFLINE", "0", 1);
    CHECK(!mg_hub_env_offline(), "HF_HUB_OFFLINE=0 is online");
    unsetenv("HF_HUB_OFFLINE");
    setenv("TRANSFORMERS_OFFLINE", "1", 1);
    CHECK(mg_hub_env_offline(), "TRANSFORMERS_OFFLINE=1 is offline too");
    clear_env();
    if (home_saved)
        setenv("HOME", home_saved, 1);
    free(home_saved);
}

static char *path2(const char *a, const char *b) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%s/%s", a, b);
    return buf[k];
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

/* snapshot/<name> -> ../../blobs/<name>.blob, the blob a symlink to the fixture file. */
static void add_file(const char *repo, const char *snap, const char *name, const char *source) {
    char blob[1024], target[512];
    snprintf(blob, sizeof blob, "%s/blobs/%s.blob", repo, name);
    unlink(blob);
    CHECK(symlink(source, blob) == 0, "blob %s", blob);
    snprintf(target, sizeof target, "../../blobs/%s.blob", name);
    CHECK(symlink(target, path2(snap, name)) == 0, "link %s", name);
}

static void test_refs_and_snapshots(void) {
    const char *fixture = test_ref_path("tiny-mono");
    char cache[512], repo[600], snap[700], src[1024];
    snprintf(cache, sizeof cache, "%s/cache", g_tmp);
    snprintf(repo, sizeof repo, "%s/models--t--m", cache);
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo, commit);
    CHECK_OK(mg_hub_mkdirs(snap));
    CHECK_OK(mg_hub_mkdirs(path2(repo, "blobs")));
    mg_download_params opt;
    memset(&opt, 0, sizeof opt);
    opt.cache_dir = cache;

    /* refs: absent, written, nested, tolerant of a trailing newline. */
    char *c = NULL;
    CHECK(mg_hub_read_ref(repo, "main", &c) == MG_ERR_NOT_FOUND, "no ref yet");
    CHECK(mg_hub_find_cached("t/m", &opt, &c) == MG_ERR_NOT_FOUND, "not cached without refs/main");
    CHECK(strstr(mg_last_error(), "refs/main") != NULL, "message names refs/main: %s", mg_last_error());
    CHECK_OK(mg_hub_write_ref(repo, "main", commit));
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(mg_file_read_all(path2(repo, "refs/main"), &text, &len));
    CHECK(text && !strcmp(text, commit), "refs/main holds the bare hash (got \"%s\")", text ? text : "");
    free(text);
    CHECK_OK(mg_hub_write_ref(repo, "refs/pr/1", commit));
    CHECK_OK(mg_hub_read_ref(repo, "refs/pr/1", &c));
    CHECK(c && !strcmp(c, commit), "nested ref");
    free(c);
    CHECK(write_text(path2(repo, "refs/v1"), "0123456789abcdef0123456789abcdef01234567\n"), "write refs/v1");
    CHECK_OK(mg_hub_read_ref(repo, "v1", &c));
    CHECK(c && !strcmp(c, commit), "ref with a trailing newline");
    free(c);

    /* An empty snapshot lacks everything; files appear one by one. */
    char missing[512];
    CHECK(mg_hub_snapshot_missing(snap, missing, sizeof missing) == 3, "3 missing: %s", missing);
    CHECK(mg_hub_find_cached("t/m", &opt, &c) == MG_ERR_NOT_FOUND && strstr(mg_last_error(), "spiece.model"),
          "incomplete snapshot: %s", mg_last_error());
    snprintf(src, sizeof src, "%s/config.json", fixture);
    add_file(repo, snap, "config.json", src);
    snprintf(src, sizeof src, "%s/spiece.model", fixture);
    add_file(repo, snap, "spiece.model", src);
    CHECK(mg_hub_snapshot_missing(snap, missing, sizeof missing) == 1 && !strcmp(missing, "model.safetensors"),
          "only the weights missing: %s", missing);
    snprintf(src, sizeof src, "%s/model.safetensors", fixture);
    add_file(repo, snap, "model.safetensors", src);
    CHECK(mg_hub_snapshot_missing(snap, missing, sizeof missing) == 0, "complete: %s", missing);

    char *found = NULL;
    CHECK_OK(mg_hub_find_cached("t/m", &opt, &found));
    CHECK(found && !strcmp(found, snap), "main resolves to %s (got %s)", snap, found ? found : "(null)");
    free(found);
    opt.revision = commit; /* a commit hash names its snapshot directly */
    CHECK_OK(mg_hub_find_cached("t/m", &opt, &found));
    free(found);
    opt.revision = "v2";
    CHECK(mg_hub_find_cached("t/m", &opt, &found) == MG_ERR_NOT_FOUND && !found, "unknown revision");
    opt.revision = NULL;

    /* A dangling link (blob deleted) counts as missing. */
    unlink(path2(repo, "blobs/model.safetensors.blob"));
    CHECK(mg_hub_snapshot_missing(snap, missing, sizeof missing) == 1, "dangling link is missing: %s", missing);
    CHECK(symlink(src, path2(repo, "blobs/model.safetensors.blob")) == 0, "restore blob");

    /* Sharded: the index wins over model.safetensors; every shard must exist. */
    CHECK(write_text(path2(snap, "model.safetensors.index.json"),
                     "{\"weight_map\": {\"a\": \"model-1.safetensors\", \"b\": \"model-2.safetensors\", "
                     "\"c\": \"model-1.safetensors\"}}"),
          "write index");
    CHECK(mg_hub_snapshot_missing(snap, missing, sizeof missing) == 2, "2 shards missing: %s", missing);
    CHECK(strstr(missing, "model-2.safetensors") != NULL, "names the shard: %s", missing);
    add_file(repo, snap, "model-1.safetensors", src);
    add_file(repo, snap, "model-2.safetensors", src);
    CHECK(mg_hub_snapshot_missing(snap, missing, sizeof missing) == 0, "all shards there: %s", missing);
    unlink(path2(snap, "model-1.safetensors"));
    unlink(path2(snap, "model-2.safetensors"));
    unlink(path2(snap, "model.safetensors.index.json"));
}

static void test_resolve(void) {
    char cache[512];
    snprintf(cache, sizeof cache, "%s/cache", g_tmp);
    clear_env();
    setenv("HF_HUB_CACHE", cache, 1);
    mg_model_params mp = mg_model_default_params();
    mp.offline = 1;
    char *r = (char *)"unset";
    CHECK_OK(mg_hub_resolve_model(test_ref_path("tiny-mono"), &mp, &r));
    CHECK(r == NULL, "an existing folder is used as given");
    r = (char *)"unset";
    CHECK_OK(mg_hub_resolve_model("model.gguf", &mp, &r));
    CHECK(r == NULL, "a non repo id is left to the checkpoint loader");
    CHECK_OK(mg_hub_resolve_model("t/m", &mp, &r));
    CHECK(r && strstr(r, "models--t--m/snapshots/0123456789abcdef0123456789abcdef01234567"), "t/m resolves: %s",
          r ? r : "(null)");
    free(r);
    CHECK(mg_hub_resolve_model("t/absent", &mp, &r) == MG_ERR_NOT_FOUND && !r, "absent offline fails");
    CHECK(strstr(mg_last_error(), "musicgen download t/absent") && strstr(mg_last_error(), "not cached"),
          "offline message says how to get it: %s", mg_last_error());
    /* HF_HUB_OFFLINE has the same effect as the parameter. */
    mp.offline = 0;
    setenv("HF_HUB_OFFLINE", "1", 1);
    CHECK(mg_hub_resolve_model("t/absent", &mp, &r) == MG_ERR_NOT_FOUND && strstr(mg_last_error(), "HF_HUB_OFFLINE"),
          "env offline: %s", mg_last_error());
    mg_download_result res;
    CHECK(mg_hub_download("t/m", NULL, &res) == MG_ERR_NETWORK && strstr(mg_last_error(), "offline"),
          "download refuses offline: %s", mg_last_error());
    clear_env();

    /* The whole loader on a cached repo id. */
    setenv("HF_HUB_CACHE", cache, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    mg_model *m = NULL;
    CHECK_OK(mg_model_load("t/m", NULL, &m));
    if (m) {
        mg_model_info in;
        mg_model_get_info(m, &in);
        CHECK(in.n_codebooks > 0 && in.sample_rate > 0, "the cached model loads");
        mg_model_free(m);
    }
    clear_env();
}

static void test_sha256(void) {
    char hex[65];
    CHECK_OK(mg_sha256_buffer("abc", 3, hex));
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256(abc) = %s", hex);
    CHECK_OK(mg_sha256_buffer("", 0, hex));
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256('') = %s", hex);
    char path[512];
    snprintf(path, sizeof path, "%s/abc.txt", g_tmp);
    CHECK(write_text(path, "abc"), "write");
    CHECK_OK(mg_sha256_file(path, hex));
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "file sha256 = %s", hex);
    unlink(path);
    CHECK(mg_sha256_file(path, hex) == MG_ERR_IO, "missing file");
}

/* libcurl is loaded on demand: the build's own copy loads with every function, a
 * missing one gives an error that says what to install, and the library itself does
 * not link libcurl (it would otherwise already be mapped before any download). */
static void test_curl_loading(void) {
    static const char *const missing[] = {"libmg-no-such-curl.so.4", NULL};
    mg_curl_api api;
    void *handle = (void *)1;
    CHECK(mg_curl_api_load(missing, &api, &handle) == MG_ERR_UNSUPPORTED, "a missing libcurl is MG_ERR_UNSUPPORTED");
    CHECK(handle == NULL && api.easy_init == NULL, "nothing is loaded from a missing libcurl");
    const char *msg = mg_last_error();
    CHECK(strstr(msg, "libcurl") && strstr(msg, "libmg-no-such-curl.so.4") && strstr(msg, "apt-get install libcurl4"),
          "the error names the library, why and what to install: %s", msg);

    CHECK(dlopen("libcurl.so.4", RTLD_NOW | RTLD_NOLOAD) == NULL, "libcurl is not mapped before the first download");
    const mg_curl_api *got = NULL;
    CHECK_OK(mg_curl_api_get(&got));
    const mg_curl_api *again = NULL;
    CHECK_OK(mg_curl_api_get(&again));
    CHECK(got && got == again, "libcurl is loaded once per process");
    if (!got)
        return;
    void *const *fn = (void *const *)got;
    for (size_t i = 0; i < sizeof *got / sizeof(void *); i++)
        CHECK(fn[i] != NULL, "libcurl function %zu was found", i);
    CURL *c = got->easy_init();
    CHECK(c != NULL, "curl_easy_init through the loaded library");
    if (c) {
        char *e = got->easy_escape(c, "a b/c", 0);
        CHECK(e && !strcmp(e, "a%20b%2Fc"), "curl_easy_escape gives %s", e ? e : "(null)");
        got->free(e);
        got->easy_cleanup(c);
    }
    CHECK(strlen(got->version_info(CURLVERSION_NOW)->version) > 0, "curl_version_info");
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/mg_test_hub_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_names();
    test_cache_dir();
    test_refs_and_snapshots();
    test_resolve();
    test_sha256();
    test_curl_loading();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_tmp);
    return test_finish("test_hub");
}
