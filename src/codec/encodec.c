/* encodec.c — EnCodec model assembly and the encode / decode pipelines (encodec.h),
 * following EncodecEncoder / EncodecDecoder / EncodecModel of transformers'
 * modeling_encodec.py for any config (filters, ratios, kernel sizes, residual layers,
 * compress, LSTM layers). Layer indices in the checkpoint names are counted as the
 * reference builds its nn.ModuleList (every module, ELUs included, takes one index):
 *
 *   encoder: conv(kernel_size)                                 channels 1 -> F
 *            per ratio r of reversed(upsampling_ratios):
 *              num_residual_layers resnet blocks (dilation growth^j), ELU,
 *              conv(2r, stride r)                              C -> 2C
 *            LSTM(C), ELU, conv(last_kernel_size)              C -> hidden
 *   decoder: conv(kernel_size)                                 hidden -> C = F * 2^n
 *            LSTM(C)
 *            per ratio r of upsampling_ratios:
 *              ELU, conv-transpose(2r, stride r)               C -> C/2, resnet blocks
 *            ELU, conv(last_kernel_size)                       F -> 1
 *
 * The convolution stacks at audio rate run in chunks of output time (seanet.c), so
 * memory stays bounded for long audio; the LSTM and the frame-rate convolutions run
 * on the whole sequence when encoding; a long decode goes through the streaming
 * decoder (encodec_stream.c) so they run a chunk of frames at a time.
 */
#include "codec/encodec.h"
#include "codec/rvq.h"
#include "codec/seanet.h"
#include "base/resources.h"
#include "base/timing.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define EC_PREFIX "audio_encoder"
/* Activation budget per chunk buffer, in floats (16 MB). */
#define EC_CHUNK_FLOATS (4 << 20)
/* Frame-rate buffers (embeddings, conv0 output, LSTM gates and outputs) of a one-shot
 * decode, in bytes: longer inputs go through the streaming decoder in blocks of this
 * size (16 MB: ~570 frames, 11 s, for musicgen's codec). */
#define EC_DECODE_BLOCK_BYTES ((int64_t)16 << 20)

/* The encoder: audio-rate stack, LSTM, frame-rate stack (ELU + last conv). */
typedef struct ec_encoder {
    ec_layer *front;
    int n_front;
    ec_lstm lstm;
    ec_layer back;
} ec_encoder;

struct mg_encodec {
    mg_encodec_config cfg;
    int c_lstm; /* channels at the LSTM: num_filters * 2^n_ratios */
    /* Only audio prompts and `musicgen encode` run the encoder, so its weights (half
     * the codec's packed copies, ~120 MB of peak RSS for musicgen-small) are folded
     * and packed at its first use, under enc_lock (a model is shared by contexts).
     * `enc_shape` holds the checked geometry (EC_CHECK_ONLY): enough to size outputs
     * (mg_encodec_frames_for, without the lock), and a missing tensor or wrong shape
     * still fails at load. */
    ec_encoder enc_shape; /* checked geometry, never changes after load */
    ec_encoder enc;       /* packed weights once made (enc.front set), under enc_lock */
    mg_status enc_failed; /* a first use that failed: later ones fail the same way */
    char enc_error[512];
    mg_store *store; /* the model's, alive as long as it is */
    pthread_mutex_t enc_lock;
    /* decoder: frame-rate conv, LSTM, audio-rate stack */
    ec_layer dec_front;
    ec_lstm dec_lstm;
    ec_layer *dec_back;
    int n_dec_back;
    ec_rvq rvq;
    int chunk_frames; /* 0 = from EC_CHUNK_FLOATS */
};

/* ---- loading ---------------------------------------------------------------------------------- */

static mg_status load_conv_layer(ec_layer *l, mg_store *s, const mg_encodec_config *cfg, const char *prefix, int cin,
                                 int cout, int k, int stride, int elu_in, ec_load_mode mode) {
    memset(l, 0, sizeof *l);
    l->kind = EC_CONV;
    ec_conv_spec sp = {cin, cout, k, stride, 1, cfg->pad_mode, elu_in, cfg->use_causal_conv};
    return ec_conv_load(&l->conv, s, prefix, &sp, mode);
}

