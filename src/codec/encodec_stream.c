/* encodec_stream.c — EnCodec decoding while the codes are still being generated
 * (encodec.h: mg_encodec_stream_*), bit-identical to decoding all frames at once with
 * the decoder of transformers' EncodecDecoder (as encodec.c runs it).
 *
 * The decoder is three parts, and each is run as far as its output can no longer
 * change:
 *
 *   embeddings --conv0 (frame rate)--> x --LSTM--> y --upsampling stack--> audio
 *
 *  - conv0 (kernel 7, reflect padding) is local: output row t reads rows t-3..t+3.
 *    Reflection only happens at the two ends; the left end is known from the start,
 *    the right end only at finish(). While the length is unknown the stream treats the
 *    signal as "open": it asks seanet.c which input rows an output window reads for a
 *    signal far longer than anything pushed, and computes only windows whose rows are
 *    all known. Such a window never reaches the right end, so its values are those of
 *    the whole-signal evaluation.
 *  - The LSTM is causal: it runs once over each conv0 row as it becomes final, its
 *    state (h, c) carried from push to push (ec_lstm_continue).
 *  - The upsampling stack (transposed convs, resnet blocks, last conv) is local too,
 *    and handled like conv0: samples are returned once every LSTM row they read is
 *    known, and what depends on the right end (reflect / extra padding, the zeros after
 *    the last frame of a transposed conv) waits for finish(), which evaluates the rest
 *    with the true length exactly as the one-shot decoder does.
 * Only the rows later windows still read are kept (a few frames of embeddings and of
 * LSTM output), so memory does not grow with the length; the only recomputation is the
 * receptive-field overlap of consecutive windows in the upsampling stack.
 * Every kernel sums in a fixed order whatever the window (tensor/gemm.h), so windowed
 * results equal whole-signal results bit for bit.
 *
 * Not here: the model's stereo layout (two streams, one per channel: the caller's job),
 * encoding.
 */
#include "codec/encodec.h"
#include "codec/seanet.h"

#include <stdlib.h>
#include <string.h>

/* Largest batch (frames): beyond a few seconds, batching saves nothing more. */
#define EC_STREAM_MAX_BATCH 256

/* Rows [t0, t1) of a time-major signal with ch channels, row t0 at p. */
typedef struct ec_rows {
    float *p;
    int64_t t0, t1, cap; /* cap in rows */
    int ch;
} ec_rows;

