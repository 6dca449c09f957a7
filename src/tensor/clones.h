/* clones.h — MG_CPU_CLONES: compile a small loop once per x86-64 vector width (AVX-512,
 * AVX2, baseline SSE2) and pick the copy for the running CPU when the program loads
 * (GCC's target_clones, an ELF ifunc: glibc only; clang 14 names the dispatcher
 * differently, so other files could not call it, and builds with clang get one copy).
 * For the serial elementwise loops between a decoder step's threaded jobs (finiteness
 * scans, layer norms, adds), which a baseline build vectorizes 4 floats wide: a NaN/inf
 * scan of 4096 floats took 0.46 us, 0.12 with AVX-512. Results are the same bits in every copy: the files that
 * use it are compiled with -ffp-contract=off (no fused multiply-adds), their loops keep
 * their own summation order, and the lanes of a vector are independent. */
#ifndef MG_TENSOR_CLONES_H
#define MG_TENSOR_CLONES_H

#include <stdint.h> /* defines __GLIBC__ on glibc */

/* Not under ThreadSanitizer: the dispatcher runs while the program's relocations are
 * applied, before TSan's runtime is up, and every TSan program crashed at start. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_THREAD__) && !defined(MG_NO_CPU_CLONES)
#define MG_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MG_CPU_CLONES
#endif

#endif
