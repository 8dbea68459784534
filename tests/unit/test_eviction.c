/* SPDX-License-Identifier: Apache-2.0
 * test_eviction.c - the kubelet's eviction manager (issue #21): the
 * threshold flags' parsing and errors, when a threshold is met (hard, soft,
 * the minimum reclaim keeping it met) and the order pods are evicted in
 * (usage above requests first, then priority, then usage over request). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/util.h"
#include "kubelet/kubelet-internal.h"

#define MI (1024LL * 1024)

static void
test_parse_defaults(void **state)
{
    struct kevict_config c;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(kevict_config_parse(&c, NULL, NULL, NULL, NULL, 0, &err), 0);
    assert_true(c.hard[KEVICT_MEMORY].set);
    assert_int_equal(c.hard[KEVICT_MEMORY].qty, 100 * MI);
    assert_true(c.hard[KEVICT_NODEFS].pct == 10);
    assert_true(c.hard[KEVICT_IMAGEFS].pct == 15);
    assert_true(c.hard[KEVICT_NODEFS_INODES].pct == 5);
    assert_true(c.hard[KEVICT_PID].pct == 5);
    assert_false(c.soft[KEVICT_MEMORY].set);
    /* "" is no threshold at all */
    assert_int_equal(kevict_config_parse(&c, "", NULL, NULL, NULL, 0, &err), 0);
    for (int s = 0; s < KEVICT_N; s++)
        assert_false(c.hard[s].set);
}

static void
test_parse_soft_and_reclaim(void **state)
{
    struct kevict_config c;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(kevict_config_parse(&c, "nodefs.available<1Gi", "memory.available<1.5Gi",
                                         "memory.available=1m30s",
                                         "nodefs.available=500Mi,memory.available=5%", 30, &err),
                     0);
    assert_int_equal(c.hard[KEVICT_NODEFS].qty, 1024 * MI);
    assert_false(c.hard[KEVICT_MEMORY].set);
    assert_int_equal(c.soft[KEVICT_MEMORY].qty, 1536 * MI);
    assert_int_equal(c.soft_grace_ms[KEVICT_MEMORY], 90000);
    assert_int_equal(c.min_reclaim[KEVICT_NODEFS].qty, 500 * MI);
    assert_true(c.min_reclaim[KEVICT_MEMORY].pct == 5);
    assert_int_equal(c.max_pod_grace_s, 30);
}

