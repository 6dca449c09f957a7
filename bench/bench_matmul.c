/* bench_matmul.c — how close the matmul kernels come to memory bandwidth.
 *
 * For every weight format and the musicgen-small decoder shapes (1024x1024 attention
 * projections, 4096x1024 fc1, 1024x4096 fc2, 2048x1024 lm head) with M = 2 and 8
 * activation rows (the CFG batch), prints the weight bytes streamed per second next
 * to the machine's measured read bandwidth, then the time of a whole decoder step
 * (24 layers: 6 square projections + fc1 + fc2 each, plus 4 lm heads) against the
 * bandwidth limit. Weights are spread over a buffer as big as one step's weights and
 * cycled through, so they come from memory, not cache, as in real decoding.
 *
 *   bench_matmul [--quick] [--cached] [--mapped] [--threads 1,2] [--rows 2,8] [--formats f32,q8_0] [--seconds S]
 *
 * --rows sets the activation row counts M (default 2 and 8; at most 8).
 *
 * --mapped writes the weights to a temporary file and reads them through a mapping of
 * it, as the model reads a GGUF: page-cache pages of 4 KiB instead of huge pages.
 * --cached keeps each shape's one matrix hot in the caches instead: the GB/s it prints
 * are then the kernels' compute ceiling, what a machine with more bandwidth would see.
 *
 * The kernel ISA is the best the CPU has; set MG_ISA=avx2 or scalar to compare.
 * Per-matrix figures are the best of several wall-clock trials (a shared machine only
 * ever slows a trial down); the step prints best and median of up to 50 steps, the
 * median being what `musicgen bench` reports for a real step. Still, run it twice. */
#include "bench_args.h"
#include "base/bigbuf.h"
#include "base/resources.h"
#include "base/file.h"
#include "base/pool.h"
#include "base/rng.h"
#include "base/timing.h"
#include "tensor/bandwidth.h"
#include "tensor/matmul.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int64_t rows, cols, per_layer;
} shape;

/* musicgen-small decoder: d_model 1024, ffn 4096, 24 layers, 4 codebooks x 2048 logits. */
static const shape k_shapes[] = {
    {"attn 1024x1024", 1024, 1024, 6},
    {"fc1  4096x1024", 4096, 1024, 1},
    {"fc2  1024x4096", 1024, 4096, 1},
    {"head 2048x1024", 2048, 1024, 0},
};
#define N_LAYERS 24
#define N_HEADS 4

/* q8_0x16 / q4_0x16 are what `musicgen quantize --type q8_0 / q4_0` writes; plain q8_0
 * / q4_0 are what other tools' GGUF files hold. */
static const mg_dtype k_formats[] = {MG_DT_F32,     MG_DT_F16,  MG_DT_BF16,   MG_DT_Q8_0,
                                     MG_DT_Q8_0X16, MG_DT_Q4_0, MG_DT_Q4_0X16};

typedef struct {
    uint8_t *data;
    size_t bytes;
    mg_mapped_file file; /* --mapped: data points into this */
} arena;

/* A buffer of `bytes` filled with valid random weights of format t (a random pattern
 * of whole blocks repeated, so any block-aligned matrix inside it is valid; for the
 * x16 formats, of whole 16-row blocks, and every matrix is a whole number of those). */
static int arena_make(arena *a, mg_dtype t, size_t bytes, mg_rng *rng) {
    const int64_t pattern_vals = 1 << 16;
    size_t pattern_bytes = mg_dtype_row_bytes(t, pattern_vals);
    bytes = (bytes + pattern_bytes - 1) / pattern_bytes * pattern_bytes;
    /* Huge pages, like the bandwidth probe it is compared with (the model's mapped weight
     * files stay on small pages: see base/bigbuf.h). */
    if (!(a->data = mg_bigbuf_alloc(bytes)))
        return 0;
    a->bytes = bytes;
    float *vals = malloc(sizeof(float) * pattern_vals);
    if (!vals)
        return 0;
    for (int64_t i = 0; i < pattern_vals; i++)
        vals[i] = (float)(mg_rng_uniform(rng) - 0.5) * 0.1f;
    mg_matrix_from_f32(t, vals, a->data, MG_X16_ROWS, pattern_vals / MG_X16_ROWS);
    free(vals);
    for (size_t off = pattern_bytes; off < bytes; off += pattern_bytes)
        memcpy(a->data + off, a->data, pattern_bytes);
    return 1;
}

