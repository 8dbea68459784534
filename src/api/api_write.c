/* SPDX-License-Identifier: Apache-2.0
 * api_write.c - create, update (PUT), patch, delete and deletecollection
 * for every resource, plus the status and scale subresources. Every write
 * goes through prepare_write (defaults, validation) and one compare-and-swap
 * on the object's revision, so concurrent writers get 409 Conflict. */
#define LOG_COMPONENT "api"
#include "admission/admission.h"
#include "api/api-handlers.h"
#include "api/api-patch.h"
#include "api/api-protobuf.h"
#include "api/api-rbac.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PATCH_RETRIES 5

static bool
dry_run(struct api_request *r)
{
    const char *d = api_query(r, "dryRun");

    return d && strcmp(d, "All") == 0;
}

static const char *
display_name(const struct api_request *r, const json_t *obj)
{
    const char *n = obj ? api_meta_str(obj, "name") : NULL;

    return n ? n : (r->name ? r->name : "");
}

enum field_validation {
    FIELD_VALIDATION_IGNORE,
    FIELD_VALIDATION_WARN, /* the default, as upstream's since 1.27 */
    FIELD_VALIDATION_STRICT,
};

/* The fieldValidation query parameter; -1 (and a 400 reply) if bad. */
static int
field_validation(struct api_request *r, int *reply)
{
    static const char *const names[] = {"Ignore", "Warn", "Strict"};
    const char *v = api_query(r, "fieldValidation");

    if (!v || !*v)
        return FIELD_VALIDATION_WARN;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(names); i++)
        if (strcmp(v, names[i]) == 0)
            return (int)i;
    *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                              "fieldValidation parameter unsupported: %s (must be Ignore, Warn or "
                              "Strict)",
                              v);
    return -1;
}

/* jansson says `duplicate object key near '"name"'`: the key is quoted. */
static void
duplicate_key(const char *text, char *out, size_t len)
{
    const char *q = strchr(text, '"');
    const char *end = q ? strchr(q + 1, '"') : NULL;

    snprintf(out, len, "%.*s", end ? (int)(end - q - 1) : 0, end ? q + 1 : "");
}

/* Parses JSON, handling duplicate keys by the fieldValidation mode: Strict
 * refuses them, Warn warns and keeps the last value, Ignore keeps it. */
static json_t *
parse_json(struct api_request *r, int mode, int *reply)
{
    char prefix[256], key[128];
    json_error_t jerr;
    json_t *v = k3c_json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);

    if (!v && strstr(jerr.text, "duplicate object key")) {
        duplicate_key(jerr.text, key, sizeof(key));
        if (mode == FIELD_VALIDATION_STRICT) {
            *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                      "%s in version \"%s\" cannot be handled as a %s: strict "
                                      "decoding error: duplicate field \"%s\"",
                                      r->res->kind, r->res->version, r->res->kind, key);
            return NULL;
        }
        if (mode == FIELD_VALIDATION_WARN)
            api_warn(r, "duplicate field \"%s\"", key);
        v = json_loadb(r->body.data, r->body.len, 0, &jerr);
    }
    if (!v) {
        snprintf(prefix, sizeof(prefix), "line %d, column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                  "the body of the request was in an unknown format - accepted "
                                  "media types include: application/json, application/yaml "
                                  "(json parse error at %s)",
                                  prefix);
    }
    return v;
}

/* Parses the request body as a JSON object (or an array, for a JSON patch,
 * when allow_array); replies 400 on failure. */
static json_t *
body_json(struct api_request *r, bool allow_array, int *reply)
{
    const char *ct = api_header(r, "Content-Type");
    int mode = field_validation(r, reply);
    json_t *obj;

    if (mode < 0)
        return NULL;
    /* kubectl's typed clients (create deployment, create configmap, ...)
     * send protobuf; everything else sends JSON. */
    if (ct && strncmp(ct, "application/vnd.kubernetes.protobuf", 35) == 0) {
        struct k3c_err err = {0};

        obj = api_protobuf_decode(r->body.data, r->body.len, &err);
        if (!obj)
            *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "%s", err.msg);
        return obj;
    }
    if (ct && strncmp(ct, "application/json", 16) != 0 && !strstr(ct, "+json")) {
        *reply = api_reply_status_code(r, 415, "UnsupportedMediaType",
                                       "the body of the request was in an unknown format - "
                                       "accepted media types include: application/json, "
                                       "application/json-patch+json, "
                                       "application/merge-patch+json, "
                                       "application/strategic-merge-patch+json");
        return NULL;
    }
    if (r->body.len == 0) {
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "the request body is empty");
        return NULL;
    }
    obj = parse_json(r, mode, reply);
    if (obj && !json_is_object(obj) && !(allow_array && json_is_array(obj))) {
        json_decref(obj);
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                  "the body of the request must be a JSON %s",
                                  allow_array ? "object or array" : "object");
        return NULL;
    }
    return obj;
}

static json_t *
body_object(struct api_request *r, int *reply)
{
    return body_json(r, false, reply);
}

/* Unknown fields, by the fieldValidation mode: Strict refuses them (400, as
 * upstream's strict decoder does), Warn warns, both drop them. Returns -1 to
 * go on, or the reply. */
static int
check_fields(struct api_request *r, json_t *obj)
{
    _cleanup_json_ json_t *unknown = json_array();
    struct k3c_buf msg;
    int reply = -1, mode = field_validation(r, &reply);
    size_t i;
    json_t *f;

    if (mode < 0)
        return reply;
    api_openapi_unknown_fields(r->res, obj, unknown, true);
    if (json_array_size(unknown) == 0 || mode == FIELD_VALIDATION_IGNORE)
        return -1;
    if (mode == FIELD_VALIDATION_WARN) {
        json_array_foreach(unknown, i, f)
        {
            api_warn(r, "unknown field \"%s\"", json_string_value(f));
        }
        return -1;
    }
    k3c_buf_init(&msg);
    json_array_foreach(unknown, i, f)
    {
        k3c_buf_appendf(&msg, "%sunknown field \"%s\"", i ? ", " : "", json_string_value(f));
    }
    reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                             "%s in version \"%s\" cannot be handled as a %s: strict decoding "
                             "error: %s",
                             r->res->kind, r->res->version, r->res->kind, msg.data);
    k3c_buf_fini(&msg);
    return reply;
}

