/* cmd_generate.c — `musicgen generate`: prompts in, music (and/or codes) out.
 *
 * Plans every output file before any work (existing files without --force, missing
 * folders and bad extensions fail in a second, not after minutes of generation),
 * shows a progress bar on a terminal, cancels cleanly on Ctrl-C, and writes files
 * atomically, so an interrupted run never leaves a partial file. */
#include "cli.h"
#include "cli_generate.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void help(void) {
    printf("usage: musicgen generate [options] PROMPT [PROMPT...]    (more: man musicgen)\n"
           "Each PROMPT (or -p) is one item of the batch, \"\" unconditional. Defaults:\n"
           "%s, 10 s, sampling as the model's generation_config.json\n"
           "says (released models: top-k 250, guidance 3), random seed.\n\n"
           "  -m, --model MODEL      folder, .gguf file or repo id[@REVISION]\n"
           "  -o, --output OUT       a file (.wav .flac .ogg .mp3) or a folder (existing or\n"
           "                         ending in '/'; ./musicgen-output/); '-' with --stream\n"
           "  --audio-format F       a folder's files: wav (default), flac, ogg or mp3\n"
           "  -d, --duration SEC     seconds incl. an audio prompt (10); --steps N: N steps\n"
           "  -p, --prompt P         a prompt (repeatable); --prompts-file FILE: 1 per line\n"
           "  --audio-prompt FILE    continue this audio (the output starts with it)\n"
           "  --negative-prompt T    steer away from T (the CFG unconditional row)\n"
           "  --greedy               argmax, f32 attention cache (the reference's codes)\n"
           "  --top-k N --top-p P --temperature T   sampling (top-k 0 = off)\n"
           "  --cfg S --seed N       guidance (<= 1: none); item i uses N+i (-1: random)\n"
           "  --window S --stride S  long-form beyond one window; --stream [--raw]: stdout\n"
           "  --codes-out FILE.npy   save the codes ([B, K, T] int64)\n"
           "  -s, --sample-format F  s16 (default), s24, f32 (the float samples unchanged)\n"
           "  --loudness-normalize[=LUFS]  EBU R128 (-14) + peak limit; --normalize: peak\n"
           "  --kv-type T            attention cache: f16 (f32 when greedy), f32, q8_0\n"
           "  --weight-type T        f32 .. q4_0 on load (default: f32 as f16 unless greedy)\n"
           "  --no-mmap              copy the step's weights into memory (faster steps)\n"
           "  -f --force, -q --quiet (no progress bar), --json, -t --threads N, -h --help\n",
           MG_DEFAULT_MODEL);
}

enum {
    OPT_GREEDY = 1000, OPT_TOPK, OPT_TOPP, OPT_TEMP, OPT_CFG, OPT_SEED, OPT_STEPS, OPT_CODES_OUT,
    OPT_AUDIO_PROMPT, OPT_PROMPTS_FILE, OPT_JSON, OPT_LOUDNESS, OPT_NORMALIZE, OPT_NEGATIVE,
    OPT_WINDOW, OPT_STRIDE, OPT_STREAM, OPT_RAW, OPT_KV, OPT_WEIGHT_TYPE, OPT_NO_MMAP, OPT_AUDIO_FORMAT
};

/* ---- progress ------------------------------------------------------------------------ */

typedef struct {
    double t0;
    int show;
    float frame_rate;
    int delays;
    int last_len;
} progress_state;

static int progress(int step, int total, void *user) {
    progress_state *p = user;
    if (cli_interrupted)
        return 1;
    if (!p->show)
        return 0;
    double el = cli_now_s() - p->t0;
    double eta = step > 0 ? el * (total - step) / step : 0;
    double audio_s = (step > p->delays ? step - p->delays + 1 : 0) / p->frame_rate;
    double rtf = audio_s > 0 ? el / audio_s : 0;
    int width = 30, fill = total ? (int)((double)width * step / total) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %d/%d steps  %.1f s audio  ETA %d:%02d  RTF %.2f ", bar, step, total, audio_s,
            (int)eta / 60, (int)eta % 60, rtf);
    if (step == total)
        fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

/* ---- prompts --------------------------------------------------------------------------- */

#define MAX_FLAG_PROMPTS 256      /* -p/--prompt flags; more belong in a --prompts-file */
#define MAX_PROMPT_LINE (1 << 20) /* bytes of one line; prompts are short descriptions */

