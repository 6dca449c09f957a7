/* model.h — what a loaded mg_model and a mg_context are made of (internal).
 * The public header only sees opaque handles; the pipeline (musicgen.c) and the
 * per-stage API files reach the pieces through these structs. Each stage is a
 * pointer to its own struct, defined in its module's header:
 *   tokenizer  text/spm.h      T5 + projection  text/t5.h
 *   decoder    lm/decoder.h    EnCodec          codec/encodec.h
 */
#ifndef MG_MODEL_H
#define MG_MODEL_H

#include "musicgen.h"
#include "base/pool.h"
#include "io/checkpoint.h"

#include <stdatomic.h>

struct mg_tokenizer;
struct mg_t5;
struct mg_decoder;
struct mg_encodec;

struct mg_model {
    mg_checkpoint ck;
    mg_weight_type weight_type;
    mg_model_info info;
    char weight_type_name[96];
    struct mg_tokenizer *tok;
    struct mg_t5 *t5;
    struct mg_decoder *dec;
    struct mg_encodec *codec;
};

struct mg_context {
    mg_model *model;
    mg_context_params params;
    mg_pool *pool;
    atomic_int cancel; /* mg_cancel: set from anywhere, cleared when a public call starts */
};

#endif
