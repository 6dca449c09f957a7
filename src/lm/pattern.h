/* pattern.h — MusicGen's delay pattern (build_delay_pattern_mask /
 * apply_delay_pattern_mask in transformers' modeling_musicgen.py).
 *
 * Codebook k is delayed by delay(k) columns (k for mono, k/2 for stereo, whose rows
 * interleave left/right per RVQ level). Column 0 is the start token; a codebook's
 * columns before its first frame, and the last D-1-delay(k) columns, are forced to
 * the pad id V (the same id as start). With an audio prompt of P frames, prompt frame
 * f of codebook k sits at column f + delay(k) + 1 and generation starts at column P+1
 * (codebooks k > 0 keep their prompt values in the staircase). Undoing the pattern
 * removes the pads: codes[k][f] = seq[k][f + delay(k) + 1].
 *
 * Windows shorter than 2D - 1 columns get no pattern at all, as in the reference
 * (build_delay_pattern_mask returns the ids unchanged): every codebook is generated
 * from column 1 on, with no delays and no end pads ("flat"; codes = columns 1..end).
 */
#ifndef MG_LM_PATTERN_H
#define MG_LM_PATTERN_H

#include "base/status.h"

#include <stdint.h>

typedef struct mg_pattern {
    int K;          /* codebooks */
    int stereo;
    int n_delays;   /* D: K mono, K/2 stereo (1 when flat) */
    int flat;       /* max_length < 2D - 1: no delays, no pads after column 0 */
    int max_length; /* columns incl. the start column */
    int start;      /* first column to generate (P + 1) */
    int32_t *mask;  /* [K][max_length]: -1 = generated, else the forced id */
} mg_pattern;

int mg_pattern_delay(int k, int stereo);
/* The delay of codebook k in this pattern (0 when flat). */
int mg_pattern_k_delay(const mg_pattern *p, int k);
/* Minimum max_length for which the reference applies the pattern (2D - 1); shorter
 * windows are flat. */
int mg_pattern_min_length(int K, int stereo);

/* prompt: [K][P] codes of an audio prompt (NULL if P == 0). */
mg_status mg_pattern_build(mg_pattern *p, int K, int stereo, int max_length, int pad_id, const int64_t *prompt, int P);
void mg_pattern_free(mg_pattern *p);

/* Frames after undoing the pattern: max_length - D (max_length - 1 when flat). */
int mg_pattern_frames(const mg_pattern *p);
/* seq: [K][max_length] (pattern applied) -> codes [K][frames]. */
void mg_pattern_undo(const mg_pattern *p, const int32_t *seq, int64_t *codes);

#endif
