/* musicgen.c — the public API (include/musicgen.h) on top of the stages: model
 * loading, contexts, and the generation pipeline prompt -> T5 -> decoder -> EnCodec. */
#include "model.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/resources.h"
#include "lm/attention.h"
#include "codec/encodec.h"
#include "io/hub.h"
#include "lm/decoder.h"
#include "text/spm.h"
#include "text/t5.h"

#include <stdlib.h>
#include <string.h>

MG_API const char *mg_version(void) { return MG_VERSION; }

MG_API void mg_free(void *p) { free(p); }

MG_API mg_model_params mg_model_default_params(void) {
    mg_model_params p;
    memset(&p, 0, sizeof p);
    p.weight_type = MG_WEIGHT_AUTO;
    return p;
}

MG_API mg_context_params mg_context_default_params(void) {
    mg_context_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0;
    p.kv_type = MG_KV_F16;
    return p;
}

static int64_t count_params(const mg_store *s, const char *prefix) {
    int64_t n = 0;
    size_t pl = strlen(prefix);
    for (int i = 0; i < s->n_entries; i++) {
        const char *name = s->entries[i].name;
        if (strncmp(name, prefix, pl))
            continue;
        /* EnCodec's quantizer state (codebooks and their training statistics) is made of
         * buffers in the reference, not parameters: counted as num_parameters() does. */
        const char *dot = strrchr(name, '.');
        if (dot && (!strcmp(dot, ".embed_avg") || !strcmp(dot, ".cluster_size") || !strcmp(dot, ".inited") ||
                    mg_str_ends_with(name, ".codebook.embed")))
            continue;
        n += mg_tensor_numel(&s->entries[i].t);
        /* A convolution whose weight norm was folded (a GGUF's): transformers' model
         * still holds weight_g, one value per row of the weight (dim 0). */
        if (!strncmp(name, "audio_encoder.", 14) && mg_str_ends_with(name, ".conv.weight") && s->entries[i].t.ndim == 3)
            n += s->entries[i].t.shape[0];
    }
    return n;
}

static void fill_info(mg_model *m) {
    const mg_config *c = &m->ck.cfg;
    mg_model_info *in = &m->info;
    memset(in, 0, sizeof *in);
    in->stereo = c->dec.audio_channels == 2;
    in->channels = c->dec.audio_channels;
    in->sample_rate = c->codec.sample_rate;
    in->hop_length = c->codec.hop_length;
    in->frame_rate = (float)c->codec.sample_rate / (float)c->codec.hop_length;
    in->n_codebooks = c->dec.n_codebooks;
    in->codebook_size = c->dec.vocab_size;
    in->codec_codebooks = c->codec.num_quantizers;
    int max_len = mg_config_window_columns(c);
    in->max_steps = max_len - 1;
    /* 0 when the window is too short for the delay pattern: no duration can be made. */
    int frames = mg_config_window_is_empty(c) ? 0 : max_len - mg_config_delays(c);
    in->max_duration_s = frames > 0 ? (float)frames * (float)c->codec.hop_length / (float)c->codec.sample_rate : 0;
    in->decoder_layers = c->dec.n_layers;
    in->decoder_hidden = c->dec.hidden_size;
    in->decoder_heads = c->dec.n_heads;
    in->decoder_ffn = c->dec.ffn_dim;
    in->text_layers = c->t5.n_layers;
    in->text_hidden = c->t5.d_model;
    in->text_heads = c->t5.n_heads;
    in->text_vocab = c->t5.vocab_size;
    in->decoder_activation = mg_act_name(c->dec.act);
    in->text_head_dim = c->t5.d_kv;
    in->text_ffn = c->t5.d_ff;
    in->text_activation = mg_act_name(c->t5.ff_act);
    in->text_gated = c->t5.gated;
    in->codec_filters = c->codec.num_filters;
    in->codec_hidden = c->codec.hidden_size;
    in->codec_lstm_layers = c->codec.num_lstm_layers;
    in->codec_residual_layers = c->codec.num_residual_layers;
    in->codec_n_ratios = c->codec.n_ratios;
    for (int i = 0; i < c->codec.n_ratios && i < 8; i++)
        in->codec_ratios[i] = c->codec.upsampling_ratios[i];
    in->codec_causal = c->codec.use_causal_conv;
    in->params_text = count_params(&m->ck.store, "text_encoder.") + count_params(&m->ck.store, "enc_to_dec_proj.");
    in->params_decoder = count_params(&m->ck.store, "decoder.");
    in->params_codec = count_params(&m->ck.store, "audio_encoder.");
    in->params_total = in->params_text + in->params_decoder + in->params_codec;
    in->weight_type = m->weight_type_name;
    in->step_weight_bytes = m->dec ? mg_decoder_step_weight_bytes(m->dec) : 0;
    in->guidance_scale = c->gen.guidance_scale;
    in->top_k = c->gen.top_k;
    in->do_sample = c->gen.do_sample;
    in->top_p = c->gen.top_p;
    in->temperature = c->gen.temperature;
}

