/* SPDX-License-Identifier: Apache-2.0
 * netpol_rules.c - NetworkPolicy -> nftables, pure. A pod of this node that
 * a policy of a direction selects gets one chain for that direction
 * ("ing-<ip>", "egr-<ip>"): one rule per (peer, port) pair of every rule of
 * every policy selecting it, each ending in "return" (allowed), then a
 * reject. The forward chain jumps to them through two verdict maps keyed by
 * the pod's IP. Everything written into the script is checked first (IPs
 * and CIDRs parsed and printed back, ports as numbers, protocols from a
 * list), so no API string reaches nft as text. */
#include "net/netpol.h"

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/labels.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
str_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);

    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

/* ---- pods ----------------------------------------------------------------- */

/* The pod's IPv4 address as nft will read it, or false: no IP yet, host
 * network (its address is the node's), or finished. */
static bool
pod_ip(const json_t *pod, char out[INET_ADDRSTRLEN])
{
    const char *ip = str_at(pod, "status", "podIP"), *phase = str_at(pod, "status", "phase");
    struct in_addr a;

    if (json_is_true(json_object_get(json_object_get(pod, "spec"), "hostNetwork")))
        return false;
    if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
        return false;
    if (!ip || inet_pton(AF_INET, ip, &a) != 1)
        return false;
    return inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN) != NULL;
}

json_t *
netpol_relevant(const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec");
    json_t *out, *ports = json_array(), *c;
    char ip[INET_ADDRSTRLEN];
    size_t i;

    if (!obj) {
        json_decref(ports);
        return json_null();
    }
    json_array_foreach(json_object_get(spec, "containers"), i, c)
        json_array_append(ports, json_object_get(c, "ports") ?: json_null());
    out = json_pack("{s:O?, s:O?, s:O?, s:s?, s:O?, s:O?, s:o}", "namespace",
                    json_object_get(md, "namespace"), "name", json_object_get(md, "name"), "labels",
                    json_object_get(md, "labels"), "ip", pod_ip(obj, ip) ? ip : NULL, "nodeName",
                    json_object_get(spec, "nodeName"), "hostNetwork",
                    json_object_get(spec, "hostNetwork"), "ports", ports);
    return out;
}

/* True when the JSON array values holds the string v. */
static bool
value_in(const json_t *values, const char *v)
{
    size_t i = 0;
    const json_t *x = NULL;

    json_array_foreach(values, i, x)
    {
        if (v && json_string_value(x) && strcmp(json_string_value(x), v) == 0)
            return true;
    }
    return false;
}

static const json_t *
pod_labels(const json_t *pod)
{
    return json_object_get(json_object_get(pod, "metadata"), "labels");
}

static bool
has_type(const json_t *policy, const char *direction)
{
    return value_in(json_object_get(json_object_get(policy, "spec"), "policyTypes"), direction);
}

json_t *
netpol_selecting(const json_t *policies, const json_t *pod, const char *direction)
{
    json_t *out = json_array();
    const char *ns = str_at(pod, "metadata", "namespace");
    size_t i = 0;
    const json_t *p = NULL;

    json_array_foreach(policies, i, p)
    {
        const char *pns = str_at(p, "metadata", "namespace");
        const json_t *sel = json_object_get(json_object_get(p, "spec"), "podSelector");

        if (!ns || !pns || strcmp(ns, pns) != 0 || !has_type(p, direction))
            continue;
        /* an absent podSelector is the empty one: every pod of the namespace */
        if (!sel || k3c_label_selector_matches(sel, pod_labels(pod)))
            json_array_append(out, (json_t *)p);
    }
    return out;
}

/* ---- peers ---------------------------------------------------------------- */

/* Namespace name -> its labels (borrowed), looked up once per pod peer. */
static json_t *
namespace_index(const json_t *namespaces)
{
    json_t *ix = json_object();
    size_t i = 0;
    const json_t *n = NULL;

    json_array_foreach(namespaces, i, n)
    {
        const char *name = str_at(n, "metadata", "name");
        json_t *labels = json_object_get(json_object_get(n, "metadata"), "labels");

        if (name)
            json_object_set(ix, name, labels ? labels : json_null());
    }
    return ix;
}

