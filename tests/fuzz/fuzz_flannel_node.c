/* SPDX-License-Identifier: Apache-2.0
 * fuzz_flannel_node.c - the pod network's reading of a Node object
 * (flannel_peer_from_node): any node may write its own Node's podCIDR
 * request and flannel annotations, and every other node turns them into
 * routes, neighbours, FDB entries and an nftables script. The input is the
 * Node's JSON. Whatever is accepted must be well-formed: a subnet that
 * parses back to the same network, dotted-quad addresses, a canonical MAC
 * for vxlan, and nothing an nftables script could misread. */
#include "net/flannel.h"
#include "fuzz.h"

#include <arpa/inet.h>

static void
check_peer(const struct flannel_peer *p, enum flannel_backend b)
{
    struct k3c_err err = {0};
    struct in_addr a;
    uint32_t net;
    int prefix;
    uint8_t mac[6];
    char again[18];
    char *script;

    FUZZ_CHECK(flannel_cidr_parse(p->subnet, &net, &prefix, &err) == 0, "subnet parses");
    FUZZ_CHECK(net == p->net && prefix == p->prefix, "subnet matches net/prefix");
    FUZZ_CHECK(inet_pton(AF_INET, p->gateway, &a) == 1, "gateway is IPv4");
    FUZZ_CHECK(ntohl(a.s_addr) == p->net, "gateway is the network address");
    FUZZ_CHECK(inet_pton(AF_INET, p->public_ip, &a) == 1, "public IP is IPv4");
    if (b == FLANNEL_BACKEND_VXLAN) {
        FUZZ_CHECK(flannel_mac_parse(p->vtep_mac, mac), "VTEP MAC parses");
        flannel_mac_format(mac, again);
        FUZZ_CHECK(strcmp(again, p->vtep_mac) == 0, "VTEP MAC is canonical");
    }
    script = flannel_nft_script("10.42.0.0/16", p->subnet);
    FUZZ_CHECK(strchr(p->subnet, ';') == NULL && strchr(p->subnet, '\n') == NULL &&
                   strchr(p->subnet, ' ') == NULL,
               "subnet safe in an nftables script");
    free(script);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum flannel_backend backends[] = {FLANNEL_BACKEND_VXLAN, FLANNEL_BACKEND_HOST_GW};
    json_t *node = json_loadb((const char *)data, size, 0, NULL);

    for (size_t i = 0; node && i < sizeof(backends) / sizeof(backends[0]); i++) {
        struct flannel_peer p;
        struct k3c_err err = {0};
        int rc = flannel_peer_from_node(node, backends[i], &p, &err);

        FUZZ_CHECK(rc >= -1 && rc <= 1, "result in range");
        FUZZ_CHECK(rc != -1 || err.kind == K3C_E_INVALID, "refusal is INVALID");
        if (rc == 1)
            check_peer(&p, backends[i]);
    }
    json_decref(node);
    return 0;
}
