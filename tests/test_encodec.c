/* test_encodec.c — EnCodec against the reference's golden tensors, for both fixtures
 * (tiny-mono, tiny-stereo; their codec is mono): weight-norm folding, every encoder
 * and decoder stage, RVQ codes, decoded audio of the generation goldens (gen, uncond,
 * cont, stereo split into left/right), the encoded continuation prompt; then
 * properties the goldens cannot show: chunked == whole-signal and 1 thread == 2
 * threads (bit-identical), short and ragged inputs, bad codes rejected cleanly, the
 * public mg_encode_audio / mg_decode_codes on the same goldens, and the encoder packed
 * at its first use (two threads encoding at once on a fresh codec).
 *
 * Configs unlike the fixtures (no reference output exists for them here): random-weight
 * codecs with two residual layers (dilation 3 and 1), odd kernels and ratios, 1 to 3
 * LSTM layers, zero / replicate padding, causal convolutions (trim_right_ratio 1 and
 * 0.5), 1x1 shortcuts, checked for the same invariants, and their
 * dilated / strided / transposed convolutions against a direct double-precision
 * evaluation of the reference's formulas (test-side, independent of seanet.c). */
#include "test.h"

#include "base/pool.h"
#include "base/rng.h"
#include "codec/encodec.h"
#include "codec/seanet.h"
#include "io/checkpoint.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define AUDIO_TOL 1e-4

static void compare_cm(const char *name, const float *time_major, const mg_tensor *golden, int64_t C, int64_t T,
                       int64_t T_golden, double tol) {
    /* compares the first T columns of golden [1, C, T_golden] */
    float *want = malloc((size_t)(C * T) * sizeof(float));
    const float *g = golden->data;
    for (int64_t c = 0; c < C; c++)
        for (int64_t t = 0; t < T; t++)
            want[t * C + c] = g[c * T_golden + t];
    test_compare_f32(name, time_major, want, C * T, tol);
    free(want);
}

static int same_bits(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof(float)) == 0; }

/* Decode codes [K][T] laid out as the decoder emits them (stereo: interleaved levels)
 * into audio [ch][T * hop]. */
static void decode_layout(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int K, int T, int ch,
                          float *audio) {
    int nq = K / ch, hop = mg_encodec_hop(c);
    int64_t *rows = malloc((size_t)(nq * T) * sizeof(int64_t));
    for (int k = 0; k < ch; k++) {
        for (int j = 0; j < nq; j++)
            memcpy(rows + (int64_t)j * T, codes + (int64_t)(j * ch + k) * T, (size_t)T * sizeof(int64_t));
        CHECK_OK(mg_encodec_decode(c, pool, rows, nq, T, audio + (int64_t)k * T * hop));
    }
    free(rows);
}

static void test_stages(const mg_encodec *codec, mg_store *weights, test_golden *g, mg_pool *pool) {
    const mg_encodec_config *cfg = mg_encodec_get_config(codec);
    const int F = cfg->num_filters, Hd = cfg->hidden_size, C = F << cfg->n_ratios;
    const int nq_golden = (int)test_golden_get(g, "encodec.codes")->shape[1];

    /* weight norm folded as the reference folds it */
    const mg_tensor *wf = test_golden_get(g, "encodec.enc_conv0_weight_folded");
    const float *w;
    CHECK_OK(mg_store_get_weight_norm(weights, "audio_encoder.encoder.layers.0.conv", 3, wf->shape, &w));
    test_compare_f32("encodec.enc_conv0_weight_folded", w, wf->data, mg_tensor_numel(wf), 1e-6);

    /* encoder, stage by stage */
    const mg_tensor *in = test_golden_get(g, "encodec.input");
    int64_t n = in->shape[2];
    mg_encodec_trace tr;
    memset(&tr, 0, sizeof tr);
    tr.want = 1;
    int64_t *codes = NULL;
    int T = 0;
    CHECK_OK(mg_encodec_encode_traced(codec, pool, in->data, n, nq_golden, &codes, &T, &tr));
    const mg_tensor *gc = test_golden_get(g, "encodec.codes");
    CHECK(T == gc->shape[2], "frames %d, golden %lld", T, (long long)gc->shape[2]);
    if (!codes || T != gc->shape[2]) {
        mg_encodec_trace_free(&tr);
        free(codes);
        return;
    }
    const mg_tensor *c0 = test_golden_get(g, "encodec.enc_conv0_out_first4000");
    compare_cm("encodec.enc_conv0_out_first4000", tr.enc_conv0, c0, F, c0->shape[2], c0->shape[2], 1e-5);
    compare_cm("encodec.enc_lstm_out", tr.enc_lstm, test_golden_get(g, "encodec.enc_lstm_out"), C, T, T, 1e-4);
    compare_cm("encodec.encoder_out", tr.encoder_out, test_golden_get(g, "encodec.encoder_out"), Hd, T, T, 1e-4);
    test_compare_i64("encodec.codes", codes, gc->data, (int64_t)nq_golden * T);
    mg_encodec_trace_free(&tr);

    /* decoder, stage by stage, from the golden codes */
    float *audio = malloc((size_t)T * (size_t)cfg->hop_length * sizeof(float));
    tr.want = 1;
    CHECK_OK(mg_encodec_decode_traced(codec, pool, gc->data, nq_golden, T, audio, &tr));
    compare_cm("encodec.quantized_emb", tr.quantized, test_golden_get(g, "encodec.quantized_emb"), cfg->codebook_dim, T,
               T, 1e-6);
    compare_cm("encodec.dec_conv0_out", tr.dec_conv0, test_golden_get(g, "encodec.dec_conv0_out"), C, T, T, 1e-4);
    compare_cm("encodec.dec_lstm_out", tr.dec_lstm, test_golden_get(g, "encodec.dec_lstm_out"), C, T, T, 1e-4);
    const mg_tensor *ga = test_golden_get(g, "encodec.decoded_audio");
    CHECK(ga->shape[2] == (int64_t)T * cfg->hop_length, "decoded length");
    test_compare_f32("encodec.decoded_audio", audio, ga->data, ga->shape[2], AUDIO_TOL);
    mg_encodec_trace_free(&tr);
    free(audio);
    free(codes);
}

