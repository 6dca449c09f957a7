/* attention_dispatch.c — mg_kv_ops_get: the attention kernels of the active ISA
 * (attention_avx512.c, attention_avx2.c, attention_neon.c), else the scalar reference
 * (attention.c). Kept apart from the kernels so that the ISA files, which use
 * attention.c's row helpers, and the dispatch do not depend on each other. */
#include "lm/attention.h"
#include "tensor/isa.h"

const mg_kv_ops *mg_kv_ops_avx2(mg_kv_type kv);
const mg_kv_ops *mg_kv_ops_avx512(mg_kv_type kv, int hd);
const mg_kv_ops *mg_kv_ops_neon(mg_kv_type kv);

const mg_kv_ops *mg_kv_ops_get(mg_kv_type kv, int hd, int scalar) {
    if ((int)kv < 0 || kv > MG_KV_Q8_0)
        kv = MG_KV_F16;
    const mg_kv_ops *ops = NULL;
    (void)hd; /* only the AVX-512 kernels depend on it */
    if (!scalar) {
#if defined(__x86_64__)
        mg_isa isa = mg_isa_active();
        if (isa == MG_ISA_AVX512)
            ops = mg_kv_ops_avx512(kv, hd);
        if (!ops && (isa == MG_ISA_AVX512 || isa == MG_ISA_AVX2))
            ops = mg_kv_ops_avx2(kv);
#elif defined(__aarch64__)
        if (mg_isa_active() == MG_ISA_NEON)
            ops = mg_kv_ops_neon(kv);
#endif
    }
    return ops ? ops : mg_kv_ops_scalar(kv);
}
