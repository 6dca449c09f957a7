/* generate_run.c — the work of `musicgen generate` after option parsing: check the
 * request, plan output names, load the model, generate, post-process (loudness /
 * peak normalization), write audio with metadata tags and the codes file, report. */
#include "cli_generate.h"
#include "base/file.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void gen_options_init(gen_options *o) {
    memset(o, 0, sizeof *o);
    o->model = MG_DEFAULT_MODEL;
    o->duration = 10.0;
    o->greedy = -1;
    o->top_k = -1;
    o->top_p = -1;
    o->temperature = -1;
    o->cfg = -1;
    o->sample_format = MG_SAMPLE_S16;
    o->audio_ext = "wav";
    o->kv_type = MG_KV_F16;
    o->weight_type = MG_WEIGHT_AUTO;
    o->target_lufs = -14.0;
}

void gen_options_free(gen_options *o) {
    cli_outputs_end(); /* a signal handler must not see the freed names */
    for (int i = 0; i < o->n_prompts; i++) {
        free(o->prompts[i]);
        if (o->out_paths)
            free(o->out_paths[i]);
    }
    free(o->prompts);
    free(o->out_paths);
    free(o->created_dir);
}

/* The folder part of a path must exist (we never create nested folders silently). */
static int check_parent(const char *path, const char *what) {
    char *copy = strdup(path);
    const char *dir = dirname(copy);
    char why[64 + 4096];
    int ok = !mg_path_not_a_folder(dir, why, sizeof why);
    if (!ok)
        cli_error("generate", "cannot write %s %s: %s", what, path, why);
    free(copy);
    return ok;
}

/* A long piece with a stride far below the window re-generates almost a whole window
 * of context for every stride of new audio: legal, but it can take many times the
 * default's time (audiocraft moves 30 s windows by 18 s), so say so up front. */
static void warn_short_stride(const gen_options *o, const mg_model_info *info) {
    double window = o->window > 0 ? o->window : info->max_duration_s; /* the model's window */
    /* A stride under one frame is an error the library reports. */
    if (o->steps || o->stride * info->frame_rate < 1 || o->duration <= window || o->stride >= window / 10)
        return;
    double windows = ceil((o->duration - window) / o->stride) + 1;
    if (windows >= 20)
        cli_warn("--stride %g s makes about %.0f windows of %.3g s, each re-reading %.3g s of context for %g s of "
                 "new audio; expect it to be slow (a stride of about 60 %% of the window is usual)",
                 o->stride, windows, window, window - o->stride, o->stride);
}

/* A duration beyond one window is made window after window (the library decides it the
 * same way: more codec frames than the window holds): the note for it, or "". */
static void long_form_note(const gen_options *o, const mg_model_info *info, char *note, size_t size) {
    note[0] = 0;
    if (o->steps || o->json || cli_quiet || info->hop_length < 1)
        return;
    double fr = (double)info->sample_rate / info->hop_length;
    double frames = ceil((double)llround(o->duration * info->sample_rate) / info->hop_length);
    double window = o->window > 0 ? floor(o->window * fr + 1e-4) : (double)lround(info->max_duration_s * fr);
    if (frames > window && window > 0)
        snprintf(note, size, "musicgen generate: %g s is longer than %s %.4g s window: it is made window after window, "
                 "each continuing the one before (--window, --stride)\n", o->duration,
                 o->window > 0 ? "the" : "the model's", window / fr);
}

