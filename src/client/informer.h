/* SPDX-License-Identifier: Apache-2.0
 * informer.h - a client-side informer over the Kubernetes API: list, then
 * watch a collection (resumed by resourceVersion after a broken
 * connection, relisted after 410 Gone), with a local cache of the objects
 * keyed by namespace/name. The agent's parts that follow cluster-wide
 * objects (Services, EndpointSlices, Nodes: DNS, the service proxy, the
 * pod network) each run one. The server's control loops use the API
 * server's own watch caches instead (controllers/ctl_informer.c).
 *
 * One thread per informer (per shared watch: see informer_config.shared);
 * callbacks run on it, one at a time, in the order of the events, with the informer's lock held (so
 * they must not block, nor call informer_foreach/informer_get of the same informer). A relist
 * delivers on_upsert for every object it finds and on_delete for every cached object it no longer
 * finds, then on_synced. Objects passed to callbacks are borrowed (the cache owns them; json_incref
 * to keep one). */
#ifndef K3C_CLIENT_INFORMER_H
#define K3C_CLIENT_INFORMER_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "client/client.h"

struct informer_ops {
    /* An object was added or changed (old is the cached previous version,
     * NULL for a new one). */
    void (*on_upsert)(void *userdata, const json_t *obj, const json_t *old);
    /* An object was deleted (obj: its last known state). */
    void (*on_delete)(void *userdata, const json_t *obj);
    /* A (re)list finished: the cache now matches the server. May be NULL. */
    void (*on_synced)(void *userdata);
};

struct informer_config {
    struct http_client *client; /* borrowed; must outlive the informer */
    /* The collection, e.g. "/api/v1/services" or
     * "/apis/discovery.k8s.io/v1/endpointslices"; no query string. */
    const char *path;
    const char *label_selector; /* may be NULL */
    const char *field_selector; /* may be NULL */
    const char *name;           /* for log lines, e.g. "services" */
    const struct informer_ops *ops;
    void *userdata;
    /* What the cache keeps of each object (a new reference), when only a
     * few of its fields are read: informer_metadata_form for the cluster
     * DNS, which keeps its own compact copy (the full objects of 10,000
     * endpoints cost ~15 MB); the network policies' pods keep their labels,
     * IP, node and ports (~1 KB instead of ~40 KB of tree per pod).
     * Callbacks still get the full new object; old and deleted objects,
     * informer_get and informer_foreach carry the kept form, which must hold
     * metadata.namespace, name and resourceVersion. NULL: the whole object. */
    json_t *(*cache_form)(const json_t *obj);
    /* Share one list + watch (one connection and thread) with the other
     * started informers of the same client, path and selectors that set it
     * too; each keeps its own cache, callbacks and lock. One that joins a
     * running watch makes it relist: it gets every object, the others only
     * what changed (and on_synced again). */
    bool shared;
};

struct informer;

/* Removes metadata.managedFields from obj: the server-side apply
 * bookkeeping, which no client-side part reads and which is often as large
 * as the rest of the object (a pod's: ~half its tree). The informer drops it
 * from every object before its callbacks and its cache see it, as client-go
 * informers' usual transform does; the kubelet's pod watch likewise. */
void informer_drop_managed_fields(json_t *obj);

/* A cache_form: metadata.namespace, name and resourceVersion only. */
json_t *informer_metadata_form(const json_t *obj);

/* Copies cfg's strings. INVALID for a missing client, path or ops. */
struct informer *informer_new(const struct informer_config *cfg, struct k3c_err *err);
/* Starts the list + watch thread. */
int informer_start(struct informer *inf, struct k3c_err *err);
/* Stops the thread (after a running callback returns) and frees. NULL ok. */
void informer_free(struct informer *inf);

/* Thread: any. True once the first list has been delivered. */
bool informer_synced(struct informer *inf);
/* Thread: any. Waits up to timeout_ms for the first sync; true if synced. */
bool informer_wait_synced(struct informer *inf, int timeout_ms);

/* Thread: any. Drops the watch connection as a network cut (or a dying
 * server) would; the informer resumes from its resourceVersion. */
void informer_reset_connection(struct informer *inf);

/* Thread: any (not from a callback of the same informer). Calls fn for
 * each cached object under the informer's lock; fn must not block. */
void informer_foreach(struct informer *inf, void (*fn)(void *ud, const json_t *obj), void *ud);
/* Thread: any (not from a callback of the same informer). A new reference
 * to the cached object ns/name (ns "" for cluster-scoped), or NULL. */
json_t *informer_get(struct informer *inf, const char *ns, const char *name);

#endif
