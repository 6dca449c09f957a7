/* config.c — config.json / generation_config.json parsing with cJSON (see config.h).
 * Every field that shapes the model is required to be present and sane; a missing
 * or impossible value is reported with the sub-config and key at fault. */
#include "io/config.h"
#include "io/json.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *where;   /* file name */
    const char *section; /* sub-config name */
    mg_status st;
} parse_ctx;

/* The value of `key`; of a key given twice, the last, as Python's json (transformers)
 * reads it (cJSON's own lookup returns the first). */
static cJSON *get(cJSON *obj, const char *key) {
    cJSON *found = NULL;
    for (cJSON *c = cJSON_IsObject(obj) ? obj->child : NULL; c; c = c->next)
        if (c->string && !strcmp(c->string, key))
            found = c;
    return found;
}

/* Integer field, required; must lie in [lo, hi]. */
static int req_int(parse_ctx *p, cJSON *obj, const char *key, int lo, int hi) {
    if (p->st != MG_OK)
        return 0;
    cJSON *v = get(obj, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        p->st = mg_fail(MG_ERR_FORMAT, "%s: %s.%s is %s; expected an integer", p->where, p->section, key,
                        v ? "not an integer" : "missing");
        return 0;
    }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        p->st = mg_fail(MG_ERR_FORMAT, "%s: %s.%s = %g is out of range [%d, %d]", p->where, p->section, key,
                        v->valuedouble, lo, hi);
        return 0;
    }
    return (int)v->valuedouble;
}

static int opt_int(parse_ctx *p, cJSON *obj, const char *key, int def, int lo, int hi) {
    cJSON *v = get(obj, key);
    if (!v || cJSON_IsNull(v))
        return def;
    return req_int(p, obj, key, lo, hi);
}

static double opt_num(parse_ctx *p, cJSON *obj, const char *key, double def, double lo, double hi) {
    if (p->st != MG_OK)
        return def;
    cJSON *v = get(obj, key);
    if (!v || cJSON_IsNull(v))
        return def;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        p->st = mg_fail(MG_ERR_FORMAT, "%s: %s.%s must be a number in [%g, %g]", p->where, p->section, key, lo, hi);
        return def;
    }
    return v->valuedouble;
}

static int opt_bool(parse_ctx *p, cJSON *obj, const char *key, int def) {
    cJSON *v = get(obj, key);
    if (!v || cJSON_IsNull(v))
        return def;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    if (p->st == MG_OK)
        p->st = mg_fail(MG_ERR_FORMAT, "%s: %s.%s must be true or false", p->where, p->section, key);
    return def;
}

