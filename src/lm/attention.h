/* attention.h — the inner loops of attention over a KV cache, per cache format
 * (f32, f16, q8_0) and per ISA (scalar reference, AVX2+F16C, AVX-512, NEON):
 *   scores[i] = q . K[i]            for the n cached positions of each head
 *   out      += sum_i p[i] * V[i]
 * A head's row is head_dim values in the cache's format (q8_0: head_dim % 32 == 0).
 * The scalar versions are the reference the SIMD ones are tested against. */
#ifndef MG_LM_ATTENTION_H
#define MG_LM_ATTENTION_H

#include "musicgen.h"

#include <stddef.h>
#include <stdint.h>

typedef struct mg_kv_ops {
    size_t (*row_bytes)(int hd);
    void (*store)(void *dst, const float *src, int hd);
    /* G heads of n cache rows `ld` bytes apart, head g of a row at + g * row_bytes(hd);
     * the heads are the inner loop, so a row's heads are read as one contiguous run:
     *   p[g * ps + i] = q_g . K_i,g        (q: G x hd)
     *   o_g          += sum_i p[g * ps + i] * V_i,g
     * One head over a contiguous run is G = 1, ld = row_bytes(hd). */
    void (*scores)(const float *q, int G, const void *K, size_t ld, int n, int hd, float *p, size_t ps);
    void (*accum)(float *o, int G, const float *p, size_t ps, const void *V, size_t ld, int n, int hd);
} mg_kv_ops;

/* Bytes of one head's row in each cache format (q8_0: hd / 32 blocks), and the stores
 * that are the same on every ISA (f16's converts with each ISA's instructions). */
size_t mg_kv_row_bytes_f32(int hd);
size_t mg_kv_row_bytes_f16(int hd);
size_t mg_kv_row_bytes_q8(int hd);
void mg_kv_store_f32(void *dst, const float *src, int hd);
void mg_kv_store_q8(void *dst, const float *src, int hd);

/* The loops ask for the cache rows about MG_KV_AHEAD_BYTES (of the bytes they use per
 * row) ahead of the row they read: the hardware prefetcher alone streamed a head's run
 * at ~15-17 GB/s on the 2-core Xeon where a read loop does 20-24. bench_attention at
 * 1500 positions, 5 alternating runs each, median ms per step for 1 / 2 / 3 KiB: f16
 * 13.0 / 12.2 / 12.5, f32 26.9 / 24.4 / 23.8, q8_0 8.6 / 7.6 / 6.9. Prefetches never
 * fault, and the loops keep asking past their last row: cross-attention's runs of a
 * few KB, one (row, head) after the other in memory, then start the next run's rows
 * (stopping at the last row took a q4_0 step's cross-attention from 0.08-0.09 to
 * 0.12-0.13 ms, four alternating pairs); past a self-attention run it is ~0.3 MB of
 * unused rows per step. Re-measured on the Zen 5 VM (2026-11-26, `bench_attention
 * --between 8`, three alternating rounds): 1, 2, 3 and 4 KiB within noise of each other
 * (f16 at 1500 positions 6.2-7.3 ms, q8_0 3.6-4.2 outside a noisy spell), 6 KiB slower
 * (f16 6.6-9.7 ms); kept at 3 KiB. */
#ifndef MG_KV_AHEAD_BYTES
#define MG_KV_AHEAD_BYTES 3072
#endif
static inline void mg_kv_prefetch_span(const void *p, size_t bytes) {
    uintptr_t a = (uintptr_t)p, end = a + bytes;
    for (a &= ~(uintptr_t)63; a < end; a += 64)
        __builtin_prefetch((const void *)a);
}

/* Rows ahead the loops ask for, when they use `used` bytes of each row. */
static inline int mg_kv_ahead_rows(size_t used) { return (int)((MG_KV_AHEAD_BYTES + used - 1) / used); }

