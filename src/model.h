/* model.h — what a loaded mg_model and a mg_context are made of (internal).
 * The public header only sees opaque handles; the pipeline (musicgen.c) and the
 * stages reach the pieces through these structs. */
#ifndef MG_MODEL_H
#define MG_MODEL_H

#include "musicgen.h"
#include "io/checkpoint.h"

struct mg_model {
    mg_checkpoint ck;
    mg_weight_type weight_type;
    mg_model_info info;
    char weight_type_name[16];
};

struct mg_context {
    mg_model *model;
    mg_context_params params;
};

#endif