struct mg_encodec_stream {
    const mg_encodec *codec;
    ec_decoder_parts parts;
    ec_stack front, back; /* conv0; the upsampling stack */
    int n_q, dim, hop;
    int64_t open_len;  /* frames assumed while the true length is unknown */
    int64_t max_frames; /* pushes beyond this are refused */
    int batch;         /* frame-rate rows are processed in groups: the first of this many, */
    int batch_max;     /* each next one twice the last, up to this many (== batch: fixed) */
    int lookahead;
    int64_t frames;    /* frames pushed */
    ec_rows emb;       /* quantized embeddings, rows [t0, frames) */
    int64_t conv_done; /* conv0 rows computed and run through the LSTM */
    ec_lstm_state lstm;
    ec_rows hist;      /* LSTM outputs (with the residual), rows [t0, conv_done) */
    int64_t samples;   /* samples returned */
    float *x;          /* scratch: conv0 output of one call */
    int64_t x_cap;     /* floats */
    float *out;        /* the samples returned by the last call */
    int64_t out_cap;   /* floats */
    int finished, failed;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static mg_status grow_floats(float **p, int64_t *cap, int64_t need, const char *what) {
    if (need <= *cap)
        return MG_OK;
    int64_t n = need + need / 2 + 16;
    float *q = realloc(*p, (size_t)n * sizeof(float));
    if (!q)
        return mg_fail(MG_ERR_NOMEM, "out of memory for %lld floats of %s (EnCodec stream)", (long long)n, what);
    *p = q;
    *cap = n;
    return MG_OK;
}

/* Room for rows up to (excluding) t_end. */
static mg_status rows_reserve(ec_rows *r, int64_t t_end, const char *what) {
    int64_t need = (t_end - r->t0) * r->ch, cap = r->cap * r->ch;
    MG_TRY(grow_floats(&r->p, &cap, need, what));
    r->cap = cap / r->ch;
    return MG_OK;
}

/* Forget the rows before t (those no later window reads). */
static void rows_drop_before(ec_rows *r, int64_t t) {
    if (t > r->t1)
        t = r->t1;
    if (t <= r->t0)
        return;
    memmove(r->p, r->p + (t - r->t0) * r->ch, (size_t)((r->t1 - t) * r->ch) * sizeof(float));
    r->t0 = t;
}

static ec_view rows_view(const ec_rows *r, int64_t len) {
    ec_view v = {r->p, r->t0, r->t1, len, r->ch};
    return v;
}

typedef struct window_sink {
    float *dst; /* row `base` at dst */
    int64_t base;
    int ch;
} window_sink;

static mg_status sink_window(void *user, const float *rows, int64_t t0, int64_t t1, int ch) {
    window_sink *w = user;
    if (ch != w->ch)
        return mg_fail(MG_ERR_INTERNAL, "EnCodec stream: %d channels where %d were expected", ch, w->ch);
    memcpy(w->dst + (t0 - w->base) * ch, rows, (size_t)((t1 - t0) * ch) * sizeof(float));
    return MG_OK;
}

/* Does output window [o0, o1) of `st` read only input rows below `avail`? */
static int window_fits(const ec_stack *st, int64_t len, int64_t o0, int64_t o1, int64_t avail) {
    int64_t i0, i1;
    ec_stack_needed(st, len, o0, o1, &i0, &i1);
    return i1 <= avail;
}

/* The end of the longest output window [o0, o1) of `st` (input of `len` rows) that
 * reads only input rows below `avail`. The rows a window reads grow with o1, so:
 * doubling steps, then bisection. */
static int64_t ready_end(const ec_stack *st, int64_t len, int64_t o0, int64_t avail) {
    int64_t out_len = ec_stack_out_len(st, len);
    int64_t ok = o0, step = 1;
    while (ok + step <= out_len && window_fits(st, len, o0, ok + step, avail)) {
        ok += step;
        step *= 2;
    }
    int64_t bad = ok + step; /* does not fit, or beyond the output */
    while (bad - ok > 1) {
        int64_t mid = ok + (bad - ok) / 2;
        if (mid <= out_len && window_fits(st, len, o0, mid, avail))
            ok = mid;
        else
            bad = mid;
    }
    return ok;
}

/* First input row that output row o (and every later one) reads. */
static int64_t first_row_read(const ec_stack *st, int64_t len, int64_t o) {
    int64_t i0, i1;
    ec_stack_needed(st, len, o, o + 1, &i0, &i1);
    return i1 > i0 ? i0 : 0;
}

/* The conv0 / LSTM rows to have processed once rows below `ready` are final: all of
 * them, or with batching only whole groups (so what has been returned after n frames
 * depends on n alone, not on how the frames were pushed). */
static int64_t batch_end(const mg_encodec_stream *s, int64_t ready) {
    if (s->batch_max == s->batch)
        return s->batch > 1 ? ready / s->batch * s->batch : ready;
    int64_t end = 0, size = s->batch; /* groups of batch, 2 batch, 4 batch, ..., batch_max */
    while (size < s->batch_max && end + size <= ready) {
        end += size;
        size = 2 * size < s->batch_max ? 2 * size : s->batch_max;
    }
    return end + (ready - end) / size * size;
}

/* Smallest D such that after any n pushed frames, the samples of frames < n - D have
 * been returned (checked over the first frames; after the left edge and the growing
 * groups, which together span less than 2 batch_max frames, the pattern repeats every
 * batch_max frames). */
static int compute_lookahead(const mg_encodec_stream *s) {
    int D = 0;
    for (int64_t n = 1; n <= 32 + 4 * (int64_t)s->batch_max; n++) {
        int64_t rows = batch_end(s, ready_end(&s->front, s->open_len, 0, n));
        int64_t smp = ready_end(&s->back, s->open_len, 0, rows);
        int64_t d = n - smp / s->hop;
        if (d > D)
            D = (int)d;
    }
    return D;
}

/* Code range check, naming frames by their index in the whole stream. */
static mg_status check_codes(const mg_encodec *c, const int64_t *codes, int n_q, int64_t ld, int64_t n,
                             int64_t frame0) {
    const mg_encodec_config *cfg = mg_encodec_get_config(c);
    for (int l = 0; l < n_q; l++)
        for (int64_t t = 0; t < n; t++) {
            int64_t v = codes[(int64_t)l * ld + t];
            if (v < 0 || v >= cfg->codebook_size)
                return mg_fail(MG_ERR_INVALID_ARG, "EnCodec decode: code %lld at codebook %d, frame %lld is outside "
                               "the codebook [0, %d)", (long long)v, l, (long long)(frame0 + t), cfg->codebook_size);
        }
    return MG_OK;
}

/* ---- the pipeline ---------------------------------------------------------------------------- */

/* conv0 rows [conv_done, end) from the embeddings (signal of `len` rows), then the LSTM. */
static mg_status run_front(mg_encodec_stream *s, mg_pool *pool, int64_t len, int64_t end) {
    int64_t n = end - s->conv_done;
    if (n <= 0)
        return MG_OK;
    const int C = s->parts.c_lstm;
    MG_TRY(grow_floats(&s->x, &s->x_cap, n * C, "frame-rate activations"));
    ec_view in = rows_view(&s->emb, len);
    window_sink w = {s->x, s->conv_done, C};
    MG_TRY(ec_stack_run_range(&s->front, pool, &in, s->conv_done, end, 0, sink_window, &w, NULL));
    MG_TRY(rows_reserve(&s->hist, end, "LSTM outputs"));
    float *y = s->hist.p + (s->conv_done - s->hist.t0) * C;
    MG_TRY(ec_lstm_continue(s->parts.lstm, pool, &s->lstm, s->x, n, y));
    s->hist.t1 = end;
    s->conv_done = end;
    return MG_OK;
}

/* Samples [samples, end) from the LSTM outputs (signal of `len` frames) into out. */
static mg_status run_back(mg_encodec_stream *s, mg_pool *pool, int64_t len, int64_t end, int64_t *n_out) {
    int64_t n = end - s->samples;
    *n_out = 0;
    if (n <= 0)
        return MG_OK;
    MG_TRY(grow_floats(&s->out, &s->out_cap, n, "audio"));
    ec_view in = rows_view(&s->hist, len);
    window_sink w = {s->out, s->samples, 1};
    MG_TRY(ec_stack_run_range(&s->back, pool, &in, s->samples, end, s->parts.chunk_frames * s->hop, sink_window, &w,
                              NULL));
    s->samples = end;
    *n_out = n;
    return MG_OK;
}

/* Everything that is final now (or, at the end, everything). */
static mg_status advance(mg_encodec_stream *s, mg_pool *pool, int at_end, int64_t *n_out) {
    *n_out = 0;
    if (at_end) {
        MG_TRY(run_front(s, pool, s->frames, ec_stack_out_len(&s->front, s->frames)));
        return run_back(s, pool, s->conv_done, ec_stack_out_len(&s->back, s->conv_done), n_out);
    }
    const int64_t open = s->open_len;
    MG_TRY(run_front(s, pool, open, batch_end(s, ready_end(&s->front, open, s->conv_done, s->frames))));
    rows_drop_before(&s->emb, first_row_read(&s->front, open, s->conv_done));
    MG_TRY(run_back(s, pool, open, ready_end(&s->back, open, s->samples, s->conv_done), n_out));
    rows_drop_before(&s->hist, first_row_read(&s->back, open, s->samples));
    return MG_OK;
}

/* ---- public ------------------------------------------------------------------------------------ */

mg_status mg_encodec_stream_new(const mg_encodec *c, int n_q, mg_encodec_stream **out) {
    if (!out)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_encodec_stream_new: NULL output pointer");
    *out = NULL;
    if (!c)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_encodec_stream_new: no codec");
    const mg_encodec_config *cfg = mg_encodec_get_config(c);
    if (n_q < 1 || n_q > cfg->num_quantizers)
        return mg_fail(MG_ERR_INVALID_ARG, "EnCodec stream: %d codebooks per frame; this codec has 1..%d", n_q,
                       cfg->num_quantizers);
    mg_encodec_stream *s = mg_calloc(1, sizeof *s, "an EnCodec stream");
    if (!s)
        return MG_ERR_NOMEM;
    s->codec = c;
    ec_decoder_parts_of(c, &s->parts);
    s->front.layers = s->parts.front;
    s->front.n = 1;
    s->back.layers = s->parts.back;
    s->back.n = s->parts.n_back;
    s->n_q = n_q;
    s->dim = cfg->codebook_dim;
    s->hop = cfg->hop_length;
    /* Far beyond any real length, and small enough that sample positions of the open
     * signal (frames x hop) stay far from overflowing. */
    s->open_len = ((int64_t)1 << 56) / (s->hop > 0 ? s->hop : 1);
    s->max_frames = s->open_len / 2;
    s->batch = s->batch_max = 1;
    s->emb.ch = s->dim;
    s->hist.ch = s->parts.c_lstm;
    mg_status st = ec_lstm_state_init(&s->lstm, s->parts.lstm);
    if (st == MG_OK)
        st = grow_floats(&s->out, &s->out_cap, s->hop, "audio");
    if (st != MG_OK) {
        mg_encodec_stream_free(s);
        return st;
    }
    s->lookahead = compute_lookahead(s);
    *out = s;
    return MG_OK;
}

void mg_encodec_stream_free(mg_encodec_stream *s) {
    if (!s)
        return;
    ec_lstm_state_free(&s->lstm);
    free(s->emb.p);
    free(s->hist.p);
    free(s->x);
    free(s->out);
    free(s);
}

int mg_encodec_stream_lookahead(const mg_encodec_stream *s) { return s ? s->lookahead : 0; }

mg_status mg_encodec_stream_set_batch_growth(mg_encodec_stream *s, int first, int max) {
    if (!s || first < 1 || max < first || max > EC_STREAM_MAX_BATCH) {
        if (first == max)
            return mg_fail(MG_ERR_INVALID_ARG, "mg_encodec_stream_set_batch: groups of %d frames (expected 1..%d)", first,
                           EC_STREAM_MAX_BATCH);
        return mg_fail(MG_ERR_INVALID_ARG, "mg_encodec_stream_set_batch_growth: groups of %d growing to %d frames "
                       "(expected 1 <= first <= max <= %d)", first, max, EC_STREAM_MAX_BATCH);
    }
    if (s->frames > 0)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_encodec_stream_set_batch: frames were already pushed");
    s->batch = first;
    s->batch_max = max;
    s->lookahead = compute_lookahead(s);
    return MG_OK;
}

mg_status mg_encodec_stream_set_batch(mg_encodec_stream *s, int frames) {
    return mg_encodec_stream_set_batch_growth(s, frames, frames);
}
int64_t mg_encodec_stream_frames(const mg_encodec_stream *s) { return s ? s->frames : 0; }
int64_t mg_encodec_stream_samples(const mg_encodec_stream *s) { return s ? s->samples : 0; }

int64_t mg_encodec_stream_bytes(const mg_encodec_stream *s) {
    if (!s)
        return 0;
    int64_t floats = s->emb.cap * s->emb.ch + s->hist.cap * s->hist.ch + s->x_cap + s->out_cap +
                     2 * (int64_t)s->lstm.n_layers * s->lstm.dim;
    return floats * (int64_t)sizeof(float) + (int64_t)sizeof *s;
}

static mg_status check_usable(const mg_encodec_stream *s, const char *fn) {
    if (!s)
        return mg_fail(MG_ERR_INVALID_ARG, "%s: no stream", fn);
    if (s->finished)
        return mg_fail(MG_ERR_INVALID_ARG, "%s: the EnCodec stream is already finished; start a new one", fn);
    if (s->failed)
        return mg_fail(MG_ERR_INVALID_ARG, "%s: the EnCodec stream failed earlier and cannot continue", fn);
    return MG_OK;
}

mg_status mg_encodec_stream_push(mg_encodec_stream *s, mg_pool *pool, const int64_t *codes, int n,
                                 const float **pcm, int64_t *n_samples) {
    if (!pcm || !n_samples)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_encodec_stream_push: NULL output pointer");
    *pcm = s ? s->out : NULL;
    *n_samples = 0;
    MG_TRY(check_usable(s, "mg_encodec_stream_push"));
    if (n < 0 || (n > 0 && !codes))
        return mg_fail(MG_ERR_INVALID_ARG, "mg_encodec_stream_push: %d frames%s", n, n > 0 ? " but no codes" : "");
    if (n == 0)
        return MG_OK;
    if (s->frames + n > s->max_frames)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_encodec_stream_push: more than %lld frames in one stream",
                       (long long)s->max_frames);
    MG_TRY(check_codes(s->codec, codes, s->n_q, n, n, s->frames));
    MG_TRY(rows_reserve(&s->emb, s->frames + n, "embeddings"));
    MG_TRY(mg_encodec_dequantize(s->codec, codes, s->n_q, n, s->emb.p + (s->frames - s->emb.t0) * s->dim));
    s->frames += n;
    s->emb.t1 = s->frames;
    mg_status st = advance(s, pool, 0, n_samples);
    if (st != MG_OK) {
        s->failed = 1;
        *n_samples = 0;
        return st;
    }
    *pcm = s->out;
    return MG_OK;
}

