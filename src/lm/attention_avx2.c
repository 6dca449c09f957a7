/* attention_avx2.c — AVX2 + FMA + F16C attention kernels (see attention.h). Rows are
 * processed 8 values at a time; head_dim tails fall back to scalar code. */
#include "lm/attention.h"
#include "tensor/tensor.h"

#include <immintrin.h>
#include <string.h>

static inline float hsum8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static size_t rb_f32(int hd) { return (size_t)hd * 4; }
static size_t rb_f16(int hd) { return (size_t)hd * 2; }
static size_t rb_q8(int hd) { return (size_t)(hd / MG_QK) * sizeof(mg_block_q8_0); }
static void store_f32(void *dst, const float *src, int hd) { memcpy(dst, src, (size_t)hd * 4); }
static void store_q8(void *dst, const float *src, int hd) { mg_row_from_f32(MG_DT_Q8_0, src, dst, hd); }

static void store_f16(void *dst, const float *src, int hd) {
    uint16_t *d = dst;
    int e = 0;
    for (; e + 8 <= hd; e += 8)
        _mm_storeu_si128((__m128i *)(d + e), _mm256_cvtps_ph(_mm256_loadu_ps(src + e), _MM_FROUND_TO_NEAREST_INT));
    for (; e < hd; e++)
        d[e] = mg_f32_to_f16(src[e]);
}

static void scores_f32(const float *q, const void *K, int n, int hd, float *out) {
    const float *k = K;
    for (int i = 0; i < n; i++, k += hd) {
        mg_kv_prefetch(k, (size_t)hd * 4);
        __m256 acc = _mm256_setzero_ps();
        int e = 0;
        for (; e + 8 <= hd; e += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), _mm256_loadu_ps(k + e), acc);
        float s = hsum8(acc);
        for (; e < hd; e++)
            s += q[e] * k[e];
        out[i] = s;
    }
}

static void accum_f32(float *o, const float *p, const void *V, int n, int hd) {
    const float *v = V;
    for (int i = 0; i < n; i++, v += hd) {
        mg_kv_prefetch(v, (size_t)hd * 4);
        __m256 a = _mm256_set1_ps(p[i]);
        int e = 0;
        for (; e + 8 <= hd; e += 8)
            _mm256_storeu_ps(o + e, _mm256_fmadd_ps(a, _mm256_loadu_ps(v + e), _mm256_loadu_ps(o + e)));
        for (; e < hd; e++)
            o[e] += p[i] * v[e];
    }
}

static inline __m256 load_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static void scores_f16(const float *q, const void *K, int n, int hd, float *out) {
    const uint16_t *k = K;
    for (int i = 0; i < n; i++, k += hd) {
        mg_kv_prefetch(k, (size_t)hd * 2);
        __m256 acc = _mm256_setzero_ps();
        int e = 0;
        for (; e + 8 <= hd; e += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), load_f16(k + e), acc);
        float s = hsum8(acc);
        for (; e < hd; e++)
            s += q[e] * mg_f16_to_f32(k[e]);
        out[i] = s;
    }
}

static void accum_f16(float *o, const float *p, const void *V, int n, int hd) {
    const uint16_t *v = V;
    if (hd == 64) { /* the released models: keep the output row in registers */
        __m256 o0 = _mm256_loadu_ps(o), o1 = _mm256_loadu_ps(o + 8), o2 = _mm256_loadu_ps(o + 16),
               o3 = _mm256_loadu_ps(o + 24), o4 = _mm256_loadu_ps(o + 32), o5 = _mm256_loadu_ps(o + 40),
               o6 = _mm256_loadu_ps(o + 48), o7 = _mm256_loadu_ps(o + 56);
        for (int i = 0; i < n; i++, v += 64) {
            mg_kv_prefetch(v, 128);
            __m256 a = _mm256_set1_ps(p[i]);
            o0 = _mm256_fmadd_ps(a, load_f16(v), o0);
            o1 = _mm256_fmadd_ps(a, load_f16(v + 8), o1);
            o2 = _mm256_fmadd_ps(a, load_f16(v + 16), o2);
            o3 = _mm256_fmadd_ps(a, load_f16(v + 24), o3);
            o4 = _mm256_fmadd_ps(a, load_f16(v + 32), o4);
            o5 = _mm256_fmadd_ps(a, load_f16(v + 40), o5);
            o6 = _mm256_fmadd_ps(a, load_f16(v + 48), o6);
            o7 = _mm256_fmadd_ps(a, load_f16(v + 56), o7);
        }
        _mm256_storeu_ps(o, o0);
        _mm256_storeu_ps(o + 8, o1);
        _mm256_storeu_ps(o + 16, o2);
        _mm256_storeu_ps(o + 24, o3);
        _mm256_storeu_ps(o + 32, o4);
        _mm256_storeu_ps(o + 40, o5);
        _mm256_storeu_ps(o + 48, o6);
        _mm256_storeu_ps(o + 56, o7);
        return;
    }
    for (int i = 0; i < n; i++, v += hd) {
        mg_kv_prefetch(v, (size_t)hd * 2);
        __m256 a = _mm256_set1_ps(p[i]);
        int e = 0;
        for (; e + 8 <= hd; e += 8)
            _mm256_storeu_ps(o + e, _mm256_fmadd_ps(a, load_f16(v + e), _mm256_loadu_ps(o + e)));
        for (; e < hd; e++)
            o[e] += p[i] * mg_f16_to_f32(v[e]);
    }
}

