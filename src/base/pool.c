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
 * briefly for stragglers and then sleeps too.
 */
#include "base/pool.h"
#include "base/status.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
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

typedef struct {
    mg_task_fn fn;
    void *arg;
    /* Atomic (relaxed) because a worker late from two jobs ago may read it while the
     * caller refills the slot: its stale epoch then fails the claim, but the read
     * itself must not be a data race. fn and arg are read only after a claim. */
    atomic_int n_tasks;
} pool_job;

struct mg_pool {
    int n_workers; /* threads besides the caller */
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* workers wait here for a new epoch */
    pthread_cond_t done; /* the caller waits here for the last task */
    atomic_int sleepers;
    atomic_int caller_sleeping;
    atomic_int quit;
    _Atomic uint64_t state; /* epoch << 32 | next task */
    pool_job job[2];        /* job of epoch e lives in job[e & 1] */
    atomic_int n_done;      /* tasks finished in the current job */
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Claim and run tasks of epoch `e` until none are left (or the job is gone). */
static void run_tasks(mg_pool *p, uint32_t e) {
    const pool_job *j = &p->job[e & 1];
    uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(s >> 32) != e || (int)(uint32_t)s >= atomic_load_explicit(&j->n_tasks, memory_order_relaxed))
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* s was reloaded */
        int n_tasks = atomic_load_explicit(&j->n_tasks, memory_order_relaxed); /* this job's: claimed */
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

static void *worker_main(void *vp) {
    mg_pool *p = vp;
    uint32_t seen = 0; /* epoch 0 is "no job yet" */
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
        run_tasks(p, e);
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
        if (!p->threads) {
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
            if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
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
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

int mg_pool_threads(const mg_pool *p) { return p ? p->n_workers + 1 : 1; }

void mg_pool_run(mg_pool *p, mg_task_fn fn, void *arg, int n_tasks) {
    if (n_tasks <= 0)
        return;
    if (!p || p->n_workers == 0 || n_tasks == 1) {
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
    atomic_store(&p->n_done, 0);
    atomic_store_explicit(&p->state, (uint64_t)e << 32, memory_order_release);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    run_tasks(p, e);
    /* Wait for tasks other threads are still running. */
    if (atomic_load(&p->n_done) < n_tasks) {
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
