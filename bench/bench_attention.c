/* bench_attention.c — how close self-attention over the KV cache comes to memory
 * bandwidth. A decoder step of musicgen-small reads, in every one of its 24 layers,
 * the K and V rows of 2 CFG rows x 16 heads (head_dim 64) up to the current position:
 * ~196 KB per position in f16, so ~0.3 GB per step at the end of a 30 s window. This
 * runs exactly that (scores, softmax and weighted sum of every head, mg_attn_heads,
 * one pool task per CFG row like the decoder) for a few positions and cache types, and
 * prints ms per step and GB/s next to the machine's measured read bandwidth.
 *
 *   bench_attention [--threads N] [--positions 250,750,1500] [--between MB]
 *
 * Best of several passes; the cache is on huge pages and position-major as in the
 * decoder, one task per CFG row. In a real step each layer's attention follows a few MB
 * of weights streamed by the matmuls, which leaves the caches and the prefetchers cold:
 * --between MB streams that much of a 512 MiB buffer before every layer (not timed);
 * musicgen-small q4_0 streams ~8 MB per layer. */
#include "bench_args.h"
#include "base/bigbuf.h"
#include "base/resources.h"
#include "base/pool.h"
#include "base/timing.h"
#include "lm/attention.h"
#include "tensor/bandwidth.h"
#include "tensor/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_LAYERS 24
#define N_ROWS 2 /* CFG rows */
#define N_HEADS 16
#define HEAD_DIM 64
#define CAPACITY 1503

typedef struct {
    const mg_kv_ops *ops;
    const uint8_t *k, *v; /* this layer's cache: N_ROWS x CAPACITY rows of N_HEADS heads */
    size_t row_bytes;     /* one head's row */
    int n;
    const float *q;
    float *out, *p;
} attn_job;

static void attn_task(void *arg, int r) {
    const attn_job *j = arg;
    size_t ld = N_HEADS * j->row_bytes, base = (size_t)r * CAPACITY * ld;
    mg_attn_heads(j->ops, N_HEADS, HEAD_DIM, j->q + (size_t)r * N_HEADS * HEAD_DIM, j->k + base, j->v + base, ld, j->n,
                  j->p + (size_t)r * N_HEADS * CAPACITY, j->out + (size_t)r * N_HEADS * HEAD_DIM);
}

/* The weights a step streams between two layers' attention: a read loop over one
 * slice per task, like the matmuls' row chunks. */
#define BETWEEN_BUF ((size_t)512 << 20)
#define BETWEEN_TASK ((size_t)256 << 10)
typedef struct {
    const uint64_t *buf;
    size_t first; /* first word of this layer's slice */
    uint64_t sink[64];
} between_job;

static void between_task(void *arg, int t) {
    between_job *j = arg;
    const uint64_t *p = j->buf + (j->first + (size_t)t * (BETWEEN_TASK / 8)) % (BETWEEN_BUF / 8);
    uint64_t a[8] = {0};
    for (size_t i = 0; i < BETWEEN_TASK / 8; i += 8)
        for (int e = 0; e < 8; e++)
            a[e] ^= p[i + e];
    j->sink[t % 64] ^= a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
}