mg_status mg_encodec_stream_finish(mg_encodec_stream *s, mg_pool *pool, const float **pcm, int64_t *n_samples) {
    if (!pcm || !n_samples)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_encodec_stream_finish: NULL output pointer");
    *pcm = s ? s->out : NULL;
    *n_samples = 0;
    MG_TRY(check_usable(s, "mg_encodec_stream_finish"));
    s->finished = 1;
    if (s->frames == 0)
        return MG_OK; /* nothing was pushed: nothing to return */
    mg_status st = advance(s, pool, 1, n_samples);
    if (st == MG_OK && s->samples != s->frames * s->hop)
        st = mg_fail(MG_ERR_INTERNAL, "EnCodec stream: %lld samples for %lld frames", (long long)s->samples,
                     (long long)s->frames);
    if (st != MG_OK) {
        s->failed = 1;
        *n_samples = 0;
        return st;
    }
    *pcm = s->out;
    return MG_OK;
}

/* ---- mg_encodec_decode of long inputs ------------------------------------------------------------ */

mg_status ec_decode_streamed(const mg_encodec *c, mg_pool *pool, const int64_t *codes, int n_q, int n_frames,
                             int block, float *audio, const atomic_int *cancel) {
    const mg_encodec_config *cfg = mg_encodec_get_config(c);
    if (n_q < 1 || n_q > cfg->num_quantizers)
        return mg_fail(MG_ERR_INVALID_ARG, "EnCodec decode: %d codebooks given; this codec has 1..%d", n_q,
                       cfg->num_quantizers);
    /* All codes first, so a bad one fails before any work, as the one-shot path does. */
    MG_TRY(check_codes(c, codes, n_q, n_frames, n_frames, 0));
    if (block < 1)
        block = 1;
    mg_encodec_stream *s;
    MG_TRY(mg_encodec_stream_new(c, n_q, &s));
    int64_t *part = mg_malloc((size_t)n_q * (size_t)block * sizeof(int64_t), "codes of one block");
    mg_status st = part ? MG_OK : MG_ERR_NOMEM;
    int64_t done = 0;
    const float *pcm;
    int64_t n;
    for (int f0 = 0; f0 < n_frames && st == MG_OK; f0 += block) {
        if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) {
            st = mg_fail(MG_ERR_CANCELLED, "decoding cancelled at frame %d of %d", f0, n_frames);
            break;
        }
        int nb = n_frames - f0 < block ? n_frames - f0 : block;
        for (int l = 0; l < n_q; l++)
            memcpy(part + (int64_t)l * nb, codes + (int64_t)l * n_frames + f0, (size_t)nb * sizeof(int64_t));
        st = mg_encodec_stream_push(s, pool, part, nb, &pcm, &n);
        if (st == MG_OK) {
            memcpy(audio + done, pcm, (size_t)n * sizeof(float));
            done += n;
        }
    }
    if (st == MG_OK)
        st = mg_encodec_stream_finish(s, pool, &pcm, &n);
    if (st == MG_OK) {
        memcpy(audio + done, pcm, (size_t)n * sizeof(float));
        done += n;
    }
    free(part);
    mg_encodec_stream_free(s);
    return st;
}
