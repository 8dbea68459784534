/* SPDX-License-Identifier: Apache-2.0
 * test_pressure_taints.c - TaintNodesByCondition: the pressure taints a
 * node gets and loses with its conditions; other taints stay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "controllers/lifecycle.h"

static json_t *
status(const char *disk, const char *memory)
{
    return json_pack("{s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}", "conditions", "type",
                     "DiskPressure", "status", disk, "type", "MemoryPressure", "status", memory,
                     "type", "Ready", "status", "True");
}

static bool
has(const json_t *taints, const char *key)
{
    size_t i;
    json_t *t;

    json_array_foreach(taints, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "key")), key) == 0 &&
            strcmp(json_string_value(json_object_get(t, "effect")), "NoSchedule") == 0)
            return true;
    }
    return false;
}

static void
test_pressure(void **state)
{
    json_t *other = json_pack("[{s:s, s:s}]", "key", "gpu", "effect", "NoSchedule");
    json_t *ok = status("False", "False"), *disk = status("True", "False"),
           *both = status("True", "True");
    json_t *t1, *t2, *t3;

    (void)state;
    assert_null(lc_node_pressure_taints_want(other, ok, "now"));
    assert_null(lc_node_pressure_taints_want(NULL, ok, "now"));
    t1 = lc_node_pressure_taints_want(other, disk, "now");
    assert_non_null(t1);
    assert_true(has(t1, "node.kubernetes.io/disk-pressure"));
    assert_false(has(t1, "node.kubernetes.io/memory-pressure"));
    assert_true(has(t1, "gpu"));
    assert_null(lc_node_pressure_taints_want(t1, disk, "later")); /* already there */
    t2 = lc_node_pressure_taints_want(t1, both, "now");
    assert_true(has(t2, "node.kubernetes.io/memory-pressure"));
    assert_int_equal(json_array_size(t2), 3);
    t3 = lc_node_pressure_taints_want(t2, ok, "now");
    assert_int_equal(json_array_size(t3), 1);
    assert_true(has(t3, "gpu"));
    json_decref(t1);
    json_decref(t2);
    json_decref(t3);
    json_decref(other);
    json_decref(ok);
    json_decref(disk);
    json_decref(both);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pressure)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
