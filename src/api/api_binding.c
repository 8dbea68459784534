/* SPDX-License-Identifier: Apache-2.0
 * api_binding.c - the pod subresources that are POSTed:
 *   pods/binding   (v1 Binding) sets spec.nodeName once, with the
 *                  PodScheduled=True condition; 409 if already bound or
 *                  being deleted (upstream's BindingREST);
 *   pods/eviction  (policy/v1 Eviction) deletes the pod honouring its
 *                  grace period and the Eviction's deleteOptions; 201 with
 *                  a Success Status; a PodDisruptionBudget covering the pod
 *                  must allow a disruption (one is taken from its status,
 *                  the pod noted in disruptedPods), else 429 with upstream's
 *                  message, which `kubectl drain` retries. */
#include "admission/admission.h"
#include "api/api-handlers.h"
#include "api/api-kind.h"

#include "base/cleanup.h"
#include "base/json.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define BINDING_RETRIES 5

static int
reply_success(struct api_request *r, unsigned code)
{
    return api_reply_json_take(r, code,
                               json_pack("{s:s, s:s, s:{}, s:s, s:i}", "kind", "Status",
                                         "apiVersion", "v1", "metadata", "status", "Success",
                                         "code", (int)code));
}

static json_t *
request_body(struct api_request *r)
{
    if (!r->body.len)
        return NULL;
    return k3c_json_loadb(r->body.data, r->body.len, 0, NULL);
}

/* Replaces (or adds) the PodScheduled condition with status True. */
static void
set_scheduled(json_t *pod)
{
    json_t *status = json_object_get(pod, "status");
    json_t *conds, *c, *keep = json_array();
    char now[32];
    size_t i;

    if (!json_is_object(status)) {
        status = json_object();
        json_object_set_new(pod, "status", status);
    }
    conds = json_object_get(status, "conditions");
    json_array_foreach(conds, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));

        if (!t || strcmp(t, "PodScheduled") != 0)
            json_array_append(keep, c);
    }
    k3c_time_rfc3339(time(NULL), now, sizeof(now));
    json_array_append_new(keep, json_pack("{s:s, s:s, s:n, s:s}", "type", "PodScheduled", "status",
                                          "True", "lastProbeTime", "lastTransitionTime", now));
    json_object_set_new(status, "conditions", keep);
}

enum bind_result { BIND_STORED, BIND_RETRY, BIND_REPLIED };

/* The pod as the watch cache has it (the first attempt saves an etcd
 * read; a stale copy only costs a conflict and a retry from etcd). */
static json_t *
cached_pod(struct api_request *r, int64_t *rev)
{
    _cleanup_free_ char *key = api_object_key(r->res, r->namespace, r->name);
    struct wc_entry *e = watch_cache_get(api_cache_for(r->srv, r->res), key);
    json_t *obj;

    if (!e)
        return NULL;
    obj = wc_entry_object(e);
    *rev = e->revision;
    wc_entry_unref(e);
    return obj;
}

/* One compare-and-swap attempt; BIND_REPLIED with *reply queued. */
static enum bind_result
bind_once(struct api_request *r, const char *node, bool from_cache, int *reply)
{
    _cleanup_json_ json_t *pod = NULL;
    _cleanup_free_ char *key = NULL, *text = NULL;
    struct k3c_err err = {0};
    const char *have;
    json_t *spec;
    int64_t rev = 0, new_rev = 0;
    size_t len = 0;

    pod = from_cache ? cached_pod(r, &rev) : NULL;
    if (!pod)
        pod = api_read_object(r, &rev, &err);
    if (!pod) {
        *reply = api_reply_store_error(r, &err);
        return BIND_REPLIED;
    }
    spec = json_object_get(pod, "spec");
    have = json_string_value(json_object_get(spec, "nodeName"));
    if (api_meta_str(pod, "deletionTimestamp")) {
        *reply = api_reply_status(r, K3C_E_CONFLICT, r->name, "pods/binding",
                                  "Operation cannot be fulfilled on pods/binding \"%s\": pod %s "
                                  "is being deleted, cannot be assigned to a host",
                                  r->name, r->name);
        return BIND_REPLIED;
    }
    if (have && *have) {
        *reply = api_reply_status(r, K3C_E_CONFLICT, r->name, "pods/binding",
                                  "Operation cannot be fulfilled on pods/binding \"%s\": pod %s "
                                  "is already assigned to node \"%s\"",
                                  r->name, r->name, have);
        return BIND_REPLIED;
    }
    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(pod, "spec", spec);
    }
    json_object_set_new(spec, "nodeName", json_string(node));
    set_scheduled(pod);
    key = api_object_key(r->res, r->namespace, r->name);
    text = api_object_encode(pod, &len);
    if (store_update(r->srv->store, key, text, len, rev, 0, &new_rev, NULL, &err) == 0)
        return BIND_STORED;
    if (err.kind == K3C_E_CONFLICT)
        return BIND_RETRY;
    *reply = api_reply_store_error(r, &err);
    return BIND_REPLIED;
}