static const char *opt_str(cJSON *obj, const char *key) {
    cJSON *v = get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *section(parse_ctx *p, cJSON *root, const char *name, const char *model_type) {
    if (p->st != MG_OK)
        return NULL;
    cJSON *s = get(root, name);
    if (!cJSON_IsObject(s)) {
        p->st = mg_fail(MG_ERR_FORMAT, "%s has no \"%s\" section; this is not a MusicGen config.json "
                        "(expected model_type \"musicgen\" with text_encoder, audio_encoder and decoder)", p->where, name);
        return NULL;
    }
    const char *mt = opt_str(s, "model_type");
    if (mt && strcmp(mt, model_type)) {
        p->st = mg_fail(MG_ERR_UNSUPPORTED, "%s: %s.model_type is \"%s\"; only \"%s\" is supported", p->where, name, mt,
                        model_type);
        return NULL;
    }
    p->section = name;
    return s;
}

static void parse_t5(parse_ctx *p, cJSON *s, mg_t5_config *c) {
    c->vocab_size = req_int(p, s, "vocab_size", 3, 1 << 22);
    c->d_model = req_int(p, s, "d_model", 1, 1 << 16);
    c->d_kv = req_int(p, s, "d_kv", 1, 1 << 12);
    c->n_heads = req_int(p, s, "num_heads", 1, 1 << 10);
    c->d_ff = req_int(p, s, "d_ff", 1, 1 << 18);
    c->n_layers = req_int(p, s, "num_layers", 1, 1 << 10);
    /* >= 4: the reference's bidirectional buckets divide by num_buckets / 4 */
    c->num_buckets = opt_int(p, s, "relative_attention_num_buckets", 32, 4, 1 << 12);
    c->max_distance = opt_int(p, s, "relative_attention_max_distance", 128, 2, 1 << 20);
    c->eps = (float)opt_num(p, s, "layer_norm_epsilon", 1e-6, 0, 1);
    if (p->st != MG_OK)
        return;
    /* T5Config: feed_forward_proj "ACT" or "gated-ACT" ("gated-gelu" means gelu_new);
     * dense_act_fn / is_gated_act, when config.json has them, win (they are kwargs). */
    const char *ff = opt_str(s, "feed_forward_proj");
    if (!ff)
        ff = "relu";
    int gated = !strncmp(ff, "gated-", 6);
    const char *act = gated ? ff + 6 : ff;
    if (!strcmp(ff, "gated-gelu"))
        act = "gelu_new";
    if (strchr(act, '-')) {
        p->st = mg_fail(MG_ERR_FORMAT, "%s: text_encoder.feed_forward_proj \"%s\" is not ACT or gated-ACT", p->where, ff);
        return;
    }
    const char *dense = opt_str(s, "dense_act_fn");
    if (dense)
        act = dense;
    c->gated = opt_bool(p, s, "is_gated_act", gated);
    c->ff_act = mg_act_from_name(act);
    if (p->st == MG_OK && c->ff_act == MG_ACT_NONE)
        p->st = mg_fail(MG_ERR_UNSUPPORTED, "%s: text_encoder activation \"%s\" (feed_forward_proj \"%s\") is not supported "
                        "(supported: " MG_ACT_NAMES ")", p->where, act, ff);
}

const char *mg_pad_mode_name(int pad_mode) {
    return pad_mode == MG_PAD_REFLECT ? "reflect" : pad_mode == MG_PAD_REPLICATE ? "replicate" : "constant";
}

static void parse_codec(parse_ctx *p, cJSON *s, mg_encodec_config *c) {
    c->audio_channels = opt_int(p, s, "audio_channels", 1, 1, 2);
    c->sample_rate = req_int(p, s, "sampling_rate", 1000, 384000);
    c->num_filters = req_int(p, s, "num_filters", 1, 1 << 12);
    c->hidden_size = req_int(p, s, "hidden_size", 1, 1 << 14);
    c->codebook_size = req_int(p, s, "codebook_size", 2, 1 << 20);
    c->codebook_dim = opt_int(p, s, "codebook_dim", c->hidden_size, 1, 1 << 14);
    c->kernel_size = req_int(p, s, "kernel_size", 1, 255);
    c->last_kernel_size = req_int(p, s, "last_kernel_size", 1, 255);
    c->residual_kernel_size = req_int(p, s, "residual_kernel_size", 1, 255);
    c->dilation_growth_rate = opt_int(p, s, "dilation_growth_rate", 2, 1, 64);
    c->num_residual_layers = req_int(p, s, "num_residual_layers", 0, 16);
    c->num_lstm_layers = req_int(p, s, "num_lstm_layers", 1, 16); /* torch.nn.LSTM needs a layer */
    c->compress = opt_int(p, s, "compress", 2, 1, 64);
    c->use_causal_conv = opt_bool(p, s, "use_causal_conv", 1); /* EncodecConfig's default is true */
    c->normalize = opt_bool(p, s, "normalize", 0);
    if (p->st != MG_OK)
        return;
    if (c->codebook_size & (c->codebook_size - 1)) { /* EncodecModel raises the same */
        p->st = mg_fail(MG_ERR_FORMAT, "%s: audio_encoder.codebook_size %d is not a power of 2, which EnCodec requires",
                        p->where, c->codebook_size);
        return;
    }
    cJSON *r = get(s, "upsampling_ratios");
    int n = cJSON_IsArray(r) ? cJSON_GetArraySize(r) : -1;
    if (n < 1 || n > MG_MAX_RATIOS) {
        p->st = mg_fail(MG_ERR_FORMAT, "%s: audio_encoder.upsampling_ratios must be a list of 1..%d integers", p->where,
                        MG_MAX_RATIOS);
        return;
    }
    c->n_ratios = n;
    long hop = 1;
    for (int i = 0; i < n; i++) {
        cJSON *v = cJSON_GetArrayItem(r, i);
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 64 || v->valuedouble != floor(v->valuedouble)) {
            p->st = mg_fail(MG_ERR_FORMAT, "%s: audio_encoder.upsampling_ratios[%d] must be an integer in [1, 64]", p->where, i);
            return;
        }
        c->upsampling_ratios[i] = (int)v->valuedouble;
        hop *= c->upsampling_ratios[i];
        /* 8 ratios of up to 64 multiply to 2^48: bound the product, not just each one. */
        if (hop > MG_MAX_HOP) {
            p->st = mg_fail(MG_ERR_FORMAT, "%s: audio_encoder.upsampling_ratios multiply to more than %d samples per "
                            "codec frame (EnCodec 32 kHz: 640); the config is corrupt", p->where, MG_MAX_HOP);
            return;
        }
    }
    c->hop_length = (int)hop;
    c->frame_rate = (c->sample_rate + c->hop_length - 1) / c->hop_length;
    cJSON *tb = get(s, "target_bandwidths");
    if (!cJSON_IsArray(tb) || cJSON_GetArraySize(tb) < 1 || !cJSON_IsNumber(cJSON_GetArrayItem(tb, 0))) {
        p->st = mg_fail(MG_ERR_FORMAT, "%s: audio_encoder.target_bandwidths must be a non-empty list of numbers", p->where);
        return;
    }
    double first_bw = cJSON_GetArrayItem(tb, 0)->valuedouble;
    c->target_bandwidth = first_bw;
    cJSON *last = cJSON_GetArrayItem(tb, cJSON_GetArraySize(tb) - 1);
    double last_bw = cJSON_IsNumber(last) ? last->valuedouble : c->target_bandwidth;
    c->max_bandwidth = last_bw;
    /* EncodecConfig.num_quantizers = int(1000 * target_bandwidths[-1] // (frame_rate * 10)) */
    c->num_quantizers = (int)floor(1000.0 * last_bw / (c->frame_rate * 10.0));
    /* get_num_quantizers_for_bandwidth(target_bandwidths[0]), capped by the layers that exist */
    double bw_per_q = log2((double)c->codebook_size) * c->frame_rate;
    int nq = (int)floor(first_bw * 1000.0 / bw_per_q); /* from the JSON double, as Python computes it */
    if (nq < 1)
        nq = 1;
    c->n_codes = nq < c->num_quantizers ? nq : c->num_quantizers;
    if (c->num_quantizers < 1 || c->num_quantizers > 64) {
        p->st = mg_fail(MG_ERR_FORMAT, "%s: audio_encoder.target_bandwidths give %d quantizers; expected 1..64", p->where,
                        c->num_quantizers);
        return;
    }
    c->trim_right_ratio = opt_num(p, s, "trim_right_ratio", 1.0, 0.0, 1.0);
    c->use_conv_shortcut = opt_bool(p, s, "use_conv_shortcut", 1); /* EncodecConfig's default is true */
    if (p->st != MG_OK)
        return;
    const char *pm = opt_str(s, "pad_mode");
    c->pad_mode = !pm || !strcmp(pm, "reflect") ? MG_PAD_REFLECT
                  : !strcmp(pm, "constant")     ? MG_PAD_CONSTANT
                  : !strcmp(pm, "replicate")    ? MG_PAD_REPLICATE
                                                : -1;
    const char *nt = opt_str(s, "norm_type");
    c->weight_norm = !nt || !strcmp(nt, "weight_norm");
    if (nt && strcmp(nt, "weight_norm"))
        p->st = mg_fail(MG_ERR_UNSUPPORTED,
                        "%s: audio_encoder.norm_type \"%s\" is not supported (MusicGen uses weight_norm; time_group_norm "
                        "normalizes over the whole signal)",
                        p->where, nt);
    else if (!c->use_causal_conv && c->trim_right_ratio != 1.0)
        p->st = mg_fail(MG_ERR_FORMAT,
                        "%s: audio_encoder.trim_right_ratio = %g only makes sense with use_causal_conv = true (as in "
                        "transformers); set it to 1.0",
                        p->where, c->trim_right_ratio);
    else if (cJSON_IsNumber(get(s, "chunk_length_s")))
        p->st = mg_fail(MG_ERR_UNSUPPORTED, "%s: audio_encoder.chunk_length_s is set; chunked EnCodec is not supported (MusicGen uses null)",
                        p->where);
    else if (c->normalize)
        p->st = mg_fail(MG_ERR_UNSUPPORTED, "%s: audio_encoder.normalize = true is not supported (MusicGen uses false)", p->where);
    else if (c->pad_mode < 0)
        p->st = mg_fail(MG_ERR_UNSUPPORTED,
                        "%s: audio_encoder.pad_mode \"%s\" is not supported (reflect, constant and replicate are)",
                        p->where, pm);
    else if (c->codebook_dim != c->hidden_size) /* EncodecConfig has no projection between them */
        p->st = mg_fail(MG_ERR_UNSUPPORTED,
                        "%s: audio_encoder.codebook_dim %d differs from hidden_size %d; EnCodec has no projection "
                        "between them",
                        p->where, c->codebook_dim, c->hidden_size);
    else if (c->audio_channels != 1)
        p->st = mg_fail(MG_ERR_UNSUPPORTED,
                        "%s: audio_encoder.audio_channels = %d; only mono EnCodec (1) is supported (stereo MusicGen "
                        "models use a mono codec per channel)",
                        p->where, c->audio_channels);
    else if (((int64_t)c->num_filters << c->n_ratios) > MG_MAX_CODEC_CHANNELS)
        p->st = mg_fail(MG_ERR_UNSUPPORTED,
                        "%s: audio_encoder.num_filters %d doubled for each of the %d upsampling ratios gives %lld "
                        "channels; at most %d are supported (EnCodec 32 kHz: 64 x 2^4 = 1024)",
                        p->where, c->num_filters, c->n_ratios, (long long)c->num_filters << c->n_ratios,
                        MG_MAX_CODEC_CHANNELS);
    else if (c->num_residual_layers > 0 && c->num_filters / c->compress < 1)
        /* EncodecResnetBlock's inner width is dim // compress: 0 channels at the first stage */
        p->st = mg_fail(MG_ERR_FORMAT,
                        "%s: audio_encoder.num_filters %d // compress %d leaves the residual blocks' inner "
                        "convolution 0 channels wide; num_filters must be at least compress",
                        p->where, c->num_filters, c->compress);
}

