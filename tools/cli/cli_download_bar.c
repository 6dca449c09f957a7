/* cli_download_bar.c — the download progress bar of the CLI: `musicgen download`
 * draws it, and so does every command whose `-m ORG/NAME` starts a download inside
 * mg_model_load (cli_download_progress_on). Also the byte / duration formatting its
 * summary lines use. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *cli_fmt_bytes(double n, char *buf, size_t size) {
    if (n >= 1e9)
        snprintf(buf, size, "%.2f GB", n / 1e9);
    else if (n >= 1e6)
        snprintf(buf, size, "%.1f MB", n / 1e6);
    else if (n >= 1e3)
        snprintf(buf, size, "%.1f kB", n / 1e3);
    else
        snprintf(buf, size, "%.0f B", n);
    return buf;
}

const char *cli_fmt_time(double s, char *buf, size_t size) {
    if (s < 0 || s > 360000)
        snprintf(buf, size, "--:--");
    else if (s >= 3600)
        snprintf(buf, size, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, size, "%d:%02d", (int)s / 60, (int)s % 60);
    return buf;
}


/* The progress receiver: one redrawn line, at most 10 times a second. */
int cli_download_bar_draw(const mg_download_progress *p, void *user) {
    cli_download_bar *b = user;
    if (!b->tty || p->waiting)
        return 0;
    double t = cli_now_s();
    if (b->start == 0)
        b->start = t;
    if (!p->finished && b->drawn && t - b->last_draw < 0.1)
        return 0;
    b->last_draw = t;
    if (p->finished) {
        if (b->drawn)
            fputs("\r\033[K", stderr);
        b->drawn = 0;
        fflush(stderr);
        return 0;
    }
    double elapsed = t - b->start;
    double rate = elapsed > 0.2 ? (double)p->received / elapsed : 0;
    char done[32], total[32], speed[32], eta[32];
    cli_fmt_bytes((double)p->done, done, sizeof done);
    char bar[26];
    int pct = -1;
    if (p->total > 0) {
        pct = (int)(100.0 * (double)p->done / (double)p->total);
        if (pct > 100)
            pct = 100;
        int fill = pct / 4;
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(25 - fill));
        bar[25] = 0;
        cli_fmt_bytes((double)p->total, total, sizeof total);
        cli_fmt_time(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta, sizeof eta);
    }
    cli_fmt_bytes(rate, speed, sizeof speed);
    if (pct >= 0)
        fprintf(stderr, "\r\033[K[%d/%d] %.28s %3d%% [%s] %s / %s  %s/s  ETA %s", p->file_index, p->n_files,
                p->file ? p->file : "", pct, bar, done, total, speed, eta);
    else
        fprintf(stderr, "\r\033[K[%d/%d] %.28s %s  %s/s", p->file_index, p->n_files, p->file ? p->file : "", done,
                speed);
    fflush(stderr);
    b->drawn = 1;
    return 0;
}

/* Progress of downloads that `-m ORG/NAME` starts inside mg_model_load: the same bar
 * (tty only) and, when something was fetched, one summary line. */
static cli_download_bar g_load_bar;
static int g_load_quiet;

static int load_progress(const mg_download_progress *p, void *user) {
    cli_download_bar *b = user;
    if (p->waiting) /* nothing to draw: only the chance to cancel */
        return cli_interrupted != 0;
    if (b->start == 0)
        b->start = cli_now_s();
    cli_download_bar_draw(p, b);
    if (p->finished && p->n_files > 0 && !g_load_quiet) {
        char got[32], took[32];
        fprintf(stderr, "musicgen: downloaded %s: %d file%s, %s in %s\n", p->repo_id, p->n_files,
                p->n_files == 1 ? "" : "s", cli_fmt_bytes((double)p->received, got, sizeof got),
                cli_fmt_time(cli_now_s() - b->start, took, sizeof took));
    }
    return cli_interrupted != 0;
}

void cli_download_progress_off(void) {
    if (g_load_bar.drawn) { /* a download stopped part-way: its bar is still on the line */
        fputs("\r\033[K", stderr);
        g_load_bar.drawn = 0;
    }
}

void cli_download_progress_on(mg_model_params *mp, int quiet) {
    memset(&g_load_bar, 0, sizeof g_load_bar);
    g_load_bar.tty = !quiet && cli_stderr_is_tty();
    g_load_quiet = quiet;
    mp->download_progress = load_progress;
    mp->download_user = &g_load_bar;
}
