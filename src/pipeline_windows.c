/* pipeline_windows.c — generation window by window (audiocraft's MusicGen.generate
 * with extend_stride, in frames):
 *
 *   tokens = prompt (P frames, maybe 0); offset = 0
 *   while offset + len(prompt) < total:
 *       window = min(total - offset, window_frames) frames, the prompt included
 *       generate the window continuing `prompt`; append its new frames to tokens
 *       prompt = window[stride:]; offset += stride
 *
 * The text conditioning is kept for every window, and each item's random generator
 * carries on from one window to the next, so the first window is exactly a
 * single-window generation. Decoding the joined codes in one piece leaves no seam. */
#include "pipeline.h"
#include "lm/generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the step callback needs to report progress and hand final frames on. */
typedef struct {
    mg_progress_cb cb;
    void *user;
    const atomic_int *cancel; /* the context's mg_cancel flag */
    mg_streamer *streamer;
    int64_t *all;          /* [B][K][total] codes of the whole piece */
    int B, K, D, stereo, total; /* D = 1 and no delays for a flat pattern (pattern.h) */
    int flat;
    int offset, plen, chunk; /* the current window: starts at frame offset, prompt plen */
    int max_length;        /* columns of the current window */
    int done;              /* window frames already in `all` */
    mg_status st;          /* a streaming failure, reported after the loop stops */
    char st_msg[512];      /* its message (the decoder's "cancelled at step" follows it) */
} window_state;

/* Frames of the current window that are final, from the token matrix (pattern applied):
 * frame f of codebook k sits at column f + delay(k) + 1; columns < `column` are set. */
static void collect_frames(window_state *w, const int32_t *seq, int column) {
    int ready = column - w->D; /* f + D <= column - 1 for every codebook */
    if (ready > w->chunk)
        ready = w->chunk;
    for (int f = w->done > w->plen ? w->done : w->plen; f < ready; f++)
        for (int b = 0; b < w->B; b++)
            for (int k = 0; k < w->K; k++) {
                int col = f + (w->flat ? 0 : mg_pattern_delay(k, w->stereo)) + 1;
                w->all[((size_t)b * w->K + k) * w->total + w->offset + f] =
                    seq[((size_t)b * w->K + k) * w->max_length + col];
            }
    if (ready > w->done)
        w->done = ready;
}

static int on_step(void *user, int step, int total, int column, const float *raw, const float *scores,
                   const int32_t *seq) {
    (void)raw;
    (void)scores;
    window_state *w = user;
    if (atomic_load_explicit(w->cancel, memory_order_relaxed))
        return 1; /* mg_cancel */
    if (w->streamer) {
        collect_frames(w, seq, column);
        w->st = mg_streamer_push(w->streamer, w->all, w->total, w->offset + w->done);
        if (w->st != MG_OK) {
            snprintf(w->st_msg, sizeof w->st_msg, "%s", mg_last_error());
            return 1;
        }
    }
    return w->cb ? w->cb(step + 1, total, w->user) : 0;
}

/* Copy frames [from, from + n) of codes [B][K][F] into dst [B][K][G] at frame `at`. */
static void copy_frames(int64_t *dst, int G, int at, const int64_t *src, int F, int from, int n, int B, int K) {
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++)
            memcpy(dst + ((size_t)b * K + k) * G + at, src + ((size_t)b * K + k) * F + from, sizeof(int64_t) * (size_t)n);
}

/* A failed step callback shows up as MG_ERR_CANCELLED: report the real cause. */
static mg_status step_failure(const window_state *w, mg_status st) {
    return st == MG_ERR_CANCELLED && w->st != MG_OK ? mg_fail(w->st, "%s", w->st_msg) : st;
}

