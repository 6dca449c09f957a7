/* file.h — small file-system helpers: read-only mmap, whole-file reads, paths,
 * and atomic output (write to a temporary name in the same folder, then rename). */
#ifndef MG_BASE_FILE_H
#define MG_BASE_FILE_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct mg_mapped_file {
    char *path;
    const uint8_t *data;
    size_t size;
} mg_mapped_file;

/* Map `path` read-only. An empty file maps to data == NULL, size 0. */
mg_status mg_file_map(const char *path, mg_mapped_file *out);
void mg_file_unmap(mg_mapped_file *f);
/* Tell the kernel a byte range of a mapping will not be needed soon (frees page cache
 * pages from our RSS). */
void mg_file_release(const mg_mapped_file *f, const void *start, size_t len);
/* Map the whole 2 MiB pages inside a byte range with huge pages where
 * the page cache holds the file in 2 MiB folios: advises MADV_HUGEPAGE and drops the
 * range's current small-page mappings, so the next reads map 2 MiB at a time. For
 * weights every decoder step streams (see base/bigbuf.h). Best effort, never fails. */
void mg_file_map_huge(const mg_mapped_file *f, const void *start, size_t len);
/* Copy a byte range of a mapping into dst with read(2) rather than through the
 * mapping: no page faults, and the pages never enter this process's RSS. */
void mg_file_copy_out(const mg_mapped_file *f, const void *start, size_t len, void *dst);

/* Read a whole file into a malloc'ed, NUL-terminated buffer; a pipe or device is read
 * until end of file (at most 64 MiB), a FIFO without a writer reads as empty. */
mg_status mg_file_read_all(const char *path, char **data, size_t *size);
/* The same for a model's own files (config, index, tokenizer): pipes and devices are
 * refused instead of read through, and so are files over 64 MiB (damaged). */
mg_status mg_file_read_regular(const char *path, char **data, size_t *size);

/* The number after `key` and `sep` on the first line of a small text file that
 * starts with them ("MemAvailable: 123 kB", "file 4096"), or -1. */
int64_t mg_file_keyed_number(const char *path, const char *key, char sep);

int mg_path_exists(const char *path);
/* 1 if path is a symbolic link whose target does not exist. */
int mg_path_is_broken_link(const char *path);
/* 0 if `dir` is a folder; else 1, with why it is not in `why` ("X is a file, not a
 * folder", a dangling symbolic link, or "folder X does not exist; create it first"). */
int mg_path_not_a_folder(const char *dir, char *why, size_t size);
int mg_path_is_dir(const char *path);
/* 0 only if `path` exists and is not a regular file (symlinks followed): a folder,
 * device, pipe or socket. */
int mg_path_is_file_or_absent(const char *path);
/* mkdir -p: `path` and its missing parents (mode 0777 minus the umask). On failure the
 * message names the folder that could not be made, then `hint` (may be ""); a `path`
 * that exists but is not a folder fails too. *made (may be NULL) gets how many folders
 * it made, on failure too: the innermost ones, as one made folder's children are. */
mg_status mg_mkdirs(const char *path, const char *hint, int *made);
/* Join a folder and a name into a malloc'ed string. */
char *mg_path_join(const char *dir, const char *name);

/* Atomic output: open a temporary file next to `path`; commit renames it over
 * `path` (refusing to replace an existing file unless `overwrite`); abort removes it.
 * fp writes through a 4 MiB buffer: the page cache then keeps a freshly written file in
 * large physically contiguous folios. With stdio's 4 KiB writes musicgen-small's GGUF
 * sat in runs of ~2 pages, and a decoder step streaming the mapped weights straight
 * after `musicgen quantize` (or on a new random checkpoint) ran 5-18 % slower. */
typedef struct mg_atomic_file {
    char *path;
    char *tmp_path;
    FILE *fp;
    int fd;
    int live;    /* 1 + slot in the table of temporary files in progress (0: none) */
    char *iobuf; /* fp's buffer (NULL: stdio's own) */
} mg_atomic_file;

mg_status mg_atomic_open(mg_atomic_file *af, const char *path, int overwrite);
mg_status mg_atomic_commit(mg_atomic_file *af, int overwrite);
void mg_atomic_abort(mg_atomic_file *af);
/* mg_remove_temp_files() (musicgen.h) removes the temporary files of the atomic writes
 * still in progress; async-signal-safe. */
/* Check before doing expensive work that `path` could be written: the folder exists
 * and is writable, and the file does not exist unless `overwrite`. */
mg_status mg_check_output_path(const char *path, int overwrite);

#endif
