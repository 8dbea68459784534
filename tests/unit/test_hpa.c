/* SPDX-License-Identifier: Apache-2.0
 * test_hpa.c - the HorizontalPodAutoscaler's arithmetic (src/controllers/
 * hpa_calc.c) on the cases upstream documents (kubernetes.io "Horizontal Pod
 * Autoscaling", algorithm details) and its replica calculator's test
 * scenarios: ratio and tolerance, pods without metrics on the way up and
 * down, unready pods held back on a CPU scale up, no scale when the
 * adjustment reverses the direction, the scale-down stabilisation window,
 * the default scale-up rate (max of 100% and 4 pods per 15 s), min/max,
 * a disabled direction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "controllers/hpa.h"

#define READY(use, req)                                                                            \
    {                                                                                              \
        .usage = (use), .request = (req), .has_metrics = true, .ready = true                       \
    }
#define UNREADY(use, req)                                                                          \
    {                                                                                              \
        .usage = (use), .request = (req), .has_metrics = true, .ready = false                      \
    }
#define MISSING(req)                                                                               \
    {                                                                                              \
        .usage = 0, .request = (req), .has_metrics = false, .ready = true                          \
    }

static int
util_replicas(const struct hpa_pod *pods, size_t n, int current, int target, int *util)
{
    const char *why = NULL;

    return hpa_utilization_replicas(pods, n, current, target, true, util, &why);
}

/* 3 pods at 300m/500m/700m of 1 CPU each, target 30%: 50% -> 5 replicas. */
static void
test_scale_up(void **state)
{
    const struct hpa_pod pods[] = {READY(300, 1000), READY(500, 1000), READY(700, 1000)};
    int util = 0;

    (void)state;
    assert_int_equal(util_replicas(pods, 3, 3, 30, &util), 5);
    assert_int_equal(util, 50);
}

/* 5 pods using 1400m of 5000m requested (28%), target 50%: 3 replicas. */
static void
test_scale_down(void **state)
{
    const struct hpa_pod pods[] = {READY(100, 1000), READY(300, 1000), READY(500, 1000),
                                   READY(250, 1000), READY(250, 1000)};
    int util = 0;

    (void)state;
    assert_int_equal(util_replicas(pods, 5, 5, 50, &util), 3);
    assert_int_equal(util, 28);
}

/* 106% of target is within the 10% tolerance: no change. The documented
 * example: 200m current / 100m desired doubles, 50m halves. */
static void
test_tolerance_and_documented_ratio(void **state)
{
    const struct hpa_pod near[] = {READY(1010, 900), READY(1070, 1000), READY(1120, 1100)};
    const struct hpa_pod doubled[] = {READY(200, 1000), READY(200, 1000)};
    const struct hpa_pod halved[] = {READY(50, 1000), READY(50, 1000), READY(50, 1000),
                                     READY(50, 1000)};
    const struct hpa_pod edge[] = {READY(110, 1000)}; /* exactly 10% over */
    int util = 0;
    int64_t avg = 0;
    const char *why = NULL;

    (void)state;
    assert_int_equal(util_replicas(near, 3, 3, 100, &util), 3);
    assert_int_equal(util, 106);
    assert_int_equal(hpa_average_value_replicas(doubled, 2, 2, 100, true, &avg, &why), 4);
    assert_int_equal(avg, 200);
    assert_int_equal(hpa_average_value_replicas(halved, 4, 4, 100, true, &avg, &why), 2);
    assert_int_equal(util_replicas(edge, 1, 1, 100, &util), 1);
}

/* One unready pod while scaling up counts as 0%: 60% of ready pods, target
 * 30% -> (0+500+700)/3000 = 40% -> ceil(1.33*3) = 4. */
static void
test_unready_pods_hold_back_scale_up(void **state)
{
    const struct hpa_pod pods[] = {UNREADY(300, 1000), READY(500, 1000), READY(700, 1000)};
    int util = 0;

    (void)state;
    assert_int_equal(util_replicas(pods, 3, 3, 30, &util), 4);
    assert_int_equal(util, 60);
}

static void
test_missing_metrics(void **state)
{
    /* Down: missing pods count as 100%: (300+1000)/4000 = 32% -> 3. */
    const struct hpa_pod down[] = {READY(100, 1000), READY(100, 1000), READY(100, 1000),
                                   MISSING(1000)};
    /* Up: missing pods count as 0%: 2700/4000 = 67% of 50% -> 6. */
    const struct hpa_pod up[] = {READY(900, 1000), READY(900, 1000), READY(900, 1000),
                                 MISSING(1000)};
    /* 45% of 50% would scale down, but with the missing pod at 100% it
     * would scale up: no change. */
    const struct hpa_pod flip[] = {READY(450, 1000), MISSING(1000)};
    int util = 0;

    (void)state;
    assert_int_equal(util_replicas(down, 4, 4, 50, &util), 3);
    assert_int_equal(util_replicas(up, 4, 4, 50, &util), 6);
    assert_int_equal(util_replicas(flip, 2, 2, 50, &util), 2);
}

