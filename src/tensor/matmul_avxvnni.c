/* matmul_avxvnni.c — the AVX2 kernels (matmul_avx2.c) built again with AVX-VNNI, for
 * the CPUs that have it without AVX-512 (Intel Alder Lake and later client cores,
 * Sierra Forest; Zen 5 has both): their integer products take vpdpbusd / vpdpwssd
 * instead of vpmaddubsw + vpmaddwd + vpaddd. The integer sums are the same, so the
 * results are bit-identical to the plain AVX2 build's. Used at the AVX2 level when
 * the CPU has AVX-VNNI (mg_isa_avxvnni). This VM in AVX2 mode, q4_0x16 (cached, 2 rows,
 * 2 threads): 40-43 -> 69-75 GB/s; a musicgen-small q4_0 step of matmuls 6.0 -> 4.4 ms,
 * with 8 activation rows 22.6 -> 12.8 ms (bench_matmul). */
#if defined(__AVXVNNI__)
#define MG_MATMUL_AVX2_ENTRY mg_matmul_kernel_avxvnni
#include "matmul_avx2.c"
#else /* a compiler without -mavxvnni: no kernels (the plain AVX2 ones are used) */
#include "tensor/matmul.h"
int mg_matmul_kernel_avxvnni(mg_dtype t, mg_kernel *k) {
    (void)t;
    mg_kernel z = {0};
    *k = z;
    return 0;
}
#endif
