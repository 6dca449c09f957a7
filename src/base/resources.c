/* resources.c — CPUs and memory this process may use (see resources.h): the affinity
 * mask, /sys/devices/system/cpu topology, /proc/meminfo and the process's cgroup
 * (v2 unified, or v1 per controller; in a container whose /proc/self/cgroup names a
 * path its mount does not show, the mount's own files are the container's). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "base/resources.h"
#include "base/log.h"
#include "base/file.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Limits above this are "unlimited" (cgroup v1 writes 2^63 rounded to a page). */
#define NO_LIMIT ((int64_t)1 << 60)

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The cgroup path of `controller` in root/proc/self/cgroup ("" for the v2 line
 * "0::/path"), into out; the line's controller list (the v1 mount's folder name) into
 * mount_name. 0 if there is no such line. */
static int cgroup_path(const char *root, const char *controller, char *out, size_t cap, char *mount_name,
                       size_t mcap) {
    char path[4096];
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = 0; /* line: the hierarchy id; list: its controllers */
        const char *list = c1 + 1;
        if (!*controller) {
            found = !*list && !strcmp(line, "0");
        } else { /* one of the comma-separated names */
            size_t n = strlen(controller);
            for (const char *p = list; p && !found; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                found = !strncmp(p, controller, n) && (p[n] == ',' || p[n] == 0);
        }
        if (found) {
            snprintf(out, cap, "%s", c2 + 1);
            snprintf(mount_name, mcap, "%s", list);
        }
    }
    fclose(f);
    return found;
}

/* Calls visit(dir) for the process's cgroup folder of `controller` and each ancestor
 * up to the hierarchy's mount (v2: controller ""), until visit returns nonzero. */
typedef int (*dir_visit)(const char *dir, void *user);
static void walk_cgroup(const char *root, const char *controller, dir_visit visit, void *user) {
    char rel[2048], list[256];
    if (!cgroup_path(root, controller, rel, sizeof rel, list, sizeof list))
        return;
    /* A group outside this cgroup namespace shows as "/../..", a removed one ends in
     * " (deleted)": neither names a folder under the mount; its own limits are unknown. */
    size_t rl = strlen(rel), dl = strlen(" (deleted)");
    if (strstr(rel, "/..") || (rl >= dl && !strcmp(rel + rl - dl, " (deleted)")))
        return;
    /* v2: the unified mount (or its hybrid-mode place); v1: the controller's mount,
     * named after its controller list ("cpu,cpuacct") or the controller alone. */
    char mounts[3][512];
    int n_mounts = 0;
    if (!*controller) {
        snprintf(mounts[n_mounts++], sizeof mounts[0], "%s/sys/fs/cgroup", root);
        snprintf(mounts[n_mounts++], sizeof mounts[0], "%s/sys/fs/cgroup/unified", root);
    } else {
        snprintf(mounts[n_mounts++], sizeof mounts[0], "%s/sys/fs/cgroup/%s", root, list);
        snprintf(mounts[n_mounts++], sizeof mounts[0], "%s/sys/fs/cgroup/%s", root, controller);
    }
    for (int m = 0; m < n_mounts; m++) {
        char probe[640];
        snprintf(probe, sizeof probe, "%s/cgroup.controllers", mounts[m]); /* v2 mounts have it */
        if (!is_dir(mounts[m]) || (!*controller && access(probe, F_OK) != 0))
            continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s%s", mounts[m], rel);
        if (!is_dir(dir)) /* a container's view: its group is the mount itself */
            snprintf(dir, sizeof dir, "%s", mounts[m]);
        size_t base = strlen(mounts[m]);
        for (;;) {
            size_t len = strlen(dir);
            while (len > base && dir[len - 1] == '/')
                dir[--len] = 0;
            if (visit(dir, user))
                return;
            if (len <= base)
                break;
            char *slash = strrchr(dir + base, '/');
            if (!slash)
                break;
            *slash = 0;
        }
        return; /* the first mount that exists is the hierarchy */
    }
}

/* The first line of a small file (cgroup and sysfs files hold one), without its
 * newline, into out; 0 if the file cannot be read or the line is empty. */
