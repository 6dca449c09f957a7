/* hub.h — models by name: the Hugging Face hub cache and downloads (internal API).
 *
 * A repo id such as "facebook/musicgen-small" is resolved through the cache that
 * huggingface_hub (and so transformers) uses, in exactly its layout, so Python tools
 * and musicgen share downloads:
 *
 *   $HF_HUB_CACHE  (else $HUGGINGFACE_HUB_CACHE, $HF_HOME/hub,
 *                   $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub)
 *     models--ORG--NAME/
 *       blobs/<etag>                 file contents, named by the hub's etag: sha256 for
 *                                    LFS files (weights, spiece.model), the git blob
 *                                    sha1 for small files; <etag>.incomplete while
 *                                    downloading (resumable)
 *       snapshots/<commit>/<file>    relative symlinks ../../blobs/<etag>
 *       refs/<revision>              the commit hash a branch/tag pointed to
 *       .no_exist/<commit>/<file>    empty marker: the hub has no such file
 *   .locks/models--ORG--NAME/<etag>.lock   flock()ed while a blob is written
 *
 * hub_cache.c: paths, environment, resolution of a repo id to a snapshot folder.
 * hub_download.c: downloads (which files, retries, sha256 verification, atomic
 * placement in the cache); hub_http.c: its libcurl side
 * ({endpoint}/{repo}/resolve/{revision}/{file}, HEAD, GET resumed with HTTP Range).
 * sha256.c: sha256 of a file (OpenSSL libcrypto).
 *
 * Nothing here prints: download progress goes to a callback.
 */
#ifndef MG_IO_HUB_H
#define MG_IO_HUB_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

#define MG_HUB_DEFAULT_ENDPOINT "https://huggingface.co"
/* The released MusicGen checkpoints this engine runs (named in "not found" errors). */
#define MG_HUB_KNOWN_MODELS MG_KNOWN_MODELS

/* Downloads report progress, take options and describe their result with the public
 * types of musicgen.h: mg_download_progress(_fn), mg_download_params,
 * mg_download_result (mg_download_result_free, in hub_download.c). */

/* ---- cache (hub_cache.c) ---------------------------------------------------- */

/* 1 if `s` has the shape of a hub model id "org/name" (letters, digits, '-', '_',
 * '.'; no "--" or ".."; at most 96 characters; not ending in ".gguf"). Does not
 * look at the file system. */
int mg_hub_is_repo_id(const char *s);
/* 1 if `s` is a full 40-hex-digit commit hash. */
int mg_hub_is_commit_hash(const char *s);
/* 1 if $HF_HUB_OFFLINE (or the older $TRANSFORMERS_OFFLINE) is 1/ON/YES/TRUE. */
int mg_hub_env_offline(void);
/* The variable that turned offline mode on ("HF_HUB_OFFLINE" or
 * "TRANSFORMERS_OFFLINE"), or NULL. */
const char *mg_hub_env_offline_var(void);

/* The cache root (malloc'ed) from `override` or the environment. */
mg_status mg_hub_cache_dir(const char *override, char **out);
/* <cache>/models--ORG--NAME (malloc'ed). */
mg_status mg_hub_repo_dir(const char *cache_dir, const char *repo_id, char **out);

/* Which files of a snapshot folder are missing for the engine: config.json,
 * spiece.model, and model.safetensors or the index with every shard it lists.
 * Returns the number missing (0 = complete) and writes their names (comma
 * separated) into `missing`. */
int mg_hub_snapshot_missing(const char *snapshot, char *missing, size_t missing_size);

/* Find a complete cached snapshot of repo_id at `revision` (NULL = main): a commit
 * hash names its snapshot folder directly, a branch or tag goes through refs/.
 * MG_ERR_NOT_FOUND (with a message saying what is missing) if absent or incomplete.
 * Never uses the network. */
mg_status mg_hub_find_cached(const char *repo_id, const mg_download_params *opt, char **snapshot);

/* The one call mg_model_load makes: if `path` is an existing file/folder or not a
 * repo id (ORG/NAME, or ORG/NAME@REVISION, which overrides params->revision), sets
 * *resolved = NULL and returns MG_OK (open `path` as given).
 * Otherwise resolves the repo id to a snapshot folder in the cache (*resolved,
 * malloc'ed), downloading it first unless offline (params->offline or
 * $HF_HUB_OFFLINE), with params->download_progress told how it goes. Errors say how
 * to get the model. */
mg_status mg_hub_resolve_model(const char *path, const mg_model_params *params, char **resolved);


/* Helpers shared by hub_cache.c and hub_download.c. */
/* mkdir -p (folders get mode 0777 minus the umask). */
mg_status mg_hub_mkdirs(const char *path);
/* 1 if a revision is safe to use as a refs/ path and in a URL: not empty, no "..",
 * no leading '/', no control characters. */
int mg_hub_valid_revision(const char *rev);
/* "ORG/NAME@REVISION" split at the '@': the repo part (malloc'ed; NULL when out of
 * memory, with the error set) and *revision pointing into `id` after the '@'. */
char *mg_hub_split_revision(const char *id, const char **revision);
/* The commit refs/<revision> holds (malloc'ed); MG_ERR_NOT_FOUND if there is none. */
mg_status mg_hub_read_ref(const char *repo_dir, const char *revision, char **commit);
/* Write refs/<revision> atomically (temporary file + rename); no-op if unchanged. */
mg_status mg_hub_write_ref(const char *repo_dir, const char *revision, const char *commit);

/* ---- downloads (hub_download.c) ---------------------------------------------- */

/* Download what the engine needs of repo_id into the cache (config.json,
 * generation_config.json, spiece.model, tokenizer_config.json if present, and
 * model.safetensors or model.safetensors.index.json + its shards). Files whose blob
 * is already cached are not fetched again. On success *out describes the snapshot. */
mg_status mg_hub_download(const char *repo_id, const mg_download_params *opt, mg_download_result *out);

/* ---- sha256 (sha256.c) ------------------------------------------------------------- */

/* Lowercase hex sha256 of a whole file into hex[65]. */
mg_status mg_sha256_file(const char *path, char hex[65]);
/* Lowercase hex sha256 of a buffer into hex[65]. */
mg_status mg_sha256_buffer(const void *data, size_t size, char hex[65]);

#endif
