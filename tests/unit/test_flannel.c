/* SPDX-License-Identifier: Apache-2.0
 * test_flannel.c - the pure side of net/flannel.h: backend names, CIDR and
 * MAC parsing, flannel's Node annotations, the entries one Node object asks
 * of the others (vxlan and host-gw, and every reason to program nothing
 * yet or to refuse), and the masquerade script. */
#include "net/flannel.h"
#include "base/cleanup.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *
node(const char *name, const char *cidr, const char *public_ip, const char *backend_type,
     const char *backend_data)
{
    json_t *ann = json_object();
    json_t *n = json_pack("{s:{s:s, s:o}, s:{}, s:{s:[{s:s, s:s}]}}", "metadata", "name", name,
                          "annotations", ann, "spec", "status", "addresses", "type", "InternalIP",
                          "address", "192.168.9.9");

    assert_non_null(n);
    if (cidr)
        json_object_set_new(json_object_get(n, "spec"), "podCIDR", json_string(cidr));
    if (public_ip)
        json_object_set_new(ann, "flannel.alpha.coreos.com/public-ip", json_string(public_ip));
    if (backend_type)
        json_object_set_new(ann, "flannel.alpha.coreos.com/backend-type",
                            json_string(backend_type));
    if (backend_data)
        json_object_set_new(ann, "flannel.alpha.coreos.com/backend-data",
                            json_string(backend_data));
    return n;
}

