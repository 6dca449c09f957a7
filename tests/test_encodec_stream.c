/* test_encodec_stream.c — the streaming EnCodec decoder (mg_encodec_stream_*) against
 * the one-shot decoder and the reference's golden audio, for both fixtures (tiny-mono,
 * tiny-stereo: encodec.codes, gen.codes, cont.codes, stereo split into left/right) and
 * for random-weight codecs of other shapes (odd and even kernels, ratios, dilations,
 * 1-3 LSTM layers, zero padding, 1x1 shortcuts):
 *  - every push pattern (1, 2, 3, 7, 25 frames, random sizes with empty pushes, all at
 *    once), also with batching (mg_encodec_stream_set_batch 3, 8, and groups growing
 *    from 2 to 16 frames), gives exactly (bit for bit) the one-shot decode, and the
 *    golden audio;
 *  - latency: after n frames, the samples of frames < n - lookahead are out;
 *  - streams of 1, 2, 3 frames; empty pushes; finish without frames; pushing or
 *    finishing after finish is an error; bad codes are refused and leave the stream
 *    usable; 1 thread == 2 threads; held memory does not grow with the length;
 *  - mg_encodec_decode of long inputs (which goes through the stream) == one-shot;
 *  - mg_store_fold_weight_norm (the loaders' fold into a temporary) == the reference's
 *    folded weight and == mg_store_get_weight_norm. */
#include "test.h"

#include "base/pool.h"
#include "base/rng.h"
#include "codec/encodec.h"
#include "io/checkpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AUDIO_TOL 1e-4

/* One channel's codes [nq][T] and, if the reference decoded them, its audio [T * hop]. */
typedef struct code_seq {
    char name[64];
    int64_t *codes;
    int nq, T;
    const float *golden;
} code_seq;

/* Push patterns: a fixed size, or (size 0) seeded random sizes 0..9. */
static const int patterns[] = {1, 2, 3, 7, 25, 0, 1 << 30};
#define N_PATTERNS ((int)(sizeof patterns / sizeof patterns[0]))

static int next_push(int pattern, mg_rng *r) {
    if (pattern > 0)
        return pattern;
    return (int)(mg_rng_next(r) % 10); /* includes empty pushes */
}

/* The one-shot decoder, whatever mg_encodec_decode does for long inputs: a traced call
 * always runs the whole signal in one piece. */
static void decode_one_shot(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int nq, int T, float *audio) {
    mg_encodec_trace tr;
    memset(&tr, 0, sizeof tr);
    CHECK_OK(mg_encodec_decode_traced(c, pool, codes, nq, T, audio, &tr));
    mg_encodec_trace_free(&tr);
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = a[i] > b[i] ? (double)a[i] - b[i] : (double)b[i] - a[i];
        if (d > m || d != d)
            m = d;
    }
    return m;
}

/* Stream codes [nq][T] in pushes of the pattern into audio [T * hop]; checks the
 * latency promise after every push. Returns the samples produced. */
