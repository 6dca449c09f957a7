/* attention.h — the inner loops of attention over a KV cache, per cache format
 * (f32, f16, q8_0) and per ISA (scalar reference, AVX2+F16C, AVX-512, NEON):
 *   scores[i] = q . K[i]            for the n cached positions of one head
 *   out      += sum_i p[i] * V[i]
 * K/V rows are head_dim values in the cache's format (q8_0: head_dim % 32 == 0).
 * The scalar versions are the reference the SIMD ones are tested against. */
#ifndef MG_LM_ATTENTION_H
#define MG_LM_ATTENTION_H

#include "musicgen.h"

#include <stddef.h>

typedef struct mg_kv_ops {
    size_t (*row_bytes)(int hd);
    void (*store)(void *dst, const float *src, int hd);
    void (*scores)(const float *q, const void *K, int n, int hd, float *out);
    void (*accum)(float *out, const float *p, const void *V, int n, int hd);
} mg_kv_ops;

/* The SIMD loops ask for the cache bytes MG_KV_AHEAD_BYTES ahead of the row they
 * read: a head's K (or V) rows are one contiguous run, but the hardware prefetcher
 * alone streamed them at ~15-17 GB/s on the 2-core VM where a read loop does 20-24.
 * A distance in bytes treats the formats alike (it was 8 rows: 1 KiB of f16, 2 KiB of
 * f32, 544 B of q8_0). bench_attention at 1500 positions (a 30 s window's end), 5
 * alternating runs each, median ms per step for 1 / 2 / 3 KiB: f16 13.0 / 12.2 / 12.5,
 * f32 26.9 / 24.4 / 23.8, q8_0 8.6 / 7.6 / 6.9 (8 rows of q8_0: slower than 1 KiB).
 * Prefetches never fault, so running past the end is harmless. */
#ifndef MG_KV_AHEAD_BYTES
#define MG_KV_AHEAD_BYTES 3072
#endif
static inline void mg_kv_prefetch(const void *row, size_t row_bytes) {
    for (size_t off = 0; off < row_bytes; off += 64)
        __builtin_prefetch((const char *)row + MG_KV_AHEAD_BYTES + off);
}

/* Starts the two streams of one head's attention at once: the first
 * MG_KV_AHEAD_BYTES of its K and V rows (`bytes` in all, each), which the loops'
 * own prefetches never ask for. Without it V's first rows were demand misses after
 * the whole K pass; with it a q4_0 step's self-attention took 1.30-1.34 ms instead of
 * 1.36-1.55 (musicgen-small, 10 s, five alternating runs). */
static inline void mg_kv_prefetch_head(const void *K, const void *V, size_t bytes) {
    if (bytes > MG_KV_AHEAD_BYTES)
        bytes = MG_KV_AHEAD_BYTES;
    for (size_t off = 0; off < bytes; off += 64) {
        __builtin_prefetch((const char *)K + off);
        __builtin_prefetch((const char *)V + off);
    }
}

/* Kernels for `kv` on the active ISA (mg_isa_active); `scalar` forces the reference. */
const mg_kv_ops *mg_kv_ops_get(mg_kv_type kv, int scalar);

/* The format a cache really uses for head_dim hd (q8_0 needs hd % 32 == 0, else f16). */
mg_kv_type mg_kv_effective(mg_kv_type kv, int hd);

#endif
