/* pool.c — fork-join thread pool with spinning workers (see pool.h).
 *
 * Protocol: the caller publishes a job (fn, arg, n_tasks), bumps `epoch` and then
 * takes tasks from the shared counter like every worker. Each worker, once it runs
 * out of tasks, increments `finished`. The caller returns only when every worker has
 * finished, so no worker can still be reading the job fields when the next job is
 * published.
 */
#include "base/pool.h"
#include "base/status.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MG_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define MG_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define MG_CPU_RELAX() ((void)0)
#endif

/* How long an idle worker spins before sleeping (iterations of the pause loop). */
#define MG_SPIN_ITERS 200000

struct mg_pool {
    int n_workers; /* threads besides the caller */
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int sleepers;
    atomic_int quit;

    atomic_uint epoch;
    mg_task_fn fn;
    void *arg;
    int n_tasks;
    atomic_int next_task;
    atomic_int finished;
};

int mg_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void run_tasks(mg_pool *p) {
    for (;;) {
        int t = atomic_fetch_add_explicit(&p->next_task, 1, memory_order_relaxed);
        if (t >= p->n_tasks)
            break;
        p->fn(p->arg, t);
    }
}

static void *worker_main(void *vp) {
    mg_pool *p = vp;
    /* Jobs may be posted before this thread first runs: start from epoch 0, the
     * value at creation, not from whatever epoch is now. */
    unsigned seen = 0;
    for (;;) {
        unsigned e;
        int spins = 0;
        while ((e = atomic_load_explicit(&p->epoch, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->quit, memory_order_relaxed)) {
            if (++spins < MG_SPIN_ITERS) {
                MG_CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&p->lock);
            p->sleepers++;
            while (atomic_load_explicit(&p->epoch, memory_order_acquire) == seen &&
                   !atomic_load_explicit(&p->quit, memory_order_relaxed))
                pthread_cond_wait(&p->wake, &p->lock);
            p->sleepers--;
            pthread_mutex_unlock(&p->lock);
            spins = 0;
        }
        if (atomic_load_explicit(&p->quit, memory_order_relaxed))
            return NULL;
        seen = e;
        run_tasks(p);
        atomic_fetch_add_explicit(&p->finished, 1, memory_order_release);
    }
}

mg_pool *mg_pool_new(int n_threads) {
    if (n_threads <= 0)
        n_threads = mg_cpu_count();
    mg_pool *p = mg_calloc(1, sizeof *p, "thread pool");
    if (!p)
        return NULL;
    p->n_workers = n_threads - 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->epoch, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->next_task, 0);
    atomic_init(&p->finished, 0);
    if (p->n_workers > 0) {
        p->threads = mg_calloc((size_t)p->n_workers, sizeof *p->threads, "thread handles");
        if (!p->threads) {
            mg_pool_free(p);
            return NULL;
        }
        for (int i = 0; i < p->n_workers; i++) {
            if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
                p->n_workers = i;
                mg_pool_free(p);
                mg_fail(MG_ERR_NOMEM, "could not start thread %d of %d", i + 1, n_threads);
                return NULL;
            }
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
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->epoch, 1, memory_order_release);
    pthread_mutex_lock(&p->lock);
    if (p->sleepers)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_tasks(p);
    int spins = 0;
    while (atomic_load_explicit(&p->finished, memory_order_acquire) < p->n_workers) {
        if (++spins < 4096)
            MG_CPU_RELAX();
        else
            sched_yield();
    }
}
