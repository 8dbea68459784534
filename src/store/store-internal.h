/* SPDX-License-Identifier: Apache-2.0
 * store-internal.h - shared between store.c, store_watch.c, store_grpc.c
 * and the codec: etcd gateway JSON encoding, the call path with
 * retry/backoff, and the writes' transactions. */
#ifndef K3C_STORE_INTERNAL_H
#define K3C_STORE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "client/client.h"
#include "store/store.h"

struct store_grpc;

struct store {
    struct http_client *http;       /* reads and watches (request_timeout_ms) */
    struct http_client *http_write; /* writes (write_timeout_ms) */
    /* Writes over gRPC when the first endpoint is the local member's unix
     * socket (store_grpc.c); NULL otherwise. */
    struct store_grpc *grpc;
    long read_timeout_ms;
    long write_timeout_ms;
    int64_t retry_timeout_ms;
    atomic_bool outage; /* true while etcd is unreachable; logged once per outage */
    atomic_llong outage_since_ms;
};

/* POSTs body (consumed) to an etcd gateway path and parses the answer.
 * Retries while etcd is unavailable (only connection failures for writes,
 * which were then never sent). Maps gateway errors to kinds. */
json_t *store_call_take(struct store *s, const char *path, json_t *body, bool idempotent,
                        struct k3c_err *err);

/* One attempt, not retried (text is the JSON body; write: may change
 * state). For calls that must fail fast, as /readyz's. */
json_t *store_call_once(struct store *s, const char *path, const char *text, bool write,
                        struct k3c_err *err);

/* Sets err from an etcd status: a gRPC code and message, as the gateway
 * also reports them ("code" and "message" in its error body). what names
 * the call in the message. */
int store_etcd_error(const char *what, int code, const char *msg, struct k3c_err *err);

/* ---- writes: one transaction on one key (store.c) ---- */

enum store_txn_compare {
    STORE_TXN_ALWAYS, /* no compare: the success branch runs */
    STORE_TXN_CREATE, /* the key's create_revision equals revision (0: absent) */
    STORE_TXN_MOD,    /* the key's mod_revision equals revision */
};

struct store_txn {
    const char *key;
    enum store_txn_compare compare;
    int64_t revision;
    /* A put of these bytes (as stored: sealed for Secrets), or, with value
     * NULL, a delete of the key that returns what it deleted. */
    const void *value;
    size_t len;
    int64_t lease;
    bool want_kv; /* decode the kv of the answer into the result */
};

struct store_txn_result {
    bool succeeded;
    int64_t revision; /* the store's revision after the transaction */
    /* Compare failed: the key as it is now (the failure branch ranges over
     * it), if it exists. Delete succeeded: the deleted kv. */
    bool has_kv;
    struct store_kv kv;
};

void store_txn_result_fini(struct store_txn_result *r);

/* ---- gRPC to the local member (store_grpc.c) ---- */

/* Connections to etcd's unix socket at path, made as calls need them and
 * kept idle for the next. */
struct store_grpc *store_grpc_new(const char *path);
void store_grpc_free(struct store_grpc *g);
enum store_grpc_outcome {
    STORE_GRPC_DONE = 0,      /* *r holds etcd's answer */
    STORE_GRPC_REFUSED = -1,  /* etcd answered with an error status (err) */
    STORE_GRPC_NOT_SENT = 1,  /* no connection could be made (err) */
    STORE_GRPC_NO_ANSWER = 2, /* sent, then the connection broke or the time ran out (err) */
};

/* One attempt of t within timeout_ms; an enum store_grpc_outcome. */
int store_grpc_txn(struct store_grpc *g, const struct store_txn *t, long timeout_ms,
                   struct store_txn_result *r, struct k3c_err *err);
/* One attempt of a linearizable read of key: *kv (fini it) and *found
 * true when it exists. An enum store_grpc_outcome. */
int store_grpc_get(struct store_grpc *g, const char *key, long timeout_ms, struct store_kv *kv,
                   bool *found, struct k3c_err *err);
/* One attempt of a linearizable read of the store's revision. */
int store_grpc_revision(struct store_grpc *g, long timeout_ms, int64_t *rev, struct k3c_err *err);

/* Codec (store_codec.c): pure functions, unit tested. */
/* The smallest key greater than every key with this prefix (etcd range_end);
 * "\0" (the whole keyspace) for an empty prefix. Caller frees. */
char *store_prefix_end(const char *prefix);
/* Base64 of a NUL-terminated key. */
json_t *store_json_b64(const char *s);
/* Reads an int64 that the gateway may send as a string or a number; 0 if absent. */
int64_t store_json_int64(const json_t *obj, const char *field);
/* Decodes {"key","value","create_revision",...} into kv. */
int store_kv_from_json(const json_t *j, struct store_kv *kv, struct k3c_err *err);

/* One event of a watch message. */
struct store_watch_event {
    bool deleted; /* "type":"DELETE" (PUT, the default, is left out) */
    struct store_kv kv;
};

void store_watch_event_fini(struct store_watch_event *ev);
void store_watch_events_free(struct store_watch_event *v, size_t n);
/* Splits a watch message without parsing its events with jansson (it is
 * slow on the long base64 strings they carry): the events (values opened
 * as store_kv_from_json opens them) into *events, and the rest of the
 * message, with "events":[], parsed into *rest. -1 (nothing to free) when
 * the message is not a JSON object with result.events in the shape etcd
 * writes: the caller then parses it whole, which gives the same events. */
int store_watch_msg_split(const char *msg, size_t len, json_t **rest,
                          struct store_watch_event **events, size_t *n_events);

#endif