static mg_status load_resblock(ec_layer *l, mg_store *s, const mg_encodec_config *cfg, const char *prefix, int dim,
                               int dilation, ec_load_mode mode) {
    memset(l, 0, sizeof *l);
    l->kind = EC_RES;
    int hidden = dim / cfg->compress;
    if (hidden < 1)
        return mg_fail(MG_ERR_FORMAT, "%s: %d channels / compress %d leaves no hidden channels", prefix, dim,
                       cfg->compress);
    char name[256];
    ec_conv_spec a = {dim, hidden, cfg->residual_kernel_size, 1, dilation, cfg->pad_mode, 1, cfg->use_causal_conv};
    snprintf(name, sizeof name, "%s.block.1.conv", prefix);
    MG_TRY(ec_conv_load(&l->res.a, s, name, &a, mode));
    ec_conv_spec b = {hidden, dim, 1, 1, 1, cfg->pad_mode, 1, cfg->use_causal_conv};
    snprintf(name, sizeof name, "%s.block.3.conv", prefix);
    MG_TRY(ec_conv_load(&l->res.b, s, name, &b, mode));
    /* use_conv_shortcut (MusicGen's codec has none): a 1x1 conv of x instead of x. */
    if (cfg->use_conv_shortcut) {
        ec_conv_spec sc = {dim, dim, 1, 1, 1, cfg->pad_mode, 0, cfg->use_causal_conv};
        snprintf(name, sizeof name, "%s.shortcut.conv", prefix);
        MG_TRY(ec_conv_load(&l->res.shortcut, s, name, &sc, mode));
        l->res.has_shortcut = 1;
    }
    return MG_OK;
}

static int ipow(int b, int e) {
    int r = 1;
    while (e-- > 0)
        r *= b;
    return r;
}

static void free_encoder(ec_encoder *e) {
    if (e->front)
        for (int i = 0; i < e->n_front; i++)
            ec_layer_free(&e->front[i]);
    free(e->front);
    ec_lstm_free(&e->lstm);
    ec_layer_free(&e->back);
    memset(e, 0, sizeof *e);
}

static mg_status load_encoder_layers(ec_encoder *e, const mg_encodec *c, mg_store *s, ec_load_mode mode) {
    const mg_encodec_config *cfg = &c->cfg;
    const int F = cfg->num_filters, nres = cfg->num_residual_layers;
    e->n_front = 1 + cfg->n_ratios * (nres + 1);
    e->front = mg_calloc((size_t)e->n_front, sizeof *e->front, "EnCodec encoder layers");
    if (!e->front)
        return MG_ERR_NOMEM;
    char name[256];
    int idx = 0, li = 0;
    snprintf(name, sizeof name, EC_PREFIX ".encoder.layers.%d.conv", idx++);
    MG_TRY(load_conv_layer(&e->front[li++], s, cfg, name, cfg->audio_channels, F, cfg->kernel_size, 1, 0, mode));
    int scale = 1;
    for (int r = cfg->n_ratios - 1; r >= 0; r--) {
        int ratio = cfg->upsampling_ratios[r], cur = scale * F;
        for (int j = 0; j < nres; j++) {
            snprintf(name, sizeof name, EC_PREFIX ".encoder.layers.%d", idx++);
            MG_TRY(load_resblock(&e->front[li++], s, cfg, name, cur, ipow(cfg->dilation_growth_rate, j), mode));
        }
        idx++; /* ELU: folded into the next conv */
        snprintf(name, sizeof name, EC_PREFIX ".encoder.layers.%d.conv", idx++);
        MG_TRY(load_conv_layer(&e->front[li++], s, cfg, name, cur, 2 * cur, 2 * ratio, ratio, 1, mode));
        scale *= 2;
    }
    snprintf(name, sizeof name, EC_PREFIX ".encoder.layers.%d.lstm", idx++);
    MG_TRY(ec_lstm_load(&e->lstm, s, name, c->c_lstm, cfg->num_lstm_layers, mode));
    idx++; /* ELU */
    snprintf(name, sizeof name, EC_PREFIX ".encoder.layers.%d.conv", idx++);
    return load_conv_layer(&e->back, s, cfg, name, c->c_lstm, cfg->hidden_size, cfg->last_kernel_size, 1, 1, mode);
}

