/* store.h — the named tensors of a checkpoint, whatever file format they came from.
 *
 * A mg_store owns the mapped files (safetensors shards or one GGUF) and a table
 * name -> mg_tensor view into them. Model stages look their weights up here, with
 * the expected shape, and get either a zero-copy view or a converted copy (kept in
 * the store's arena so it lives as long as the model). Every lookup failure names
 * the tensor, the file it should be in, and what was expected.
 * Weight-normed convs saved by newer transformers (X.parametrizations.weight.original0
 * / original1) are known by their older names X.weight_g / X.weight_v.
 */
#ifndef MG_IO_STORE_H
#define MG_IO_STORE_H

#include "base/arena.h"
#include "base/pool.h"
#include "base/file.h"
#include "tensor/tensor.h"

typedef struct mg_store_entry {
    char *name;
    mg_tensor t;
    int file; /* index into files[] */
    int used; /* looked up by a model stage (to report unused tensors) */
} mg_store_entry;

typedef struct mg_store {
    mg_mapped_file *files;
    int n_files;
    mg_store_entry *entries;
    int n_entries, cap_entries;
    int *hash; /* open addressing, -1 = empty, size hash_cap (power of two) */
    int hash_cap;
    mg_arena arena; /* converted / folded copies */
    mg_pool *pool;  /* threads for conversions while loading (NULL: this thread) */
    int64_t converted_bytes;
    int quantize_small; /* conversions to q8_0 / q4_0 include small matrices (mg_matrix_format) */
    int f32_as_f16;     /* a matrix asked for as stored (MG_DT_COUNT) that holds f32 becomes f16 */
} mg_store;

void mg_store_init(mg_store *s);
void mg_store_free(mg_store *s);
/* Takes ownership of the mapping; returns its index. */
int mg_store_add_file(mg_store *s, mg_mapped_file *f);
mg_status mg_store_add(mg_store *s, const char *name, const mg_tensor *t, int file);
mg_store_entry *mg_store_find(const mg_store *s, const char *name);
const char *mg_store_file_of(const mg_store *s, const mg_store_entry *e);

/* Look up `name` and check its shape (ndim values in `shape`; -1 = any). */
mg_status mg_store_get(mg_store *s, const char *name, int ndim, const int64_t *shape, mg_tensor *out);
/* Same, returning f32 data (zero-copy if stored as f32, else converted into the arena). */
mg_status mg_store_get_f32(mg_store *s, const char *name, int ndim, const int64_t *shape, const float **out);
/* A [rows, cols] weight as a matrix of format `want` (zero-copy when stored so;
 * MG_DT_COUNT = keep the stored format; a conversion gives mg_matrix_format's format:
 * block formats fall back to f16 for rows not a multiple of the block size and for
 * small matrices unless s->quantize_small). */
mg_status mg_store_get_matrix(mg_store *s, const char *name, int64_t rows, int64_t cols, mg_dtype want,
                              mg_matrix *out);
/* An embedding table [rows, cols] as stored, and in *round the 16-bit format its rows
 * are to be rounded through when read (mg_round_through; MG_DT_F32: none), so that
 * they have the values `musicgen quantize` stores for `want` (mg_embedding_format;
 * text: T5's table): converting on load then gives the quantized file's results,
 * without a copy of the table. MG_DT_COUNT keeps the stored values (rounds f32 to f16
 * when s->f32_as_f16). */
mg_status mg_store_get_embedding(mg_store *s, const char *name, int64_t rows, int64_t cols, mg_dtype want, int text,
                                 mg_tensor *out, mg_dtype *round);
/* A convolution weight that may be stored as weight_norm (prefix.weight_g / weight_v,
 * dim=0) or plainly (prefix.weight): returns the folded f32 weight of `shape`. */
mg_status mg_store_get_weight_norm(mg_store *s, const char *prefix, int ndim, const int64_t *shape,
                                   const float **out);
/* Same weight folded into the caller's dst (as many floats as `shape` holds): nothing
 * is kept in the store, so a loader that repacks the weight can free dst afterwards.
 * dst NULL: only look the tensors up and check their shapes (no values are read). */
mg_status mg_store_fold_weight_norm(mg_store *s, const char *prefix, int ndim, const int64_t *shape, float *dst);
/* Drop the pages of [ptr, ptr + len) from this process's memory if they lie in one of
 * the store's read-only mappings (they are read back from the file when touched
 * again); converted copies are left alone. */
void mg_store_release(const mg_store *s, const void *ptr, size_t len);
/* 1 if [ptr, ptr + len) lies in one of the store's mapped files (0: a converted copy). */
int mg_store_is_mapped(const mg_store *s, const void *ptr, size_t len);
/* Huge-page mapping for [ptr, ptr + len) if it lies in one of the store's mapped files
 * (mg_file_map_huge); converted copies are left alone. */
void mg_store_map_huge(const mg_store *s, const void *ptr, size_t len);
/* Copy [ptr, ptr + len) into dst; from a mapped file by reading the file (base/file.h). */
void mg_store_copy_out(const mg_store *s, const void *ptr, size_t len, void *dst);

/* 1 if any tensor with this name exists. */
int mg_store_has(const mg_store *s, const char *name);

#endif
