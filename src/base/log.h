/* log.h — library diagnostics routed to a host-supplied callback.
 * The library never prints; with no callback installed, messages are dropped. */
#ifndef MG_BASE_LOG_H
#define MG_BASE_LOG_H

#include "base/status.h"

/* 1 if a callback took the message, 0 if none was installed (the message is dropped). */
int mg_log(mg_log_level level, const char *fmt, ...) MG_PRINTF(2, 3);
#define mg_log_info(...) mg_log(MG_LOG_INFO, __VA_ARGS__)
#define mg_log_warn(...) mg_log(MG_LOG_WARN, __VA_ARGS__)
#define mg_log_debug(...) mg_log(MG_LOG_DEBUG, __VA_ARGS__)

#endif