mg_status mg_generate_codes(mg_context *ctx, const mg_conditioning *cond, const int64_t *prompt, const mg_plan *plan,
                            const mg_sampler *smp, uint64_t seed, mg_progress_cb progress, void *user,
                            mg_streamer *streamer, int64_t **codes, mg_dec_times *times) {
    const mg_model *m = ctx->model;
    int B = cond->B, K = m->dec->cfg.n_codebooks, D = mg_config_delays(&m->ck.cfg);
    int total = plan->frames;
    window_state ws = {.cb = progress, .user = user, .cancel = &ctx->cancel, .streamer = streamer,
                       .B = B, .K = K, .D = D, .stereo = m->dec->cfg.audio_channels == 2, .total = total,
                       .st = MG_OK};
    mg_lm_job job = {.B = B, .use_cfg = cond->use_cfg, .guidance = cond->guidance, .enc = cond->states,
                     .enc_mask = cond->mask, .S = cond->S, .sampler = *smp, .seed = seed,
                     .kv = ctx->params.kv_type, .on_step = on_step, .user = &ws, .total_steps = plan->steps};
    *codes = NULL;
    if (plan->fixed_steps) {
        ws.all = malloc(sizeof(int64_t) * (size_t)B * K * (size_t)total);
        if (!ws.all)
            return mg_fail(MG_ERR_NOMEM, "out of memory for %d frames of codes", total);
        if (plan->P)
            copy_frames(ws.all, total, 0, prompt, plan->P, 0, plan->P, B, K);
        ws.plen = ws.done = plan->P;
        ws.chunk = total;
        ws.max_length = 1 + plan->P + plan->steps;
        if (plan->flat) {
            ws.flat = 1;
            ws.D = 1;
        }
        job.prompt = prompt;
        job.P = plan->P;
        job.steps = plan->steps;
        mg_lm_output out;
        mg_status st = streamer ? mg_streamer_push(streamer, ws.all, total, plan->P) : MG_OK;
        if (st == MG_OK)
            st = step_failure(&ws, mg_lm_generate(m->dec, ctx->pool, &job, &out));
        free(ws.all);
        if (st != MG_OK)
            return st;
        mg_dec_times_add(times, &out.times);
        *codes = out.codes;
        out.codes = NULL;
        mg_lm_output_free(&out);
        return MG_OK;
    }
    int W = plan->window_frames, stride = plan->stride_frames;
    int64_t *all = ws.all = malloc(sizeof(int64_t) * (size_t)B * K * (size_t)total);
    int64_t *cur = NULL; /* prompt of the current window [B][K][plen] */
    mg_rng *rng = malloc(sizeof(mg_rng) * (size_t)B);
    if (!all || !rng) {
        free(all);
        free(rng);
        return mg_fail(MG_ERR_NOMEM, "out of memory for %d frames of codes", total);
    }
    for (int b = 0; b < B; b++)
        mg_rng_seed(&rng[b], seed + (uint64_t)b);
    job.rng = rng;
    int plen = plan->P, offset = 0;
    mg_status st = MG_OK;
    if (plen) {
        copy_frames(all, total, 0, prompt, plen, 0, plen, B, K);
        cur = malloc(sizeof(int64_t) * (size_t)B * K * (size_t)plen);
        if (!cur)
            st = mg_fail(MG_ERR_NOMEM, "out of memory");
        else
            memcpy(cur, prompt, sizeof(int64_t) * (size_t)B * K * (size_t)plen);
        if (st == MG_OK && streamer)
            st = mg_streamer_push(streamer, all, total, plen);
    }
    while (st == MG_OK && offset + plen < total) {
        int chunk = total - offset < W ? total - offset : W; /* frames of this window, prompt included */
        job.prompt = plen ? cur : NULL;
        job.P = plen;
        job.steps = chunk + D - 1 - plen;
        ws.offset = offset;
        ws.plen = ws.done = plen;
        ws.chunk = chunk;
        ws.max_length = 1 + plen + job.steps;
        mg_lm_output out;
        st = step_failure(&ws, mg_lm_generate(m->dec, ctx->pool, &job, &out));
        if (st != MG_OK)
            break;
        mg_dec_times_add(times, &out.times);
        /* out.frames == chunk: the window's prompt followed by its new frames */
        copy_frames(all, total, offset + plen, out.codes, out.frames, plen, chunk - plen, B, K);
        if (streamer && (st = mg_streamer_push(streamer, all, total, offset + chunk)) != MG_OK) {
            mg_lm_output_free(&out);
            break;
        }
        job.step_offset += job.steps;
        int next = chunk - stride;
        free(cur);
        cur = NULL;
        if (offset + stride + next < total) { /* another window follows: prompt it with window[stride:] */
            cur = malloc(sizeof(int64_t) * (size_t)B * K * (size_t)next);
            if (!cur)
                st = mg_fail(MG_ERR_NOMEM, "out of memory");
            else
                copy_frames(cur, next, 0, out.codes, out.frames, stride, next, B, K);
        }
        mg_lm_output_free(&out);
        plen = next;
        offset += stride;
    }
    free(cur);
    free(rng);
    if (st != MG_OK) {
        free(all);
        return st;
    }
    *codes = all;
    return MG_OK;
}
