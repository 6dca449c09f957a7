/* sampler.c — greedy / top-k / top-p / temperature sampling (see sampler.h).
 * Top-k keeps every logit >= the k-th largest (ties kept, as torch.topk + '<' does);
 * top-p removes the smallest tokens whose cumulative probability (ascending) stays
 * <= 1 - p, always keeping the most likely one. */
#include "lm/sampler.h"

#include <math.h>
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

float mg_kth_largest(float *a, int n, int k) {
    /* Quickselect (Hoare partition around the median of three): O(n) on average against
     * the O(n log n) qsort it replaced, which took ~2 % of a q4_0 decoder step (4 sorts
     * of 2048 logits). Every pivot is a value of the range, so the scans stop inside it;
     * after a pass [lo, j] >= pivot >= [i, hi] and everything between equals it. */
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
        float pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot)
                i++;
            while (a[j] < pivot)
                j--;
            if (i <= j) {
                float t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
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
    /* Temperature. */
    if (s->temperature != 1.0f)
        for (int i = 0; i < V; i++)
            logits[i] /= s->temperature;
    /* Top-k: threshold at the k-th largest value. */
    int k = s->top_k;
    if (k > 0 && k < V) {
        memcpy(tmp, logits, sizeof(float) * (size_t)V);
        float kth = mg_kth_largest(tmp, V, k - 1);
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
