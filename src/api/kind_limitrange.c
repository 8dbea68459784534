/* SPDX-License-Identifier: Apache-2.0
 * kind_limitrange.c - v1 LimitRange ("limits"): table (NAME CREATED AT),
 * defaults (SetDefaults_LimitRangeItem: a Container item's default limit
 * from max, its default request from the default limit, then from min),
 * validation (type, quantities, min <= defaultRequest <= default <= max)
 * and the LimitRanger admission plugin for new pods: containers get the
 * default requests and limits they lack (recorded in the
 * kubernetes.io/limit-ranger annotation), then Container and Pod min/max
 * and maxLimitRequestRatio are checked with upstream's messages (403
 * Forbidden); new claims against PersistentVolumeClaim min/max. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "quota/quota.h"

const struct api_column api_columns_limitrange[] = {
    COL_NAME,
    {"Created At", "date", "", "Object's creation timestamp", 0},
    COL_END,
};

json_t *
api_row_limitrange(const json_t *obj, int64_t now_s)
{
    (void)now_s;
    return json_pack("[o s]", api_name_cell(obj),
                     api_or_empty(api_str_at(obj, "metadata.creationTimestamp")));
}

/* Copies every entry of from that to lacks into to (created when absent). */
static void
fill_missing(json_t *item, const char *to_key, const json_t *from)
{
    const char *k;
    json_t *v, *to;

    if (json_object_size(from) == 0)
        return;
    to = api_ensure_object(item, to_key);
    json_object_foreach((json_t *)from, k, v)
    {
        if (!json_object_get(to, k))
            json_object_set(to, k, v);
    }
}

void
api_defaults_limitrange(json_t *obj)
{
    json_t *item;
    size_t i;

    json_array_foreach(api_json_path(obj, "spec.limits"), i, item)
    {
        const char *type = api_str_at(item, "type");

        if (!type || strcmp(type, "Container") != 0)
            continue;
        fill_missing(item, "default", json_object_get(item, "max"));
        fill_missing(item, "defaultRequest", json_object_get(item, "default"));
        fill_missing(item, "defaultRequest", json_object_get(item, "min"));
    }
}

static const char *const limit_types[] = {"Container", "PersistentVolumeClaim", "Pod", NULL};

/* One pair check: a[k] <= b[k] for every k in both, else msg. */
static void
check_order(const json_t *item, const char *lo_key, const char *hi_key, const char *at,
            const char *field_key, const char *fmt, json_t *causes)
{
    const json_t *lo = json_object_get(item, lo_key), *hi = json_object_get(item, hi_key);
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)lo, k, v)
    {
        int64_t a = 0, b = 0;
        char why[256];
        struct fpath f;
        const json_t *h = json_object_get(hi, k);
        const json_t *shown = strcmp(field_key, lo_key) == 0 ? v : h;

        if (!h || !quota_parse(v, &a) || !quota_parse(h, &b) || a <= b)
            continue;
        snprintf(why, sizeof(why), fmt, api_or_empty(json_string_value(v)),
                 api_or_empty(json_string_value(h)));
        api_cause_invalid_str(causes, api_fpath(&f, "%s.%s[%s]", at, field_key, k),
                              api_or_empty(json_string_value(shown)), why);
    }
}

