/* cmd_download.c — `musicgen download REPO_ID [--revision R] [--endpoint URL]`:
 * fetch a MusicGen checkpoint from the Hugging Face hub into the shared hub cache
 * (src/io/hub.h), with a progress bar on stderr when it is a terminal and a summary
 * line always. Prints the snapshot folder on stdout, so scripts can do
 * `musicgen generate -m "$(musicgen download facebook/musicgen-small)" ...`. */
#include "cli.h"
#include "io/hub.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void help(void) {
    printf("usage: musicgen download REPO_ID [options]\n\n"
           "Download a MusicGen checkpoint from the Hugging Face hub into the hub cache\n"
           "shared with Python tools, resuming an interrupted download and checking\n"
           "the sha256 of every weight file. Only the files the engine needs are\n"
           "fetched. Prints the snapshot folder. Afterwards `-m REPO_ID` works offline.\n\n"
           "  -r, --revision REV    branch, tag or commit hash (default main)\n"
           "      --endpoint URL    hub server (default $HF_ENDPOINT or %s)\n"
           "      --cache-dir DIR   cache folder (default $HF_HUB_CACHE, $HF_HOME/hub or\n"
           "                        ~/.cache/huggingface/hub)\n"
           "  -q, --quiet           no progress bar or summary\n"
           "  -h, --help            this help\n\n"
           "Environment: HF_TOKEN (token for private/gated repos), HF_ENDPOINT, HF_HUB_CACHE,\n"
           "HF_HOME, HF_HUB_OFFLINE=1 (never use the network; download then fails).\n"
           "Known models: %s\n", MG_HUB_DEFAULT_ENDPOINT, MG_HUB_KNOWN_MODELS);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *fmt_bytes(double n, char *buf, size_t size) {
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

static const char *fmt_time(double s, char *buf, size_t size) {
    if (s < 0 || s > 360000)
        snprintf(buf, size, "--:--");
    else if (s >= 3600)
        snprintf(buf, size, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, size, "%d:%02d", (int)s / 60, (int)s % 60);
    return buf;
}

typedef struct bar_state {
    double start;      /* when the first byte was expected */
    double last_draw;
    int drawn;         /* a bar is on the current line */
    int tty;
} bar_state;

/* The progress receiver: one redrawn line, at most 10 times a second. */
static int draw_progress(const mg_hub_progress *p, void *user) {
    bar_state *b = user;
    if (!b->tty)
        return 0;
    double t = now_s();
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
    fmt_bytes((double)p->done, done, sizeof done);
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
        fmt_bytes((double)p->total, total, sizeof total);
        fmt_time(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta, sizeof eta);
    }
    fmt_bytes(rate, speed, sizeof speed);
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
static bar_state g_load_bar;
static int g_load_quiet;

static int load_progress(const mg_hub_progress *p, void *user) {
    bar_state *b = user;
    if (b->start == 0)
        b->start = now_s();
    draw_progress(p, b);
    if (p->finished && p->n_files > 0 && !g_load_quiet) {
        char got[32], took[32];
        fprintf(stderr, "musicgen: downloaded %s: %d file%s, %s in %s\n", p->repo_id, p->n_files,
                p->n_files == 1 ? "" : "s", fmt_bytes((double)p->received, got, sizeof got),
                fmt_time(now_s() - b->start, took, sizeof took));
    }
    return 0;
}

/* For cli_load_model: call once before mg_model_load so an automatic download shows
 * its progress (declared here rather than in cli.h: `void cli_hub_install_progress(int quiet);`). */
void cli_hub_install_progress(int quiet);
void cli_hub_install_progress(int quiet) {
    memset(&g_load_bar, 0, sizeof g_load_bar);
    g_load_bar.tty = !quiet && cli_stderr_is_tty();
    g_load_quiet = quiet;
    mg_hub_set_progress_hook(load_progress, &g_load_bar);
}

int cmd_download(int argc, char **argv) {
    mg_hub_options opt;
    memset(&opt, 0, sizeof opt);
    static const struct option opts[] = {{"revision", required_argument, 0, 'r'},
                                         {"endpoint", required_argument, 0, 'e'},
                                         {"cache-dir", required_argument, 0, 'c'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *optstring = ":r:qh";
    int quiet = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'r': opt.revision = optarg; break;
        case 'e': opt.endpoint = optarg; break;
        case 'c': opt.cache_dir = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': help(); return 0;
        default: return cli_bad_option("download", argv, optstring);
        }
    }
    if (optind >= argc)
        return cli_error("download", "give the repo id to download, e.g. musicgen download %s (see musicgen download "
                         "--help)", MG_DEFAULT_MODEL);
    const char *repo = argv[optind];
    if (optind + 1 < argc)
        return cli_error("download", "unexpected argument \"%s\" (one repo id per call; see musicgen download --help)",
                         argv[optind + 1]);
    if (!mg_hub_is_repo_id(repo))
        return cli_error("download", "\"%s\" is not a Hugging Face repo id: expected ORG/NAME such as %s", repo,
                         MG_DEFAULT_MODEL);
    if (opt.revision && !opt.revision[0])
        return cli_error("download", "--revision needs a branch, tag or commit hash");

    bar_state bar = {0};
    bar.tty = !quiet && cli_stderr_is_tty();
    opt.progress = draw_progress;
    opt.user = &bar;
    double t0 = now_s();
    mg_hub_result r;
    mg_status st = mg_hub_download(repo, &opt, &r);
    if (bar.drawn)
        fputs("\r\033[K", stderr);
    if (st != MG_OK)
        return cli_lib_error("download", st);
    double secs = now_s() - t0;
    if (!quiet) {
        char total[32], got[32], speed[32], took[32];
        fmt_bytes((double)r.bytes_total, total, sizeof total);
        if (r.n_downloaded == 0)
            fprintf(stderr, "musicgen download: %s @ %.10s is up to date (%d files, %s, nothing downloaded)\n", repo,
                    r.commit, r.n_files, total);
        else
            fprintf(stderr, "musicgen download: %s @ %.10s: %d files, %s; downloaded %d file%s, %s in %s (%s/s)\n",
                    repo, r.commit, r.n_files, total, r.n_downloaded, r.n_downloaded == 1 ? "" : "s",
                    fmt_bytes((double)r.bytes_downloaded, got, sizeof got), fmt_time(secs, took, sizeof took),
                    fmt_bytes(secs > 0 ? (double)r.bytes_downloaded / secs : 0, speed, sizeof speed));
    }
    printf("%s\n", r.snapshot);
    mg_hub_result_free(&r);
    return 0;
}
