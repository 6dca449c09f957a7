/* fuzz_index.c — libFuzzer entry point for the sharded-checkpoint index
 * (model.safetensors.index.json -> mg_shard_index_parse in src/io/checkpoint.c).
 *
 * On success the result must be consistent: at least one tensor and one shard, every
 * tensor name non-empty, every shard index in range, every shard name a plain
 * ".safetensors" file name (no '/', no "..", no control bytes) that is listed once.
 * Any crash, overread, leak or inconsistency (trap) is a bug; an error status is the
 * normal outcome for almost every input.
 *
 * Built by fuzz/build.sh (libFuzzer + ASan + UBSan); run with fuzz/run.sh.
 */
#include "io/checkpoint.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mg_shard_index ix;
    if (mg_shard_index_parse((const char *)data, size, "fuzz/model.safetensors.index.json", &ix) != MG_OK) {
        if (ix.n_shards || ix.n_tensors || ix.shards || ix.tensors)
            __builtin_trap(); /* a failed parse leaves nothing behind */
        return 0;
    }
    if (ix.n_tensors < 1 || ix.n_shards < 1 || ix.n_shards > ix.n_tensors)
        __builtin_trap();
    for (int i = 0; i < ix.n_tensors; i++)
        if (!ix.tensors[i] || !ix.tensors[i][0] || ix.shard_of[i] < 0 || ix.shard_of[i] >= ix.n_shards)
            __builtin_trap();
    for (int i = 0; i < ix.n_shards; i++) {
        const char *s = ix.shards[i];
        size_t n = strlen(s);
        if (n < 12 || strcmp(s + n - 12, ".safetensors") || strchr(s, '/') || !strcmp(s, ".."))
            __builtin_trap();
        for (int j = 0; j < i; j++)
            if (!strcmp(ix.shards[j], s))
                __builtin_trap();
    }
    mg_shard_index_free(&ix);
    return 0;
}
