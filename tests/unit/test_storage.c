/* SPDX-License-Identifier: Apache-2.0
 * test_storage.c - storage (issue #16): the binder's matching rules
 * (class, access modes, capacity, selector, volumeMode, claimRef and
 * volumeName pre-binding, node affinity, smallest fit), the storage kinds'
 * table rows as kubectl 1.32 prints them, their defaults and validation. */
#include "api/api-internal.h"
#include "controllers/pvbinder.h"
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

/* An Available volume; extra is more spec fields (",\"k\":v" or ""). */
static json_t *
pv(const char *name, const char *size, const char *cls, const char *modes, const char *labels,
   const char *extra)
{
    char buf[2048];

    snprintf(
        buf, sizeof(buf),
        "{\"metadata\":{\"name\":\"%s\",\"labels\":%s},\"spec\":{\"capacity\":{\"storage\":"
        "\"%s\"},\"storageClassName\":\"%s\",\"accessModes\":%s,\"volumeMode\":"
        "\"Filesystem\",\"hostPath\":{\"path\":\"/x\"}%s},\"status\":{\"phase\":\"Available\"}}",
        name, labels, size, cls, modes, extra);
    return parse(buf);
}

static json_t *
pvc(const char *size, const char *cls, const char *modes, const char *extra)
{
    char buf[2048];

    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\",\"uid\":\"u1\"},\"spec\":{"
             "\"resources\":{\"requests\":{\"storage\":\"%s\"}},\"storageClassName\":\"%s\","
             "\"accessModes\":%s%s}}",
             size, cls, modes, extra);
    return parse(buf);
}

static void
test_quantities(void **state)
{
    json_t *c = pvc("1Gi", "", "[\"ReadWriteOnce\"]", "");
    json_t *v = pv("a", "1500M", "", "[]", "{}", "");

    (void)state;
    assert_int_equal(pvb_claim_request(c), 1073741824);
    assert_int_equal(pvb_volume_capacity(v), 1500000000);
    json_decref(c);
    json_decref(v);
}

static void
test_matching_rules(void **state)
{
    json_t *c = pvc("1Gi", "manual", "[\"ReadWriteOnce\"]", "");
    json_t *ok = pv("ok", "2Gi", "manual", "[\"ReadWriteOnce\",\"ReadOnlyMany\"]", "{}", "");
    json_t *small = pv("small", "500Mi", "manual", "[\"ReadWriteOnce\"]", "{}", "");
    json_t *cls = pv("cls", "2Gi", "fast", "[\"ReadWriteOnce\"]", "{}", "");
    json_t *modes = pv("modes", "2Gi", "manual", "[\"ReadOnlyMany\"]", "{}", "");
    json_t *block = pv("block", "2Gi", "manual", "[\"ReadWriteOnce\"]", "{}", "");
    char why[64];

    (void)state;
    json_object_set_new(json_object_get(block, "spec"), "volumeMode", json_string("Block"));
    assert_true(pvb_volume_matches(ok, c, NULL, why, sizeof(why)));
    assert_false(pvb_volume_matches(small, c, NULL, why, sizeof(why)));
    assert_string_equal(why, "capacity too small");
    assert_false(pvb_volume_matches(cls, c, NULL, why, sizeof(why)));
    assert_string_equal(why, "storage class differs");
    assert_false(pvb_volume_matches(modes, c, NULL, why, sizeof(why)));
    assert_string_equal(why, "access modes not offered");
    assert_false(pvb_volume_matches(block, c, NULL, why, sizeof(why)));
    assert_string_equal(why, "volume mode differs");
    /* not Available */
    json_object_set_new(json_object_get(ok, "status"), "phase", json_string("Released"));
    assert_false(pvb_volume_matches(ok, c, NULL, why, sizeof(why)));
    json_decref(c), json_decref(ok), json_decref(small), json_decref(cls), json_decref(modes);
    json_decref(block);
}