static int64_t stream_decode(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int nq, int T, int pattern,
                             int batch, int batch_max, uint64_t seed, float *audio, int *latency_ok) {
    const int hop = mg_encodec_hop(c);
    mg_encodec_stream *s = NULL;
    CHECK_OK(mg_encodec_stream_new(c, nq, &s));
    if (!s)
        return -1;
    int D0 = mg_encodec_stream_lookahead(s);
    if (batch_max > batch)
        CHECK_OK(mg_encodec_stream_set_batch_growth(s, batch, batch_max));
    else if (batch > 1)
        CHECK_OK(mg_encodec_stream_set_batch(s, batch));
    int D = mg_encodec_stream_lookahead(s);
    CHECK(D0 >= 0 && D >= D0 && D <= D0 + batch_max - 1, "lookahead %d, %d with batches of %d..%d", D0, D, batch,
          batch_max);
    mg_rng r;
    mg_rng_seed(&r, seed);
    int64_t *part = malloc((size_t)nq * (size_t)(T + 1) * sizeof(int64_t));
    int64_t done = 0;
    const float *pcm;
    int64_t n;
    *latency_ok = 1;
    for (int f0 = 0; f0 < T;) {
        int nb = next_push(pattern, &r);
        if (nb > T - f0)
            nb = T - f0;
        for (int l = 0; l < nq; l++)
            memcpy(part + (int64_t)l * nb, codes + (int64_t)l * T + f0, (size_t)nb * sizeof(int64_t));
        mg_status st = mg_encodec_stream_push(s, pool, nb ? part : NULL, nb, &pcm, &n);
        CHECK(st == MG_OK, "push of %d frames at frame %d: %s", nb, f0, mg_last_error());
        if (st != MG_OK)
            break;
        if (n > 0)
            memcpy(audio + done, pcm, (size_t)n * sizeof(float));
        done += n;
        f0 += nb;
        /* after frames [0, f0): frames below f0 - D are complete; nothing beyond f0 */
        int64_t want = (int64_t)(f0 - D > 0 ? f0 - D : 0) * hop;
        if (done < want || done > (int64_t)f0 * hop || mg_encodec_stream_samples(s) != done ||
            mg_encodec_stream_frames(s) != f0)
            *latency_ok = 0;
    }
    CHECK_OK(mg_encodec_stream_finish(s, pool, &pcm, &n));
    if (n > 0 && done + n <= (int64_t)T * hop)
        memcpy(audio + done, pcm, (size_t)n * sizeof(float));
    done += n;
    free(part);
    mg_encodec_stream_free(s);
    return done;
}

/* Every push pattern == one-shot (bits), and the golden audio; 1 == 2 threads. */
static void check_sequence(const mg_encodec *c, const code_seq *q, mg_pool *pool2, mg_pool *pool1) {
    const int hop = mg_encodec_hop(c);
    const int64_t N = (int64_t)q->T * hop;
    float *ref = malloc((size_t)N * sizeof(float)), *got = malloc((size_t)N * sizeof(float));
    decode_one_shot(c, pool2, q->codes, q->nq, q->T, ref);
    double worst = 0;
    int all_latency = 1, all_lengths = 1, runs = 0;
    const int batches[] = {1, 3, 8, 2}, batch_maxes[] = {1, 3, 8, 16}; /* the last: growing groups */
    for (int b = 0; b < 4; b++)
        for (int p = 0; p < N_PATTERNS; p++) {
            if (b > 0 && p % 2) /* batching: a subset of the patterns */
                continue;
            int lat;
            memset(got, 0xff, (size_t)N * sizeof(float)); /* NaN: a sample never written shows */
            int64_t n = stream_decode(c, pool2, q->codes, q->nq, q->T, patterns[p], batches[b], batch_maxes[b],
                                      17 + (uint64_t)p, got, &lat);
            all_lengths &= n == N;
            all_latency &= lat;
            double d = n == N ? max_abs_diff(got, ref, N) : 1e30;
            if (d > worst)
                worst = d;
            CHECK(n == N && d == 0,
                  "%s: pushes of %d frames, batches of %d..%d: %lld samples, max |stream - one-shot| %.3g", q->name,
                  patterns[p], batches[b], batch_maxes[b], (long long)n, d);
            runs++;
        }
    printf("  %-28s %3d frames: stream vs one-shot max abs diff %.3g over %d push patterns\n", q->name, q->T, worst,
           runs);
    CHECK(all_lengths, "%s: stream length != frames * hop", q->name);
    CHECK(all_latency, "%s: samples came later than the lookahead promises (or too early)", q->name);
    if (q->golden) {
        char name[96];
        snprintf(name, sizeof name, "stream(%s) vs golden", q->name);
        test_compare_f32(name, got, q->golden, N, AUDIO_TOL);
    }
    /* one thread, random pushes */
    int lat;
    stream_decode(c, pool1, q->codes, q->nq, q->T, 0, 1, 1, 99, got, &lat);
    CHECK(max_abs_diff(got, ref, N) == 0, "%s: 1 thread differs from 2 threads", q->name);
    free(ref);
    free(got);
}

