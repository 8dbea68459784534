/* SPDX-License-Identifier: Apache-2.0
 * admission.c - the webhook dispatcher (upstream's MutatingAdmissionWebhook
 * and ValidatingAdmissionWebhook plugins): for each write, the webhooks of
 * every configuration (read from the watch caches, in the order of the
 * configurations' names, then their position) whose rules and selectors
 * match are called: mutating ones one after the other, validating ones in
 * parallel (their answers read in order). Mutating webhooks patch the object
 * (reinvocationPolicy IfNeeded: once more when a later webhook changed it);
 * validating webhooks may only refuse. A failed call counts as a refusal
 * under failurePolicy Fail and is logged and skipped under Ignore. Requests
 * on the webhook configurations themselves never go to webhooks, so a
 * broken webhook can always be removed. */
#define LOG_COMPONENT "admission"
#include "admission/admission-internal.h"
#include "api/api-internal.h"
#include "api/api-patch.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define GROUP        "admissionregistration.k8s.io"
#define MAX_VERSIONS 8

/* One webhook to consider: its configuration's name and the hook (a ref). */
struct hook_list {
    json_t *items; /* [{"config": name, "hook": {...}}, ...] */
};

static void
collect_config(void *ud, struct wc_entry *e)
{
    struct hook_list *l = ud;
    _cleanup_json_ json_t *cfg = wc_entry_object(e);
    size_t i;
    json_t *hook;

    json_array_foreach(json_object_get(cfg, "webhooks"), i, hook)
    {
        json_array_append_new(l->items, json_pack("{s:s, s:O}", "config", e->name, "hook", hook));
    }
}

/* The webhooks of every configuration of plural, from its watch cache. */
static json_t *
hooks_of(struct api_server *srv, const char *plural)
{
    const struct api_resource *res = api_resource_find(GROUP, "v1", plural);
    struct watch_cache *wc = res ? api_cache_for(srv, res) : NULL;
    _cleanup_free_ char *prefix = NULL;
    struct hook_list l = {.items = json_array()};

    if (!wc)
        return l.items;
    prefix = api_list_prefix(res, NULL);
    watch_cache_foreach(wc, prefix, collect_config, &l);
    return l.items;
}

/* ---- one request's view ------------------------------------------------- */

struct admission_ctx {
    struct api_request *r;
    struct admission_attrs a;
    const char *versions[MAX_VERSIONS + 1];
    json_t *groups;  /* the user's groups */
    json_t *options; /* Create/Update/DeleteOptions */
};

/* The kind of a CONNECT's options object. */
static const char *
connect_kind(const char *subresource)
{
    if (strcmp(subresource, "exec") == 0)
        return "PodExecOptions";
    if (strcmp(subresource, "attach") == 0)
        return "PodAttachOptions";
    if (strcmp(subresource, "portforward") == 0)
        return "PodPortForwardOptions";
    return "PodProxyOptions";
}

