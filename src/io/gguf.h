/* gguf.h — GGUF model files: the ggml container (version 3), read and written.
 *
 * Layout (all little-endian), as ggml defines it:
 *   "GGUF" | u32 version = 3 | u64 tensor count | u64 key-value count
 *   key-value pairs: string key, u32 value type, value (strings are u64 length +
 *     bytes without NUL; arrays are u32 element type + u64 count + elements)
 *   tensor infos: string name, u32 n_dims, i64 ne[n_dims] (ggml order: ne[0] is the
 *     innermost = last PyTorch dimension), u32 ggml type, u64 offset into the data
 *     section (a multiple of general.alignment, 32 by default)
 *   zero padding to the alignment, then the data section.
 *
 * The reader checks every count, length, offset, alignment, dimension and type id
 * against the file before anything is used (it is fuzzed: fuzz/fuzz_gguf.c). The
 * writer streams tensor data, so models larger than RAM can be converted.
 * MusicGen keys (see docs/gguf.md): general.architecture = "musicgen",
 * musicgen.config_json, musicgen.generation_config_json, tokenizer.spm.model (u8
 * array: the spiece.model bytes), tokenizer.extra_ids; tensors under their Hugging
 * Face names (names longer than ggml's 63-byte limit are abbreviated, see
 * mg_gguf_name_from_hf; the reader restores the HF names).
 */
#ifndef MG_IO_GGUF_H
#define MG_IO_GGUF_H

#include "io/checkpoint.h"

#include <stddef.h>
#include <stdint.h>

#define MG_GGUF_VERSION 3
#define MG_GGUF_DEFAULT_ALIGNMENT 32
#define MG_GGUF_MAX_NAME 63 /* ggml's GGML_MAX_NAME (64) counts the NUL */

/* Value types of the key-value section. */
typedef enum mg_gguf_type {
    MG_GGUF_U8 = 0,
    MG_GGUF_I8 = 1,
    MG_GGUF_U16 = 2,
    MG_GGUF_I16 = 3,
    MG_GGUF_U32 = 4,
    MG_GGUF_I32 = 5,
    MG_GGUF_F32 = 6,
    MG_GGUF_BOOL = 7,
    MG_GGUF_STRING = 8,
    MG_GGUF_ARRAY = 9,
    MG_GGUF_U64 = 10,
    MG_GGUF_I64 = 11,
    MG_GGUF_F64 = 12,
    MG_GGUF_TYPE_COUNT
} mg_gguf_type;

/* ggml tensor type ids this project reads and writes. */
enum {
    MG_GGML_TYPE_F32 = 0,
    MG_GGML_TYPE_F16 = 1,
    MG_GGML_TYPE_Q4_0 = 2,
    MG_GGML_TYPE_Q8_0 = 8,
    MG_GGML_TYPE_BF16 = 30,
    /* musicgen.c's own: q8_0 / q4_0 in 16-row groups (tensor.h). Far above ggml's ids,
     * so no ggml reader mistakes them for a format it knows. */
    MG_GGML_TYPE_Q8_0X16 = 0x4D470010,
    MG_GGML_TYPE_Q4_0X16 = 0x4D470011
};

/* ---- reading ------------------------------------------------------------------ */

typedef struct mg_gguf_kv {
    char *key;               /* NUL-terminated copy */
    mg_gguf_type type;
    mg_gguf_type arr_type;   /* element type when type == MG_GGUF_ARRAY */
    uint64_t n;              /* array element count, or string byte length */
    const uint8_t *data;     /* string bytes / array elements, inside the file */
    union {
        uint64_t u;          /* unsigned ints and bool */
        int64_t i;           /* signed ints */
        double f;            /* f32 / f64 */
    } num;
} mg_gguf_kv;

typedef struct mg_gguf_tensor_info {
    char *name;              /* as stored (possibly abbreviated) */
    uint32_t n_dims;
    int64_t ne[4];           /* ggml order */
    uint32_t ggml_type;
    uint64_t offset;         /* relative to the data section */
    uint64_t nbytes;
} mg_gguf_tensor_info;

typedef struct mg_gguf {
    uint32_t version;
    uint32_t alignment;
    mg_gguf_kv *kv;
    int64_t n_kv;
    mg_gguf_tensor_info *tensors;
    int64_t n_tensors;
    uint64_t data_offset;    /* file offset of the data section */
    const uint8_t *file;
    size_t file_size;
} mg_gguf;

/* Parse and validate a whole GGUF file held in memory (`where` names it in
 * messages). The result points into `file`, which must outlive it. */
mg_status mg_gguf_read(mg_gguf *g, const char *where, const uint8_t *file, size_t size);
void mg_gguf_free(mg_gguf *g);
const mg_gguf_kv *mg_gguf_find(const mg_gguf *g, const char *key);
/* String value of `key` (not NUL-terminated; *len bytes), or NULL if absent or not a string. */
const char *mg_gguf_get_str(const mg_gguf *g, const char *key, size_t *len);
/* Pointer to the tensor's bytes in the file. */
const uint8_t *mg_gguf_tensor_data(const mg_gguf *g, const mg_gguf_tensor_info *t);
/* general.file_type, llama.cpp's "mostly <type>" ids: the id of a format (q8_0x16 /
 * q4_0x16 count as q8_0 / q4_0; other formats: 0, f32), and the format of an id
 * (MG_DT_COUNT for ids musicgen.c does not write). */
uint32_t mg_gguf_file_type_id(mg_dtype t);
mg_dtype mg_gguf_file_type_dtype(uint32_t id);

