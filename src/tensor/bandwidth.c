/* bandwidth.c — memory read bandwidth probe (see bandwidth.h). The loop XORs 16-byte
 * vectors into eight independent accumulators (GCC/Clang vector extensions, so it
 * builds everywhere and compiles to SSE2/NEON loads), which is enough to saturate
 * DRAM: streaming is limited by outstanding cache-line misses, not load width. */
#include "tensor/bandwidth.h"
#include "base/bigbuf.h"
#include "base/status.h"
#include "base/timing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t v2u64 __attribute__((vector_size(16)));

#define MG_BW_CHUNK ((size_t)1 << 20) /* bytes per task */

typedef struct {
    const uint8_t *buf;
    size_t bytes;
    v2u64 *sink; /* one slot per task: keeps the loads from being optimized out */
} bw_job;

/* Read back after the passes so the compiler must perform every load. */
static volatile uint64_t g_bw_sink;

static void read_chunk(void *arg, int task) {
    bw_job *j = arg;
    size_t off = (size_t)task * MG_BW_CHUNK;
    size_t len = j->bytes - off < MG_BW_CHUNK ? j->bytes - off : MG_BW_CHUNK;
    const v2u64 *p = (const v2u64 *)(j->buf + off);
    v2u64 a0 = {0, 0}, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    size_t nv = len / sizeof(v2u64);
    for (size_t i = 0; i + 8 <= nv; i += 8) {
        a0 ^= p[i];
        a1 ^= p[i + 1];
        a2 ^= p[i + 2];
        a3 ^= p[i + 3];
        a4 ^= p[i + 4];
        a5 ^= p[i + 5];
        a6 ^= p[i + 6];
        a7 ^= p[i + 7];
    }
    v2u64 s = ((a0 ^ a1) ^ (a2 ^ a3)) ^ ((a4 ^ a5) ^ (a6 ^ a7));
    j->sink[task] ^= s;
}

struct mg_bw_probe {
    mg_pool *pool;
    uint8_t *buf;
    size_t bytes; /* allocated, a multiple of MG_BW_CHUNK */
    v2u64 *sink;  /* one slot per chunk */
};

mg_bw_probe *mg_bw_probe_new(mg_pool *pool, size_t bytes) {
    if (bytes == 0)
        bytes = (size_t)1 << 30;
    bytes = (bytes + MG_BW_CHUNK - 1) / MG_BW_CHUNK * MG_BW_CHUNK;
    mg_bw_probe *p = mg_calloc(1, sizeof *p, "bandwidth probe");
    if (!p)
        return NULL;
    p->pool = pool;
    p->bytes = bytes;
    p->sink = mg_calloc(bytes / MG_BW_CHUNK, sizeof *p->sink, "bandwidth sink");
    if (!p->sink || !(p->buf = mg_bigbuf_alloc(bytes))) {
        mg_bw_probe_free(p);
        mg_fail(MG_ERR_NOMEM, "bandwidth probe: cannot allocate %zu MiB; pass a smaller size", bytes >> 20);
        return NULL;
    }
    memset(p->buf, 1, bytes); /* touch every page so the passes measure reads, not page faults */
    return p;
}

double mg_bw_probe_run(mg_bw_probe *p) {
    if (!p)
        return 0;
    const size_t bytes = p->bytes;
    bw_job j = {p->buf, bytes, p->sink};
    int tasks = (int)(bytes / MG_BW_CHUNK);
    double best = 0;
    for (int pass = 0; pass < 4; pass++) {
        double t0 = mg_time_now();
        mg_pool_run(p->pool, read_chunk, &j, tasks);
        double dt = mg_time_now() - t0;
        double gbs = dt > 0 ? (double)bytes / dt * 1e-9 : 0;
        if (pass > 0 && gbs > best)
            best = gbs;
    }
    uint64_t fold = 0;
    for (int t = 0; t < tasks; t++)
        fold ^= p->sink[t][0] ^ p->sink[t][1];
    g_bw_sink = fold;
    return best;
}

void mg_bw_probe_free(mg_bw_probe *p) {
    if (!p)
        return;
    free(p->buf);
    free(p->sink);
    free(p);
}

double mg_measure_read_bandwidth(mg_pool *pool, size_t bytes) {
    mg_bw_probe *p = mg_bw_probe_new(pool, bytes);
    double gbs = mg_bw_probe_run(p);
    mg_bw_probe_free(p);
    return gbs;
}
