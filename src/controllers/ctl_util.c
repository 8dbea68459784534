/* SPDX-License-Identifier: Apache-2.0
 * ctl_util.c - small helpers many controllers share: times, owner
 * references, label selectors as JSON, pod and node conditions.
 * Shared helpers that only some controllers need go here too, each in its
 * own clearly separated function. */
#include "controllers/controller.h"

#include "base/labels.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void
ctl_now_rfc3339(char *buf, size_t len)
{
    k3c_time_rfc3339(time(NULL), buf, len);
}

static const json_t *
meta_of(const json_t *obj)
{
    return json_object_get(obj, "metadata");
}

const char *
ctl_annotation(const json_t *obj, const char *name)
{
    return json_string_value(json_object_get(json_object_get(meta_of(obj), "annotations"), name));
}

json_t *
ctl_owner_ref(const json_t *owner)
{
    const json_t *meta = meta_of(owner);

    return json_pack("{s:O*, s:O*, s:O*, s:O*, s:b, s:b}", "apiVersion",
                     json_object_get(owner, "apiVersion"), "kind", json_object_get(owner, "kind"),
                     "name", json_object_get(meta, "name"), "uid", json_object_get(meta, "uid"),
                     "controller", 1, "blockOwnerDeletion", 1);
}

const json_t *
ctl_controller_ref(const json_t *obj)
{
    const json_t *refs = json_object_get(meta_of(obj), "ownerReferences");
    size_t i;
    const json_t *r;

    json_array_foreach(refs, i, r)
    {
        if (json_is_true(json_object_get(r, "controller")))
            return r;
    }
    return NULL;
}

bool
ctl_is_controlled_by(const json_t *obj, const char *uid)
{
    const char *u = json_string_value(json_object_get(ctl_controller_ref(obj), "uid"));

    return u && uid && strcmp(u, uid) == 0;
}

/* ---- label selectors -------------------------------------------------------- */

bool
ctl_selector_matches(const json_t *selector, const json_t *labels)
{
    return k3c_label_selector_matches(selector, labels);
}

/* ---- pods and nodes --------------------------------------------------------- */

/* The status of condition type in obj.status.conditions, or NULL. */
static const char *
condition_status(const json_t *obj, const char *type)
{
    const json_t *conds = json_object_get(json_object_get(obj, "status"), "conditions");
    const json_t *c;
    size_t i;

    json_array_foreach(conds, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));

        if (t && strcmp(t, type) == 0)
            return json_string_value(json_object_get(c, "status"));
    }
    return NULL;
}

bool
ctl_pod_ready(const json_t *pod)
{
    const char *s = condition_status(pod, "Ready");

    return s && strcmp(s, "True") == 0;
}

bool
ctl_pod_finished(const json_t *pod)
{
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));

    return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

bool
ctl_being_deleted(const json_t *obj)
{
    return json_object_get(meta_of(obj), "deletionTimestamp") != NULL;
}

const char *
ctl_node_ready_status(const json_t *node)
{
    return condition_status(node, "Ready");
}

static bool
enqueue_listed(void *ud, const json_t *obj)
{
    ctl_enqueue_object(ud, obj);
    return true;
}

void
ctl_enqueue_all(struct ctl *c, const char *resource)
{
    ctl_list(c, resource, NULL, NULL, enqueue_listed, c);
}
