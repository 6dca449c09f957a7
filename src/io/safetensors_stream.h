/* safetensors_stream.h — write a .safetensors file whose tensors are produced one
 * after another (the full-size random checkpoint maker writes gigabytes this way
 * without holding them in memory).
 *
 * The file is byte-for-byte what Hugging Face's save_pretrained writes for the
 * same tensors: u64 header length, compact JSON header {"__metadata__": {...},
 * "name": {"dtype", "shape", "data_offsets"}, ...} with tensors sorted by name,
 * padded with spaces to a multiple of 8, then the tensor bytes in header order.
 * Tensors must be declared in strictly increasing name order (strcmp), and their
 * bytes written in that order. Atomic: temporary file + rename.
 */
#ifndef MG_IO_SAFETENSORS_STREAM_H
#define MG_IO_SAFETENSORS_STREAM_H

#include "base/status.h"
#include "tensor/tensor.h"

#include <stddef.h>
#include <stdint.h>

typedef struct mg_st_writer mg_st_writer;

mg_st_writer *mg_st_writer_new(void);
/* Frees the writer; an unfinished output file is removed. */
void mg_st_writer_free(mg_st_writer *w);
/* A "__metadata__" string entry (save_pretrained writes "format": "pt"). */
mg_status mg_st_writer_set_metadata(mg_st_writer *w, const char *key, const char *value);
/* Declare the next tensor (f32, f16, bf16, i64 or i32; PyTorch-order shape). */
mg_status mg_st_writer_add(mg_st_writer *w, const char *name, mg_dtype dtype, int ndim, const int64_t *shape);
/* Bytes of all declared tensors (the "total_size" of a shard index). */
uint64_t mg_st_writer_data_bytes(const mg_st_writer *w);
/* Write the header to a temporary file next to `path`. */
mg_status mg_st_writer_begin(mg_st_writer *w, const char *path, int overwrite);
/* Tensor bytes, in declaration order, in any chunking. */
mg_status mg_st_writer_write(mg_st_writer *w, const void *data, size_t n);
/* Check every tensor is complete and rename the file into place. */
mg_status mg_st_writer_finish(mg_st_writer *w);

#endif
