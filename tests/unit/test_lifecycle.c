/* SPDX-License-Identifier: Apache-2.0
 * test_lifecycle.c - the pure decisions of the lifecycle controllers
 * (src/controllers/lifecycle_logic.c): tolerations and eviction times,
 * node taints and conditions, pod CIDRs, EndpointSlice/Endpoints contents,
 * GC list edits, and the DefaultTolerationSeconds admission. */
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "controllers/lifecycle.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *
js(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    if (!j)
        fprintf(stderr, "bad JSON in test: %s: %s\n", e.text, text);
    assert_non_null(j);
    return j;
}

static void
test_tolerates(void **state)
{
    _cleanup_json_ json_t *taint = js("{\"key\":\"k\",\"value\":\"v\",\"effect\":\"NoExecute\"}");
    _cleanup_json_ json_t *exists = js("{\"operator\":\"Exists\"}");
    _cleanup_json_ json_t *eq = js("{\"key\":\"k\",\"value\":\"v\"}");
    _cleanup_json_ json_t *eq_bad = js("{\"key\":\"k\",\"value\":\"w\"}");
    _cleanup_json_ json_t *other_effect =
        js("{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}");

    (void)state;
    assert_true(lc_tolerates(exists, taint));
    assert_true(lc_tolerates(eq, taint));
    assert_false(lc_tolerates(eq_bad, taint));
    assert_false(lc_tolerates(other_effect, taint));
}

static void
test_taints_want(void **state)
{
    _cleanup_json_ json_t *none = json_array();
    _cleanup_json_ json_t *other = js("[{\"key\":\"gpu\",\"effect\":\"NoSchedule\"}]");
    _cleanup_json_ json_t *unknown = NULL, *back = NULL, *notready = NULL, *again = NULL;

    (void)state;
    assert_null(lc_node_taints_want(none, "True", "2026-01-01T00:00:00Z"));
    assert_null(lc_node_taints_want(other, NULL, "2026-01-01T00:00:00Z"));
    unknown = lc_node_taints_want(other, "Unknown", "2026-01-01T00:00:00Z");
    assert_int_equal(json_array_size(unknown), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(unknown, 1), "key")),
                        LC_TAINT_UNREACHABLE);
    assert_string_equal(json_string_value(json_object_get(json_array_get(unknown, 2), "effect")),
                        "NoExecute");
    /* Unchanged when wanted ones are there already (timeAdded kept). */
    assert_null(lc_node_taints_want(unknown, "Unknown", "2027-01-01T00:00:00Z"));
    /* Ready=False swaps unreachable for not-ready. */
    notready = lc_node_taints_want(unknown, "False", "2026-01-01T00:01:00Z");
    assert_int_equal(json_array_size(notready), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(notready, 1), "key")),
                        LC_TAINT_NOT_READY);
    back = lc_node_taints_want(notready, "True", "2026-01-01T00:02:00Z");
    assert_int_equal(json_array_size(back), 1);
    again = lc_node_taints_want(back, "True", "x");
    assert_null(again);
}

static void
test_mark_unknown(void **state)
{
    _cleanup_json_ json_t *st = js("{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
                                   "\"reason\":\"KubeletReady\"}]}");
    json_t *ready;

    (void)state;
    assert_true(lc_node_mark_unknown(st, "2026-01-01T00:00:00Z"));
    assert_int_equal(json_array_size(json_object_get(st, "conditions")), 4);
    ready = json_array_get(json_object_get(st, "conditions"), 0);
    assert_string_equal(json_string_value(json_object_get(ready, "status")), "Unknown");
    assert_string_equal(json_string_value(json_object_get(ready, "reason")), "NodeStatusUnknown");
    assert_string_equal(json_string_value(json_object_get(ready, "message")),
                        "Kubelet stopped posting node status.");
    assert_false(lc_node_mark_unknown(st, "2026-01-01T00:00:05Z"));
}