/* An encoder loaded in `mode`, or nothing (*e untouched) on failure. */
static mg_status load_encoder(ec_encoder *e, const mg_encodec *c, mg_store *s, ec_load_mode mode) {
    ec_encoder tmp = {0};
    mg_status st = load_encoder_layers(&tmp, c, s, mode);
    if (st != MG_OK) {
        free_encoder(&tmp);
        return st;
    }
    *e = tmp;
    return MG_OK;
}

/* Bytes a conv's weights take as one f32 copy (cin x cout x k). */
static int64_t conv_f32_bytes(const ec_conv *c) { return 4 * (int64_t)c->cin * c->cout * c->k; }

/* What packing the encoder takes from memory at its peak, from the checked geometry:
 * every conv's packed f32 copy, plus the two f32 temporaries the largest one is folded
 * and reordered through; each LSTM layer's packed W_ih, and f32 copies of its weights
 * when the checkpoint stores them otherwise (W_hh is read where it lies if f32).
 * Errs high: for an f32 codec of musicgen-small's widths 80 MB stay (82 with the packed
 * tiles' padding) and the RSS peaks 119 MB above the start, where this says 147. */
static int64_t encoder_pack_bytes(const mg_encodec *c) {
    const ec_encoder *e = &c->enc_shape;
    const ec_conv *convs[3];
    int64_t n = 0, largest = 0;
    for (int i = -1; i < e->n_front; i++) {
        const ec_layer *l = i < 0 ? &e->back : &e->front[i];
        int nc = 0;
        if (l->kind == EC_CONV)
            convs[nc++] = &l->conv;
        else if (l->kind == EC_RES) {
            convs[nc++] = &l->res.a;
            convs[nc++] = &l->res.b;
            if (l->res.has_shortcut)
                convs[nc++] = &l->res.shortcut;
        }
        for (int k = 0; k < nc; k++) {
            int64_t b = conv_f32_bytes(convs[k]);
            n += b;
            largest = b > largest ? b : largest;
        }
    }
    return n + 2 * largest + (int64_t)e->lstm.n_layers * 4 * (4 * (int64_t)e->lstm.dim * e->lstm.dim) +
           e->lstm.f32_copy_bytes;
}

/* Folds and packs the encoder's weights (enc_lock held). A failure gives back what it
 * converted and is remembered, except for lack of memory, which may be over at the
 * next use. */
static mg_status pack_encoder(mg_encodec *c) {
    mg_status st = mg_memory_check(encoder_pack_bytes(c), "packing EnCodec's encoder (at its first use)",
                                   "close other programs or use a machine with more memory");
    if (st != MG_OK)
        return st;
    /* f32 copies of f16 / bf16 tensors go to the store's arena: taken back on failure. */
    mg_arena_mark mark = mg_arena_save(&c->store->arena);
    int64_t converted = c->store->converted_bytes;
    st = load_encoder(&c->enc, c, c->store, EC_LOAD_WEIGHTS); /* c->enc only on success */
    if (st != MG_OK) {
        mg_arena_restore(&c->store->arena, mark);
        c->store->converted_bytes = converted;
        mg_fail_context(st, "loading the EnCodec encoder");
        if (st != MG_ERR_NOMEM) {
            c->enc_failed = st;
            snprintf(c->enc_error, sizeof c->enc_error, "%s", mg_last_error());
        }
    }
    return st;
}

mg_status mg_encodec_prepare_encoder(const mg_encodec *cc) {
    mg_encodec *c = (mg_encodec *)cc; /* logically const: the lazily packed weights */
    pthread_mutex_lock(&c->enc_lock);
    mg_status st = MG_OK;
    if (c->enc_failed != MG_OK) /* the weights have not changed since: same answer, no work */
        st = mg_fail(c->enc_failed, "%s", c->enc_error);
    else if (!c->enc.front)
        st = pack_encoder(c);
    pthread_mutex_unlock(&c->enc_lock);
    return st;
}

