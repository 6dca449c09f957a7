/* test.c — implementation of the test harness (see test.h). */
#include "test.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int test_failures = 0;
int test_checks = 0;

int test_finish(const char *name) {
    if (test_failures)
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, test_failures, test_checks);
    else
        printf("%s: all %d checks passed\n", name, test_checks);
    return test_failures ? 1 : 0;
}

static const char *env_path(const char *var, const char *fallback, const char *rel) {
    static _Thread_local char buf[4096];
    const char *base = getenv(var);
    if (!base || !base[0])
        base = fallback;
    snprintf(buf, sizeof buf, "%s/%s", base, rel);
    return buf;
}

const char *test_ref_path(const char *rel) { return env_path("MG_REFERENCE_DIR", "../shared/reference", rel); }
const char *test_build_path(const char *rel) { return env_path("MG_BUILD_DIR", "build", rel); }
const char *test_source_path(const char *rel) { return env_path("MG_SOURCE_DIR", ".", rel); }

int test_golden_open(test_golden *g, const char *fixture) {
    mg_store_init(&g->store);
    snprintf(g->fixture, sizeof g->fixture, "%s", fixture);
    char rel[256];
    snprintf(rel, sizeof rel, "%s/golden.safetensors", fixture);
    mg_status st = mg_safetensors_load(&g->store, test_ref_path(rel));
    if (st != MG_OK) {
        fprintf(stderr, "FAIL: cannot open golden tensors of %s: %s\n", fixture, mg_last_error());
        test_failures++;
        return 0;
    }
    return 1;
}

void test_golden_close(test_golden *g) { mg_store_free(&g->store); }

const mg_tensor *test_golden_get(test_golden *g, const char *name) {
    mg_store_entry *e = mg_store_find(&g->store, name);
    if (!e) {
        fprintf(stderr, "FAIL: golden tensor %s missing in %s\n", name, g->fixture);
        test_failures++;
        exit(test_finish("golden"));
    }
    return &e->t;
}

char *test_golden_metadata(const char *fixture, const char *key) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/golden.safetensors", fixture);
    FILE *f = fopen(test_ref_path(rel), "rb");
    if (!f)
        return NULL;
    uint8_t len8[8];
    char *res = NULL;
    if (fread(len8, 1, 8, f) == 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = (n << 8) | len8[i];
        char *h = malloc(n + 1);
        if (h && fread(h, 1, n, f) == n) {
            h[n] = 0;
            cJSON *root = cJSON_Parse(h);
            cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
            cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
            if (cJSON_IsString(v))
                res = strdup(v->valuestring);
            cJSON_Delete(root);
        }
        free(h);
    }
    fclose(f);
    return res;
}

int test_fixture_open(const char *fixture, test_golden *g, mg_checkpoint *ck) {
    printf("%s:\n", fixture);
    if (!test_golden_open(g, fixture))
        return 0;
    mg_status st = mg_checkpoint_open(test_ref_path(fixture), ck);
    CHECK_OK(st);
    if (st != MG_OK) {
        test_golden_close(g);
        return 0;
    }
    return 1;
}

void test_fixture_close(test_golden *g, mg_checkpoint *ck) {
    mg_checkpoint_close(ck);
    test_golden_close(g);
}

double test_compare_f32(const char *name, const float *got, const float *want, int64_t n, double atol) {
    double max_abs = 0, max_rel = 0, max_ref = 0;
    int64_t worst = 0;
    int nonfinite = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            nonfinite++;
            continue;
        }
        double d = fabs((double)got[i] - (double)want[i]);
        double r = d / (fabs((double)want[i]) + 1e-6);
        if (d > max_abs) {
            max_abs = d;
            worst = i;
        }
        if (r > max_rel)
            max_rel = r;
        if (fabs(want[i]) > max_ref)
            max_ref = fabs(want[i]);
    }
    printf("  %-40s max abs err %.3e  max rel err %.3e  (|ref| max %.3g, %lld values)\n", name, max_abs, max_rel,
           max_ref, (long long)n);
    test_checks++;
    if (nonfinite || max_abs > atol) {
        test_failures++;
        fprintf(stderr, "FAIL %s: max abs err %.3e > %.1e at index %lld (got %.6g want %.6g)%s\n", name, max_abs, atol,
                (long long)worst, n ? got[worst] : 0.0, n ? want[worst] : 0.0, nonfinite ? " [non-finite values]" : "");
        if (nonfinite)
            max_abs = INFINITY;
    }
    return max_abs;
}

int64_t test_compare_i64(const char *name, const int64_t *got, const int64_t *want, int64_t n) {
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
            if (first < 0)
                first = i;
            bad++;
        }
    printf("  %-40s %lld of %lld values differ\n", name, (long long)bad, (long long)n);
    test_checks++;
    if (bad) {
        test_failures++;
        fprintf(stderr, "FAIL %s: %lld mismatches, first at index %lld (got %lld want %lld)\n", name, (long long)bad,
                (long long)first, (long long)got[first], (long long)want[first]);
    }
    return bad;
}
