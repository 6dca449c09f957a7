/* bigbuf.c — large buffers on transparent huge pages (see bigbuf.h). */
#include "base/bigbuf.h"
#include "base/pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define MG_HUGE_PAGE ((size_t)2 << 20)

static void advise_huge(const void *p, size_t bytes) {
#if defined(MADV_HUGEPAGE)
    /* Only whole huge pages inside the range. */
    uintptr_t s = ((uintptr_t)p + MG_HUGE_PAGE - 1) & ~(uintptr_t)(MG_HUGE_PAGE - 1);
    uintptr_t e = ((uintptr_t)p + bytes) & ~(uintptr_t)(MG_HUGE_PAGE - 1);
    if (e > s)
        (void)madvise((void *)s, e - s, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

void mg_bigbuf_no_huge_pages(const void *p, size_t bytes) {
#if defined(MADV_NOHUGEPAGE)
    (void)madvise((void *)p, bytes, MADV_NOHUGEPAGE); /* p is page-aligned (a mapping) */
#else
    (void)p;
    (void)bytes;
#endif
}

void *mg_bigbuf_alloc(size_t bytes) {
    void *p = NULL;
    if (bytes < MG_HUGE_PAGE)
        return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
    if (posix_memalign(&p, MG_HUGE_PAGE, bytes) != 0)
        return NULL;
    advise_huge(p, bytes);
    return p;
}

typedef struct {
    volatile unsigned char *p;
    size_t bytes;
} prefault_job;

static void prefault_task(void *arg, int task) {
    const prefault_job *j = arg;
    size_t start = (size_t)task * MG_HUGE_PAGE, end = start + MG_HUGE_PAGE < j->bytes ? start + MG_HUGE_PAGE : j->bytes;
    for (size_t i = start; i < end; i += 4096)
        j->p[i] = 0;
}

void mg_bigbuf_prefault(mg_pool *pool, void *p, size_t bytes) {
    if (!p || !bytes)
        return;
    prefault_job j = {p, bytes};
    mg_pool_run(pool, prefault_task, &j, (int)((bytes + MG_HUGE_PAGE - 1) / MG_HUGE_PAGE));
}