static mg_status load_decoder(mg_encodec *c, mg_store *s) {
    const mg_encodec_config *cfg = &c->cfg;
    const int F = cfg->num_filters, nres = cfg->num_residual_layers;
    char name[256];
    int idx = 0;
    snprintf(name, sizeof name, EC_PREFIX ".decoder.layers.%d.conv", idx++);
    MG_TRY(load_conv_layer(&c->dec_front, s, cfg, name, cfg->hidden_size, c->c_lstm, cfg->kernel_size, 1, 0,
                           EC_LOAD_WEIGHTS));
    snprintf(name, sizeof name, EC_PREFIX ".decoder.layers.%d.lstm", idx++);
    MG_TRY(ec_lstm_load(&c->dec_lstm, s, name, c->c_lstm, cfg->num_lstm_layers, EC_LOAD_WEIGHTS));
    c->n_dec_back = cfg->n_ratios * (1 + nres) + 1;
    c->dec_back = mg_calloc((size_t)c->n_dec_back, sizeof *c->dec_back, "EnCodec decoder layers");
    if (!c->dec_back)
        return MG_ERR_NOMEM;
    int li = 0, cur = c->c_lstm;
    for (int r = 0; r < cfg->n_ratios; r++) {
        int ratio = cfg->upsampling_ratios[r];
        idx++; /* ELU */
        snprintf(name, sizeof name, EC_PREFIX ".decoder.layers.%d.conv", idx++);
        ec_layer *l = &c->dec_back[li++];
        l->kind = EC_CONVT;
        ec_trim_spec trim = {cfg->use_causal_conv, cfg->trim_right_ratio};
        MG_TRY(ec_convt_load(&l->convt, s, name, cur, cur / 2, 2 * ratio, ratio, 1, &trim));
        for (int j = 0; j < nres; j++) {
            snprintf(name, sizeof name, EC_PREFIX ".decoder.layers.%d", idx++);
            MG_TRY(load_resblock(&c->dec_back[li++], s, cfg, name, cur / 2, ipow(cfg->dilation_growth_rate, j),
                                 EC_LOAD_WEIGHTS));
        }
        cur /= 2;
    }
    idx++; /* ELU */
    snprintf(name, sizeof name, EC_PREFIX ".decoder.layers.%d.conv", idx++);
    return load_conv_layer(&c->dec_back[li++], s, cfg, name, F, cfg->audio_channels, cfg->last_kernel_size, 1, 1,
                           EC_LOAD_WEIGHTS);
}

static mg_status check_config(const mg_encodec_config *cfg) {
    if (cfg->audio_channels != 1)
        return mg_fail(MG_ERR_UNSUPPORTED, "config.json: audio_encoder.audio_channels = %d; only mono EnCodec (1) is "
                       "supported (stereo MusicGen models use a mono codec per channel)", cfg->audio_channels);
    if (cfg->codebook_dim != cfg->hidden_size)
        return mg_fail(MG_ERR_UNSUPPORTED, "config.json: audio_encoder.codebook_dim %d differs from hidden_size %d; "
                       "EnCodec has no projection between them", cfg->codebook_dim, cfg->hidden_size);
    if (cfg->n_ratios < 1 || cfg->num_filters < 1 || cfg->compress < 1 || cfg->kernel_size < 1 ||
        cfg->last_kernel_size < 1 || cfg->residual_kernel_size < 1 || cfg->dilation_growth_rate < 1)
        return mg_fail(MG_ERR_FORMAT, "config.json: audio_encoder has a non-positive size");
    if (cfg->n_ratios > 20 || ((int64_t)cfg->num_filters << cfg->n_ratios) > MG_MAX_CODEC_CHANNELS)
        return mg_fail(MG_ERR_UNSUPPORTED, "config.json: audio_encoder num_filters %d x 2^%d channels is too large",
                       cfg->num_filters, cfg->n_ratios);
    if (cfg->num_quantizers < 1)
        return mg_fail(MG_ERR_FORMAT, "config.json: audio_encoder has no quantizers");
    return MG_OK;
}