int gen_validate(gen_options *o) {
    if (o->n_prompts < 1)
        return cli_error("generate", "no prompt given: musicgen generate \"lo-fi hip hop, mellow piano\" "
                         "(\"\" for unconditional; see --help)");
    if (o->duration_set && o->steps)
        return cli_error("generate", "give either --duration or --steps, not both");
    /* Item i uses seed + i: every one must be a seed --seed accepts, to be made again. */
    if (o->seed_set && o->seed > MG_SEED_RANDOM - (uint64_t)o->n_prompts)
        return cli_error("generate", "--seed %llu with %d prompts would reach seed %llu, which --seed cannot take; use at "
                         "most %llu", (unsigned long long)o->seed, o->n_prompts, (unsigned long long)MG_SEED_RANDOM,
                         (unsigned long long)(MG_SEED_RANDOM - (uint64_t)o->n_prompts));
    if (o->steps && (o->window > 0 || o->stride > 0)) /* a warning: scripts may pass both */
        cli_warn("--window and --stride apply to --duration (long-form generation); --steps runs within one "
                 "window, so they are ignored");
    if (o->greedy == 1 && (o->top_k >= 0 || o->top_p >= 0 || o->temperature >= 0))
        cli_warn("--greedy takes the most likely code at every step; --top-k, --top-p and --temperature are "
                 "ignored");
    if (o->codes_out && !o->output && !o->stream &&
        (o->audio_ext_set || o->sample_format_set || o->loudness || o->peak_normalize))
        cli_warn("--audio-format, --sample-format, --normalize and --loudness-normalize apply to audio files; with "
                 "only --codes-out none is written, so they are ignored (add -o to write audio as well)");
    if (o->raw && !o->stream)
        return cli_error("generate", "--raw only applies to --stream");
    if (o->stream) {
        if (o->output && strcmp(o->output, "-"))
            return cli_error("generate", "--stream writes to standard output: use -o - and pipe it (e.g. | aplay), "
                             "or drop --stream to write %s", o->output);
        if (o->n_prompts != 1)
            return cli_error("generate", "--stream plays one prompt at a time (got %d)", o->n_prompts);
        if (o->json)
            return cli_error("generate", "--stream uses standard output for audio; drop --json");
        if (o->loudness || o->peak_normalize)
            return cli_error("generate", "normalization needs the whole piece, so it cannot be combined with --stream");
        if (o->audio_ext_set && strcmp(o->audio_ext, "wav"))
            return cli_error("generate", "--stream writes WAV to standard output; drop --audio-format %s (or --stream "
                             "to write a file)", o->audio_ext);
        if (isatty(1))
            return cli_error("generate", "refusing to write audio to a terminal: pipe it (e.g. | aplay) or redirect it");
        o->output = "-";
    }
    if (o->loudness && o->peak_normalize)
        return cli_error("generate", "choose one of --loudness-normalize and --normalize");
    if (o->codes_out) {
        if (cli_check_codes_path("generate", "--codes-out", o->codes_out))
            return 1;
        if (mg_path_exists(o->codes_out) && !o->force)
            return cli_error("generate", "--codes-out %s already exists; use --force to overwrite it", o->codes_out);
        if (mg_path_is_dir(o->codes_out))
            return cli_error("generate", "--codes-out %s is a folder; give a file name such as codes.npy", o->codes_out);
        if (!check_parent(o->codes_out, "codes"))
            return 1;
    }
    if (o->output && !strcmp(o->output, "-") && !o->stream)
        return cli_error("generate", "-o - (stdout) needs --stream");
    if (!o->seed_set) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o->seed = ((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 8)) % 4294967291u;
    }
    return 0;
}

/* Latin letters with accents (U+00C0-U+017F) as plain ASCII for file names, by code
 * point range; NULL for the few non-letters there (the multiplication and division
 * signs). */