static const json_t *
namespace_labels(const json_t *index, const char *name)
{
    return json_object_get(index, name);
}

/* What a node's computation shares between its pods: the namespaces by
 * name, and the lines of each rule that do not depend on the target pod
 * (all but ingress named ports), keyed by policy, direction and rule. */
struct netpol_ctx {
    const json_t *pods;
    json_t *by_ns;       /* namespace -> its pods that can be peers */
    json_t *namespaces;  /* name -> labels */
    json_t *model_cache; /* "<policy ptr>/<I|E>/<rule index>[/<port>]" -> entries */
    json_t *rule_cache;  /* the same key -> the entries as nft rule bodies */
    json_t *sets;        /* elements "a, b, ..." -> the named set holding them */
};

/* Pod sets larger than this become named sets, each declared once in the
 * table and shared by every chain that uses it (a namespaceSelector
 * peer can name thousands of pods); smaller ones stay inline. */
#define NETPOL_INLINE_SET_MAX 8

/* The pods a podSelector/namespaceSelector peer names (borrowed), in the
 * policy's namespace unless a namespaceSelector picks namespaces. */
/* Namespace -> its pods that can be peers (an IP, not host network, not
 * finished), so a peer without a namespaceSelector looks at one namespace
 * and one with it tests each namespace once. */
static json_t *
pods_by_namespace(const json_t *pods)
{
    json_t *ix = json_object();
    size_t i = 0;
    const json_t *pod = NULL;

    json_array_foreach(pods, i, pod)
    {
        const char *ns = str_at(pod, "metadata", "namespace");
        char ip[INET_ADDRSTRLEN];
        json_t *list;

        if (!ns || !pod_ip(pod, ip))
            continue;
        list = json_object_get(ix, ns);
        if (!list) {
            list = json_array();
            json_object_set_new(ix, ns, list);
        }
        json_array_append(list, (json_t *)pod);
    }
    return ix;
}

static void
append_matching(json_t *out, const json_t *pods, const json_t *psel)
{
    size_t i = 0;
    const json_t *pod = NULL;

    json_array_foreach(pods, i, pod)
    {
        if (!json_is_object(psel) || k3c_label_selector_matches(psel, pod_labels(pod)))
            json_array_append(out, (json_t *)pod);
    }
}

/* The pods a podSelector/namespaceSelector peer names (borrowed), in the
 * policy's namespace unless a namespaceSelector picks namespaces. */
static json_t *
peer_pods(const json_t *peer, const char *policy_ns, const json_t *by_ns, const json_t *namespaces)
{
    const json_t *psel = json_object_get(peer, "podSelector");
    const json_t *nsel = json_object_get(peer, "namespaceSelector");
    json_t *out = json_array();
    const char *ns = NULL;
    json_t *pods = NULL;

    if (!json_is_object(nsel)) {
        append_matching(out, json_object_get(by_ns, policy_ns), psel);
        return out;
    }
    json_object_foreach((json_t *)by_ns, ns, pods)
    {
        if (k3c_label_selector_matches(nsel, namespace_labels(namespaces, ns)))
            append_matching(out, pods, psel);
    }
    return out;
}

/* "a.b.c.d/n" (IPv4 only: the table is "ip") printed as its network. */
static bool
cidr_text(const char *s, char *out, size_t len)
{
    char ip[INET_ADDRSTRLEN];
    const char *slash = s ? strchr(s, '/') : NULL;
    struct in_addr a;
    char *end = NULL;
    long n;

    if (!slash || (size_t)(slash - s) >= sizeof(ip) || slash[1] < '0' || slash[1] > '9')
        return false;
    snprintf(ip, sizeof(ip), "%.*s", (int)(slash - s), s);
    n = strtol(slash + 1, &end, 10);
    if (*end || n < 0 || n > 32 || inet_pton(AF_INET, ip, &a) != 1)
        return false;
    a.s_addr &= n == 0 ? 0 : htonl(~0u << (32 - n));
    inet_ntop(AF_INET, &a, ip, sizeof(ip));
    snprintf(out, len, "%s/%ld", ip, n);
    return true;
}

