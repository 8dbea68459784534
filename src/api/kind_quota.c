/* SPDX-License-Identifier: Apache-2.0
 * kind_quota.c - v1 ResourceQuota ("quota"): table (printResourceQuota:
 * NAME AGE REQUEST LIMIT), validation (quantities, scopes) and the
 * ResourceQuota admission plugin (k8s.io/apiserver/pkg/admission/plugin/
 * resourcequota): a new namespaced object is charged against every quota
 * of its namespace that counts it; status.used is raised by a
 * compare-and-swap on the quota (as upstream, so that concurrent creates
 * cannot both take the last unit), and a create that would exceed
 * status.hard is refused with 403 "exceeded quota: ...". The status is
 * recomputed from the objects by src/controllers/resourcequota.c. The
 * arithmetic is src/quota/quota.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-handlers.h"
#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "quota/quota.h"

#define QUOTA_CAS_ATTEMPTS 8

const struct api_column api_columns_resourcequota[] = {
    COL_NAME,
    COL_AGE,
    {"Request", "string", "",
     "Request represents a minimum amount of cpu/memory that a container may consume.", 0},
    {"Limit", "string", "",
     "Limits control the maximum amount of cpu/memory that a container may use independent of "
     "contention on the node.",
     0},
    COL_END,
};

json_t *
api_row_resourcequota(const json_t *obj, int64_t now_s)
{
    const json_t *hard = api_json_path(obj, "status.hard");
    const json_t *used = api_json_path(obj, "status.used");
    struct k3c_buf req, lim;
    size_t n = 0;
    const char **keys = api_sorted_keys(hard, &n);
    json_t *row;

    k3c_buf_init(&req);
    k3c_buf_init(&lim);
    for (size_t i = 0; i < n; i++) {
        int64_t u = 0, h = 0;
        _cleanup_free_ char *us = NULL, *hs = NULL;
        struct k3c_buf *w = strncmp(keys[i], "limits.", 7) == 0 ? &lim : &req;

        quota_parse(json_object_get(used, keys[i]), &u);
        quota_parse(json_object_get(hard, keys[i]), &h);
        hs = quota_format(h, json_string_value(json_object_get(hard, keys[i])));
        us = quota_format(u, hs);
        k3c_buf_appendf(w, "%s%s: %s/%s", w->len ? ", " : "", keys[i], us, hs);
    }
    free(keys);
    row = json_pack("[o o s s]", api_name_cell(obj), api_age_cell(obj, now_s),
                    req.len ? req.data : "", lim.len ? lim.data : "");
    k3c_buf_fini(&req);
    k3c_buf_fini(&lim);
    return row;
}

/* ValidateResourceQuantityValue over a resource list. */
void
api_check_resource_list(const json_t *list, const char *at, json_t *causes)
{
    const char *k;
    json_t *v;
    struct fpath f;

    json_object_foreach((json_t *)list, k, v)
    {
        int64_t m = 0;
        const char *s = json_string_value(v);

        api_fpath(&f, "%s[%s]", at, k);
        if (!quota_parse(v, &m))
            api_cause_invalid_str(causes, f.s, s ? s : "",
                                  "quantities must match the regular expression "
                                  "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
        else if (m < 0)
            api_cause_invalid_str(causes, f.s, s ? s : "", "must be greater than or equal to 0");
    }
}

static const char *const quota_scopes[] = {"BestEffort",
                                           "CrossNamespacePodAffinity",
                                           "NotBestEffort",
                                           "NotTerminating",
                                           "PriorityClass",
                                           "Terminating",
                                           NULL};

void
api_validate_resourcequota(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *s;
    size_t i;
    struct fpath f;

    (void)old;
    api_check_resource_list(json_object_get(spec, "hard"), "spec.hard", causes);
    json_array_foreach(json_object_get(spec, "scopes"), i, s) api_check_enum(
        causes, api_fpath(&f, "spec.scopes[%zu]", i), json_string_value(s), quota_scopes, true);
    json_array_foreach(api_json_path(spec, "scopeSelector.matchExpressions"), i, s) api_check_enum(
        causes, api_fpath(&f, "spec.scopeSelector.matchExpressions[%zu].scopeName", i),
        api_str_at(s, "scopeName"), quota_scopes, true);
}

/* ---- admission ------------------------------------------------------------------ */

/* "a=1,b=2m" over the names of names, values from list, sorted. */
static void
pretty(struct k3c_buf *b, const json_t *names, const json_t *list, bool milli_values)
{
    size_t n = 0;
    const char **keys = api_sorted_keys(names, &n);

    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(list, keys[i]);
        _cleanup_free_ char *s = NULL;
        int64_t m = 0;

        if (milli_values)
            m = json_integer_value(v);
        else
            quota_parse(v, &m);
        s = quota_format(m, json_string_value(json_object_get(names, keys[i])));
        k3c_buf_appendf(b, "%s%s=%s", i ? "," : "", keys[i], s);
    }
    free(keys);
}