mg_status mg_encodec_load(const mg_encodec_config *cfg, mg_store *s, mg_encodec **out) {
    *out = NULL;
    MG_TRY(check_config(cfg));
    mg_encodec *c = mg_calloc(1, sizeof *c, "the EnCodec model");
    if (!c)
        return MG_ERR_NOMEM;
    c->cfg = *cfg;
    c->c_lstm = cfg->num_filters << cfg->n_ratios;
    c->store = s;
    pthread_mutex_init(&c->enc_lock, NULL);
    mg_status st = load_encoder(&c->enc_shape, c, s, EC_CHECK_ONLY);
    if (st == MG_OK)
        st = load_decoder(c, s);
    if (st == MG_OK)
        st = ec_rvq_load(&c->rvq, s, EC_PREFIX ".quantizer", cfg->num_quantizers, cfg->codebook_size,
                         cfg->codebook_dim);
    if (st != MG_OK) {
        mg_fail_context(st, "loading EnCodec");
        mg_encodec_free(c);
        return st;
    }
    *out = c;
    return MG_OK;
}

void mg_encodec_free(mg_encodec *c) {
    if (!c)
        return;
    free_encoder(&c->enc_shape);
    free_encoder(&c->enc);
    pthread_mutex_destroy(&c->enc_lock);
    ec_layer_free(&c->dec_front);
    ec_lstm_free(&c->dec_lstm);
    if (c->dec_back)
        for (int i = 0; i < c->n_dec_back; i++)
            ec_layer_free(&c->dec_back[i]);
    free(c->dec_back);
    ec_rvq_free(&c->rvq);
    free(c);
}

/* ---- sizes ----------------------------------------------------------------------------------------- */

const mg_encodec_config *mg_encodec_get_config(const mg_encodec *c) { return &c->cfg; }

int mg_encodec_hop(const mg_encodec *c) { return c->cfg.hop_length; }

int64_t mg_encodec_frames_for(const mg_encodec *c, int64_t n_samples) {
    int64_t len = n_samples;
    for (int i = 0; i < c->enc_shape.n_front && len > 0; i++)
        len = ec_layer_out_len(&c->enc_shape.front[i], len);
    return len;
}

int64_t mg_encodec_packed_bytes(const mg_encodec *cc) {
    mg_encodec *c = (mg_encodec *)cc; /* the lock only */
    pthread_mutex_lock(&c->enc_lock);
    int64_t n = ec_layer_packed_bytes(&c->enc.back) + ec_layer_packed_bytes(&c->dec_front) +
                ec_rvq_packed_bytes(&c->rvq);
    for (int i = 0; i < c->enc.n_front; i++)
        n += ec_layer_packed_bytes(&c->enc.front[i]);
    for (int i = 0; i < c->n_dec_back; i++)
        n += ec_layer_packed_bytes(&c->dec_back[i]);
    const ec_lstm *ls[2] = {&c->enc.lstm, &c->dec_lstm};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < ls[k]->n_layers; i++)
            n += mg_gemm_b_bytes(&ls[k]->w_ih[i]) + 16 * (int64_t)ls[k]->dim;
    pthread_mutex_unlock(&c->enc_lock);
    return n;
}

void mg_encodec_set_chunk_frames(mg_encodec *c, int frames) { c->chunk_frames = frames > 0 ? frames : 0; }

static int64_t chunk_frames(const mg_encodec *c) {
    if (c->chunk_frames > 0)
        return c->chunk_frames;
    int64_t per_frame = (int64_t)c->cfg.hop_length * c->cfg.num_filters;
    int64_t f = EC_CHUNK_FLOATS / (per_frame > 0 ? per_frame : 1);
    return f < 1 ? 1 : f;
}

void mg_encodec_trace_free(mg_encodec_trace *t) {
    if (!t)
        return;
    free(t->enc_conv0);
    free(t->enc_lstm);
    free(t->encoder_out);
    free(t->quantized);
    free(t->dec_conv0);
    free(t->dec_lstm);
    int want = t->want;
    memset(t, 0, sizeof *t);
    t->want = want;
}

static mg_status trace_copy(float **dst, const float *src, int64_t n) {
    free(*dst);
    *dst = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!*dst)
        return mg_fail(MG_ERR_NOMEM, "out of memory for an EnCodec trace");
    memcpy(*dst, src, (size_t)n * sizeof(float));
    return MG_OK;
}