static void parse_decoder(parse_ctx *p, cJSON *s, mg_decoder_config *c) {
    c->vocab_size = req_int(p, s, "vocab_size", 2, 1 << 20);
    c->hidden_size = req_int(p, s, "hidden_size", 1, 1 << 16);
    c->n_layers = req_int(p, s, "num_hidden_layers", 1, 1 << 10);
    c->n_heads = req_int(p, s, "num_attention_heads", 1, 1 << 10);
    c->ffn_dim = req_int(p, s, "ffn_dim", 1, 1 << 18);
    c->n_codebooks = req_int(p, s, "num_codebooks", 1, 64);
    c->audio_channels = opt_int(p, s, "audio_channels", 1, 1, 2);
    c->max_position_embeddings = req_int(p, s, "max_position_embeddings", 1, 1 << 20);
    c->scale_embedding = opt_bool(p, s, "scale_embedding", 0);
    c->pad_token_id = opt_int(p, s, "pad_token_id", c->vocab_size, 0, 1 << 20);
    c->bos_token_id = opt_int(p, s, "bos_token_id", c->vocab_size, 0, 1 << 20);
    c->cross_attention_hidden_size = opt_int(p, s, "cross_attention_hidden_size", 0, 1, 1 << 20);
    if (p->st != MG_OK)
        return;
    const char *act = opt_str(s, "activation_function"); /* MusicgenDecoderConfig's default: gelu */
    c->act = mg_act_from_name(act ? act : "gelu");
    if (c->act == MG_ACT_NONE)
        p->st = mg_fail(MG_ERR_UNSUPPORTED, "%s: decoder.activation_function \"%s\" is not supported (supported: " MG_ACT_NAMES
                        ")", p->where, act);
    else if (c->hidden_size % c->n_heads)
        p->st = mg_fail(MG_ERR_FORMAT, "%s: decoder.hidden_size %d is not divisible by num_attention_heads %d", p->where,
                        c->hidden_size, c->n_heads);
    else if (c->audio_channels == 2 && c->n_codebooks % 2)
        p->st = mg_fail(MG_ERR_FORMAT, "%s: a stereo decoder needs an even num_codebooks (got %d)", p->where, c->n_codebooks);
}

