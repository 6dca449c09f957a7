/* bigbuf.c — large buffers on transparent huge pages (see bigbuf.h). */
#include "base/bigbuf.h"

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
