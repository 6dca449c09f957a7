/* bench_attention.c — how close self-attention over the KV cache comes to memory
 * bandwidth. A decoder step of musicgen-small reads, in every one of its 24 layers,
 * the K and V rows of 2 CFG rows x 16 heads (head_dim 64) up to the current position:
 * ~196 KB per position in f16, so ~0.3 GB per step at the end of a 30 s window. This
 * runs exactly that (scores, softmax, weighted sum per (row, head), split over the
 * pool like the decoder) for a few positions and cache types, and prints ms per step
 * and GB/s next to the machine's measured read bandwidth.
 *
 *   bench_attention [--threads N] [--positions 250,750,1500]
 *
 * Best of several passes; the cache is on huge pages as in the decoder. */
#include "bench_args.h"
#include "base/bigbuf.h"
#include "base/pool.h"
#include "base/timing.h"
#include "lm/attention.h"
#include "tensor/bandwidth.h"
#include "tensor/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_LAYERS 24
#define N_TASKS 32 /* 2 CFG rows x 16 heads */
#define HEAD_DIM 64
#define CAPACITY 1503

typedef struct {
    const mg_kv_ops *ops;
    const uint8_t *k, *v; /* this layer's cache: N_TASKS runs of CAPACITY rows */
    size_t row_bytes;
    int n;
    const float *q;
    float *out, *p;
} attn_job;

static void attn_task(void *arg, int t) {
    const attn_job *j = arg;
    size_t base = (size_t)t * CAPACITY * j->row_bytes;
    float *p = j->p + (size_t)t * CAPACITY, *o = j->out + (size_t)t * HEAD_DIM;
    j->ops->scores(j->q + (size_t)t * HEAD_DIM, j->k + base, j->n, HEAD_DIM, p);
    mg_softmax(p, j->n);
    memset(o, 0, sizeof(float) * HEAD_DIM);
    j->ops->accum(o, p, j->v + base, j->n, HEAD_DIM);
}

int main(int argc, char **argv) {
    int threads = mg_cpu_count() > 1 ? 2 : 1, positions[8] = {250, 750, 1500}, n_pos = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--positions") && i + 1 < argc) {
            n_pos = bench_parse_int_list(argv[++i], positions, 8);
        } else {
            fprintf(stderr, "usage: %s [--threads N] [--positions 250,750,1500]\n", argv[0]);
            return 2;
        }
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
    float *q = calloc(N_TASKS * HEAD_DIM, sizeof(float)), *out = calloc(N_TASKS * HEAD_DIM, sizeof(float));
    float *p = calloc((size_t)N_TASKS * CAPACITY, sizeof(float));
    if (!q || !out || !p) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int i = 0; i < N_TASKS * HEAD_DIM; i++)
        q[i] = (float)((i * 37) % 19 - 9) * 0.01f;
    for (int ti = 0; ti < 3; ti++) {
        const mg_kv_ops *ops = mg_kv_ops_get(types[ti], 0);
        size_t rb = ops->row_bytes(HEAD_DIM), layer = (size_t)N_TASKS * CAPACITY * rb;
        uint8_t *k = mg_bigbuf_alloc(layer * N_LAYERS), *v = mg_bigbuf_alloc(layer * N_LAYERS);
        float *row = malloc(sizeof(float) * HEAD_DIM);
        if (!k || !v || !row) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        for (int e = 0; e < HEAD_DIM; e++)
            row[e] = (float)(e % 7 - 3) * 0.1f;
        for (size_t r = 0; r < (size_t)N_TASKS * CAPACITY * N_LAYERS; r++) {
            ops->store(k + r * rb, row, HEAD_DIM);
            ops->store(v + r * rb, row, HEAD_DIM);
        }
        for (int pi = 0; pi < n_pos; pi++) {
            attn_job j = {ops, NULL, NULL, rb, positions[pi], q, out, p};
            double best = 1e30;
            for (int pass = 0; pass < 10; pass++) {
                double t0 = mg_time_now();
                for (int l = 0; l < N_LAYERS; l++) {
                    j.k = k + (size_t)l * layer;
                    j.v = v + (size_t)l * layer;
                    mg_pool_run(pool, attn_task, &j, N_TASKS);
                }
                double dt = mg_time_now() - t0;
                best = dt < best ? dt : best;
            }
            double bytes = 2.0 * N_LAYERS * N_TASKS * (double)positions[pi] * (double)rb;
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
    mg_pool_free(pool);
    return 0;
}