void mg_generation_config_defaults(mg_config *cfg) {
    mg_generation_config *g = &cfg->gen;
    g->do_sample = 1;
    g->guidance_scale = 3.0f;
    g->top_k = 250;
    g->top_p = 1.0f;
    g->temperature = 1.0f;
    g->max_length = 1500; /* 30 s at 50 Hz, or what the position table allows if less */
    if (cfg->dec.max_position_embeddings > 0 && cfg->dec.max_position_embeddings + 1 < g->max_length)
        g->max_length = cfg->dec.max_position_embeddings + 1;
    g->decoder_start_token_id = cfg->dec.vocab_size;
    g->pad_token_id = cfg->dec.vocab_size;
}

/* transformers' rule: a non-null decoder.cross_attention_hidden_size must equal the text
 * encoder's width (else it refuses the config) and removes enc_to_dec_proj, so the
 * decoder's cross-attention, which takes states of its own width, then works only when
 * the two widths are equal. Sets p->st for a config it cannot run. */
static void check_cross_attention_width(parse_ctx *p, const mg_config *cfg) {
    int x = cfg->dec.cross_attention_hidden_size, t5 = cfg->t5.d_model, dec = cfg->dec.hidden_size;
    if (!x)
        return;
    if (x != t5)
        p->st = mg_fail(MG_ERR_FORMAT, "%s: decoder.cross_attention_hidden_size %d must equal the text encoder's d_model "
                        "%d (transformers refuses this config too); set it to null", p->where, x, t5);
    else if (t5 != dec)
        p->st = mg_fail(MG_ERR_FORMAT, "%s: decoder.cross_attention_hidden_size is set, which removes enc_to_dec_proj, "
                        "but the text encoder's width %d differs from the decoder's hidden_size %d, so the decoder "
                        "cannot attend to the text (transformers fails on it too); set it to null to project the text",
                        p->where, t5, dec);
}