/* gen.codes -> gen.audio (mono), gen.codes_left/right -> channels (stereo);
 * uncond.codes -> uncond.audio and cont.codes -> cont.audio in the decoder layout. */
static void test_generation_audio(const mg_encodec *codec, test_golden *g, mg_pool *pool, int stereo) {
    const int hop = mg_encodec_hop(codec);
    const mg_tensor *ga = test_golden_get(g, "gen.audio");
    int B = (int)ga->shape[0], ch = (int)ga->shape[1];
    int64_t N = ga->shape[2];
    const char *srcs[2] = {stereo ? "gen.codes_left" : "gen.codes", "gen.codes_right"};
    for (int k = 0; k < ch; k++) {
        const mg_tensor *gc = test_golden_get(g, srcs[k]);
        int nq = (int)gc->shape[1], T = (int)gc->shape[2];
        CHECK(N == (int64_t)T * hop, "gen.audio length");
        float *audio = malloc((size_t)N * sizeof(float));
        for (int b = 0; b < B; b++) {
            CHECK_OK(mg_encodec_decode(codec, pool, (const int64_t *)gc->data + (int64_t)b * nq * T, nq, T, audio));
            char name[64];
            snprintf(name, sizeof name, "gen.audio[%d] %s", b, ch == 2 ? (k ? "right" : "left") : "");
            test_compare_f32(name, audio, (const float *)ga->data + ((int64_t)b * ch + k) * N, N, AUDIO_TOL);
        }
        free(audio);
    }
    const char *pairs[2][2] = {{"uncond.codes", "uncond.audio"}, {"cont.codes", "cont.audio"}};
    for (int p = 0; p < 2; p++) {
        const mg_tensor *gc = test_golden_get(g, pairs[p][0]), *gw = test_golden_get(g, pairs[p][1]);
        int K = (int)gc->shape[1], T = (int)gc->shape[2];
        int och = (int)gw->shape[1];
        CHECK(och == (stereo ? 2 : 1) && gw->shape[2] == (int64_t)T * hop, "%s shape", pairs[p][1]);
        float *audio = malloc((size_t)(och * T * hop) * sizeof(float));
        decode_layout(codec, pool, gc->data, K, T, och, audio);
        test_compare_f32(pairs[p][1], audio, gw->data, (int64_t)och * T * hop, AUDIO_TOL);
        free(audio);
    }
}

/* cont.input_values -> the first P frames of cont.codes (the encoded prompt). */
static void test_prompt_encoding(const mg_encodec *codec, test_golden *g, mg_pool *pool) {
    const mg_tensor *iv = test_golden_get(g, "cont.input_values"), *gc = test_golden_get(g, "cont.codes");
    int ch = (int)iv->shape[1], K = (int)gc->shape[1], Tg = (int)gc->shape[2];
    int64_t n = iv->shape[2];
    int nq = K / ch;
    int P = (int)mg_encodec_frames_for(codec, n);
    CHECK(P == (n + mg_encodec_hop(codec) - 1) / mg_encodec_hop(codec) && P <= Tg, "prompt frames %d", P);
    int64_t *got = calloc((size_t)(K * P), sizeof(int64_t)), *want = calloc((size_t)(K * P), sizeof(int64_t));
    for (int k = 0; k < ch; k++) {
        int64_t *codes;
        int T;
        CHECK_OK(mg_encodec_encode(codec, pool, (const float *)iv->data + (int64_t)k * n, n, nq, &codes, &T));
        if (T != P) {
            CHECK(T == P, "encoded %d frames, expected %d", T, P);
            free(codes);
            continue;
        }
        for (int j = 0; j < nq; j++)
            memcpy(got + (int64_t)(j * ch + k) * P, codes + (int64_t)j * P, (size_t)P * sizeof(int64_t));
        free(codes);
    }
    for (int r = 0; r < K; r++)
        memcpy(want + (int64_t)r * P, (const int64_t *)gc->data + (int64_t)r * Tg, (size_t)P * sizeof(int64_t));
    test_compare_i64("cont.codes[:, :, :P] (encoded prompt)", got, want, (int64_t)K * P);
    free(got);
    free(want);
}