static int
forbid(struct api_request *r, const json_t *obj, const char *why)
{
    return api_reply_status_code(r, 403, "Forbidden", "%s%s%s \"%s\" is forbidden: %s",
                                 r->res->plural, r->res->group[0] ? "." : "", r->res->group,
                                 api_or_empty(api_str_at(obj, "metadata.name")), why);
}

enum charge { CHARGE_SKIP, CHARGE_DONE, CHARGE_RETRY };

/* Checks obj against one stored quota and, when it fits, writes the raised
 * status.used with the quota's revision. *reply is set when refused. */
static enum charge
charge_one(struct api_request *r, const json_t *obj, const json_t *cached, bool dry_run,
           bool use_cache, int *reply, struct k3c_err *err)
{
    const char *key = json_string_value(json_object_get(cached, "key"));
    struct store_kv kv = {0};
    _cleanup_json_ json_t *quota = NULL, *delta = json_object(), *exceeded = json_object();
    _cleanup_free_ char *missing = NULL, *text = NULL;
    const json_t *spec_hard, *hard, *used;
    json_t *new_used;
    const char *name;
    json_t *v;
    int64_t rev;
    size_t len = 0;

    if (use_cache) {
        /* the cached copy and its revision: the compare-and-swap tells
         * whether it was current, saving a read when it was */
        quota = json_deep_copy(json_object_get(cached, "quota"));
        rev = json_integer_value(json_object_get(cached, "revision"));
    } else {
        if (store_get(r->srv->store, key, &kv, err) < 0) {
            if (err->kind != K3C_E_NOT_FOUND)
                return CHARGE_DONE; /* reply with err */
            k3c_err_clear(err);
            return CHARGE_SKIP;
        }
        rev = kv.mod_revision;
        quota = api_object_from_kv(&kv, err);
        store_kv_fini(&kv);
        if (!quota)
            return CHARGE_DONE;
    }
    if (!quota_counts(quota, r->res->plural, obj))
        return CHARGE_SKIP;
    spec_hard = api_json_path(quota, "spec.hard");
    hard = api_json_path(quota, "status.hard");
    used = api_json_path(quota, "status.used");
    quota_usage_add(delta, spec_hard, r->res->plural, r->res->group, obj);
    if (json_object_size(delta) == 0)
        return CHARGE_SKIP;
    json_object_foreach(delta, name, v)
    {
        if (!json_object_get(hard, name) || !json_object_get(used, name)) {
            struct k3c_buf b;
            char why[1024];

            k3c_buf_init(&b);
            pretty(&b, delta, delta, true);
            snprintf(why, sizeof(why), "status unknown for quota: %s, resources: %s",
                     api_or_empty(api_str_at(quota, "metadata.name")), b.data);
            k3c_buf_fini(&b);
            *reply = forbid(r, obj, why);
            return CHARGE_DONE;
        }
    }
    if (strcmp(r->res->plural, "pods") == 0 && !r->res->group[0] &&
        (missing = quota_missing_requirements(hard, obj))) {
        _cleanup_free_ char *why = k3c_xasprintf(
            "failed quota: %s: %s", api_or_empty(api_str_at(quota, "metadata.name")), missing);

        *reply = forbid(r, obj, why);
        return CHARGE_DONE;
    }
    new_used = json_deep_copy(used);
    json_object_foreach(delta, name, v)
    {
        int64_t u = 0, h = 0;

        quota_parse(json_object_get(used, name), &u);
        quota_parse(json_object_get(hard, name), &h);
        if (u + json_integer_value(v) > h)
            json_object_set(exceeded, name, json_object_get(hard, name));
        {
            _cleanup_free_ char *text_used = quota_format(
                u + json_integer_value(v), json_string_value(json_object_get(hard, name)));

            json_object_set_new(new_used, name, json_string(text_used));
        }
    }
    if (json_object_size(exceeded)) {
        struct k3c_buf b;

        json_decref(new_used);
        k3c_buf_init(&b);
        k3c_buf_appendf(&b, "exceeded quota: %s, requested: ",
                        api_or_empty(api_str_at(quota, "metadata.name")));
        pretty(&b, exceeded, delta, true);
        k3c_buf_appendf(&b, ", used: ");
        pretty(&b, exceeded, used, false);
        k3c_buf_appendf(&b, ", limited: ");
        pretty(&b, exceeded, hard, false);
        *reply = forbid(r, obj, b.data);
        k3c_buf_fini(&b);
        return CHARGE_DONE;
    }
    if (dry_run) {
        json_decref(new_used);
        return CHARGE_SKIP;
    }
    json_object_set_new(json_object_get(quota, "status"), "used", new_used);
    text = api_object_encode(quota, &len);
    if (store_update(r->srv->store, key, text, len, rev, 0, NULL, NULL, err) < 0) {
        if (err->kind != K3C_E_CONFLICT)
            return CHARGE_DONE;
        k3c_err_clear(err);
        return CHARGE_RETRY;
    }
    return CHARGE_SKIP;
}

