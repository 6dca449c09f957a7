/* attention_avx512.c — AVX-512 attention kernels: for the released models' head_dim
 * of 64 a K/V row is four 16-lane vectors; other sizes use the AVX2 versions. */
#include "lm/attention.h"
#include "tensor/tensor.h"

#include <immintrin.h>

const mg_kv_ops *mg_kv_ops_avx2(mg_kv_type kv);

static inline __m512 load_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

static void scores_f16(const float *q, const void *K, int n, int hd, float *out) {
    if (hd != 64) {
        mg_kv_ops_avx2(MG_KV_F16)->scores(q, K, n, hd, out);
        return;
    }
    const uint16_t *k = K;
    __m512 q0 = _mm512_loadu_ps(q), q1 = _mm512_loadu_ps(q + 16), q2 = _mm512_loadu_ps(q + 32),
           q3 = _mm512_loadu_ps(q + 48);
    for (int i = 0; i < n; i++, k += 64) {
        __m512 acc = _mm512_mul_ps(q0, load_f16(k));
        acc = _mm512_fmadd_ps(q1, load_f16(k + 16), acc);
        acc = _mm512_fmadd_ps(q2, load_f16(k + 32), acc);
        acc = _mm512_fmadd_ps(q3, load_f16(k + 48), acc);
        out[i] = _mm512_reduce_add_ps(acc);
    }
}

static void accum_f16(float *o, const float *p, const void *V, int n, int hd) {
    if (hd != 64) {
        mg_kv_ops_avx2(MG_KV_F16)->accum(o, p, V, n, hd);
        return;
    }
    const uint16_t *v = V;
    __m512 o0 = _mm512_loadu_ps(o), o1 = _mm512_loadu_ps(o + 16), o2 = _mm512_loadu_ps(o + 32),
           o3 = _mm512_loadu_ps(o + 48);
    for (int i = 0; i < n; i++, v += 64) {
        __m512 a = _mm512_set1_ps(p[i]);
        o0 = _mm512_fmadd_ps(a, load_f16(v), o0);
        o1 = _mm512_fmadd_ps(a, load_f16(v + 16), o1);
        o2 = _mm512_fmadd_ps(a, load_f16(v + 32), o2);
        o3 = _mm512_fmadd_ps(a, load_f16(v + 48), o3);
    }
    _mm512_storeu_ps(o, o0);
    _mm512_storeu_ps(o + 16, o1);
    _mm512_storeu_ps(o + 32, o2);
    _mm512_storeu_ps(o + 48, o3);
}

static size_t rb_f16(int hd) { return (size_t)hd * 2; }

static void store_f16(void *dst, const float *src, int hd) { mg_kv_ops_avx2(MG_KV_F16)->store(dst, src, hd); }

static const mg_kv_ops f16_ops = {rb_f16, store_f16, scores_f16, accum_f16};

const mg_kv_ops *mg_kv_ops_avx512(mg_kv_type kv) {
    return kv == MG_KV_F16 ? &f16_ops : NULL; /* f32 and q8_0: the AVX2 kernels */
}
