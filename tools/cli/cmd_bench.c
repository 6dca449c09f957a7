/* cmd_bench.c — `musicgen bench`: where the time and memory of one generation go.
 *
 * Loads the model, runs one sampled CFG generation (10 s of audio by default) while
 * timing every decoder step, decodes the audio, measures the machine's memory read
 * bandwidth in the same run (before it, between its steps about every half second,
 * and after it; the limits use the samples between the steps), and prints: load time,
 * T5 time, decoder ms/step (median, p90), EnCodec ms per audio second, end-to-end
 * real-time factor, peak RSS, weight bytes per step, read bandwidth, and the step time
 * against the bandwidth limit (weight bytes / bandwidth), and the time to the first
 * streamed audio (a second, 3 s generation). It also prints the attention cache a
 * step reads on average (it grows by one position per step, per CFG row) and the limit
 * counting those bytes too: the other half of what a step has to stream. --json adds
 * one JSON object as the last line. */
#include "cli.h"
#include "bench_bandwidth.h"
#include "base/pool.h"
#include "base/resources.h"
#include "base/timing.h"
#include "lm/attention.h"
#include "tensor/bandwidth.h"
#include "tensor/isa.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void) {
    printf("usage: musicgen bench [-m MODEL] [-t N] [--steps N | --duration S] [--json]\n\n"
           "Time one generation (sampling, CFG, one prompt) and report load time, T5 time,\n"
           "decoder ms/step (median, p90), EnCodec ms per audio second, real-time factor,\n"
           "peak RSS, weight and attention-cache bytes per step, the measured memory read\n"
           "bandwidth and the step time against what those bytes take to read at it.\n\n"
           "  -m, --model MODEL      folder, .gguf file or repo id[@REVISION]\n"
           "                         (default %s)\n"
           "  -t, --threads N        threads (default: one per core)\n"
           "      --steps N          decoder steps (default: enough for --duration)\n"
           "  -d, --duration S       audio seconds (default 10)\n"
           "      --weight-type T    convert decoder weights on load (f32 f16 bf16 q8_0\n"
           "                         q4_0)\n"
           "      --no-mmap          read the weights a step uses into memory (faster steps)\n"
           "      --kv-type T        attention cache: f16 (default), f32, q8_0\n"
           "      --no-bandwidth     skip the read-bandwidth measurement (else sampled\n"
           "                         between the steps; the limits use their mean)\n"
           "      --json             also print a JSON object on the last line\n"
           "  -h, --help             this help\n",
           MG_DEFAULT_MODEL);
}

/* Bandwidth samples during the run: one after the first step, one after the last and
 * one whenever this long has passed since the previous one, each over this much of
 * the helper's buffer (~20 ms at 50 GB/s: four passes). */
#define BW_SAMPLE_EVERY_S 0.5
#define BW_SAMPLE_BYTES ((size_t)256 << 20)
#define BW_MAX_SAMPLES 4096

/* What the progress callback records: when each step ended (t_start: the callback was
 * entered) and when the callback returned (t_end: after a bandwidth sample, if it took
 * one), so the samples' time is left out of the step times and the real-time factor. */
typedef struct {
    double *t_start, *t_end;
    int n, cap;
    bench_bw *bw; /* NULL: no samples */
    double next_sample;
    double gbs[BW_MAX_SAMPLES];
    int n_samples;
    double sample_s; /* total time spent sampling */
} step_times;

/* Self-attention cache bytes one decoder step reads, averaged over `steps` steps: step
 * s reads K and V of positions 0..s in every layer for every row (2 with CFG). */
static double kv_bytes_per_step(const mg_model_info *info, mg_kv_type kv_used, int rows, int steps) {
    double per_value = kv_used == MG_KV_F32 ? 4.0 : kv_used == MG_KV_Q8_0 ? 34.0 / 32.0 : 2.0;
    double per_position = 2.0 * info->decoder_layers * rows * info->decoder_hidden * per_value;
    return per_position * (steps + 1) / 2.0;
}

static int on_step(int step, int total, void *user) {
    step_times *s = user;
    double now = mg_time_now();
    if (s->bw && s->n_samples < BW_MAX_SAMPLES && (step == 1 || step == total || now >= s->next_sample)) {
        double gbs = bench_bw_sample(s->bw);
        if (gbs > 0)
            s->gbs[s->n_samples++] = gbs;
        double after = mg_time_now();
        s->sample_s += after - now;
        s->next_sample = after + BW_SAMPLE_EVERY_S;
    }
    if (s->n < s->cap) {
        s->t_start[s->n] = now;
        s->t_end[s->n++] = mg_time_now();
    }
    return 0;
}