static void
ctx_init(struct admission_ctx *c, struct api_request *r, enum admission_op op)
{
    static const char *const option_kinds[] = {"CreateOptions", "UpdateOptions", "DeleteOptions",
                                               NULL};
    const char *dry = api_query(r, "dryRun");
    size_t n = 0;

    memset(c, 0, sizeof(*c));
    c->r = r;
    for (const struct api_resource *x = api_resources; x->kind && n < MAX_VERSIONS; x++)
        if (strcmp(x->group, r->res->group) == 0 && strcmp(x->plural, r->res->plural) == 0)
            c->versions[n++] = x->version;
    c->a = (struct admission_attrs){
        .op = op,
        .group = r->res->group,
        .version = r->res->version,
        .resource = r->res->plural,
        .subresource = r->subresource ? r->subresource : "",
        .namespace = r->res->namespaced && r->namespace ? r->namespace : "",
        .served_versions = c->versions,
        .dry_run = dry && strcmp(dry, "All") == 0,
    };
    c->groups = json_array();
    for (int i = 0; i < r->user.n_groups; i++)
        json_array_append_new(c->groups, json_string(r->user.groups[i]));
    c->a.kind = r->res->kind;
    if (op == ADMISSION_CONNECT) {
        c->a.kind = connect_kind(c->a.subresource);
    } else if (strcmp(c->a.subresource, "scale") == 0) {
        c->a.kind = "Scale";
        c->a.kind_group = "autoscaling";
        c->a.kind_version = "v1";
    } else if (strcmp(c->a.subresource, "eviction") == 0) {
        c->a.kind = "Eviction";
        c->a.kind_group = "policy";
        c->a.kind_version = "v1";
    } else if (strcmp(c->a.subresource, "binding") == 0) {
        c->a.kind = "Binding";
    }
    if (option_kinds[op])
        c->options =
            json_pack("{s:s, s:s}", "kind", option_kinds[op], "apiVersion", "meta.k8s.io/v1");
    if (c->a.dry_run && c->options)
        json_object_set_new(c->options, "dryRun", json_pack("[s]", "All"));
}

static void
ctx_fini(struct admission_ctx *c)
{
    json_decref(c->groups);
    json_decref(c->options);
}

/* Upstream never sends requests on webhook configurations to webhooks. */
static bool
exempt(const struct api_request *r)
{
    return strcmp(r->res->group, GROUP) == 0 || r->res->not_stored;
}

/* namespaceSelector: a namespaced object's namespace labels (from the
 * namespaces cache), a Namespace's own labels; other cluster-scoped
 * objects always match. */
static bool
namespace_matches(struct admission_ctx *c, const json_t *hook, const json_t *obj, const json_t *old)
{
    const json_t *sel = json_object_get(hook, "namespaceSelector");
    const struct api_resource *ns_res;
    _cleanup_free_ char *key = NULL;
    struct wc_entry *e;
    json_t *labels;
    bool ok;

    if (!sel || json_object_size(sel) == 0)
        return true;
    if (strcmp(c->r->res->plural, "namespaces") == 0 && c->r->res->group[0] == '\0') {
        const json_t *o = obj ? obj : old;

        return admission_namespace_selector_matches(
            hook, json_object_get(json_object_get(o, "metadata"), "labels"));
    }
    if (!c->a.namespace[0])
        return true;
    ns_res = api_resource_find("", "v1", "namespaces");
    key = api_object_key(ns_res, NULL, c->a.namespace);
    e = watch_cache_get(api_cache_for(c->r->srv, ns_res), key);
    labels = e ? wc_entry_labels(e) : NULL;
    ok = admission_namespace_selector_matches(hook, labels);
    json_decref(labels);
    wc_entry_unref(e);
    return ok;
}

static bool
hook_matches(struct admission_ctx *c, const json_t *hook, const json_t *obj, const json_t *old)
{
    return admission_rules_match(hook, &c->a) && namespace_matches(c, hook, obj, old) &&
           admission_object_selector_matches(hook, obj, old);
}

/* A cached object (parsed), or NULL. */
static json_t *
cached_object(struct api_server *srv, const char *plural, const char *ns, const char *name)
{
    const struct api_resource *res = api_resource_find("", "v1", plural);
    _cleanup_free_ char *key = api_object_key(res, ns, name);
    struct wc_entry *e = watch_cache_get(api_cache_for(srv, res), key);
    json_t *obj = e ? wc_entry_object(e) : NULL;

    wc_entry_unref(e);
    return obj;
}

/* The name of the Service's port number port ("" when unnamed), or NULL
 * when the Service has no such port. */
static const char *
service_port_name(const json_t *svc, long port)
{
    size_t i;
    const json_t *p;

    json_array_foreach(api_json_path(svc, "spec.ports"), i, p)
    {
        if (json_integer_value(json_object_get(p, "port")) == port) {
            const char *n = json_string_value(json_object_get(p, "name"));

            return n ? n : "";
        }
    }
    return NULL;
}

