/* SPDX-License-Identifier: Apache-2.0
 * api-internal.h - the pieces of the API server and how they meet:
 * the resource table (api_resources.c), selectors (api_selector.c), the
 * watch cache (api_watchcache.c), tables (api_table.c), validation
 * (api_validate.c), Status objects (api_status.c), HTTP (api_http.c),
 * handlers (api_handlers.c), discovery (api_discovery.c), auth (api_auth.c). */
#ifndef K3C_API_INTERNAL_H
#define K3C_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "base/err.h"
#include "store/store.h"

/* ---- resource table (api_resources.c) --------------------------------- */

enum api_subresource {
    API_SUB_STATUS = 1 << 0,
    API_SUB_SCALE = 1 << 1,
};

struct api_column {
    const char *name;        /* "NAME", "READY", ... */
    const char *type;        /* "string", "integer", "date" */
    const char *format;      /* "name" for NAME, "" otherwise */
    const char *description;
    int priority;            /* 0: always shown; 1: with -o wide */
};

/* Fills the cells for one object: a JSON array with one value per column
 * (strings, integers, or for "date" the object's creationTimestamp string:
 * kubectl turns it into an age). now_s is the current Unix time. */
typedef json_t *(*api_row_fn)(const json_t *obj, int64_t now_s);

/* Adds a cause to causes for each problem in obj (a JSON array of
 * {"reason":"FieldValueInvalid|FieldValueRequired|...","message":...,"field":"spec.x"}).
 * old is the stored object on update, NULL on create. */
typedef void (*api_validate_fn)(const json_t *obj, const json_t *old, json_t *causes);
/* Fills defaults in obj (create and update). */
typedef void (*api_defaults_fn)(json_t *obj);

struct api_resource {
    const char *group;   /* "" for the core group */
    const char *version; /* "v1" */
    const char *kind;    /* "Pod" */
    const char *list_kind; /* "PodList" */
    const char *plural;  /* "pods"; also the etcd directory /registry/<plural>/ */
    const char *singular;
    const char *const *short_names; /* NULL-terminated, may be NULL */
    const char *const *categories;  /* {"all", NULL} for workloads */
    bool namespaced;
    unsigned subresources; /* API_SUB_* */
    /* Field selectors this kind supports besides metadata.name and
     * metadata.namespace, as JSON paths ("spec.nodeName"). NULL-terminated. */
    const char *const *field_selectors;
    const struct api_column *columns; /* terminated by {NULL}; NAME first */
    api_row_fn row;
    api_validate_fn validate; /* may be NULL */
    api_defaults_fn defaults; /* may be NULL */
    /* True if the main resource's PUT ignores .status and /status ignores
     * everything but .status (upstream's split for kinds with a status). */
    bool has_status;
};

/* The table; terminated by an entry with kind == NULL. */
extern const struct api_resource api_resources[];
/* Looks up by group, version and plural. NULL if not served. */
const struct api_resource *api_resource_find(const char *group, const char *version,
                                             const char *plural);
/* "apps/v1" or "v1". */
const char *api_resource_api_version(const struct api_resource *r, char *buf, size_t len);

/* ---- validation helpers (api_validate.c) ------------------------------ */