/* Streams of 1, 2, 3 frames (the first frames of q) in every pattern. */
static void check_short_streams(const mg_encodec *c, const code_seq *q, mg_pool *pool) {
    const int hop = mg_encodec_hop(c);
    int ok = 1;
    for (int T = 1; T <= 3 && T <= q->T; T++) {
        int64_t *codes = malloc((size_t)(q->nq * T) * sizeof(int64_t));
        for (int l = 0; l < q->nq; l++)
            memcpy(codes + (int64_t)l * T, q->codes + (int64_t)l * q->T, (size_t)T * sizeof(int64_t));
        float *ref = malloc((size_t)T * hop * sizeof(float)), *got = malloc((size_t)T * hop * sizeof(float));
        decode_one_shot(c, pool, codes, q->nq, T, ref);
        for (int p = 0; p < N_PATTERNS; p++) {
            int lat;
            int64_t n = stream_decode(c, pool, codes, q->nq, T, patterns[p], 1 + p % 3, 1 + p % 3, 5, got, &lat);
            int same = n == (int64_t)T * hop && max_abs_diff(got, ref, n) == 0 && lat;
            CHECK(same, "%d-frame stream, pushes of %d: differs from one-shot", T, patterns[p]);
            ok &= same;
        }
        free(codes);
        free(ref);
        free(got);
    }
    printf("  streams of 1, 2, 3 frames == one-shot: %s\n", ok ? "ok" : "FAILED");
}

/* Empty pushes, finish without frames, use after finish, bad codes, bad n_q, memory. */
static void check_api_edges(const mg_encodec *c, const code_seq *q, mg_pool *pool) {
    const int hop = mg_encodec_hop(c);
    const mg_encodec_config *cfg = mg_encodec_get_config(c);
    const float *pcm = NULL;
    int64_t n = -1;
    mg_encodec_stream *s = NULL;
    CHECK(mg_encodec_stream_new(c, 0, &s) == MG_ERR_INVALID_ARG && !s, "n_q 0 accepted");
    CHECK(mg_encodec_stream_new(c, cfg->num_quantizers + 1, &s) == MG_ERR_INVALID_ARG && !s, "n_q too large accepted");

    /* nothing pushed at all */
    CHECK_OK(mg_encodec_stream_new(c, q->nq, &s));
    CHECK(mg_encodec_stream_set_batch(s, 0) == MG_ERR_INVALID_ARG, "batch 0 accepted");
    CHECK(mg_encodec_stream_set_batch(s, 100000) == MG_ERR_INVALID_ARG, "batch 100000 accepted");
    CHECK(mg_encodec_stream_set_batch_growth(s, 8, 4) == MG_ERR_INVALID_ARG, "groups growing from 8 to 4 accepted");
    CHECK_OK(mg_encodec_stream_push(s, pool, NULL, 0, &pcm, &n));
    CHECK(n == 0, "empty push returned %lld samples", (long long)n);
    CHECK_OK(mg_encodec_stream_finish(s, pool, &pcm, &n));
    CHECK(n == 0, "finish without frames returned %lld samples", (long long)n);
    CHECK(mg_encodec_stream_push(s, pool, q->codes, 1, &pcm, &n) == MG_ERR_INVALID_ARG && n == 0,
          "push after finish accepted");
    mg_encodec_stream_free(s);

    /* bad codes in the middle: refused, stream unchanged, result still exact */
    const int T = q->T;
    int64_t *part = malloc((size_t)(q->nq * T) * sizeof(int64_t));
    float *ref = malloc((size_t)T * hop * sizeof(float)), *got = malloc((size_t)T * hop * sizeof(float));
    decode_one_shot(c, pool, q->codes, q->nq, T, ref);
    CHECK_OK(mg_encodec_stream_new(c, q->nq, &s));
    int64_t done = 0;
    int refused = 1;
    for (int f = 0; f < T; f++) {
        for (int l = 0; l < q->nq; l++)
            part[l] = q->codes[(int64_t)l * T + f];
        if (f == T / 2) {
            int64_t keep = part[q->nq - 1];
            part[q->nq - 1] = cfg->codebook_size;
            mg_status st = mg_encodec_stream_push(s, pool, part, 1, &pcm, &n);
            refused &= st == MG_ERR_INVALID_ARG && n == 0 && mg_encodec_stream_frames(s) == f;
            part[q->nq - 1] = -1;
            st = mg_encodec_stream_push(s, pool, part, 1, &pcm, &n);
            refused &= st == MG_ERR_INVALID_ARG && n == 0 && mg_encodec_stream_frames(s) == f;
            part[q->nq - 1] = keep;
        }
        CHECK_OK(mg_encodec_stream_push(s, pool, part, 1, &pcm, &n));
        memcpy(got + done, pcm, (size_t)n * sizeof(float));
        done += n;
        CHECK_OK(mg_encodec_stream_push(s, pool, part, 0, &pcm, &n)); /* empty: nothing new */
        CHECK(n == 0, "empty push returned samples");
    }
    CHECK(refused, "bad codes accepted (or they changed the stream)");
    CHECK_OK(mg_encodec_stream_finish(s, pool, &pcm, &n));
    memcpy(got + done, pcm, (size_t)n * sizeof(float));
    done += n;
    CHECK(done == (int64_t)T * hop && max_abs_diff(got, ref, done) == 0, "stream with refused pushes differs");
    CHECK(mg_encodec_stream_finish(s, pool, &pcm, &n) == MG_ERR_INVALID_ARG && n == 0, "second finish accepted");
    CHECK(mg_encodec_stream_push(s, pool, part, 1, &pcm, &n) == MG_ERR_INVALID_ARG && n == 0,
          "push after finish accepted");
    CHECK(mg_encodec_stream_push(s, pool, part, -1, &pcm, &n) == MG_ERR_INVALID_ARG, "negative push accepted");
    mg_encodec_stream_free(s);
    mg_encodec_stream_free(NULL);
    printf("  empty pushes, finish without frames, use after finish, bad codes: %s\n",
           refused && done == (int64_t)T * hop ? "ok" : "FAILED");
    free(part);
    free(ref);
    free(got);
}

