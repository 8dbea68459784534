/* SPDX-License-Identifier: Apache-2.0
 * test_imagegc.c - which images the kubelet's image GC removes: never
 * those in use, images never used before used ones, least recently used
 * first, only as many as the bytes to free need. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/util.h"
#include "kubelet/kubelet-internal.h"

static void
test_select(void **state)
{
    const struct kubelet_gc_image imgs[] = {
        {.ref = "in-use", .size = 100, .last_used_ms = 5000, .first_seen_ms = 1, .in_use = true},
        {.ref = "used-late", .size = 10, .last_used_ms = 4000, .first_seen_ms = 1},
        {.ref = "used-early", .size = 10, .last_used_ms = 2000, .first_seen_ms = 1},
        {.ref = "never-b", .size = 10, .last_used_ms = 0, .first_seen_ms = 3000},
        {.ref = "never-a", .size = 10, .last_used_ms = 0, .first_seen_ms = 1000},
    };
    size_t order[K3C_ARRAY_SIZE(imgs)];
    size_t n;

    (void)state;
    n = kubelet_image_gc_select(imgs, K3C_ARRAY_SIZE(imgs), 15, order);
    assert_int_equal(n, 2);
    assert_string_equal(imgs[order[0]].ref, "never-a");
    assert_string_equal(imgs[order[1]].ref, "never-b");
    n = kubelet_image_gc_select(imgs, K3C_ARRAY_SIZE(imgs), 35, order);
    assert_int_equal(n, 4);
    assert_string_equal(imgs[order[2]].ref, "used-early");
    assert_string_equal(imgs[order[3]].ref, "used-late");
    /* more than all unused images hold: all of them, never the one in use */
    n = kubelet_image_gc_select(imgs, K3C_ARRAY_SIZE(imgs), 1000, order);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(imgs[order[i]].ref, "in-use");
    assert_int_equal(kubelet_image_gc_select(imgs, K3C_ARRAY_SIZE(imgs), 0, order), 0);
    assert_int_equal(kubelet_image_gc_select(imgs, 0, 100, order), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_select)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
