/* pool.c — fork-join thread pool (see pool.h).
 *
 * Protocol. A job is (fn, arg, n_tasks) stored in one of two slots, chosen by the
 * parity of the job's epoch. One 64-bit atomic word holds (epoch << 32 | next task);
 * every thread claims a task with a compare-and-swap that also checks the epoch, so a
 * thread that wakes up late, after its job is over, can never claim a task of the
 * next one. The caller posts a job by filling the next slot and publishing the new
 * epoch, runs tasks itself, then waits until all n_tasks are *done* — it never waits
 * for idle workers to check in, which matters on a busy machine where a descheduled
 * worker would otherwise stall every job for a scheduler time slice.
 *
 * Idle workers spin for a short, time-bounded while (decoder steps post hundreds of
 * small jobs back to back) and then sleep on a condition variable; the caller spins
 * briefly for stragglers and then sleeps too. A job may carry a hint of what the job
 * after it reads (mg_pool_prefetch_after): a thread that ran one of its tasks and then
 * waits prefetches its share of that meanwhile.
 */
#include "base/pool.h"
#include "base/status.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MG_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define MG_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define MG_CPU_RELAX() ((void)0)
#endif

#define WORKER_SPIN_NS 300000 /* idle worker: spin 0.3 ms before sleeping */
#define CALLER_SPIN_NS 100000 /* caller waiting for stragglers: 0.1 ms */

/* A prefetch hint: what the job after one will read (mg_pool_prefetch_after). */
typedef struct {
    mg_pool_region r[MG_POOL_HINT_MAX];
    int n;
} pool_hint;

static void hint_copy(pool_hint *dst, const pool_hint *src) {
    memcpy(dst->r, src->r, sizeof(mg_pool_region) * (size_t)src->n);
    dst->n = src->n;
}

typedef struct {
    mg_task_fn fn;
    void *arg;
    /* Atomic (relaxed) because a worker late from two jobs ago may read it while the
     * caller refills the slot: its stale epoch then fails the claim, but the read
     * itself must not be a data race. fn and arg are read only after a claim. */
    atomic_int n_tasks;
    /* What the job after this one will read (mg_pool_prefetch_after), read by a thread
     * only after it claimed a task, when the slot cannot be refilled. */
    pool_hint hint;
} pool_job;

struct mg_pool {
    int n_workers; /* threads besides the caller */
    pthread_t *threads;
    struct worker_arg *args; /* worker i's pool and index */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* workers wait here for a new epoch */
    pthread_cond_t done; /* the caller waits here for the last task */
    atomic_int sleepers;
    atomic_int caller_sleeping;
    atomic_int quit;
    _Atomic uint64_t state; /* epoch << 32 | next task */
    pool_job job[2];        /* job of epoch e lives in job[e & 1] */
    atomic_int n_done;      /* tasks finished in the current job */
    pool_hint pending; /* the caller's hint for the next job posted */
};

/* 0 on every thread but a pool's workers, which are 1 .. n_workers. */
static _Thread_local int t_index;

int mg_pool_thread_index(void) { return t_index; }

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Claim and run tasks of epoch `e` until none are left (or the job is gone). A thread
 * that ran one copies the job's prefetch hint to *hint (else hint->n stays 0). */