/* Last input row read by output rows 0..u of a stride-1 conv of kernel k, dilation d:
 * rows u - left .. u + right with left + right = (k - 1) d; non-causal convs put the
 * larger half on the left, causal ones all of it. Reflect padding at the start reads
 * rows up to `left` as well (the mirror image of the missing rows). */
static int64_t conv_last_row(const mg_encodec_config *cfg, int k, int d, int64_t u) {
    int total = (k - 1) * d, right = cfg->use_causal_conv ? 0 : total / 2, left = total - right;
    int64_t last = u + right;
    return cfg->pad_mode == MG_PAD_REFLECT && left > last ? left : last;
}

/* The look-ahead from the receptive field, worked out by hand from the config (not by
 * seanet.c's range propagation, which the stream uses): for each frame f, follow the
 * samples up to the last one of f back through the decoder to the last frame they read;
 * the look-ahead is the largest distance. A transposed conv (kernel 2r, stride r,
 * trimmed r - r/2 on the left, or r - ceil(r * trim_right_ratio) when causal) computes
 * output row u from input rows up to (u + trim_left) / r. */
static int expected_lookahead(const mg_encodec_config *cfg) {
    int64_t D = 0;
    for (int64_t f = 0; f < 64; f++) {
        int64_t u = (f + 1) * cfg->hop_length - 1;
        u = conv_last_row(cfg, cfg->last_kernel_size, 1, u);
        for (int r = cfg->n_ratios - 1; r >= 0; r--) {
            for (int j = cfg->num_residual_layers - 1; j >= 0; j--) {
                int d = 1;
                for (int e = 0; e < j; e++)
                    d *= cfg->dilation_growth_rate;
                u = conv_last_row(cfg, cfg->residual_kernel_size, d, u);
            }
            int ratio = cfg->upsampling_ratios[r];
            int trim_left = cfg->use_causal_conv ? ratio - (int)ceil(ratio * cfg->trim_right_ratio) : ratio - ratio / 2;
            u = (u + trim_left) / ratio;
        }
        u = conv_last_row(cfg, cfg->kernel_size, 1, u);
        if (u - f > D)
            D = u - f;
    }
    return (int)D;
}

