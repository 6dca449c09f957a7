/* matmul_avx2.c — AVX2/FMA row-dot kernels (x86-64). Placeholder table: formats
 * without an AVX2 kernel yet fall back to the scalar reference. */
#include "tensor/matmul.h"

mg_rowdot_fn mg_rowdot_kernel_avx2(mg_dtype t) {
    (void)t;
    return NULL;
}