mg_status mg_config_parse(const char *json, size_t len, const char *where, mg_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    size_t off = 0;
    cJSON *root = mg_json_parse(json, len, &off);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mg_fail(MG_ERR_FORMAT, "%s is not valid JSON (near byte %zu); restore it from the model's original files",
                       where, off);
    }
    parse_ctx p = {where, "config", MG_OK};
    const char *mt = opt_str(root, "model_type");
    if (mt && strcmp(mt, "musicgen"))
        p.st = mg_fail(MG_ERR_UNSUPPORTED, "%s: model_type is \"%s\"; musicgen.c runs \"musicgen\" checkpoints "
                       "(facebook/musicgen-small, -medium, -large, -stereo-*)", where, mt);
    cJSON *s;
    if ((s = section(&p, root, "text_encoder", "t5")))
        parse_t5(&p, s, &cfg->t5);
    if ((s = section(&p, root, "audio_encoder", "encodec")))
        parse_codec(&p, s, &cfg->codec);
    if ((s = section(&p, root, "decoder", "musicgen_decoder")))
        parse_decoder(&p, s, &cfg->dec);
    const char *np = opt_str(root, "_name_or_path");
    if (np)
        snprintf(cfg->name_or_path, sizeof cfg->name_or_path, "%s", np);
    if (p.st == MG_OK) {
        int per_channel = cfg->dec.audio_channels == 2 ? cfg->dec.n_codebooks / 2 : cfg->dec.n_codebooks;
        if (per_channel > cfg->codec.num_quantizers)
            p.st = mg_fail(MG_ERR_FORMAT, "%s: decoder.num_codebooks %d needs %d EnCodec quantizers per channel but the "
                           "audio_encoder has %d", where, cfg->dec.n_codebooks, per_channel, cfg->codec.num_quantizers);
        /* The decoder's tokens are the codec's codes: more tokens than codebook entries
         * cannot be decoded (transformers fails on them in EnCodec); fewer work (only an
         * audio prompt coded beyond the decoder's tokens is refused, mg_audio_prompt_codes). */
        else if (cfg->dec.vocab_size > cfg->codec.codebook_size)
            p.st = mg_fail(MG_ERR_FORMAT, "%s: decoder.vocab_size %d is larger than audio_encoder.codebook_size %d (the "
                           "decoder's tokens are the codec's codes, so the codec could not decode them)", where,
                           cfg->dec.vocab_size, cfg->codec.codebook_size);
        else
            check_cross_attention_width(&p, cfg);
    }
    cfg->has_enc_to_dec_proj = cfg->t5.d_model != cfg->dec.hidden_size;
    cJSON_Delete(root);
    mg_generation_config_defaults(cfg);
    return p.st;
}

