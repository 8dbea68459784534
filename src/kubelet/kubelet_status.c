/* SPDX-License-Identifier: Apache-2.0
 * kubelet_status.c - the pod status as the kubelet reports it: phase,
 * conditions (PodScheduled, Initialized, ContainersReady, Ready),
 * initContainerStatuses / containerStatuses (state, lastState, ready,
 * started, restartCount, image, imageID, containerID), hostIP(s), podIP(s)
 * and startTime. Written as a merge patch of pods/<name>/status, only when
 * it differs from what was last written. */
#define LOG_COMPONENT "kubelet"
#include "kubelet/kubelet-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
ts_of(int64_t ms, char *buf, size_t len)
{
    k3c_time_rfc3339((ms ? ms : k3c_wall_ms()) / 1000, buf, len);
}

static bool
ctr_running(const struct kctr *c)
{
    return c->id[0] && c->have_st && c->st.state == RUNTIME_STATE_RUNNING;
}

static bool
ctr_stopped(const struct kctr *c)
{
    return c->id[0] && c->have_st && c->st.state == RUNTIME_STATE_STOPPED;
}

json_t *
kubelet_terminated_state(const struct kctr *c)
{
    char started[32], finished[32];
    const char *reason = c->st.oom_killed       ? "OOMKilled"
                         : c->st.exit_code == 0 ? "Completed"
                                                : "Error";
    _cleanup_free_ char *cid = k3c_xasprintf("k3c://%s", c->id);

    ts_of(c->st.started_ms, started, sizeof(started));
    ts_of(c->st.finished_ms, finished, sizeof(finished));
    return json_pack("{s:{s:i, s:s, s:s, s:s, s:s}}", "terminated", "exitCode", c->st.exit_code,
                     "reason", reason, "startedAt", started, "finishedAt", finished, "containerID",
                     cid);
}

static json_t *
waiting_state(const char *reason, const char *message)
{
    json_t *w = json_pack("{s:s}", "reason", reason);

    if (message)
        json_object_set_new(w, "message", json_string(message));
    return json_pack("{s:o}", "waiting", w);
}

static json_t *
ctr_state(const struct kpod *p, const struct kctr *c, bool init_pending)
{
    char started[32];

    if (ctr_running(c)) {
        ts_of(c->st.started_ms, started, sizeof(started));
        return json_pack("{s:{s:s}}", "running", "startedAt", started);
    }
    if (ctr_stopped(c) && (c->done || p->failed_init || !c->waiting_reason))
        return kubelet_terminated_state(c);
    if (c->waiting_reason)
        return waiting_state(c->waiting_reason, c->waiting_message);
    if (p->sandbox_error)
        return waiting_state("ContainerCreating", p->sandbox_error);
    return waiting_state(init_pending && !c->init ? "PodInitializing" : "ContainerCreating", NULL);
}

static json_t *
ctr_status(const struct kpod *p, const struct kctr *c, bool init_pending)
{
    const char *image = json_string_value(json_object_get(c->spec, "image"));
    json_t *s = json_pack(
        "{s:s, s:o, s:o, s:b, s:i, s:s, s:s}", "name", c->name, "state",
        ctr_state(p, c, init_pending), "lastState",
        c->last_state ? json_deep_copy(c->last_state) : json_object(), "ready",
        ctr_running(c) && (c->init || c->ready), "restartCount", c->restart_count, "image",
        image ? image : "", "imageID",
        c->img ? (c->img->repo_digest ? c->img->repo_digest : c->img->config_digest) : "");

    if (c->id[0]) {
        _cleanup_free_ char *cid = k3c_xasprintf("k3c://%s", c->id);

        json_object_set_new(s, "containerID", json_string(cid));
    }
    if (!c->init)
        json_object_set_new(s, "started", json_boolean(ctr_running(c) && c->started));
    return s;
}

/* Upstream's getPhase, simplified to what k3c tracks. */
static const char *
pod_phase(const struct kpod *p, bool init_pending)
{
    const char *policy =
        json_string_value(json_object_get(json_object_get(p->spec_pod, "spec"), "restartPolicy"));
    size_t waiting = 0, running = 0, succeeded = 0, failed = 0, stopped = 0;

    if (p->failed_init || p->evicted_msg)
        return "Failed";
    if (init_pending)
        return "Pending";
    for (size_t i = p->n_init; i < p->n_ctrs; i++) {
        const struct kctr *c = &p->ctrs[i];

        if (ctr_running(c))
            running++;
        else if (ctr_stopped(c) || c->last_state) {
            stopped++;
            if (ctr_stopped(c) && c->st.exit_code == 0)
                succeeded++;
            else
                failed++;
        } else
            waiting++;
    }
    if (waiting > 0)
        return "Pending";
    if (running > 0)
        return "Running";
    if (!policy || strcmp(policy, "Always") == 0)
        return "Running";
    for (size_t i = p->n_init; i < p->n_ctrs; i++)
        if (!p->ctrs[i].done)
            return "Running"; /* will restart */
    if (failed == 0 && succeeded == stopped)
        return "Succeeded";
    return "Failed";
}

