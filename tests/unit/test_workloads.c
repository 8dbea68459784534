/* SPDX-License-Identifier: Apache-2.0
 * test_workloads.c - the pure decisions of the workload controllers
 * (src/controllers/workload.c): rollout arithmetic against upstream's
 * numbers, template hashes, deletion order, DaemonSet eligibility, Jobs. */
#include "base/cleanup.h"
#include "controllers/workload.h"

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

    assert_non_null(j);
    return j;
}

static void
test_scaled_value_rounding(void **state)
{
    _cleanup_json_ json_t *p25 = json_string("25%");
    _cleanup_json_ json_t *i2 = json_integer(2);
    _cleanup_json_ json_t *bad = json_string("25");
    int surge = -1, unavail = -1;

    (void)state;
    assert_int_equal(wl_scaled_value(p25, 10, true, 0), 3);
    assert_int_equal(wl_scaled_value(p25, 10, false, 0), 2);
    assert_int_equal(wl_scaled_value(p25, 4, false, 0), 1);
    assert_int_equal(wl_scaled_value(i2, 10, true, 0), 2);
    assert_int_equal(wl_scaled_value(bad, 10, true, 7), 7);
    assert_int_equal(wl_scaled_value(NULL, 10, true, 5), 5);
    /* 25%/25% of 3: surge rounds up to 1, unavailable down to 0 */
    wl_fenceposts(p25, p25, 3, &surge, &unavail);
    assert_int_equal(surge, 1);
    assert_int_equal(unavail, 0);
    /* both 0 -> maxUnavailable 1 */
    wl_fenceposts(p25, p25, 1, &surge, &unavail);
    assert_int_equal(surge, 1);
    wl_fenceposts(NULL, NULL, 1, &surge, &unavail);
    assert_int_equal(surge, 0);
    assert_int_equal(unavail, 1);
}

static void
test_template_hash_stable_and_ignores_hash_label(void **state)
{
    _cleanup_json_ json_t *a =
        js("{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":"
           "\"c\",\"image\":\"busybox\"}]}}");
    _cleanup_json_ json_t *b =
        js("{\"spec\":{\"containers\":[{\"image\":\"busybox\",\"name\":\"c\"}]},\"metadata\":{"
           "\"labels\":{\"pod-template-hash\":\"xyz\",\"app\":\"web\"}}}");
    _cleanup_json_ json_t *c =
        js("{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":"
           "\"c\",\"image\":\"nginx\"}]}}");
    char ha[11], hb[11], hc[11];

    (void)state;
    wl_template_hash(a, ha);
    wl_template_hash(b, hb);
    wl_template_hash(c, hc);
    assert_int_equal(strlen(ha), 10);
    assert_string_equal(ha, hb);
    assert_string_not_equal(ha, hc);
    for (int i = 0; i < 10; i++)
        assert_true((ha[i] >= 'a' && ha[i] <= 'z') || (ha[i] >= '0' && ha[i] <= '9'));
    assert_true(wl_templates_equal(a, b));
    {
        char h1[11], h1b[11];

        wl_template_hash_collision(a, 1, h1);
        wl_template_hash_collision(b, 1, h1b);
        assert_string_not_equal(h1, ha);
        assert_string_equal(h1, h1b);
    }
    assert_false(wl_templates_equal(a, c));
}

static void
test_pod_from_template(void **state)
{
    _cleanup_json_ json_t *t =
        js("{\"metadata\":{\"labels\":{\"app\":\"web\"},\"annotations\":{\"x\":\"y\"}},"
           "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}");
    _cleanup_json_ json_t *pod =
        wl_pod_from_template(t, "default", "web-abc", json_pack("{s:s}", "uid", "u1"));

    (void)state;
    assert_string_equal(wl_str(pod, "metadata.generateName"), "web-abc-");
    assert_string_equal(wl_str(pod, "metadata.namespace"), "default");
    assert_string_equal(wl_str(pod, "metadata.labels.app"), "web");
    assert_string_equal(wl_str(pod, "metadata.annotations.x"), "y");
    assert_string_equal(wl_str(pod, "kind"), "Pod");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(pod, "metadata"), "ownerReferences"), 0),
            "uid")),
        "u1");
    assert_non_null(json_object_get(json_object_get(pod, "spec"), "containers"));
}

