/* mg-random-checkpoint.c — make a Hugging Face-format MusicGen checkpoint folder
 * with random weights for ANY config.json (e.g. the released musicgen-small/-medium/
 * -large configs in ../shared/reference/configs), so full-size runs exercise real
 * memory traffic without the released weights.
 *
 *   mg-random-checkpoint CONFIG_JSON OUT_DIR [--seed N] [--spiece FILE]
 *                        [--dtype f32|f16|bf16] [--max-shard-size SIZE]
 *                        [--init realistic|reference] [--force]
 *
 * Writes config.json (copied verbatim), generation_config.json (MusicGen's
 * defaults: sampling, guidance 3, top-k 250, max_length 1500 capped by what the
 * position table allows, start/pad id = decoder vocab_size), spiece.model, and the
 * weights exactly as transformers' save_pretrained lays them out: every tensor
 * of MusicgenForConditionalGeneration (T5 encoder without the tied embed_tokens
 * copy, enc_to_dec_proj only when the hidden sizes differ, EnCodec with
 * weight_g/weight_v, LSTMs and quantizer buffers, the decoder with its V+1-row
 * embeddings, sinusoidal position table, layers and lm_heads), headers sorted by
 * name; split into model-0000i-of-0000n.safetensors + model.safetensors.index.json
 * when larger than max_shard_size (transformers' default "5GB" = 5e9 bytes, filled
 * in module order like huggingface_hub's split_torch_state_dict_into_shards).
 *
 * Weights are seeded per tensor (same seed => same values, whatever the dtype or
 * sharding), drawn fast (a 4-term Irwin-Hall sum approximates the normal) and
 * streamed to disk chunk by chunk. They are scaled to keep activations in a
 * realistic range: linear/LSTM matrices N(0, 1/fan_in) (T5 q additionally / d_kv,
 * as T5's own init), embeddings N(0, 1), norm weights 1 + 0.1 N, biases 0.02 N,
 * T5 relative bias 0.1 N, conv weight_v N(0, 1) with weight_g ~ U(0.8, 1.2)
 * (transposed convs scaled by sqrt(stride / 2) to keep unit variance, the last
 * decoder conv 0.3 so audio has std ~0.3), codebooks N(0, 0.5^level).
 * `--init reference` draws instead with the recipe of ../shared/reference's fixtures
 * (its README, "Random init"): matrices N(0, (1.5/sqrt(fan_in))^2), lm_heads
 * N(0, (2/sqrt(d))^2), biases 0.1 N, T5 relative bias N(0, 1), weight_g U(0.8, 1.6):
 * checkpoints as sensitive to rounding as the fixtures, for studies of quantized
 * formats' greedy agreement (bench/quant_agreement.sh) on shapes the fixtures lack.
 * It is not a trained model: the audio it makes is noise.
 */
#include "base/file.h"
#include "base/rng.h"
#include "base/timing.h"
#include "io/config.h"
#include "io/safetensors_stream.h"
#include "text/spm.h"
#include "tensor/tensor.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the tensor list ------------------------------------------------------------------ */

typedef enum init_kind {
    INIT_NORMAL,    /* N(0, a^2) */
    INIT_LN,        /* 1 + 0.1 N */
    INIT_UNIFORM,   /* U(a, b) */
    INIT_CONST,     /* a */
    INIT_POSITIONS  /* sinusoidal table */
} init_kind;

typedef struct tdef {
    char name[192];
    char seed_key[192]; /* values are drawn from a stream seeded by this name */
    int ndim;
    int64_t shape[4];
    init_kind kind;
    float a, b;
    uint64_t nbytes;
    int shard;
} tdef;

typedef struct tlist {
    tdef *t;
    int n, cap;
    int oom;
} tlist;

static tdef *add(tlist *l, const char *prefix, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2,
                 init_kind kind, float a, float b) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 512;
        tdef *nt = realloc(l->t, (size_t)cap * sizeof *nt);
        if (!nt) {
            l->oom = 1;
            return NULL;
        }
        l->t = nt;
        l->cap = cap;
    }
    tdef *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s%s", prefix, name);
    snprintf(t->seed_key, sizeof t->seed_key, "%s", t->name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->kind = kind;
    t->a = a;
    t->b = b;
    return t;
}

static float inv_sqrt(double n) { return (float)(1.0 / sqrt(n)); }