static void
test_errors(void **state)
{
    const struct hpa_pod no_request[] = {READY(100, 0)};
    const struct hpa_pod no_metrics[] = {MISSING(1000), MISSING(1000)};
    int util = 0;
    const char *why = NULL;

    (void)state;
    assert_int_equal(hpa_utilization_replicas(no_request, 1, 1, 50, true, &util, &why), -1);
    assert_string_equal(why, "missing request");
    assert_int_equal(hpa_utilization_replicas(no_metrics, 2, 2, 50, true, &util, &why), -1);
    assert_non_null(strstr(why, "no metrics"));
}

/* Default behaviour: a scale down waits out 300 s of higher recommendations. */
static void
test_scale_down_stabilization(void **state)
{
    struct hpa_memory mem = {0};
    struct hpa_rules up, down;
    struct hpa_decision d;

    (void)state;
    hpa_rules_default(&up, &down);
    hpa_normalize(&mem, 0, 5, 5, 1, 10, &up, &down, &d);
    assert_int_equal(d.replicas, 5);
    hpa_normalize(&mem, 60 * 1000, 5, 2, 1, 10, &up, &down, &d);
    assert_int_equal(d.replicas, 5);
    assert_string_equal(d.stabilized_reason, "ScaleDownStabilized");
    hpa_normalize(&mem, 200 * 1000, 5, 2, 1, 10, &up, &down, &d);
    assert_int_equal(d.replicas, 5); /* the 5 at t=0 is still in the window */
    hpa_normalize(&mem, 301 * 1000, 5, 2, 1, 10, &up, &down, &d);
    assert_int_equal(d.replicas, 2);
    assert_null(d.limited_reason);
    /* A zero window (behavior.scaleDown.stabilizationWindowSeconds: 0) follows at once. */
    memset(&mem, 0, sizeof(mem));
    down.window_s = 0;
    hpa_normalize(&mem, 0, 5, 5, 1, 10, &up, &down, &d);
    hpa_normalize(&mem, 1000, 5, 2, 1, 10, &up, &down, &d);
    assert_int_equal(d.replicas, 2);
}

/* Default scale-up rate: max(100%, 4 pods) per 15 s; then min/max. */
static void
test_scale_up_rate_and_limits(void **state)
{
    struct hpa_memory mem = {0};
    struct hpa_rules up, down;
    struct hpa_decision d;

    (void)state;
    hpa_rules_default(&up, &down);
    hpa_normalize(&mem, 0, 1, 10, 1, 20, &up, &down, &d);
    assert_int_equal(d.replicas, 5); /* 1 + 4 pods beats 1 * 2 */
    assert_string_equal(d.limited_reason, "ScaleUpLimit");
    hpa_record_scale(&mem, 0, 1, 5);
    hpa_normalize(&mem, 5000, 5, 10, 1, 20, &up, &down, &d);
    assert_int_equal(d.replicas, 5); /* this period's budget is spent */
    hpa_normalize(&mem, 20000, 5, 10, 1, 20, &up, &down, &d);
    assert_int_equal(d.replicas, 10); /* a new period: 5 * 2 */
    memset(&mem, 0, sizeof(mem));
    hpa_normalize(&mem, 0, 8, 12, 1, 10, &up, &down, &d);
    assert_int_equal(d.replicas, 10);
    assert_string_equal(d.limited_reason, "TooManyReplicas");
    memset(&mem, 0, sizeof(mem));
    down.window_s = 0;
    hpa_normalize(&mem, 0, 3, 1, 2, 10, &up, &down, &d);
    assert_int_equal(d.replicas, 2);
    assert_string_equal(d.limited_reason, "TooFewReplicas");
}

static void
test_disabled_and_pods_policy(void **state)
{
    struct hpa_memory mem = {0};
    struct hpa_rules up, down;
    struct hpa_decision d;

    (void)state;
    hpa_rules_default(&up, &down);
    down.window_s = 0;
    down.select = HPA_SELECT_DISABLED;
    hpa_normalize(&mem, 0, 6, 2, 1, 10, &up, &down, &d);
    assert_int_equal(d.replicas, 6);
    /* scaleDown: at most 1 pod per 60 s */
    down.select = HPA_SELECT_MAX;
    down.policies[0] = (struct hpa_policy){.percent = false, .value = 1, .period_s = 60};
    down.n_policies = 1;
    memset(&mem, 0, sizeof(mem));
    hpa_normalize(&mem, 0, 6, 2, 1, 10, &up, &down, &d);
    assert_int_equal(d.replicas, 5);
    assert_string_equal(d.limited_reason, "ScaleDownLimit");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_up),
        cmocka_unit_test(test_scale_down),
        cmocka_unit_test(test_tolerance_and_documented_ratio),
        cmocka_unit_test(test_unready_pods_hold_back_scale_up),
        cmocka_unit_test(test_missing_metrics),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_scale_down_stabilization),
        cmocka_unit_test(test_scale_up_rate_and_limits),
        cmocka_unit_test(test_disabled_and_pods_policy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
