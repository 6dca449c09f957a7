/* pool_ranges.c — mg_pool_run_ranges (see pool.h): units of work handed out as one
 * contiguous range per thread, claimed from the front in shrinking pieces, with the
 * rest stolen from the back of other ranges by threads that are done.
 *
 * Each range is one 64-bit word (end << 32 | next) on its own cache line: the owner
 * takes [next, next + k) and a thief takes [end - k, end), both with one
 * compare-and-swap, so a unit is never handed out twice. The owner's claims are a
 * quarter of what is left (at least least(arg, unit) units), so its last ones are
 * small; a thief takes half of what is left. Threads then end within a small claim of
 * each other, and a thread that is descheduled holds back one claim of work, not a
 * share of it. */
#include "base/pool.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    _Alignas(64) _Atomic uint64_t left; /* end << 32 | next: units [next, end) not taken */
} unit_range;

typedef struct {
    mg_range_fn fn;
    mg_least_fn least;
    void *arg;
    int n_ranges;
    unit_range range[MG_POOL_RANGES_MAX];
} ranges_job;

/* From the front of the range this thread took. */
static int claim_front(const ranges_job *j, unit_range *r, int64_t *u0, int64_t *u1) {
    uint64_t s = atomic_load_explicit(&r->left, memory_order_relaxed);
    for (;;) {
        uint32_t next = (uint32_t)s, end = (uint32_t)(s >> 32);
        if (next >= end)
            return 0;
        int64_t left = (int64_t)(end - next), want = left / 4, least = j->least ? j->least(j->arg, next) : 1;
        if (want < least)
            want = least;
        if (want > left)
            want = left;
        if (atomic_compare_exchange_weak_explicit(&r->left, &s, (uint64_t)end << 32 | (next + (uint32_t)want),
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *u0 = next;
            *u1 = next + want;
            return 1;
        }
    }
}

/* From the back of another thread's range: half of what is left. */
static int claim_back(unit_range *r, int64_t *u0, int64_t *u1) {
    uint64_t s = atomic_load_explicit(&r->left, memory_order_relaxed);
    for (;;) {
        uint32_t next = (uint32_t)s, end = (uint32_t)(s >> 32);
        if (next >= end)
            return 0;
        uint32_t take = (end - next + 1) / 2;
        if (atomic_compare_exchange_weak_explicit(&r->left, &s, (uint64_t)(end - take) << 32 | next,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *u0 = end - take;
            *u1 = end;
            return 1;
        }
    }
}

/* A thread's own range (its pool index: the range a prefetch hint warmed for it) from
 * its front, then the others from their backs. */
static void ranges_task(void *arg, int task) {
    ranges_job *j = arg;
    int t = mg_pool_thread_index();
    if (t >= j->n_ranges)
        t = task;
    int64_t u0, u1;
    while (claim_front(j, &j->range[t], &u0, &u1))
        j->fn(j->arg, u0, u1);
    for (int k = 1; k < j->n_ranges; k++)
        while (claim_back(&j->range[(t + k) % j->n_ranges], &u0, &u1))
            j->fn(j->arg, u0, u1);
}

int mg_pool_run_ranges(mg_pool *pool, int64_t n_units, mg_least_fn least, mg_range_fn fn, void *arg) {
    int threads = mg_pool_threads(pool);
    if (threads < 2 || threads > MG_POOL_RANGES_MAX || n_units < 0 || n_units > (int64_t)UINT32_MAX)
        return 0;
    ranges_job j;
    j.fn = fn;
    j.least = least;
    j.arg = arg;
    j.n_ranges = threads;
    for (int t = 0; t < threads; t++) {
        uint64_t a = (uint64_t)(n_units * t / threads), b = (uint64_t)(n_units * (t + 1) / threads);
        atomic_init(&j.range[t].left, b << 32 | a);
    }
    /* Each thread starts with its own range; a late one may find it taken. */
    mg_pool_run(pool, ranges_task, &j, threads);
    return 1;
}