/* Time to first audio: a short streamed generation, clocked to its first chunk and
 * stopped there (the rest of it would only measure steps again). */
typedef struct {
    double t0, first;
} first_audio;

static int on_first_audio(int item, const float *pcm, int64_t n, int ch, int64_t pos, void *user) {
    (void)item;
    (void)pcm;
    (void)n;
    (void)ch;
    (void)pos;
    first_audio *f = user;
    if (f->first == 0)
        f->first = mg_time_now() - f->t0;
    return 1; /* cancel: the first chunk is all this measures */
}

static double measure_first_audio(mg_context *ctx, const char *prompt) {
    mg_generate_params gp = mg_generate_default_params();
    gp.duration_s = 3.0f;
    gp.seed = 1234;
    first_audio f = {mg_time_now(), 0};
    gp.on_audio = on_first_audio;
    gp.user = &f;
    mg_result *r = NULL;
    mg_status st = mg_generate(ctx, &prompt, 1, &gp, &r);
    mg_result_free(r);
    if ((st != MG_OK && st != MG_ERR_CANCELLED) || f.first == 0)
        return -1;
    return f.first * 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, int n, double q) {
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)ceil(q * n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

enum { OPT_STEPS = 1000, OPT_JSON, OPT_WEIGHT, OPT_KV, OPT_NO_BW, OPT_NO_MMAP };

int cmd_bench(int argc, char **argv) {
    const char *model = MG_DEFAULT_MODEL;
    int threads = 0, steps = 0, json = 0, bandwidth = 1, no_mmap = 0;
    double duration = 10.0;
    int duration_set = 0;
    mg_weight_type wt = MG_WEIGHT_AUTO;
    mg_kv_type kv = MG_KV_F16;
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},   {"threads", required_argument, 0, 't'},
                                         {"duration", required_argument, 0, 'd'}, {"steps", required_argument, 0, OPT_STEPS},
                                         {"json", no_argument, 0, OPT_JSON},      {"weight-type", required_argument, 0, OPT_WEIGHT},
                                         {"kv-type", required_argument, 0, OPT_KV}, {"no-bandwidth", no_argument, 0, OPT_NO_BW},
                                         {"no-mmap", no_argument, 0, OPT_NO_MMAP},
                                         {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *optstring = ":m:t:d:h";
    opterr = 0;
    optind = 1;
    int c;
    long lv;
    if (cli_check_short_clusters("bench", argc, argv, optstring, opts))
        return 1;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 't':
            if (!cli_parse_int("bench", "--threads", optarg, 1, 1024, &lv))
                return 1;
            threads = (int)lv;
            break;
        case 'd':
            if (!cli_parse_float("bench", "--duration", optarg, 0.01, 3600, &duration))
                return 1;
            duration_set = 1;
            break;
        case OPT_STEPS:
            if (!cli_parse_int("bench", "--steps", optarg, 1, 1 << 20, &lv))
                return 1;
            steps = (int)lv;
            break;
        case OPT_JSON: json = 1; break;
        case OPT_WEIGHT:
            if (!cli_parse_weight_type("bench", optarg, &wt))
                return 1;
            break;
        case OPT_KV:
            if (!cli_parse_kv_type("bench", optarg, &kv))
                return 1;
            break;
        case OPT_NO_BW: bandwidth = 0; break;
        case OPT_NO_MMAP: no_mmap = 1; break;
        case 'h': help(); return 0;
        default: return cli_bad_option("bench", argv, optstring, opts);
        }
    }
    if (steps && duration_set) /* both are in the documented synopsis: --steps wins, as it always did */
        cli_warn("--steps %d decides the run; --duration is ignored", steps);
    if (optind < argc)
        return cli_unexpected_argument("bench", argv[optind]);

    /* Bandwidth before the run, between its steps and after it: on a shared VM it
     * swings from minute to minute (by half within seconds), so the limits use what it
     * was while the steps ran, the mean of the samples taken between them. */
    bench_bw bw = {0};
    if (bandwidth && bench_bw_start(&bw, mg_cpu_threads(threads), BW_SAMPLE_BYTES) != 0)
        cli_warn("cannot start the bandwidth probe (%s); no samples during the run", strerror(errno));
    double gbs_before = bandwidth ? bench_bw_once(mg_cpu_threads(threads), 0) : 0;
    double t0 = mg_time_now();
    mg_model_params mp = mg_model_default_params();
    mp.weight_type = wt;
    mp.no_mmap = no_mmap;
    mg_model *m;
    if (cli_load_model("bench", model, &mp, &m)) {
        bench_bw_stop(&bw);
        return 1;
    }
    double load_s = mg_time_now() - t0;
    mg_model_info info;
    mg_model_get_info(m, &info);
    mg_context_params cp = mg_context_default_params();
    cp.n_threads = threads;
    cp.kv_type = kv;
    mg_context *ctx;
    mg_status st = mg_context_new(m, &cp, &ctx);
    if (st != MG_OK) {
        bench_bw_stop(&bw);
        mg_model_free(m);
        return cli_lib_error("bench", st);
    }
    mg_generate_params gp = mg_generate_default_params();
    gp.duration_s = duration;
    gp.steps = steps;
    gp.seed = 1234;
    static step_times times; /* its samples are 32 KiB: not on the stack */
    memset(&times, 0, sizeof times);
    times.cap = 1 << 17;
    times.t_start = calloc((size_t)times.cap, sizeof(double));
    times.t_end = calloc((size_t)times.cap, sizeof(double));
    if (!times.t_start || !times.t_end)
        times.cap = 0;
    times.bw = bw.pid > 0 ? &bw : NULL;
    gp.progress = on_step;
    gp.user = &times;
    const char *prompt = "lo-fi hip hop, mellow piano, 90 bpm";
    mg_result *res = NULL;
    double g0 = mg_time_now();
    st = mg_generate(ctx, &prompt, 1, &gp, &res);
    double gen_s = mg_time_now() - g0 - times.sample_s;
    if (st != MG_OK) {
        bench_bw_stop(&bw);
        free(times.t_start);
        free(times.t_end);
        mg_context_free(ctx);
        mg_model_free(m);
        return cli_lib_error("bench", st);
    }
    int64_t peak_rss = mg_peak_rss_bytes();
    /* How much of the step's weights the kernel maps with 2 MiB pages: where the page
     * cache holds a file in small pieces, steps stream slower (docs/speed.md, "Where mapped
     * weights sit in memory"). Only the step's matrices may be mapped so. */
    int64_t huge = no_mmap ? -1 : mg_file_huge_mapped_bytes();
    double first_ms = measure_first_audio(ctx, prompt);
    /* Per-step durations: from the return of one step's callback to the next call; the
     * first step also covers the text encoder, so it is left out. */
    int n_dt = times.n > 1 ? times.n - 1 : 0;
    double *dt = malloc(sizeof(double) * (size_t)(n_dt > 0 ? n_dt : 1));
    if (!dt) /* as when the step times could not be kept: the mean stands in (below) */
        n_dt = 0;
    for (int i = 0; i < n_dt; i++)
        dt[i] = (times.t_start[i + 1] - times.t_end[i]) * 1e3;
    double med = percentile(dt, n_dt, 0.5), p90 = percentile(dt, n_dt, 0.9);
    double audio_s = (double)res->n_samples / res->sample_rate;
    double codec_per_s = audio_s > 0 ? res->codec_ms / audio_s : 0;
    double rtf = audio_s > 0 ? gen_s / audio_s : 0;
    bench_bw_stop(&bw);
    /* In this process: the peak RSS has been read, and forking a process whose pool
     * threads run is best avoided (a sanitizer runtime's locks may be held). */
    double gbs_after = 0;
    if (bandwidth) {
        mg_pool *pool = mg_pool_new(mg_cpu_threads(threads));
        gbs_after = pool ? mg_measure_read_bandwidth(pool, 0) : 0;
        mg_pool_free(pool);
    }
    double during_min = 0, during_max = 0, during_sum = 0;
    for (int i = 0; i < times.n_samples; i++) {
        double g = times.gbs[i];
        during_sum += g;
        during_min = i == 0 || g < during_min ? g : during_min;
        during_max = g > during_max ? g : during_max;
    }
    double read_gbs = times.n_samples > 0 ? during_sum / times.n_samples
                      : gbs_before > 0 && gbs_after > 0 ? (gbs_before + gbs_after) / 2
                      : gbs_after > 0 ? gbs_after : gbs_before;
    double limit_ms = read_gbs > 0 ? (double)info.step_weight_bytes / (read_gbs * 1e9) * 1e3 : 0;
    float guidance = gp.guidance_scale >= 0 ? gp.guidance_scale : info.guidance_scale;
    /* The cache the decoder really keeps (q8_0 needs heads of a multiple of 32 values). */
    mg_kv_type kv_used = mg_kv_effective(kv, info.decoder_heads > 0 ? info.decoder_hidden / info.decoder_heads : 0);
    const char *kv_name = kv_used == MG_KV_F32 ? "f32" : kv_used == MG_KV_Q8_0 ? "q8_0" : "f16";
    double kv_bytes = kv_bytes_per_step(&info, kv_used, guidance > 1.0f ? 2 : 1, res->steps);
    double limit_kv_ms = read_gbs > 0 ? ((double)info.step_weight_bytes + kv_bytes) / (read_gbs * 1e9) * 1e3 : 0;
    int nthreads = mg_cpu_threads(threads);
    /* The step's parts, per step: weight matrices and self-attention as GB/s of what
     * they read, next to the probe's figure. */
    double per_step = res->steps > 0 ? 1.0 / res->steps : 0;
    /* The library's decoder time includes the progress callbacks, hence the samples. */
    double step_ms = (res->decoder_ms - times.sample_s * 1e3) * per_step;
    if (n_dt == 0 && res->steps > 1) { /* the step times could not be kept: say so, and show the mean */
        med = p90 = step_ms;
        fprintf(stderr, "musicgen bench: warning: out of memory for the per-step times; the median and p90 shown "
                        "are the mean step\n");
    }
    double mm_ms = res->matmul_ms * per_step, sa_ms = res->self_attn_ms * per_step, ca_ms = res->cross_attn_ms * per_step;
    double mm_gbs = mm_ms > 0 ? (double)info.step_weight_bytes / (mm_ms * 1e6) : 0;
    double sa_gbs = sa_ms > 0 ? kv_bytes / (sa_ms * 1e6) : 0;

    printf("model            %s (%s, decoder %d layers x %d, weights %s%s)\n", model, info.stereo ? "stereo" : "mono",
           info.decoder_layers, info.decoder_hidden, info.weight_type, no_mmap ? ", read into memory" : "");
    mg_isa isa = mg_isa_active();
    char kernels[32];
    snprintf(kernels, sizeof kernels, "%s%s", mg_isa_name(isa), isa == MG_ISA_AVX2 && mg_isa_avxvnni() ? "+avx-vnni" : "");
    int cpus = mg_cpu_count();
    printf("threads          %d (this process may use %d CPU%s), %s kernels\n", nthreads, cpus, cpus == 1 ? "" : "s",
           kernels);
    printf("load             %.2f s\n", load_s);
    printf("T5 + tokenizer   %.1f ms\n", res->text_ms);
    printf("decoder          %d steps, %.2f ms/step median, %.2f p90\n", res->steps, med, p90);
    printf("  per step       weights %.2f ms (%.1f GB/s), self-attention %.2f ms (%.1f GB/s of cache), "
           "cross-attention %.2f ms, rest %.2f ms (means)\n",
           mm_ms, mm_gbs, sa_ms, sa_gbs, ca_ms, step_ms - mm_ms - sa_ms - ca_ms);
    printf("EnCodec decode   %.1f ms per audio second (%.2f s audio)\n", codec_per_s, audio_s);
    printf("end to end       %.2f s, real-time factor %.3f\n", gen_s, rtf);
    printf("first audio      %.0f ms after the call (streaming, incl. T5)\n", first_ms);
    printf("peak RSS         %.1f MB\n", (double)peak_rss / 1e6);
    double huge_pct = huge >= 0 && info.step_weight_bytes > 0 ? 100.0 * (double)huge / (double)info.step_weight_bytes : -1;
    if (huge_pct > 100)
        huge_pct = 100;
    printf("weights/step     %.1f MB", (double)info.step_weight_bytes / 1e6);
    if (huge_pct >= 0)
        printf(", %.0f %% of them on 2 MiB mappings", huge_pct);
    printf("\n");
    printf("cache/step       %.1f MB on average (%s self-attention K/V, grows with every step)\n", kv_bytes / 1e6,
           kv_name);
    if (bandwidth) {
        if (times.n_samples > 0)
            printf("read bandwidth   %.1f GB/s during the run (mean of %d samples between steps, %.1f-%.1f; %.1f before "
                   "the run, %.1f after)\n", read_gbs, times.n_samples, during_min, during_max, gbs_before, gbs_after);
        else
            printf("read bandwidth   %.1f GB/s (%.1f before the run, %.1f after)\n", read_gbs, gbs_before, gbs_after);
        printf("                 weights only: limit %.2f ms/step; measured step = %.2fx the limit\n", limit_ms,
               limit_ms > 0 ? med / limit_ms : 0);
        printf("                 weights + cache: limit %.2f ms/step; measured step = %.2fx\n", limit_kv_ms,
               limit_kv_ms > 0 ? med / limit_kv_ms : 0);
    }
    if (json) {
        /* Not measured (--no-bandwidth): null, not a zero that reads like a figure. */
        char gbs[32] = "null", lim[32] = "null", lim_kv[32] = "null", frac[32] = "null", frac_kv[32] = "null";
        char gbs_b[32] = "null", gbs_a[32] = "null", huge_s[32] = "null", gbs_lo[32] = "null", gbs_hi[32] = "null";
        if (times.n_samples > 0) {
            snprintf(gbs_lo, sizeof gbs_lo, "%.2f", during_min);
            snprintf(gbs_hi, sizeof gbs_hi, "%.2f", during_max);
        }
        if (huge_pct >= 0)
            snprintf(huge_s, sizeof huge_s, "%.1f", huge_pct);
        if (gbs_before > 0)
            snprintf(gbs_b, sizeof gbs_b, "%.2f", gbs_before);
        if (gbs_after > 0)
            snprintf(gbs_a, sizeof gbs_a, "%.2f", gbs_after);
        if (read_gbs > 0) {
            snprintf(gbs, sizeof gbs, "%.2f", read_gbs);
            snprintf(lim, sizeof lim, "%.3f", limit_ms);
            snprintf(lim_kv, sizeof lim_kv, "%.3f", limit_kv_ms);
            snprintf(frac, sizeof frac, "%.3f", limit_ms > 0 ? med / limit_ms : 0);
            snprintf(frac_kv, sizeof frac_kv, "%.3f", limit_kv_ms > 0 ? med / limit_kv_ms : 0);
        }
        printf("{\"model\": ");
        cli_json_string(model);
        printf(", \"threads\": %d, \"kernels\": \"%s\", \"kv_type\": \"%s\", \"weight_type\": \"%s\", \"steps\": %d, \"ms_per_step\": %.3f, "
               "\"ms_per_step_p90\": %.3f, \"weight_bytes_per_step\": %lld, \"read_gbs\": %s, \"limit_ms_per_step\": %s, "
               "\"rtf\": %.4f, \"peak_rss_mb\": %.1f, \"load_s\": %.3f, \"t5_ms\": %.2f, \"codec_ms_per_audio_s\": %.2f, "
               "\"audio_s\": %.3f, \"first_audio_ms\": %.1f, \"kv_bytes_per_step\": %.0f, "
               "\"limit_with_kv_ms_per_step\": %s, \"step_over_limit\": %s, \"step_over_limit_with_kv\": %s, "
               "\"mean_ms_per_step\": %.4f, \"matmul_ms_per_step\": %.4f, \"self_attn_ms_per_step\": %.4f, "
               "\"cross_attn_ms_per_step\": %.4f, \"read_gbs_before\": %s, \"read_gbs_after\": %s, "
               "\"weights_huge_mapped_pct\": %s, \"no_mmap\": %s, \"read_gbs_samples\": %d, \"read_gbs_min\": %s, "
               "\"read_gbs_max\": %s}\n",
               nthreads, kernels, kv_name, info.weight_type, res->steps, med, p90, (long long)info.step_weight_bytes, gbs, lim, rtf,
               (double)peak_rss / 1e6, load_s, res->text_ms, codec_per_s, audio_s, first_ms, kv_bytes, lim_kv, frac,
               frac_kv, step_ms, mm_ms, sa_ms, ca_ms, gbs_b, gbs_a, huge_s, no_mmap ? "true" : "false",
               times.n_samples, gbs_lo, gbs_hi);
    }
    free(dt);
    free(times.t_start);
    free(times.t_end);
    mg_result_free(res);
    mg_context_free(ctx);
    mg_model_free(m);
    return 0;
}
