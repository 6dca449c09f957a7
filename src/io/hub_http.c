/* hub_http.c — talking to the Hugging Face hub with libcurl for hub_download.c
 * (see hub_http.h).
 *
 * Follows huggingface_hub's file_download.py: for every file a HEAD request on
 * {endpoint}/{repo}/resolve/{revision}/{file} WITHOUT following the redirect gives
 * the commit (X-Repo-Commit), the etag (X-Linked-Etag for LFS files, which the hub
 * answers with a 302 to its CDN, else ETag; W/ and quotes stripped) and the size
 * (X-Linked-Size, else Content-Length). The GET then follows redirects and appends to
 * blobs/<etag>.incomplete (resumed with Range after a dropped connection or an earlier
 * run). Does not print: progress goes to the session's callback. */
#include "io/hub_http.h"
#include "base/file.h"
#include "io/curl_api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MG_VERSION /* set by the build (CMakeLists.txt); other builds, e.g. fuzz/, leave it out */
#define MG_VERSION "unknown"
#endif

/* ---- one HTTP response ------------------------------------------------------------ */

static void http_reset(hub_http *h) {
    memset(h, 0, sizeof *h);
    h->linked_size = h->content_length = h->range_start = -1;
}

static void copy_value(char *dst, size_t size, const char *v, size_t n) {
    if (n >= size)
        n = size - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static int64_t parse_i64(const char *v, size_t n) {
    char buf[32];
    copy_value(buf, sizeof buf, v, n);
    char *end;
    long long x = strtoll(buf, &end, 10);
    return end == buf || x < 0 ? -1 : (int64_t)x;
}

/* curl calls this per header line of every response (also the redirects it follows). */
static size_t on_header(char *line, size_t size, size_t count, void *user) {
    hub_http *h = user;
    size_t n = size * count;
    if (n >= 5 && !strncmp(line, "HTTP/", 5)) { /* status line: a new response begins */
        http_reset(h);
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return n;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vn = (size_t)(end - v);
#define IS(name) (name_len == strlen(name) && !strncasecmp(line, name, name_len))
    if (IS("X-Repo-Commit"))
        copy_value(h->commit, sizeof h->commit, v, vn);
    else if (IS("ETag"))
        copy_value(h->etag, sizeof h->etag, v, vn);
    else if (IS("X-Linked-Etag"))
        copy_value(h->linked_etag, sizeof h->linked_etag, v, vn);
    else if (IS("X-Linked-Size"))
        h->linked_size = parse_i64(v, vn);
    else if (IS("Content-Length"))
        h->content_length = parse_i64(v, vn);
    else if (IS("Location"))
        copy_value(h->location, sizeof h->location, v, vn);
    else if (IS("X-Error-Code"))
        copy_value(h->error_code, sizeof h->error_code, v, vn);
    else if (IS("X-Error-Message"))
        copy_value(h->error_message, sizeof h->error_message, v, vn);
    else if (IS("Content-Range") && vn > 6 && !strncasecmp(v, "bytes ", 6))
        h->range_start = parse_i64(v + 6, vn - 6);
#undef IS
    return n;
}

/* huggingface_hub's _normalize_etag: etag.lstrip("W/").strip('"'). */
static void normalize_etag(const char *in, char *out, size_t size) {
    while (*in == 'W' || *in == '/')
        in++;
    while (*in == '"')
        in++;
    size_t n = strlen(in);
    while (n && in[n - 1] == '"')
        n--;
    copy_value(out, size, in, n);
}

int mg_hub_safe_name(const char *s) {
    if (!s[0] || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.' || *s == '+' || *s == '='))
            return 0;
    return 1;
}

static int is_sha256_hex(const char *s) {
    if (strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* ---- session -------------------------------------------------------------------- */

void mg_hub_session_free(hub_session *s) {
    for (int i = 0; i < s->n_files; i++)
        free(s->files[i].name);
    free(s->files);
    if (s->curl)
        s->api->easy_cleanup(s->curl);
    if (s->headers)
        s->api->slist_free_all(s->headers);
    free(s->endpoint);
    free(s->cache);
    free(s->repo_dir);
    free(s->blobs_dir);
    free(s->locks_dir);
    free(s->commit);
}

mg_status mg_hub_session_init(hub_session *s, const char *repo_id, const mg_download_params *opt) {
    memset(s, 0, sizeof *s);
    s->repo_id = repo_id;
    s->opt = opt;
    s->revision = opt->revision && opt->revision[0] ? opt->revision : "main";
    if (!mg_hub_valid_revision(s->revision))
        return mg_fail(MG_ERR_INVALID_ARG, "revision \"%s\" is not a valid branch, tag or commit name", s->revision);
    const char *ep = opt->endpoint && opt->endpoint[0] ? opt->endpoint : getenv("HF_ENDPOINT");
    if (!ep || !ep[0])
        ep = MG_HUB_DEFAULT_ENDPOINT;
    if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8))
        return mg_fail(MG_ERR_INVALID_ARG, "hub endpoint \"%s\" is not an http:// or https:// URL (check the "
                       "endpoint given, --endpoint or HF_ENDPOINT)", ep);
    s->endpoint = mg_strdup(ep);
    if (!s->endpoint)
        return MG_ERR_NOMEM;
    size_t n = strlen(s->endpoint);
    while (n > 0 && s->endpoint[n - 1] == '/')
        s->endpoint[--n] = 0;

    MG_TRY(mg_hub_cache_dir(opt->cache_dir, &s->cache));
    MG_TRY(mg_hub_repo_dir(s->cache, repo_id, &s->repo_dir));
    s->blobs_dir = mg_path_join(s->repo_dir, "blobs");
    char *locks = mg_path_join(s->cache, ".locks");
    const char *folder = strrchr(s->repo_dir, '/') + 1;
    s->locks_dir = locks ? mg_path_join(locks, folder) : NULL;
    free(locks);
    if (!s->blobs_dir || !s->locks_dir)
        return MG_ERR_NOMEM;

    MG_TRY(mg_curl_api_get(&s->api));
    s->curl = s->api->easy_init();
    if (!s->curl)
        return mg_fail(MG_ERR_NETWORK, "cannot initialise libcurl");
    char ua[128];
    snprintf(ua, sizeof ua, "User-Agent: musicgen.c/%s; libcurl/%s", MG_VERSION, s->api->version_info(CURLVERSION_NOW)->version);
    s->headers = s->api->slist_append(NULL, ua);
    const char *token = opt->token && opt->token[0] ? opt->token : getenv("HF_TOKEN");
    if (!token || !token[0])
        token = getenv("HUGGING_FACE_HUB_TOKEN");
    if (s->headers && token && token[0]) {
        size_t tn = strlen(token) + 32;
        char *auth = mg_malloc(tn, "a header");
        if (!auth)
            return MG_ERR_NOMEM;
        snprintf(auth, tn, "Authorization: Bearer %s", token);
        struct curl_slist *h = s->api->slist_append(s->headers, auth);
        free(auth);
        if (h)
            s->headers = h;
        else {
            s->api->slist_free_all(s->headers);
            s->headers = NULL;
        }
    }
    if (!s->headers)
        return mg_fail(MG_ERR_NOMEM, "out of memory building HTTP headers");
    s->prog.repo_id = repo_id;
    s->prog.total = 0;
    return MG_OK;
}

static int has_token(const hub_session *s) {
    for (const struct curl_slist *h = s->headers; h; h = h->next)
        if (!strncmp(h->data, "Authorization:", 14))
            return 1;
    return 0;
}

/* {endpoint}/{repo}/resolve/{revision}/{file}, revision and file URL-escaped. */
static char *resolve_url(hub_session *s, const char *revision, const char *file) {
    char *rev = s->api->easy_escape(s->curl, revision, 0);
    char *name = s->api->easy_escape(s->curl, file, 0);
    char *url = NULL;
    if (rev && name) {
        size_t n = strlen(s->endpoint) + strlen(s->repo_id) + strlen(rev) + strlen(name) + 16;
        url = mg_malloc(n, "a URL");
        if (url)
            snprintf(url, n, "%s/%s/resolve/%s/%s", s->endpoint, s->repo_id, rev, name);
    } else
        mg_fail(MG_ERR_NOMEM, "out of memory building a URL");
    s->api->free(rev);
    s->api->free(name);
    return url;
}

/* scheme://host[:port] of the endpoint + an absolute path from a Location header. */
static char *origin_url(const hub_session *s, const char *path) {
    const char *host = strstr(s->endpoint, "://") + 3;
    const char *slash = strchr(host, '/');
    size_t origin = slash ? (size_t)(slash - s->endpoint) : strlen(s->endpoint);
    size_t n = origin + strlen(path) + 1;
    char *url = mg_malloc(n, "a URL");
    if (url)
        snprintf(url, n, "%.*s%s", (int)origin, s->endpoint, path);
    return url;
}

static void setup_request(hub_session *s, const char *url, hub_http *h) {
    CURL *c = s->curl;
    s->api->easy_reset(c);
    s->api->easy_setopt(c, CURLOPT_URL, url);
    s->api->easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
    s->api->easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    s->api->easy_setopt(c, CURLOPT_HEADERDATA, h);
    s->api->easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
    s->api->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    s->api->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A stalled connection (under 1 byte/s for a minute) counts as dropped. */
    s->api->easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    s->api->easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
#if LIBCURL_VERSION_NUM >= 0x075500
    s->api->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    s->api->easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    s->api->easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    s->api->easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    s->errbuf[0] = 0;
    http_reset(h);
}

/* ---- errors ------------------------------------------------------------------------ */

static int curl_is_unreachable(CURLcode rc) {
    return rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_COULDNT_CONNECT ||
           rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
}

/* Errors worth another try after a pause (the transfer resumes where it stopped). */
static int curl_is_transient(CURLcode rc) {
    return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_CONNECT || rc == CURLE_HTTP2 ||
           rc == CURLE_HTTP2_STREAM || rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_READ_ERROR;
}

static int http_is_transient(long code) { return code == 408 || code == 429 || code >= 500; }

static mg_status network_error(hub_session *s, CURLcode rc, const char *file) {
    const char *detail = s->errbuf[0] ? s->errbuf : s->api->easy_strerror(rc);
    if (curl_is_unreachable(rc))
        return mg_fail(MG_ERR_NETWORK,
                       "cannot reach the Hugging Face hub at %s (%s). Check the network connection or proxy "
                       "(https_proxy), or set HF_ENDPOINT to a reachable mirror; models already in the cache %s load "
                       "without network (HF_HUB_OFFLINE=1), and -m also takes a local checkpoint folder",
                       s->endpoint, detail, s->cache);
    return mg_fail(MG_ERR_NETWORK, "downloading %s of %s from %s failed: %s; run the same command again to resume",
                   file, s->repo_id, s->endpoint, detail);
}

int mg_hub_repo_missing(const hub_http *h, int first_file) {
    if (!strcmp(h->error_code, "GatedRepo"))
        return 0;
    /* The hub answers 401 for repos that do not exist (or are private) without a token,
     * and 404 with X-Error-Code "RepoNotFound" with one (huggingface_hub's
     * hf_raise_for_status keys on that name; "RepositoryNotFound" is its exception's). */
    if (!strcmp(h->error_code, "RepoNotFound") || !strcmp(h->error_code, "RepositoryNotFound") || h->code == 401)
        return 1;
    return h->code == 404 && first_file && !h->error_code[0];
}

/* An HTTP answer other than success, as a message that says what to do. */
mg_status mg_hub_http_error(hub_session *s, const hub_http *h, const char *file, int first_file) {
    /* A 401's message is about credentials ("Invalid username or password"), not the repo. */
    const char *msg = h->error_message[0] && h->code != 401 ? h->error_message : "";
    if (mg_hub_repo_missing(h, first_file))
        return mg_fail(MG_ERR_NOT_FOUND,
                       "model %s not found on %s%s%s. Known MusicGen models: " MG_HUB_KNOWN_MODELS
                       "%s",
                       s->repo_id, s->endpoint, msg[0] ? ": " : "", msg,
                       has_token(s) ? " (the token in HF_TOKEN may lack access to it)"
                                    : " (a private or gated repo needs a token: set HF_TOKEN)");
    if (h->code == 403 || !strcmp(h->error_code, "GatedRepo"))
        return mg_fail(MG_ERR_NETWORK,
                       "access to %s is restricted (HTTP %ld%s%s): accept its terms on %s/%s and set HF_TOKEN to a "
                       "token that has access",
                       s->repo_id, h->code, h->error_code[0] ? ", " : "", h->error_code, s->endpoint, s->repo_id);
    if (!strcmp(h->error_code, "RevisionNotFound"))
        return mg_fail(MG_ERR_NOT_FOUND, "revision \"%s\" not found in %s (give a branch, tag or commit hash that "
                       "exists)", s->revision, s->repo_id);
    if (h->code == 404)
        return mg_fail(MG_ERR_NOT_FOUND, "%s has no %s at revision %s on %s", s->repo_id, file,
                       s->commit ? s->commit : s->revision, s->endpoint);
    return mg_fail(MG_ERR_NETWORK, "the hub at %s answered HTTP %ld for %s of %s%s%s; try again later", s->endpoint,
                   h->code, file, s->repo_id, msg[0] ? ": " : "", msg);
}

int mg_hub_wait_tick(hub_session *s) {
    if (mg_hub_poll_cancel(s))
        return 1;
    struct timespec ts = {0, 100 * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 0;
}

int mg_hub_backoff(hub_session *s, int attempt) {
    /* 0.5 s, 1 s, 2 s, ... at most 16 s, in slices of 0.1 s. */
    long ms = 500L << (attempt < 6 ? attempt : 5);
    if (ms > 16000)
        ms = 16000;
    for (long slept = 0; slept < ms; slept += 100)
        if (mg_hub_wait_tick(s))
            return 1;
    return mg_hub_poll_cancel(s);
}

mg_status mg_hub_cancelled(const hub_session *s) {
    return mg_fail(MG_ERR_CANCELLED, "download of %s cancelled; run it again to resume", s->repo_id);
}

int mg_hub_poll_cancel(hub_session *s) {
    if (!s->cancelled && s->opt->progress) {
        s->prog.waiting = 1;
        s->cancelled = s->opt->progress(&s->prog, s->opt->user) != 0;
        s->prog.waiting = 0;
    }
    return s->cancelled;
}

/* libcurl's progress callback while HEAD requests list the files. */
static int on_head_xfer(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return mg_hub_poll_cancel(user);
}

/* ---- HEAD: what a file is ------------------------------------------------------------ */

/* HEAD the resolve URL without following the CDN redirect (its headers carry the
 * LFS sha256); relative redirects (renamed repos) are followed. On MG_OK, h->code
 * is the final HTTP status, which the caller interprets. */
mg_status mg_hub_head(hub_session *s, const char *revision, const char *file, hub_http *h) {
    char *url = resolve_url(s, revision, file);
    if (!url)
        return MG_ERR_NOMEM;
    mg_status st = MG_OK;
    int redirects = 0;
    for (int attempt = 0;; attempt++) {
        if (mg_hub_poll_cancel(s)) {
            st = mg_hub_cancelled(s);
            break;
        }
        setup_request(s, url, h);
        s->api->easy_setopt(s->curl, CURLOPT_NOBODY, 1L);
        s->api->easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
        s->api->easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_head_xfer);
        s->api->easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
        CURLcode rc = s->api->easy_perform(s->curl);
        if (rc == CURLE_ABORTED_BY_CALLBACK) {
            st = mg_hub_cancelled(s);
            break;
        }
        if (rc == CURLE_OK)
            s->api->easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &h->code);
        if (rc == CURLE_OK && h->code >= 300 && h->code < 400 && h->location[0] == '/' && !h->commit[0] &&
            redirects < MG_HUB_MAX_REDIRECTS) {
            char *next = origin_url(s, h->location);
            if (!next) {
                st = MG_ERR_NOMEM;
                break;
            }
            free(url);
            url = next;
            redirects++;
            attempt = -1;
            continue;
        }
        int retry = rc != CURLE_OK ? (curl_is_transient(rc) && !curl_is_unreachable(rc)) : http_is_transient(h->code);
        if (retry && attempt + 1 < MG_HUB_MAX_ATTEMPTS - 2) {
            mg_hub_backoff(s, attempt); /* a cancel is seen at the top of the loop */
            continue;
        }
        if (rc != CURLE_OK)
            st = network_error(s, rc, file);
        break;
    }
    free(url);
    return st;
}

/* Fill f from a successful HEAD; commit must match the session's. */
mg_status mg_hub_describe(hub_session *s, const hub_http *h, hub_file *f) {
    if (!h->commit[0])
        return mg_fail(MG_ERR_NETWORK, "%s did not send X-Repo-Commit for %s of %s: it does not look like a Hugging "
                       "Face hub (check the endpoint given, --endpoint or HF_ENDPOINT)", s->endpoint, f->name, s->repo_id);
    if (!mg_hub_safe_name(h->commit))
        return mg_fail(MG_ERR_NETWORK, "%s sent an unusable commit id \"%s\" for %s", s->endpoint, h->commit, f->name);
    if (!s->commit) {
        s->commit = mg_strdup(h->commit);
        if (!s->commit)
            return MG_ERR_NOMEM;
    } else if (strcmp(s->commit, h->commit))
        return mg_fail(MG_ERR_NETWORK, "%s answered %s of %s from commit %s, expected %s; try again", s->endpoint,
                       f->name, s->repo_id, h->commit, s->commit);
    normalize_etag(h->linked_etag[0] ? h->linked_etag : h->etag, f->etag, sizeof f->etag);
    if (!f->etag[0] || !mg_hub_safe_name(f->etag))
        return mg_fail(MG_ERR_NETWORK, "%s sent no usable ETag for %s of %s (got \"%s\"); it does not look like a "
                       "Hugging Face hub", s->endpoint, f->name, s->repo_id, h->linked_etag[0] ? h->linked_etag : h->etag);
    /* A redirect's Content-Length is that of its own (empty) body. */
    f->size = h->linked_size >= 0 ? h->linked_size : h->code < 300 ? h->content_length : -1;
    f->verify = h->linked_etag[0] && is_sha256_hex(f->etag);
    return MG_OK;
}

/* ---- GET: one blob --------------------------------------------------------------------- */

typedef struct transfer {
    hub_session *s;
    hub_http *h;
    int fd;
    const char *path;     /* the .incomplete file */
    int64_t offset;       /* bytes on disk when the request was sent */
    int started;          /* first body byte seen */
    int restart;          /* server's range answer is unusable: start over */
    int write_errno;      /* disk write failed */
    long code;
    uint8_t *buf;         /* body bytes not yet written (NULL: write as they come) */
    size_t buf_len;
} transfer;

/* curl hands the body over in pieces of at most 16 KiB; written as they come, those
 * leave the new file's page cache in scattered 4 KiB pages, and a decoder step reading
 * the weights from it straight after the download runs 5-18 % slower (base/file.h).
 * So the body is written in pieces of TRANSFER_BUFFER. */
#define TRANSFER_BUFFER ((size_t)4 << 20)

static int write_all(transfer *t, const uint8_t *data, size_t n) {
    for (size_t off = 0; off < n;) {
        ssize_t w = write(t->fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            t->write_errno = w < 0 ? errno : EIO;
            return 0;
        }
        off += (size_t)w;
    }
    return 1;
}

static int flush_body(transfer *t) {
    int ok = t->write_errno == 0 && write_all(t, t->buf, t->buf_len);
    t->buf_len = 0;
    return ok;
}

static size_t on_body(char *data, size_t size, size_t count, void *user) {
    transfer *t = user;
    size_t n = size * count;
    if (!t->started) {
        t->started = 1;
        t->s->api->easy_getinfo(t->s->curl, CURLINFO_RESPONSE_CODE, &t->code);
        if (t->code == 200 && t->offset > 0) {
            /* The server ignored the Range: keep nothing of the old part. */
            if (ftruncate(t->fd, 0) != 0) {
                t->write_errno = errno;
                return 0;
            }
            t->offset = 0;
            t->s->file_base = 0;
        } else if (t->code == 206 && t->h->range_start != t->offset) {
            t->restart = 1;
            return 0;
        }
    }
    if (t->code != 200 && t->code != 206)
        return n; /* an error page: not part of the file */
    if (!t->buf) {
        if (!write_all(t, (const uint8_t *)data, n))
            return 0;
    } else {
        if (t->buf_len + n > TRANSFER_BUFFER && !flush_body(t))
            return 0;
        if (n > TRANSFER_BUFFER) {
            if (!write_all(t, (const uint8_t *)data, n))
                return 0;
        } else {
            memcpy(t->buf + t->buf_len, data, n);
            t->buf_len += n;
        }
    }
    t->s->received += (int64_t)n;
    return n;
}

int mg_hub_report(hub_session *s) {
    if (!s->report || !s->opt->progress)
        return 0;
    s->prog.received = s->received;
    if (s->opt->progress(&s->prog, s->opt->user)) {
        s->cancelled = 1;
        return 1;
    }
    return 0;
}

static int on_xfer(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    hub_session *s = user;
    (void)dltotal;
    (void)ultotal;
    (void)ulnow;
    s->prog.file_done = s->file_base + (int64_t)dlnow;
    s->prog.done = s->done_before + s->prog.file_done;
    return mg_hub_report(s);
}

int64_t mg_hub_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
}

/* One GET of the rest of `inc`. Returns MG_OK when the body ended normally;
 * *again = 1 if the attempt should be repeated (dropped connection, 5xx, bad range). */
mg_status mg_hub_get_once(hub_session *s, const hub_file *f, const char *inc, int first_file, int *again,
                          int *progressed) {
    *again = 0;
    *progressed = 0;
    int64_t offset = mg_hub_file_size(inc);
    if (offset < 0)
        offset = 0;
    if (f->size >= 0 && offset > f->size) {
        if (truncate(inc, 0) != 0)
            return mg_fail(MG_ERR_IO, "cannot truncate %s: %s", inc, strerror(errno));
        offset = 0;
    }
    if (f->size >= 0 && offset == f->size)
        return MG_OK; /* complete already (an earlier run stopped before the rename) */
    int fd = open(inc, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0)
        return mg_fail(MG_ERR_IO, "cannot create %s: %s", inc, strerror(errno));
    char *url = resolve_url(s, s->commit, f->name);
    if (!url) {
        close(fd);
        return MG_ERR_NOMEM;
    }
    hub_http h;
    transfer t = {.s = s, .h = &h, .fd = fd, .path = inc, .offset = offset, .buf = malloc(TRANSFER_BUFFER)};
    setup_request(s, url, &h);
    s->api->easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 1L);
    s->api->easy_setopt(s->curl, CURLOPT_MAXREDIRS, (long)MG_HUB_MAX_REDIRECTS);
    s->api->easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
    s->api->easy_setopt(s->curl, CURLOPT_WRITEDATA, &t);
    s->api->easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
    s->api->easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_xfer);
    s->api->easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
    if (offset > 0)
        s->api->easy_setopt(s->curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)offset);
    s->file_base = offset;
    int64_t received_before = s->received;
    CURLcode rc = s->api->easy_perform(s->curl);
    long code = 0;
    s->api->easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    free(url);
    if (t.buf_len) /* what arrived is kept even if the transfer broke off: a resume continues it */
        flush_body(&t);
    free(t.buf);
    int close_err = close(fd) != 0 ? errno : 0;
    *progressed = s->received > received_before;

    if (t.write_errno || close_err)
        return mg_fail(MG_ERR_IO, "cannot write %s: %s (free some disk space or set HF_HUB_CACHE to another disk)",
                       inc, strerror(t.write_errno ? t.write_errno : close_err));
    if (rc == CURLE_ABORTED_BY_CALLBACK || s->cancelled)
        return mg_hub_cancelled(s);
    if (t.restart || (rc == CURLE_OK && code == 416)) {
        /* The server cannot continue this part: start the file over. */
        if (truncate(inc, 0) != 0)
            return mg_fail(MG_ERR_IO, "cannot truncate %s: %s", inc, strerror(errno));
        *again = 1;
        return MG_OK;
    }
    if (rc == CURLE_RANGE_ERROR) {
        if (truncate(inc, 0) != 0)
            return mg_fail(MG_ERR_IO, "cannot truncate %s: %s", inc, strerror(errno));
        *again = 1;
        return MG_OK;
    }
    if (rc != CURLE_OK) {
        if (curl_is_transient(rc)) {
            *again = 1;
            return network_error(s, rc, f->name);
        }
        return network_error(s, rc, f->name);
    }
    if (code != 200 && code != 206) {
        if (http_is_transient(code))
            *again = 1;
        return mg_hub_http_error(s, &h, f->name, first_file);
    }
    int64_t got = mg_hub_file_size(inc);
    if (f->size >= 0 && got != f->size) {
        /* Connection closed early without curl noticing (no Content-Length). */
        *again = 1;
        return mg_fail(MG_ERR_NETWORK, "%s of %s: connection closed after %lld of %lld bytes", f->name, s->repo_id,
                       (long long)got, (long long)f->size);
    }
    return MG_OK;
}
