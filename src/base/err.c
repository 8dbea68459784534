/* SPDX-License-Identifier: Apache-2.0
 * err.c - the k3c error type; a table maps each kind to its Status reason. */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    const char *reason;
    int http;
} kinds[] = {
    [K3C_E_NONE] = {"none", "", 200},
    [K3C_E_INTERNAL] = {"internal", "InternalError", 500},
    [K3C_E_INVALID] = {"invalid", "Invalid", 422},
    [K3C_E_BAD_REQUEST] = {"bad request", "BadRequest", 400},
    [K3C_E_NOT_FOUND] = {"not found", "NotFound", 404},
    [K3C_E_EXISTS] = {"already exists", "AlreadyExists", 409},
    [K3C_E_CONFLICT] = {"conflict", "Conflict", 409},
    [K3C_E_COMPACTED] = {"compacted", "Expired", 410},
    [K3C_E_UNAVAILABLE] = {"unavailable", "ServiceUnavailable", 503},
    [K3C_E_TIMEOUT] = {"timeout", "Timeout", 504},
    [K3C_E_SYSTEM] = {"system", "InternalError", 500},
};

int
k3c_err_set(struct k3c_err *err, enum k3c_errkind kind, const char *fmt, ...)
{
    va_list ap;

    err->kind = kind;
    err->sys_errno = 0;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int
k3c_err_sys(struct k3c_err *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    err->kind = K3C_E_SYSTEM;
    err->sys_errno = errnum;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    n = strlen(err->msg);
    if (n < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
    return -1;
}

int
k3c_err_wrap(struct k3c_err *err, const char *fmt, ...)
{
    char old[K3C_ERR_MSG_LEN];
    va_list ap;
    int n;

    memcpy(old, err->msg, sizeof(old));
    va_start(ap, fmt);
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    /* A long chain of context is cut at the end: its start matters most. */
    if (n >= 0 && (size_t)n + 2 < sizeof(err->msg)) {
        size_t keep = strnlen(old, sizeof(err->msg) - (size_t)n - 3);

        memcpy(err->msg + n, ": ", 2);
        memcpy(err->msg + n + 2, old, keep);
        err->msg[(size_t)n + 2 + keep] = '\0';
    }
    if (err->kind == K3C_E_NONE)
        err->kind = K3C_E_INTERNAL;
    return -1;
}

void
k3c_err_clear(struct k3c_err *err)
{
    err->kind = K3C_E_NONE;
    err->sys_errno = 0;
    err->msg[0] = '\0';
}

const char *
k3c_err_kind_name(enum k3c_errkind kind)
{
    if ((unsigned)kind >= sizeof(kinds) / sizeof(kinds[0]))
        return "unknown";
    return kinds[kind].name;
}

const char *
k3c_err_reason(enum k3c_errkind kind)
{
    if ((unsigned)kind >= sizeof(kinds) / sizeof(kinds[0]))
        return "InternalError";
    return kinds[kind].reason;
}

int
k3c_err_http_code(enum k3c_errkind kind)
{
    if ((unsigned)kind >= sizeof(kinds) / sizeof(kinds[0]))
        return 500;
    return kinds[kind].http;
}
