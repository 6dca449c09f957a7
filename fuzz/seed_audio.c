/* seed_audio.c — writes small audio files in every container libsndfile can write
 * (WAV s16/s24/f32/u8, WAVEX, RF64, W64, AIFF, AU, CAF, FLAC, Ogg Vorbis, Ogg Opus,
 * MP3 where the library supports it; 1, 2 and 8 channels) into a folder, as seeds
 * for fuzz_audio. A seed generator for fuzz/run.sh, not a test and not part of the
 * library; formats the installed libsndfile cannot write are skipped silently.
 *
 *   seed_audio OUT_DIR
 */
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const char *name;
    int format;
    int channels;
    int rate;
} seed;

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: seed_audio OUT_DIR\n");
        return 2;
    }
    static const seed seeds[] = {
        {"s16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1, 32000},
        {"s24-stereo.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 2, 44100},
        {"f32.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 16000},
        {"u8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 1, 8000},
        {"ulaw.wav", SF_FORMAT_WAV | SF_FORMAT_ULAW, 1, 8000},
        {"adpcm.wav", SF_FORMAT_WAV | SF_FORMAT_IMA_ADPCM, 1, 8000},
        {"8ch.wav", SF_FORMAT_WAVEX | SF_FORMAT_PCM_16, 8, 48000},
        {"rf64.wav", SF_FORMAT_RF64 | SF_FORMAT_PCM_16, 2, 32000},
        {"w64.w64", SF_FORMAT_W64 | SF_FORMAT_DOUBLE, 1, 32000},
        {"aiff.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 2, 22050},
        {"au.au", SF_FORMAT_AU | SF_FORMAT_PCM_32, 1, 32000},
        {"caf.caf", SF_FORMAT_CAF | SF_FORMAT_ALAC_16, 1, 32000},
        {"flac.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 2, 32000},
        {"flac24.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 1, 96000},
        {"vorbis.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 1, 32000},
        {"opus.opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 1, 48000},
#ifdef SF_FORMAT_MPEG
        {"mp3.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 1, 32000},
#endif
    };
    const int frames = 1600;
    float *x = malloc(sizeof(float) * frames * 8);
    if (!x)
        return 1;
    int written = 0;
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        const seed *s = &seeds[i];
        for (int f = 0; f < frames; f++)
            for (int c = 0; c < s->channels; c++)
                x[f * s->channels + c] = 0.5f * sinf(0.01f * (float)(f * (c + 1))) + 0.01f * (float)((f * 7919) % 13);
        SF_INFO info = {0};
        info.samplerate = s->rate;
        info.channels = s->channels;
        info.format = s->format;
        if (!sf_format_check(&info))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], s->name);
        SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
        if (!sf)
            continue;
        sf_set_string(sf, SF_STR_TITLE, "seed");
        sf_writef_float(sf, x, frames);
        sf_close(sf);
        written++;
    }
    free(x);
    printf("%d audio seeds\n", written);
    return 0;
}