/* kind/apiVersion must name this resource (or be absent, then filled in). */
static int
check_type(struct api_request *r, json_t *obj)
{
    char apiv[128];
    const char *want_v = api_resource_api_version(r->res, apiv, sizeof(apiv));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *v = json_string_value(json_object_get(obj, "apiVersion"));

    if ((kind && strcmp(kind, r->res->kind) != 0) || (v && strcmp(v, want_v) != 0))
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "the API version in the data (%s) does not match the expected "
                                "API version (%s), or the kind (%s) is not %s",
                                v ? v : "", want_v, kind ? kind : "", r->res->kind);
    json_object_set_new(obj, "kind", json_string(r->res->kind));
    json_object_set_new(obj, "apiVersion", json_string(want_v));
    return -1;
}

/* The namespace in the body must agree with the URL; fills it in. */
static int
check_namespace(struct api_request *r, json_t *obj)
{
    const char *ns = api_meta_str(obj, "namespace");

    if (!r->res->namespaced) {
        json_object_del(api_meta(obj), "namespace");
        return -1;
    }
    if (ns && *ns && r->namespace && strcmp(ns, r->namespace) != 0)
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "the namespace of the provided object does not match the "
                                "namespace sent on the request");
    if (!r->namespace && !(ns && *ns))
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "the namespace of the object is required");
    if (!r->namespace)
        r->namespace = k3c_xstrdup(ns);
    json_object_set_new(api_meta(obj), "namespace", json_string(r->namespace));
    return -1;
}

/* Admission webhooks (src/admission/): -1 when admitted (*patched: a
 * mutating webhook changed obj), else the reply. */
static int
admit_webhooks(struct api_request *r, bool mutating, json_t *obj, const json_t *old, bool *patched)
{
    enum admission_op op = old ? ADMISSION_UPDATE : ADMISSION_CREATE;
    struct admission_denial d;
    int rc =
        mutating ? admission_mutate(r, op, obj, old, &d) : admission_validate(r, op, obj, old, &d);

    if (patched)
        *patched = rc > 0;
    if (rc >= 0)
        return -1;
    return api_reply_status_code(r, d.code, d.reason, "%s", d.message);
}

/* Defaults, mutating webhooks (then defaults again on what they patched,
 * as upstream decodes their result), validation, validating webhooks; 422
 * with causes when invalid. */
static int
prepare_write(struct api_request *r, json_t *obj, const json_t *old)
{
    json_t *causes = json_array();
    bool patched = false;
    int reply;

    api_quantities_canonicalize(r->res, obj); /* api_quantity.c (issue #15) */
    if (r->res->defaults)
        r->res->defaults(obj);
    if ((reply = admit_webhooks(r, true, obj, old, &patched)) >= 0) {
        json_decref(causes);
        return reply;
    }
    if (patched && r->res->defaults)
        r->res->defaults(obj);
    api_validate_metadata(obj, r->res->namespaced,
                          !r->res->namespaced && strcmp(r->res->plural, "namespaces") == 0, causes);
    if (r->res->validate)
        r->res->validate(obj, old, causes);
    api_crd_prepare(r->res, obj, old, causes); /* custom resources' schemas (api_crd_serve.c) */
    if (json_array_size(causes) == 0)
        api_managed_fields_track(r, obj, old, causes); /* api_apply.c */
    if (json_array_size(causes) == 0) {
        json_decref(causes);
        if ((reply = api_rbac_admit(r, obj)) >= 0) /* escalation prevention (api_rbac.c) */
            return reply;
        return admit_webhooks(r, false, obj, old, NULL);
    }
    return api_reply_invalid_take(r, r->res->kind, display_name(r, obj), causes);
}

/* Namespaced objects need a live namespace: 404 if missing, 403 while it
 * terminates. */
static int
check_namespace_alive(struct api_request *r)
{
    const struct api_resource *ns_res = api_resource_find("", "v1", "namespaces");
    _cleanup_free_ char *key = NULL;
    _cleanup_json_ json_t *ns = NULL;
    struct store_kv kv = {0};
    struct k3c_err err = {0};

    if (!r->res->namespaced)
        return -1;
    key = api_object_key(ns_res, NULL, r->namespace);
    /* The namespaces cache answers without an etcd round trip (upstream's
     * NamespaceLifecycle reads its informer likewise); a namespace created a
     * moment ago may not be there yet, so a miss asks etcd. */
    {
        struct wc_entry *e = watch_cache_get(api_cache_for(r->srv, ns_res), key);

        /* Most namespaces are not terminating: when the key's name is
         * nowhere in the stored text, it is not in metadata either, and the
         * parse (a tenth of a create's CPU) is not needed. */
        if (e && !wc_entry_json_has(e, "\"deletionTimestamp\"")) {
            wc_entry_unref(e);
            return -1;
        }
        if (e) {
            ns = wc_entry_object(e);
            wc_entry_unref(e);
        }
    }
    if (ns)
        goto check;
    if (store_get(r->srv->store, key, &kv, &err) < 0) {
        if (err.kind == K3C_E_NOT_FOUND)
            return api_reply_status(r, K3C_E_NOT_FOUND, r->namespace, "namespaces",
                                    "namespaces \"%s\" not found", r->namespace);
        return api_reply_store_error(r, &err);
    }
    ns = api_object_from_kv(&kv, &err);
    store_kv_fini(&kv);
check:
    if (ns && api_meta_str(ns, "deletionTimestamp"))
        return api_reply_status_code(r, 403, "Forbidden",
                                     "%s \"%s\" is forbidden: unable to create new content in "
                                     "namespace %s because it is being terminated",
                                     r->res->plural, r->name ? r->name : "", r->namespace);
    return -1;
}

static void
now_rfc3339(char *buf, size_t len)
{
    k3c_time_rfc3339(k3c_wall_ms() / 1000, buf, len);
}

/* Name from metadata.name or generateName; replies 422 when neither. */
static int
assign_name(struct api_request *r, json_t *obj)
{
    json_t *meta = api_meta(obj);
    const char *name = api_meta_str(obj, "name");
    const char *gen = api_meta_str(obj, "generateName");
    char buf[64];

    if ((!name || !*name) && gen && *gen) {
        api_generate_name(gen, buf, sizeof(buf));
        json_object_set_new(meta, "name", json_string(buf));
        name = api_meta_str(obj, "name");
    }
    if (!name || !*name) {
        json_t *causes = json_array();

        api_cause_add(causes, "FieldValueRequired", "metadata.name",
                      "Required value: name or generateName is required");
        return api_reply_invalid_take(r, r->res->kind, "", causes);
    }
    free(r->name);
    r->name = k3c_xstrdup(name);
    return -1;
}