/* Replace the arena's memory by a read-only mapping of a file holding the same bytes. */
static int arena_to_file(arena *a) {
    char path[] = "/tmp/bench_matmul.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    FILE *f = fdopen(fd, "wb");
    int ok = f && fwrite(a->data, 1, a->bytes, f) == a->bytes;
    ok = (f && fclose(f) == 0) && ok;
    ok = ok && mg_file_map(path, &a->file) == MG_OK;
    unlink(path);
    if (!ok)
        return 0;
    free(a->data);
    a->data = (uint8_t *)a->file.data;
    return 1;
}

static void arena_free(arena *a) {
    if (a->file.data)
        mg_file_unmap(&a->file);
    else
        free(a->data);
}

static size_t matrix_bytes(mg_dtype t, int64_t rows, int64_t cols) { return mg_dtype_row_bytes(t, cols) * (size_t)rows; }

static mg_matrix matrix_at(const arena *a, mg_dtype t, int64_t rows, int64_t cols, size_t *off) {
    size_t need = matrix_bytes(t, rows, cols);
    if (*off + need > a->bytes)
        *off = 0;
    mg_matrix m = {t, rows, cols, mg_dtype_row_bytes(t, cols), a->data + *off};
    *off += need;
    return m;
}

static size_t step_bytes(mg_dtype t) {
    size_t total = 0;
    for (int s = 0; s < 4; s++) {
        size_t b = matrix_bytes(t, k_shapes[s].rows, k_shapes[s].cols);
        total += s == 3 ? b * N_HEADS : b * (size_t)k_shapes[s].per_layer * N_LAYERS;
    }
    return total;
}

/* One decoder step's matmuls, weights consecutive in the arena. */
static void run_step(mg_pool *pool, const arena *a, mg_dtype t, const float *X, float *Y, int64_t M) {
    size_t off = 0;
    for (int l = 0; l < N_LAYERS; l++)
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < k_shapes[s].per_layer; i++) {
                mg_matrix W = matrix_at(a, t, k_shapes[s].rows, k_shapes[s].cols, &off);
                mg_matmul(pool, &W, X, M, W.cols, Y, W.rows, NULL);
            }
    for (int h = 0; h < N_HEADS; h++) {
        mg_matrix W = matrix_at(a, t, k_shapes[3].rows, k_shapes[3].cols, &off);
        mg_matmul(pool, &W, X, M, W.cols, Y, W.rows, NULL);
    }
}

#define MAX_STEPS 50

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Is `name` one of the comma-separated entries of `list`? */
static int in_list(const char *list, const char *name) {
    size_t len = strlen(name);
    for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, len) && (p[len] == ',' || p[len] == 0))
            return 1;
    return 0;
}

