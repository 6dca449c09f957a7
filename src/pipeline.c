/* pipeline.c — mg_generate: prompts -> tokens -> T5 -> decoder loop -> codes -> audio.
 *
 * Conditioning follows the reference: the T5 runs on the real prompts only; with
 * classifier-free guidance the unconditional rows get zero text states and a zero
 * mask (or, with a negative prompt, that prompt's encoding). An empty prompt ""
 * means unconditional, as transformers' get_unconditional_inputs: zero states, and
 * when every prompt is empty no guidance at all. */
#include "pipeline.h"
#include "base/log.h"
#include "base/resources.h"
#include "base/rng.h"
#include "base/timing.h"
#include "lm/generate.h"
#include "text/spm.h"
#include "text/t5.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

MG_API mg_generate_params mg_generate_default_params(void) {
    mg_generate_params p;
    memset(&p, 0, sizeof p);
    p.duration_s = 10.0;
    /* -1: as generation_config.json says */
    p.greedy = -1;
    p.top_k = -1;
    p.top_p = -1.0f;
    p.temperature = -1.0f;
    p.guidance_scale = -1;
    p.seed = MG_SEED_RANDOM;
    p.decode_audio = 1;
    return p;
}

void mg_conditioning_free(mg_conditioning *c) {
    free(c->states);
    free(c->mask);
    memset(c, 0, sizeof *c);
}

/* Tokenize texts[i] (NULL or "" = no tokens). */
static mg_status tokenize_all(const mg_model *m, const char *const *texts, int n, int32_t **ids, int *lens) {
    for (int i = 0; i < n; i++) {
        ids[i] = NULL;
        lens[i] = 0;
        if (!texts[i] || !texts[i][0])
            continue;
        mg_status st = mg_tokenizer_encode(m->tok, texts[i], strlen(texts[i]), &ids[i], &lens[i]);
        if (st != MG_OK)
            return mg_fail_context(st, "prompt %d", i + 1);
    }
    return MG_OK;
}

/* A text's place in the length order: token count, then index (ties keep their order). */
typedef struct {
    int len, index;
} text_order;

static int by_length(const void *a, const void *b) {
    const text_order *x = a, *y = b;
    return x->len != y->len ? (x->len > y->len) - (x->len < y->len) : (x->index > y->index) - (x->index < y->index);
}

/* T5-encode the non-empty texts into rows of `states`/`mask` ([n][S][D], [n][S];
 * rows of empty texts and positions past a text's end stay zero). Texts go through
 * the encoder in groups of similar length, each padded only to its own longest: one
 * long prompt in a big batch would otherwise pad every other prompt to its length
 * (a text's states do not depend on the padding: test_t5 checks alone == padded). */
static mg_status encode_texts(mg_context *ctx, int32_t **ids, const int *lens, int n, int S, float *states,
                              int32_t *mask) {
    const mg_model *m = ctx->model;
    int D = m->dec->cfg.hidden_size;
    int n_real = 0;
    for (int i = 0; i < n; i++)
        n_real += lens[i] > 0;
    if (!n_real)
        return MG_OK;
    text_order *sorted = malloc(sizeof *sorted * (size_t)n_real);
    int32_t *batch_ids = calloc((size_t)n_real * S, sizeof(int32_t));
    int32_t *batch_mask = calloc((size_t)n_real * S, sizeof(int32_t));
    float *out = malloc(sizeof(float) * (size_t)n_real * S * D);
    mg_status st = MG_OK;
    if (!sorted || !batch_ids || !batch_mask || !out) {
        st = mg_fail(MG_ERR_NOMEM, "out of memory encoding the prompts");
        goto done;
    }
    for (int i = 0, r = 0; i < n; i++)
        if (lens[i]) {
            text_order e = {lens[i], i};
            sorted[r++] = e;
        }
    qsort(sorted, (size_t)n_real, sizeof *sorted, by_length);
    for (int g0 = 0; g0 < n_real && st == MG_OK;) {
        /* A group: texts at most twice (+ 8 tokens) as long as its shortest. */
        int g1 = g0 + 1;
        while (g1 < n_real && sorted[g1].len <= 2 * sorted[g0].len + 8)
            g1++;
        int rows = g1 - g0, Sg = sorted[g1 - 1].len;
        memset(batch_ids, 0, sizeof(int32_t) * (size_t)rows * Sg);
        memset(batch_mask, 0, sizeof(int32_t) * (size_t)rows * Sg);
        for (int r = 0; r < rows; r++) {
            int i = sorted[g0 + r].index;
            memcpy(batch_ids + (size_t)r * Sg, ids[i], sizeof(int32_t) * (size_t)lens[i]);
            for (int t = 0; t < lens[i]; t++)
                batch_mask[(size_t)r * Sg + t] = 1;
        }
        st = mg_t5_encode(m->t5, ctx->pool, batch_ids, batch_mask, rows, Sg, NULL, out);
        for (int r = 0; r < rows && st == MG_OK; r++) {
            int i = sorted[g0 + r].index;
            memcpy(states + (size_t)i * S * D, out + (size_t)r * Sg * D, sizeof(float) * (size_t)Sg * D);
            memcpy(mask + (size_t)i * S, batch_mask + (size_t)r * Sg, sizeof(int32_t) * (size_t)Sg);
        }
        g0 = g1;
    }
    mg_t5_release_pages(m->t5);
done:
    free(sorted);
    free(batch_ids);
    free(batch_mask);
    free(out);
    return st;
}

