/* t5.h — the T5 text encoder of MusicGen and its enc_to_dec_proj projection.
 *
 * Follows transformers' T5EncoderModel (modeling_t5.py): token embedding (no scale),
 * pre-norm blocks with T5 RMS layer norm, unscaled self-attention with a relative
 * position bias computed once by block 0 and shared by all blocks, ReLU feed-forward
 * (or the config's activation, optionally gated: act(wi_0 x) * wi_1 x, as T5 v1.1),
 * final RMS norm; then MusicGen's enc_to_dec_proj (Linear with bias, identity when the
 * checkpoint has none) and the attention-mask multiply, which yields the states the
 * decoder cross-attends to. Padded batches are right-padded; pad keys are masked.
 */
#ifndef MG_TEXT_T5_H
#define MG_TEXT_T5_H

#include "base/pool.h"
#include "io/config.h"
#include "io/store.h"

typedef struct mg_t5_layer {
    const float *ln_attn, *ln_ff; /* RMS norm weights [d_model] */
    mg_matrix q, k, v, o;         /* [inner, d], [d, inner] with inner = heads * d_kv */
    mg_matrix wi, wo;             /* [d_ff, d], [d, d_ff]; wi is wi_0 when gated */
    mg_matrix wi_1;               /* [d_ff, d], gated feed-forward only */
} mg_t5_layer;

typedef struct mg_t5 {
    mg_t5_config cfg;
    mg_tensor embed;        /* text_encoder.shared.weight [vocab, d] (any float format) */
    mg_dtype embed_round;   /* rows rounded through this 16-bit format when read (f32: none) */
    const float *rel_bias;  /* [num_buckets, heads] */
    mg_t5_layer *layers;
    const float *final_ln;
    int has_proj;
    mg_matrix proj;         /* enc_to_dec_proj.weight [dec_hidden, d] */
    const float *proj_bias; /* [dec_hidden] */
    int out_dim;            /* decoder hidden size */
    /* Byte ranges of the mapped weights, so their pages can be released after use. */
    mg_store *store;
} mg_t5;

/* The longest prompt (in tokens) encode accepts; longer prompts are an error. */
#define MG_T5_MAX_TOKENS 2048

/* `want` is the model's weight format (MG_DT_COUNT: as stored); the matrices get
 * mg_text_matrix_format's format for it (f16 at most unless f32 or small). */
mg_status mg_t5_load(const mg_config *cfg, mg_store *s, mg_dtype want, mg_t5 **out);
void mg_t5_free(mg_t5 *t);

/* Release the memory pages of the T5 weights (mapped from the checkpoint) after an
 * encode: the encoder runs once per generation, the decoder needs the room. */
void mg_t5_release_pages(const mg_t5 *t);

/* T5 relative-position bucket of (key_pos - query_pos), bidirectional (exposed for tests). */
int mg_t5_bucket(int rel, int num_buckets, int max_distance);
/* The smallest token distance below `limit` that gets no bucket (with max_distance at or
 * below a quarter of the buckets, far-apart tokens get none; transformers fails on them
 * too), so prompts of more tokens than it cannot be encoded; 0 if every distance has one. */
int mg_t5_first_unbucketed(int num_buckets, int max_distance, int limit);

/* Encode B right-padded sequences of T ids (mask 1 = token, 0 = pad).
 * hidden: [B, T, d_model] last hidden state (may be NULL);
 * states: [B, T, out_dim] = enc_to_dec_proj(hidden) * mask (may be NULL). */
mg_status mg_t5_encode(const mg_t5 *t, mg_pool *pool, const int32_t *ids, const int32_t *mask, int B, int T,
                       float *hidden, float *states);

/* Optional hook for tests: the output of block 0 and the position bias [heads, T, T]
 * of the last encode (both may be NULL). */
typedef struct mg_t5_debug {
    float *layer0_out;    /* [B, T, d] */
    float *position_bias; /* [heads, T, T] */
} mg_t5_debug;
mg_status mg_t5_encode_debug(const mg_t5 *t, mg_pool *pool, const int32_t *ids, const int32_t *mask, int B, int T,
                             float *hidden, float *states, mg_t5_debug *dbg);

#endif
