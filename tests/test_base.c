/* test_base.c — unit tests of the base layer: arena alignment and reuse, the
 * thread pool (every task once, any thread count), big buffers faulted in by the pool
 * (every 4 KiB page, nothing past the end), RNG reproducibility, f16/bf16
 * conversions, error messages, atomic output files, mapped files read into the page
 * cache in order, and the CPUs and memory a process may use (affinity mask, cgroup v2 /
 * v1 quotas and limits from fake trees, CPU topology). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "test.h"
#include "base/arena.h"
#include "base/bigbuf.h"
#include "base/resources.h"
#include "base/file.h"
#include "base/pool.h"
#include "base/rng.h"
#include "base/status.h"
#include "base/timing.h"
#include "tensor/tensor.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_arena(void) {
    mg_arena a;
    mg_arena_init(&a, 1000);
    void *p1 = mg_arena_alloc(&a, 10);
    void *p2 = mg_arena_alloc(&a, 5000); /* bigger than a block */
    CHECK(p1 && p2, "allocations");
    CHECK(((uintptr_t)p1 & 63) == 0 && ((uintptr_t)p2 & 63) == 0, "64-byte alignment");
    mg_arena_free(&a);
    mg_arena_init(&a, 1 << 16);
    mg_arena_alloc(&a, 10);
    mg_arena_mark m = mg_arena_save(&a);
    void *p3 = mg_arena_alloc(&a, 100);
    mg_arena_alloc(&a, 1 << 17); /* spills into a second block, freed by restore */
    mg_arena_restore(&a, m);
    void *p4 = mg_arena_alloc(&a, 100);
    CHECK(p3 == p4, "restore rewinds");
    mg_arena_free(&a);
}

typedef struct {
    atomic_int count[1000];
} pool_job;

static void pool_task(void *arg, int task) {
    pool_job *j = arg;
    atomic_fetch_add(&j->count[task], 1);
}

static void test_pool(void) {
    for (int threads = 1; threads <= 4; threads++) {
        mg_pool *p = mg_pool_new(threads);
        CHECK(p != NULL, "pool of %d", threads);
        for (int round = 0; round < 200; round++) {
            pool_job *j = calloc(1, sizeof *j);
            int n = 1 + round * 5 % 1000;
            mg_pool_run(p, pool_task, j, n);
            int ok = 1;
            for (int i = 0; i < 1000; i++)
                ok &= atomic_load(&j->count[i]) == (i < n ? 1 : 0);
            CHECK(ok, "each task ran once (threads %d, round %d)", threads, round);
            free(j);
        }
        CHECK(mg_pool_threads(p) == threads, "thread count");
        mg_pool_free(p);
    }
}

/* mg_pool_run_ranges hands every unit out exactly once, whatever the thread count, unit
 * count and least claim; it declines one thread, no pool and counts beyond 32 bits. */
typedef struct {
    atomic_int *count;
    int64_t least;
    atomic_int runs;
} ranges_probe;

static void ranges_fn(void *arg, int64_t u0, int64_t u1) {
    ranges_probe *r = arg;
    for (int64_t u = u0; u < u1; u++)
        atomic_fetch_add(&r->count[u], 1);
    atomic_fetch_add(&r->runs, 1);
}

static int64_t ranges_least(void *arg, int64_t unit) {
    (void)unit;
    return ((ranges_probe *)arg)->least;
}

static void test_pool_ranges(void) {
    const int64_t sizes[] = {0, 1, 3, 7, 64, 1000, 100003};
    mg_pool *one = mg_pool_new(1);
    ranges_probe r0 = {NULL, 1, 0};
    CHECK(mg_pool_run_ranges(one, 10, NULL, ranges_fn, &r0) == 0 && atomic_load(&r0.runs) == 0,
          "one thread: declined, nothing run");
    CHECK(mg_pool_run_ranges(NULL, 10, NULL, ranges_fn, &r0) == 0, "no pool: declined");
    mg_pool_free(one);
    for (int threads = 2; threads <= 5; threads++) {
        mg_pool *p = mg_pool_new(threads);
        CHECK(mg_pool_run_ranges(p, (int64_t)1 << 33, NULL, ranges_fn, &r0) == 0, "2^33 units: declined");
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
            for (int64_t least = 1; least <= 9; least += 8)
                for (int rep = 0; rep < 20; rep++) {
                    int64_t n = sizes[k];
                    ranges_probe r = {calloc((size_t)(n ? n : 1), sizeof(atomic_int)), least, 0};
                    CHECK(mg_pool_run_ranges(p, n, rep & 1 ? ranges_least : NULL, ranges_fn, &r) == 1,
                          "%lld units on %d threads: run", (long long)n, threads);
                    int64_t bad = 0;
                    for (int64_t u = 0; u < n; u++)
                        bad += atomic_load(&r.count[u]) != 1;
                    CHECK(bad == 0, "%lld units, %d threads, least %lld: %lld units not run exactly once",
                          (long long)n, threads, (long long)least, (long long)bad);
                    free(r.count);
                }
        mg_pool_free(p);
    }
}

/* mg_pool_thread_index is 0 on the caller and 1 .. threads-1 on the workers, and
 * prefetch hints change no result: every unit still runs exactly once, with hints on
 * readable memory, on a region unmapped since (prefetches never fault) and none. */
