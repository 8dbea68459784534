/* SPDX-License-Identifier: Apache-2.0
 * priorityclass.c - keeps the built-in PriorityClasses
 * system-node-critical and system-cluster-critical (as kube-apiserver's
 * scheduling post-start hook): created when missing, at start and when
 * one is deleted. Their values and descriptions are
 * api_system_priorities (src/api/kind_priorityclass.c). */
#define LOG_COMPONENT "priorityclass"
#include "controllers/controller.h"
#include "controllers/controllers.h"

#include <string.h>

#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#define PC_PATH "/apis/scheduling.k8s.io/v1/priorityclasses"

static void
on_class(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev == CTL_DELETED)
        ctl_enqueue_object(c, obj);
}

static void
pc_start(struct ctl *c)
{
    for (const struct api_system_priority *s = api_system_priorities; s->name; s++)
        ctl_enqueue(c, s->name);
}

static int
pc_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    _cleanup_json_ json_t *have = ctl_get(c, "priorityclasses", NULL, key);
    _cleanup_json_ json_t *obj = NULL;
    long code;

    if (have)
        return 0;
    for (const struct api_system_priority *s = api_system_priorities; s->name; s++) {
        if (strcmp(s->name, key) != 0)
            continue;
        obj = json_pack("{s:s, s:s, s:{s:s}, s:I, s:s, s:s}", "apiVersion", "scheduling.k8s.io/v1",
                        "kind", "PriorityClass", "metadata", "name", s->name, "value",
                        (json_int_t)s->value, "description", s->description, "preemptionPolicy",
                        "PreemptLowerPriority");
        code = ctl_api(c, "POST", PC_PATH, NULL, obj, NULL, err);
        if (code == 201)
            log_info("PriorityClass %s created", s->name);
        if (code == 201 || code == 409) {
            k3c_err_clear(err);
            return 0;
        }
        return -1;
    }
    return 0;
}

static const struct ctl_watch pc_watches[] = {
    {"priorityclasses", on_class},
    {NULL, NULL},
};

const struct ctl_def ctl_def_priorityclass = {
    .name = "priorityclass",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = pc_watches,
    .sync = pc_sync,
    .start = pc_start,
};