static void
test_heartbeat(void **state)
{
    _cleanup_json_ json_t *node =
        js("{\"metadata\":{\"creationTimestamp\":\"c\"},\"status\":{\"conditions\":"
           "[{\"type\":\"Ready\",\"lastHeartbeatTime\":\"h\"}]}}");
    _cleanup_json_ json_t *bare = js("{\"metadata\":{\"creationTimestamp\":\"c\"}}");
    _cleanup_json_ json_t *lease = js("{\"spec\":{\"renewTime\":\"r\"}}");

    (void)state;
    assert_string_equal(lc_node_heartbeat(node, lease), "r");
    assert_string_equal(lc_node_heartbeat(node, NULL), "h");
    assert_string_equal(lc_node_heartbeat(bare, NULL), "c");
}

static void
test_eviction_time(void **state)
{
    _cleanup_json_ json_t *taints =
        js("[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\","
           "\"timeAdded\":\"2026-01-01T00:00:00Z\"},"
           "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\"}]");
    _cleanup_json_ json_t *bare = js("{\"spec\":{}}");
    _cleanup_json_ json_t *secs =
        js("{\"spec\":{\"tolerations\":[{\"key\":\"node.kubernetes.io/unreachable\","
           "\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":30},"
           "{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":"
           "\"NoExecute\",\"tolerationSeconds\":5}]}}");
    _cleanup_json_ json_t *forever = js("{\"spec\":{\"tolerations\":[{\"operator\":\"Exists\"}]}}");
    _cleanup_json_ json_t *no_exec = js("[{\"key\":\"a\",\"effect\":\"NoSchedule\"}]");
    int64_t t0 = k3c_time_parse_rfc3339("2026-01-01T00:00:00Z");

    (void)state;
    assert_int_equal(lc_eviction_time_ms(bare, taints), 0);
    assert_int_equal(lc_eviction_time_ms(secs, taints), (t0 + 30) * 1000);
    assert_int_equal(lc_eviction_time_ms(forever, taints), -1);
    assert_int_equal(lc_eviction_time_ms(bare, no_exec), -1);
}

static void
test_cidr(void **state)
{
    struct lc_cidr c;
    char buf[32];

    (void)state;
    assert_int_equal(lc_cidr_parse("10.42.0.0/16", 24, &c), 0);
    assert_int_equal(lc_cidr_count(&c), 256);
    lc_cidr_format(&c, 0, buf, sizeof(buf));
    assert_string_equal(buf, "10.42.0.0/24");
    lc_cidr_format(&c, 255, buf, sizeof(buf));
    assert_string_equal(buf, "10.42.255.0/24");
    assert_int_equal(lc_cidr_index(&c, "10.42.7.0/24"), 7);
    assert_int_equal(lc_cidr_index(&c, "10.43.7.0/24"), -1);
    assert_int_equal(lc_cidr_index(&c, "10.42.7.0/25"), -1);
    assert_int_equal(lc_cidr_index(&c, "junk"), -1);
    assert_int_equal(lc_cidr_parse("10.42.0.0/16", 8, &c), -1);
    assert_int_equal(lc_cidr_parse("10.42.0.0", 24, &c), -1);
    assert_int_equal(lc_cidr_parse("10.42.0.0/x", 24, &c), -1);
    assert_int_equal(lc_cidr_parse("10.0.0.0/8", 24, &c), 0);
    assert_int_equal(lc_cidr_count(&c), 65536);
    lc_cidr_format(&c, 258, buf, sizeof(buf));
    assert_string_equal(buf, "10.1.2.0/24");
}

static const char *svc_text =
    "{\"spec\":{\"selector\":{\"app\":\"a\"},\"ports\":[{\"name\":\"http\",\"port\":80,"
    "\"targetPort\":\"web\"},{\"name\":\"m\",\"port\":9000}]}}";

