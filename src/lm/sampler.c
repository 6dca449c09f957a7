/* sampler.c — greedy / top-k / top-p / temperature sampling (see sampler.h).
 * Top-k keeps every logit >= the k-th largest (ties kept, as torch.topk + '<' does);
 * top-p removes the smallest tokens whose cumulative probability (ascending) stays
 * <= 1 - p, always keeping the most likely one. */
#include "lm/sampler.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void mg_cfg_mix(const float *cond, const float *uncond, float scale, float *out, int n) {
    for (int i = 0; i < n; i++)
        out[i] = uncond[i] + (cond[i] - uncond[i]) * scale;
}

size_t mg_sample_scratch_bytes(int V) { return (size_t)V * (sizeof(float) + sizeof(int)) + 64; }

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* A float's bits as an unsigned key in the same order (-inf < ... < -0 < +0 < ... < +inf):
 * positive values get the sign bit set, negative ones all bits flipped. */
static uint32_t order_key(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

static float key_value(uint32_t key) {
    uint32_t u = key & 0x80000000u ? key & 0x7FFFFFFFu : ~key;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float mg_kth_largest(const float *a, int n, int k) {
    /* Radix select on the order keys, 11 + 11 + 10 bits from the top: each pass counts
     * the keys that share the digits found so far, and the digit the answer has is the
     * bucket where the count from the top passes k. Without data-dependent branches in
     * the counting it takes ~6 us for 2048 logits, where quickselect's partitions,
     * mispredicting every other comparison, took ~14 (one top-k per codebook and step:
     * ~1 % of a q8_0 step, while the other threads wait). */
    static const int shift[3] = {21, 10, 0}, bits[3] = {11, 11, 10};
    uint32_t prefix = 0, mask = 0;
    int rank = k; /* among the keys that match prefix, from the top */
    for (int pass = 0; pass < 3; pass++) {
        int count[1 << 11] = {0};
        uint32_t digits = (1u << bits[pass]) - 1;
        for (int i = 0; i < n; i++) {
            uint32_t key = order_key(a[i]);
            count[(key >> shift[pass]) & digits] += (key & mask) == prefix;
        }
        int d = (int)digits;
        while (d > 0 && rank >= count[d])
            rank -= count[d--];
        prefix |= (uint32_t)d << shift[pass];
        mask |= digits << shift[pass];
    }
    return key_value(prefix);
}

/* Sort helper for top-p: indices by logit ascending (stable on index for ties). */
static _Thread_local const float *g_sort_keys; /* qsort has no context argument in C11 */
static int cmp_idx_asc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    float x = g_sort_keys[i], y = g_sort_keys[j];
    if (x < y)
        return -1;
    if (x > y)
        return 1;
    return i < j ? -1 : i > j;
}

int mg_sample(const mg_sampler *s, float *logits, int V, mg_rng *rng, void *scratch) {
    if (s->greedy)
        return argmax(logits, V);
    float *tmp = scratch;
    int *idx = (int *)(tmp + V);
    /* Temperature. Where the largest logit / T overflows (T below ~1e-37 for logits of
     * ~10), the plain division gave inf - inf = NaN in the softmax (or all -inf): the
     * distances to the largest logit are divided instead, 0 for the largest and -inf
     * for the rest, the limit the distribution tends to (argmax, ties shared).
     * Whenever it does not overflow, the plain division runs, as it always did. */
    if (s->temperature != 1.0f) {
        float mx = logits[argmax(logits, V)];
        if (isfinite(mx) && !isfinite(mx / s->temperature))
            for (int i = 0; i < V; i++)
                logits[i] = (logits[i] - mx) / s->temperature;
        else
            for (int i = 0; i < V; i++)
                logits[i] /= s->temperature;
    }
    /* Top-k: threshold at the k-th largest value. */
    int k = s->top_k;
    if (k > 0 && k < V) {
        float kth = mg_kth_largest(logits, V, k - 1);
        for (int i = 0; i < V; i++)
            if (logits[i] < kth)
                logits[i] = -INFINITY;
    }
    /* Softmax over what is left. */
    float mx = logits[argmax(logits, V)];
    double total = 0;
    for (int i = 0; i < V; i++) {
        tmp[i] = isinf(logits[i]) && logits[i] < 0 ? 0.0f : expf(logits[i] - mx);
        total += tmp[i];
    }
    for (int i = 0; i < V; i++)
        tmp[i] = (float)(tmp[i] / total);
    /* Top-p (nucleus). */
    if (s->top_p > 0.0f && s->top_p < 1.0f) {
        for (int i = 0; i < V; i++)
            idx[i] = i;
        g_sort_keys = logits;
        qsort(idx, (size_t)V, sizeof(int), cmp_idx_asc);
        double cum = 0, removed = 0;
        for (int r = 0; r < V - 1; r++) { /* the largest is always kept */
            cum += tmp[idx[r]];
            if (cum <= 1.0 - s->top_p) {
                removed += tmp[idx[r]];
                tmp[idx[r]] = 0;
            } else {
                break;
            }
        }
        if (removed > 0)
            for (int i = 0; i < V; i++)
                tmp[i] = (float)(tmp[i] / (1.0 - removed));
    }
    /* Inverse-CDF draw in index order. */
    double u = mg_rng_uniform(rng), acc = 0;
    int last = -1;
    for (int i = 0; i < V; i++) {
        if (tmp[i] <= 0)
            continue;
        acc += tmp[i];
        last = i;
        if (u < acc)
            return i;
    }
    return last >= 0 ? last : argmax(logits, V);
}
