/* audio_dsp.c — sample-level processing: resampling (libsoxr, HQ), channel conversion,
 * loudness measurement and normalization (EBU R128 / ITU-R BS.1770 via libebur128),
 * a look-ahead peak limiter, and peak normalization.
 *
 * Loudness normalization follows audiocraft's normalize_audio(strategy='loudness')
 * (audiocraft/data/audio_utils.py): measure the integrated loudness, apply the gain
 * that brings it to the target (audiocraft: -14 LUFS), and leave near-silent input
 * alone (RMS below 2e-3). Where audiocraft then hard-clips to [-1, 1] (or tanh-
 * compresses), we limit instead: a look-ahead limiter whose gain curve is smooth and
 * provably never lets a sample pass the ceiling, iterated with libebur128's true-peak
 * meter until the true peak is under the limit and the loudness (which the limiter
 * lowers) is back on target. Not here: file I/O (audio_read.c, audio_write.c).
 */
#include "io/audio.h"

#include "base/log.h"

#include <ebur128.h>
#include <math.h>
#include <soxr.h>
#include <stdlib.h>
#include <string.h>

#define LIMITER_LOOKAHEAD_S 0.005 /* gain starts falling 5 ms before a peak */
#define LIMITER_RELEASE_S 0.100   /* and recovers with a 100 ms time constant */
#define LOUDNESS_ENERGY_FLOOR 2e-3 /* audiocraft's energy_floor (RMS) */
#define LOUDNESS_TOLERANCE_LU 0.05
#define LOUDNESS_MAX_ITERATIONS 12

/* ---- resampling ------------------------------------------------------------------------ */

mg_status mg_audio_resample(mg_audio *a, int rate) {
    if (rate == a->sample_rate)
        return MG_OK;
    if (rate < MG_AUDIO_MIN_RATE || rate > MG_AUDIO_MAX_RATE || a->sample_rate < MG_AUDIO_MIN_RATE ||
        a->sample_rate > MG_AUDIO_MAX_RATE)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot resample %d Hz to %d Hz: rates must be %d to %d Hz",
                       a->sample_rate, rate, MG_AUDIO_MIN_RATE, MG_AUDIO_MAX_RATE);
    if (a->channels < 1 || a->n_frames < 0 || (a->n_frames > 0 && !a->pcm))
        return mg_fail(MG_ERR_INVALID_ARG, "cannot resample: no audio");
    /* Output length: round(n * out / in), computed exactly in integers. */
    int64_t n_in = a->n_frames;
    double ratio = (double)rate / a->sample_rate;
    if ((double)n_in * ratio * a->channels > (double)MG_AUDIO_MAX_SAMPLES)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot resample to %d Hz: the result would be too large", rate);
    int64_t n_out = (n_in * rate + a->sample_rate / 2) / a->sample_rate;
    float *out = mg_calloc((size_t)(n_out > 0 ? n_out : 1) * (size_t)a->channels, sizeof *out, "resampled audio");
    if (!out)
        return MG_ERR_NOMEM;
    if (n_in > 0 && n_out > 0) {
        soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
        soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
        size_t odone = 0;
        soxr_error_t err = soxr_oneshot(a->sample_rate, rate, (unsigned)a->channels, a->pcm, (size_t)n_in, NULL, out,
                                        (size_t)n_out, &odone, &io, &q, NULL);
        if (err) {
            free(out);
            return mg_fail(MG_ERR_INTERNAL, "resampling %d Hz to %d Hz failed (libsoxr: %s)", a->sample_rate, rate,
                           err);
        }
        /* soxr_oneshot delivers all of it; any shortfall stays zero (calloc). */
    }
    free(a->pcm);
    a->pcm = out;
    a->n_frames = n_out;
    a->sample_rate = rate;
    return MG_OK;
}

/* ---- channels ---------------------------------------------------------------------------- */

mg_status mg_audio_convert_channels(mg_audio *a, int channels) {
    const int src = a->channels;
    if (channels < 1 || channels > MG_AUDIO_MAX_CHANNELS)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot convert audio to %d channels", channels);
    if (src == channels)
        return MG_OK;
    if (src < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "cannot convert audio with %d channels", src);
    if (src != 1 && channels != 1 && src < channels)
        return mg_fail(MG_ERR_UNSUPPORTED,
                       "cannot turn %d-channel audio into %d channels: only mono can be spread to more channels",
                       src, channels);
    const int64_t n = a->n_frames;
    float *out = mg_malloc((size_t)(n > 0 ? n : 1) * (size_t)channels * sizeof *out, "channel conversion");
    if (!out)
        return MG_ERR_NOMEM;
    for (int64_t f = 0; f < n; f++) {
        const float *x = a->pcm + f * src;
        float *y = out + f * channels;
        if (channels == 1) { /* average of all channels */
            double sum = 0;
            for (int c = 0; c < src; c++)
                sum += x[c];
            y[0] = (float)(sum / src);
        } else if (src == 1) { /* duplicate mono */
            for (int c = 0; c < channels; c++)
                y[c] = x[0];
        } else { /* keep the first channels */
            memcpy(y, x, (size_t)channels * sizeof *y);
        }
    }
    free(a->pcm);
    a->pcm = out;
    a->channels = channels;
    return MG_OK;
}

