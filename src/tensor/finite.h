/* finite.h — a fast check for NaN and infinity in f32 data (weights at load, the
 * activations of quantized products, logits), kept apart from ops.c so the file
 * parsers (and their fuzz build) can use it without the SIMD ops. */
#ifndef MG_TENSOR_FINITE_H
#define MG_TENSOR_FINITE_H

#include <stdint.h>

/* Does x hold a NaN or an infinity? */
int mg_any_nonfinite(const float *x, int64_t n);

#endif
