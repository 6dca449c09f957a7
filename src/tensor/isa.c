/* isa.c — which SIMD kernels this CPU can run, and which ones are in use (see isa.h). */
#include "tensor/isa.h"

#include <stdlib.h>
#include <string.h>

const char *mg_isa_name(mg_isa isa) {
    switch (isa) {
    case MG_ISA_AVX2: return "avx2";
    case MG_ISA_AVX512: return "avx512";
    case MG_ISA_NEON: return "neon";
    default: return "scalar";
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
/* F16C via cpuid (leaf 1, ECX bit 29): not every compiler's __builtin_cpu_supports knows it. */
static int cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}

/* AVX-VNNI (VEX-encoded vpdpbusd / vpdpwssd at 256 bits): leaf 7 subleaf 1, EAX bit 4.
 * Not implied by AVX512-VNNI (Zen 4 has only that). Needs the AVX2 level's OS support,
 * which mg_isa_detect checks. */
static int cpu_has_avxvnni(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
}
#endif

static int g_avxvnni = -1; /* -1: not decided yet */

int mg_isa_avxvnni(void) {
    int v = __atomic_load_n(&g_avxvnni, __ATOMIC_RELAXED);
    if (v < 0) {
#if defined(__x86_64__) && defined(__GNUC__)
        v = mg_isa_detect() != MG_ISA_SCALAR && cpu_has_avxvnni();
#else
        v = 0;
#endif
        __atomic_store_n(&g_avxvnni, v, __ATOMIC_RELAXED);
    }
    return v;
}

void mg_isa_use_avxvnni(int on) {
    __atomic_store_n(&g_avxvnni, -1, __ATOMIC_RELAXED);
    if (!on)
        __atomic_store_n(&g_avxvnni, 0, __ATOMIC_RELAXED);
}

mg_isa mg_isa_detect(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    int base = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    if (base && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni"))
        return MG_ISA_AVX512;
    return base ? MG_ISA_AVX2 : MG_ISA_SCALAR;
#elif defined(__aarch64__)
    return MG_ISA_NEON;
#else
    return MG_ISA_SCALAR;
#endif
}

static mg_isa g_active_isa = (mg_isa)-1;

mg_isa mg_isa_active(void) {
    mg_isa isa = __atomic_load_n(&g_active_isa, __ATOMIC_RELAXED);
    if ((int)isa >= 0)
        return isa;
    isa = mg_isa_detect();
    const char *env = getenv("MG_ISA");
    if (env) {
        mg_isa want = isa;
        if (!strcmp(env, "scalar")) want = MG_ISA_SCALAR;
        else if (!strcmp(env, "avx2")) want = MG_ISA_AVX2;
        else if (!strcmp(env, "avx512")) want = MG_ISA_AVX512;
        else if (!strcmp(env, "neon")) want = MG_ISA_NEON;
        /* Only step down, within the CPU's family: never pick an ISA the CPU lacks. */
        int same_family = (want == MG_ISA_NEON) == (isa == MG_ISA_NEON) || want == MG_ISA_SCALAR;
        if (same_family && want <= isa)
            isa = want;
    }
    __atomic_store_n(&g_active_isa, isa, __ATOMIC_RELAXED);
    return isa;
}
