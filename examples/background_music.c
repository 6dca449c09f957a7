/* background_music.c — a complete host program using libmusicgen: the kind of thing a
 * retrieval app does to get a short piece of background music for a mood.
 *
 *   cc background_music.c $(pkg-config --cflags --libs musicgen) -o background_music
 *   ./background_music [-m MODEL] [-d SECONDS] [-o OUT.wav] "calm piano for reading"
 *
 * Shows: loading a model by name/folder/GGUF (a repo id not yet cached is downloaded,
 * with progress), a context with the thread count, generation with a progress callback,
 * streaming chunks as they are decoded, Ctrl-C cancelling the download or the
 * generation cleanly through those callbacks (a cancelled download resumes on the
 * next run), writing a WAV file, and error handling with mg_last_error(). */
#include <musicgen.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop; /* set by Ctrl-C; the callbacks below pass it on */

static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
}

static int on_download(const mg_download_progress *p, void *user) {
    (void)user;
    if (p->file && p->file_total > 0)
        fprintf(stderr, "\rdownloading %s (%d/%d): %3d%%", p->file, p->file_index, p->n_files,
                (int)(100 * p->file_done / p->file_total));
    if (p->finished && p->n_files > 0)
        fprintf(stderr, "\rdownloaded %s: %lld bytes\n", p->repo_id, (long long)p->received);
    return g_stop; /* non-zero cancels; what arrived is kept for the next run */
}

static int on_progress(int step, int total, void *user) {
    (void)user;
    fprintf(stderr, "\rgenerating: %3d%%", 100 * step / total);
    if (step == total)
        fputc('\n', stderr);
    return g_stop; /* non-zero cancels */
}

static int on_audio(int item, const float *pcm, int64_t n_frames, int channels, int64_t position, void *user) {
    (void)pcm;
    (void)channels;
    int64_t *received = user;
    *received += n_frames;
    (void)item;
    (void)position;
    return 0; /* a player would play pcm here */
}

int main(int argc, char **argv) {
    const char *model_path = "facebook/musicgen-small", *out = "background.wav", *prompt = NULL;
    float seconds = 8.0f;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc)
            model_path = argv[++i];
        else if (!strcmp(argv[i], "-d") && i + 1 < argc)
            seconds = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else
            prompt = argv[i];
    }
    if (!prompt) {
        fprintf(stderr, "usage: %s [-m MODEL] [-d SECONDS] [-o OUT.wav] PROMPT\n", argv[0]);
        return 2;
    }

    signal(SIGINT, on_sigint);
    mg_model_params mp = mg_model_default_params();
    mp.download_progress = on_download;
    mp.weight_type = MG_WEIGHT_AUTO_F16; /* background music: f16 is plenty, and twice as fast */
    mg_model *model;
    mg_status st = mg_model_load(model_path, &mp, &model);
    if (st == MG_ERR_CANCELLED) {
        fprintf(stderr, "\ncancelled: %s\n", mg_last_error());
        return 130;
    }
    if (st != MG_OK) {
        fprintf(stderr, "cannot load %s: %s\n", model_path, mg_last_error());
        return 1;
    }
    mg_model_info info;
    mg_model_get_info(model, &info);
    fprintf(stderr, "%s model, %d Hz, up to %.1f s per window\n", info.stereo ? "stereo" : "mono", info.sample_rate,
            (double)info.max_duration_s);

    mg_context_params cp = mg_context_default_params();
    cp.n_threads = 0; /* all cores */
    mg_context *ctx;
    if (mg_context_new(model, &cp, &ctx) != MG_OK) {
        fprintf(stderr, "%s\n", mg_last_error());
        mg_model_free(model);
        return 1;
    }

    int64_t streamed = 0;
    mg_generate_params gp = mg_generate_default_params();
    gp.duration_s = seconds;
    gp.seed = 7;
    gp.progress = on_progress;
    gp.on_audio = on_audio;
    gp.user = &streamed;
    mg_result *res = NULL;
    int rc = 0;
    if ((st = mg_generate(ctx, &prompt, 1, &gp, &res)) != MG_OK) {
        fprintf(stderr, "generation %s: %s\n", st == MG_ERR_CANCELLED ? "cancelled" : "failed", mg_last_error());
        rc = st == MG_ERR_CANCELLED ? 130 : 1;
    } else {
        mg_audio_write_params wp = mg_audio_write_default_params();
        wp.overwrite = 1;
        wp.tags.title = prompt;
        int64_t clipped = 0;
        if (mg_write_audio(out, res->audio[0], res->n_samples, res->channels, res->sample_rate, &wp, &clipped) != MG_OK) {
            fprintf(stderr, "cannot write %s: %s\n", out, mg_last_error());
            rc = 1;
        } else {
            printf("%s: %.2f s of audio (%lld frames streamed while generating, %lld samples clipped)\n", out,
                   (double)res->n_samples / res->sample_rate, (long long)streamed, (long long)clipped);
        }
        mg_result_free(res);
    }
    mg_context_free(ctx);
    mg_model_free(model);
    return rc;
}