static const char *latin_fold(int cp) {
    static const struct {
        int lo, hi;
        const char *ascii;
    } k_fold[] = {
        {0xC0, 0xC5, "a"},   {0xC6, 0xC6, "ae"},  {0xC7, 0xC7, "c"},   {0xC8, 0xCB, "e"},   {0xCC, 0xCF, "i"},
        {0xD0, 0xD0, "d"},   {0xD1, 0xD1, "n"},   {0xD2, 0xD6, "o"},   {0xD8, 0xD8, "o"},   {0xD9, 0xDC, "u"},
        {0xDD, 0xDD, "y"},   {0xDE, 0xDE, "th"},  {0xDF, 0xDF, "ss"},  {0xE0, 0xE5, "a"},   {0xE6, 0xE6, "ae"},
        {0xE7, 0xE7, "c"},   {0xE8, 0xEB, "e"},   {0xEC, 0xEF, "i"},   {0xF0, 0xF0, "d"},   {0xF1, 0xF1, "n"},
        {0xF2, 0xF6, "o"},   {0xF8, 0xF8, "o"},   {0xF9, 0xFC, "u"},   {0xFD, 0xFD, "y"},   {0xFE, 0xFE, "th"},
        {0xFF, 0xFF, "y"},   {0x100, 0x105, "a"}, {0x106, 0x10D, "c"}, {0x10E, 0x111, "d"}, {0x112, 0x11B, "e"},
        {0x11C, 0x123, "g"}, {0x124, 0x127, "h"}, {0x128, 0x131, "i"}, {0x132, 0x133, "ij"}, {0x134, 0x135, "j"},
        {0x136, 0x138, "k"}, {0x139, 0x142, "l"}, {0x143, 0x14B, "n"}, {0x14C, 0x151, "o"}, {0x152, 0x153, "oe"},
        {0x154, 0x159, "r"}, {0x15A, 0x161, "s"}, {0x162, 0x167, "t"}, {0x168, 0x173, "u"}, {0x174, 0x175, "w"},
        {0x176, 0x178, "y"}, {0x179, 0x17E, "z"}, {0x17F, 0x17F, "s"},
    };
    for (size_t i = 0; i < sizeof k_fold / sizeof *k_fold; i++)
        if (cp >= k_fold[i].lo && cp <= k_fold[i].hi)
            return k_fold[i].ascii;
    return NULL;
}

/* "Lo-Fi hip hop, 90 BPM!" -> "lo-fi-hip-hop-90-bpm", "Café señor" -> "cafe-senor" (at
 * most 48 characters, ASCII only: accented Latin letters lose their accents, anything
 * else separates words). */
static void slugify(const char *prompt, char *out, size_t cap) {
    const unsigned char *s = (const unsigned char *)prompt;
    size_t n = 0;
    int dash = 0;
    while (*s) {
        char one[2] = {0, 0};
        const char *word = NULL; /* what this character adds, if it is part of a word */
        size_t used = 1;
        if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')) {
            one[0] = (char)*s;
            word = one;
        } else if (*s >= 'A' && *s <= 'Z') {
            one[0] = (char)(*s - 'A' + 'a');
            word = one;
        } else if (*s >= 0xC3 && *s <= 0xC5 && (s[1] & 0xC0) == 0x80) { /* U+00C0-U+017F in UTF-8 */
            word = latin_fold((*s & 0x1F) << 6 | (s[1] & 0x3F));
            used = 2;
        }
        s += used;
        if (!word) {
            dash = 1;
            continue;
        }
        size_t len = strlen(word), add = len + (dash && n);
        if (n + add >= cap || n + add > 48)
            break;
        if (dash && n)
            out[n++] = '-';
        memcpy(out + n, word, len);
        n += len;
        dash = 0;
    }
    out[n] = 0;
    if (!n) /* "" is the unconditional item; a prompt with no ASCII letter or digit is a prompt */
        snprintf(out, cap, "%s", prompt[0] ? "prompt" : "unconditional");
}

/* Decide the audio file of each prompt. Returns 0 or an exit code. */
static int plan_outputs(gen_options *o) {
    if (o->stream)
        return 0; /* audio goes to standard output as it is made */
    int want_audio = o->output || !o->codes_out;
    if (!want_audio)
        return 0;
    const char *out = o->output ? o->output : "musicgen-output/";
    size_t len = strlen(out);
    int dir = mg_path_is_dir(out) || (len && out[len - 1] == '/');
    if (!dir && o->n_prompts > 1)
        return cli_error("generate", "-o %s names one file but there are %d prompts; give a folder (an existing one, "
                         "or a path ending in '/')", out, o->n_prompts);
    o->out_paths = calloc((size_t)o->n_prompts, sizeof(char *));
    if (!o->out_paths)
        return cli_error("generate", "out of memory");
    if (!dir) {
        if (o->audio_ext_set && !cli_check_audio_format_of("generate", out, o->audio_ext))
            return 1;
        if (!check_parent(out, "audio"))
            return 1;
        o->out_paths[0] = strdup(out);
        return 0;
    }
    if (!mg_path_is_dir(out)) {
        if (mg_path_is_broken_link(out))
            return cli_error("generate", "cannot use %s as the output folder: it is a symbolic link to something that "
                             "does not exist", out);
        size_t n = strlen(out);
        char file[4096]; /* `out` without its trailing '/', which stat refuses on a file */
        snprintf(file, sizeof file, "%.*s", (int)(n > 1 && out[n - 1] == '/' ? n - 1 : n), out);
        if (mg_path_exists(file))
            return cli_error("generate", "cannot use %s as the output folder: it exists and is not a folder; give a "
                             "folder (or a file name without the trailing '/')", out);
        mg_status st = mg_mkdirs(out, "", &o->created_levels);
        if (st != MG_OK) {
            cli_remove_made_dirs(out, o->created_levels);
            return cli_lib_error("generate", st);
        }
        o->created_dir = strdup(out);
        cli_outputs_dir(o->created_dir, o->created_levels);
    }
    o->out_dir = out; /* the names follow once greedy or sampling is known (name_outputs) */
    return 0;
}