/* The T5 tokenizer from the checkpoint's spiece.model bytes (folder or GGUF); the
 * number of <extra_id_N> tokens comes from tokenizer_config.json when present. */
static mg_status load_tokenizer(mg_model *m) {
    int extra_ids = m->ck.extra_ids > 0 ? m->ck.extra_ids : MG_TOKENIZER_DEFAULT_EXTRA_IDS;
    if (!m->ck.is_gguf)
        MG_TRY(mg_tokenizer_read_extra_ids(m->ck.path, &extra_ids));
    const char *where = m->ck.spiece_path ? m->ck.spiece_path : m->ck.path;
    return mg_tokenizer_load(m->ck.spiece, m->ck.spiece_size, where, extra_ids, &m->tok);
}

/* Every stage reads and checks its tensors here, so a bad checkpoint fails at load
 * time, naming the tensor. The decoder's matrices are converted to the requested
 * format; the T5 becomes f16 at most (mg_text_matrix_format, as `musicgen quantize`
 * stores it): its error reaches every decoder step, and it runs once per generation. */
static mg_status load_stages_on(mg_model *m, const mg_model_params *p) {
    mg_config *cfg = &m->ck.cfg;
    mg_store *s = &m->ck.store;
    mg_dtype dec_want = mg_dtype_of_weight_type(p->weight_type); /* MG_DT_COUNT: as stored */
    s->f32_as_f16 = p->weight_type == MG_WEIGHT_AUTO_F16;
    MG_TRY(load_tokenizer(m));
    MG_TRY(mg_t5_load(cfg, s, dec_want, &m->t5));
    MG_TRY(mg_decoder_load(cfg, s, dec_want, &m->dec));
    if (p->no_mmap)
        MG_TRY(mg_decoder_copy_step_weights(m->dec));
    else
        mg_decoder_map_step_weights_huge(m->dec);
    MG_TRY(mg_encodec_load(&cfg->codec, s, &m->codec));
    return MG_OK;
}

/* Conversions while loading run on a pool of p->n_threads (0: one per core), freed after. */
static mg_status load_stages(mg_model *m, const mg_model_params *p) {
    m->ck.store.pool = mg_pool_new(mg_cpu_threads(p->n_threads));
    mg_status st = load_stages_on(m, p); /* a NULL pool (none could start) converts on this thread */
    mg_pool_free(m->ck.store.pool);
    m->ck.store.pool = NULL;
    m->ck.store.f32_as_f16 = 0;
    return st;
}

/* The number format of a stored one: q8_0 / q4_0 in 16-row groups are q8_0 / q4_0 to
 * the user. */
static mg_dtype format_of(mg_dtype t) { return mg_dtype_x16_base(t); }

/* "q8_0", or "q8_0 (+ f16 for 148 matrices)" when block formats had to fall back for
 * matrices whose rows are not a multiple of 32 (f16) or that are small (f32; see
 * mg_matrix_format): the decoder's matrices as loaded. A toy model asked to be q8_0
 * none of whose matrices was quantized says so rather than just "f32". */
static void describe_weight_format(mg_model *m) {
    const mg_decoder *d = m->dec;
    int count[MG_DT_COUNT] = {0};
    for (int l = 0; l < d->cfg.n_layers; l++) {
        const mg_dec_layer *L = &d->layers[l];
        const mg_matrix *ms[] = {&L->sq, &L->sk, &L->sv, &L->so, &L->cq, &L->ck, &L->cv, &L->co, &L->fc1, &L->fc2};
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
            mg_dtype t = format_of(ms[i]->dtype);
            count[t]++;
        }
    }
    for (int k = 0; k < d->cfg.n_codebooks; k++) {
        mg_dtype t = format_of(d->lm_heads[k].dtype);
        count[t]++;
    }
    int main_t = 0;
    for (int t = 1; t < MG_DT_COUNT; t++)
        if (count[t] > count[main_t])
            main_t = t;
    /* A block format that fell back somewhere is the one asked for: name it first. */
    for (int t = 0; t < MG_DT_COUNT; t++)
        if (mg_dtype_is_block((mg_dtype)t) && count[t])
            main_t = t;
    /* A q8_0 / q4_0 file of a toy model none of whose matrices could be quantized. */
    mg_dtype asked = m->weight_type != MG_WEIGHT_AUTO && m->weight_type != MG_WEIGHT_AUTO_F16
                         ? mg_dtype_of_weight_type(m->weight_type)
                         : m->ck.file_type;
    int n_matrices = 0, n_block = 0;
    for (int t = 0; t < MG_DT_COUNT; t++) {
        n_matrices += count[t];
        n_block += mg_dtype_is_block((mg_dtype)t) ? count[t] : 0;
    }
    if (mg_dtype_is_block(asked) && n_block == 0) {
        snprintf(m->weight_type_name, sizeof m->weight_type_name,
                 "%s (none of %d matrices quantized: small, or rows not a multiple of 32)", mg_dtype_name(asked),
                 n_matrices);
        return;
    }
    size_t o = (size_t)snprintf(m->weight_type_name, sizeof m->weight_type_name, "%s", mg_dtype_name((mg_dtype)main_t));
    for (int t = 0; t < MG_DT_COUNT && o < sizeof m->weight_type_name; t++)
        if (t != main_t && count[t])
            o += (size_t)snprintf(m->weight_type_name + o, sizeof m->weight_type_name - o, " (+ %s for %d matri%s)",
                                  mg_dtype_name((mg_dtype)t), count[t], count[t] == 1 ? "x" : "ces");
}

