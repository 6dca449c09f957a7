/* pool.h — a small fork-join thread pool.
 *
 * mg_pool_run(pool, fn, arg, n_tasks) calls fn(arg, task) for task = 0..n_tasks-1
 * across the pool's threads (the caller works too) and returns when all are done.
 * Which thread runs a task is not fixed, so kernels must make each task's result
 * independent of the thread running it: split work into fixed chunks (rows) whose
 * values never depend on which task or thread computes them (matmul.c's stealing split
 * hands out ranges of rows per thread, but every row is computed the same way). That is
 * what keeps output identical for any thread count. Workers spin briefly between jobs (decoder steps issue hundreds of small
 * jobs) and then sleep on a condition variable.
 */
#ifndef MG_BASE_POOL_H
#define MG_BASE_POOL_H

typedef struct mg_pool mg_pool;
typedef void (*mg_task_fn)(void *arg, int task);

/* n_threads threads (the caller counts as one; below 1: one). Size pools with
 * mg_cpu_threads (base/resources.h). Returns NULL on failure (mg_fail set). */
mg_pool *mg_pool_new(int n_threads);
void mg_pool_free(mg_pool *pool);
int mg_pool_threads(const mg_pool *pool);
/* pool may be NULL (runs inline). Not reentrant: do not call from inside a task. */
void mg_pool_run(mg_pool *pool, mg_task_fn fn, void *arg, int n_tasks);


#endif
