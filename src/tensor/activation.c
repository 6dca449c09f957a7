/* activation.c — feed-forward activations by name (see activation.h). GELU and ReLU
 * are ops.c's (GELU vectorized); the others are plain loops, used only by checkpoints
 * other than the released MusicGen ones. */
#include "tensor/activation.h"
#include "tensor/ops.h"

#include <math.h>

void mg_activate(mg_act act, float *x, int64_t n) {
    switch (act) {
    case MG_ACT_NONE: return;
    case MG_ACT_GELU: mg_gelu(x, n); return;
    case MG_ACT_RELU: mg_relu(x, n); return;
    case MG_ACT_GELU_TANH:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        }
        return;
    case MG_ACT_SILU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] / (1.0f + expf(-x[i]));
        return;
    case MG_ACT_QUICK_GELU:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
        return;
    }
}