/* ---- allocations (hooks) ---------------------------------------------------- */

static void
release_allocations(struct api_request *r, const json_t *obj)
{
    if (r->res->hooks && r->res->hooks->release)
        r->res->hooks->release(r->srv, obj);
}

/* Runs the kind's allocate hook (not on dry runs). Returns -1 to go on, or
 * the reply already queued. */
static int
allocate(struct api_request *r, json_t *obj)
{
    struct k3c_err err = {0};
    json_t *causes;

    if (!r->res->hooks || !r->res->hooks->allocate || dry_run(r))
        return -1;
    causes = json_array();
    if (r->res->hooks->allocate(r->srv, obj, causes, &err) < 0) {
        json_decref(causes);
        return api_reply_store_error(r, &err);
    }
    if (json_array_size(causes) > 0)
        return api_reply_invalid_take(r, r->res->kind, display_name(r, obj), causes);
    json_decref(causes);
    return -1;
}

/* ---- create --------------------------------------------------------------- */

static void
init_metadata(json_t *obj)
{
    json_t *meta = api_meta(obj);
    char uid[37], ts[32];

    k3c_uuid_new(uid);
    now_rfc3339(ts, sizeof(ts));
    json_object_set_new(meta, "uid", json_string(uid));
    json_object_set_new(meta, "creationTimestamp", json_string(ts));
    json_object_set_new(meta, "generation", json_integer(1));
    json_object_del(meta, "resourceVersion");
    json_object_del(meta, "deletionTimestamp");
    json_object_del(meta, "deletionGracePeriodSeconds");
    json_object_del(meta, "selfLink");
}

/* store_create under the kind's TTL lease (api_lease.c), if it has one;
 * once more with a new lease when etcd lost the cached one. */
static int
store_create_leased(struct api_request *r, const char *key, const char *text, size_t len,
                    int64_t *rev, struct k3c_err *err)
{
    for (int attempt = 0;; attempt++) {
        int64_t lease = 0;

        if (api_lease_for(r->srv, r->res, &lease, err) < 0)
            return -1;
        if (store_create(r->srv->store, key, text, len, lease, rev, err) == 0)
            return 0;
        if (attempt > 0 || !api_lease_lost(r->srv, lease, err))
            return -1;
        k3c_err_clear(err);
    }
}

/* store_update, leased the same way. */
static int
store_update_leased(struct api_request *r, const char *key, const char *text, size_t len,
                    int64_t rev, int64_t *new_rev, struct k3c_err *err)
{
    for (int attempt = 0;; attempt++) {
        int64_t lease = 0;

        if (api_lease_for(r->srv, r->res, &lease, err) < 0)
            return -1;
        if (store_update(r->srv->store, key, text, len, rev, lease, new_rev, NULL, err) == 0)
            return 0;
        if (attempt > 0 || !api_lease_lost(r->srv, lease, err))
            return -1;
        k3c_err_clear(err);
    }
}

/* api_reply_object's reply for a new object is its stored text plus the
 * resourceVersion, unless a conversion or a Table changes what is sent. */
static bool
reply_is_stored_text(struct api_request *r)
{
    return !r->res->convert_out && !api_resource_is_custom(r->res) && !api_table_wanted(r);
}

static int
store_create_reply(struct api_request *r, json_t *obj)
{
    _cleanup_free_ char *key = api_object_key(r->res, r->namespace, r->name);
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};
    int64_t rev = 0;
    size_t len = 0, meta_start = 0, meta_end = 0;

    if (dry_run(r))
        return api_reply_object(r, 201, json_incref(obj));
    if (reply_is_stored_text(r))
        text = api_object_encode_marked_at(obj, &len, &meta_start, &meta_end);
    if (!text)
        text = api_object_encode(obj, &len);
    /* The cache's entry for this write is built from obj and text: obj
     * does not change after this (its resourceVersion is only in the reply). */
    if (meta_end)
        watch_cache_offer(api_cache_for(r->srv, r->res), key, obj, text, len, meta_start, meta_end);
    if (store_create_leased(r, key, text, len, &rev, &err) < 0) {
        if (meta_end)
            watch_cache_withdraw(api_cache_for(r->srv, r->res), key);
        release_allocations(r, obj);
        if (err.kind == K3C_E_EXISTS)
            return api_reply_status(r, K3C_E_EXISTS, r->name, r->res->plural,
                                    "%s%s%s \"%s\" already exists", r->res->plural,
                                    r->res->group[0] ? "." : "", r->res->group, r->name);
        return api_reply_store_error(r, &err);
    }
    if (meta_end) {
        size_t reply_len = 0;
        char *reply = api_object_text_with_version(text, len, meta_end, rev, &reply_len);

        return api_reply_json_text_take(r, 201, reply, reply_len);
    }
    api_set_resource_version(obj, rev);
    return api_reply_object(r, 201, json_incref(obj));
}

/* Mutating admission of new objects: DefaultTolerationSeconds for pods. */
static void
admit_create(struct api_request *r, json_t *obj)
{
    if (strcmp(r->res->plural, "pods") == 0)
        api_pod_default_tolerations(obj, r->srv->cfg.default_not_ready_toleration_s,
                                    r->srv->cfg.default_unreachable_toleration_s);
    if (strcmp(r->res->plural, "pods") == 0)
        api_sa_admit_pod(r->srv, obj); /* ServiceAccount admission (api_satoken.c) */
    if (strcmp(r->res->plural, "certificatesigningrequests") == 0)
        api_csr_admit_create(r, obj); /* the requestor into spec (kind_csr.c) */
}

static int create_object(struct api_request *r, json_t *obj);

int
api_handle_create(struct api_request *r)
{
    _cleanup_json_ json_t *obj = NULL;
    int reply = -1;

    obj = body_object(r, &reply);
    if (!obj)
        return reply;
    return create_object(r, obj);
}

static int
create_object(struct api_request *r, json_t *obj)
{
    int reply = -1;

    if ((reply = check_type(r, obj)) >= 0 || (reply = check_fields(r, obj)) >= 0 ||
        (reply = check_namespace(r, obj)) >= 0 || (reply = assign_name(r, obj)) >= 0 ||
        (reply = check_namespace_alive(r)) >= 0)
        return reply;
    init_metadata(obj);
    if (r->res->has_status && !r->res->status_on_create)
        json_object_del(obj, "status");
    admit_create(r, obj);
    if (strcmp(r->res->plural, "pods") == 0 && (reply = api_runtimeclass_admit_pod(r, obj)) >= 0)
        return reply;
    if ((reply = api_limitrange_admit_pod(r, obj)) >= 0 || /* kind_limitrange.c */
        (reply = api_priority_admit(r, obj)) >= 0)         /* kind_priorityclass.c */
        return reply;
    if ((reply = prepare_write(r, obj, NULL)) >= 0 ||
        (reply = api_quota_admit(r, obj, dry_run(r))) >= 0 || /* kind_quota.c */
        (reply = allocate(r, obj)) >= 0)
        return reply;
    return store_create_reply(r, obj);
}

