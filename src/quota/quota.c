/* SPDX-License-Identifier: Apache-2.0
 * quota.c - ResourceQuota arithmetic (quota.h), after upstream's
 * pkg/quota/v1/evaluator/core (pods, services, claims, object counts) and
 * k8s.io/component-helpers resource.PodRequests/PodLimits. */
#include "quota/quota.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/quantity.h"
#include "base/util.h"

/* ---- quantities (base/quantity.c) ------------------------------------------ */

/* Rounds m up to an integer (MilliValue rounds up), without libm: the API
 * server library links no maths library. */
static bool
round_up(long double m, int64_t *out)
{
    int64_t t;

    if (!(m == m) || m > 9.2e18L || m < -9.2e18L)
        return false;
    t = (int64_t)m;
    /* up, but not for the last bits of a decimal fraction ("0.1") */
    if (m - (long double)t > (m < 0 ? -m : m) * 1e-15L)
        t++;
    *out = t;
    return true;
}

bool
quota_parse(const json_t *v, int64_t *milli)
{
    if (json_is_integer(v)) {
        *milli = json_integer_value(v) * 1000;
        return true;
    }
    if (json_is_real(v))
        return round_up((long double)json_real_value(v) * 1000.0L, milli);
    return k3c_quantity_scaled(json_string_value(v), 3, milli) == 0;
}

char *
quota_format(int64_t milli, const char *like)
{
    static const char *const bin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    static const char *const dec[] = {"", "k", "M", "G", "T", "P", "E"};
    bool binary = like && strchr(like, 'i');
    int64_t v;
    size_t k = 0;

    if (milli % 1000 != 0)
        return k3c_xasprintf("%lldm", (long long)milli);
    v = milli / 1000;
    if (v == 0)
        return k3c_xstrdup("0");
    if (binary) {
        while (k + 1 < K3C_ARRAY_SIZE(bin) && v % 1024 == 0) {
            v /= 1024;
            k++;
        }
        if (k > 0)
            return k3c_xasprintf("%lld%s", (long long)v, bin[k]);
    }
    while (k + 1 < K3C_ARRAY_SIZE(dec) && v % 1000 == 0) {
        v /= 1000;
        k++;
    }
    return k3c_xasprintf("%lld%s", (long long)v, dec[k]);
}

/* ---- pods -------------------------------------------------------------------- */

static int64_t
container_amount(const json_t *c, const char *resource, bool want_limits)
{
    const json_t *res = json_object_get(c, "resources");
    const json_t *v =
        json_object_get(json_object_get(res, want_limits ? "limits" : "requests"), resource);
    int64_t m = 0;

    /* an unset request is the limit (the pod defaults do the same) */
    if (!v && !want_limits)
        v = json_object_get(json_object_get(res, "limits"), resource);
    return v && quota_parse(v, &m) ? m : 0;
}

int64_t
quota_pod_amount(const json_t *pod, const char *resource, bool want_limits)
{
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *c;
    int64_t sum = 0, init_max = 0, o = 0;
    size_t i;

    json_array_foreach(json_object_get(spec, "containers"), i, c) sum +=
        container_amount(c, resource, want_limits);
    json_array_foreach(json_object_get(spec, "initContainers"), i, c)
    {
        int64_t m = container_amount(c, resource, want_limits);

        /* a sidecar (restartPolicy Always) runs beside the app containers */
        if (json_string_value(json_object_get(c, "restartPolicy")) &&
            strcmp(json_string_value(json_object_get(c, "restartPolicy")), "Always") == 0)
            sum += m;
        else if (m > init_max)
            init_max = m;
    }
    if (init_max > sum)
        sum = init_max;
    /* the overhead adds to requests, and to limits only where some are set */
    if ((!want_limits || sum > 0) &&
        quota_parse(json_object_get(json_object_get(spec, "overhead"), resource), &o))
        sum += o;
    return sum;
}

static bool
pod_terminal(const json_t *pod)
{
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));

    return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static bool
