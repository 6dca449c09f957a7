/* test_longform.c — long-form generation through the public API on both fixtures,
 * with windows much shorter than the requested duration:
 *  - the first window equals a single-window generation with the same seed;
 *  - the output has exactly round(D * rate) samples and ceil(D * frame_rate) frames;
 *  - the audio is the whole code sequence decoded in one piece (mg_decode_codes);
 *  - the seams are continuous: the sample-to-sample change around each window
 *    boundary is no larger than elsewhere in the piece (while decoding each window
 *    on its own would not even agree with the one-piece decode at the boundary);
 *  - with an audio prompt the output starts with the prompt's codes;
 *  - 1 and 2 threads give identical codes. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static mg_result *gen(mg_context *ctx, const char *prompt, float dur, float window, float stride, uint64_t seed,
                      const float *ap, int64_t ap_frames, int ap_ch) {
    mg_generate_params gp = mg_generate_default_params();
    gp.duration_s = dur;
    gp.window_s = window;
    gp.stride_s = stride;
    gp.seed = seed;
    gp.audio_prompt = ap;
    gp.audio_prompt_frames = ap_frames;
    gp.audio_prompt_channels = ap_ch;
    gp.audio_prompt_rate = 32000;
    mg_result *r = NULL;
    CHECK_OK(mg_generate(ctx, &prompt, 1, &gp, &r));
    return r;
}

/* RMS of the first difference of channel 0 in [a, b). */
static double diff_rms(const float *pcm, int ch, int64_t a, int64_t b) {
    double s = 0;
    for (int64_t i = a + 1; i < b; i++) {
        double d = pcm[i * ch] - pcm[(i - 1) * ch];
        s += d * d;
    }
    return sqrt(s / (double)(b - a - 1));
}

