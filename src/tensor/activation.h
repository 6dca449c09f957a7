/* activation.h — the feed-forward activations of the checkpoints' configs, by their
 * transformers names (activations.py ACT2FN): MusicGen's decoder uses "gelu" and its
 * T5 "relu"; other MusicGen-format checkpoints may name any of these. */
#ifndef MG_TENSOR_ACTIVATION_H
#define MG_TENSOR_ACTIVATION_H

#include <stdint.h>
#include <string.h>

typedef enum mg_act {
    MG_ACT_NONE = 0,
    MG_ACT_GELU,       /* "gelu": 0.5 x (1 + erf(x / sqrt 2)) */
    MG_ACT_GELU_TANH,  /* "gelu_new", "gelu_pytorch_tanh", "gelu_fast": the tanh approximation */
    MG_ACT_RELU,       /* "relu" */
    MG_ACT_SILU,       /* "silu", "swish": x sigmoid(x) */
    MG_ACT_QUICK_GELU, /* "quick_gelu": x sigmoid(1.702 x) */
} mg_act;

/* The names mg_act_from_name accepts, for error messages. */
#define MG_ACT_NAMES "gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, swish, quick_gelu"

/* The activation a config names, or MG_ACT_NONE if it is not one of the above. (Inline:
 * the config parser uses it without linking the kernels.) */
static inline mg_act mg_act_from_name(const char *name) {
    static const char *const names[] = {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast",
                                        "relu", "silu",     "swish",             "quick_gelu"};
    static const mg_act acts[] = {MG_ACT_GELU, MG_ACT_GELU_TANH, MG_ACT_GELU_TANH, MG_ACT_GELU_TANH,
                                  MG_ACT_RELU, MG_ACT_SILU,      MG_ACT_SILU,      MG_ACT_QUICK_GELU};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i]))
            return acts[i];
    return MG_ACT_NONE;
}

/* The name a config writes for an activation (the first of its names above). */
static inline const char *mg_act_name(mg_act act) {
    static const char *const names[] = {"none", "gelu", "gelu_new", "relu", "silu", "quick_gelu"};
    return (unsigned)act < sizeof names / sizeof names[0] ? names[act] : "none";
}
/* x = act(x) in place (MG_ACT_NONE: unchanged). */
void mg_activate(mg_act act, float *x, int64_t n);

#endif
