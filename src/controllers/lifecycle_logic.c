/* SPDX-License-Identifier: Apache-2.0
 * lifecycle_logic.c - pure decisions of the lifecycle controllers
 * (lifecycle.h): taints and eviction times, node conditions, pod CIDR
 * arithmetic, EndpointSlice/Endpoints contents, finalizer and
 * ownerReference lists. */
#include "controllers/lifecycle.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-internal.h"
#include "base/util.h"

static const char *
str_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static bool
str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* ---- node lifecycle ------------------------------------------------------ */

bool
lc_tolerates(const json_t *tol, const json_t *taint)
{
    const char *effect = str_of(tol, "effect");
    const char *key = str_of(tol, "key");
    const char *op = str_of(tol, "operator");

    if (effect && *effect && !str_eq(effect, str_of(taint, "effect")))
        return false;
    if (key && *key && !str_eq(key, str_of(taint, "key")))
        return false;
    if (op && strcmp(op, "Exists") == 0)
        return true;
    if (op && *op && strcmp(op, "Equal") != 0)
        return false;
    return str_eq(str_of(tol, "value"), str_of(taint, "value"));
}

static bool
taint_is(const json_t *t, const char *key, const char *effect)
{
    return str_eq(str_of(t, "key"), key) && str_eq(str_of(t, "effect"), effect);
}

static bool
taint_is_ours(const json_t *t)
{
    return str_eq(str_of(t, "key"), LC_TAINT_NOT_READY) ||
           str_eq(str_of(t, "key"), LC_TAINT_UNREACHABLE);
}

static const json_t *
find_taint(const json_t *taints, const char *key, const char *effect)
{
    size_t i;
    json_t *t;

    json_array_foreach(taints, i, t)
    {
        if (taint_is(t, key, effect))
            return t;
    }
    return NULL;
}

json_t *
lc_node_taints_want(const json_t *taints, const char *ready_status, const char *now)
{
    static const char *const effects[] = {"NoSchedule", "NoExecute"};
    const char *want = NULL;
    json_t *out = json_array();
    bool changed = false;
    size_t i;
    json_t *t;

    if (str_eq(ready_status, "False"))
        want = LC_TAINT_NOT_READY;
    else if (str_eq(ready_status, "Unknown"))
        want = LC_TAINT_UNREACHABLE;
    json_array_foreach(taints, i, t)
    {
        if (!taint_is_ours(t) || (want && str_eq(str_of(t, "key"), want)))
            json_array_append(out, t);
        else
            changed = true;
    }
    for (size_t e = 0; want && e < 2; e++) {
        if (find_taint(taints, want, effects[e]))
            continue;
        json_array_append_new(
            out, json_pack("{s:s, s:s, s:s}", "key", want, "effect", effects[e], "timeAdded", now));
        changed = true;
    }
    if (!changed) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *
find_condition(const json_t *status, const char *type)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        if (str_eq(str_of(c, "type"), type))
            return c;
    }
    return NULL;
}

bool
lc_node_mark_unknown(json_t *status, const char *now)
{
    static const char *const types[] = {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"};
    json_t *conds = json_object_get(status, "conditions");
    bool changed = false;

    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(status, "conditions", conds);
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(types); i++) {
        json_t *c = find_condition(status, types[i]);

        if (!c) {
            json_array_append_new(conds,
                                  json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", types[i],
                                            "status", "Unknown", "reason", "NodeStatusNeverUpdated",
                                            "message", "Kubelet never posted node status.",
                                            "lastHeartbeatTime", now, "lastTransitionTime", now));
            changed = true;
            continue;
        }
        if (str_eq(str_of(c, "status"), "Unknown"))
            continue;
        json_object_set_new(c, "status", json_string("Unknown"));
        json_object_set_new(c, "reason", json_string("NodeStatusUnknown"));
        json_object_set_new(c, "message", json_string("Kubelet stopped posting node status."));
        json_object_set_new(c, "lastTransitionTime", json_string(now));
        changed = true;
    }
    return changed;
}

const char *
lc_node_heartbeat(const json_t *node, const json_t *lease)
{
    const char *renew = str_of(json_object_get(lease, "spec"), "renewTime");
    const json_t *ready = find_condition(json_object_get(node, "status"), "Ready");

    if (renew && *renew)
        return renew;
    if (str_of(ready, "lastHeartbeatTime"))
        return str_of(ready, "lastHeartbeatTime");
    return str_of(json_object_get(node, "metadata"), "creationTimestamp");
}