typedef struct {
    atomic_int index_seen[8];
    atomic_int bad_index;
} index_probe;

static void index_task(void *arg, int task) {
    (void)task;
    index_probe *ip = arg;
    int i = mg_pool_thread_index();
    if (i < 0 || i >= 8)
        atomic_store(&ip->bad_index, 1);
    else
        atomic_store(&ip->index_seen[i], 1);
    for (volatile int spin = 0; spin < 2000; spin++) {
    }
}

static void test_pool_hints(void) {
    CHECK(mg_pool_thread_index() == 0, "the test's own thread has index 0");
    size_t big = (size_t)4 << 20;
    uint8_t *buf = calloc(1, big);
    void *gone = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(buf && gone != MAP_FAILED, "hint buffers");
    munmap(gone, big);
    const mg_pool_region hints[3] = {{buf, big}, {gone, big}, {buf + 4096, 1000}};
    for (int threads = 1; threads <= 4; threads++) {
        mg_pool *p = mg_pool_new(threads);
        index_probe ip;
        memset(&ip, 0, sizeof ip);
        for (int round = 0; round < 50; round++) {
            mg_pool_prefetch_after(p, hints + round % 3, round / 3 % (4 - round % 3)); /* 0 .. all of the rest */
            mg_pool_run(p, index_task, &ip, 64);
        }
        CHECK(!atomic_load(&ip.bad_index), "%d threads: indices in range", threads);
        int seen_beyond = 0;
        for (int i = threads; i < 8; i++)
            seen_beyond |= atomic_load(&ip.index_seen[i]);
        CHECK(atomic_load(&ip.index_seen[0]) && !seen_beyond, "%d threads: the caller is 0, no index >= %d", threads,
              threads);
        for (int rep = 0; rep < 40; rep++) {
            int64_t n = 1 + rep * 997 % 5000;
            ranges_probe r = {calloc((size_t)n, sizeof(atomic_int)), 1 + rep % 3, 0};
            mg_pool_prefetch_after(p, hints + rep % 3, 3 - rep % 3);
            mg_pool_run_keep_hint(p, index_task, &ip, 1 + rep % 4); /* leaves the hint for the next job */
            if (!mg_pool_run_ranges(p, n, ranges_least, ranges_fn, &r))
                ranges_fn(&r, 0, n); /* one thread: declined */
            mg_pool_prefetch_after(p, hints, 3);
            mg_pool_run(p, index_task, &ip, 3);
            int64_t bad = 0;
            for (int64_t u = 0; u < n; u++)
                bad += atomic_load(&r.count[u]) != 1;
            CHECK(bad == 0, "%d threads, hinted: %lld of %lld units not run exactly once", threads, (long long)bad,
                  (long long)n);
            free(r.count);
        }
        mg_pool_free(p);
    }
    free(buf);
}

/* Each task records whether its thread blocks SIGINT / SIGTERM (a host's signals must
 * reach the host's threads, not the pool's) and leaves SIGBUS deliverable. */
typedef struct {
    pthread_t caller;
    atomic_int arrived, workers_seen, workers_quiet, faults_blocked;
} mask_job;

static void mask_task(void *arg, int task) {
    (void)task;
    mask_job *j = arg;
    if (pthread_equal(pthread_self(), j->caller))
        return;
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    atomic_fetch_add(&j->workers_seen, 1);
    atomic_fetch_add(&j->workers_quiet, sigismember(&cur, SIGINT) && sigismember(&cur, SIGTERM));
    atomic_fetch_add(&j->faults_blocked, sigismember(&cur, SIGBUS) || sigismember(&cur, SIGSEGV));
}

/* Every task waits (up to 0.2 s) until all three have started, so each thread of the
 * pool holds one and the workers surely run some. */
static void mask_task_spread(void *arg, int task) {
    mask_job *j = arg;
    atomic_fetch_add(&j->arrived, 1);
    for (int i = 0; i < 200 && atomic_load(&j->arrived) < 3; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    mask_task(arg, task);
}

static void test_pool_signal_mask(void) {
    mg_pool *p = mg_pool_new(3);
    mask_job j = {.caller = pthread_self()};
    for (int round = 0; round < 20 && atomic_load(&j.workers_seen) == 0; round++) {
        atomic_store(&j.arrived, 0);
        mg_pool_run(p, mask_task_spread, &j, 3);
    }
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    CHECK(atomic_load(&j.workers_seen) > 0, "the workers ran tasks");
    CHECK(atomic_load(&j.workers_quiet) == atomic_load(&j.workers_seen) && atomic_load(&j.faults_blocked) == 0,
          "workers block SIGINT / SIGTERM (%d of %d) and no fault signal (%d)", atomic_load(&j.workers_quiet),
          atomic_load(&j.workers_seen), atomic_load(&j.faults_blocked));
    CHECK(!sigismember(&cur, SIGINT), "the caller's signal mask is left as it was");
    mg_pool_free(p);
}

/* mg_bigbuf_prefault writes one zero per 4 KiB page of the range and nothing else. */
static void test_bigbuf_prefault(void) {
    const size_t sizes[] = {100, 4096, ((size_t)5 << 20) + 12345};
    for (int threads = 0; threads <= 2; threads++) {
        mg_pool *pool = threads ? mg_pool_new(threads) : NULL; /* NULL: the caller alone */
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t n = sizes[k];
            unsigned char *b = mg_bigbuf_alloc(n);
            CHECK(b != NULL, "bigbuf of %zu bytes", n);
            memset(b, 0xAB, n);
            mg_bigbuf_prefault(pool, b, n);
            size_t bad = 0;
            for (size_t i = 0; i < n; i++)
                bad += b[i] != (i % 4096 ? 0xAB : 0);
            CHECK(bad == 0, "prefault of %zu bytes, %d threads: %zu bytes wrong", n, threads, bad);
            free(b);
        }
        mg_bigbuf_prefault(pool, NULL, 10); /* nothing to do */
        mg_pool_free(pool);
    }
}