static int first_line(const char *path, char *out, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (!ok)
        return 0;
    out[strcspn(out, "\n")] = 0;
    return out[0] != 0;
}

/* The first whitespace-separated fields of a small file, as text; 0 if unreadable. */
static int read_words(const char *dir, const char *name, char *a, char *b, size_t cap) {
    char path[4352], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int ok = first_line(path, line, sizeof line);
    a[0] = b[0] = 0;
    if (ok) {
        char fmt[32];
        snprintf(fmt, sizeof fmt, "%%%zus %%%zus", cap - 1, cap - 1);
        ok = sscanf(line, fmt, a, b) >= 1;
    }
    return ok;
}

static int64_t number_in(const char *dir, const char *name) {
    char a[64], b[64];
    if (!read_words(dir, name, a, b, sizeof a))
        return -1;
    char *end;
    long long v = strtoll(a, &end, 10);
    return *end || end == a ? -1 : v;
}

static int64_t keyed_in(const char *dir, const char *name, const char *key) {
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return mg_file_keyed_number(path, key, ' ');
}

/* ---- CPU quota -------------------------------------------------------------------- */

static int visit_cpu_v2(const char *dir, void *user) {
    double *q = user;
    char a[64], b[64];
    if (read_words(dir, "cpu.max", a, b, sizeof a) && strcmp(a, "max") != 0) {
        double quota = atof(a), period = *b ? atof(b) : 100000.0;
        if (quota > 0 && period > 0 && (*q == 0 || quota / period < *q))
            *q = quota / period;
    }
    return 0;
}

static int visit_cpu_v1(const char *dir, void *user) {
    double *q = user;
    int64_t quota = number_in(dir, "cpu.cfs_quota_us"), period = number_in(dir, "cpu.cfs_period_us");
    if (quota > 0 && period > 0 && (*q == 0 || (double)quota / (double)period < *q))
        *q = (double)quota / (double)period;
    return 0;
}

double mg_cgroup_cpu_quota(const char *root) {
    double q = 0;
    walk_cgroup(root, "", visit_cpu_v2, &q);
    if (q == 0)
        walk_cgroup(root, "cpu", visit_cpu_v1, &q);
    return q;
}

/* ---- CPUs ------------------------------------------------------------------------- */

/* The CPUs in this process's affinity mask into cpus (at most cap); their count, or 0
 * if the mask cannot be read. The mask is sized for the machine's CPUs (a fixed
 * cpu_set_t holds 1024 and makes the call fail on larger machines). */
static int affinity_cpus(int *cpus, int cap) {
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    int max = conf > CPU_SETSIZE ? (int)conf : CPU_SETSIZE;
    cpu_set_t *set = CPU_ALLOC(max);
    if (!set)
        return 0;
    size_t bytes = CPU_ALLOC_SIZE(max);
    CPU_ZERO_S(bytes, set);
    int n = 0;
    if (sched_getaffinity(0, bytes, set) == 0)
        for (int c = 0; c < max && n < cap; c++)
            if (CPU_ISSET_S(c, bytes, set))
                cpus[n++] = c;
    CPU_FREE(set);
    return n;
}

/* The CPUs sharing cpu's core (topology/core_cpus_list, or thread_siblings_list on
 * older kernels) as text into out; 0 if neither can be read. The list, not core_id,
 * names a core: device-tree ARM kernels restart core_id in every cluster and put
 * every CPU in package 0. */
static int core_siblings(const char *root, int cpu, char *out, size_t cap) {
    static const char *const names[2] = {"core_cpus_list", "thread_siblings_list"};
    for (int i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/sys/devices/system/cpu/cpu%d/topology/%s", root, cpu, names[i]);
        if (first_line(path, out, cap))
            return 1;
    }
    return 0;
}

