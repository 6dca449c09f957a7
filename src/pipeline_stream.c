/* pipeline_stream.c — audio while generating: as the decoder finishes frames (a frame
 * is final once its most-delayed codebook is generated), they are pushed to one
 * incremental EnCodec decoder per item and channel (codec/encodec.h), and the samples
 * that became final go to the caller's mg_audio_cb, interleaved, trimmed to the
 * requested length. The concatenated chunks are bit for bit the one-piece decode of
 * the final codes, so they also make up the result's audio. */
#include "pipeline.h"
#include "codec/encodec.h"

#include <stdlib.h>
#include <string.h>

struct mg_streamer {
    mg_context *ctx;
    mg_audio_cb cb;
    void *user;
    int B, K, ch, nq;
    int64_t limit;           /* samples per item to deliver */
    int64_t pushed;          /* frames pushed so far (every item alike) */
    int64_t *emitted;        /* [B] samples delivered */
    mg_encodec_stream **st;  /* [B][ch] */
    int64_t *rows;           /* [nq][n] codes of one channel */
    size_t rows_cap;
    float *inter;            /* interleave buffer */
    size_t inter_cap;
    float **audio;           /* [B] the whole piece, assembled from the chunks */
};

void mg_streamer_free(mg_streamer *s) {
    if (!s)
        return;
    if (s->st)
        for (int i = 0; i < s->B * s->ch; i++)
            mg_encodec_stream_free(s->st[i]);
    if (s->audio)
        for (int b = 0; b < s->B; b++)
            free(s->audio[b]);
    free(s->audio);
    free(s->st);
    free(s->emitted);
    free(s->rows);
    free(s->inter);
    free(s);
}

mg_status mg_streamer_new(mg_context *ctx, mg_audio_cb cb, void *user, int B, int64_t limit, mg_streamer **out) {
    *out = NULL;
    const mg_model *m = ctx->model;
    mg_streamer *s = calloc(1, sizeof *s);
    if (!s)
        return mg_fail(MG_ERR_NOMEM, "out of memory for streaming");
    s->ctx = ctx;
    s->cb = cb;
    s->user = user;
    s->B = B;
    s->K = m->ck.cfg.dec.n_codebooks;
    s->ch = m->ck.cfg.dec.audio_channels == 2 ? 2 : 1;
    s->nq = s->K / s->ch;
    s->limit = limit;
    s->emitted = calloc((size_t)B, sizeof *s->emitted);
    s->st = calloc((size_t)B * s->ch, sizeof *s->st);
    s->audio = calloc((size_t)B, sizeof *s->audio);
    mg_status st = s->emitted && s->st && s->audio ? MG_OK : mg_fail(MG_ERR_NOMEM, "out of memory for streaming");
    for (int b = 0; b < B && st == MG_OK; b++) {
        s->audio[b] = malloc(sizeof(float) * (size_t)(limit > 0 ? limit : 1) * s->ch);
        if (!s->audio[b])
            st = mg_fail(MG_ERR_NOMEM, "out of memory for %lld samples of audio", (long long)limit);
    }
    for (int i = 0; i < B * s->ch && st == MG_OK; i++) {
        st = mg_encodec_stream_new(m->codec, s->nq, &s->st[i]);
        /* Decode in groups of frames, close to one-shot speed: 8 for the first audio (160
         * ms at 50 Hz), then 16, 32, 64 frames. Each run streams the codec's weights back
         * into the cache after the decoder's steps have evicted them: with groups of 8 a
         * 10 s generation ran the codec at 45-63 ms per audio second against 34-36 in
         * one piece (bench_codec). */
        if (st == MG_OK)
            st = mg_encodec_stream_set_batch_growth(s->st[i], 8, 64);
    }
    if (st != MG_OK) {
        mg_streamer_free(s);
        return st;
    }
    *out = s;
    return MG_OK;
}

static mg_status grow(void **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return MG_OK;
    void *p = realloc(*buf, need);
    if (!p)
        return mg_fail(MG_ERR_NOMEM, "out of memory while streaming");
    *buf = p;
    *cap = need;
    return MG_OK;
}

/* Deliver one item's new samples: chan[c] holds n samples of channel c. */
static mg_status deliver(mg_streamer *s, int b, const float *const *chan, int64_t n) {
    int64_t pos = s->emitted[b];
    if (pos + n > s->limit)
        n = s->limit - pos; /* trimmed to the requested length */
    if (n <= 0)
        return MG_OK;
    MG_TRY(grow((void **)&s->inter, &s->inter_cap, sizeof(float) * (size_t)n * s->ch));
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < s->ch; c++)
            s->inter[i * s->ch + c] = chan[c][i];
    memcpy(s->audio[b] + pos * s->ch, s->inter, sizeof(float) * (size_t)n * s->ch);
    s->emitted[b] = pos + n;
    if (s->cb && s->cb(b, s->inter, n, s->ch, pos, s->user))
        return mg_fail(MG_ERR_CANCELLED, "generation cancelled by the audio callback");
    return MG_OK;
}

/* Push frames [pushed, upto) of codes [B][K][F] (or finish when upto < 0). */
static mg_status advance(mg_streamer *s, const int64_t *codes, int F, int upto) {
    mg_pool *pool = s->ctx->pool;
    int n = upto < 0 ? 0 : upto - (int)s->pushed;
    if (upto >= 0 && n <= 0)
        return MG_OK;
    if (n > 0)
        MG_TRY(grow((void **)&s->rows, &s->rows_cap, sizeof(int64_t) * (size_t)s->nq * n));
    for (int b = 0; b < s->B; b++) {
        const float *chan[2] = {NULL, NULL};
        int64_t got[2] = {0, 0};
        for (int c = 0; c < s->ch; c++) {
            mg_encodec_stream *es = s->st[b * s->ch + c];
            if (upto < 0) {
                MG_TRY(mg_encodec_stream_finish(es, pool, &chan[c], &got[c]));
                continue;
            }
            /* Channel c's codebooks: rows j * ch + c (stereo interleaves left/right). */
            for (int j = 0; j < s->nq; j++)
                memcpy(s->rows + (size_t)j * n, codes + ((size_t)b * s->K + (size_t)(j * s->ch + c)) * F + s->pushed,
                       sizeof(int64_t) * (size_t)n);
            MG_TRY(mg_encodec_stream_push(es, pool, s->rows, n, &chan[c], &got[c]));
        }
        if (s->ch == 2 && got[0] != got[1])
            return mg_fail(MG_ERR_INTERNAL, "streaming: left and right channels out of step");
        /* chan[] point into each stream's own buffer: still valid until its next call. */
        MG_TRY(deliver(s, b, chan, got[0]));
    }
    if (n > 0)
        s->pushed += n;
    return MG_OK;
}

mg_status mg_streamer_push(mg_streamer *s, const int64_t *codes, int F, int upto) {
    return advance(s, codes, F, upto);
}

mg_status mg_streamer_finish(mg_streamer *s, const int64_t *codes, int F) {
    MG_TRY(advance(s, codes, F, F));
    MG_TRY(advance(s, codes, F, -1));
    for (int b = 0; b < s->B; b++)
        if (s->emitted[b] != s->limit)
            return mg_fail(MG_ERR_INTERNAL, "streaming delivered %lld of %lld samples", (long long)s->emitted[b],
                           (long long)s->limit);
    return MG_OK;
}

float **mg_streamer_take_audio(mg_streamer *s) {
    float **a = s->audio;
    s->audio = NULL;
    return a;
}
