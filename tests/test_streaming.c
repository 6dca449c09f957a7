/* test_streaming.c — audio delivered while generating (mg_generate_params.on_audio),
 * on both fixtures, for a plain clip, long-form windows, an audio prompt and --steps:
 *  - chunks arrive in order, contiguous, interleaved, and start long before the end;
 *  - their concatenation equals the result's audio and the one-piece decode of the
 *    final codes (mg_decode_codes), trimmed to the requested length — reported as the
 *    max abs difference (the incremental decoder is exact, so it is 0);
 *  - returning non-zero from the callback cancels with MG_ERR_CANCELLED. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float *pcm;
    int64_t n, cap;
    int channels, chunks, bad_order, steps_at_first, steps;
    int cancel_after;
} sink;

static int on_audio(int item, const float *pcm, int64_t n, int ch, int64_t pos, void *user) {
    sink *s = user;
    if (item != 0 || pos != s->n)
        s->bad_order++;
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->pcm = realloc(s->pcm, sizeof(float) * (size_t)s->cap * ch);
    }
    memcpy(s->pcm + s->n * ch, pcm, sizeof(float) * (size_t)n * ch);
    s->n += n;
    s->channels = ch;
    if (s->chunks++ == 0)
        s->steps_at_first = s->steps;
    return s->cancel_after && s->chunks >= s->cancel_after;
}

static int on_progress(int step, int total, void *user) {
    (void)total;
    ((sink *)user)->steps = step;
    return 0;
}

static void run_case(mg_context *ctx, const char *name, mg_generate_params gp) {
    sink s = {0};
    gp.on_audio = on_audio;
    gp.progress = on_progress;
    gp.user = &s;
    const char *prompt = "streaming test";
    mg_result *r = NULL;
    CHECK_OK(mg_generate(ctx, &prompt, 1, &gp, &r));
    if (!r)
        return;
    printf("  %s: %d chunks, first after step %d of %d, %lld samples\n", name, s.chunks, s.steps_at_first, r->steps,
           (long long)s.n);
    CHECK(s.bad_order == 0, "%s: chunks out of order", name);
    CHECK(s.n == r->n_samples && s.channels == r->channels, "%s: streamed %lld samples, result has %lld", name,
          (long long)s.n, (long long)r->n_samples);
    CHECK(s.chunks > 1 && s.steps_at_first < r->steps, "%s: audio only arrived at the end", name);
    char label[128];
    snprintf(label, sizeof label, "%s: streamed == result audio", name);
    test_compare_f32(label, s.pcm, r->audio[0], s.n * s.channels, 0.0);
    float *pcm;
    int64_t n;
    int ch;
    CHECK_OK(mg_decode_codes(ctx, r->codes, r->n_codebooks, r->n_frames, &pcm, &n, &ch));
    snprintf(label, sizeof label, "%s: streamed == one-piece decode", name);
    test_compare_f32(label, s.pcm, pcm, s.n * s.channels, 0.0);
    free(pcm);
    free(s.pcm);
    mg_result_free(r);
}

static void run_fixture(const char *fixture) {
    printf("%s:\n", fixture);
    mg_model *m;
    CHECK_OK(mg_model_load(test_ref_path(fixture), NULL, &m));
    mg_context *ctx;
    CHECK_OK(mg_context_new(m, NULL, &ctx));
    mg_model_info info;
    mg_model_get_info(m, &info);

    mg_generate_params gp = mg_generate_default_params();
    gp.seed = 9;
    gp.duration_s = 1.37f;
    run_case(ctx, "1.37 s", gp);
    gp.duration_s = 4.3f;
    gp.window_s = 1.5f;
    gp.stride_s = 0.9f;
    run_case(ctx, "long-form 4.3 s (1.5 s windows)", gp);
    gp.window_s = gp.stride_s = 0;
    float *ap = malloc(sizeof(float) * 12000 * 2);
    for (int i = 0; i < 24000; i++)
        ap[i] = 0.2f * (float)sin(i * 0.05);
    gp.audio_prompt = ap;
    gp.audio_prompt_frames = 12000;
    gp.audio_prompt_channels = info.channels;
    gp.audio_prompt_rate = 32000;
    gp.duration_s = 1.5f;
    run_case(ctx, "audio prompt, 1.5 s", gp);
    gp.audio_prompt = NULL;
    gp.steps = 40;
    gp.greedy = 1;
    run_case(ctx, "--steps 40 greedy", gp);
    free(ap);

    /* Cancel from the audio callback. */
    sink s = {.cancel_after = 2};
    gp = mg_generate_default_params();
    gp.duration_s = 3.0f;
    gp.on_audio = on_audio;
    gp.user = &s;
    const char *prompt = "cancel me";
    mg_result *r = NULL;
    mg_status st = mg_generate(ctx, &prompt, 1, &gp, &r);
    CHECK(st == MG_ERR_CANCELLED && r == NULL && strstr(mg_last_error(), "audio callback"),
          "cancel from on_audio: status %d, %s", st, mg_last_error());
    free(s.pcm);
    mg_context_free(ctx);
    mg_model_free(m);
}

int main(void) {
    run_fixture("tiny-mono");
    run_fixture("tiny-stereo");
    return test_finish("test_streaming");
}