static void run_tasks(mg_pool *p, uint32_t e, pool_hint *hint) {
    const pool_job *j = &p->job[e & 1];
    uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    hint->n = 0;
    for (;;) {
        if ((uint32_t)(s >> 32) != e || (int)(uint32_t)s >= atomic_load_explicit(&j->n_tasks, memory_order_relaxed))
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* s was reloaded */
        int n_tasks = atomic_load_explicit(&j->n_tasks, memory_order_relaxed); /* this job's: claimed */
        if (hint->n == 0)
            hint_copy(hint, &j->hint);
        j->fn(j->arg, (int)(uint32_t)s);
        if (atomic_fetch_add(&p->n_done, 1) + 1 == n_tasks && atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
        s = atomic_load_explicit(&p->state, memory_order_acquire);
    }
}

static uint32_t current_epoch(mg_pool *p) {
    return (uint32_t)(atomic_load_explicit(&p->state, memory_order_acquire) >> 32);
}

/* What a waiting thread prefetches of a hint at most: a quarter of the 1 MiB L2 of the
 * Zen 5 this was tuned on; 96 KiB gave less, 512 KiB and 1 MiB no more (docs/kernels.md). */
#define PREFETCH_MAX_BYTES ((size_t)256 << 10)

/* Has the wait a thread prefetches in ended? A worker waits for a new epoch, the caller
 * for the job's last task. */
static int wait_over(mg_pool *p, int caller, uint32_t e, int n_tasks) {
    return caller ? atomic_load_explicit(&p->n_done, memory_order_relaxed) >= n_tasks : current_epoch(p) != e;
}

/* While a thread waits between jobs the memory bus would idle, so it streams its share
 * of what the next job reads toward its L2: thread `index` of `threads` from
 * index/threads of the regions' total (the range mg_pool_run_ranges hands it first), at
 * most PREFETCH_MAX_BYTES, checking every 1 KiB whether the wait is over. Prefetches
 * never fault, so a region freed meanwhile does no harm. */
static void prefetch_share(mg_pool *p, const pool_hint *h, int index, int caller, uint32_t e, int n_tasks) {
    size_t total = 0;
    for (int i = 0; i < h->n; i++)
        total += h->r[i].bytes;
    size_t threads = (size_t)p->n_workers + 1, skip = total / threads * (size_t)index, left = total / threads;
    if (left > PREFETCH_MAX_BYTES)
        left = PREFETCH_MAX_BYTES;
    for (int i = 0; i < h->n && left > 0; i++) {
        if (skip >= h->r[i].bytes) {
            skip -= h->r[i].bytes;
            continue;
        }
        const char *a = (const char *)h->r[i].p + skip;
        size_t n = h->r[i].bytes - skip < left ? h->r[i].bytes - skip : left;
        skip = 0;
        left -= n;
        for (size_t o = 0; o < n; o += 1024) {
            if (wait_over(p, caller, e, n_tasks))
                return;
            for (size_t c = o; c < o + 1024 && c < n; c += 64)
                __builtin_prefetch(a + c, 0, 2); /* prefetcht1 on x86 */
        }
    }
}

typedef struct worker_arg {
    mg_pool *p;
    int index;
} worker_arg;

static void *worker_main(void *vp) {
    mg_pool *p = ((worker_arg *)vp)->p;
    t_index = ((worker_arg *)vp)->index;
    uint32_t seen = 0; /* epoch 0 is "no job yet" */
    pool_hint hint;
    for (;;) {
        uint32_t e = current_epoch(p);
        if (e == seen && !atomic_load(&p->quit)) {
            uint64_t t0 = now_ns();
            unsigned spins = 0;
            while ((e = current_epoch(p)) == seen && !atomic_load_explicit(&p->quit, memory_order_relaxed)) {
                MG_CPU_RELAX();
                if ((++spins & 255) == 0 && now_ns() - t0 > WORKER_SPIN_NS)
                    break;
            }
            if (e == seen) {
                pthread_mutex_lock(&p->lock);
                atomic_fetch_add(&p->sleepers, 1);
                while ((e = current_epoch(p)) == seen && !atomic_load(&p->quit))
                    pthread_cond_wait(&p->wake, &p->lock);
                atomic_fetch_sub(&p->sleepers, 1);
                pthread_mutex_unlock(&p->lock);
            }
        }
        if (atomic_load(&p->quit))
            return NULL;
        seen = e;
        run_tasks(p, e, &hint);
        if (hint.n)
            prefetch_share(p, &hint, t_index, 0, e, 0);
    }
}

mg_pool *mg_pool_new(int n_threads) {
    if (n_threads <= 0)
        n_threads = 1;
    mg_pool *p = mg_calloc(1, sizeof *p, "thread pool");
    if (!p)
        return NULL;
    p->n_workers = n_threads - 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_sleeping, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->state, 0);
    atomic_init(&p->n_done, 0);
    if (p->n_workers > 0) {
        p->threads = mg_calloc((size_t)p->n_workers, sizeof *p->threads, "thread handles");
        p->args = mg_calloc((size_t)p->n_workers, sizeof *p->args, "thread arguments");
        if (!p->threads || !p->args) {
            p->n_workers = 0; /* none to join */
            mg_pool_free(p);
            return NULL;
        }
        /* The workers take no signals: a host's (or the CLI's) Ctrl-C, SIGTERM or timer
         * is delivered to its own threads, where it blocks or handles it as it chose, not
         * to a worker it does not know about. Faults stay deliverable (they go to the
         * thread that causes them, and blocked they would kill the process silently). */
        sigset_t quiet, old;
        sigfillset(&quiet);
        const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
        for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
            sigdelset(&quiet, faults[i]);
        pthread_sigmask(SIG_BLOCK, &quiet, &old);
        int started = 1;
        for (int i = 0; i < p->n_workers && started; i++) {
            p->args[i].p = p;
            p->args[i].index = i + 1;
            if (pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]) != 0) {
                p->n_workers = i;
                started = 0;
            }
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!started) {
            int n = p->n_workers;
            mg_pool_free(p);
            mg_fail(MG_ERR_NOMEM, "could not start thread %d of %d", n + 1, n_threads);
            return NULL;
        }
    }
    return p;
}

