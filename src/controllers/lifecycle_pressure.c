/* SPDX-License-Identifier: Apache-2.0
 * lifecycle_pressure.c - upstream's TaintNodesByCondition (issue #21): a
 * node whose MemoryPressure, DiskPressure or PIDPressure condition is True
 * carries node.kubernetes.io/memory-pressure, disk-pressure or pid-pressure
 * with effect NoSchedule (the scheduler keeps new pods off it unless they
 * tolerate it; DaemonSet pods do), and loses it when the condition goes.
 * Pure, as lifecycle_logic.c. */
#include "controllers/lifecycle.h"

#include <string.h>

static const struct {
    const char *condition, *taint;
} pressures[] = {
    {"MemoryPressure", "node.kubernetes.io/memory-pressure"},
    {"DiskPressure", "node.kubernetes.io/disk-pressure"},
    {"PIDPressure", "node.kubernetes.io/pid-pressure"},
};

static const char *
str_at(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool
condition_true(const json_t *status, const char *type)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *t = str_at(c, "type"), *s = str_at(c, "status");

        if (t && strcmp(t, type) == 0)
            return s && strcmp(s, "True") == 0;
    }
    return false;
}

static bool
has_taint(const json_t *taints, const char *key)
{
    size_t i;
    json_t *t;

    json_array_foreach(taints, i, t)
    {
        const char *k = str_at(t, "key"), *e = str_at(t, "effect");

        if (k && e && strcmp(k, key) == 0 && strcmp(e, "NoSchedule") == 0)
            return true;
    }
    return false;
}

json_t *
lc_node_pressure_taints_want(const json_t *taints, const json_t *status, const char *now)
{
    json_t *out = json_array();
    bool changed = false;
    size_t i;
    json_t *t;

    json_array_foreach(taints, i, t)
    {
        const char *k = str_at(t, "key");
        bool drop = false;

        for (size_t p = 0; k && p < sizeof(pressures) / sizeof(pressures[0]); p++)
            if (strcmp(k, pressures[p].taint) == 0 &&
                !condition_true(status, pressures[p].condition))
                drop = true;
        if (drop)
            changed = true;
        else
            json_array_append(out, t);
    }
    for (size_t p = 0; p < sizeof(pressures) / sizeof(pressures[0]); p++) {
        if (!condition_true(status, pressures[p].condition) ||
            has_taint(taints, pressures[p].taint))
            continue;
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "key", pressures[p].taint, "effect",
                                             "NoSchedule", "timeAdded", now));
        changed = true;
    }
    if (!changed) {
        json_decref(out);
        return NULL;
    }
    return out;
}
