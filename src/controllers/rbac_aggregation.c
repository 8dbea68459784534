/* SPDX-License-Identifier: Apache-2.0
 * rbac_aggregation.c - upstream's clusterrole-aggregation controller: a
 * ClusterRole with an aggregationRule gets as its rules the union of the
 * rules of every ClusterRole its selectors match (selectors in order,
 * roles by name, duplicates dropped), written back whenever that union
 * changes. This is how admin, edit and view (api_rbac_bootstrap.c) grow
 * the rules of system:aggregate-to-* and of any ClusterRole a user labels
 * rbac.authorization.k8s.io/aggregate-to-<role>: "true". Keys are names. */
#define LOG_COMPONENT "clusterrole-aggregation"
#include "controllers/controllers.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

#define CLUSTERROLES_PATH "/apis/rbac.authorization.k8s.io/v1/clusterroles/"

static void
on_clusterrole(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    (void)obj;
    /* Any role may be matched by any aggregating role: recompute them all
     * (a handful; sync skips the ones without an aggregationRule). */
    ctl_enqueue_all(c, "clusterroles");
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct gather {
    const char *self;
    json_t *roles; /* matching roles by name (an object keeps them sorted when dumped) */
};

static bool
gather_role(void *ud, const json_t *obj)
{
    struct gather *g = ud;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));

    if (name && strcmp(name, g->self) != 0)
        json_object_set(g->roles, name, json_object_get(obj, "rules"));
    return true;
}

static bool
has_rule(const json_t *rules, const json_t *rule)
{
    size_t i = 0;
    const json_t *r = NULL;

    json_array_foreach(rules, i, r)
    {
        if (json_equal(r, rule))
            return true;
    }
    return false;
}

/* The aggregated rules for role (a new array). */
static json_t *
aggregate(struct ctl *c, const json_t *role, const char *name)
{
    const json_t *selectors =
        json_object_get(json_object_get(role, "aggregationRule"), "clusterRoleSelectors");
    json_t *rules = json_array();
    size_t i = 0;
    const json_t *sel = NULL;

    json_array_foreach(selectors, i, sel)
    {
        struct gather g = {.self = name, .roles = json_object()};
        const char **names = NULL;
        size_t n = 0, k = 0;
        const char *key;
        json_t *v;

        ctl_list(c, "clusterroles", NULL, sel, gather_role, &g);
        names = k3c_xcalloc(json_object_size(g.roles) + 1, sizeof(*names));
        json_object_foreach(g.roles, key, v)
        {
            names[n++] = key;
        }
        qsort(names, n, sizeof(*names), name_cmp);
        for (k = 0; k < n; k++) {
            size_t j = 0;
            const json_t *rule = NULL;

            json_array_foreach(json_object_get(g.roles, names[k]), j, rule)
            {
                if (!has_rule(rules, rule))
                    json_array_append(rules, (json_t *)rule);
            }
        }
        free(names);
        json_decref(g.roles);
    }
    return rules;
}

static int
sync_clusterrole(struct ctl *c, const char *key, struct k3c_err *err)
{
    _cleanup_json_ json_t *role = ctl_get(c, "clusterroles", NULL, key);
    _cleanup_json_ json_t *rules = NULL;
    _cleanup_free_ char *path = NULL;
    long code;

    if (!role || !json_is_object(json_object_get(role, "aggregationRule")))
        return 0;
    rules = aggregate(c, role, key);
    if (json_equal(rules, json_object_get(role, "rules")) ||
        (json_array_size(rules) == 0 && json_array_size(json_object_get(role, "rules")) == 0))
        return 0;
    json_object_set(role, "rules", rules);
    path = k3c_xasprintf(CLUSTERROLES_PATH "%s", key);
    code = ctl_api(c, "PUT", path, NULL, role, NULL, err);
    if (code == 200) {
        log_info("(%s) %zu rules aggregated", key, json_array_size(rules));
        return 0;
    }
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    return -1; /* 409: the role changed meanwhile; the informer brings it again */
}

static void
start(struct ctl *c)
{
    ctl_enqueue_all(c, "clusterroles");
}

static const struct ctl_watch watches[] = {
    {"clusterroles", on_clusterrole},
    {NULL, NULL},
};

const struct ctl_def ctl_def_clusterrole_aggregation = {
    .name = "clusterrole-aggregation",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_clusterrole,
    .start = start,
};
