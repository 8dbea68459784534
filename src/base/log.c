/* SPDX-License-Identifier: Apache-2.0
 * log.c - formats one line per call and writes it with a single write(2).
 * The level is the only process-wide mutable state; it is atomic. */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = K3C_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const char *const level_words[] = {"error", "warn", "info", "debug"};

void
k3c_log_set_level(enum k3c_log_level level)
{
    atomic_store(&log_level, (int)level);
}

int
k3c_log_enabled(enum k3c_log_level level)
{
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

int
k3c_log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(level_words) / sizeof(level_words[0]); i++)
        if (strcmp(s, level_words[i]) == 0)
            return (int)i;
    return -1;
}

void
k3c_log(enum k3c_log_level level, const char *component, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t n;
    int r;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s %s: ", ts.tv_nsec / 1000000,
                 level_names[level], component);
    if (r > 0)
        n += (size_t)r;
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (r > 0)
        n += (size_t)r;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line: concurrent threads never interleave inside a line. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}

void
k3c_log_mhd(void *component, const char *fmt, va_list ap)
{
    char msg[512];

    if (!k3c_log_enabled(K3C_LOG_DEBUG))
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    k3c_log(K3C_LOG_DEBUG, component, "microhttpd: %s", msg);
}