/* A ready endpoint of the Service port named port_name: *ip and *port.
 * A random one among them, so calls spread over the webhook's pods. */
static bool
pick_endpoint(const json_t *eps, const char *port_name, const char **ip, long *port)
{
    const json_t *subset, *p, *addr;
    size_t i, j, n = 0;

    json_array_foreach(json_object_get(eps, "subsets"), i, subset)
    {
        long num = -1;

        json_array_foreach(json_object_get(subset, "ports"), j, p)
        {
            const char *pn = json_string_value(json_object_get(p, "name"));

            if (strcmp(pn ? pn : "", port_name) == 0 ||
                json_array_size(json_object_get(subset, "ports")) == 1)
                num = (long)json_integer_value(json_object_get(p, "port"));
        }
        if (num <= 0)
            continue;
        json_array_foreach(json_object_get(subset, "addresses"), j, addr)
        {
            /* reservoir sampling: each address is kept with chance 1/n */
            if (json_string_value(json_object_get(addr, "ip")) && rand() % (int)++n == 0) {
                *ip = json_string_value(json_object_get(addr, "ip"));
                *port = num;
            }
        }
    }
    return n > 0;
}

/* Where to send the review: a URL, or a ready endpoint of a Service. The
 * endpoint is resolved here (upstream's endpoint resolver) rather than
 * through the ClusterIP, so a call needs neither the service proxy on
 * this node nor a route to the Service range; TLS still checks the name
 * <service>.<namespace>.svc, as upstream. */
static int
target_for(struct admission_ctx *c, const json_t *hook, struct admission_target *t, char **ca_out,
           json_t **eps_out, struct k3c_err *err)
{
    const json_t *cc = json_object_get(hook, "clientConfig");
    const char *url = json_string_value(json_object_get(cc, "url"));
    const char *ca = json_string_value(json_object_get(cc, "caBundle"));
    const json_t *svc_ref = json_object_get(cc, "service");
    const json_t *t_s = json_object_get(hook, "timeoutSeconds");
    const char *name = json_string_value(json_object_get(svc_ref, "name"));
    const char *ns = json_string_value(json_object_get(svc_ref, "namespace"));
    const char *path = json_string_value(json_object_get(svc_ref, "path"));
    const json_t *jp = json_object_get(svc_ref, "port");
    long svc_port = json_is_integer(jp) ? (long)json_integer_value(jp) : 443, port = 0;
    _cleanup_json_ json_t *svc = NULL;
    const char *port_name, *ip = NULL;

    memset(t, 0, sizeof(*t));
    t->timeout_s = json_is_integer(t_s) ? (int)json_integer_value(t_s) : 10;
    if (t->timeout_s < 1 || t->timeout_s > 30)
        t->timeout_s = 10;
    if (ca && *ca) {
        *ca_out = k3c_base64_decode(ca, &t->ca_len);
        if (!*ca_out)
            return k3c_err_set(err, K3C_E_INVALID, "clientConfig.caBundle is not base64");
        t->ca_pem = *ca_out;
    }
    if (url)
        return admission_target_from_url(url, t, err);
    if (!name || !ns)
        return k3c_err_set(err, K3C_E_INVALID, "clientConfig has neither url nor service");
    svc = cached_object(c->r->srv, "services", ns, name);
    if (!svc)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "service \"%s/%s\" not found", ns, name);
    port_name = service_port_name(svc, svc_port);
    if (!port_name)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "service \"%s/%s\" has no port %ld", ns, name,
                           svc_port);
    *eps_out = cached_object(c->r->srv, "endpoints", ns, name);
    if (!pick_endpoint(*eps_out, port_name, &ip, &port))
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "no endpoints available for service \"%s/%s\"",
                           ns, name);
    snprintf(t->base, sizeof(t->base), "https://%s.%s.svc:%ld", name, ns, port);
    snprintf(t->path, sizeof(t->path), "%s", path && *path ? path : "/");
    snprintf(t->resolve, sizeof(t->resolve), "%s.%s.svc:%ld:%s", name, ns, port, ip);
    return 0;
}

