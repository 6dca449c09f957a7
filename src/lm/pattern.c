/* pattern.c — the delay pattern (see pattern.h), mirroring build_delay_pattern_mask:
 * shifted prompt placement, lower triangle (start pads) and upper triangle (end pads);
 * none of it for windows shorter than 2D - 1 columns. */
#include "lm/pattern.h"

#include <stdlib.h>
#include <string.h>

int mg_pattern_delay(int k, int stereo) { return stereo ? k / 2 : k; }

int mg_pattern_min_length(int K, int stereo) {
    int D = stereo ? K / 2 : K;
    return 2 * D - 1;
}

mg_status mg_pattern_build(mg_pattern *p, int K, int stereo, int max_length, int pad_id, const int64_t *prompt, int P) {
    memset(p, 0, sizeof *p);
    int flat = max_length < mg_pattern_min_length(K, stereo); /* the reference applies no pattern */
    int D = flat ? 1 : stereo ? K / 2 : K;
    if (P < 0 || P + 1 > max_length)
        return mg_fail(MG_ERR_INVALID_ARG, "audio prompt of %d frames does not fit in %d columns", P, max_length);
    p->K = K;
    p->stereo = stereo;
    p->n_delays = D;
    p->flat = flat;
    p->max_length = max_length;
    p->mask = malloc(sizeof(int32_t) * (size_t)K * (size_t)max_length);
    if (!p->mask)
        return mg_fail(MG_ERR_NOMEM, "out of memory for the delay pattern");
    for (int k = 0; k < K; k++) {
        int dk = mg_pattern_k_delay(p, k);
        int32_t *row = p->mask + (size_t)k * max_length;
        for (int t = 0; t < max_length; t++) {
            int start_pad = t <= dk;                       /* lower triangle incl. the start column */
            int end_pad = t >= max_length - D + 1 + dk;    /* upper triangle */
            if (start_pad || end_pad)
                row[t] = pad_id;
            else if (t - dk - 1 < P)
                row[t] = (int32_t)prompt[(size_t)k * P + (size_t)(t - dk - 1)];
            else
                row[t] = -1;
        }
    }
    /* Generation starts at the first free column of codebook 0 (it has no delay). */
    p->start = max_length;
    for (int t = 0; t < max_length; t++)
        if (p->mask[t] == -1) {
            p->start = t;
            break;
        }
    return MG_OK;
}

void mg_pattern_free(mg_pattern *p) {
    free(p->mask);
    memset(p, 0, sizeof *p);
}

int mg_pattern_k_delay(const mg_pattern *p, int k) { return p->flat ? 0 : mg_pattern_delay(k, p->stereo); }

int mg_pattern_frames(const mg_pattern *p) { return p->max_length - p->n_delays; }

void mg_pattern_undo(const mg_pattern *p, const int32_t *seq, int64_t *codes) {
    int F = mg_pattern_frames(p);
    for (int k = 0; k < p->K; k++) {
        int dk = mg_pattern_k_delay(p, k);
        for (int f = 0; f < F; f++)
            codes[(size_t)k * F + f] = seq[(size_t)k * p->max_length + f + dk + 1];
    }
}
