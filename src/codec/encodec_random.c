/* encodec_random.c — a random-weight EnCodec for benchmarks and tests: adds to a
 * tensor store every tensor mg_encodec_load asks for (the names and shapes of
 * transformers' EncodecModel for the given config), filled with seeded random values
 * (weight_v ~ N(0,1), weight_g ~ 1 + 0.1 N, biases 0.05 N, LSTM weights N(0, 1/dim),
 * codebooks N(0,1)). The data lives in the store's arena. Not a model anyone should
 * listen to: only the cost and the code paths are real. */
#include "codec/encodec.h"
#include "base/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct rand_ctx {
    mg_store *s;
    mg_rng rng;
    int64_t n_params;
} rand_ctx;

static mg_status add(rand_ctx *r, const char *name, int ndim, const int64_t *shape, double scale, double offset) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    float *d = mg_arena_alloc(&r->s->arena, (size_t)n * sizeof(float));
    if (!d)
        return MG_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)(offset + scale * mg_rng_normal(&r->rng));
    mg_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = MG_DT_F32;
    t.ndim = ndim;
    memcpy(t.shape, shape, (size_t)ndim * sizeof(int64_t));
    t.data = d;
    t.nbytes = (size_t)n * 4;
    r->n_params += n;
    return mg_store_add(r->s, name, &t, -1);
}

static mg_status add_conv(rand_ctx *r, const char *prefix, int64_t cin, int64_t cout, int64_t k, int transposed) {
    char n[256];
    int64_t g[3] = {transposed ? cin : cout, 1, 1};
    int64_t v[3] = {transposed ? cin : cout, transposed ? cout : cin, k};
    int64_t b[1] = {cout};
    snprintf(n, sizeof n, "%s.weight_g", prefix);
    MG_TRY(add(r, n, 3, g, 0.1, 1.0));
    snprintf(n, sizeof n, "%s.weight_v", prefix);
    MG_TRY(add(r, n, 3, v, 1.0, 0.0));
    snprintf(n, sizeof n, "%s.bias", prefix);
    return add(r, n, 1, b, 0.05, 0.0);
}

static mg_status add_res(rand_ctx *r, const mg_encodec_config *c, const char *prefix, int64_t dim, int shortcut) {
    char n[256];
    snprintf(n, sizeof n, "%s.block.1.conv", prefix);
    MG_TRY(add_conv(r, n, dim, dim / c->compress, c->residual_kernel_size, 0));
    snprintf(n, sizeof n, "%s.block.3.conv", prefix);
    MG_TRY(add_conv(r, n, dim / c->compress, dim, 1, 0));
    if (!shortcut)
        return MG_OK;
    snprintf(n, sizeof n, "%s.shortcut.conv", prefix);
    return add_conv(r, n, dim, dim, 1, 0);
}

static mg_status add_lstm(rand_ctx *r, const char *prefix, int64_t dim, int layers) {
    char n[256];
    int64_t w[2] = {4 * dim, dim}, b[1] = {4 * dim};
    double sc = 1.0 / sqrt((double)dim);
    for (int l = 0; l < layers; l++) {
        snprintf(n, sizeof n, "%s.weight_ih_l%d", prefix, l);
        MG_TRY(add(r, n, 2, w, sc, 0));
        snprintf(n, sizeof n, "%s.weight_hh_l%d", prefix, l);
        MG_TRY(add(r, n, 2, w, sc, 0));
        snprintf(n, sizeof n, "%s.bias_ih_l%d", prefix, l);
        MG_TRY(add(r, n, 1, b, 0.1, 0));
        snprintf(n, sizeof n, "%s.bias_hh_l%d", prefix, l);
        MG_TRY(add(r, n, 1, b, 0.1, 0));
    }
    return MG_OK;
}

mg_status mg_encodec_random_store(const mg_encodec_config *c, mg_store *s, uint64_t seed, int64_t *n_params) {
    const int conv_shortcut = c->use_conv_shortcut;
    rand_ctx r = {s, {{0}}, 0};
    mg_rng_seed(&r.rng, seed);
    char n[256];
    const int F = c->num_filters, nres = c->num_residual_layers;
    int idx = 0, scale = 1;
    snprintf(n, sizeof n, "audio_encoder.encoder.layers.%d.conv", idx++);
    MG_TRY(add_conv(&r, n, c->audio_channels, F, c->kernel_size, 0));
    for (int i = c->n_ratios - 1; i >= 0; i--) {
        int cur = scale * F, ratio = c->upsampling_ratios[i];
        for (int j = 0; j < nres; j++) {
            snprintf(n, sizeof n, "audio_encoder.encoder.layers.%d", idx++);
            MG_TRY(add_res(&r, c, n, cur, conv_shortcut));
        }
        idx++; /* ELU */
        snprintf(n, sizeof n, "audio_encoder.encoder.layers.%d.conv", idx++);
        MG_TRY(add_conv(&r, n, cur, 2 * cur, 2 * ratio, 0));
        scale *= 2;
    }
    int C = scale * F;
    snprintf(n, sizeof n, "audio_encoder.encoder.layers.%d.lstm", idx++);
    MG_TRY(add_lstm(&r, n, C, c->num_lstm_layers));
    idx++; /* ELU */
    snprintf(n, sizeof n, "audio_encoder.encoder.layers.%d.conv", idx++);
    MG_TRY(add_conv(&r, n, C, c->hidden_size, c->last_kernel_size, 0));
    idx = 0;
    snprintf(n, sizeof n, "audio_encoder.decoder.layers.%d.conv", idx++);
    MG_TRY(add_conv(&r, n, c->hidden_size, C, c->kernel_size, 0));
    snprintf(n, sizeof n, "audio_encoder.decoder.layers.%d.lstm", idx++);
    MG_TRY(add_lstm(&r, n, C, c->num_lstm_layers));
    int cur = C;
    for (int i = 0; i < c->n_ratios; i++) {
        idx++; /* ELU */
        snprintf(n, sizeof n, "audio_encoder.decoder.layers.%d.conv", idx++);
        MG_TRY(add_conv(&r, n, cur, cur / 2, 2 * c->upsampling_ratios[i], 1));
        for (int j = 0; j < nres; j++) {
            snprintf(n, sizeof n, "audio_encoder.decoder.layers.%d", idx++);
            MG_TRY(add_res(&r, c, n, cur / 2, conv_shortcut));
        }
        cur /= 2;
    }
    idx++; /* ELU */
    snprintf(n, sizeof n, "audio_encoder.decoder.layers.%d.conv", idx++);
    MG_TRY(add_conv(&r, n, F, c->audio_channels, c->last_kernel_size, 0));
    int64_t e[2] = {c->codebook_size, c->codebook_dim};
    for (int l = 0; l < c->num_quantizers; l++) {
        snprintf(n, sizeof n, "audio_encoder.quantizer.layers.%d.codebook.embed", l);
        MG_TRY(add(&r, n, 2, e, 1.0, 0));
    }
    if (n_params)
        *n_params = r.n_params;
    return MG_OK;
}