/* Fill `ck` from a MusicGen GGUF held in memory: config (musicgen.config_json,
 * musicgen.generation_config_json), zero-copy tensor views in ck->store (HF names,
 * PyTorch-order shapes), ck->spiece pointing into `file`. `file` must outlive ck
 * (mg_gguf_open registers the mapping with the store). Also the fuzzing entry
 * point: ck must be zeroed with ck->store initialized (mg_store_init). */
mg_status mg_gguf_parse_checkpoint(mg_checkpoint *ck, const char *path, const uint8_t *file, size_t size,
                                   int file_index);

/* ggml type id <-> mg_dtype (F32, F16, BF16, Q8_0, Q4_0). Return 0 if there is none. */
int mg_gguf_dtype_from_ggml(uint32_t ggml_type, mg_dtype *out);
int mg_gguf_ggml_from_dtype(mg_dtype t, uint32_t *out);

/* Tensor names: ggml limits names to 63 bytes. The one HF name that is longer in
 * every MusicGen checkpoint (text_encoder.encoder.block.0.layer.0.SelfAttention.
 * relative_attention_bias.weight -> ...SelfAttn.rel_bias.weight) and the ones that
 * would grow past it with >= 1000 layers get fixed abbreviations of whole name
 * components (only names longer than 63 bytes are abbreviated). Both return 0 if
 * the result does not fit `n` bytes (from_hf: or is still longer than
 * MG_GGUF_MAX_NAME, or already contains a short form). */
int mg_gguf_name_from_hf(const char *hf, char *out, size_t n);
int mg_gguf_name_to_hf(const char *stored, char *out, size_t n);

/* ---- writing ------------------------------------------------------------------ */

typedef struct mg_gguf_writer mg_gguf_writer;

/* Collect metadata and tensor declarations first, then mg_gguf_writer_begin writes
 * the header to a temporary file next to `path`; tensor bytes follow with
 * mg_gguf_writer_write (in declaration order, any chunking); mg_gguf_writer_finish
 * checks every tensor is complete and renames the file into place. */
mg_gguf_writer *mg_gguf_writer_new(void);
/* Frees the writer; an unfinished output file is removed. */
void mg_gguf_writer_free(mg_gguf_writer *w);
mg_status mg_gguf_writer_set_str(mg_gguf_writer *w, const char *key, const char *value, size_t len);
mg_status mg_gguf_writer_set_u32(mg_gguf_writer *w, const char *key, uint32_t value);
mg_status mg_gguf_writer_set_bytes(mg_gguf_writer *w, const char *key, const uint8_t *data, size_t n);
/* Declare a tensor under its HF name with a PyTorch-order shape. */
mg_status mg_gguf_writer_add_tensor(mg_gguf_writer *w, const char *name, mg_dtype dtype, int ndim,
                                    const int64_t *shape);
mg_status mg_gguf_writer_begin(mg_gguf_writer *w, const char *path, int overwrite);
mg_status mg_gguf_writer_write(mg_gguf_writer *w, const void *data, size_t n);
/* *file_bytes (if not NULL) = size of the written file. The writer still needs
 * mg_gguf_writer_free. */
mg_status mg_gguf_writer_finish(mg_gguf_writer *w, int64_t *file_bytes);

/* ---- converting a checkpoint (musicgen quantize) ------------------------------- */

/* Format a tensor stored as `stored` gets when a model is converted to `want` (f32,
 * f16, bf16, q8_0, q4_0): the decoder's attention / feed-forward / lm_head matrices
 * get mg_matrix_format(want, ...) (a block format, in 16-row groups where the rows
 * allow; f32 for matrices under MG_SMALL_MATRIX_VALUES values unless quantize_small,
 * f16 where rows are not a multiple of 32 long); the T5 matrices and enc_to_dec_proj
 * get mg_text_matrix_format(want, ...) (f32 for f32 and for small ones in block
 * formats, else f16); the embedding tables (T5 shared, decoder embed_tokens) get f32
 * for f32, bf16 for bf16, f16 for f16 and, in block formats, their stored float
 * format (f32 for an integer or block one) if they are T5's or small (as matrices),
 * else f16; everything else (norms, biases, the position table, T5 relative bias,
 * all of EnCodec) stays f32. */
mg_dtype mg_gguf_pick_type(const char *name, int ndim, const int64_t *shape, mg_dtype stored, mg_dtype want,
                           int quantize_small);
/* 1 for the decoder's and T5's weight matrices (the tensors mg_matrix_format /
 * mg_text_matrix_format decide), 0 for embeddings, norms, biases and the codec. */
int mg_gguf_is_weight_matrix(const char *name);

/* Non-zero cancels the conversion (MG_ERR_CANCELLED; the temporary file is removed). */
typedef int (*mg_gguf_progress_fn)(void *user, int64_t done_bytes, int64_t total_bytes, const char *tensor);

typedef struct mg_gguf_convert_params {
    mg_dtype type;                /* wanted format of the big matrices */
    int overwrite;                /* replace an existing output */
    mg_gguf_progress_fn progress; /* called after each tensor (may be NULL) */
    void *user;
    int n_threads;                /* threads converting (0: one per core; at most the CPUs this process may use) */
    int quantize_small;           /* 1: small matrices get `type` too (quantize --pure) */
} mg_gguf_convert_params;

/* Write every tensor of `ck` (a HF folder or a GGUF) into one GGUF at `path`,
 * EnCodec weight norms folded into plain .weight tensors. Atomic; never replaces
 * an existing file unless p->overwrite. *out_bytes (if not NULL) = file size. */
mg_status mg_gguf_write_checkpoint(mg_checkpoint *ck, const char *path, const mg_gguf_convert_params *p,
                                   int64_t *out_bytes);

#endif