static void
test_delete_order(void **state)
{
    _cleanup_json_ json_t *unbound =
        js("{\"metadata\":{\"name\":\"u\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},"
           "\"spec\":{},\"status\":{\"phase\":\"Pending\"}}");
    _cleanup_json_ json_t *pending =
        js("{\"metadata\":{\"name\":\"p\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},"
           "\"spec\":{\"nodeName\":\"n\"},\"status\":{\"phase\":\"Pending\"}}");
    _cleanup_json_ json_t *ready_old =
        js("{\"metadata\":{\"name\":\"r1\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},"
           "\"spec\":{\"nodeName\":\"n\"},\"status\":{\"phase\":\"Running\",\"conditions\":[{"
           "\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"2026-01-01T00:00:"
           "10Z\"}]}}");
    _cleanup_json_ json_t *ready_new =
        js("{\"metadata\":{\"name\":\"r2\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},"
           "\"spec\":{\"nodeName\":\"n\"},\"status\":{\"phase\":\"Running\",\"conditions\":[{"
           "\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"2026-01-01T00:01:"
           "00Z\"}]}}");
    _cleanup_json_ json_t *running_unready =
        js("{\"metadata\":{\"name\":\"nr\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},"
           "\"spec\":{\"nodeName\":\"n\"},\"status\":{\"phase\":\"Running\"}}");
    const json_t *pods[] = {ready_old, running_unready, ready_new, pending, unbound};

    (void)state;
    wl_pods_sort_for_delete(pods, 5);
    assert_ptr_equal(pods[0], unbound);
    assert_ptr_equal(pods[1], pending);
    assert_ptr_equal(pods[2], running_unready);
    assert_ptr_equal(pods[3], ready_new);
    assert_ptr_equal(pods[4], ready_old);
    /* pod-deletion-cost outranks how long a pod has been ready */
    json_object_set_new(json_object_get(ready_new, "metadata"), "annotations",
                        json_pack("{s:s}", "controller.kubernetes.io/pod-deletion-cost", "100"));
    assert_true(wl_pod_delete_cmp(ready_old, ready_new) < 0);
    /* availability with minReadySeconds */
    {
        int64_t t = wl_time("2026-01-01T00:00:10Z"), wait = 0;

        assert_true(wl_pod_available(ready_old, 0, t, NULL));
        assert_false(wl_pod_available(ready_old, 30, t + 10, &wait));
        assert_int_equal(wait, 20);
        assert_true(wl_pod_available(ready_old, 30, t + 30, NULL));
        assert_false(wl_pod_available(running_unready, 0, t, NULL));
    }
}

/* Upstream's rolling update numbers: 3 replicas, 25%/25% -> surge 1,
 * unavailable 0. */
static void
test_rolling_update_steps(void **state)
{
    struct wl_rs new_rs = {0, 0, 0};
    struct wl_rs olds[1] = {{3, 3, 0}};

    (void)state;
    /* step 1: new RS may go to 1 (3 + 1 surge - 3 existing) */
    new_rs.spec = wl_new_rs_replicas(3, 1, 0, 3);
    assert_int_equal(new_rs.spec, 1);
    /* nothing available in the new RS yet: olds stay */
    assert_int_equal(wl_scale_down_olds(3, 0, &new_rs, olds, 1), 0);
    assert_int_equal(olds[0].spec, 3);
    /* the new pod becomes available: one old may go */
    new_rs.available = 1;
    assert_int_equal(wl_scale_down_olds(3, 0, &new_rs, olds, 1), 1);
    assert_int_equal(olds[0].spec, 2);
    olds[0].available = 2;
    /* then the new RS grows to 2 */
    assert_int_equal(wl_new_rs_replicas(3, 1, 1, 3), 2);
    /* at max total: no growth */
    assert_int_equal(wl_new_rs_replicas(3, 1, 2, 4), 2);
    /* never past replicas */
    assert_int_equal(wl_new_rs_replicas(3, 5, 2, 2), 3);
}

static void
test_scale_down_unhealthy_first(void **state)
{
    struct wl_rs new_rs = {2, 0, 0};
    struct wl_rs olds[2] = {{2, 0, 1}, {2, 2, 2}};

    (void)state;
    /* 4 replicas, maxUnavailable 1: minAvailable 3. all 6, new unavailable
     * 2 -> maxScaledDown 1: one unhealthy pod of the oldest RS goes. */
    assert_int_equal(wl_scale_down_olds(4, 1, &new_rs, olds, 2), 1);
    assert_int_equal(olds[0].spec, 1);
    assert_int_equal(olds[1].spec, 2);
}

/* A 10-replica rollout (25% surge: max 13) scaled to 15 (max 19) with the
 * old RS at 8 and the new at 3: 8 more go mostly to the larger old RS,
 * leftovers to the largest. */
