/* SPDX-License-Identifier: Apache-2.0
 * client.h - the one HTTP(S) client of k3c (libcurl). A client holds a list
 * of endpoints (it fails over between them), TLS material, and a pool of
 * curl handles so connections are kept alive and reused.
 * Thread: any; each call borrows its own handle from the pool. */
#ifndef K3C_CLIENT_CLIENT_H
#define K3C_CLIENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

struct http_client_config {
    const char *const *endpoints; /* "https://127.0.0.1:2379", NULL-terminated, >= 1 */
    const char *ca_file;          /* trust anchors; NULL: system default */
    const char *cert_file;        /* client certificate, may be NULL */
    const char *key_file;         /* its key, may be NULL */
    long connect_timeout_ms;      /* 0: 2000 */
    long request_timeout_ms;      /* 0: 10000; not applied to streams */
};

struct http_client;

/* Returns NULL with err set when the config is unusable. */
struct http_client *http_client_new(const struct http_client_config *cfg, struct k3c_err *err);
void http_client_free(struct http_client *c);

struct http_response {
    long status;         /* HTTP status code */
    struct k3c_buf body; /* response body, NUL-terminated */
};

void http_response_init(struct http_response *r);
void http_response_fini(struct http_response *r);

/* One request against the current endpoint; on a transport failure (cannot
 * connect, connection reset, timeout) it moves to the next endpoint and
 * tries each once. A transport failure on all of them sets
 * K3C_E_UNAVAILABLE, with err->sys_errno ENOTCONN when the request was
 * never sent (so even a non-idempotent retry is safe). An HTTP error status is not an error here:
 * the caller reads resp->status. method is "GET", "POST", "PUT" or "DELETE"; body may be NULL. */
int http_client_request(struct http_client *c, const char *method, const char *path,
                        const char *content_type, const void *body, size_t body_len,
                        struct http_response *resp, struct k3c_err *err);

/* Receives each chunk of a streamed response body; return non-zero to stop. */
typedef int (*http_stream_cb)(void *userdata, const char *data, size_t len);

struct http_stream;

/* Opens a streaming POST/GET (a watch) that the calling thread drives with
 * http_stream_run. Not bound by request_timeout_ms. */
struct http_stream *http_stream_new(struct http_client *c);
void http_stream_free(struct http_stream *s);
/* Runs one streamed request until the server ends it, cb asks to stop, or
 * http_stream_cancel is called (from any thread). Returns 0 when the stream
 * ended normally or was stopped/cancelled, -1 with err on transport failure
 * (K3C_E_UNAVAILABLE) or an HTTP error status (message has the body). */
int http_stream_run(struct http_stream *s, const char *method, const char *path, const char *body,
                    size_t body_len, http_stream_cb cb, void *userdata, struct k3c_err *err);
/* Thread: any. Makes a running (or the next) http_stream_run return soon. */
void http_stream_cancel(struct http_stream *s);
/* Thread: any. Closes the stream's connection as if the network cut it
 * (used by tests and by callers that want a fresh connection). */
void http_stream_reset(struct http_stream *s);

#endif
