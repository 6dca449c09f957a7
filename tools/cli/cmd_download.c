/* cmd_download.c — `musicgen download REPO_ID [--revision R] [--endpoint URL]`:
 * fetch a MusicGen checkpoint from the Hugging Face hub into the shared hub cache
 * (mg_download in musicgen.h), with a progress bar on stderr when it is a terminal and a summary
 * line always. Prints the snapshot folder on stdout, so scripts can do
 * `musicgen generate -m "$(musicgen download facebook/musicgen-small)" ...`. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void help(void) {
    printf("usage: musicgen download REPO_ID[@REV] [options]\n\n"
           "Download a MusicGen checkpoint from the Hugging Face hub into the hub cache\n"
           "shared with Python tools, resuming an interrupted download and checking\n"
           "the sha256 of every weight file. Only the files the engine needs are\n"
           "fetched. Prints the snapshot folder. Afterwards `-m REPO_ID` works offline\n"
           "(`-m REPO_ID@REV` for a revision other than main).\n\n"
           "  -r, --revision REV    branch, tag or commit hash (default main)\n"
           "      --endpoint URL    hub server (default $HF_ENDPOINT or\n"
           "                        https://huggingface.co)\n"
           "      --cache-dir DIR   cache folder (default $HF_HUB_CACHE, $HF_HOME/hub or\n"
           "                        ~/.cache/huggingface/hub)\n"
           "  -q, --quiet           no progress bar or summary\n"
           "  -h, --help            this help\n\n"
           "Environment: HF_TOKEN (token for private/gated repos), HF_ENDPOINT,\n"
           "HF_HUB_CACHE, HF_HOME, HF_HUB_OFFLINE=1 (never use the network; download then\n"
           "fails).\n"
           "Known models:");
    /* MG_KNOWN_MODELS is one comma-separated line: wrapped at 80 columns here. */
    int col = 13;
    for (const char *p = MG_KNOWN_MODELS; *p;) {
        size_t n = strcspn(p, ",");
        if (col + 1 + (int)n + 1 > 80) {
            printf("\n ");
            col = 1;
        }
        printf(" %.*s%s", (int)n, p, p[n] ? "," : "");
        col += 1 + (int)n + 1;
        p += n;
        p += strspn(p, ", ");
    }
    printf("\n");
}

static int progress(const mg_download_progress *p, void *user) {
    return cli_interrupted ? 1 : cli_download_bar_draw(p, user);
}

int cmd_download(int argc, char **argv) {
    mg_download_params opt = mg_download_default_params();
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
    if (cli_check_short_clusters("download", argc, argv, optstring, opts))
        return 1;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'r': opt.revision = optarg; break;
        case 'e': opt.endpoint = optarg; break;
        case 'c': opt.cache_dir = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': help(); return 0;
        default: return cli_bad_option("download", argv, optstring, opts);
        }
    }
    if (optind >= argc)
        return cli_error("download", "give the repo id to download, e.g. musicgen download %s (see musicgen download "
                         "--help)", MG_DEFAULT_MODEL);
    if (optind + 1 < argc)
        return cli_error("download", "unexpected argument \"%s\" (one repo id per call; see musicgen download --help)",
                         argv[optind + 1]);
    /* ORG/NAME@REV, as -m takes it, is ORG/NAME -r REV (mg_download splits it). */
    const char *arg = argv[optind];
    if (opt.revision && !opt.revision[0])
        return cli_error("download", "--revision needs a branch, tag or commit hash");
    if (strchr(arg, '@') && opt.revision)
        return cli_error("download", "give the revision once: %s or -r %s", arg, opt.revision);
    char repo[128]; /* for the summary: the repo id without its @REV */
    snprintf(repo, sizeof repo, "%.*s", (int)strcspn(arg, "@"), arg);

    cli_download_bar bar = {0};
    bar.tty = !quiet && cli_stderr_is_tty();
    opt.progress = progress;
    opt.user = &bar;
    /* The first Ctrl-C cancels the transfer through `progress`, which keeps what arrived
     * in blobs/<etag>.incomplete (its write buffer included) for the next run. */
    cli_stop_on_interrupt("download", "run the same command again to resume");
    double t0 = cli_now_s();
    mg_download_result r;
    mg_status st = mg_download(arg, &opt, &r);
    if (bar.drawn)
        fputs("\r\033[K", stderr);
    if (st == MG_ERR_CANCELLED && cli_interrupted)
        return cli_interrupted_exit();
    if (st != MG_OK)
        return cli_lib_error("download", st);
    double secs = cli_now_s() - t0;
    if (!quiet) {
        char total[32], got[32], speed[32], took[32];
        cli_fmt_bytes((double)r.bytes_total, total, sizeof total);
        if (r.n_downloaded == 0)
            fprintf(stderr, "musicgen download: %s @ %.10s is up to date (%d files, %s, nothing downloaded)\n", repo,
                    r.commit, r.n_files, total);
        else
            fprintf(stderr, "musicgen download: %s @ %.10s: %d files, %s; downloaded %d file%s, %s in %s (%s/s)\n",
                    repo, r.commit, r.n_files, total, r.n_downloaded, r.n_downloaded == 1 ? "" : "s",
                    cli_fmt_bytes((double)r.bytes_downloaded, got, sizeof got), cli_fmt_time(secs, took, sizeof took),
                    cli_fmt_bytes(secs > 0 ? (double)r.bytes_downloaded / secs : 0, speed, sizeof speed));
    }
    printf("%s\n", r.snapshot);
    mg_download_result_free(&r);
    return 0;
}
