/* codes_api.c — the public codes-file functions (mg_write_codes / mg_read_codes) on
 * top of the NumPy reader/writer in io/npy.c. */
#include "musicgen.h"
#include "base/status.h"
#include "io/npy.h"

#include <limits.h>
#include <stdlib.h>

MG_API mg_status mg_write_codes(const char *path, const int64_t *codes, int batch, int n_codebooks, int n_frames,
                                int overwrite) {
    if (!path || !codes || batch < 1 || n_codebooks < 1 || n_frames < 1)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_write_codes: empty codes");
    int64_t shape[3] = {batch, n_codebooks, n_frames};
    return mg_npy_write_i64(path, codes, 3, shape, overwrite);
}

MG_API mg_status mg_read_codes(const char *path, int64_t **codes, int *batch, int *n_codebooks, int *n_frames) {
    if (!codes || !batch || !n_codebooks || !n_frames)
        return mg_fail(MG_ERR_INVALID_ARG, "mg_read_codes: NULL output pointer");
    *codes = NULL;
    if (!path || !path[0])
        return mg_fail(MG_ERR_INVALID_ARG, "mg_read_codes: no file given");
    mg_npy a;
    MG_TRY(mg_npy_read_int(path, &a));
    int64_t B, K, T;
    if (a.ndim == 3) {
        B = a.shape[0];
        K = a.shape[1];
        T = a.shape[2];
    } else if (a.ndim == 2) {
        B = 1;
        K = a.shape[0];
        T = a.shape[1];
    } else {
        int nd = a.ndim;
        mg_npy_free(&a);
        return mg_fail(MG_ERR_FORMAT,
                       "%s has %d dimension%s; codes must be [batch, codebooks, frames] or [codebooks, frames]", path,
                       nd, nd == 1 ? "" : "s");
    }
    if (B < 1 || K < 1 || T < 1 || B > INT_MAX || K > INT_MAX || T > INT_MAX) {
        mg_npy_free(&a);
        return mg_fail(MG_ERR_FORMAT, "%s holds no codes (shape has a zero or huge dimension)", path);
    }
    *codes = a.data;
    *batch = (int)B;
    *n_codebooks = (int)K;
    *n_frames = (int)T;
    return MG_OK;
}
