/* bench_bandwidth.c — the helper process that measures read bandwidth for `musicgen
 * bench` (see bench_bandwidth.h). Requests and answers go through two pipes: the parent
 * writes a byte for each sample, the helper answers with the GB/s (a double). The helper ends when the parent closes its pipe, so it cannot outlive a
 * benchmark that dies. */
#include "bench_bandwidth.h"
#include "base/pool.h"
#include "tensor/bandwidth.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int read_all(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void helper_main(int in, int out, int threads, size_t bytes) {
    mg_pool *pool = mg_pool_new(threads);
    mg_bw_probe *probe = pool ? mg_bw_probe_new(pool, bytes) : NULL;
    char request;
    while (read_all(in, &request, 1) == 0) {
        double gbs = probe ? mg_bw_probe_run(probe) : 0;
        if (write_all(out, &gbs, sizeof gbs) != 0)
            break;
    }
    mg_bw_probe_free(probe);
    mg_pool_free(pool);
}

int bench_bw_start(bench_bw *b, int threads, size_t bytes) {
    b->pid = 0;
    int req[2], resp[2];
    if (pipe(req) != 0)
        return -1;
    if (pipe(resp) != 0) {
        close(req[0]);
        close(req[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(req[1]);
        close(resp[0]);
        signal(SIGPIPE, SIG_IGN); /* a parent gone mid-answer ends the loop, quietly */
        helper_main(req[0], resp[1], threads, bytes);
        _exit(0);
    }
    close(req[0]);
    close(resp[1]);
    if (pid < 0) {
        int e = errno;
        close(req[1]);
        close(resp[0]);
        errno = e;
        return -1;
    }
    b->pid = pid;
    b->to_helper = req[1];
    b->from_helper = resp[0];
    return 0;
}

double bench_bw_sample(bench_bw *b) {
    double gbs = 0;
    char request = 1;
    if (b->pid <= 0)
        return 0;
    void (*old)(int) = signal(SIGPIPE, SIG_IGN); /* a helper that died: 0, not a crash */
    if (write_all(b->to_helper, &request, 1) != 0 || read_all(b->from_helper, &gbs, sizeof gbs) != 0)
        gbs = 0;
    signal(SIGPIPE, old);
    return gbs;
}

void bench_bw_stop(bench_bw *b) {
    if (b->pid <= 0)
        return;
    close(b->to_helper);
    close(b->from_helper);
    while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    b->pid = 0;
}

double bench_bw_once(int threads, size_t bytes) {
    bench_bw b;
    if (bench_bw_start(&b, threads, bytes) != 0)
        return 0;
    double gbs = bench_bw_sample(&b);
    bench_bw_stop(&b);
    return gbs;
}