pod_best_effort(const json_t *pod)
{
    static const char *const lists[] = {"containers", "initContainers"};

    for (size_t l = 0; l < K3C_ARRAY_SIZE(lists); l++) {
        const json_t *c;
        size_t i;

        json_array_foreach(json_object_get(json_object_get(pod, "spec"), lists[l]), i, c)
        {
            const json_t *res = json_object_get(c, "resources");

            if (json_object_size(json_object_get(res, "requests")) ||
                json_object_size(json_object_get(res, "limits")))
                return false;
        }
    }
    return true;
}

static bool
scope_matches(const char *scope, const char *op, const json_t *values, const json_t *pod)
{
    const json_t *spec = json_object_get(pod, "spec");
    bool terminating = json_is_integer(json_object_get(spec, "activeDeadlineSeconds"));

    if (strcmp(scope, "Terminating") == 0)
        return terminating;
    if (strcmp(scope, "NotTerminating") == 0)
        return !terminating;
    if (strcmp(scope, "BestEffort") == 0)
        return pod_best_effort(pod);
    if (strcmp(scope, "NotBestEffort") == 0)
        return !pod_best_effort(pod);
    if (strcmp(scope, "PriorityClass") == 0) {
        const char *pc = json_string_value(json_object_get(spec, "priorityClassName"));
        bool in = false;
        const json_t *v;
        size_t i;

        json_array_foreach(values, i, v) in |=
            pc && json_string_value(v) && strcmp(pc, json_string_value(v)) == 0;
        if (!op || strcmp(op, "Exists") == 0)
            return pc && *pc;
        if (strcmp(op, "DoesNotExist") == 0)
            return !pc || !*pc;
        if (strcmp(op, "In") == 0)
            return in;
        if (strcmp(op, "NotIn") == 0)
            return !in;
        return false;
    }
    return false; /* CrossNamespacePodAffinity: k3c has no pod affinity */
}

bool
quota_counts(const json_t *quota, const char *plural, const json_t *obj)
{
    const json_t *spec = json_object_get(quota, "spec");
    const json_t *scopes = json_object_get(spec, "scopes");
    const json_t *exprs =
        json_object_get(json_object_get(spec, "scopeSelector"), "matchExpressions");
    bool is_pod = strcmp(plural, "pods") == 0;
    const json_t *s;
    size_t i;

    if (is_pod && pod_terminal(obj))
        return false;
    if (json_array_size(scopes) == 0 && json_array_size(exprs) == 0)
        return true;
    if (!is_pod)
        return false;
    json_array_foreach(scopes, i, s)
    {
        if (!json_string_value(s) || !scope_matches(json_string_value(s), NULL, NULL, obj))
            return false;
    }
    json_array_foreach(exprs, i, s)
    {
        const char *name = json_string_value(json_object_get(s, "scopeName"));
        const char *op = json_string_value(json_object_get(s, "operator"));

        if (!name || !scope_matches(name, op, json_object_get(s, "values"), obj))
            return false;
        if (strcmp(name, "PriorityClass") != 0 && op && strcmp(op, "DoesNotExist") == 0)
            return false;
    }
    return true;
}

/* ---- usage ----------------------------------------------------------------------- */

static void
add(json_t *usage, const char *name, int64_t milli)
{
    json_int_t cur = json_integer_value(json_object_get(usage, name));

    json_object_set_new(usage, name, json_integer(cur + milli));
}

/* The legacy names of object counts ("pods", "services", ...). */
static bool
legacy_count(const char *name, const char *plural, const char *group)
{
    static const char *const legacy[] = {"pods",
                                         "services",
                                         "configmaps",
                                         "secrets",
                                         "resourcequotas",
                                         "replicationcontrollers",
                                         "persistentvolumeclaims"};

    if (*group)
        return false;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(legacy); i++)
        if (strcmp(name, legacy[i]) == 0 && strcmp(plural, legacy[i]) == 0)
            return true;
    return false;
}

/* "count/<plural>" for the core group, "count/<plural>.<group>" else. */
static bool
count_name(const char *name, const char *plural, const char *group)
{
    size_t n = strlen(plural);

    if (strncmp(name, "count/", 6) != 0 || strncmp(name + 6, plural, n) != 0)
        return false;
    if (!*group)
        return name[6 + n] == '\0';
    return name[6 + n] == '.' && strcmp(name + 7 + n, group) == 0;
}