static int cmp_d(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void run_fixture(const char *fixture) {
    printf("%s:\n", fixture);
    mg_model *m;
    mg_model_params mp = mg_model_default_params();
    CHECK_OK(mg_model_load(test_ref_path(fixture), &mp, &m));
    mg_context_params cp = mg_context_default_params();
    cp.n_threads = 2;
    cp.kv_type = MG_KV_F32;
    mg_context *ctx;
    CHECK_OK(mg_context_new(m, &cp, &ctx));
    mg_model_info info;
    mg_model_get_info(m, &info);
    const float window = 2.0f, stride = 1.2f, dur = 7.3f;
    int K = info.n_codebooks, hop = info.hop_length;

    mg_result *lf = gen(ctx, "slow ambient drone", dur, window, stride, 11, NULL, 0, 0);
    mg_result *one = gen(ctx, "slow ambient drone", window, 0, 0, 11, NULL, 0, 0);
    if (!lf || !one)
        return;
    int W = one->n_frames;
    for (int i = 0; i < 3; i++) { /* durations whose float is a hair above a whole frame */
        const float durs[3] = {0.8f, 0.1f, 0.3f};
        const int want[3] = {40, 5, 15};
        mg_result *r = gen(ctx, "x", durs[i], 0, 0, 1, NULL, 0, 0);
        CHECK(r && r->n_frames == want[i] && r->n_samples == (int64_t)want[i] * hop,
              "%.1f s: %d frames, %lld samples (want %d frames)", (double)durs[i], r ? r->n_frames : 0,
              (long long)(r ? r->n_samples : 0), want[i]);
        mg_result_free(r);
    }
    /* 7.3 s at 50 Hz is 365 frames, although the float 7.3f is 7.3000002 (365.00001). */
    CHECK(lf->n_frames == 365, "7.3 s: %d frames (want 365)", lf->n_frames);
    CHECK(lf->n_samples == (int64_t)llround(dur * 32000.0), "samples %lld", (long long)lf->n_samples);
    int64_t bad = 0;
    for (int k = 0; k < K; k++)
        for (int f = 0; f < W; f++)
            bad += lf->codes[(size_t)k * lf->n_frames + f] != one->codes[(size_t)k * W + f];
    printf("  first window (%d frames) vs single-window generation: %lld of %d codes differ\n", W, (long long)bad, K * W);
    CHECK(bad == 0, "first window differs from a single-window generation");

    /* The audio is the whole sequence decoded in one piece. */
    float *pcm;
    int64_t n;
    int ch;
    CHECK_OK(mg_decode_codes(ctx, lf->codes, K, lf->n_frames, &pcm, &n, &ch));
    test_compare_f32("long-form audio == one-piece decode", lf->audio[0], pcm, lf->n_samples * ch, 0.0);

    /* Seams: window w starts at frame w * stride; compare the sample-to-sample change in
     * 20 ms around each boundary with the distribution over the whole piece. */
    int stride_f = (int)(stride * 50), seg = 640;
    int n_seg = (int)(lf->n_samples / seg);
    double *all = malloc(sizeof(double) * (size_t)n_seg);
    for (int i = 0; i < n_seg; i++)
        all[i] = diff_rms(lf->audio[0], ch, (int64_t)i * seg, (int64_t)(i + 1) * seg);
    qsort(all, (size_t)n_seg, sizeof *all, cmp_d);
    double p95 = all[(int)(0.95 * (n_seg - 1))];
    for (int w = 1; (int64_t)(w * stride_f + W - stride_f) * hop < lf->n_samples; w++) {
        /* new frames of window w begin where window w-1 ended */
        int64_t b = (int64_t)((w - 1) * stride_f + W) * hop;
        if (b + seg > lf->n_samples)
            break;
        double r = diff_rms(lf->audio[0], ch, b - seg / 2, b + seg / 2);
        printf("  seam at %.2f s: change %.4f (95th percentile of the piece %.4f)\n", (double)b / 32000, r, p95);
        CHECK(r <= p95 * 1.5, "seam at sample %lld jumps: %g vs %g", (long long)b, r, p95);
    }
    free(all);
    free(pcm);

    /* Audio prompt: the output starts with the prompt's codes, and keeps going. */
    int64_t ap_frames = 16000;
    float *ap = malloc(sizeof(float) * (size_t)ap_frames * 2);
    for (int64_t i = 0; i < ap_frames * 2; i++)
        ap[i] = 0.3f * (float)sin(0.01 * (double)i) + 0.05f * (float)sin(0.37 * (double)i);
    int ap_ch = info.stereo ? 2 : 1;
    mg_result *pr = gen(ctx, "continue this", 5.0f, window, stride, 3, ap, ap_frames, ap_ch);
    int64_t *pc;
    int pk, pf;
    CHECK_OK(mg_encode_audio(ctx, ap, ap_frames, ap_ch, 32000, &pc, &pk, &pf));
    if (pr) {
        int64_t pbad = 0;
        for (int k = 0; k < K; k++)
            for (int f = 0; f < pf; f++)
                pbad += pr->codes[(size_t)k * pr->n_frames + f] != pc[(size_t)k * pf + f];
        printf("  audio prompt + long-form: %d frames, first %d = prompt codes (%lld differ)\n", pr->n_frames, pf,
               (long long)pbad);
        CHECK(pbad == 0 && pr->n_samples == 160000, "prompted long-form");
    }
    free(pc);
    free(ap);

    /* Threads: identical codes. */
    mg_context *ctx1;
    cp.n_threads = 1;
    CHECK_OK(mg_context_new(m, &cp, &ctx1));
    mg_result *lf1 = gen(ctx1, "slow ambient drone", dur, window, stride, 11, NULL, 0, 0);
    if (lf1)
        test_compare_i64("long-form codes, 1 vs 2 threads", lf1->codes, lf->codes, (int64_t)K * lf->n_frames);
    mg_result_free(lf1);
    mg_context_free(ctx1);
    mg_result_free(pr);
    mg_result_free(lf);
    mg_result_free(one);
    mg_context_free(ctx);
    mg_model_free(m);
}

int main(void) {
    run_fixture("tiny-mono");
    run_fixture("tiny-stereo");
    return test_finish("test_longform");
}