static void
test_backend_names(void **state)
{
    enum flannel_backend b = FLANNEL_BACKEND_NONE;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(flannel_backend_parse("vxlan", &b, &err), 0);
    assert_int_equal(b, FLANNEL_BACKEND_VXLAN);
    assert_int_equal(flannel_backend_parse("host-gw", &b, &err), 0);
    assert_int_equal(b, FLANNEL_BACKEND_HOST_GW);
    assert_int_equal(flannel_backend_parse("none", &b, &err), 0);
    assert_int_equal(b, FLANNEL_BACKEND_NONE);
    assert_int_equal(flannel_backend_parse("wireguard", &b, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_non_null(strstr(err.msg, "wireguard"));
    assert_int_equal(flannel_backend_parse(NULL, &b, &err), -1);
    assert_string_equal(flannel_backend_name(FLANNEL_BACKEND_HOST_GW), "host-gw");
}

static void
test_cidr_parse(void **state)
{
    struct k3c_err err = {0};
    uint32_t net = 0;
    int prefix = 0;

    (void)state;
    assert_int_equal(flannel_cidr_parse("10.42.3.0/24", &net, &prefix, &err), 0);
    assert_int_equal(net, 0x0a2a0300u);
    assert_int_equal(prefix, 24);
    assert_int_equal(flannel_cidr_parse("0.0.0.0/0", &net, &prefix, &err), 0);
    assert_int_equal(prefix, 0);
    assert_int_equal(flannel_cidr_parse("10.42.3.1/24", &net, &prefix, &err), -1);
    assert_non_null(strstr(err.msg, "host bits"));
    static const char *const bad[] = {"10.42.3.0",
                                      "10.42.3.0/33",
                                      "10.42.3.0/-1",
                                      "10.42.3.0/24x",
                                      "10.42.300.0/24",
                                      "a.b.c.d/8",
                                      "",
                                      "10.42.3.0/24 ",
                                      "; drop table x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        k3c_err_clear(&err);
        assert_int_equal(flannel_cidr_parse(bad[i], &net, &prefix, &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
    }
    assert_int_equal(flannel_cidr_parse(NULL, &net, &prefix, &err), -1);
}

static void
test_mac_parse_format(void **state)
{
    uint8_t mac[6];
    char out[18];

    (void)state;
    assert_true(flannel_mac_parse("0A:1b:2c:3d:4e:5F", mac));
    flannel_mac_format(mac, out);
    assert_string_equal(out, "0a:1b:2c:3d:4e:5f");
    assert_false(flannel_mac_parse("0a:1b:2c:3d:4e", mac));
    assert_false(flannel_mac_parse("0a:1b:2c:3d:4e:5f:", mac));
    assert_false(flannel_mac_parse("0a-1b-2c-3d-4e-5f", mac));
    assert_false(flannel_mac_parse("0a:1b:2c:3d:4e:zz", mac));
    assert_false(flannel_mac_parse(" a:1b:2c:3d:4e:5f", mac));
    assert_false(flannel_mac_parse(NULL, mac));
}

static void
test_annotations_as_flannel_writes_them(void **state)
{
    _cleanup_json_ json_t *vx =
        flannel_annotations(FLANNEL_BACKEND_VXLAN, "aa:bb:cc:dd:ee:ff", "192.168.20.221");
    _cleanup_json_ json_t *hg =
        flannel_annotations(FLANNEL_BACKEND_HOST_GW, "aa:bb:cc:dd:ee:ff", "192.168.20.222");

    (void)state;
    assert_int_equal(json_object_size(vx), 4);
    assert_string_equal(
        json_string_value(json_object_get(vx, "flannel.alpha.coreos.com/backend-data")),
        "{\"VNI\":1,\"VtepMAC\":\"aa:bb:cc:dd:ee:ff\"}");
    assert_string_equal(
        json_string_value(json_object_get(vx, "flannel.alpha.coreos.com/backend-type")), "vxlan");
    assert_string_equal(
        json_string_value(json_object_get(vx, "flannel.alpha.coreos.com/kube-subnet-manager")),
        "true");
    assert_string_equal(
        json_string_value(json_object_get(vx, "flannel.alpha.coreos.com/public-ip")),
        "192.168.20.221");
    assert_string_equal(
        json_string_value(json_object_get(hg, "flannel.alpha.coreos.com/backend-data")), "null");
    assert_string_equal(
        json_string_value(json_object_get(hg, "flannel.alpha.coreos.com/backend-type")), "host-gw");
}

static void
test_peer_vxlan(void **state)
{
    _cleanup_json_ json_t *n = node("polynode-2", "10.42.2.0/24", "192.168.20.222", "vxlan",
                                    "{\"VNI\":1,\"VtepMAC\":\"EE:0B:7C:12:34:56\"}");
    struct flannel_peer p;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(flannel_peer_from_node(n, FLANNEL_BACKEND_VXLAN, &p, &err), 1);
    assert_string_equal(p.name, "polynode-2");
    assert_string_equal(p.subnet, "10.42.2.0/24");
    assert_int_equal(p.net, 0x0a2a0200u);
    assert_int_equal(p.prefix, 24);
    assert_string_equal(p.gateway, "10.42.2.0");
    assert_string_equal(p.public_ip, "192.168.20.222");
    assert_string_equal(p.vtep_mac, "ee:0b:7c:12:34:56");
}

static void
test_peer_host_gw_falls_back_to_internal_ip(void **state)
{
    _cleanup_json_ json_t *n = node("edge", "10.42.5.0/24", NULL, NULL, NULL);
    struct flannel_peer p;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(flannel_peer_from_node(n, FLANNEL_BACKEND_HOST_GW, &p, &err), 1);
    assert_string_equal(p.public_ip, "192.168.9.9");
    assert_string_equal(p.vtep_mac, "");
    /* The same node has no VTEP yet: nothing to program for vxlan. */
    assert_int_equal(flannel_peer_from_node(n, FLANNEL_BACKEND_VXLAN, &p, &err), 0);
}

static void
test_peer_nothing_yet(void **state)
{
    _cleanup_json_ json_t *no_cidr =
        node("a", NULL, "192.168.20.222", "vxlan", "{\"VNI\":1,\"VtepMAC\":\"ee:0b:7c:12:34:56\"}");
    _cleanup_json_ json_t *other_backend =
        node("b", "10.42.2.0/24", "192.168.20.222", "host-gw", "null");
    _cleanup_json_ json_t *ok = node("c", "10.42.2.0/24", "192.168.20.222", "vxlan",
                                     "{\"VNI\":1,\"VtepMAC\":\"ee:0b:7c:12:34:56\"}");
    struct flannel_peer p;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(flannel_peer_from_node(no_cidr, FLANNEL_BACKEND_VXLAN, &p, &err), 0);
    assert_int_equal(flannel_peer_from_node(other_backend, FLANNEL_BACKEND_VXLAN, &p, &err), 0);
    assert_int_equal(flannel_peer_from_node(ok, FLANNEL_BACKEND_NONE, &p, &err), 0);
    assert_int_equal(err.kind, K3C_E_NONE);
}

static void
test_peer_refuses_malformed(void **state)
{
    static const struct {
        const char *cidr, *ip, *data, *want;
    } cases[] = {
        {"10.42.2.1/24", "192.168.20.222", "{\"VNI\":1,\"VtepMAC\":\"ee:0b:7c:12:34:56\"}",
         "host bits"},
        {"10.42.2.0/24; flush ruleset", "192.168.20.222",
         "{\"VNI\":1,\"VtepMAC\":\"ee:0b:7c:12:34:56\"}", "not an IPv4 CIDR"},
        {"10.42.2.0/24", "fe80::1", "{\"VNI\":1,\"VtepMAC\":\"ee:0b:7c:12:34:56\"}", "not IPv4"},
        {"10.42.2.0/24", "192.168.20.222", "{\"VNI\":1}", "VtepMAC"},
        {"10.42.2.0/24", "192.168.20.222", "{\"VNI\":1,\"VtepMAC\":\"ee:0b:7c:12:34\"}", "VtepMAC"},
        {"10.42.2.0/24", "192.168.20.222", "not json", "VtepMAC"},
        {"10.42.2.0/24", "192.168.20.222", "{\"VNI\":4096,\"VtepMAC\":\"ee:0b:7c:12:34:56\"}",
         "VNI"},
    };
    struct flannel_peer p;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_json_ json_t *n = node("bad", cases[i].cidr, cases[i].ip, "vxlan", cases[i].data);
        struct k3c_err err = {0};

        assert_int_equal(flannel_peer_from_node(n, FLANNEL_BACKEND_VXLAN, &p, &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
        assert_non_null(strstr(err.msg, cases[i].want));
    }
}

static void
test_peer_equal(void **state)
{
    _cleanup_json_ json_t *a = node("n", "10.42.2.0/24", "192.168.20.222", "vxlan",
                                    "{\"VNI\":1,\"VtepMAC\":\"ee:0b:7c:12:34:56\"}");
    _cleanup_json_ json_t *moved = node("n", "10.42.2.0/24", "192.168.20.223", "vxlan",
                                        "{\"VNI\":1,\"VtepMAC\":\"ee:0b:7c:12:34:56\"}");
    _cleanup_json_ json_t *new_mac = node("n", "10.42.2.0/24", "192.168.20.222", "vxlan",
                                          "{\"VNI\":1,\"VtepMAC\":\"ee:0b:7c:12:34:57\"}");
    struct flannel_peer pa, pa2, pm, pn;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(flannel_peer_from_node(a, FLANNEL_BACKEND_VXLAN, &pa, &err), 1);
    assert_int_equal(flannel_peer_from_node(a, FLANNEL_BACKEND_VXLAN, &pa2, &err), 1);
    assert_int_equal(flannel_peer_from_node(moved, FLANNEL_BACKEND_VXLAN, &pm, &err), 1);
    assert_int_equal(flannel_peer_from_node(new_mac, FLANNEL_BACKEND_VXLAN, &pn, &err), 1);
    assert_true(flannel_peer_equal(&pa, &pa2));
    assert_false(flannel_peer_equal(&pa, &pm));
    assert_false(flannel_peer_equal(&pa, &pn));
}

static void
test_nft_script(void **state)
{
    _cleanup_free_ char *s = flannel_nft_script("10.42.0.0/16", "10.42.3.0/24");

    (void)state;
    /* One transaction that replaces the table whether or not it exists. */
    assert_true(strncmp(s, "add table ip k3c-flannel\ndelete table ip k3c-flannel\n", 53) == 0);
    assert_non_null(strstr(s, "type nat hook postrouting priority srcnat;"));
    assert_non_null(strstr(s, "ip saddr 10.42.0.0/16 ip daddr 10.42.0.0/16 return\n"));
    assert_non_null(strstr(s, "ip saddr != 10.42.0.0/16 ip daddr 10.42.3.0/24 return\n"));
    assert_non_null(
        strstr(s, "ip saddr 10.42.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random\n"));
    assert_non_null(
        strstr(s, "ip saddr != 10.42.0.0/16 ip daddr 10.42.0.0/16 masquerade fully-random\n"));
    assert_non_null(strstr(s, "type filter hook forward priority filter;"));
    assert_non_null(strstr(s, "ip saddr 10.42.0.0/16 accept\n"));
    assert_non_null(strstr(s, "ip daddr 10.42.0.0/16 accept\n"));
    /* The no-NAT returns come before the masquerades. */
    assert_true(strstr(s, "return") < strstr(s, "masquerade"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_names),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_mac_parse_format),
        cmocka_unit_test(test_annotations_as_flannel_writes_them),
        cmocka_unit_test(test_peer_vxlan),
        cmocka_unit_test(test_peer_host_gw_falls_back_to_internal_ip),
        cmocka_unit_test(test_peer_nothing_yet),
        cmocka_unit_test(test_peer_refuses_malformed),
        cmocka_unit_test(test_peer_equal),
        cmocka_unit_test(test_nft_script),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