/* Row i of a cache whose rows are ld bytes apart, after asking for the row `ahead`
 * further on (its first `used` bytes). */
static inline const char *mg_kv_row(const void *base, int i, size_t ld, int ahead, size_t used) {
    const char *row = (const char *)base + (size_t)i * ld;
    mg_kv_prefetch_span(row + (size_t)ahead * ld, used);
    return row;
}

/* The two loops every ISA shares, inlined with its per-head row functions (constant
 * function pointers): dot(q, k, hd) = q . k and axpy(o, a, v, hd): o += a * v. */
typedef float (*mg_kv_dot_fn)(const float *q, const void *k, int hd);
typedef void (*mg_kv_axpy_fn)(float *o, float a, const void *v, int hd);

static inline __attribute__((always_inline)) void mg_kv_scores_loop(const float *q, int G, const void *K, size_t ld,
                                                                    int n, int hd, float *p, size_t ps, size_t rb,
                                                                    mg_kv_dot_fn dot) {
    size_t used = (size_t)G * rb;
    int ahead = mg_kv_ahead_rows(used);
    for (int i = 0; i < n; i++) {
        const char *row = mg_kv_row(K, i, ld, ahead, used);
        for (int g = 0; g < G; g++)
            p[(size_t)g * ps + (size_t)i] = dot(q + (size_t)g * hd, row + (size_t)g * rb, hd);
    }
}

static inline __attribute__((always_inline)) void mg_kv_accum_loop(float *o, int G, const float *p, size_t ps,
                                                                   const void *V, size_t ld, int n, int hd, size_t rb,
                                                                   mg_kv_axpy_fn axpy) {
    size_t used = (size_t)G * rb;
    int ahead = mg_kv_ahead_rows(used);
    for (int i = 0; i < n; i++) {
        const char *row = mg_kv_row(V, i, ld, ahead, used);
        for (int g = 0; g < G; g++)
            axpy(o + (size_t)g * hd, p[(size_t)g * ps + (size_t)i], row + (size_t)g * rb, hd);
    }
}

/* The scores and accum kernels of format `fmt` from its dot_fmt and axpy_fmt. */
#define MG_KV_KERNELS(fmt)                                                                                           \
    static void scores_##fmt(const float *q, int G, const void *K, size_t ld, int n, int hd, float *p, size_t ps) {  \
        mg_kv_scores_loop(q, G, K, ld, n, hd, p, ps, mg_kv_row_bytes_##fmt(hd), dot_##fmt);                          \
    }                                                                                                                \
    static void accum_##fmt(float *o, int G, const float *p, size_t ps, const void *V, size_t ld, int n, int hd) {   \
        mg_kv_accum_loop(o, G, p, ps, V, ld, n, hd, mg_kv_row_bytes_##fmt(hd), axpy_##fmt);                          \
    }

/* Attention of one query position for G heads over the first n rows of the
 * position-major self-attention cache (head g of row i at K + i * ld + g * row_bytes;
 * V alike): scores, softmax per head, weighted sum. q: G x hd (already scaled);
 * p: scratch of G x n; o: G x hd out. A head's sums run in the same order whatever G
 * is, so results do not depend on how heads are grouped into tasks. */
void mg_attn_heads(const mg_kv_ops *ops, int G, int hd, const float *q, const void *K, const void *V, size_t ld,
                   int n, float *p, float *o);

/* Kernels for `kv` and head_dim hd on the active ISA (mg_isa_active); `scalar` forces
 * the reference (attention_dispatch.c). */
const mg_kv_ops *mg_kv_ops_get(mg_kv_type kv, int hd, int scalar);
/* The scalar reference kernels for `kv`. */
const mg_kv_ops *mg_kv_ops_scalar(mg_kv_type kv);

/* The format a cache really uses for head_dim hd (q8_0 needs hd % 32 == 0, else f16). */
mg_kv_type mg_kv_effective(mg_kv_type kv, int hd);

#endif
