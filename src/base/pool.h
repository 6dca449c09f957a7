/* pool.h — a small fork-join thread pool.
 *
 * mg_pool_run(pool, fn, arg, n_tasks) calls fn(arg, task) for task = 0..n_tasks-1
 * across the pool's threads (the caller works too) and returns when all are done.
 * Which thread runs a task is not fixed, so kernels must make each task's result
 * independent of the thread running it: split work into fixed chunks (rows) whose
 * values never depend on which task or thread computes them (mg_pool_run_ranges hands
 * out ranges per thread, but every unit is computed the same way by whoever takes it).
 * That is what keeps output identical for any thread count. Workers spin briefly
 * between jobs (decoder steps issue hundreds of small jobs) and then sleep on a
 * condition variable.
 */
#ifndef MG_BASE_POOL_H
#define MG_BASE_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct mg_pool mg_pool;
typedef void (*mg_task_fn)(void *arg, int task);

/* n_threads threads (the caller counts as one; below 1: one). Size pools with
 * mg_cpu_threads (base/resources.h). Returns NULL on failure (mg_fail set). */
mg_pool *mg_pool_new(int n_threads);
void mg_pool_free(mg_pool *pool);
int mg_pool_threads(const mg_pool *pool);
/* pool may be NULL (runs inline). Not reentrant: do not call from inside a task. */
void mg_pool_run(mg_pool *pool, mg_task_fn fn, void *arg, int n_tasks);

/* A hint for the job posted next (by mg_pool_run or mg_pool_run_ranges): what the job
 * after it will read, split among threads as mg_pool_run_ranges splits work. A thread
 * that is done with its part and waits streams its share toward its cache meanwhile. */
#define MG_POOL_HINT_MAX 8
typedef struct {
    const void *p;
    size_t bytes;
} mg_pool_region;
void mg_pool_prefetch_after(mg_pool *pool, const mg_pool_region *regions, int n);
/* mg_pool_run for a job that goes before the hinted one (a product's activation
 * quantization): it neither takes the pending hint nor drops it. */
void mg_pool_run_keep_hint(mg_pool *pool, mg_task_fn fn, void *arg, int n_tasks);
/* 0 on every thread but a pool's workers, which are 1 .. threads - 1. */
int mg_pool_thread_index(void);

/* Streaming work (each unit's data read once, as a decoder step reads its weights):
 * units 0 .. n_units-1, in one contiguous range per thread, each claimed from its
 * front a quarter of what is left at a time (at least least(arg, first unit) units;
 * least may be NULL: 1), the rest stolen from the backs of other ranges by threads that
 * are done (pool_ranges.c). fn(arg, u0, u1) does units u0 .. u1-1, on any thread.
 * Returns 1 when done; 0, having done nothing, when the pool has one thread or more
 * than MG_POOL_RANGES_MAX, or n_units is negative or does not fit 32 bits: the caller
 * then splits the work its own way. */
#define MG_POOL_RANGES_MAX 32
typedef void (*mg_range_fn)(void *arg, int64_t u0, int64_t u1);
typedef int64_t (*mg_least_fn)(void *arg, int64_t unit);
int mg_pool_run_ranges(mg_pool *pool, int64_t n_units, mg_least_fn least, mg_range_fn fn, void *arg);


#endif