/* ---- update --------------------------------------------------------------- */

static int
reply_conflict(struct api_request *r)
{
    return api_reply_status(r, K3C_E_CONFLICT, r->name, r->res->plural,
                            "Operation cannot be fulfilled on %s%s%s \"%s\": the object has been "
                            "modified; please apply your changes to the latest version and try "
                            "again",
                            r->res->plural, r->res->group[0] ? "." : "", r->res->group, r->name);
}

/* Carries what a client may not change from old into obj. */
static void
keep_system_fields(json_t *obj, const json_t *old, bool status_only)
{
    static const char *const fixed[] = {"uid", "creationTimestamp", "deletionTimestamp",
                                        "deletionGracePeriodSeconds", "generation"};
    json_t *meta = api_meta(obj);
    const json_t *old_meta = json_object_get(old, "metadata");

    for (size_t i = 0; i < K3C_ARRAY_SIZE(fixed); i++) {
        json_t *v = json_object_get(old_meta, fixed[i]);

        if (v)
            json_object_set(meta, fixed[i], v);
        else
            json_object_del(meta, fixed[i]);
    }
    (void)status_only;
}

/* Builds the object to store from what the client sent (next) and what is
 * stored (old), by the rules of the main resource or its status. */
static json_t *
merge_for_update(struct api_request *r, json_t *next, const json_t *old)
{
    bool status_only = r->subresource && strcmp(r->subresource, "status") == 0;
    json_t *out;

    if (status_only) {
        /* /status changes .status and nothing else. */
        out = json_deep_copy(old);
        if (json_object_get(next, "status"))
            json_object_set(out, "status", json_object_get(next, "status"));
        else
            json_object_del(out, "status");
        if (api_apply_requested(r)) /* its managedFields: api_apply.c */
            json_object_set(api_meta(out), "managedFields",
                            json_object_get(json_object_get(next, "metadata"), "managedFields"));
        return out;
    }
    out = json_incref(next);
    keep_system_fields(out, old, false);
    if (r->res->hooks && r->res->hooks->carry)
        r->res->hooks->carry(out, old);
    if (r->res->has_status) {
        /* The main resource cannot change .status. */
        if (json_object_get(old, "status"))
            json_object_set(out, "status", json_object_get(old, "status"));
        else
            json_object_del(out, "status");
    }
    if (api_spec_changed(old, out)) {
        json_int_t g =
            json_integer_value(json_object_get(json_object_get(old, "metadata"), "generation"));

        json_object_set_new(api_meta(out), "generation", json_integer(g + 1));
    }
    return out;
}

static bool
has_finalizers(const json_t *obj)
{
    return json_array_size(json_object_get(json_object_get(obj, "metadata"), "finalizers")) > 0;
}

/* A namespace also waits for its spec.finalizers ("kubernetes": the
 * namespace controller empties it, then removes that through /finalize). */
static bool
namespace_finalizers_pending(const struct api_request *r, const json_t *obj)
{
    return strcmp(r->res->plural, "namespaces") == 0 &&
           json_array_size(json_object_get(json_object_get(obj, "spec"), "finalizers")) > 0;
}

static int store_write_ex(struct api_request *r, json_t *obj, int64_t rev, bool finalize,
                          struct k3c_err *err);
static void release_allocations(struct api_request *r, const json_t *obj);

/* Stores obj over revision rev, or deletes it when it was being deleted and
 * its last finalizer is gone. Sets obj's new resourceVersion. */
static int
store_write(struct api_request *r, json_t *obj, int64_t rev, struct k3c_err *err)
{
    return store_write_ex(r, obj, rev, true, err);
}

static int
store_write_ex(struct api_request *r, json_t *obj, int64_t rev, bool finalize, struct k3c_err *err)
{
    _cleanup_free_ char *key = api_object_key(r->res, r->namespace, r->name);
    _cleanup_free_ char *text = NULL;
    int64_t new_rev = 0;
    size_t len = 0;
    int rc;

    if (finalize && api_meta_str(obj, "deletionTimestamp") && !has_finalizers(obj) &&
        !namespace_finalizers_pending(r, obj)) {
        rc = store_delete(r->srv->store, key, rev, NULL, &new_rev, err);
        if (rc == 0)
            release_allocations(r, obj);
    } else {
        text = api_object_encode(obj, &len);
        rc = store_update_leased(r, key, text, len, rev, &new_rev, err);
    }
    if (rc == 0)
        api_set_resource_version(obj, new_rev);
    return rc;
}

static int
reply_write_error(struct api_request *r, const struct k3c_err *err)
{
    if (err->kind == K3C_E_CONFLICT)
        return reply_conflict(r);
    return api_reply_store_error(r, err);
}

/* Checks the name in the body against the URL. */
static int
check_name(struct api_request *r, json_t *obj)
{
    const char *name = api_meta_str(obj, "name");

    if (name && strcmp(name, r->name) != 0)
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "the name of the object (%s) does not match the name on the URL "
                                "(%s)",
                                name, r->name);
    json_object_set_new(api_meta(obj), "name", json_string(r->name));
    return -1;
}

/* Validates what a PUT or PATCH would store. Returns -1 when out is ready
 * to write, or the reply already queued. */
static int
prepare_update(struct api_request *r, json_t *next, const json_t *old, int64_t rev, json_t **out)
{
    const char *want = api_meta_str(next, "resourceVersion");

    if (want && *want && strtoll(want, NULL, 10) != rev)
        return reply_conflict(r);
    int reply;

    *out = merge_for_update(r, next, old);
    if ((reply = api_priority_admit_update(r, *out)) >= 0) /* kind_priorityclass.c */
        return reply;
    return prepare_write(r, *out, old);
}

