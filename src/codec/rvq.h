/* rvq.h — EnCodec's residual vector quantizer (internal to src/codec): per level a
 * codebook `quantizer.layers.N.codebook.embed` [codebook_size][dim]; encoding picks
 * the nearest entry level by level on the running residual, decoding sums the chosen
 * entries. Follows EncodecResidualVectorQuantizer / EncodecEuclideanCodebook. */
#ifndef MG_CODEC_RVQ_H
#define MG_CODEC_RVQ_H

#include "base/pool.h"
#include "base/status.h"
#include "io/store.h"
#include "tensor/gemm.h"

#include <stdint.h>

typedef struct ec_rvq {
    int n_levels, size, dim;
    const float **embed;  /* per level [size][dim] (mapped) */
    mg_gemm_b *embed_t;   /* per level, packed for x [T][dim] . embed^T -> [T][size] */
    float **norm2;        /* per level |e_j|^2 [size] */
} ec_rvq;

mg_status ec_rvq_load(ec_rvq *q, mg_store *s, const char *prefix, int n_levels, int size, int dim);
void ec_rvq_free(ec_rvq *q);
int64_t ec_rvq_packed_bytes(const ec_rvq *q);

/* codes [n_q][T] (level-major) -> emb [T][dim]. Codes must be in range (checked by caller). */
void ec_rvq_decode(const ec_rvq *q, const int64_t *codes, int n_q, int64_t T, float *emb);
/* emb [T][dim] -> codes [n_q][T]. */
mg_status ec_rvq_encode(const ec_rvq *q, mg_pool *pool, const float *emb, int64_t T, int n_q, int64_t *codes);

#endif
