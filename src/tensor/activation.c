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
    case MG_ACT_GELU_10:
        mg_gelu(x, n);
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] < -10.0f ? -10.0f : x[i] > 10.0f ? 10.0f : x[i];
        return;
    case MG_ACT_LAPLACE:
        for (int64_t i = 0; i < n; i++)
            x[i] = 0.5f * (1.0f + erff((x[i] - 0.707107f) / (0.282095f * 1.4142135623730951f)));
        return;
    case MG_ACT_LEAKY_RELU: /* nn.LeakyReLU's default slope */
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] >= 0 ? x[i] : 0.01f * x[i];
        return;
    case MG_ACT_LINEAR: return;
    case MG_ACT_MISH: /* softplus as PyTorch computes it: x itself above 20 */
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] * tanhf(x[i] > 20.0f ? x[i] : log1pf(expf(x[i])));
        return;
    case MG_ACT_RELU2:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] > 0 ? x[i] * x[i] : 0.0f;
        return;
    case MG_ACT_RELU6:
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] > 0 ? (x[i] < 6.0f ? x[i] : 6.0f) : 0.0f;
        return;
    case MG_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            x[i] = 1.0f / (1.0f + expf(-x[i]));
        return;
    case MG_ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            x[i] = tanhf(x[i]);
        return;
    }
}
