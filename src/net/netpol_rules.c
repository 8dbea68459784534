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
struct compile_ctx {
    const json_t *pods;
    json_t *by_ns;      /* namespace -> its pods that can be peers */
    json_t *namespaces; /* name -> labels */
    json_t *rule_cache; /* "<policy ptr>/<I|E>/<rule index>" -> lines */
    json_t *sets;       /* elements "a, b, ..." -> the named set holding them */
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

/* A peer: its match text ("" for anyone), and for selector peers the pods
 * (for egress named ports); ipBlock and "anyone" leave pods NULL. */
struct peer {
    char *match;
    json_t *pods;
};

static void
peers_fini(struct peer *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].match);
        json_decref(p[i].pods);
    }
    free(p);
}

/* "ip saddr { a, b }" for the pods' IPs; NULL when there are none. */
static char *
ip_set_match(struct compile_ctx *cx, const char *field, const json_t *pods)
{
    struct k3c_buf b;
    size_t i = 0, n = 0;
    const json_t *pod = NULL;

    k3c_buf_init(&b);
    json_array_foreach(pods, i, pod)
    {
        char ip[INET_ADDRSTRLEN];

        if (!pod_ip(pod, ip))
            continue;
        k3c_buf_appendf(&b, "%s%s", n++ ? ", " : "", ip);
    }
    if (n == 0) {
        k3c_buf_fini(&b);
        return NULL;
    }
    if (n > NETPOL_INLINE_SET_MAX) {
        json_t *name = json_object_get(cx->sets, b.data);
        char *m;

        if (!name) {
            _cleanup_free_ char *fresh = k3c_xasprintf("s%zu", json_object_size(cx->sets));

            name = json_string(fresh);
            json_object_set_new(cx->sets, b.data, name);
        }
        m = k3c_xasprintf("ip %s @%s", field, json_string_value(name));
        k3c_buf_fini(&b);
        return m;
    }
    {
        char *m = k3c_xasprintf("ip %s { %s }", field, b.data);

        k3c_buf_fini(&b);
        return m;
    }
}

static char *
ip_block_match(const json_t *block, const char *field)
{
    char cidr[64], ex[64];
    struct k3c_buf b;
    size_t i = 0, n = 0;
    const json_t *e = NULL;

    if (!cidr_text(str_at(block, "cidr", NULL), cidr, sizeof(cidr)))
        return NULL; /* IPv6 or bad: not in this table */
    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "ip %s %s", field, cidr);
    json_array_foreach(json_object_get(block, "except"), i, e)
    {
        if (!cidr_text(json_string_value(e), ex, sizeof(ex)))
            continue;
        if (n++ == 0)
            k3c_buf_appendf(&b, " ip %s != { %s", field, ex);
        else
            k3c_buf_appendf(&b, ", %s", ex);
    }
    if (n)
        k3c_buf_appendf(&b, " }");
    return k3c_buf_steal(&b, NULL);
}

/* The peers of one rule; *n out. NULL peers list: one "anyone" peer. */
static struct peer *
rule_peers(struct compile_ctx *cx, const json_t *list, const char *field, const char *policy_ns,
           size_t *n)
{
    struct peer *out = k3c_xcalloc(json_array_size(list) + 1, sizeof(*out));
    size_t i = 0;
    const json_t *peer = NULL;

    *n = 0;
    if (json_array_size(list) == 0) {
        out[(*n)++] = (struct peer){.match = k3c_xstrdup("")};
        return out;
    }
    json_array_foreach(list, i, peer)
    {
        const json_t *block = json_object_get(peer, "ipBlock");
        json_t *matched;
        char *m;

        if (json_is_object(block)) {
            m = ip_block_match(block, field);
            if (m)
                out[(*n)++] = (struct peer){.match = m};
            continue;
        }
        matched = peer_pods(peer, policy_ns, cx->by_ns, cx->namespaces);
        m = ip_set_match(cx, field, matched);
        if (m)
            out[(*n)++] = (struct peer){.match = m, .pods = matched};
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

/* One allowed line: "<peer> <port> return". */
static void
emit(struct k3c_buf *out, const char *peer, const char *port)
{
    k3c_buf_appendf(out, "%s%s%s%sreturn\n", peer, *peer ? " " : "", port, *port ? " " : "");
}

/* An egress rule's named port: resolved on each destination pod (the
 * selector peer's pods, or every pod for ipBlock and "anyone"), grouped by
 * number. */
static void
emit_egress_named(struct k3c_buf *out, struct compile_ctx *cx, const struct peer *peer,
                  const char *name, const char *l4)
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
        _cleanup_free_ char *dst = ip_set_match(cx, "daddr", group);
        _cleanup_free_ char *port = k3c_xasprintf("meta l4proto %s th dport %s", l4, num);
        _cleanup_free_ char *both = NULL;

        if (!dst)
            continue;
        /* a selector peer's set is already the group; an ipBlock keeps its cidr */
        both = peer->pods || !*peer->match ? k3c_xstrdup(dst)
                                           : k3c_xasprintf("%s %s", dst, peer->match);
        emit(out, both, port);
    }
}