/* Upstream's QoS class: BestEffort without any cpu/memory request or limit;
 * Guaranteed when every container has cpu and memory limits and its
 * requests (defaulting to the limits) equal them; else Burstable. */
static const char *
qos_class(const struct kpod *p)
{
    static const char *const res[] = {"cpu", "memory"};
    bool any = false, guaranteed = true;

    for (size_t i = 0; i < p->n_ctrs; i++) {
        json_t *r = json_object_get(p->ctrs[i].spec, "resources");
        json_t *lim = json_object_get(r, "limits"), *req = json_object_get(r, "requests");

        for (size_t j = 0; j < 2; j++) {
            json_t *l = json_object_get(lim, res[j]), *q = json_object_get(req, res[j]);
            int64_t lv = 0, qv = 0;
            struct k3c_err err = {0};

            if (l || q)
                any = true;
            if (!l || podspec_quantity_json_milli(l, &lv, &err) < 0)
                guaranteed = false;
            else if (q && (podspec_quantity_json_milli(q, &qv, &err) < 0 || qv != lv))
                guaranteed = false;
        }
    }
    if (!any)
        return "BestEffort";
    return guaranteed ? "Guaranteed" : "Burstable";
}

/* A condition with its lastTransitionTime kept across writes. */
static json_t *
condition(struct kpod *p, const char *type, bool status, const char *reason, const char *msg)
{
    json_t *prev = json_object_get(p->cond_times, type);
    const char *st = status ? "True" : "False";
    char now[32];
    json_t *c;

    if (!p->cond_times)
        p->cond_times = json_object();
    if (!prev || strcmp(json_string_value(json_object_get(prev, "status")), st) != 0) {
        k3c_time_rfc3339(k3c_wall_ms() / 1000, now, sizeof(now));
        prev = json_pack("{s:s, s:s}", "status", st, "lastTransitionTime", now);
        json_object_set_new(p->cond_times, type, prev);
    }
    c = json_pack("{s:s, s:s, s:O}", "type", type, "status", st, "lastTransitionTime",
                  json_object_get(prev, "lastTransitionTime"));
    if (!status && reason)
        json_object_set_new(c, "reason", json_string(reason));
    if (!status && msg)
        json_object_set_new(c, "message", json_string(msg));
    return c;
}

json_t *
kubelet_pod_status(struct kpod *p)
{
    json_t *init = json_array(), *app = json_array(), *conds = json_array(), *st;
    bool init_pending = false, all_ready = p->n_ctrs > p->n_init;
    const char *phase;
    struct k3c_buf unready;

    k3c_buf_init(&unready);
    for (size_t i = 0; i < p->n_init; i++)
        if (!p->ctrs[i].done)
            init_pending = true;
    for (size_t i = 0; i < p->n_ctrs; i++) {
        const struct kctr *c = &p->ctrs[i];

        json_array_append_new(c->init ? init : app, ctr_status(p, c, init_pending));
        if (!c->init && !(ctr_running(c) && c->ready)) {
            all_ready = false;
            k3c_buf_appendf(&unready, "%s%s", unready.len ? " " : "", c->name);
        }
    }
    phase = pod_phase(p, init_pending);
    json_array_append_new(conds, condition(p, "PodScheduled", true, NULL, NULL));
    json_array_append_new(conds,
                          condition(p, "Initialized", !init_pending, "ContainersNotInitialized",
                                    "containers with incomplete status: init"));
    {
        _cleanup_free_ char *msg =
            k3c_xasprintf("containers with unready status: [%s]", unready.data ? unready.data : "");
        bool done = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
        const char *reason = done ? "PodCompleted" : "ContainersNotReady";

        json_array_append_new(
            conds, condition(p, "ContainersReady", all_ready && !done, reason, done ? NULL : msg));
        json_array_append_new(conds,
                              condition(p, "Ready", all_ready && !done, reason, done ? NULL : msg));
    }
    k3c_buf_fini(&unready);
    st = json_pack("{s:s, s:o, s:s, s:[{s:s}], s:s, s:o}", "phase", phase, "conditions", conds,
                   "hostIP", p->k->node_ip, "hostIPs", "ip", p->k->node_ip, "startTime",
                   p->start_time, "containerStatuses", app);
    json_object_set_new(st, "qosClass", json_string(qos_class(p)));
    if (p->evicted_msg) {
        /* upstream's eviction status: reason, message, DisruptionTarget */
        json_t *c = condition(p, "DisruptionTarget", true, NULL, NULL);

        json_object_set_new(c, "reason", json_string("TerminationByKubelet"));
        json_object_set_new(c, "message", json_string(p->evicted_msg));
        json_array_append_new(conds, c);
        json_object_set_new(st, "reason", json_string("Evicted"));
        json_object_set_new(st, "message", json_string(p->evicted_msg));
    }
    if (p->pod_ip[0]) {
        json_object_set_new(st, "podIP", json_string(p->pod_ip));
        json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", p->pod_ip));
    }
    if (json_array_size(init))
        json_object_set_new(st, "initContainerStatuses", init);
    else
        json_decref(init);
    return st;
}