/* The file of each prompt in the output folder: PROMPT-seedN.wav, or PROMPT-greedy.wav
 * (the extension --audio-format says). */
static int name_outputs(gen_options *o) {
    if (!o->out_dir)
        return 0;
    const char *out = o->out_dir;
    size_t len = strlen(out);
    for (int i = 0; i < o->n_prompts; i++) {
        char slug[64], name[128];
        slugify(o->prompts[i], slug, sizeof slug);
        if (o->greedy)
            snprintf(name, sizeof name, "%s-greedy", slug);
        else
            snprintf(name, sizeof name, "%s-seed%llu", slug, (unsigned long long)(o->seed + (uint64_t)i));
        /* Same name twice in one batch (greedy duplicates): number them. */
        char final[160];
        snprintf(final, sizeof final, "%s.%s", name, o->audio_ext);
        for (int j = 0, dup = 1; j < i; j++) {
            const char *base = strrchr(o->out_paths[j], '/');
            if (!strcmp(base ? base + 1 : o->out_paths[j], final)) {
                snprintf(final, sizeof final, "%s-%d.%s", name, ++dup, o->audio_ext);
                j = -1;
            }
        }
        size_t n = strlen(out) + strlen(final) + 2;
        o->out_paths[i] = malloc(n);
        if (!o->out_paths[i])
            return cli_error("generate", "out of memory");
        snprintf(o->out_paths[i], n, "%s%s%s", out, out[len - 1] == '/' ? "" : "/", final);
    }
    return 0;
}

/* Do two output paths name one file (the same text, or one existing file)? */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!strcmp(a, b))
        return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int check_outputs(gen_options *o, const mg_model_info *info) {
    if (!o->out_paths)
        return 0;
    for (int i = 0; o->codes_out && i < o->n_prompts; i++)
        if (same_file(o->out_paths[i], o->codes_out))
            return cli_error("generate", "-o and --codes-out both name %s; give the codes another file", o->codes_out);
    mg_audio_write_params wp = mg_audio_write_default_params();
    wp.format = o->sample_format;
    wp.overwrite = o->force;
    for (int i = 0; i < o->n_prompts; i++) {
        mg_status st = mg_check_audio_output(o->out_paths[i], &wp, info->channels, info->sample_rate);
        if (st != MG_OK)
            return cli_lib_error("generate", st);
    }
    return 0;
}

static int load_audio_prompt(gen_options *o, mg_generate_params *gp, float **pcm) {
    int64_t frames;
    int ch, rate;
    int saved_stderr = cli_foreign_stderr_off();
    mg_status st = mg_read_audio(o->audio_prompt, pcm, &frames, &ch, &rate);
    cli_foreign_stderr_on(saved_stderr);
    if (st != MG_OK)
        return cli_lib_error("generate", st);
    gp->audio_prompt = *pcm;
    gp->audio_prompt_frames = frames;
    gp->audio_prompt_channels = ch;
    gp->audio_prompt_rate = rate;
    return 0;
}

/* 128 + the signal that interrupted the run (130 for Ctrl-C), as shells report it. */
static int interrupted_exit_code(const gen_options *o) { return 128 + (*o->interrupted ? (int)*o->interrupted : SIGINT); }

