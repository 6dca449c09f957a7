/* failmalloc.c — an LD_PRELOAD library that makes one allocation fail, for
 * tests/fault/alloc_failures.py: with FAILMALLOC_N=N the N-th call (counted from
 * process start, all threads) of malloc, calloc, realloc, posix_memalign or
 * aligned_alloc returns NULL / ENOMEM, in this program and in every library it uses
 * (libc's own stdio and pthread allocations, cJSON, libsndfile, libsoxr, ...). With
 * FAILMALLOC_COUNT set it prints "FAILMALLOC total C" on stderr at exit, the number of
 * calls a run makes, so a test can fail each of them in turn. FAILMALLOC_SPARE=A,B,..
 * (substrings of shared library file names) spares the calls made directly from those
 * libraries: counted, never failed (third-party libraries with known crashes on a
 * failed allocation, which the test names instead of tripping over).
 Built
 * only without sanitizers (their runtimes own malloc). Allocates nothing itself. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* glibc's allocator under its internal names: what the public names forward to. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t alignment, size_t n);

static atomic_long g_calls;
static long g_fail_at = -1; /* set by the constructor; -1: never */
static const char *g_spare;  /* FAILMALLOC_SPARE */

static void report_total(void) {
    char line[64];
    int n = snprintf(line, sizeof line, "FAILMALLOC total %ld\n", (long)atomic_load(&g_calls));
    if (n > 0 && write(2, line, (size_t)n) < 0) {
    }
}

__attribute__((constructor)) static void failmalloc_init(void) {
    const char *n = getenv("FAILMALLOC_N");
    if (n)
        g_fail_at = atol(n);
    if (getenv("FAILMALLOC_COUNT"))
        atexit(report_total);
    g_spare = getenv("FAILMALLOC_SPARE");
    if (g_spare && !*g_spare)
        g_spare = NULL;
}

/* The file name (no folder) of the library `caller` (a return address) is in. */
static const char *library_of(void *caller) {
    Dl_info info;
    if (!dladdr(caller, &info) || !info.dli_fname)
        return NULL;
    return strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1 : info.dli_fname;
}

/* Is `caller` (a return address) code of a spared library? */
static int spared(void *caller) {
    const char *name = g_spare ? library_of(caller) : NULL;
    if (!name)
        return 0;
    for (const char *p = g_spare; *p;) {
        size_t len = strcspn(p, ",");
        for (const char *q = name; len > 0 && *q; q++)
            if (strncmp(q, p, len) == 0)
                return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

#define fail_this_call() fail_call(__builtin_return_address(0))
__attribute__((noinline)) static int fail_call(void *caller) {
    if (atomic_fetch_add(&g_calls, 1) + 1 != g_fail_at)
        return 0;
    if (spared(caller)) {
        static const char note[] = "FAILMALLOC spared\n";
        if (write(2, note, sizeof note - 1) < 0) {
        }
        return 0;
    }
    return 1;
}

void *malloc(size_t n) {
    if (fail_this_call()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}

void *calloc(size_t count, size_t size) {
    if (fail_this_call()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(count, size);
}

void *realloc(void *p, size_t n) {
    if (fail_this_call()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, n);
}

int posix_memalign(void **out, size_t alignment, size_t n) {
    if (fail_this_call())
        return ENOMEM;
    void *p = __libc_memalign(alignment, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t n) {
    if (fail_this_call()) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_memalign(alignment, n);
}