static void
test_proportional_scale(void **state)
{
    struct wl_prop_rs rs[2] = {{3, 13, 200, 0, 0}, {8, 13, 100, 0, 1}};
    struct wl_prop_rs down[2] = {{12, 19, 200, 0, 0}, {4, 19, 100, 0, 1}};

    (void)state;
    wl_proportional_scale(rs, 2, 15, 4, 11);
    assert_int_equal(rs[0].spec, 8); /* sorted: larger first */
    assert_int_equal(rs[0].tag, 1);
    assert_int_equal(rs[0].out + rs[1].out, 19);
    assert_int_equal(rs[0].out, 15);
    assert_int_equal(rs[1].out, 4);
    /* scaled to 5 (max 7): 9 fewer */
    wl_proportional_scale(down, 2, 5, 2, 16);
    assert_int_equal(down[0].out + down[1].out, 7);
    assert_true(down[0].out >= 0 && down[1].out >= 0);
    /* round(12*7/19) = 4: -8; the 4 would go to round(4*7/19) = 1 (-3)
     * but only -1 is left */
    assert_int_equal(down[0].out, 4);
    assert_int_equal(down[1].out, 3);
}

static void
test_conditions_keep_transition_time(void **state)
{
    _cleanup_json_ json_t *st = json_object();
    json_t *c;

    (void)state;
    assert_true(wl_condition_set(st, "Progressing", "True", "NewReplicaSetCreated", "m1",
                                 "2026-01-01T00:00:00Z", true));
    assert_false(wl_condition_set(st, "Progressing", "True", "NewReplicaSetCreated", "m1",
                                  "2026-01-01T00:00:05Z", true));
    assert_true(wl_condition_set(st, "Progressing", "True", "ReplicaSetUpdated", "m2",
                                 "2026-01-01T00:00:09Z", true));
    c = wl_condition_get(st, "Progressing");
    assert_string_equal(wl_str(c, "lastTransitionTime"), "2026-01-01T00:00:00Z");
    assert_string_equal(wl_str(c, "lastUpdateTime"), "2026-01-01T00:00:09Z");
    assert_true(wl_condition_set(st, "Progressing", "False", "ProgressDeadlineExceeded", "m3",
                                 "2026-01-01T00:10:00Z", true));
    assert_string_equal(wl_str(c, "lastTransitionTime"), "2026-01-01T00:10:00Z");
    assert_int_equal(json_array_size(json_object_get(st, "conditions")), 1);
}

static void
test_daemon_node_eligibility(void **state)
{
    _cleanup_json_ json_t *plain = js("{\"metadata\":{\"name\":\"n1\",\"labels\":{\"a\":\"b\"}}}");
    _cleanup_json_ json_t *tainted =
        js("{\"metadata\":{\"name\":\"n2\",\"labels\":{}},\"spec\":{\"taints\":[{\"key\":"
           "\"dedicated\",\"value\":\"gpu\",\"effect\":\"NoSchedule\"}]}}");
    _cleanup_json_ json_t *cordoned =
        js("{\"metadata\":{\"name\":\"n3\"},\"spec\":{\"unschedulable\":true,\"taints\":[{"
           "\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}]}}");
    _cleanup_json_ json_t *spec = js("{\"containers\":[]}");
    _cleanup_json_ json_t *sel = js("{\"nodeSelector\":{\"a\":\"b\"}}");
    _cleanup_json_ json_t *tol =
        js("{\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"gpu\","
           "\"effect\":\"NoSchedule\"}]}");
    _cleanup_json_ json_t *aff = js("{}");

    (void)state;
    wl_daemon_tolerations_add(spec);
    assert_int_equal(json_array_size(json_object_get(spec, "tolerations")), 6);
    wl_daemon_tolerations_add(spec); /* idempotent */
    assert_int_equal(json_array_size(json_object_get(spec, "tolerations")), 6);
    assert_true(wl_node_should_run(plain, spec));
    assert_false(wl_node_should_run(tainted, spec));
    assert_true(wl_node_should_run(cordoned, spec));
    assert_true(wl_node_should_run(tainted, tol));
    /* a NoSchedule taint keeps new pods off, running ones stay */
    assert_true(wl_node_should_continue(tainted, spec));
    {
        _cleanup_json_ json_t *evict =
            js("{\"metadata\":{\"name\":\"n4\"},\"spec\":{\"taints\":[{\"key\":\"x\","
               "\"effect\":\"NoExecute\"}]}}");

        assert_false(wl_node_should_run(evict, spec));
        assert_false(wl_node_should_continue(evict, spec));
    }
    assert_true(wl_node_should_run(plain, sel));
    assert_false(wl_node_should_run(tainted, sel));
    wl_pin_to_node(aff, "n2");
    assert_false(wl_node_should_run(plain, aff));
    {
        _cleanup_json_ json_t *pod = json_pack("{s:O}", "spec", aff);

        assert_string_equal(wl_daemon_pod_node(pod), "n2");
    }
}

