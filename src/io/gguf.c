/* gguf.c — GGUF model files (written by `musicgen quantize`). Not implemented yet:
 * opening one reports that clearly. */
#include "io/checkpoint.h"

mg_status mg_gguf_open(const char *path, mg_checkpoint *ck) {
    (void)ck;
    return mg_fail(MG_ERR_UNSUPPORTED, "%s: GGUF models are not supported by this build yet; give a Hugging Face checkpoint folder",
                   path);
}
