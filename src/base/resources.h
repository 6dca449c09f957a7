/* resources.h — what this process may use of the machine: CPUs (online, in its
 * affinity mask, within its cgroup's CPU quota) and memory (MemAvailable + SwapFree,
 * within its cgroup's limit), for cgroup v2 and v1. So `taskset`, `docker --cpus`,
 * `--cpuset-cpus` and `--memory`, systemd's CPUQuota= / MemoryMax= and Kubernetes
 * limits size the thread pool and the memory checks, not the host's totals: a
 * container given 2 CPUs of a 64-core host must not start 64 spinning threads. */
#ifndef MG_BASE_RESOURCES_H
#define MG_BASE_RESOURCES_H

#include "base/status.h"

#include <stdint.h>

/* Logical CPUs this process may run on: online and in its affinity mask, at most its
 * cgroup CPU quota rounded up (docker --cpus=1.5: 2). At least 1. */
int mg_cpu_count(void);
/* The default thread count: physical cores among those CPUs (SMT siblings count once:
 * decoder steps stream weights from memory, which a core's second hardware thread does
 * not speed up, and every extra thread is one more to wait for at each of a step's
 * ~200 joins), only the performance cores on CPUs with two kinds (Intel hybrid, ARM
 * big.LITTLE), within the same quota. At least 1. */
int mg_cpu_default_threads(void);
/* `requested` threads (at most mg_cpu_count(): workers spin between tasks, so threads
 * beyond the CPUs only contend), or the default when it is 0 or less. */
int mg_cpu_threads(int requested);

/* Memory a new allocation can still get without the OOM killer: MemAvailable + SwapFree
 * (/proc/meminfo), at most what the cgroup allows (its limit, or an ancestor's, less
 * what the group uses besides its page cache); -1 if unknown. The environment variable
 * MG_MEMORY_LIMIT (bytes) replaces that figure: lower, to keep a generation small, or
 * higher, where the kernel undercounts (ZFS's ARC is not in MemAvailable). */
int64_t mg_memory_available_bytes(void);
/* MG_OK if `need` bytes fit in mg_memory_available_bytes() (or it is unknown), else
 * MG_ERR_NOMEM with "WHAT needs X MB but Y MB of memory is available: REMEDY". Checked
 * before big allocations that are touched at once, so a host program gets an error
 * instead of the OOM killer. */
mg_status mg_memory_check(double need, const char *what, const char *remedy);

/* ---- the same, read from a file-system tree under `root` ("" = this machine's), for
 * tests; paths are root + "/proc/self/cgroup", root + "/sys/fs/cgroup/...",
 * root + "/sys/devices/system/cpu/...". ---------------------------------------------- */

/* CPUs' worth of time the cgroup allows (cpu.max, or v1 cpu.cfs_quota_us /
 * cpu.cfs_period_us; the smallest along the group's ancestors), 0 if unlimited. */
double mg_cgroup_cpu_quota(const char *root);
/* Bytes the cgroup still allows (limit less non-page-cache usage; the smallest along
 * the ancestors in v2, memory.stat's hierarchical_memory_limit in v1), -1 if unlimited
 * or unknown. */
int64_t mg_cgroup_memory_left(const char *root);
/* Physical cores among the CPUs listed in cpus[0..n) (CPUs sharing a core have the same
 * topology/core_cpus_list, or thread_siblings_list on older kernels); n when the
 * topology cannot be read. */
int mg_cpu_cores_among(const char *root, const int *cpus, int n);
/* mg_cpu_default_threads' figure for the CPUs in cpus[0..n) (filtered in place: the
 * performance CPUs are left first): physical performance cores (/sys/devices/cpu_core/cpus, or
 * cpu_capacity at least 3/4 of the largest), all CPUs' cores when no kind is faster. */
int mg_cpu_default_among(const char *root, int *cpus, int n);

#endif
