/* SPDX-License-Identifier: Apache-2.0
 * pvbinder_logic.c - the pure rules of the PersistentVolume binder: which
 * volume a claim may take (pvbinder.h). */
#include "controllers/pvbinder.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "scheduler/scheduler.h"

static const char *
str_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);

    return json_string_value(b ? json_object_get(v, b) : v);
}

static int64_t
bytes_of(const json_t *q)
{
    int64_t m;

    if (!sched_quantity_milli(json_string_value(q), &m) || m < 0)
        return -1;
    return (m + 999) / 1000;
}

int64_t
pvb_claim_request(const json_t *pvc)
{
    const json_t *spec = json_object_get(pvc, "spec");

    return bytes_of(json_object_get(json_object_get(json_object_get(spec, "resources"), "requests"),
                                    "storage"));
}

int64_t
pvb_volume_capacity(const json_t *pv)
{
    return bytes_of(
        json_object_get(json_object_get(json_object_get(pv, "spec"), "capacity"), "storage"));
}

bool
pvb_node_selector_matches(const json_t *selector, const json_t *node)
{
    const json_t *terms = json_object_get(selector, "nodeSelectorTerms");
    _cleanup_json_ json_t *pod = NULL;

    if (!selector || json_array_size(terms) == 0)
        return true;
    /* The scheduler's matcher reads a pod's required node affinity. */
    pod = json_pack("{s:{s:{s:{s:{s:O}}}}}", "spec", "affinity", "nodeAffinity",
                    "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms", terms);
    return sched_node_affinity_matches(pod, node);
}

static bool
has_string(const json_t *arr, const char *s)
{
    size_t i;
    const json_t *v;

    json_array_foreach(arr, i, v) if (json_string_value(v) &&
                                      strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

static const char *
or_empty(const char *s)
{
    return s ? s : "";
}

/* The claimRef of pv names pvc (by uid when the ref has one). */
static bool
claim_ref_is(const json_t *pv, const json_t *pvc)
{
    const json_t *ref = json_object_get(json_object_get(pv, "spec"), "claimRef");
    const char *uid = str_at(ref, "uid", NULL);

    if (!ref)
        return false;
    if (strcmp(or_empty(str_at(ref, "name", NULL)), or_empty(str_at(pvc, "metadata", "name"))) ||
        strcmp(or_empty(str_at(ref, "namespace", NULL)),
               or_empty(str_at(pvc, "metadata", "namespace"))))
        return false;
    return !uid || !*uid || strcmp(uid, or_empty(str_at(pvc, "metadata", "uid"))) == 0;
}

static void
say(char *why, size_t len, const char *msg)
{
    if (why && len)
        snprintf(why, len, "%s", msg);
}

bool
pvb_volume_matches(const json_t *pv, const json_t *pvc, const json_t *node, char *why,
                   size_t why_len)
{
    const json_t *spec = json_object_get(pv, "spec"), *cspec = json_object_get(pvc, "spec");
    const char *phase = str_at(pv, "status", "phase");
    const json_t *modes = json_object_get(spec, "accessModes");
    const json_t *sel = json_object_get(cspec, "selector");
    const char *vm = or_empty(str_at(spec, "volumeMode", NULL));
    const char *cvm = or_empty(str_at(cspec, "volumeMode", NULL));
    int64_t req = pvb_claim_request(pvc), cap = pvb_volume_capacity(pv);
    size_t i;
    const json_t *m;

    if (json_object_get(json_object_get(pv, "metadata"), "deletionTimestamp"))
        return say(why, why_len, "volume is being deleted"), false;
    if (json_object_get(spec, "claimRef")) {
        if (!claim_ref_is(pv, pvc))
            return say(why, why_len, "volume is bound to another claim"), false;
    } else if (!phase || strcmp(phase, "Available") != 0) {
        return say(why, why_len, "volume is not Available"), false;
    }
    if (strcmp(or_empty(str_at(spec, "storageClassName", NULL)),
               or_empty(str_at(cspec, "storageClassName", NULL))) != 0)
        return say(why, why_len, "storage class differs"), false;
    if (strcmp(*vm ? vm : "Filesystem", *cvm ? cvm : "Filesystem") != 0)
        return say(why, why_len, "volume mode differs"), false;
    json_array_foreach(json_object_get(cspec, "accessModes"), i, m)
    {
        if (!json_string_value(m) || !has_string(modes, json_string_value(m)))
            return say(why, why_len, "access modes not offered"), false;
    }
    if (req < 0 || cap < req)
        return say(why, why_len, "capacity too small"), false;
    if (sel &&
        !ctl_selector_matches(sel, json_object_get(json_object_get(pv, "metadata"), "labels")))
        return say(why, why_len, "selector does not match"), false;
    if (node && !pvb_node_selector_matches(
                    json_object_get(json_object_get(spec, "nodeAffinity"), "required"), node))
        return say(why, why_len, "volume node affinity conflict"), false;
    return true;
}

const json_t *
pvb_find_volume(const json_t *pvs, const json_t *pvc, const json_t *node)
{
    const char *want = str_at(pvc, "spec", "volumeName");
    const json_t *best = NULL, *pv;
    int64_t best_cap = 0;
    size_t i;

    json_array_foreach(pvs, i, pv)
    {
        const char *name = str_at(pv, "metadata", "name");
        bool named = want && *want && name && strcmp(name, want) == 0;
        int64_t cap;

        if (want && *want && !named)
            continue;
        if (!pvb_volume_matches(pv, pvc, node, NULL, 0))
            continue;
        if (named || json_object_get(json_object_get(pv, "spec"), "claimRef"))
            return pv; /* pre-bound either way */
        cap = pvb_volume_capacity(pv);
        if (!best || cap < best_cap) {
            best = pv;
            best_cap = cap;
        }
    }
    return best;
}

char *
pvb_local_path(const char *dir, const char *uid, const char *ns, const char *name)
{
    return k3c_xasprintf("%s/pvc-%s_%s_%s", dir, uid, ns, name);
}
