/* SPDX-License-Identifier: Apache-2.0
 * test_net_cni.c - the pure side of net/: CNI result and error parsing, the
 * per-plugin configuration derived from a list (name, cniVersion,
 * runtimeConfig, prevResult), the default pod list and name validation. */
#include "net/net.h"
#include "base/cleanup.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* What bridge 1.1.1 prints for an ADD. */
static const char bridge_result[] =
    "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"aa:bb:cc:00:00:01\"},"
    "{\"name\":\"veth1234\",\"mac\":\"aa:bb:cc:00:00:02\"},{\"name\":\"eth0\","
    "\"mac\":\"aa:bb:cc:00:00:03\",\"sandbox\":\"/run/netns/k3c-a\"}],\"ips\":[{\"interface\":2,"
    "\"address\":\"10.42.7.2/24\",\"gateway\":\"10.42.7.1\"}],\"routes\":[{\"dst\":\"0.0.0.0/0\"}],"
    "\"dns\":{}}";

static json_t *
parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);

    assert_non_null(j);
    return j;
}

static void
test_result_parse_bridge(void **state)
{
    _cleanup_json_ json_t *j = parse(bridge_result);
    struct net_cni_result r;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(net_cni_result_parse(j, &r, &err), 0);
    assert_string_equal(r.cni_version, "1.0.0");
    assert_int_equal(r.n_interfaces, 3);
    assert_string_equal(r.interfaces[2].name, "eth0");
    assert_string_equal(r.interfaces[2].sandbox, "/run/netns/k3c-a");
    assert_string_equal(r.interfaces[0].sandbox, "");
    assert_int_equal(r.n_ips, 1);
    assert_string_equal(r.ips[0].address, "10.42.7.2/24");
    assert_string_equal(r.ips[0].gateway, "10.42.7.1");
    assert_int_equal(r.ips[0].interface, 2);
    assert_int_equal(r.n_routes, 1);
    assert_string_equal(r.routes[0].dst, "0.0.0.0/0");
    assert_string_equal(r.routes[0].gw, "");
}

