/* SPDX-License-Identifier: Apache-2.0
 * test_lab.c - the lab's plan (hosts, addresses, names per dir, bad
 * options) and topology_from_nodes (roles, etcd quorum, VIP holder) on
 * hand-made NodeLists. */
#include "base/cleanup.h"
#include "base/util.h"
#include "lab/lab.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void
test_plan_default_topology(void **state)
{
    struct lab_options o = {.dir = "/tmp/x", .servers = 3};
    struct k3c_err err = {0};
    struct lab l;

    (void)state;
    assert_int_equal(lab_plan(&l, &o, &err), 0);
    assert_int_equal(l.n_hosts, 5);
    assert_string_equal(l.subnet, "192.168.20.0/24");
    assert_string_equal(l.router_ip, "192.168.20.1");
    assert_string_equal(l.vip, "192.168.20.225");
    assert_string_equal(l.hosts[0].name, "polynode-1");
    assert_string_equal(l.hosts[0].ip, "192.168.20.221");
    assert_string_equal(l.hosts[2].ip, "192.168.20.223");
    assert_int_equal(l.hosts[2].role, LAB_ROLE_SERVER);
    assert_string_equal(l.hosts[3].name, "gpu");
    assert_string_equal(l.hosts[3].ip, "192.168.20.224");
    assert_string_equal(l.hosts[3].label, "gpu=true");
    assert_int_equal(l.hosts[3].role, LAB_ROLE_AGENT);
    /* .225 is the VIP's: edge takes the next address. */
    assert_string_equal(l.hosts[4].name, "edge");
    assert_string_equal(l.hosts[4].ip, "192.168.20.226");
    assert_true(strlen(l.secret) >= 32);
    for (size_t i = 0; i < l.n_hosts; i++) {
        assert_true(strncmp(l.hosts[i].netns, l.prefix, strlen(l.prefix)) == 0);
        assert_true(strlen(l.hosts[i].lan_if) <= 15); /* IFNAMSIZ - 1 */
    }
}

static void
test_plan_names_differ_per_dir(void **state)
{
    struct lab_options a = {.dir = "/var/lib/k3c-lab", .servers = 1};
    struct lab_options b = {.dir = "/tmp/k3c-e2e-lab.123/lab", .servers = 1};
    struct k3c_err err = {0};
    struct lab la, lb;

    (void)state;
    assert_int_equal(lab_plan(&la, &a, &err), 0);
    assert_int_equal(lab_plan(&lb, &b, &err), 0);
    assert_string_not_equal(la.prefix, lb.prefix);
    assert_string_not_equal(la.hosts[0].netns, lb.hosts[0].netns);
    assert_string_equal(la.hosts[1].ip, "192.168.20.222"); /* gpu after one server */
}

static void
test_plan_options(void **state)
{
    struct lab_options o = {
        .dir = "/tmp/x", .servers = 1, .agents = "", .subnet = "10.77.3.9/24", .vip = "none"};
    struct k3c_err err = {0};
    struct lab l;

    (void)state;
    assert_int_equal(lab_plan(&l, &o, &err), 0);
    assert_int_equal(l.n_hosts, 1);
    assert_string_equal(l.subnet, "10.77.3.0/24");
    assert_string_equal(l.hosts[0].ip, "10.77.3.221");
    assert_string_equal(l.vip, "");
    o.vip = "10.77.3.250";
    assert_int_equal(lab_plan(&l, &o, &err), 0);
    assert_string_equal(l.vip, "10.77.3.250");
}

