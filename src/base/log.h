/* SPDX-License-Identifier: Apache-2.0
 * log.h - the one logging call of k3c. Each .c file defines LOG_COMPONENT
 * before including this header; the macros check the level before they
 * evaluate their arguments. Lines go to stderr as
 *   2026-11-26T15:32:08.123Z INFO  etcd: (member node-1) started, pid 42
 * Thread: any (one write(2) per line, so lines never interleave). */
#ifndef K3C_BASE_LOG_H
#define K3C_BASE_LOG_H

#include <stdarg.h>

enum k3c_log_level {
    K3C_LOG_ERROR = 0, /* an operator must act */
    K3C_LOG_WARN,      /* degraded but self-healing */
    K3C_LOG_INFO,      /* state transitions */
    K3C_LOG_DEBUG,     /* per-request detail */
};

void k3c_log(enum k3c_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A library's log callback, libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER
 * shape: one DEBUG line "<component>: microhttpd: <message>", where
 * component is the const char * passed as cls. */
void k3c_log_mhd(void *component, const char *fmt, va_list ap);
/* Process-wide threshold; set once at start-up by cmd/. */
void k3c_log_set_level(enum k3c_log_level level);
int k3c_log_enabled(enum k3c_log_level level);
/* Parses "error", "warn", "info", "debug"; returns -1 if unknown. */
int k3c_log_level_parse(const char *s);

#ifndef LOG_COMPONENT
#define LOG_COMPONENT "k3c"
#endif

#define log_at(lvl, ...)                                                                           \
    do {                                                                                           \
        if (k3c_log_enabled(lvl))                                                                  \
            k3c_log(lvl, LOG_COMPONENT, __VA_ARGS__);                                              \
    } while (0)
#define log_error(...) log_at(K3C_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(K3C_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(K3C_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(K3C_LOG_DEBUG, __VA_ARGS__)

#endif
