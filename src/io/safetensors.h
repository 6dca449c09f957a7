/* safetensors.h — read .safetensors files (mmapped) into a mg_store.
 *
 * Format: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the tensor bytes (offsets relative to the end of the header). Every offset,
 * size and shape is checked against the file before any tensor is used.
 */
#ifndef MG_IO_SAFETENSORS_H
#define MG_IO_SAFETENSORS_H

#include "io/store.h"

/* Map `path` and add its tensors to `s` (the store owns the mapping). */
mg_status mg_safetensors_load(mg_store *s, const char *path);

/* Parse a whole safetensors file held in memory (also the fuzzing entry point):
 * validates the header against the file and adds views into `file`. */
mg_status mg_safetensors_parse(mg_store *s, const char *path, const uint8_t *file, size_t file_size, int file_index);

/* The header's dtype tag of t ("F32", "F16", "BF16", "I64", "I32"), or NULL. */
const char *mg_safetensors_dtype_name(mg_dtype t);

/* Write tensors to a .safetensors file (used by the random-checkpoint tool and tests).
 * names[i], tensors[i] (f32/f16/bf16/i64 data). Atomic: temp file + rename. */
mg_status mg_safetensors_write(const char *path, int n, const char *const *names, const mg_tensor *tensors,
                               const char *metadata_json, int overwrite);

#endif
