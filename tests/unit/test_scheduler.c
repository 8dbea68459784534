/* SPDX-License-Identifier: Apache-2.0
 * test_scheduler.c - the scheduler's pure parts: quantities, pod demands
 * (init containers' max rule, limits standing in for requests), each
 * filter (cordon, taints and tolerations, nodeSelector, every node
 * affinity operator and matchFields, host ports, cpu/memory/pods/extended
 * resources), the scores (least allocated, preferred affinity,
 * PreferNoSchedule, spreading one owner's pods) and upstream's message. */
#include "scheduler/scheduler.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *
parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    if (!j)
        fail_msg("bad JSON in test: %s: %s", e.text, text);
    return j;
}

/* A Ready node with labels/taints/spec given as JSON fragments. */
static json_t *
node_json(const char *name, const char *labels, const char *spec, const char *alloc,
          const char *ready)
{
    char buf[4096];

    snprintf(buf, sizeof(buf),
             "{\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\",\"labels\":%s},\"spec\":%s,"
             "\"status\":{\"allocatable\":%s,\"conditions\":[{\"type\":\"Ready\",\"status\":"
             "\"%s\"}]}}",
             name, labels ? labels : "{}", spec ? spec : "{}",
             alloc ? alloc : "{\"cpu\":\"4\",\"memory\":\"8Gi\",\"pods\":\"110\"}",
             ready ? ready : "True");
    return parse(buf);
}

static json_t *
pod_json(const char *spec)
{
    char buf[4096];

    snprintf(buf, sizeof(buf),
             "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"default\"},"
             "\"spec\":%s}",
             spec);
    return parse(buf);
}

struct fixture {
    struct sched_node nodes[8];
    struct sched_node *ptrs[8];
    size_t n;
};

static void
add_node(struct fixture *f, json_t *node)
{
    memset(&f->nodes[f->n], 0, sizeof(f->nodes[0]));
    sched_node_init(&f->nodes[f->n], node);
    f->ptrs[f->n] = &f->nodes[f->n];
    f->n++;
    json_decref(node);
}

static void
fixture_fini(struct fixture *f)
{
    for (size_t i = 0; i < f->n; i++)
        sched_node_fini(&f->nodes[i]);
}

/* The name of the node picked for pod_spec, or the message. */
static int
pick(struct fixture *f, const char *pod_spec, char *msg, size_t len)
{
    json_t *pod = pod_json(pod_spec);
    struct sched_pod p;
    int i;

    sched_pod_init(&p, pod);
    msg[0] = '\0';
    i = sched_pick(f->ptrs, f->n, &p, msg, len);
    sched_pod_fini(&p);
    json_decref(pod);
    return i;
}

static const char *
pick_name(struct fixture *f, const char *pod_spec)
{
    static char msg[2048];
    int i = pick(f, pod_spec, msg, sizeof(msg));

    return i < 0 ? NULL : f->nodes[i].name;
}

#define C1 "{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]"

/* ---- tests -------------------------------------------------------------------- */

static void
test_quantities(void **state)
{
    int64_t v;

    (void)state;
    assert_true(sched_quantity_milli("100m", &v));
    assert_int_equal(v, 100);
    assert_true(sched_quantity_milli("2", &v));
    assert_int_equal(v, 2000);
    assert_true(sched_quantity_milli("1.5", &v));
    assert_int_equal(v, 1500);
    assert_true(sched_quantity_milli("128Mi", &v));
    assert_int_equal(v, 128LL * 1024 * 1024 * 1000);
    assert_true(sched_quantity_milli("1G", &v));
    assert_int_equal(v, 1000000000LL * 1000);
    assert_true(sched_quantity_milli("2e3", &v));
    assert_int_equal(v, 2000000);
    assert_true(sched_quantity_milli("1Ki", &v));
    assert_int_equal(v, 1024000);
    assert_true(sched_quantity_milli("0.5m", &v)); /* rounded up */
    assert_int_equal(v, 1);
    assert_false(sched_quantity_milli("abc", &v));
    assert_false(sched_quantity_milli("1Xi", &v));
    assert_false(sched_quantity_milli("", &v));
}