/* A peer, as the fields of the model entries it yields (netpol.h): {} for
 * anyone, {"ips"} for a selector, {"cidr", "except"} for an ipBlock; for
 * selector peers also its pods (for egress named ports). */
struct peer {
    json_t *match;
    json_t *pods;
};

static void
peers_fini(struct peer *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(p[i].match);
        json_decref(p[i].pods);
    }
    free(p);
}

/* The pods' IPv4 addresses as strings; NULL when none has one. */
static json_t *
pod_ips(const json_t *pods)
{
    json_t *out = json_array();
    size_t i = 0;
    const json_t *pod = NULL;

    json_array_foreach(pods, i, pod)
    {
        char ip[INET_ADDRSTRLEN];

        if (pod_ip(pod, ip))
            json_array_append_new(out, json_string(ip));
    }
    if (json_array_size(out) == 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* "ip saddr { a, b }" (or "@sN", a shared named set) for the IPs. */
static char *
ip_set_match(struct netpol_ctx *cx, const char *field, const json_t *ips)
{
    struct k3c_buf b;
    size_t i = 0;
    const json_t *ip = NULL;
    char *m;

    k3c_buf_init(&b);
    json_array_foreach(ips, i, ip)
        k3c_buf_appendf(&b, "%s%s", i ? ", " : "", json_string_value(ip));
    if (json_array_size(ips) > NETPOL_INLINE_SET_MAX) {
        json_t *name = json_object_get(cx->sets, b.data);

        if (!name) {
            _cleanup_free_ char *fresh = k3c_xasprintf("s%zu", json_object_size(cx->sets));

            name = json_string(fresh);
            json_object_set_new(cx->sets, b.data, name);
        }
        m = k3c_xasprintf("ip %s @%s", field, json_string_value(name));
    } else {
        m = k3c_xasprintf("ip %s { %s }", field, b.data);
    }
    k3c_buf_fini(&b);
    return m;
}

/* {"cidr", "except"?} of an ipBlock, or NULL (IPv6 or bad: not policed
 * here, the table is IPv4). */
static json_t *
ip_block_peer(const json_t *block)
{
    char cidr[64], ex[64];
    json_t *out, *excepts = json_array();
    size_t i = 0;
    const json_t *e = NULL;

    if (!cidr_text(str_at(block, "cidr", NULL), cidr, sizeof(cidr))) {
        json_decref(excepts);
        return NULL;
    }
    out = json_pack("{s:s}", "cidr", cidr);
    json_array_foreach(json_object_get(block, "except"), i, e)
    {
        if (cidr_text(json_string_value(e), ex, sizeof(ex)))
            json_array_append_new(excepts, json_string(ex));
    }
    if (json_array_size(excepts))
        json_object_set_new(out, "except", excepts);
    else
        json_decref(excepts);
    return out;
}

/* The peers of one rule; *n out. NULL peers list: one "anyone" peer. */
static struct peer *
rule_peers(struct netpol_ctx *cx, const json_t *list, const char *policy_ns, size_t *n)
{
    struct peer *out = k3c_xcalloc(json_array_size(list) + 1, sizeof(*out));
    size_t i = 0;
    const json_t *peer = NULL;

    *n = 0;
    if (json_array_size(list) == 0) {
        out[(*n)++] = (struct peer){.match = json_object()};
        return out;
    }
    json_array_foreach(list, i, peer)
    {
        const json_t *block = json_object_get(peer, "ipBlock");
        json_t *matched, *ips, *m;

        if (json_is_object(block)) {
            m = ip_block_peer(block);
            if (m)
                out[(*n)++] = (struct peer){.match = m};
            continue;
        }
        matched = peer_pods(peer, policy_ns, cx->by_ns, cx->namespaces);
        ips = pod_ips(matched);
        if (ips)
            out[(*n)++] = (struct peer){.match = json_pack("{s:o}", "ips", ips), .pods = matched};
        else
            json_decref(matched);
    }
    return out;
}

/* ---- ports ---------------------------------------------------------------- */

/* "tcp", "udp", "sctp" for the policy's protocol (default TCP), or NULL. */
static const char *
l4proto(const json_t *port)
{
    const char *p = str_at(port, "protocol", NULL);

    if (!p || strcmp(p, "TCP") == 0)
        return "tcp";
    if (strcmp(p, "UDP") == 0)
        return "udp";
    if (strcmp(p, "SCTP") == 0)
        return "sctp";
    return NULL;
}

/* The number of pod's container port called name for protocol (upper
 * case), or 0. */
static int
named_port(const json_t *pod, const char *name, const char *protocol)
{
    size_t i = 0, j = 0;
    const json_t *c = NULL, *p = NULL;

    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i, c)
    {
        json_array_foreach(json_object_get(c, "ports"), j, p)
        {
            const char *pn = str_at(p, "name", NULL), *pp = str_at(p, "protocol", NULL);
            json_int_t num = json_integer_value(json_object_get(p, "containerPort"));

            if (pn && strcmp(pn, name) == 0 && strcmp(pp ? pp : "TCP", protocol) == 0 && num >= 1 &&
                num <= 65535)
                return (int)num;
        }
    }
    return 0;
}

static const char *
upper_proto(const char *l4)
{
    return strcmp(l4, "tcp") == 0 ? "TCP" : strcmp(l4, "udp") == 0 ? "UDP" : "SCTP";
}

/* One model entry: the peer's fields plus the port's. */
static void
add_entry(json_t *out, const json_t *peer, const char *l4, const char *dport)
{
    json_t *e = json_copy((json_t *)peer);

    if (l4)
        json_object_set_new(e, "proto", json_string(l4));
    if (dport)
        json_object_set_new(e, "dport", json_string(dport));
    json_array_append_new(out, e);
}

/* An egress rule's named port: resolved on each destination pod (the
 * selector peer's pods, or every pod for ipBlock and "anyone"), grouped by
 * number; each group's IPs replace a selector's (they are among them) and
 * narrow an ipBlock. */
static void
add_egress_named(json_t *out, struct netpol_ctx *cx, const struct peer *peer, const char *name,
                 const char *l4)
{
    const json_t *cands = peer->pods ? peer->pods : cx->pods;
    _cleanup_json_ json_t *by_port = json_object();
    const char *num = NULL;
    json_t *group = NULL;
    size_t i = 0;
    const json_t *pod = NULL;

    json_array_foreach(cands, i, pod)
    {
        char key[8];
        int n = named_port(pod, name, upper_proto(l4));
        json_t *g;

        if (!n)
            continue;
        snprintf(key, sizeof(key), "%d", n);
        g = json_object_get(by_port, key);
        if (!g) {
            g = json_array();
            json_object_set_new(by_port, key, g);
        }
        json_array_append(g, (json_t *)pod);
    }
    json_object_foreach(by_port, num, group)
    {
        json_t *ips = pod_ips(group);
        _cleanup_json_ json_t *m = NULL;

        if (!ips)
            continue;
        m = json_copy(peer->match);
        json_object_set_new(m, "ips", ips);
        add_entry(out, m, l4, num);
    }
}

/* The model entries of one NetworkPolicy{Ingress,Egress}Rule for pod. */
static void
rule_model(json_t *out, struct netpol_ctx *cx, const json_t *rule, bool ingress,
           const char *policy_ns, const json_t *pod)
{
    const json_t *ports = json_object_get(rule, "ports"), *port = NULL;
    size_t np = 0, i = 0;
    struct peer *peers =
        rule_peers(cx, json_object_get(rule, ingress ? "from" : "to"), policy_ns, &np);

    for (size_t k = 0; k < np; k++) {
        if (json_array_size(ports) == 0) {
            add_entry(out, peers[k].match, NULL, NULL);
            continue;
        }
        json_array_foreach(ports, i, port)
        {
            const char *l4 = l4proto(port);
            const json_t *p = json_object_get(port, "port");
            const json_t *end = json_object_get(port, "endPort");
            char dport[48];

            if (!l4)
                continue;
            if (!p || json_is_null(p)) {
                add_entry(out, peers[k].match, l4, NULL);
                continue;
            }
            if (json_is_integer(p)) {
                json_int_t a = json_integer_value(p), b = json_integer_value(end);

                if (a < 1 || a > 65535)
                    continue;
                if (json_is_integer(end) && b > a && b <= 65535)
                    snprintf(dport, sizeof(dport), "%lld-%lld", (long long)a, (long long)b);
                else
                    snprintf(dport, sizeof(dport), "%lld", (long long)a);
            } else if (json_is_string(p) && ingress) {
                int n = named_port(pod, json_string_value(p), upper_proto(l4));

                if (!n)
                    continue; /* the pod has no such port: nothing allowed by it */
                snprintf(dport, sizeof(dport), "%d", n);
            } else if (json_is_string(p)) {
                add_egress_named(out, cx, &peers[k], json_string_value(p), l4);
                continue;
            } else {
                continue;
            }
            add_entry(out, peers[k].match, l4, dport);
        }
    }
    peers_fini(peers, np);
}

/* The cache key of a rule's entries for pod: the rule, plus on ingress the
 * numbers its named ports resolve to on pod (the pods of one workload share
 * them, so they share the entries). */
static char *
rule_key(const json_t *policy, const json_t *rule, size_t index, bool ingress, const json_t *pod)
{
    struct k3c_buf b;
    size_t i = 0;
    const json_t *port = NULL;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "%p/%c/%zu", (const void *)policy, ingress ? 'I' : 'E', index);
    json_array_foreach(json_object_get(rule, "ports"), i, port)
    {
        const json_t *p = json_object_get(port, "port");
        const char *l4 = l4proto(port);

        if (ingress && l4 && json_is_string(p))
            k3c_buf_appendf(&b, "/%d", named_port(pod, json_string_value(p), upper_proto(l4)));
    }
    return k3c_buf_steal(&b, NULL);
}

