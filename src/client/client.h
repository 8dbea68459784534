/* SPDX-License-Identifier: Apache-2.0
 * client.h - the one HTTP(S) client of k3c (libcurl). A client holds a list
 * of endpoints (it fails over between them), TLS material, and a pool of
 * curl handles so connections are kept alive and reused.
 * Thread: any; each call borrows its own handle from the pool. */
#ifndef K3C_CLIENT_CLIENT_H
#define K3C_CLIENT_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* An endpoint "unix:/abs/path" is plain HTTP over that unix socket (the
 * server's own etcd member, docs/etcd.md "The local socket"). */
#define HTTP_UNIX_PREFIX "unix:"

struct http_client_config {
    const char *const *endpoints; /* "https://127.0.0.1:2379" or "unix:/path", NULL-terminated,
                                     >= 1 */
    const char *ca_file;          /* trust anchors; NULL: system default */
    const char *cert_file;        /* client certificate, may be NULL */
    const char *key_file;         /* its key, may be NULL */
    const char *basic_auth;       /* "user:password" for HTTP Basic, may be NULL */
    bool insecure;                /* skip server verification: only to fetch a CA whose
                                     hash the caller checks itself (node join), or for a
                                     registry configured insecure_skip_verify */
    long connect_timeout_ms;      /* 0: 2000 */
    long request_timeout_ms;      /* 0: 10000; not applied to streams */
    /* "host:port:address" entries (CURLOPT_RESOLVE): connect to address
     * while TLS still checks host (an admission webhook's Service name at
     * its ClusterIP); NULL-terminated, may be NULL */
    const char *const *resolve;
    /* HTTP/1.1 even over TLS (no ALPN h2): for a peer whose HTTP/1.1 path is
     * cheaper and whose requests never share a connection (etcd's JSON
     * gateway: each pooled handle or stream has its own connection, so h2's
     * multiplexing buys nothing and its framing costs CPU on both sides) */
    bool http1;
    /* Idle handles kept for reuse, each with its open connection (curl's
     * buffers and a TLS session: ~150 KiB); beyond it a finished request's
     * handle is closed. 0: no limit (a server's etcd client, whose
     * concurrency is bounded by its request threads). */
    size_t max_idle;
    /* curl's receive buffer per handle (CURLOPT_BUFFERSIZE): 0 is curl's
     * 16 KiB. The agent's watch streams and kept connections take 4 KiB
     * (TLS has its own record buffer; a large reply is read in more calls). */
    long download_buffer_size;
};

struct http_client;

/* Returns NULL with err set when the config is unusable. */
struct http_client *http_client_new(const struct http_client_config *cfg, struct k3c_err *err);
void http_client_free(struct http_client *c);
/* Thread: any. Replaces the endpoint list (an agent learning the API
 * servers); requests in flight finish on the endpoint they use, the next
 * attempt reads the new list, starting at its first entry. INVALID when
 * empty. */
int http_client_set_endpoints(struct http_client *c, const char *const *endpoints,
                              struct k3c_err *err);

/* Thread: any. The index of the endpoint requests start at now: the
 * last one that answered. */
size_t http_client_current(struct http_client *c);
/* Thread: any. What a request does after a transport failure on endpoint
 * idx, for a caller that reached it by another way (the store's gRPC
 * writes): the next requests start at the endpoint after idx, if it is
 * still the current one. False when there is no other endpoint. */
bool http_client_fail_over(struct http_client *c, size_t idx);

struct http_response {
    long status;            /* HTTP status code */
    struct k3c_buf body;    /* response body, NUL-terminated */
    struct k3c_buf headers; /* the final response's header lines (http_client_do only) */
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

/* A JSON request to a Kubernetes API: body (may be NULL) is serialised,
 * content_type NULL means application/json; *out (may be NULL) gets the
 * parsed reply, also for errors (NULL when the body is not JSON). Returns
 * the HTTP status, or -1 with err when the server could not be reached. A
 * status outside 2xx also sets err: the kind that matches the code (404
 * NOT_FOUND, 409 CONFLICT or EXISTS, 422 INVALID, ...) and the Status
 * message. The one JSON wrapper of the agent and the control loops. */
long http_client_json(struct http_client *c, const char *method, const char *path,
                      const char *content_type, const json_t *body, json_t **out,
                      struct k3c_err *err);

/* Receives each chunk of a streamed response body; return non-zero to stop. */
typedef int (*http_stream_cb)(void *userdata, const char *data, size_t len);

/* The general form of http_client_request, for callers that need request
 * headers, response headers, redirects or a large body (registry pulls). */
struct http_request {
    const char *method;         /* NULL: "GET" */
    const char *path;           /* appended to the endpoint, as in http_client_request */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
    const char *content_type;   /* sent only with a body; NULL: application/json */
    const void *body;           /* may be NULL */
    size_t body_len;
    bool follow_redirects; /* follow 3xx Location (at most 5 hops); curl drops
                            * Authorization when the host changes */
    bool no_timeout;       /* no request_timeout_ms; the transfer fails instead when
                            * it moves less than 1 KiB/s for 30 s */
    http_stream_cb sink;   /* when set, a 2xx body goes here instead of resp->body
                            * (other bodies, capped at 64 KiB, still go to resp->body);
                            * a non-zero return aborts the request */
    void *sink_data;
};

/* Like http_client_request (same failover and error kinds), plus: the final
 * response's headers land in resp->headers, and a sink that stops the
 * transfer makes it return -1 with K3C_E_INTERNAL "aborted by receiver"
 * (the sink keeps its own reason). */
int http_client_do(struct http_client *c, const struct http_request *req,
                   struct http_response *resp, struct k3c_err *err);
/* The first value of header name (case-insensitive) in resp->headers,
 * trimmed, as a new string (caller free()s); NULL if absent. */
char *http_response_header(const struct http_response *resp, const char *name);

/* Thread: any. The process is stopping: requests in flight in any client
 * are aborted (K3C_E_UNAVAILABLE "shutting down") and later ones are
 * bounded to 2 s, so a shutdown never waits out request timeouts against
 * an etcd without quorum or a dead server. Streams are not affected. */
void http_client_shutdown_begin(void);
bool http_client_stopping(void);

struct http_stream;

/* For a caller that drives many streams on one thread in its own curl multi
 * (store_watch.c): a new easy handle (a CURL *) with this client's settings
 * and the request to endpoint `attempt`, counted from the one that last
 * worked; NULL once attempt is past the last endpoint. body and headers (a
 * struct curl_slist *) must outlive the transfer; curl_easy_cleanup frees
 * the handle. */
void *http_client_stream_handle(struct http_client *c, const char *method, const char *path,
                                const char *body, size_t body_len, size_t attempt, void *headers);

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
/* Thread: any. Makes a running (or the next) http_stream_run end soon as if
 * the server had ended the stream (it returns 0); later runs are
 * unaffected (a shared informer's watch, to relist for a newcomer). */
void http_stream_interrupt(struct http_stream *s);
/* Thread: any. Closes the stream's connection as if the network cut it
 * (used by tests and by callers that want a fresh connection). */
void http_stream_reset(struct http_stream *s);

#endif