/* T5EncoderModel: shared, blocks (relative bias only in block 0), final norm. */
static void list_t5(tlist *l, const mg_t5_config *c) {
    const char *p = "text_encoder.";
    int64_t d = c->d_model, inner = (int64_t)c->n_heads * c->d_kv;
    char n[192];
    add(l, p, "shared.weight", 2, c->vocab_size, d, 0, INIT_NORMAL, 1.0f, 0);
    for (int b = 0; b < c->n_layers; b++) {
        snprintf(n, sizeof n, "encoder.block.%d.layer.0.SelfAttention.", b);
        char full[256];
        snprintf(full, sizeof full, "%sq.weight", n);
        add(l, p, full, 2, inner, d, 0, INIT_NORMAL, inv_sqrt((double)d * c->d_kv), 0);
        snprintf(full, sizeof full, "%sk.weight", n);
        add(l, p, full, 2, inner, d, 0, INIT_NORMAL, inv_sqrt((double)d), 0);
        snprintf(full, sizeof full, "%sv.weight", n);
        add(l, p, full, 2, inner, d, 0, INIT_NORMAL, inv_sqrt((double)d), 0);
        snprintf(full, sizeof full, "%so.weight", n);
        add(l, p, full, 2, d, inner, 0, INIT_NORMAL, inv_sqrt((double)inner), 0);
        if (b == 0) {
            snprintf(full, sizeof full, "%srelative_attention_bias.weight", n);
            add(l, p, full, 2, c->num_buckets, c->n_heads, 0, INIT_NORMAL, 0.1f, 0);
        }
        snprintf(full, sizeof full, "encoder.block.%d.layer.0.layer_norm.weight", b);
        add(l, p, full, 1, d, 0, 0, INIT_LN, 0, 0);
        for (int w = 0; w < (c->gated ? 2 : 1); w++) { /* wi, or wi_0 and wi_1 when gated */
            if (c->gated)
                snprintf(full, sizeof full, "encoder.block.%d.layer.1.DenseReluDense.wi_%d.weight", b, w);
            else
                snprintf(full, sizeof full, "encoder.block.%d.layer.1.DenseReluDense.wi.weight", b);
            add(l, p, full, 2, c->d_ff, d, 0, INIT_NORMAL, inv_sqrt((double)d), 0);
        }
        snprintf(full, sizeof full, "encoder.block.%d.layer.1.DenseReluDense.wo.weight", b);
        add(l, p, full, 2, d, c->d_ff, 0, INIT_NORMAL, inv_sqrt((double)c->d_ff), 0);
        snprintf(full, sizeof full, "encoder.block.%d.layer.1.layer_norm.weight", b);
        add(l, p, full, 1, d, 0, 0, INIT_LN, 0, 0);
    }
    add(l, p, "encoder.final_layer_norm.weight", 1, d, 0, 0, INIT_LN, 0, 0);
}

/* EncodecConv1d / EncodecConvTranspose1d under weight_norm(dim=0): parameters in
 * registration order bias, weight_g, weight_v. `gain` scales weight_g. */
static void list_conv(tlist *l, const char *prefix, int64_t in, int64_t out, int64_t k, int transposed, float gain) {
    char n[192];
    snprintf(n, sizeof n, "%s.conv.bias", prefix);
    add(l, "audio_encoder.", n, 1, out, 0, 0, INIT_NORMAL, 0.02f, 0);
    snprintf(n, sizeof n, "%s.conv.weight_g", prefix);
    add(l, "audio_encoder.", n, 3, transposed ? in : out, 1, 1, INIT_UNIFORM, 0.8f * gain, 1.2f * gain);
    snprintf(n, sizeof n, "%s.conv.weight_v", prefix);
    add(l, "audio_encoder.", n, 3, transposed ? in : out, transposed ? out : in, k, INIT_NORMAL, 1.0f, 0);
}

static void list_lstm(tlist *l, const char *prefix, int64_t dim, int layers) {
    char n[192];
    for (int i = 0; i < layers; i++) {
        snprintf(n, sizeof n, "%s.lstm.weight_ih_l%d", prefix, i);
        add(l, "audio_encoder.", n, 2, 4 * dim, dim, 0, INIT_NORMAL, inv_sqrt((double)dim), 0);
        snprintf(n, sizeof n, "%s.lstm.weight_hh_l%d", prefix, i);
        add(l, "audio_encoder.", n, 2, 4 * dim, dim, 0, INIT_NORMAL, inv_sqrt((double)dim), 0);
        snprintf(n, sizeof n, "%s.lstm.bias_ih_l%d", prefix, i);
        add(l, "audio_encoder.", n, 1, 4 * dim, 0, 0, INIT_NORMAL, 0.02f, 0);
        snprintf(n, sizeof n, "%s.lstm.bias_hh_l%d", prefix, i);
        add(l, "audio_encoder.", n, 1, 4 * dim, 0, 0, INIT_NORMAL, 0.02f, 0);
    }
}

/* SEANet resnet block: ELU, conv(k = residual_kernel_size, dim -> dim/compress), ELU, conv(1, back)
 * (+ the shortcut conv). */