static void
test_claim_ref_and_selector(void **state)
{
    json_t *c =
        pvc("1Gi", "", "[\"ReadWriteOnce\"]", ",\"selector\":{\"matchLabels\":{\"tier\":\"db\"}}");
    json_t *lab = pv("lab", "1Gi", "", "[\"ReadWriteOnce\"]", "{\"tier\":\"db\"}", "");
    json_t *nolab = pv("nolab", "1Gi", "", "[\"ReadWriteOnce\"]", "{\"tier\":\"web\"}", "");
    json_t *other = pv("other", "1Gi", "", "[\"ReadWriteOnce\"]", "{\"tier\":\"db\"}",
                       ",\"claimRef\":{\"namespace\":\"default\",\"name\":\"x\"}");
    json_t *mine = pv("mine", "1Gi", "", "[\"ReadWriteOnce\"]", "{\"tier\":\"db\"}",
                      ",\"claimRef\":{\"namespace\":\"default\",\"name\":\"c\"}");
    json_t *stale = pv("stale", "1Gi", "", "[\"ReadWriteOnce\"]", "{\"tier\":\"db\"}",
                       ",\"claimRef\":{\"namespace\":\"default\",\"name\":\"c\",\"uid\":\"old\"}");
    char why[64];

    (void)state;
    assert_true(pvb_volume_matches(lab, c, NULL, why, sizeof(why)));
    assert_false(pvb_volume_matches(nolab, c, NULL, why, sizeof(why)));
    assert_string_equal(why, "selector does not match");
    assert_false(pvb_volume_matches(other, c, NULL, why, sizeof(why)));
    assert_string_equal(why, "volume is bound to another claim");
    /* pre-bound to this claim (no uid yet): matches even though not Available */
    json_object_set_new(json_object_get(mine, "status"), "phase", json_string("Pending"));
    assert_true(pvb_volume_matches(mine, c, NULL, why, sizeof(why)));
    /* a claimRef to an earlier claim of the same name does not */
    assert_false(pvb_volume_matches(stale, c, NULL, why, sizeof(why)));
    json_decref(c), json_decref(lab), json_decref(nolab), json_decref(other), json_decref(mine);
    json_decref(stale);
}

static void
test_find_smallest_and_named(void **state)
{
    json_t *c = pvc("1Gi", "", "[\"ReadWriteOnce\"]", "");
    json_t *pvs = json_array();
    const json_t *got;

    (void)state;
    json_array_append_new(pvs, pv("big", "10Gi", "", "[\"ReadWriteOnce\"]", "{}", ""));
    json_array_append_new(pvs, pv("mid", "2Gi", "", "[\"ReadWriteOnce\"]", "{}", ""));
    json_array_append_new(pvs, pv("tiny", "1Mi", "", "[\"ReadWriteOnce\"]", "{}", ""));
    got = pvb_find_volume(pvs, c, NULL);
    assert_non_null(got);
    assert_string_equal(json_string_value(api_json_path(got, "metadata.name")), "mid");
    /* spec.volumeName picks that one only */
    json_object_set_new(json_object_get(c, "spec"), "volumeName", json_string("big"));
    got = pvb_find_volume(pvs, c, NULL);
    assert_string_equal(json_string_value(api_json_path(got, "metadata.name")), "big");
    json_object_set_new(json_object_get(c, "spec"), "volumeName", json_string("tiny"));
    assert_null(pvb_find_volume(pvs, c, NULL));
    json_decref(c);
    json_decref(pvs);
}

static void
test_node_affinity(void **state)
{
    json_t *c = pvc("1Gi", "local", "[\"ReadWriteOnce\"]", "");
    json_t *v =
        pv("loc", "5Gi", "local", "[\"ReadWriteOnce\"]", "{}",
           ",\"nodeAffinity\":{\"required\":{\"nodeSelectorTerms\":[{\"matchExpressions\":"
           "[{\"key\":\"kubernetes.io/hostname\",\"operator\":\"In\",\"values\":[\"n1\"]}]}]"
           "}}");
    json_t *n1 =
        parse("{\"metadata\":{\"name\":\"n1\",\"labels\":{\"kubernetes.io/hostname\":\"n1\"}}}");
    json_t *n2 =
        parse("{\"metadata\":{\"name\":\"n2\",\"labels\":{\"kubernetes.io/hostname\":\"n2\"}}}");
    char why[64];

    (void)state;
    assert_true(pvb_volume_matches(v, c, n1, why, sizeof(why)));
    assert_false(pvb_volume_matches(v, c, n2, why, sizeof(why)));
    assert_string_equal(why, "volume node affinity conflict");
    assert_true(pvb_node_selector_matches(NULL, n2));
    json_decref(c), json_decref(v), json_decref(n1), json_decref(n2);
}

