/* activation.h — the feed-forward activations of the checkpoints' configs, by their
 * transformers names (activations.py ACT2FN, all of them): MusicGen's decoder uses
 * "gelu" and its T5 "relu"; other MusicGen-format checkpoints may name any of these. */
#ifndef MG_TENSOR_ACTIVATION_H
#define MG_TENSOR_ACTIVATION_H

#include <stdint.h>
#include <string.h>

typedef enum mg_act {
    MG_ACT_NONE = 0,   /* not an activation name (the parser's "unknown") */
    MG_ACT_GELU,       /* "gelu", "gelu_python": 0.5 x (1 + erf(x / sqrt 2)) */
    MG_ACT_GELU_TANH,  /* "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate": tanh approximation */
    MG_ACT_RELU,       /* "relu" */
    MG_ACT_SILU,       /* "silu", "swish": x sigmoid(x) */
    MG_ACT_QUICK_GELU, /* "quick_gelu": x sigmoid(1.702 x) */
    MG_ACT_GELU_10,    /* "gelu_10": gelu clipped to [-10, 10] */
    MG_ACT_LAPLACE,    /* "laplace": 0.5 (1 + erf((x - 0.707107) / (0.282095 sqrt 2))) */
    MG_ACT_LEAKY_RELU, /* "leaky_relu": x, or 0.01 x below 0 */
    MG_ACT_LINEAR,     /* "linear": x */
    MG_ACT_MISH,       /* "mish": x tanh(softplus(x)) */
    MG_ACT_RELU2,      /* "relu2": relu(x)^2 */
    MG_ACT_RELU6,      /* "relu6": min(max(x, 0), 6) */
    MG_ACT_SIGMOID,    /* "sigmoid" */
    MG_ACT_TANH,       /* "tanh" */
} mg_act;

/* The names mg_act_from_name accepts (transformers' ACT2FN), for error messages. */
#define MG_ACT_NAMES                                                                                            \
    "gelu, gelu_python, gelu_new, gelu_pytorch_tanh, gelu_fast, gelu_accurate, gelu_10, relu, silu, swish, "   \
    "quick_gelu, laplace, leaky_relu, linear, mish, relu2, relu6, sigmoid, tanh"

/* The activation a config names, or MG_ACT_NONE if it is not one of the above. (Inline:
 * the config parser uses it without linking the kernels.) */
static inline mg_act mg_act_from_name(const char *name) {
    static const char *const names[] = {"gelu",       "gelu_python", "gelu_new",  "gelu_pytorch_tanh", "gelu_fast",
                                        "gelu_accurate", "gelu_10",  "relu",      "silu",              "swish",
                                        "quick_gelu", "laplace",     "leaky_relu", "linear",           "mish",
                                        "relu2",      "relu6",       "sigmoid",   "tanh"};
    static const mg_act acts[] = {MG_ACT_GELU,       MG_ACT_GELU,    MG_ACT_GELU_TANH,  MG_ACT_GELU_TANH,
                                  MG_ACT_GELU_TANH,  MG_ACT_GELU_TANH, MG_ACT_GELU_10,  MG_ACT_RELU,
                                  MG_ACT_SILU,       MG_ACT_SILU,    MG_ACT_QUICK_GELU, MG_ACT_LAPLACE,
                                  MG_ACT_LEAKY_RELU, MG_ACT_LINEAR,  MG_ACT_MISH,       MG_ACT_RELU2,
                                  MG_ACT_RELU6,      MG_ACT_SIGMOID, MG_ACT_TANH};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i]))
            return acts[i];
    return MG_ACT_NONE;
}

/* The name a config writes for an activation (the first of its names above). */
static inline const char *mg_act_name(mg_act act) {
    static const char *const names[] = {"none",    "gelu",       "gelu_new", "relu",  "silu",
                                        "quick_gelu", "gelu_10", "laplace",  "leaky_relu", "linear",
                                        "mish",    "relu2",      "relu6",    "sigmoid", "tanh"};
    return (unsigned)act < sizeof names / sizeof names[0] ? names[act] : "none";
}
/* x = act(x) in place (MG_ACT_NONE: unchanged). */
void mg_activate(mg_act act, float *x, int64_t n);

#endif
