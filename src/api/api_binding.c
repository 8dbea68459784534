/* SPDX-License-Identifier: Apache-2.0
 * api_binding.c - the pod subresources that are POSTed:
 *   pods/binding   (v1 Binding) sets spec.nodeName once, with the
 *                  PodScheduled=True condition; 409 if already bound or
 *                  being deleted (upstream's BindingREST);
 *   pods/eviction  (policy/v1 Eviction) deletes the pod honouring its
 *                  grace period and the Eviction's deleteOptions; 201 with
 *                  a Success Status, as upstream answers when no
 *                  PodDisruptionBudget is in the way (there are none here). */
#include "api/api-handlers.h"

#include "base/cleanup.h"
#include "base/util.h"

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
    return json_loadb(r->body.data, r->body.len, 0, NULL);
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
    if (api_delete_with_options(r, json_is_object(opts) ? opts : NULL, &err) < 0)
        return api_reply_store_error(r, &err);
    return reply_success(r, 201);
}

int
api_handle_pod_post(struct api_request *r)
{
    if (strcmp(r->subresource, "binding") == 0)
        return handle_binding(r);
    return handle_eviction(r);
}
