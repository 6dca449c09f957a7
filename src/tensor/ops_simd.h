/* ops_simd.h — vector math shared by the AVX2 and AVX-512 op kernels, written once as
 * a macro template over the vector type: exp (Cody-Waite range reduction + degree-6
 * polynomial, |rel err| < 2e-7 on [-87, 88]) and erfc (Numerical Recipes' Chebyshev
 * fit, fractional error < 1.2e-7), used for GELU and softmax. Included only by
 * ops_avx2.c / ops_avx512.c, which define the V_* macros for their ISA. */
#ifndef MG_TENSOR_OPS_SIMD_H
#define MG_TENSOR_OPS_SIMD_H

/* exp(x) for a vector x: 0 below -87.3 (so exp(-inf) = 0), clamped above 88.7. */
#define MG_DEFINE_VEXP(NAME, VT)                                                                   \
    static inline VT NAME(VT x0) {                                                                 \
        VT x = V_MIN(V_MAX(x0, V_SET(-87.3f)), V_SET(88.7f));                                      \
        VT k = V_ROUND(V_MUL(x, V_SET(1.44269504088896341f)));                                     \
        VT r = V_FNMADD(k, V_SET(0.693145751953125f), x);                                          \
        r = V_FNMADD(k, V_SET(1.428606765330187e-6f), r);                                          \
        VT p = V_SET(1.0f / 720.0f);                                                               \
        p = V_FMADD(p, r, V_SET(1.0f / 120.0f));                                                   \
        p = V_FMADD(p, r, V_SET(1.0f / 24.0f));                                                    \
        p = V_FMADD(p, r, V_SET(1.0f / 6.0f));                                                     \
        p = V_FMADD(p, r, V_SET(0.5f));                                                            \
        p = V_FMADD(p, r, V_SET(1.0f));                                                            \
        p = V_FMADD(p, r, V_SET(1.0f));                                                            \
        return V_ZERO_BELOW(x0, -87.3f, V_MUL(p, V_POW2I(k)));                                     \
    }

/* gelu(x) = 0.5 x erfc(-x / sqrt(2)), erfc from Numerical Recipes (erfcc). */
#define MG_DEFINE_VGELU(NAME, VT, VEXP)                                                            \
    static inline VT NAME(VT x) {                                                                  \
        VT z = V_MUL(V_ABS(x), V_SET(0.70710678118654752f));                                       \
        VT t = V_DIV(V_SET(1.0f), V_FMADD(V_SET(0.5f), z, V_SET(1.0f)));                           \
        VT p = V_SET(0.17087277f);                                                                 \
        p = V_FMADD(p, t, V_SET(-0.82215223f));                                                    \
        p = V_FMADD(p, t, V_SET(1.48851587f));                                                     \
        p = V_FMADD(p, t, V_SET(-1.13520398f));                                                    \
        p = V_FMADD(p, t, V_SET(0.27886807f));                                                     \
        p = V_FMADD(p, t, V_SET(-0.18628806f));                                                    \
        p = V_FMADD(p, t, V_SET(0.09678418f));                                                     \
        p = V_FMADD(p, t, V_SET(0.37409196f));                                                     \
        p = V_FMADD(p, t, V_SET(1.00002368f));                                                     \
        p = V_FMADD(p, t, V_SET(-1.26551223f));                                                    \
        VT e = VEXP(V_SUB(p, V_MUL(z, z)));                                                        \
        VT ans = V_MUL(t, e);                  /* erfc(|x|/sqrt2) */                               \
        VT erfc_neg = V_BLEND_POS(x, ans, V_SUB(V_SET(2.0f), ans)); /* erfc(-x/sqrt2) */           \
        return V_MUL(V_MUL(V_SET(0.5f), x), erfc_neg);                                             \
    }

#endif