/* Calls one webhook. 0 with *resp filled, or -1 with err (a call that
 * failed: the failurePolicy decides). */
static int
call_hook(struct admission_ctx *c, const json_t *hook, const json_t *obj, const json_t *old,
          struct admission_response *resp, struct k3c_err *err)
{
    _cleanup_free_ char *ca = NULL, *reply = NULL;
    _cleanup_json_ json_t *review = NULL, *eps = NULL;
    struct admission_target t;
    size_t reply_len = 0;
    char uid[37];
    int64_t t0 = k3c_now_ms();

    if (target_for(c, hook, &t, &ca, &eps, err) < 0)
        return -1;
    k3c_uuid_new(uid);
    review = admission_review_new(uid, &c->a, c->r->name, c->r->user.name, c->groups, obj, old,
                                  c->options);
    if (admission_call(&t, review, &reply, &reply_len, err) < 0)
        return -1;
    log_debug("webhook %s %s %s/%s: %lld ms", json_string_value(json_object_get(hook, "name")),
              admission_op_name(c->a.op), c->a.resource, c->r->name ? c->r->name : "",
              (long long)(k3c_now_ms() - t0));
    return admission_response_parse(reply, reply_len, uid, resp, err);
}

static const char *
hook_name(const json_t *hook)
{
    const char *n = json_string_value(json_object_get(hook, "name"));

    return n ? n : "";
}

static bool
fails_open(const json_t *hook)
{
    const char *p = json_string_value(json_object_get(hook, "failurePolicy"));

    return p && strcmp(p, "Ignore") == 0;
}

static void deny(struct admission_denial *d, unsigned code, const char *reason, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));

static void
deny(struct admission_denial *d, unsigned code, const char *reason, const char *fmt, ...)
{
    va_list ap;

    d->code = code;
    snprintf(d->reason, sizeof(d->reason), "%s", reason);
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof(d->message), fmt, ap);
    va_end(ap);
}

/* A failed call: -1 with *d under Fail, 0 (logged) under Ignore. */
static int
call_failed(const json_t *hook, const struct k3c_err *err, struct admission_denial *d)
{
    if (fails_open(hook)) {
        log_warn("failed calling webhook \"%s\", failing open: %s", hook_name(hook), err->msg);
        return 0;
    }
    log_warn("failed calling webhook \"%s\", failing closed: %s", hook_name(hook), err->msg);
    deny(d, 500, "InternalError", "Internal error occurred: failed calling webhook \"%s\": %s",
         hook_name(hook), err->msg);
    return -1;
}

/* upstream's webhookerrors.ToStatusErr. */
static void
denied(const json_t *hook, const struct admission_response *resp, struct admission_denial *d)
{
    const char *name = hook_name(hook);
    unsigned code = resp->code >= 400 ? resp->code : 400;

    if (resp->message[0])
        deny(d, code, resp->reason, "admission webhook \"%s\" denied the request: %s", name,
             resp->message);
    else if (resp->reason[0])
        deny(d, code, resp->reason, "admission webhook \"%s\" denied the request: %s", name,
             resp->reason);
    else
        deny(d, code, "", "admission webhook \"%s\" denied the request without explanation", name);
}

static void
pass_warnings(struct admission_ctx *c, const struct admission_response *resp)
{
    size_t i;
    const json_t *w;

    json_array_foreach(resp->warnings, i, w)
    {
        api_warn(c->r, "%s", json_string_value(w));
    }
}

/* Dry runs only go to webhooks without side effects (upstream refuses the
 * request otherwise). */
