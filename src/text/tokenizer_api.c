/* tokenizer_api.c — the public mg_tokenize() (include/musicgen.h): T5 ids of a
 * prompt with the model's tokenizer (src/text/spm.h), ending with </s>. */
#include "model.h"
#include "text/spm.h"

#include <string.h>

MG_API mg_status mg_tokenize(const mg_model *model, const char *text, int32_t **out, int *n_out) {
    if (!out || !n_out)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_tokenize: no output pointers given");
    *out = NULL;
    *n_out = 0;
    if (!model)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_tokenize: no model given");
    if (!text)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_tokenize: no text given (use \"\" for an empty prompt)");
    if (!model->tok)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_tokenize: the model has no tokenizer loaded");
    return mg_tokenizer_encode(model->tok, text, strlen(text), out, n_out);
}

MG_API const char *mg_token_piece(const mg_model *model, int id) {
    if (!model || !model->tok)
        return NULL;
    return mg_tokenizer_piece(model->tok, id);
}