/* Held memory after many single-frame pushes == after a few (it does not grow); the
 * look-ahead matches the receptive field. */
static void check_bounded_memory(const mg_encodec *c, mg_pool *pool, int nq, int codebook, int batch) {
    mg_encodec_stream *s = NULL;
    CHECK_OK(mg_encodec_stream_new(c, nq, &s));
    if (!s)
        return;
    int want = expected_lookahead(mg_encodec_get_config(c));
    CHECK(mg_encodec_stream_lookahead(s) == want, "lookahead %d, the receptive field says %d",
          mg_encodec_stream_lookahead(s), want);
    CHECK_OK(mg_encodec_stream_set_batch(s, batch));
    int64_t *frame = malloc((size_t)nq * sizeof(int64_t));
    mg_rng r;
    mg_rng_seed(&r, 3);
    const float *pcm;
    int64_t n, early = 0, late = 0;
    for (int f = 0; f < 400; f++) {
        for (int l = 0; l < nq; l++)
            frame[l] = (int64_t)(mg_rng_next(&r) % (uint64_t)codebook);
        CHECK_OK(mg_encodec_stream_push(s, pool, frame, 1, &pcm, &n));
        if (f == 49)
            early = mg_encodec_stream_bytes(s);
    }
    late = mg_encodec_stream_bytes(s);
    CHECK(mg_encodec_stream_set_batch(s, 2) == MG_ERR_INVALID_ARG, "groups changed after frames were pushed");
    CHECK(late == early, "stream memory grew from %lld to %lld bytes between frame 50 and 400", (long long)early,
          (long long)late);
    printf("  held memory after 50 and 400 one-frame pushes, batches of %d: %lld / %lld bytes (lookahead %d frames, "
           "%d by the receptive field)\n", batch, (long long)early, (long long)late, mg_encodec_stream_lookahead(s),
           want);
    free(frame);
    mg_encodec_stream_free(s);
}

/* mg_encodec_decode of inputs long enough to go through the stream == one-shot. */
static void check_long_decode(mg_encodec *c, const code_seq *q, mg_pool *pool) {
    const int hop = mg_encodec_hop(c);
    const int64_t N = (int64_t)q->T * hop;
    float *ref = malloc((size_t)N * sizeof(float)), *got = malloc((size_t)N * sizeof(float));
    decode_one_shot(c, pool, q->codes, q->nq, q->T, ref);
    int ok = 1;
    const int blocks[] = {1, 2, 5};
    for (int i = 0; i < 3; i++) {
        mg_encodec_set_chunk_frames(c, blocks[i]);
        CHECK_OK(mg_encodec_decode(c, pool, q->codes, q->nq, q->T, got));
        ok &= max_abs_diff(got, ref, N) == 0;
    }
    mg_encodec_set_chunk_frames(c, 0);
    CHECK(ok, "%s: mg_encodec_decode in blocks differs from one-shot", q->name);
    /* a bad code: refused before any work, naming the frame */
    int64_t *bad = malloc((size_t)(q->nq * q->T) * sizeof(int64_t));
    memcpy(bad, q->codes, (size_t)(q->nq * q->T) * sizeof(int64_t));
    bad[(int64_t)(q->nq - 1) * q->T + q->T - 1] = -3;
    mg_encodec_set_chunk_frames(c, 1);
    mg_status st = mg_encodec_decode(c, pool, bad, q->nq, q->T, got);
    mg_encodec_set_chunk_frames(c, 0);
    char frame[32];
    snprintf(frame, sizeof frame, "frame %d ", q->T - 1);
    CHECK(st == MG_ERR_INVALID_ARG && strstr(mg_last_error(), frame), "long decode with a bad code: %s",
          mg_last_error());
    printf("  mg_encodec_decode through the stream (blocks of 1, 2, 5 frames) == one-shot: %s\n", ok ? "ok" : "FAILED");
    free(bad);
    free(ref);
    free(got);
}

