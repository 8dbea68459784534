/* SPDX-License-Identifier: Apache-2.0
 * api_apply.c - server-side apply (PATCH with application/apply-patch+yaml)
 * and metadata.managedFields on every write, as kube-apiserver's
 * fieldmanager does. The field sets and the merge are src/ssa/; this file
 * is the HTTP side: options, the body, conflicts as 409, and which manager
 * writes. api_write.c calls it at four points (reading a patch, applying
 * it, creating on apply, and after validation). */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "ssa/ssa.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

static bool
content_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);

    return ct && strncmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

bool
api_apply_requested(struct api_request *r)
{
    return content_type_is(api_header(r, "Content-Type"), "application/apply-patch+yaml");
}

static struct ssa_schema
kind_schema(struct api_request *r)
{
    struct ssa_schema s = {api_openapi_kind_schema(r->res), api_openapi_resolve, NULL,
                           !api_resource_is_custom(r->res)};

    return s;
}

/* The time of managedFields entries, formatted (gmtime, strftime) once a
 * second per thread rather than on every write. */
static void
now_rfc3339(char *buf, size_t len)
{
    static _Thread_local int64_t last = -1;
    static _Thread_local char text[32];
    int64_t now = (int64_t)time(NULL);

    if (now != last) {
        k3c_time_rfc3339(now, text, sizeof(text));
        last = now;
    }
    if (len > 0) {
        size_t n = strlen(text) < len ? strlen(text) : len - 1;

        memcpy(buf, text, n);
        buf[n] = '\0';
    }
}

/* ---- options ------------------------------------------------------------- */

static int
reply_options_invalid(struct api_request *r, const char *field, const char *message)
{
    return api_reply_status(r, K3C_E_INVALID, NULL, NULL,
                            "PatchOptions.meta.k8s.io \"\" is invalid: %s: %s", field, message);
}

static bool
manager_valid(const char *m)
{
    if (strlen(m) > SSA_MANAGER_MAX)
        return false;
    for (const char *p = m; *p; p++)
        if (!isprint((unsigned char)*p))
            return false;
    return true;
}

/* upstream's validatePatchOptions: fieldManager is required for apply,
 * force only for apply. Returns -1 to go on, or the reply. */
int
api_apply_check_options(struct api_request *r)
{
    const char *fm = api_query(r, "fieldManager");
    const char *force = api_query(r, "force");
    bool apply = api_apply_requested(r);

    if (!apply && force)
        return reply_options_invalid(r, "force",
                                     "Forbidden: may not be specified for non-apply patch");
    if (apply && (!fm || !*fm))
        return reply_options_invalid(r, "fieldManager",
                                     "Required value: is required for apply patch");
    if (fm && !manager_valid(fm))
        return reply_options_invalid(r, "fieldManager",
                                     "Invalid value: must be at most 128 printable characters");
    if (api_query_bool(r, "force") < 0)
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "force: invalid value %s (true or false)", force);
    return -1;
}

/* ---- the applied configuration ------------------------------------------ */

json_t *
api_apply_read(struct api_request *r, int *reply)
{
    json_error_t jerr;
    json_t *cfg, *meta;
    const char *name;

    if (r->body.len == 0) {
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "the request body is empty");
        return NULL;
    }
    /* kubectl and the client libraries send JSON, which is YAML. */
    cfg = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!cfg) {
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                  "error decoding YAML: k3c reads apply patches in the JSON form "
                                  "of YAML: %s (line %d)",
                                  jerr.text, jerr.line);
        return NULL;
    }
    meta = json_object_get(cfg, "metadata");
    if (!json_is_object(cfg) || !json_string_value(json_object_get(cfg, "apiVersion")) ||
        !json_string_value(json_object_get(cfg, "kind"))) {
        json_decref(cfg);
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                  "an apply patch must be an object with apiVersion and kind");
        return NULL;
    }
    if (json_object_get(meta, "managedFields") &&
        !json_is_null(json_object_get(meta, "managedFields"))) {
        json_decref(cfg);
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                  "metadata.managedFields must be nil");
        return NULL;
    }
    name = json_string_value(json_object_get(meta, "name"));
    if (name && r->name && strcmp(name, r->name) != 0) {
        json_decref(cfg);
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                  "the name of the object (%s) does not match the name on the URL "
                                  "(%s)",
                                  name, r->name);
        return NULL;
    }
    return cfg;
}

/* What an applier may own here: the main resource's status, and on /status
 * everything but status, are reset (upstream's ResetFieldsStrategy). */
