/* SPDX-License-Identifier: Apache-2.0
 * store.h - the one narrow storage interface of k3c, over etcd's v3 API
 * (JSON gateway, HTTP/1.1 keep-alive; see docs/store.md for why). Nothing
 * else in k3c knows that etcd exists. Keys are byte strings without NUL;
 * values are opaque bytes (JSON objects, by convention).
 * Revisions are etcd revisions: an object's resourceVersion is its
 * mod_revision. Every call is safe from any thread.
 *
 * Errors (err->kind): K3C_E_NOT_FOUND, K3C_E_EXISTS, K3C_E_CONFLICT,
 * K3C_E_COMPACTED, K3C_E_UNAVAILABLE (etcd unreachable after retrying with
 * backoff for retry_timeout_ms), K3C_E_BAD_REQUEST, K3C_E_INTERNAL. */
#ifndef K3C_STORE_STORE_H
#define K3C_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct store_config {
    const char *const *endpoints; /* etcd client URLs, NULL-terminated */
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    int64_t retry_timeout_ms; /* how long an unreachable etcd is retried; 0: 30000 */
    /* One request's limit, after which the next endpoint is tried. A write
     * is cut sooner: a proposal that the leader's death left hanging would
     * otherwise wait etcd's own 7 s (5 s + 2 election timeouts) before it
     * fails, and no write could be acknowledged in between; 2.5 s is past a
     * new leader's election (1-2 s with k3c's 1 s election timeout).
     * 0: 5000 / 2500. */
    long request_timeout_ms;
    long write_timeout_ms;
};

struct store;

struct store *store_new(const struct store_config *cfg, struct k3c_err *err);
void store_free(struct store *s);

struct store_kv {
    char *key;
    char *value; /* NUL-terminated for convenience; value_len excludes it */
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease;
};

void store_kv_fini(struct store_kv *kv);

/* Reads one key at the current revision into *out (fini it). NOT_FOUND. */
int store_get(struct store *s, const char *key, struct store_kv *out, struct k3c_err *err);

struct store_list {
    struct store_kv *items;
    size_t n_items;
    int64_t revision;     /* the revision the list was read at */
    char *continue_token; /* NULL on the last page; Kubernetes-compatible format */
    int64_t remaining;    /* items after this page (0 on the last page) */
};

void store_list_fini(struct store_list *l);

/* Lists keys starting with prefix, in key order. limit 0 means no limit.
 * revision 0 reads the current revision. continue_token (from a previous
 * page) fixes both the start key and the revision of the first page, so a
 * paginated list is one consistent snapshot. A revision or token older
 * than the compaction: COMPACTED. A token for another prefix: BAD_REQUEST. */
int store_list(struct store *s, const char *prefix, int64_t limit, const char *continue_token,
               int64_t revision, struct store_list *out, struct k3c_err *err);

/* The continue token format, shared with lists served from a cache: base64
 * of {"v":"meta.k8s.io/v1","rv":REV,"start":"<last key, relative to the
 * listed prefix>"}; the next page starts after that key. Decode gives
 * BAD_REQUEST for anything else. */
char *store_continue_encode(int64_t revision, const char *start_relative);
int store_continue_decode(const char *token, int64_t *revision, char **start_relative,
                          struct k3c_err *err);

/* Creates key; EXISTS if it is there. lease 0 for none. *rev_out (may be NULL)
 * gets the new mod_revision. */
int store_create(struct store *s, const char *key, const void *value, size_t len, int64_t lease,
                 int64_t *rev_out, struct k3c_err *err);

/* Replaces key only if its mod_revision is still expect_rev (compare-and-swap).
 * CONFLICT if it changed (then *current, if not NULL, gets the current kv),
 * NOT_FOUND if it is gone. */
int store_update(struct store *s, const char *key, const void *value, size_t len,
                 int64_t expect_rev, int64_t lease, int64_t *rev_out, struct store_kv *current,
                 struct k3c_err *err);

/* Deletes key if its mod_revision is expect_rev (0: whatever it is).
 * *prev (may be NULL) gets the deleted kv. NOT_FOUND, CONFLICT. */
int store_delete(struct store *s, const char *key, int64_t expect_rev, struct store_kv *prev,
                 int64_t *rev_out, struct k3c_err *err);

/* At revision (0: current): how many keys are under prefix, and the
 * highest mod_revision among them (0 if none). *rev_out (may be NULL) gets
 * the revision looked at. Two small requests: no values are transferred. */
int store_prefix_stats(struct store *s, const char *prefix, int64_t revision, int64_t *count_out,
                       int64_t *max_mod_out, int64_t *rev_out, struct k3c_err *err);

/* The store's current revision. */
int store_revision(struct store *s, int64_t *rev_out, struct k3c_err *err);
/* One linearizable read, not retried: fails within the request timeout
 * when etcd has no quorum (the API server's /readyz). */
int store_ping(struct store *s, struct k3c_err *err);

/* Compacts history up to revision (etcd's compaction; normally etcd's own
 * auto-compaction does this). */
int store_compact(struct store *s, int64_t revision, struct k3c_err *err);

/* Leases: grant with a TTL in seconds; keep-alive returns the new TTL, or
 * NOT_FOUND if the lease expired; revoke deletes its keys. */
int store_lease_grant(struct store *s, int64_t ttl_s, int64_t *id_out, struct k3c_err *err);
int store_lease_keepalive(struct store *s, int64_t id, int64_t *ttl_out, struct k3c_err *err);
int store_lease_revoke(struct store *s, int64_t id, struct k3c_err *err);

/* etcd's raised alarms (NOSPACE: the database hit its quota and etcd takes
 * no writes; CORRUPT): returns how many, and describes them in out
 * ("NOSPACE on member 8e9e05c52164694d"). One request, not retried. */
int store_alarms(struct store *s, char *out, size_t len, struct k3c_err *err);

/* ---- watch ---- */

enum store_event_type {
    STORE_EVENT_PUT,
    STORE_EVENT_DELETE,
};

/* The watch does not ask etcd for the value before each event (prev_kv):
 * etcd would read it from its backend for every update and delete and send
 * it along, and no reader needs it (the watch cache has the old entry). */
struct store_event {
    enum store_event_type type;
    const struct store_kv *kv; /* for DELETE: key and mod_revision of the delete */
};

struct store_watch_ops {
    /* Each event, once, in revision order. Thread: the watch's own thread. */
    void (*on_event)(void *userdata, const struct store_event *ev);
    /* A terminal error; the watch ends after it. COMPACTED when the start
     * revision (or, after a reconnect, the resume revision) was compacted:
     * relist and start a new watch. Thread: the watch's own thread. */
    void (*on_error)(void *userdata, const struct k3c_err *err);
};

struct store_watch;

/* Watches every key under prefix from revision from_rev (0: from now on).
 * The watch runs on its own thread; when its connection breaks (etcd
 * restarts, the network cuts it) it reconnects with backoff and resumes
 * from the last revision it delivered, so no event is lost or repeated. */
struct store_watch *store_watch_start(struct store *s, const char *prefix, int64_t from_rev,
                                      const struct store_watch_ops *ops, void *userdata,
                                      struct k3c_err *err);
/* Stops the thread (after a running callback returns) and frees w. */
void store_watch_stop(struct store_watch *w);
/* Thread: any. Drops the watch's connection as a network cut would; the
 * watch reconnects and resumes. */
void store_watch_reset_connection(struct store_watch *w);
/* The revision the watch will resume from (last delivered + 1). Thread: any. */
int64_t store_watch_next_revision(struct store_watch *w);

#endif
