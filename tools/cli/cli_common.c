/* cli_common.c — error printing, strict number parsing and model loading shared by
 * every subcommand (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_quiet = 0;

const char *cli_software_tag(void) {
    static char tag[64];
    if (!tag[0])
        snprintf(tag, sizeof tag, "musicgen.c %s", mg_version());
    return tag;
}

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (cmd)
        fprintf(stderr, "musicgen %s: ", cmd);
    else
        fprintf(stderr, "musicgen: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_lib_error(const char *cmd, mg_status st) {
    if (st == MG_ERR_EXISTS) /* the library's words are the API's: say the CLI's */
        return cli_error(cmd, "%s; use --force to overwrite it", mg_last_error());
    return cli_error(cmd, "%s", mg_last_error());
}

/* "--steps, --stride, --stream" when `name` (len bytes) abbreviates several options. */
static int ambiguous_candidates(const struct option *opts, const char *name, int len, char *buf, size_t cap) {
    int n = 0;
    size_t used = 0;
    buf[0] = 0;
    for (const struct option *o = opts; o && o->name; o++)
        if (!strncmp(o->name, name, (size_t)len) && used < cap) {
            used += (size_t)snprintf(buf + used, cap - used, "%s--%s", n ? ", " : "", o->name);
            n++;
        }
    return n;
}

/* 1 if long option `name` (len bytes: a whole name or a unique abbreviation, as
 * getopt_long takes it) takes its value from the next argument. */
static int long_takes_next(const struct option *opts, const char *name, size_t len) {
    const struct option *hit = NULL;
    int n = 0;
    for (const struct option *o = opts; o && o->name; o++) {
        if (strncmp(o->name, name, len))
            continue;
        if (strlen(o->name) == len)
            return o->has_arg == required_argument;
        hit = o;
        n++;
    }
    return n == 1 && hit->has_arg == required_argument;
}

int cli_check_short_clusters(const char *cmd, int argc, char **argv, const char *optstring,
                             const struct option *opts) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--"))
            return 0;
        if (a[0] != '-' || !a[1] || !a[2] || (a[1] >= '0' && a[1] <= '9'))
            continue; /* a word, "-", one letter, or a negative number (cli_bad_option explains those) */
        if (a[1] == '-') {
            size_t len = strcspn(a + 2, "=");
            if (!a[2 + len] && long_takes_next(opts, a + 2, len))
                i++;
            continue;
        }
        for (const char *c = a + 1; *c; c++) {
            const char *o = *c != ':' ? strchr(optstring, *c) : NULL;
            if (!o)
                return cli_error(cmd, "'%s' is not an option (see musicgen %s --help); an argument that starts "
                                 "with '-' goes after --, as in: musicgen %s [OPTIONS] -- '%s'", a, cmd, cmd, a);
            if (o[1] == ':') { /* the rest of the word, or the next argument, is its value */
                if (!c[1])
                    i++;
                break;
            }
        }
    }
    return 0;
}

int cli_bad_option(const char *cmd, char **argv, const char *optstring, const struct option *opts) {
    const char *bad = optind > 0 ? argv[optind - 1] : NULL;
    if (bad && !strncmp(bad, "--", 2)) {
        /* A long option: getopt sets optopt to its value when the value is missing
         * or was given to an option that takes none (a number above 255 for long-only
         * options), and to 0 for an unknown name. */
        int len = (int)strcspn(bad, "=");
        if (optopt && bad[len] == '=')
            return cli_error(cmd, "option %.*s takes no value (see musicgen %s --help)", len, bad, cmd);
        if (optopt)
            return cli_error(cmd, "option %.*s needs a value (see musicgen %s --help)", len, bad, cmd);
        char cands[400];
        if (len > 2 && ambiguous_candidates(opts, bad + 2, len - 2, cands, sizeof cands) > 1)
            return cli_error(cmd, "option %.*s is ambiguous: %s (write it out)", len, bad, cands);
        return cli_error(cmd, "unknown option %.*s (see musicgen %s --help)", len, bad, cmd);
    }
    if (optopt > 0 && optopt < 256 && optopt != '?') {
        if (strchr(optstring, optopt))
            return cli_error(cmd, "option -%c needs a value (see musicgen %s --help)", optopt, cmd);
        if (optopt >= '0' && optopt <= '9')
            return cli_error(cmd, "unknown option -%c (a negative number? options with an optional value take it "
                             "after '=', e.g. --loudness-normalize=-16; a prompt starting with '-' goes after --)",
                             optopt);
        return cli_error(cmd, "unknown option -%c (see musicgen %s --help)", optopt, cmd);
    }
    return cli_error(cmd, "bad option %s (see musicgen %s --help)", bad ? bad : "?", cmd);
}