int mg_cpu_cores_among(const char *root, const int *cpus, int n) {
    if (n <= 0)
        return n;
    char(*lists)[64] = malloc(sizeof *lists * (size_t)n);
    if (!lists)
        return n;
    int distinct = 0;
    for (int i = 0; i < n; i++) {
        char mine[64];
        if (!core_siblings(root, cpus[i], mine, sizeof mine)) {
            free(lists);
            return n; /* no topology (masked /sys): count every CPU */
        }
        int seen = 0;
        for (int j = 0; j < distinct && !seen; j++)
            seen = !strcmp(lists[j], mine);
        if (!seen)
            memcpy(lists[distinct++], mine, sizeof mine);
    }
    free(lists);
    return distinct;
}

/* A CPU list file ("0-5,8,10-11") as a bit set over [0, CPU_SETSIZE); 0 if absent. */
static int read_cpu_list(const char *path, unsigned char *in) {
    char line[4096];
    if (!first_line(path, line, sizeof line))
        return 0;
    memset(in, 0, CPU_SETSIZE);
    int any = 0;
    for (char *p = line; *p;) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p)
            return 0;
        if (*end == '-') {
            p = end + 1;
            b = strtol(p, &end, 10);
            if (end == p)
                return 0;
        }
        for (long c = a; c <= b && c < CPU_SETSIZE; c++)
            if (c >= 0)
                in[c] = 1, any = 1;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != 0)
            return 0;
    }
    return any;
}

/* On a CPU with cores of two kinds, keep the fast ones: Intel's hybrid parts list their
 * performance cores in /sys/devices/cpu_core/cpus (the efficient ones in cpu_atom);
 * ARM big.LITTLE kernels give each CPU a cpu_capacity (1024 = the fastest), and CPUs
 * below 3/4 of the largest are the little ones. A decoder step waits at each of its
 * ~200 joins for the slowest thread, and the big cores alone already saturate memory
 * (llama.cpp defaults to the performance cores for the same reason). Filters cpus in
 * place and returns how many are left; all of them if none is known to be faster. */
static int performance_cpus(const char *root, int *cpus, int n) {
    unsigned char fast[CPU_SETSIZE];
    char path[512];
    snprintf(path, sizeof path, "%s/sys/devices/cpu_core/cpus", root);
    int known = read_cpu_list(path, fast);
    if (!known) {
        int cap[CPU_SETSIZE], max = 0;
        for (int i = 0; i < n; i++) {
            char dir[512];
            snprintf(dir, sizeof dir, "%s/sys/devices/system/cpu/cpu%d", root, cpus[i]);
            int64_t c = number_in(dir, "cpu_capacity");
            if (c < 0 || c > (1 << 20))
                return n; /* capacities unknown for some CPU: keep all */
            cap[i] = (int)c;
            max = cap[i] > max ? cap[i] : max;
        }
        memset(fast, 0, sizeof fast);
        for (int i = 0; i < n; i++)
            if (cpus[i] < CPU_SETSIZE && 4 * cap[i] >= 3 * max)
                fast[cpus[i]] = 1;
    }
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE && fast[cpus[i]])
            cpus[kept++] = cpus[i];
    return kept > 0 ? kept : n;
}

int mg_cpu_default_among(const char *root, int *cpus, int n) {
    if (n <= 0)
        return 1;
    n = performance_cpus(root, cpus, n);
    return mg_cpu_cores_among(root, cpus, n);
}

/* Within the cgroup quota, rounded up. */
static int within_quota(int n) {
    double q = mg_cgroup_cpu_quota("");
    if (q > 0 && q < n) /* compared as doubles: a quota of 1e10 CPUs does not bind */
        n = (int)ceil(q - 1e-9);
    return n < 1 ? 1 : n;
}

static int online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int mg_cpu_count(void) {
    int cpus[CPU_SETSIZE];
    int n = affinity_cpus(cpus, CPU_SETSIZE);
    return within_quota(n > 0 ? n : online_cpus());
}

int mg_cpu_default_threads(void) {
    int cpus[CPU_SETSIZE];
    int n = affinity_cpus(cpus, CPU_SETSIZE);
    return within_quota(n > 0 ? mg_cpu_default_among("", cpus, n) : online_cpus());
}

int mg_cpu_threads(int requested) {
    if (requested <= 0)
        return mg_cpu_default_threads();
    int cpus = mg_cpu_count();
    return requested < cpus ? requested : cpus;
}

