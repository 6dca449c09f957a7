/* attention_avx512.c — AVX-512 attention kernels for f16 and q8_0 caches: for the
 * released models' head_dim of 64 a head's K/V row is four 16-lane vectors (q8_0: two
 * 32-value blocks, each widened to f32 and scaled by its f16 scale); other sizes, and
 * f32 caches, use the AVX2 versions. */
#include "lm/attention.h"
#include "tensor/tensor.h"

#include <immintrin.h>

const mg_kv_ops *mg_kv_ops_avx2(mg_kv_type kv);

static inline __m512 load_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

static void store_f16(void *dst, const float *src, int hd) { mg_kv_ops_avx2(MG_KV_F16)->store(dst, src, hd); }

/* One head's row of head_dim 64 against q: four vectors, one reduction. */
static inline float dot_f16(const float *q, const void *k, int hd) {
    (void)hd;
    const uint16_t *w = k;
    __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(q), load_f16(w));
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + 16), load_f16(w + 16), acc);
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + 32), load_f16(w + 32), acc);
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + 48), load_f16(w + 48), acc);
    return _mm512_reduce_add_ps(acc);
}

static inline void axpy_f16(float *o, float a, const void *v, int hd) {
    (void)hd;
    const uint16_t *w = v;
    __m512 av = _mm512_set1_ps(a);
    for (int j = 0; j < 4; j++)
        _mm512_storeu_ps(o + 16 * j, _mm512_fmadd_ps(av, load_f16(w + 16 * j), _mm512_loadu_ps(o + 16 * j)));
}

/* 16 int8 values of a q8_0 block as f32. */
static inline __m512 load_q8x16(const int8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/* One q8_0 head row of head_dim 64 (blocks 0, 1) against q: per block q . w first,
 * then times the block's scale (the reference's order up to f32 rounding). */
static inline float dot_q8(const float *q, const void *k, int hd) {
    (void)hd;
    const mg_block_q8_0 *w = k;
    __m512 s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 16), load_q8x16(w[0].qs + 16),
                                _mm512_mul_ps(_mm512_loadu_ps(q), load_q8x16(w[0].qs)));
    __m512 s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + 48), load_q8x16(w[1].qs + 16),
                                _mm512_mul_ps(_mm512_loadu_ps(q + 32), load_q8x16(w[1].qs)));
    return _mm512_reduce_add_ps(
        _mm512_fmadd_ps(s1, _mm512_set1_ps(_cvtsh_ss(w[1].d)), _mm512_mul_ps(s0, _mm512_set1_ps(_cvtsh_ss(w[0].d)))));
}

static inline void axpy_q8(float *o, float a, const void *v, int hd) {
    (void)hd;
    const mg_block_q8_0 *w = v;
    __m512 a0 = _mm512_set1_ps(a * _cvtsh_ss(w[0].d)), a1 = _mm512_set1_ps(a * _cvtsh_ss(w[1].d));
    _mm512_storeu_ps(o, _mm512_fmadd_ps(a0, load_q8x16(w[0].qs), _mm512_loadu_ps(o)));
    _mm512_storeu_ps(o + 16, _mm512_fmadd_ps(a0, load_q8x16(w[0].qs + 16), _mm512_loadu_ps(o + 16)));
    _mm512_storeu_ps(o + 32, _mm512_fmadd_ps(a1, load_q8x16(w[1].qs), _mm512_loadu_ps(o + 32)));
    _mm512_storeu_ps(o + 48, _mm512_fmadd_ps(a1, load_q8x16(w[1].qs + 16), _mm512_loadu_ps(o + 48)));
}

MG_KV_KERNELS(f16)
MG_KV_KERNELS(q8)

static const mg_kv_ops f16_ops = {mg_kv_row_bytes_f16, store_f16, scores_f16, accum_f16};
static const mg_kv_ops q8_ops = {mg_kv_row_bytes_q8, mg_kv_store_q8, scores_q8, accum_q8};

/* head_dim 64 only (the released models): other sizes, and f32 caches, take the AVX2
 * kernels. */
const mg_kv_ops *mg_kv_ops_avx512(mg_kv_type kv, int hd) {
    if (hd != 64)
        return NULL;
    return kv == MG_KV_F16 ? &f16_ops : kv == MG_KV_Q8_0 ? &q8_ops : NULL;
}