/* Chunked and single-threaded evaluation give the same bits as the default. */
static void test_invariance(mg_encodec *codec, test_golden *g, mg_pool *pool2, mg_pool *pool1) {
    const mg_tensor *gc = test_golden_get(g, "encodec.codes"), *in = test_golden_get(g, "encodec.input");
    int nq = (int)gc->shape[1], T = (int)gc->shape[2], hop = mg_encodec_hop(codec);
    int64_t N = (int64_t)T * hop;
    float *ref = malloc((size_t)N * sizeof(float)), *alt = malloc((size_t)N * sizeof(float));
    CHECK_OK(mg_encodec_decode(codec, pool2, gc->data, nq, T, ref));
    CHECK_OK(mg_encodec_decode(codec, pool1, gc->data, nq, T, alt));
    CHECK(same_bits(ref, alt, N), "decode: 1 thread differs from 2 threads");
    const int chunks[] = {1, 3, 7};
    for (int i = 0; i < 3; i++) {
        mg_encodec_set_chunk_frames(codec, chunks[i]);
        CHECK_OK(mg_encodec_decode(codec, pool2, gc->data, nq, T, alt));
        CHECK(same_bits(ref, alt, N), "decode in chunks of %d frames differs from whole", chunks[i]);
    }
    mg_encodec_set_chunk_frames(codec, 0);
    /* encoder embeddings, bitwise */
    float *e_ref, *e_alt;
    int64_t T1, T2;
    CHECK_OK(mg_encodec_encoder_forward(codec, pool2, in->data, in->shape[2], &e_ref, &T1, NULL));
    mg_encodec_set_chunk_frames(codec, 3);
    CHECK_OK(mg_encodec_encoder_forward(codec, pool1, in->data, in->shape[2], &e_alt, &T2, NULL));
    mg_encodec_set_chunk_frames(codec, 0);
    CHECK(T1 == T2 && same_bits(e_ref, e_alt, T1 * mg_encodec_get_config(codec)->hidden_size),
          "encoder: chunks of 3 frames on 1 thread differ from the default");
    free(e_ref);
    free(e_alt);
    free(ref);
    free(alt);
}

static int all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* Short and ragged inputs: 1..3 frames, lengths that are not multiples of the hop. */
static void test_short_inputs(const mg_encodec *codec, mg_pool *pool) {
    const int hop = mg_encodec_hop(codec);
    const mg_encodec_config *cfg = mg_encodec_get_config(codec);
    const int64_t lens[] = {1, 2, 3, 7, hop - 1, hop, hop + 1, 2 * hop - 3, 3 * hop, 3 * hop + 5};
    float *x = malloc((size_t)(4 * hop) * sizeof(float));
    for (int i = 0; i < 4 * hop; i++)
        x[i] = 0.5f * sinf(0.01f * (float)i) + 0.1f * cosf(0.37f * (float)i);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        int64_t *codes = NULL;
        int T = 0;
        mg_status st = mg_encodec_encode(codec, pool, x, lens[i], 0, &codes, &T);
        CHECK(st == MG_OK, "encode %lld samples: %s", (long long)lens[i], mg_last_error());
        if (st != MG_OK)
            continue;
        CHECK(T == (lens[i] + hop - 1) / hop, "encode %lld samples gave %d frames", (long long)lens[i], T);
        int bad = 0;
        for (int64_t k = 0; k < (int64_t)cfg->n_codes * T; k++)
            bad += codes[k] < 0 || codes[k] >= cfg->codebook_size;
        CHECK(!bad, "encode %lld samples: codes out of range", (long long)lens[i]);
        float *audio = malloc((size_t)T * (size_t)hop * sizeof(float));
        CHECK_OK(mg_encodec_decode(codec, pool, codes, cfg->n_codes, T, audio));
        CHECK(all_finite(audio, (int64_t)T * hop), "decode of %d frames not finite", T);
        free(audio);
        free(codes);
    }
    free(x);
    /* 1, 2, 3 frames of arbitrary codes, with fewer levels than the codec has */
    int64_t codes[3 * 64];
    for (int i = 0; i < 3 * 64; i++)
        codes[i] = (i * 37 + 11) % cfg->codebook_size;
    float *audio = malloc((size_t)(3 * hop) * sizeof(float));
    for (int T = 1; T <= 3; T++)
        for (int nq = 1; nq <= cfg->num_quantizers && nq <= 64; nq++) {
            mg_status st = mg_encodec_decode(codec, pool, codes, nq, T, audio);
            CHECK(st == MG_OK && all_finite(audio, (int64_t)T * hop), "decode %d frames x %d levels: %s", T, nq,
                  mg_last_error());
        }
    free(audio);
}

static void test_bad_codes(const mg_encodec *codec, mg_pool *pool) {
    const mg_encodec_config *cfg = mg_encodec_get_config(codec);
    const int hop = mg_encodec_hop(codec), nq = cfg->n_codes, T = 4;
    int64_t codes[64 * 4];
    float *audio = malloc((size_t)(T * hop) * sizeof(float));
    const int64_t bad_values[] = {-1, cfg->codebook_size, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < 4; i++) {
        for (int k = 0; k < nq * T; k++)
            codes[k] = k % cfg->codebook_size;
        codes[nq * T - 2] = bad_values[i];
        mg_status st = mg_encodec_decode(codec, pool, codes, nq, T, audio);
        CHECK(st == MG_ERR_INVALID_ARG && strstr(mg_last_error(), "outside the codebook"),
              "code %lld accepted (%s)", (long long)bad_values[i], mg_last_error());
    }
    for (int k = 0; k < nq * T; k++)
        codes[k] = 0;
    CHECK(mg_encodec_decode(codec, pool, codes, 0, T, audio) == MG_ERR_INVALID_ARG, "0 levels accepted");
    CHECK(mg_encodec_decode(codec, pool, codes, cfg->num_quantizers + 1, T, audio) == MG_ERR_INVALID_ARG,
          "too many levels accepted");
    CHECK(mg_encodec_decode(codec, pool, codes, nq, 0, audio) == MG_ERR_INVALID_ARG, "0 frames accepted");
    int64_t *out;
    int n;
    CHECK(mg_encodec_encode(codec, pool, audio, 0, 0, &out, &n) == MG_ERR_INVALID_ARG, "empty audio accepted");
    CHECK(mg_encodec_encode(codec, pool, audio, hop, cfg->num_quantizers + 1, &out, &n) == MG_ERR_INVALID_ARG,
          "too many levels accepted by encode");
    free(audio);
}

