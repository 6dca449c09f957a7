/* attention_avx2.c — AVX2 + FMA + F16C attention kernels (see attention.h): one
 * head's row against the query 8 values at a time, head_dim tails in scalar code;
 * mg_kv_scores_loop / mg_kv_accum_loop run them over the heads of every cache row. */
#include "lm/attention.h"
#include "tensor/tensor.h"

#include <immintrin.h>
#include "tensor/simd_avx2.h"

static void store_f16(void *dst, const float *src, int hd) {
    uint16_t *d = dst;
    int e = 0;
    for (; e + 8 <= hd; e += 8)
        _mm_storeu_si128((__m128i *)(d + e), _mm256_cvtps_ph(_mm256_loadu_ps(src + e), _MM_FROUND_TO_NEAREST_INT));
    for (; e < hd; e++)
        d[e] = mg_f32_to_f16(src[e]);
}

static inline __m256 load_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/* Eight values of a float row at element e as f32, and one value (the tail). */
static inline __m256 f32_load8(const void *row, int e) { return _mm256_loadu_ps((const float *)row + e); }
static inline float f32_load1(const void *row, int e) { return ((const float *)row)[e]; }
static inline __m256 f16_load8(const void *row, int e) { return load_f16((const uint16_t *)row + e); }
static inline float f16_load1(const void *row, int e) { return mg_f16_to_f32(((const uint16_t *)row)[e]); }

/* One head's row against q, and o += a * row; always inlined with constant loaders, so
 * each float format gets its own straight code. */
static inline __attribute__((always_inline)) float dot_float(const float *q, const void *k, int hd,
                                                             __m256 (*load8)(const void *, int),
                                                             float (*load1)(const void *, int)) {
    __m256 acc = _mm256_setzero_ps();
    int e = 0;
    for (; e + 8 <= hd; e += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), load8(k, e), acc);
    float s = hsum8(acc);
    for (; e < hd; e++)
        s += q[e] * load1(k, e);
    return s;
}

static inline __attribute__((always_inline)) void axpy_float(float *o, float a, const void *v, int hd,
                                                             __m256 (*load8)(const void *, int),
                                                             float (*load1)(const void *, int)) {
    __m256 av = _mm256_set1_ps(a);
    int e = 0;
    for (; e + 32 <= hd; e += 32) { /* written out, as axpy_q8 below */
        __m256 o0 = _mm256_fmadd_ps(av, load8(v, e), _mm256_loadu_ps(o + e));
        __m256 o1 = _mm256_fmadd_ps(av, load8(v, e + 8), _mm256_loadu_ps(o + e + 8));
        __m256 o2 = _mm256_fmadd_ps(av, load8(v, e + 16), _mm256_loadu_ps(o + e + 16));
        __m256 o3 = _mm256_fmadd_ps(av, load8(v, e + 24), _mm256_loadu_ps(o + e + 24));
        _mm256_storeu_ps(o + e, o0);
        _mm256_storeu_ps(o + e + 8, o1);
        _mm256_storeu_ps(o + e + 16, o2);
        _mm256_storeu_ps(o + e + 24, o3);
    }
    for (; e + 8 <= hd; e += 8)
        _mm256_storeu_ps(o + e, _mm256_fmadd_ps(av, load8(v, e), _mm256_loadu_ps(o + e)));
    for (; e < hd; e++)
        o[e] += a * load1(v, e);
}

static inline float dot_f32(const float *q, const void *k, int hd) { return dot_float(q, k, hd, f32_load8, f32_load1); }
static inline void axpy_f32(float *o, float a, const void *v, int hd) { axpy_float(o, a, v, hd, f32_load8, f32_load1); }
static inline float dot_f16(const float *q, const void *k, int hd) { return dot_float(q, k, hd, f16_load8, f16_load1); }
static inline void axpy_f16(float *o, float a, const void *v, int hd) { axpy_float(o, a, v, hd, f16_load8, f16_load1); }

static inline __m256 load_q8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* Per block q . w first, then times the block's scale (the reference's order up to f32
 * rounding). */
static inline float dot_q8(const float *q, const void *k, int hd) {
    const mg_block_q8_0 *w = k;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < hd / MG_QK; b++) {
        const float *qb = q + b * MG_QK;
        __m256 s = _mm256_mul_ps(_mm256_loadu_ps(qb), load_q8(w[b].qs));
        s = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 8), load_q8(w[b].qs + 8), s);
        s = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 16), load_q8(w[b].qs + 16), s);
        s = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 24), load_q8(w[b].qs + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(w[b].d)), s, acc);
    }
    return hsum8(acc);
}

/* The block's four vectors written out: GCC 12 kept the loop over them rolled, and
 * the unrolled weighted sum takes ~74 instead of ~88 ns per cache row of 16 heads
 * (Zen 3, from L2; the same FMAs in the same order, so the same bits). */