static void count_warnings(mg_log_level level, const char *msg, void *user) {
    if (level == MG_LOG_WARN && strstr(msg, "MG_MEMORY_LIMIT"))
        ++*(int *)user;
}

/* What a generation may count on: the system's figure, or MG_MEMORY_LIMIT instead. */
static void test_memory_available(void) {
    unsetenv("MG_MEMORY_LIMIT");
    int64_t sys = mg_memory_available_bytes();
    CHECK(sys > 0, "available memory %lld bytes (this is Linux: MemAvailable exists)", (long long)sys);
    setenv("MG_MEMORY_LIMIT", "12345", 1);
    CHECK(mg_memory_available_bytes() == 12345, "MG_MEMORY_LIMIT caps it: %lld", (long long)mg_memory_available_bytes());
    setenv("MG_MEMORY_LIMIT", "12x", 1); /* malformed: ignored, not read as 12 */
    mg_set_log_callback(NULL, NULL);
    CHECK(mg_memory_available_bytes() > (1 << 20), "malformed MG_MEMORY_LIMIT: %lld", (long long)mg_memory_available_bytes());
    /* Its warning, lost while no callback was there, reaches the first one installed, once. */
    int warnings = 0;
    mg_set_log_callback(count_warnings, &warnings);
    mg_memory_available_bytes();
    mg_memory_available_bytes();
    mg_set_log_callback(NULL, NULL);
    CHECK(warnings == 1, "one MG_MEMORY_LIMIT warning once a callback is installed (got %d)", warnings);
    setenv("MG_MEMORY_LIMIT", "99999999999999999", 1); /* above the system's figure: it replaces it */
    CHECK(mg_memory_available_bytes() == 99999999999999999LL, "a limit above the system's: %lld",
          (long long)mg_memory_available_bytes());
    unsetenv("MG_MEMORY_LIMIT");
}

/* A file under root (folders made as needed) holding `text`. */
static void put(const char *root, const char *rel, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    char *slash = strrchr(path, '/');
    *slash = 0;
    CHECK_OK(mg_mkdirs(path, "a test folder", NULL));
    *slash = '/';
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "create %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void remove_tree(const char *root) {
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0, "remove %s", root);
}

/* CPU quotas and memory limits read from fake cgroup trees, as the kernel lays them
 * out for cgroup v2, v1, a hybrid host and a container's own view; physical cores from
 * a fake CPU topology; and the real affinity mask (sched_setaffinity to one CPU). */