/* The public API: mg_decode_codes / mg_encode_audio on a loaded model. */
static void test_public_api(const char *fixture, test_golden *g) {
    mg_model_params mp = mg_model_default_params();
    mp.offline = 1;
    mg_model *m = NULL;
    mg_status st = mg_model_load(test_ref_path(fixture), &mp, &m);
    CHECK(st == MG_OK, "mg_model_load(%s): %s", fixture, mg_last_error());
    if (st != MG_OK)
        return;
    mg_context_params cp = mg_context_default_params();
    cp.n_threads = 2;
    mg_context *ctx;
    CHECK_OK(mg_context_new(m, &cp, &ctx));
    mg_model_info info;
    mg_model_get_info(m, &info);
    const mg_tensor *gc = test_golden_get(g, "cont.codes"), *ga = test_golden_get(g, "cont.audio");
    int K = (int)gc->shape[1], T = (int)gc->shape[2], ch = (int)ga->shape[1];
    int64_t N = ga->shape[2];
    float *pcm = NULL;
    int64_t ns = 0;
    int och = 0;
    CHECK_OK(mg_decode_codes(ctx, gc->data, K, T, &pcm, &ns, &och));
    if (pcm) {
        CHECK(och == ch && ns == N, "mg_decode_codes: %d ch x %lld", och, (long long)ns);
        float *want = malloc((size_t)(N * ch) * sizeof(float));
        for (int64_t i = 0; i < N; i++)
            for (int c = 0; c < ch; c++)
                want[i * ch + c] = ((const float *)ga->data)[c * N + i];
        test_compare_f32("mg_decode_codes(cont.codes) interleaved", pcm, want, N * ch, AUDIO_TOL);
        free(want);
        mg_free(pcm);
    }
    /* encode the prompt (interleaved PCM) */
    const mg_tensor *iv = test_golden_get(g, "cont.input_values");
    int64_t n = iv->shape[2];
    float *x = malloc((size_t)(n * ch) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < ch; c++)
            x[i * ch + c] = ((const float *)iv->data)[c * n + i];
    int64_t *codes = NULL;
    int Kc = 0, P = 0;
    CHECK_OK(mg_encode_audio(ctx, x, n, ch, info.sample_rate, &codes, &Kc, &P));
    if (codes) {
        CHECK(Kc == K && P <= T, "mg_encode_audio: %d codebooks x %d frames", Kc, P);
        int64_t *want = malloc((size_t)(K * P) * sizeof(int64_t));
        for (int r = 0; r < K; r++)
            memcpy(want + (int64_t)r * P, (const int64_t *)gc->data + (int64_t)r * T, (size_t)P * sizeof(int64_t));
        test_compare_i64("mg_encode_audio(cont.input_values)", codes, want, (int64_t)K * P);
        free(want);
        mg_free(codes);
    }
    /* a stereo model fed mono duplicates it; a mono model fed stereo averages */
    if (ch == 2) {
        CHECK_OK(mg_encode_audio(ctx, iv->data, n, 1, info.sample_rate, &codes, &Kc, &P));
        int same = codes != NULL;
        for (int j = 0; codes && j < K / 2; j++)
            same &= !memcmp(codes + (int64_t)(2 * j) * P, codes + (int64_t)(2 * j + 1) * P, (size_t)P * 8);
        CHECK(same, "mono input to a stereo model: left and right codes differ");
        mg_free(codes);
    }
    /* bad codes through the public API */
    int64_t *bad = malloc((size_t)(K * T) * sizeof(int64_t));
    memcpy(bad, gc->data, (size_t)(K * T) * sizeof(int64_t));
    bad[(int64_t)(K - 1) * T + 3] = 1 << 20;
    pcm = NULL;
    st = mg_decode_codes(ctx, bad, K, T, &pcm, &ns, &och);
    CHECK(st == MG_ERR_INVALID_ARG && pcm == NULL, "mg_decode_codes accepted code 2^20");
    CHECK(mg_decode_codes(ctx, bad, K + 1, T, &pcm, &ns, &och) == MG_ERR_INVALID_ARG, "K + 1 codebooks accepted");
    /* fewer levels per channel: valid (lower bandwidth) */
    int Kless = K - och;
    if (Kless >= och) {
        float *less = NULL;
        CHECK_OK(mg_decode_codes(ctx, gc->data, Kless, T, &less, &ns, &och));
        CHECK(less && ns == N, "decode with %d of %d codebooks", Kless, K);
        mg_free(less);
    }
    if (och == 2)
        CHECK(mg_decode_codes(ctx, gc->data, K - 1, T, &pcm, &ns, &och) == MG_ERR_INVALID_ARG &&
                  strstr(mg_last_error(), "codebooks given"),
              "stereo: an odd number of codebooks accepted");
    free(bad);
    free(x);
    mg_context_free(ctx);
    mg_model_free(m);
}