static inline __m256 load_q8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* The lane sums of a, b, c, d: one transposing add tree for four rows. */
static inline __m128 hsum8x4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* One q8_0 row of nb blocks against q, as 8 partial sums: per block q . w first, then
 * times the block's scale (the reference's order up to f32 rounding). */
static inline __m256 q8_row_dot(const float *q, const mg_block_q8_0 *k, int nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const float *qb = q + b * MG_QK;
        __m256 s = _mm256_mul_ps(_mm256_loadu_ps(qb), load_q8(k[b].qs));
        s = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 8), load_q8(k[b].qs + 8), s);
        s = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 16), load_q8(k[b].qs + 16), s);
        s = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 24), load_q8(k[b].qs + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(k[b].d)), s, acc);
    }
    return acc;
}

/* Four rows at a time share one reduction (a horizontal sum per row was a third of
 * the work, and the q8_0 cache was no faster than f16 although it reads half). */
static void scores_q8(const float *q, const void *K, int n, int hd, float *out) {
    const mg_block_q8_0 *k = K;
    int nb = hd / MG_QK, i = 0;
    for (; i + 4 <= n; i += 4, k += 4 * nb) {
        mg_kv_prefetch(k, sizeof *k * (size_t)(4 * nb));
        _mm_storeu_ps(out + i, hsum8x4(q8_row_dot(q, k, nb), q8_row_dot(q, k + nb, nb), q8_row_dot(q, k + 2 * nb, nb),
                                       q8_row_dot(q, k + 3 * nb, nb)));
    }
    for (; i < n; i++, k += nb)
        out[i] = hsum8(q8_row_dot(q, k, nb));
}

/* head_dim 64 (the released models) keeps the output row in eight registers; other
 * sizes update it in memory block by block. */
static void accum_q8(float *o, const float *p, const void *V, int n, int hd) {
    const mg_block_q8_0 *v = V;
    int nb = hd / MG_QK;
    if (hd == 64) {
        __m256 ov[8];
        for (int e = 0; e < 8; e++)
            ov[e] = _mm256_loadu_ps(o + 8 * e);
        for (int i = 0; i < n; i++, v += 2) {
            mg_kv_prefetch(v, 2 * sizeof *v);
            __m256 a0 = _mm256_set1_ps(p[i] * _cvtsh_ss(v[0].d)), a1 = _mm256_set1_ps(p[i] * _cvtsh_ss(v[1].d));
            for (int e = 0; e < 4; e++) {
                ov[e] = _mm256_fmadd_ps(a0, load_q8(v[0].qs + 8 * e), ov[e]);
                ov[4 + e] = _mm256_fmadd_ps(a1, load_q8(v[1].qs + 8 * e), ov[4 + e]);
            }
        }
        for (int e = 0; e < 8; e++)
            _mm256_storeu_ps(o + 8 * e, ov[e]);
        return;
    }
    for (int i = 0; i < n; i++, v += nb) {
        mg_kv_prefetch(v, sizeof *v * (size_t)nb);
        for (int b = 0; b < nb; b++) {
            __m256 a = _mm256_set1_ps(p[i] * _cvtsh_ss(v[b].d));
            float *ob = o + b * MG_QK;
            for (int e = 0; e < MG_QK; e += 8)
                _mm256_storeu_ps(ob + e, _mm256_fmadd_ps(a, load_q8(v[b].qs + e), _mm256_loadu_ps(ob + e)));
        }
    }
}

static const mg_kv_ops ops[3] = {
    [MG_KV_F16] = {rb_f16, store_f16, scores_f16, accum_f16},
    [MG_KV_F32] = {rb_f32, store_f32, scores_f32, accum_f32},
    [MG_KV_Q8_0] = {rb_q8, store_q8, scores_q8, accum_q8},
};

const mg_kv_ops *mg_kv_ops_avx2(mg_kv_type kv) { return &ops[kv]; }