static void
test_pod_requests(void **state)
{
    json_t *pod = pod_json(
        "{\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\","
        "\"memory\":\"64Mi\"}}},{\"name\":\"b\",\"resources\":{\"limits\":{\"cpu\":\"200m\","
        "\"nvidia.com/gpu\":\"1\"}}}],\"initContainers\":[{\"name\":\"i\",\"resources\":{"
        "\"requests\":{\"cpu\":\"1\",\"memory\":\"1Mi\"}}}],\"containers_ports\":[]}");
    struct sched_pod p;

    (void)state;
    sched_pod_init(&p, pod);
    assert_int_equal(p.req.cpu_m, 1000); /* init container's 1 > 100m + 200m */
    assert_int_equal(p.req.mem, 64LL * 1024 * 1024);
    assert_int_equal(p.req.pods, 1);
    assert_int_equal(p.req.n_ext, 1);
    assert_string_equal(p.req.ext[0].name, "nvidia.com/gpu");
    assert_int_equal(p.req.ext[0].v, 1);
    sched_pod_fini(&p);
    json_decref(pod);
}

static void
test_node_selector_and_cordon(void **state)
{
    struct fixture f = {0};
    char msg[2048];

    (void)state;
    add_node(&f, node_json("plain", NULL, NULL, NULL, NULL));
    add_node(&f, node_json("gpu", "{\"gpu\":\"true\"}", NULL, NULL, NULL));
    add_node(&f, node_json("gpu-cordoned", "{\"gpu\":\"true\"}", "{\"unschedulable\":true}", NULL,
                           NULL));
    assert_string_equal(pick_name(&f, C1 ",\"nodeSelector\":{\"gpu\":\"true\"}}"), "gpu");
    assert_int_equal(pick(&f, C1 ",\"nodeSelector\":{\"gpu\":\"false\"}}", msg, sizeof(msg)), -1);
    assert_string_equal(msg, "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) "
                             "didn't match Pod's node affinity/selector. preemption: 0/3 nodes "
                             "are available: 3 Preemption is not helpful for scheduling.");
    /* Tolerating the unschedulable taint gets past the cordon. */
    f.nodes[1].used.pods = 5; /* make the cordoned one the least loaded */
    assert_string_equal(pick_name(&f, C1
                                  ",\"nodeSelector\":{\"gpu\":\"true\"},\"tolerations\":[{\"key\":"
                                  "\"node.kubernetes.io/unschedulable\",\"operator\":\"Exists\","
                                  "\"effect\":\"NoSchedule\"}]}"),
                        "gpu-cordoned");
    fixture_fini(&f);
}

static void
test_affinity_operators(void **state)
{
    struct fixture f = {0};
    char spec[2048];
    static const struct {
        const char *expr;
        const char *want; /* node name or NULL */
    } cases[] = {
        {"{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"b\",\"c\"]}", "b"},
        {"{\"key\":\"zone\",\"operator\":\"NotIn\",\"values\":[\"a\"]}", "b"},
        {"{\"key\":\"ssd\",\"operator\":\"Exists\"}", "a"},
        {"{\"key\":\"ssd\",\"operator\":\"DoesNotExist\"}", "b"},
        {"{\"key\":\"cores\",\"operator\":\"Gt\",\"values\":[\"10\"]}", "b"},
        {"{\"key\":\"cores\",\"operator\":\"Lt\",\"values\":[\"10\"]}", "a"},
        {"{\"key\":\"cores\",\"operator\":\"Gt\",\"values\":[\"100\"]}", NULL},
        {"{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"z\"]}", NULL},
    };

    (void)state;
    add_node(&f,
             node_json("a", "{\"zone\":\"a\",\"ssd\":\"yes\",\"cores\":\"8\"}", NULL, NULL, NULL));
    add_node(&f, node_json("b", "{\"zone\":\"b\",\"cores\":\"16\"}", NULL, NULL, NULL));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got;

        snprintf(spec, sizeof(spec),
                 C1 ",\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuring"
                    "Execution\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[%s]}]}}}}",
                 cases[i].expr);
        got = pick_name(&f, spec);
        if (!cases[i].want)
            assert_null(got);
        else
            assert_string_equal(got, cases[i].want);
    }
    /* matchFields on metadata.name, and terms ORed. */
    assert_string_equal(
        pick_name(&f, C1 ",\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnored"
                         "DuringExecution\":{\"nodeSelectorTerms\":[{\"matchFields\":[{\"key\":"
                         "\"metadata.name\",\"operator\":\"In\",\"values\":[\"b\"]}]},"
                         "{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\","
                         "\"values\":[\"nowhere\"]}]}]}}}}"),
        "b");
    fixture_fini(&f);
}