/* ---- memory ----------------------------------------------------------------------- */

/* What is left under one v2 group's memory.max (its page cache counts in
 * memory.current but can be reclaimed); the smallest along the ancestors. */
static int visit_mem_v2(const char *dir, void *user) {
    int64_t *left = user, max = number_in(dir, "memory.max"), cur = number_in(dir, "memory.current");
    if (max >= 0 && max < NO_LIMIT && cur >= 0) {
        int64_t file = keyed_in(dir, "memory.stat", "file");
        int64_t used = cur - (file > 0 && file < cur ? file : 0);
        int64_t l = max > used ? max - used : 0;
        if (*left < 0 || l < *left)
            *left = l;
    }
    return 0;
}

/* v1: the group's effective limit is memory.stat's hierarchical_memory_limit (the
 * smallest along the ancestors); usage less the page cache. One folder is enough. */
static int visit_mem_v1(const char *dir, void *user) {
    int64_t *left = user;
    int64_t limit = keyed_in(dir, "memory.stat", "hierarchical_memory_limit");
    if (limit < 0)
        limit = number_in(dir, "memory.limit_in_bytes");
    int64_t usage = number_in(dir, "memory.usage_in_bytes");
    if (limit >= 0 && limit < NO_LIMIT && usage >= 0) {
        int64_t cache = keyed_in(dir, "memory.stat", "total_cache");
        if (cache < 0)
            cache = keyed_in(dir, "memory.stat", "cache");
        int64_t used = usage - (cache > 0 && cache < usage ? cache : 0);
        *left = limit > used ? limit - used : 0;
    }
    return 1;
}

int64_t mg_cgroup_memory_left(const char *root) {
    int64_t left = -1;
    walk_cgroup(root, "", visit_mem_v2, &left);
    if (left < 0)
        walk_cgroup(root, "memory", visit_mem_v1, &left);
    return left;
}

/* One "Key: N kB" line of /proc/meminfo in bytes, or -1. */
static int64_t meminfo_bytes(const char *key) {
    int64_t kb = mg_file_keyed_number("/proc/meminfo", key, ':');
    return kb < 0 ? -1 : kb * 1024;
}

int64_t mg_memory_available_bytes(void) {
    const char *env = getenv("MG_MEMORY_LIMIT");
    if (env && *env) { /* the user's figure instead of the system's (which can undercount) */
        char *end;
        long long limit = strtoll(env, &end, 10);
        if (*end == 0 && limit >= 0)
            return limit;
        /* Once per process, but not before a host has installed a log callback to see it. */
        static atomic_int warned;
        if (!atomic_load(&warned) &&
            mg_log_warn("MG_MEMORY_LIMIT=\"%.40s\" is not a whole number of bytes (such as 8000000000); using what "
                        "the system says is available", env))
            atomic_store(&warned, 1);
    }
    int64_t avail = meminfo_bytes("MemAvailable"), swap = meminfo_bytes("SwapFree");
    if (avail >= 0 && swap > 0)
        avail += swap;
    int64_t left = mg_cgroup_memory_left("");
    if (left >= 0 && (avail < 0 || left < avail))
        avail = left;
    return avail;
}

/* "12.3 MB", or "950 bytes" under a tenth of a MB (a small MG_MEMORY_LIMIT: "needs
 * 0.0 MB but 0.0 MB is available" said nothing). */
static void format_bytes(char *buf, size_t size, double bytes) {
    if (bytes < 1e5)
        snprintf(buf, size, "%.0f bytes", bytes);
    else
        snprintf(buf, size, "%.1f MB", bytes * 1e-6);
}

mg_status mg_memory_check(double need, const char *what, const char *remedy) {
    int64_t avail = mg_memory_available_bytes();
    if (avail < 0 || need <= (double)avail)
        return MG_OK;
    char n[32], a[32];
    format_bytes(n, sizeof n, need);
    format_bytes(a, sizeof a, (double)avail);
    return mg_fail(MG_ERR_NOMEM, "%s needs %s but %s of memory is available: %s", what, n, a, remedy);
}
