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
