/* SPDX-License-Identifier: Apache-2.0
 * test_ctl_queue.c - the controllers' work queue: de-duplication, a key
 * added while it is processed runs again after done, delayed adds (the
 * earlier wins), per-key exponential back-off and forget, shutdown, and the
 * label-selector and key helpers of the framework. */
#include "controllers/ctl-internal.h"

#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *
get_now(struct ctl_queue *q)
{
    return ctl_queue_get(q, k3c_now_ms());
}

static void
test_dedupe(void **state)
{
    struct ctl_queue *q = ctl_queue_new();
    char *k;

    (void)state;
    ctl_queue_add(q, "a");
    ctl_queue_add(q, "b");
    ctl_queue_add(q, "a");
    assert_int_equal(ctl_queue_len(q), 2);
    k = get_now(q);
    assert_string_equal(k, "a");
    ctl_queue_done(q, k);
    free(k);
    k = get_now(q);
    assert_string_equal(k, "b");
    ctl_queue_done(q, k);
    free(k);
    assert_null(get_now(q));
    ctl_queue_free(q);
}

static void
test_rerun_while_processing(void **state)
{
    struct ctl_queue *q = ctl_queue_new();
    char *k, *k2;

    (void)state;
    ctl_queue_add(q, "a");
    k = get_now(q);
    assert_string_equal(k, "a");
    /* Added while processing: not handed out twice at once... */
    ctl_queue_add(q, "a");
    ctl_queue_add(q, "a");
    assert_null(get_now(q));
    /* ...but once more after done. */
    ctl_queue_done(q, k);
    free(k);
    k2 = get_now(q);
    assert_non_null(k2);
    assert_string_equal(k2, "a");
    ctl_queue_done(q, k2);
    free(k2);
    assert_null(get_now(q));
    ctl_queue_free(q);
}

static void
test_delayed(void **state)
{
    struct ctl_queue *q = ctl_queue_new();
    int64_t t0 = k3c_now_ms();
    char *k;

    (void)state;
    ctl_queue_add_after(q, "late", 300);
    ctl_queue_add_after(q, "soon", 50);
    ctl_queue_add_after(q, "late", 1000); /* the earlier add wins */
    assert_null(get_now(q));
    k = ctl_queue_get(q, t0 + 2000);
    assert_string_equal(k, "soon");
    assert_true(k3c_now_ms() - t0 >= 50);
    ctl_queue_done(q, k);
    free(k);
    k = ctl_queue_get(q, t0 + 2000);
    assert_string_equal(k, "late");
    assert_true(k3c_now_ms() - t0 >= 300);
    assert_true(k3c_now_ms() - t0 < 1000);
    ctl_queue_done(q, k);
    free(k);
    /* "late" once only: the 1000 ms add was absorbed. */
    assert_null(ctl_queue_get(q, t0 + 1300));
    ctl_queue_free(q);
}

/* Time from a rate-limited add until the key is handed out. */
static int64_t
backoff_once(struct ctl_queue *q, const char *key)
{
    int64_t t = k3c_now_ms();
    char *k;

    ctl_queue_add_rate_limited(q, key);
    k = ctl_queue_get(q, t + 5000);
    assert_non_null(k);
    ctl_queue_done(q, k);
    free(k);
    return k3c_now_ms() - t;
}

static void
test_backoff(void **state)
{
    struct ctl_queue *q = ctl_queue_new();
    int64_t d[6];

    (void)state;
    for (int i = 0; i < 6; i++)
        d[i] = backoff_once(q, "x");
    /* 5, 10, 20, 40, 80, 160 ms */
    assert_true(d[0] >= 5);
    assert_true(d[5] >= 160);
    assert_true(d[5] > d[2]);
    ctl_queue_forget(q, "x");
    assert_true(backoff_once(q, "x") < 100);
    ctl_queue_forget(q, "x");
    ctl_queue_free(q);
}

static void
test_shutdown(void **state)
{
    struct ctl_queue *q = ctl_queue_new();

    (void)state;
    ctl_queue_add(q, "a");
    ctl_queue_shutdown(q);
    assert_true(ctl_queue_shutting_down(q));
    assert_null(ctl_queue_get(q, k3c_now_ms() + 1000));
    ctl_queue_add(q, "b");
    ctl_queue_free(q);
}

static void
test_many_keys(void **state)
{
    struct ctl_queue *q = ctl_queue_new();
    char key[32];
    int n = 0;
    char *k;

    (void)state;
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "ns/pod-%d", i % 2500);
        ctl_queue_add(q, key);
    }
    while ((k = get_now(q))) {
        n++;
        ctl_queue_done(q, k);
        free(k);
    }
    assert_int_equal(n, 2500);
    ctl_queue_free(q);
}

static void
test_selector(void **state)
{
    json_t *labels = json_pack("{s:s, s:s}", "app", "web", "tier", "front");
    json_t *sel;

    (void)state;
    sel = json_pack("{s:{s:s}}", "matchLabels", "app", "web");
    assert_true(ctl_selector_matches(sel, labels));
    json_decref(sel);
    sel = json_pack("{s:[{s:s, s:s, s:[s, s]}]}", "matchExpressions", "key", "tier", "operator",
                    "In", "values", "back", "front");
    assert_true(ctl_selector_matches(sel, labels));
    json_decref(sel);
    sel = json_pack("{s:[{s:s, s:s}]}", "matchExpressions", "key", "gpu", "operator", "Exists");
    assert_false(ctl_selector_matches(sel, labels));
    json_decref(sel);
    sel = json_pack("{s:{s:s}}", "matchLabels", "app", "db");
    assert_false(ctl_selector_matches(sel, labels));
    json_decref(sel);
    sel = json_object();
    assert_true(ctl_selector_matches(sel, labels));
    assert_true(ctl_selector_matches(sel, NULL));
    json_decref(sel);
    assert_false(ctl_selector_matches(NULL, labels));
    json_decref(labels);
}

static void
test_key_split(void **state)
{
    char ns[64], name[64];

    (void)state;
    ctl_key_split("default/web-1", ns, sizeof(ns), name, sizeof(name));
    assert_string_equal(ns, "default");
    assert_string_equal(name, "web-1");
    ctl_key_split("node-1", ns, sizeof(ns), name, sizeof(name));
    assert_string_equal(ns, "");
    assert_string_equal(name, "node-1");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedupe),   cmocka_unit_test(test_rerun_while_processing),
        cmocka_unit_test(test_delayed),  cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_shutdown), cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_selector), cmocka_unit_test(test_key_split),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
