/* curl_api.c — loading libcurl when the first download needs it (see curl_api.h):
 * dlopen of its run-time file, dlsym of each function hub_http.c calls, and
 * curl_global_init once per process. */
#include "io/curl_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* libcurl's run-time names: the OpenSSL build (Debian's libcurl4, what the -dev
 * package of this build links), then the GnuTLS and NSS builds of the same ABI. */
static const char *const k_curl_files[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl-nss.so.4", NULL};

static const struct {
    const char *name;
    size_t offset;
} k_symbols[] = {
    {"curl_global_init", offsetof(mg_curl_api, global_init)},
    {"curl_version_info", offsetof(mg_curl_api, version_info)},
    {"curl_easy_init", offsetof(mg_curl_api, easy_init)},
    {"curl_easy_reset", offsetof(mg_curl_api, easy_reset)},
    {"curl_easy_cleanup", offsetof(mg_curl_api, easy_cleanup)},
    {"curl_easy_setopt", offsetof(mg_curl_api, easy_setopt)},
    {"curl_easy_perform", offsetof(mg_curl_api, easy_perform)},
    {"curl_easy_getinfo", offsetof(mg_curl_api, easy_getinfo)},
    {"curl_easy_strerror", offsetof(mg_curl_api, easy_strerror)},
    {"curl_easy_escape", offsetof(mg_curl_api, easy_escape)},
    {"curl_free", offsetof(mg_curl_api, free)},
    {"curl_slist_append", offsetof(mg_curl_api, slist_append)},
    {"curl_slist_free_all", offsetof(mg_curl_api, slist_free_all)},
};

mg_status mg_curl_api_load(const char *const *names, mg_curl_api *api, void **handle) {
    memset(api, 0, sizeof *api);
    *handle = NULL;
    char why[256] = "";
    void *h = NULL;
    for (int i = 0; names[i] && !h; i++) {
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h && i == 0) { /* the first file's reason is the one worth showing */
            const char *e = dlerror();
            snprintf(why, sizeof why, "%s", e ? e : "not found");
        }
    }
    if (!h)
        return mg_fail(MG_ERR_UNSUPPORTED, "downloading needs libcurl, which cannot be loaded (%s); install it "
                       "(Debian and Ubuntu: apt-get install libcurl4) or download the model by other means "
                       "and pass its folder to -m", why);
    for (size_t i = 0; i < sizeof k_symbols / sizeof k_symbols[0]; i++) {
        void *f = dlsym(h, k_symbols[i].name);
        if (!f) {
            dlclose(h);
            memset(api, 0, sizeof *api);
            return mg_fail(MG_ERR_UNSUPPORTED, "the libcurl found has no %s: it is too old for downloading; "
                           "install a current one (Debian and Ubuntu: apt-get install libcurl4)", k_symbols[i].name);
        }
        /* POSIX: a data pointer from dlsym holds a function's address at the same size. */
        memcpy((char *)api + k_symbols[i].offset, &f, sizeof f);
    }
    *handle = h;
    return MG_OK;
}

void mg_curl_api_close(void *handle) {
    if (handle)
        dlclose(handle);
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_curl_api g_api;
static int g_ready; /* loaded and initialised; kept for the life of the process */

mg_status mg_curl_api_get(const mg_curl_api **out) {
    *out = NULL;
    mg_status st = MG_OK;
    pthread_mutex_lock(&g_lock);
    if (!g_ready) {
        mg_curl_api api;
        void *handle;
        st = mg_curl_api_load(k_curl_files, &api, &handle);
        if (st == MG_OK) {
            CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT);
            if (rc == CURLE_OK) {
                g_api = api;
                g_ready = 1;
            } else { /* the next call tries again; the library stays mapped, as a
                        * partly initialised TLS library may have registered exit handlers */
                st = mg_fail(MG_ERR_NETWORK, "cannot initialise libcurl: %s", api.easy_strerror(rc));
            }
        }
    }
    if (g_ready)
        *out = &g_api;
    pthread_mutex_unlock(&g_lock);
    return st;
}