int main(int argc, char **argv) {
    int threads[8] = {1, 2}, n_threads = mg_cpu_count() > 1 ? 2 : 1;
    double seconds = 0.2;
    const char *formats = NULL;
    int cached = 0, mapped = 0, ms[8] = {2, 8}, n_ms = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            seconds = 0.05;
            threads[0] = mg_cpu_count();
            n_threads = 1;
        } else if (!strcmp(argv[i], "--cached")) {
            cached = 1;
        } else if (!strcmp(argv[i], "--mapped")) {
            mapped = 1;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_threads = bench_parse_int_list(argv[++i], threads, 8);
        } else if (!strcmp(argv[i], "--rows") && i + 1 < argc) {
            n_ms = bench_parse_int_list(argv[++i], ms, 8);
            for (int m = 0; m < n_ms; m++)
                if (ms[m] < 1 || ms[m] > 8) {
                    fprintf(stderr, "--rows: each M must be 1..8\n");
                    return 2;
                }
        } else if (!strcmp(argv[i], "--formats") && i + 1 < argc) {
            formats = argv[++i];
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--cached] [--mapped] [--threads 1,2] [--rows 2,8] [--formats f32,q8_0] "
                            "[--seconds S]\n", argv[0]);
            return 2;
        }
    }
    mg_pool *pools[8];
    double bw[8];
    printf("kernels: %s (best on this CPU: %s)\n", mg_isa_name(mg_isa_active()), mg_isa_name(mg_isa_detect()));
    for (int i = 0; i < n_threads; i++) {
        pools[i] = mg_pool_new(threads[i]);
        if (!pools[i])
            return 1;
        bw[i] = mg_measure_read_bandwidth(pools[i], 0);
        printf("read bandwidth, %d thread%s: %.1f GB/s\n", threads[i], threads[i] > 1 ? "s" : "", bw[i]);
    }
    mg_rng rng;
    mg_rng_seed(&rng, 1);
    float *X = malloc(sizeof(float) * 8 * 4096);
    float *Y = malloc(sizeof(float) * 8 * 4096);
    for (int i = 0; i < 8 * 4096; i++)
        X[i] = (float)(mg_rng_uniform(&rng) - 0.5);

    printf("\n%-6s %-15s %2s %3s %10s %8s %7s\n", "format", "shape", "M", "thr", "us/call", "GB/s", "% of bw");
    for (size_t f = 0; f < sizeof k_formats / sizeof *k_formats; f++) {
        mg_dtype t = k_formats[f];
        if (formats && !in_list(formats, mg_dtype_name(t)))
            continue;
        arena a = {0};
        if (!arena_make(&a, t, cached ? matrix_bytes(t, 4096, 1024) : step_bytes(t), &rng)) {
            fprintf(stderr, "out of memory for %s weights\n", mg_dtype_name(t));
            return 1;
        }
        if (mapped && !arena_to_file(&a)) {
            fprintf(stderr, "cannot write and map the %s weights in /tmp\n", mg_dtype_name(t));
            return 1;
        }
        for (int s = 0; s < 4; s++)
            for (int mi = 0; mi < n_ms; mi++)
                for (int ti = 0; ti < n_threads; ti++) {
                    const int M = ms[mi];
                    size_t off = 0, bytes = matrix_bytes(t, k_shapes[s].rows, k_shapes[s].cols);
                    mg_matrix W = matrix_at(&a, t, k_shapes[s].rows, k_shapes[s].cols, &off);
                    mg_matmul(pools[ti], &W, X, M, W.cols, Y, W.rows, NULL); /* warm-up */
                    /* Best of several short trials: a busy neighbour only ever slows a trial down. */
                    double best = 1e30;
                    for (int trial = 0; trial < 5; trial++) {
                        int64_t calls = 0;
                        double t0 = mg_time_now(), dt;
                        do {
                            if (cached)
                                off = 0;
                            W = matrix_at(&a, t, k_shapes[s].rows, k_shapes[s].cols, &off);
                            mg_matmul(pools[ti], &W, X, M, W.cols, Y, W.rows, NULL);
                            calls++;
                            dt = mg_time_now() - t0;
                        } while (dt < seconds / 5);
                        if (dt / (double)calls < best)
                            best = dt / (double)calls;
                    }
                    double gbs = (double)bytes / best * 1e-9;
                    printf("%-7s %-15s %2d %3d %10.1f %8.1f %6.0f%%\n", mg_dtype_name(t), k_shapes[s].name, M,
                           threads[ti], best * 1e6, gbs, 100 * gbs / bw[ti]);
                }
        for (int mi = 0; mi < n_ms && !cached; mi++)
            for (int ti = 0; ti < n_threads; ti++) {
                const int M = ms[mi];
                run_step(pools[ti], &a, t, X, Y, M);
                double times[MAX_STEPS], total = 0;
                int n = 0;
                while (n < MAX_STEPS && (n < 5 || total < 4 * seconds)) {
                    double t0 = mg_time_now();
                    run_step(pools[ti], &a, t, X, Y, M);
                    times[n] = mg_time_now() - t0;
                    total += times[n++];
                }
                qsort(times, (size_t)n, sizeof *times, cmp_double);
                double best = times[0] * 1e3, median = times[n / 2] * 1e3;
                double limit = (double)step_bytes(t) / (bw[ti] * 1e9) * 1e3;
                printf("%-7s %-15s %2d %3d  step %7.2f ms best, %7.2f median of %d (%.0f MB, bandwidth limit %.2f "
                       "ms, %.0f%% of it at the median)\n",
                       mg_dtype_name(t), "decoder step", M, threads[ti], best, median, n,
                       (double)step_bytes(t) * 1e-6, limit, 100 * limit / median);
            }
        arena_free(&a);
    }
    free(X);
    free(Y);
    for (int i = 0; i < n_threads; i++)
        mg_pool_free(pools[i]);
    return 0;
}