/* The comment tag of item i, which lets a listener make the piece again: every setting
 * that shaped it first, then the texts, longest last, so that the library's cut of a
 * long tag (MG_AUDIO_MAX_TAG_BYTES, at a character boundary) takes the end of the
 * negative prompt, not the settings or the prompt. malloc'ed. */
static char *describe(const gen_options *o, const mg_result *r, int i) {
    char sampling[200] = "greedy"; /* no seed: greedy output does not depend on one */
    if (!o->greedy)
        snprintf(sampling, sizeof sampling, "seed %llu; sampling (top-k %d, top-p %g, temperature %g)",
                 (unsigned long long)(r->seed + (uint64_t)i), o->top_k >= 0 ? o->top_k : o->model_top_k,
                 o->top_p > 0 ? o->top_p : 1.0, o->temperature);
    /* An unconditional item runs without guidance, and so without the negative prompt. */
    int uncond = !o->prompts[i][0], neg = !uncond && o->negative && o->negative[0];
    char guidance[64] = "unconditional, no guidance", windows[96] = "";
    if (!uncond)
        snprintf(guidance, sizeof guidance, "guidance %g", o->cfg >= 0 ? o->cfg : o->model_cfg);
    char w[32] = "the model's", s[32] = "the default";
    if (o->window > 0)
        snprintf(w, sizeof w, "%g s", o->window);
    if (o->stride > 0)
        snprintf(s, sizeof s, "%g s", o->stride);
    if (o->window > 0 || o->stride > 0)
        snprintf(windows, sizeof windows, "; window %s, stride %s", w, s);
    const char *ap = o->audio_prompt ? o->audio_prompt : "";
    size_t cap = strlen(o->model) + strlen(o->model_weights) + strlen(ap) + strlen(o->prompts[i]) +
                 (neg ? strlen(o->negative) : 0) + 600;
    char *buf = malloc(cap);
    if (buf)
        snprintf(buf, cap, "musicgen.c %s; model %s; weights %s; steps %d; %s; %s%s%s%s; prompt: %s%s%s", mg_version(),
                 o->model, o->model_weights, r->steps, sampling, guidance, windows, ap[0] ? "; audio prompt: " : "",
                 ap, o->prompts[i], neg ? "; negative prompt: " : "", neg ? o->negative : "");
    return buf;
}

static int write_item(gen_options *o, const mg_result *r, int i, int64_t *n_clipped) {
    float *pcm = r->audio[i];
    if (o->loudness) {
        double lufs = 0;
        mg_status st = mg_normalize_audio_loudness(pcm, r->n_samples, r->channels, r->sample_rate, o->target_lufs,
                                                   -1.0, &lufs);
        if (st != MG_OK)
            return cli_lib_error("generate", st);
    } else if (o->peak_normalize) {
        mg_normalize_audio_peak(pcm, r->n_samples, r->channels, 0.891251f); /* -1 dBFS */
    }
    char *comment = describe(o, r, i);
    if (!comment)
        return cli_error("generate", "out of memory");
    mg_audio_write_params wp = mg_audio_write_default_params();
    wp.format = o->sample_format;
    wp.overwrite = o->force;
    wp.tags.title = o->prompts[i][0] ? o->prompts[i] : "(unconditional)";
    wp.tags.comment = comment;
    wp.tags.software = cli_software_tag();
    mg_status st = mg_write_audio(o->out_paths[i], pcm, r->n_samples, r->channels, r->sample_rate, &wp, n_clipped);
    free(comment);
    if (st != MG_OK)
        return cli_lib_error("generate", st);
    return 0;
}

/* Write every audio file and the codes file, all or nothing: when one fails (full disk,
 * Ctrl-C) the files this run already wrote are removed again, so a failed run leaves
 * no output behind (but a file that replaced an existing one under --force stays:
 * cli_outputs_undo). A signal is acted on before a file is written, not after the
 * last. Clipping warnings are printed only once everything is written. */
