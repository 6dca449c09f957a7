/* status.h — error reporting inside the library.
 *
 * Every fallible internal function returns an mg_status (0 = MG_OK). On failure it
 * records a one-line human message in a thread-local buffer with mg_fail(), naming
 * the file / tensor / parameter at fault and, where possible, what to do about it.
 * The public API exposes that buffer as mg_last_error(). Nothing here prints,
 * exits or aborts.
 */
#ifndef MG_BASE_STATUS_H
#define MG_BASE_STATUS_H

#include "musicgen.h"

#if defined(__GNUC__)
#define MG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MG_PRINTF(a, b)
#endif

/* Record `fmt` as the current thread's error message and return `code`. */
mg_status mg_fail(mg_status code, const char *fmt, ...) MG_PRINTF(2, 3);

/* Prefix the current message with more context ("loading X: <old message>"). */
mg_status mg_fail_context(mg_status code, const char *fmt, ...) MG_PRINTF(2, 3);

/* Clear the current thread's error message. */
void mg_clear_error(void);

#define MG_TRY(expr)                  \
    do {                              \
        mg_status mg_try_st_ = (expr); \
        if (mg_try_st_ != MG_OK)      \
            return mg_try_st_;        \
    } while (0)

/* Checked allocation helpers: return NULL and set MG_ERR_NOMEM message on failure. */
void *mg_malloc(size_t n, const char *what);
void *mg_calloc(size_t count, size_t size, const char *what);
char *mg_strdup(const char *s);
/* 1 if s ends with suffix. */
int mg_str_ends_with(const char *s, const char *suffix);

#endif
