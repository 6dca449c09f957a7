/* hub_http.h — the HTTP half of hub downloads, shared by hub_http.c (talking to the
 * hub with libcurl: one session per download, HEAD for what a file is, GET of one
 * blob with resume) and hub_download.c (which files, where they go in the cache).
 * Internal to src/io; the entry point is mg_hub_download in hub.h. */
#ifndef MG_IO_HUB_HTTP_H
#define MG_IO_HUB_HTTP_H

#include "io/curl_api.h"
#include "io/hub.h"

#include <stdint.h>

enum { MG_HUB_MAX_ATTEMPTS = 6, MG_HUB_MAX_REDIRECTS = 8 };

/* ---- one HTTP response ------------------------------------------------------------ */

typedef struct hub_http {
    long code;
    char commit[128];        /* X-Repo-Commit */
    char etag[256];          /* ETag */
    char linked_etag[256];   /* X-Linked-Etag */
    int64_t linked_size;     /* X-Linked-Size, -1 if absent */
    int64_t content_length;  /* Content-Length, -1 if absent */
    char location[2048];     /* Location */
    char error_code[64];     /* X-Error-Code (RepositoryNotFound, EntryNotFound, ...) */
    char error_message[256]; /* X-Error-Message */
    int64_t range_start;     /* start of Content-Range, -1 if absent */
} hub_http;

/* ---- a download session ------------------------------------------------------------ */

typedef struct hub_file {
    char *name;
    char etag[256];
    int64_t size;    /* -1 if the server did not say */
    int verify;      /* the etag is the LFS sha256 of the content */
    int cached;      /* blobs/<etag> is already there */
} hub_file;

typedef struct hub_session {
    const char *repo_id;
    const char *revision;
    const mg_download_params *opt;
    char *endpoint;  /* no trailing '/' */
    char *cache, *repo_dir, *blobs_dir, *locks_dir;
    char *commit;
    const mg_curl_api *api; /* libcurl, loaded by the session's start */
    CURL *curl;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    /* files */
    hub_file *files;
    int n_files;
    /* progress */
    int report;          /* report progress for the current transfer */
    mg_download_progress prog;
    int64_t done_before; /* bytes of finished files in prog.done */
    int64_t file_base;   /* bytes of the current file on disk when its transfer began */
    int64_t received;    /* bytes received over the network */
    int fetched;         /* blobs fetched (not found in the cache) */
    int cancelled;
} hub_session;

/* Session: endpoint, cache paths, curl handle and headers (User-Agent, token). */
mg_status mg_hub_session_init(hub_session *s, const char *repo_id, const mg_download_params *opt);
void mg_hub_session_free(hub_session *s);

/* HEAD the resolve URL of `file` at `revision` (CDN redirects not followed). On MG_OK,
 * h->code is the final HTTP status, which the caller interprets. */
mg_status mg_hub_head(hub_session *s, const char *revision, const char *file, hub_http *h);
/* Fill f (etag, size, verify) from a successful HEAD; fixes or checks the commit. */
mg_status mg_hub_describe(hub_session *s, const hub_http *h, hub_file *f);
/* Does the answer say the repo itself is missing (not just one file)? */
int mg_hub_repo_missing(const hub_http *h, int first_file);
/* An HTTP answer other than success as a message that says what to do. */
mg_status mg_hub_http_error(hub_session *s, const hub_http *h, const char *file, int first_file);

/* One GET of the rest of `inc` (the .incomplete file of f). Returns MG_OK when the body
 * ended normally; *again = 1 if the attempt should be repeated (dropped connection,
 * 5xx, bad range); *progressed = 1 if bytes arrived. */
mg_status mg_hub_get_once(hub_session *s, const hub_file *f, const char *inc, int first_file, int *again,
                          int *progressed);

/* Calls the progress callback if reporting is on; 1 if it asked to cancel. */
int mg_hub_report(hub_session *s);
/* Asks the progress callback (with `waiting` set, no new bytes) whether to cancel,
 * whether or not reporting is on; 1 if it did, now or before. */
int mg_hub_poll_cancel(hub_session *s);
/* The one error every cancelled step of a download returns. */
mg_status mg_hub_cancelled(const hub_session *s);
/* One slice of a wait that can be cancelled: asks mg_hub_poll_cancel, then sleeps
 * 0.1 s; 1 (without sleeping) if cancelled. */
int mg_hub_wait_tick(hub_session *s);
/* Sleeps before retry number `attempt` (0.5 s, 1 s, 2 s, ... at most 16 s), asking
 * mg_hub_poll_cancel every 0.1 s; 1 if cancelled. */
int mg_hub_backoff(hub_session *s, int attempt);
/* A name usable as one path component (commit ids, etags, shard names). */
int mg_hub_safe_name(const char *s);
/* Size of a regular file, -1 if there is none. */
int64_t mg_hub_file_size(const char *path);

#endif