static int write_outputs(gen_options *o, const mg_result *r) {
    int rc = 0, n_written = 0, n_audio = o->out_paths ? o->n_prompts : 0;
    int64_t *clipped = calloc((size_t)o->n_prompts, sizeof *clipped);
    if (!clipped)
        return cli_error("generate", "out of memory");
    unsigned char *existed = cli_outputs_begin((const char *const *)o->out_paths, n_audio);
    for (int i = 0; i < n_audio && !rc; i++) {
        if (*o->interrupted)
            rc = interrupted_exit_code(o);
        else
            rc = write_item(o, r, i, &clipped[i]);
        if (!rc)
            cli_outputs_written(++n_written);
    }
    mg_status st;
    if (!rc && o->codes_out) { /* the last file: once it is written, nothing can fail */
        if (*o->interrupted)
            rc = interrupted_exit_code(o);
        else if ((st = mg_write_codes(o->codes_out, r->codes, r->batch, r->n_codebooks, r->n_frames, o->force)) !=
                 MG_OK)
            rc = cli_lib_error("generate", st);
    }
    if (rc) {
        cli_outputs_undo("generate", (const char *const *)o->out_paths, existed, n_written,
                         rc == interrupted_exit_code(o));
    } else {
        cli_outputs_end();
        for (int i = 0; o->out_paths && i < o->n_prompts; i++)
            if (clipped[i] > 0)
                cli_warn_clipped((long long)clipped[i], o->out_paths[i], 1);
    }
    free(existed);
    free(clipped);
    return rc;
}

/* A seed as JSON: null for greedy output, which does not depend on one. */
static void print_json_seed(const gen_options *o, uint64_t seed) {
    if (o->greedy)
        printf("null");
    else
        printf("%llu", (unsigned long long)seed);
}

static void print_json(const gen_options *o, const mg_result *r, const mg_model_info *info, double secs) {
    double audio_s = (double)r->n_samples / r->sample_rate;
    printf("{\"model\": ");
    cli_json_string(o->model);
    printf(", \"prompts\": %d, \"seed\": ", r->batch);
    print_json_seed(o, r->seed);
    printf(", \"steps\": %d, \"frames\": %d, \"codebooks\": %d, "
           "\"channels\": %d, \"sample_rate\": %d, \"samples\": %lld, \"duration_s\": %.4f, \"elapsed_s\": %.3f, "
           "\"rtf\": %.4f, \"greedy\": %s, \"stereo\": %s, \"weights\": ",
           r->steps, r->n_frames, r->n_codebooks, r->channels, r->sample_rate,
           (long long)r->n_samples, audio_s, secs, audio_s > 0 ? secs / (audio_s * r->batch) : 0,
           o->greedy ? "true" : "false", info->stereo ? "true" : "false");
    cli_json_string(o->model_weights);
    printf(", \"files\": [");
    for (int i = 0; o->out_paths && i < o->n_prompts; i++) {
        printf("%s", i ? ", " : "");
        cli_json_string(o->out_paths[i]);
    }
    printf("], \"codes\": ");
    if (o->codes_out)
        cli_json_string(o->codes_out);
    else
        printf("null");
    /* One entry per batch item: its prompt, seed and file (null when only codes were written). */
    printf(", \"items\": [");
    for (int i = 0; i < o->n_prompts; i++) {
        printf("%s{\"prompt\": ", i ? ", " : "");
        cli_json_string(o->prompts[i]);
        printf(", \"seed\": ");
        print_json_seed(o, r->seed + (uint64_t)i);
        printf(", \"file\": ");
        if (o->out_paths)
            cli_json_string(o->out_paths[i]);
        else
            printf("null");
        printf("}");
    }
    printf("]}\n");
}

/* Callbacks of one run: progress goes to the bar, streamed audio to standard output. */
typedef struct {
    gen_options *o;
    mg_wav_stream *wav;
    int64_t frames_streamed;
    char write_error[512]; /* why writing the stream failed ("" if it did not) */
    char note[400];        /* printed at the first step, when every check has passed */
} stream_ctx;

static int forward_progress(int step, int total, void *user) {
    stream_ctx *sc = user;
    cli_release_warnings(1); /* past every check: the run goes on */
    if (sc->note[0]) {
        fputs(sc->note, stderr);
        sc->note[0] = 0;
    }
    return sc->o->progress ? sc->o->progress(step, total, sc->o->progress_user) : 0;
}