/* Appends {"reason","message","field"} to causes. */
void api_cause_add(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* DNS-1123 subdomain (<= 253, [a-z0-9.-], alnum at both ends) and label (<= 63). */
bool api_is_dns1123_subdomain(const char *s);
bool api_is_dns1123_label(const char *s);
/* Validates metadata common to every kind: name (DNS-1123 subdomain, or
 * label when label_names), namespace presence, labels (qualified keys,
 * values <= 63 chars [A-Za-z0-9._-] alnum-bounded), annotations (total size
 * <= 256 KiB). Adds causes with fields like "metadata.labels". */
void api_validate_metadata(const json_t *obj, bool namespaced, bool label_names, json_t *causes);

/* ---- selectors (api_selector.c) ---------------------------------------- */

struct label_selector;
/* Parses a Kubernetes label selector string: "a=b,c!=d,e in (x,y),f notin
 * (z),g,!h", also "==". An empty string selects everything. BAD_REQUEST. */
struct label_selector *label_selector_parse(const char *s, struct k3c_err *err);
/* labels is the object's metadata.labels (a JSON object) or NULL. */
bool label_selector_matches(const struct label_selector *sel, const json_t *labels);
void label_selector_free(struct label_selector *sel);

struct field_selector;
/* Parses "a=b,c!=d,e==f" where each field is metadata.name,
 * metadata.namespace or one of supported (NULL-terminated). An unsupported
 * field is BAD_REQUEST with message `field label not supported: <field>`. */
struct field_selector *field_selector_parse(const char *s, const char *const *supported,
                                            struct k3c_err *err);
/* Field values come from get(ud, field): the value as a string, or NULL
 * when the field is absent (compared as ""). */
bool field_selector_matches(const struct field_selector *sel,
                            const char *(*get)(void *ud, const char *field), void *ud);
void field_selector_free(struct field_selector *sel);
/* Reads a dotted JSON path ("spec.nodeName") from obj as a string: strings
 * as they are, numbers and booleans printed; NULL if absent. The returned
 * string lives as long as obj or buf (numbers are printed into buf). */
const char *api_json_path_string(const json_t *obj, const char *path, char *buf, size_t len);

/* ---- watch cache (api_watchcache.c) ------------------------------------ */

/* One stored object as the cache keeps it: its serialised JSON (with
 * metadata.resourceVersion set to its mod_revision) plus what filters need.
 * Entries are immutable and reference counted; a reader holds a ref. */
struct wc_entry {
    char *key;       /* /registry/pods/default/nginx */
    char *namespace; /* "" for cluster-scoped */
    char *name;
    char *json;      /* compact serialised object */
    size_t json_len;
    int64_t revision; /* mod_revision */
    json_t *labels;   /* metadata.labels, or NULL */
    char **fields;    /* values of the cache's index_fields, same order; NULL entries when absent */
    int refs;         /* atomic */
};

struct wc_entry *wc_entry_ref(struct wc_entry *e);
struct wc_entry *wc_entry_unref(struct wc_entry *e); /* always returns NULL */
/* Parses e->json into a new tree (caller json_decref()s). */
json_t *wc_entry_object(const struct wc_entry *e);

enum wc_event_type { WC_ADDED, WC_MODIFIED, WC_DELETED };

struct wc_event {
    enum wc_event_type type;
    struct wc_entry *entry; /* for DELETED: the last state, with revision = the delete's revision */
    struct wc_entry *prev;  /* the state before a MODIFIED/DELETED; NULL for ADDED */
    int64_t revision;
};

struct watch_cache;

/* Starts a cache of every object under prefix ("/registry/pods/"): lists,
 * then follows one store watch; relists on compaction. index_fields are the
 * dotted paths extracted into entry->fields (NULL-terminated, may be NULL). */
struct watch_cache *watch_cache_new(struct store *s, const char *prefix,
                                    const char *const *index_fields, struct k3c_err *err);
void watch_cache_free(struct watch_cache *wc);
/* Waits until the cache holds etcd's state at revision rev or later
 * (rev 0: the store's current revision, read now). TIMEOUT/UNAVAILABLE. */
int watch_cache_sync(struct watch_cache *wc, int64_t rev, int timeout_ms, struct k3c_err *err);
int64_t watch_cache_revision(struct watch_cache *wc);

/* Calls fn for every entry whose key starts with key_prefix, in key order,
 * under the cache's read lock (fn must not block or call back into the
 * cache; take a ref to keep an entry). Returns the cache revision. */
int64_t watch_cache_foreach(struct watch_cache *wc, const char *key_prefix,
                            void (*fn)(void *ud, struct wc_entry *e), void *ud);
/* A new ref to the entry at key, or NULL. */
struct wc_entry *watch_cache_get(struct watch_cache *wc, const char *key);

struct wc_watcher;
/* Subscribes to events after revision from_rev (events with revision >
 * from_rev). from_rev 0: from now. COMPACTED if from_rev is older than the
 * cache's event window (the caller answers 410 Expired). */
struct wc_watcher *watch_cache_subscribe(struct watch_cache *wc, int64_t from_rev,
                                         struct k3c_err *err);
/* Waits up to timeout_ms for the next event. Returns 1 with *ev filled
 * (release it with wc_event_fini), 0 on timeout, -1 when the watcher was
 * closed (cache stopped, or the watcher fell too far behind: *err says). */
int wc_watcher_next(struct wc_watcher *w, int timeout_ms, struct wc_event *ev, struct k3c_err *err);
void wc_event_fini(struct wc_event *ev);
void wc_watcher_free(struct wc_watcher *w);

#endif
