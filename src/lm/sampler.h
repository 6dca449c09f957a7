/* sampler.h — from guided logits to a token: greedy argmax, or temperature, top-k
 * and top-p warping followed by a draw, in the order transformers applies its
 * warpers (TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper). */
#ifndef MG_LM_SAMPLER_H
#define MG_LM_SAMPLER_H

#include "base/rng.h"

#include <stddef.h>

typedef struct mg_sampler {
    int greedy;
    int top_k;         /* 0 = off; clamped to V */
    float top_p;       /* >= 1 or <= 0 = off */
    float temperature; /* > 0 */
} mg_sampler;

/* Classifier-free guidance on raw logits: out = uncond + (cond - uncond) * scale. */
void mg_cfg_mix(const float *cond, const float *uncond, float scale, float *out, int n);

/* Pick a token from logits[V] (modified in place). `scratch` holds 2*V floats+ints. */
int mg_sample(const mg_sampler *s, float *logits, int V, mg_rng *rng, void *scratch);
/* The value at index k (0-based) of a[0..n) sorted in descending order (duplicates
 * counted); a is left as it is. No NaN in a. */
float mg_kth_largest(const float *a, int n, int k);
/* Bytes of scratch mg_sample needs for vocabulary V. */
size_t mg_sample_scratch_bytes(int V);

#endif
