/* log.c — the global log callback (see log.h). */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

static mg_log_cb g_log_cb;
static void *g_log_user;

MG_API void mg_set_log_callback(mg_log_cb cb, void *user) {
    g_log_cb = cb;
    g_log_user = user;
}

void mg_log(mg_log_level level, const char *fmt, ...) {
    mg_log_cb cb = g_log_cb;
    if (!cb)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cb(level, buf, g_log_user);
}