void
api_validate_limitrange(const json_t *obj, const json_t *old, json_t *causes)
{
    static const char *const lists[] = {"max", "min", "default", "defaultRequest",
                                        "maxLimitRequestRatio"};
    const json_t *item;
    size_t i;
    struct fpath f, at;

    (void)old;
    json_array_foreach(api_json_path(obj, "spec.limits"), i, item)
    {
        const char *type = api_str_at(item, "type");

        api_fpath(&at, "spec.limits[%zu]", i);
        api_check_enum(causes, api_fpath(&f, "%s.type", at.s), type, limit_types, true);
        for (size_t l = 0; l < K3C_ARRAY_SIZE(lists); l++)
            api_check_resource_list(json_object_get(item, lists[l]),
                                    api_fpath(&f, "%s.%s", at.s, lists[l]), causes);
        if (type && strcmp(type, "Pod") == 0) {
            if (json_object_size(json_object_get(item, "default")))
                api_cause_forbidden(causes, api_fpath(&f, "%s.default", at.s),
                                    "may not be specified when `type` is 'Pod'");
            if (json_object_size(json_object_get(item, "defaultRequest")))
                api_cause_forbidden(causes, api_fpath(&f, "%s.defaultRequest", at.s),
                                    "may not be specified when `type` is 'Pod'");
        }
        check_order(item, "min", "max", at.s, "min", "min value %s is greater than max value %s",
                    causes);
        check_order(item, "defaultRequest", "max", at.s, "defaultRequest",
                    "default request value %s is greater than max value %s", causes);
        check_order(item, "default", "max", at.s, "default",
                    "default value %s is greater than max value %s", causes);
        check_order(item, "min", "defaultRequest", at.s, "defaultRequest",
                    "min value %s is greater than default request value %s", causes);
        check_order(item, "min", "default", at.s, "default",
                    "min value %s is greater than default value %s", causes);
        check_order(item, "defaultRequest", "default", at.s, "defaultRequest",
                    "default request value %s is greater than default limit value %s", causes);
    }
}

/* ---- LimitRanger admission ---------------------------------------------------------- */

/* Sets what a container lacks from the item's defaults; notes it in set. */
static void
default_container(json_t *c, const json_t *item, struct k3c_buf *set)
{
    static const struct {
        const char *item_key, *list, *word;
    } steps[] = {{"defaultRequest", "requests", "request"}, {"default", "limits", "limit"}};
    json_t *res = api_ensure_object(c, "resources");
    const char *cname = api_or_empty(api_str_at(c, "name"));
    json_t *limits = json_object_get(res, "limits");
    const char *k;
    json_t *v;

    /* the pod defaults (run later) would make an unset request the limit:
     * do it first, as the defaults run before admission upstream */
    json_object_foreach(limits, k, v)
    {
        json_t *req = api_ensure_object(res, "requests");

        if (!json_object_get(req, k))
            json_object_set(req, k, v);
    }
    for (size_t s = 0; s < K3C_ARRAY_SIZE(steps); s++) {
        const json_t *defaults = json_object_get(item, steps[s].item_key);
        json_t *list = api_ensure_object(res, steps[s].list);
        size_t n = 0, shown = 0;
        const char **keys = api_sorted_keys(defaults, &n);

        for (size_t i = 0; i < n; i++) {
            if (json_object_get(list, keys[i]))
                continue;
            json_object_set(list, keys[i], json_object_get(defaults, keys[i]));
            k3c_buf_appendf(set, "%s%s", shown++ ? ", " : set->len ? "; " : "", keys[i]);
        }
        if (shown)
            k3c_buf_appendf(set, " %s for container %s", steps[s].word, cname);
        free(keys);
    }
}

/* minConstraint / maxConstraint of the LimitRanger. */
static void
check_bounds(const json_t *item, const char *kind, const json_t *requests, const json_t *limits,
             struct k3c_buf *errs, size_t *n_errs)
{
    const char *k;
    json_t *v;

    json_object_foreach(json_object_get(item, "min"), k, v)
    {
        const json_t *req = json_object_get(requests, k), *lim = json_object_get(limits, k);
        int64_t e = 0, rv = 0, lv = 0;
        const char *es = api_or_empty(json_string_value(v));

        quota_parse(v, &e);
        if (!req) {
            k3c_buf_appendf(errs, "%sminimum %s usage per %s is %s.  No request is specified",
                            (*n_errs)++ ? ", " : "", k, kind, es);
        } else if (quota_parse(req, &rv) && rv < e) {
            k3c_buf_appendf(errs, "%sminimum %s usage per %s is %s, but request is %s",
                            (*n_errs)++ ? ", " : "", k, kind, es,
                            api_or_empty(json_string_value(req)));
        } else if (lim && quota_parse(lim, &lv) && lv < e) {
            k3c_buf_appendf(errs, "%sminimum %s usage per %s is %s, but limit is %s",
                            (*n_errs)++ ? ", " : "", k, kind, es,
                            api_or_empty(json_string_value(lim)));
        }
    }
    json_object_foreach(json_object_get(item, "max"), k, v)
    {
        const json_t *req = json_object_get(requests, k), *lim = json_object_get(limits, k);
        int64_t e = 0, rv = 0, lv = 0;
        const char *es = api_or_empty(json_string_value(v));

        quota_parse(v, &e);
        if (!lim) {
            k3c_buf_appendf(errs, "%smaximum %s usage per %s is %s.  No limit is specified",
                            (*n_errs)++ ? ", " : "", k, kind, es);
        } else if (quota_parse(lim, &lv) && lv > e) {
            k3c_buf_appendf(errs, "%smaximum %s usage per %s is %s, but limit is %s",
                            (*n_errs)++ ? ", " : "", k, kind, es,
                            api_or_empty(json_string_value(lim)));
        } else if (req && quota_parse(req, &rv) && rv > e) {
            k3c_buf_appendf(errs, "%smaximum %s usage per %s is %s, but request is %s",
                            (*n_errs)++ ? ", " : "", k, kind, es,
                            api_or_empty(json_string_value(req)));
        }
    }
}