static void
test_result_parse_minimal_and_bad(void **state)
{
    struct net_cni_result r;
    struct k3c_err err = {0};
    json_t *j;

    (void)state;
    /* loopback's result: ips without interface index, no interfaces. */
    j = parse("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"127.0.0.1/8\"}]}");
    assert_int_equal(net_cni_result_parse(j, &r, &err), 0);
    assert_int_equal(r.n_interfaces, 0);
    assert_int_equal(r.ips[0].interface, -1);
    json_decref(j);

    j = parse("{\"ips\":[{\"interface\":3,\"address\":\"10.0.0.2/24\"}],"
              "\"interfaces\":[{\"name\":\"eth0\"}]}");
    assert_int_equal(net_cni_result_parse(j, &r, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_non_null(strstr(err.msg, "interface"));
    json_decref(j);

    j = parse("{\"ips\":{}}");
    assert_int_equal(net_cni_result_parse(j, &r, &err), -1);
    json_decref(j);

    j = parse("{\"ips\":[{\"gateway\":\"10.0.0.1\"}]}");
    assert_int_equal(net_cni_result_parse(j, &r, &err), -1);
    json_decref(j);

    j = parse("[]");
    assert_int_equal(net_cni_result_parse(j, &r, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    json_decref(j);
}

static void
test_result_parse_keeps_at_most_max(void **state)
{
    _cleanup_json_ json_t *j = json_pack("{s:[]}", "ips");
    struct net_cni_result r;
    struct k3c_err err = {0};

    (void)state;
    for (int i = 0; i < NET_CNI_MAX + 3; i++) {
        char a[32];

        snprintf(a, sizeof(a), "10.0.0.%d/24", i + 2);
        json_array_append_new(json_object_get(j, "ips"), json_pack("{s:s}", "address", a));
    }
    assert_int_equal(net_cni_result_parse(j, &r, &err), 0);
    assert_int_equal(r.n_ips, NET_CNI_MAX);
}

static void
test_plugin_error_object(void **state)
{
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(net_cni_plugin_error(&err, "bridge", NET_CNI_ADD, 1,
                                          "{\n \"code\": 999,\n \"msg\": \"invalid range set 0: "
                                          "Network 10.42.9.0/31 too small to allocate from\"\n}",
                                          "ignored"),
                     -1);
    assert_int_equal(err.kind, K3C_E_INTERNAL);
    assert_string_equal(err.msg, "bridge ADD: invalid range set 0: Network 10.42.9.0/31 too small "
                                 "to allocate from (CNI code 999)");

    assert_int_equal(net_cni_plugin_error(&err, "host-local", NET_CNI_DEL, 1,
                                          "{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad "
                                          "config\",\"details\":\"no subnet\"}",
                                          NULL),
                     -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_string_equal(err.msg, "host-local DEL: bad config: no subnet (CNI code 7)");

    net_cni_plugin_error(&err, "x", NET_CNI_CHECK, 1, "{\"code\":11,\"msg\":\"busy\"}", NULL);
    assert_int_equal(err.kind, K3C_E_UNAVAILABLE);
    net_cni_plugin_error(&err, "x", NET_CNI_CHECK, 1, "{\"code\":3,\"msg\":\"gone\"}", NULL);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    net_cni_plugin_error(&err, "x", NET_CNI_ADD, 1, "{\"code\":1}", NULL);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_string_equal(err.msg, "x ADD: (no message) (CNI code 1)");
}

static void
test_plugin_error_without_object(void **state)
{
    struct k3c_err err = {0};

    (void)state;
    net_cni_plugin_error(&err, "portmap", NET_CNI_ADD, 2, "not json",
                         "first line\nsecond: iptables failed\n\n");
    assert_int_equal(err.kind, K3C_E_INTERNAL);
    assert_string_equal(err.msg, "portmap ADD: exit 2: second: iptables failed");
    net_cni_plugin_error(&err, "portmap", NET_CNI_DEL, 137, "", "");
    assert_string_equal(err.msg, "portmap DEL: exit 137");
    net_cni_plugin_error(&err, "p", NET_CNI_VERSION, 1, "only stdout\n", NULL);
    assert_string_equal(err.msg, "p VERSION: exit 1: only stdout");
}

static const char list_text[] =
    "{\"cniVersion\":\"1.0.0\",\"name\":\"k3c\",\"plugins\":["
    "{\"type\":\"bridge\",\"bridge\":\"cni0\",\"capabilities\":{\"ips\":true}},"
    "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true,\"bandwidth\":false},"
    "\"runtimeConfig\":{\"keep\":1}}]}";

static void
test_plugin_conf_derivation(void **state)
{
    _cleanup_json_ json_t *list = parse(list_text);
    _cleanup_json_ json_t *before = json_deep_copy(list);
    _cleanup_json_ json_t *prev = parse(bridge_result);
    _cleanup_json_ json_t *caps =
        json_pack("{s:[{s:i,s:i,s:s}], s:{s:i}}", "portMappings", "hostPort", 8080, "containerPort",
                  80, "protocol", "tcp", "bandwidth", "rate", 1);
    _cleanup_json_ json_t *c0 = NULL;
    _cleanup_json_ json_t *c1 = NULL;
    struct k3c_err err = {0};
    json_t *rc;

    (void)state;
    c0 = net_cni_plugin_conf(list, 0, NULL, caps, &err);
    assert_non_null(c0);
    assert_string_equal(json_string_value(json_object_get(c0, "name")), "k3c");
    assert_string_equal(json_string_value(json_object_get(c0, "cniVersion")), "1.0.0");
    assert_string_equal(json_string_value(json_object_get(c0, "type")), "bridge");
    assert_null(json_object_get(c0, "prevResult"));
    /* bridge declares "ips" only: nothing given for it, so no runtimeConfig. */
    assert_null(json_object_get(c0, "runtimeConfig"));

    c1 = net_cni_plugin_conf(list, 1, prev, caps, &err);
    assert_non_null(c1);
    assert_true(json_equal(json_object_get(c1, "prevResult"), prev));
    rc = json_object_get(c1, "runtimeConfig");
    assert_non_null(rc);
    assert_true(
        json_equal(json_object_get(rc, "portMappings"), json_object_get(caps, "portMappings")));
    assert_null(json_object_get(rc, "bandwidth")); /* declared false */
    assert_int_equal(json_integer_value(json_object_get(rc, "keep")), 1);

    /* The list itself is left as it was. */
    assert_true(json_equal(list, before));
    assert_null(net_cni_plugin_conf(list, 2, NULL, NULL, &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
}

static void
test_list_validate(void **state)
{
    struct k3c_err err = {0};
    static const char *const bad[] = {
        "[]",
        "{\"name\":\"k3c\",\"plugins\":[{\"type\":\"bridge\"}]}",
        "{\"cniVersion\":\"1.0.0\",\"plugins\":[{\"type\":\"bridge\"}]}",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"k3c\",\"plugins\":[]}",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"k3c\",\"plugins\":[{}]}",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"k3c\",\"plugins\":[{\"type\":\"../../bin/sh\"}]}",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"a/b\",\"plugins\":[{\"type\":\"bridge\"}]}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        _cleanup_json_ json_t *j = parse(bad[i]);

        err.kind = K3C_E_NONE;
        assert_int_equal(net_cni_list_validate(j, &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
    }
    {
        _cleanup_json_ json_t *j = parse(list_text);

        assert_int_equal(net_cni_list_validate(j, &err), 0);
    }
}

static void
test_pod_conflist_default(void **state)
{
    struct net_pod_config cfg = {.pod_cidr = "10.42.7.0/24", .state_dir = "/tmp/k3c-state"};
    _cleanup_json_ json_t *list = NULL;
    struct k3c_err err = {0};
    json_t *br, *ipam, *pm;

    (void)state;
    list = net_pod_conflist(&cfg, &err);
    assert_non_null(list);
    assert_int_equal(net_cni_list_validate(list, &err), 0);
    assert_string_equal(json_string_value(json_object_get(list, "cniVersion")),
                        NET_CNI_SPEC_VERSION);
    assert_string_equal(json_string_value(json_object_get(list, "name")), "k3c");
    assert_int_equal(json_array_size(json_object_get(list, "plugins")), 2);

    br = json_array_get(json_object_get(list, "plugins"), 0);
    assert_string_equal(json_string_value(json_object_get(br, "type")), "bridge");
    assert_string_equal(json_string_value(json_object_get(br, "bridge")), "cni0");
    assert_true(json_is_true(json_object_get(br, "isGateway")));
    assert_true(json_is_false(json_object_get(br, "ipMasq")));
    assert_true(json_is_true(json_object_get(br, "hairpinMode")));
    assert_null(json_object_get(br, "mtu"));
    ipam = json_object_get(br, "ipam");
    assert_string_equal(json_string_value(json_object_get(ipam, "type")), "host-local");
    assert_string_equal(json_string_value(json_object_get(ipam, "dataDir")), "/tmp/k3c-state/ipam");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_array_get(json_object_get(ipam, "ranges"), 0), 0), "subnet")),
        "10.42.7.0/24");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(ipam, "routes"), 0), "dst")),
                        "0.0.0.0/0");

    pm = json_array_get(json_object_get(list, "plugins"), 1);
    assert_string_equal(json_string_value(json_object_get(pm, "type")), "portmap");
    assert_true(json_is_true(json_object_get(json_object_get(pm, "capabilities"), "portMappings")));
}

static void
test_pod_conflist_options_and_errors(void **state)
{
    struct net_pod_config cfg = {
        .pod_cidr = "10.42.3.0/24", .bridge = "br-pods", .network = "lab", .mtu = 1450};
    _cleanup_json_ json_t *list = NULL;
    struct k3c_err err = {0};
    static const char *const bad_cidrs[] = {
        NULL,         "",          "10.42.3.0",  "10.42.3.0/33",
        "10.42.3/24", "fd00::/64", "10.42.3.0/", "10.42.3.0/2x"};
    json_t *br;

    (void)state;
    list = net_pod_conflist(&cfg, &err);
    assert_non_null(list);
    assert_string_equal(json_string_value(json_object_get(list, "name")), "lab");
    br = json_array_get(json_object_get(list, "plugins"), 0);
    assert_string_equal(json_string_value(json_object_get(br, "bridge")), "br-pods");
    assert_int_equal(json_integer_value(json_object_get(br, "mtu")), 1450);
    assert_string_equal(json_string_value(json_object_get(json_object_get(br, "ipam"), "dataDir")),
                        NET_POD_STATE_DIR "/ipam");

    for (size_t i = 0; i < sizeof(bad_cidrs) / sizeof(bad_cidrs[0]); i++) {
        cfg.pod_cidr = bad_cidrs[i];
        err.kind = K3C_E_NONE;
        assert_null(net_pod_conflist(&cfg, &err));
        assert_int_equal(err.kind, K3C_E_INVALID);
    }
    cfg.pod_cidr = "10.42.3.0/24";
    cfg.bridge = "a-bridge-name-too-long";
    assert_null(net_pod_conflist(&cfg, &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
}

static void
test_names_and_paths(void **state)
{
    struct net_pod_config cfg = {.netns_dir = "/tmp/ns"};
    char *p;

    (void)state;
    assert_true(net_name_valid("0b7e4a2c-1f3d-4c8e-9a6b-5d2f1e0c3b4a"));
    assert_true(net_name_valid("k3c_node.1"));
    assert_false(net_name_valid(NULL));
    assert_false(net_name_valid(""));
    assert_false(net_name_valid("."));
    assert_false(net_name_valid(".."));
    assert_false(net_name_valid("-x"));
    assert_false(net_name_valid("a/b"));
    assert_false(net_name_valid("a b"));

    p = net_pod_netns_path(&cfg, "abc-1");
    assert_string_equal(p, "/tmp/ns/k3c-abc-1");
    free(p);
    cfg.netns_dir = NULL;
    p = net_pod_netns_path(&cfg, "abc-1");
    assert_string_equal(p, NET_NETNS_DIR "/k3c-abc-1");
    free(p);
    assert_null(net_pod_netns_path(&cfg, "../etc"));
    p = net_netns_path("/run/netns", "n1");
    assert_string_equal(p, "/run/netns/n1");
    free(p);
    assert_string_equal(net_cni_cmd_name(NET_CNI_ADD), "ADD");
    assert_string_equal(net_cni_cmd_name(NET_CNI_VERSION), "VERSION");
}

static void
test_find_plugin_rejects_bad_type(void **state)
{
    struct k3c_err err = {0};

    (void)state;
    assert_null(net_cni_find_plugin("/usr/lib/cni", "../../bin/sh", &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_null(net_cni_find_plugin("/nonexistent-a::/nonexistent-b", "bridge", &err));
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "'bridge' not found in /nonexistent-a::/nonexistent-b"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_parse_bridge),
        cmocka_unit_test(test_result_parse_minimal_and_bad),
        cmocka_unit_test(test_result_parse_keeps_at_most_max),
        cmocka_unit_test(test_plugin_error_object),
        cmocka_unit_test(test_plugin_error_without_object),
        cmocka_unit_test(test_plugin_conf_derivation),
        cmocka_unit_test(test_list_validate),
        cmocka_unit_test(test_pod_conflist_default),
        cmocka_unit_test(test_pod_conflist_options_and_errors),
        cmocka_unit_test(test_names_and_paths),
        cmocka_unit_test(test_find_plugin_rejects_bad_type),
    };

    return cmocka_run_group_tests_name("net_cni", tests, NULL, NULL);
}
