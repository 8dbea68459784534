/* SPDX-License-Identifier: Apache-2.0
 * flannel_node.c - the pure parts of the pod network: what a Node object
 * asks of the other nodes (flannel_peer_from_node), the annotations flannel
 * writes on its own Node, CIDR and MAC parsing, and the nftables script of
 * flannel's masquerade rules. No I/O here; tests/unit/test_flannel.c. */
#include "net/flannel.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const char *const backend_names[] = {
    [FLANNEL_BACKEND_VXLAN] = "vxlan",
    [FLANNEL_BACKEND_HOST_GW] = "host-gw",
    [FLANNEL_BACKEND_NONE] = "none",
};

int
flannel_backend_parse(const char *s, enum flannel_backend *out, struct k3c_err *err)
{
    for (size_t i = 0; s && i < K3C_ARRAY_SIZE(backend_names); i++) {
        if (strcmp(s, backend_names[i]) == 0) {
            *out = (enum flannel_backend)i;
            return 0;
        }
    }
    return k3c_err_set(err, K3C_E_INVALID, "flannel backend '%s': want vxlan, host-gw or none",
                       s ? s : "");
}

const char *
flannel_backend_name(enum flannel_backend b)
{
    return (size_t)b < K3C_ARRAY_SIZE(backend_names) ? backend_names[b] : "?";
}

static bool
ipv4_parse(const char *s, uint32_t *out)
{
    struct in_addr a;

    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

static void
ipv4_format(uint32_t host_order, char out[16])
{
    struct in_addr a = {.s_addr = htonl(host_order)};

    inet_ntop(AF_INET, &a, out, 16);
}

int
flannel_cidr_parse(const char *cidr, uint32_t *net, int *prefix, struct k3c_err *err)
{
    char addr[16], extra;
    int len;
    uint32_t ip, mask;

    if (!cidr || sscanf(cidr, "%15[0-9.]/%d%c", addr, &len, &extra) != 2 || len < 0 || len > 32 ||
        !ipv4_parse(addr, &ip))
        return k3c_err_set(err, K3C_E_INVALID, "'%s' is not an IPv4 CIDR", cidr ? cidr : "");
    mask = len == 0 ? 0 : ~0u << (32 - len);
    if (ip & ~mask)
        return k3c_err_set(err, K3C_E_INVALID, "CIDR '%s' has host bits set", cidr);
    *net = ip;
    *prefix = len;
    return 0;
}

bool
flannel_mac_parse(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char extra;

    if (!s || strlen(s) != 17 ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) !=
            6)
        return false;
    for (int i = 0; i < 6; i++) {
        if ((s[i * 3] == ' ' || s[i * 3 + 1] == ' ') || (i < 5 && s[i * 3 + 2] != ':'))
            return false;
        mac[i] = (uint8_t)v[i];
    }
    return true;
}

void
flannel_mac_format(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

static const char *
annotation(const json_t *node, const char *key)
{
    char full[128];

    snprintf(full, sizeof(full), FLANNEL_ANN_PREFIX "%s", key);
    return json_string_value(
        json_object_get(json_object_get(json_object_get(node, "metadata"), "annotations"), full));
}

static const char *
internal_ip(const json_t *node)
{
    const json_t *a;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(node, "status"), "addresses"), i, a)
    {
        const char *type = json_string_value(json_object_get(a, "type"));

        if (type && strcmp(type, "InternalIP") == 0)
            return json_string_value(json_object_get(a, "address"));
    }
    return NULL;
}

/* The VtepMAC of backend-data ({"VNI":1,"VtepMAC":"..."}): 1 with mac
 * filled, -1 with err when malformed or of another VNI. */
static int
backend_data_mac(const char *name, const char *data, char mac[18], struct k3c_err *err)
{
    _cleanup_json_ json_t *j = json_loads(data, 0, NULL);
    const char *m = json_string_value(json_object_get(j, "VtepMAC"));
    json_t *vni = json_object_get(j, "VNI");
    uint8_t bytes[6];

    if (!m || !flannel_mac_parse(m, bytes))
        return k3c_err_set(err, K3C_E_INVALID, "node %s: backend-data '%s' has no valid VtepMAC",
                           name, data);
    if (vni && (!json_is_integer(vni) || json_integer_value(vni) != FLANNEL_VXLAN_VNI))
        return k3c_err_set(err, K3C_E_INVALID, "node %s: backend-data VNI is not %d", name,
                           FLANNEL_VXLAN_VNI);
    flannel_mac_format(bytes, mac);
    return 1;
}