int
api_handle_update(struct api_request *r)
{
    _cleanup_json_ json_t *next = NULL, *old = NULL, *out = NULL;
    struct k3c_err err = {0};
    int64_t rev = 0;
    int reply = -1;

    if (r->subresource && strcmp(r->subresource, "scale") == 0)
        return api_handle_scale(r);
    if (r->subresource && strcmp(r->subresource, "finalize") == 0)
        return api_handle_finalize(r);
    next = body_object(r, &reply);
    if (!next)
        return reply;
    if ((reply = check_type(r, next)) >= 0 || (reply = check_fields(r, next)) >= 0 ||
        (reply = check_namespace(r, next)) >= 0 || (reply = check_name(r, next)) >= 0)
        return reply;
    old = api_read_object(r, &rev, &err);
    if (!old)
        return api_reply_store_error(r, &err);
    if ((reply = prepare_update(r, next, old, rev, &out)) >= 0)
        return reply;
    if (!dry_run(r) && store_write(r, out, rev, &err) < 0)
        return reply_write_error(r, &err);
    return api_reply_object(r, 200, json_incref(out));
}

/* PUT /api/v1/namespaces/<n>/finalize: only spec.finalizers changes; a
 * terminating namespace left without finalizers is deleted. */
int
api_handle_finalize(struct api_request *r)
{
    _cleanup_json_ json_t *next = NULL;
    int reply = -1;
    json_t *fins;

    next = body_object(r, &reply);
    if (!next)
        return reply;
    if ((reply = check_type(r, next)) >= 0 || (reply = check_name(r, next)) >= 0)
        return reply;
    fins = json_object_get(json_object_get(next, "spec"), "finalizers");
    if (fins && !json_is_array(fins))
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "spec.finalizers must be a list");
    for (int attempt = 0; attempt < PATCH_RETRIES; attempt++) {
        _cleanup_json_ json_t *old = NULL;
        struct k3c_err err = {0};
        int64_t rev = 0;
        json_t *spec;
        const char *want = api_meta_str(next, "resourceVersion");

        old = api_read_object(r, &rev, &err);
        if (!old)
            return api_reply_store_error(r, &err);
        if (want && *want && strtoll(want, NULL, 10) != rev)
            return reply_conflict(r);
        spec = json_object_get(old, "spec");
        if (!json_is_object(spec)) {
            spec = json_object();
            json_object_set_new(old, "spec", spec);
        }
        json_object_set_new(spec, "finalizers", fins ? json_deep_copy(fins) : json_array());
        if (dry_run(r) || store_write(r, old, rev, &err) == 0)
            return api_reply_object(r, 200, json_incref(old));
        if (err.kind != K3C_E_CONFLICT)
            return reply_write_error(r, &err);
    }
    return reply_conflict(r);
}

/* ---- patch ---------------------------------------------------------------- */

static bool
content_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);

    return ct && strncmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

/* Reads the patch in the body once, checking its Content-Type. NULL with
 * *reply set on failure (415 for types not served, server-side apply among
 * them). */
static json_t *
read_patch(struct api_request *r, int *reply)
{
    static const char *const served[] = {"application/json-patch+json",
                                         "application/strategic-merge-patch+json",
                                         "application/merge-patch+json"};
    const char *ct = api_header(r, "Content-Type");
    bool ok = false;
    json_t *patch;

    if ((*reply = api_apply_check_options(r)) >= 0)
        return NULL;
    if (api_apply_requested(r)) /* server-side apply: api_apply.c */
        return api_apply_read(r, reply);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(served); i++)
        ok = ok || content_type_is(ct, served[i]);
    if (!ok) {
        *reply = api_reply_status_code(r, 415, "UnsupportedMediaType",
                                       "the body of the request was in an unknown format - "
                                       "accepted media types include: "
                                       "application/json-patch+json, "
                                       "application/merge-patch+json, "
                                       "application/strategic-merge-patch+json");
        return NULL;
    }
    patch = body_json(r, content_type_is(ct, "application/json-patch+json"), reply);
    if (patch && content_type_is(ct, "application/merge-patch+json") && !json_is_object(patch)) {
        json_decref(patch);
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                  "a merge patch must be a JSON object");
        return NULL;
    }
    return patch;
}

/* Applies patch to old by the request's Content-Type (read_patch checked
 * it). NULL with *reply set on failure. */
static json_t *
apply_patch(struct api_request *r, const json_t *patch, const json_t *old, int *reply)
{
    const char *ct = api_header(r, "Content-Type");
    struct k3c_err err = {0};
    json_t *out = NULL;

    if (api_apply_requested(r))
        return api_apply_patch(r, patch, old, reply);
    if (content_type_is(ct, "application/json-patch+json")) {
        out = api_json_patch(old, patch, &err);
    } else if (content_type_is(ct, "application/strategic-merge-patch+json")) {
        out = api_strategic_merge_patch(old, patch, api_openapi_kind_schema(r->res),
                                        api_openapi_resolve, NULL, &err);
    } else {
        out = json_deep_copy(old);
        api_merge_patch(out, patch);
    }
    if (!out && err.kind == K3C_E_INVALID) {
        /* As a cause, so kubectl prints why ("... is invalid: <why>"). */
        json_t *causes = json_array();

        api_cause_add(causes, "FieldValueInvalid", "", "%s", err.msg);
        *reply = api_reply_invalid_take(r, r->res->kind, r->name, causes);
    } else if (!out) {
        *reply = api_reply_status(r, err.kind, r->name, r->res->plural, "%s", err.msg);
    } else if (!json_is_object(out)) {
        json_decref(out);
        out = NULL;
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                  "the patched object is not a JSON object");
    }
    return out;
}

/* Drops the warnings added after the first n (those of a failed attempt). */
static void
warnings_truncate(struct api_request *r, size_t n)
{
    while (json_array_size(r->warnings) > n)
        json_array_remove(r->warnings, json_array_size(r->warnings) - 1);
}

