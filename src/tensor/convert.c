/* convert.c — matrix format conversion on the pool (see convert.h). */
#include "tensor/convert.h"

#include <math.h>
#include <stdlib.h>

#define ROWS_PER_TASK 64 /* a multiple of MG_X16_ROWS */

typedef struct {
    const mg_matrix *src;
    int64_t r0, n;
    mg_dtype want;
    uint8_t *dst;
    size_t dst_row_bytes;
    mg_convert_result *result; /* per task */
    mg_nonfinite *bad;         /* per task */
} convert_job;

static void convert_task(void *arg, int task) {
    const convert_job *j = arg;
    const int64_t cols = j->src->cols, step = mg_dtype_is_x16(j->want) ? MG_X16_ROWS : 1;
    int64_t begin = (int64_t)task * ROWS_PER_TASK, end = begin + ROWS_PER_TASK < j->n ? begin + ROWS_PER_TASK : j->n;
    float *tmp = malloc(sizeof(float) * (size_t)(cols * step));
    j->result[task] = MG_CONVERT_OK;
    if (!tmp) {
        j->result[task] = MG_CONVERT_NOMEM;
        return;
    }
    for (int64_t r = begin; r < end; r += step) {
        for (int64_t i = 0; i < step; i++)
            mg_matrix_row_to_f32(j->src->dtype, j->src->data, j->r0 + r + i, tmp + i * cols, cols);
        for (int64_t i = 0; i < cols * step; i++)
            if (!isfinite(tmp[i])) {
                mg_nonfinite b = {j->r0 + r + i / cols, i % cols, tmp[i]};
                j->bad[task] = b;
                j->result[task] = MG_CONVERT_NONFINITE;
                free(tmp);
                return;
            }
        mg_matrix_from_f32(j->want, tmp, j->dst + (size_t)r * j->dst_row_bytes, step, cols);
    }
    free(tmp);
}

mg_convert_result mg_convert_rows(mg_pool *pool, const mg_matrix *src, int64_t r0, int64_t n, mg_dtype want,
                                  void *dst, mg_nonfinite *bad) {
    int n_tasks = (int)((n + ROWS_PER_TASK - 1) / ROWS_PER_TASK);
    mg_convert_result *result = malloc(sizeof *result * (size_t)(n_tasks ? n_tasks : 1));
    mg_nonfinite *where = malloc(sizeof *where * (size_t)(n_tasks ? n_tasks : 1));
    if (!result || !where) {
        free(result);
        free(where);
        return MG_CONVERT_NOMEM;
    }
    convert_job job = {src, r0, n, want, dst, mg_dtype_row_bytes(want, src->cols), result, where};
    mg_pool_run(pool, convert_task, &job, n_tasks);
    mg_convert_result r = MG_CONVERT_OK;
    /* Tasks cover increasing rows: the first failing task holds the first bad value. */
    for (int t = 0; t < n_tasks && r == MG_CONVERT_OK; t++)
        if ((r = result[t]) == MG_CONVERT_NONFINITE)
            *bad = where[t];
    free(result);
    free(where);
    return r;
}