/* ---- weight-norm folding into the caller's buffer -------------------------------------------------- */

static void add_tensor(mg_store *s, const char *name, mg_dtype dt, int ndim, const int64_t *shape, const void *data,
                       size_t nbytes) {
    mg_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = ndim;
    memcpy(t.shape, shape, (size_t)ndim * sizeof(int64_t));
    t.data = data;
    t.nbytes = nbytes;
    CHECK_OK(mg_store_add(s, name, &t, -1));
}

/* mg_store_fold_weight_norm == mg_store_get_weight_norm (bits), against the reference's
 * folded weight; a plain .weight (f32, f16) is copied / converted; a missing weight or a
 * wrong shape is an error. */
static void test_fold(mg_store *weights, test_golden *g) {
    const mg_tensor *wf = test_golden_get(g, "encodec.enc_conv0_weight_folded");
    int64_t n = mg_tensor_numel(wf);
    float *dst = malloc((size_t)n * sizeof(float));
    const float *kept;
    CHECK_OK(mg_store_fold_weight_norm(weights, "audio_encoder.encoder.layers.0.conv", 3, wf->shape, dst));
    CHECK_OK(mg_store_get_weight_norm(weights, "audio_encoder.encoder.layers.0.conv", 3, wf->shape, &kept));
    test_compare_f32("mg_store_fold_weight_norm(enc conv0)", dst, wf->data, n, 1e-6);
    CHECK(!memcmp(dst, kept, (size_t)n * sizeof(float)), "fold into a buffer differs from mg_store_get_weight_norm");
    free(dst);

    mg_store s;
    mg_store_init(&s);
    const int64_t shape[3] = {2, 3, 2};
    float w[12];
    uint16_t h[12];
    for (int i = 0; i < 12; i++)
        w[i] = 0.25f * (float)(i - 5);
    mg_row_from_f32(MG_DT_F16, w, h, 12);
    add_tensor(&s, "a.weight", MG_DT_F32, 3, shape, w, sizeof w);
    add_tensor(&s, "b.weight", MG_DT_F16, 3, shape, h, sizeof h);
    float out[12];
    CHECK_OK(mg_store_fold_weight_norm(&s, "a", 3, shape, out));
    CHECK(!memcmp(out, w, sizeof w), "plain f32 .weight not copied as is");
    CHECK_OK(mg_store_fold_weight_norm(&s, "b", 3, shape, out));
    CHECK(!memcmp(out, w, sizeof w), "plain f16 .weight not converted exactly"); /* multiples of 1/4: exact in f16 */
    const int64_t wrong[3] = {2, 2, 3};
    CHECK(mg_store_fold_weight_norm(&s, "a", 3, wrong, out) == MG_ERR_FORMAT, "wrong shape accepted");
    CHECK(mg_store_fold_weight_norm(&s, "c", 3, shape, out) == MG_ERR_FORMAT && strstr(mg_last_error(), "c.weight_g"),
          "missing weight: %s", mg_last_error());
    CHECK(s.converted_bytes == 0, "folding into a buffer kept %lld bytes in the store", (long long)s.converted_bytes);
    mg_store_free(&s);
}

/* ---- fixtures --------------------------------------------------------------------------------- */

/* Channel k of codes [K][T] in the decoder's layout (levels interleaved per channel). */
static code_seq split_channel(const char *name, const int64_t *codes, int K, int T, int ch, int k,
                              const float *golden) {
    code_seq q;
    memset(&q, 0, sizeof q);
    snprintf(q.name, sizeof q.name, "%s%s", name, ch == 2 ? (k ? " right" : " left") : "");
    q.nq = K / ch;
    q.T = T;
    q.codes = malloc((size_t)(q.nq * T) * sizeof(int64_t));
    for (int j = 0; j < q.nq; j++)
        memcpy(q.codes + (int64_t)j * T, codes + (int64_t)(j * ch + k) * T, (size_t)T * sizeof(int64_t));
    q.golden = golden;
    return q;
}

