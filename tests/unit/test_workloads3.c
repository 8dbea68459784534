/* SPDX-License-Identifier: Apache-2.0
 * test_workloads3.c - the pure parts of issue #16's quota and preemption
 * work: quantities and Quantity.String()'s canonical form, a pod's
 * requests and limits (PodRequests: init containers' max, sidecars,
 * overhead), what objects use of a quota's names (counts, compute,
 * services, claims), scopes, the "must specify" rule; and the scheduler's
 * preemption: minimal victims reprieved from the highest priority down,
 * budget-violating pods spared first, and the choice between nodes. */
#include "quota/quota.h"
#include "controllers/workload.h"
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

static int64_t
milli(const char *s)
{
    json_t *v = json_string(s);
    int64_t m = -1;

    assert_true(quota_parse(v, &m));
    json_decref(v);
    return m;
}

static void
test_parse(void **state)
{
    json_t *bad;
    int64_t m;

    (void)state;
    assert_int_equal(milli("1"), 1000);
    assert_int_equal(milli("500m"), 500);
    assert_int_equal(milli("1.5"), 1500);
    assert_int_equal(milli("1Ki"), 1024000);
    assert_int_equal(milli("128Mi"), 128LL * 1048576 * 1000);
    assert_int_equal(milli("1G"), 1000000000000LL);
    assert_int_equal(milli("2e3"), 2000000);
    assert_int_equal(milli("1n"), 1); /* rounded up, as MilliValue */
    bad = json_string("1Qi");
    assert_false(quota_parse(bad, &m));
    json_decref(bad);
    bad = json_string("");
    assert_false(quota_parse(bad, &m));
    json_decref(bad);
}

static void
expect_format(int64_t m, const char *like, const char *want)
{
    char *got = quota_format(m, like);

    assert_string_equal(got, want);
    free(got);
}

static void
test_format(void **state)
{
    (void)state;
    expect_format(0, "1", "0");
    expect_format(1500, "2", "1500m");
    expect_format(2000, "2", "2");
    expect_format(1000000, "10", "1k");
    expect_format(256LL * 1048576 * 1000, "1Gi", "256Mi");
    expect_format(1073741824LL * 1000, "1Gi", "1Gi");
    expect_format(1000LL * 1000, "1Gi", "1k"); /* not a multiple of 1024 */
}

static const char pod_text[] =
    "{\"spec\":{\"containers\":["
    "{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"},"
    "\"limits\":{\"cpu\":\"200m\",\"memory\":\"128Mi\"}}},"
    "{\"name\":\"b\",\"resources\":{\"limits\":{\"cpu\":\"300m\"}}}],"
    "\"initContainers\":[{\"name\":\"i\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}},"
    "{\"name\":\"side\",\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"memory\":"
    "\"32Mi\"}}}],"
    "\"overhead\":{\"memory\":\"10Mi\"}},\"status\":{\"phase\":\"Running\"}}";

static void
test_pod_amounts(void **state)
{
    json_t *pod = parse(pod_text);

    (void)state;
    /* containers 100m + 300m (b's limit stands in) = 400m; init 1 wins */
    assert_int_equal(quota_pod_amount(pod, "cpu", false), 1000);
    /* 64Mi + sidecar 32Mi + overhead 10Mi */
    assert_int_equal(quota_pod_amount(pod, "memory", false), 106LL * 1048576 * 1000);
    assert_int_equal(quota_pod_amount(pod, "cpu", true), 500);
    assert_int_equal(quota_pod_amount(pod, "nvidia.com/gpu", false), 0);
    json_decref(pod);
}

static void
test_usage(void **state)
{
    json_t *hard = parse("{\"pods\":\"5\",\"requests.cpu\":\"2\",\"limits.memory\":\"1Gi\","
                         "\"count/deployments.apps\":\"1\",\"services.nodeports\":\"2\","
                         "\"services\":\"3\",\"requests.storage\":\"10Gi\",\"configmaps\":\"2\"}");
    json_t *pod = parse(pod_text);
    json_t *svc = parse("{\"spec\":{\"type\":\"NodePort\",\"ports\":[{},{}]}}");
    json_t *pvc = parse("{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"2Gi\"}}}}");
    json_t *u = json_object();

    (void)state;
    quota_usage_add(u, hard, "pods", "", pod);
    assert_int_equal(json_integer_value(json_object_get(u, "pods")), 1000);
    assert_int_equal(json_integer_value(json_object_get(u, "requests.cpu")), 1000);
    /* the overhead counts where limits are set, as PodLimits */
    assert_int_equal(json_integer_value(json_object_get(u, "limits.memory")),
                     138LL * 1048576 * 1000);
    assert_null(json_object_get(u, "services"));
    quota_usage_add(u, hard, "services", "", svc);
    assert_int_equal(json_integer_value(json_object_get(u, "services")), 1000);
    assert_int_equal(json_integer_value(json_object_get(u, "services.nodeports")), 2000);
    quota_usage_add(u, hard, "deployments", "apps", pod);
    assert_int_equal(json_integer_value(json_object_get(u, "count/deployments.apps")), 1000);
    quota_usage_add(u, hard, "replicasets", "apps", pod);
    assert_int_equal(json_integer_value(json_object_get(u, "count/deployments.apps")), 1000);
    quota_usage_add(u, hard, "persistentvolumeclaims", "", pvc);
    assert_int_equal(json_integer_value(json_object_get(u, "requests.storage")),
                     2LL * 1073741824 * 1000);
    assert_null(json_object_get(u, "configmaps"));
    json_decref(u);
    json_decref(hard);
    json_decref(pod);
    json_decref(svc);
    json_decref(pvc);
}