/* ---- configs unlike the fixtures --------------------------------------------------------- */

/* What a synthetic codec varies. */
typedef struct synth_case {
    int lstm_layers, pad_mode, shortcut, causal;
    double trim_right_ratio;
} synth_case;

static mg_encodec_config synthetic_config(const synth_case *sc) {
    mg_encodec_config c;
    memset(&c, 0, sizeof c);
    c.audio_channels = 1;
    c.sample_rate = 600;
    c.num_filters = 6;
    c.hidden_size = 5;
    c.codebook_size = 16;
    c.codebook_dim = 5;
    c.kernel_size = 5;
    c.last_kernel_size = 3;
    c.residual_kernel_size = 5;
    c.dilation_growth_rate = 3;
    c.num_residual_layers = 2;
    c.num_lstm_layers = sc->lstm_layers;
    c.compress = 3;
    c.upsampling_ratios[0] = 3;
    c.upsampling_ratios[1] = 2;
    c.n_ratios = 2;
    c.pad_mode = sc->pad_mode;
    c.use_causal_conv = sc->causal;
    c.trim_right_ratio = sc->trim_right_ratio;
    c.use_conv_shortcut = sc->shortcut;
    c.weight_norm = 1;
    c.num_quantizers = 3;
    c.n_codes = 2;
    c.hop_length = 6;
    c.frame_rate = 100;
    return c;
}

/* EncodecConv1d as the reference computes it, in double: ELU (if elu), the extra
 * padding, the causal or centred split of the padding, _pad1d (zero append for short
 * inputs in reflect mode; reflect, zeros or replicate), the conv. */
static int64_t naive_conv(const float *x, int64_t L, int cin, const float *W, const float *bias, int cout, int k,
                          int stride, int dil, int pad_mode, int causal, int elu, double *y) {
    int keff = (k - 1) * dil + 1, pad_total = keff - stride;
    int reflect = pad_mode == MG_PAD_REFLECT;
    double nf = ceil((double)(L - keff + pad_total) / stride + 1) - 1;
    int64_t extra = (int64_t)nf * stride + keff - pad_total - L;
    int64_t pr = causal ? 0 : pad_total / 2, pl = pad_total - pr, right = pr + extra;
    int64_t max_pad = pl > right ? pl : right, e = (reflect && L <= max_pad) ? max_pad - L + 1 : 0;
    int64_t Lz = L + e, P = pl + Lz + right - e;
    double *pad = calloc((size_t)(P * cin), sizeof(double));
    for (int64_t p = 0; p < P; p++) {
        int64_t j = p - pl;
        if (reflect) {
            if (j < 0)
                j = -j;
            if (j >= Lz)
                j = 2 * (Lz - 1) - j;
        }
        if (pad_mode == MG_PAD_REPLICATE)
            j = j < 0 ? 0 : j >= L ? L - 1 : j;
        if (j < 0 || j >= L)
            continue;
        for (int c = 0; c < cin; c++) {
            double v = x[j * cin + c];
            pad[p * cin + c] = elu && v <= 0 ? expm1(v) : v;
        }
    }
    int64_t out = (P - keff) / stride + 1;
    for (int64_t o = 0; o < out; o++)
        for (int co = 0; co < cout; co++) {
            double acc = bias[co];
            for (int ci = 0; ci < cin; ci++)
                for (int i = 0; i < k; i++)
                    acc += (double)W[((int64_t)co * cin + ci) * k + i] * pad[(o * stride + (int64_t)i * dil) * cin + ci];
            y[o * cout + co] = acc;
        }
    free(pad);
    return out;
}

/* EncodecConvTranspose1d: full transposed conv, then trim pt = k - r: (pt)/2 at the end
 * (causal: ceil(pt * trim_right_ratio)), the rest at the start. */
static int64_t naive_convt(const float *x, int64_t L, int cin, const float *W, const float *bias, int cout, int k,
                           int r, int causal, double trim_right_ratio, double *y) {
    int64_t full = (L - 1) * r + k, pt = k - r;
    int64_t trim_r = causal ? (int64_t)ceil((double)pt * trim_right_ratio) : pt / 2, trim_l = pt - trim_r;
    double *f = calloc((size_t)(full * cout), sizeof(double));
    for (int64_t t = 0; t < L; t++)
        for (int ci = 0; ci < cin; ci++) {
            double v = x[t * cin + ci];
            v = v <= 0 ? expm1(v) : v;
            for (int co = 0; co < cout; co++)
                for (int j = 0; j < k; j++)
                    f[(t * r + j) * cout + co] += v * W[((int64_t)ci * cout + co) * k + j];
        }
    int64_t out = full - trim_l - trim_r;
    for (int64_t o = 0; o < out; o++)
        for (int co = 0; co < cout; co++)
            y[o * cout + co] = f[(o + trim_l) * cout + co] + bias[co];
    free(f);
    return out;
}

static mg_status sink_copy(void *user, const float *rows, int64_t t0, int64_t t1, int ch) {
    memcpy((float *)user + t0 * ch, rows, (size_t)((t1 - t0) * ch) * sizeof(float));
    return MG_OK;
}

