/* bench_bandwidth.h — the memory read-bandwidth probe `musicgen bench` samples before,
 * during and after its run, kept in a helper process (bench_bandwidth.c). */
#ifndef MG_CLI_BENCH_BANDWIDTH_H
#define MG_CLI_BENCH_BANDWIDTH_H

#include <stddef.h>
#include <sys/types.h>

typedef struct bench_bw {
    pid_t pid; /* 0: no helper (bandwidth not measured) */
    int to_helper, from_helper;
} bench_bw;

/* Start the helper: a child process with its own `threads`-thread pool and a probe
 * buffer of `bytes` (0: 1 GiB), allocated and touched once, so its memory never counts
 * in the benchmark's peak RSS and a sample costs only the reading. Returns 0, or -1
 * (errno set) if it cannot be started. */
int bench_bw_start(bench_bw *b, int threads, size_t bytes);

/* GB/s of the helper's read loop over its buffer: best of three passes after a
 * warm-up. The caller waits meanwhile, so the helper has the machine to itself. 0 if
 * the helper is not running or its buffer could not be allocated. */
double bench_bw_sample(bench_bw *b);

/* End the helper and reap it. */
void bench_bw_stop(bench_bw *b);

/* One sample by a helper started and stopped for it (0 if it cannot be taken; call it
 * while this process has no other threads: a fork of a threaded process may inherit
 * locks a sanitizer runtime's threads held). Its buffer is freed before this returns:
 * on VMs whose host takes back free memory, the first touch of pages nobody freed
 * lately costs ~2 ms per MB (docs/kernels.md, "First touch"), so a probe whose 1 GiB
 * stayed held would slow the benchmarked process's own first allocations. */
double bench_bw_once(int threads, size_t bytes);

#endif
