/* log.c — the global log callback (see log.h). The callback and its user pointer are
 * one pair, set and read under a lock, so a thread that logs while another replaces
 * the callback calls either the old pair or the new one, never one callback with the
 * other's pointer. The callback itself runs outside the lock: it may log or set a new
 * callback. */
#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_log_cb g_log_cb;
static void *g_log_user;

MG_API void mg_set_log_callback(mg_log_cb cb, void *user) {
    pthread_mutex_lock(&g_log_lock);
    g_log_cb = cb;
    g_log_user = user;
    pthread_mutex_unlock(&g_log_lock);
}

int mg_log(mg_log_level level, const char *fmt, ...) {
    pthread_mutex_lock(&g_log_lock);
    mg_log_cb cb = g_log_cb;
    void *user = g_log_user;
    pthread_mutex_unlock(&g_log_lock);
    if (!cb)
        return 0;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cb(level, buf, user);
    return 1;
}