/* One layer through the chunked stack runner (chunks of `chunk` rows) vs the formulas. */
static void check_layer(const char *what, ec_layer *l, mg_store *s, const char *prefix, int64_t L, int64_t chunk,
                        const mg_encodec_config *cfg, mg_pool *pool) {
    mg_rng r;
    mg_rng_seed(&r, (uint64_t)L * 31 + (uint64_t)chunk);
    int cin = ec_layer_in_ch(l), cout = ec_layer_out_ch(l);
    float *x = malloc((size_t)(L * cin) * sizeof(float));
    for (int64_t i = 0; i < L * cin; i++)
        x[i] = (float)mg_rng_normal(&r);
    int64_t out = ec_layer_out_len(l, L);
    float *got = calloc((size_t)(out * cout + 1), sizeof(float));
    double *want = calloc((size_t)((out + 64) * cout), sizeof(double));
    ec_view in = {x, 0, L, L, cin};
    ec_stack st = {l, 1};
    CHECK_OK(ec_stack_run(&st, pool, &in, chunk, sink_copy, got, NULL));
    char name[256];
    int64_t wshape[3];
    const float *W, *bias;
    snprintf(name, sizeof name, "%s.bias", prefix);
    int64_t bshape[1] = {cout};
    CHECK_OK(mg_store_get_f32(s, name, 1, bshape, &bias));
    int64_t n_want;
    if (l->kind == EC_CONV) {
        const ec_conv *c = &l->conv;
        wshape[0] = cout, wshape[1] = cin, wshape[2] = c->k;
        CHECK_OK(mg_store_get_weight_norm(s, prefix, 3, wshape, &W));
        n_want = naive_conv(x, L, cin, W, bias, cout, c->k, c->stride, c->dilation, cfg->pad_mode,
                            cfg->use_causal_conv, c->elu_in, want);
    } else {
        const ec_convt *c = &l->convt;
        wshape[0] = cin, wshape[1] = cout, wshape[2] = c->k;
        CHECK_OK(mg_store_get_weight_norm(s, prefix, 3, wshape, &W));
        n_want = naive_convt(x, L, cin, W, bias, cout, c->k, c->stride, cfg->use_causal_conv, cfg->trim_right_ratio,
                             want);
    }
    CHECK(n_want == out, "%s L=%lld: %lld output rows, the formulas give %lld", what, (long long)L, (long long)out,
          (long long)n_want);
    float *wf = malloc((size_t)(out * cout + 1) * sizeof(float));
    for (int64_t i = 0; i < out * cout; i++)
        wf[i] = (float)want[i];
    snprintf(name, sizeof name, "%s, L=%lld, chunks of %lld", what, (long long)L, (long long)chunk);
    test_compare_f32(name, got, wf, out * cout, 1e-4);
    free(wf);
    free(x);
    free(got);
    free(want);
}

static void test_layers_vs_formulas(const mg_encodec_config *cfg, mg_store *s, mg_pool *pool) {
    /* encoder layer 2 = second resnet block: its first conv has dilation 3, kernel 5 */
    const char *dil_prefix = "audio_encoder.encoder.layers.2.block.1.conv";
    int F = cfg->num_filters;
    ec_conv_spec dil = {F, F / cfg->compress, cfg->residual_kernel_size, 1, cfg->dilation_growth_rate,
                        cfg->pad_mode, 1, cfg->use_causal_conv};
    /* encoder layer 4: the first downsampling conv (kernel 2r, stride r, r = last ratio) */
    const char *down_prefix = "audio_encoder.encoder.layers.4.conv";
    int r0 = cfg->upsampling_ratios[cfg->n_ratios - 1];
    ec_conv_spec down = {F, 2 * F, 2 * r0, r0, 1, cfg->pad_mode, 1, cfg->use_causal_conv};
    ec_trim_spec trim = {cfg->use_causal_conv, cfg->trim_right_ratio};
    /* decoder layer 3: the first transposed conv (ratio upsampling_ratios[0]) */
    const char *up_prefix = "audio_encoder.decoder.layers.3.conv";
    int C = F << cfg->n_ratios, r1 = cfg->upsampling_ratios[0];
    ec_layer l;
    const int64_t lens[] = {1, 2, 3, 4, 7, 12, 29};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        int64_t chunk = lens[i] > 3 ? 2 : 0;
        memset(&l, 0, sizeof l);
        l.kind = EC_CONV;
        CHECK_OK(ec_conv_load(&l.conv, s, dil_prefix, &dil, EC_LOAD_WEIGHTS));
        check_layer("dilated conv", &l, s, dil_prefix, lens[i], chunk, cfg, pool);
        ec_layer_free(&l);
        memset(&l, 0, sizeof l);
        l.kind = EC_CONV;
        CHECK_OK(ec_conv_load(&l.conv, s, down_prefix, &down, EC_LOAD_WEIGHTS));
        check_layer("strided conv", &l, s, down_prefix, lens[i], chunk, cfg, pool);
        ec_layer_free(&l);
        memset(&l, 0, sizeof l);
        l.kind = EC_CONVT;
        CHECK_OK(ec_convt_load(&l.convt, s, up_prefix, C, C / 2, 2 * r1, r1, 1, &trim));
        check_layer("transposed conv", &l, s, up_prefix, lens[i], chunk, cfg, pool);
        ec_layer_free(&l);
    }
}