static void
test_affinity_operators(void **state)
{
    _cleanup_json_ json_t *node =
        js("{\"metadata\":{\"name\":\"n\",\"labels\":{\"zone\":\"a\",\"cores\":\"8\"}}}");
    _cleanup_json_ json_t *gt =
        js("{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{"
           "\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"cores\",\"operator\":\"Gt\","
           "\"values\":[\"4\"]},{\"key\":\"zone\",\"operator\":\"NotIn\",\"values\":[\"b\"]},{"
           "\"key\":\"gpu\",\"operator\":\"DoesNotExist\"}]}]}}}}");
    _cleanup_json_ json_t *in =
        js("{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{"
           "\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\","
           "\"values\":[\"b\"]}]}]}}}}");

    (void)state;
    assert_true(wl_node_should_run(node, gt));
    assert_false(wl_node_should_run(node, in));
}

static void
test_job_counts(void **state)
{
    _cleanup_json_ json_t *fixed = js("{\"completions\":3,\"parallelism\":2}");
    _cleanup_json_ json_t *queue = js("{\"parallelism\":2}");
    struct wl_job_counts n = {0};

    (void)state;
    assert_int_equal(wl_job_want_active(fixed, &n), 2);
    n.succeeded = 2;
    assert_int_equal(wl_job_want_active(fixed, &n), 1);
    assert_false(wl_job_complete(fixed, &n));
    n.succeeded = 3;
    assert_int_equal(wl_job_want_active(fixed, &n), 0);
    assert_true(wl_job_complete(fixed, &n));
    n = (struct wl_job_counts){0};
    assert_int_equal(wl_job_want_active(queue, &n), 2);
    n.succeeded = 1;
    n.active = 1;
    assert_int_equal(wl_job_want_active(queue, &n), 0);
    assert_false(wl_job_complete(queue, &n));
    n.active = 0;
    assert_true(wl_job_complete(queue, &n));
}

static void
test_job_backoff(void **state)
{
    _cleanup_json_ json_t *pod =
        js("{\"status\":{\"phase\":\"Failed\",\"containerStatuses\":[{\"state\":{"
           "\"terminated\":{\"finishedAt\":\"2026-01-01T00:00:20Z\"}}}],\"conditions\":[{"
           "\"type\":\"Ready\",\"status\":\"False\",\"lastTransitionTime\":\"2026-01-"
           "01T00:00:05Z\"}]}}");
    int64_t t = wl_time("2026-01-01T00:00:20Z");

    (void)state;
    assert_int_equal(wl_pod_finished_at(pod), t);
    json_object_del(json_object_get(pod, "status"), "containerStatuses");
    assert_int_equal(wl_pod_finished_at(pod), t - 15);
    assert_int_equal(wl_job_backoff_left(0, t, t), 0);
    assert_int_equal(wl_job_backoff_left(1, t, t), 10);
    assert_int_equal(wl_job_backoff_left(1, t, t + 4), 6);
    assert_int_equal(wl_job_backoff_left(3, t, t), 40);
    assert_int_equal(wl_job_backoff_left(30, t, t), 600);
    assert_int_equal(wl_job_backoff_left(1, t, t + 60), 0);
}

static void
test_expectations(void **state)
{
    static struct wl_expectations x = WL_EXPECTATIONS_INIT;

    (void)state;
    assert_true(wl_expect_satisfied(&x, "u1", 0));
    wl_expect(&x, "u1", 2, 0, 1000);
    assert_false(wl_expect_satisfied(&x, "u1", 1000));
    wl_expect_observe(&x, "u1", true);
    assert_false(wl_expect_satisfied(&x, "u1", 1000));
    wl_expect_observe(&x, "u2", true); /* someone else's: no effect */
    wl_expect_observe(&x, "u1", true);
    assert_true(wl_expect_satisfied(&x, "u1", 1000));
    wl_expect(&x, "u1", 0, 1, 1000);
    assert_false(wl_expect_satisfied(&x, "u1", 2000));
    assert_true(wl_expect_satisfied(&x, "u1", 1000 + WL_EXPECT_TIMEOUT)); /* expired */
    /* many owners fit */
    for (int i = 0; i < WL_EXPECT_MAX + 10; i++) {
        char uid[32];

        snprintf(uid, sizeof(uid), "o%d", i);
        wl_expect(&x, uid, 1, 0, 5000);
    }
    assert_false(wl_expect_satisfied(&x, "o3", 5000));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scaled_value_rounding),
        cmocka_unit_test(test_template_hash_stable_and_ignores_hash_label),
        cmocka_unit_test(test_pod_from_template),
        cmocka_unit_test(test_delete_order),
        cmocka_unit_test(test_rolling_update_steps),
        cmocka_unit_test(test_scale_down_unhealthy_first),
        cmocka_unit_test(test_proportional_scale),
        cmocka_unit_test(test_conditions_keep_transition_time),
        cmocka_unit_test(test_daemon_node_eligibility),
        cmocka_unit_test(test_affinity_operators),
        cmocka_unit_test(test_job_counts),
        cmocka_unit_test(test_job_backoff),
        cmocka_unit_test(test_expectations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