/* limitRequestRatioConstraint: limit / request at most maxLimitRequestRatio. */
static void
check_ratio(const json_t *item, const char *kind, const json_t *requests, const json_t *limits,
            struct k3c_buf *errs, size_t *n_errs)
{
    const char *k;
    json_t *v;

    json_object_foreach(json_object_get(item, "maxLimitRequestRatio"), k, v)
    {
        int64_t e = 0, rv = 0, lv = 0;
        const char *es = api_or_empty(json_string_value(v));

        quota_parse(v, &e);
        if (!quota_parse(json_object_get(requests, k), &rv) || rv == 0)
            k3c_buf_appendf(errs,
                            "%s%s max limit to request ratio per %s is %s, but no request is "
                            "specified or request is 0",
                            (*n_errs)++ ? ", " : "", k, kind, es);
        else if (!quota_parse(json_object_get(limits, k), &lv) || lv == 0)
            k3c_buf_appendf(errs,
                            "%s%s max limit to request ratio per %s is %s, but no limit is "
                            "specified or limit is 0",
                            (*n_errs)++ ? ", " : "", k, kind, es);
        else if ((double)lv / (double)rv * 1000.0 > (double)e)
            k3c_buf_appendf(errs,
                            "%s%s max limit to request ratio per %s is %s, but provided ratio is "
                            "%f",
                            (*n_errs)++ ? ", " : "", k, kind, es, (double)lv / (double)rv);
    }
}

/* PersistentVolumeClaimValidateLimitFunc: min and max against the claim's
 * requests (its limits are not user input). */
static void
check_claim(const json_t *item, const json_t *pvc, struct k3c_buf *errs, size_t *n_errs)
{
    const json_t *requests = api_json_path(pvc, "spec.resources.requests");
    _cleanup_json_ json_t *min_only = json_pack("{s:O*}", "min", json_object_get(item, "min"));
    _cleanup_json_ json_t *no_limits = json_object();
    const char *k;
    json_t *v;

    check_bounds(min_only, "PersistentVolumeClaim", requests, no_limits, errs, n_errs);
    json_object_foreach(json_object_get(item, "max"), k, v)
    {
        int64_t e = 0, rv = 0;
        const json_t *req = json_object_get(requests, k);

        quota_parse(v, &e);
        if (req && quota_parse(req, &rv) && rv > e)
            k3c_buf_appendf(errs,
                            "%smaximum %s usage per PersistentVolumeClaim is %s, but request is %s",
                            (*n_errs)++ ? ", " : "", k, api_or_empty(json_string_value(v)),
                            api_or_empty(json_string_value(req)));
    }
}

/* The pod's total request or limit of each resource an item bounds. */
static json_t *
pod_totals(const json_t *pod, const json_t *item, bool want_limits)
{
    static const char *const keys[] = {"min", "max"};
    json_t *out = json_object();

    for (size_t i = 0; i < K3C_ARRAY_SIZE(keys); i++) {
        const char *k;
        json_t *v;

        json_object_foreach(json_object_get(item, keys[i]), k, v)
        {
            _cleanup_free_ char *s =
                quota_format(quota_pod_amount(pod, k, want_limits), json_string_value(v));

            json_object_set_new(out, k, json_string(s));
        }
    }
    return out;
}

