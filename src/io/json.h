/* json.h — cJSON parsing as strict as Python's json module about what follows the
 * value: transformers and huggingface_hub read config.json, the index and the
 * tokenizer files with it, and safetensors' header reader is as strict, so a file
 * with bytes after its JSON (NUL padding, a second object, garbage) fails there and
 * must fail here too. cJSON alone stops after the value and ignores the rest. */
#ifndef MG_IO_JSON_H
#define MG_IO_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Parse text[0..len) as one JSON value followed by nothing but whitespace. NULL if it
 * is not; *err_at (if not NULL) is then the byte offset where it went wrong. */
cJSON *mg_json_parse(const char *text, size_t len, size_t *err_at);

#endif
