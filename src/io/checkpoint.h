/* checkpoint.h — open a model from disk: a Hugging Face MusicGen folder
 * (config.json, generation_config.json, model.safetensors or sharded
 * model-0000x-of-0000y.safetensors + model.safetensors.index.json, spiece.model)
 * or a single GGUF file written by `musicgen quantize`. The result is the parsed
 * config, the tensor store (everything mmapped) and the tokenizer model bytes.
 */
#ifndef MG_IO_CHECKPOINT_H
#define MG_IO_CHECKPOINT_H

#include "io/config.h"
#include "io/store.h"

typedef struct mg_checkpoint {
    char *path;               /* folder or .gguf file */
    int is_gguf;
    mg_config cfg;
    mg_store store;
    mg_mapped_file spiece_file; /* HF folder: the mapped spiece.model */
    const uint8_t *spiece;    /* tokenizer model bytes (in spiece_file or the GGUF) */
    size_t spiece_size;
    char *spiece_path;        /* for messages */
    int n_weight_files;
    int extra_ids;            /* T5 <extra_id_N> count if the file says (GGUF), else 0 */
    mg_dtype file_type;       /* GGUF: the format it was made for (general.file_type: the
                               * --type of musicgen quantize); MG_DT_COUNT if unknown */
} mg_checkpoint;

mg_status mg_checkpoint_open(const char *path, mg_checkpoint *ck);

/* A parsed model.safetensors.index.json: the distinct shard files in order of first
 * appearance, and for every tensor the shard that holds it. Shard names must be
 * plain file names ending in .safetensors (no folders, no "..", no control bytes). */
typedef struct mg_shard_index {
    char **shards;
    int n_shards;
    char **tensors;  /* tensor names ... */
    int *shard_of;   /* ... and the index of their shard in shards[] */
    int n_tensors;
} mg_shard_index;

/* Parse index JSON text (also the fuzzing entry point; `where` names the file in
 * messages). On failure *ix is empty. */
mg_status mg_shard_index_parse(const char *text, size_t len, const char *where, mg_shard_index *ix);
void mg_shard_index_free(mg_shard_index *ix);
void mg_checkpoint_close(mg_checkpoint *ck);

/* Implemented in gguf.c: open a GGUF file into ck (config, store, tokenizer). */
mg_status mg_gguf_open(const char *path, mg_checkpoint *ck);

#endif