int cli_check_codes_path(const char *cmd, const char *opt, const char *path) {
    static const char *const audio_ext[] = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".opus", ".aif",
                                            ".aiff", ".m4a", ".aac", ".wma", ".caf", ".w64"};
    if (!strcmp(path, "-"))
        return cli_error(cmd, "%s -: codes are written to a .npy file, not to standard output; give a file name such "
                         "as codes.npy", opt);
    const char *ext = strrchr(path, '.');
    for (size_t i = 0; ext && i < sizeof audio_ext / sizeof *audio_ext; i++)
        if (!strcasecmp(ext, audio_ext[i]))
            return cli_error(cmd, "%s %s names an audio file, but codes are written as NumPy .npy; name it %.*s.npy",
                             opt, path, (int)(ext - path), path);
    return 0;
}

int cli_unexpected_argument(const char *cmd, const char *arg) {
    struct stat sb;
    size_t n = strlen(arg);
    if ((stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) || (n > 5 && !strcasecmp(arg + n - 5, ".gguf")))
        return cli_error(cmd, "unexpected argument \"%s\": give the model with -m %s", arg, arg);
    return cli_error(cmd, "unexpected argument \"%s\" (see musicgen %s --help)", arg, cmd);
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) {
        cli_error(cmd, "%s expects an integer, got \"%s\"", opt, s);
        return 0;
    }
    if (v < lo || v > hi) {
        cli_error(cmd, "%s must be between %ld and %ld (got %ld)", opt, lo, hi, v);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9') { /* strtoull would skip spaces and negate " -5" */
        cli_error(cmd, "%s expects a non-negative integer, got \"%s\"", opt, s);
        return 0;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) {
        cli_error(cmd, "%s expects a non-negative integer, got \"%s\"", opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* Decimal only: strtod also reads hexadecimal ("0x10" would be 16). Out of double's
     * range (ERANGE: 1e999, 5e-324) is still a number, which the bounds then judge. */
    if ((errno && errno != ERANGE) || end == s || *end || isnan(v) || strpbrk(s, "xX")) {
        cli_error(cmd, "%s expects a number, got \"%s\"", opt, s);
        return 0;
    }
    if (v < lo || v > hi) {
        cli_error(cmd, "%s must be between %g and %g (got %g)", opt, lo, hi, v);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_sample_format(const char *cmd, const char *s, mg_sample_format *out) {
    if (!strcasecmp(s, "s16"))
        *out = MG_SAMPLE_S16;
    else if (!strcasecmp(s, "s24"))
        *out = MG_SAMPLE_S24;
    else if (!strcasecmp(s, "f32"))
        *out = MG_SAMPLE_F32;
    else {
        cli_error(cmd, "--sample-format must be s16, s24 or f32 (got \"%s\")", s);
        return 0;
    }
    return 1;
}

int cli_parse_audio_format(const char *cmd, const char *s, const char **ext) {
    static const char *const formats[] = {"wav", "flac", "ogg", "mp3"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcasecmp(s, formats[i])) {
            *ext = formats[i];
            return 1;
        }
    cli_error(cmd, "--audio-format must be wav, flac, ogg or mp3 (got \"%s\")", s);
    return 0;
}

int cli_check_audio_format_of(const char *cmd, const char *path, const char *ext) {
    const char *slash = strrchr(path, '/'), *dot = strrchr(slash ? slash + 1 : path, '.');
    if (dot && !strcasecmp(dot + 1, ext))
        return 1;
    cli_error(cmd, "--audio-format %s names the format of files written into a folder, but -o %s is one file: its "
              "extension picks the format (name it %.*s.%s, or drop --audio-format)", ext, path,
              (int)(dot ? (size_t)(dot - path) : strlen(path)), path, ext);
    return 0;
}

int cli_parse_kv_type(const char *cmd, const char *s, mg_kv_type *out) {
    if (!strcasecmp(s, "f16"))
        *out = MG_KV_F16;
    else if (!strcasecmp(s, "f32"))
        *out = MG_KV_F32;
    else if (!strcasecmp(s, "q8_0"))
        *out = MG_KV_Q8_0;
    else {
        cli_error(cmd, "--kv-type must be f16, f32 or q8_0 (got \"%s\")", s);
        return 0;
    }
    return 1;
}

static const struct {
    const char *name;
    mg_weight_type t;
} g_weight_types[] = {{"f32", MG_WEIGHT_F32}, {"f16", MG_WEIGHT_F16}, {"bf16", MG_WEIGHT_BF16},
                      {"q8_0", MG_WEIGHT_Q8_0}, {"q4_0", MG_WEIGHT_Q4_0}};

int cli_weight_type_of(const char *s, mg_weight_type *out) {
    for (size_t i = 0; i < sizeof g_weight_types / sizeof g_weight_types[0]; i++)
        if (!strcasecmp(s, g_weight_types[i].name)) { /* Q8_0 as llama.cpp spells it, too */
            *out = g_weight_types[i].t;
            return 1;
        }
    return 0;
}

const char *cli_weight_type_name(mg_weight_type t) {
    for (size_t i = 0; i < sizeof g_weight_types / sizeof g_weight_types[0]; i++)
        if (g_weight_types[i].t == t)
            return g_weight_types[i].name;
    return "?";
}

int cli_parse_weight_type(const char *cmd, const char *s, mg_weight_type *out) {
    if (cli_weight_type_of(s, out))
        return 1;
    cli_error(cmd, "--weight-type must be f32, f16, bf16, q8_0 or q4_0 (got \"%s\")", s);
    return 0;
}

int cli_stderr_is_tty(void) { return isatty(2) && !cli_quiet; }

int cli_load_model(const char *cmd, const char *path, const mg_model_params *mp, mg_model **out) {
    mg_model_params p = *mp;
    cli_download_progress_on(&p, cli_quiet);
    mg_status st = mg_model_load(path, &p, out);
    cli_download_progress_off();
    if (st == MG_ERR_CANCELLED && cli_interrupted) { /* Ctrl-C during a download of -m ORG/NAME */
        fprintf(stderr, "musicgen %s: interrupted; run the same command again to resume the download\n", cmd);
        return 128 + cli_interrupted;
    }
    if (st != MG_OK)
        return cli_lib_error(cmd, st);
    return 0;
}

/* Library messages, prefixed like the command's own: "musicgen generate: warning: ...". */
static const char *g_log_cmd;
/* Between cli_foreign_stderr_off and _on: the real stderr (descriptor 2 then points at
 * /dev/null). */
static volatile int g_stderr_fd = 2;

/* Warnings held back while the command may still fail (cli_hold_warnings). */
#define MAX_HELD 16
static struct {
    int holding, n, dropped;
    char msg[MAX_HELD][640];
} g_held;

/* "musicgen CMD: KINDMSG" on the real stderr. */
static void print_line(const char *kind, const char *msg) {
    dprintf(g_stderr_fd, "musicgen%s%s: %s%s\n", g_log_cmd ? " " : "", g_log_cmd ? g_log_cmd : "", kind, msg);
}

static void print_warning(const char *msg) { print_line("warning: ", msg); }

static void warning(const char *msg) {
    if (!g_held.holding)
        print_warning(msg);
    else if (g_held.n < MAX_HELD)
        snprintf(g_held.msg[g_held.n++], sizeof g_held.msg[0], "%s", msg);
    else
        g_held.dropped++;
}

void cli_warn(const char *fmt, ...) {
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    warning(msg);
}

void cli_hold_warnings(void) { g_held.holding = 1; }

void cli_release_warnings(int print) {
    if (!g_held.holding)
        return;
    g_held.holding = 0;
    for (int i = 0; print && i < g_held.n; i++)
        print_warning(g_held.msg[i]);
    if (print && g_held.dropped) {
        char more[64];
        snprintf(more, sizeof more, "%d more warnings", g_held.dropped);
        print_warning(more);
    }
    g_held.n = g_held.dropped = 0;
}

static void log_to_stderr(mg_log_level level, const char *msg, void *user) {
    int verbose = (int)(intptr_t)user;
    /* A warning the library gives once per batch item (loudness on a short clip) is
     * said once: the same text right after itself is dropped. */
    static char last_warning[512];
    if (level == MG_LOG_WARN) {
        if (strncmp(msg, last_warning, sizeof last_warning - 1) != 0)
            warning(msg);
        snprintf(last_warning, sizeof last_warning, "%s", msg);
    } else if ((level == MG_LOG_INFO && verbose >= 1) || verbose >= 2)
        print_line("", msg);
}

/* libsndfile's MP3 decoder (libmpg123) prints its own notes straight to descriptor 2
 * ("Note: Illegal Audio-MPEG-Header ... Trying to resync"): six lines for one broken
 * file, before our one-line error. The process is ours and does nothing else while it
 * reads audio, so descriptor 2 goes to /dev/null meanwhile; the library's own messages
 * (log callback) and the interrupt message still reach the real stderr. */
int cli_foreign_stderr_off(void) {
    fflush(stderr);
    int saved = fcntl(2, F_DUPFD_CLOEXEC, 3), null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && null_fd >= 0 && dup2(null_fd, 2) >= 0) {
        g_stderr_fd = saved;
    } else if (saved >= 0) {
        close(saved);
        saved = -1;
    }
    if (null_fd >= 0)
        close(null_fd);
    return saved;
}

void cli_foreign_stderr_on(int saved) {
    if (saved < 0)
        return;
    dup2(saved, 2);
    g_stderr_fd = 2;
    close(saved);
}

void cli_install_logger(const char *cmd, int verbose) {
    g_log_cmd = cmd;
    mg_set_log_callback(log_to_stderr, (void *)(intptr_t)verbose);
}

/* Signals that end a command at once: remove the temporary files of writes in
 * progress, print the command's one line (prepared in advance) and exit. Slot 0 is
 * SIGINT / SIGTERM / SIGHUP (exit 128 + the signal's number, as shells report a
 * process killed by it), slot 1 SIGBUS (exit 1). */
static struct {
    char msg[400];
    size_t len;
} g_exit_on[2];

static void exit_on_signal(int sig) {
    int i = sig == SIGBUS;
    mg_remove_temp_files(); /* async-signal-safe: unlink() only */
    ssize_t w = write(g_stderr_fd, g_exit_on[i].msg, g_exit_on[i].len);
    (void)w;
    _exit(i ? 1 : 128 + sig);
}

static const int g_interrupt_sigs[] = {SIGINT, SIGTERM, SIGHUP};

/* The lines printed when a signal ends a command start by clearing the terminal line:
 * a progress bar or download bar may be on it. */
static const char *clear_line(void) { return cli_stderr_is_tty() ? "\r\033[K" : ""; }

void cli_block_interrupts(void) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < 3; i++)
        sigaddset(&set, g_interrupt_sigs[i]);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void cli_catch_signals(const int *sigs, int n_sigs, void (*handler)(int)) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < n_sigs; i++)
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
}

