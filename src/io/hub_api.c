/* hub_api.c — the public face of downloads (musicgen.h: mg_download and its params and
 * result): a repo id, or "ORG/NAME@REVISION" as mg_model_load takes it, handed to
 * mg_hub_download (hub_download.c), which does the work and frees its results
 * (mg_download_result_free). */
#include "io/hub.h"
#include "base/status.h"

#include <stdlib.h>
#include <string.h>

MG_API mg_download_params mg_download_default_params(void) {
    mg_download_params p;
    memset(&p, 0, sizeof p);
    return p;
}

MG_API mg_status mg_download(const char *repo_id, const mg_download_params *params, mg_download_result *out) {
    if (!out)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_download: NULL result pointer");
    memset(out, 0, sizeof *out);
    if (!repo_id || !repo_id[0])
        return mg_fail(MG_ERR_INVALID_ARG, "give the repo id to download, e.g. facebook/musicgen-small");
    mg_download_params p = params ? *params : mg_download_default_params();
    const char *at = strchr(repo_id, '@');
    if (!at)
        return mg_hub_download(repo_id, &p, out);
    /* ORG/NAME@REVISION is ORG/NAME at that revision, which wins over params->revision
     * (as in mg_model_load). */
    size_t n = (size_t)(at - repo_id);
    if (!n)
        return mg_fail(MG_ERR_INVALID_ARG, "\"%s\" is not a Hugging Face repo id: expected ORG/NAME such as "
                       "facebook/musicgen-small", repo_id);
    if (!at[1])
        return mg_fail(MG_ERR_INVALID_ARG, "%s: no revision after '@' (a branch, tag or commit hash)", repo_id);
    char *repo = mg_hub_split_revision(repo_id, &p.revision);
    if (!repo)
        return MG_ERR_NOMEM;
    mg_status st = mg_hub_download(repo, &p, out);
    free(repo);
    return st;
}
