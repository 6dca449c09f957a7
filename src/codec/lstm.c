/* lstm.c — EncodecLSTM: y = LSTM(x) + x over a whole sequence, nn.LSTM semantics
 * (stacked layers, zero initial h and c, gate order i, f, g, o, both biases):
 *   gates = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
 *   c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g),  h_t = sigmoid(o) * tanh(c_t)
 * The input projection of all time steps is one GEMM (tensor/gemm.h); the recurrence
 * is one threaded pass per step in which each task owns a fixed slice of hidden
 * units: it computes the four gate rows of its units against h_{t-1} and updates
 * their cell state, so a step needs a single pool dispatch. That is one fork-join per
 * step; on a busy machine, where the pool's other threads are not actually running,
 * each join waits for the scheduler and the threaded step becomes several times
 * slower than the same step on one thread. So the loop times both ways now and then
 * and uses the faster; every unit is computed the same way in both, so the output
 * does not depend on the choice. The state (h, c, and the probe's findings) can be
 * carried from one piece of a sequence to the next (ec_lstm_continue, used by the
 * streaming decoder) with the same result as one pass.
 *
 * Not here: bidirectional LSTMs, projections, dropout (EnCodec uses none of them).
 */
#include "codec/seanet.h"
#include "base/timing.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LSTM_UNITS_PER_TASK 16
/* Every LSTM_PROBE_PERIOD steps, time LSTM_PROBE_STEPS steps on the pool and as many
 * on the calling thread alone, then use the faster way until the next probe. */
#define LSTM_PROBE_PERIOD 256
#define LSTM_PROBE_STEPS 4

mg_status ec_lstm_load(ec_lstm *l, mg_store *s, const char *prefix, int dim, int n_layers, ec_load_mode mode) {
    memset(l, 0, sizeof *l);
    if (n_layers < 1)
        return mg_fail(MG_ERR_UNSUPPORTED, "%s: num_lstm_layers = %d is not supported (EnCodec needs at least 1)",
                       prefix, n_layers);
    l->dim = dim;
    l->n_layers = n_layers;
    l->w_ih = mg_calloc((size_t)n_layers, sizeof *l->w_ih, "LSTM weights");
    l->bias = mg_calloc((size_t)n_layers, sizeof *l->bias, "LSTM biases");
    l->w_hh = mg_calloc((size_t)n_layers, sizeof *l->w_hh, "LSTM weights");
    if (!l->w_ih || !l->bias || !l->w_hh)
        return MG_ERR_NOMEM;
    int64_t H4 = 4 * (int64_t)dim;
    int64_t wshape[2] = {H4, dim}, bshape[1] = {H4};
    char name[256];
    for (int i = 0; i < n_layers; i++) {
        if (mode == EC_CHECK_ONLY) {
            static const char *const names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
            for (int k = 0; k < 4; k++) {
                mg_tensor t;
                snprintf(name, sizeof name, "%s.%s_l%d", prefix, names[k], i);
                MG_TRY(mg_store_get(s, name, k < 2 ? 2 : 1, k < 2 ? wshape : bshape, &t));
                if (t.dtype != MG_DT_F32)
                    l->f32_copy_bytes += mg_tensor_numel(&t) * (int64_t)sizeof(float);
            }
            continue;
        }
        const float *w_ih, *b_ih, *b_hh;
        snprintf(name, sizeof name, "%s.weight_ih_l%d", prefix, i);
        MG_TRY(mg_store_get_f32(s, name, 2, wshape, &w_ih));
        snprintf(name, sizeof name, "%s.weight_hh_l%d", prefix, i);
        MG_TRY(mg_store_get_f32(s, name, 2, wshape, &l->w_hh[i]));
        snprintf(name, sizeof name, "%s.bias_ih_l%d", prefix, i);
        MG_TRY(mg_store_get_f32(s, name, 1, bshape, &b_ih));
        snprintf(name, sizeof name, "%s.bias_hh_l%d", prefix, i);
        MG_TRY(mg_store_get_f32(s, name, 1, bshape, &b_hh));
        l->bias[i] = mg_malloc((size_t)H4 * sizeof(float), "LSTM biases");
        if (!l->bias[i])
            return MG_ERR_NOMEM;
        for (int64_t j = 0; j < H4; j++)
            l->bias[i][j] = b_ih[j] + b_hh[j];
        /* W_ih is [4H][H] = B^T for x [T][H] -> gates [T][4H]. */
        MG_TRY(mg_gemm_pack_b(&l->w_ih[i], dim, H4, w_ih, 1, dim));
        /* Only the packed copy is read from now on: drop the file's pages. */
        mg_store_release(s, w_ih, (size_t)(H4 * dim) * sizeof(float));
    }
    return MG_OK;
}