static json_t *
pod(const char *name, const char *ip, bool ready, bool terminating)
{
    json_t *p = json_pack(
        "{s:{s:s, s:s, s:s}, s:{s:s, s:[{s:s, s:[{s:s, s:i}]}]}, s:{s:s, s:[{s:s, s:s}]}}",
        "metadata", "name", name, "namespace", "default", "uid", name, "spec", "nodeName", "n1",
        "containers", "name", "c", "ports", "name", "web", "containerPort", 8080, "status", "phase",
        "Running", "conditions", "type", "Ready", "status", ready ? "True" : "False");

    if (ip)
        json_object_set_new(json_object_get(p, "status"), "podIP", json_string(ip));
    if (terminating)
        json_object_set_new(json_object_get(p, "metadata"), "deletionTimestamp",
                            json_string("2026-01-01T00:00:00Z"));
    return p;
}

static void
test_endpoints(void **state)
{
    _cleanup_json_ json_t *svc = js(svc_text);
    _cleanup_json_ json_t *pods = json_array();
    _cleanup_json_ json_t *groups = NULL, *subsets = NULL;
    json_t *g, *eps, *s;

    (void)state;
    json_array_append_new(pods, pod("p2", "10.42.0.12", false, false));
    json_array_append_new(pods, pod("p1", "10.42.0.11", true, false));
    json_array_append_new(pods, pod("p3", NULL, true, false));
    json_array_append_new(pods, pod("p4", "10.42.0.14", true, true));
    groups = lc_endpoint_groups(svc, pods);
    assert_int_equal(json_array_size(groups), 1);
    g = json_array_get(groups, 0);
    assert_int_equal(json_array_size(json_object_get(g, "ports")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(g, "ports"), 0), "port")),
        8080);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(g, "ports"), 1), "port")),
        9000);
    eps = json_object_get(g, "endpoints");
    assert_int_equal(json_array_size(eps), 3); /* p3 has no IP */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(eps, 0), "targetRef"), "name")),
                        "p1");
    assert_true(json_is_true(
        json_object_get(json_object_get(json_array_get(eps, 0), "conditions"), "ready")));
    assert_true(json_is_false(
        json_object_get(json_object_get(json_array_get(eps, 1), "conditions"), "ready")));
    assert_true(json_is_true(
        json_object_get(json_object_get(json_array_get(eps, 2), "conditions"), "terminating")));
    assert_true(json_is_true(
        json_object_get(json_object_get(json_array_get(eps, 2), "conditions"), "serving")));
    subsets = lc_endpoints_subsets(groups);
    assert_int_equal(json_array_size(subsets), 1);
    s = json_array_get(subsets, 0);
    assert_int_equal(json_array_size(json_object_get(s, "addresses")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(s, "addresses"), 0), "ip")),
                        "10.42.0.11");
    assert_int_equal(json_array_size(json_object_get(s, "notReadyAddresses")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(s, "notReadyAddresses"), 0), "ip")),
                        "10.42.0.12");
}

/* A pod's hostname names its endpoint when its subdomain is the Service
 * (upstream's ShouldSetHostname; the DNS's <hostname>.<svc> records). */