static void
test_scopes(void **state)
{
    json_t *plain = parse("{\"spec\":{\"hard\":{\"pods\":\"1\"}}}");
    json_t *best_effort = parse("{\"spec\":{\"scopes\":[\"BestEffort\"]}}");
    json_t *by_class = parse("{\"spec\":{\"scopeSelector\":{\"matchExpressions\":[{\"scopeName\":"
                             "\"PriorityClass\",\"operator\":\"In\",\"values\":[\"high\"]}]}}}");
    json_t *pod = parse(pod_text);
    json_t *bare = parse("{\"spec\":{\"priorityClassName\":\"high\",\"containers\":[{}]}}");
    json_t *done = parse("{\"spec\":{},\"status\":{\"phase\":\"Succeeded\"}}");

    (void)state;
    assert_true(quota_counts(plain, "pods", pod));
    assert_false(quota_counts(plain, "pods", done));
    assert_true(quota_counts(plain, "configmaps", done)); /* phase means nothing there */
    assert_false(quota_counts(best_effort, "pods", pod));
    assert_true(quota_counts(best_effort, "pods", bare));
    assert_false(quota_counts(best_effort, "services", bare));
    assert_true(quota_counts(by_class, "pods", bare));
    assert_false(quota_counts(by_class, "pods", pod));
    json_decref(plain);
    json_decref(best_effort);
    json_decref(by_class);
    json_decref(pod);
    json_decref(bare);
    json_decref(done);
}

static void
test_missing(void **state)
{
    json_t *hard = parse("{\"requests.cpu\":\"1\",\"limits.memory\":\"1Gi\",\"pods\":\"3\"}");
    json_t *pod = parse(pod_text);
    json_t *ok = parse("{\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{"
                       "\"cpu\":\"1\",\"memory\":\"1Mi\"}}}]}}");
    char *msg;

    (void)state;
    msg = quota_missing_requirements(hard, pod);
    assert_non_null(msg);
    /* b states no memory limit, nor do the init containers */
    assert_string_equal(msg, "must specify limits.memory for: b,i,side; requests.cpu for: side");
    free(msg);
    assert_null(quota_missing_requirements(hard, ok));
    json_decref(hard);
    json_decref(pod);
    json_decref(ok);
}

/* ---- preemption --------------------------------------------------------------------- */

static json_t *
cpu_pod(const char *cpu)
{
    char buf[512];

    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\"},\"spec\":{\"containers\":[{"
             "\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"%s\"}}}]}}",
             cpu);
    return parse(buf);
}

struct victims_case {
    const char *cpu[4];
    int32_t prio[4];
    bool pdb[4];
    bool want[4];
};

static void
run_victims(const struct victims_case *k, size_t n, const char *pod_cpu, bool want_possible,
            size_t want_violations)
{
    json_t *node = parse("{\"metadata\":{\"name\":\"n\"},\"status\":{\"allocatable\":{\"cpu\":"
                         "\"2\",\"memory\":\"4Gi\",\"pods\":\"10\"},\"conditions\":[{\"type\":"
                         "\"Ready\",\"status\":\"True\"}]}}");
    json_t *pods[4], *pj = cpu_pod(pod_cpu);
    struct sched_node sn = {0};
    struct sched_victim v[4];
    struct sched_pod p;
    size_t violations = 99;
    int64_t used_before;

    sched_node_init(&sn, node);
    sched_pod_init(&p, pj);
    memset(v, 0, sizeof(v));
    for (size_t i = 0; i < n; i++) {
        pods[i] = cpu_pod(k->cpu[i]);
        sched_pod_init(&v[i].sp, pods[i]);
        v[i].pod = pods[i];
        v[i].priority = k->prio[i];
        v[i].pdb_violation = k->pdb[i];
        sched_node_add_pod(&sn, &v[i].sp);
    }
    used_before = sn.used.cpu_m;
    assert_int_equal(sched_select_victims(&sn, &p, v, n, &violations), want_possible);
    assert_int_equal(sn.used.cpu_m, used_before); /* the node is left as it was */
    for (size_t i = 0; want_possible && i < n; i++) {
        if (v[i].victim != k->want[i])
            fail_msg("pod %zu: victim %d, want %d", i, v[i].victim, k->want[i]);
    }
    if (want_possible)
        assert_int_equal(violations, want_violations);
    for (size_t i = 0; i < n; i++) {
        sched_pod_fini(&v[i].sp);
        json_decref(pods[i]);
    }
    sched_pod_fini(&p);
    sched_node_fini(&sn);
    json_decref(pj);
    json_decref(node);
}

