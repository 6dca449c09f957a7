/* npy.h — NumPy .npy files for codes: write int64 ('<i8') arrays, read integer arrays
 * (any little/big-endian signed or unsigned integer dtype, C or Fortran order) into
 * int64. Format: magic "\x93NUMPY", version, header length, a Python-dict header
 * {'descr': '<i8', 'fortran_order': False, 'shape': (1, 4, 50), }, padded to 64 bytes.
 *
 * CONTRACT (implemented by the audio/npy module).
 */
#ifndef MG_IO_NPY_H
#define MG_IO_NPY_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

#define MG_NPY_MAX_DIMS 8

typedef struct mg_npy {
    int64_t *data; /* C order */
    int ndim;
    int64_t shape[MG_NPY_MAX_DIMS];
} mg_npy;

void mg_npy_free(mg_npy *a);

/* Atomic write (temp + rename); MG_ERR_EXISTS if `path` exists and !overwrite. */
mg_status mg_npy_write_i64(const char *path, const int64_t *data, int ndim, const int64_t *shape, int overwrite);
mg_status mg_npy_read_int(const char *path, mg_npy *out);
/* Parse from memory (also the fuzzing entry point); `where` names the source in errors. */
mg_status mg_npy_parse(const uint8_t *buf, size_t n, const char *where, mg_npy *out);

#endif
