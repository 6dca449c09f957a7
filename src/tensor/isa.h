/* isa.h — the SIMD instruction sets the kernels come in, the best one this CPU has,
 * and the one in use. Decided once per process from the CPU's features;
 * $MG_ISA=scalar|avx2|avx512|neon steps down (never up) for tests and comparisons. */
#ifndef MG_TENSOR_ISA_H
#define MG_TENSOR_ISA_H

typedef enum mg_isa { MG_ISA_SCALAR = 0, MG_ISA_AVX2, MG_ISA_AVX512, MG_ISA_NEON } mg_isa;

/* Best ISA this CPU supports, and the one in use (overridable with $MG_ISA=scalar|avx2|avx512|neon,
 * which only ever steps down to an ISA the CPU has). */
mg_isa mg_isa_detect(void);
mg_isa mg_isa_active(void);
const char *mg_isa_name(mg_isa isa);

/* 1 if the AVX2 level's integer matmul kernels use AVX-VNNI (matmul_avxvnni.c): the
 * CPU has it (Alder Lake and later Intel client cores, Zen 5) and tests have not
 * turned it off. Same results either way, only speed differs. */
int mg_isa_avxvnni(void);
/* Tests: 0 turns the AVX-VNNI kernels off, 1 back on (if the CPU has them). */
void mg_isa_use_avxvnni(int on);

#endif
