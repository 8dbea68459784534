/* SPDX-License-Identifier: Apache-2.0
 * api_quantity.c - resource quantities stored and returned in canonical
 * form (issue #15), as kube-apiserver's decode into typed objects and
 * encode back does: `cpu: 0.5` becomes "500m", `memory: 1024Mi` "1Gi", a
 * JSON number `pods: 110` the string "110" (base/quantity.c). Applied to
 * the quantity fields of the built-in kinds on every write path (create,
 * update, patch, apply, /status), before validation. A value that is not a
 * quantity is left alone for validation to refuse. */
#include "api/api-internal.h"
#include "base/quantity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON number as the text it was probably written as (shortest form that
 * reads back the same), so 0.1 is "0.1" and not 0.10000000000000001. */
static bool
number_text(const json_t *v, char *buf, size_t len)
{
    if (json_is_integer(v)) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        return true;
    }
    if (!json_is_real(v) || !isfinite(json_real_value(v)))
        return false;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, json_real_value(v));
        if (strtod(buf, NULL) == json_real_value(v))
            return true;
    }
    return true;
}

/* Every value of a resource-name -> quantity map. */
static void
canonical_map(json_t *map)
{
    const char *k;
    json_t *v;
    char text[64], out[K3C_QUANTITY_MAX];

    json_object_foreach(map, k, v)
    {
        const char *s = json_string_value(v);

        if (!s && number_text(v, text, sizeof(text)))
            s = text;
        if (s && k3c_quantity_canonical(s, out) && (!json_is_string(v) || strcmp(s, out) != 0))
            json_object_set_new(map, k, json_string(out));
    }
}

static void
canonical_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    const char *s = json_string_value(v);
    char text[64], out[K3C_QUANTITY_MAX];

    if (!v)
        return;
    if (!s && number_text(v, text, sizeof(text)))
        s = text;
    if (s && k3c_quantity_canonical(s, out) && (!json_is_string(v) || strcmp(s, out) != 0))
        json_object_set_new(obj, key, json_string(out));
}

static json_t *
at(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);

    return b ? json_object_get(v, b) : v;
}

static void
canonical_requirements(json_t *resources)
{
    canonical_map(json_object_get(resources, "limits"));
    canonical_map(json_object_get(resources, "requests"));
}

static void
canonical_pod_spec(json_t *spec)
{
    static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
    size_t i;
    json_t *c, *v;

    if (!json_is_object(spec))
        return;
    for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            canonical_requirements(json_object_get(c, "resources"));
        }
    }
    canonical_requirements(json_object_get(spec, "resources")); /* pod-level resources */
    canonical_map(json_object_get(spec, "overhead"));
    json_array_foreach(json_object_get(spec, "volumes"), i, v)
    {
        canonical_field(json_object_get(v, "emptyDir"), "sizeLimit");
    }
}

void
api_quantities_canonicalize(const struct api_resource *res, json_t *obj)
{
    const char *p = res->plural;
    json_t *spec = json_object_get(obj, "spec");
    size_t i;
    json_t *t;

    /* built-in kinds only: a custom resource may reuse a plural */
    static const char *const groups[] = {"", "apps", "batch", "node.k8s.io"};
    bool builtin = false;

    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
        builtin = builtin || strcmp(res->group, groups[g]) == 0;
    if (!builtin)
        return;
    if (strcmp(p, "pods") == 0) {
        canonical_pod_spec(spec);
    } else if (strcmp(p, "deployments") == 0 || strcmp(p, "replicasets") == 0 ||
               strcmp(p, "daemonsets") == 0 || strcmp(p, "jobs") == 0 ||
               strcmp(p, "statefulsets") == 0 || strcmp(p, "replicationcontrollers") == 0 ||
               strcmp(p, "podtemplates") == 0) {
        canonical_pod_spec(at(strcmp(p, "podtemplates") == 0 ? obj : spec, "template", "spec"));
        json_array_foreach(json_object_get(spec, "volumeClaimTemplates"), i, t)
        {
            canonical_requirements(at(t, "spec", "resources"));
        }
    } else if (strcmp(p, "cronjobs") == 0) {
        canonical_pod_spec(at(at(spec, "jobTemplate", "spec"), "template", "spec"));
    } else if (strcmp(p, "nodes") == 0) {
        canonical_map(at(obj, "status", "capacity"));
        canonical_map(at(obj, "status", "allocatable"));
    } else if (strcmp(p, "persistentvolumeclaims") == 0) {
        canonical_requirements(json_object_get(spec, "resources"));
        canonical_map(at(obj, "status", "capacity"));
    } else if (strcmp(p, "persistentvolumes") == 0) {
        canonical_map(json_object_get(spec, "capacity"));
    } else if (strcmp(p, "runtimeclasses") == 0) {
        canonical_map(at(obj, "overhead", "podFixed"));
    } else if (strcmp(p, "resourcequotas") == 0) {
        canonical_map(json_object_get(spec, "hard"));
        canonical_map(at(obj, "status", "hard"));
        canonical_map(at(obj, "status", "used"));
    } else if (strcmp(p, "limitranges") == 0) {
        static const char *const maps[] = {"max", "min", "default", "defaultRequest",
                                           "maxLimitRequestRatio"};
        json_array_foreach(json_object_get(spec, "limits"), i, t)
        {
            for (size_t m = 0; m < sizeof(maps) / sizeof(maps[0]); m++)
                canonical_map(json_object_get(t, maps[m]));
        }
    }
}