static void
test_parse_errors(void **state)
{
    struct kevict_config c;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(kevict_config_parse(&c, "disk.available<10%", NULL, NULL, NULL, 0, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_non_null(strstr(err.msg, "--eviction-hard disk.available<10%"));
    k3c_err_clear(&err);
    assert_int_equal(kevict_config_parse(&c, "nodefs.available<110%", NULL, NULL, NULL, 0, &err),
                     -1);
    assert_non_null(strstr(err.msg, "percentage"));
    k3c_err_clear(&err);
    assert_int_equal(kevict_config_parse(&c, "memory.available<lots", NULL, NULL, NULL, 0, &err),
                     -1);
    k3c_err_clear(&err);
    /* a soft threshold needs its grace period, and the other way round */
    assert_int_equal(kevict_config_parse(&c, NULL, "memory.available<1Gi", NULL, NULL, 0, &err),
                     -1);
    assert_non_null(strstr(err.msg, "no grace period"));
    k3c_err_clear(&err);
    assert_int_equal(kevict_config_parse(&c, NULL, NULL, "memory.available=1m", NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "no soft threshold"));
    k3c_err_clear(&err);
    assert_int_equal(kevict_config_parse(&c, NULL, "memory.available<1Gi", "memory.available=soon",
                                         NULL, 0, &err),
                     -1);
    assert_non_null(strstr(err.msg, "duration"));
    k3c_err_clear(&err);
}

static void
test_pressure_and_min_reclaim(void **state)
{
    struct kevict_config c;
    struct k3c_err err = {0};
    struct kevict_obs o = {0};
    struct kevict_pressure p;
    bool prev[KEVICT_N] = {0};

    (void)state;
    assert_int_equal(kevict_config_parse(&c, "nodefs.available<10%,memory.available<100Mi", NULL,
                                         NULL, "nodefs.available=5%", 0, &err),
                     0);
    o.have[KEVICT_NODEFS] = o.have[KEVICT_MEMORY] = true;
    o.cap[KEVICT_NODEFS] = 1000 * MI;
    o.avail[KEVICT_NODEFS] = 90 * MI; /* 9 % */
    o.cap[KEVICT_MEMORY] = 1000 * MI;
    o.avail[KEVICT_MEMORY] = 500 * MI;
    kevict_pressure_eval(&c, &o, prev, &p);
    assert_true(p.disk);
    assert_false(p.memory);
    assert_string_equal(p.disk_msg, "nodefs.available 9% < 10%");
    /* 12 %: above the threshold, not above it plus the minimum reclaim */
    o.avail[KEVICT_NODEFS] = 120 * MI;
    kevict_pressure_eval(&c, &o, prev, &p);
    assert_true(p.disk);
    o.avail[KEVICT_NODEFS] = 160 * MI;
    kevict_pressure_eval(&c, &o, prev, &p);
    assert_false(p.disk);
    /* and 12 % from a clear state is no pressure */
    o.avail[KEVICT_NODEFS] = 120 * MI;
    kevict_pressure_eval(&c, &o, prev, &p);
    assert_false(p.disk);
    o.avail[KEVICT_MEMORY] = 50 * MI;
    kevict_pressure_eval(&c, &o, prev, &p);
    assert_true(p.memory);
    assert_string_equal(p.memory_msg, "memory.available 50Mi < 100Mi");
}

/* The transition period: a condition stays until the period has passed
 * since the pressure was last seen, with that sighting's message. */
static void
test_pressure_transition(void **state)
{
    struct kevict_transition t = {0};
    struct kevict_pressure p = {.memory = true};
    struct k3c_err err = {0};
    int64_t period = 0;

    (void)state;
    assert_int_equal(kevict_transition_parse(NULL, &period, &err), 0);
    assert_int_equal(period, 5 * 60 * 1000); /* the kubelet's 5m */
    assert_int_equal(kevict_transition_parse("15s", &period, &err), 0);
    assert_int_equal(period, 15000);
    assert_int_equal(kevict_transition_parse("soon", &period, &err), -1);
    assert_non_null(strstr(err.msg, "--eviction-pressure-transition-period"));

    snprintf(p.memory_msg, sizeof(p.memory_msg), "memory.available 50Mi < 100Mi");
    kevict_pressure_hold(&t, 15000, 1000, &p); /* seen at 1 s */
    assert_true(p.memory);
    p = (struct kevict_pressure){0};
    kevict_pressure_hold(&t, 15000, 15999, &p); /* gone, 14.999 s later: held */
    assert_true(p.memory);
    assert_false(p.disk);
    assert_false(p.pid);
    assert_string_equal(p.memory_msg, "memory.available 50Mi < 100Mi");
    p = (struct kevict_pressure){0};
    kevict_pressure_hold(&t, 15000, 16000, &p); /* 15 s later: over */
    assert_false(p.memory);
    /* a period of 0 shows only what is observed */
    p = (struct kevict_pressure){.disk = true};
    kevict_pressure_hold(&t, 0, 20000, &p);
    assert_true(p.disk);
    p = (struct kevict_pressure){0};
    kevict_pressure_hold(&t, 0, 20000, &p);
    assert_false(p.disk);
}

static void
test_thresholds_met(void **state)
{
    struct kevict_config c;
    struct k3c_err err = {0};
    struct kevict_obs o = {0};
    bool met[KEVICT_N] = {0}, hard = false;
    int64_t since[KEVICT_N] = {0}, threshold = 0;

    (void)state;
    assert_int_equal(kevict_config_parse(&c, "nodefs.available<10%", "memory.available<1Gi",
                                         "memory.available=30s", "memory.available=100Mi", 0, &err),
                     0);
    o.have[KEVICT_MEMORY] = o.have[KEVICT_NODEFS] = true;
    o.cap[KEVICT_MEMORY] = o.cap[KEVICT_NODEFS] = 10240 * MI;
    o.avail[KEVICT_MEMORY] = 900 * MI; /* below the soft 1Gi */
    o.avail[KEVICT_NODEFS] = 5000 * MI;
    /* soft: not before its grace period */
    assert_int_equal(kevict_thresholds_met(&c, &o, met, since, 1000, &hard, &threshold), -1);
    assert_int_equal(kevict_thresholds_met(&c, &o, met, since, 30999, &hard, &threshold), -1);
    assert_int_equal(kevict_thresholds_met(&c, &o, met, since, 31000, &hard, &threshold),
                     KEVICT_MEMORY);
    assert_false(hard);
    assert_int_equal(threshold, 1024 * MI);
    /* met: stays met up to the threshold plus the minimum reclaim */
    o.avail[KEVICT_MEMORY] = 1100 * MI;
    assert_int_equal(kevict_thresholds_met(&c, &o, met, since, 32000, &hard, &threshold),
                     KEVICT_MEMORY);
    o.avail[KEVICT_MEMORY] = 1200 * MI;
    assert_int_equal(kevict_thresholds_met(&c, &o, met, since, 33000, &hard, &threshold), -1);
    /* crossed again: the grace period starts over */
    o.avail[KEVICT_MEMORY] = 900 * MI;
    assert_int_equal(kevict_thresholds_met(&c, &o, met, since, 34000, &hard, &threshold), -1);
    /* hard: at once; memory comes before disk when both are met */
    o.avail[KEVICT_NODEFS] = 1000 * MI;
    assert_int_equal(kevict_thresholds_met(&c, &o, met, since, 35000, &hard, &threshold),
                     KEVICT_NODEFS);
    assert_true(hard);
    assert_int_equal(threshold, 1024 * MI);
    assert_int_equal(kevict_thresholds_met(&c, &o, met, since, 64000, &hard, &threshold),
                     KEVICT_MEMORY);
    assert_false(hard);
}

static void
test_rank(void **state)
{
    struct kubelet_evict_pod v[] = {
        {.name = "guaranteed-big", .priority = 0, .usage = 900, .request = 1000},
        {.name = "besteffort-small", .priority = 0, .usage = 100, .request = 0},
        {.name = "burstable-over", .priority = 0, .usage = 600, .request = 200},
        {.name = "important-over", .priority = 1000, .usage = 5000, .request = 0},
        {.name = "besteffort-big", .priority = 0, .usage = 300, .request = 0},
    };

    (void)state;
    kubelet_eviction_rank(v, K3C_ARRAY_SIZE(v), KEVICT_MEMORY);
    /* over their requests first; among them the lower priority; then the
     * largest usage over the request; within requests last */
    assert_string_equal(v[0].name, "burstable-over");
    assert_string_equal(v[1].name, "besteffort-big");
    assert_string_equal(v[2].name, "besteffort-small");
    assert_string_equal(v[3].name, "important-over");
    assert_string_equal(v[4].name, "guaranteed-big");
    /* PIDs: priority, then the most processes; requests do not count */
    kubelet_eviction_rank(v, K3C_ARRAY_SIZE(v), KEVICT_PID);
    assert_string_equal(v[0].name, "guaranteed-big");
    assert_string_equal(v[3].name, "besteffort-small");
    assert_string_equal(v[4].name, "important-over");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_defaults), cmocka_unit_test(test_parse_soft_and_reclaim),
        cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_pressure_and_min_reclaim),
        cmocka_unit_test(test_thresholds_met), cmocka_unit_test(test_pressure_transition),
        cmocka_unit_test(test_rank),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