/* One allowed line: "<peer> <port> return". */
static void
emit(struct k3c_buf *out, const char *peer, const char *port)
{
    k3c_buf_appendf(out, "%s%s%s%sreturn\n", peer, *peer ? " " : "", port, *port ? " " : "");
}

/* The nft rule body of one entry: "<peer> <port> return". */
static void
nft_entry(struct k3c_buf *out, struct netpol_ctx *cx, const json_t *e, const char *field)
{
    const json_t *ips = json_object_get(e, "ips"), *ex = NULL;
    const char *cidr = str_at(e, "cidr", NULL), *l4 = str_at(e, "proto", NULL);
    const char *dport = str_at(e, "dport", NULL);
    struct k3c_buf peer;
    _cleanup_free_ char *port = NULL;
    size_t i = 0;

    k3c_buf_init(&peer);
    if (ips) {
        _cleanup_free_ char *m = ip_set_match(cx, field, ips);

        k3c_buf_appendf(&peer, "%s", m);
    }
    if (cidr)
        k3c_buf_appendf(&peer, "%sip %s %s", ips ? " " : "", field, cidr);
    json_array_foreach(json_object_get(e, "except"), i, ex)
    {
        if (i == 0)
            k3c_buf_appendf(&peer, " ip %s != { %s", field, json_string_value(ex));
        else
            k3c_buf_appendf(&peer, ", %s", json_string_value(ex));
    }
    if (json_array_size(json_object_get(e, "except")))
        k3c_buf_appendf(&peer, " }");
    if (l4 && dport)
        port = k3c_xasprintf("meta l4proto %s th dport %s", l4, dport);
    else if (l4)
        port = k3c_xasprintf("meta l4proto %s", l4);
    emit(out, peer.data ? peer.data : "", port ? port : "");
    k3c_buf_fini(&peer);
}

