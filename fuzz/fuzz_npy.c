/* fuzz_npy.c — libFuzzer entry point for the .npy parser (src/io/npy.c).
 *
 * Bytes go straight into mg_npy_parse. Any crash, out-of-bounds read, overflow or leak
 * is a bug; an error status is the expected outcome for almost every input. A
 * successful parse is cross-checked: the shape's element count is within the cap
 * and every element can be read.
 * Built by fuzz/build.sh (clang, libFuzzer + ASan + UBSan); run with
 * `fuzz/run.sh SECONDS npy`, which also makes the seed corpus from the fixtures
 * (fuzz/make_seeds.py). See docs/hardening.md.
 */
#include "io/npy.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mg_npy a;
    if (mg_npy_parse(data, size, "fuzz.npy", &a) == MG_OK) {
        /* An empty array may have huge other sizes (as in numpy): its count is 0, and
         * the product of the others must not be formed (it can overflow). */
        int64_t count = 1;
        for (int i = 0; i < a.ndim; i++) {
            if (a.shape[i] < 0)
                abort();
            if (a.shape[i] == 0)
                count = 0;
        }
        for (int i = 0; i < a.ndim && count > 0; i++) {
            if (count > (INT64_C(1) << 28) / a.shape[i]) /* beyond the parser's element cap */
                abort();
            count *= a.shape[i];
        }
        if (!a.data)
            abort();
        volatile uint64_t sink = 0;
        for (int64_t i = 0; i < count; i++) /* touch every element: ASan checks the size */
            sink += (uint64_t)a.data[i];
        (void)sink;
        mg_npy_free(&a);
    }
    return 0;
}