static void install_exit(int slot, const int *sigs, int n_sigs) {
    g_exit_on[slot].len = strlen(g_exit_on[slot].msg);
    cli_catch_signals(sigs, n_sigs, exit_on_signal);
}

void cli_exit_cleanly_on_interrupt(const char *cmd) {
    snprintf(g_exit_on[0].msg, sizeof g_exit_on[0].msg, "%smusicgen %s: interrupted; nothing was written\n",
             clear_line(), cmd);
    install_exit(0, g_interrupt_sigs, 3);
}

volatile sig_atomic_t cli_interrupted = 0;

/* What a second signal undoes (see cli_outputs_begin): the batch of outputs being
 * written, how many of them are in place, and a folder the command made for them. */
static struct {
    const char *const *volatile paths;
    const unsigned char *volatile existed;
    volatile sig_atomic_t n_written;
    const char *volatile dir;
    volatile sig_atomic_t dir_levels;
    char kept_prefix[200]; /* "musicgen CMD: interrupted; " */
} g_undo;

static void write_stderr(const char *s, size_t n) {
    ssize_t w = write(g_stderr_fd, s, n);
    (void)w;
}

/* Remove the first n of a batch's files that did not exist before (async-signal-safe:
 * unlink only); returns how many stay because they replaced existing ones (all of them
 * when `existed` is not known: out of memory). */