/* The entries of pod for direction (borrowed from the cache per rule),
 * appended to out; false when the pod is not isolated that way. */
static bool
pod_model(struct netpol_ctx *cx, const json_t *policies, const json_t *pod, const char *direction,
          json_t *out_keys)
{
    _cleanup_json_ json_t *sel = netpol_selecting(policies, pod, direction);
    bool ingress = strcmp(direction, "Ingress") == 0;
    size_t i = 0, j = 0;
    const json_t *p = NULL, *rule = NULL;

    if (json_array_size(sel) == 0)
        return false;
    json_array_foreach(sel, i, p)
    {
        const char *pns = str_at(p, "metadata", "namespace");
        const json_t *rules =
            json_object_get(json_object_get(p, "spec"), ingress ? "ingress" : "egress");

        json_array_foreach(rules, j, rule)
        {
            _cleanup_free_ char *key = rule_key(p, rule, j, ingress, pod);

            if (!json_object_get(cx->model_cache, key)) {
                json_t *m = json_array();

                rule_model(m, cx, rule, ingress, pns, pod);
                json_object_set_new(cx->model_cache, key, m);
            }
            json_array_append_new(out_keys, json_string(key));
        }
    }
    return true;
}

json_t *
netpol_pod_model(struct netpol_ctx *cx, const json_t *policies, const json_t *pod,
                 const char *direction)
{
    _cleanup_json_ json_t *keys = json_array();
    json_t *out;
    size_t i = 0;
    const json_t *key = NULL;

    if (!pod_model(cx, policies, pod, direction, keys))
        return NULL;
    out = json_array();
    json_array_foreach(keys, i, key)
        json_array_extend(out, json_object_get(cx->model_cache, json_string_value(key)));
    return out;
}