int
api_handle_patch(struct api_request *r)
{
    _cleanup_json_ json_t *patch = NULL;
    size_t n_warnings;
    int reply = -1;

    if (r->subresource && strcmp(r->subresource, "scale") == 0)
        return api_handle_scale(r);
    patch = read_patch(r, &reply);
    if (!patch)
        return reply;
    n_warnings = json_array_size(r->warnings);
    /* A patch applies to what is stored now. If another writer gets in
     * between, the compare-and-swap fails and the patch is applied again to
     * the newer object, as upstream does. */
    for (int attempt = 0; attempt < PATCH_RETRIES; attempt++) {
        _cleanup_json_ json_t *old = NULL, *next = NULL, *out = NULL;
        struct k3c_err err = {0};
        int64_t rev = 0;

        warnings_truncate(r, n_warnings);
        old = api_read_object(r, &rev, &err);
        if (!old && err.kind == K3C_E_NOT_FOUND && api_apply_requested(r)) {
            /* Server-side apply creates what does not exist. */
            next = api_apply_patch(r, patch, NULL, &reply);
            return next ? create_object(r, next) : reply;
        }
        if (!old)
            return api_reply_store_error(r, &err);
        next = apply_patch(r, patch, old, &reply);
        if (!next)
            return reply;
        json_object_set_new(api_meta(next), "name", json_string(r->name));
        if ((reply = check_type(r, next)) >= 0 || (reply = check_fields(r, next)) >= 0 ||
            (reply = prepare_update(r, next, old, rev, &out)) >= 0)
            return reply;
        /* An apply that changes nothing writes nothing (no new revision, no
         * watch event), as upstream: controllers apply on every resync. */
        if (dry_run(r) || (api_apply_requested(r) && json_equal(out, old)) ||
            store_write(r, out, rev, &err) == 0)
            return api_reply_object(r, 200, json_incref(out));
        if (err.kind != K3C_E_CONFLICT)
            return reply_write_error(r, &err);
    }
    return reply_conflict(r);
}

/* ---- delete --------------------------------------------------------------- */

struct delete_options {
    json_t *body;            /* DeleteOptions, or NULL */
    long long grace;         /* -1: not given */
    const char *propagation; /* Orphan, Background, Foreground, or NULL */
};

/* The deprecated orphanDependents (body or query) as a policy, or NULL. */
static const char *
legacy_orphan_dependents(struct api_request *r, const json_t *body)
{
    const json_t *b = json_object_get(body, "orphanDependents");
    const char *q = api_query(r, "orphanDependents");

    if (json_is_boolean(b))
        return json_is_true(b) ? "Orphan" : "Background";
    if (q)
        return api_query_true(r, "orphanDependents") ? "Orphan" : "Background";
    return NULL;
}

static void
delete_options_read(struct api_request *r, struct delete_options *o)
{
    const char *g = api_query(r, "gracePeriodSeconds");
    json_t *jg;

    const char *ct = api_header(r, "Content-Type");
    struct k3c_err err = {0};

    if (r->body.len && ct && strncmp(ct, "application/vnd.kubernetes.protobuf", 35) == 0)
        o->body = api_protobuf_decode(r->body.data, r->body.len, &err);
    else
        o->body = r->body.len ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
    o->grace = g ? strtoll(g, NULL, 10) : -1;
    jg = json_object_get(o->body, "gracePeriodSeconds");
    if (json_is_integer(jg))
        o->grace = json_integer_value(jg);
    o->propagation = json_string_value(json_object_get(o->body, "propagationPolicy"));
    if (!o->propagation)
        o->propagation = api_query(r, "propagationPolicy");
    if (!o->propagation)
        o->propagation = legacy_orphan_dependents(r, o->body);
}

/* DeleteOptions.preconditions: uid and resourceVersion must match. */
static int
check_preconditions(struct api_request *r, const struct delete_options *o, const json_t *old)
{
    const json_t *pre = json_object_get(o->body, "preconditions");
    const char *uid = json_string_value(json_object_get(pre, "uid"));
    const char *rv = json_string_value(json_object_get(pre, "resourceVersion"));
    const char *have_uid = api_meta_str(old, "uid");
    const char *have_rv = api_meta_str(old, "resourceVersion");

    if (uid && (!have_uid || strcmp(uid, have_uid) != 0))
        return api_reply_status(r, K3C_E_CONFLICT, r->name, r->res->plural,
                                "Precondition failed: UID in precondition: %s, UID in object "
                                "meta: %s",
                                uid, have_uid ? have_uid : "");
    if (rv && (!have_rv || strcmp(rv, have_rv) != 0))
        return api_reply_status(r, K3C_E_CONFLICT, r->name, r->res->plural,
                                "Precondition failed: ResourceVersion in precondition: %s, "
                                "ResourceVersion in object meta: %s",
                                rv, have_rv ? have_rv : "");
    return -1;
}

/* How long a pod bound to a node gets to stop; 0 means delete now. Pods
 * not bound to a node have nothing to stop (upstream deletes them at once). */
static long long
pod_grace(const struct api_request *r, const struct delete_options *o, const json_t *old)
{
    const json_t *spec = json_object_get(old, "spec");
    json_t *tg = json_object_get(spec, "terminationGracePeriodSeconds");

    if (strcmp(r->res->plural, "pods") != 0 || !json_object_get(spec, "nodeName"))
        return 0;
    if (o->grace >= 0)
        return o->grace;
    return json_is_integer(tg) ? json_integer_value(tg) : 30;
}

/* Marks old as being deleted (finalizers pending, a namespace to empty, a
 * pod to stop) and stores it. 0, or -1 with err. */
static int
mark_deleting_store(struct api_request *r, json_t *old, int64_t rev, long long grace,
                    struct k3c_err *err)
{
    json_t *meta = api_meta(old);
    char ts[32];

    if (api_meta_str(old, "deletionTimestamp"))
        return 0; /* already on its way */
    k3c_time_rfc3339(k3c_wall_ms() / 1000 + grace, ts, sizeof(ts));
    json_object_set_new(meta, "deletionTimestamp", json_string(ts));
    json_object_set_new(meta, "deletionGracePeriodSeconds", json_integer(grace));
    if (strcmp(r->res->plural, "namespaces") == 0) {
        json_t *st = json_object_get(old, "status");

        if (!json_is_object(st)) {
            st = json_object();
            json_object_set_new(old, "status", st);
        }
        json_object_set_new(st, "phase", json_string("Terminating"));
    }
    return dry_run(r) ? 0 : store_write_ex(r, old, rev, false, err);
}

/* Adds the finalizer of an Orphan or Foreground propagationPolicy to obj.
 * True if it was added. */
static bool
add_propagation_finalizer(json_t *obj, const char *policy)
{
    const char *fin = NULL;
    json_t *list;
    size_t i;
    json_t *f;

    if (policy && strcmp(policy, "Orphan") == 0)
        fin = "orphan";
    else if (policy && strcmp(policy, "Foreground") == 0)
        fin = "foregroundDeletion";
    if (!fin)
        return false;
    list = json_object_get(api_meta(obj), "finalizers");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(api_meta(obj), "finalizers", list);
    }
    json_array_foreach(list, i, f)
    {
        if (json_string_value(f) && strcmp(json_string_value(f), fin) == 0)
            return false;
    }
    json_array_append_new(list, json_string(fin));
    return true;
}

