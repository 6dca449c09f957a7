/* test_ops.c — the vectorized GELU and softmax against the scalar references
 * (erff / expf) on random data of ragged lengths, and edge values (0, +-large,
 * -inf in softmax inputs); layer norm (f32 partial sums) against a double-precision
 * two-pass reference, including rows with a large mean; the non-finite scan at every
 * position of ragged lengths; every feed-forward activation a config can name
 * (activation.h) against its transformers formula in double. */
#include "test.h"
#include "base/rng.h"
#include "tensor/activation.h"
#include "tensor/finite.h"
#include "tensor/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* transformers' activations.py formulas, in double. */
static double act_ref(const char *name, double x) {
    if (!strcmp(name, "gelu"))
        return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    if (!strcmp(name, "gelu_new") || !strcmp(name, "gelu_pytorch_tanh") || !strcmp(name, "gelu_fast"))
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    if (!strcmp(name, "relu"))
        return x > 0 ? x : 0;
    if (!strcmp(name, "silu") || !strcmp(name, "swish"))
        return x / (1 + exp(-x));
    if (!strcmp(name, "gelu_python"))
        return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    if (!strcmp(name, "gelu_accurate"))
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    if (!strcmp(name, "gelu_10"))
        return fmin(fmax(0.5 * x * (1 + erf(x / sqrt(2.0))), -10), 10);
    if (!strcmp(name, "laplace"))
        return 0.5 * (1 + erf((x - 0.707107) / (0.282095 * sqrt(2.0))));
    if (!strcmp(name, "leaky_relu"))
        return x >= 0 ? x : 0.01 * x;
    if (!strcmp(name, "linear"))
        return x;
    if (!strcmp(name, "mish"))
        return x * tanh(x > 20 ? x : log1p(exp(x)));
    if (!strcmp(name, "relu2"))
        return x > 0 ? x * x : 0;
    if (!strcmp(name, "relu6"))
        return fmin(fmax(x, 0), 6);
    if (!strcmp(name, "sigmoid"))
        return 1 / (1 + exp(-x));
    if (!strcmp(name, "tanh"))
        return tanh(x);
    return x / (1 + exp(-1.702 * x)); /* quick_gelu */
}

/* Every name mg_act_from_name takes, on values from -12 to 12: |error| <= 1e-6 (|y| + 1). */
static void check_activations(void) {
    static const char *const names[] = {"gelu",       "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu",
                                        "silu",       "swish",    "quick_gelu",        "gelu_python", "gelu_accurate",
                                        "gelu_10",    "laplace",  "leaky_relu",        "linear",      "mish",
                                        "relu2",      "relu6",    "sigmoid",           "tanh"};
    enum { N = 2401 };
    static float x[N];
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        mg_act act = mg_act_from_name(names[k]);
        CHECK(act != MG_ACT_NONE, "%s not recognised", names[k]);
        for (int i = 0; i < N; i++)
            x[i] = -12.0f + 0.01f * (float)i;
        mg_activate(act, x, N);
        double err = 0;
        for (int i = 0; i < N; i++) {
            double want = act_ref(names[k], -12.0f + 0.01f * (float)i);
            err = fmax(err, fabs(x[i] - want) / (fabs(want) + 1));
        }
        printf("  %-18s max err %.3e (as %s)\n", names[k], err, mg_act_name(act));
        CHECK(err < 1e-6, "%s: error %g", names[k], err);
    }
    CHECK(mg_act_from_name("gelu_11") == MG_ACT_NONE && mg_act_from_name(NULL) == MG_ACT_NONE,
          "unknown activations are refused");
    /* Every activation's written name reads back as itself (configs and GGUF files). */
    for (int a = 1; a <= MG_ACT_TANH; a++)
        CHECK(mg_act_from_name(mg_act_name((mg_act)a)) == (mg_act)a, "activation %d round-trips through %s", a,
              mg_act_name((mg_act)a));
}