int
flannel_peer_from_node(const json_t *node, enum flannel_backend backend, struct flannel_peer *p,
                       struct k3c_err *err)
{
    const char *name =
        json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
    const char *cidr = json_string_value(json_object_get(json_object_get(node, "spec"), "podCIDR"));
    const char *type = annotation(node, "backend-type");
    const char *ip = annotation(node, "public-ip");
    uint32_t addr;

    memset(p, 0, sizeof(*p));
    if (!name || !cidr || !*cidr || backend == FLANNEL_BACKEND_NONE)
        return 0;
    snprintf(p->name, sizeof(p->name), "%s", name);
    if (!ip)
        ip = internal_ip(node);
    if (!ip)
        return 0;
    /* A node of another backend cannot be reached the way this one works. */
    if (type && strcmp(type, flannel_backend_name(backend)) != 0)
        return 0;
    if (flannel_cidr_parse(cidr, &p->net, &p->prefix, err) < 0)
        return k3c_err_wrap(err, "node %s: spec.podCIDR", name);
    if (!ipv4_parse(ip, &addr))
        return k3c_err_set(err, K3C_E_INVALID, "node %s: public IP '%s' is not IPv4", name, ip);
    /* Written back from what was parsed, never copied: "10.42.2.0/024" or
     * a long run of leading zeros must not be truncated into something
     * else (found by fuzz_flannel_node). */
    ipv4_format(p->net, p->gateway);
    snprintf(p->subnet, sizeof(p->subnet), "%s/%d", p->gateway, p->prefix);
    ipv4_format(addr, p->public_ip);
    if (backend == FLANNEL_BACKEND_VXLAN) {
        const char *data = annotation(node, "backend-data");

        if (!data)
            return 0;
        return backend_data_mac(name, data, p->vtep_mac, err);
    }
    return 1;
}

bool
flannel_peer_equal(const struct flannel_peer *a, const struct flannel_peer *b)
{
    return strcmp(a->subnet, b->subnet) == 0 && strcmp(a->public_ip, b->public_ip) == 0 &&
           strcmp(a->vtep_mac, b->vtep_mac) == 0;
}

json_t *
flannel_annotations(enum flannel_backend backend, const char *vtep_mac, const char *public_ip)
{
    json_t *ann = json_object();
    char *data = backend == FLANNEL_BACKEND_VXLAN
                     ? k3c_xasprintf("{\"VNI\":%d,\"VtepMAC\":\"%s\"}", FLANNEL_VXLAN_VNI, vtep_mac)
                     : k3c_xstrdup("null");

    json_object_set_new(ann, FLANNEL_ANN_PREFIX "backend-data", json_string(data));
    json_object_set_new(ann, FLANNEL_ANN_PREFIX "backend-type",
                        json_string(flannel_backend_name(backend)));
    json_object_set_new(ann, FLANNEL_ANN_PREFIX "kube-subnet-manager", json_string("true"));
    json_object_set_new(ann, FLANNEL_ANN_PREFIX "public-ip", json_string(public_ip));
    free(data);
    return ann;
}

char *
flannel_nft_script(const char *cluster_cidr, const char *pod_cidr)
{
    /* "add; delete; define" replaces the whole table in one transaction
     * whether or not it existed. The rules are flannel's MasqRules
     * (pkg/trafficmngr): traffic inside the cluster CIDR keeps its
     * addresses, traffic to this node's pods from outside too, pods going
     * out (but not to multicast) and the host going to remote pods are
     * masqueraded with fully-random ports. */
    return k3c_xasprintf("add table ip " FLANNEL_NFT_TABLE "\n"
                         "delete table ip " FLANNEL_NFT_TABLE "\n"
                         "table ip " FLANNEL_NFT_TABLE " {\n"
                         "  chain postrouting {\n"
                         "    type nat hook postrouting priority srcnat; policy accept;\n"
                         "    ip saddr %s ip daddr %s return\n"
                         "    ip saddr != %s ip daddr %s return\n"
                         "    ip saddr %s ip daddr != 224.0.0.0/4 masquerade fully-random\n"
                         "    ip saddr != %s ip daddr %s masquerade fully-random\n"
                         "  }\n"
                         "  chain forward {\n"
                         "    type filter hook forward priority filter; policy accept;\n"
                         "    ip saddr %s accept\n"
                         "    ip daddr %s accept\n"
                         "  }\n"
                         "}\n",
                         cluster_cidr, cluster_cidr, cluster_cidr, pod_cidr, cluster_cidr,
                         cluster_cidr, cluster_cidr, cluster_cidr, cluster_cidr);
}
