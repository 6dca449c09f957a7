/* safetensors.c — safetensors reader (cJSON for the header) and writer (see safetensors.h). */
#include "io/safetensors.h"
#include "io/json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

static int dtype_from_string(const char *s, mg_dtype *out, size_t *elem) {
    static const struct {
        const char *name;
        mg_dtype t;
        size_t size;
    } map[] = {{"F32", MG_DT_F32, 4}, {"F16", MG_DT_F16, 2}, {"BF16", MG_DT_BF16, 2},
               {"I64", MG_DT_I64, 8}, {"I32", MG_DT_I32, 4}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(s, map[i].name)) {
            *out = map[i].t;
            *elem = map[i].size;
            return 1;
        }
    return 0;
}

const char *mg_safetensors_dtype_name(mg_dtype t) {
    switch (t) {
    case MG_DT_F32: return "F32";
    case MG_DT_F16: return "F16";
    case MG_DT_BF16: return "BF16";
    case MG_DT_I64: return "I64";
    case MG_DT_I32: return "I32";
    default: return NULL;
    }
}

typedef struct {
    uint64_t begin, end;
    const char *name;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

mg_status mg_safetensors_parse(mg_store *s, const char *path, const uint8_t *file, size_t file_size, int file_index) {
    if (file_size < 8)
        return mg_fail(MG_ERR_FORMAT, "%s is truncated: %zu bytes, too short for a safetensors header; download it again",
                       path, file_size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | file[i];
    if (hlen > file_size - 8)
        return mg_fail(MG_ERR_FORMAT, "%s is truncated or not a safetensors file: its header claims %llu bytes but the file has %zu; download it again",
                       path, (unsigned long long)hlen, file_size);
    if (hlen > 100u * 1024 * 1024)
        return mg_fail(MG_ERR_FORMAT, "%s: safetensors header of %llu bytes is implausibly large", path,
                       (unsigned long long)hlen);
    const uint8_t *data = file + 8 + hlen;
    uint64_t data_size = file_size - 8 - hlen;
    size_t off = 0;
    cJSON *root = mg_json_parse((const char *)file + 8, (size_t)hlen, &off);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mg_fail(MG_ERR_FORMAT, "%s: the safetensors header is not valid JSON (near byte %zu of it); the file is "
                       "corrupt", path, off);
    }
    int n = cJSON_GetArraySize(root);
    span *spans = calloc((size_t)(n > 0 ? n : 1), sizeof *spans);
    if (!spans) {
        cJSON_Delete(root);
        return mg_fail(MG_ERR_NOMEM, "out of memory reading %s", path);
    }
    int ns = 0;
    mg_status st = MG_OK;
    for (cJSON *it = root->child; it && st == MG_OK; it = it->next) {
        if (!it->string) {
            st = mg_fail(MG_ERR_FORMAT, "%s: malformed safetensors header", path);
            break;
        }
        if (!strcmp(it->string, "__metadata__"))
            continue;
        const char *name = it->string;
        cJSON *jd = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *jo = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsObject(it) || !cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo) ||
            cJSON_GetArraySize(jo) != 2) {
            st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s has a malformed entry in the safetensors header", path, name);
            break;
        }
        mg_tensor t;
        memset(&t, 0, sizeof t);
        size_t elem;
        if (!dtype_from_string(jd->valuestring, &t.dtype, &elem)) {
            st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s has unsupported dtype %s (supported: F32, F16, BF16)", path, name,
                         jd->valuestring);
            break;
        }
        t.ndim = cJSON_GetArraySize(js);
        if (t.ndim > MG_MAX_DIMS) {
            st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s has %d dimensions (at most %d supported)", path, name, t.ndim,
                         MG_MAX_DIMS);
            break;
        }
        uint64_t numel = 1;
        int i = 0;
        for (cJSON *d = js->child; d; d = d->next, i++) {
            if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e12 ||
                d->valuedouble != (double)(int64_t)d->valuedouble) {
                st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s has an invalid shape", path, name);
                break;
            }
            t.shape[i] = (int64_t)d->valuedouble;
            if (t.shape[i] && numel > UINT64_MAX / (uint64_t)t.shape[i] / 8) {
                st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s shape overflows", path, name);
                break;
            }
            numel *= (uint64_t)t.shape[i];
        }
        if (st != MG_OK)
            break;
        cJSON *b = cJSON_GetArrayItem(jo, 0), *e = cJSON_GetArrayItem(jo, 1);
        if (!cJSON_IsNumber(b) || !cJSON_IsNumber(e) || b->valuedouble < 0 || e->valuedouble < b->valuedouble ||
            e->valuedouble > 1.8e19 || b->valuedouble != floor(b->valuedouble) ||
            e->valuedouble != floor(e->valuedouble)) {
            st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s has invalid data_offsets", path, name);
            break;
        }
        uint64_t begin = (uint64_t)b->valuedouble, end = (uint64_t)e->valuedouble;
        if (end - begin != numel * elem) {
            st = mg_fail(MG_ERR_FORMAT, "%s: tensor %s has %llu data bytes but its shape and dtype need %llu; the file is corrupt",
                         path, name, (unsigned long long)(end - begin), (unsigned long long)(numel * elem));
            break;
        }
        if (end > data_size) {
            st = mg_fail(MG_ERR_FORMAT, "%s is truncated: tensor %s ends at byte %llu of the data section, which has only %llu bytes; download the file again",
                         path, name, (unsigned long long)end, (unsigned long long)data_size);
            break;
        }
        t.data = data + begin;
        t.nbytes = (size_t)(end - begin);
        if ((uintptr_t)t.data % elem) {
            /* Writers keep tensors aligned to their element size (safetensors sorts them
             * by dtype); a file that does not gets an aligned copy of the odd tensor, so
             * no kernel ever reads a misaligned float. */
            void *copy = mg_arena_alloc(&s->arena, t.nbytes);
            if (!copy) {
                st = mg_fail(MG_ERR_NOMEM, "out of memory reading %s", path);
                break;
            }
            memcpy(copy, t.data, t.nbytes);
            s->converted_bytes += (int64_t)t.nbytes;
            t.data = copy;
        }
        spans[ns].begin = begin;
        spans[ns].end = end;
        spans[ns].name = name;
        ns++;
        st = mg_store_add(s, name, &t, file_index);
    }
    if (st == MG_OK) {
        qsort(spans, (size_t)ns, sizeof *spans, cmp_span);
        for (int i = 1; i < ns; i++)
            if (spans[i].begin < spans[i - 1].end && spans[i].end > spans[i].begin) {
                st = mg_fail(MG_ERR_FORMAT, "%s: tensors %s and %s overlap in the data section; the file is corrupt", path,
                             spans[i - 1].name, spans[i].name);
                break;
            }
    }
    free(spans);
    cJSON_Delete(root);
    return st;
}

