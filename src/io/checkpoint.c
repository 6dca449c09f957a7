/* checkpoint.c — Hugging Face checkpoint folders (see checkpoint.h): finds the
 * weight files (single or sharded via the index JSON), maps them, and checks that
 * the index and the shards agree. Shape checks happen when stages look tensors up. */
#include "io/checkpoint.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static mg_status read_json_file(const char *dir, const char *name, char **text, size_t *len, char **path_out) {
    char *path = mg_path_join(dir, name);
    if (!path)
        return MG_ERR_NOMEM;
    mg_status st = mg_file_read_regular(path, text, len);
    if (path_out && st == MG_OK)
        *path_out = path;
    else
        free(path);
    return st;
}

/* A shard name must be a plain file in the checkpoint folder: no folders, no "..",
 * no control bytes, and a .safetensors file. */
static int valid_shard_name(const char *s) {
    if (!s[0] || !strcmp(s, ".") || !strcmp(s, "..") || !mg_str_ends_with(s, ".safetensors") || strlen(s) > 255)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == '/' || *p == '\\' || *p == 0x7f)
            return 0;
    return 1;
}

void mg_shard_index_free(mg_shard_index *ix) {
    for (int i = 0; i < ix->n_shards; i++)
        free(ix->shards[i]);
    for (int i = 0; i < ix->n_tensors; i++)
        free(ix->tensors[i]);
    free(ix->shards);
    free(ix->tensors);
    free(ix->shard_of);
    memset(ix, 0, sizeof *ix);
}

/* Index of `name` in ix->shards, appending it when new; -1 when out of memory. */
static int shard_id(mg_shard_index *ix, const char *name) {
    for (int i = ix->n_shards - 1; i >= 0; i--) /* entries are usually grouped by shard */
        if (!strcmp(ix->shards[i], name))
            return i;
    char **ns = realloc(ix->shards, (size_t)(ix->n_shards + 1) * sizeof *ns);
    if (!ns)
        return -1;
    ix->shards = ns;
    if (!(ix->shards[ix->n_shards] = mg_strdup(name)))
        return -1;
    return ix->n_shards++;
}

mg_status mg_shard_index_parse(const char *text, size_t len, const char *where, mg_shard_index *ix) {
    memset(ix, 0, sizeof *ix);
    size_t off = 0;
    cJSON *root = mg_json_parse(text, len, &off);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mg_fail(MG_ERR_FORMAT, "%s is not valid JSON (near byte %zu); download the model again", where, off);
    }
    cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    int n = cJSON_IsObject(wm) ? cJSON_GetArraySize(wm) : 0;
    mg_status st = MG_OK;
    if (!cJSON_IsObject(wm))
        st = mg_fail(MG_ERR_FORMAT, "%s is not a valid safetensors index (no \"weight_map\" object); download the model again",
                     where);
    else if (n < 1)
        st = mg_fail(MG_ERR_FORMAT, "%s lists no tensors (empty \"weight_map\"); download the model again", where);
    else if (!(ix->tensors = calloc((size_t)n, sizeof *ix->tensors)) || !(ix->shard_of = calloc((size_t)n, sizeof(int))))
        st = mg_fail(MG_ERR_NOMEM, "out of memory reading %s", where);
    for (cJSON *it = st == MG_OK ? wm->child : NULL; it && st == MG_OK; it = it->next) {
        if (!it->string || !it->string[0]) {
            st = mg_fail(MG_ERR_FORMAT, "%s: weight_map has an entry without a tensor name", where);
        } else if (!cJSON_IsString(it) || !valid_shard_name(it->valuestring)) {
            st = mg_fail(MG_ERR_FORMAT, "%s: weight_map entry %.200s does not name a .safetensors file in the folder",
                         where, it->string);
        } else {
            int id = shard_id(ix, it->valuestring);
            ix->tensors[ix->n_tensors] = id >= 0 ? mg_strdup(it->string) : NULL;
            if (!ix->tensors[ix->n_tensors])
                st = mg_fail(MG_ERR_NOMEM, "out of memory reading %s", where);
            else
                ix->shard_of[ix->n_tensors++] = id;
        }
    }
    cJSON_Delete(root);
    if (st != MG_OK)
        mg_shard_index_free(ix);
    return st;
}

/* Sharded checkpoints: the index maps tensor names to shard files. Every shard is
 * mapped once; every tensor the index promises must be in the shard it names. */
static mg_status load_sharded(mg_checkpoint *ck, const char *index_path, const char *text, size_t len) {
    mg_shard_index ix;
    MG_TRY(mg_shard_index_parse(text, len, index_path, &ix));
    mg_status st = MG_OK;
    for (int i = 0; i < ix.n_shards && st == MG_OK; i++) {
        char *p = mg_path_join(ck->path, ix.shards[i]);
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
    for (int i = 0; i < ix.n_tensors && st == MG_OK; i++) {
        const char *shard = ix.shards[ix.shard_of[i]];
        mg_store_entry *e = mg_store_find(&ck->store, ix.tensors[i]);
        if (!e)
            st = mg_fail(MG_ERR_FORMAT, "tensor %s listed in %s is missing from %s; the shard is incomplete, download it again",
                         ix.tensors[i], index_path, shard);
        else if (!mg_str_ends_with(mg_store_file_of(&ck->store, e), shard))
            st = mg_fail(MG_ERR_FORMAT, "tensor %s is in %s but %s says %s; download the model again", ix.tensors[i],
                         mg_store_file_of(&ck->store, e), index_path, shard);
    }
    ck->n_weight_files = ix.n_shards;
    mg_shard_index_free(&ix);
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
    } else {
        ck->cfg.gen.from_defaults = 1;
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
    ck->file_type = MG_DT_COUNT;
    ck->path = mg_strdup(path);
    if (!ck->path)
        return MG_ERR_NOMEM;
    mg_status st;
    if (mg_path_is_dir(path))
        st = open_folder(ck);
    else if (mg_str_ends_with(path, ".gguf") || mg_path_exists(path))
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
