/* bench_codec.c — speed of the EnCodec decoder and encoder on a full-size codec.
 *
 * Builds a random-weight EnCodec in memory with the shapes of musicgen-small's codec
 * (num_filters 64, hidden 128, ratios [8,5,4,4], 2 LSTM layers of 1024, 4 x 2048
 * codebooks) — or of the codec in MODEL_DIR/config.json with -m — and times decoding
 * and encoding of S seconds of audio per thread count, with the time per stage
 * (frame-rate convs, LSTM, audio-rate conv stack, quantizer) and the peak RSS.
 *
 *   bench_codec [-m MODEL_DIR] [-s SECONDS] [-t THREADS[,THREADS...]] [-r REPEATS] [-c CHUNK_FRAMES]
 *
 * -c sets the frames per chunk of the audio-rate convolution stacks (default: automatic).
 *
 * Random weights cost the same as real ones (no data-dependent work). Wall-clock on a
 * possibly shared machine: the best of the repeats is printed, with the process CPU
 * time (all threads) next to it — with one thread, CPU time is the figure other
 * processes do not disturb. */
#include "base/pool.h"
#include "base/rng.h"
#include "base/timing.h"
#include "codec/encodec.h"
#include "io/checkpoint.h"
#include "tensor/matmul.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static mg_encodec_config small_codec_config(void) {
    mg_encodec_config c;
    memset(&c, 0, sizeof c);
    c.audio_channels = 1;
    c.sample_rate = 32000;
    c.num_filters = 64;
    c.hidden_size = 128;
    c.codebook_size = 2048;
    c.codebook_dim = 128;
    c.kernel_size = 7;
    c.last_kernel_size = 7;
    c.residual_kernel_size = 3;
    c.dilation_growth_rate = 2;
    c.num_residual_layers = 1;
    c.num_lstm_layers = 2;
    c.compress = 2;
    int r[4] = {8, 5, 4, 4};
    memcpy(c.upsampling_ratios, r, sizeof r);
    c.n_ratios = 4;
    c.pad_mode = MG_PAD_REFLECT;
    c.weight_norm = 1;
    c.target_bandwidth = 2.2f;
    c.max_bandwidth = 2.2f;
    c.num_quantizers = 4;
    c.n_codes = 4;
    c.hop_length = 640;
    c.frame_rate = 50;
    return c;
}

/* ---- timing ------------------------------------------------------------------------------ */

/* CPU seconds of the whole process (all threads): on a shared machine the wall clock
 * includes time other processes took; CPU time does not. */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_codec [-m MODEL_DIR] [-s SECONDS] [-t THREADS[,THREADS...]] [-r REPEATS] "
                    "[-c CHUNK_FRAMES]\n");
}

