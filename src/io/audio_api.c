/* audio_api.c — the public audio functions of musicgen.h (mg_write_audio, mg_read_audio,
 * mg_resample_audio, loudness / peak normalization): thin wrappers that map the public
 * parameter structs onto the internal audio module (audio.h). No processing here. */
#include "io/audio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

MG_API mg_audio_write_params mg_audio_write_default_params(void) {
    mg_audio_write_params p;
    memset(&p, 0, sizeof p);
    p.format = MG_SAMPLE_S16;
    return p;
}

static mg_audio_write_opts to_opts(const mg_audio_write_params *params) {
    mg_audio_write_params p = params ? *params : mg_audio_write_default_params();
    mg_audio_write_opts o = {(int)p.format, p.overwrite, p.tags.title, p.tags.comment, p.tags.software};
    return o;
}

MG_API mg_status mg_write_audio(const char *path, const float *pcm, int64_t n_frames, int channels,
                                int sample_rate, const mg_audio_write_params *params, int64_t *n_clipped) {
    mg_audio_write_opts o = to_opts(params);
    return mg_audio_write(path, pcm, n_frames, channels, sample_rate, &o, n_clipped);
}

MG_API mg_status mg_check_audio_output(const char *path, const mg_audio_write_params *params, int channels,
                                       int sample_rate) {
    mg_audio_write_opts o = to_opts(params);
    return mg_audio_check_output(path, &o, channels, sample_rate);
}

MG_API mg_status mg_read_audio(const char *path, float **pcm, int64_t *n_frames, int *channels,
                               int *sample_rate) {
    if (!pcm || !n_frames || !channels || !sample_rate)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_read_audio: NULL output pointer");
    *pcm = NULL;
    *n_frames = 0;
    *channels = *sample_rate = 0;
    mg_audio a;
    MG_TRY(mg_audio_read(path, &a));
    *pcm = a.pcm;
    *n_frames = a.n_frames;
    *channels = a.channels;
    *sample_rate = a.sample_rate;
    return MG_OK;
}

MG_API mg_status mg_resample_audio(const float *pcm, int64_t n_frames, int channels, int in_rate, int out_rate,
                                   float **out, int64_t *n_out) {
    if (!out || !n_out)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_resample_audio: NULL output pointer");
    *out = NULL;
    *n_out = 0;
    if (channels < 1 || channels > MG_AUDIO_MAX_CHANNELS || n_frames < 0 || (n_frames > 0 && !pcm))
        return mg_fail(MG_ERR_INVALID_ARG, "mg_resample_audio: bad input (%lld frames, %d channels)",
                       (long long)n_frames, channels);
    if ((double)n_frames * channels > (double)MG_AUDIO_MAX_SAMPLES)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_resample_audio: input too large");
    mg_audio a = {NULL, n_frames, channels, in_rate};
    a.pcm = mg_malloc((size_t)(n_frames > 0 ? n_frames : 1) * (size_t)channels * sizeof(float), "audio");
    if (!a.pcm)
        return MG_ERR_NOMEM;
    if (n_frames > 0)
        memcpy(a.pcm, pcm, (size_t)n_frames * (size_t)channels * sizeof(float));
    mg_status st = mg_audio_resample(&a, out_rate);
    if (st != MG_OK) {
        mg_audio_free(&a);
        return st;
    }
    *out = a.pcm;
    *n_out = a.n_frames;
    return MG_OK;
}

MG_API mg_status mg_normalize_audio_loudness(float *pcm, int64_t n_frames, int channels, int sample_rate,
                                             double target_lufs, double peak_dbfs, double *measured_lufs) {
    return mg_audio_loudness_normalize(pcm, n_frames, channels, sample_rate, target_lufs, peak_dbfs, measured_lufs);
}

MG_API void mg_normalize_audio_peak(float *pcm, int64_t n_frames, int channels, float peak) {
    /* A peak that is not a positive number, or a shape no buffer can have, leaves the
     * audio as it is. */
    if (pcm && n_frames > 0 && channels > 0 && n_frames <= INT64_MAX / channels && peak > 0 && isfinite(peak))
        mg_audio_peak_normalize(pcm, n_frames * channels, peak);
}
