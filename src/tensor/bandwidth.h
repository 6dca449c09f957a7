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

#endif