/* The rules of one NetworkPolicy{Ingress,Egress}Rule for pod. */
static void
rule_lines(struct k3c_buf *out, struct compile_ctx *cx, const json_t *rule, bool ingress,
           const char *policy_ns, const json_t *pod)
{
    const char *field = ingress ? "saddr" : "daddr";
    const json_t *ports = json_object_get(rule, "ports"), *port = NULL;
    size_t np = 0, i = 0;
    struct peer *peers =
        rule_peers(cx, json_object_get(rule, ingress ? "from" : "to"), field, policy_ns, &np);

    for (size_t k = 0; k < np; k++) {
        if (json_array_size(ports) == 0) {
            emit(out, peers[k].match, "");
            continue;
        }
        json_array_foreach(ports, i, port)
        {
            const char *l4 = l4proto(port);
            const json_t *p = json_object_get(port, "port");
            const json_t *end = json_object_get(port, "endPort");
            _cleanup_free_ char *m = NULL;

            if (!l4)
                continue;
            if (!p || json_is_null(p)) {
                m = k3c_xasprintf("meta l4proto %s", l4);
            } else if (json_is_integer(p)) {
                json_int_t a = json_integer_value(p), b = json_integer_value(end);

                if (a < 1 || a > 65535)
                    continue;
                if (json_is_integer(end) && b > a && b <= 65535)
                    m = k3c_xasprintf("meta l4proto %s th dport %lld-%lld", l4, (long long)a,
                                      (long long)b);
                else
                    m = k3c_xasprintf("meta l4proto %s th dport %lld", l4, (long long)a);
            } else if (json_is_string(p) && ingress) {
                int n = named_port(pod, json_string_value(p), upper_proto(l4));

                if (!n)
                    continue; /* the pod has no such port: nothing allowed by it */
                m = k3c_xasprintf("meta l4proto %s th dport %d", l4, n);
            } else if (json_is_string(p)) {
                emit_egress_named(out, cx, &peers[k], json_string_value(p), l4);
                continue;
            } else {
                continue;
            }
            emit(out, peers[k].match, m);
        }
    }
    peers_fini(peers, np);
}

/* The cache key of a rule's lines for pod: the rule, plus on ingress the
 * numbers its named ports resolve to on pod (the pods of one workload share
 * them, so they share the lines). */
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

static char *
pod_rules(struct compile_ctx *cx, const json_t *policies, const json_t *pod, const char *direction)
{
    _cleanup_json_ json_t *sel = netpol_selecting(policies, pod, direction);
    bool ingress = strcmp(direction, "Ingress") == 0;
    struct k3c_buf out;
    size_t i = 0, j = 0;
    const json_t *p = NULL, *rule = NULL;

    if (json_array_size(sel) == 0)
        return NULL;
    k3c_buf_init(&out);
    json_array_foreach(sel, i, p)
    {
        const char *pns = str_at(p, "metadata", "namespace");
        const json_t *rules =
            json_object_get(json_object_get(p, "spec"), ingress ? "ingress" : "egress");

        json_array_foreach(rules, j, rule)
        {
            _cleanup_free_ char *key = NULL;
            const char *cached;
            struct k3c_buf one;

            key = rule_key(p, rule, j, ingress, pod);
            cached = json_string_value(json_object_get(cx->rule_cache, key));
            if (!cached) {
                k3c_buf_init(&one);
                rule_lines(&one, cx, rule, ingress, pns, pod);
                json_object_set_new(cx->rule_cache, key, json_string(one.data ? one.data : ""));
                k3c_buf_fini(&one);
                cached = json_string_value(json_object_get(cx->rule_cache, key));
            }
            k3c_buf_appendf(&out, "%s", cached);
        }
    }
    return k3c_buf_steal(&out, NULL);
}

static void
compile_ctx_init(struct compile_ctx *cx, const json_t *pods, const json_t *namespaces)
{
    cx->pods = pods;
    cx->by_ns = pods_by_namespace(pods);
    cx->namespaces = namespace_index(namespaces);
    cx->sets = json_object();
    cx->rule_cache = json_object();
}

static void
compile_ctx_fini(struct compile_ctx *cx)
{
    json_decref(cx->by_ns);
    json_decref(cx->namespaces);
    json_decref(cx->sets);
    json_decref(cx->rule_cache);
}

char *
netpol_pod_rules(const json_t *policies, const json_t *pods, const json_t *namespaces,
                 const json_t *pod, const char *direction)
{
    struct compile_ctx cx;
    char *out;

    compile_ctx_init(&cx, pods, namespaces);
    out = pod_rules(&cx, policies, pod, direction);
    compile_ctx_fini(&cx);
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

char *
netpol_script(const char *table, const char *node_name, const json_t *policies, const json_t *pods,
              const json_t *namespaces)
{
    _cleanup_json_ json_t *seen = json_object();
    struct compile_ctx cx;
    struct k3c_buf b, chains;
    const char *elements = NULL;
    json_t *name = NULL;
    size_t i = 0;
    const json_t *pod = NULL;

    compile_ctx_init(&cx, pods, namespaces);
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
    json_array_foreach(pods, i, pod)
    {
        char ip[INET_ADDRSTRLEN];
        _cleanup_free_ char *ing = NULL, *egr = NULL;

        if (!node_name || !pod_ip(pod, ip) ||
            strcmp(node_name, str_at(pod, "spec", "nodeName") ?: "") != 0 ||
            json_object_get(seen, ip))
            continue;
        json_object_set_new(seen, ip, json_true());
        ing = pod_rules(&cx, policies, pod, "Ingress");
        egr = pod_rules(&cx, policies, pod, "Egress");
        if (ing)
            pod_chain(&chains, table, "ingress", "ing", ip, ing);
        if (egr)
            pod_chain(&chains, table, "egress", "egr", ip, egr);
    }
    /* the shared sets before the chains that use them */
    json_object_foreach(cx.sets, elements, name)
    {
        k3c_buf_appendf(&b, "add set ip %s %s { type ipv4_addr ; }\n", table,
                        json_string_value(name));
        k3c_buf_appendf(&b, "add element ip %s %s { %s }\n", table, json_string_value(name),
                        elements);
    }
    k3c_buf_appendf(&b, "%s", chains.data ? chains.data : "");
    k3c_buf_fini(&chains);
    compile_ctx_fini(&cx);
    return k3c_buf_steal(&b, NULL);
}