static inline void axpy_q8(float *o, float a, const void *v, int hd) {
    const mg_block_q8_0 *w = v;
    for (int b = 0; b < hd / MG_QK; b++) {
        __m256 ab = _mm256_set1_ps(a * _cvtsh_ss(w[b].d));
        float *ob = o + b * MG_QK;
        __m256 o0 = _mm256_fmadd_ps(ab, load_q8(w[b].qs), _mm256_loadu_ps(ob));
        __m256 o1 = _mm256_fmadd_ps(ab, load_q8(w[b].qs + 8), _mm256_loadu_ps(ob + 8));
        __m256 o2 = _mm256_fmadd_ps(ab, load_q8(w[b].qs + 16), _mm256_loadu_ps(ob + 16));
        __m256 o3 = _mm256_fmadd_ps(ab, load_q8(w[b].qs + 24), _mm256_loadu_ps(ob + 24));
        _mm256_storeu_ps(ob, o0);
        _mm256_storeu_ps(ob + 8, o1);
        _mm256_storeu_ps(ob + 16, o2);
        _mm256_storeu_ps(ob + 24, o3);
    }
}

/* The scores of four heads at once: four independent FMA chains instead of one. A
 * single head's eight-FMA chain (head_dim 64) waits on the FMA latency at every step,
 * which held the f16 scores to ~9 GB/s per core on Zen 3, below the memory's pace.
 * Each head's sum is still the same operations in the same order as dot_float, so the
 * results are bit-identical to one head at a time (test_attention checks that). */
static inline __attribute__((always_inline)) void dot4_float(const float *q, const char *k, size_t rb, int hd,
                                                             float *out, __m256 (*load8)(const void *, int),
                                                             float (*load1)(const void *, int)) {
    const char *k1 = k + rb, *k2 = k + 2 * rb, *k3 = k + 3 * rb;
    const float *q1 = q + hd, *q2 = q + 2 * hd, *q3 = q + 3 * hd;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int e = 0;
    for (; e + 8 <= hd; e += 8) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), load8(k, e), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q1 + e), load8(k1, e), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q2 + e), load8(k2, e), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q3 + e), load8(k3, e), a3);
    }
    float s0 = hsum8(a0), s1 = hsum8(a1), s2 = hsum8(a2), s3 = hsum8(a3);
    for (; e < hd; e++) {
        s0 += q[e] * load1(k, e);
        s1 += q1[e] * load1(k1, e);
        s2 += q2[e] * load1(k2, e);
        s3 += q3[e] * load1(k3, e);
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

/* mg_kv_scores_loop with the heads taken four at a time (the rest one by one). */
static inline __attribute__((always_inline)) void scores_float(const float *q, int G, const void *K, size_t ld, int n,
                                                               int hd, float *p, size_t ps, size_t rb,
                                                               __m256 (*load8)(const void *, int),
                                                               float (*load1)(const void *, int)) {
    size_t used = (size_t)G * rb;
    int ahead = mg_kv_ahead_rows(used);
    for (int i = 0; i < n; i++) {
        const char *row = mg_kv_row(K, i, ld, ahead, used);
        int g = 0;
        for (; g + 4 <= G; g += 4) {
            float s[4];
            dot4_float(q + (size_t)g * hd, row + (size_t)g * rb, rb, hd, s, load8, load1);
            for (int j = 0; j < 4; j++)
                p[(size_t)(g + j) * ps + (size_t)i] = s[j];
        }
        for (; g < G; g++)
            p[(size_t)g * ps + (size_t)i] = dot_float(q + (size_t)g * hd, row + (size_t)g * rb, hd, load8, load1);
    }
}

static void scores_f32_x4(const float *q, int G, const void *K, size_t ld, int n, int hd, float *p, size_t ps) {
    scores_float(q, G, K, ld, n, hd, p, ps, mg_kv_row_bytes_f32(hd), f32_load8, f32_load1);
}
static void accum_f32_rows(float *o, int G, const float *p, size_t ps, const void *V, size_t ld, int n, int hd) {
    mg_kv_accum_loop(o, G, p, ps, V, ld, n, hd, mg_kv_row_bytes_f32(hd), axpy_f32);
}
static void scores_f16_x4(const float *q, int G, const void *K, size_t ld, int n, int hd, float *p, size_t ps) {
    scores_float(q, G, K, ld, n, hd, p, ps, mg_kv_row_bytes_f16(hd), f16_load8, f16_load1);
}
static void accum_f16_rows(float *o, int G, const float *p, size_t ps, const void *V, size_t ld, int n, int hd) {
    mg_kv_accum_loop(o, G, p, ps, V, ld, n, hd, mg_kv_row_bytes_f16(hd), axpy_f16);
}
MG_KV_KERNELS(q8)

static const mg_kv_ops ops[3] = {
    [MG_KV_F16] = {mg_kv_row_bytes_f16, store_f16, scores_f16_x4, accum_f16_rows},
    [MG_KV_F32] = {mg_kv_row_bytes_f32, mg_kv_store_f32, scores_f32_x4, accum_f32_rows},
    [MG_KV_Q8_0] = {mg_kv_row_bytes_q8, mg_kv_store_q8, scores_q8, accum_q8},
};

const mg_kv_ops *mg_kv_ops_avx2(mg_kv_type kv) { return &ops[kv]; }
