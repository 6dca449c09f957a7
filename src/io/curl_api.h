/* curl_api.h — libcurl, loaded by the first download (dlopen) rather than with the
 * library. A host program that never downloads then maps neither libcurl nor the ~30
 * libraries behind it (TLS, Kerberos, LDAP, IDN, ...) and runs none of their start-up
 * code: each CLI command starts ~8 ms sooner and makes ~1,300 fewer allocations.
 * The build still needs libcurl's headers; at run time, downloading needs libcurl.so.4
 * (any TLS flavour: Debian's libcurl4, libcurl3-gnutls or libcurl3-nss). Used by
 * hub_http.c only. */
#ifndef MG_IO_CURL_API_H
#define MG_IO_CURL_API_H

#include "base/status.h"

#include <curl/curl.h>

/* The libcurl functions hub_http.c calls, under their names without "curl_". */
typedef struct mg_curl_api {
    CURLcode (*global_init)(long flags);
    curl_version_info_data *(*version_info)(CURLversion stamp);
    CURL *(*easy_init)(void);
    void (*easy_reset)(CURL *curl);
    void (*easy_cleanup)(CURL *curl);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    char *(*easy_escape)(CURL *curl, const char *string, int length);
    void (*free)(void *p);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *string);
    void (*slist_free_all)(struct curl_slist *list);
} mg_curl_api;

/* libcurl, loaded and globally initialised once per process (thread-safe; a failed
 * attempt is retried by the next call): *api stays valid for the life of the process.
 * MG_ERR_UNSUPPORTED when no libcurl can be loaded (the message says what to install),
 * MG_ERR_NETWORK when its initialisation fails. */
mg_status mg_curl_api_get(const mg_curl_api **api);

/* The same from the first of `names` (shared library file names, NULL-terminated)
 * that loads, for tests of the error path; does not touch the process's copy. On
 * success *handle is the dlopen handle for mg_curl_api_close. */
mg_status mg_curl_api_load(const char *const *names, mg_curl_api *api, void **handle);
void mg_curl_api_close(void *handle);

#endif
