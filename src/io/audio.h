/* audio.h — audio files and sample conversions (libsndfile + libsoxr + libebur128).
 *
 * Reading: any format libsndfile knows, as interleaved float. Writing: container by
 * extension (.wav .flac .ogg .mp3), sample format s16 / s24 / f32, atomic (temporary file +
 * rename: never a partial file), never overwriting unless asked. Resampling with
 * libsoxr, channel mixing (downmix to mono / duplicate mono), loudness normalization
 * (EBU R128 via libebur128) with peak limiting. No hand-written WAV code here.
 *
 * CONTRACT (implemented by the audio module; used by the codec CLI and the pipeline).
 * Implementation: audio_read.c (reading, incl. from memory), audio_write.c (writing),
 * audio_dsp.c (resampling, channels, loudness, limiter), audio_api.c (public wrappers).
 * docs/audio.md describes the behaviour users see.
 */
#ifndef MG_IO_AUDIO_H
#define MG_IO_AUDIO_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

/* Sanity limits applied when reading (and to rates when writing). */
#define MG_AUDIO_MIN_RATE 1000
#define MG_AUDIO_MAX_RATE 768000
#define MG_AUDIO_MAX_CHANNELS 64
#define MG_AUDIO_MAX_SECONDS 3600                  /* 1 hour */
#define MG_AUDIO_MAX_SAMPLES ((int64_t)1 << 29)    /* 2 GiB of float samples */
#define MG_AUDIO_MAX_TAG_BYTES 2000               /* longer tags are cut (at a UTF-8 boundary) */

typedef struct mg_audio {
    float *pcm;        /* interleaved, n_frames * channels */
    int64_t n_frames;
    int channels;
    int sample_rate;
} mg_audio;

void mg_audio_free(mg_audio *a);

/* Read a whole audio file (a regular file: pipes and devices are refused). Errors
 * name the file and say what is wrong (not audio, empty, unreadable). */
mg_status mg_audio_read(const char *path, mg_audio *out);

/* Read an audio file held in memory (`where` names it in errors). `max_samples` caps
 * frames * channels (0: MG_AUDIO_MAX_SAMPLES); the 1-hour cap applies as well. */
mg_status mg_audio_read_memory(const void *data, size_t size, const char *where, int64_t max_samples,
                               mg_audio *out);

/* Resample interleaved float PCM from a->sample_rate to `rate` (in place: replaces
 * a->pcm). No-op when equal. */
mg_status mg_audio_resample(mg_audio *a, int rate);

/* Convert to `channels`, in place (audiocraft's convert_audio_channels rule):
 * to 1: average of all channels; from 1: duplicate; from more: keep the first
 * `channels`; from 2..channels-1 (neither mono nor enough): MG_ERR_UNSUPPORTED. */
mg_status mg_audio_convert_channels(mg_audio *a, int channels);

typedef struct mg_audio_write_opts {
    int format;          /* mg_sample_format: MG_SAMPLE_S16 (default), S24, F32 */
    int overwrite;       /* replace an existing file */
    const char *title;   /* metadata tags (may be NULL; cut to MG_AUDIO_MAX_TAG_BYTES) */
    const char *comment;
    const char *software;
} mg_audio_write_opts;

/* Write interleaved float PCM. For s16/s24, samples beyond [-1, 1] are clipped and
 * counted in *n_clipped (if not NULL); f32 writes values unchanged. Ogg Vorbis
 * and MP3 ignore `format` and clip like the integer formats. opts may be NULL (defaults). */
mg_status mg_audio_write(const char *path, const float *pcm, int64_t n_frames, int channels, int rate,
                         const mg_audio_write_opts *opts, int64_t *n_clipped);

/* Everything mg_audio_write would check before writing (extension, sample format vs
 * container, channels, rate, folder, existing file), without writing: call it before
 * expensive work so a bad output name fails early. */
mg_status mg_audio_check_output(const char *path, const mg_audio_write_opts *opts, int channels, int rate);

/* Scale to an integrated loudness of `target_lufs` (EBU R128), then limit peaks so no
 * sample exceeds `peak_dbfs` (e.g. -1.0). Reports the measured loudness before.
 * The limit is on the true peak (4x oversampled, as libebur128 measures it), which
 * bounds the sample peak too. Near-silent input (RMS below 2e-3, as in audiocraft,
 * or shorter than one 400 ms gating block) is left unchanged. */
mg_status mg_audio_loudness_normalize(float *pcm, int64_t n_frames, int channels, int rate, double target_lufs,
                                      double peak_dbfs, double *measured_lufs);

/* Scale so the largest |sample| is `peak` (e.g. 0.99); silence stays silence. */
void mg_audio_peak_normalize(float *pcm, int64_t n_samples, float peak);
/* Index of the first NaN / Inf among n samples, or -1 if all are finite. */
int64_t mg_audio_first_non_finite(const float *x, int64_t n);

/* Integrated loudness (LUFS, -HUGE_VAL for silence or < 400 ms) and the largest true
 * peak over all channels (linear, 1.0 = full scale). Either pointer may be NULL. */
mg_status mg_audio_measure(const float *pcm, int64_t n_frames, int channels, int rate, double *lufs,
                           double *true_peak);

/* libsndfile reports why an open failed only in a process-wide variable
 * (sf_error(NULL) / sf_strerror(NULL)): two threads whose opens fail at once can read
 * each other's reason. audio_read.c and audio_write.c hold this lock from the open to
 * the copy of its error into the thread's own message. */
void mg_sndfile_open_lock(void);
void mg_sndfile_open_unlock(void);

#endif