static int
check_dry_run(struct admission_ctx *c, const json_t *hook, struct admission_denial *d)
{
    const char *se = json_string_value(json_object_get(hook, "sideEffects"));

    if (!c->a.dry_run || (se && (strcmp(se, "None") == 0 || strcmp(se, "NoneOnDryRun") == 0)))
        return 0;
    deny(d, 400, "BadRequest", "admission webhook \"%s\" does not support dry run",
         hook_name(hook));
    return -1;
}

static int apply_answer(struct admission_ctx *c, const json_t *hook, bool mutating, json_t *obj,
                        int rc, struct admission_response *resp, struct k3c_err *err, bool *changed,
                        struct admission_denial *d);

/* Calls hook and applies its answer. *changed says whether obj changed.
 * 0 to go on, -1 with *d to refuse. */
static int
run_hook(struct admission_ctx *c, const json_t *hook, bool mutating, json_t *obj, const json_t *old,
         bool *changed, struct admission_denial *d)
{
    struct admission_response resp = {0};
    struct k3c_err err = {0};

    *changed = false;
    if (check_dry_run(c, hook, d) < 0)
        return -1;
    return apply_answer(c, hook, mutating, obj, call_hook(c, hook, obj, old, &resp, &err), &resp,
                        &err, changed, d);
}

/* What a call (rc, *resp or *err) means for the request: warnings passed
 * on, a denial or failed call judged, a patch applied to obj. Consumes
 * *resp. 0 to go on, -1 with *d. */
static int
apply_answer(struct admission_ctx *c, const json_t *hook, bool mutating, json_t *obj, int rc,
             struct admission_response *respp, struct k3c_err *errp, bool *changed,
             struct admission_denial *d)
{
    struct admission_response resp = *respp;
    struct k3c_err err = *errp;
    json_t *patched;

    *changed = false;
    if (rc < 0)
        return call_failed(hook, &err, d);
    pass_warnings(c, &resp);
    if (!resp.allowed) {
        denied(hook, &resp, d);
        admission_response_fini(&resp);
        return -1;
    }
    if (resp.patch && !mutating) {
        admission_response_fini(&resp);
        k3c_err_set(&err, K3C_E_INVALID, "a validating webhook may not return a patch");
        return call_failed(hook, &err, d);
    }
    if (!resp.patch || !obj) { /* a DELETE has no object to patch */
        admission_response_fini(&resp);
        return 0;
    }
    patched = api_json_patch(obj, resp.patch, &err);
    admission_response_fini(&resp);
    if (!patched || !json_is_object(patched)) {
        json_decref(patched);
        deny(d, 500, "InternalError",
             "Internal error occurred: admission webhook \"%s\" returned a patch that does not "
             "apply: %s",
             hook_name(hook), err.msg[0] ? err.msg : "not an object");
        return -1;
    }
    if (!json_equal(api_json_path(patched, "metadata.name"), api_json_path(obj, "metadata.name")) ||
        !json_equal(api_json_path(patched, "metadata.namespace"),
                    api_json_path(obj, "metadata.namespace"))) {
        json_decref(patched);
        deny(d, 500, "InternalError",
             "Internal error occurred: admission webhook \"%s\" may not change the object's name "
             "or namespace",
             hook_name(hook));
        return -1;
    }
    *changed = !json_equal(patched, obj);
    if (*changed) {
        json_object_clear(obj);
        json_object_update(obj, patched);
    }
    json_decref(patched);
    return 0;
}

static bool
reinvoke_if_needed(const json_t *hook)
{
    const char *p = json_string_value(json_object_get(hook, "reinvocationPolicy"));

    return p && strcmp(p, "IfNeeded") == 0;
}

int
admission_mutate(struct api_request *r, enum admission_op op, json_t *obj, const json_t *old,
                 struct admission_denial *d)
{
    _cleanup_json_ json_t *hooks = NULL;
    struct admission_ctx c;
    size_t n, last_change = 0, i;
    bool *called, changed, any_change = false;
    int rc = 0;