/* Appends a copy of `prompt` to the list; 1 if out of memory (the list stays valid). */
static int append_prompt(char ***prompts, int *n, const char *prompt) {
    char **np = realloc(*prompts, sizeof(char *) * (size_t)(*n + 1));
    char *copy = np ? strdup(prompt) : NULL;
    if (np)
        *prompts = np;
    if (!copy)
        return 1;
    (*prompts)[(*n)++] = copy;
    return 0;
}

/* One prompt per line (blank lines skipped). Lines longer than MAX_PROMPT_LINE fail
 * instead of growing without bound (--prompts-file /dev/zero must not eat memory). */
/* Is the line only spaces and tabs? */
static int is_blank(const char *s) {
    s += strspn(s, " \t\f\v");
    return !*s;
}

/* One prompt per line ("-": standard input); lines end in \n, \r\n or a lone \r (classic
 * Mac files); blank lines are skipped. */
static int read_prompts_file(const char *path, char ***prompts, int *n) {
    struct stat sb;
    int from_stdin = !strcmp(path, "-");
    if (!from_stdin && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_error("generate", "--prompts-file %s is a folder; give a text file with one prompt per line", path);
    FILE *f = from_stdin ? stdin : fopen(path, "r");
    if (!f)
        return cli_error("generate", "cannot read --prompts-file %s: %s", path, strerror(errno));
    int n_before = *n;
    char *line = malloc(MAX_PROMPT_LINE + 1);
    int rc = line ? 0 : cli_error("generate", "out of memory");
    long lineno = 0;
    while (!rc) {
        size_t len = 0;
        int ch = 0;
        while (len <= MAX_PROMPT_LINE && (ch = getc(f)) != EOF && ch != '\n') {
            if (ch == 0)
                break;
            if (ch == '\r') { /* \r\n or a lone \r: the end of the line */
                int next = getc(f);
                if (next != '\n' && next != EOF)
                    ungetc(next, f);
                ch = '\n';
                break;
            }
            line[len++] = (char)ch;
        }
        if (ch == 0) { /* an audio file or other binary given by mistake */
            rc = cli_error("generate", "--prompts-file %s is not a text file (a NUL byte on line %ld); give one prompt "
                           "per line (audio to continue goes to --audio-prompt)", path, lineno + 1);
            break;
        }
        if (len > MAX_PROMPT_LINE) {
            rc = cli_error("generate", "line %ld of --prompts-file %s is longer than %d bytes; give one short "
                           "description per line", lineno + 1, path, MAX_PROMPT_LINE);
            break;
        }
        if (ch == EOF && ferror(f)) {
            rc = cli_error("generate", "cannot read --prompts-file %s: %s", path, strerror(errno));
            break;
        }
        lineno++;
        line[len] = 0;
        const char *text = line;
        if (lineno == 1 && !strncmp(text, "\xEF\xBB\xBF", 3))
            text += 3; /* a UTF-8 byte order mark, as some editors write */
        /* blank lines are separators, not unconditional prompts */
        if (!is_blank(text) && append_prompt(prompts, n, text)) {
            rc = cli_error("generate", "out of memory reading --prompts-file %s", path);
            break;
        }
        if (ch == EOF)
            break;
    }
    free(line);
    if (!from_stdin)
        fclose(f);
    if (!rc && *n == n_before && *n == 0)
        rc = cli_error("generate", "--prompts-file %s holds no prompts (blank lines are skipped); write one prompt per "
                       "line", path);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    gen_options o;
    gen_options_init(&o);
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},       {"output", required_argument, 0, 'o'},
        {"duration", required_argument, 0, 'd'},    {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},             {"help", no_argument, 0, 'h'},
        {"prompt", required_argument, 0, 'p'},      {"greedy", no_argument, 0, OPT_GREEDY},     {"top-k", required_argument, 0, OPT_TOPK},
        {"top-p", required_argument, 0, OPT_TOPP},  {"temperature", required_argument, 0, OPT_TEMP},
        {"cfg", required_argument, 0, OPT_CFG},     {"seed", required_argument, 0, OPT_SEED},
        {"steps", required_argument, 0, OPT_STEPS}, {"codes-out", required_argument, 0, OPT_CODES_OUT},
        {"force", no_argument, 0, 'f'},             {"sample-format", required_argument, 0, 's'},
        {"audio-prompt", required_argument, 0, OPT_AUDIO_PROMPT},
        {"prompts-file", required_argument, 0, OPT_PROMPTS_FILE},
        {"json", no_argument, 0, OPT_JSON},         {"loudness-normalize", optional_argument, 0, OPT_LOUDNESS},
        {"normalize", no_argument, 0, OPT_NORMALIZE}, {"negative-prompt", required_argument, 0, OPT_NEGATIVE},
        {"window", required_argument, 0, OPT_WINDOW}, {"stride", required_argument, 0, OPT_STRIDE},
        {"stream", no_argument, 0, OPT_STREAM},     {"raw", no_argument, 0, OPT_RAW},
        {"kv-type", required_argument, 0, OPT_KV},  {"weight-type", required_argument, 0, OPT_WEIGHT_TYPE},
        {"no-mmap", no_argument, 0, OPT_NO_MMAP},   {"audio-format", required_argument, 0, OPT_AUDIO_FORMAT},
        {0, 0, 0, 0}};
    const char *optstring = ":m:o:d:t:p:s:fqh";
    opterr = 0;
    optind = 1;
    int c;
    long lv;
    double dv;
    /* -p prompts point into argv until options are parsed: an early error return
     * then leaves nothing allocated. */
    const char *flag_prompts[MAX_FLAG_PROMPTS];
    int n_flag_prompts = 0;
    int sampling_option = 0; /* --top-k, --top-p or --temperature: sample, whatever the model's default */
    if (cli_check_short_clusters("generate", argc, argv, optstring, opts))
        return 1;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'o': o.output = optarg; break;
        case 'd':
            if (!cli_parse_float("generate", "--duration", optarg, -INFINITY, INFINITY, &dv))
                return 1;
            if (!(dv > 0))
                return cli_error("generate", "--duration must be a positive number of seconds (got %s)", optarg);
            o.duration = dv;
            o.duration_set = 1;
            break;
        case 't':
            if (!cli_parse_int("generate", "--threads", optarg, 1, 1024, &lv))
                return 1;
            o.threads = (int)lv;
            break;
        case 'q': cli_quiet = 1; break;
        case 'h': help(); return 0;
        case 'p':
            if (n_flag_prompts == MAX_FLAG_PROMPTS)
                return cli_error("generate", "more than %d -p prompts; put them in a --prompts-file", MAX_FLAG_PROMPTS);
            flag_prompts[n_flag_prompts++] = optarg;
            break;
        case OPT_GREEDY: o.greedy = 1; break;
        case OPT_TOPK:
            if (!cli_parse_int("generate", "--top-k", optarg, 0, 1 << 30, &lv))
                return 1;
            o.top_k = (int)lv;
            sampling_option = 1;
            break;
        case OPT_TOPP:
            if (!cli_parse_float("generate", "--top-p", optarg, -INFINITY, INFINITY, &dv))
                return 1;
            if (!(dv > 0 && dv <= 1))
                return cli_error("generate", "--top-p must be in (0, 1] (got %s)", optarg);
            /* Below the smallest float (where 0 would mean "off"), any p keeps only the
             * most likely token, as FLT_MIN does. */
            o.top_p = dv < FLT_MIN ? FLT_MIN : dv;
            sampling_option = 1;
            break;
        case OPT_TEMP:
            if (!cli_parse_float("generate", "--temperature", optarg, -INFINITY, INFINITY, &dv))
                return 1;
            if (!(dv > 0) || isinf(dv))
                return cli_error("generate", "--temperature must be a positive number (got %s); use --greedy for argmax",
                                 optarg);
            /* Beyond what a float holds, the limits: argmax with ties shared below
             * FLT_MIN, a flat distribution above FLT_MAX. */
            o.temperature = dv < FLT_MIN ? FLT_MIN : dv > FLT_MAX ? FLT_MAX : dv;
            sampling_option = 1;
            break;
        case OPT_CFG:
            if (!cli_parse_float("generate", "--cfg", optarg, 0, 1e6, &dv))
                return 1;
            o.cfg = dv;
            break;
        case OPT_SEED:
            if (!strcmp(optarg, "-1")) { /* llama.cpp's spelling of "random" */
                o.seed_set = 0;
                break;
            }
            if (!cli_parse_u64("generate", "--seed", optarg, &o.seed))
                return 1;
            if (o.seed == MG_SEED_RANDOM)
                return cli_error("generate", "--seed is at most %llu (-1 picks a random seed)",
                                 (unsigned long long)(MG_SEED_RANDOM - 1));
            o.seed_set = 1;
            break;
        case OPT_STEPS:
            if (!cli_parse_int("generate", "--steps", optarg, 1, 1 << 24, &lv))
                return 1;
            o.steps = (int)lv;
            break;
        case OPT_CODES_OUT: o.codes_out = optarg; break;
        case 'f': o.force = 1; break;
        case 's':
            if (!cli_parse_sample_format("generate", optarg, &o.sample_format))
                return 1;
            o.sample_format_set = 1;
            break;
        case OPT_AUDIO_PROMPT: o.audio_prompt = optarg; break;
        case OPT_PROMPTS_FILE:
            if (o.prompts_file)
                return cli_error("generate", "--prompts-file given twice (%s and %s); put all prompts in one file",
                                 o.prompts_file, optarg);
            o.prompts_file = optarg;
            break;
        case OPT_JSON: o.json = 1; break;
        case OPT_LOUDNESS: {
            o.loudness = 1;
            if (optarg && !cli_parse_float("generate", "--loudness-normalize", optarg, -70, 0, &o.target_lufs))
                return 1;
            /* "--loudness-normalize 14" would make "14" a prompt: an optional value needs '='. */
            char *end;
            if (!optarg && optind < argc && (strtod(argv[optind], &end), end != argv[optind] && !*end))
                return cli_error("generate", "give the loudness target as --loudness-normalize=%s (with '='; "
                                 "a separate \"%s\" would be a prompt)", argv[optind], argv[optind]);
            break;
        }
        case OPT_NORMALIZE: o.peak_normalize = 1; break;
        case OPT_NEGATIVE: o.negative = optarg; break;
        case OPT_WINDOW:
        case OPT_STRIDE: {
            /* Any positive length; the model's frame rate and window decide what fits. */
            const char *name = c == OPT_WINDOW ? "--window" : "--stride";
            if (!cli_parse_float("generate", name, optarg, 0, 1e5, &dv))
                return 1;
            if (!(dv > 0))
                return cli_error("generate", "%s must be a positive number of seconds (got %s)", name, optarg);
            *(c == OPT_WINDOW ? &o.window : &o.stride) = dv;
            break;
        }
        case OPT_STREAM: o.stream = 1; break;
        case OPT_RAW: o.raw = 1; break;
        case OPT_KV:
            if (!cli_parse_kv_type("generate", optarg, &o.kv_type))
                return 1;
            o.kv_type_set = 1;
            break;
        case OPT_WEIGHT_TYPE:
            if (!cli_parse_weight_type("generate", optarg, &o.weight_type))
                return 1;
            break;
        case OPT_NO_MMAP: o.no_mmap = 1; break;
        case OPT_AUDIO_FORMAT:
            if (!cli_parse_audio_format("generate", optarg, &o.audio_ext))
                return 1;
            o.audio_ext_set = 1;
            break;
        default: return cli_bad_option("generate", argv, optstring, opts);
        }
    }
    if (o.greedy < 0 && sampling_option)
        o.greedy = 0;
    int oom = 0;
    for (int i = 0; i < n_flag_prompts && !oom; i++)
        oom = append_prompt(&o.prompts, &o.n_prompts, flag_prompts[i]);
    for (int i = optind; i < argc && !oom; i++)
        oom = append_prompt(&o.prompts, &o.n_prompts, argv[i]);
    if (oom) {
        gen_options_free(&o);
        return cli_error("generate", "out of memory");
    }
    if (o.prompts_file && read_prompts_file(o.prompts_file, &o.prompts, &o.n_prompts)) {
        gen_options_free(&o);
        return 1;
    }
    /* `--audio-prompt FILE` alone continues the audio without text (unconditionally). */
    if (o.n_prompts == 0 && o.audio_prompt && append_prompt(&o.prompts, &o.n_prompts, "")) {
        gen_options_free(&o);
        return cli_error("generate", "out of memory");
    }
    int rc = gen_validate(&o);
    if (rc == 0) {
        /* First Ctrl-C: stop at the next decoder step and clean up; a second one (while
         * loading or decoding audio) leaves at once. SIGHUP: the terminal closed. */
        cli_stop_on_interrupt("generate", o.stream ? "nothing else was written" : "nothing was written");
        progress_state ps = {cli_now_s(), cli_stderr_is_tty() && !o.json, 50.0f, 4, 0};
        o.progress = progress;
        o.progress_user = &ps;
        o.progress_state_frame_rate = &ps.frame_rate;
        o.progress_state_delays = &ps.delays;
        o.interrupted = &cli_interrupted;
        rc = gen_run(&o);
    }
    gen_options_free(&o);
    return rc;
}
