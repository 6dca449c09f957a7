/* seanet.h — the layers of EnCodec's SEANet encoder/decoder (internal to src/codec):
 * padded Conv1d, trimmed ConvTranspose1d, resnet block, LSTM block, ELU, and a
 * runner that evaluates a stack of local layers in chunks of output time.
 *
 * Signals are time-major: a [T][C] row-major array, one row per sample/frame, so a
 * convolution reads its im2col rows in place (see tensor/gemm.h). Layers compute any
 * window [o0, o1) of their output from a window of their input (a "view"); the reflect
 * padding at the true ends of the signal is applied exactly as the reference does, so a
 * chunked evaluation is bit-identical to a whole-signal one.
 */
#ifndef MG_CODEC_SEANET_H
#define MG_CODEC_SEANET_H

#include "base/pool.h"
#include "base/status.h"
#include "io/store.h"
#include "tensor/gemm.h"

#include <stdint.h>

/* Rows [t0, t1) of a signal of `len` rows and `ch` channels. */
typedef struct ec_view {
    const float *data; /* row t is data + (t - t0) * ch */
    int64_t t0, t1, len;
    int ch;
} ec_view;

/* EncodecConv1d: pad (left, right + extra) as pad_mode says, conv. Non-causal convs
 * split pad_total = k_eff - stride (left = the larger half), causal ones pad it all on
 * the left; `extra` makes the last window complete. */
typedef struct ec_conv {
    int cin, cout, k, stride, dilation;
    int k_eff, pad_total, pad_left, pad_right;
    int pad_mode;      /* MG_PAD_* (io/config.h) */
    int elu_in;        /* an ELU precedes this conv in the layer list: apply it to the input */
    mg_gemm_b w;       /* B[(i * cin + ci)][co] = W[co][ci][i] */
    const float *bias; /* [cout] */
} ec_conv;

/* EncodecConvTranspose1d: conv-transpose (kernel k, stride r), trim (left, right) so the
 * output has exactly L * r rows: pad_total = k - r, right = pad_total / 2 (non-causal)
 * or ceil(pad_total * trim_right_ratio) (causal), left = the rest. Computed as a conv
 * over blocks of r output rows:
 * block q = sum over taps m of x[q - m] * W[:, :, p + m r]. */
typedef struct ec_convt {
    int cin, cout, k, stride, taps;
    int trim_left, trim_right;
    int elu_in;
    mg_gemm_b w;         /* B[(w * cin + ci)][(p * cout + co)] = W[ci][co][p + (taps-1-w) r] */
    float *bias_rep;     /* bias repeated `stride` times: [stride * cout] */
} ec_convt;

/* EncodecResnetBlock: y = shortcut(x) + conv_b(ELU(conv_a(ELU(x)))). */
typedef struct ec_resblock {
    ec_conv a, b;
    int has_shortcut; /* use_conv_shortcut: a 1x1 conv instead of the identity */
    ec_conv shortcut;
} ec_resblock;

typedef enum ec_kind { EC_CONV, EC_CONVT, EC_RES } ec_kind;

typedef struct ec_layer {
    ec_kind kind;
    ec_conv conv;
    ec_convt convt;
    ec_resblock res;
} ec_layer;

/* EncodecLSTM: y = LSTM(x) + x, num_layers stacked, zero initial state. */
typedef struct ec_lstm {
    int dim, n_layers;
    int64_t f32_copy_bytes; /* checked (EC_CHECK_ONLY): what loading adds as f32 copies of
                             * weights stored in another format (f16 / bf16 checkpoints) */
    mg_gemm_b *w_ih;        /* per layer, packed W_ih^T: [dim][4 dim] */
    float **bias;           /* per layer b_ih + b_hh [4 dim] */
    const float **w_hh;     /* per layer [4 dim][dim] (mapped) */
} ec_lstm;

/* ---- loading -------------------------------------------------------------------------- */

typedef struct ec_conv_spec {
    int cin, cout, k, stride, dilation, pad_mode, elu_in, causal;
} ec_conv_spec;

/* Where a transposed conv's trim goes: causal (all but ceil((k - r) * trim_right_ratio)
 * on the left) or not (the larger half on the left). */
typedef struct ec_trim_spec {
    int causal;
    double trim_right_ratio;
} ec_trim_spec;

/* EC_CHECK_ONLY: the layer's geometry is set and its tensors looked up with their
 * shapes checked, but no weight is read, folded or packed (nothing to free; a layer
 * loaded so can size its outputs, not run). */