static void test_fixture(const char *fixture) {
    test_golden g;
    mg_checkpoint ck;
    if (!test_fixture_open(fixture, &g, &ck))
        return;
    mg_encodec *codec = NULL;
    CHECK_OK(mg_encodec_load(&ck.cfg.codec, &ck.store, &codec));
    if (!codec) {
        test_fixture_close(&g, &ck);
        return;
    }
    test_fold(&ck.store, &g);
    mg_pool *pool2 = mg_pool_new(2), *pool1 = mg_pool_new(1);
    const int hop = mg_encodec_hop(codec);
    code_seq seqs[16];
    int n = 0;
    /* encodec.codes [1, nq, T] -> encodec.decoded_audio [1, 1, T * hop] */
    const mg_tensor *ec = test_golden_get(&g, "encodec.codes"), *ea = test_golden_get(&g, "encodec.decoded_audio");
    seqs[n++] = split_channel("encodec.codes", ec->data, (int)ec->shape[1], (int)ec->shape[2], 1, 0, ea->data);
    /* gen: [B, K, T] in the decoder layout -> gen.audio [B, ch, T * hop] */
    const mg_tensor *ga = test_golden_get(&g, "gen.audio");
    int ch = (int)ga->shape[1];
    const mg_tensor *gc = test_golden_get(&g, ch == 2 ? "gen.codes_interleaved" : "gen.codes");
    int B = (int)gc->shape[0], K = (int)gc->shape[1], T = (int)gc->shape[2];
    CHECK(ga->shape[2] == (int64_t)T * hop, "gen.audio length");
    for (int b = 0; b < B; b++)
        for (int k = 0; k < ch; k++) {
            char name[32];
            snprintf(name, sizeof name, "gen.codes[%d]", b);
            seqs[n++] = split_channel(name, (const int64_t *)gc->data + (int64_t)b * K * T, K, T, ch, k,
                                      (const float *)ga->data + ((int64_t)b * ch + k) * T * hop);
        }
    /* cont: [1, K, T] -> cont.audio [1, ch, T * hop] */
    const mg_tensor *cc = test_golden_get(&g, "cont.codes"), *ca = test_golden_get(&g, "cont.audio");
    K = (int)cc->shape[1];
    T = (int)cc->shape[2];
    CHECK(ca->shape[2] == (int64_t)T * hop, "cont.audio length");
    for (int k = 0; k < ch; k++)
        seqs[n++] = split_channel("cont.codes", cc->data, K, T, ch, k, (const float *)ca->data + (int64_t)k * T * hop);
    for (int i = 0; i < n; i++)
        check_sequence(codec, &seqs[i], pool2, pool1);
    check_short_streams(codec, &seqs[0], pool2);
    check_api_edges(codec, &seqs[0], pool2);
    check_long_decode(codec, &seqs[n - 1], pool2);
    check_bounded_memory(codec, pool2, seqs[0].nq, ck.cfg.codec.codebook_size, 1);
    check_bounded_memory(codec, pool2, seqs[0].nq, ck.cfg.codec.codebook_size, 8);
    for (int i = 0; i < n; i++)
        free(seqs[i].codes);
    mg_pool_free(pool1);
    mg_pool_free(pool2);
    mg_encodec_free(codec);
    test_fixture_close(&g, &ck);
}

/* ---- codecs unlike the fixtures ---------------------------------------------------------------- */

typedef struct shape_case {
    const char *what;
    int ratios[4], n_ratios;
    int kernel, last_kernel, res_kernel, dilation_growth, res_layers, lstm_layers, compress, pad_mode, shortcut;
    int causal;
    double trim_right_ratio; /* causal only (0 = 1.0) */
} shape_case;