static void test_synthetic(const synth_case *sc, mg_pool *pool2, mg_pool *pool1) {
    mg_encodec_config cfg = synthetic_config(sc);
    printf("synthetic codec: %d LSTM layer%s, %s padding%s", sc->lstm_layers, sc->lstm_layers > 1 ? "s" : "",
           mg_pad_mode_name(sc->pad_mode), sc->shortcut ? ", conv shortcuts" : "");
    if (sc->causal)
        printf(", causal (trim_right_ratio %g)", sc->trim_right_ratio);
    printf(":\n");
    mg_store s;
    mg_store_init(&s);
    mg_encodec *c = NULL;
    CHECK_OK(mg_encodec_random_store(&cfg, &s, 7 + (uint64_t)sc->lstm_layers, NULL));
    CHECK_OK(mg_encodec_load(&cfg, &s, &c));
    if (!c) {
        mg_store_free(&s);
        return;
    }
    test_layers_vs_formulas(&cfg, &s, pool2);
    const int hop = cfg.hop_length;
    const int64_t lens[] = {1, 2, 5, 6, 7, 13, 37, 100};
    float x[100];
    for (int i = 0; i < 100; i++)
        x[i] = 0.4f * sinf(0.3f * (float)i) + 0.05f * (float)(i % 7);
    int ok_frames = 1, ok_range = 1, ok_finite = 1, ok_bits = 1;
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        int64_t n = lens[i];
        int64_t *codes = NULL, *codes2 = NULL;
        int T = 0, T2 = 0;
        mg_encodec_set_chunk_frames(c, 0);
        CHECK_OK(mg_encodec_encode(c, pool2, x, n, 0, &codes, &T));
        mg_encodec_set_chunk_frames(c, 1);
        CHECK_OK(mg_encodec_encode(c, pool1, x, n, 0, &codes2, &T2));
        if (!codes || !codes2) {
            free(codes);
            free(codes2);
            continue;
        }
        ok_frames &= T == (n + hop - 1) / hop && T2 == T;
        ok_bits &= !memcmp(codes, codes2, (size_t)(T * cfg.n_codes) * sizeof(int64_t));
        for (int64_t k = 0; k < (int64_t)T * cfg.n_codes; k++)
            ok_range &= codes[k] >= 0 && codes[k] < cfg.codebook_size;
        float *a = malloc((size_t)(T * hop) * sizeof(float)), *b = malloc((size_t)(T * hop) * sizeof(float));
        mg_encodec_set_chunk_frames(c, 0);
        CHECK_OK(mg_encodec_decode(c, pool2, codes, cfg.n_codes, T, a));
        mg_encodec_set_chunk_frames(c, 1);
        CHECK_OK(mg_encodec_decode(c, pool1, codes, cfg.n_codes, T, b));
        ok_bits &= same_bits(a, b, (int64_t)T * hop);
        ok_finite &= all_finite(a, (int64_t)T * hop);
        free(a);
        free(b);
        free(codes);
        free(codes2);
    }
    CHECK(ok_frames, "synthetic codec: frames != ceil(samples / hop)");
    CHECK(ok_range, "synthetic codec: codes out of range");
    CHECK(ok_finite, "synthetic codec: decoded audio not finite");
    CHECK(ok_bits, "synthetic codec: chunked / 1-thread results differ from the default");
    printf("  invariants (frames, code range, finite audio, chunk/thread bit-identity): %s\n",
           ok_frames && ok_range && ok_finite && ok_bits ? "ok" : "FAILED");
    mg_encodec_free(c);
    mg_store_free(&s);
}

/* The encoder's weights are packed at its first use, not at load: a freshly loaded
 * codec holds fewer packed bytes; two threads encoding at once on it (each with its
 * own pool, as two contexts sharing a model would) both get the golden codes; the
 * packed bytes then grow once and a second mg_encodec_prepare_encoder changes nothing. */
typedef struct {
    const mg_encodec *codec;
    const float *audio;
    int64_t n;
    int nq, T;
    int64_t *codes;
    mg_status st;
} encode_job;

static void *encode_thread(void *arg) {
    encode_job *j = arg;
    mg_pool *pool = mg_pool_new(1);
    j->st = mg_encodec_encode(j->codec, pool, j->audio, j->n, j->nq, &j->codes, &j->T);
    mg_pool_free(pool);
    return NULL;
}

static void test_lazy_encoder(const mg_encodec_config *cfg, mg_store *s, test_golden *g) {
    mg_encodec *codec = NULL;
    CHECK_OK(mg_encodec_load(cfg, s, &codec));
    if (!codec)
        return;
    const mg_tensor *in = test_golden_get(g, "encodec.input"), *gc = test_golden_get(g, "encodec.codes");
    int64_t loaded = mg_encodec_packed_bytes(codec);
    /* Not enough memory for the packed copies: a clear error before any is made, and
     * not remembered (memory may be free at the next use, as below). */
    setenv("MG_MEMORY_LIMIT", "1000", 1);
    mg_status st = mg_encodec_prepare_encoder(codec);
    unsetenv("MG_MEMORY_LIMIT");
    CHECK(st == MG_ERR_NOMEM && strstr(mg_last_error(), "packing EnCodec's encoder") &&
              strstr(mg_last_error(), "but 1000 bytes of memory is available"),
          "first encode beyond the available memory: status %d, %s", st, mg_last_error());
    CHECK(mg_encodec_packed_bytes(codec) == loaded, "nothing packed when memory is short");
    encode_job jobs[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        jobs[i] = (encode_job){codec, in->data, in->shape[2], (int)gc->shape[1], 0, NULL, MG_OK};
        CHECK(pthread_create(&th[i], NULL, encode_thread, &jobs[i]) == 0, "start encoding thread %d", i);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK(jobs[i].st == MG_OK && jobs[i].T == gc->shape[2], "thread %d encoded (status %d, %d frames)", i,
              jobs[i].st, jobs[i].T);
        if (jobs[i].st == MG_OK && jobs[i].T == gc->shape[2])
            test_compare_i64("encodec.codes (first encode, two threads at once)", jobs[i].codes, gc->data,
                             gc->shape[1] * gc->shape[2]);
        free(jobs[i].codes);
    }
    int64_t packed = mg_encodec_packed_bytes(codec);
    CHECK(loaded > 0 && packed > loaded, "encoder packed at first use: %lld bytes after load, %lld after encoding",
          (long long)loaded, (long long)packed);
    CHECK_OK(mg_encodec_prepare_encoder(codec));
    CHECK(mg_encodec_packed_bytes(codec) == packed, "a second prepare packs nothing");
    mg_encodec_free(codec);
}

