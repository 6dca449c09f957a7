/* cli.h — shared pieces of the musicgen command-line tool: the subcommand table,
 * strict number parsing, option-error reporting and model loading with the error
 * message printed the one way every subcommand prints it. */
#ifndef MG_CLI_H
#define MG_CLI_H

#include "musicgen.h"

#include <getopt.h>
#include <signal.h>
#include <stdint.h>

#define MG_DEFAULT_MODEL "facebook/musicgen-small"

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} cli_command;

/* "musicgen.c VERSION": the software tag of the audio files the CLI writes. */
const char *cli_software_tag(void);

/* Print "musicgen: <msg>" (or "musicgen <cmd>: <msg>") on stderr; returns 1 (the exit code). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The library's last error as one line, with the status name when useful. */
int cli_lib_error(const char *cmd, mg_status st);
/* Report an option getopt_long rejected (call when it returns '?' or ':'); `opts` is
 * its long option table, to name the candidates of an ambiguous abbreviation. */
int cli_bad_option(const char *cmd, char **argv, const char *optstring, const struct option *opts);

/* Before getopt_long: an argument of two or more letters after a '-' that is not a run
 * of the command's short options ("-heavy metal", a prompt, whose -h getopt would take
 * as --help) is an error that says to put it after --. Returns 1 after printing it. */
int cli_check_short_clusters(const char *cmd, int argc, char **argv, const char *optstring,
                             const struct option *opts);

/* Strict parsers: the whole string must be a number in [lo, hi]. */
int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
int cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);

/* Named enum values: s16|s24|f32, f16|f32|q8_0, f32|f16|bf16|q8_0|q4_0. */
int cli_parse_sample_format(const char *cmd, const char *s, mg_sample_format *out);
/* --audio-format wav|flac|ogg|mp3 (any case): the container of the files a command
 * names itself in an output folder, as the extension (lowercase, without the dot). */
int cli_parse_audio_format(const char *cmd, const char *s, const char **ext);
/* A single output file given with -o keeps its own extension: with --audio-format
 * `ext` as well, the two must agree. Returns 0 (error printed) if they do not. */
int cli_check_audio_format_of(const char *cmd, const char *path, const char *ext);
int cli_parse_kv_type(const char *cmd, const char *s, mg_kv_type *out);
int cli_parse_weight_type(const char *cmd, const char *s, mg_weight_type *out);
/* "f32" .. "q4_0" (any case) to the weight type and back; 0 / "?" if not one. */
int cli_weight_type_of(const char *s, mg_weight_type *out);
const char *cli_weight_type_name(mg_weight_type t);

/* Load a model (folder / .gguf / repo id) with a progress line when stderr is a tty. */
int cli_load_model(const char *cmd, const char *path, const mg_model_params *mp, mg_model **out);

/* 1 if stderr is a terminal and -q was not given. */
extern int cli_quiet;
int cli_stderr_is_tty(void);

/* The download progress bar (cli_download_bar.c): a redrawn line on a terminal. */
typedef struct cli_download_bar {
    double start;      /* when the first byte was expected */
    double last_draw;
    int drawn;         /* a bar is on the current line */
    int tty;
} cli_download_bar;
/* An mg_download_params.progress receiver; user is a cli_download_bar. */
int cli_download_bar_draw(const mg_download_progress *p, void *user);
/* Draw that bar (and a summary line unless quiet) when -m makes mg_model_load download
 * the model: sets mp->download_progress; cancels once cli_interrupted is set. */
void cli_download_progress_on(mg_model_params *mp, int quiet);
/* After a model load: clears a download bar the load left on the line. A download the
 * load started stops (its partial file kept for the next run) once cli_interrupted is
 * set. */
void cli_download_progress_off(void);
/* Seconds on a monotonic clock; "1.5 MB"-style sizes and m:ss / h:mm:ss durations. */
double cli_now_s(void);
const char *cli_fmt_bytes(double n, char *buf, size_t size);
const char *cli_fmt_time(double s, char *buf, size_t size);

/* For commands that cannot stop part-way on their own (encode, decode, quantize):
 * on SIGINT / SIGTERM / SIGHUP remove the temporary files of writes in progress, print
 * "musicgen CMD: interrupted; nothing was written" and exit with 128 + the signal
 * (130 for Ctrl-C). */