static void list_resblock(tlist *l, const char *part, int idx, int64_t dim, const mg_encodec_config *c) {
    char p[192];
    int64_t hidden = dim / c->compress;
    snprintf(p, sizeof p, "%s.layers.%d.block.1", part, idx);
    list_conv(l, p, dim, hidden, c->residual_kernel_size, 0, 1.0f);
    snprintf(p, sizeof p, "%s.layers.%d.block.3", part, idx);
    list_conv(l, p, hidden, dim, 1, 0, 1.0f);
    if (c->use_conv_shortcut) { /* use_conv_shortcut: a 1x1 conv of x instead of x */
        snprintf(p, sizeof p, "%s.layers.%d.shortcut", part, idx);
        list_conv(l, p, dim, dim, 1, 0, 1.0f);
    }
}

static void list_encodec(tlist *l, const mg_encodec_config *c) {
    char p[192];
    int64_t F = c->num_filters;
    /* encoder: conv, [resblocks, ELU, strided conv] per ratio (reversed), LSTM, ELU, conv */
    int idx = 0;
    snprintf(p, sizeof p, "encoder.layers.%d", idx++);
    list_conv(l, p, c->audio_channels, F, c->kernel_size, 0, 1.0f);
    int64_t scale = 1;
    for (int r = c->n_ratios - 1; r >= 0; r--) {
        int64_t cur = scale * F;
        for (int j = 0; j < c->num_residual_layers; j++)
            list_resblock(l, "encoder", idx++, cur, c);
        idx++; /* ELU */
        snprintf(p, sizeof p, "encoder.layers.%d", idx++);
        list_conv(l, p, cur, 2 * cur, 2 * (int64_t)c->upsampling_ratios[r], 0, 1.0f);
        scale *= 2;
    }
    snprintf(p, sizeof p, "encoder.layers.%d", idx++);
    list_lstm(l, p, scale * F, c->num_lstm_layers);
    idx++; /* ELU */
    snprintf(p, sizeof p, "encoder.layers.%d", idx++);
    list_conv(l, p, scale * F, c->hidden_size, c->last_kernel_size, 0, 1.0f);

    /* decoder: conv, LSTM, [ELU, transposed conv, resblocks] per ratio, ELU, conv */
    idx = 0;
    scale = (int64_t)1 << c->n_ratios;
    snprintf(p, sizeof p, "decoder.layers.%d", idx++);
    list_conv(l, p, c->hidden_size, scale * F, c->kernel_size, 0, 1.0f);
    snprintf(p, sizeof p, "decoder.layers.%d", idx++);
    list_lstm(l, p, scale * F, c->num_lstm_layers);
    for (int r = 0; r < c->n_ratios; r++) {
        int64_t cur = scale * F;
        int ratio = c->upsampling_ratios[r];
        idx++; /* ELU */
        snprintf(p, sizeof p, "decoder.layers.%d", idx++);
        list_conv(l, p, cur, cur / 2, 2 * (int64_t)ratio, 1, sqrtf((float)ratio / 2.0f));
        for (int j = 0; j < c->num_residual_layers; j++)
            list_resblock(l, "decoder", idx++, cur / 2, c);
        scale /= 2;
    }
    idx++; /* ELU */
    snprintf(p, sizeof p, "decoder.layers.%d", idx++);
    list_conv(l, p, F, c->audio_channels, c->last_kernel_size, 0, 0.3f);

    /* quantizer buffers in registration order: inited, cluster_size, embed, embed_avg */
    for (int q = 0; q < c->num_quantizers; q++) {
        char n[192], embed[192];
        snprintf(n, sizeof n, "quantizer.layers.%d.codebook.inited", q);
        add(l, "audio_encoder.", n, 1, 1, 0, 0, INIT_CONST, 1.0f, 0);
        snprintf(n, sizeof n, "quantizer.layers.%d.codebook.cluster_size", q);
        add(l, "audio_encoder.", n, 1, c->codebook_size, 0, 0, INIT_CONST, 1.0f, 0);
        snprintf(n, sizeof n, "quantizer.layers.%d.codebook.embed", q);
        tdef *e = add(l, "audio_encoder.", n, 2, c->codebook_size, c->codebook_dim, 0, INIT_NORMAL, powf(0.5f, (float)q), 0);
        snprintf(embed, sizeof embed, "%s", e ? e->name : "");
        snprintf(n, sizeof n, "quantizer.layers.%d.codebook.embed_avg", q);
        tdef *avg = add(l, "audio_encoder.", n, 2, c->codebook_size, c->codebook_dim, 0, INIT_NORMAL, powf(0.5f, (float)q), 0);
        if (avg) /* a copy of embed, as EnCodec initializes it */
            snprintf(avg->seed_key, sizeof avg->seed_key, "%s", embed);
    }
}