int64_t
lc_eviction_time_ms(const json_t *pod, const json_t *taints)
{
    const json_t *tols = json_object_get(json_object_get(pod, "spec"), "tolerations");
    int64_t at = -1;
    size_t i, j;
    json_t *t, *tol;

    json_array_foreach(taints, i, t)
    {
        int64_t added_s, secs = -1;
        bool tolerated = false;

        if (!str_eq(str_of(t, "effect"), "NoExecute"))
            continue;
        json_array_foreach(tols, j, tol)
        {
            json_t *ts = json_object_get(tol, "tolerationSeconds");

            if (!lc_tolerates(tol, t))
                continue;
            if (!json_is_integer(ts)) {
                tolerated = true; /* forever, unless a shorter one applies */
                continue;
            }
            tolerated = true;
            if (secs < 0 || json_integer_value(ts) < secs)
                secs = json_integer_value(ts) < 0 ? 0 : json_integer_value(ts);
        }
        if (!tolerated)
            return 0;
        if (secs < 0)
            continue;
        added_s = k3c_time_parse_rfc3339(str_of(t, "timeAdded"));
        if (added_s < 0)
            added_s = k3c_wall_ms() / 1000;
        if (at < 0 || (added_s + secs) * 1000 < at)
            at = (added_s + secs) * 1000;
    }
    return at;
}

/* ---- pod CIDRs ----------------------------------------------------------- */

int
lc_cidr_parse(const char *cidr, int mask, struct lc_cidr *out)
{
    char addr[64];
    struct in_addr a;
    int prefix = -1;
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    char *end = NULL;

    if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
        return -1;
    memcpy(addr, cidr, slash - cidr);
    addr[slash - cidr] = '\0';
    prefix = (int)strtol(slash + 1, &end, 10);
    if (!end || *end || slash[1] == '\0' || inet_pton(AF_INET, addr, &a) != 1)
        return -1;
    if (prefix < 1 || prefix > 30 || mask < prefix || mask > 30 || mask - prefix > 16)
        return -1;
    out->prefix = prefix;
    out->mask = mask;
    out->base = ntohl(a.s_addr) & (0xffffffffu << (32 - prefix));
    return 0;
}

size_t
lc_cidr_count(const struct lc_cidr *c)
{
    return (size_t)1 << (c->mask - c->prefix);
}

long
lc_cidr_index(const struct lc_cidr *c, const char *node_cidr)
{
    struct lc_cidr n;
    uint32_t off;

    if (lc_cidr_parse(node_cidr, 30, &n) < 0 && lc_cidr_parse(node_cidr, c->mask, &n) < 0)
        return -1;
    if (n.prefix != c->mask)
        return -1;
    if ((n.base & (0xffffffffu << (32 - c->prefix))) != c->base)
        return -1;
    off = (n.base - c->base) >> (32 - c->mask);
    return (long)off;
}

void
lc_cidr_format(const struct lc_cidr *c, size_t index, char *buf, size_t len)
{
    uint32_t a = c->base + ((uint32_t)index << (32 - c->mask));

    snprintf(buf, len, "%u.%u.%u.%u/%d", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
             c->mask);
}

/* ---- endpoints ----------------------------------------------------------- */

static bool
pod_ready(const json_t *pod)
{
    const json_t *c = find_condition(json_object_get(pod, "status"), "Ready");

    return c && str_eq(str_of(c, "status"), "True");
}

/* The container port of pod named name with protocol proto, or 0. */
static json_int_t
named_port(const json_t *pod, const char *name, const char *proto)
{
    size_t i, j;
    json_t *c, *p;

    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i, c)
    {
        json_array_foreach(json_object_get(c, "ports"), j, p)
        {
            const char *pp = str_of(p, "protocol");

            if (str_eq(str_of(p, "name"), name) && str_eq(pp ? pp : "TCP", proto))
                return json_integer_value(json_object_get(p, "containerPort"));
        }
    }
    return 0;
}

