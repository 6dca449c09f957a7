/* main.c — `musicgen`: dispatch to subcommands, global --help and --version.
 * Each subcommand lives in cmd_<name>.c and parses its own options. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);

static const cli_command commands[] = {
    {"generate", "make music from text prompts (and optionally an audio prompt)", cmd_generate},
    {"bench", "time a generation: ms/step, real-time factor, memory, bandwidth", cmd_bench},
    {"info", "show (and validate) a model: kind, sizes, codebooks, rates", cmd_info},
    {"encode", "encode an audio file into EnCodec codes (.npy)", cmd_encode},
    {"decode", "decode EnCodec codes (.npy) into an audio file", cmd_decode},
    {"tokenize", "print the T5 token ids of prompts (as the model sees them)", cmd_tokenize},
    {"download", "fetch a model from the Hugging Face hub into the shared cache", cmd_download},
    {"quantize", "convert a model into one GGUF file (q8_0, q4_0, f16, bf16, f32)", cmd_quantize},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void usage(FILE *f) {
    fprintf(f, "musicgen %s — MusicGen text-to-music in plain C\n\n"
               "usage: musicgen <command> [options]\n\ncommands:\n", mg_version());
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'musicgen <command> --help' or 'musicgen help <command>' shows a command's\n"
               "options; 'musicgen --version' the version.\n"
               "Models: -m takes a checkpoint folder, a .gguf file or a Hugging Face repo id\n"
               "(default %s).\n", MG_DEFAULT_MODEL);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        if (argc > 2) { /* musicgen help generate */
            for (int i = 0; i < n_commands; i++)
                if (!strcmp(argv[2], commands[i].name)) {
                    char *help_argv[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, help_argv);
                }
            return cli_error(NULL, "unknown command \"%s\" (see musicgen --help)", argv[2]);
        }
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("musicgen %s\n", mg_version());
        return 0;
    }
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(cmd, commands[i].name)) {
            cli_install_logger(commands[i].name, 0);
            cli_exit_cleanly_on_bus_error(commands[i].name);
            /* A reader that quits (| head) makes writes fail with EPIPE, and a file
             * size limit (ulimit -f) with EFBIG, reported like any write error (the
             * partial file removed) instead of killing the process. */
            signal(SIGPIPE, SIG_IGN);
            signal(SIGXFSZ, SIG_IGN);
            cli_hold_warnings();
            int rc = commands[i].run(argc - 1, argv + 1);
            cli_release_warnings(rc == 0);
            return rc;
        }
    if (cmd[0] == '-')
        return cli_error(NULL, "unknown option %s (see musicgen --help)", cmd);
    return cli_error(NULL, "unknown command \"%s\" (see musicgen --help)", cmd);
}