/* ---- loudness -------------------------------------------------------------------------------- */

/* 1 if (pcm, n_frames, channels, rate) can describe audio: channels and rate in range,
 * n_frames >= 0 with frames x channels in int64, and samples given if any. */
static int audio_shape_ok(const float *pcm, int64_t n_frames, int channels, int rate) {
    return channels >= 1 && channels <= MG_AUDIO_MAX_CHANNELS && rate >= MG_AUDIO_MIN_RATE &&
           rate <= MG_AUDIO_MAX_RATE && n_frames >= 0 && n_frames <= INT64_MAX / MG_AUDIO_MAX_CHANNELS &&
           (n_frames == 0 || pcm);
}

/* libebur128's K-weighting is designed for the rate it is given; its high shelf near
 * 1.7 kHz is unstable where that lies above half the rate (at 1-2 kHz a loud tone
 * measured +inf LUFS, "near silent"), and close to it the response is warped. Audio
 * below this rate is measured after resampling to 16 kHz, which leaves its content
 * (all under rate / 2) as it is, puts the shelf well below half the rate, and costs
 * at most 16x the samples (a 1 kHz signal). */
#define LOUDNESS_DIRECT_MIN_RATE 8000
#define LOUDNESS_RESAMPLE_RATE 16000

mg_status mg_audio_measure(const float *pcm, int64_t n_frames, int channels, int rate, double *lufs,
                           double *true_peak) {
    if (!audio_shape_ok(pcm, n_frames, channels, rate))
        return mg_fail(MG_ERR_INVALID_ARG, "cannot measure loudness of %lld frames x %d channels at %d Hz",
                       (long long)n_frames, channels, rate);
    if (rate < LOUDNESS_DIRECT_MIN_RATE && n_frames > 0) {
        mg_audio a = {mg_malloc((size_t)n_frames * (size_t)channels * sizeof(float), "loudness measurement"), n_frames,
                      channels, rate};
        if (!a.pcm)
            return MG_ERR_NOMEM;
        memcpy(a.pcm, pcm, (size_t)n_frames * (size_t)channels * sizeof(float));
        mg_status st = mg_audio_resample(&a, LOUDNESS_RESAMPLE_RATE);
        if (st == MG_OK)
            st = mg_audio_measure(a.pcm, a.n_frames, channels, a.sample_rate, lufs, true_peak);
        free(a.pcm); /* the resampled copy */
        return st;
    }
    int mode = (lufs ? EBUR128_MODE_I : 0) | (true_peak ? EBUR128_MODE_TRUE_PEAK : 0);
    ebur128_state *st = ebur128_init((unsigned)channels, (unsigned long)rate, mode ? mode : EBUR128_MODE_M);
    if (!st)
        return mg_fail(MG_ERR_NOMEM, "cannot start a loudness meter (%d channels, %d Hz)", channels, rate);
    const int64_t chunk = 1 << 16;
    for (int64_t done = 0; done < n_frames; done += chunk) {
        int64_t n = n_frames - done < chunk ? n_frames - done : chunk;
        if (ebur128_add_frames_float(st, pcm + done * channels, (size_t)n) != EBUR128_SUCCESS) {
            ebur128_destroy(&st);
            return mg_fail(MG_ERR_INTERNAL, "loudness measurement failed");
        }
    }
    mg_status res = MG_OK;
    if (lufs && ebur128_loudness_global(st, lufs) != EBUR128_SUCCESS)
        res = mg_fail(MG_ERR_INTERNAL, "loudness measurement failed");
    if (true_peak) {
        *true_peak = 0;
        for (int c = 0; c < channels && res == MG_OK; c++) {
            double tp;
            if (ebur128_true_peak(st, (unsigned)c, &tp) != EBUR128_SUCCESS)
                res = mg_fail(MG_ERR_INTERNAL, "true-peak measurement failed");
            else if (tp > *true_peak)
                *true_peak = tp;
        }
    }
    ebur128_destroy(&st);
    return res;
}

static float frame_peak(const float *x, int channels) {
    float p = 0;
    for (int c = 0; c < channels; c++)
        p = fmaxf(p, fabsf(x[c]));
    return p;
}