/* A first encode that fails (a NaN in an encoder weight) names the tensor, gives back
 * what it converted (f16 weights become f32 copies in the store's arena) and is
 * remembered: the next encode fails at once with the same message, using no memory. */
static void test_encoder_failure(mg_pool *pool) {
    synth_case sc = {1, MG_PAD_REFLECT, 0, 0, 1.0};
    mg_encodec_config cfg = synthetic_config(&sc);
    mg_store s;
    mg_store_init(&s);
    CHECK_OK(mg_encodec_random_store(&cfg, &s, 11, NULL));
    /* The LSTM's input weights as f16 (converted at use), and a NaN in the last conv. */
    mg_store_entry *lstm = mg_store_find(&s, "audio_encoder.encoder.layers.9.lstm.weight_ih_l0");
    mg_store_entry *bad = mg_store_find(&s, "audio_encoder.encoder.layers.11.conv.weight_v");
    CHECK(lstm && bad, "encoder tensors by name");
    if (!lstm || !bad) {
        mg_store_free(&s);
        return;
    }
    int64_t n = mg_tensor_numel(&lstm->t);
    uint16_t *h = mg_arena_alloc(&s.arena, (size_t)n * sizeof(uint16_t));
    for (int64_t i = 0; i < n; i++)
        h[i] = mg_f32_to_f16(((const float *)lstm->t.data)[i]);
    lstm->t.data = h;
    lstm->t.dtype = MG_DT_F16;
    lstm->t.nbytes = (size_t)n * sizeof(uint16_t);
    ((float *)bad->t.data)[3] = NAN;
    mg_encodec *c = NULL;
    CHECK_OK(mg_encodec_load(&cfg, &s, &c)); /* only shapes are checked at load */
    if (c) {
        float x[640];
        for (int i = 0; i < 640; i++)
            x[i] = 0.1f * sinf(0.05f * (float)i);
        size_t arena = s.arena.used_total;
        for (int attempt = 0; attempt < 3; attempt++) {
            int64_t *codes = NULL;
            int T = 0;
            mg_status st = mg_encodec_encode(c, pool, x, 640, 0, &codes, &T);
            CHECK(st == MG_ERR_FORMAT && codes == NULL, "encode %d with a NaN weight: status %d", attempt, st);
            CHECK(strstr(mg_last_error(), "layers.11.conv.weight_v") && strstr(mg_last_error(), "non-finite"),
                  "encode %d names the tensor: %s", attempt, mg_last_error());
            CHECK(s.arena.used_total == arena, "encode %d: the store's arena is back to %zu bytes (%zu)", attempt,
                  arena, s.arena.used_total);
        }
        mg_encodec_free(c);
    }
    mg_store_free(&s);
}

static void test_fixture(const char *fixture) {
    test_golden g;
    mg_checkpoint ck;
    if (!test_fixture_open(fixture, &g, &ck))
        return;
    mg_encodec *codec = NULL;
    CHECK_OK(mg_encodec_load(&ck.cfg.codec, &ck.store, &codec));
    if (codec) {
        mg_pool *pool2 = mg_pool_new(2), *pool1 = mg_pool_new(1);
        int stereo = ck.cfg.dec.audio_channels == 2;
        test_stages(codec, &ck.store, &g, pool2);
        test_generation_audio(codec, &g, pool2, stereo);
        test_prompt_encoding(codec, &g, pool2);
        test_invariance(codec, &g, pool2, pool1);
        test_short_inputs(codec, pool2);
        test_bad_codes(codec, pool2);
        test_public_api(fixture, &g);
        test_lazy_encoder(&ck.cfg.codec, &ck.store, &g);
        mg_pool_free(pool1);
        mg_pool_free(pool2);
    }
    mg_encodec_free(codec);
    test_fixture_close(&g, &ck);
}

int main(void) {
    test_fixture("tiny-mono");
    test_fixture("tiny-stereo");
    mg_pool *pool2 = mg_pool_new(2), *pool1 = mg_pool_new(1);
    static const synth_case cases[] = {
        {1, MG_PAD_REFLECT, 0, 0, 1.0},   {3, MG_PAD_CONSTANT, 1, 0, 1.0},  {2, MG_PAD_REPLICATE, 0, 0, 1.0},
        {1, MG_PAD_REFLECT, 0, 1, 1.0},   {2, MG_PAD_REPLICATE, 1, 1, 0.5}, {1, MG_PAD_CONSTANT, 0, 1, 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        test_synthetic(&cases[i], pool2, pool1);
    test_encoder_failure(pool2);
    mg_pool_free(pool1);
    mg_pool_free(pool2);
    return test_finish("test_encodec");
}