static void list_decoder(tlist *l, const mg_decoder_config *c) {
    const char *p = "decoder.";
    int64_t h = c->hidden_size;
    char n[192];
    for (int k = 0; k < c->n_codebooks; k++) {
        snprintf(n, sizeof n, "model.decoder.embed_tokens.%d.weight", k);
        add(l, p, n, 2, (int64_t)c->vocab_size + 1, h, 0, INIT_NORMAL, 1.0f, 0);
    }
    add(l, p, "model.decoder.embed_positions.weights", 2, c->max_position_embeddings, h, 0, INIT_POSITIONS, 0, 0);
    static const char *const attn[] = {"self_attn", "encoder_attn"};
    static const char *const proj[] = {"k_proj", "v_proj", "q_proj", "out_proj"};
    for (int i = 0; i < c->n_layers; i++) {
        for (int a = 0; a < 2; a++) {
            for (int j = 0; j < 4; j++) {
                snprintf(n, sizeof n, "model.decoder.layers.%d.%s.%s.weight", i, attn[a], proj[j]);
                add(l, p, n, 2, h, h, 0, INIT_NORMAL, inv_sqrt((double)h), 0);
            }
            snprintf(n, sizeof n, "model.decoder.layers.%d.%s_layer_norm.weight", i, attn[a]);
            add(l, p, n, 1, h, 0, 0, INIT_LN, 0, 0);
            snprintf(n, sizeof n, "model.decoder.layers.%d.%s_layer_norm.bias", i, attn[a]);
            add(l, p, n, 1, h, 0, 0, INIT_NORMAL, 0.02f, 0);
        }
        snprintf(n, sizeof n, "model.decoder.layers.%d.fc1.weight", i);
        add(l, p, n, 2, c->ffn_dim, h, 0, INIT_NORMAL, inv_sqrt((double)h), 0);
        snprintf(n, sizeof n, "model.decoder.layers.%d.fc2.weight", i);
        add(l, p, n, 2, h, c->ffn_dim, 0, INIT_NORMAL, inv_sqrt((double)c->ffn_dim), 0);
        snprintf(n, sizeof n, "model.decoder.layers.%d.final_layer_norm.weight", i);
        add(l, p, n, 1, h, 0, 0, INIT_LN, 0, 0);
        snprintf(n, sizeof n, "model.decoder.layers.%d.final_layer_norm.bias", i);
        add(l, p, n, 1, h, 0, 0, INIT_NORMAL, 0.02f, 0);
    }
    add(l, p, "model.decoder.layer_norm.weight", 1, h, 0, 0, INIT_LN, 0, 0);
    add(l, p, "model.decoder.layer_norm.bias", 1, h, 0, 0, INIT_NORMAL, 0.02f, 0);
    for (int k = 0; k < c->n_codebooks; k++) {
        snprintf(n, sizeof n, "lm_heads.%d.weight", k);
        add(l, p, n, 2, c->vocab_size, h, 0, INIT_NORMAL, inv_sqrt((double)h), 0);
    }
}

/* --init reference: redraw the scales with the fixtures' recipe (top of file). Codebooks
 * and the position table keep theirs; weight_g keeps its gain (the last conv's 0.3). */
static void use_reference_init(tlist *l) {
    for (int i = 0; i < l->n; i++) {
        tdef *t = &l->t[i];
        if (strstr(t->name, ".codebook.") || t->kind == INIT_POSITIONS || t->kind == INIT_LN)
            continue;
        if (t->kind == INIT_UNIFORM) { /* weight_g: U(0.8, 1.2) x gain -> U(0.8, 1.6) x gain */
            t->b = 2.0f * t->a;
        } else if (t->kind == INIT_NORMAL && t->ndim == 1) { /* biases */
            t->a = 0.1f;
        } else if (strstr(t->name, "relative_attention_bias") || strstr(t->name, "embed_tokens") ||
                   !strcmp(t->name, "text_encoder.shared.weight") || mg_str_ends_with(t->name, ".weight_v")) {
            t->a = 1.0f;
        } else if (t->kind == INIT_NORMAL && t->ndim == 2) { /* linear and LSTM matrices: [out, in] */
            t->a = (strstr(t->name, "lm_heads.") ? 2.0f : 1.5f) * inv_sqrt((double)t->shape[1]);
        }
    }
}

/* All tensors of MusicgenForConditionalGeneration in state_dict (module registration) order. */
static int list_model(tlist *l, const mg_config *c) {
    list_t5(l, &c->t5);
    list_encodec(l, &c->codec);
    list_decoder(l, &c->dec);
    if (c->has_enc_to_dec_proj) {
        add(l, "", "enc_to_dec_proj.weight", 2, c->dec.hidden_size, c->t5.d_model, 0, INIT_NORMAL,
            inv_sqrt((double)c->t5.d_model), 0);
        add(l, "", "enc_to_dec_proj.bias", 1, c->dec.hidden_size, 0, 0, INIT_NORMAL, 0.02f, 0);
    }
    return !l->oom;
}

