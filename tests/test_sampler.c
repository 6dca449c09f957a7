/* test_sampler.c — statistical tests of the sampler: greedy is argmax; a fixed seed
 * repeats; empirical frequencies follow softmax(logits / T) (chi-square); top-k never
 * emits a token outside the k best; top-p never emits one outside the nucleus;
 * temperature -> 0 equals greedy; CFG mixing formula; top-k's threshold selection
 * against a sort. */
#include "test.h"
#include "lm/sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define V 64
#define DRAWS 200000

static void make_logits(float *x, uint64_t seed) {
    mg_rng r;
    mg_rng_seed(&r, seed);
    for (int i = 0; i < V; i++)
        x[i] = (float)(mg_rng_normal(&r) * 2.0);
}

static int draw(const mg_sampler *s, const float *logits, mg_rng *rng, void *scratch) {
    float tmp[V];
    memcpy(tmp, logits, sizeof tmp);
    return mg_sample(s, tmp, V, rng, scratch);
}

static void softmax_ref(const float *x, double T, double *p) {
    double mx = -1e300, tot = 0;
    for (int i = 0; i < V; i++)
        mx = fmax(mx, x[i] / T);
    for (int i = 0; i < V; i++)
        tot += p[i] = exp(x[i] / T - mx);
    for (int i = 0; i < V; i++)
        p[i] /= tot;
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* mg_kth_largest (top-k's threshold) equals index k of a descending sort, for every k,
 * on random data, data with many ties, sorted / reversed / constant arrays, -inf, and
 * signed zeros, infinities and subnormals mixed with values of every sign; and it leaves
 * its input as it was. */
static void test_kth_largest(void) {
    enum { N = 300 };
    static float a[N], sorted[N], before[N];
    mg_rng r;
    mg_rng_seed(&r, 11);
    int bad = 0, changed = 0;
    const float odd[8] = {0.0f, -0.0f, INFINITY, -INFINITY, 1e-40f, -1e-40f, 3.5f, -3.5f};
    for (int kind = 0; kind < 7; kind++) {
        for (int rep = 0; rep < 4; rep++) {
            int n = 1 + (int)(mg_rng_uniform(&r) * N) % N;
            for (int i = 0; i < n; i++) {
                double u = mg_rng_normal(&r);
                a[i] = kind == 0   ? (float)u
                       : kind == 1 ? (float)(int)(u * 3) /* many ties */
                       : kind == 2 ? (float)i           /* ascending */
                       : kind == 3 ? (float)-i          /* descending */
                       : kind == 4 ? 1.0f               /* constant */
                       : kind == 5 ? (i % 3 ? (float)u : -INFINITY)
                                   : (i % 2 ? (float)(u * 1e30) : odd[(int)(mg_rng_uniform(&r) * 8) % 8]);
            }
            memcpy(sorted, a, sizeof(float) * (size_t)n);
            qsort(sorted, (size_t)n, sizeof(float), cmp_desc);
            memcpy(before, a, sizeof(float) * (size_t)n);
            for (int k = 0; k < n; k++)
                bad += mg_kth_largest(a, n, k) != sorted[k];
            changed += memcmp(before, a, sizeof(float) * (size_t)n) != 0;
        }
    }
    CHECK(bad == 0, "mg_kth_largest differs from a sort in %d cases", bad);
    CHECK(changed == 0, "mg_kth_largest changed its input in %d arrays", changed);
}

int main(void) {
    test_kth_largest();
    float logits[V];
    make_logits(logits, 7);
    void *scratch = malloc(mg_sample_scratch_bytes(V));
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best])
            best = i;
    mg_rng rng;
    mg_rng_seed(&rng, 1);

    mg_sampler greedy = {.greedy = 1};
    CHECK(draw(&greedy, logits, &rng, scratch) == best, "greedy = argmax");

    /* Same seed, same sequence. */
    mg_sampler plain = {.top_k = 0, .top_p = 1.0f, .temperature = 1.0f};
    mg_rng a, b;
    mg_rng_seed(&a, 99);
    mg_rng_seed(&b, 99);
    int same = 1;
    for (int i = 0; i < 1000; i++)
        same &= draw(&plain, logits, &a, scratch) == draw(&plain, logits, &b, scratch);
    CHECK(same, "fixed seed repeats");

    /* Frequencies follow softmax(logits / T): chi-square over tokens with expected >= 5. */
    const float temps[2] = {1.0f, 0.7f};
    for (int ti = 0; ti < 2; ti++) {
        mg_sampler s = {.top_k = 0, .top_p = 1.0f, .temperature = temps[ti]};
        int count[V] = {0};
        for (int i = 0; i < DRAWS; i++)
            count[draw(&s, logits, &rng, scratch)]++;
        double p[V], chi2 = 0;
        int dof = -1;
        softmax_ref(logits, temps[ti], p);
        for (int i = 0; i < V; i++) {
            double e = p[i] * DRAWS;
            if (e < 5)
                continue;
            chi2 += (count[i] - e) * (count[i] - e) / e;
            dof++;
        }
        /* chi2 mean = dof, sd = sqrt(2 dof): allow 6 sd (false alarm ~1e-9). */
        double limit = dof + 6 * sqrt(2.0 * dof);
        printf("  temperature %.1f: chi2 %.1f with %d dof (limit %.1f)\n", temps[ti], chi2, dof, limit);
        CHECK(chi2 < limit, "sampled distribution matches softmax (chi2 %.1f > %.1f)", chi2, limit);
    }

    /* Top-k: only the k best ever come out, and all of them do. */
    for (int k = 1; k <= 10; k += 3) {
        mg_sampler s = {.top_k = k, .top_p = 1.0f, .temperature = 1.0f};
        float sorted[V];
        memcpy(sorted, logits, sizeof sorted);
        for (int i = 0; i < V; i++)
            for (int j = i + 1; j < V; j++)
                if (sorted[j] > sorted[i]) {
                    float t = sorted[i];
                    sorted[i] = sorted[j];
                    sorted[j] = t;
                }
        int outside = 0, seen[V] = {0};
        for (int i = 0; i < 20000; i++) {
            int tok = draw(&s, logits, &rng, scratch);
            outside += logits[tok] < sorted[k - 1];
            seen[tok] = 1;
        }
        int distinct = 0;
        for (int i = 0; i < V; i++)
            distinct += seen[i];
        CHECK(outside == 0, "top-k %d emitted %d tokens outside the k best", k, outside);
        CHECK(distinct == k, "top-k %d emitted %d distinct tokens", k, distinct);
    }
    /* top-k larger than V behaves like no top-k. */
    mg_sampler big = {.top_k = 250, .top_p = 1.0f, .temperature = 1.0f};
    mg_rng_seed(&a, 5);
    mg_rng_seed(&b, 5);
    same = 1;
    for (int i = 0; i < 1000; i++)
        same &= draw(&big, logits, &a, scratch) == draw(&plain, logits, &b, scratch);
    CHECK(same, "top-k 250 > V is clamped to V");

    /* Top-p: tokens outside the nucleus never come out. */
    for (int pi = 0; pi < 3; pi++) {
        float top_p = pi == 0 ? 0.5f : pi == 1 ? 0.9f : 0.01f;
        mg_sampler s = {.top_k = 0, .top_p = top_p, .temperature = 1.0f};
        double p[V];
        softmax_ref(logits, 1.0, p);
        /* Nucleus as the reference defines it: drop ascending-cumulative mass <= 1 - p. */
        int order[V];
        for (int i = 0; i < V; i++)
            order[i] = i;
        for (int i = 0; i < V; i++)
            for (int j = i + 1; j < V; j++)
                if (p[order[j]] < p[order[i]]) {
                    int t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
        int allowed[V];
        double cum = 0;
        for (int r = 0; r < V; r++) {
            cum += p[order[r]];
            allowed[order[r]] = !(cum <= 1.0 - top_p) || r == V - 1;
        }
        int outside = 0;
        for (int i = 0; i < 20000; i++)
            outside += !allowed[draw(&s, logits, &rng, scratch)];
        CHECK(outside == 0, "top-p %.2f emitted %d tokens outside the nucleus", top_p, outside);
    }

    /* Temperature -> 0 is greedy. */
    mg_sampler cold = {.top_k = 250, .top_p = 1.0f, .temperature = 1e-4f};
    int all_best = 1;
    for (int i = 0; i < 1000; i++)
        all_best &= draw(&cold, logits, &rng, scratch) == best;
    CHECK(all_best, "temperature 1e-4 equals greedy");

    /* Temperatures so small that logit / T overflows still tend to argmax (they gave
     * NaN probabilities and the last index), with and without top-k; ties at the
     * largest logit share the draws. The smallest normal float is what the CLI
     * passes for anything smaller. */
    const float tiny[3] = {1e-30f, 1e-37f, FLT_MIN};
    for (int t = 0; t < 3; t++)
        for (int k = 0; k <= 250; k += 250) {
            mg_sampler frozen = {.top_k = k, .top_p = 1.0f, .temperature = tiny[t]};
            all_best = 1;
            for (int i = 0; i < 200; i++)
                all_best &= draw(&frozen, logits, &rng, scratch) == best;
            CHECK(all_best, "temperature %g, top-k %d equals greedy", (double)tiny[t], k);
        }
    float tied[V];
    memcpy(tied, logits, sizeof tied);
    int second = best == 0 ? 1 : 0;
    tied[second] = tied[best];
    mg_sampler frozen = {.top_k = 0, .top_p = 1.0f, .temperature = FLT_MIN};
    int hits[2] = {0, 0}, other = 0;
    for (int i = 0; i < 400; i++) {
        int c = draw(&frozen, tied, &rng, scratch);
        hits[0] += c == best;
        hits[1] += c == second;
        other += c != best && c != second;
    }
    CHECK(other == 0 && hits[0] > 100 && hits[1] > 100, "temperature FLT_MIN with two tied maxima: %d / %d / %d other",
          hits[0], hits[1], other);
    /* The smallest top-p keeps only the most likely token. */
    mg_sampler nucleus1 = {.top_k = 0, .top_p = FLT_MIN, .temperature = 1.0f};
    all_best = 1;
    for (int i = 0; i < 200; i++)
        all_best &= draw(&nucleus1, logits, &rng, scratch) == best;
    CHECK(all_best, "top-p FLT_MIN equals greedy");

    /* CFG mixing: uncond + (cond - uncond) * g. */
    float cond[3] = {1, 2, 3}, unc[3] = {0.5f, 2, 4}, out[3];
    mg_cfg_mix(cond, unc, 3.0f, out, 3);
    CHECK(out[0] == 2.0f && out[1] == 2.0f && out[2] == 1.0f, "cfg mix %g %g %g", out[0], out[1], out[2]);
    free(scratch);
    return test_finish("test_sampler");
}
