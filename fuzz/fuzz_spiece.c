/* fuzz_spiece.c — libFuzzer entry point: arbitrary bytes as a spiece.model
 * (ModelProto) -> mg_tokenizer_load; when it loads, encode a fixed text in both
 * modes and check the ids are in range and end with </s>.
 *
 * Built by fuzz/build.sh (clang, libFuzzer + ASan + UBSan); run with
 * `fuzz/run.sh SECONDS spiece`, which also makes the seed corpus from the fixtures
 * (fuzz/make_seeds.py). See docs/hardening.md.
 */
#include "text/spm.h"

#include <stdlib.h>

static void check_ids(const mg_tokenizer *t, const int32_t *ids, int n, int t5) {
    int vocab = mg_tokenizer_vocab_size(t);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            __builtin_trap();
    if (t5 && (n < 1 || ids[n - 1] != mg_tokenizer_eos_id(t)))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mg_tokenizer *t = NULL;
    if (mg_tokenizer_load(data, size, "fuzz input", 100, &t) != MG_OK) {
        if (t)
            __builtin_trap();
        return 0;
    }
    static const char text[] = "  Lo-Fi hip hop <extra_id_1> caf\xc3\xa9 \xef\xbd\x86\xef\xbd\x95 \xef\xac\x81ne\t"
                               "\xf0\x9f\x8e\xb8\xe6\x97\xa5 </s> \xff\xc3( e\xcc\x81 \xe2\x96\x81 x  ";
    for (int mode = 0; mode < 2; mode++) {
        int32_t *ids = NULL;
        int n = 0;
        if (mg_tokenizer_encode_ex(t, text, sizeof text - 1, mode ? MG_TOK_PLAIN_SPM : 0, &ids, &n) == MG_OK)
            check_ids(t, ids, n, !mode);
        free(ids);
    }
    for (int id = -1; id <= mg_tokenizer_vocab_size(t); id += 97)
        (void)mg_tokenizer_piece(t, id);
    mg_tokenizer_free(t);
    return 0;
}