/* Look-ahead limiter. need[f] = gain that brings frame f under `ceiling`. The gain
 * curve is (1) a running minimum of need over the last L frames, (2) a moving average
 * of that over the next L frames, (3) a release that may only rise slowly. At a peak
 * p every term of the average in (2) is <= need[p] (each window of (1) contains p), so
 * the gain at p is <= need[p]: no sample passes the ceiling, yet the gain moves
 * smoothly (a linear ramp over L frames) instead of clipping the waveform. */
static mg_status limit_peaks(float *pcm, int64_t n, int channels, int rate, float ceiling) {
    int64_t L = (int64_t)(rate * LIMITER_LOOKAHEAD_S);
    if (L < 1)
        L = 1;
    float *g = mg_malloc((size_t)n * sizeof *g, "limiter gain");
    struct {
        int64_t i;
        float v;
    } *dq = mg_malloc((size_t)(L + 1) * sizeof *dq, "limiter window");
    if (!g || !dq) {
        free(g);
        free(dq);
        return MG_ERR_NOMEM;
    }
    /* (1) running minimum over [f-L+1, f] with a monotonic ring-buffer deque. */
    int64_t head = 0, count = 0, cap = L + 1;
    for (int64_t f = 0; f < n; f++) {
        float p = frame_peak(pcm + f * channels, channels);
        float need = p > ceiling ? ceiling / p : 1.0f;
        while (count > 0 && dq[(head + count - 1) % cap].v >= need)
            count--;
        dq[(head + count) % cap].i = f;
        dq[(head + count) % cap].v = need;
        count++;
        while (dq[head].i <= f - L)
            head = (head + 1) % cap, count--;
        g[f] = dq[head].v;
    }
    /* (2) forward moving average over [f, f+L-1] (frames past the end count as 1). */
    double sum = 0;
    for (int64_t j = 0; j < L; j++)
        sum += j < n ? g[j] : 1.0;
    for (int64_t f = 0; f < n; f++) {
        float avg = (float)(sum / (double)L);
        sum += (f + L < n ? g[f + L] : 1.0) - g[f];
        g[f] = avg;
    }
    /* (3) release, and apply. The final clamp only absorbs float rounding. */
    const float rel = 1.0f - expf(-1.0f / (float)(rate * LIMITER_RELEASE_S));
    float gain = 1.0f;
    for (int64_t f = 0; f < n; f++) {
        gain = g[f] < gain ? g[f] : gain + (g[f] - gain) * rel;
        float *x = pcm + f * channels;
        for (int c = 0; c < channels; c++)
            x[c] = fminf(fmaxf(x[c] * gain, -ceiling), ceiling);
    }
    free(g);
    free(dq);
    return MG_OK;
}

static double rms_of(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0;
}

static void scaled_copy(float *dst, const float *src, int64_t n, double gain) {
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)(src[i] * gain);
}