/* ---- sinks for the chunked stacks ---------------------------------------------------------------------- */

typedef struct rows_sink {
    float *dst; /* [len][ch] */
    int ch;
} rows_sink;

static mg_status sink_rows(void *user, const float *rows, int64_t t0, int64_t t1, int ch) {
    rows_sink *s = user;
    if (ch != s->ch)
        return mg_fail(MG_ERR_INTERNAL, "EnCodec: stack produced %d channels, expected %d", ch, s->ch);
    memcpy(s->dst + t0 * ch, rows, (size_t)((t1 - t0) * ch) * sizeof(float));
    return MG_OK;
}

/* Run one layer on a whole (frame-rate) sequence. */
static mg_status run_whole(const ec_layer *l, mg_pool *pool, const float *x, int64_t T, int cin, float *y) {
    ec_view in = {x, 0, T, T, cin};
    ec_stack st = {l, 1};
    rows_sink s = {y, ec_layer_out_ch(l)};
    return ec_stack_run(&st, pool, &in, 0, sink_rows, &s, NULL);
}

/* ---- encoder ---------------------------------------------------------------------------------------------- */

mg_status mg_encodec_encoder_forward(const mg_encodec *c, mg_pool *pool, const float *audio, int64_t n_samples,
                                     float **emb, int64_t *n_frames, mg_encodec_trace *trace) {
    *emb = NULL;
    *n_frames = 0;
    if (n_samples < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "EnCodec encode: no audio samples");
    MG_TRY(mg_encodec_prepare_encoder(c));
    int64_t T = mg_encodec_frames_for(c, n_samples);
    if (T < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "EnCodec encode: %lld samples give no frames", (long long)n_samples);
    const int C = c->c_lstm, Hd = c->cfg.hidden_size, F = c->cfg.num_filters;
    int tracing = trace && trace->want;
    float *x = malloc((size_t)(T * C) * sizeof(float));
    float *y = malloc((size_t)(T * C) * sizeof(float));
    float *e = malloc((size_t)(T * Hd) * sizeof(float));
    mg_status st = (x && y && e) ? MG_OK : mg_fail(MG_ERR_NOMEM, "out of memory encoding %lld samples", (long long)n_samples);
    if (st == MG_OK && tracing) {
        free(trace->enc_conv0);
        trace->enc_conv0 = calloc((size_t)(n_samples * F), sizeof(float));
        trace->n_samples = n_samples;
        if (!trace->enc_conv0)
            st = mg_fail(MG_ERR_NOMEM, "out of memory for an EnCodec trace");
    }
    double t0 = mg_time_now();
    if (st == MG_OK) {
        ec_view in = {audio, 0, n_samples, n_samples, 1};
        ec_stack stack = {c->enc.front, c->enc.n_front};
        rows_sink s = {x, C};
        rows_sink conv0 = {tracing ? trace->enc_conv0 : NULL, F};
        ec_tap tap = {0, sink_rows, &conv0};
        st = ec_stack_run(&stack, pool, &in, chunk_frames(c), sink_rows, &s, tracing ? &tap : NULL);
    }
    double t1 = mg_time_now();
    if (st == MG_OK)
        st = ec_lstm_forward(&c->enc.lstm, pool, x, T, y);
    double t2 = mg_time_now();
    if (st == MG_OK && tracing)
        st = trace_copy(&trace->enc_lstm, y, T * C);
    double t3 = mg_time_now();
    if (st == MG_OK)
        st = run_whole(&c->enc.back, pool, y, T, C, e);
    if (trace) {
        trace->sec_convs = t1 - t0;
        trace->sec_lstm = t2 - t1;
        trace->sec_frame_convs = mg_time_now() - t3;
    }
    if (st == MG_OK && tracing) {
        st = trace_copy(&trace->encoder_out, e, T * Hd);
        trace->n_frames = T;
        trace->c_lstm = C;
        trace->hidden = Hd;
    }
    free(x);
    free(y);
    if (st != MG_OK) {
        free(e);
        return st;
    }
    *emb = e;
    *n_frames = T;
    return MG_OK;
}