static void
test_endpoint_hostname(void **state)
{
    _cleanup_json_ json_t *svc = js(svc_text);
    _cleanup_json_ json_t *pods = json_array();
    _cleanup_json_ json_t *groups = NULL, *subsets = NULL;
    json_t *p1 = pod("p1", "10.42.0.11", true, false), *p2 = pod("p2", "10.42.0.12", true, false);

    (void)state;
    json_object_set_new(svc, "metadata",
                        json_pack("{s:s, s:s}", "name", "hl", "namespace", "default"));
    json_object_set_new(json_object_get(p1, "spec"), "hostname", json_string("web-0"));
    json_object_set_new(json_object_get(p1, "spec"), "subdomain", json_string("hl"));
    json_object_set_new(json_object_get(p2, "spec"), "hostname", json_string("web-1"));
    json_object_set_new(json_object_get(p2, "spec"), "subdomain", json_string("other"));
    json_array_append_new(pods, p1);
    json_array_append_new(pods, p2);
    groups = lc_endpoint_groups(svc, pods);
    json_t *eps = json_object_get(json_array_get(groups, 0), "endpoints");
    assert_int_equal(json_array_size(eps), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(eps, 0), "hostname")),
                        "web-0");
    assert_null(json_object_get(json_array_get(eps, 1), "hostname"));
    subsets = lc_endpoints_subsets(groups);
    json_t *addrs = json_object_get(json_array_get(subsets, 0), "addresses");
    assert_string_equal(json_string_value(json_object_get(json_array_get(addrs, 0), "hostname")),
                        "web-0");
}

static void
test_gc_lists(void **state)
{
    _cleanup_json_ json_t *obj =
        js("{\"metadata\":{\"finalizers\":[\"orphan\",\"x\"],\"ownerReferences\":["
           "{\"uid\":\"u1\"},{\"uid\":\"u2\"}]}}");
    _cleanup_json_ json_t *f = NULL, *r = NULL;
    const struct api_resource *res;

    (void)state;
    assert_true(lc_has_finalizer(obj, "orphan"));
    assert_false(lc_has_finalizer(obj, "foregroundDeletion"));
    f = lc_finalizers_without(obj, "orphan");
    assert_int_equal(json_array_size(f), 1);
    r = lc_owner_refs_without(obj, "u1");
    assert_int_equal(json_array_size(r), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "uid")), "u2");
    res = lc_resource_for_kind("apps/v1", "ReplicaSet");
    assert_non_null(res);
    assert_string_equal(res->plural, "replicasets");
    res = lc_resource_for_kind("v1", "ConfigMap");
    assert_non_null(res);
    assert_string_equal(res->plural, "configmaps");
    assert_null(lc_resource_for_kind("v1", "ReplicaSet"));
    {
        _cleanup_free_ char *p1 =
            lc_object_path(lc_resource_for_kind("apps/v1", "ReplicaSet"), "ns", "rs1");
        _cleanup_free_ char *p2 = lc_object_path(lc_resource_for_kind("v1", "Node"), "x", "n1");
        _cleanup_free_ char *p3 = lc_object_path(lc_resource_for_kind("v1", "Pod"), "ns", NULL);

        assert_string_equal(p1, "/apis/apps/v1/namespaces/ns/replicasets/rs1");
        assert_string_equal(p2, "/api/v1/nodes/n1");
        assert_string_equal(p3, "/api/v1/namespaces/ns/pods");
    }
}

static void
test_default_tolerations(void **state)
{
    _cleanup_json_ json_t *p = js("{\"spec\":{}}");
    _cleanup_json_ json_t *own = js("{\"spec\":{\"tolerations\":[{\"key\":"
                                    "\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
                                    "\"effect\":\"NoExecute\",\"tolerationSeconds\":7}]}}");
    json_t *t;

    (void)state;
    api_pod_default_tolerations(p, 0, 12);
    t = json_object_get(json_object_get(p, "spec"), "tolerations");
    assert_int_equal(json_array_size(t), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(t, 0), "tolerationSeconds")),
                     300);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(t, 1), "tolerationSeconds")),
                     12);
    api_pod_default_tolerations(own, 5, 5);
    t = json_object_get(json_object_get(own, "spec"), "tolerations");
    assert_int_equal(json_array_size(t), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(t, 0), "tolerationSeconds")),
                     7);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tolerates),     cmocka_unit_test(test_taints_want),
        cmocka_unit_test(test_mark_unknown),  cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_eviction_time), cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_endpoints),     cmocka_unit_test(test_endpoint_hostname),
        cmocka_unit_test(test_gc_lists),      cmocka_unit_test(test_default_tolerations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