void cli_exit_cleanly_on_interrupt(const char *cmd);
/* For commands that stop part-way on their own (generate, download): the first SIGINT /
 * SIGTERM / SIGHUP only sets cli_interrupted (its number), which they check; a second
 * one removes temporary files, prints "musicgen CMD: interrupted; OUTCOME" and exits
 * with 128 + the first signal. cli_interrupted_exit prints that line and returns that
 * code, for a command that stopped cleanly. */
extern volatile sig_atomic_t cli_interrupted;
void cli_stop_on_interrupt(const char *cmd, const char *outcome);
int cli_interrupted_exit(void);
/* The first such signal also calls mg_cancel(ctx), so that a generation or decoding on
 * ctx stops at once, decoding audio included; NULL (before ctx is freed): none. */
void cli_cancel_on_interrupt(mg_context *ctx);
/* SIGINT, SIGTERM, SIGHUP and the like (`sigs`) go to `handler`, except those the
 * process was started ignoring: `nohup` ignores SIGHUP, a shell's background job SIGINT. */
void cli_catch_signals(const int *sigs, int n_sigs, void (*handler)(int));
/* Keep SIGINT / SIGTERM / SIGHUP pending until the process exits: once the outcome is
 * settled (the run is being cancelled, or the output is in place), a Ctrl-C must not
 * print a second or a false message. */
void cli_block_interrupts(void);
/* On SIGBUS (a mapped model file truncated under the process): remove temporary
 * files, print one line naming the cause, exit 1. Installed for every command. */
void cli_exit_cleanly_on_bus_error(const char *cmd);

/* Outputs written one after the other, all or nothing: cli_outputs_begin notes which
 * of the n paths exist already; when the batch fails or is interrupted part way,
 * cli_outputs_undo removes the first n_written ones that did not exist before (one
 * that replaced an existing file under --force stays: removing it would lose the old
 * and the new audio) and says so in one line, as it says "interrupted; nothing was
 * written" when a signal stopped the batch. A second signal that ends the command
 * while the batch is written (cli_stop_on_interrupt) does the same from the handler:
 * cli_outputs_written tells it how many files are in place, cli_outputs_dir names the
 * folders the command made for them (mg_mkdirs' count, removed if empty), and
 * cli_outputs_end, once the batch is complete and kept, stops both. paths (and dir)
 * must stay valid until then. */
unsigned char *cli_outputs_begin(const char *const *paths, int n);
void cli_outputs_written(int n_written);
void cli_outputs_dir(const char *dir, int levels);
/* Remove the `levels` innermost folders of `path` (those mg_mkdirs made), each only if
 * empty, stopping at the first that is not (async-signal-safe: rmdir only). */
void cli_remove_made_dirs(const char *path, int levels);
void cli_outputs_end(void);
void cli_outputs_undo(const char *cmd, const char *const *paths, const unsigned char *existed, int n_written,
                      int interrupted);

/* "N samples of PATH were beyond +-1.0 and were clipped" with the remedy that fits the
 * file (Ogg Vorbis cannot keep them in any sample format) and the command. */
void cli_warn_clipped(long long n, const char *path, int can_normalize);

/* Print `s` on stdout as a JSON string literal (quotes, backslashes and control bytes
 * escaped): paths and prompts may hold any of them. */
void cli_json_string(const char *s);

/* Log callback that prints library warnings on stderr. */
void cli_install_logger(const char *cmd, int verbose);
/* "musicgen CMD: warning: ..." on stderr. Warnings are held back while a command may
 * still fail, so that a failing command prints only its one-line error: main() holds
 * them before a command runs and prints them if it succeeds; a long command prints
 * them as soon as it is past its checks (cli_release_warnings(1)). Library warnings
 * (the log callback) take the same way. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_hold_warnings(void);
void cli_release_warnings(int print);
/* Around reading audio: keeps the chatter of libsndfile's decoders off stderr (our own
 * messages still appear). off returns what on needs (-1: nothing was changed). */
int cli_foreign_stderr_off(void);
void cli_foreign_stderr_on(int saved);

/* Codes outputs (encode -o, --codes-out) are .npy files: refuses "-" (stdout) and
 * names with an audio extension (a mix-up with the audio output). Returns 1 after
 * printing the error, 0 when the path is fine. */
int cli_check_codes_path(const char *cmd, const char *opt, const char *path);

/* "unexpected argument X" for a positional argument a command does not take; when X
 * looks like a model (a folder, a .gguf file) it says to give it with -m. Returns 1. */
int cli_unexpected_argument(const char *cmd, const char *arg);

#endif
