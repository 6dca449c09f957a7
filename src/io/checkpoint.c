/* checkpoint.c — Hugging Face checkpoint folders (see checkpoint.h): finds the
 * weight files (single or sharded via the index JSON), maps them, and checks that
 * the index and the shards agree. Shape checks happen when stages look tensors up. */
#include "io/checkpoint.h"
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static mg_status read_json_file(const char *dir, const char *name, char **text, size_t *len, char **path_out) {
    char *path = mg_path_join(dir, name);
    if (!path)
        return MG_ERR_NOMEM;
    mg_status st = mg_file_read_all(path, text, len);
    if (path_out && st == MG_OK)
        *path_out = path;
    else
        free(path);
    return st;
}

/* Sharded checkpoints: the index maps tensor names to shard files. */
static mg_status load_sharded(mg_checkpoint *ck, const char *index_path, const char *text, size_t len) {
    cJSON *root = cJSON_ParseWithLength(text, len);
    cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return mg_fail(MG_ERR_FORMAT, "%s is not a valid safetensors index (no \"weight_map\" object)", index_path);
    }
    mg_status st = MG_OK;
    /* Load each distinct shard once, in order of first appearance. */
    char **shards = NULL;
    int n_shards = 0;
    for (cJSON *it = wm->child; it && st == MG_OK; it = it->next) {
        if (!cJSON_IsString(it) || !it->valuestring[0] || strchr(it->valuestring, '/')) {
            st = mg_fail(MG_ERR_FORMAT, "%s: weight_map entry %s does not name a file in the folder", index_path,
                         it->string ? it->string : "?");
            break;
        }
        int seen = 0;
        for (int i = 0; i < n_shards && !seen; i++)
            seen = !strcmp(shards[i], it->valuestring);
        if (seen)
            continue;
        char **ns = realloc(shards, (size_t)(n_shards + 1) * sizeof *ns);
        if (!ns) {
            st = mg_fail(MG_ERR_NOMEM, "out of memory");
            break;
        }
        shards = ns;
        shards[n_shards++] = it->valuestring;
        char *p = mg_path_join(ck->path, it->valuestring);
        if (!p) {
            st = MG_ERR_NOMEM;
            break;
        }
        st = mg_safetensors_load(&ck->store, p);
        if (st == MG_ERR_NOT_FOUND)
            st = mg_fail(MG_ERR_NOT_FOUND, "weight file %s listed in %s is missing; download the model again", p,
                         index_path);
        free(p);
    }
    /* Every tensor the index promises must be in the shard it names. */
    for (cJSON *it = wm->child; it && st == MG_OK; it = it->next) {
        mg_store_entry *e = mg_store_find(&ck->store, it->string);
        if (!e)
            st = mg_fail(MG_ERR_FORMAT, "tensor %s listed in %s is missing from %s; the shard is incomplete", it->string,
                         index_path, it->valuestring);
        else if (!has_suffix(mg_store_file_of(&ck->store, e), it->valuestring))
            st = mg_fail(MG_ERR_FORMAT, "tensor %s is in %s but %s says %s", it->string,
                         mg_store_file_of(&ck->store, e), index_path, it->valuestring);
    }
    ck->n_weight_files = n_shards;
    free(shards);
    cJSON_Delete(root);
    return st;
}

static mg_status open_folder(mg_checkpoint *ck) {
    char *text = NULL, *where = NULL;
    size_t len = 0;
    mg_status st = read_json_file(ck->path, "config.json", &text, &len, &where);
    if (st == MG_ERR_NOT_FOUND)
        return mg_fail(MG_ERR_NOT_FOUND, "%s is not a MusicGen checkpoint: it has no config.json "
                       "(expected a Hugging Face folder such as facebook/musicgen-small, or a .gguf file)", ck->path);
    if (st != MG_OK)
        return st;
    st = mg_config_parse(text, len, where, &ck->cfg);
    free(text);
    free(where);
    if (st != MG_OK)
        return st;

    st = read_json_file(ck->path, "generation_config.json", &text, &len, &where);
    if (st == MG_OK) {
        st = mg_generation_config_parse(text, len, where, &ck->cfg);
        free(text);
        free(where);
        if (st != MG_OK)
            return st;
    } else if (st != MG_ERR_NOT_FOUND) {
        return st;
    }

    st = read_json_file(ck->path, "model.safetensors.index.json", &text, &len, &where);
    if (st == MG_OK) {
        st = load_sharded(ck, where, text, len);
        free(text);
        free(where);
    } else if (st == MG_ERR_NOT_FOUND) {
        char *p = mg_path_join(ck->path, "model.safetensors");
        if (!p)
            return MG_ERR_NOMEM;
        st = mg_safetensors_load(&ck->store, p);
        if (st == MG_ERR_NOT_FOUND)
            st = mg_fail(MG_ERR_NOT_FOUND, "%s has no weights: neither model.safetensors nor model.safetensors.index.json "
                         "(PyTorch .bin checkpoints are not supported; download the safetensors files)", ck->path);
        free(p);
        ck->n_weight_files = 1;
    }
    if (st != MG_OK)
        return st;

    ck->spiece_path = mg_path_join(ck->path, "spiece.model");
    if (!ck->spiece_path)
        return MG_ERR_NOMEM;
    st = mg_file_map(ck->spiece_path, &ck->spiece_file);
    if (st == MG_ERR_NOT_FOUND)
        return mg_fail(MG_ERR_NOT_FOUND, "%s has no spiece.model (the T5 tokenizer); download it with the model", ck->path);
    if (st != MG_OK)
        return st;
    ck->spiece = ck->spiece_file.data;
    ck->spiece_size = ck->spiece_file.size;
    return MG_OK;
}

mg_status mg_checkpoint_open(const char *path, mg_checkpoint *ck) {
    memset(ck, 0, sizeof *ck);
    mg_store_init(&ck->store);
    ck->path = mg_strdup(path);
    if (!ck->path)
        return MG_ERR_NOMEM;
    mg_status st;
    if (mg_path_is_dir(path))
        st = open_folder(ck);
    else if (has_suffix(path, ".gguf") || mg_path_exists(path))
        st = mg_gguf_open(path, ck);
    else
        st = mg_fail(MG_ERR_NOT_FOUND, "model %s not found: give a checkpoint folder, a .gguf file or a Hugging Face repo id "
                     "such as facebook/musicgen-small", path);
    if (st != MG_OK) {
        mg_checkpoint_close(ck);
        return st;
    }
    return MG_OK;
}

void mg_checkpoint_close(mg_checkpoint *ck) {
    mg_store_free(&ck->store);
    mg_file_unmap(&ck->spiece_file);
    free(ck->spiece_path);
    free(ck->path);
    memset(ck, 0, sizeof *ck);
}