typedef enum { EC_LOAD_WEIGHTS, EC_CHECK_ONLY } ec_load_mode;

mg_status ec_conv_load(ec_conv *c, mg_store *s, const char *prefix, const ec_conv_spec *spec, ec_load_mode mode);
mg_status ec_convt_load(ec_convt *c, mg_store *s, const char *prefix, int cin, int cout, int k, int stride,
                        int elu_in, const ec_trim_spec *trim);
void ec_layer_free(ec_layer *l);
mg_status ec_lstm_load(ec_lstm *l, mg_store *s, const char *prefix, int dim, int n_layers, ec_load_mode mode);
void ec_lstm_free(ec_lstm *l);
int64_t ec_layer_packed_bytes(const ec_layer *l);

/* ---- evaluation ------------------------------------------------------------------------- */

int64_t ec_layer_out_len(const ec_layer *l, int64_t len_in);
int ec_layer_out_ch(const ec_layer *l);
int ec_layer_in_ch(const ec_layer *l);

/* A stack of local layers evaluated chunk by chunk. */
typedef struct ec_stack {
    const ec_layer *layers;
    int n;
} ec_stack;

/* Called with each finished chunk of the stack's output: rows [t0, t1) (ch channels). */
typedef mg_status (*ec_sink_fn)(void *user, const float *rows, int64_t t0, int64_t t1, int ch);
/* Optional tap on the output of layer `tap_layer` (rows of the chunk, may overlap
 * rows given before; same values). */
typedef struct ec_tap {
    int layer;
    ec_sink_fn fn;
    void *user;
} ec_tap;

/* Run the stack on `in` (the whole input signal, len rows) producing `out_len` rows in
 * chunks of about `chunk_rows` output rows; each chunk goes to `sink`. */
mg_status ec_stack_run(const ec_stack *st, mg_pool *pool, const ec_view *in, int64_t chunk_rows, ec_sink_fn sink,
                       void *user, const ec_tap *tap);
/* Same, for output rows [o0, o1) only: `in` need only hold the rows ec_stack_needed
 * names (a signal of in->len rows of which rows [in->t0, in->t1) are given). */
mg_status ec_stack_run_range(const ec_stack *st, mg_pool *pool, const ec_view *in, int64_t o0, int64_t o1,
                             int64_t chunk_rows, ec_sink_fn sink, void *user, const ec_tap *tap);
/* Output rows of the stack for an input of len_in rows (0: too short). */
int64_t ec_stack_out_len(const ec_stack *st, int64_t len_in);
/* Input rows [*i0, *i1) the stack reads, from an input of len_in rows, to produce its
 * output rows [o0, o1) (both 0 for an empty range or a too short input). */
void ec_stack_needed(const ec_stack *st, int64_t len_in, int64_t o0, int64_t o1, int64_t *i0, int64_t *i1);

/* y = LSTM(x) + x over the whole sequence x [T][dim]; y may not alias x. */
mg_status ec_lstm_forward(const ec_lstm *l, mg_pool *pool, const float *x, int64_t T, float *y);

/* The recurrent state between pieces of one sequence (the streaming decoder): running
 * ec_lstm_continue on x[0..a) and then on x[a..T) gives bit for bit what
 * ec_lstm_forward gives on x[0..T). */
typedef struct ec_lstm_state {
    int n_layers, dim;
    float *h;      /* [n_layers][dim] last output of each layer */
    float *c;      /* [n_layers][dim] cell state of each layer */
    struct ec_lstm_probe *probe; /* [n_layers] the step-timing probe (lstm.c) */
    int64_t steps; /* time steps run so far */
} ec_lstm_state;

mg_status ec_lstm_state_init(ec_lstm_state *s, const ec_lstm *l);
void ec_lstm_state_free(ec_lstm_state *s);
/* y = LSTM(x) + x for the next T steps of the sequence, from and into state s. */
mg_status ec_lstm_continue(const ec_lstm *l, mg_pool *pool, ec_lstm_state *s, const float *x, int64_t T, float *y);

/* ELU (alpha 1): dst[i] = src[i] > 0 ? src[i] : expm1(src[i]). dst may equal src. */
void ec_elu(float *dst, const float *src, int64_t n);
/* ISA versions behind ec_elu (elu_avx2.c / elu_avx512.c). */
void ec_elu_avx2(float *dst, const float *src, int64_t n);
void ec_elu_avx512(float *dst, const float *src, int64_t n);

#endif
