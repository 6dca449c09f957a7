/* status.c — the thread-local error message behind mg_last_error() and the status names. */
#include "base/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char g_error[1024];

mg_status mg_fail(mg_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return code;
}

mg_status mg_fail_context(mg_status code, const char *fmt, ...) {
    char prefix[512], old[sizeof g_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_error, sizeof old);
    /* "prefix: old", cut to fit g_error (appended by hand: snprintf("%s: %s") makes gcc
     * warn about the intended truncation on some targets). */
    size_t n = strlen(prefix), room = sizeof g_error - 1;
    if (n > room)
        n = room;
    memcpy(g_error, prefix, n);
    if (old[0] && n + 2 <= room) {
        size_t k = strlen(old);
        memcpy(g_error + n, ": ", 2);
        n += 2;
        if (k > room - n)
            k = room - n;
        memcpy(g_error + n, old, k);
        n += k;
    }
    g_error[n] = 0;
    return code;
}

void mg_clear_error(void) { g_error[0] = 0; }

MG_API const char *mg_last_error(void) {
    return g_error[0] ? g_error : "no error";
}

MG_API const char *mg_status_string(mg_status st) {
    switch (st) {
    case MG_OK: return "ok";
    case MG_ERR_INVALID_ARG: return "invalid argument";
    case MG_ERR_IO: return "I/O error";
    case MG_ERR_FORMAT: return "malformed input";
    case MG_ERR_NOMEM: return "out of memory";
    case MG_ERR_CANCELLED: return "cancelled";
    case MG_ERR_NETWORK: return "network error";
    case MG_ERR_NOT_FOUND: return "not found";
    case MG_ERR_UNSUPPORTED: return "unsupported";
    case MG_ERR_EXISTS: return "already exists";
    case MG_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

#ifdef MG_FAULT_INJECTION
/* Sanitizer test builds only (CMake defines this with MG_SANITIZE): FAILMALLOC_N=N makes
 * the N-th allocation of our code fail, and FAILMALLOC_COUNT prints how many there were
 * at exit, so tests/fault/alloc_failures.py can fail each in turn while LeakSanitizer
 * checks that every error path frees what it allocated (the Release build's test
 * preloads tests/fault/failmalloc.c instead, which fails every caller's allocations but
 * cannot run under a sanitizer). "Our code" is every object CMake compiles for the
 * library, the CLI, the tools and the tests: that build links them with
 * -Wl,--wrap=malloc,... (MG_FAULT_WRAP in CMakeLists.txt), which sends their calls of
 * the functions below to the __wrap_ versions here, and the __real_ names to the
 * sanitizer's own functions; calls made inside other libraries (libc's stdio, cJSON,
 * libsndfile, libcurl, OpenSSL) are neither counted nor failed. mg_malloc / mg_calloc
 * call malloc / calloc, so they are counted once, by the wrappers. */
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

static atomic_long g_alloc_calls;
static atomic_long g_alloc_fail_at = -2; /* -2: not read yet; -1: never */

static void report_alloc_calls(void) {
    char line[64];
    int n = snprintf(line, sizeof line, "FAILMALLOC total %ld\n", (long)atomic_load(&g_alloc_calls));
    if (n > 0 && write(2, line, (size_t)n) < 0) {
    }
}

/* Counts one allocation; 1 if it is the one FAILMALLOC_N names (errno is then ENOMEM,
 * as after a real failure). */
static int fail_this_alloc(void) {
    long at = atomic_load(&g_alloc_fail_at);
    if (at == -2) {
        const char *n = getenv("FAILMALLOC_N");
        long want = n ? atol(n) : -1;
        if (atomic_compare_exchange_strong(&g_alloc_fail_at, &at, want) && getenv("FAILMALLOC_COUNT"))
            atexit(report_alloc_calls);
        at = atomic_load(&g_alloc_fail_at);
    }
    if (atomic_fetch_add(&g_alloc_calls, 1) + 1 != at)
        return 0;
    errno = ENOMEM;
    return 1;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t alignment, size_t n);
void *__real_aligned_alloc(size_t alignment, size_t n);
char *__real_strdup(const char *s);
char *__real_realpath(const char *path, char *resolved);

void *__wrap_malloc(size_t n) { return fail_this_alloc() ? NULL : __real_malloc(n); }

void *__wrap_calloc(size_t count, size_t size) { return fail_this_alloc() ? NULL : __real_calloc(count, size); }

/* A failed realloc leaves the block as it was, as the real one does. */
void *__wrap_realloc(void *p, size_t n) { return fail_this_alloc() ? NULL : __real_realloc(p, n); }

int __wrap_posix_memalign(void **p, size_t alignment, size_t n) {
    return fail_this_alloc() ? ENOMEM : __real_posix_memalign(p, alignment, n);
}

void *__wrap_aligned_alloc(size_t alignment, size_t n) {
    return fail_this_alloc() ? NULL : __real_aligned_alloc(alignment, n);
}

char *__wrap_strdup(const char *s) { return fail_this_alloc() ? NULL : __real_strdup(s); }

/* realpath allocates its result only when given no buffer. */
char *__wrap_realpath(const char *path, char *resolved) {
    return !resolved && fail_this_alloc() ? NULL : __real_realpath(path, resolved);
}
#endif

void *mg_malloc(size_t n, const char *what) {
    void *p = malloc(n ? n : 1);
    if (!p)
        mg_fail(MG_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what ? what : "a buffer");
    return p;
}

void *mg_calloc(size_t count, size_t size, const char *what) {
    if (size && count > SIZE_MAX / size) {
        mg_fail(MG_ERR_NOMEM, "allocation size overflow for %s", what ? what : "a buffer");
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        mg_fail(MG_ERR_NOMEM, "out of memory allocating %zu bytes for %s", count * size, what ? what : "a buffer");
    return p;
}

int mg_str_ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

char *mg_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = mg_malloc(n, "a string");
    if (p)
        memcpy(p, s, n);
    return p;
}