/* The scheduler's VolumeBinding filter: a bound volume's node affinity. */
static void
test_scheduler_volume_filter(void **state)
{
    json_t *sel = parse("[{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":"
                        "\"kubernetes.io/hostname\",\"operator\":\"In\",\"values\":[\"n1\"]}]}]}]");
    json_t *n1 =
        parse("{\"metadata\":{\"name\":\"n1\",\"labels\":{\"kubernetes.io/hostname\":"
              "\"n1\"}},\"status\":{\"allocatable\":{\"cpu\":\"4\",\"memory\":\"4Gi\","
              "\"pods\":\"110\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
    json_t *n2 =
        parse("{\"metadata\":{\"name\":\"n2\",\"labels\":{\"kubernetes.io/hostname\":"
              "\"n2\"}},\"status\":{\"allocatable\":{\"cpu\":\"4\",\"memory\":\"4Gi\","
              "\"pods\":\"110\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
    json_t *pod = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\"},\"spec\":{"
                        "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}");
    struct sched_node a = {0}, b = {0};
    struct sched_node *nodes[2] = {&a, &b};
    struct sched_pod p;
    const char *reasons[4];
    char taint[64], msg[512];

    (void)state;
    assert_true(sched_volumes_fit(sel, n1));
    assert_false(sched_volumes_fit(sel, n2));
    sched_node_init(&a, n1);
    sched_node_init(&b, n2);
    sched_pod_init(&p, pod);
    p.volume_selectors = sel;
    assert_int_equal(sched_filter(&a, &p, reasons, 4, taint, sizeof(taint)), 0);
    assert_int_equal(sched_filter(&b, &p, reasons, 4, taint, sizeof(taint)), 1);
    assert_string_equal(reasons[0], "node(s) had volume node affinity conflict");
    assert_int_equal(sched_pick(nodes, 2, &p, msg, sizeof(msg)), 0);
    sched_pod_fini(&p);
    sched_node_fini(&a);
    sched_node_fini(&b);
    json_decref(sel), json_decref(n1), json_decref(n2), json_decref(pod);
}

static void
test_local_path(void **state)
{
    char *p = pvb_local_path("/var/lib/k3c/storage", "u-1", "default", "data");

    (void)state;
    assert_string_equal(p, "/var/lib/k3c/storage/pvc-u-1_default_data");
    free(p);
}

static char *
row_text(json_t *row)
{
    char *s = json_dumps(row, JSON_COMPACT);

    json_decref(row);
    return s;
}

static void
test_rows(void **state)
{
    json_t *v =
        parse("{\"metadata\":{\"name\":\"pv1\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},"
              "\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":"
              "[\"ReadOnlyMany\",\"ReadWriteOnce\"],\"persistentVolumeReclaimPolicy\":"
              "\"Retain\",\"claimRef\":{\"namespace\":\"ns\",\"name\":\"c\"},"
              "\"storageClassName\":\"manual\",\"volumeMode\":\"Filesystem\"},"
              "\"status\":{\"phase\":\"Bound\"}}");
    json_t *c =
        parse("{\"metadata\":{\"name\":\"c\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"},"
              "\"spec\":{\"volumeName\":\"pv1\",\"storageClassName\":\"manual\","
              "\"volumeMode\":\"Filesystem\"},\"status\":{\"phase\":\"Bound\","
              "\"accessModes\":[\"ReadWriteOnce\"],\"capacity\":{\"storage\":\"1Gi\"}}}");
    json_t *sc =
        parse("{\"metadata\":{\"name\":\"local-path\",\"creationTimestamp\":"
              "\"2026-01-01T00:00:00Z\",\"annotations\":{\"storageclass.kubernetes.io/"
              "is-default-class\":\"true\"}},\"provisioner\":\"rancher.io/local-path\","
              "\"reclaimPolicy\":\"Delete\",\"volumeBindingMode\":\"WaitForFirstConsumer\"}");
    int64_t now = 1767225600 + 90; /* 90 s later */
    char *s;

    (void)state;
    s = row_text(api_row_persistentvolume(v, now));
    assert_string_equal(s, "[\"pv1\",\"1Gi\",\"RWO,ROX\",\"Retain\",\"Bound\",\"ns/c\",\"manual\","
                           "\"<unset>\",\"\",\"90s\",\"Filesystem\"]");
    free(s);
    s = row_text(api_row_persistentvolumeclaim(c, now));
    assert_string_equal(s, "[\"c\",\"Bound\",\"pv1\",\"1Gi\",\"RWO\",\"manual\",\"<unset>\","
                           "\"90s\",\"Filesystem\"]");
    free(s);
    s = row_text(api_row_storageclass(sc, now));
    assert_string_equal(s, "[\"local-path (default)\",\"rancher.io/local-path\",\"Delete\","
                           "\"WaitForFirstConsumer\",false,\"90s\"]");
    free(s);
    json_decref(v), json_decref(c), json_decref(sc);
}

