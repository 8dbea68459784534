/* SPDX-License-Identifier: Apache-2.0
 * err.h - the one error type of k3c. A fallible function returns int (<0 on
 * failure) or a pointer (NULL on failure) and fills the caller-owned
 * struct k3c_err passed as its last argument. Reporting never allocates. */
#ifndef K3C_BASE_ERR_H
#define K3C_BASE_ERR_H

#include <stdarg.h>

/* Each kind maps to one Kubernetes Status reason and HTTP code
 * (see k3c_err_http_code / k3c_err_reason). */
enum k3c_errkind {
    K3C_E_NONE = 0,
    K3C_E_INTERNAL,    /* 500 InternalError */
    K3C_E_INVALID,     /* 422 Invalid (also bad config) */
    K3C_E_BAD_REQUEST, /* 400 BadRequest */
    K3C_E_NOT_FOUND,   /* 404 NotFound */
    K3C_E_EXISTS,      /* 409 AlreadyExists */
    K3C_E_CONFLICT,    /* 409 Conflict (stale revision) */
    K3C_E_COMPACTED,   /* 410 Expired (revision compacted) */
    K3C_E_UNAVAILABLE, /* 503 ServiceUnavailable (etcd unreachable) */
    K3C_E_TIMEOUT,     /* 504 Timeout */
    K3C_E_SYSTEM,      /* 500, sys_errno says why */
};

#define K3C_ERR_MSG_LEN 256

struct k3c_err {
    enum k3c_errkind kind;
    int sys_errno;
    char msg[K3C_ERR_MSG_LEN];
};

/* Sets kind and message; always returns -1 so it can end a `return`. */
int k3c_err_set(struct k3c_err *err, enum k3c_errkind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like k3c_err_set with kind K3C_E_SYSTEM, appending strerror(errnum). */
int k3c_err_sys(struct k3c_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the message with context ("ctx: old message"); keeps the kind.
 * Returns -1. */
int k3c_err_wrap(struct k3c_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forgets an error the caller chose to tolerate. */
void k3c_err_clear(struct k3c_err *err);

const char *k3c_err_kind_name(enum k3c_errkind kind);
/* The Kubernetes Status reason ("NotFound", "AlreadyExists", ...). */
const char *k3c_err_reason(enum k3c_errkind kind);
int k3c_err_http_code(enum k3c_errkind kind);

#endif
