/* test.h — the tiny test harness every C test uses: checks that count failures,
 * golden-tensor loading from ../shared/reference, and error reports that print the
 * max abs / max rel error of every compared tensor (so drift is visible even when
 * a test passes). A test's main() returns test_finish(). */
#ifndef MG_TEST_H
#define MG_TEST_H

#include "musicgen.h"
#include "io/store.h"

#include <stdint.h>
#include <stdio.h>

extern int test_failures;
extern int test_checks;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        test_checks++;                                                           \
        if (!(cond)) {                                                           \
            test_failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

#define CHECK_OK(expr)                                                                     \
    do {                                                                                   \
        mg_status st_ = (expr);                                                            \
        test_checks++;                                                                     \
        if (st_ != MG_OK) {                                                                \
            test_failures++;                                                               \
            fprintf(stderr, "FAIL %s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,      \
                    mg_status_string(st_), mg_last_error());                               \
        }                                                                                  \
    } while (0)

/* Returns the process exit code and prints a summary line. */
int test_finish(const char *name);

/* Path of a file under $MG_REFERENCE_DIR (default ../shared/reference from the
 * source dir). Returned string is static storage (valid until the next call). */
const char *test_ref_path(const char *rel);
/* Like test_ref_path for $MG_BUILD_DIR / $MG_SOURCE_DIR. */
const char *test_build_path(const char *rel);
const char *test_source_path(const char *rel);

/* Golden tensors of one fixture ("tiny-mono", "tiny-stereo"). */
typedef struct test_golden {
    mg_store store;
    char fixture[64];
} test_golden;

int test_golden_open(test_golden *g, const char *fixture);
void test_golden_close(test_golden *g);
/* The golden tensor `name` (f32 or i64); aborts the test (failure) if missing. */
const mg_tensor *test_golden_get(test_golden *g, const char *name);
/* Metadata string (e.g. "prompts") of the golden file, malloc'ed, or NULL. */
char *test_golden_metadata(const char *fixture, const char *key);

/* Print the fixture's name and open its golden tensors and checkpoint folder; 0 (with
 * the failure recorded) if either cannot be opened. */
struct mg_checkpoint;
int test_fixture_open(const char *fixture, test_golden *g, struct mg_checkpoint *ck);
void test_fixture_close(test_golden *g, struct mg_checkpoint *ck);

/* Compare n floats; print "name: max abs err A, max rel err R (n values)"; record a
 * failure if max abs err > atol. Returns max abs err. */
double test_compare_f32(const char *name, const float *got, const float *want, int64_t n, double atol);
/* Compare n int64 values exactly; prints the number of mismatches. */
int64_t test_compare_i64(const char *name, const int64_t *got, const int64_t *want, int64_t n);

#endif
