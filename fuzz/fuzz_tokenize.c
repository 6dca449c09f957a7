/* fuzz_tokenize.c — libFuzzer entry point: arbitrary bytes as prompt text for the
 * fixture's tokenizer (loaded once from $MG_SPIECE, else
 * ../shared/reference/tiny-mono/spiece.model relative to the working directory).
 * Encodes in T5 mode and plain-sentencepiece mode and checks that any byte string
 * encodes, the ids are in range and T5 ids end with </s>.
 *
 * Built by fuzz/build.sh (clang, libFuzzer + ASan + UBSan); run with
 * `fuzz/run.sh SECONDS tokenize`, which also makes the seed corpus from the fixtures
 * (fuzz/make_seeds.py). See docs/hardening.md.
 */
#include "text/spm.h"
#include "base/file.h"

#include <stdio.h>
#include <stdlib.h>

static mg_tokenizer *g_tok;

static mg_tokenizer *tokenizer(void) {
    if (g_tok)
        return g_tok;
    const char *path = getenv("MG_SPIECE");
    if (!path || !path[0])
        path = "../shared/reference/tiny-mono/spiece.model";
    char *data = NULL;
    size_t size = 0;
    if (mg_file_read_all(path, &data, &size) != MG_OK ||
        mg_tokenizer_load((const uint8_t *)data, size, path, 100, &g_tok) != MG_OK) {
        fprintf(stderr, "fuzz_tokenize: %s (set MG_SPIECE to a spiece.model)\n", mg_last_error());
        abort();
    }
    free(data);
    return g_tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const mg_tokenizer *t = tokenizer();
    int vocab = mg_tokenizer_vocab_size(t);
    for (int mode = 0; mode < 2; mode++) {
        int32_t *ids = NULL;
        int n = 0;
        if (mg_tokenizer_encode_ex(t, (const char *)data, size, mode ? MG_TOK_PLAIN_SPM : 0, &ids, &n) != MG_OK)
            __builtin_trap(); /* any byte string must encode */
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= vocab)
                __builtin_trap();
        if (!mode && (n < 1 || ids[n - 1] != mg_tokenizer_eos_id(t)))
            __builtin_trap();
        free(ids);
    }
    return 0;
}
