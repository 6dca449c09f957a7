/* matmul_avx512.c — AVX-512 row-dot kernels (x86-64). Placeholder table: formats
 * without an AVX-512 kernel yet fall back to the scalar reference. */
#include "tensor/matmul.h"

mg_rowdot_fn mg_rowdot_kernel_avx512(mg_dtype t) {
    (void)t;
    return NULL;
}