/* The pod's ports for the Service's ports. */
static json_t *
pod_ports(const json_t *svc, const json_t *pod)
{
    json_t *out = json_array();
    size_t i;
    json_t *sp;

    json_array_foreach(json_object_get(json_object_get(svc, "spec"), "ports"), i, sp)
    {
        const json_t *tp = json_object_get(sp, "targetPort");
        const char *proto = str_of(sp, "protocol") ? str_of(sp, "protocol") : "TCP";
        json_int_t port = json_integer_value(json_object_get(sp, "port"));
        json_t *ep;

        if (json_is_integer(tp))
            port = json_integer_value(tp);
        else if (json_is_string(tp) && json_string_length(tp) > 0)
            port = named_port(pod, json_string_value(tp), proto);
        if (port <= 0)
            continue;
        ep = json_pack("{s:s, s:I, s:s}", "name", str_of(sp, "name") ? str_of(sp, "name") : "",
                       "port", port, "protocol", proto);
        if (json_object_get(sp, "appProtocol"))
            json_object_set(ep, "appProtocol", json_object_get(sp, "appProtocol"));
        json_array_append_new(out, ep);
    }
    return out;
}

static json_t *
pod_endpoint(const json_t *svc, const json_t *pod, bool publish_not_ready)
{
    const json_t *meta = json_object_get(pod, "metadata");
    const char *ip = str_of(json_object_get(pod, "status"), "podIP");
    const char *node = str_of(json_object_get(pod, "spec"), "nodeName");
    bool terminating = json_object_get(meta, "deletionTimestamp") != NULL;
    bool ready = pod_ready(pod);
    json_t *ep;

    ep = json_pack("{s:[s], s:{s:b, s:b, s:b}, s:{s:s, s:s, s:s, s:s}}", "addresses", ip,
                   "conditions", "ready", publish_not_ready || (ready && !terminating), "serving",
                   publish_not_ready || ready, "terminating", terminating, "targetRef", "kind",
                   "Pod", "namespace", str_of(meta, "namespace") ? str_of(meta, "namespace") : "",
                   "name", str_of(meta, "name") ? str_of(meta, "name") : "", "uid",
                   str_of(meta, "uid") ? str_of(meta, "uid") : "");
    if (node && *node)
        json_object_set_new(ep, "nodeName", json_string(node));
    /* Upstream's ShouldSetHostname: the pod's hostname names its endpoint
     * (the DNS record <hostname>.<svc>.<ns>.svc) when its subdomain is the
     * Service of the same namespace. */
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *smeta = json_object_get(svc, "metadata");
    const char *hostname = str_of(spec, "hostname"), *subdomain = str_of(spec, "subdomain");
    if (hostname && *hostname && str_eq(subdomain, str_of(smeta, "name")) &&
        str_eq(str_of(meta, "namespace"), str_of(smeta, "namespace")))
        json_object_set_new(ep, "hostname", json_string(hostname));
    return ep;
}

static bool
pod_has_endpoint(const json_t *pod)
{
    const char *phase = str_of(json_object_get(pod, "status"), "phase");
    const char *ip = str_of(json_object_get(pod, "status"), "podIP");

    return ip && *ip && !str_eq(phase, "Succeeded") && !str_eq(phase, "Failed");
}

static int
by_pod_name(const void *a, const void *b)
{
    const json_t *pa = *(const json_t *const *)a, *pb = *(const json_t *const *)b;
    const char *na = str_of(json_object_get(pa, "metadata"), "name");
    const char *nb = str_of(json_object_get(pb, "metadata"), "name");

    return strcmp(na ? na : "", nb ? nb : "");
}

/* The group of out whose ports equal ports (created when missing). */
static json_t *
group_for(json_t *groups, json_t *ports)
{
    size_t i;
    json_t *g;

    json_array_foreach(groups, i, g)
    {
        if (json_equal(json_object_get(g, "ports"), ports))
            return g;
    }
    g = json_pack("{s:O, s:[]}", "ports", ports, "endpoints");
    json_array_append_new(groups, g);
    return g;
}

json_t *
lc_endpoint_groups(const json_t *svc, const json_t *pods)
{
    bool publish =
        json_is_true(json_object_get(json_object_get(svc, "spec"), "publishNotReadyAddresses"));
    size_t n = json_array_size(pods);
    const json_t **sorted = k3c_xcalloc(n ? n : 1, sizeof(*sorted));
    json_t *groups = json_array();

    for (size_t i = 0; i < n; i++)
        sorted[i] = json_array_get(pods, i);
    qsort(sorted, n, sizeof(*sorted), by_pod_name);
    for (size_t i = 0; i < n; i++) {
        json_t *ports, *g;

        if (!pod_has_endpoint(sorted[i]))
            continue;
        ports = pod_ports(svc, sorted[i]);
        g = group_for(groups, ports);
        json_array_append_new(json_object_get(g, "endpoints"),
                              pod_endpoint(svc, sorted[i], publish));
        json_decref(ports);
    }
    free(sorted);
    return groups;
}