MG_API mg_status mg_model_load(const char *path, const mg_model_params *params, mg_model **out) {
    if (!out)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_model_load: NULL output pointer");
    *out = NULL;
    if (!path || !path[0])
        return mg_fail(MG_ERR_INVALID_ARG, "no model given");
    mg_model_params p = params ? *params : mg_model_default_params();
    if (p.n_threads < 0 || p.n_threads > 1024)
        return mg_fail(MG_ERR_INVALID_ARG, "thread count %d is out of range (0 = one per core, at most 1024)", p.n_threads);
    if ((int)p.weight_type < MG_WEIGHT_AUTO || (int)p.weight_type > MG_WEIGHT_AUTO_F16)
        return mg_fail(MG_ERR_INVALID_ARG, "weight type %d is not one of mg_weight_type", (int)p.weight_type);
    mg_model *m = mg_calloc(1, sizeof *m, "the model");
    if (!m)
        return MG_ERR_NOMEM;
    m->weight_type = p.weight_type;
    /* A hub repo id ("facebook/musicgen-small") opens its snapshot in the hub cache,
     * downloaded first unless offline (io/hub.h). */
    char *snapshot = NULL;
    mg_status st = mg_hub_resolve_model(path, &p, &snapshot);
    if (st == MG_OK)
        st = mg_checkpoint_open(snapshot ? snapshot : path, &m->ck);
    free(snapshot);
    if (st != MG_OK) {
        free(m);
        return st;
    }
    st = load_stages(m, &p);
    if (st != MG_OK) {
        mg_model_free(m);
        return st;
    }
    describe_weight_format(m);
    fill_info(m);
    *out = m;
    mg_clear_error(); /* lookups that failed on the way (an absent index file) are not errors */
    return MG_OK;
}

MG_API void mg_model_free(mg_model *m) {
    if (!m)
        return;
    mg_tokenizer_free(m->tok);
    mg_t5_free(m->t5);
    mg_decoder_free(m->dec);
    mg_encodec_free(m->codec);
    mg_checkpoint_close(&m->ck);
    free(m);
}

MG_API void mg_model_get_info(const mg_model *m, mg_model_info *out) {
    if (m && out)
        *out = m->info;
    else if (out)
        memset(out, 0, sizeof *out);
}

MG_API mg_status mg_context_new(mg_model *model, const mg_context_params *params, mg_context **out) {
    if (!out)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_context_new: NULL output pointer");
    *out = NULL;
    if (!model)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_context_new: no model");
    mg_context_params p = params ? *params : mg_context_default_params();
    if (p.n_threads < 0 || p.n_threads > 1024)
        return mg_fail(MG_ERR_INVALID_ARG, "thread count %d is out of range (0 = one per core, at most 1024)", p.n_threads);
    if ((int)p.kv_type < MG_KV_F16 || (int)p.kv_type > MG_KV_Q8_0)
        return mg_fail(MG_ERR_INVALID_ARG, "attention cache type %d is not one of mg_kv_type", (int)p.kv_type);
    mg_context *c = mg_calloc(1, sizeof *c, "a context");
    if (!c)
        return MG_ERR_NOMEM;
    c->model = model;
    c->params = p;
    /* q8_0 blocks are 32 values: a head of another size keeps an f16 cache (it works,
     * but say so, once per context). */
    int head_dim = model->dec->head_dim;
    if (p.kv_type == MG_KV_Q8_0 && mg_kv_effective(MG_KV_Q8_0, head_dim) != MG_KV_Q8_0)
        mg_log_warn("a q8_0 attention cache needs a head size that is a multiple of 32 (this model's is %d); "
                    "using f16", head_dim);
    /* More threads than CPUs only adds contention (results do not depend on it). */
    int cpus = mg_cpu_count();
    if (p.n_threads > cpus) {
        mg_log_warn("%d threads requested but this process may use %d CPU%s; using %d", p.n_threads, cpus,
                    cpus == 1 ? "" : "s", cpus);
        p.n_threads = cpus;
    }
    c->params = p;
    c->pool = mg_pool_new(mg_cpu_threads(p.n_threads));
    if (!c->pool) {
        free(c);
        return MG_ERR_NOMEM;
    }
    *out = c;
    return MG_OK;
}

MG_API void mg_cancel(mg_context *ctx) {
    if (ctx)
        atomic_store_explicit(&ctx->cancel, 1, memory_order_relaxed);
}

MG_API void mg_context_free(mg_context *c) {
    if (!c)
        return;
    mg_pool_free(c->pool);
    free(c);
}
