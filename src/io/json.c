/* json.c — strict JSON parsing (see json.h). */
#include "io/json.h"

cJSON *mg_json_parse(const char *text, size_t len, size_t *err_at) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        const char *e = cJSON_GetErrorPtr();
        if (err_at)
            *err_at = e && e >= text && e <= text + len ? (size_t)(e - text) : 0;
        return NULL;
    }
    for (const char *p = end; p && p < text + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            if (err_at)
                *err_at = (size_t)(p - text);
            cJSON_Delete(root);
            return NULL;
        }
    return root;
}