void ec_lstm_free(ec_lstm *l) {
    if (l->w_ih)
        for (int i = 0; i < l->n_layers; i++)
            mg_gemm_b_free(&l->w_ih[i]);
    if (l->bias)
        for (int i = 0; i < l->n_layers; i++)
            free(l->bias[i]);
    free(l->w_ih);
    free(l->bias);
    free(l->w_hh);
    memset(l, 0, sizeof *l);
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* tanh from expf (glibc's tanhf goes through the slower expm1f): 1 - 2 / (e^(2|x|) + 1)
 * with the sign of x; absolute error ~1e-7, far below the codec's tolerance. */
static float tanh_fast(float x) {
    float a = fabsf(x);
    float t = a > 20.0f ? 1.0f : 1.0f - 2.0f / (expf(2.0f * a) + 1.0f);
    return x < 0 ? -t : t;
}

typedef struct step_job {
    const float *w_hh;  /* [4H][H] */
    const float *gx;    /* input projection of this step (+ biases) [4H] */
    const float *h_prev; /* [H] or NULL at t = 0 */
    float *c;           /* [H] cell state, updated */
    float *h;           /* [H] output of this step */
    int H;
} step_job;

static void step_task(void *arg, int task) {
    const step_job *j = arg;
    const int H = j->H;
    int u0 = task * LSTM_UNITS_PER_TASK;
    int nu = H - u0 < LSTM_UNITS_PER_TASK ? H - u0 : LSTM_UNITS_PER_TASK;
    float rec[4][LSTM_UNITS_PER_TASK];
    for (int g = 0; g < 4; g++) {
        if (j->h_prev)
            mg_gemv_rows(j->w_hh + ((int64_t)g * H + u0) * H, H, nu, j->h_prev, H, rec[g]);
        else
            memset(rec[g], 0, sizeof rec[g]);
    }
    for (int u = 0; u < nu; u++) {
        int k = u0 + u;
        float ig = sigmoidf(j->gx[k] + rec[0][u]);
        float fg = sigmoidf(j->gx[H + k] + rec[1][u]);
        float gg = tanh_fast(j->gx[2 * H + k] + rec[2][u]);
        float og = sigmoidf(j->gx[3 * H + k] + rec[3][u]);
        float c = fg * j->c[k] + ig * gg;
        j->c[k] = c;
        j->h[k] = og * tanh_fast(c);
    }
}

/* What the step-timing probe of one layer has seen (see the top of this file). */
struct ec_lstm_probe {
    int threaded; /* -1: not decided yet (use the pool if it has threads) */
    double t_pool, t_alone;
};

mg_status ec_lstm_state_init(ec_lstm_state *s, const ec_lstm *l) {
    memset(s, 0, sizeof *s);
    s->n_layers = l->n_layers;
    s->dim = l->dim;
    size_t n = (size_t)l->n_layers * (size_t)l->dim;
    s->h = calloc(n, sizeof(float));
    s->c = calloc(n, sizeof(float));
    s->probe = calloc((size_t)l->n_layers, sizeof *s->probe);
    if (!s->h || !s->c || !s->probe) {
        ec_lstm_state_free(s);
        return mg_fail(MG_ERR_NOMEM, "out of memory for the EnCodec LSTM state");
    }
    for (int i = 0; i < l->n_layers; i++)
        s->probe[i].threaded = -1;
    return MG_OK;
}

void ec_lstm_state_free(ec_lstm_state *s) {
    free(s->h);
    free(s->c);
    free(s->probe);
    memset(s, 0, sizeof *s);
}

/* One layer over T steps: out[t] = h_t, from the layer's state (h, c, probe). */
static void run_layer(const float *w_hh, const float *gates, int64_t T, int H, int64_t step0, mg_pool *pool,
                      float *h_last, float *c, struct ec_lstm_probe *pr, float *out) {
    const int64_t H4 = 4 * (int64_t)H;
    int n_tasks = (H + LSTM_UNITS_PER_TASK - 1) / LSTM_UNITS_PER_TASK;
    if (pr->threaded < 0)
        pr->threaded = mg_pool_threads(pool) > 1;
    for (int64_t t = 0; t < T; t++) {
        int64_t g = step0 + t; /* step of the whole sequence */
        const float *h_prev = t > 0 ? out + (t - 1) * H : g > 0 ? h_last : NULL;
        step_job j = {w_hh, gates + t * H4, h_prev, c, out + t * H, H};
        int64_t phase = g % LSTM_PROBE_PERIOD;
        if (mg_pool_threads(pool) < 2 || phase >= 2 * LSTM_PROBE_STEPS) {
            mg_pool_run(pr->threaded ? pool : NULL, step_task, &j, n_tasks);
            continue;
        }
        if (phase == 0)
            pr->t_pool = pr->t_alone = 0;
        int on_pool = phase < LSTM_PROBE_STEPS;
        double a = mg_time_now();
        mg_pool_run(on_pool ? pool : NULL, step_task, &j, n_tasks);
        *(on_pool ? &pr->t_pool : &pr->t_alone) += mg_time_now() - a;
        if (phase == 2 * LSTM_PROBE_STEPS - 1)
            pr->threaded = pr->t_pool < pr->t_alone;
    }
    memcpy(h_last, out + (T - 1) * H, (size_t)H * sizeof(float));
}

mg_status ec_lstm_continue(const ec_lstm *l, mg_pool *pool, ec_lstm_state *s, const float *x, int64_t T, float *y) {
    if (T <= 0)
        return MG_OK;
    if (s->n_layers != l->n_layers || s->dim != l->dim)
        return mg_fail(MG_ERR_INTERNAL, "EnCodec LSTM state of another LSTM");
    const int H = l->dim;
    const int64_t H4 = 4 * (int64_t)H;
    float *gates = malloc((size_t)(T * H4) * sizeof(float));
    float *tmp = l->n_layers > 1 ? malloc((size_t)(T * H) * sizeof(float)) : NULL;
    if (!gates || (l->n_layers > 1 && !tmp)) {
        free(gates);
        free(tmp);
        return mg_fail(MG_ERR_NOMEM, "out of memory for the EnCodec LSTM (%lld frames)", (long long)T);
    }
    const float *in = x;
    for (int layer = 0; layer < l->n_layers; layer++) {
        /* The last layer writes y; earlier ones alternate between tmp and y so that a
         * layer never reads the buffer it writes. */
        int from_last = l->n_layers - 1 - layer;
        float *out = (from_last % 2 == 0) ? y : tmp;
        mg_gemm(pool, T, in, H, &l->w_ih[layer], gates, H4, l->bias[layer], 0);
        run_layer(l->w_hh[layer], gates, T, H, s->steps, pool, s->h + (int64_t)layer * H, s->c + (int64_t)layer * H,
                  &s->probe[layer], out);
        in = out;
    }
    for (int64_t i = 0; i < T * H; i++)
        y[i] += x[i];
    s->steps += T;
    free(gates);
    free(tmp);
    return MG_OK;
}

mg_status ec_lstm_forward(const ec_lstm *l, mg_pool *pool, const float *x, int64_t T, float *y) {
    ec_lstm_state s;
    MG_TRY(ec_lstm_state_init(&s, l));
    mg_status st = ec_lstm_continue(l, pool, &s, x, T, y);
    ec_lstm_state_free(&s);
    return st;
}