/* True when every condition in ours has the same status in theirs (the
 * API's view). Another writer (the node lifecycle controller marks the pods
 * of an unreachable node not Ready) makes them differ. */
static bool
conditions_agree(const json_t *ours, const json_t *theirs)
{
    size_t i, j;
    const json_t *c, *t;

    json_array_foreach(json_object_get(ours, "conditions"), i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *status = json_string_value(json_object_get(c, "status"));
        bool found = false;

        json_array_foreach(json_object_get(theirs, "conditions"), j, t)
        {
            const char *tt = json_string_value(json_object_get(t, "type"));

            if (type && tt && strcmp(type, tt) == 0) {
                const char *ts = json_string_value(json_object_get(t, "status"));

                found = status && ts && strcmp(status, ts) == 0;
                break;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

int
kubelet_status_write(struct kpod *p, const json_t *api_pod, struct k3c_err *err)
{
    _cleanup_json_ json_t *st = kubelet_pod_status(p), *patch = NULL;
    _cleanup_free_ char *path = NULL, *text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
    long code;

    if (p->written && text && strcmp(p->written, text) == 0 &&
        (!api_pod || conditions_agree(st, json_object_get(api_pod, "status"))))
        return 0;
    path = k3c_xasprintf("/api/v1/namespaces/%s/pods/%s/status", p->ns, p->name);
    patch = json_pack("{s:O}", "status", st);
    code = kubelet_api(p->k, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
    if (code != 200)
        return code == 404 ? 0 : -1;
    free(p->written);
    p->written = TAKE_PTR(text);
    return 0;
}

void
kubelet_event(struct kpod *p, const struct kctr *c, const char *type, const char *reason,
              const char *fmt, ...)
{
    _cleanup_free_ char *msg = NULL, *field = NULL, *name = NULL;
    _cleanup_json_ json_t *ev = NULL;
    unsigned char rnd[8];
    char now[32], hex[17];
    va_list ap;

    if (!p->ns[0] || !p->k->api)
        return; /* an orphan: no object to talk about */
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    k3c_random_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    name = k3c_xasprintf("%s.%s", p->name, hex);
    k3c_time_rfc3339(k3c_wall_ms() / 1000, now, sizeof(now));
    ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s,"
                   " s:{s:s, s:s}, s:s, s:s, s:i, s:s, s:s}",
                   "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace",
                   p->ns, "involvedObject", "apiVersion", "v1", "kind", "Pod", "namespace", p->ns,
                   "name", p->name, "uid", p->uid, "reason", reason, "message", msg ? msg : "",
                   "type", type, "source", "component", "kubelet", "host", p->k->node_name,
                   "firstTimestamp", now, "lastTimestamp", now, "count", 1, "reportingComponent",
                   "kubelet", "reportingInstance", p->k->node_name);
    if (c) {
        field = k3c_xasprintf("spec.%s{%s}", c->init ? "initContainers" : "containers", c->name);
        json_object_set_new(json_object_get(ev, "involvedObject"), "fieldPath", json_string(field));
    }
    if (!p->events)
        p->events = json_array();
    json_array_append(p->events, ev);
}

void
kubelet_events_flush(struct kpod *p)
{
    _cleanup_free_ char *path = NULL;
    json_t *ev;
    size_t i;

    if (!json_array_size(p->events))
        return;
    path = k3c_xasprintf("/api/v1/namespaces/%s/events", p->ns);
    json_array_foreach(p->events, i, ev)
    {
        struct k3c_err err = {0};

        if (kubelet_api(p->k, "POST", path, NULL, ev, NULL, &err) != 201)
            log_debug("(pod %s/%s) event: %s", p->ns, p->name, err.msg);
    }
    json_array_clear(p->events);
}
