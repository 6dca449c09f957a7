/* cmd_decode.c — `musicgen decode -m MODEL CODES.npy -o OUT.wav`: decode codes (a
 * NumPy integer array [1, K, T], [K, T] or [B, K, T], as `musicgen encode` or
 * `generate --codes` write them) with the model's EnCodec into audio files. Several
 * rows go to one file each in the directory given by -o. Every output is checked
 * before anything is decoded and written atomically; nothing is overwritten without
 * --force. s16/s24 clip samples beyond +-1 and say so; f32 keeps them. */
#include "cli.h"
#include "base/file.h" /* path checks */
#include "base/resources.h" /* mg_memory_check */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(void) {
    printf("usage: musicgen decode [-m MODEL] CODES.npy -o OUT.wav [--sample-format F]\n"
           "                       [--audio-format F] [--force]\n\n"
           "Decode EnCodec codes into audio. CODES.npy holds integers of shape [1, K, T] or\n"
           "[K, T] (K codebooks, T frames; stereo models interleave left/right per level);\n"
           "[B, K, T] with B > 1 writes one file per row, CODES-0.wav, CODES-1.wav, ... into\n"
           "the directory given by -o (an existing directory or a path ending in '/').\n"
           "The container follows the extension (.wav .flac .ogg .mp3).\n\n"
           "  -m, --model MODEL          folder, .gguf file or repo id[@REVISION]\n"
           "                             (default %s)\n"
           "  -o, --output PATH          output file, or directory (required)\n"
           "  -s, --sample-format FMT    s16 (default), s24 or f32; s16/s24 clip beyond +-1\n"
           "  --audio-format FMT         wav (default), flac, ogg or mp3: files written into\n"
           "                             a directory\n"
           "  -f, --force                overwrite existing files\n"
           "  -t, --threads N            threads (default: one per core)\n"
           "  -h, --help                 this help\n\n"
           "example: musicgen decode -m facebook/musicgen-small riff.npy -o riff.wav\n",
           MG_DEFAULT_MODEL);
}

/* "dir/x/codes.npy" -> "codes" */
static void file_stem(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, n, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = 0;
    if (!out[0])
        snprintf(out, n, "codes");
}

typedef struct decode_opts {
    const char *model, *in, *out;
    mg_sample_format fmt;
    const char *ext; /* --audio-format, or "wav" */
    int ext_set, force;
    long threads;
} decode_opts;

enum { OPT_AUDIO_FORMAT = 1000 };

static int parse(int argc, char **argv, decode_opts *o) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"output", required_argument, 0, 'o'},
                                         {"sample-format", required_argument, 0, 's'},
                                         {"audio-format", required_argument, 0, OPT_AUDIO_FORMAT},
                                         {"force", no_argument, 0, 'f'},
                                         {"threads", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *optstring = ":m:o:s:ft:h";
    opterr = 0;
    int c;
    if (cli_check_short_clusters("decode", argc, argv, optstring, opts))
        return 1;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'o': o->out = optarg; break;
        case 's':
            if (!cli_parse_sample_format("decode", optarg, &o->fmt))
                return 1;
            break;
        case OPT_AUDIO_FORMAT:
            if (!cli_parse_audio_format("decode", optarg, &o->ext))
                return 1;
            o->ext_set = 1;
            break;
        case 'f': o->force = 1; break;
        case 't':
            if (!cli_parse_int("decode", "--threads", optarg, 1, 1024, &o->threads))
                return 1;
            break;
        case 'h': help(); return -1;
        default: return cli_bad_option("decode", argv, optstring, opts);
        }
    }
    if (optind >= argc)
        return cli_error("decode", "no codes file given (see musicgen decode --help)");
    if (optind + 1 < argc)
        return cli_error("decode", "one codes file at a time (got \"%s\" too)", argv[optind + 1]);
    if (!o->out)
        return cli_error("decode", "no output given: add -o OUT.wav");
    if (!strcmp(o->out, "-"))
        return cli_error("decode", "-o -: decode writes an audio file, not to standard output; give a name such as "
                         "out.wav (generate --stream writes a WAV to standard output)");
    o->in = argv[optind];
    return 0;
}

/* Output path of row b of B; a directory output gets STEM.wav / STEM-b.wav (or the
 * extension --audio-format gives). */