static void
admit_item(json_t *pod, const json_t *item, struct k3c_buf *set, struct k3c_buf *errs,
           size_t *n_errs)
{
    static const char *const lists[] = {"initContainers", "containers"};
    const char *type = api_or_empty(api_str_at(item, "type"));

    if (strcmp(type, "Container") == 0) {
        for (size_t l = 0; l < K3C_ARRAY_SIZE(lists); l++) {
            json_t *c;
            size_t i;

            json_array_foreach(json_object_get(json_object_get(pod, "spec"), lists[l]), i, c)
            {
                const json_t *res;

                default_container(c, item, set);
                res = json_object_get(c, "resources");
                check_bounds(item, "Container", json_object_get(res, "requests"),
                             json_object_get(res, "limits"), errs, n_errs);
                check_ratio(item, "Container", json_object_get(res, "requests"),
                            json_object_get(res, "limits"), errs, n_errs);
            }
        }
    } else if (strcmp(type, "Pod") == 0) {
        _cleanup_json_ json_t *req = pod_totals(pod, item, false);
        _cleanup_json_ json_t *lim = pod_totals(pod, item, true);
        const char *k;
        json_t *v, *tmp;

        /* a resource no container limits has no pod limit */
        json_object_foreach_safe(lim, tmp, k, v)
        {
            int64_t m = 0;

            if (quota_parse(v, &m) && m == 0)
                json_object_del(lim, k);
        }
        check_bounds(item, "Pod", req, lim, errs, n_errs);
        check_ratio(item, "Pod", req, lim, errs, n_errs);
    }
}

struct lr_list {
    json_t *items;
};

static void
collect_lr(void *ud, struct wc_entry *e)
{
    struct lr_list *l = ud;
    json_t *obj = wc_entry_object(e);

    if (obj)
        json_array_append_new(l->items, obj);
}

int
api_limitrange_admit_pod(struct api_request *r, json_t *pod)
{
    const struct api_resource *res = api_resource_find("", "v1", "limitranges");
    struct watch_cache *wc = res ? api_cache_for(r->srv, res) : NULL;
    struct lr_list l = {json_array()};
    _cleanup_json_ json_t *items = l.items;
    _cleanup_free_ char *prefix = NULL;
    struct k3c_buf set, errs;
    size_t n_errs = 0, i, j;
    const json_t *lr, *item;
    int reply = -1;

    bool is_claim = strcmp(r->res->plural, "persistentvolumeclaims") == 0;

    if (!wc || !r->namespace || r->res->group[0] ||
        (strcmp(r->res->plural, "pods") != 0 && !is_claim))
        return -1;
    prefix = api_list_prefix(res, r->namespace);
    watch_cache_foreach(wc, prefix, collect_lr, &l);
    if (json_array_size(items) == 0)
        return -1;
    k3c_buf_init(&set);
    k3c_buf_init(&errs);
    json_array_foreach(items, i, lr)
    {
        json_array_foreach(api_json_path(lr, "spec.limits"), j, item)
        {
            if (!is_claim)
                admit_item(pod, item, &set, &errs, &n_errs);
            else if (strcmp(api_or_empty(api_str_at(item, "type")), "PersistentVolumeClaim") == 0)
                check_claim(item, pod, &errs, &n_errs);
        }
    }
    if (n_errs) {
        _cleanup_free_ char *why =
            k3c_xasprintf("%s%s%s", n_errs > 1 ? "[" : "", errs.data, n_errs > 1 ? "]" : "");

        reply =
            api_reply_status_code(r, 403, "Forbidden", "%s \"%s\" is forbidden: %s", r->res->plural,
                                  api_or_empty(api_str_at(pod, "metadata.name")), why);
    } else if (set.len) {
        json_t *ann = api_ensure_object(api_meta(pod), "annotations");
        _cleanup_free_ char *v = k3c_xasprintf("LimitRanger plugin set: %s", set.data);

        json_object_set_new(ann, "kubernetes.io/limit-ranger", json_string(v));
    }
    k3c_buf_fini(&set);
    k3c_buf_fini(&errs);
    return reply;
}
