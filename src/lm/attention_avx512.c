/* attention_avx512.c — AVX-512 attention kernels for f16 and q8_0 caches: for the
 * released models' head_dim of 64 a K/V row is four 16-lane vectors (q8_0: two
 * 32-value blocks, each widened to f32 and scaled by its f16 scale); other sizes, and
 * f32 caches, use the AVX2 versions. */
#include "lm/attention.h"
#include "tensor/tensor.h"

#include <immintrin.h>

const mg_kv_ops *mg_kv_ops_avx2(mg_kv_type kv);

static inline __m512 load_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

/* A head_dim-64 f32 row (a query, an output) as four vectors, and back. */
static inline void row_load(const float *p, __m512 r[4]) {
    for (int i = 0; i < 4; i++)
        r[i] = _mm512_loadu_ps(p + 16 * i);
}

static inline void row_store(float *p, const __m512 r[4]) {
    for (int i = 0; i < 4; i++)
        _mm512_storeu_ps(p + 16 * i, r[i]);
}

static void scores_f16(const float *q, const void *K, int n, int hd, float *out) {
    if (hd != 64) {
        mg_kv_ops_avx2(MG_KV_F16)->scores(q, K, n, hd, out);
        return;
    }
    const uint16_t *k = K;
    __m512 qv[4];
    row_load(q, qv);
    for (int i = 0; i < n; i++, k += 64) {
        mg_kv_prefetch(k, 128);
        __m512 acc = _mm512_mul_ps(qv[0], load_f16(k));
        acc = _mm512_fmadd_ps(qv[1], load_f16(k + 16), acc);
        acc = _mm512_fmadd_ps(qv[2], load_f16(k + 32), acc);
        acc = _mm512_fmadd_ps(qv[3], load_f16(k + 48), acc);
        out[i] = _mm512_reduce_add_ps(acc);
    }
}

static void accum_f16(float *o, const float *p, const void *V, int n, int hd) {
    if (hd != 64) {
        mg_kv_ops_avx2(MG_KV_F16)->accum(o, p, V, n, hd);
        return;
    }
    const uint16_t *v = V;
    __m512 ov[4];
    row_load(o, ov);
    for (int i = 0; i < n; i++, v += 64) {
        mg_kv_prefetch(v, 128);
        __m512 a = _mm512_set1_ps(p[i]);
        for (int j = 0; j < 4; j++)
            ov[j] = _mm512_fmadd_ps(a, load_f16(v + 16 * j), ov[j]);
    }
    row_store(o, ov);
}

static size_t rb_f16(int hd) { return (size_t)hd * 2; }

static void store_f16(void *dst, const float *src, int hd) { mg_kv_ops_avx2(MG_KV_F16)->store(dst, src, hd); }

static const mg_kv_ops f16_ops = {rb_f16, store_f16, scores_f16, accum_f16};

/* 16 int8 values of a q8_0 block as f32. */
static inline __m512 load_q8x16(const int8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/* One q8_0 row of head_dim 64 (blocks b0, b1) against q, as 16 partial sums: per block
 * q . w first, then times the block's scale (the reference's order up to f32 rounding). */
static inline __m512 q8_row_dot(const __m512 qv[4], const mg_block_q8_0 *k) {
    __m512 s0 = _mm512_fmadd_ps(qv[1], load_q8x16(k[0].qs + 16), _mm512_mul_ps(qv[0], load_q8x16(k[0].qs)));
    __m512 s1 = _mm512_fmadd_ps(qv[3], load_q8x16(k[1].qs + 16), _mm512_mul_ps(qv[2], load_q8x16(k[1].qs)));
    return _mm512_fmadd_ps(s1, _mm512_set1_ps(_cvtsh_ss(k[1].d)), _mm512_mul_ps(s0, _mm512_set1_ps(_cvtsh_ss(k[0].d))));
}

/* The lane sums of a, b, c, d: one transposing add tree for four rows instead of four
 * separate reductions (which were most of the work per q8_0 row). */
static inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512 t = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(t), _mm512_extractf32x8_ps(t, 1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

static void scores_q8(const float *q, const void *K, int n, int hd, float *out) {
    if (hd != 64) {
        mg_kv_ops_avx2(MG_KV_Q8_0)->scores(q, K, n, hd, out);
        return;
    }
    const mg_block_q8_0 *k = K;
    __m512 qv[4];
    row_load(q, qv);
    int i = 0;
    for (; i + 4 <= n; i += 4, k += 8) {
        mg_kv_prefetch(k, 8 * sizeof *k);
        _mm_storeu_ps(out + i, reduce4(q8_row_dot(qv, k), q8_row_dot(qv, k + 2), q8_row_dot(qv, k + 4),
                                       q8_row_dot(qv, k + 6)));
    }
    for (; i < n; i++, k += 2)
        out[i] = _mm512_reduce_add_ps(q8_row_dot(qv, k));
}

static void accum_q8(float *o, const float *p, const void *V, int n, int hd) {
    if (hd != 64) {
        mg_kv_ops_avx2(MG_KV_Q8_0)->accum(o, p, V, n, hd);
        return;
    }
    const mg_block_q8_0 *v = V;
    __m512 ov[4];
    row_load(o, ov);
    for (int i = 0; i < n; i++, v += 2) {
        mg_kv_prefetch(v, 2 * sizeof *v);
        __m512 a0 = _mm512_set1_ps(p[i] * _cvtsh_ss(v[0].d)), a1 = _mm512_set1_ps(p[i] * _cvtsh_ss(v[1].d));
        ov[0] = _mm512_fmadd_ps(a0, load_q8x16(v[0].qs), ov[0]);
        ov[1] = _mm512_fmadd_ps(a0, load_q8x16(v[0].qs + 16), ov[1]);
        ov[2] = _mm512_fmadd_ps(a1, load_q8x16(v[1].qs), ov[2]);
        ov[3] = _mm512_fmadd_ps(a1, load_q8x16(v[1].qs + 16), ov[3]);
    }
    row_store(o, ov);
}

static size_t rb_q8(int hd) { return (size_t)(hd / MG_QK) * sizeof(mg_block_q8_0); }

static void store_q8(void *dst, const float *src, int hd) { mg_kv_ops_avx2(MG_KV_Q8_0)->store(dst, src, hd); }

static const mg_kv_ops q8_ops = {rb_q8, store_q8, scores_q8, accum_q8};

const mg_kv_ops *mg_kv_ops_avx512(mg_kv_type kv) {
    return kv == MG_KV_F16 ? &f16_ops : kv == MG_KV_Q8_0 ? &q8_ops : NULL; /* f32: the AVX2 kernels */
}
