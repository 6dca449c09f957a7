/* finite.c — mg_any_nonfinite (see finite.h). Compiled with -O3 in Release builds
 * (CMakeLists.txt), where GCC vectorizes the loop, once per vector width (clones.h). */
#include "tensor/finite.h"
#include "tensor/clones.h"

#include <string.h>

MG_CPU_CLONES int mg_any_nonfinite(const float *x, int64_t n) {
    /* NaN and inf are the values whose exponent bits are all ones. Counted with integer
     * compares and adds, which the compiler vectorizes even for plain SSE2 (a flag OR-ed
     * per element stayed scalar, and this runs serially between the pool jobs of every
     * decoder step). */
    for (int64_t i0 = 0; i0 < n; i0 += (int64_t)1 << 20) { /* chunks: the count cannot wrap */
        int64_t i1 = n - i0 < ((int64_t)1 << 20) ? n : i0 + ((int64_t)1 << 20);
        uint32_t n_bad = 0;
        for (int64_t i = i0; i < i1; i++) {
            uint32_t bits;
            memcpy(&bits, &x[i], sizeof bits);
            n_bad += (bits & 0x7F800000u) == 0x7F800000u;
        }
        if (n_bad)
            return 1;
    }
    return 0;
}
