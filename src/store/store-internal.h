/* SPDX-License-Identifier: Apache-2.0
 * store-internal.h - shared between store.c, store_watch.c and the codec:
 * etcd gateway JSON encoding and the call path with retry/backoff. */
#ifndef K3C_STORE_INTERNAL_H
#define K3C_STORE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "client/client.h"
#include "store/store.h"

struct store {
    struct http_client *http;       /* reads and watches (request_timeout_ms) */
    struct http_client *http_write; /* writes (write_timeout_ms) */
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