static void
test_taints(void **state)
{
    struct fixture f = {0};
    char msg[2048];

    (void)state;
    add_node(&f, node_json("tainted", NULL,
                           "{\"taints\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":"
                           "\"NoSchedule\"}]}",
                           NULL, NULL));
    add_node(&f, node_json("notready", NULL, NULL, NULL, "False"));
    assert_int_equal(pick(&f, C1 "}", msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "1 node(s) had untolerated taint {dedicated: db}"));
    assert_non_null(
        strstr(msg, "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }"));
    assert_string_equal(pick_name(&f, C1 ",\"tolerations\":[{\"key\":\"dedicated\",\"operator\":"
                                         "\"Equal\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]}"),
                        "tainted");
    /* Wrong value: not tolerated. */
    assert_null(pick_name(&f, C1 ",\"tolerations\":[{\"key\":\"dedicated\",\"value\":\"web\"}]}"));
    /* Operator Exists without a key tolerates everything. */
    assert_non_null(pick_name(&f, C1 ",\"tolerations\":[{\"operator\":\"Exists\"}]}"));
    fixture_fini(&f);
}

static void
test_prefer_no_schedule(void **state)
{
    struct fixture f = {0};

    (void)state;
    add_node(&f, node_json("soft", NULL,
                           "{\"taints\":[{\"key\":\"x\",\"effect\":\"PreferNoSchedule\"}]}", NULL,
                           NULL));
    add_node(&f, node_json("clean", NULL, NULL, NULL, NULL));
    assert_string_equal(pick_name(&f, C1 "}"), "clean");
    fixture_fini(&f);
}

static void
test_resources(void **state)
{
    struct fixture f = {0};
    char msg[2048];
    json_t *big;
    struct sched_pod bp;

    (void)state;
    add_node(&f, node_json("small", NULL, NULL, "{\"cpu\":\"1\",\"memory\":\"1Gi\",\"pods\":\"2\"}",
                           NULL));
    add_node(&f, node_json("gpu", NULL, NULL,
                           "{\"cpu\":\"2\",\"memory\":\"2Gi\",\"pods\":\"10\",\"nvidia.com/gpu\":"
                           "\"1\"}",
                           NULL));
    assert_string_equal(pick_name(&f, "{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{"
                                      "\"nvidia.com/gpu\":\"1\"}}}]}"),
                        "gpu");
    assert_int_equal(pick(&f,
                          "{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":"
                          "\"3\",\"memory\":\"4Gi\"}}}]}",
                          msg, sizeof(msg)),
                     -1);
    assert_string_equal(msg, "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory. "
                             "preemption: 0/2 nodes are available: 2 Preemption is not helpful "
                             "for scheduling.");
    /* Used capacity counts: the GPU taken, the second GPU pod fits nowhere. */
    big = pod_json("{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{"
                   "\"nvidia.com/gpu\":\"1\"}}}]}");
    sched_pod_init(&bp, big);
    sched_node_add_pod(&f.nodes[1], &bp);
    assert_int_equal(pick(&f,
                          "{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{"
                          "\"nvidia.com/gpu\":\"1\"}}}]}",
                          msg, sizeof(msg)),
                     -1);
    assert_non_null(strstr(msg, "2 Insufficient nvidia.com/gpu"));
    sched_node_remove_pod(&f.nodes[1], &bp);
    assert_string_equal(pick_name(&f, "{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{"
                                      "\"nvidia.com/gpu\":\"1\"}}}]}"),
                        "gpu");
    sched_pod_fini(&bp);
    json_decref(big);
    /* Pod count. */
    f.nodes[0].used.pods = 2;
    f.nodes[1].used.pods = 10;
    assert_int_equal(pick(&f, C1 "}", msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "2 Too many pods"));
    fixture_fini(&f);
}

