/* SPDX-License-Identifier: Apache-2.0
 * api-internal.h - the pieces of the API server and how they meet:
 * the resource table (api_resources.c), selectors (api_selector.c), the
 * watch cache (api_watchcache.c), each kind's columns, rows, validation and
 * defaults (kind_<name>.c, helpers in api-kind.h), Status objects (api_status.c), HTTP
 * (api_http.c), handlers (api_handlers.c), discovery (api_discovery.c), auth (api_auth.c). */
#ifndef K3C_API_INTERNAL_H
#define K3C_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base/buf.h"

#include "api/api-wctext.h"
#include "api/api.h"
#include "base/err.h"
#include "store/store.h"

/* ---- resource table (api_resources.c) --------------------------------- */

enum api_subresource {
    API_SUB_STATUS = 1 << 0,
    API_SUB_SCALE = 1 << 1,
};

struct api_column {
    const char *name;   /* "Name", "Ready", ... (kubectl upper-cases them) */
    const char *type;   /* "string", "integer", "date" */
    const char *format; /* "name" for NAME, "" otherwise */
    const char *description;
    int priority; /* 0: always shown; 1: with -o wide */
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

struct api_server;

/* What some kinds do around a write besides storing: allocate and release
 * things that live outside the object (a Service's cluster IP and node
 * ports). Any hook may be NULL. Thread: the request's. */
struct api_hooks {
    /* Before a create is stored. Adds causes (422) for bad requests, or
     * returns -1 with err for failures (5xx). Must undo its own partial work. */
    int (*allocate)(struct api_server *srv, json_t *obj, json_t *causes, struct k3c_err *err);
    /* After the create failed to store, or the object was deleted. */
    void (*release)(struct api_server *srv, const json_t *obj);
    /* On update: carry what was allocated from old into obj when obj leaves
     * it out (as upstream does for clusterIP and nodePort). */
    void (*carry)(json_t *obj, const json_t *old);
};

struct api_resource {
    const char *group;     /* "" for the core group */
    const char *version;   /* "v1" */
    const char *kind;      /* "Pod" */
    const char *list_kind; /* "PodList" */
    const char *plural;    /* "pods"; also the etcd directory /registry/<plural>/ */
    const char *singular;
    const char *const *short_names; /* NULL-terminated, may be NULL */
    const char *const *categories;  /* {"all", NULL} for workloads */
    bool namespaced;
    unsigned subresources; /* API_SUB_* */
    /* Field selectors this kind supports besides metadata.name and
     * metadata.namespace, as JSON paths ("spec.nodeName"). NULL-terminated. */
    const char *const *field_selectors;
    const struct api_column *columns; /* terminated by {NULL}; Name first but for events */
    api_row_fn row;
    api_validate_fn validate; /* may be NULL */
    api_defaults_fn defaults; /* may be NULL */
    /* True if the main resource's PUT ignores .status and /status ignores
     * everything but .status (upstream's split for kinds with a status). */
    bool has_status;
    /* Keep .status given on create (nodes register with their status);
     * otherwise create drops it like upstream's PrepareForCreate. */
    bool status_on_create;
    const struct api_hooks *hooks; /* may be NULL */
    /* Stored under an etcd lease of --event-ttl (Events, as kube-apiserver). */
    bool ttl_lease;
    /* Computed on request, never stored (metrics.k8s.io): no watch cache. */
    bool not_stored;
    /* Turns the stored (storage-version) object into this row's version
     * for single-object replies (autoscaling/v1 HPA); may be NULL. */
    void (*convert_out)(json_t *obj);
    /* The etcd directory under /registry/ when it is not plural (custom
     * resources: "<group>/<plural>", as upstream stores them). */
    const char *store_dir;
};

extern const struct api_hooks api_service_hooks; /* api_service.c */

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
/* The value at a dotted path ("spec.template.spec"), borrowed from obj;
 * NULL if absent or if a step is not an object. */
const json_t *api_json_path(const json_t *obj, const char *path);

/* ---- per-kind hooks (kind_<name>.c; helpers in api-kind.h) ------------- */

/* upstream's duration.HumanDuration ("45s", "3m20s", "5h4m", "2d3h", "3y12d");
 * negative below -1s is "<invalid>". Returns buf. */
const char *api_human_duration(int64_t seconds, char *buf, size_t len);
/* A row's cells computed once per object version (the watch cache keeps it
 * with the entry): the JSON text of row(obj, ...) with each duration up to
 * "now" left as a marker; NULL if row gives no array. */
char *api_table_row_template(api_row_fn row, const json_t *obj, size_t *len);
struct k3c_buf;
/* Appends a template's cells as row(obj, now_s) would give them. */
void api_table_render_cells(struct k3c_buf *out, const char *tmpl, size_t len, int64_t now_s);

/* Columns and rows as kube-apiserver's printers give them; the row always
 * carries every column (kubectl drops priority 1 without -o wide). */
extern const struct api_column api_columns_namespace[], api_columns_node[], api_columns_pod[],
    api_columns_service[], api_columns_endpoints[], api_columns_configmap[], api_columns_secret[],
    api_columns_serviceaccount[], api_columns_event[], api_columns_deployment[],
    api_columns_replicaset[], api_columns_daemonset[], api_columns_job[], api_columns_lease[],
    api_columns_endpointslice[];
json_t *api_row_namespace(const json_t *obj, int64_t now_s);
json_t *api_row_node(const json_t *obj, int64_t now_s);
json_t *api_row_pod(const json_t *obj, int64_t now_s);
json_t *api_row_service(const json_t *obj, int64_t now_s);
json_t *api_row_endpoints(const json_t *obj, int64_t now_s);
json_t *api_row_configmap(const json_t *obj, int64_t now_s);
json_t *api_row_secret(const json_t *obj, int64_t now_s);
json_t *api_row_serviceaccount(const json_t *obj, int64_t now_s);
json_t *api_row_event(const json_t *obj, int64_t now_s);
json_t *api_row_deployment(const json_t *obj, int64_t now_s);
json_t *api_row_replicaset(const json_t *obj, int64_t now_s);
json_t *api_row_daemonset(const json_t *obj, int64_t now_s);
json_t *api_row_job(const json_t *obj, int64_t now_s);
json_t *api_row_lease(const json_t *obj, int64_t now_s);
json_t *api_row_endpointslice(const json_t *obj, int64_t now_s);

/* Validate hooks: the kind's own rules. The handler runs api_validate_metadata
 * first (label_names for namespaces), after r->defaults. */
void api_validate_pod(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_service(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_configmap(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_secret(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_deployment(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_replicaset(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_daemonset(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_job(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_lease(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_endpointslice(const json_t *obj, const json_t *old, json_t *causes);
/* Defaults hooks (upstream's SetDefaults_* plus the create-time status the
 * registry strategies set). */
void api_defaults_namespace(json_t *obj);
void api_defaults_pod(json_t *obj);
/* DefaultTolerationSeconds admission: adds the node.kubernetes.io/not-ready
 * and /unreachable NoExecute tolerations (Exists, tolerationSeconds) to a
 * pod that has none for those taints. */
void api_pod_default_tolerations(json_t *pod, int not_ready_s, int unreachable_s);
void api_defaults_service(json_t *obj);
void api_defaults_secret(json_t *obj);
void api_defaults_deployment(json_t *obj);
void api_defaults_replicaset(json_t *obj);
void api_defaults_daemonset(json_t *obj);
void api_defaults_job(json_t *obj);

/* ---- selectors (api_selector.c) ---------------------------------------- */

struct label_selector;
/* Parses a Kubernetes label selector string: "a=b,c!=d,e in (x,y),f notin
 * (z),g,!h", also "==". An empty string selects everything. BAD_REQUEST. */
struct label_selector *label_selector_parse(const char *s, struct k3c_err *err);
/* labels is the object's metadata.labels (a JSON object) or NULL. */
bool label_selector_matches(const struct label_selector *sel, const json_t *labels);
struct wc_entry;
/* The same against a watch cache entry's labels. */
bool label_selector_matches_entry(const struct label_selector *sel, const struct wc_entry *e);
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
    struct wc_text text; /* the compact serialised object, packed (read with wc_entry_json) */
    int64_t revision;    /* mod_revision */
    char *labels;        /* metadata.labels as n_labels "key\0value\0" pairs (use wc_entry_label) */
    char **fields; /* values of the cache's index_fields, same order; NULL entries when absent */
    char *row;     /* the table row's cells (api_table_row_template), or NULL */
    /* 32-bit sizes: an object is at most etcd's request limit (1.5 MB), and
     * a cache holds one entry per object (issue #20: bytes per entry). */
    uint32_t json_len; /* the JSON text's length */
    uint32_t n_labels;
    uint32_t meta_off, meta_len; /* metadata's value inside the JSON text */
    uint32_t row_len;
    int refs; /* atomic */
};

struct wc_entry *wc_entry_ref(struct wc_entry *e);
struct wc_entry *wc_entry_unref(struct wc_entry *e); /* always returns NULL */
/* Parses the entry's JSON into a new tree (caller json_decref()s); NULL if
 * its stored text is unreadable (logged). */
json_t *wc_entry_object(const struct wc_entry *e);
/* Appends the entry's JSON text to out. -1 (logged, with err) when the
 * stored text is unreadable (corrupt), which no entry built here is. */
int wc_entry_json(const struct wc_entry *e, struct k3c_buf *out, struct k3c_err *err);
/* Appends the value of metadata in the entry's JSON (only the text up to
 * it is unpacked). -1 as wc_entry_json. */
int wc_entry_metadata(const struct wc_entry *e, struct k3c_buf *out, struct k3c_err *err);
/* The entry's JSON as a new string (caller free()s; *len its length), NULL
 * when unreadable. */
char *wc_entry_json_dup(const struct wc_entry *e, size_t *len);
/* Whether the entry's JSON text contains needle (true when unreadable, so
 * that a caller that parses next meets the error). */
bool wc_entry_json_has(const struct wc_entry *e, const char *needle);
/* The value of label key ("" for a value that is not a string), or NULL. */
const char *wc_entry_label(const struct wc_entry *e, const char *key);
/* metadata.labels as a new object (caller json_decref()s), NULL when none. */
json_t *wc_entry_labels(const struct wc_entry *e);

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
/* The same, keeping each object's table row (row: the resource's row
 * function; NULL: none) with its entry. */
struct watch_cache *watch_cache_new_with_rows(struct store *s, const char *prefix,
                                              const char *const *index_fields, api_row_fn row,
                                              struct k3c_err *err);
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
/* Like watch_cache_foreach, for one page: starts after the key start_after
 * (NULL: at the prefix) and stops when fn returns false. */
int64_t watch_cache_foreach_after(struct watch_cache *wc, const char *key_prefix,
                                  const char *start_after, bool (*fn)(void *ud, struct wc_entry *e),
                                  void *ud);
/* A new ref to the entry at key, or NULL. */
struct wc_entry *watch_cache_get(struct watch_cache *wc, const char *key);
/* What a write is about to store at key: obj, which gets a ref and must
 * not change any more, and json, the bytes stored (api_object_encode_marked_at's
 * text: obj without its resourceVersion, metadata's braces at meta_off and
 * meta_end; copied). When the store watch delivers those very bytes at key,
 * the cache builds the entry from them instead of parsing the bytes again
 * (issue #20). wc may be NULL. */
void watch_cache_offer(struct watch_cache *wc, const char *key, json_t *obj, const char *json,
                       size_t len, size_t meta_off, size_t meta_end);
/* Drops the offers for key (its write failed). */
void watch_cache_withdraw(struct watch_cache *wc, const char *key);
/* From now on the cache keeps {"metadata": ...} (with resourceVersion) of
 * the last 64 entries it built from offers, for informers whose handlers
 * read only metadata; watch_cache_entry_metadata returns a ref to e's, or
 * NULL when it has none (then parse e). */
void watch_cache_keep_metadata(struct watch_cache *wc);
json_t *watch_cache_entry_metadata(struct watch_cache *wc, const struct wc_entry *e);

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

/* ---- server, requests, responses (api_server.c, api_http.c) ------------ */

struct MHD_Connection;

struct api_user {
    char name[256];
    char groups[8][128];
    int n_groups;
    bool authenticated;
    /* issue #15: set by impersonation (Impersonate-Uid, Impersonate-Extra-*) */
    char uid[128];
    struct {
        char key[64], value[192];
    } extra[8];
    int n_extra;
};

struct api_token; /* one line of the static token file */

/* Per TLS connection (libmicrohttpd's socket context): what does not change
 * between the requests of one keep-alive connection. */
struct api_conn {
    bool cert_checked;
    bool has_cert_user;
    struct api_user cert_user;
};

struct api_server {
    struct api_config cfg; /* strings owned below */
    char *bind_address, *cert_pem, *key_pem, *client_ca_pem;
    struct store *store;
    struct watch_cache **caches; /* one per api_resources[] row, same index */
    size_t n_resources;
    struct api_token *tokens;
    size_t n_tokens;
    void *daemon; /* struct MHD_Daemon */
    atomic_bool stopping;
    /* IPv4 address (network order) of api_server_drain_address; 0: none. */
    atomic_uint draining_addr;
    int64_t started_s;
    /* /metrics counters */
    atomic_llong requests_total, request_errors_total, watches_active;
    /* exec/attach relays (api_proxy.c) still running: they must hand their
     * upgraded connections back before MHD's daemon stops. */
    atomic_int proxy_sessions;
    /* The TLS credentials shown to kubelets (gnutls_certificate_credentials_t),
     * made on first use under kubelet_cred_lock and kept until the server is
     * freed: minting a key per `kubectl logs` would be work done every time. */
    pthread_mutex_t kubelet_cred_lock;
    void *kubelet_cred;
    /* more /metrics lines from another part (api_server_set_metrics_fn) */
    pthread_mutex_t metrics_fn_lock;
    api_metrics_fn metrics_fn;
    void *metrics_fn_data;
    struct {
        api_metrics_fn fn;
        void *data;
    } metrics_more[4]; /* api_server_add_metrics_fn */
    /* --event-ttl leases (api_lease.c): one lease per time bucket, shared by
     * every object written in it; lease_lock protects the two fields and
     * is never held across a store call. */
    int64_t event_ttl_s;
    pthread_mutex_t lease_lock;
    int64_t lease_bucket, lease_id;
    struct api_metrics *metrics;     /* api_metrics.c, made on first use */
    struct api_rbac *rbac;           /* the RBAC index (api_rbac.c), made on first use */
    struct api_http_loop *http_loop; /* workers and parked streams (api_http_loop.c) */
};

/* ---- TTL leases (api_lease.c) ------------------------------------------ */

/* Pure: for objects written at now_s with time-to-live ttl_s, the time
 * bucket they share a lease in (*bucket_out, an index) and that lease's TTL
 * (*lease_ttl_out = ttl_s + the bucket's width: every object lives at least
 * ttl_s and at most one bucket longer). Buckets are 5% of the TTL, at least
 * 1 s and at most 60 s (kube-apiserver's lease reuse window). */
void api_lease_bucket(int64_t ttl_s, int64_t now_s, int64_t *bucket_out, int64_t *lease_ttl_out);
/* The lease to write an object of res under: 0 when res has none, else the
 * current bucket's (granted on first use). Thread: any. */
int api_lease_for(struct api_server *srv, const struct api_resource *res, int64_t *lease_out,
                  struct k3c_err *err);
/* Whether a write failed because etcd no longer knows lease (a restored or
 * reset cluster); the cached lease is then forgotten, so the caller may ask
 * api_lease_for again and retry once. */
bool api_lease_lost(struct api_server *srv, int64_t lease, const struct k3c_err *err);

/* One HTTP request, from headers to response. Lives on its connection's
 * thread; handlers never share it. */
struct api_request {
    struct api_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *url; /* path only */
    struct k3c_buf body;
    bool body_too_large;
    struct api_user user;
    /* parsed path */
    const struct api_resource *res;
    char *namespace;    /* NULL when not in the path */
    char *name;         /* NULL for collections */
    char *subresource;  /* "status", "scale", NULL */
    json_t *warnings;   /* strings sent as "Warning: 299 - ..." headers, or NULL */
    size_t reply_bytes; /* size of the reply body, when known */
    /* api_http_loop.c: the handler ran on a worker (its MHD result), and
     * whether the client hung up while its stream was parked. */
    bool dispatched, client_gone;
    int dispatch_ret;
};

/* Replies at least this large give their memory back when they are done. */
#define API_TRIM_AFTER_BYTES (1024 * 1024)

/* Adds a warning for the client (kubectl prints "Warning: ..."). */
void api_warn(struct api_request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Looks up a query parameter; NULL if absent. */
const char *api_query(struct api_request *r, const char *key);
/* A boolean query parameter as Go's strconv.ParseBool reads it (clients
 * spell them differently: the Python client sends "True"): 1 true, 0 false
 * or absent, -1 neither. api_query_true: it is there and true. */
int api_query_bool(struct api_request *r, const char *key);
bool api_query_true(struct api_request *r, const char *key);
/* An Accept/Content-Type header; NULL if absent. */
const char *api_header(struct api_request *r, const char *name);
/* The request body as a JSON object, from JSON or (kubectl's typed clients)
 * protobuf; NULL when it is neither (err says why for protobuf). */
json_t *api_body_object(struct api_request *r, struct k3c_err *err);

/* Queues a JSON reply (consumes body in every case). Returns an MHD_Result. */
int api_reply_json_take(struct api_request *r, unsigned status, json_t *body);
/* The same for JSON text already serialised (len bytes; consumes text). */
int api_reply_json_text_take(struct api_request *r, unsigned status, char *text, size_t len);
/* Queues a Kubernetes Status for an error kind: code and reason from the
 * kind, message as given; details.name/kind when name/kind are not NULL. */
int api_reply_status(struct api_request *r, enum k3c_errkind kind, const char *name,
                     const char *kind_plural, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Same for codes the error kinds do not cover (401, 403, 405, 406, 413, 415). */
int api_reply_status_code(struct api_request *r, unsigned code, const char *reason, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
/* Invalid (422) with causes (consumed). */
int api_reply_invalid_take(struct api_request *r, const char *kind, const char *name,
                           json_t *causes);
/* Streams a watch; the reader callback is run by MHD on the connection's thread. */
struct api_watch_stream;
int api_reply_watch(struct api_request *r, struct api_watch_stream *ws);

/* Authentication (api_auth.c): fills r->user from the client certificate or
 * the bearer token. */
void api_authenticate(struct api_request *r);
/* Non-resource paths (discovery, /openapi, /version): -1 when the user may,
 * else the 403 reply (queued). Resource paths are left to
 * api_authorize_resource. */
int api_authorize_path(struct api_request *r);
/* After the path is parsed: -1 when the user may do this, else the 403
 * reply (queued). */
int api_authorize_resource(struct api_request *r);
int api_tokens_load(struct api_server *srv, const char *path, struct k3c_err *err);
void api_tokens_free(struct api_server *srv);

/* Discovery (api_discovery.c). Returns an MHD_Result or -1 if path is not a
 * discovery path. */
int api_discovery_serve(struct api_request *r);

/* Node join: /cacerts and /v1-k3c/node-certs (api_join.c); -1 if the path
 * is not one of them. Callable without credentials. */
int api_join_serve(struct api_request *r);

/* pods/log, pods/exec, pods/attach relayed to the pod's kubelet
 * (api_proxy.c): whether r is one of them (after the path is parsed), and
 * the handler (after api_authorize_resource). Returns an MHD_Result. */
bool api_proxy_handles(const struct api_request *r);
int api_proxy_serve(struct api_request *r);
/* Frees what the relays share (after the HTTP daemon stopped). */
void api_proxy_fini(struct api_server *srv);

/* Resource handlers (api_handlers.c): get/list/watch/create/update/patch/delete. */
int api_handle_resource(struct api_request *r);
/* The watch cache for a resource. */
struct watch_cache *api_cache_for(struct api_server *srv, const struct api_resource *res);
/* Creates the built-in namespaces when missing. */
int api_ensure_namespaces(struct api_server *srv, struct k3c_err *err);

/* ---- OpenAPI (api_openapi.c) ------------------------------------------- */

/* components.schemas of the embedded OpenAPI data (borrowed, lives for the
 * process; parsed on first use). Thread: any. */
const json_t *api_openapi_schemas(void);
/* The schema a "#/components/schemas/<name>" reference names, or NULL. */
const json_t *api_openapi_resolve(const char *ref, void *ud);
/* The schema of a served kind (by x-kubernetes-group-version-kind), or NULL. */
const json_t *api_openapi_kind_schema(const struct api_resource *r);
/* Appends to out (a JSON array) the dotted path of every field in obj that
 * the kind's schema does not define ("spec.template.spec.containers[0].imagee"),
 * and removes those fields from obj when prune is set. */
void api_openapi_unknown_fields(const struct api_resource *r, json_t *obj, json_t *out, bool prune);
/* /openapi/v3 and /openapi/v3/<gv>; -1 when the path is not OpenAPI. */
int api_openapi_serve(struct api_request *r);

/* ---- objects (api_object.c) ------------------------------------------- */

/* obj.metadata, created when missing (borrowed). */
json_t *api_meta(json_t *obj);
/* A string field of obj.metadata, or NULL. */
const char *api_meta_str(const json_t *obj, const char *field);
void api_set_resource_version(json_t *obj, int64_t rev);
/* Parses a stored value and sets metadata.resourceVersion to its revision. */
json_t *api_object_from_kv(const struct store_kv *kv, struct k3c_err *err);
/* Serialises obj for storage (without resourceVersion); caller frees. */
char *api_object_encode(const json_t *obj, size_t *len);
/* api_object_encode's text for an object whose metadata is an object without
 * resourceVersion, with *meta_end the offset of metadata's closing brace;
 * NULL when obj is not such an object or cannot be serialised. */
char *api_object_encode_marked(const json_t *obj, size_t *len, size_t *meta_end);
/* The same, with *meta_start the offset of metadata's opening brace. */
char *api_object_encode_marked_at(const json_t *obj, size_t *len, size_t *meta_start,
                                  size_t *meta_end);
/* What json_dumps(JSON_COMPACT) gives for obj after
 * api_set_resource_version(obj, rev), from api_object_encode_marked's text
 * of obj before it; caller frees. */
char *api_object_text_with_version(const char *text, size_t len, size_t meta_end, int64_t rev,
                                   size_t *len_out);
/* /registry/<plural>/[<ns>/]<name>; caller frees. */
char *api_object_key(const struct api_resource *res, const char *ns, const char *name);
/* /registry/<plural>/[<ns>/]; caller frees. */
char *api_list_prefix(const struct api_resource *res, const char *ns);
/* base + 5 random characters, like upstream's generateName. */
void api_generate_name(const char *base, char *out, size_t len);
/* JSON merge patch (RFC 7386) of patch onto target, in place. */
void api_merge_patch(json_t *target, const json_t *patch);
/* True when anything outside metadata and status differs. */
bool api_spec_changed(const json_t *old, const json_t *new);

/* ---- helpers for kinds in their own files (api_validate.c, api_table.c) - */

/* metav1 label selector rules (matchLabels, matchExpressions) at field. */
void api_validate_label_selector(const json_t *sel, const char *field, json_t *causes);
/* Table cells: the name, the age, a selector as its string (empty_text
 * when empty). */
json_t *api_name_cell(const json_t *obj);
json_t *api_age_cell(const json_t *obj, int64_t now_s);
json_t *api_selector_cell(const json_t *sel, const char *empty_text);

/* ---- networking.k8s.io/v1 NetworkPolicy (kind_networkpolicy.c) --------- */

extern const struct api_column api_columns_networkpolicy[];
json_t *api_row_networkpolicy(const json_t *obj, int64_t now_s);
void api_validate_networkpolicy(const json_t *obj, const json_t *old, json_t *causes);
void api_defaults_networkpolicy(json_t *obj);
/* ---- storage kinds (kind_persistentvolume.c, kind_persistentvolumeclaim.c,
 * kind_storageclass.c, kind_csi.c; docs/storage.md) --------------------- */

extern const struct api_column api_columns_persistentvolume[], api_columns_persistentvolumeclaim[],
    api_columns_storageclass[], api_columns_csidriver[], api_columns_volumeattachment[];
extern const struct api_hooks api_persistentvolume_hooks, api_persistentvolumeclaim_hooks;
json_t *api_row_persistentvolume(const json_t *obj, int64_t now_s);
json_t *api_row_persistentvolumeclaim(const json_t *obj, int64_t now_s);
json_t *api_row_storageclass(const json_t *obj, int64_t now_s);
json_t *api_row_csidriver(const json_t *obj, int64_t now_s);
json_t *api_row_volumeattachment(const json_t *obj, int64_t now_s);
void api_defaults_persistentvolume(json_t *obj);
void api_defaults_persistentvolumeclaim(json_t *obj);
void api_defaults_storageclass(json_t *obj);
void api_defaults_csidriver(json_t *obj);
void api_validate_persistentvolume(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_persistentvolumeclaim(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_storageclass(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_csidriver(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_volumeattachment(const json_t *obj, const json_t *old, json_t *causes);
/* Shared helpers of the storage kinds. */
json_t *api_storage_age_cell(const json_t *obj, int64_t now_s);
json_t *api_storage_access_modes_cell(const json_t *modes); /* "RWO,ROX" */
bool api_storage_quantity_valid(const char *s);
void api_storage_check_enum(json_t *causes, const char *field, const json_t *v,
                            const char *const *supported);
void api_storage_check_access_modes(json_t *causes, const char *field, const json_t *modes);
void api_storage_check_storage(json_t *causes, const char *field, const json_t *list,
                               bool only_storage);
void api_storage_add_finalizer(json_t *obj, const char *finalizer);
/* The storageclass.kubernetes.io/is-default-class (or beta) annotation is "true". */
bool api_storage_class_is_default(const json_t *sc);
/* kind_runtimeclass.c: node.k8s.io/v1 RuntimeClass (issue #18) */
extern const struct api_column api_columns_runtimeclass[];
json_t *api_row_runtimeclass(const json_t *obj, int64_t now_s);
void api_validate_runtimeclass(const json_t *obj, const json_t *old, json_t *causes);
/* Admission of a new pod naming a RuntimeClass: 403 `pod rejected:
 * RuntimeClass "x" not found`; overhead and scheduling applied. Returns a
 * reply, or -1 to go on. */
int api_runtimeclass_admit_pod(struct api_request *r, json_t *pod);
/* ---- RBAC kinds (kind_rbac.c; issue #15) --------------------------------- */
extern const struct api_column api_columns_role[], api_columns_rolebinding[];
json_t *api_row_role(const json_t *obj, int64_t now_s);
json_t *api_row_rolebinding(const json_t *obj, int64_t now_s);
void api_validate_role(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_clusterrole(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_rolebinding(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_clusterrolebinding(const json_t *obj, const json_t *old, json_t *causes);
void api_defaults_rolebinding(json_t *obj);

/* ---- kubelets and metrics.k8s.io (issue #16) --------------------------- */

/* A node's kubelet endpoint: its InternalIP (new string, NULL when it has
 * none) and daemonEndpoints port (10250 by default). api_proxy.c. */
void api_node_kubelet(const json_t *node, char **ip, int *port);
/* GET path from a kubelet with the API server's client certificate; the
 * body of a 200 answer appended to body. UNAVAILABLE otherwise. Reads are
 * bounded by timeout_ms each. api_proxy.c. */
int api_kubelet_get(struct api_server *srv, const char *ip, int port, const char *path,
                    int timeout_ms, struct k3c_buf *body, struct k3c_err *err);
/* metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics (api_metrics.c): served
 * from the kubelets' /stats/summary, scraped by a thread started on the
 * first request and stopped by api_metrics_fini. */
bool api_metrics_handles(const struct api_request *r);
int api_metrics_serve(struct api_request *r);
void api_metrics_fini(struct api_server *srv);
extern const struct api_column api_columns_metrics_node[], api_columns_metrics_pod[];
json_t *api_row_metrics_node(const json_t *obj, int64_t now_s);
json_t *api_row_metrics_pod(const json_t *obj, int64_t now_s);

/* ---- autoscaling HorizontalPodAutoscaler (kind_hpa.c, issue #16) ------- */

extern const struct api_column api_columns_hpa[];
json_t *api_row_hpa(const json_t *obj, int64_t now_s);
void api_defaults_hpa(json_t *obj);
void api_defaults_hpa_v1(json_t *obj);
void api_validate_hpa(const json_t *obj, const json_t *old, json_t *causes);
void api_hpa_to_v1(json_t *obj);
/* ---- workload kinds of issue #16 (kind_cronjob.c, kind_statefulset.c, kind_pdb.c) ---- */

extern const struct api_column api_columns_cronjob[];
json_t *api_row_cronjob(const json_t *obj, int64_t now_s);
void api_validate_cronjob(const json_t *obj, const json_t *old, json_t *causes);
void api_defaults_cronjob(json_t *obj);
extern const struct api_column api_columns_statefulset[], api_columns_controllerrevision[];
json_t *api_row_statefulset(const json_t *obj, int64_t now_s);
json_t *api_row_controllerrevision(const json_t *obj, int64_t now_s);
void api_validate_statefulset(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_controllerrevision(const json_t *obj, const json_t *old, json_t *causes);
void api_defaults_statefulset(json_t *obj);
extern const struct api_column api_columns_pdb[];
json_t *api_row_pdb(const json_t *obj, int64_t now_s);
void api_validate_pdb(const json_t *obj, const json_t *old, json_t *causes);

/* ---- issue #16, workloads3 (docs/workloads.md) ------------------------- */
/* kind_ingress.c: networking.k8s.io/v1 Ingress and IngressClass */
extern const struct api_column api_columns_ingress[], api_columns_ingressclass[];
extern const struct api_hooks api_ingress_hooks; /* DefaultIngressClass admission */
json_t *api_row_ingress(const json_t *obj, int64_t now_s);
json_t *api_row_ingressclass(const json_t *obj, int64_t now_s);
void api_validate_ingress(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_ingressclass(const json_t *obj, const json_t *old, json_t *causes);
void api_defaults_ingressclass(json_t *obj);
/* The ingressclass.kubernetes.io/is-default-class annotation is "true". */
bool api_ingressclass_is_default(const json_t *cls);

/* kind_quota.c, kind_limitrange.c: v1 ResourceQuota and LimitRange */
extern const struct api_column api_columns_resourcequota[], api_columns_limitrange[];
json_t *api_row_resourcequota(const json_t *obj, int64_t now_s);
json_t *api_row_limitrange(const json_t *obj, int64_t now_s);
void api_validate_resourcequota(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_limitrange(const json_t *obj, const json_t *old, json_t *causes);
void api_defaults_limitrange(json_t *obj);
/* ValidateResourceQuantityValue over a resource list at field at. */
void api_check_resource_list(const json_t *list, const char *at, json_t *causes);
/* LimitRanger admission of a new pod (defaults set; min, max and ratio
 * checked) or claim (min and max of its requests): 403 when out of range.
 * Returns a reply, or -1 to go on. */
int api_limitrange_admit_pod(struct api_request *r, json_t *pod);
/* ResourceQuota admission of a new namespaced object, after validation:
 * 403 "exceeded quota" or status.used raised. Returns a reply, or -1. */
int api_quota_admit(struct api_request *r, const json_t *obj, bool dry_run);

/* kind_priorityclass.c: scheduling.k8s.io/v1 PriorityClass */
struct api_system_priority {
    const char *name;
    int32_t value;
    const char *description;
};
extern const struct api_system_priority api_system_priorities[]; /* {NULL}-terminated */
extern const struct api_column api_columns_priorityclass[];
json_t *api_row_priorityclass(const json_t *obj, int64_t now_s);
void api_validate_priorityclass(const json_t *obj, const json_t *old, json_t *causes);
void api_defaults_priorityclass(json_t *obj);
/* Priority admission of a new pod (spec.priority from its class or the
 * global default; 403 for an unknown class) or PriorityClass (one global
 * default). Returns a reply, or -1 to go on. */
int api_priority_admit(struct api_request *r, json_t *obj);
/* An update of a PriorityClass to globalDefault while another is (403). */
int api_priority_admit_update(struct api_request *r, const json_t *obj);
/* A DELETE of a built-in PriorityClass (403). */
int api_priority_admit_delete(struct api_request *r);

/* kind_job_policy.c: a Job spec's podFailurePolicy (issue #16) */
void api_validate_pod_failure_policy(const json_t *spec, json_t *causes);
/* ---- admissionregistration.k8s.io/v1 webhook configurations
 * (kind_webhookconfig.c; the dispatcher is src/admission/, docs/webhooks.md) */

extern const struct api_column api_columns_webhookconfig[];
json_t *api_row_webhookconfig(const json_t *obj, int64_t now_s);
void api_defaults_mutatingwebhookconfig(json_t *obj);
void api_defaults_validatingwebhookconfig(json_t *obj);
void api_validate_mutatingwebhookconfig(const json_t *obj, const json_t *old, json_t *causes);
void api_validate_validatingwebhookconfig(const json_t *obj, const json_t *old, json_t *causes);
/* Server-side apply and managedFields (api_apply.c, issue #17). */
bool api_apply_requested(struct api_request *r);
/* PATCH options: -1 to go on, else the reply (fieldManager, force). */
int api_apply_check_options(struct api_request *r);
/* The applied configuration in the body; NULL with *reply set. */
json_t *api_apply_read(struct api_request *r, int *reply);
/* old (NULL: create) with config applied, managedFields updated; NULL with
 * *reply set (409 on conflicts). */
json_t *api_apply_patch(struct api_request *r, const json_t *config, const json_t *old, int *reply);
/* Records the Update by the request's manager in obj's managedFields
 * (after defaults and validation); a cause when the client's are bad. */
void api_managed_fields_track(struct api_request *r, json_t *obj, const json_t *old,
                              json_t *causes);
/* ---- CustomResourceDefinitions (kind_crd.c, api_crd.c, api_crd_serve.c;
 * docs/crd.md). Custom resources are api_resource rows made at run time:
 * api_resource_next walks the table and then them; the hooks below are no-ops
 * for built-ins. */
extern const struct api_column api_columns_crd[];
json_t *api_row_crd(const json_t *obj, int64_t now_s);
void api_validate_crd(const json_t *obj, const json_t *old, json_t *causes);
void api_defaults_crd(json_t *obj);
/* Every served resource: NULL starts; returns NULL after the last. */
const struct api_resource *api_resource_next(const struct api_resource *r);
bool api_resource_is_custom(const struct api_resource *r);
bool api_resource_is_custom_served(void);
/* A served custom resource by group, version, plural, or NULL. */
const struct api_resource *api_crd_find(const char *group, const char *version, const char *plural);
struct watch_cache *api_crd_cache(const struct api_resource *r);
const json_t *api_crd_kind_schema(const struct api_resource *r);
/* Defaulting and structural validation of a custom object being written. */
void api_crd_prepare(const struct api_resource *r, json_t *obj, const json_t *old, json_t *causes);
json_t *api_crd_row(const struct api_resource *r, const json_t *obj, int64_t now_s);
void api_crd_convert_out(const struct api_resource *r, json_t *obj);
/* A cached custom object as r's version serves it (new text, *len set), or
 * NULL when the cached JSON is already that (built-ins: always NULL). */
char *api_crd_entry_json(const struct api_resource *r, const struct wc_entry *e, size_t *len);
/* The autoscaling/v1 Scale of a custom object by its CRD's scale paths (new),
 * or NULL for built-ins; the object holding the replicas at
 * specReplicasPath (created as needed; *key its last step), or NULL. */
json_t *api_crd_scale_of(const struct api_resource *r, const json_t *obj);
json_t *api_crd_replicas_parent(const struct api_resource *r, json_t *obj, const char **key);
/* Deprecation warnings of the version a request names. */
void api_crd_request_started(struct api_request *r);
/* /openapi/v3 with custom group-versions; -1 when not for us. */
int api_crd_openapi_serve(struct api_request *r, const char *static_index);
/* api_openapi.c: an OpenAPI document with its ETag (304 for If-None-Match);
 * text copied unless persistent. */
int api_openapi_reply(struct api_request *r, const char *text, const char *hash, bool persistent);
/* api_openapi.c: the document of custom resources' group-version (new text). */
char *api_openapi_custom_doc(const struct api_resource *const *res, const json_t *const *schemas,
                             const char *const *names, size_t n);
/* Told the uid of every custom object deleted, so that the garbage
 * collector looks at its dependents (controllers/gc.c; fn NULL: none).
 * Called on the CRD controller's thread, never after this returns. */
typedef void (*api_owner_deleted_fn)(void *ud, const char *uid);
void api_crd_set_owner_deleted_fn(api_owner_deleted_fn fn, void *ud);
/* The registry's controller (establishing, finalizer, garbage collection). */
int api_crd_start(struct api_server *srv, struct k3c_err *err);
void api_crd_stop(struct api_server *srv);
/* ---- certificates.k8s.io CertificateSigningRequest (kind_csr.c, issue #15) ---- */
extern const struct api_column api_columns_csr[];
json_t *api_row_csr(const json_t *obj, int64_t now_s);
void api_validate_csr(const json_t *obj, const json_t *old, json_t *causes);
/* The /approval subresource and the signing check on /status: a reply, or
 * -1 for the generic path. */
int api_csr_serve(struct api_request *r);
/* On create: spec.username/groups, and uid/extra when impersonated, from the
 * requesting user (upstream's PrepareForCreate); what the client sent there
 * is replaced. */
void api_csr_admit_create(struct api_request *r, json_t *obj);
/* Quantity fields of the built-in kinds in canonical form ("0.5" -> "500m",
 * 110 -> "110"), on every write before validation (api_quantity.c). */
void api_quantities_canonicalize(const struct api_resource *res, json_t *obj);
/* The review kinds (api_review.c, api_satoken.c): listed in discovery with
 * the verb create; answered, never stored. Terminated by plural == NULL. */
struct api_review_resource {
    const char *group, *version, *plural, *singular, *kind;
    bool namespaced;
};
extern const struct api_review_resource api_review_resources[];
/* The user's extra (from impersonation) as upstream's map of lists. */
json_t *api_user_extra_json(const struct api_user *u);
/* ---- watch cache change hook (issue #20, perfthreads) ---- */
/* fn runs (on the thread that changed it, without the cache's locks) after
 * any watch cache applied events, relisted or stopped: one loop following
 * many caches (the controllers' informers) waits for it instead of a thread
 * per cache. Process-wide; set once, before the caches change. */
void watch_cache_set_change_hook(void (*fn)(void));
/* ---- watch fan-out (issue #20, perffanout) ---- */
/* A second hook, for the API server's parked watch streams (api_http_loop.c). */
void watch_cache_set_watch_hook(void (*fn)(void));
/* Whether wc_watcher_next would return at once (an event, or closed). */
bool wc_watcher_ready(struct wc_watcher *w);
/* The API server's connections are served by a small fixed pool of
 * libmicrohttpd threads; handlers run on workers (api_http_loop.c). A content
 * reader with nothing to send parks its connection (suspends it) and returns
 * what this returns: the connection resumes when ready(ud) says so (checked
 * after each watch cache change and every second), when wake_fd (>= 0) is
 * readable, or when the client hangs up (r->client_gone is then true). */
ssize_t api_http_park(struct api_request *r, int wake_fd, bool (*ready)(void *ud), void *ud);
struct api_http_loop *api_http_loop_new(struct api_server *srv);
/* Runs dispatch(r) on a worker with r's connection suspended (MHD_YES), or
 * here when the loop is stopping (its result). */
int api_http_loop_submit(struct api_http_loop *l, struct api_request *r,
                         int (*dispatch)(struct api_request *r));
/* Refuses new parks and work, resumes every parked connection and waits for
 * the workers: before MHD_stop_daemon. */
void api_http_loop_stop(struct api_http_loop *l);
void api_http_loop_free(struct api_http_loop *l);
/* For /metrics: workers alive (busy or idle), parked streams. */
void api_http_loop_counts(struct api_http_loop *l, int *workers, int *parked);
/* Ends the parked streams whose connection came in on the draining address
 * (api_server_drain_address): each is resumed as if its client had gone, so
 * its connection closes. Returns once the hub has done it (at most 2 s). */
void api_http_loop_drain(struct api_http_loop *l, int64_t max_ms);
/* Whether the connection on fd came in on the draining address. */
bool api_conn_draining(struct api_server *srv, int fd);

/* ---- compact JSON text (issue #20, session 10; api_json_dump.c) ---- */
/* Appends v's text, byte for byte json_dump_callback(v, JSON_COMPACT |
 * JSON_ENCODE_ANY), to b without jansson's per-container bookkeeping.
 * false (b unchanged) where jansson fails (a string that is not UTF-8). */
bool api_json_dump_compact(struct k3c_buf *b, const json_t *v);
/* "key":v the same way (an object's member); false (b unchanged) if key is
 * not UTF-8 or v cannot be written. */
bool api_json_dump_member(struct k3c_buf *b, const char *key, size_t key_len, const json_t *v);
/* json_dumps(v, JSON_COMPACT) the same way, with its length; NULL where
 * json_dumps gives NULL (v not an object or array, or not writable). */
char *api_json_dumps_compact(const json_t *v, size_t *len);

#endif
