/* fuzz_safetensors.c — libFuzzer entry point for the safetensors reader
 * (mg_safetensors_parse in src/io/safetensors.c): arbitrary bytes as a whole
 * .safetensors file. On success every tensor view must lie inside the input and
 * match its shape and dtype (its first and last bytes are touched so ASan checks).
 *
 * Not part of the CMake build. Build and run (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -D_GNU_SOURCE -Iinclude -Isrc fuzz/fuzz_safetensors.c src/io/safetensors.c \
 *     src/io/store.c src/tensor/dtype.c src/base/[a-z]*.c -lcjson -lm -lpthread \
 *     -o /tmp/fuzz_safetensors
 *   /tmp/fuzz_safetensors -max_total_time=60 /tmp/st_corpus ../shared/reference/tiny-mono/model.safetensors
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
            if ((const uint8_t *)p < data || (const uint8_t *)p + t->nbytes > data + size)
                __builtin_trap();
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
