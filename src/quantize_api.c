/* quantize_api.c — mg_quantize (musicgen.h): a model (folder, GGUF or repo id) into one
 * GGUF file. Resolves a repo id through the hub cache (downloading it if needed),
 * refuses what mg_model_validate refuses before converting anything, then hands the
 * checkpoint to the GGUF writer (io/gguf_write.c, which decides each tensor's format
 * and writes atomically) and reports what stayed in a float format. */
#include "musicgen.h"
#include "base/file.h"
#include "base/log.h"
#include "base/status.h"
#include "io/checkpoint.h"
#include "io/gguf.h"
#include "io/hub.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

_Static_assert(MG_QUANT_BLOCK == MG_QK && MG_QUANT_SMALL_MATRIX == MG_SMALL_MATRIX_VALUES,
               "musicgen.h's quantization constants follow tensor.h's");

MG_API mg_quantize_params mg_quantize_default_params(void) {
    mg_quantize_params p;
    memset(&p, 0, sizeof p);
    p.type = MG_WEIGHT_Q8_0;
    return p;
}

static void warn_finding(mg_finding kind, const char *msg, void *user) {
    (void)user;
    if (kind == MG_FINDING_WARNING)
        mg_log_warn("%s", msg);
}

/* What mg_model_validate refuses (a missing tensor, a wrong shape, a config the
 * weights do not fit, NaN weights, a broken tokenizer) is refused here too: the model
 * is loaded (mapped, not converted) and every value read; pages are handed back as
 * they are scanned. */
static mg_status check_usable(const char *path, int n_threads) {
    mg_model_params mp = mg_model_default_params();
    mp.n_threads = n_threads;
    mp.offline = 1; /* already resolved */
    mg_model *m;
    MG_TRY(mg_model_load(path, &mp, &m));
    mg_validate_report rep;
    mg_status st = mg_model_validate(m, warn_finding, NULL, &rep);
    mg_model_free(m);
    return st;
}

/* Decoder matrices a block format leaves in a float format: small ones stay f32 (the
 * small-matrix rule, unless pure), ones whose rows are not a multiple of the block
 * size become f16. */
static void count_kept(const mg_checkpoint *ck, mg_dtype type, int pure, mg_quantize_result *r) {
    for (int i = 0; i < ck->store.n_entries; i++) {
        const mg_store_entry *e = &ck->store.entries[i];
        r->in_bytes += (int64_t)e->t.nbytes;
        if (!mg_dtype_is_block(type) || strncmp(e->name, "decoder.", 8) || e->t.ndim != 2 ||
            !mg_gguf_is_weight_matrix(e->name))
            continue;
        mg_dtype got = mg_gguf_pick_type(e->name, 2, e->t.shape, e->t.dtype, type, pure);
        if (got == MG_DT_F32)
            r->n_kept_f32++;
        else if (!mg_dtype_is_block(got))
            r->n_kept_f16++;
    }
}

/* The files of a checkpoint folder the loader reads: configs, tokenizer, weights. */
static int is_model_file(const char *name) {
    static const char *const own[] = {"config.json", "generation_config.json", "tokenizer_config.json",
                                      "spiece.model"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (!strcmp(name, own[i]))
            return 1;
    size_t n = strlen(name);
    return (n > 12 && !strcmp(name + n - 12, ".safetensors")) ||
           (n > 23 && !strcmp(name + n - 23, ".safetensors.index.json"));
}

/* An output that is one of the model folder's own files (its weights, configs or
 * tokenizer, under any name that leads there: a link, a relative path) would replace
 * what is being converted: refused even when overwriting is allowed. Other files of
 * the folder (an earlier GGUF) may be replaced, and a GGUF model may be converted over
 * itself (the output is written elsewhere and renamed; the old file stays mapped). */
static mg_status check_not_a_model_file(const char *folder, const char *out_path) {
    struct stat so, sf;
    if (stat(out_path, &so) != 0 || !mg_path_is_dir(folder))
        return MG_OK;
    DIR *dir = opendir(folder);
    if (!dir)
        return MG_OK;
    mg_status st = MG_OK;
    for (struct dirent *e; st == MG_OK && (e = readdir(dir));) {
        if (!is_model_file(e->d_name))
            continue;
        char *f = mg_path_join(folder, e->d_name);
        if (f && stat(f, &sf) == 0 && S_ISREG(sf.st_mode) && sf.st_dev == so.st_dev && sf.st_ino == so.st_ino)
            st = mg_fail(MG_ERR_INVALID_ARG, "%s is the model's own %s: converting it over itself would destroy the "
                         "model; write the GGUF to a new file (e.g. model-q8_0.gguf)", out_path, e->d_name);
        free(f);
    }
    closedir(dir);
    return st;
}

typedef struct progress_relay {
    const mg_quantize_params *p;
} progress_relay;

static int relay_progress(void *user, int64_t done, int64_t total, const char *tensor) {
    const mg_quantize_params *p = ((progress_relay *)user)->p;
    return p->progress(done, total, tensor, p->user);
}

MG_API mg_status mg_quantize(const char *model, const char *out_path, const mg_quantize_params *params,
                             mg_quantize_result *result) {
    mg_quantize_result r;
    memset(&r, 0, sizeof r);
    if (result)
        *result = r;
    if (!model || !model[0])
        return mg_fail(MG_ERR_INVALID_ARG, "mg_quantize: no model given");
    if (!out_path || !out_path[0])
        return mg_fail(MG_ERR_INVALID_ARG, "mg_quantize: no output file given");
    mg_quantize_params p = params ? *params : mg_quantize_default_params();
    mg_dtype type = mg_dtype_of_weight_type(p.type == MG_WEIGHT_AUTO ? MG_WEIGHT_Q8_0 : p.type);
    if (p.type == MG_WEIGHT_AUTO_F16)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_quantize: MG_WEIGHT_AUTO_F16 is a way of loading; give the file's "
                       "format (MG_WEIGHT_F16 for f16)");
    if (type == MG_DT_COUNT)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_quantize: weight type %d is not one of mg_weight_type", (int)p.type);
    if (p.n_threads < 0 || p.n_threads > 1024)
        return mg_fail(MG_ERR_INVALID_ARG, "thread count %d is out of range (0 = one per core, at most 1024)",
                       p.n_threads);
    /* Refuse an output that cannot be written before reading gigabytes. */
    MG_TRY(mg_check_output_path(out_path, p.overwrite));

    mg_model_params mp = mg_model_default_params();
    mp.offline = p.offline;
    mp.hub_endpoint = p.hub_endpoint;
    mp.revision = p.revision;
    mp.download_progress = p.download_progress;
    mp.download_user = p.download_user;
    char *resolved = NULL;
    MG_TRY(mg_hub_resolve_model(model, &mp, &resolved));
    const char *path = resolved ? resolved : model;
    mg_status st = check_not_a_model_file(path, out_path);
    if (st == MG_OK)
        st = check_usable(path, p.n_threads);
    mg_checkpoint ck;
    if (st == MG_OK)
        st = mg_checkpoint_open(path, &ck);
    free(resolved);
    if (st != MG_OK)
        return st;
    count_kept(&ck, type, p.pure, &r);
    progress_relay relay = {&p};
    mg_gguf_convert_params cp = {type, p.overwrite, p.progress ? relay_progress : NULL, &relay, p.n_threads, p.pure};
    st = mg_gguf_write_checkpoint(&ck, out_path, &cp, &r.out_bytes);
    mg_checkpoint_close(&ck);
    if (st == MG_OK && result)
        *result = r;
    return st;
}