int main(int argc, char **argv) {
    const char *model = NULL, *threads = "1,2";
    double seconds = 10;
    int repeats = 2, chunk = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = argv[++i];
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-c") && i + 1 < argc)
            chunk = atoi(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    if (seconds <= 0 || repeats < 1) {
        usage();
        return 2;
    }
    mg_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    mg_encodec_config cfg = small_codec_config();
    if (model) {
        if (mg_checkpoint_open(model, &ck) != MG_OK) {
            fprintf(stderr, "bench_codec: %s\n", mg_last_error());
            return 1;
        }
        cfg = ck.cfg.codec;
    }
    mg_store store;
    mg_store_init(&store);
    int64_t n_params = 0;
    if (mg_encodec_random_store(&cfg, &store, 1234, &n_params) != MG_OK) {
        fprintf(stderr, "bench_codec: building the random codec failed: %s\n", mg_last_error());
        return 1;
    }
    mg_rng rng;
    mg_rng_seed(&rng, 99);
    double t0 = mg_time_now();
    mg_encodec *codec;
    if (mg_encodec_load(&cfg, &store, &codec) != MG_OK) {
        fprintf(stderr, "bench_codec: %s\n", mg_last_error());
        return 1;
    }
    double t_load = mg_time_now() - t0;
    /* The encoder is packed at its first use; here up front, so the encode timings
     * below do not include it. */
    t0 = mg_time_now();
    if (mg_encodec_prepare_encoder(codec) != MG_OK) {
        fprintf(stderr, "bench_codec: %s\n", mg_last_error());
        return 1;
    }
    double t_encoder = mg_time_now() - t0;
    mg_encodec_set_chunk_frames(codec, chunk);
    const int hop = cfg.hop_length;
    int T = (int)ceil(seconds * cfg.sample_rate / hop);
    double audio_s = (double)T * hop / cfg.sample_rate;
    printf("EnCodec: num_filters %d, hidden %d, LSTM %d x %d, ratios", cfg.num_filters, cfg.hidden_size,
           cfg.num_lstm_layers, cfg.num_filters << cfg.n_ratios);
    for (int i = 0; i < cfg.n_ratios; i++)
        printf(" %d", cfg.upsampling_ratios[i]);
    printf(", %d x %d codebooks; %.1f M params\n", cfg.num_quantizers, cfg.codebook_size, (double)n_params / 1e6);
    printf("kernels: %s; load (fold + pack) %.2f s + encoder at first use %.2f s, packed copies %.1f MB\n",
           mg_isa_name(mg_isa_active()), t_load, t_encoder, (double)mg_encodec_packed_bytes(codec) / 1e6);
    printf("audio: %d frames = %.2f s\n\n", T, audio_s);

    int64_t *codes = malloc((size_t)T * (size_t)cfg.n_codes * sizeof(int64_t));
    float *audio = malloc((size_t)T * (size_t)hop * sizeof(float));
    for (int64_t i = 0; i < (int64_t)T * cfg.n_codes; i++)
        codes[i] = (int64_t)(mg_rng_next(&rng) % (uint64_t)cfg.codebook_size);
    for (const char *p = threads; *p;) {
        int nt = atoi(p);
        mg_pool *pool = mg_pool_new(nt);
        double best = 1e30, best_enc = 1e30, cpu_dec = 1e30, cpu_enc = 1e30;
        mg_encodec_trace tr, best_tr, tre, best_tre;
        memset(&tr, 0, sizeof tr);
        memset(&tre, 0, sizeof tre);
        memset(&best_tr, 0, sizeof best_tr);
        memset(&best_tre, 0, sizeof best_tre);
        for (int r = 0; r < repeats; r++) {
            double a = mg_time_now(), ca = cpu_now();
            if (mg_encodec_decode_traced(codec, pool, codes, cfg.n_codes, T, audio, &tr) != MG_OK) {
                fprintf(stderr, "bench_codec: decode: %s\n", mg_last_error());
                return 1;
            }
            double d = mg_time_now() - a;
            if (cpu_now() - ca < cpu_dec)
                cpu_dec = cpu_now() - ca;
            if (d < best) {
                best = d;
                best_tr = tr;
            }
        }
        /* Encode the decoded audio scaled to an RMS of 0.1 (music-like levels). */
        double ss = 0;
        for (int64_t i = 0; i < (int64_t)T * hop; i++)
            ss += (double)audio[i] * audio[i];
        float gain = ss > 0 ? (float)(0.1 / sqrt(ss / ((double)T * hop))) : 1.0f;
        for (int64_t i = 0; i < (int64_t)T * hop; i++)
            audio[i] *= gain;
        for (int r = 0; r < repeats; r++) {
            int64_t *enc;
            int Te;
            double a = mg_time_now(), ca = cpu_now();
            if (mg_encodec_encode_traced(codec, pool, audio, (int64_t)T * hop, 0, &enc, &Te, &tre) != MG_OK) {
                fprintf(stderr, "bench_codec: encode: %s\n", mg_last_error());
                return 1;
            }
            double d = mg_time_now() - a;
            if (cpu_now() - ca < cpu_enc)
                cpu_enc = cpu_now() - ca;
            free(enc);
            if (d < best_enc) {
                best_enc = d;
                best_tre = tre;
            }
        }
        printf("%d thread%s: decode %7.1f ms = %6.1f ms per audio second  (frame convs %.0f, LSTM %.0f, "
               "conv stack %.0f ms; CPU %.0f ms)\n", nt, nt > 1 ? "s" : " ", best * 1e3, best * 1e3 / audio_s,
               best_tr.sec_frame_convs * 1e3, best_tr.sec_lstm * 1e3, best_tr.sec_convs * 1e3, cpu_dec * 1e3);
        printf("%d thread%s: encode %7.1f ms = %6.1f ms per audio second  (conv stack %.0f, LSTM %.0f, "
               "frame convs %.0f, RVQ %.0f ms; CPU %.0f ms)\n", nt, nt > 1 ? "s" : " ", best_enc * 1e3,
               best_enc * 1e3 / audio_s, best_tre.sec_convs * 1e3, best_tre.sec_lstm * 1e3,
               best_tre.sec_frame_convs * 1e3, best_tre.sec_rvq * 1e3, cpu_enc * 1e3);
        mg_pool_free(pool);
        while (*p && *p != ',')
            p++;
        if (*p == ',')
            p++;
    }
    printf("\npeak RSS %.0f MB (weights %.0f MB f32 + packed copies + activations)\n",
           (double)mg_peak_rss_bytes() / 1e6, (double)n_params * 4 / 1e6);
    free(codes);
    free(audio);
    mg_encodec_free(codec);
    mg_store_free(&store);
    if (model)
        mg_checkpoint_close(&ck);
    return 0;
}