/* A generation_config.json value as transformers reads it: a missing key takes
 * GenerationConfig's default (`missing`), while an explicit null is None, which turns
 * the setting off (`null_value`: no top-k / top-p / guidance, temperature 1, greedy). */
static double gen_num(parse_ctx *p, cJSON *root, const char *key, double missing, double null_value, double lo,
                      double hi) {
    cJSON *v = get(root, key);
    if (!v)
        return missing;
    if (cJSON_IsNull(v))
        return null_value;
    return opt_num(p, root, key, missing, lo, hi);
}

mg_status mg_generation_config_parse(const char *json, size_t len, const char *where, mg_config *cfg) {
    /* The file is authoritative: what it leaves out means what it means in transformers
     * (GenerationConfig: greedy, no guidance, top-k 50, top-p 1, temperature 1), not the
     * released checkpoints' values, which mg_generation_config_defaults() gives a folder
     * that has no generation_config.json at all. max_length is the exception: transformers'
     * 20 is a default length (which -d replaces here), not a window, so without it the
     * window is the released models' 1500 columns (30 s, what MusicGen was trained on),
     * or what the position table allows if that is less. */
    mg_generation_config_defaults(cfg);
    size_t off = 0;
    cJSON *root = mg_json_parse(json, len, &off);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mg_fail(MG_ERR_FORMAT, "%s is not valid JSON (near byte %zu); restore it from the model's original files",
                       where, off);
    }
    parse_ctx p = {where, "generation_config", MG_OK};
    mg_generation_config *g = &cfg->gen;
    g->do_sample = opt_bool(&p, root, "do_sample", 0);
    g->guidance_scale = (float)gen_num(&p, root, "guidance_scale", 1.0, 1.0, 0, 1e6);
    cJSON *top_k = get(root, "top_k");
    g->top_k = !top_k ? 50 : cJSON_IsNull(top_k) ? 0 : opt_int(&p, root, "top_k", 50, 0, 1 << 24);
    g->top_p = (float)gen_num(&p, root, "top_p", 1.0, 1.0, 0, 1);
    /* Any positive temperature, as transformers takes it (a greedy run never uses it);
     * the sampler divides in float, so it is clamped into float's range, as
     * --temperature is: below FLT_MIN it is argmax either way. */
    double temperature = gen_num(&p, root, "temperature", 1.0, 1.0, 0, DBL_MAX);
    if (p.st == MG_OK && !(temperature > 0))
        p.st = mg_fail(MG_ERR_FORMAT, "%s: generation_config.temperature must be a positive number (got %g)", where,
                       temperature);
    g->temperature = (float)(temperature < FLT_MIN ? FLT_MIN : temperature > FLT_MAX ? FLT_MAX : temperature);
    g->max_length = opt_int(&p, root, "max_length", g->max_length, 2, 1 << 24);
    g->decoder_start_token_id = opt_int(&p, root, "decoder_start_token_id", g->decoder_start_token_id, 0, 1 << 20);
    g->pad_token_id = opt_int(&p, root, "pad_token_id", g->pad_token_id, 0, 1 << 20);
    cJSON_Delete(root);
    if (p.st == MG_OK && (g->decoder_start_token_id != cfg->dec.vocab_size || g->pad_token_id != cfg->dec.vocab_size))
        p.st = mg_fail(MG_ERR_UNSUPPORTED, "%s: decoder_start_token_id / pad_token_id must equal the decoder vocab_size %d "
                       "(got %d / %d)", where, cfg->dec.vocab_size, g->decoder_start_token_id, g->pad_token_id);
    return p.st;
}