mg_status mg_condition_text(mg_context *ctx, const char *const *prompts, int B, const char *negative, float guidance,
                            mg_conditioning *out) {
    memset(out, 0, sizeof *out);
    const mg_model *m = ctx->model;
    int D = m->dec->cfg.hidden_size;
    int has_negative = negative && negative[0];
    /* B prompts, then (optionally) the negative prompt as text n = B. */
    int n_texts = B + (has_negative ? 1 : 0);
    const char **texts = calloc((size_t)n_texts, sizeof *texts);
    int32_t **ids = calloc((size_t)n_texts, sizeof *ids);
    int *lens = calloc((size_t)n_texts, sizeof *lens);
    mg_status st = MG_OK;
    if (!texts || !ids || !lens) {
        st = mg_fail(MG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < B; i++)
        texts[i] = prompts[i];
    if (has_negative)
        texts[B] = negative;
    st = tokenize_all(m, texts, n_texts, ids, lens);
    if (st != MG_OK)
        goto done;
    for (int i = 0; i < n_texts && st == MG_OK; i++)
        if (lens[i] > MG_T5_MAX_TOKENS) {
            char which[64] = "the prompt";
            if (i == B)
                snprintf(which, sizeof which, "the negative prompt");
            else if (B > 1)
                snprintf(which, sizeof which, "prompt %d", i + 1);
            st = mg_fail(MG_ERR_INVALID_ARG, "%s is %d tokens long; at most %d are supported — shorten it (MusicGen "
                         "was trained on short descriptions)", which, lens[i], MG_T5_MAX_TOKENS);
        }
    if (st != MG_OK)
        goto done;
    int any_text = 0, S = 1;
    for (int i = 0; i < B; i++)
        any_text |= lens[i] > 0;
    for (int i = 0; i < n_texts; i++)
        S = lens[i] > S ? lens[i] : S;
    /* All prompts empty: unconditional generation, which the reference runs without guidance. */
    out->use_cfg = any_text && guidance > 1.0f;
    out->guidance = guidance;
    out->B = B;
    out->rows = out->use_cfg ? 2 * B : B;
    out->S = S;
    int enc_rows = out->use_cfg ? 2 * B : n_texts;
    if (enc_rows < n_texts)
        enc_rows = n_texts;
    out->states = calloc((size_t)enc_rows * S * D, sizeof(float));
    out->mask = calloc((size_t)enc_rows * S, sizeof(int32_t));
    if (!out->states || !out->mask) {
        st = mg_fail(MG_ERR_NOMEM, "out of memory for the text states");
        goto done;
    }
    st = encode_texts(ctx, ids, lens, n_texts, S, out->states, out->mask);
    if (st != MG_OK)
        goto done;
    if (out->use_cfg && has_negative) {
        /* Unconditional rows B..2B-1 take the negative prompt's states (text row B). */
        float *neg = malloc(sizeof(float) * (size_t)S * D);
        int32_t *neg_mask = malloc(sizeof(int32_t) * (size_t)S);
        if (!neg || !neg_mask) {
            free(neg);
            free(neg_mask);
            st = mg_fail(MG_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(neg, out->states + (size_t)B * S * D, sizeof(float) * (size_t)S * D);
        memcpy(neg_mask, out->mask + (size_t)B * S, sizeof(int32_t) * (size_t)S);
        int any_empty = 0;
        for (int b = 0; b < B; b++) {
            /* An unconditional ("") item keeps the empty condition in both rows, so it is
             * generated as it is alone (an all-empty batch runs without guidance). */
            any_empty |= lens[b] == 0;
            float *row = out->states + (size_t)(B + b) * S * D;
            int32_t *row_mask = out->mask + (size_t)(B + b) * S;
            if (lens[b] == 0) {
                memset(row, 0, sizeof(float) * (size_t)S * D);
                memset(row_mask, 0, sizeof(int32_t) * (size_t)S);
            } else {
                memcpy(row, neg, sizeof(float) * (size_t)S * D);
                memcpy(row_mask, neg_mask, sizeof(int32_t) * (size_t)S);
            }
        }
        free(neg);
        free(neg_mask);
        if (any_empty)
            mg_log_warn("the negative prompt has no effect on the batch's unconditional (\"\") prompts, which are "
                        "generated as alone, without guidance");
    } else if (has_negative && !out->use_cfg) {
        if (any_text)
            mg_log_warn("the negative prompt has no effect without classifier-free guidance (guidance scale <= 1)");
        else /* the reference runs an all-empty batch unconditionally, without guidance */
            mg_log_warn("the negative prompt has no effect on an unconditional (\"\") prompt, which is generated "
                        "without guidance; give a text prompt to steer away from it");
    }
done:
    if (ids)
        for (int i = 0; i < n_texts; i++)
            free(ids[i]);
    free(ids);
    free(lens);
    free(texts);
    if (st != MG_OK)
        mg_conditioning_free(out);
    return st;
}

/* Whole frames in `s` seconds (window, stride); the float a caller passes (0.06f is
 * 0.0599999...) must not lose a frame to rounding: 1e-4 frame of slack (2 us at 50 Hz)
 * plus a float's relative error. */
static int seconds_to_frames(double s, double fr) {
    double x = s * fr;
    double f = floor(x + 1e-4 + 1.2e-7 * fabs(x));
    return f > 1e9 ? 1000000000 : (int)f; /* beyond any window: the checks below say so */
}

mg_status mg_plan_make(const mg_model *m, const mg_generate_params *gp, int64_t prompt_samples, int P, mg_plan *out) {
    const mg_config *c = &m->ck.cfg;
    int hop = c->codec.hop_length, sr = c->codec.sample_rate;
    double fr = (double)sr / hop;
    int D = mg_config_delays(c);
    int max_pos = c->dec.max_position_embeddings;
    int window_cols = mg_config_window_columns(c);
    int model_window = window_cols - D; /* frames one decoder run can hold */
    memset(out, 0, sizeof *out);
    out->P = P;
    if (gp->steps > 0) {
        out->fixed_steps = 1;
        out->n_windows = 1;
        out->steps = gp->steps;
        if (P >= max_pos)
            return mg_fail(MG_ERR_INVALID_ARG, "the audio prompt (%d frames) fills all %d decoder positions of the model; "
                           "use a shorter audio prompt", P, max_pos);
        if ((int64_t)P + gp->steps > max_pos)
            return mg_fail(MG_ERR_INVALID_ARG, "%d steps%s need %lld decoder positions but the model has %d; use at most %d "
                           "steps (or a duration, duration_s / --duration, for long-form generation)", gp->steps, P ? " after the audio prompt" : "",
                           (long long)P + gp->steps, max_pos, max_pos - P);
        /* Fewer than 2D - 1 columns: the reference skips the delay pattern (every
         * column after the start one is a frame); so does the engine (pattern.h). */
        out->flat = 1 + P + gp->steps < mg_pattern_min_length(c->dec.n_codebooks, c->dec.audio_channels == 2);
        /* With the pattern, codebook 0's first free column (P + 1) must come before its
         * end pads (the last D - 1 columns), or nothing new is generated and the prompt's
         * last frames fall in the pads. */
        if (!out->flat && P > 0 && gp->steps < D)
            return mg_fail(MG_ERR_INVALID_ARG, "%d steps after an audio prompt are too few for %d delayed codebooks: use "
                           "at least %d", gp->steps, c->dec.n_codebooks, D);
        out->frames = out->flat ? P + gp->steps : 1 + P + gp->steps - D;
        out->n_samples = (int64_t)out->frames * hop;
        return MG_OK;
    }
    double dur = gp->duration_s;
    if (!(dur > 0) || !isfinite(dur))
        return mg_fail(MG_ERR_INVALID_ARG, "duration must be a positive number of seconds (got %g)", dur);
    if (!isfinite(gp->window_s) || !isfinite(gp->stride_s))
        return mg_fail(MG_ERR_INVALID_ARG, "window and stride must be numbers of seconds (got %g and %g; <= 0 for the "
                       "defaults)", gp->window_s, gp->stride_s);
    if (dur > 3600.0) /* before any rounding: llround of 1e20 samples overflows */
        return mg_fail(MG_ERR_INVALID_ARG, "duration %.10g s is more than an hour; generate at most 3600 s at once", dur);
    if (llround(dur * sr) < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "duration %g s is shorter than one sample at %d Hz", dur, sr);
    if (mg_config_window_is_empty(c)) {
        char empty[200];
        mg_config_empty_window_text(c, empty, sizeof empty);
        return mg_fail(MG_ERR_UNSUPPORTED, "%s: fix generation_config.json's max_length, or give a number of steps "
                       "instead of a duration", empty);
    }
    /* Enough frames for the whole duration, then trimmed to the exact sample count:
     * ceil(D * frame rate), counted from the samples so that a float's rounding (0.8f
     * is 0.80000001 s, 40.0000006 frames) cannot add a frame, and frames * hop always
     * covers the samples. */
    int64_t samples = (int64_t)llround(dur * sr);
    int frames = (int)((samples + hop - 1) / hop);
    if (P > 0 && frames <= P)
        return mg_fail(MG_ERR_INVALID_ARG, "duration %.10g s (%d frames) must be longer than the audio prompt (%.4f s, "
                       "%d frames): it is the total length, prompt included", dur, frames,
                       (double)prompt_samples / sr, P);
    if (frames < D - 1)
        frames = D - 1; /* the delay pattern's minimum; trimmed below */
    /* Window and stride (audiocraft: 30 s windows moving by 18 s). */
    int W = model_window;
    if (gp->window_s > 0) {
        W = seconds_to_frames(gp->window_s, fr);
        /* The window as audiocraft and the issue name it (max_length columns: 30 s for
         * the released models) is the model's window: its last D columns hold the delay
         * pattern's tail, so it makes 29.92 s of audio. */
        if (W > model_window && W <= window_cols)
            W = model_window;
        if (W > model_window)
            return mg_fail(MG_ERR_INVALID_ARG, "window %g s is longer than the model's %.3f s (%.3f s of audio)",
                           gp->window_s, window_cols / fr, model_window / fr);
        int min_w = D - 1 > 2 ? D - 1 : 2; /* the delay pattern's minimum, and room for a stride */
        if (W < min_w)
            return mg_fail(MG_ERR_INVALID_ARG, "window %g s is too short: use at least %g s", gp->window_s,
                           min_w / fr);
    }
    int stride = seconds_to_frames(gp->stride_s > 0 ? gp->stride_s : 18.0, fr);
    if (gp->stride_s <= 0 && stride >= W)
        stride = (int)(W * 0.6); /* models with short windows: audiocraft's 18/30 ratio */
    if (frames > W) { /* long-form: window after window */
        if (gp->stride_s <= 0 && stride < 1)
            return mg_fail(MG_ERR_INVALID_ARG, "the model's window holds %d frame%s (%.3f s), too few to continue from "
                           "itself: generate at most %.3f s", W, W == 1 ? "" : "s", W / fr, W / fr);
        if (stride < 1)
            return mg_fail(MG_ERR_INVALID_ARG, "stride %g s is shorter than one codec frame (%.4f s)", gp->stride_s,
                           1 / fr);
        if (stride >= W)
            return mg_fail(MG_ERR_INVALID_ARG, "stride %g s must be shorter than the window (%.3f s)",
                           gp->stride_s > 0 ? gp->stride_s : stride / fr, W / fr);
        if (P >= W)
            return mg_fail(MG_ERR_INVALID_ARG, "the audio prompt (%.2f s, %d codec frames) fills the whole window (%.2f s, "
                           "%d frames); use a shorter prompt", prompt_samples / (double)sr, P, W / fr, W);
    }
    /* Count the steps of every window (for progress). A last window shorter than the
     * delay pattern's minimum (D - 1 frames) is lengthened; the extra frames are
     * trimmed with the rest. */
    for (int pass = 0; pass < 2; pass++) {
        int plen = P, offset = 0, chunk = 0;
        out->steps = out->n_windows = 0;
        while (offset + plen < frames) {
            chunk = frames - offset < W ? frames - offset : W;
            out->steps += chunk + D - 1 - plen;
            out->n_windows++;
            plen = chunk - stride;
            offset += stride;
        }
        if (chunk >= D - 1)
            break;
        frames += D - 1 - chunk;
    }
    out->frames = frames;
    out->n_samples = samples < (int64_t)frames * hop ? samples : (int64_t)frames * hop;
    out->window_frames = W;
    out->stride_frames = stride;
    return MG_OK;
}

/* Resolve "from generation_config" defaults and check ranges. */
static mg_status resolve_params(const mg_model *m, const mg_generate_params *in, mg_generate_params *gp,
                                mg_sampler *smp) {
    const mg_generation_config *g = &m->ck.cfg.gen;
    *gp = *in;
    if (g->from_defaults && (gp->greedy == -1 || gp->guidance_scale < 0 || gp->top_k == -1))
        mg_log_warn("%s", MG_NO_GENERATION_CONFIG);
    if (gp->greedy < -1 || gp->greedy > 1)
        return mg_fail(MG_ERR_INVALID_ARG, "greedy must be 1 (argmax), 0 (sample) or -1 (as generation_config.json "
                       "says), got %d", gp->greedy);
    /* Unset (negative) sampling settings come from generation_config.json. */
    if (gp->greedy == -1)
        gp->greedy = !g->do_sample;
    if (gp->top_k < -1)
        return mg_fail(MG_ERR_INVALID_ARG, "top-k must be >= 0 (0 disables it), got %d", gp->top_k);
    if (gp->top_k == -1)
        gp->top_k = g->top_k;
    if (gp->top_p == -1.0f)
        gp->top_p = g->top_p;
    if (gp->temperature == -1.0f)
        gp->temperature = g->temperature;
    if (isnan(gp->top_p) || gp->top_p < 0 || gp->top_p > 1)
        return mg_fail(MG_ERR_INVALID_ARG, "top-p must be in (0, 1] (got %g)", (double)gp->top_p);
    if (!(gp->temperature > 0) || !isfinite(gp->temperature))
        return mg_fail(MG_ERR_INVALID_ARG, "temperature must be a positive number (got %g)", (double)gp->temperature);
    if (isnan(gp->guidance_scale))
        return mg_fail(MG_ERR_INVALID_ARG, "guidance scale must be a number");
    if (gp->guidance_scale < 0)
        gp->guidance_scale = g->guidance_scale;
    if (!isfinite(gp->guidance_scale))
        return mg_fail(MG_ERR_INVALID_ARG, "guidance scale must be finite");
    if (gp->steps < 0)
        return mg_fail(MG_ERR_INVALID_ARG, "steps must be positive (got %d)", gp->steps);
    /* Checked whatever else is set (a number of steps ignores them, but NaN is a bug). */
    if (isnan(gp->window_s) || isnan(gp->stride_s))
        return mg_fail(MG_ERR_INVALID_ARG, "window_s and stride_s must be numbers (got %g, %g)", gp->window_s,
                       gp->stride_s);
    smp->greedy = gp->greedy;
    smp->top_k = gp->top_k;
    smp->top_p = gp->top_p > 0 && gp->top_p < 1 ? gp->top_p : 1.0f;
    smp->temperature = gp->temperature;
    return MG_OK;
}

MG_API void mg_result_free(mg_result *r) {
    if (!r)
        return;
    if (r->audio)
        for (int b = 0; b < r->batch; b++)
            free(r->audio[b]);
    free(r->audio);
    free(r->codes);
    free(r);
}

/* Every item's audio is kept until mg_generate returns: refuse a request whose audio
 * cannot fit in memory before any work (the attention cache is checked where it is
 * made, lm/decoder.c) rather than be killed when memory runs out. */
static mg_status check_audio_fits(const mg_model *m, int n_prompts, const mg_plan *plan) {
    int ch = m->dec->cfg.audio_channels;
    double need = (double)n_prompts * (double)plan->n_samples * ch * sizeof(float);
    char what[128];
    snprintf(what, sizeof what, "the audio of %d prompt%s x %.1f s (%d channel%s)", n_prompts,
             n_prompts == 1 ? "" : "s", (double)plan->n_samples / m->ck.cfg.codec.sample_rate, ch, ch == 1 ? "" : "s");
    return mg_memory_check(need, what, "generate fewer prompts at once or shorter pieces");
}

/* Before the text conditioning, the codes buffers and the delay-pattern columns, all
 * of which grow with the prompt count (300000 prompts took 4.8 GB and 5 s to reach the
 * cache's own check): the least attention cache the first window can need, one
 * decoder row per prompt (two with guidance and text) and one text token, against the
 * same figure as that check (MG_MEMORY_LIMIT counts the cache and the audio). The
 * cache is checked again with its real rows and text where it is made. */
static mg_status check_generation_fits(const mg_context *ctx, int n_prompts, const mg_plan *plan) {
    const mg_decoder_config *c = &ctx->model->dec->cfg;
    int K = c->n_codebooks, D = c->audio_channels == 2 ? K / 2 : K;
    int window = plan->frames < plan->window_frames ? plan->frames : plan->window_frames;
    int positions = plan->fixed_steps ? plan->P + plan->steps : window + D - 1;
    if (positions > c->max_position_embeddings) /* refused with its own message later */
        positions = c->max_position_embeddings;
    char what[160];
    snprintf(what, sizeof what, "the attention cache of %d prompt%s x %d positions (at least; twice that with "
             "guidance)", n_prompts, n_prompts == 1 ? "" : "s", positions);
    return mg_dec_state_check_memory(ctx->model->dec, n_prompts, positions, ctx->params.kv_type, 1, what);
}

MG_API mg_status mg_generate(mg_context *ctx, const char *const *prompts, int n_prompts,
                             const mg_generate_params *params, mg_result **out) {
    if (out)
        *out = NULL;
    if (!ctx || !out || n_prompts < 1 || !prompts)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_generate: need a context, at least one prompt and a result pointer");
    if (n_prompts > MG_MAX_PROMPTS) /* two decoder rows each must stay an int */
        return mg_fail(MG_ERR_INVALID_ARG, "mg_generate: %d prompts in one call; at most %d (call it several times)",
                       n_prompts, MG_MAX_PROMPTS);
    for (int i = 0; i < n_prompts; i++)
        if (!prompts[i])
            return mg_fail(MG_ERR_INVALID_ARG, "prompt %d is NULL (use \"\" for unconditional generation)", i + 1);
    atomic_store_explicit(&ctx->cancel, 0, memory_order_relaxed);
    mg_model *m = ctx->model;
    if (!m->tok || !m->t5 || !m->dec)
        return mg_fail(MG_ERR_UNSUPPORTED, "this model was loaded without its text or decoder stages");
    mg_generate_params gp = params ? *params : mg_generate_default_params();
    mg_sampler smp;
    MG_TRY(resolve_params(m, params ? params : &gp, &gp, &smp));
    if (gp.seed == MG_SEED_RANDOM)
        gp.seed = mg_rng_entropy_seed(); /* 32 bits: never MG_SEED_RANDOM */

    mg_status st;
    int64_t *prompt_codes = NULL, *codes_b = NULL, *codes = NULL, prompt_samples = 0;
    mg_streamer *streamer = NULL;
    int P = 0;
    mg_conditioning cond = {0};
    mg_result *res = NULL;
    double t0 = mg_time_now(), t_prompt = 0, t_text = 0, t_dec = 0, t_codec = 0;
    mg_dec_times dec_times = {0};
    if (gp.audio_prompt) {
        st = mg_audio_prompt_codes(ctx, &gp, &prompt_codes, &P, &prompt_samples);
        if (st != MG_OK)
            goto done;
    }
    t_prompt = mg_time_now() - t0;
    mg_plan plan;
    st = mg_plan_make(m, &gp, prompt_samples, P, &plan);
    if (st != MG_OK)
        goto done;
    if (gp.decode_audio && (st = check_audio_fits(m, n_prompts, &plan)) != MG_OK)
        goto done;
    if ((st = check_generation_fits(ctx, n_prompts, &plan)) != MG_OK)
        goto done;
    t0 = mg_time_now();
    st = mg_condition_text(ctx, prompts, n_prompts, gp.negative_prompt, gp.guidance_scale, &cond);
    if (st != MG_OK)
        goto done;
    t_text = mg_time_now() - t0;
    int K = m->dec->cfg.n_codebooks;
    if (P) { /* the same prompt codes for every item */
        codes_b = malloc(sizeof(int64_t) * (size_t)n_prompts * K * P);
        if (!codes_b) {
            st = mg_fail(MG_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int b = 0; b < n_prompts; b++)
            memcpy(codes_b + (size_t)b * K * P, prompt_codes, sizeof(int64_t) * (size_t)K * P);
    }
    t0 = mg_time_now();
    if (gp.on_audio && gp.decode_audio) {
        st = mg_streamer_new(ctx, gp.on_audio, gp.user, n_prompts, plan.n_samples, &streamer);
        if (st != MG_OK)
            goto done;
    }
    st = mg_generate_codes(ctx, &cond, codes_b, &plan, &smp, gp.seed, gp.progress, gp.user, streamer, &codes,
                           &dec_times);
    if (st != MG_OK)
        goto done;
    t_dec = mg_time_now() - t0;

    res = calloc(1, sizeof *res);
    if (!res) {
        st = mg_fail(MG_ERR_NOMEM, "out of memory");
        goto done;
    }
    res->batch = n_prompts;
    res->n_codebooks = K;
    res->n_frames = plan.frames;
    res->codes = codes;
    codes = NULL;
    res->channels = m->dec->cfg.audio_channels;
    res->sample_rate = m->ck.cfg.codec.sample_rate;
    res->seed = gp.seed;
    res->steps = plan.steps;
    res->n_samples = plan.n_samples;
    if (streamer) {
        /* Everything was decoded while generating: flush the tails. */
        t0 = mg_time_now();
        st = mg_streamer_finish(streamer, res->codes, res->n_frames);
        if (st != MG_OK)
            goto done;
        res->audio = mg_streamer_take_audio(streamer);
        t_codec = mg_time_now() - t0;
    } else if (gp.decode_audio) {
        res->audio = calloc((size_t)n_prompts, sizeof *res->audio);
        if (!res->audio) {
            st = mg_fail(MG_ERR_NOMEM, "out of memory");
            goto done;
        }
        t0 = mg_time_now();
        for (int b = 0; b < n_prompts && st == MG_OK; b++)
            st = mg_codes_to_audio(ctx, res->codes + (size_t)b * K * res->n_frames, res->n_frames, &res->audio[b]);
        t_codec = mg_time_now() - t0;
    }
    res->prompt_ms = t_prompt * 1e3;
    res->text_ms = t_text * 1e3;
    res->decoder_ms = t_dec * 1e3;
    res->codec_ms = t_codec * 1e3;
    res->matmul_ms = dec_times.matmul_s * 1e3;
    res->self_attn_ms = dec_times.self_attn_s * 1e3;
    res->cross_attn_ms = dec_times.cross_attn_s * 1e3;
done:
    free(codes);
    mg_streamer_free(streamer);
    mg_conditioning_free(&cond);
    free(prompt_codes);
    free(codes_b);
    if (st != MG_OK) {
        mg_result_free(res);
        return st;
    }
    *out = res;
    return MG_OK;
}