static int remove_new_outputs(const char *const *paths, const unsigned char *existed, int n) {
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (!existed || existed[i])
            kept++;
        else
            unlink(paths[i]);
    }
    return kept;
}

/* What follows "N" when files that replaced existing ones under --force stay. */
static const char k_kept_one[] = " existing file already replaced (--force) keeps the new audio; nothing else was "
                                 "written\n";
static const char k_kept_many[] = " existing files already replaced (--force) keep the new audio; nothing else was "
                                  "written\n";

/* The context whose work the first signal cancels (mg_cancel: an atomic store). Signals
 * reach the main thread only (the library's pool threads block them), which is also the
 * one that sets this, so it cannot change while the handler runs. */
static mg_context *volatile g_cancel_ctx;

void cli_cancel_on_interrupt(mg_context *ctx) { g_cancel_ctx = ctx; }

/* The first signal only sets cli_interrupted (and cancels g_cancel_ctx's generation or
 * decoding, which would otherwise see it only at its next callback, or, decoding audio,
 * only when done); a second one (the first did not get
 * through soon enough) leaves as exit_on_signal does, with the first one's code, after
 * removing what the batch being written has put in place so far, so that the line it
 * prints is true. */
static void stop_on_signal(int sig) {
    if (!cli_interrupted) {
        cli_interrupted = sig;
        if (g_cancel_ctx)
            mg_cancel(g_cancel_ctx);
        return;
    }
    mg_remove_temp_files(); /* async-signal-safe: unlink() only */
    const char *const *paths = g_undo.paths;
    int kept = paths ? remove_new_outputs(paths, g_undo.existed, g_undo.n_written) : 0;
    if (g_undo.dir)
        cli_remove_made_dirs(g_undo.dir, g_undo.dir_levels); /* only if empty */
    if (kept) {
        char num[16];
        int n = 0;
        for (int v = kept; v && n < (int)sizeof num; v /= 10)
            num[sizeof num - 1 - n++] = (char)('0' + v % 10);
        const char *rest = kept == 1 ? k_kept_one : k_kept_many;
        write_stderr(g_undo.kept_prefix, strlen(g_undo.kept_prefix));
        write_stderr(num + sizeof num - n, (size_t)n);
        write_stderr(rest, strlen(rest));
    } else {
        write_stderr(g_exit_on[0].msg, g_exit_on[0].len);
    }
    _exit(128 + cli_interrupted);
}