static int
handle_binding(struct api_request *r)
{
    _cleanup_json_ json_t *body = request_body(r);
    const json_t *target = json_object_get(body, "target");
    const char *node = json_string_value(json_object_get(target, "name"));
    const char *kind = json_string_value(json_object_get(target, "kind"));
    const char *name =
        json_string_value(json_object_get(json_object_get(body, "metadata"), "name"));

    if (!json_is_object(body))
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "a Binding object is required");
    if (name && strcmp(name, r->name) != 0)
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "name in URL does not match name in Binding object");
    if (!node || !*node || (kind && *kind && strcmp(kind, "Node") != 0))
        return api_reply_invalid_take(
            r, "Binding", r->name,
            json_pack("[{s:s, s:s, s:s}]", "reason", "FieldValueRequired", "message",
                      "Required value: a Node name is required", "field", "target.name"));
    if (strcmp(api_query(r, "dryRun") ? api_query(r, "dryRun") : "", "All") == 0)
        return reply_success(r, 201);
    for (int attempt = 0; attempt < BINDING_RETRIES; attempt++) {
        int reply = -1;
        enum bind_result rc = bind_once(r, node, attempt == 0, &reply);

        if (rc == BIND_STORED)
            return reply_success(r, 201);
        if (rc == BIND_REPLIED)
            return reply;
    }
    return api_reply_status(r, K3C_E_CONFLICT, r->name, "pods",
                            "Operation cannot be fulfilled on pods \"%s\": the object has been "
                            "modified; please apply your changes to the latest version and try "
                            "again",
                            r->name);
}

/* ---- eviction and PodDisruptionBudgets (upstream's EvictionREST) ---------- */

#define EVICTION_RETRIES   5
#define MAX_DISRUPTED_PODS 2000

struct pdb_match {
    const json_t *labels;
    json_t *found; /* array of [key, object] */
};

static void
collect_pdb(void *ud, struct wc_entry *e)
{
    struct pdb_match *m = ud;
    json_t *pdb = wc_entry_object(e);
    const json_t *sel = api_json_path(pdb, "spec.selector");

    if (json_is_object(sel) && api_label_selector_matches(sel, m->labels))
        json_array_append_new(m->found, json_pack("[s,I,o]", e->key, (json_int_t)e->revision, pdb));
    else
        json_decref(pdb);
}

/* 429 with upstream's message and the DisruptionBudget cause. */
static int
reply_too_many(struct api_request *r, const char *cause)
{
    return api_reply_json_take(
        r, 429,
        json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:{s:[{s:s,s:s}]},s:i}", "kind", "Status",
                  "apiVersion", "v1", "metadata", "status", "Failure", "message",
                  "Cannot evict pod as it would violate the pod's disruption budget.", "reason",
                  "TooManyRequests", "details", "causes", "reason", "DisruptionBudget", "message",
                  cause, "code", 429));
}