mg_status mg_audio_loudness_normalize(float *pcm, int64_t n_frames, int channels, int rate, double target_lufs,
                                      double peak_dbfs, double *measured_lufs) {
    if (!(target_lufs >= -70 && target_lufs <= 0))
        return mg_fail(MG_ERR_INVALID_ARG, "loudness target %g LUFS is out of range (-70 to 0; -14 is typical)",
                       target_lufs);
    if (!(peak_dbfs >= -20 && peak_dbfs <= 0))
        return mg_fail(MG_ERR_INVALID_ARG, "peak limit %g dBFS is out of range (-20 to 0; -1 is typical)", peak_dbfs);
    /* The shape first: the scan below reads n_frames x channels samples. */
    if (!audio_shape_ok(pcm, n_frames, channels, rate))
        return mg_fail(MG_ERR_INVALID_ARG, "cannot normalize the loudness of %lld frames x %d channels at %d Hz%s",
                       (long long)n_frames, channels, rate, n_frames > 0 && !pcm ? " (no samples given)" : "");
    int64_t bad = mg_audio_first_non_finite(pcm, n_frames * channels);
    if (bad >= 0)
        return mg_fail(MG_ERR_INVALID_ARG, "loudness normalization: the audio holds a non-finite sample (%g) at frame "
                       "%lld", (double)pcm[bad], (long long)(bad / channels));
    double l0, tp0;
    MG_TRY(mg_audio_measure(pcm, n_frames, channels, rate, &l0, &tp0));
    if (measured_lufs)
        *measured_lufs = l0;
    const int64_t ns = n_frames * channels;
    const double limit = pow(10.0, peak_dbfs / 20);
    if (!isfinite(l0) || rms_of(pcm, ns) < LOUDNESS_ENERGY_FLOOR) {
        /* No loudness to aim at; the peak ceiling still holds (nothing may clip). */
        if (n_frames < (int64_t)rate * 2 / 5)
            mg_log_warn("loudness normalization skipped: EBU R128 cannot measure audio shorter than 0.4 s "
                        "(this is %.2f s); only the %g dBFS peak limit applies", (double)n_frames / rate, peak_dbfs);
        else
            mg_log_warn("loudness normalization skipped: the audio is near silent; only the %g dBFS peak limit "
                        "applies", peak_dbfs);
        if (isfinite(tp0) && tp0 > limit)
            scaled_copy(pcm, pcm, ns, limit / tp0);
        return MG_OK;
    }
    double gain = pow(10.0, (target_lufs - l0) / 20);
    if (tp0 * gain <= limit) { /* plain gain reaches the target: no limiting needed */
        scaled_copy(pcm, pcm, ns, gain);
        return MG_OK;
    }
    /* Limiting needed. More gain pushes more of the signal into the limiter, so
     * loudness rises with gain while the true peak stays at the ceiling (lowered when
     * inter-sample peaks overshoot it): search the gain between the loudest plain gain
     * and the target's, keeping the render closest to the target that meets the limit. */
    float *orig = mg_malloc((size_t)ns * sizeof *orig, "loudness normalization");
    float *best = mg_malloc((size_t)ns * sizeof *best, "loudness normalization");
    if (!orig || !best) {
        free(orig);
        free(best);
        return MG_ERR_NOMEM;
    }
    memcpy(orig, pcm, (size_t)ns * sizeof *orig);
    double ceiling = limit; /* sample ceiling; lowered while the true peak overshoots */
    double g_lo = limit / tp0, g_hi = gain; /* plain gain meets the limit; the target's needs limiting */
    int too_loud = 0;                         /* has a render overshot the target (g_hi)? */
    double best_l = l0 + 20 * log10(g_lo);   /* what the plain gain alone reaches */
    scaled_copy(best, orig, ns, g_lo * 0.999);
    mg_status st = MG_OK;
    for (int it = 0; it < LOUDNESS_MAX_ITERATIONS && st == MG_OK; it++) {
        double l, tp;
        scaled_copy(pcm, orig, ns, gain);
        st = limit_peaks(pcm, n_frames, channels, rate, (float)ceiling);
        if (st == MG_OK)
            st = mg_audio_measure(pcm, n_frames, channels, rate, &l, &tp);
        if (st != MG_OK)
            break;
        if (tp > limit) {
            ceiling *= limit / tp * 0.999;
            continue; /* same gain, lower ceiling */
        }
        if (fabs(l - target_lufs) < fabs(best_l - target_lufs)) {
            memcpy(best, pcm, (size_t)ns * sizeof *best);
            best_l = l;
        }
        if (fabs(l - target_lufs) <= LOUDNESS_TOLERANCE_LU)
            break;
        if (l < target_lufs) { /* too quiet: step by the deficit until a render overshoots */
            g_lo = gain;
            gain = too_loud ? sqrt(g_lo * g_hi) : gain * pow(10.0, (target_lufs - l) / 20);
        } else { /* too loud: bisect (in dB) between the loudest quiet and quietest loud gain */
            g_hi = gain;
            too_loud = 1;
            gain = sqrt(g_lo * g_hi);
        }
        if (too_loud && g_hi <= g_lo * 1.0001)
            break;
    }
    if (st == MG_OK) {
        memcpy(pcm, best, (size_t)ns * sizeof *pcm);
        if (fabs(best_l - target_lufs) > 0.5)
            mg_log_warn("loudness normalization reached %.1f LUFS instead of %.1f: the peak limit of %.1f dBFS allows "
                        "no more", best_l, target_lufs, peak_dbfs);
    }
    free(orig);
    free(best);
    return st;
}

int64_t mg_audio_first_non_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return -1;
}

void mg_audio_peak_normalize(float *pcm, int64_t n_samples, float peak) {
    if (mg_audio_first_non_finite(pcm, n_samples) >= 0)
        return; /* NaN / Inf: no peak to scale to */
    float m = 0;
    for (int64_t i = 0; i < n_samples; i++)
        m = fmaxf(m, fabsf(pcm[i]));
    if (m <= 0)
        return;
    float g = peak / m;
    if (isfinite(g)) {
        for (int64_t i = 0; i < n_samples; i++)
            pcm[i] *= g;
        return;
    }
    /* The gain itself overflows a float (a peak below ~1e-38, or a huge target): the
     * products still fit, in double. */
    double gd = (double)peak / m;
    for (int64_t i = 0; i < n_samples; i++)
        pcm[i] = (float)(pcm[i] * gd);
}