/* max |mg_layer_norm - double reference| over ragged lengths, relative to |y| + 1. */
static double layer_norm_error(mg_rng *r) {
    double err = 0;
    for (int n = 1; n < 1100; n += 53) {
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
        float *w = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
        double offset = n % 2 ? 100.0 : 0.0; /* a mean far from zero */
        for (int i = 0; i < n; i++) {
            x[i] = (float)(offset + mg_rng_normal(r) * 3.0);
            w[i] = (float)(1.0 + mg_rng_normal(r) * 0.1);
            b[i] = (float)(mg_rng_normal(r) * 0.1);
        }
        mg_layer_norm(x, y, n, w, n % 3 ? b : NULL, 1e-5f);
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++)
            mean += x[i];
        mean /= n;
        for (int i = 0; i < n; i++)
            var += (x[i] - mean) * (x[i] - mean);
        var /= n;
        for (int i = 0; i < n; i++) {
            double ref = (x[i] - mean) / sqrt(var + 1e-5) * w[i] + (n % 3 ? b[i] : 0.0);
            err = fmax(err, fabs(y[i] - ref) / (fabs(ref) + 1.0));
        }
        free(x);
        free(y);
        free(w);
        free(b);
    }
    return err;
}

/* mg_any_nonfinite: finite extremes (max, denormal, -0) pass; one NaN, +inf or -inf at
 * any position of ragged lengths is found. Returns the number of wrong answers. */
static int nonfinite_mistakes(mg_rng *r) {
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    int wrong = 0;
    for (int n = 1; n < 140; n += 3) {
        float *x = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++)
            x[i] = (float)(mg_rng_normal(r) * 1e3);
        x[0] = 3.4028235e38f;
        x[n / 2] = n % 2 ? 1e-45f : -0.0f;
        wrong += mg_any_nonfinite(x, n) != 0;
        for (int at = 0; at < n; at++)
            for (int k = 0; k < 3; k++) {
                float keep = x[at];
                x[at] = bad[k];
                wrong += mg_any_nonfinite(x, n) != 1;
                x[at] = keep;
            }
        free(x);
    }
    return wrong;
}

int main(void) {
    mg_rng r;
    mg_rng_seed(&r, 5);
    double ln_err = layer_norm_error(&r);
    printf("  layer norm max err %.3e\n", ln_err);
    CHECK(ln_err < 1e-5, "layer norm error %g", ln_err);
    int nf_wrong = nonfinite_mistakes(&r);
    printf("  non-finite scan: %d wrong answers\n", nf_wrong);
    CHECK(nf_wrong == 0, "mg_any_nonfinite answered wrongly %d times", nf_wrong);
    double gelu_err = 0, sm_err = 0;
    for (int n = 1; n < 300; n += 7) {
        float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++)
            a[i] = b[i] = (float)(mg_rng_normal(&r) * 4.0);
        if (n > 3) {
            a[0] = b[0] = 0.0f;
            a[1] = b[1] = -30.0f;
            a[2] = b[2] = 30.0f;
        }
        mg_gelu(a, n);
        mg_gelu_ref(b, n);
        for (int i = 0; i < n; i++)
            gelu_err = fmax(gelu_err, fabs(a[i] - b[i]) / (1e-6 + fabs(b[i]) > 1 ? fabs(b[i]) : 1.0));
        for (int i = 0; i < n; i++)
            a[i] = b[i] = (float)(mg_rng_normal(&r) * 5.0);
        if (n > 4)
            a[3] = b[3] = -INFINITY;
        mg_softmax(a, n);
        mg_softmax_ref(b, n);
        for (int i = 0; i < n; i++)
            sm_err = fmax(sm_err, fabs(a[i] - b[i]));
        if (n > 4)
            CHECK(a[3] == 0.0f, "softmax of -inf is exactly 0 (got %g)", a[3]);
        free(a);
        free(b);
    }
    printf("  gelu max err %.3e, softmax max abs err %.3e\n", gelu_err, sm_err);
    CHECK(gelu_err < 1e-6, "gelu error %g", gelu_err);
    CHECK(sm_err < 1e-6, "softmax error %g", sm_err);
    check_activations();
    return test_finish("test_ops");
}