static bool
pod_ready(const json_t *pod)
{
    size_t i;
    const json_t *c;

    json_array_foreach(api_json_path(pod, "status.conditions"), i, c)
    {
        if (strcmp(api_or_empty(json_string_value(json_object_get(c, "type"))), "Ready") == 0)
            return strcmp(api_or_empty(json_string_value(json_object_get(c, "status"))), "True") ==
                   0;
    }
    return false;
}

enum budget_result { BUDGET_OK, BUDGET_RETRY, BUDGET_REPLIED };

/* Checks the one budget covering pod and takes one disruption from it
 * (stored with its revision: a concurrent eviction makes this retry).
 * BUDGET_OK: the pod may go. */
static enum budget_result
take_disruption(struct api_request *r, const json_t *pod, int *reply)
{
    const struct api_resource *res = api_resource_find("policy", "v1", "poddisruptionbudgets");
    struct watch_cache *wc = res ? api_cache_for(r->srv, res) : NULL;
    struct pdb_match m = {json_object_get(json_object_get(pod, "metadata"), "labels"),
                          json_array()};
    _cleanup_json_ json_t *found = m.found;
    _cleanup_free_ char *prefix = NULL;
    json_t *pdb, *disrupted;
    const char *key, *policy;
    int64_t rev, new_rev, allowed;
    char now_s[32], cause[512];
    struct k3c_err err = {0};
    _cleanup_free_ char *text = NULL;
    size_t len;

    if (!wc)
        return BUDGET_OK;
    prefix = api_list_prefix(res, r->namespace);
    watch_cache_foreach(wc, prefix, collect_pdb, &m);
    if (json_array_size(found) == 0)
        return BUDGET_OK;
    if (json_array_size(found) > 1) {
        *reply = api_reply_status(r, K3C_E_INTERNAL, NULL, NULL,
                                  "This pod has more than one PodDisruptionBudget, which the "
                                  "eviction subresource does not support.");
        return BUDGET_REPLIED;
    }
    key = json_string_value(json_array_get(json_array_get(found, 0), 0));
    rev = json_integer_value(json_array_get(json_array_get(found, 0), 1));
    pdb = json_array_get(json_array_get(found, 0), 2);
    policy = api_or_empty(json_string_value(api_json_path(pdb, "spec.unhealthyPodEvictionPolicy")));
    allowed = json_integer_value(api_json_path(pdb, "status.disruptionsAllowed"));
    /* an unready pod may go while the budget is met (IfHealthyBudget), or always */
    if (!pod_ready(pod) && (strcmp(policy, "AlwaysAllow") == 0 ||
                            json_integer_value(api_json_path(pdb, "status.currentHealthy")) >=
                                json_integer_value(api_json_path(pdb, "status.desiredHealthy"))))
        return BUDGET_OK;
    if (json_integer_value(api_json_path(pdb, "status.observedGeneration")) <
        json_integer_value(api_json_path(pdb, "metadata.generation"))) {
        snprintf(cause, sizeof(cause),
                 "The disruption budget %s is still being processed by the server.",
                 api_or_empty(api_meta_str(pdb, "name")));
        *reply = reply_too_many(r, cause);
        return BUDGET_REPLIED;
    }
    if (allowed < 0) {
        *reply = api_reply_status_code(r, 403, "Forbidden", "pdb disruptions allowed is negative");
        return BUDGET_REPLIED;
    }
    disrupted = (json_t *)api_json_path(pdb, "status.disruptedPods");
    if (json_object_size(disrupted) > MAX_DISRUPTED_PODS) {
        *reply = api_reply_status_code(r, 403, "Forbidden",
                                       "DisruptedPods map too big - too many evictions not "
                                       "confirmed by PDB controller");
        return BUDGET_REPLIED;
    }
    if (allowed == 0) {
        snprintf(cause, sizeof(cause),
                 "The disruption budget %s needs %lld healthy pods and has %lld currently",
                 api_or_empty(api_meta_str(pdb, "name")),
                 (long long)json_integer_value(api_json_path(pdb, "status.desiredHealthy")),
                 (long long)json_integer_value(api_json_path(pdb, "status.currentHealthy")));
        *reply = reply_too_many(r, cause);
        return BUDGET_REPLIED;
    }
    if (strcmp(api_or_empty(api_query(r, "dryRun")), "All") == 0)
        return BUDGET_OK;
    json_object_set_new(json_object_get(pdb, "status"), "disruptionsAllowed",
                        json_integer(allowed - 1));
    if (!json_is_object(disrupted)) {
        json_object_set_new(json_object_get(pdb, "status"), "disruptedPods", json_object());
        disrupted = json_object_get(json_object_get(pdb, "status"), "disruptedPods");
    }
    {
        time_t now = time(NULL);
        struct tm tm;

        gmtime_r(&now, &tm);
        strftime(now_s, sizeof(now_s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    json_object_set_new(disrupted, r->name, json_string(now_s));
    json_object_del(json_object_get(pdb, "metadata"), "resourceVersion");
    text = api_object_encode(pdb, &len);
    if (store_update(r->srv->store, key, text, len, rev, 0, &new_rev, NULL, &err) == 0)
        return BUDGET_OK;
    if (err.kind == K3C_E_CONFLICT) {
        watch_cache_sync(wc, 0, 2000, &err);
        return BUDGET_RETRY;
    }
    *reply = api_reply_store_error(r, &err);
    return BUDGET_REPLIED;
}

/* canIgnorePDB: pods that are done, not started or going anyway. */
static bool
can_ignore_budget(const json_t *pod)
{
    const char *phase = api_or_empty(json_string_value(api_json_path(pod, "status.phase")));

    return strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0 ||
           strcmp(phase, "Pending") == 0 || api_meta_str(pod, "deletionTimestamp");
}

static int
handle_eviction(struct api_request *r)
{
    _cleanup_json_ json_t *body = request_body(r);
    _cleanup_json_ json_t *pod = NULL;
    struct k3c_err err = {0};
    const json_t *opts = json_object_get(body, "deleteOptions");

    if (r->body.len && !json_is_object(body))
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "an Eviction object is required");
    pod = api_read_object(r, NULL, &err);
    if (!pod)
        return api_reply_store_error(r, &err);
    if (api_meta_str(pod, "deletionTimestamp"))
        return reply_success(r, 200); /* already terminating: nothing to do */
    for (int attempt = 0; !can_ignore_budget(pod); attempt++) {
        int reply = -1;
        enum budget_result rc = take_disruption(r, pod, &reply);

        if (rc == BUDGET_OK)
            break;
        if (rc == BUDGET_REPLIED)
            return reply;
        if (attempt + 1 == EVICTION_RETRIES)
            return api_reply_status(r, K3C_E_CONFLICT, r->name, "pods",
                                    "Operation cannot be fulfilled on poddisruptionbudgets: the "
                                    "object has been modified; please apply your changes to the "
                                    "latest version and try again");
    }
    if (api_delete_with_options(r, json_is_object(opts) ? opts : NULL, &err) < 0)
        return api_reply_store_error(r, &err);
    return reply_success(r, 201);
}

/* Admission webhooks (src/admission/): a CREATE of pods/binding or
 * pods/eviction with the posted object; what mutating webhooks change is
 * not used. -1 to go on, else the reply. */
static int
admit_post(struct api_request *r)
{
    _cleanup_json_ json_t *body = request_body(r);
    _cleanup_json_ json_t *obj = json_is_object(body) ? json_deep_copy(body) : json_object();
    struct admission_denial d;

    if (admission_mutate(r, ADMISSION_CREATE, obj, NULL, &d) < 0 ||
        admission_validate(r, ADMISSION_CREATE, body ? body : obj, NULL, &d) < 0)
        return api_reply_status_code(r, d.code, d.reason, "%s", d.message);
    return -1;
}

int
api_handle_pod_post(struct api_request *r)
{
    int reply = admit_post(r);

    if (reply >= 0)
        return reply;
    if (strcmp(r->subresource, "binding") == 0)
        return handle_binding(r);
    return handle_eviction(r);
}