int mg_config_delays(const mg_config *cfg) {
    return cfg->dec.audio_channels == 2 ? cfg->dec.n_codebooks / 2 : cfg->dec.n_codebooks;
}

int mg_config_window_columns(const mg_config *cfg) {
    int longest = cfg->dec.max_position_embeddings + 1;
    return cfg->gen.max_length < longest ? cfg->gen.max_length : longest;
}

int mg_config_window_is_empty(const mg_config *cfg) {
    int D = mg_config_delays(cfg);
    return mg_config_window_columns(cfg) - D < D - 1;
}

void mg_config_empty_window_text(const mg_config *cfg, char *buf, size_t size) {
    snprintf(buf, size, "the generation window is empty (max_length %d, max_position_embeddings %d, %d delayed "
             "codebooks)", cfg->gen.max_length, cfg->dec.max_position_embeddings, mg_config_delays(cfg));
}

char *mg_config_to_json(const mg_config *cfg) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model_type", "musicgen");
    cJSON_AddStringToObject(root, "_name_or_path", cfg->name_or_path);
    cJSON *arch = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("MusicgenForConditionalGeneration"));
    cJSON_AddBoolToObject(root, "is_encoder_decoder", 1);

    cJSON *t = cJSON_AddObjectToObject(root, "text_encoder");
    const mg_t5_config *t5 = &cfg->t5;
    cJSON_AddStringToObject(t, "model_type", "t5");
    cJSON_AddNumberToObject(t, "vocab_size", t5->vocab_size);
    cJSON_AddNumberToObject(t, "d_model", t5->d_model);
    cJSON_AddNumberToObject(t, "d_kv", t5->d_kv);
    cJSON_AddNumberToObject(t, "num_heads", t5->n_heads);
    cJSON_AddNumberToObject(t, "d_ff", t5->d_ff);
    cJSON_AddNumberToObject(t, "num_layers", t5->n_layers);
    cJSON_AddNumberToObject(t, "relative_attention_num_buckets", t5->num_buckets);
    cJSON_AddNumberToObject(t, "relative_attention_max_distance", t5->max_distance);
    cJSON_AddNumberToObject(t, "layer_norm_epsilon", t5->eps);
    char ff[64];
    snprintf(ff, sizeof ff, "%s%s", t5->gated ? "gated-" : "", mg_act_name(t5->ff_act));
    cJSON_AddStringToObject(t, "feed_forward_proj", ff);
    cJSON_AddStringToObject(t, "dense_act_fn", mg_act_name(t5->ff_act));
    cJSON_AddBoolToObject(t, "is_gated_act", t5->gated);
    cJSON_AddNumberToObject(t, "pad_token_id", 0);
    cJSON_AddNumberToObject(t, "eos_token_id", 1);

    cJSON *a = cJSON_AddObjectToObject(root, "audio_encoder");
    const mg_encodec_config *c = &cfg->codec;
    cJSON_AddStringToObject(a, "model_type", "encodec");
    cJSON_AddNumberToObject(a, "audio_channels", c->audio_channels);
    cJSON_AddNumberToObject(a, "sampling_rate", c->sample_rate);
    cJSON_AddNumberToObject(a, "num_filters", c->num_filters);
    cJSON_AddNumberToObject(a, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(a, "codebook_size", c->codebook_size);
    cJSON_AddNumberToObject(a, "codebook_dim", c->codebook_dim);
    cJSON_AddNumberToObject(a, "kernel_size", c->kernel_size);
    cJSON_AddNumberToObject(a, "last_kernel_size", c->last_kernel_size);
    cJSON_AddNumberToObject(a, "residual_kernel_size", c->residual_kernel_size);
    cJSON_AddNumberToObject(a, "dilation_growth_rate", c->dilation_growth_rate);
    cJSON_AddNumberToObject(a, "num_residual_layers", c->num_residual_layers);
    cJSON_AddNumberToObject(a, "num_lstm_layers", c->num_lstm_layers);
    cJSON_AddNumberToObject(a, "compress", c->compress);
    cJSON *ur = cJSON_AddArrayToObject(a, "upsampling_ratios");
    for (int i = 0; i < c->n_ratios; i++)
        cJSON_AddItemToArray(ur, cJSON_CreateNumber(c->upsampling_ratios[i]));
    cJSON *tb = cJSON_AddArrayToObject(a, "target_bandwidths");
    cJSON_AddItemToArray(tb, cJSON_CreateNumber(c->target_bandwidth));
    if (c->max_bandwidth != c->target_bandwidth)
        cJSON_AddItemToArray(tb, cJSON_CreateNumber(c->max_bandwidth));
    cJSON_AddBoolToObject(a, "normalize", c->normalize);
    cJSON_AddBoolToObject(a, "use_causal_conv", c->use_causal_conv);
    cJSON_AddNumberToObject(a, "trim_right_ratio", c->trim_right_ratio);
    cJSON_AddStringToObject(a, "pad_mode", mg_pad_mode_name(c->pad_mode));
    cJSON_AddStringToObject(a, "norm_type", "weight_norm");
    cJSON_AddBoolToObject(a, "use_conv_shortcut", c->use_conv_shortcut);
    cJSON_AddNullToObject(a, "chunk_length_s");

    cJSON *d = cJSON_AddObjectToObject(root, "decoder");
    const mg_decoder_config *dc = &cfg->dec;
    cJSON_AddStringToObject(d, "model_type", "musicgen_decoder");
    cJSON_AddNumberToObject(d, "vocab_size", dc->vocab_size);
    cJSON_AddNumberToObject(d, "hidden_size", dc->hidden_size);
    cJSON_AddNumberToObject(d, "num_hidden_layers", dc->n_layers);
    cJSON_AddNumberToObject(d, "num_attention_heads", dc->n_heads);
    cJSON_AddNumberToObject(d, "ffn_dim", dc->ffn_dim);
    cJSON_AddNumberToObject(d, "num_codebooks", dc->n_codebooks);
    cJSON_AddNumberToObject(d, "audio_channels", dc->audio_channels);
    cJSON_AddNumberToObject(d, "max_position_embeddings", dc->max_position_embeddings);
    cJSON_AddBoolToObject(d, "scale_embedding", dc->scale_embedding);
    cJSON_AddNumberToObject(d, "pad_token_id", dc->pad_token_id);
    cJSON_AddNumberToObject(d, "bos_token_id", dc->bos_token_id);
    cJSON_AddStringToObject(d, "activation_function", mg_act_name(dc->act));
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

char *mg_generation_config_to_json(const mg_config *cfg) {
    const mg_generation_config *g = &cfg->gen;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "bos_token_id", g->decoder_start_token_id);
    cJSON_AddNumberToObject(root, "decoder_start_token_id", g->decoder_start_token_id);
    cJSON_AddBoolToObject(root, "do_sample", g->do_sample);
    cJSON_AddNumberToObject(root, "guidance_scale", g->guidance_scale);
    cJSON_AddNumberToObject(root, "max_length", g->max_length);
    cJSON_AddNumberToObject(root, "pad_token_id", g->pad_token_id);
    cJSON_AddNumberToObject(root, "top_k", g->top_k);
    if (g->top_p < 1.0f)
        cJSON_AddNumberToObject(root, "top_p", g->top_p);
    if (g->temperature != 1.0f)
        cJSON_AddNumberToObject(root, "temperature", g->temperature);
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}
