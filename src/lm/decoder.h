/* decoder.h — the MusicGen transformer decoder (MusicgenForCausalLM) with a KV cache.
 *
 * Follows transformers' modeling_musicgen.py: the K codebook embeddings of a column
 * are summed, the sinusoidal position of the column is added, then pre-LayerNorm
 * layers of causal self-attention (cached), cross-attention over the projected text
 * states (their K/V computed once per generation), and a GELU feed-forward; a final
 * LayerNorm and K separate lm_heads give V logits per codebook. Attention is
 * BART-style (q scaled by head_dim^-0.5), no biases in projections.
 *
 * A decoder "row" is one sequence of the decoder batch: with classifier-free guidance
 * the rows are [conditional items..., unconditional items...]. Token ids of a row are
 * [K][n] per call (one column per position); logits come back as [row][K][V].
 */
#ifndef MG_LM_DECODER_H
#define MG_LM_DECODER_H

#include "base/pool.h"
#include "io/config.h"
#include "io/store.h"
#include "musicgen.h"

typedef struct mg_dec_layer {
    const float *ln_self_w, *ln_self_b;   /* self_attn_layer_norm */
    mg_matrix sq, sk, sv, so;             /* self_attn.{q,k,v,out}_proj */
    const float *ln_cross_w, *ln_cross_b; /* encoder_attn_layer_norm */
    mg_matrix cq, ck, cv, co;             /* encoder_attn.{q,k,v,out}_proj */
    const float *ln_ff_w, *ln_ff_b;       /* final_layer_norm */
    mg_matrix fc1, fc2;
} mg_dec_layer;

typedef struct mg_decoder {
    mg_decoder_config cfg;
    int head_dim;
    mg_tensor *embed;      /* K tables [V + 1, d] (row V = pad/start) */
    mg_dtype embed_round;  /* rows rounded through this 16-bit format when read (f32: none) */
    const float *pos;      /* [max_position_embeddings, d] sinusoidal table */
    float *pos_owned;      /* computed table when the checkpoint has none */
    mg_dec_layer *layers;
    const float *ln_w, *ln_b; /* final layer_norm */
    mg_matrix *lm_heads;   /* K heads [V, d] */
    const mg_store *store; /* where mapped weights live (to hand pages back) */
    void *step_copy;       /* the per-step matrices read into memory, or NULL */
} mg_decoder;

mg_status mg_decoder_load(const mg_config *cfg, mg_store *s, mg_dtype want, mg_decoder **out);
void mg_decoder_free(mg_decoder *d);
/* Bytes of decoder weights a step reads (all layers + heads, cross K/V excluded). */
int64_t mg_decoder_step_weight_bytes(const mg_decoder *d);
/* Read the matrices a step uses out of the mapped files into one huge-page buffer, in
 * the order a step reads them, and hand the mapped pages back (mg_model_params.no_mmap;
 * see base/bigbuf.h for why the step runs faster from it). Converted copies stay put. */
mg_status mg_decoder_copy_step_weights(mg_decoder *d);
/* The default instead of the copy: map the matrices a step uses, where they stay in the
 * mapped files, with 2 MiB pages (mg_store_map_huge). Measured on the 2-core VM:
 * musicgen-large steps 1.2-2.1x faster (q8_0, f16), -small unchanged. Only whole huge
 * pages inside the matrices (neighbours at most 64 KiB apart taken together) change,
 * so released weights (T5, cross-attention K/V projections) stay out of the RSS. */
void mg_decoder_map_step_weights_huge(mg_decoder *d);

/* Sinusoidal table as transformers computes it (float32), for checkpoints without one. */
void mg_decoder_sinusoids(float *table, int n_pos, int dim);

/* Per-generation state: self-attention KV cache, cached cross-attention K/V and scratch. */
typedef struct mg_dec_state mg_dec_state;

/* MG_ERR_NOMEM (naming `what`, or the cache's rows and positions when NULL, and a
 * remedy) when the attention caches of a state (mg_dec_state_new's sizes) exceed the
 * memory available (mg_memory_check); mg_dec_state_new checks before allocating. */
mg_status mg_dec_state_check_memory(const mg_decoder *d, int rows, int max_len, mg_kv_type kv, int S,
                                    const char *what);

/* rows: decoder batch rows; max_len: columns the cache must hold; enc: [rows][S][d]
 * projected text states (already masked), enc_mask: [rows][S] (1 = token). A row whose
 * mask is all zero gets a zero cross-attention output (the reference's unconditional rows). */
mg_status mg_dec_state_new(const mg_decoder *d, mg_pool *pool, int rows, int max_len, mg_kv_type kv,
                           const float *enc, const int32_t *enc_mask, int S, mg_dec_state **out);
void mg_dec_state_free(mg_dec_state *s);
/* Columns already in the cache. */
int mg_dec_state_len(const mg_dec_state *s);

/* Where a state's forward passes spent their wall time, in seconds: the weight
 * matrices (projections, feed-forward and lm heads, with the layer norms and residual
 * adds between them), self-attention over the KV cache, cross-attention over the text.
 * The token embedding and everything outside mg_dec_forward are in none of them. */
typedef struct mg_dec_times {
    double matmul_s, self_attn_s, cross_attn_s;
} mg_dec_times;
/* *acc += *t; and *acc += the state's times so far. */
void mg_dec_times_add(mg_dec_times *acc, const mg_dec_times *t);
void mg_dec_state_add_times(const mg_dec_state *s, mg_dec_times *acc);

/* Run n new columns per row: tokens[r][k][n] (ids 0..V, V = pad/start).
 * If all_logits: logits [rows][n][K][V]; else logits of the last column [rows][K][V].
 * Optional debug outputs (may be NULL): layer0 / final-LN hidden states [rows][n][d]. */
mg_status mg_dec_forward(mg_dec_state *s, mg_pool *pool, const int32_t *tokens, int n, float *logits, int all_logits,
                         float *dbg_layer0, float *dbg_final);

#endif