static void
pod_usage(json_t *usage, const char *name, const json_t *pod)
{
    static const char *const bare[] = {"cpu", "memory", "ephemeral-storage"};

    if (strncmp(name, "requests.", 9) == 0)
        add(usage, name, quota_pod_amount(pod, name + 9, false));
    else if (strncmp(name, "limits.", 7) == 0)
        add(usage, name, quota_pod_amount(pod, name + 7, true));
    else
        for (size_t i = 0; i < K3C_ARRAY_SIZE(bare); i++)
            if (strcmp(name, bare[i]) == 0)
                add(usage, name, quota_pod_amount(pod, name, false));
}

static void
service_usage(json_t *usage, const char *name, const json_t *svc)
{
    const char *type = json_string_value(json_object_get(json_object_get(svc, "spec"), "type"));
    size_t nodeports = json_array_size(json_object_get(json_object_get(svc, "spec"), "ports"));

    type = type ? type : "ClusterIP";
    if (strcmp(name, "services.loadbalancers") == 0 && strcmp(type, "LoadBalancer") == 0)
        add(usage, name, 1000);
    if (strcmp(name, "services.nodeports") == 0 &&
        (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0))
        add(usage, name, (int64_t)nodeports * 1000);
}

void
quota_usage_add(json_t *usage, const json_t *hard, const char *plural, const char *group,
                const json_t *obj)
{
    const char *name;
    const json_t *v;

    json_object_foreach((json_t *)hard, name, v)
    {
        if (legacy_count(name, plural, group) || count_name(name, plural, group))
            add(usage, name, 1000);
        else if (!*group && strcmp(plural, "pods") == 0)
            pod_usage(usage, name, obj);
        else if (!*group && strcmp(plural, "services") == 0)
            service_usage(usage, name, obj);
        else if (!*group && strcmp(plural, "persistentvolumeclaims") == 0 &&
                 strcmp(name, "requests.storage") == 0) {
            int64_t m = 0;

            if (quota_parse(
                    json_object_get(
                        json_object_get(json_object_get(json_object_get(obj, "spec"), "resources"),
                                        "requests"),
                        "storage"),
                    &m))
                add(usage, name, m);
        }
    }
}

/* ---- the requirement upstream keeps for cpu and memory quotas ---------------------- */

static bool
states(const json_t *c, const char *list, const char *resource)
{
    return json_object_get(json_object_get(json_object_get(c, "resources"), list), resource) !=
           NULL;
}

char *
quota_missing_requirements(const json_t *hard, const json_t *pod)
{
    static const struct {
        const char *name, *list, *resource;
    } rules[] = {
        {"cpu", "requests", "cpu"},
        {"limits.cpu", "limits", "cpu"},
        {"limits.memory", "limits", "memory"},
        {"memory", "requests", "memory"},
        {"requests.cpu", "requests", "cpu"},
        {"requests.memory", "requests", "memory"},
    };
    static const char *const lists[] = {"containers", "initContainers"};
    struct k3c_buf out;
    size_t shown = 0;

    k3c_buf_init(&out);
    for (size_t r = 0; r < K3C_ARRAY_SIZE(rules); r++) {
        struct k3c_buf names;
        size_t n = 0;

        if (!json_object_get(hard, rules[r].name))
            continue;
        k3c_buf_init(&names);
        for (size_t l = 0; l < K3C_ARRAY_SIZE(lists); l++) {
            const json_t *c;
            size_t i;

            json_array_foreach(json_object_get(json_object_get(pod, "spec"), lists[l]), i, c)
            {
                const char *cname = json_string_value(json_object_get(c, "name"));

                if (states(c, rules[r].list, rules[r].resource) ||
                    (strcmp(rules[r].list, "requests") == 0 &&
                     states(c, "limits", rules[r].resource)))
                    continue;
                k3c_buf_appendf(&names, "%s%s", n++ ? "," : "", cname ? cname : "");
            }
        }
        if (n)
            k3c_buf_appendf(&out, "%s%s for: %s", shown++ ? "; " : "must specify ", rules[r].name,
                            names.data);
        k3c_buf_fini(&names);
    }
    if (!shown) {
        k3c_buf_fini(&out);
        return NULL;
    }
    return k3c_buf_steal(&out, NULL);
}