static void test_resources(void) {
    char root[] = "/tmp/mg_res_XXXXXX";
    CHECK(mkdtemp(root) != NULL, "mkdtemp");
    char d[64];

    /* Nothing there: no limits. */
    CHECK(mg_cgroup_cpu_quota(root) == 0 && mg_cgroup_memory_left(root) == -1, "no cgroup files: no limits");

    /* v2: a service inside a slice; the slice's limits are the tighter ones. */
    snprintf(d, sizeof d, "%s/v2", root);
    put(d, "proc/self/cgroup", "0::/app.slice/mg.service\n");
    put(d, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put(d, "sys/fs/cgroup/app.slice/cpu.max", "150000 100000\n");
    put(d, "sys/fs/cgroup/app.slice/mg.service/cpu.max", "max 100000\n");
    put(d, "sys/fs/cgroup/app.slice/memory.max", "1000000000\n");
    put(d, "sys/fs/cgroup/app.slice/memory.current", "700000000\n");
    put(d, "sys/fs/cgroup/app.slice/memory.stat", "anon 400000000\nfile 200000000\n");
    put(d, "sys/fs/cgroup/app.slice/mg.service/memory.max", "max\n");
    put(d, "sys/fs/cgroup/app.slice/mg.service/memory.current", "300000000\n");
    CHECK(fabs(mg_cgroup_cpu_quota(d) - 1.5) < 1e-9, "v2 quota from the parent slice: %g", mg_cgroup_cpu_quota(d));
    CHECK(mg_cgroup_memory_left(d) == 500000000, "v2 memory left under the slice: %lld (1e9 - (7e8 - 2e8 file))",
          (long long)mg_cgroup_memory_left(d));
    put(d, "sys/fs/cgroup/app.slice/mg.service/cpu.max", "50000 100000\n");
    CHECK(fabs(mg_cgroup_cpu_quota(d) - 0.5) < 1e-9, "v2: the tighter of group and parent: %g", mg_cgroup_cpu_quota(d));

    /* A group outside this cgroup namespace ("/../..") or removed (" (deleted)"): no
     * folder of ours to read, so no limits (never the folders above the mount). */
    put(d, "proc/self/cgroup", "0::/../..\n");
    put(d, "sys/cpu.max", "100000 100000\n");
    CHECK(mg_cgroup_cpu_quota(d) == 0, "a path outside the namespace is not followed: %g", mg_cgroup_cpu_quota(d));
    put(d, "proc/self/cgroup", "0::/app.slice/mg.service (deleted)\n");
    CHECK(mg_cgroup_cpu_quota(d) == 0, "a deleted group is not read: %g", mg_cgroup_cpu_quota(d));

    /* v2 inside a container: /proc/self/cgroup says "/", the mount is the group. */
    snprintf(d, sizeof d, "%s/ct", root);
    put(d, "proc/self/cgroup", "0::/\n");
    put(d, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    put(d, "sys/fs/cgroup/cpu.max", "200000 100000\n");
    put(d, "sys/fs/cgroup/memory.max", "max\n");
    CHECK(fabs(mg_cgroup_cpu_quota(d) - 2.0) < 1e-9 && mg_cgroup_memory_left(d) == -1,
          "container v2: quota %g, memory unlimited", mg_cgroup_cpu_quota(d));

    /* v1 (hybrid host: the unified line exists without controllers): a docker group
     * under combined cpu,cpuacct and memory mounts. */
    snprintf(d, sizeof d, "%s/v1", root);
    put(d, "proc/self/cgroup", "0::/\n4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n");
    put(d, "sys/fs/cgroup/unified/cgroup.procs", "\n");
    put(d, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n");
    put(d, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    put(d, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "2000000000\n");
    put(d, "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", "900000000\n");
    put(d, "sys/fs/cgroup/memory/docker/abc/memory.stat",
        "cache 1\nhierarchical_memory_limit 1500000000\ntotal_cache 300000000\n");
    CHECK(fabs(mg_cgroup_cpu_quota(d) - 2.5) < 1e-9, "v1 quota: %g", mg_cgroup_cpu_quota(d));
    CHECK(mg_cgroup_memory_left(d) == 900000000, "v1 memory left under the hierarchical limit: %lld",
          (long long)mg_cgroup_memory_left(d));
    put(d, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
    put(d, "sys/fs/cgroup/memory/docker/abc/memory.stat", "hierarchical_memory_limit 9223372036854771712\n");
    put(d, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712\n");
    CHECK(mg_cgroup_cpu_quota(d) == 0 && mg_cgroup_memory_left(d) == -1, "v1 unlimited");

    /* CPU topology: CPUs 0-3 are two cores with two hardware threads each (one listing
     * its siblings in core_cpus_list, the other only in the older thread_siblings_list),
     * 4 and 5 one core each whose core_id restarts at 0 (a device-tree ARM cluster):
     * the sibling lists, not core_id, tell cores apart. */
    snprintf(d, sizeof d, "%s/topo", root);
    static const char *const sib[6] = {"0-1", "0-1", "2-3", "2-3", "4", "5"};
    for (int c = 0; c < 6; c++) {
        char rel[128], v[16];
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/%s", c,
                 c == 2 || c == 3 ? "thread_siblings_list" : "core_cpus_list");
        snprintf(v, sizeof v, "%s\n", sib[c]);
        put(d, rel, v);
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/core_id", c);
        put(d, rel, "0\n");
    }
    const int four[4] = {0, 1, 2, 3}, two[2] = {0, 1}, six[6] = {0, 1, 2, 3, 4, 5}, other[2] = {0, 7};
    CHECK(mg_cpu_cores_among(d, four, 4) == 2, "4 hardware threads on 2 cores");
    CHECK(mg_cpu_cores_among(d, two, 2) == 1, "2 siblings: 1 core");
    CHECK(mg_cpu_cores_among(d, six, 6) == 4, "the same core_id in another cluster is another core");
    CHECK(mg_cpu_cores_among(d, other, 2) == 2, "no topology for a CPU: count CPUs");
    int cpus6[6] = {0, 1, 2, 3, 4, 5};
    CHECK(mg_cpu_default_among(d, cpus6, 6) == 4, "one kind of core: every physical core");

    /* Intel hybrid: CPUs 0-3 are two performance cores with two threads each, 4-7 four
     * efficient cores; cpu_core lists the performance ones. */
    snprintf(d, sizeof d, "%s/hybrid", root);
    static const char *const hsib[8] = {"0-1", "0-1", "2-3", "2-3", "4", "5", "6", "7"};
    for (int c = 0; c < 8; c++) {
        char rel[128], v[16];
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/core_cpus_list", c);
        snprintf(v, sizeof v, "%s\n", hsib[c]);
        put(d, rel, v);
    }
    put(d, "sys/devices/cpu_core/cpus", "0-3\n");
    put(d, "sys/devices/cpu_atom/cpus", "4-7\n");
    int h8[8] = {0, 1, 2, 3, 4, 5, 6, 7}, e4[4] = {4, 5, 6, 7};
    CHECK(mg_cpu_default_among(d, h8, 8) == 2, "hybrid: the 2 performance cores");
    CHECK(mg_cpu_default_among(d, e4, 4) == 4, "only efficient cores allowed: all of them");
    put(d, "sys/devices/cpu_core/cpus", "0-1,3\n");
    int h8b[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    CHECK(mg_cpu_default_among(d, h8b, 8) == 2, "a list with a range and a single CPU");

    /* ARM big.LITTLE: capacities 1024 / 870 / 400 (prime, big, little), one CPU a core. */
    snprintf(d, sizeof d, "%s/arm", root);
    static const int capacity[8] = {400, 400, 400, 400, 870, 870, 870, 1024};
    for (int c = 0; c < 8; c++) {
        char rel[128], v[16];
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/cpu_capacity", c);
        snprintf(v, sizeof v, "%d\n", capacity[c]);
        put(d, rel, v);
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/core_cpus_list", c);
        snprintf(v, sizeof v, "%d\n", c);
        put(d, rel, v);
    }
    int a8[8] = {0, 1, 2, 3, 4, 5, 6, 7}, little[2] = {0, 1};
    CHECK(mg_cpu_default_among(d, a8, 8) == 4, "big.LITTLE: the prime and big cores (%d)", 4);
    CHECK(mg_cpu_default_among(d, little, 2) == 2, "only little cores allowed: both");
    remove_tree(root);

    /* This machine, pinned to one CPU (as taskset -c N or a 1-CPU cpuset would). */
    cpu_set_t old, one;
    if (sched_getaffinity(0, sizeof old, &old) == 0) {
        int first = 0;
        while (first < CPU_SETSIZE && !CPU_ISSET(first, &old))
            first++;
        CPU_ZERO(&one);
        CPU_SET(first, &one);
        CHECK(sched_setaffinity(0, sizeof one, &one) == 0, "pin to CPU %d", first);
        CHECK(mg_cpu_count() == 1 && mg_cpu_default_threads() == 1 && mg_cpu_threads(8) == 1 && mg_cpu_threads(0) == 1,
              "pinned to one CPU: count %d, default %d", mg_cpu_count(), mg_cpu_default_threads());
        mg_pool *pool = mg_pool_new(mg_cpu_threads(0));
        CHECK(pool && mg_pool_threads(pool) == 1, "a default pool pinned to one CPU has 1 thread");
        mg_pool_free(pool);
        CHECK(sched_setaffinity(0, sizeof old, &old) == 0, "restore the affinity mask");
    }
    int cpus = mg_cpu_count(), def = mg_cpu_default_threads();
    CHECK(cpus >= 1 && def >= 1 && def <= cpus && mg_cpu_threads(1000) == cpus, "this machine: %d CPUs, default %d threads",
          cpus, def);
}

static void test_rng(void) {
    mg_rng a, b;
    mg_rng_seed(&a, 42);
    mg_rng_seed(&b, 42);
    int same = 1;
    double mean = 0;
    for (int i = 0; i < 100000; i++) {
        double x = mg_rng_uniform(&a);
        same &= x == mg_rng_uniform(&b);
        CHECK(x >= 0 && x < 1, "uniform range");
        mean += x;
    }
    mean /= 100000;
    CHECK(same, "same seed, same sequence");
    CHECK(fabs(mean - 0.5) < 0.01, "uniform mean %g", mean);
    mg_rng_seed(&b, 43);
    CHECK(mg_rng_next(&a) != mg_rng_next(&b), "different seeds differ");
}

static void test_half(void) {
    /* Exhaustive round trip of every finite half value through f32. */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if (((h >> 10) & 0x1F) == 0x1F)
            continue;
        float f = mg_f16_to_f32((uint16_t)h);
        if (mg_f32_to_f16(f) != h)
            bad++;
    }
    CHECK(bad == 0, "%d f16 round-trip failures", bad);
    CHECK(mg_f16_to_f32(0x3C00) == 1.0f && mg_f16_to_f32(0xC000) == -2.0f, "f16 constants");
    CHECK(mg_f32_to_f16(65520.0f) == 0x7C00, "f16 overflow to inf");
    CHECK(mg_f32_to_f16(1.0f + 1.0f / 2048) == 0x3C00, "f16 ties to even");
    CHECK(mg_bf16_to_f32(mg_f32_to_bf16(3.140625f)) == 3.140625f, "bf16 exact value");
    CHECK(mg_f32_to_bf16(1.00390625f) == 0x3F80, "bf16 ties to even");
}

static void test_quant_roundtrip(void) {
    float x[64], y[64];
    mg_rng r;
    mg_rng_seed(&r, 1);
    for (int i = 0; i < 64; i++)
        x[i] = (float)mg_rng_normal(&r);
    mg_block_q8_0 q8[2];
    mg_block_q4_0 q4[2];
    mg_row_from_f32(MG_DT_Q8_0, x, q8, 64);
    mg_row_to_f32(MG_DT_Q8_0, q8, y, 64);
    double e8 = 0, e4 = 0;
    for (int i = 0; i < 64; i++)
        e8 = fmax(e8, fabs(x[i] - y[i]));
    mg_row_from_f32(MG_DT_Q4_0, x, q4, 64);
    mg_row_to_f32(MG_DT_Q4_0, q4, y, 64);
    for (int i = 0; i < 64; i++)
        e4 = fmax(e4, fabs(x[i] - y[i]));
    printf("  q8_0 round trip max err %.4f, q4_0 %.4f (inputs ~N(0,1))\n", e8, e4);
    CHECK(e8 < 0.03, "q8_0 error %g", e8);
    CHECK(e4 < 0.5, "q4_0 error %g", e4);
}

/* A row of f32 to f16 (SIMD where the CPU has F16C) gives mg_f32_to_f16's bits for
 * every input: every 61st bit pattern (all exponents, NaNs and infinities included, in
 * rows of 1000 so NaNs stop the fast path mid-row) and the rounding edge cases. */
static void test_f16_rows(void) {
    enum { N = 1000 };
    float x[N];
    uint16_t got[N];
    int bad = 0;
    uint64_t u = 0;
    while (u <= 0xFFFFFFFFu) {
        for (int i = 0; i < N; i++, u += 61) {
            uint32_t b = (uint32_t)u;
            memcpy(&x[i], &b, 4);
        }
        mg_row_from_f32(MG_DT_F16, x, got, N);
        for (int i = 0; i < N; i++)
            bad += got[i] != mg_f32_to_f16(x[i]);
    }
    const float edge[] = {65519.0f, 65520.0f, -65520.0f, 6.103515625e-05f, 5.9604645e-08f, 2.9802322e-08f,
                          2.9802326e-08f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, -0.0f, 1e-45f, 3.4e38f};
    int ne = (int)(sizeof edge / sizeof edge[0]);
    mg_row_from_f32(MG_DT_F16, edge, got, ne);
    for (int i = 0; i < ne; i++)
        bad += got[i] != mg_f32_to_f16(edge[i]);
    CHECK(bad == 0, "%d f32 -> f16 row conversions differ from mg_f32_to_f16", bad);
}

/* q8_0 blocks are ggml's, byte for byte: scale amax / 127 as f16, q = roundf(x / d)
 * with halves away from zero. Blocks whose amax is 127 make d exactly 1, so every
 * x.5 is a tie; other blocks use random scales. */
static void test_q8_0_matches_ggml(void) {
    mg_rng r;
    mg_rng_seed(&r, 7);
    int bad = 0;
    for (int b = 0; b < 2000; b++) {
        float x[MG_QK];
        double scale = b % 2 ? 1.0 : exp(mg_rng_normal(&r) * 3);
        for (int j = 0; j < MG_QK; j++)
            x[j] = b % 2 ? (float)(((int)(mg_rng_uniform(&r) * 253) - 126) + (j % 3 ? 0.5 : 0.0))
                         : (float)(mg_rng_normal(&r) * scale);
        if (b % 2)
            x[b % MG_QK] = b % 4 == 1 ? 127.0f : -127.0f;
        mg_block_q8_0 q;
        mg_row_from_f32(MG_DT_Q8_0, x, &q, MG_QK);
        float amax = 0;
        for (int j = 0; j < MG_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        bad += q.d != mg_f32_to_f16(d);
        for (int j = 0; j < MG_QK; j++)
            bad += q.qs[j] != (int8_t)roundf(x[j] * id);
    }
    CHECK(bad == 0, "%d q8_0 values differ from ggml's quantize_row_q8_0_ref", bad);
}

/* An x16 format holds exactly its block format's blocks, grouped: writing a matrix,
 * packing its rows in the block format, unpacking and reading rows back all agree, and
 * scales and values sit where tensor.h says. */
static void test_x16_layout(mg_dtype t) {
    enum { ROWS = 32, N = 96, NB = N / MG_QK, MAXB = sizeof(mg_block_q8_0) };
    const mg_dtype base = mg_dtype_x16_base(t);
    const size_t bsize = mg_dtype_row_bytes(base, MG_QK), rbytes = NB * bsize;
    static float x[ROWS * N], y[N], z[N];
    static mg_block_q8_0 rows_store[ROWS * NB], back_store[NB]; /* room for either block format */
    static uint8_t packed[ROWS * NB * MAXB], grouped[sizeof packed];
    uint8_t *rows = (uint8_t *)rows_store, *back = (uint8_t *)back_store;
    mg_rng r;
    mg_rng_seed(&r, 2);
    for (int i = 0; i < ROWS * N; i++)
        x[i] = (float)mg_rng_normal(&r);
    CHECK(mg_dtype_is_x16(t) && base != t && mg_dtype_x16_of(base) == t, "%s pairs with %s", mg_dtype_name(t),
          mg_dtype_name(base));
    CHECK(mg_dtype_row_bytes(t, N) == rbytes, "%s: same row size as %s", mg_dtype_name(t), mg_dtype_name(base));
    mg_matrix_from_f32(base, x, rows, ROWS, N);
    mg_matrix_from_f32(t, x, grouped, ROWS, N);
    for (int g = 0; g < ROWS / MG_X16_ROWS; g++)
        mg_x16_pack(t, rows + g * MG_X16_ROWS * rbytes, packed + g * MG_X16_ROWS * rbytes, N);
    CHECK(!memcmp(packed, grouped, ROWS * rbytes), "mg_matrix_from_f32(%s) == packed %s rows", mg_dtype_name(t),
          mg_dtype_name(base));
    int same = 1;
    for (int row = 0; row < ROWS; row++) {
        mg_matrix_row_to_f32(t, grouped, row, y, N);
        mg_matrix_row_to_f32(base, rows, row, z, N);
        same &= !memcmp(y, z, sizeof y);
        mg_x16_unpack(t, grouped + (row / MG_X16_ROWS) * MG_X16_ROWS * rbytes, row % MG_X16_ROWS, 0, NB, back);
        same &= !memcmp(back, rows + row * rbytes, rbytes);
    }
    CHECK(same, "%s rows read back as their %s rows", mg_dtype_name(t), mg_dtype_name(base));
    /* Group 1, block 2, row 5: its scale at byte 10 of the block. */
    const uint8_t *blk = grouped + MG_X16_ROWS * rbytes + 2 * MG_X16_ROWS * bsize;
    const uint8_t *src = rows + (MG_X16_ROWS + 5) * rbytes + 2 * bsize;
    CHECK(!memcmp(blk + 10, src, 2), "%s: scale position", mg_dtype_name(t));
    if (t == MG_DT_Q8_0X16) { /* values 6 and 7 in column pair 3 */
        const mg_block_q8_0 *q = (const mg_block_q8_0 *)src;
        CHECK((int8_t)blk[32 + 3 * 32 + 5 * 2] == q->qs[6] && (int8_t)blk[32 + 3 * 32 + 5 * 2 + 1] == q->qs[7],
              "q8_0x16 byte layout");
    } else { /* piece 1, byte 2 of row 5: value 10 low, value 14 high (both low nibbles in q4_0) */
        const mg_block_q4_0 *q = (const mg_block_q4_0 *)src;
        uint8_t v = blk[32 + 64 + 4 * 5 + 2];
        CHECK((v & 0x0F) == (q->qs[10] & 0x0F) && (v >> 4) == (q->qs[14] & 0x0F), "q4_0x16 byte layout");
        v = blk[32 + 3 * 64 + 4 * 5 + 1]; /* piece 3, byte 1: values 25 and 29 (high nibbles of 9, 13) */
        CHECK((v & 0x0F) == q->qs[9] >> 4 && (v >> 4) == q->qs[13] >> 4, "q4_0x16 byte layout, high half");
    }
}

static void test_errors(void) {
    mg_status st = mg_fail(MG_ERR_FORMAT, "tensor %s is bad", "x.weight");
    CHECK(st == MG_ERR_FORMAT, "status returned");
    CHECK(strstr(mg_last_error(), "x.weight") != NULL, "message kept: %s", mg_last_error());
    mg_fail_context(MG_ERR_FORMAT, "loading %s", "model");
    CHECK(!strncmp(mg_last_error(), "loading model: tensor", 21), "context prefix: %s", mg_last_error());
    CHECK(!strcmp(mg_last_error(), "loading model: tensor x.weight is bad"), "whole message: %s", mg_last_error());
    mg_clear_error();
    mg_fail_context(MG_ERR_FORMAT, "only %s", "context");
    CHECK(!strcmp(mg_last_error(), "only context"), "context without a message: %s", mg_last_error());
    /* Contexts piled on a long message are cut to the buffer, keeping the start. */
    char long_name[900];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    mg_fail(MG_ERR_FORMAT, "%s", long_name);
    for (int i = 0; i < 3; i++)
        mg_fail_context(MG_ERR_FORMAT, "level %d (%s)", i, long_name);
    size_t n = strlen(mg_last_error());
    CHECK(n >= 1000 && n < 1100 && !strncmp(mg_last_error(), "level 2 (aaa", 12), "long messages cut: %zu bytes", n);
    CHECK(strcmp(mg_status_string(MG_ERR_IO), "I/O error") == 0, "status names");
}

static void test_atomic_file(void) {
    char dir[] = "/tmp/mg_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char *path = mg_path_join(dir, "out.bin");
    mg_atomic_file af;
    CHECK_OK(mg_atomic_open(&af, path, 0));
    fputs("hello", af.fp);
    CHECK(!mg_path_exists(path), "not visible before commit");
    CHECK_OK(mg_atomic_commit(&af, 0));
    CHECK(mg_path_exists(path), "visible after commit");
    CHECK(mg_atomic_open(&af, path, 0) == MG_ERR_EXISTS, "refuses to overwrite");
    CHECK_OK(mg_atomic_open(&af, path, 1));
    mg_atomic_abort(&af);
    char *data;
    size_t n;
    CHECK_OK(mg_file_read_all(path, &data, &n));
    CHECK(n == 5 && !memcmp(data, "hello", 5), "abort keeps the old file");
    free(data);
    char *missing = mg_path_join(dir, "nope/out.bin");
    CHECK(mg_check_output_path(missing, 0) == MG_ERR_IO, "missing folder detected");
    CHECK(strstr(mg_last_error(), "does not exist") != NULL, "message: %s", mg_last_error());
    /* An output that is a symbolic link: the file it points to is written, the link stays. */
    char *link = mg_path_join(dir, "link.bin"), *dangling = mg_path_join(dir, "dangling.bin");
    CHECK(symlink("out.bin", link) == 0 && symlink("gone.bin", dangling) == 0, "symlinks");
    CHECK_OK(mg_atomic_open(&af, link, 1));
    fputs("bye", af.fp);
    CHECK_OK(mg_atomic_commit(&af, 1));
    struct stat lst;
    CHECK(lstat(link, &lst) == 0 && S_ISLNK(lst.st_mode), "the link was replaced by a file");
    CHECK_OK(mg_file_read_all(path, &data, &n));
    CHECK(n == 3 && !memcmp(data, "bye", 3), "the link's target was not written");
    free(data);
    CHECK(mg_atomic_open(&af, dangling, 1) == MG_ERR_INVALID_ARG && strstr(mg_last_error(), "leads nowhere"),
          "a dangling link: %s", mg_last_error());
    unlink(link);
    unlink(dangling);
    free(link);
    free(dangling);
    unlink(path);
    rmdir(dir);
    free(path);
    free(missing);
}

static double resident_fraction(const void *p, size_t size) {
    long page = sysconf(_SC_PAGESIZE);
    size_t n = (size + (size_t)page - 1) / (size_t)page, in = 0;
    unsigned char *v = malloc(n);
    if (!v || mincore((void *)p, size, v) != 0) {
        free(v);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        in += v[i] & 1;
    free(v);
    return (double)in / (double)n;
}

/* mg_file_map_huge advises exactly the whole 2 MiB pages inside its range: this
 * process's mapping of `path` then has a VMA flagged "hg" from the first 2 MiB boundary
 * at or after the start to the last one at or before the end (whether the kernel then
 * maps 2 MiB folios depends on the file system; that part is only printed). */
static void check_map_huge(const mg_mapped_file *f, const char *path) {
    const uintptr_t huge = (uintptr_t)2 << 20;
    const uint8_t *start = f->data + ((size_t)1 << 20) + 5;
    const size_t len = (size_t)9 << 20;
    mg_file_map_huge(f, start, len);
    uintptr_t want_lo = ((uintptr_t)start + huge - 1) / huge * huge, want_hi = ((uintptr_t)start + len) / huge * huge;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < len; i += 4096)
        sink ^= start[i]; /* fault the range back in */
    (void)sink;
    FILE *maps = fopen("/proc/self/smaps", "r");
    if (!maps) {
        printf("  (no /proc/self/smaps: huge-page advice not observable)\n");
        return;
    }
    char line[512], *real = realpath(path, NULL);
    unsigned long lo = 0, hi = 0;
    int in_file = 0, found = 0;
    long pmd_kb = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2) { /* a mapping's first line; anonymous ones end the file's */
            in_file = real && strstr(line, real) != NULL;
            lo = a;
            hi = b;
        } else if (in_file && !strncmp(line, "FilePmdMapped:", 14)) {
            pmd_kb += strtol(line + 14, NULL, 10);
        } else if (in_file && !strncmp(line, "VmFlags:", 8) && strstr(line, " hg")) {
            found = 1;
            CHECK(lo == want_lo && hi == want_hi, "huge-page range %#lx-%#lx, want %#lx-%#lx", lo, hi,
                  (unsigned long)want_lo, (unsigned long)want_hi);
        }
    }
    fclose(maps);
    free(real);
    CHECK(found, "no part of the mapping advised for huge pages");
    printf("  mg_file_map_huge: %lu MiB advised, %ld KiB mapped with 2 MiB pages once read\n",
           (unsigned long)((want_hi - want_lo) >> 20), pmd_kb);
}

/* mg_file_map reads a file's uncached parts in order before anyone touches them
 * (base/file.c: the page cache then keeps them contiguous): after mapping an evicted
 * file, all of it is cached, and the mapping holds the file's bytes. */
static void test_file_map_warms_cache(void) {
    char dir[] = "/tmp/mg_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char *path = mg_path_join(dir, "weights.bin");
    const size_t size = (size_t)13 << 20; /* not a multiple of the 4 MiB read */
    uint8_t *bytes = malloc(size);
    for (size_t i = 0; i < size; i++)
        bytes[i] = (uint8_t)(i * 2654435761u >> 24);
    mg_atomic_file af;
    CHECK_OK(mg_atomic_open(&af, path, 0));
    CHECK(fwrite(bytes, 1, size, af.fp) == size, "write");
    CHECK_OK(mg_atomic_commit(&af, 0));
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0 && fsync(fd) == 0 && posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0, "evict");
    void *probe = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0); /* a view never touched */
    CHECK(probe != MAP_FAILED, "probe mapping");
    double evicted = probe != MAP_FAILED ? resident_fraction(probe, size) : 1;
    mg_mapped_file f;
    CHECK_OK(mg_file_map(path, &f));
    if (evicted < 0.5) {
        double after = resident_fraction(probe, size);
        CHECK(after >= 0.999, "%.1f %% of the file in the page cache after mg_file_map (%.1f %% before)", 100 * after,
              100 * evicted);
    } else {
        printf("  (this file system keeps the file cached (%.0f %%): page-cache warming not observable)\n",
               100 * evicted);
    }
    CHECK(f.size == size && !memcmp(f.data, bytes, size), "mapping holds the file");
    check_map_huge(&f, path);
    CHECK(!memcmp(f.data, bytes, size), "mapping still holds the file after mg_file_map_huge");
    mg_file_unmap(&f);
    if (probe != MAP_FAILED)
        munmap(probe, size);
    close(fd);
    free(bytes);
    unlink(path);
    rmdir(dir);
    free(path);
}

int main(void) {
    test_arena();
    test_pool();
    test_pool_ranges();
    test_pool_hints();
    test_pool_signal_mask();
    test_bigbuf_prefault();
    test_memory_available();
    test_resources();
    test_rng();
    test_half();
    test_quant_roundtrip();
    test_q8_0_matches_ggml();
    test_f16_rows();
    test_x16_layout(MG_DT_Q8_0X16);
    test_x16_layout(MG_DT_Q4_0X16);
    test_errors();
    test_atomic_file();
    test_file_map_warms_cache();
    return test_finish("test_base");
}
