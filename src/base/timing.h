/* timing.h — monotonic clock and memory figures, for progress, logs and benchmarks
 * (what memory is still available: base/resources.h). */
#ifndef MG_BASE_TIMING_H
#define MG_BASE_TIMING_H

#include <stdint.h>

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double mg_time_now(void);
/* Peak resident set size of this process in bytes (getrusage). */
int64_t mg_peak_rss_bytes(void);
/* Current resident set size in bytes (/proc/self/statm), or -1. */
int64_t mg_current_rss_bytes(void);
/* Bytes of mapped files this process maps with 2 MiB pages (FilePmdMapped in
 * /proc/self/smaps_rollup), or -1 where the kernel does not say. */
int64_t mg_file_huge_mapped_bytes(void);

#endif