static void
test_host_ports(void **state)
{
    struct fixture f = {0};
    const char *spec = "{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,"
                       "\"hostPort\":8080}]}]}";
    json_t *pod = pod_json(spec);
    struct sched_pod p;
    char msg[2048];

    (void)state;
    add_node(&f, node_json("one", NULL, NULL, NULL, NULL));
    sched_pod_init(&p, pod);
    assert_int_equal(p.n_ports, 1);
    sched_node_add_pod(&f.nodes[0], &p);
    assert_int_equal(pick(&f, spec, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "1 node(s) didn't have free ports for the requested pod ports"));
    /* Another protocol is no conflict. */
    assert_string_equal(pick_name(&f, "{\"containers\":[{\"name\":\"c\",\"ports\":[{"
                                      "\"containerPort\":80,\"hostPort\":8080,\"protocol\":"
                                      "\"UDP\"}]}]}"),
                        "one");
    sched_node_remove_pod(&f.nodes[0], &p);
    assert_string_equal(pick_name(&f, spec), "one");
    sched_pod_fini(&p);
    json_decref(pod);
    fixture_fini(&f);
}

static void
test_scores(void **state)
{
    struct fixture f = {0};
    json_t *owned;
    struct sched_pod op;

    (void)state;
    add_node(&f, node_json("busy", "{\"disk\":\"ssd\"}", NULL, NULL, NULL));
    add_node(&f, node_json("idle", NULL, NULL, NULL, NULL));
    f.nodes[0].used.cpu_m = 3000;
    f.nodes[0].used.mem = 6LL << 30;
    /* Least allocated wins... */
    assert_string_equal(pick_name(&f, C1 "}"), "idle");
    /* ...unless a preferred affinity weighs more. */
    assert_string_equal(
        pick_name(&f, C1 ",\"affinity\":{\"nodeAffinity\":{\"preferredDuringSchedulingIgnored"
                         "DuringExecution\":[{\"weight\":100,\"preference\":{\"matchExpressions\":"
                         "[{\"key\":\"disk\",\"operator\":\"In\",\"values\":[\"ssd\"]}]}}]}}}"),
        "busy");
    /* Spreading: two replicas of one owner already on idle push the third to busy. */
    f.nodes[0].used.cpu_m = 0;
    f.nodes[0].used.mem = 0;
    owned = parse("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"r\",\"namespace\":\"default\","
                  "\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"rs\",\"uid\":"
                  "\"u-1\",\"controller\":true}]},\"spec\":" C1 "}}");
    sched_pod_init(&op, owned);
    sched_node_add_pod(&f.nodes[1], &op);
    assert_string_equal(pick_name(&f, C1 "}"), "busy"); /* fewer pods too */
    {
        struct sched_pod p;
        int i;
        char msg[64];

        sched_pod_init(&p, owned);
        i = sched_pick(f.ptrs, f.n, &p, msg, sizeof(msg));
        assert_string_equal(f.nodes[i].name, "busy");
        sched_pod_fini(&p);
    }
    sched_node_remove_pod(&f.nodes[1], &op);
    assert_int_equal(f.nodes[1].n_owners, 0);
    sched_pod_fini(&op);
    json_decref(owned);
    fixture_fini(&f);
}

static void
test_no_nodes_and_ours(void **state)
{
    struct fixture f = {0};
    char msg[256];
    json_t *pod;

    (void)state;
    assert_int_equal(pick(&f, C1 "}", msg, sizeof(msg)), -1);
    assert_string_equal(msg, "no nodes available to schedule pods");
    pod = pod_json(C1 ",\"schedulerName\":\"other\"}");
    assert_false(sched_pod_is_ours(pod));
    json_decref(pod);
    pod = pod_json(C1 ",\"nodeName\":\"n\"}");
    assert_false(sched_pod_is_ours(pod));
    json_decref(pod);
    pod = pod_json(C1 ",\"schedulerName\":\"default-scheduler\"}");
    assert_true(sched_pod_is_ours(pod));
    json_decref(pod);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_pod_requests),
        cmocka_unit_test(test_node_selector_and_cordon),
        cmocka_unit_test(test_affinity_operators),
        cmocka_unit_test(test_taints),
        cmocka_unit_test(test_prefer_no_schedule),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_host_ports),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_no_nodes_and_ours),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