mg_status mg_encodec_quantize(const mg_encodec *c, mg_pool *pool, const float *emb, int64_t n_frames, int n_q,
                              int64_t *codes) {
    if (n_q < 1 || n_q > c->rvq.n_levels)
        return mg_fail(MG_ERR_INVALID_ARG, "EnCodec: %d quantizer levels requested; this codec has 1..%d", n_q,
                       c->rvq.n_levels);
    return ec_rvq_encode(&c->rvq, pool, emb, n_frames, n_q, codes);
}

mg_status mg_encodec_encode_traced(const mg_encodec *c, mg_pool *pool, const float *audio, int64_t n_samples, int n_q,
                                   int64_t **codes, int *n_frames, mg_encodec_trace *trace) {
    *codes = NULL;
    *n_frames = 0;
    if (n_q <= 0)
        n_q = c->cfg.n_codes;
    if (n_q < 1 || n_q > c->rvq.n_levels)
        return mg_fail(MG_ERR_INVALID_ARG, "EnCodec encode: %d quantizer levels requested; this codec has 1..%d", n_q,
                       c->rvq.n_levels);
    if (n_samples > (int64_t)c->cfg.hop_length * (int64_t)(1 << 30))
        return mg_fail(MG_ERR_INVALID_ARG, "EnCodec encode: %lld samples is too long", (long long)n_samples);
    float *emb;
    int64_t T;
    MG_TRY(mg_encodec_encoder_forward(c, pool, audio, n_samples, &emb, &T, trace));
    int64_t *out = malloc((size_t)(T * n_q) * sizeof(int64_t));
    if (!out) {
        free(emb);
        return mg_fail(MG_ERR_NOMEM, "out of memory for %lld codes", (long long)(T * n_q));
    }
    double t0 = mg_time_now();
    mg_status st = mg_encodec_quantize(c, pool, emb, T, n_q, out);
    if (trace)
        trace->sec_rvq = mg_time_now() - t0;
    free(emb);
    if (st != MG_OK) {
        free(out);
        return st;
    }
    *codes = out;
    *n_frames = (int)T;
    return MG_OK;
}

mg_status mg_encodec_encode(const mg_encodec *c, mg_pool *pool, const float *audio, int64_t n_samples, int n_q,
                            int64_t **codes, int *n_frames) {
    return mg_encodec_encode_traced(c, pool, audio, n_samples, n_q, codes, n_frames, NULL);
}

/* ---- decoder ---------------------------------------------------------------------------------------------- */

mg_status mg_encodec_dequantize(const mg_encodec *c, const int64_t *codes, int n_q, int64_t n_frames, float *emb) {
    if (n_q < 1 || n_q > c->rvq.n_levels)
        return mg_fail(MG_ERR_INVALID_ARG, "EnCodec decode: %d codebooks given; this codec has 1..%d", n_q,
                       c->rvq.n_levels);
    for (int l = 0; l < n_q; l++)
        for (int64_t t = 0; t < n_frames; t++) {
            int64_t v = codes[(int64_t)l * n_frames + t];
            if (v < 0 || v >= c->rvq.size)
                return mg_fail(MG_ERR_INVALID_ARG, "EnCodec decode: code %lld at codebook %d, frame %lld is outside "
                               "the codebook [0, %d)", (long long)v, l, (long long)t, c->rvq.size);
        }
    ec_rvq_decode(&c->rvq, codes, n_q, n_frames, emb);
    return MG_OK;
}