static json_t *
owned_part(struct api_request *r, const json_t *config)
{
    json_t *c = json_deep_copy(config);

    if (r->subresource && strcmp(r->subresource, "status") == 0) {
        json_t *meta = json_object_get(c, "metadata"), *v;
        const char *key;
        void *tmp;

        json_object_foreach_safe(c, tmp, key, v)
        {
            if (strcmp(key, "apiVersion") != 0 && strcmp(key, "kind") != 0 &&
                strcmp(key, "metadata") != 0 && strcmp(key, "status") != 0)
                json_object_del(c, key);
        }
        json_object_foreach_safe(meta, tmp, key, v)
        {
            if (strcmp(key, "name") != 0 && strcmp(key, "namespace") != 0)
                json_object_del(meta, key);
        }
    } else if (r->res->has_status) {
        json_object_del(c, "status");
    }
    return c;
}

static void
set_managed_fields(json_t *obj, json_t *managed)
{
    if (json_array_size(managed) > 0)
        json_object_set_new(api_meta(obj), "managedFields", managed);
    else {
        json_decref(managed);
        json_object_del(api_meta(obj), "managedFields");
    }
}

static int
reply_conflicts(struct api_request *r, const json_t *conflicts)
{
    _cleanup_free_ char *msg = ssa_conflict_message(conflicts);
    json_t *causes = json_array(), *st;
    size_t i, j;
    json_t *c, *p;

    json_array_foreach(conflicts, i, c)
    {
        const char *who = json_string_value(json_object_get(c, "manager"));

        json_array_foreach(json_object_get(c, "paths"), j, p)
        {
            json_array_append_new(causes,
                                  json_pack("{s:s, s:s+, s:O}", "reason", "FieldManagerConflict",
                                            "message", "conflict with ", who, "field", p));
        }
    }
    st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:{s:o}, s:i}", "kind", "Status", "apiVersion",
                   "v1", "metadata", "status", "Failure", "message", msg, "reason", "Conflict",
                   "details", "causes", causes, "code", 409);
    return api_reply_json_take(r, 409, st);
}

/* kubectl's first server-side apply over what its client-side apply wrote:
 * conflicts on fields the last-applied annotation sets to their live value
 * are the applier's own (upstream's lastAppliedManager). True when all
 * conflicts are such; else res->conflicts keeps the others. */
static bool
migrating_from_client_side(struct api_request *r, const json_t *old, struct ssa_apply_result *res,
                           const struct ssa_schema *s)
{
    const char *text = json_string_value(json_object_get(
        json_object_get(json_object_get(old, "metadata"), "annotations"), LAST_APPLIED));
    _cleanup_json_ json_t *last = NULL;
    json_t *left;

    if (strcmp(api_query(r, "fieldManager"), "kubectl") != 0 || !text)
        return false;
    last = json_loads(text, 0, NULL);
    if (!json_is_object(last) ||
        !json_equal(json_object_get(last, "apiVersion"), json_object_get(old, "apiVersion")))
        return false;
    left = ssa_conflicts_less_last_applied(res->conflicts, last, old, s);
    if (!left)
        return false;
    json_decref(res->conflicts);
    res->conflicts = left;
    return json_array_size(left) == 0;
}

/* The managedFields an apply starts from. A stored object without any (one
 * written before k3c kept them, or reset) has all its fields owned by
 * "before-first-apply", as upstream does, so that the first apply conflicts
 * with what is there rather than silently taking it. */
static json_t *
managed_before_apply(const json_t *old, const struct ssa_schema *s, const char *now)
{
    const json_t *managed = json_object_get(json_object_get(old, "metadata"), "managedFields");
    struct ssa_manager b = {"before-first-apply", NULL,
                            json_string_value(json_object_get(old, "apiVersion")), now};
    struct k3c_err err = {0};

    if (!old || json_array_size(managed) > 0)
        return json_incref((json_t *)managed);
    return ssa_update(NULL, old, NULL, &b, s, &err);
}