static size_t
causes_of(void (*validate)(const json_t *, const json_t *, json_t *), const char *obj,
          const char *old, const char *want)
{
    json_t *o = parse(obj), *prev = old ? parse(old) : NULL, *causes = json_array();
    char *text;
    size_t n;

    validate(o, prev, causes);
    text = json_dumps(causes, JSON_COMPACT);
    if (want && !strstr(text, want))
        fail_msg("%s does not hold %s", text, want);
    n = json_array_size(causes);
    free(text);
    json_decref(o), json_decref(prev), json_decref(causes);
    return n;
}

static void
test_validation_and_defaults(void **state)
{
    json_t *v = parse("{\"spec\":{\"hostPath\":{\"path\":\"/d\"}}}");

    (void)state;
    api_defaults_persistentvolume(v);
    assert_string_equal(json_string_value(api_json_path(v, "spec.persistentVolumeReclaimPolicy")),
                        "Retain");
    assert_string_equal(json_string_value(api_json_path(v, "spec.volumeMode")), "Filesystem");
    assert_string_equal(json_string_value(api_json_path(v, "status.phase")), "Pending");
    json_decref(v);
    assert_int_equal(causes_of(api_validate_persistentvolume,
                               "{\"spec\":{\"hostPath\":{\"path\":\"/d\"}}}", NULL,
                               "\"field\":\"spec.accessModes\""),
                     2);
    causes_of(api_validate_persistentvolume,
              "{\"spec\":{\"accessModes\":[\"ReadWriteMost\"],\"capacity\":{\"storage\":\"1Gi\"},"
              "\"hostPath\":{\"path\":\"/d\"}}}",
              NULL, "Unsupported value: \\\"ReadWriteMost\\\"");
    causes_of(api_validate_persistentvolume,
              "{\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"capacity\":{\"storage\":\"1Gi\"}}}",
              NULL, "must specify a volume type");
    causes_of(api_validate_persistentvolume,
              "{\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"capacity\":{\"storage\":\"lots\"},"
              "\"hostPath\":{\"path\":\"/d\"}}}",
              NULL, "spec.capacity[storage]");
    assert_int_equal(causes_of(api_validate_persistentvolume,
                               "{\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"capacity\":{"
                               "\"storage\":\"1Gi\"},\"hostPath\":{\"path\":\"/d\"}}}",
                               NULL, NULL),
                     0);
    causes_of(api_validate_persistentvolumeclaim,
              "{\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{}}}}",
              NULL, "spec.resources[storage]");
    causes_of(api_validate_persistentvolumeclaim,
              "{\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"storageClassName\":\"b\","
              "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}",
              "{\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"storageClassName\":\"a\","
              "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}",
              "spec is immutable after creation");
    /* the binder may set volumeName once */
    assert_int_equal(
        causes_of(api_validate_persistentvolumeclaim,
                  "{\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"volumeName\":\"v\","
                  "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}",
                  "{\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
                  "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}",
                  NULL),
        0);
    causes_of(api_validate_storageclass, "{\"provisioner\":\"\"}", NULL, "provisioner");
    causes_of(api_validate_storageclass, "{\"provisioner\":\"a\",\"reclaimPolicy\":\"Delete\"}",
              "{\"provisioner\":\"a\",\"reclaimPolicy\":\"Retain\"}",
              "updates to reclaimPolicy are forbidden");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_matching_rules),
        cmocka_unit_test(test_claim_ref_and_selector),
        cmocka_unit_test(test_find_smallest_and_named),
        cmocka_unit_test(test_node_affinity),
        cmocka_unit_test(test_scheduler_volume_filter),
        cmocka_unit_test(test_local_path),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_validation_and_defaults),
    };

    return cmocka_run_group_tests_name("storage", tests, NULL, NULL);
}