void mg_pool_free(mg_pool *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_workers; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p->args);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int mg_pool_threads(const mg_pool *p) { return p ? p->n_workers + 1 : 1; }

void mg_pool_prefetch_after(mg_pool *p, const mg_pool_region *regions, int n) {
    if (!p || p->n_workers == 0)
        return;
    if (n > MG_POOL_HINT_MAX)
        n = MG_POOL_HINT_MAX;
    p->pending.n = regions && n > 0 ? n : 0;
    if (p->pending.n)
        memcpy(p->pending.r, regions, sizeof(mg_pool_region) * (size_t)n);
}

/* mg_pool_run and mg_pool_run_keep_hint: takes_hint says whether the job carries (and
 * clears) the pending prefetch hint. */
static void run_job(mg_pool *p, mg_task_fn fn, void *arg, int n_tasks, int takes_hint) {
    if (n_tasks <= 0)
        return;
    if (!p || p->n_workers == 0 || n_tasks == 1) {
        if (p && takes_hint)
            p->pending.n = 0; /* hints are for the job posted next, not a later one */
        for (int t = 0; t < n_tasks; t++)
            fn(arg, t);
        return;
    }
    /* Publish: the slot of the next epoch is free (its previous job is long done). */
    uint32_t e = current_epoch(p) + 1;
    if (e == 0)
        e = 1; /* after 2^32 jobs: skip the "no job" epoch */
    pool_job *j = &p->job[e & 1];
    j->fn = fn;
    j->arg = arg;
    atomic_store_explicit(&j->n_tasks, n_tasks, memory_order_relaxed);
    j->hint.n = 0;
    if (takes_hint) {
        hint_copy(&j->hint, &p->pending);
        p->pending.n = 0;
    }
    atomic_store(&p->n_done, 0);
    atomic_store_explicit(&p->state, (uint64_t)e << 32, memory_order_release);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    pool_hint hint;
    run_tasks(p, e, &hint);
    /* Wait for tasks other threads are still running. */
    if (atomic_load(&p->n_done) < n_tasks) {
        if (hint.n)
            prefetch_share(p, &hint, 0, 1, e, n_tasks);
        uint64_t t0 = now_ns();
        unsigned spins = 0;
        while (atomic_load_explicit(&p->n_done, memory_order_acquire) < n_tasks) {
            MG_CPU_RELAX();
            if ((++spins & 255) == 0 && now_ns() - t0 > CALLER_SPIN_NS)
                break;
        }
        if (atomic_load(&p->n_done) < n_tasks) {
            pthread_mutex_lock(&p->lock);
            atomic_store(&p->caller_sleeping, 1);
            while (atomic_load(&p->n_done) < n_tasks)
                pthread_cond_wait(&p->done, &p->lock);
            atomic_store(&p->caller_sleeping, 0);
            pthread_mutex_unlock(&p->lock);
        }
    }
    atomic_thread_fence(memory_order_acquire);
}

void mg_pool_run(mg_pool *p, mg_task_fn fn, void *arg, int n_tasks) { run_job(p, fn, arg, n_tasks, 1); }

void mg_pool_run_keep_hint(mg_pool *p, mg_task_fn fn, void *arg, int n_tasks) { run_job(p, fn, arg, n_tasks, 0); }