/* How often a DELETE re-reads the object after a write raced it (a status
 * write between the read and the compare-and-swap); upstream's
 * GuaranteedUpdate retries the same way. */
#define DELETE_CONFLICT_RETRIES 5

/* Stores what deleting old (read at rev) means: a finalizer a repeated
 * DELETE added, the deletion mark (finalizers, grace period, namespaces),
 * or the removal. 0 when stored (or a dry run), -1 with err. */
static int
delete_store(struct api_request *r, const struct delete_options *o, json_t *old, int64_t rev,
             struct k3c_err *err)
{
    _cleanup_free_ char *key = NULL;
    int64_t del_rev = 0;
    long long grace = pod_grace(r, o, old);

    /* Orphan and Foreground leave the object to the garbage collector
     * behind a finalizer; Background deletes it now (the collector then
     * removes its dependents). */
    if (add_propagation_finalizer(old, o->propagation) && api_meta_str(old, "deletionTimestamp"))
        return dry_run(r) ? 0 : store_write_ex(r, old, rev, false, err);
    if (has_finalizers(old) || grace > 0 || strcmp(r->res->plural, "namespaces") == 0)
        return mark_deleting_store(r, old, rev, grace, err);
    if (dry_run(r))
        return 0;
    key = api_object_key(r->res, r->namespace, r->name);
    if (store_delete(r->srv->store, key, rev, NULL, &del_rev, err) < 0)
        return -1;
    release_allocations(r, old);
    return 0;
}

/* Deletes the object named by r->name; with reply, answers the request
 * (the object as deleted or marked), else returns 0 or -1 (deletecollection,
 * eviction). A write that lands between the read and the store is retried
 * on a fresh read; preconditions are checked against each read, so a
 * resourceVersion precondition still ends in 409. */
static int
delete_one(struct api_request *r, const struct delete_options *o, bool reply)
{
    struct k3c_err err = {0};

    for (int attempt = 0;; attempt++) {
        _cleanup_json_ json_t *old = NULL;
        int64_t rev = 0;
        int pre;

        k3c_err_clear(&err);
        old = api_read_object(r, &rev, &err);
        if (!old)
            return reply ? api_reply_store_error(r, &err) : -1;
        if (reply && (pre = check_preconditions(r, o, old)) >= 0)
            return pre;
        if (!r->subresource) { /* admission webhooks (src/admission/); not for pods/eviction */
            struct admission_denial d;

            if (admission_mutate(r, ADMISSION_DELETE, NULL, old, &d) < 0 ||
                admission_validate(r, ADMISSION_DELETE, NULL, old, &d) < 0)
                return reply ? api_reply_status_code(r, d.code, d.reason, "%s", d.message) : -1;
        }
        if (delete_store(r, o, old, rev, &err) == 0)
            return reply ? api_reply_object(r, 200, json_incref(old)) : 0;
        if (err.kind != K3C_E_CONFLICT || attempt + 1 >= DELETE_CONFLICT_RETRIES)
            return reply ? reply_write_error(r, &err) : -1;
    }
}

/* DeleteOptions.propagationPolicy must be one of the three. */
static int
check_propagation(struct api_request *r, const struct delete_options *o)
{
    static const char *const ok[] = {"Orphan", "Background", "Foreground"};

    if (!o->propagation)
        return -1;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(ok); i++)
        if (strcmp(o->propagation, ok[i]) == 0)
            return -1;
    return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                            "propagationPolicy: Unsupported value: \"%s\": supported values: "
                            "\"Foreground\", \"Background\", \"Orphan\"",
                            o->propagation);
}

int
api_handle_delete(struct api_request *r)
{
    struct delete_options o;
    int ret;

    if ((ret = api_priority_admit_delete(r)) >= 0) /* kind_priorityclass.c */
        return ret;
    delete_options_read(r, &o);
    if ((ret = check_propagation(r, &o)) >= 0) {
        json_decref(o.body);
        return ret;
    }
    ret = delete_one(r, &o, true);
    json_decref(o.body);
    return ret;
}

/* pods/eviction: the Eviction's deleteOptions instead of a DELETE body. */
int
api_delete_with_options(struct api_request *r, const json_t *options, struct k3c_err *err)
{
    struct delete_options o = {0};
    const json_t *jg = json_object_get(options, "gracePeriodSeconds");
    const json_t *pre = json_object_get(options, "preconditions");
    _cleanup_json_ json_t *old = NULL;
    const char *uid = json_string_value(json_object_get(pre, "uid"));

    o.body = (json_t *)options;
    o.grace = json_is_integer(jg) ? json_integer_value(jg) : -1;
    o.propagation = json_string_value(json_object_get(options, "propagationPolicy"));
    if (uid) {
        old = api_read_object(r, NULL, err);
        if (!old)
            return -1;
        if (!api_meta_str(old, "uid") || strcmp(uid, api_meta_str(old, "uid")) != 0)
            return k3c_err_set(err, K3C_E_CONFLICT, "Precondition failed: UID in precondition: %s",
                               uid);
    }
    if (delete_one(r, &o, false) < 0)
        return k3c_err_set(err, K3C_E_CONFLICT,
                           "Operation cannot be fulfilled on pods \"%s\": the object has been "
                           "modified; please apply your changes to the latest version and try "
                           "again",
                           r->name);
    return 0;
}

struct name_list {
    char **names;
    char **namespaces;
    size_t n;
    const struct api_selectors *sel;
};

static void
collect_name(void *ud, struct wc_entry *e)
{
    struct name_list *l = ud;

    if (!api_selectors_match_entry(l->sel, e))
        return;
    l->names = k3c_xrealloc(l->names, (l->n + 1) * sizeof(char *));
    l->namespaces = k3c_xrealloc(l->namespaces, (l->n + 1) * sizeof(char *));
    l->names[l->n] = k3c_xstrdup(e->name);
    l->namespaces[l->n] = k3c_xstrdup(e->namespace);
    l->n++;
}