/* The nft rule bodies of pod's chain for direction, or NULL; each rule's
 * text is rendered once per node and shared by the pods it applies to. */
static char *
pod_rules(struct netpol_ctx *cx, const json_t *policies, const json_t *pod, const char *direction)
{
    _cleanup_json_ json_t *keys = json_array();
    const char *field = strcmp(direction, "Ingress") == 0 ? "saddr" : "daddr";
    struct k3c_buf out;
    size_t i = 0, j = 0;
    const json_t *key = NULL, *e = NULL;

    if (!pod_model(cx, policies, pod, direction, keys))
        return NULL;
    k3c_buf_init(&out);
    json_array_foreach(keys, i, key)
    {
        const char *k = json_string_value(key);
        const char *cached = json_string_value(json_object_get(cx->rule_cache, k));

        if (!cached) {
            struct k3c_buf one;

            k3c_buf_init(&one);
            json_array_foreach(json_object_get(cx->model_cache, k), j, e)
                nft_entry(&one, cx, e, field);
            json_object_set_new(cx->rule_cache, k, json_string(one.data ? one.data : ""));
            k3c_buf_fini(&one);
            cached = json_string_value(json_object_get(cx->rule_cache, k));
        }
        k3c_buf_appendf(&out, "%s", cached);
    }
    return k3c_buf_steal(&out, NULL);
}

struct netpol_ctx *
netpol_ctx_new(const json_t *pods, const json_t *namespaces)
{
    struct netpol_ctx *cx = k3c_xcalloc(1, sizeof(*cx));

    cx->pods = pods;
    cx->by_ns = pods_by_namespace(pods);
    cx->namespaces = namespace_index(namespaces);
    cx->sets = json_object();
    cx->rule_cache = json_object();
    cx->model_cache = json_object();
    return cx;
}

void
netpol_ctx_free(struct netpol_ctx *cx)
{
    if (!cx)
        return;
    json_decref(cx->by_ns);
    json_decref(cx->namespaces);
    json_decref(cx->sets);
    json_decref(cx->rule_cache);
    json_decref(cx->model_cache);
    free(cx);
}

bool
netpol_pod_ip(const json_t *pod, char out[INET_ADDRSTRLEN])
{
    return pod_ip(pod, out);
}

char *
netpol_pod_rules(const json_t *policies, const json_t *pods, const json_t *namespaces,
                 const json_t *pod, const char *direction)
{
    struct netpol_ctx *cx = netpol_ctx_new(pods, namespaces);
    char *out = pod_rules(cx, policies, pod, direction);

    netpol_ctx_free(cx);
    return out;
}

