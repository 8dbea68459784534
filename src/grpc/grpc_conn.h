/* SPDX-License-Identifier: Apache-2.0
 * grpc_conn.h - the little of gRPC that k3c needs, over HTTP/2
 * (libnghttp2) on unix sockets, both ends in one place: a server
 * connection answers unary calls (the kubelet's Registration service), a
 * client connection makes unary calls (the device plugins', the store's
 * calls to its etcd member) and follows server streams (ListAndWatch).
 * Messages are gRPC's length-prefixed frames (1 byte compressed flag,
 * 4 bytes big-endian length), never compressed; a message above
 * GRPC_MAX_MSG fails its stream. Status comes in the grpc-status and
 * grpc-message trailers (or headers, for a trailers-only answer).
 *
 * A connection is driven by its owner's poll loop (grpc_conn_io) or, for
 * a blocking unary call, by grpc_conn_unary (grpc_unary on a fresh
 * connection). Not thread-safe: one thread per connection. */
#ifndef K3C_GRPC_GRPC_CONN_H
#define K3C_GRPC_GRPC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define GRPC_MAX_MSG (4 << 20) /* gRPC's default receive limit */

enum grpc_status {
    GRPC_OK = 0,
    GRPC_UNKNOWN = 2,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
};

struct grpc_conn;

/* Server side: one request message of method ("/v1beta1.Registration/
 * Register") arrived whole. Returns a grpc_status; on GRPC_OK *resp
 * (malloc'd, may be NULL for an empty message) is the answer, else
 * *message (malloc'd, may stay NULL) says why. */
typedef int (*grpc_handler_fn)(void *ud, const char *method, const uint8_t *req, size_t len,
                               uint8_t **resp, size_t *resp_len, char **message);
/* Client side: one response message (the stream goes on). */
typedef void (*grpc_msg_fn)(void *ud, const uint8_t *msg, size_t len);
/* Client side: the call is over with status (GRPC_UNAVAILABLE when the
 * connection went first). */
typedef void (*grpc_end_fn)(void *ud, int status, const char *message);

/* Takes fd (non-blocking, a connected stream socket; -1 for a connection
 * fed by grpc_conn_feed only, as the fuzzer does: output is dropped). */
struct grpc_conn *grpc_conn_server_new(int fd, grpc_handler_fn handler, void *ud);
struct grpc_conn *grpc_conn_client_new(int fd);
/* Closes the fd; calls still open end with GRPC_UNAVAILABLE. */
void grpc_conn_free(struct grpc_conn *c);
int grpc_conn_fd(const struct grpc_conn *c);
/* The poll events to wait for: POLLIN, with POLLOUT while output waits. */
short grpc_conn_events(const struct grpc_conn *c);
/* Reads what the socket has, then writes what is queued. -1 (err) when
 * the connection is over: closed by the peer, or a protocol error. */
int grpc_conn_io(struct grpc_conn *c, struct k3c_err *err);
/* Hands bytes to the HTTP/2 session as if read from the socket. */
int grpc_conn_feed(struct grpc_conn *c, const uint8_t *data, size_t len, struct k3c_err *err);

/* For a client connection kept idle between calls: reads what came in
 * meanwhile (SETTINGS, PING, GOAWAY, the peer's close) and says whether a
 * new call may start on it. */
bool grpc_conn_usable(struct grpc_conn *c);

/* Starts a call of method with one request message; on_msg per response
 * message, on_end once. Returns 0 or -1 (err). */
int grpc_call_start(struct grpc_conn *c, const char *method, const uint8_t *req, size_t len,
                    grpc_msg_fn on_msg, grpc_end_fn on_end, void *ud, struct k3c_err *err);

/* A unary call on connection c (idle: no call open on it), waiting at most
 * timeout_ms. Returns 0 when the call ended: *status is its grpc_status,
 * *message (malloc'd, may be NULL) its grpc-message, and on GRPC_OK *resp
 * (malloc'd; NULL for an empty message) the one answer. -1 (err): the
 * connection failed or the time ran out; free c then, the call may still
 * be open on it. */
int grpc_conn_unary(struct grpc_conn *c, const char *method, const uint8_t *req, size_t len,
                    int timeout_ms, int *status, char **message, uint8_t **resp, size_t *resp_len,
                    struct k3c_err *err);

/* A unary call on a fresh connection to the unix socket path, waiting at
 * most timeout_ms: *resp (malloc'd; NULL for an empty message). A status
 * other than OK is UNAVAILABLE/TIMEOUT/INVALID with the method, the status
 * and its message. */
int grpc_unary(const char *path, const char *method, const uint8_t *req, size_t len, int timeout_ms,
               uint8_t **resp, size_t *resp_len, struct k3c_err *err);

/* A non-blocking stream socket connected to the unix socket path. */
int grpc_unix_connect(const char *path, struct k3c_err *err);
/* A non-blocking listening socket at path (an old socket file removed). */
int grpc_unix_listen(const char *path, struct k3c_err *err);

#endif
