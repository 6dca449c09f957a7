/* timing.c — clock, peak and current memory, memory still available (see timing.h). */
#include "base/timing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double mg_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t mg_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (int64_t)ru.ru_maxrss * 1024;
}

/* The number after `key` and `sep` on a line of a "key<sep> N" file, or -1. */
static int64_t keyed_number(const char *path, const char *key, char sep) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    size_t n = strlen(key);
    long long v = -1;
    while (v < 0 && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == sep && sscanf(line + n + 1, "%lld", &v) != 1)
            v = -1;
    fclose(f);
    return v;
}

int64_t mg_file_huge_mapped_bytes(void) {
    int64_t kb = keyed_number("/proc/self/smaps_rollup", "FilePmdMapped", ':');
    return kb < 0 ? -1 : kb * 1024;
}

int64_t mg_current_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long size = 0, resident = 0;
    int ok = fscanf(f, "%ld %ld", &size, &resident) == 2;
    fclose(f);
    return ok ? (int64_t)resident * sysconf(_SC_PAGESIZE) : -1;
}

/* One "Key: N kB" line of /proc/meminfo in bytes, or -1. */
static int64_t meminfo_bytes(const char *key) {
    int64_t kb = keyed_number("/proc/meminfo", key, ':');
    return kb < 0 ? -1 : kb * 1024;
}

/* A cgroup v2 file holding one number ("max" or absent: -1). */
static int64_t cgroup_number(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long long v = -1;
    if (fscanf(f, "%lld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

int64_t mg_memory_available_bytes(void) {
    const char *env = getenv("MG_MEMORY_LIMIT");
    if (env && *env) { /* the user's figure instead of the system's (which can undercount) */
        char *end;
        long long limit = strtoll(env, &end, 10);
        if (*end == 0 && limit >= 0)
            return limit;
    }
    int64_t avail = meminfo_bytes("MemAvailable"), swap = meminfo_bytes("SwapFree");
    if (avail >= 0 && swap > 0)
        avail += swap;
    int64_t max = cgroup_number("/sys/fs/cgroup/memory.max"), cur = cgroup_number("/sys/fs/cgroup/memory.current");
    if (max >= 0 && cur >= 0) {
        /* The group's page cache counts in memory.current but can be reclaimed. */
        int64_t file = keyed_number("/sys/fs/cgroup/memory.stat", "file", ' ');
        int64_t used = cur - (file > 0 && file < cur ? file : 0);
        int64_t left = max > used ? max - used : 0;
        if (avail < 0 || left < avail)
            avail = left;
    }
    return avail;
}
