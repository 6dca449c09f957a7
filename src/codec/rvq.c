/* rvq.c — residual vector quantization (see rvq.h). Encoding computes, per level,
 * dist_j = -(|x|^2 - 2 x.e_j + |e_j|^2) for every codebook entry exactly as the
 * reference writes it (the x.e_j for a block of frames is one GEMM), takes the first
 * argmax, and subtracts the chosen entry from the residual. Decoding adds the chosen
 * entries of the levels in order, starting from zero. */
#include "codec/rvq.h"

#include <stdlib.h>
#include <string.h>

#define RVQ_FRAMES_PER_BLOCK 256

mg_status ec_rvq_load(ec_rvq *q, mg_store *s, const char *prefix, int n_levels, int size, int dim) {
    memset(q, 0, sizeof *q);
    q->n_levels = n_levels;
    q->size = size;
    q->dim = dim;
    q->embed = mg_calloc((size_t)n_levels, sizeof *q->embed, "codebooks");
    q->embed_t = mg_calloc((size_t)n_levels, sizeof *q->embed_t, "codebooks");
    q->norm2 = mg_calloc((size_t)n_levels, sizeof *q->norm2, "codebooks");
    if (!q->embed || !q->embed_t || !q->norm2)
        return MG_ERR_NOMEM;
    char name[256];
    int64_t shape[2] = {size, dim};
    for (int l = 0; l < n_levels; l++) {
        snprintf(name, sizeof name, "%s.layers.%d.codebook.embed", prefix, l);
        MG_TRY(mg_store_get_f32(s, name, 2, shape, &q->embed[l]));
        MG_TRY(mg_gemm_pack_b(&q->embed_t[l], dim, size, q->embed[l], 1, dim));
        q->norm2[l] = mg_malloc((size_t)size * sizeof(float), "codebook norms");
        if (!q->norm2[l])
            return MG_ERR_NOMEM;
        for (int j = 0; j < size; j++) {
            const float *e = q->embed[l] + (int64_t)j * dim;
            float n2 = 0;
            for (int d = 0; d < dim; d++)
                n2 += e[d] * e[d];
            q->norm2[l][j] = n2;
        }
    }
    return MG_OK;
}

void ec_rvq_free(ec_rvq *q) {
    if (q->embed_t)
        for (int l = 0; l < q->n_levels; l++)
            mg_gemm_b_free(&q->embed_t[l]);
    if (q->norm2)
        for (int l = 0; l < q->n_levels; l++)
            free(q->norm2[l]);
    free(q->embed);
    free(q->embed_t);
    free(q->norm2);
    memset(q, 0, sizeof *q);
}

int64_t ec_rvq_packed_bytes(const ec_rvq *q) {
    int64_t n = 0;
    for (int l = 0; l < q->n_levels; l++)
        n += mg_gemm_b_bytes(&q->embed_t[l]) + (int64_t)q->size * 4;
    return n;
}

void ec_rvq_decode(const ec_rvq *q, const int64_t *codes, int n_q, int64_t T, float *emb) {
    const int D = q->dim;
    memset(emb, 0, (size_t)(T * D) * sizeof(float));
    for (int l = 0; l < n_q; l++)
        for (int64_t t = 0; t < T; t++) {
            const float *e = q->embed[l] + codes[(int64_t)l * T + t] * D;
            float *o = emb + t * D;
            for (int d = 0; d < D; d++)
                o[d] += e[d];
        }
}

mg_status ec_rvq_encode(const ec_rvq *q, mg_pool *pool, const float *emb, int64_t T, int n_q, int64_t *codes) {
    const int D = q->dim, S = q->size;
    int64_t tb_max = T < RVQ_FRAMES_PER_BLOCK ? T : RVQ_FRAMES_PER_BLOCK;
    float *res = malloc((size_t)(tb_max * D) * sizeof(float));
    float *dots = malloc((size_t)(tb_max * S) * sizeof(float));
    if (!res || !dots) {
        free(res);
        free(dots);
        return mg_fail(MG_ERR_NOMEM, "out of memory for the EnCodec quantizer");
    }
    for (int64_t t0 = 0; t0 < T; t0 += tb_max) {
        int64_t tb = T - t0 < tb_max ? T - t0 : tb_max;
        memcpy(res, emb + t0 * D, (size_t)(tb * D) * sizeof(float));
        for (int l = 0; l < n_q; l++) {
            mg_gemm(pool, tb, res, D, &q->embed_t[l], dots, S, NULL, 0);
            for (int64_t t = 0; t < tb; t++) {
                float *r = res + t * D;
                float xx = 0;
                for (int d = 0; d < D; d++)
                    xx += r[d] * r[d];
                const float *dt = dots + t * S;
                int best = 0;
                float best_v = -(xx - 2.0f * dt[0] + q->norm2[l][0]);
                for (int j = 1; j < S; j++) {
                    float v = -(xx - 2.0f * dt[j] + q->norm2[l][j]);
                    if (v > best_v) {
                        best_v = v;
                        best = j;
                    }
                }
                codes[(int64_t)l * T + t0 + t] = best;
                const float *e = q->embed[l] + (int64_t)best * D;
                for (int d = 0; d < D; d++)
                    r[d] -= e[d];
            }
        }
    }
    free(res);
    free(dots);
    return MG_OK;
}