/* ---- the table ------------------------------------------------------------ */

static void
pod_chain(struct k3c_buf *b, const char *table, const char *map, const char *prefix, const char *ip,
          const char *rules)
{
    const char *line = rules;

    k3c_buf_appendf(b, "add chain ip %s %s-%s\n", table, prefix, ip);
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);

        k3c_buf_appendf(b, "add rule ip %s %s-%s %.*s\n", table, prefix, ip, (int)len, line);
        line += len + (nl ? 1 : 0);
    }
    k3c_buf_appendf(b, "add rule ip %s %s-%s counter reject with icmp type admin-prohibited\n",
                    table, prefix, ip);
    k3c_buf_appendf(b, "add element ip %s %s { %s : jump %s-%s }\n", table, map, ip, prefix, ip);
}

void
netpol_foreach_node_pod(const char *node_name, const json_t *pods, netpol_pod_visit visit,
                        void *data)
{
    _cleanup_json_ json_t *seen = json_object();
    size_t i = 0;
    const json_t *pod = NULL;

    if (!node_name)
        return;
    json_array_foreach(pods, i, pod)
    {
        char ip[INET_ADDRSTRLEN];

        if (!pod_ip(pod, ip) || strcmp(node_name, str_at(pod, "spec", "nodeName") ?: "") != 0 ||
            json_object_get(seen, ip))
            continue;
        json_object_set_new(seen, ip, json_true());
        visit(pod, ip, data);
    }
}

struct script_walk {
    struct netpol_ctx *cx;
    const json_t *policies;
    const char *table;
    struct k3c_buf *chains;
};

static void
script_pod(const json_t *pod, const char *ip, void *data)
{
    struct script_walk *w = data;
    _cleanup_free_ char *ing = pod_rules(w->cx, w->policies, pod, "Ingress");
    _cleanup_free_ char *egr = pod_rules(w->cx, w->policies, pod, "Egress");

    if (ing)
        pod_chain(w->chains, w->table, "ingress", "ing", ip, ing);
    if (egr)
        pod_chain(w->chains, w->table, "egress", "egr", ip, egr);
}

char *
netpol_script(const char *table, const char *node_name, const json_t *policies, const json_t *pods,
              const json_t *namespaces)
{
    struct netpol_ctx *cx = netpol_ctx_new(pods, namespaces);
    struct k3c_buf b, chains;
    const char *elements = NULL;
    json_t *name = NULL;

    k3c_buf_init(&b);
    k3c_buf_init(&chains);
    k3c_buf_appendf(&b,
                    "add table ip %s\ndelete table ip %s\nadd table ip %s\n"
                    "add map ip %s ingress { type ipv4_addr : verdict ; }\n"
                    "add map ip %s egress { type ipv4_addr : verdict ; }\n"
                    "add chain ip %s forward { type filter hook forward priority filter ; "
                    "policy accept ; }\n"
                    "add rule ip %s forward ct state established,related accept\n"
                    "add rule ip %s forward ip saddr vmap @egress\n"
                    "add rule ip %s forward ip daddr vmap @ingress\n",
                    table, table, table, table, table, table, table, table, table);
    struct script_walk w = {.cx = cx, .policies = policies, .table = table, .chains = &chains};
    netpol_foreach_node_pod(node_name, pods, script_pod, &w);
    /* the shared sets before the chains that use them */
    json_object_foreach(cx->sets, elements, name)
    {
        k3c_buf_appendf(&b, "add set ip %s %s { type ipv4_addr ; }\n", table,
                        json_string_value(name));
        k3c_buf_appendf(&b, "add element ip %s %s { %s }\n", table, json_string_value(name),
                        elements);
    }
    k3c_buf_appendf(&b, "%s", chains.data ? chains.data : "");
    k3c_buf_fini(&chains);
    netpol_ctx_free(cx);
    return k3c_buf_steal(&b, NULL);
}