static json_t *
endpoint_address(const json_t *ep)
{
    json_t *a = json_pack("{s:O, s:O}", "ip", json_array_get(json_object_get(ep, "addresses"), 0),
                          "targetRef", json_object_get(ep, "targetRef"));

    if (json_object_get(ep, "nodeName"))
        json_object_set(a, "nodeName", json_object_get(ep, "nodeName"));
    if (json_object_get(ep, "hostname"))
        json_object_set(a, "hostname", json_object_get(ep, "hostname"));
    return a;
}

static json_t *
legacy_ports(const json_t *ports)
{
    json_t *out = json_array();
    size_t i;
    json_t *p;

    json_array_foreach(ports, i, p)
    {
        json_t *q = json_deep_copy(p);

        if (str_eq(str_of(q, "name"), ""))
            json_object_del(q, "name");
        json_array_append_new(out, q);
    }
    return out;
}

json_t *
lc_endpoints_subsets(const json_t *groups)
{
    json_t *subsets = json_array();
    size_t i, j;
    json_t *g, *ep;

    json_array_foreach(groups, i, g)
    {
        json_t *ready = json_array(), *not_ready = json_array();
        json_t *s;

        json_array_foreach(json_object_get(g, "endpoints"), j, ep)
        {
            const json_t *c = json_object_get(ep, "conditions");

            if (json_is_true(json_object_get(c, "ready")))
                json_array_append_new(ready, endpoint_address(ep));
            else if (!json_is_true(json_object_get(c, "terminating")))
                json_array_append_new(not_ready, endpoint_address(ep));
        }
        if (json_array_size(ready) + json_array_size(not_ready) == 0 ||
            json_array_size(json_object_get(g, "ports")) == 0) {
            json_decref(ready);
            json_decref(not_ready);
            continue;
        }
        s = json_pack("{s:o}", "ports", legacy_ports(json_object_get(g, "ports")));
        if (json_array_size(ready))
            json_object_set(s, "addresses", ready);
        if (json_array_size(not_ready))
            json_object_set(s, "notReadyAddresses", not_ready);
        json_decref(ready);
        json_decref(not_ready);
        json_array_append_new(subsets, s);
    }
    return subsets;
}

/* ---- garbage collection -------------------------------------------------- */

const struct api_resource *
lc_resource_for_kind(const char *api_version, const char *kind)
{
    char group[128] = "";
    const char *version = api_version;
    const char *slash = api_version ? strchr(api_version, '/') : NULL;

    if (!api_version || !kind)
        return NULL;
    if (slash) {
        snprintf(group, sizeof(group), "%.*s", (int)(slash - api_version), api_version);
        version = slash + 1;
    }
    for (const struct api_resource *r = api_resource_next(NULL); r; r = api_resource_next(r)) {
        if (strcmp(r->kind, kind) == 0 && strcmp(r->group, group) == 0 &&
            strcmp(r->version, version) == 0)
            return r;
    }
    return NULL;
}

bool
lc_has_finalizer(const json_t *obj, const char *name)
{
    size_t i;
    json_t *f;

    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"), i, f)
    {
        if (str_eq(json_string_value(f), name))
            return true;
    }
    return false;
}

json_t *
lc_finalizers_without(const json_t *obj, const char *name)
{
    json_t *out = json_array();
    size_t i;
    json_t *f;

    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"), i, f)
    {
        if (!str_eq(json_string_value(f), name))
            json_array_append(out, f);
    }
    return out;
}

json_t *
lc_owner_refs_without(const json_t *obj, const char *uid)
{
    json_t *out = json_array();
    size_t i;
    json_t *r;

    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), i, r)
    {
        if (!str_eq(str_of(r, "uid"), uid))
            json_array_append(out, r);
    }
    return out;
}

char *
lc_object_path(const struct api_resource *r, const char *ns, const char *name)
{
    return k3c_xasprintf(
        "%s%s%s%s%s%s/%s%s%s", r->group[0] ? "/apis/" : "/api", r->group, r->group[0] ? "/" : "/",
        r->version, r->namespaced && ns && *ns ? "/namespaces/" : "",
        r->namespaced && ns && *ns ? ns : "", r->plural, name ? "/" : "", name ? name : "");
}