/* ---- values ---------------------------------------------------------------------------- */

static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* Approximately N(0, 1): sum of four 16-bit uniforms (Irwin-Hall), one RNG draw. */
static inline float fast_normal(mg_rng *r) {
    uint64_t x = mg_rng_next(r);
    uint32_t s = (uint32_t)(x & 0xFFFF) + (uint32_t)((x >> 16) & 0xFFFF) + (uint32_t)((x >> 32) & 0xFFFF) +
                 (uint32_t)(x >> 48);
    return ((float)s - 131070.0f) * (1.7320508f / 65536.0f);
}

/* Row p of MusicgenSinusoidalPositionalEmbedding, computed in float32 like the
 * reference: f_i = exp(-i * ln(10000) / (half - 1)), [cos(p f), sin(p f)], zero pad. */
static void position_row(int64_t p, int64_t dim, float *out) {
    int64_t half = dim / 2;
    float step = -(float)(log(10000.0) / (double)(half > 1 ? half - 1 : 1));
    for (int64_t i = 0; i < half; i++) {
        float f = expf((float)i * step);
        float a = (float)p * f;
        out[i] = cosf(a);
        out[half + i] = sinf(a);
    }
    if (dim % 2)
        out[dim - 1] = 0.0f;
}

/* Fill `n` values starting at flat index `start` (positions need it; random streams
 * are consumed in order). */
static void fill_values(const tdef *t, mg_rng *r, int64_t start, float *out, int64_t n) {
    switch (t->kind) {
    case INIT_NORMAL:
        for (int64_t i = 0; i < n; i++)
            out[i] = t->a * fast_normal(r);
        break;
    case INIT_LN:
        for (int64_t i = 0; i < n; i++)
            out[i] = 1.0f + 0.1f * fast_normal(r);
        break;
    case INIT_UNIFORM:
        for (int64_t i = 0; i < n; i++)
            out[i] = t->a + (t->b - t->a) * (float)((mg_rng_next(r) >> 40) * 0x1.0p-24);
        break;
    case INIT_CONST:
        for (int64_t i = 0; i < n; i++)
            out[i] = t->a;
        break;
    case INIT_POSITIONS: {
        int64_t dim = t->shape[1];
        for (int64_t i = 0; i < n; i += dim)
            position_row((start + i) / dim, dim, out + i);
        break;
    }
    }
}

