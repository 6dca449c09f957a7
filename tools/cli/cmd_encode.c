/* cmd_encode.c — `musicgen encode -m MODEL IN_AUDIO -o CODES.npy [--force]`: encode an
 * audio file with the model's EnCodec into a NumPy int64 array [1, K, T] — the codes
 * MusicGen uses as an audio prompt (stereo models: K = 2 x levels, left/right
 * interleaved per level). The audio is resampled to the codec's rate and mixed to the
 * model's channel count first. Writes atomically; never overwrites without --force. */
#include "cli.h"
#include "base/file.h" /* mg_path_is_dir */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void) {
    printf("usage: musicgen encode [-m MODEL] IN_AUDIO -o CODES.npy [--force]\n\n"
           "Encode IN_AUDIO (wav, flac, ogg, ...; any rate and channel count) with the\n"
           "model's EnCodec into codes: a NumPy int64 array of shape [1, K, T] (K codebooks,\n"
           "T frames at the codec's frame rate, 50 Hz for MusicGen). Stereo models give\n"
           "K = 2 x levels, interleaved left/right per level. The audio is resampled to the\n"
           "codec's rate; several channels are averaged for a mono model, mono is duplicated\n"
           "for a stereo one. `musicgen decode` turns the codes back into audio.\n\n"
           "  -m, --model MODEL    folder, .gguf file or repo id[@REVISION]\n"
           "                       (default %s)\n"
           "  -o, --output FILE    the .npy file to write (required)\n"
           "  -f, --force          overwrite FILE if it exists\n"
           "  -t, --threads N      threads (default: one per core)\n"
           "  -h, --help           this help\n\n"
           "example: musicgen encode -m facebook/musicgen-small riff.wav -o riff.npy\n",
           MG_DEFAULT_MODEL);
}

int cmd_encode(int argc, char **argv) {
    const char *model = MG_DEFAULT_MODEL, *out = NULL;
    int force = 0;
    long threads = 0;
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"output", required_argument, 0, 'o'},
                                         {"force", no_argument, 0, 'f'},
                                         {"threads", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *optstring = ":m:o:ft:h";
    opterr = 0;
    int c;
    if (cli_check_short_clusters("encode", argc, argv, optstring, opts))
        return 1;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        case 'f': force = 1; break;
        case 't':
            if (!cli_parse_int("encode", "--threads", optarg, 1, 1024, &threads))
                return 1;
            break;
        case 'h': help(); return 0;
        default: return cli_bad_option("encode", argv, optstring, opts);
        }
    }
    if (optind >= argc)
        return cli_error("encode", "no input audio given (see musicgen encode --help)");
    if (optind + 1 < argc)
        return cli_error("encode", "one input file at a time (got \"%s\" too)", argv[optind + 1]);
    if (!out)
        return cli_error("encode", "no output given: add -o CODES.npy");
    if (cli_check_codes_path("encode", "-o", out))
        return 1;
    const char *in = argv[optind];
    /* Fail before any work on an output that cannot be written. */
    size_t out_len = strlen(out);
    if (mg_path_is_dir(out) || (out_len && out[out_len - 1] == '/'))
        return cli_error("encode", "-o %s is a folder; give a file name such as %s%scodes.npy", out, out,
                         out_len && out[out_len - 1] == '/' ? "" : "/");
    if (!force && access(out, F_OK) == 0)
        return cli_error("encode", "%s exists; use --force to overwrite it", out);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    if (access(slash ? dir : ".", W_OK) != 0)
        return cli_error("encode", "cannot write %s: the folder %s does not exist or is not writable", out,
                         slash ? dir : ".");
    cli_exit_cleanly_on_interrupt("encode");
    float *pcm = NULL;
    int64_t n_frames = 0;
    int channels = 0, rate = 0;
    int saved_stderr = cli_foreign_stderr_off();
    mg_status st = mg_read_audio(in, &pcm, &n_frames, &channels, &rate);
    cli_foreign_stderr_on(saved_stderr);
    if (st != MG_OK)
        return cli_lib_error("encode", st);
    mg_model_params mp = mg_model_default_params();
    mg_model *m;
    if (cli_load_model("encode", model, &mp, &m)) {
        mg_free(pcm);
        return 1;
    }
    mg_context_params cp = mg_context_default_params();
    cp.n_threads = (int)threads;
    mg_context *ctx = NULL;
    int64_t *codes = NULL;
    int K = 0, T = 0;
    st = mg_context_new(m, &cp, &ctx);
    if (st == MG_OK)
        st = mg_encode_audio(ctx, pcm, n_frames, channels, rate, &codes, &K, &T);
    if (st == MG_OK)
        st = mg_write_codes(out, codes, 1, K, T, force);
    int rc = 0;
    if (st == MG_OK)
        printf("%s\n", out);
    else
        rc = cli_lib_error("encode", st);
    mg_free(codes);
    mg_context_free(ctx);
    mg_model_free(m);
    mg_free(pcm);
    return rc;
}