json_t *
api_apply_patch(struct api_request *r, const json_t *config, const json_t *old, int *reply)
{
    struct ssa_schema s = kind_schema(r);
    _cleanup_json_ json_t *owned = owned_part(r, config);
    struct ssa_apply_result res = {0};
    struct k3c_err err = {0};
    char now[32];
    struct ssa_manager m = {api_query(r, "fieldManager"), r->subresource,
                            json_string_value(json_object_get(config, "apiVersion")), now};
    _cleanup_json_ json_t *managed = NULL;
    json_t *out;

    now_rfc3339(now, sizeof(now));
    managed = managed_before_apply(old, &s, now);
    if (ssa_apply(old, owned, managed, &m, api_query_true(r, "force"), &s, &res, &err) < 0) {
        *reply = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                  "failed to create typed patch object (%s/%s; %s, Kind=%s): %s",
                                  r->namespace ? r->namespace : "", r->name ? r->name : "",
                                  m.api_version, r->res->kind, err.msg);
        return NULL;
    }
    if (res.conflicts && migrating_from_client_side(r, old, &res, &s)) {
        ssa_apply_result_fini(&res);
        if (ssa_apply(old, owned, managed, &m, true, &s, &res, &err) < 0) {
            *reply = api_reply_status(r, K3C_E_INTERNAL, NULL, NULL, "%s", err.msg);
            return NULL;
        }
    }
    if (res.conflicts) {
        *reply = reply_conflicts(r, res.conflicts);
        ssa_apply_result_fini(&res);
        return NULL;
    }
    out = json_incref(res.object);
    set_managed_fields(out, json_incref(res.managed_fields));
    /* Keeps kubectl's client-side apply working after its server-side one
     * (upstream's lastAppliedUpdater: manager kubectl, annotation there). */
    if (strcmp(m.manager, "kubectl") == 0 &&
        json_object_get(json_object_get(json_object_get(old, "metadata"), "annotations"),
                        LAST_APPLIED)) {
        _cleanup_json_ json_t *last = json_deep_copy(config);
        json_t *ann = json_object_get(api_meta(out), "annotations");
        char *text;

        json_object_del(json_object_get(json_object_get(last, "metadata"), "annotations"),
                        LAST_APPLIED);
        text = json_dumps(last, JSON_COMPACT);
        if (json_is_object(ann) && text)
            json_object_set_new(ann, LAST_APPLIED, json_string(text));
        free(text);
    }
    ssa_apply_result_fini(&res);
    return out;
}

/* ---- managedFields of other writes ---------------------------------------- */

/* fieldManager, else the User-Agent up to its first '/' (upstream's
 * default: "kubectl", "OpenAPI-Generator"), else the user's name. */
static char *
manager_of(struct api_request *r)
{
    const char *fm = api_query(r, "fieldManager");
    const char *ua = api_header(r, "User-Agent");
    size_t n;

    if (fm && *fm)
        return k3c_xstrdup(fm);
    if (!ua || !*ua) /* k3c's own clients send none: the user names them */
        return k3c_xstrdup(r->user.name[0] ? r->user.name : "unknown");
    n = strcspn(ua, "/");
    if (n > SSA_MANAGER_MAX)
        n = SSA_MANAGER_MAX;
    return k3c_xasprintf("%.*s", (int)n, ua);
}

void
api_managed_fields_track(struct api_request *r, json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *mine = json_object_get(json_object_get(obj, "metadata"), "managedFields");
    const json_t *theirs = json_object_get(json_object_get(old, "metadata"), "managedFields");
    const json_t *base = theirs;
    struct ssa_schema s = kind_schema(r);
    _cleanup_free_ char *manager = NULL;
    struct k3c_err err = {0};
    char now[32];
    struct ssa_manager m;
    json_t *managed;

    if (api_apply_requested(r))
        return; /* api_apply_patch did it */
    /* A client that sets managedFields: [] resets them; one that sends
     * other managedFields than stored has them taken as they are. */
    if (json_is_array(mine) && json_array_size(mine) == 0) {
        json_object_del(api_meta(obj), "managedFields");
        return;
    }
    if (mine && !json_equal((json_t *)mine, (json_t *)theirs))
        base = mine;
    manager = manager_of(r);
    now_rfc3339(now, sizeof(now));
    m = (struct ssa_manager){manager, r->subresource,
                             json_string_value(json_object_get(obj, "apiVersion")), now};
    managed = ssa_update(old, obj, base, &m, &s, &err);
    if (!managed) {
        if (base == mine && causes) {
            api_cause_add(causes, "FieldValueInvalid", "metadata.managedFields", "%s", err.msg);
            return;
        }
        /* Stored managedFields we cannot read: start again, as upstream. */
        log_warn("%s %s: managedFields reset: %s", r->res->plural, r->name ? r->name : "", err.msg);
        managed = ssa_update(old, obj, NULL, &m, &s, &err);
        if (!managed)
            return;
    }
    set_managed_fields(obj, managed);
}