static int output_path(const decode_opts *o, int b, int B, char *buf, size_t n) {
    size_t len = strlen(o->out);
    int dir = len > 0 && (o->out[len - 1] == '/' || mg_path_is_dir(o->out));
    if (!dir) {
        if (B > 1)
            return cli_error("decode", "%s holds %d rows of codes: give a directory with -o (a path ending in '/')",
                             o->in, B);
        if (o->ext_set && !cli_check_audio_format_of("decode", o->out, o->ext))
            return 1;
        snprintf(buf, n, "%s", o->out);
        return 0;
    }
    char stem[256];
    file_stem(o->in, stem, sizeof stem);
    const char *sep = o->out[len - 1] == '/' ? "" : "/";
    if (B > 1)
        snprintf(buf, n, "%s%s%s-%d.%s", o->out, sep, stem, b, o->ext);
    else
        snprintf(buf, n, "%s%s%s.%s", o->out, sep, stem, o->ext);
    return 0;
}

/* Ctrl-C (or SIGTERM / SIGHUP) sets cli_interrupted while decode runs, and cancels
 * the row being decoded (mg_cancel, within a block of ~11 s of audio): it is looked at
 * between the model's load, each row's decoding and each file's writing, and the run
 * then ends as a failed one, leaving nothing behind. Returns the exit code (128 + the
 * signal) once one came, else 0. */
static int stop_requested(void) {
    if (!cli_interrupted)
        return 0;
    cli_block_interrupts();
    return cli_interrupted_exit();
}

/* Write every row's file, all or nothing: when one fails (full disk) or Ctrl-C comes
 * while they are written, the files this run wrote are removed again (but not those
 * that replaced an existing file under --force: cli_outputs_undo), and the names and
 * clipping warnings are printed only once all are there. A signal is acted on before
 * a file is written, not after the last: by then the work is done. */
static int write_all(char (*paths)[4096], float **pcm, int B, int64_t n_samples, int channels, int sample_rate,
                     const mg_audio_write_params *wo) {
    int64_t *clipped = calloc((size_t)B, sizeof *clipped);
    const char **names = calloc((size_t)B, sizeof *names);
    if (!clipped || !names) {
        free(clipped);
        free(names);
        return cli_error("decode", "out of memory");
    }
    for (int b = 0; b < B; b++)
        names[b] = paths[b];
    unsigned char *existed = cli_outputs_begin(names, B);
    int rc = 0, n_written = 0, interrupted = 0;
    for (int b = 0; b < B && !rc; b++) {
        if (cli_interrupted) {
            interrupted = 1;
            rc = 128 + cli_interrupted;
            break;
        }
        mg_status st = mg_write_audio(paths[b], pcm[b], n_samples, channels, sample_rate, wo, &clipped[b]);
        if (st != MG_OK)
            rc = cli_lib_error("decode", st);
        else
            cli_outputs_written(++n_written);
    }
    if (rc) {
        cli_outputs_undo("decode", names, existed, n_written, interrupted);
    } else {
        cli_outputs_end();
        for (int b = 0; b < B; b++) {
            if (clipped[b])
                cli_warn_clipped((long long)clipped[b], paths[b], 0);
            printf("%s\n", paths[b]);
        }
    }
    free(existed);
    free(names);
    free(clipped);
    return rc;
}