int
api_handle_delete_collection(struct api_request *r)
{
    struct api_selectors sel = {0};
    struct delete_options o;
    struct name_list l = {.sel = &sel};
    struct k3c_err err = {0};
    _cleanup_free_ char *prefix = api_list_prefix(r->res, r->namespace);
    struct watch_cache *wc = api_cache_for(r->srv, r->res);
    size_t deleted = 0;

    if (api_selectors_parse(r, &sel, &err) < 0)
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "%s", err.msg);
    if (watch_cache_sync(wc, 0, 10000, &err) < 0) {
        api_selectors_fini(&sel);
        return api_reply_store_error(r, &err);
    }
    watch_cache_foreach(wc, prefix, collect_name, &l);
    api_selectors_fini(&sel);
    delete_options_read(r, &o);
    for (size_t i = 0; i < l.n; i++) {
        free(r->name);
        free(r->namespace);
        r->name = l.names[i];
        r->namespace = r->res->namespaced ? l.namespaces[i] : NULL;
        if (!r->res->namespaced)
            free(l.namespaces[i]);
        if (delete_one(r, &o, false) == 0)
            deleted++;
    }
    free(l.names);
    free(l.namespaces);
    json_decref(o.body);
    log_debug("(%s) deletecollection removed %zu", r->res->plural, deleted);
    return api_reply_json_take(r, 200,
                               json_pack("{s:s, s:s, s:{}, s:s, s:{s:s}}", "kind", "Status",
                                         "apiVersion", "v1", "metadata", "status", "Success",
                                         "details", "kind", r->res->plural));
}

/* ---- status and scale subresources ----------------------------------------- */

bool
api_subresource_served(const struct api_resource *res, const char *sub)
{
    if (strcmp(sub, "status") == 0)
        return res->subresources & API_SUB_STATUS;
    if (strcmp(sub, "scale") == 0)
        return res->subresources & API_SUB_SCALE;
    if (strcmp(sub, "finalize") == 0)
        return strcmp(res->plural, "namespaces") == 0;
    if (strcmp(sub, "binding") == 0 || strcmp(sub, "eviction") == 0)
        return strcmp(res->plural, "pods") == 0;
    return false;
}

/* autoscaling/v1 Scale for a deployment or replicaset. */
static json_t *
scale_of(const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *ml = json_object_get(json_object_get(spec, "selector"), "matchLabels");
    struct k3c_buf sel;
    const char *k;
    json_t *v, *scale;

    k3c_buf_init(&sel);
    json_object_foreach((json_t *)ml, k, v)
    {
        k3c_buf_appendf(&sel, "%s%s=%s", sel.len ? "," : "", k, json_string_value(v) ?: "");
    }
    scale = json_pack(
        "{s:s, s:s, s:{s:O*, s:O*, s:O*, s:O*, s:O*}, s:{s:I}, s:{s:I, s:s}}", "kind", "Scale",
        "apiVersion", "autoscaling/v1", "metadata", "name", json_object_get(meta, "name"),
        "namespace", json_object_get(meta, "namespace"), "uid", json_object_get(meta, "uid"),
        "resourceVersion", json_object_get(meta, "resourceVersion"), "creationTimestamp",
        json_object_get(meta, "creationTimestamp"), "spec", "replicas",
        (json_int_t)json_integer_value(json_object_get(spec, "replicas")), "status", "replicas",
        (json_int_t)json_integer_value(json_object_get(json_object_get(obj, "status"), "replicas")),
        "selector", sel.data ? sel.data : "");
    k3c_buf_fini(&sel);
    return scale;
}

int
api_handle_get_subresource(struct api_request *r)
{
    struct k3c_err err = {0};
    json_t *obj = api_read_object(r, NULL, &err);
    json_t *scale;

    if (!obj)
        return api_reply_store_error(r, &err);
    if (strcmp(r->subresource, "scale") != 0)
        return api_reply_object(r, 200, obj);
    scale = api_crd_scale_of(r->res, obj) ?: scale_of(obj); /* custom: the CRD's paths */
    json_decref(obj);
    return api_reply_json_take(r, 200, scale);
}

/* Admission webhooks (src/admission/) on /scale: the Scale object. -1 to
 * go on, else the reply. */
static int
admit_scale(struct api_request *r, json_t *scale, const json_t *obj)
{
    _cleanup_json_ json_t *old = scale_of(obj);
    struct admission_denial d;

    if (admission_mutate(r, ADMISSION_UPDATE, scale, old, &d) < 0 ||
        admission_validate(r, ADMISSION_UPDATE, scale, old, &d) < 0)
        return api_reply_status_code(r, d.code, d.reason, "%s", d.message);
    return -1;
}

/* PUT or PATCH of /scale: only spec.replicas of the object changes. */
int
api_handle_scale(struct api_request *r)
{
    int reply = -1;
    _cleanup_json_ json_t *body = body_object(r, &reply);

    if (!body)
        return reply;
    for (int attempt = 0; attempt < PATCH_RETRIES; attempt++) {
        _cleanup_json_ json_t *obj = NULL, *scale = NULL;
        struct k3c_err err = {0};
        int64_t rev = 0;
        json_t *replicas;
        const char *want;

        obj = api_read_object(r, &rev, &err);
        if (!obj)
            return api_reply_store_error(r, &err);
        scale = api_crd_scale_of(r->res, obj) ?: scale_of(obj);
        if (strcmp(r->method, "PATCH") == 0)
            api_merge_patch(scale, body);
        else
            json_object_set(scale, "spec", json_object_get(body, "spec"));
        want = api_meta_str(strcmp(r->method, "PATCH") == 0 ? scale : body, "resourceVersion");
        if (want && *want && strtoll(want, NULL, 10) != rev)
            return reply_conflict(r);
        if ((reply = admit_scale(r, scale, obj)) >= 0)
            return reply;
        replicas = json_object_get(json_object_get(scale, "spec"), "replicas");
        if (!json_is_integer(replicas) || json_integer_value(replicas) < 0) {
            json_t *causes = json_array();

            api_cause_add(causes, "FieldValueInvalid", "spec.replicas",
                          "Invalid value: must be greater than or equal to 0");
            return api_reply_invalid_take(r, "Scale", r->name, causes);
        }
        _cleanup_json_ json_t *before = json_deep_copy(obj);
        const char *key = "replicas";
        json_t *at = api_crd_replicas_parent(r->res, obj, &key) ?: json_object_get(obj, "spec");

        if (json_integer_value(replicas) != json_integer_value(json_object_get(at, key))) {
            json_t *meta = api_meta(obj);

            json_object_set(at, key, replicas);
            json_object_set_new(
                meta, "generation",
                json_integer(json_integer_value(json_object_get(meta, "generation")) + 1));
            api_managed_fields_track(r, obj, before, NULL); /* api_apply.c */
        }
        if (dry_run(r) || store_write(r, obj, rev, &err) == 0)
            return api_reply_json_take(r, 200, api_crd_scale_of(r->res, obj) ?: scale_of(obj));
        if (err.kind != K3C_E_CONFLICT)
            return reply_write_error(r, &err);
    }
    return reply_conflict(r);
}
