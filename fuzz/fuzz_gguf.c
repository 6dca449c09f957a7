/* fuzz_gguf.c — libFuzzer entry point for the GGUF reader (src/io/gguf.c).
 *
 * The bytes are parsed twice: as a plain GGUF (mg_gguf_read: every key, array and
 * tensor info must lie inside the input, every tensor's bytes inside the data
 * section — touched here so ASan checks them) and as a MusicGen model
 * (mg_gguf_parse_checkpoint: config JSON, tokenizer, zero-copy tensor views in a
 * store). An error status is the expected outcome for almost every input; any
 * crash, out-of-bounds read, overflow, leak or inconsistency (trap) is a bug.
 *
 * Built by fuzz/build.sh (clang, libFuzzer + ASan + UBSan); run with
 * `fuzz/run.sh SECONDS gguf`, which also makes the seed corpus from the fixtures
 * (fuzz/make_seeds.py). See docs/hardening.md.
 */
#include "io/gguf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(const void *p, size_t n) {
    const volatile uint8_t *b = p;
    if (n) {
        (void)b[0];
        (void)b[n - 1];
    }
}

static void check_plain(const uint8_t *data, size_t size) {
    mg_gguf g;
    if (mg_gguf_read(&g, "fuzz.gguf", data, size) != MG_OK)
        return;
    if (g.data_offset > size || g.alignment == 0 || (g.alignment & (g.alignment - 1)))
        __builtin_trap();
    for (int64_t i = 0; i < g.n_kv; i++) {
        const mg_gguf_kv *kv = &g.kv[i];
        if (!kv->key || !kv->key[0])
            __builtin_trap();
        if (kv->type == MG_GGUF_STRING || (kv->type == MG_GGUF_ARRAY && kv->arr_type == MG_GGUF_U8))
            touch(kv->data, (size_t)kv->n);
    }
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const mg_gguf_tensor_info *t = &g.tensors[i];
        const uint8_t *p = mg_gguf_tensor_data(&g, t);
        if (p < data || p + t->nbytes > data + size || t->offset % g.alignment)
            __builtin_trap();
        touch(p, (size_t)t->nbytes);
    }
    mg_gguf_free(&g);
}

static void check_model(const uint8_t *data, size_t size) {
    mg_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    mg_store_init(&ck.store);
    if (mg_gguf_parse_checkpoint(&ck, "fuzz.gguf", data, size, -1) == MG_OK) {
        if (!ck.spiece || ck.spiece < data || ck.spiece + ck.spiece_size > data + size)
            __builtin_trap();
        for (int i = 0; i < ck.store.n_entries; i++) {
            const mg_tensor *t = &ck.store.entries[i].t;
            const uint8_t *p = t->data;
            int inside = p >= data && p + t->nbytes <= data + size;
            if ((!inside && p >= data && p < data + size) || t->ndim < 1 || t->ndim > 4)
                __builtin_trap(); /* outside the input only as an aligned copy */
            size_t align = t->dtype == MG_DT_F32 || t->dtype == MG_DT_I32 ? 4 : t->dtype == MG_DT_I64 ? 8 : 2;
            if ((uintptr_t)p % align)
                __builtin_trap();
            int64_t cols = t->shape[t->ndim - 1], rows = mg_tensor_numel(t) / cols;
            if (mg_dtype_row_bytes(t->dtype, cols) * (size_t)rows != t->nbytes)
                __builtin_trap();
            touch(p, t->nbytes);
        }
    }
    mg_checkpoint_close(&ck);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_plain(data, size);
    check_model(data, size);
    return 0;
}