mg_status mg_encodec_decoder_forward(const mg_encodec *c, mg_pool *pool, const float *emb, int64_t n_frames,
                                     float *audio, mg_encodec_trace *trace) {
    const int C = c->c_lstm, Hd = c->cfg.hidden_size;
    int tracing = trace && trace->want;
    float *x = malloc((size_t)(n_frames * C) * sizeof(float));
    float *y = malloc((size_t)(n_frames * C) * sizeof(float));
    mg_status st = (x && y) ? MG_OK : mg_fail(MG_ERR_NOMEM, "out of memory decoding %lld frames", (long long)n_frames);
    double t0 = mg_time_now();
    if (st == MG_OK)
        st = run_whole(&c->dec_front, pool, emb, n_frames, Hd, x);
    double t1 = mg_time_now();
    if (st == MG_OK && tracing)
        st = trace_copy(&trace->dec_conv0, x, n_frames * C);
    double t2 = mg_time_now();
    if (st == MG_OK)
        st = ec_lstm_forward(&c->dec_lstm, pool, x, n_frames, y);
    double t3 = mg_time_now();
    if (st == MG_OK && tracing) {
        st = trace_copy(&trace->dec_lstm, y, n_frames * C);
        trace->n_frames = n_frames;
        trace->c_lstm = C;
        trace->hidden = Hd;
    }
    if (st == MG_OK) {
        ec_view in = {y, 0, n_frames, n_frames, C};
        ec_stack stack = {c->dec_back, c->n_dec_back};
        rows_sink s = {audio, 1};
        st = ec_stack_run(&stack, pool, &in, chunk_frames(c) * c->cfg.hop_length, sink_rows, &s, NULL);
    }
    if (trace) {
        trace->sec_frame_convs = t1 - t0;
        trace->sec_lstm = t3 - t2;
        trace->sec_convs = mg_time_now() - t3;
    }
    free(x);
    free(y);
    return st;
}

void ec_decoder_parts_of(const mg_encodec *c, ec_decoder_parts *p) {
    p->front = &c->dec_front;
    p->lstm = &c->dec_lstm;
    p->back = c->dec_back;
    p->n_back = c->n_dec_back;
    p->c_lstm = c->c_lstm;
    p->chunk_frames = chunk_frames(c);
}

static mg_status decode(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int n_q, int n_frames, float *audio,
                        mg_encodec_trace *trace, const atomic_int *cancel) {
    if (n_frames < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "EnCodec decode: %d frames given; need at least 1", n_frames);
    /* Long inputs (untraced): through the streaming decoder, a block of frames at a
     * time, so the frame-rate buffers stay at EC_DECODE_BLOCK_BYTES (same result). Each
     * block re-reads some context, so blocks are not made smaller than that: with
     * blocks of chunk_frames (~100 frames) 10 s decoded in 392-419 ms against 334-369
     * in one piece, 30 s in 1250-1285 against 945-1043 (~400-frame blocks: 986-1028). */
    int64_t per_frame = ((int64_t)c->cfg.codebook_dim + 7 * (int64_t)c->c_lstm) * (int64_t)sizeof(float);
    int64_t block = EC_DECODE_BLOCK_BYTES / (per_frame > 0 ? per_frame : 1);
    if (block < chunk_frames(c) || c->chunk_frames > 0) /* mg_encodec_set_chunk_frames sets both */
        block = chunk_frames(c);
    if (!trace && n_frames > block)
        return ec_decode_streamed(c, pool, codes, n_q, n_frames, (int)block, audio, cancel); /* block < n_frames */
    const int D = c->cfg.codebook_dim;
    float *emb = malloc((size_t)n_frames * (size_t)D * sizeof(float));
    if (!emb)
        return mg_fail(MG_ERR_NOMEM, "out of memory decoding %d frames", n_frames);
    mg_status st = mg_encodec_dequantize(c, codes, n_q, n_frames, emb);
    if (st == MG_OK && trace && trace->want)
        st = trace_copy(&trace->quantized, emb, (int64_t)n_frames * D);
    if (st == MG_OK)
        st = mg_encodec_decoder_forward(c, pool, emb, n_frames, audio, trace);
    free(emb);
    return st;
}

mg_status mg_encodec_decode_traced(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int n_q, int n_frames,
                                   float *audio, mg_encodec_trace *trace) {
    return decode(c, pool, codes, n_q, n_frames, audio, trace, NULL);
}

mg_status mg_encodec_decode(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int n_q, int n_frames,
                            float *audio) {
    return decode(c, pool, codes, n_q, n_frames, audio, NULL, NULL);
}

mg_status mg_encodec_decode_cancellable(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int n_q,
                                        int n_frames, float *audio, const atomic_int *cancel) {
    return decode(c, pool, codes, n_q, n_frames, audio, NULL, cancel);
}
