/* fuzz_safetensors.c — libFuzzer entry point for the safetensors reader
 * (mg_safetensors_parse in src/io/safetensors.c): arbitrary bytes as a whole
 * .safetensors file. On success every tensor view must lie inside the input (or be
 * an aligned copy of a misaligned tensor), be aligned to its element size and match
 * its shape and dtype (its first and last bytes are touched so ASan checks).
 *
 * Built by fuzz/build.sh (clang, libFuzzer + ASan + UBSan); run with
 * `fuzz/run.sh SECONDS safetensors`, which also makes the seed corpus from the fixtures
 * (fuzz/make_seeds.py). See docs/hardening.md.
 */
#include "io/safetensors.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mg_store s;
    mg_store_init(&s);
    if (mg_safetensors_parse(&s, "fuzz.safetensors", data, size, -1) == MG_OK) {
        for (int i = 0; i < s.n_entries; i++) {
            const mg_tensor *t = &s.entries[i].t;
            const volatile uint8_t *p = t->data;
            size_t elem = mg_dtype_row_bytes(t->dtype, 1);
            if ((uintptr_t)p % elem) /* misaligned tensors are copied to aligned memory */
                __builtin_trap();
            int inside = (const uint8_t *)p >= data && (const uint8_t *)p + t->nbytes <= data + size;
            if (!inside && (const uint8_t *)p >= data && (const uint8_t *)p < data + size)
                __builtin_trap(); /* starts inside the input but runs past its end */
            if ((size_t)mg_tensor_numel(t) * mg_dtype_row_bytes(t->dtype, 1) != t->nbytes)
                __builtin_trap();
            if (t->nbytes) {
                (void)p[0];
                (void)p[t->nbytes - 1];
            }
        }
    }
    mg_store_free(&s);
    return 0;
}