    if (exempt(r))
        return 0;
    hooks = hooks_of(r->srv, "mutatingwebhookconfigurations");
    n = json_array_size(hooks);
    if (n == 0)
        return 0;
    ctx_init(&c, r, op);
    called = k3c_xcalloc(n, sizeof(*called));
    for (i = 0; i < n && rc == 0; i++) {
        const json_t *hook = json_object_get(json_array_get(hooks, i), "hook");

        if (!hook_matches(&c, hook, obj, old))
            continue;
        called[i] = true;
        rc = run_hook(&c, hook, true, obj, old, &changed, d);
        if (changed) {
            last_change = i;
            any_change = true;
        }
    }
    /* IfNeeded: a webhook called before a later one changed the object
     * sees the result once more (at most once; later changes do not
     * trigger another round). */
    for (i = 0; any_change && i < last_change && rc == 0; i++) {
        const json_t *hook = json_object_get(json_array_get(hooks, i), "hook");

        if (called[i] && reinvoke_if_needed(hook) && hook_matches(&c, hook, obj, old))
            rc = run_hook(&c, hook, true, obj, old, &changed, d);
    }
    free(called);
    ctx_fini(&c);
    return rc < 0 ? rc : any_change;
}

/* One validating webhook's call, run on its own thread. */
struct validate_call {
    struct admission_ctx *c;
    const json_t *hook;
    const json_t *obj, *old;
    struct admission_response resp;
    struct k3c_err err;
    int rc;
    pthread_t thread;
    bool threaded;
};

static void *
validate_call_run(void *arg)
{
    struct validate_call *v = arg;

    v->rc = call_hook(v->c, v->hook, v->obj, v->old, &v->resp, &v->err);
    return NULL;
}

/* The calls run in parallel, as upstream's; their answers are then read
 * in the webhooks' order, so the first denial (and its message) does not
 * depend on which webhook answered first. */
static int
validate_parallel(struct admission_ctx *c, struct validate_call *calls, size_t n,
                  struct admission_denial *d)
{
    bool changed;
    size_t i;
    int rc = 0;

    for (i = 0; i < n; i++)
        if (check_dry_run(c, calls[i].hook, d) < 0)
            return -1;
    for (i = 1; i < n; i++)
        calls[i].threaded =
            pthread_create(&calls[i].thread, NULL, validate_call_run, &calls[i]) == 0;
    validate_call_run(&calls[0]);
    for (i = 1; i < n; i++) {
        if (calls[i].threaded)
            pthread_join(calls[i].thread, NULL);
        else
            validate_call_run(&calls[i]);
    }
    for (i = 0; i < n; i++) {
        if (rc < 0) { /* already refused: only release the rest */
            if (calls[i].rc == 0)
                admission_response_fini(&calls[i].resp);
            continue;
        }
        rc = apply_answer(c, calls[i].hook, false, NULL, calls[i].rc, &calls[i].resp, &calls[i].err,
                          &changed, d);
    }
    return rc;
}

int
admission_validate(struct api_request *r, enum admission_op op, const json_t *obj,
                   const json_t *old, struct admission_denial *d)
{
    _cleanup_json_ json_t *hooks = NULL;
    struct validate_call *calls;
    struct admission_ctx c;
    size_t i, n = 0;
    json_t *item;
    int rc = 0;

    if (exempt(r))
        return 0;
    hooks = hooks_of(r->srv, "validatingwebhookconfigurations");
    if (json_array_size(hooks) == 0)
        return 0;
    ctx_init(&c, r, op);
    calls = k3c_xcalloc(json_array_size(hooks), sizeof(*calls));
    json_array_foreach(hooks, i, item)
    {
        const json_t *hook = json_object_get(item, "hook");

        if (hook_matches(&c, hook, obj, old))
            calls[n++] = (struct validate_call){.c = &c, .hook = hook, .obj = obj, .old = old};
    }
    if (n > 0)
        rc = validate_parallel(&c, calls, n, d);
    free(calls);
    ctx_fini(&c);
    return rc;
}