struct quota_keys {
    json_t *keys;
    const struct api_request *r;
    const json_t *obj;
};

/* The quotas whose cached copy says they count obj ({key, quota, revision}):
 * only those are charged (Events and the like pass without etcd). */
static void
collect_key(void *ud, struct wc_entry *e)
{
    struct quota_keys *q = ud;
    _cleanup_json_ json_t *quota = wc_entry_object(e);
    _cleanup_json_ json_t *delta = json_object();

    if (!quota || !quota_counts(quota, q->r->res->plural, q->obj))
        return;
    quota_usage_add(delta, api_json_path(quota, "spec.hard"), q->r->res->plural, q->r->res->group,
                    q->obj);
    if (json_object_size(delta) > 0)
        json_array_append_new(q->keys, json_pack("{s:s, s:O, s:I}", "key", e->key, "quota", quota,
                                                 "revision", (json_int_t)e->revision));
}

int
api_quota_admit(struct api_request *r, const json_t *obj, bool dry_run)
{
    const struct api_resource *res = api_resource_find("", "v1", "resourcequotas");
    struct watch_cache *wc = res ? api_cache_for(r->srv, res) : NULL;
    struct quota_keys q = {json_array(), r, obj};
    _cleanup_free_ char *prefix = NULL;
    _cleanup_json_ json_t *keys = q.keys;
    struct k3c_err err = {0};
    const json_t *k;
    size_t i;

    if (!r->res->namespaced || !wc || !r->namespace)
        return -1;
    prefix = api_list_prefix(res, r->namespace);
    watch_cache_foreach(wc, prefix, collect_key, &q);
    json_array_foreach(keys, i, k)
    {
        for (int attempt = 0;; attempt++) {
            int reply = -1;
            enum charge c = charge_one(r, obj, k, dry_run, attempt == 0, &reply, &err);

            if (reply >= 0)
                return reply;
            if (c == CHARGE_DONE && err.kind != K3C_E_NONE)
                return api_reply_store_error(r, &err);
            if (c != CHARGE_RETRY)
                break;
            if (attempt + 1 >= QUOTA_CAS_ATTEMPTS)
                return api_reply_status_code(r, 409, "Conflict",
                                             "Operation cannot be fulfilled on resourcequotas: "
                                             "too many concurrent updates, try again");
        }
    }
    return -1;
}