static int stream_audio(int item, const float *pcm, int64_t n_frames, int channels, int64_t position, void *user) {
    (void)item;
    (void)channels;
    (void)position;
    stream_ctx *sc = user;
    /* A write error (a full disk, or the player quit and closed the pipe) stops the
     * run; its message is kept, as mg_generate reports the stop as a cancel. */
    if (mg_wav_stream_write(sc->wav, pcm, n_frames) != MG_OK) {
        snprintf(sc->write_error, sizeof sc->write_error, "%s", mg_last_error());
        return 1;
    }
    sc->frames_streamed += n_frames;
    return *sc->o->interrupted != 0;
}

int gen_run(gen_options *o) {
    int rc = plan_outputs(o);
    if (rc)
        return rc;
    mg_model_params mp = mg_model_default_params();
    /* Sampled music from an f32 checkpoint (the released ones) runs on f16 copies of its
     * matrices: half the bytes per step (about twice the speed), a quarter less peak
     * memory, f16's rounding (how MusicGen usually runs on GPUs). Greedy runs keep what
     * the file holds: their codes are the reference's exactly. */
    mp.weight_type = o->weight_type != MG_WEIGHT_AUTO ? o->weight_type
                     : o->greedy == 1                 ? MG_WEIGHT_AUTO
                                                      : MG_WEIGHT_AUTO_F16;
    mp.no_mmap = o->no_mmap;
    mg_model *model = NULL;
    mg_context *ctx = NULL;
    mg_result *res = NULL;
    float *prompt_pcm = NULL;
    mg_model_info info;
    rc = cli_load_model("generate", o->model, &mp, &model);
    if (rc)
        goto done;
    mg_model_get_info(model, &info);
    if (mp.weight_type == MG_WEIGHT_AUTO_F16 && o->greedy < 0 && !info.do_sample) {
        /* The model decodes greedily by default: load it again as it is stored. */
        mg_model_free(model);
        model = NULL;
        mp.weight_type = MG_WEIGHT_AUTO;
        rc = cli_load_model("generate", o->model, &mp, &model);
        if (rc)
            goto done;
        mg_model_get_info(model, &info);
    }
    o->model_cfg = info.guidance_scale;
    o->model_top_k = info.top_k;
    snprintf(o->model_weights, sizeof o->model_weights, "%s", info.weight_type ? info.weight_type : "?");
    /* What the options left open, the model's generation_config.json decides. */
    if (o->greedy < 0) {
        o->greedy = !info.do_sample;
        if (o->greedy && o->seed_set)
            cli_warn("--seed has no effect: this model decodes greedily by default (its generation_config.json "
                     "has no do_sample: true); give --top-k, --top-p or --temperature to sample");
    }
    if (o->top_p < 0)
        o->top_p = info.top_p;
    if (o->temperature < 0)
        o->temperature = info.temperature;
    warn_short_stride(o, &info);
    *o->progress_state_frame_rate = info.frame_rate;
    *o->progress_state_delays = info.stereo ? info.n_codebooks / 2 : info.n_codebooks;
    rc = name_outputs(o);
    if (!rc)
        rc = check_outputs(o, &info);
    mg_context_params cp = mg_context_default_params();
    cp.n_threads = o->threads;
    /* Greedy runs reproduce the reference's codes: an f32 cache unless told otherwise
     * (an f16 cache can flip a near-tie between two codes, and every later frame). */
    cp.kv_type = o->kv_type_set ? o->kv_type : o->greedy ? MG_KV_F32 : MG_KV_F16;
    mg_status st = MG_OK;
    if (!rc && (st = mg_context_new(model, &cp, &ctx)) != MG_OK)
        rc = cli_lib_error("generate", st);
    cli_cancel_on_interrupt(ctx);
    mg_generate_params gp = mg_generate_default_params();
    if (!rc && o->audio_prompt)
        rc = load_audio_prompt(o, &gp, &prompt_pcm);
    if (!rc && *o->interrupted) { /* Ctrl-C while the model was loading */
        cli_block_interrupts();
        fprintf(stderr, "musicgen generate: interrupted; nothing was written\n");
        rc = interrupted_exit_code(o);
    }
    if (rc)
        goto done;
    gp.duration_s = o->duration;
    gp.steps = o->steps;
    gp.greedy = o->greedy;
    gp.top_k = o->top_k;
    gp.top_p = (float)o->top_p;
    gp.temperature = (float)o->temperature;
    gp.guidance_scale = (float)o->cfg;
    gp.seed = o->seed;
    gp.negative_prompt = o->negative;
    gp.window_s = o->window;
    gp.stride_s = o->stride;
    gp.decode_audio = o->out_paths != NULL || o->stream;
    stream_ctx sc = {o, NULL, 0, "", ""};
    long_form_note(o, &info, sc.note, sizeof sc.note);
    gp.progress = forward_progress;
    gp.user = &sc;
    if (o->stream) {
        st = mg_wav_stream_begin(stdout, info.sample_rate, info.channels, o->sample_format, o->raw, &sc.wav);
        if (st != MG_OK) {
            rc = cli_lib_error("generate", st);
            goto done;
        }
        gp.on_audio = stream_audio;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    st = mg_generate(ctx, (const char *const *)o->prompts, o->n_prompts, &gp, &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (sc.wav) {
        int64_t clipped = 0;
        mg_status st_end = mg_wav_stream_end(sc.wav, &clipped);
        if (st_end != MG_OK && !sc.write_error[0] && (st == MG_OK || st == MG_ERR_CANCELLED))
            snprintf(sc.write_error, sizeof sc.write_error, "%s", mg_last_error());
        /* A write cut short by Ctrl-C / SIGTERM (EINTR), or by a player the same Ctrl-C
         * ended (EPIPE), is the interruption, not a write error. */
        if (sc.write_error[0] && !*o->interrupted) {
            cli_block_interrupts();
            fprintf(stderr, "%smusicgen generate: %s%s; stopped\n", cli_stderr_is_tty() && !o->json ? "\n" : "",
                    sc.write_error, strstr(sc.write_error, "Broken pipe") ? " (the program reading it quit)" : "");
            rc = 1;
            goto done;
        }
        if (clipped > 0 && st == MG_OK)
            cli_warn_clipped((long long)clipped, "the stream", 0);
    }
    if (st == MG_ERR_CANCELLED || (st == MG_OK && *o->interrupted)) {
        /* A progress bar leaves the cursor on its line: end it first. */
        cli_block_interrupts();
        const char *nl = cli_stderr_is_tty() && !o->json ? "\n" : "";
        /* A write cut short counts none of its frames, though the reader may get some. */
        if (sc.frames_streamed > 0)
            fprintf(stderr, "%smusicgen generate: interrupted after streaming %s%.2f s of audio; nothing else was "
                    "written\n", nl, sc.write_error[0] ? "at least " : "", (double)sc.frames_streamed / info.sample_rate);
        else if (sc.wav) /* the stream's header (and maybe part of a chunk) went out */
            fprintf(stderr, "%smusicgen generate: interrupted before a whole chunk of audio was streamed\n", nl);
        else
            fprintf(stderr, "%smusicgen generate: interrupted; nothing was written\n", nl);
        rc = interrupted_exit_code(o);
        goto done;
    }
    if (st != MG_OK) {
        rc = cli_lib_error("generate", st);
        goto done;
    }
    rc = write_outputs(o, res);
    if (rc)
        goto done;
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (!o->greedy && !o->json && !cli_quiet)
        fprintf(stderr, "musicgen generate: seed %llu%s (repeat with --seed %llu)\n", (unsigned long long)o->seed,
                o->n_prompts > 1 ? " (+i for item i)" : "", (unsigned long long)o->seed);
    if (o->json) {
        print_json(o, res, &info, secs);
    } else {
        /* The files written, one per line; on stderr when stdout carries the stream. */
        FILE *list = o->stream ? stderr : stdout;
        for (int i = 0; o->out_paths && i < o->n_prompts; i++)
            fprintf(list, "%s\n", o->out_paths[i]);
        if (o->codes_out)
            fprintf(list, "%s\n", o->codes_out);
    }
done:
    free(prompt_pcm);
    mg_result_free(res);
    cli_cancel_on_interrupt(NULL);
    mg_context_free(ctx);
    mg_model_free(model);
    if (rc && o->created_dir)
        cli_remove_made_dirs(o->created_dir, o->created_levels); /* only if still empty */
    return rc;
}
