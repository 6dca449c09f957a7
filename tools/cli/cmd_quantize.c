/* cmd_quantize.c — `musicgen quantize -m MODEL -o OUT.gguf [--type TYPE] [--pure] [--force]`:
 * convert a checkpoint (Hugging Face folder, repo id or GGUF) into one GGUF file
 * with the big matrices in f32, f16, bf16, q8_0 or q4_0 (src/io/gguf_write.c does
 * the work; docs/gguf.md says which tensor gets which format). The output is
 * written atomically and never replaces an existing file without --force. */
#include "cli.h"
#include "base/file.h"
#include "base/timing.h"
#include "io/checkpoint.h"
#include "io/gguf.h"
#include "io/hub.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void help(void) {
    printf("usage: musicgen quantize -m MODEL -o OUT.gguf [--type TYPE] [--pure] [--force]\n\n"
           "Convert a model into one GGUF file that loads without conversion (mmap).\n"
           "The decoder matrices get TYPE (q8_0 / q4_0 with 16 rows stored together where\n"
           "a matrix allows: the faster q8_0x16 / q4_0x16 layouts; f32 for matrices of\n"
           "fewer than 262144 values, which only toy models have, f16 for rows not a\n"
           "multiple of 32 long); T5's matrices are f16 unless f32 (or small); T5's\n"
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
           "  -h, --help          this help\n", MG_DEFAULT_MODEL);
}

static int parse_type(const char *s, mg_dtype *out) {
    static const struct {
        const char *name;
        mg_dtype t;
    } map[] = {{"f32", MG_DT_F32}, {"f16", MG_DT_F16}, {"bf16", MG_DT_BF16}, {"q8_0", MG_DT_Q8_0}, {"q4_0", MG_DT_Q4_0}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(s, map[i].name)) { /* Q8_0 as llama.cpp spells it, too */
            *out = map[i].t;
            return 1;
        }
    cli_error("quantize", "--type must be q8_0, q4_0, f16, bf16 or f32 (got \"%s\")%s", s,
              s[0] >= '0' && s[0] <= '9' ? "; -t is --type here, threads are --threads" : "");
    return 0;
}

typedef struct progress_line {
    double last_draw;
    int drawn;
} progress_line;

/* One redrawn line on a terminal, at most 10 times a second. */
static void draw_progress(void *user, int64_t done, int64_t total, const char *tensor) {
    progress_line *p = user;
    double now = mg_time_now();
    if (done < total && now - p->last_draw < 0.1)
        return;
    p->last_draw = now;
    p->drawn = 1;
    fprintf(stderr, "\r\033[K[%3d%%] %7.1f / %.1f MB  %.60s", total ? (int)(100 * done / total) : 100, (double)done / 1e6,
            (double)total / 1e6, tensor);
    fflush(stderr);
}

static int64_t stored_bytes(const mg_store *s) {
    int64_t n = 0;
    for (int i = 0; i < s->n_entries; i++)
        n += (int64_t)s->entries[i].t.nbytes;
    return n;
}

/* Decoder matrices a block format leaves in a float format: small ones stay f32 (the
 * small-matrix rule, unless --pure), ones whose rows are not a multiple of the block
 * size become f16. */
static void count_kept_matrices(const mg_checkpoint *ck, mg_dtype type, int pure, int *n_small, int *n_ragged) {
    *n_small = *n_ragged = 0;
    for (int i = 0; i < ck->store.n_entries; i++) {
        const mg_store_entry *e = &ck->store.entries[i];
        if (strncmp(e->name, "decoder.", 8) || e->t.ndim != 2 || !mg_gguf_is_weight_matrix(e->name))
            continue;
        mg_dtype got = mg_gguf_pick_type(e->name, 2, e->t.shape, e->t.dtype, type, pure);
        if (got == MG_DT_F32)
            ++*n_small;
        else if (!mg_dtype_is_block(got))
            ++*n_ragged;
    }
}

static void on_finding(mg_finding kind, const char *msg, void *user) {
    (void)user;
    if (kind == MG_FINDING_WARNING)
        cli_warn("%s", msg);
}

/* Refuse what `musicgen info` refuses (a missing tensor, a wrong shape, a config the
 * weights do not fit, NaN weights, a broken tokenizer), before writing a GGUF that
 * would not load or generate: the model is loaded (mapped, not converted) and every
 * value read, as info does; pages are handed back as they are scanned. */
static int check_model_usable(const char *path) {
    mg_model_params mp = mg_model_default_params();
    mg_model *m;
    if (cli_load_model("quantize", path, &mp, &m))
        return 1;
    mg_validate_report rep;
    mg_status st = mg_model_validate(m, on_finding, NULL, &rep);
    mg_model_free(m);
    return st != MG_OK ? cli_lib_error("quantize", st) : 0;
}

int cmd_quantize(int argc, char **argv) {
    const char *model = MG_DEFAULT_MODEL, *out = NULL;
    mg_dtype type = MG_DT_Q8_0;
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
    /* Refuse an existing output before reading gigabytes. */
    mg_status st = mg_check_output_path(out, force);
    if (st != MG_OK)
        return cli_lib_error("quantize", st);

    cli_exit_cleanly_on_interrupt("quantize");
    double t0 = mg_time_now();
    mg_model_params mp = mg_model_default_params();
    cli_download_progress_on(&mp, cli_quiet);
    char *resolved = NULL;
    st = mg_hub_resolve_model(model, &mp, &resolved);
    cli_download_progress_off();
    if (st != MG_OK)
        return cli_lib_error("quantize", st);
    if (check_model_usable(resolved ? resolved : model)) {
        mg_free(resolved);
        return 1;
    }
    cli_release_warnings(1); /* unknown tensors: say so before the long part */
    mg_checkpoint ck;
    st = mg_checkpoint_open(resolved ? resolved : model, &ck);
    mg_free(resolved);
    if (st != MG_OK)
        return cli_lib_error("quantize", st);

    progress_line line = {0, 0};
    mg_gguf_convert_params p = {type, force, cli_stderr_is_tty() ? draw_progress : NULL, &line, threads, pure};
    int n_small = 0, n_ragged = 0;
    if (mg_dtype_is_block(type))
        count_kept_matrices(&ck, type, pure, &n_small, &n_ragged);
    int64_t in_bytes = stored_bytes(&ck.store), out_bytes = 0;
    st = mg_gguf_write_checkpoint(&ck, out, &p, &out_bytes);
    if (line.drawn)
        fputs("\r\033[K", stderr);
    mg_checkpoint_close(&ck);
    if (st != MG_OK)
        return cli_lib_error("quantize", st);
    if (!cli_quiet) {
        fprintf(stderr, "musicgen quantize: wrote %s (%s, %.1f MB from %.1f MB of weights) in %.1f s\n", out,
                mg_dtype_name(type), (double)out_bytes / 1e6, (double)in_bytes / 1e6, mg_time_now() - t0);
        if (n_small)
            fprintf(stderr, "musicgen quantize: %d small decoder matrices (under %lld values) kept in f32; --pure "
                            "quantizes them too\n", n_small, (long long)MG_SMALL_MATRIX_VALUES);
        if (n_ragged)
            fprintf(stderr, "musicgen quantize: %d decoder matrices kept in f16: their rows are not a multiple of %d "
                            "values (the %s block)\n", n_ragged, MG_QK, mg_dtype_name(type));
    }
    return 0;
}
