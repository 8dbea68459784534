/* SPDX-License-Identifier: Apache-2.0
 * kind_priorityclass.c - scheduling.k8s.io/v1 PriorityClass ("pc"), the
 * shape of upstream's pkg/registry/scheduling/priorityclass strategy
 * (Kubernetes 1.32): table NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY,
 * default preemptionPolicy PreemptLowerPriority, validation (user values
 * at most 1000000000, the "system-" prefix reserved for the two built-in
 * classes, value and preemptionPolicy immutable), and the Priority
 * admission plugin: one globalDefault class at most, and a new pod's
 * spec.priority (and preemptionPolicy) from its priorityClassName or the
 * global default (0 when there is none). The built-in classes
 * system-cluster-critical and system-node-critical are created by the
 * priorityclass controller (src/controllers/priorityclass.c) and cannot be
 * deleted. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-handlers.h"
#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/cleanup.h"
#include "base/util.h"

#define HIGHEST_USER_PRIORITY 1000000000
#define SYSTEM_PREFIX         "system-"

const struct api_system_priority api_system_priorities[] = {
    {"system-node-critical", 2000001000,
     "Used for system critical pods that must not be moved from their current node."},
    {"system-cluster-critical", 2000000000,
     "Used for system critical pods that must run in the cluster, but can be moved to another "
     "node if necessary."},
    {NULL, 0, NULL},
};

const struct api_column api_columns_priorityclass[] = {
    COL_NAME,
    {"Value", "integer", "", "value is the integer value of this priority class.", 0},
    {"Global-Default", "boolean", "",
     "globalDefault specifies whether this PriorityClass should be considered as the default "
     "priority.",
     0},
    COL_AGE,
    {"PreemptionPolicy", "string", "",
     "preemptionPolicy is the Policy for preempting pods with lower priority.", 0},
    COL_END,
};

json_t *
api_row_priorityclass(const json_t *obj, int64_t now_s)
{
    return json_pack("[o I b o s]", api_name_cell(obj), api_int_at(obj, "value", 0),
                     api_true_at(obj, "globalDefault"), api_age_cell(obj, now_s),
                     api_or_else(api_str_at(obj, "preemptionPolicy"), "PreemptLowerPriority"));
}

void
api_defaults_priorityclass(json_t *obj)
{
    if (!json_is_string(json_object_get(obj, "preemptionPolicy")))
        json_object_set_new(obj, "preemptionPolicy", json_string("PreemptLowerPriority"));
}

static const char *const preemption_policies[] = {"Never", "PreemptLowerPriority", NULL};

/* The built-in class of that name, or NULL. */
static const struct api_system_priority *
system_class(const char *name)
{
    for (const struct api_system_priority *s = api_system_priorities; name && s->name; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

void
api_validate_priorityclass(const json_t *obj, const json_t *old, json_t *causes)
{
    const char *name = api_str_at(obj, "metadata.name");
    const json_t *value = json_object_get(obj, "value");
    const struct api_system_priority *sys = system_class(name);
    char why[128];

    if (!json_is_integer(value)) {
        api_cause_required(causes, "value", NULL);
    } else if (name && strncmp(name, SYSTEM_PREFIX, strlen(SYSTEM_PREFIX)) == 0) {
        if (!sys)
            api_cause_forbidden(causes, "metadata.name",
                                "priority class names with 'system-' prefix are reserved for "
                                "system use only");
        else if (json_integer_value(value) != sys->value)
            api_cause_forbidden(causes, "value",
                                "value of system priority classes is fixed and may not be "
                                "changed");
    } else if (json_integer_value(value) > HIGHEST_USER_PRIORITY) {
        snprintf(why, sizeof(why), "maximum allowed value of a user defined priority is %d",
                 HIGHEST_USER_PRIORITY);
        api_cause_forbidden(causes, "value", why);
    }
    api_check_enum(causes, "preemptionPolicy", api_str_at(obj, "preemptionPolicy"),
                   preemption_policies, false);
    if (!old)
        return;
    if (!json_equal(value, json_object_get(old, "value")))
        api_cause_forbidden(causes, "value", "may not be changed in an update.");
    if (!json_equal(json_object_get(obj, "preemptionPolicy"),
                    json_object_get(old, "preemptionPolicy")))
        api_cause_invalid_str(causes, "preemptionPolicy",
                              api_or_empty(api_str_at(obj, "preemptionPolicy")), api_msg_immutable);
}

/* ---- Priority admission ------------------------------------------------------------ */

struct classes {
    json_t *all;        /* name -> class */
    const char *wanted; /* the class a pod names, or NULL */
};

/* Keeps the classes admission can use: the one the pod names and any that
 * may be the global default (the key is in its text). Each pod create ran
 * this, and parsing every class was 3% of a pod create's CPU. */
static void
collect_class(void *ud, struct wc_entry *e)
{
    struct classes *c = ud;
    json_t *obj;

    if (!(c->wanted && strcmp(e->name, c->wanted) == 0) &&
        !wc_entry_json_has(e, "\"globalDefault\""))
        return;
    obj = wc_entry_object(e);

    if (obj)
        json_object_set_new(c->all, e->name, obj);
}

/* The global default class (the lowest value if a race made several). */
static const json_t *
global_default(const json_t *all, const char *except)
{
    const json_t *best = NULL, *pc;
    const char *name;

    json_object_foreach((json_t *)all, name, pc)
    {
        if (!api_true_at(pc, "globalDefault") || (except && strcmp(name, except) == 0))
            continue;
        if (!best || api_int_at(pc, "value", 0) < api_int_at(best, "value", 0))
            best = pc;
    }
    return best;
}

static int forbid(struct api_request *r, const json_t *obj, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
forbid(struct api_request *r, const json_t *obj, const char *fmt, ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return api_reply_status_code(r, 403, "Forbidden", "%s%s%s \"%s\" is forbidden: %s",
                                 r->res->plural, r->res->group[0] ? "." : "", r->res->group,
                                 api_or_empty(api_str_at(obj, "metadata.name")), why);
}

static int
admit_pod(struct api_request *r, json_t *pod, const json_t *all)
{
    json_t *spec = json_object_get(pod, "spec");
    const char *name = api_str_at(spec, "priorityClassName");
    const json_t *pc = NULL, *given = json_object_get(spec, "priority");
    const char *given_policy = api_str_at(spec, "preemptionPolicy");
    json_int_t value = 0;
    const char *policy = "PreemptLowerPriority";

    if (!json_is_object(spec))
        return -1;
    if (!api_is_empty(name)) {
        const struct api_system_priority *sys = system_class(name);

        pc = json_object_get(all, name);
        if (!pc && !sys)
            return forbid(r, pod, "no PriorityClass with name %s was found", name);
        value = pc ? api_int_at(pc, "value", 0) : sys->value;
    } else if ((pc = global_default(all, NULL))) {
        value = api_int_at(pc, "value", 0);
        json_object_set_new(spec, "priorityClassName",
                            json_string(api_or_empty(api_str_at(pc, "metadata.name"))));
    }
    if (pc)
        policy = api_or_else(api_str_at(pc, "preemptionPolicy"), policy);
    if (given && json_integer_value(given) != value)
        return forbid(r, pod,
                      "the integer value of priority (%lld) must not be provided in pod spec; "
                      "priority admission controller computed %lld from the given PriorityClass "
                      "name",
                      (long long)json_integer_value(given), (long long)value);
    if (given_policy && strcmp(given_policy, policy) != 0)
        return forbid(r, pod,
                      "the string value of PreemptionPolicy (%s) must not be provided in pod "
                      "spec; priority admission controller computed %s from the given "
                      "PriorityClass name",
                      given_policy, policy);
    json_object_set_new(spec, "priority", json_integer(value));
    json_object_set_new(spec, "preemptionPolicy", json_string(policy));
    return -1;
}

/* By name (new object): the PriorityClass named wanted (NULL: none) and
 * every one that may be the global default. */
static json_t *
admission_classes(struct api_request *r, const struct api_resource *res, const char *wanted)
{
    struct watch_cache *wc = res ? api_cache_for(r->srv, res) : NULL;
    struct classes c = {json_object(), wanted};

    if (wc)
        watch_cache_foreach(wc, "/registry/priorityclasses/", collect_class, &c);
    return c.all;
}

int
api_priority_admit_update(struct api_request *r, const json_t *obj)
{
    const struct api_resource *res =
        api_resource_find("scheduling.k8s.io", "v1", "priorityclasses");
    _cleanup_json_ json_t *all = NULL;
    const json_t *other;

    if (r->res != res || !api_true_at(obj, "globalDefault") || (r->subresource && *r->subresource))
        return -1;
    all = admission_classes(r, res, NULL);
    if ((other = global_default(all, api_str_at(obj, "metadata.name"))))
        return forbid(r, obj,
                      "PriorityClass %s is already marked as default. Only one default "
                      "can exist",
                      api_or_empty(api_str_at(other, "metadata.name")));
    return -1;
}

int
api_priority_admit_delete(struct api_request *r)
{
    const struct api_resource *res =
        api_resource_find("scheduling.k8s.io", "v1", "priorityclasses");

    if (r->res != res || !system_class(r->name))
        return -1;
    return api_reply_status_code(r, 403, "Forbidden",
                                 "priorityclasses.scheduling.k8s.io \"%s\" is forbidden: this is "
                                 "a system priority class and cannot be deleted",
                                 r->name);
}

int
api_priority_admit(struct api_request *r, json_t *obj)
{
    const struct api_resource *res =
        api_resource_find("scheduling.k8s.io", "v1", "priorityclasses");
    _cleanup_json_ json_t *all = NULL;

    if (r->res == res)
        return api_priority_admit_update(r, obj); /* the same rule as an update */
    if (strcmp(r->res->plural, "pods") != 0 || r->res->group[0] || !res)
        return -1;
    all = admission_classes(r, res, api_str_at(json_object_get(obj, "spec"), "priorityClassName"));
    return admit_pod(r, obj, all);
}