static void
test_plan_rejects_bad_options(void **state)
{
    static const struct lab_options bad[] = {
        {.servers = 0},
        {.servers = 8},
        {.servers = 1, .subnet = "192.168.20.0"},
        {.servers = 1, .subnet = "192.168.20.0/25"},
        {.servers = 1, .subnet = "300.1.1.0/24"},
        {.servers = 1, .vip = ".300"},
        {.servers = 1, .vip = "10.0.0.1"}, /* outside the subnet */
        {.servers = 1, .agents = "GPU"},
        {.servers = 1, .agents = "gpu,gpu"},
        {.servers = 1, .agents = "polynode-1"},
        {.servers = 1, .agents = "-x"},
    };

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bad); i++) {
        struct k3c_err err = {0};
        struct lab l;

        assert_int_equal(lab_plan(&l, &bad[i], &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
        assert_true(err.msg[0] != 0);
    }
}

/* A Node with name, IP, Ready status, control-plane or not, and an etcd
 * member state / VIP annotation when given. */
static json_t *
node(const char *name, const char *ip, const char *ready, bool server, const char *member,
     const char *vip)
{
    json_t *labels = json_pack("{s:s}", "kubernetes.io/hostname", name);
    json_t *ann = json_object();

    if (server)
        json_object_set_new(labels, "node-role.kubernetes.io/control-plane", json_string("true"));
    else
        json_object_set_new(labels, name, json_string("true"));
    if (member)
        json_object_set_new(ann, "etcd.k3c.io/member", json_string(member));
    if (vip)
        json_object_set_new(ann, "vip.k3c.io/holder", json_string(vip));
    return json_pack("{s:{s:s, s:o, s:o}, s:{s:[{s:s, s:s}], s:[{s:s, s:s}]}}", "metadata", "name",
                     name, "labels", labels, "annotations", ann, "status", "addresses", "type",
                     "InternalIP", "address", ip, "conditions", "type", "Ready", "status", ready);
}

static void
test_topology_ha(void **state)
{
    _cleanup_json_ json_t *list =
        json_pack("{s:[o,o,o,o]}", "items",
                  node("polynode-1", "192.168.20.221", "True", true, "leader", NULL),
                  node("polynode-2", "192.168.20.222", "Unknown", true, "voter", "192.168.20.225"),
                  node("polynode-3", "192.168.20.223", "True", true, "voter", NULL),
                  node("gpu", "192.168.20.224", "True", false, NULL, NULL));
    _cleanup_json_ json_t *t = topology_from_nodes(list, "https://127.0.0.1:1");
    const json_t *etcd = json_object_get(t, "etcd");
    _cleanup_free_ char *drawn = NULL;
    size_t len = 0;
    FILE *f;

    (void)state;
    assert_int_equal(json_array_size(json_object_get(t, "servers")), 3);
    assert_int_equal(json_array_size(json_object_get(t, "agents")), 1);
    assert_int_equal(json_integer_value(json_object_get(etcd, "voters")), 3);
    assert_int_equal(json_integer_value(json_object_get(etcd, "voters_up")), 2);
    assert_int_equal(json_integer_value(json_object_get(etcd, "quorum")), 2);
    assert_true(json_is_true(json_object_get(etcd, "has_quorum")));
    assert_string_equal(json_string_value(json_object_get(etcd, "leader")), "polynode-1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "vip"), "holder")),
                        "polynode-2");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(t, "agents"), 0), "labels"), "gpu")),
        "true");

    f = open_memstream(&drawn, &len);
    topology_print(f, t);
    fclose(f);
    assert_non_null(strstr(drawn, "VIP 192.168.20.225 -> polynode-2"));
    assert_non_null(
        strstr(drawn, "etcd quorum: 2 of 3 voters up (needs 2), OK, leader polynode-1"));
    assert_non_null(strstr(drawn, "| polynode-2  *VIP"));
    assert_non_null(strstr(drawn, "| etcd leader"));
    assert_non_null(strstr(drawn, "| gpu=true"));
}

static void
test_topology_quorum_lost(void **state)
{
    _cleanup_json_ json_t *list = json_pack(
        "{s:[o,o,o]}", "items", node("polynode-1", "192.168.20.221", "False", true, "voter", NULL),
        node("polynode-2", "192.168.20.222", "Unknown", true, "voter", NULL),
        node("polynode-3", "192.168.20.223", "True", true, "learner", NULL));
    _cleanup_json_ json_t *t = topology_from_nodes(list, "https://127.0.0.1:1");
    const json_t *etcd = json_object_get(t, "etcd");

    (void)state;
    assert_int_equal(json_integer_value(json_object_get(etcd, "voters")), 2);
    assert_int_equal(json_integer_value(json_object_get(etcd, "learners")), 1);
    assert_int_equal(json_integer_value(json_object_get(etcd, "voters_up")), 0);
    assert_false(json_is_true(json_object_get(etcd, "has_quorum")));
    assert_true(json_is_null(json_object_get(t, "vip")));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_default_topology),
        cmocka_unit_test(test_plan_names_differ_per_dir),
        cmocka_unit_test(test_plan_options),
        cmocka_unit_test(test_plan_rejects_bad_options),
        cmocka_unit_test(test_topology_ha),
        cmocka_unit_test(test_topology_quorum_lost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