static int64_t numel(const tdef *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

#define CHUNK ((int64_t)1 << 20) /* values generated per write */

typedef struct gen_buffers {
    float *vals;
    uint8_t *bytes;
} gen_buffers;

static mg_status write_tensor_values(mg_st_writer *w, const tdef *t, uint64_t seed, mg_dtype dt, gen_buffers *b) {
    mg_rng r;
    mg_rng_seed(&r, seed ^ fnv1a64(t->seed_key));
    int64_t total = numel(t);
    /* chunks hold whole rows so the position table can be computed row by row */
    int64_t row = t->kind == INIT_POSITIONS ? t->shape[1] : 1;
    int64_t chunk = CHUNK / row * row;
    if (chunk < row)
        return mg_fail(MG_ERR_UNSUPPORTED, "%s: rows of %lld values are too long", t->name, (long long)row);
    for (int64_t done = 0; done < total; done += chunk) {
        int64_t n = total - done < chunk ? total - done : chunk;
        fill_values(t, &r, done, b->vals, n);
        mg_row_from_f32(dt, b->vals, b->bytes, n);
        MG_TRY(mg_st_writer_write(w, b->bytes, mg_dtype_row_bytes(dt, n)));
    }
    return MG_OK;
}

/* ---- files -------------------------------------------------------------------------------- */

static int cmp_tdef_ptr(const void *a, const void *b) {
    return strcmp((*(const tdef *const *)a)->name, (*(const tdef *const *)b)->name);
}

static mg_status write_bytes_file(const char *dir, const char *name, const void *data, size_t n, int force) {
    char *path = mg_path_join(dir, name);
    if (!path)
        return MG_ERR_NOMEM;
    mg_atomic_file af;
    mg_status st = mg_atomic_open(&af, path, force);
    if (st == MG_OK) {
        if (n && fwrite(data, 1, n, af.fp) != n) {
            mg_atomic_abort(&af);
            st = mg_fail(MG_ERR_IO, "cannot write %s (disk full?)", path);
        } else {
            st = mg_atomic_commit(&af, force);
        }
    }
    free(path);
    return st;
}

static mg_status copy_file(const char *src, const char *dir, const char *name, int force) {
    char *data;
    size_t n;
    MG_TRY(mg_file_read_all(src, &data, &n));
    mg_status st = write_bytes_file(dir, name, data, n, force);
    free(data);
    return st;
}

/* One shard: its tensors sorted by name, streamed into a safetensors file. */
static mg_status write_shard(const char *path, tdef **ts, int n, uint64_t seed, mg_dtype dt, int force,
                             gen_buffers *b) {
    qsort(ts, (size_t)n, sizeof *ts, cmp_tdef_ptr);
    mg_st_writer *w = mg_st_writer_new();
    if (!w)
        return MG_ERR_NOMEM;
    mg_status st = mg_st_writer_set_metadata(w, "format", "pt");
    for (int i = 0; i < n && st == MG_OK; i++)
        st = mg_st_writer_add(w, ts[i]->name, dt, ts[i]->ndim, ts[i]->shape);
    if (st == MG_OK)
        st = mg_st_writer_begin(w, path, force);
    for (int i = 0; i < n && st == MG_OK; i++)
        st = write_tensor_values(w, ts[i], seed, dt, b);
    if (st == MG_OK)
        st = mg_st_writer_finish(w);
    mg_st_writer_free(w);
    return st;
}

/* huggingface_hub's split_state_dict_into_shards_factory: fill shards in state_dict
 * order; a tensor that would overflow the current shard closes it; a tensor larger
 * than the limit becomes a shard of its own at once (so it is numbered before the
 * shard still being filled). Returns the number of shards. */
static int assign_shards(tlist *l, uint64_t max_bytes) {
    int n_shards = 0, open_start = -1;
    uint64_t current = 0;
    for (int i = 0; i <= l->n; i++) {
        tdef *t = i < l->n ? &l->t[i] : NULL;
        if (t && t->nbytes > max_bytes) {
            t->shard = n_shards++;
            continue;
        }
        if (open_start >= 0 && (!t || current + t->nbytes > max_bytes)) { /* close the open shard */
            for (int j = open_start; j < i; j++)
                if (l->t[j].shard < 0)
                    l->t[j].shard = n_shards;
            n_shards++;
            open_start = -1;
            current = 0;
        }
        if (!t)
            break;
        if (open_start < 0)
            open_start = i;
        t->shard = -1; /* in the open shard */
        current += t->nbytes;
    }
    return n_shards;
}

static mg_status write_index(const char *dir, const tlist *l, int n_shards, uint64_t total, int force) {
    /* json.dumps(index, indent=2, sort_keys=True) + "\n" */
    tdef **s = malloc((size_t)l->n * sizeof *s);
    size_t cap = (size_t)l->n * 300 + 256, len = 0;
    char *buf = malloc(cap);
    if (!s || !buf) {
        free(s);
        free(buf);
        return mg_fail(MG_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < l->n; i++)
        s[i] = &l->t[i];
    qsort(s, (size_t)l->n, sizeof *s, cmp_tdef_ptr);
    len += (size_t)snprintf(buf + len, cap - len, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {\n",
                            (unsigned long long)total);
    for (int i = 0; i < l->n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "    \"%s\": \"model-%05d-of-%05d.safetensors\"%s\n", s[i]->name,
                                s[i]->shard + 1, n_shards, i + 1 < l->n ? "," : "");
    len += (size_t)snprintf(buf + len, cap - len, "  }\n}\n");
    mg_status st = write_bytes_file(dir, "model.safetensors.index.json", buf, len, force);
    free(s);
    free(buf);
    return st;
}

static mg_status write_weights(const char *dir, tlist *l, uint64_t seed, mg_dtype dt, uint64_t max_shard, int force,
                               int *n_shards_out) {
    uint64_t total = 0;
    for (int i = 0; i < l->n; i++) {
        l->t[i].nbytes = (uint64_t)numel(&l->t[i]) * mg_dtype_row_bytes(dt, 1);
        total += l->t[i].nbytes;
    }
    int n_shards = assign_shards(l, max_shard);
    *n_shards_out = n_shards;
    gen_buffers b = {malloc((size_t)CHUNK * sizeof(float)), malloc((size_t)CHUNK * sizeof(float))};
    tdef **ts = malloc((size_t)l->n * sizeof *ts);
    mg_status st = b.vals && b.bytes && ts ? MG_OK : mg_fail(MG_ERR_NOMEM, "out of memory");
    for (int s = 0; s < n_shards && st == MG_OK; s++) {
        int n = 0;
        for (int i = 0; i < l->n; i++)
            if (l->t[i].shard == s)
                ts[n++] = &l->t[i];
        char name[64];
        if (n_shards == 1)
            snprintf(name, sizeof name, "model.safetensors");
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
        char *path = mg_path_join(dir, name);
        if (!path) {
            st = MG_ERR_NOMEM;
            break;
        }
        if (n_shards > 1)
            fprintf(stderr, "mg-random-checkpoint: writing %s (%d tensors)\n", name, n);
        st = write_shard(path, ts, n, seed, dt, force, &b);
        free(path);
    }
    if (st == MG_OK && n_shards > 1)
        st = write_index(dir, l, n_shards, total, force);
    free(ts);
    free(b.vals);
    free(b.bytes);
    return st;
}

/* ---- command line -------------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: mg-random-checkpoint CONFIG_JSON OUT_DIR [options]\n\n"
            "Write a Hugging Face-format MusicGen folder with random weights for CONFIG_JSON\n"
            "(config.json, generation_config.json, model*.safetensors, spiece.model).\n"
            "OUT_DIR is made with its missing parents; a config musicgen would refuse is\n"
            "refused here too, before anything is written.\n\n"
            "  --seed N              random seed (default 0)\n"
            "  --spiece FILE         tokenizer model to copy (default: spiece.model next to\n"
            "                        CONFIG_JSON, else the reference fixtures')\n"
            "  --dtype f32|f16|bf16  weight format (default f32)\n"
            "  --max-shard-size S    split weights into shards of at most S bytes (suffix\n"
            "                        KB/MB/GB = 1e3/1e6/1e9; default 5GB as save_pretrained)\n"
            "  --init realistic|reference  weight scales: activations in a realistic range\n"
            "                        (default), or the recipe of the reference fixtures (as\n"
            "                        sensitive to rounding; for quantization agreement studies)\n"
            "  --force               overwrite existing files in OUT_DIR\n"
            "  -h, --help            this help\n");
}

static int parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0))
        return 0;
    double mult = 1;
    if (!strcasecmp(end, "KB"))
        mult = 1e3;
    else if (!strcasecmp(end, "MB"))
        mult = 1e6;
    else if (!strcasecmp(end, "GB"))
        mult = 1e9;
    else if (!strcasecmp(end, "TB"))
        mult = 1e12;
    else if (*end)
        return 0;
    *out = (uint64_t)(v * mult);
    return *out > 0;
}

static const char *find_spiece(const char *config_path, char *buf, size_t n) {
    /* Beside the config, or the fixtures' one when the config is one of
     * shared/reference/configs/ (its tiny-mono folder is a sibling). */
    static const char *const beside[2] = {"%s/spiece.model", "%s/../tiny-mono/spiece.model"};
    for (int i = 0; i < 2; i++) {
        char *copy = mg_strdup(config_path);
        if (!copy)
            break;
        snprintf(buf, n, beside[i], dirname(copy));
        free(copy);
        if (mg_path_exists(buf))
            return buf;
    }
    const char *ref = getenv("MG_REFERENCE_DIR");
    if (ref && ref[0]) {
        snprintf(buf, n, "%s/tiny-mono/spiece.model", ref);
        if (mg_path_exists(buf))
            return buf;
    }
    /* The source tree: tools/ -> ../../shared/reference (CMake passes absolute paths). */
    char *copy = mg_strdup(__FILE__);
    if (copy) {
        snprintf(buf, n, "%s/../../shared/reference/tiny-mono/spiece.model", dirname(copy));
        free(copy);
        if (mg_path_exists(buf))
            return buf;
    }
    return NULL;
}

static int fail(const char *msg) {
    fprintf(stderr, "mg-random-checkpoint: %s\n", msg);
    return 1;
}

int main(int argc, char **argv) {
    uint64_t seed = 0, max_shard = 5000000000ull;
    const char *spiece = NULL, *dtype_name = "f32", *init = "realistic";
    int force = 0;
    static const struct option opts[] = {{"seed", required_argument, 0, 's'},
                                         {"spiece", required_argument, 0, 'p'},
                                         {"dtype", required_argument, 0, 'd'},
                                         {"max-shard-size", required_argument, 0, 'm'},
                                         {"force", no_argument, 0, 'f'},
                                         {"init", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 's':
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return fail("--seed expects a non-negative integer");
            break;
        case 'p': spiece = optarg; break;
        case 'd': dtype_name = optarg; break;
        case 'm':
            if (!parse_size(optarg, &max_shard))
                return fail("--max-shard-size expects a size such as 5GB, 200MB or 1000000");
            break;
        case 'f': force = 1; break;
        case 'i':
            if (strcmp(optarg, "realistic") && strcmp(optarg, "reference"))
                return fail("--init must be realistic (the default) or reference");
            init = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 1;
    }
    const char *config_path = argv[optind], *out_dir = argv[optind + 1];
    mg_dtype dt;
    if (!strcmp(dtype_name, "f32"))
        dt = MG_DT_F32;
    else if (!strcmp(dtype_name, "f16"))
        dt = MG_DT_F16;
    else if (!strcmp(dtype_name, "bf16"))
        dt = MG_DT_BF16;
    else
        return fail("--dtype must be f32, f16 or bf16");

    char *text;
    size_t len;
    mg_config cfg;
    if (mg_file_read_all(config_path, &text, &len) != MG_OK)
        return fail(mg_last_error());
    if (mg_config_parse(text, len, config_path, &cfg) != MG_OK) {
        free(text);
        return fail(mg_last_error());
    }
    char spbuf[4096];
    if (!spiece)
        spiece = find_spiece(config_path, spbuf, sizeof spbuf);
    struct stat sp_st;
    if (!spiece || stat(spiece, &sp_st) != 0 || !S_ISREG(sp_st.st_mode) || sp_st.st_size == 0) {
        free(text);
        if (spiece && stat(spiece, &sp_st) == 0)
            return fail("--spiece: the tokenizer model must be a non-empty file (e.g. "
                        "../shared/reference/tiny-mono/spiece.model)");
        return fail(spiece ? "--spiece: no such tokenizer model file" : "no tokenizer model: give --spiece FILE "
                                                                         "(e.g. ../shared/reference/tiny-mono/spiece.model)");
    }
    /* The tokenizer must fit T5's embedding table, as musicgen requires (musicgen info
     * refuses a model whose spiece.model has more ids than text_encoder.vocab_size). */
    char *spm = NULL;
    size_t spm_size = 0;
    mg_tokenizer *tok = NULL;
    if (mg_file_read_regular(spiece, &spm, &spm_size) != MG_OK ||
        mg_tokenizer_load((const uint8_t *)spm, spm_size, spiece, MG_TOKENIZER_DEFAULT_EXTRA_IDS, &tok) != MG_OK) {
        free(spm);
        free(text);
        return fail(mg_last_error());
    }
    int tok_vocab = mg_tokenizer_vocab_size(tok);
    mg_tokenizer_free(tok);
    free(spm);
    if (tok_vocab > cfg.t5.vocab_size) {
        free(text);
        fprintf(stderr, "mg-random-checkpoint: %s has %d token ids but text_encoder.vocab_size is %d: give a larger "
                "vocab_size or a smaller tokenizer (--spiece)\n", spiece, tok_vocab, cfg.t5.vocab_size);
        return 1;
    }
    if (mg_mkdirs(out_dir, "", NULL) != MG_OK) { /* with its parents, as `mkdir -p` */
        free(text);
        return fail(mg_last_error());
    }

    double t0 = mg_time_now();
    tlist l = {0};
    int n_shards = 0;
    mg_status st = list_model(&l, &cfg) ? MG_OK : mg_fail(MG_ERR_NOMEM, "out of memory");
    if (st == MG_OK && !strcmp(init, "reference"))
        use_reference_init(&l);
    for (int i = 0; i < l.n && st == MG_OK; i++)
        for (int d = 0; d < l.t[i].ndim; d++)
            if (l.t[i].shape[d] < 1)
                st = mg_fail(MG_ERR_INVALID_ARG, "%s: tensor %s would have an empty dimension; check the config", config_path,
                             l.t[i].name);
    /* Fail before writing gigabytes if a small file cannot be written. */
    static const char *const small[] = {"config.json", "generation_config.json", "spiece.model"};
    for (int i = 0; i < 3 && st == MG_OK; i++) {
        char *p = mg_path_join(out_dir, small[i]);
        st = p ? mg_check_output_path(p, force) : MG_ERR_NOMEM;
        free(p);
    }
    if (st == MG_OK)
        st = write_weights(out_dir, &l, seed, dt, max_shard, force, &n_shards);
    if (st == MG_OK)
        st = write_bytes_file(out_dir, "config.json", text, len, force);
    if (st == MG_OK) {
        cfg.gen.max_length = 1500; /* MusicGen's default, capped by the position table */
        cfg.gen.max_length = mg_config_window_columns(&cfg);
        char *gen = mg_generation_config_to_json(&cfg);
        st = gen ? write_bytes_file(out_dir, "generation_config.json", gen, strlen(gen), force)
                 : mg_fail(MG_ERR_NOMEM, "out of memory");
        free(gen);
    }
    if (st == MG_OK)
        st = copy_file(spiece, out_dir, "spiece.model", force);
    free(text);
    if (st != MG_OK) {
        free(l.t);
        if (st == MG_ERR_EXISTS) {
            fprintf(stderr, "mg-random-checkpoint: %s; use --force to overwrite it\n", mg_last_error());
            return 1;
        }
        return fail(mg_last_error());
    }
    uint64_t bytes = 0, params = 0;
    for (int i = 0; i < l.n; i++) {
        bytes += l.t[i].nbytes;
        params += (uint64_t)numel(&l.t[i]);
    }
    fprintf(stderr, "mg-random-checkpoint: wrote %s: %d tensors, %.1f M values, %.2f GB %s in %d file%s, %.1f s\n",
            out_dir, l.n, (double)params / 1e6, (double)bytes / 1e9, dtype_name, n_shards, n_shards > 1 ? "s" : "",
            mg_time_now() - t0);
    free(l.t);
    return 0;
}