int main(int argc, char **argv) {
    int threads = mg_cpu_count() > 1 ? 2 : 1, positions[8] = {250, 750, 1500}, n_pos = 3;
    double between_mb = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--between") && i + 1 < argc) {
            between_mb = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--positions") && i + 1 < argc) {
            n_pos = bench_parse_int_list(argv[++i], positions, 8);
        } else {
            fprintf(stderr, "usage: %s [--threads N] [--positions 250,750,1500] [--between MB]\n", argv[0]);
            return 2;
        }
    }
    if (!(between_mb >= 0 && between_mb <= 256)) {
        fprintf(stderr, "--between takes 0..256 MB\n");
        return 2;
    }
    for (int i = 0; i < n_pos; i++)
        if (positions[i] < 1 || positions[i] > CAPACITY) {
            fprintf(stderr, "positions must be within 1..%d\n", CAPACITY);
            return 2;
        }
    mg_pool *pool = mg_pool_new(threads);
    if (!pool)
        return 1;
    double bw = mg_measure_read_bandwidth(pool, 0);
    printf("read bandwidth, %d thread%s: %.1f GB/s\n\n", threads, threads > 1 ? "s" : "", bw);
    printf("%-5s %9s %10s %9s %8s %7s\n", "cache", "positions", "ms/step", "MB/step", "GB/s", "% of bw");
    const mg_kv_type types[3] = {MG_KV_F16, MG_KV_F32, MG_KV_Q8_0};
    const char *names[3] = {"f16", "f32", "q8_0"};
    float *q = calloc(N_ROWS * N_HEADS * HEAD_DIM, sizeof(float)), *out = calloc(N_ROWS * N_HEADS * HEAD_DIM, sizeof(float));
    float *p = calloc((size_t)N_ROWS * N_HEADS * CAPACITY, sizeof(float));
    if (!q || !out || !p) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    between_job between = {0};
    int between_tasks = (int)(between_mb * 1e6 / (double)BETWEEN_TASK + 0.5);
    if (between_tasks > 0) {
        uint64_t *buf = mg_bigbuf_alloc(BETWEEN_BUF);
        if (!buf) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        memset(buf, 1, BETWEEN_BUF);
        between.buf = buf;
        printf("%.1f MB streamed before every layer (not timed)\n\n", between_tasks * (double)BETWEEN_TASK * 1e-6);
    }
    for (int i = 0; i < N_ROWS * N_HEADS * HEAD_DIM; i++)
        q[i] = (float)((i * 37) % 19 - 9) * 0.01f;
    for (int ti = 0; ti < 3; ti++) {
        const mg_kv_ops *ops = mg_kv_ops_get(types[ti], HEAD_DIM, 0);
        size_t rb = ops->row_bytes(HEAD_DIM), layer = (size_t)N_ROWS * N_HEADS * CAPACITY * rb;
        uint8_t *k = mg_bigbuf_alloc(layer * N_LAYERS), *v = mg_bigbuf_alloc(layer * N_LAYERS);
        float *row = malloc(sizeof(float) * HEAD_DIM);
        if (!k || !v || !row) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        for (int e = 0; e < HEAD_DIM; e++)
            row[e] = (float)(e % 7 - 3) * 0.1f;
        for (size_t r = 0; r < (size_t)N_ROWS * N_HEADS * CAPACITY * N_LAYERS; r++) {
            ops->store(k + r * rb, row, HEAD_DIM);
            ops->store(v + r * rb, row, HEAD_DIM);
        }
        for (int pi = 0; pi < n_pos; pi++) {
            attn_job j = {ops, NULL, NULL, rb, positions[pi], q, out, p};
            double best = 1e30;
            for (int pass = 0; pass < 10; pass++) {
                double dt = 0;
                for (int l = 0; l < N_LAYERS; l++) {
                    if (between_tasks > 0) {
                        mg_pool_run(pool, between_task, &between, between_tasks);
                        between.first += (size_t)between_tasks * (BETWEEN_TASK / 8);
                    }
                    j.k = k + (size_t)l * layer;
                    j.v = v + (size_t)l * layer;
                    double t0 = mg_time_now();
                    mg_pool_run(pool, attn_task, &j, N_ROWS);
                    dt += mg_time_now() - t0;
                }
                best = dt < best ? dt : best;
            }
            double bytes = 2.0 * N_LAYERS * N_ROWS * N_HEADS * (double)positions[pi] * (double)rb;
            printf("%-5s %9d %10.2f %9.1f %8.1f %6.0f%%\n", names[ti], positions[pi], best * 1e3, bytes * 1e-6,
                   bytes / best * 1e-9, 100 * bytes / best * 1e-9 / bw);
        }
        free(k);
        free(v);
        free(row);
    }
    free(q);
    free(out);
    free(p);
    free((void *)between.buf);
    mg_pool_free(pool);
    return 0;
}
