/* cmd_tokenize.c — `musicgen tokenize [-m MODEL] [--pieces] TEXT...`: the T5 token
 * ids of each TEXT as the model's text encoder sees them (T5Tokenizer conventions,
 * ending with </s> = 1), one line per TEXT, ids separated by single spaces.
 * --pieces also prints the piece names (mg_token_piece). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
    printf("usage: musicgen tokenize [-m MODEL] [--pieces] TEXT...\n\n"
           "Print the T5 token ids of each TEXT on one line, separated by spaces, ending\n"
           "with </s> (1) — exactly what the text encoder receives (transformers'\n"
           "T5Tokenizer). Literal <extra_id_N>, </s>, <pad>, <unk> in TEXT are special\n"
           "tokens. Use -- before a TEXT that starts with '-'.\n\n"
           "  -m, --model MODEL   folder, .gguf file or repo id[@REVISION]\n"
           "                      (default %s)\n"
           "  -p, --pieces        after each ids line, print a line with the pieces\n"
           "  -h, --help          this help\n\n"
           "example: musicgen tokenize -m facebook/musicgen-small \"lo-fi hip hop, 90 bpm\"\n",
           MG_DEFAULT_MODEL);
}

static int print_one(const mg_model *m, const char *text, int pieces) {
    int32_t *ids = NULL;
    int n = 0;
    mg_status st = mg_tokenize(m, text, &ids, &n);
    if (st != MG_OK)
        return cli_lib_error("tokenize", st);
    for (int i = 0; i < n; i++)
        printf(i ? " %d" : "%d", (int)ids[i]);
    putchar('\n');
    if (pieces) {
        for (int i = 0; i < n; i++) {
            const char *p = mg_token_piece(m, ids[i]);
            printf(i ? " %s" : "%s", p ? p : "?");
        }
        putchar('\n');
    }
    mg_free(ids);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = MG_DEFAULT_MODEL;
    int pieces = 0;
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"pieces", no_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *optstring = ":m:ph";
    opterr = 0;
    int c;
    if (cli_check_short_clusters("tokenize", argc, argv, optstring, opts))
        return 1;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': pieces = 1; break;
        case 'h': help(); return 0;
        default: return cli_bad_option("tokenize", argv, optstring, opts);
        }
    }
    if (optind >= argc)
        return cli_error("tokenize", "no TEXT given (see musicgen tokenize --help)");
    mg_model_params mp = mg_model_default_params();
    mg_model *m;
    if (cli_load_model("tokenize", model, &mp, &m))
        return 1;
    int rc = 0;
    for (int i = optind; i < argc && !rc; i++)
        rc = print_one(m, argv[i], pieces);
    if (fflush(stdout) != 0 && !rc)
        rc = cli_error("tokenize", "could not write the output");
    mg_model_free(m);
    return rc;
}