static mg_encodec_config case_config(const shape_case *sc) {
    mg_encodec_config c;
    memset(&c, 0, sizeof c);
    c.audio_channels = 1;
    c.num_filters = 6;
    c.hidden_size = 5;
    c.codebook_size = 16;
    c.codebook_dim = 5;
    c.kernel_size = sc->kernel;
    c.last_kernel_size = sc->last_kernel;
    c.residual_kernel_size = sc->res_kernel;
    c.dilation_growth_rate = sc->dilation_growth;
    c.num_residual_layers = sc->res_layers;
    c.num_lstm_layers = sc->lstm_layers;
    c.compress = sc->compress;
    c.n_ratios = sc->n_ratios;
    c.hop_length = 1;
    for (int i = 0; i < sc->n_ratios; i++) {
        c.upsampling_ratios[i] = sc->ratios[i];
        c.hop_length *= sc->ratios[i];
    }
    c.sample_rate = 100 * c.hop_length;
    c.frame_rate = 100;
    c.pad_mode = sc->pad_mode;
    c.use_causal_conv = sc->causal;
    c.trim_right_ratio = sc->trim_right_ratio > 0 ? sc->trim_right_ratio : 1.0;
    c.use_conv_shortcut = sc->shortcut;
    c.weight_norm = 1;
    c.num_quantizers = 3;
    c.n_codes = 2;
    return c;
}

static void test_shapes(mg_pool *pool2, mg_pool *pool1) {
    static const shape_case cases[] = {
        {"ratios [3,2], kernel 5, dilations 1 and 3, 1 LSTM layer", {3, 2}, 2, 5, 3, 5, 3, 2, 1, 3, 1, 0, 0, 0},
        {"ratios [2,3,2], even kernels 4/6/4, 3 LSTM layers, zero pad, shortcuts", {2, 3, 2}, 3, 4, 6, 4, 2, 2, 3, 2,
         0, 1, 0, 0},
        {"ratios [5,4], kernel 9, last kernel 1, 2 LSTM layers", {5, 4}, 2, 9, 1, 3, 2, 1, 2, 2, 1, 0, 0, 0},
        {"ratios [4,3], causal, replicate pad, trim_right_ratio 0.5, shortcuts", {4, 3}, 2, 5, 4, 3, 2, 2, 1, 2,
         MG_PAD_REPLICATE, 1, 1, 0.5},
        {"ratios [3,2], causal, reflect pad, kernel 6", {3, 2}, 2, 6, 3, 3, 2, 1, 2, 2, MG_PAD_REFLECT, 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mg_encodec_config cfg = case_config(&cases[i]);
        printf("random codec: %s (hop %d):\n", cases[i].what, cfg.hop_length);
        mg_store s;
        mg_store_init(&s);
        mg_encodec *c = NULL;
        CHECK_OK(mg_encodec_random_store(&cfg, &s, 11 + i, NULL));
        CHECK_OK(mg_encodec_load(&cfg, &s, &c));
        if (!c) {
            mg_store_free(&s);
            continue;
        }
        mg_rng r;
        mg_rng_seed(&r, 1000 + i);
        const int lens[] = {1, 2, 3, 4, 5, 9, 31, 64};
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            code_seq q;
            memset(&q, 0, sizeof q);
            q.nq = 1 + (int)(j % 3);
            q.T = lens[j];
            snprintf(q.name, sizeof q.name, "random codes, %d levels", q.nq);
            q.codes = malloc((size_t)(q.nq * q.T) * sizeof(int64_t));
            for (int k = 0; k < q.nq * q.T; k++)
                q.codes[k] = (int64_t)(mg_rng_next(&r) % (uint64_t)cfg.codebook_size);
            check_sequence(c, &q, pool2, pool1);
            if (q.T == 64) {
                check_short_streams(c, &q, pool2);
                check_api_edges(c, &q, pool2);
                check_long_decode(c, &q, pool2);
            }
            free(q.codes);
        }
        check_bounded_memory(c, pool2, 2, cfg.codebook_size, 1);
        check_bounded_memory(c, pool2, 2, cfg.codebook_size, 5);
        mg_encodec_free(c);
        mg_store_free(&s);
    }
}

int main(void) {
    test_fixture("tiny-mono");
    test_fixture("tiny-stereo");
    mg_pool *pool2 = mg_pool_new(2), *pool1 = mg_pool_new(1);
    test_shapes(pool2, pool1);
    mg_pool_free(pool1);
    mg_pool_free(pool2);
    return test_finish("test_encodec_stream");
}