static int decode_all(const decode_opts *o, const int64_t *codes, int B, int64_t K, int64_t T) {
    if (K > 1024 || T > (1 << 26))
        return cli_error("decode", "%s: cannot decode codes of shape [%d, %lld, %lld]", o->in, B, (long long)K,
                         (long long)T);
    size_t len = strlen(o->out);
    int made = 0; /* folders made, removed again when the command fails */
    if (len > 1 && o->out[len - 1] == '/' && !mg_path_is_dir(o->out)) {
        mg_status st = mg_mkdirs(o->out, "", &made);
        if (st != MG_OK) {
            cli_remove_made_dirs(o->out, made);
            return cli_lib_error("decode", st);
        }
        cli_outputs_dir(o->out, made);
    }
    char(*paths)[4096] = calloc((size_t)B, sizeof *paths);
    float **pcm = calloc((size_t)B, sizeof *pcm);
    if (!paths || !pcm) {
        free(paths);
        free(pcm);
        cli_remove_made_dirs(o->out, made);
        return cli_error("decode", "out of memory");
    }
    int rc = 0;
    for (int b = 0; b < B && !rc; b++)
        rc = output_path(o, b, B, paths[b], sizeof paths[b]);
    mg_model *m = NULL;
    mg_context *ctx = NULL;
    mg_model_params mp = mg_model_default_params();
    if (!rc)
        rc = cli_load_model("decode", o->model, &mp, &m);
    if (!rc)
        rc = stop_requested();
    mg_model_info info;
    mg_audio_write_params wo = mg_audio_write_default_params();
    wo.format = o->fmt;
    wo.overwrite = o->force;
    wo.tags.software = cli_software_tag();
    if (!rc) {
        mg_model_get_info(m, &info);
        /* Valid (EnCodec decodes any number of levels) but rarely meant: say so. */
        if (K < info.n_codebooks && K >= info.channels && K % info.channels == 0)
            cli_warn("%s has %lld codebooks and the model generates %d: decoding with those only (a lower "
                     "bandwidth%s)", o->in, (long long)K, info.n_codebooks,
                     info.channels == 2 ? ", read as levels interleaved left / right" : "");
        /* Every row is decoded before any is written: all of them must fit at once. */
        double need = (double)B * (double)T * info.hop_length * info.channels * sizeof(float);
        char what[96];
        snprintf(what, sizeof what, "decoding %lld row%s of %lld frames", (long long)B, B == 1 ? "" : "s",
                 (long long)T);
        if (mg_memory_check(need, what, "split the codes into smaller files") != MG_OK)
            rc = cli_error("decode", "%s", mg_last_error());
        /* Before hours of decoding: what mg_write_audio would refuse afterwards. */
        if (!rc && (double)T * info.hop_length > (double)MG_MAX_WRITE_SECONDS * info.sample_rate)
            rc = cli_error("decode", "%s holds %lld frames of codes, %.2f s of audio; a file holds at most %d s (4 "
                           "hours): split the codes", o->in, (long long)T,
                           (double)T * info.hop_length / info.sample_rate, MG_MAX_WRITE_SECONDS);
        for (int b = 0; b < B && !rc; b++) {
            mg_status st = mg_check_audio_output(paths[b], &wo, info.channels, info.sample_rate);
            if (st == MG_ERR_EXISTS)
                rc = cli_error("decode", "%s exists; use --force to overwrite it", paths[b]);
            else if (st != MG_OK)
                rc = cli_lib_error("decode", st);
        }
    }
    if (!rc) {
        mg_context_params cp = mg_context_default_params();
        cp.n_threads = (int)o->threads;
        mg_status st = mg_context_new(m, &cp, &ctx);
        if (st != MG_OK)
            rc = cli_lib_error("decode", st);
        cli_cancel_on_interrupt(ctx);
    }
    /* Decode every row before writing any, so a bad row leaves no files behind. A
     * number of codebooks the codec cannot decode is wrong for every row: the error
     * then names the file, not row 0. */
    int64_t n_samples = 0;
    int channels = 0;
    int k_fits = !rc && K >= info.channels && K % info.channels == 0 && K / info.channels <= info.codec_codebooks;
    for (int b = 0; b < B && !rc; b++) {
        mg_status st = mg_decode_codes(ctx, codes + (int64_t)b * K * T, (int)K, (int)T, &pcm[b], &n_samples, &channels);
        if (st == MG_ERR_CANCELLED && cli_interrupted) {
            rc = stop_requested();
            break;
        }
        if (st != MG_OK)
            rc = B > 1 && k_fits ? cli_error("decode", "row %d of %s: %s", b, o->in, mg_last_error())
                                 : cli_error("decode", "%s: %s", o->in, mg_last_error());
        if (!rc)
            rc = stop_requested();
    }
    if (!rc)
        rc = write_all(paths, pcm, B, n_samples, channels, info.sample_rate, &wo);
    for (int b = 0; b < B; b++)
        mg_free(pcm[b]);
    free(pcm);
    free(paths);
    cli_cancel_on_interrupt(NULL);
    mg_context_free(ctx);
    mg_model_free(m);
    if (rc)
        cli_remove_made_dirs(o->out, made); /* only if still empty */
    return rc;
}

int cmd_decode(int argc, char **argv) {
    decode_opts o = {MG_DEFAULT_MODEL, NULL, NULL, MG_SAMPLE_S16, "wav", 0, 0, 0};
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    cli_stop_on_interrupt("decode", "nothing was written");
    int64_t *codes = NULL;
    int B = 0, K = 0, T = 0;
    mg_status st = mg_read_codes(o.in, &codes, &B, &K, &T);
    if (st != MG_OK)
        return cli_lib_error("decode", st);
    rc = decode_all(&o, codes, B, K, T);
    mg_free(codes);
    return rc;
}
