/* wav_stream.c — streaming WAV / raw PCM writer (see wav_stream.h for the format).
 *
 * Follows the canonical RIFF/WAVE layout (a 16-byte "fmt " chunk, then "data") with
 * the open-ended 0xFFFFFFFF sizes sox and ffmpeg use on pipes. Samples are converted
 * to little-endian bytes explicitly, so the output is the same on any host. Integer
 * formats clip beyond +-1 (and count it); f32 passes samples through. Each write is
 * flushed so a consumer on the other end of a pipe hears audio as it is produced.
 * Not here: seeking back to patch sizes (files of known length use libsndfile).
 */
#include "io/wav_stream.h"

#include "io/audio.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_CHUNK_FRAMES 2048

struct mg_wav_stream {
    FILE *fp;
    int channels;
    mg_sample_format fmt;
    int bytes; /* per sample */
    int64_t clipped;
    uint8_t *buf; /* STREAM_CHUNK_FRAMES * channels * bytes */
};

static int sample_bytes(mg_sample_format fmt) {
    return fmt == MG_SAMPLE_S16 ? 2 : fmt == MG_SAMPLE_S24 ? 3 : fmt == MG_SAMPLE_F32 ? 4 : 0;
}

static void put_le(uint8_t *p, uint32_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

mg_status mg_wav_stream_header(uint8_t out[MG_WAV_STREAM_HEADER_SIZE], int rate, int channels, mg_sample_format fmt) {
    int bytes = sample_bytes(fmt);
    if (!bytes)
        return mg_fail(MG_ERR_INVALID_ARG, "wav stream: unknown sample format %d", (int)fmt);
    if (channels < 1 || channels > MG_AUDIO_MAX_CHANNELS || rate < MG_AUDIO_MIN_RATE || rate > MG_AUDIO_MAX_RATE)
        return mg_fail(MG_ERR_INVALID_ARG, "wav stream: %d channels at %d Hz is not supported", channels, rate);
    memcpy(out, "RIFF", 4);
    put_le(out + 4, 0xFFFFFFFFu, 4);
    memcpy(out + 8, "WAVEfmt ", 8);
    put_le(out + 16, 16, 4);
    put_le(out + 20, fmt == MG_SAMPLE_F32 ? 3 : 1, 2); /* WAVE_FORMAT_IEEE_FLOAT : PCM */
    put_le(out + 22, (uint32_t)channels, 2);
    put_le(out + 24, (uint32_t)rate, 4);
    put_le(out + 28, (uint32_t)rate * (uint32_t)(channels * bytes), 4);
    put_le(out + 32, (uint32_t)(channels * bytes), 2);
    put_le(out + 34, (uint32_t)(8 * bytes), 2);
    memcpy(out + 36, "data", 4);
    put_le(out + 40, 0xFFFFFFFFu, 4);
    return MG_OK;
}

static mg_status write_bytes(mg_wav_stream *s, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, s->fp) != n)
        return mg_fail(MG_ERR_IO, "cannot write the audio stream: %s", strerror(errno));
    return MG_OK;
}

MG_API mg_status mg_wav_stream_begin(FILE *fp, int sample_rate, int channels, mg_sample_format fmt, int raw,
                                     mg_wav_stream **out) {
    if (!out)
        return mg_fail(MG_ERR_INVALID_ARG, "wav stream: NULL output pointer");
    *out = NULL;
    if (!fp)
        return mg_fail(MG_ERR_INVALID_ARG, "wav stream: no output stream");
    uint8_t header[MG_WAV_STREAM_HEADER_SIZE];
    MG_TRY(mg_wav_stream_header(header, sample_rate, channels, fmt));
    mg_wav_stream *s = mg_calloc(1, sizeof *s, "wav stream");
    if (!s)
        return MG_ERR_NOMEM;
    s->fp = fp;
    s->channels = channels;
    s->fmt = fmt;
    s->bytes = sample_bytes(fmt);
    s->buf = mg_malloc((size_t)STREAM_CHUNK_FRAMES * (size_t)channels * (size_t)s->bytes, "wav stream");
    mg_status st = s->buf ? MG_OK : MG_ERR_NOMEM;
    if (st == MG_OK && !raw)
        st = write_bytes(s, header, sizeof header);
    if (st == MG_OK && fflush(fp) != 0)
        st = mg_fail(MG_ERR_IO, "cannot write the audio stream: %s", strerror(errno));
    if (st != MG_OK) {
        free(s->buf);
        free(s);
        return st;
    }
    *out = s;
    return MG_OK;
}

static float clip(float x, int64_t *clipped) {
    if (x > 1.0f || x < -1.0f || x != x) {
        (*clipped)++;
        return x != x ? 0.0f : x > 0 ? 1.0f : -1.0f;
    }
    return x;
}

static void encode(mg_wav_stream *s, const float *x, int64_t ns, uint8_t *out) {
    for (int64_t i = 0; i < ns; i++) {
        if (s->fmt == MG_SAMPLE_F32) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            put_le(out + 4 * i, u, 4);
        } else if (s->fmt == MG_SAMPLE_S16) {
            int32_t v = (int32_t)lrintf(clip(x[i], &s->clipped) * 32767.0f);
            put_le(out + 2 * i, (uint32_t)v, 2);
        } else {
            int32_t v = (int32_t)lrint((double)clip(x[i], &s->clipped) * 8388607.0);
            put_le(out + 3 * i, (uint32_t)v, 3);
        }
    }
}

MG_API mg_status mg_wav_stream_write(mg_wav_stream *s, const float *pcm, int64_t n_frames) {
    if (!s || n_frames < 0 || (n_frames > 0 && !pcm))
        return mg_fail(MG_ERR_INVALID_ARG, "wav stream: bad write arguments");
    for (int64_t done = 0; done < n_frames;) {
        int64_t n = n_frames - done < STREAM_CHUNK_FRAMES ? n_frames - done : STREAM_CHUNK_FRAMES;
        int64_t ns = n * s->channels;
        encode(s, pcm + done * s->channels, ns, s->buf);
        MG_TRY(write_bytes(s, s->buf, (size_t)ns * (size_t)s->bytes));
        done += n;
    }
    if (fflush(s->fp) != 0)
        return mg_fail(MG_ERR_IO, "cannot write the audio stream: %s", strerror(errno));
    return MG_OK;
}

MG_API mg_status mg_wav_stream_end(mg_wav_stream *s, int64_t *n_clipped) {
    if (n_clipped)
        *n_clipped = s ? s->clipped : 0;
    if (!s)
        return MG_OK;
    mg_status st = MG_OK;
    if (fflush(s->fp) != 0 || ferror(s->fp))
        st = mg_fail(MG_ERR_IO, "cannot write the audio stream: %s", errno ? strerror(errno) : "write error");
    free(s->buf);
    free(s);
    return st;
}