void cli_stop_on_interrupt(const char *cmd, const char *outcome) {
    snprintf(g_exit_on[0].msg, sizeof g_exit_on[0].msg, "%smusicgen %s: interrupted; %s\n", clear_line(), cmd,
             outcome);
    g_exit_on[0].len = strlen(g_exit_on[0].msg);
    snprintf(g_undo.kept_prefix, sizeof g_undo.kept_prefix, "%smusicgen %s: interrupted; ", clear_line(), cmd);
    cli_catch_signals(g_interrupt_sigs, 3, stop_on_signal);
}

void cli_outputs_dir(const char *dir, int levels) {
    g_undo.dir_levels = levels;
    g_undo.dir = dir;
}

void cli_remove_made_dirs(const char *path, int levels) {
    char buf[4096];
    size_t n = 0;
    for (; path[n] && n < sizeof buf - 1; n++)
        buf[n] = path[n];
    buf[n] = 0;
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = 0;
    for (int l = 0; l < levels && n > 0; l++) {
        if (rmdir(buf) != 0)
            return; /* not empty (or gone): it and its parents stay */
        while (n > 0 && buf[n - 1] != '/')
            n--;
        while (n > 1 && buf[n - 1] == '/')
            n--;
        buf[n] = 0;
    }
}

int cli_interrupted_exit(void) {
    fputs(g_exit_on[0].msg, stderr);
    return 128 + cli_interrupted;
}

/* SIGBUS: a page of a memory-mapped model file could not be read, because the file
 * was truncated or rewritten in place while in use (or the disk failed). No status
 * can come back from a page fault, so the CLI says so in its one line and exits 1
 * instead of dying of the signal. */