static void
test_victims(void **state)
{
    /* 2 cpu node; 700m + 700m + 300m used; 1200m wanted: two must go, the
     * higher-priority 700m pod stays (reprieved first) */
    const struct victims_case a = {
        {"700m", "700m", "300m"}, {100, 50, 0}, {false, false, false}, {false, true, true}};
    /* 1 cpu each, 1 cpu wanted: either goes; the one whose eviction would
     * break a budget is reprieved first, so the other is the victim */
    const struct victims_case b = {{"1", "1"}, {10, 10}, {true, false}, {false, true}};
    /* both must go: one violation counted */
    const struct victims_case c = {{"1", "1"}, {10, 10}, {true, false}, {true, true}};

    (void)state;
    run_victims(&a, 3, "1200m", true, 0);
    run_victims(&b, 2, "1", true, 0);
    run_victims(&c, 2, "2", true, 1);
    /* 3 cpu wanted: never fits a 2 cpu node */
    run_victims(&a, 3, "3", false, 0);
}

static void
test_node_choice(void **state)
{
    struct sched_preempt_score x = {
        .violations = 0, .n_victims = 2, .max_priority = 10, .sum_priority = 20};
    struct sched_preempt_score y = {
        .violations = 1, .n_victims = 1, .max_priority = 0, .sum_priority = 0};
    struct sched_preempt_score z = {
        .violations = 0, .n_victims = 1, .max_priority = 50, .sum_priority = 50};
    struct sched_preempt_score w = {
        .violations = 0, .n_victims = 3, .max_priority = 10, .sum_priority = 15};

    (void)state;
    assert_true(sched_preempt_better(&x, &y)); /* fewer budget violations first */
    assert_true(sched_preempt_better(&x, &z)); /* then the lower highest priority */
    assert_true(sched_preempt_better(&w, &x)); /* then the smaller sum */
    assert_false(sched_preempt_better(&x, &x));
}

/* ---- Job podFailurePolicy ---------------------------------------------------------- */

static void
test_pod_failure_policy(void **state)
{
    json_t *policy =
        parse("{\"rules\":[{\"action\":\"Ignore\",\"onPodConditions\":[{\"type\":"
              "\"DisruptionTarget\"}]},"
              "{\"action\":\"FailJob\",\"onExitCodes\":{\"containerName\":\"main\",\"operator\":"
              "\"In\",\"values\":[42]}},"
              "{\"action\":\"Count\",\"onExitCodes\":{\"operator\":\"NotIn\",\"values\":[1]}}]}");
    json_t *exit42 = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"d\"},\"status\":{"
                           "\"containerStatuses\":[{\"name\":\"main\",\"state\":{\"terminated\":"
                           "{\"exitCode\":42}}}]}}");
    json_t *side42 = parse("{\"status\":{\"containerStatuses\":[{\"name\":\"side\",\"state\":{"
                           "\"terminated\":{\"exitCode\":42}}}]}}");
    json_t *exit1 = parse("{\"status\":{\"containerStatuses\":[{\"name\":\"main\",\"state\":{"
                          "\"terminated\":{\"exitCode\":1}}}]}}");
    json_t *evicted = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"d\"},\"status\":{"
                            "\"conditions\":[{\"type\":\"DisruptionTarget\",\"status\":\"True\"}],"
                            "\"containerStatuses\":[{\"name\":\"main\",\"state\":{\"terminated\":"
                            "{\"exitCode\":42}}}]}}");
    char msg[256];

    (void)state;
    assert_string_equal(wl_pod_failure_action(policy, exit42, msg, sizeof(msg)), "FailJob");
    assert_string_equal(msg,
                        "Container main for pod d/p failed with exit code 42 matching FailJob rule "
                        "at index 1");
    /* another container's 42: only the NotIn [1] rule matches */
    assert_string_equal(wl_pod_failure_action(policy, side42, msg, sizeof(msg)), "Count");
    assert_null(wl_pod_failure_action(policy, exit1, msg, sizeof(msg)));
    /* the first matching rule wins */
    assert_string_equal(wl_pod_failure_action(policy, evicted, msg, sizeof(msg)), "Ignore");
    assert_string_equal(msg,
                        "Pod d/p has condition DisruptionTarget matching Ignore rule at index 0");
    assert_null(wl_pod_failure_action(NULL, exit42, msg, sizeof(msg)));
    json_decref(policy);
    json_decref(exit42);
    json_decref(side42);
    json_decref(exit1);
    json_decref(evicted);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_pod_amounts),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_victims),
        cmocka_unit_test(test_node_choice),
        cmocka_unit_test(test_pod_failure_policy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
