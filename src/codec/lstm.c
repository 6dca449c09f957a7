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
 * does not depend on the choice.
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

mg_status ec_lstm_load(ec_lstm *l, mg_store *s, const char *prefix, int dim, int n_layers) {
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

mg_status ec_lstm_forward(const ec_lstm *l, mg_pool *pool, const float *x, int64_t T, float *y) {
    const int H = l->dim;
    const int64_t H4 = 4 * (int64_t)H;
    float *gates = malloc((size_t)(T * H4) * sizeof(float));
    float *tmp = l->n_layers > 1 ? malloc((size_t)(T * H) * sizeof(float)) : NULL;
    float *c = malloc((size_t)H * sizeof(float));
    if (!gates || !c || (l->n_layers > 1 && !tmp)) {
        free(gates);
        free(tmp);
        free(c);
        return mg_fail(MG_ERR_NOMEM, "out of memory for the EnCodec LSTM (%lld frames)", (long long)T);
    }
    const float *in = x;
    int n_tasks = (H + LSTM_UNITS_PER_TASK - 1) / LSTM_UNITS_PER_TASK;
    for (int layer = 0; layer < l->n_layers; layer++) {
        /* The last layer writes y; earlier ones alternate between tmp and y so that a
         * layer never reads the buffer it writes. */
        int from_last = l->n_layers - 1 - layer;
        float *out = (from_last % 2 == 0) ? y : tmp;
        mg_gemm(pool, T, in, H, &l->w_ih[layer], gates, H4, l->bias[layer], 0);
        memset(c, 0, (size_t)H * sizeof(float));
        int threaded = mg_pool_threads(pool) > 1;
        double t_pool = 0, t_alone = 0;
        for (int64_t t = 0; t < T; t++) {
            step_job j = {l->w_hh[layer], gates + t * H4, t > 0 ? out + (t - 1) * H : NULL, c, out + t * H, H};
            int64_t phase = t % LSTM_PROBE_PERIOD;
            if (mg_pool_threads(pool) < 2 || phase >= 2 * LSTM_PROBE_STEPS) {
                mg_pool_run(threaded ? pool : NULL, step_task, &j, n_tasks);
                continue;
            }
            int on_pool = phase < LSTM_PROBE_STEPS;
            double a = mg_time_now();
            mg_pool_run(on_pool ? pool : NULL, step_task, &j, n_tasks);
            *(on_pool ? &t_pool : &t_alone) += mg_time_now() - a;
            if (phase == 2 * LSTM_PROBE_STEPS - 1) {
                threaded = t_pool < t_alone;
                t_pool = t_alone = 0;
            }
        }
        in = out;
    }
    for (int64_t i = 0; i < T * H; i++)
        y[i] += x[i];
    free(gates);
    free(tmp);
    free(c);
    return MG_OK;
}
