/* bandwidth.h — how fast this machine streams memory, so benchmarks can print the
 * weight-streaming rate of the matmul kernels next to the best the machine can do. */
#ifndef MG_TENSOR_BANDWIDTH_H
#define MG_TENSOR_BANDWIDTH_H

#include "base/pool.h"

#include <stddef.h>

/* GB/s (1e9 bytes/s) of a plain SIMD read loop over a buffer of `bytes` (0: 1 GiB),
 * read by all the pool's threads in fixed chunks; best of three passes after one
 * warm-up pass. Returns 0 (with mg_fail set) if the buffer cannot be allocated.
 * Takes about a second for 1 GiB; not for use in hot paths. */
double mg_measure_read_bandwidth(mg_pool *pool, size_t bytes);

/* The same probe kept for repeated measurements (a benchmark sampling the bandwidth
 * between decoder steps): the buffer is allocated and touched once, by new. */
typedef struct mg_bw_probe mg_bw_probe;
/* A probe over `bytes` (0: 1 GiB) read by `pool`'s threads; NULL (mg_fail set) when the
 * buffer cannot be allocated. */
mg_bw_probe *mg_bw_probe_new(mg_pool *pool, size_t bytes);
/* GB/s over the whole buffer: best of three passes after a warm-up pass. 0 for a NULL
 * probe. */
double mg_bw_probe_run(mg_bw_probe *p);
void mg_bw_probe_free(mg_bw_probe *p);

#endif
