/* cmd_quantize.c — `musicgen quantize -m MODEL -o OUT.gguf [--type TYPE] [--pure] [--force]`:
 * convert a checkpoint (Hugging Face folder, repo id or GGUF) into one GGUF file with
 * the big matrices in f32, f16, bf16, q8_0 or q4_0, through mg_quantize (musicgen.h;
 * docs/gguf.md says which tensor gets which format), with a progress line and a
 * summary. The output is written atomically and never replaces an existing file
 * without --force; Ctrl-C leaves nothing behind. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void help(void) {
    printf("usage: musicgen quantize -m MODEL -o OUT.gguf [--type TYPE] [--pure] [--force]\n\n"
           "Convert a model into one GGUF file that loads without conversion (mmap).\n"
           "The decoder matrices get TYPE (q8_0 / q4_0 with 16 rows stored together where\n"
           "a matrix allows: the faster q8_0x16 / q4_0x16 layouts; f32 for matrices of\n"
           "fewer than %d values, which only toy models have, f16 for rows not a\n"
           "multiple of %d long); T5's matrices are f16 unless f32 (or small); T5's\n"
           "embeddings stay as stored in q8_0 / q4_0, the decoder's become f16 unless\n"
           "small (TYPE for f16 / bf16); norms, biases, positions, EnCodec stay f32.\n\n"
           "  -m, --model MODEL   folder, .gguf file or repo id[@REVISION]\n"
           "                      (default %s)\n"
           "  -o, --output FILE   the GGUF file to write\n"
           "  -t, --type TYPE     q8_0 (default), q4_0, f16, bf16 or f32\n"
           "      --pure          quantize small decoder matrices to TYPE as well\n"
           "      --threads N     threads converting (default: one per core)\n"
           "  -f, --force         overwrite FILE if it exists\n"
           "  -q, --quiet         no progress or summary\n"
           "  -h, --help          this help\n", MG_QUANT_SMALL_MATRIX, MG_QUANT_BLOCK, MG_DEFAULT_MODEL);
}

static int parse_type(const char *s, mg_weight_type *out) {
    if (cli_weight_type_of(s, out))
        return 1;
    cli_error("quantize", "--type must be q8_0, q4_0, f16, bf16 or f32 (got \"%s\")%s", s,
              s[0] >= '0' && s[0] <= '9' ? "; -t is --type here, threads are --threads" : "");
    return 0;
}

typedef struct progress_line {
    double last_draw;
    int drawn, tty, started;
} progress_line;

/* One redrawn line on a terminal, at most 10 times a second. */
static int on_progress(int64_t done, int64_t total, const char *tensor, void *user) {
    progress_line *p = user;
    if (!p->started) { /* past the checks: their warnings (unknown tensors) before the long part */
        p->started = 1;
        cli_release_warnings(1);
    }
    if (done >= total) /* only the flush and rename are left: the file will be there */
        cli_block_interrupts();
    double now = cli_now_s();
    if (p->tty && (done >= total || now - p->last_draw >= 0.1)) {
        p->last_draw = now;
        p->drawn = 1;
        fprintf(stderr, "\r\033[K[%3d%%] %7.1f / %.1f MB  %.60s", total ? (int)(100 * done / total) : 100,
                (double)done / 1e6, (double)total / 1e6, tensor);
        fflush(stderr);
    }
    return 0;
}

int cmd_quantize(int argc, char **argv) {
    const char *model = MG_DEFAULT_MODEL, *out = NULL;
    mg_weight_type type = MG_WEIGHT_Q8_0;
    int force = 0, threads = 0, pure = 0;
    long lv;
    enum { OPT_THREADS = 1000, OPT_PURE };
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"output", required_argument, 0, 'o'},
                                         {"type", required_argument, 0, 't'},  {"force", no_argument, 0, 'f'},
                                         {"quiet", no_argument, 0, 'q'},       {"help", no_argument, 0, 'h'},
                                         {"threads", required_argument, 0, OPT_THREADS},
                                         {"pure", no_argument, 0, OPT_PURE},           {0, 0, 0, 0}};
    const char *optstring = ":m:o:t:fqh";
    opterr = 0;
    int c;
    if (cli_check_short_clusters("quantize", argc, argv, optstring, opts))
        return 1;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        case 't':
            if (!parse_type(optarg, &type))
                return 1;
            break;
        case OPT_THREADS:
            if (!cli_parse_int("quantize", "--threads", optarg, 1, 1024, &lv))
                return 1;
            threads = (int)lv;
            break;
        case OPT_PURE: pure = 1; break;
        case 'f': force = 1; break;
        case 'q': cli_quiet = 1; break;
        case 'h': help(); return 0;
        default: return cli_bad_option("quantize", argv, optstring, opts);
        }
    }
    if (optind < argc)
        return cli_unexpected_argument("quantize", argv[optind]);
    if (!out)
        return cli_error("quantize", "no output file: give -o OUT.gguf (see musicgen quantize --help)");
    if (!strcmp(out, "-"))
        return cli_error("quantize", "-o -: quantize writes a GGUF file, not to standard output; give a name such as "
                         "model-q8_0.gguf");

    /* Ctrl-C leaves at once (the model check reads every value first and calls no
     * callback), removing the temporary file: nothing is written. */
    cli_exit_cleanly_on_interrupt("quantize");
    double t0 = cli_now_s();
    progress_line line = {0, 0, !cli_quiet && cli_stderr_is_tty(), 0};
    mg_quantize_params p = mg_quantize_default_params();
    p.type = type;
    p.pure = pure;
    p.overwrite = force;
    p.n_threads = threads;
    p.progress = on_progress;
    p.user = &line;
    mg_model_params mp = mg_model_default_params(); /* the download bar, if -m ORG/NAME needs one */
    cli_download_progress_on(&mp, cli_quiet);
    p.download_progress = mp.download_progress;
    p.download_user = mp.download_user;
    mg_quantize_result r;
    mg_status st = mg_quantize(model, out, &p, &r);
    cli_download_progress_off();
    if (line.drawn)
        fputs("\r\033[K", stderr);
    if (st != MG_OK)
        return cli_lib_error("quantize", st);
    if (!cli_quiet) {
        fprintf(stderr, "musicgen quantize: wrote %s (%s, %.1f MB from %.1f MB of weights) in %.1f s\n", out,
                cli_weight_type_name(type), (double)r.out_bytes / 1e6, (double)r.in_bytes / 1e6, cli_now_s() - t0);
        if (r.n_kept_f32)
            fprintf(stderr, "musicgen quantize: %d small decoder matrices (under %d values) kept in f32; --pure "
                            "quantizes them too\n", r.n_kept_f32, MG_QUANT_SMALL_MATRIX);
        if (r.n_kept_f16)
            fprintf(stderr, "musicgen quantize: %d decoder matrices kept in f16: their rows are not a multiple of %d "
                            "values (the %s block)\n", r.n_kept_f16, MG_QUANT_BLOCK, cli_weight_type_name(type));
    }
    return 0;
}