void cli_exit_cleanly_on_bus_error(const char *cmd) {
    snprintf(g_exit_on[1].msg, sizeof g_exit_on[1].msg,
             "%smusicgen %s: a model file could not be read any more (truncated or rewritten in place while in use, "
             "or a disk error); stopped and removed unfinished output. Replace model files by renaming a new file over "
             "them, then run again\n",
             clear_line(), cmd);
    const int sigs[] = {SIGBUS};
    install_exit(1, sigs, 1);
}

void cli_warn_clipped(long long n, const char *path, int can_normalize) {
    /* Ogg Vorbis, MP3 and FLAC keep at most +-1.0 (no float samples): only .wav can keep
     * them. */
    size_t len = strlen(path);
    const char *fmt = len >= 4 && !strcasecmp(path + len - 4, ".ogg")    ? "Ogg Vorbis"
                      : len >= 4 && !strcasecmp(path + len - 4, ".mp3")  ? "MP3"
                      : len >= 5 && !strcasecmp(path + len - 5, ".flac") ? "FLAC"
                                                                          : NULL;
    char remedy[200];
    if (fmt)
        snprintf(remedy, sizeof remedy, "%s (%s keeps at most +-1.0)",
                 can_normalize ? "use --normalize or --loudness-normalize" : "write .wav with --sample-format f32 to keep them",
                 fmt);
    else
        snprintf(remedy, sizeof remedy, "%s",
                 can_normalize ? "use --normalize, --loudness-normalize or --sample-format f32"
                               : "use --sample-format f32 to keep them");
    cli_warn("%lld sample%s of %s %s beyond +-1.0 and %s clipped; %s", n, n == 1 ? "" : "s", path,
             n == 1 ? "was" : "were", n == 1 ? "was" : "were", remedy);
}

/* Length of the valid UTF-8 sequence starting at p (1..4), or 0 if it is not one. */
static int utf8_length(const unsigned char *p) {
    int n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (n == 2 && p[0] < 0xC2) || (n == 4 && p[0] > 0xF4))
        return 0; /* stray continuation byte, overlong 2-byte form, beyond U+10FFFF */
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((n == 3 && p[0] == 0xE0 && p[1] < 0xA0) || (n == 3 && p[0] == 0xED && p[1] >= 0xA0) ||
        (n == 4 && p[0] == 0xF0 && p[1] < 0x90) || (n == 4 && p[0] == 0xF4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, beyond U+10FFFF */
    return n;
}

void cli_json_string(const char *s) {
    /* JSON text is UTF-8: bytes that are not (a prompt in Latin-1) become U+FFFD. */
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_length(p);
        if (n == 0) {
            fputs("\\ufffd", stdout);
            p++;
        } else if (*p == '"' || *p == '\\') {
            printf("\\%c", *p++);
        } else if (*p < 0x20) {
            printf("\\u%04x", *p++);
        } else {
            fwrite(p, 1, (size_t)n, stdout);
            p += n;
        }
    }
    putchar('"');
}

unsigned char *cli_outputs_begin(const char *const *paths, int n) {
    unsigned char *existed = calloc((size_t)(n > 0 ? n : 1), 1);
    for (int i = 0; existed && i < n; i++)
        existed[i] = paths[i] && access(paths[i], F_OK) == 0;
    g_undo.n_written = 0;
    g_undo.existed = existed;
    g_undo.paths = paths;
    return existed;
}

void cli_outputs_written(int n_written) { g_undo.n_written = n_written; }

void cli_outputs_end(void) {
    g_undo.paths = NULL;
    g_undo.dir = NULL;
}

void cli_outputs_undo(const char *cmd, const char *const *paths, const unsigned char *existed, int n_written,
                      int interrupted) {
    if (interrupted)
        cli_block_interrupts(); /* a second signal would leave half the cleanup done */
    g_undo.paths = NULL; /* this takes over from the signal handler */
    int kept = remove_new_outputs(paths, existed, n_written);
    if (kept)
        fprintf(stderr, "musicgen %s: %s%d%s", cmd, interrupted ? "interrupted; " : "", kept,
                kept == 1 ? k_kept_one : k_kept_many);
    else if (interrupted)
        fprintf(stderr, "musicgen %s: interrupted; nothing was written\n", cmd);
}