mg_status mg_safetensors_load(mg_store *s, const char *path) {
    mg_mapped_file f;
    MG_TRY(mg_file_map(path, &f));
    const uint8_t *data = f.data;
    size_t size = f.size;
    int idx = mg_store_add_file(s, &f);
    if (idx < 0) {
        mg_file_unmap(&f);
        return MG_ERR_NOMEM;
    }
    return mg_safetensors_parse(s, path, data, size, idx);
}

mg_status mg_safetensors_write(const char *path, int n, const char *const *names, const mg_tensor *tensors,
                               const char *metadata_json, int overwrite) {
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return mg_fail(MG_ERR_NOMEM, "out of memory writing %s", path);
    if (metadata_json) {
        cJSON *meta = cJSON_Parse(metadata_json);
        if (meta)
            cJSON_AddItemToObject(root, "__metadata__", meta);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const char *ds = mg_safetensors_dtype_name(tensors[i].dtype);
        if (!ds) {
            cJSON_Delete(root);
            return mg_fail(MG_ERR_INVALID_ARG, "cannot write tensor %s of dtype %s to safetensors", names[i],
                           mg_dtype_name(tensors[i].dtype));
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "dtype", ds);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < tensors[i].ndim; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)tensors[i].shape[d]));
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += tensors[i].nbytes;
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToObject(root, names[i], e);
    }
    char *header = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!header)
        return mg_fail(MG_ERR_NOMEM, "out of memory writing %s", path);
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) & ~(size_t)7; /* pad with spaces so data is 8-aligned */
    mg_atomic_file af;
    mg_status st = mg_atomic_open(&af, path, overwrite);
    if (st != MG_OK) {
        free(header);
        return st;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, af.fp) == 8 && fwrite(header, 1, hlen, af.fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++)
        ok = fputc(' ', af.fp) != EOF;
    free(header);
    for (int i = 0; ok && i < n; i++)
        ok = tensors[i].nbytes == 0 || fwrite(tensors[i].data, 1, tensors[i].nbytes, af.fp) == tensors[i].nbytes;
    if (!ok) {
        int e = errno ? errno : EIO; /* the failed write's (EFBIG, ENOSPC, ...) */
        mg_atomic_abort(&af);
        return mg_fail(MG_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    return mg_atomic_commit(&af, overwrite);
}
