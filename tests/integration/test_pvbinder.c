/* SPDX-License-Identifier: Apache-2.0
 * test_pvbinder.c - the PersistentVolume binder (controllers/pvbinder.c)
 * alone against a real etcd and an in-process API server (no root, no
 * pods): with --disable local-storage no default class and no local-path
 * provisioning (ExternalProvisioning); then the default class local-path
 * appears, a claim with a selected node gets a hostPath volume under the
 * configured directory with node affinity to that node and the cleanup
 * finalizer, bound both ways; static binding to the smallest matching
 * volume; a released Retain volume stays Released, a static Delete volume
 * without a deleter goes Failed; the default class filled in at create. */
#include "harness_api.h"

#include "base/util.h"
#include "client/client.h"
#include "controllers/controllers.h"
#include "controllers/ctl-internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define WAIT_MS 15000

static struct harness_api *H;
static const struct ctl_def *const table[] = {&ctl_def_pvbinder, NULL};

static long
api(const char *method, const char *path, const char *body_json, json_t **out)
{
    const char *endpoints[] = {H->url, NULL};
    struct http_client_config hc = {.endpoints = endpoints,
                                    .ca_file = H->ca_file,
                                    .cert_file = H->admin_cert,
                                    .key_file = H->admin_key};
    struct k3c_err err = {0};
    struct http_client *c = http_client_new(&hc, &err);
    json_t *body = body_json ? json_loads(body_json, 0, NULL) : NULL;
    long st;

    assert_non_null(c);
    if (body_json && !body)
        fail_msg("bad JSON in the test: %s", body_json);
    st = http_client_json(c, method, path, NULL, body, out, &err);
    json_decref(body);
    http_client_free(c);
    return st;
}

static struct ctl_manager *
manager_new(bool disable)
{
    struct ctl_config cfg = harness_api_ctl_config(H, "pvbinder-test");
    struct k3c_err err = {0};
    struct ctl_manager *m;

    cfg.disable_scheduler = true;
    cfg.disable_local_storage = disable;
    cfg.local_storage_path = "/srv/k3c-storage";
    m = ctl_manager_new_with(&cfg, H->srv, table, &err);
    assert_non_null(m);
    assert_int_equal(ctl_manager_start(m, &err), 0);
    return m;
}

/* The string at a dotted path of the object at path ("" when absent). */
static void
field_of(const char *path, const char *field, char *out, size_t len)
{
    json_t *obj = NULL;

    out[0] = '\0';
    if (api("GET", path, NULL, &obj) == 200) {
        const json_t *v = obj;
        char f[256], *save = NULL;

        snprintf(f, sizeof(f), "%s", field);
        for (char *tok = strtok_r(f, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
            v = json_is_array(v) ? json_array_get(v, (size_t)atoi(tok)) : json_object_get(v, tok);
        if (json_is_string(v))
            snprintf(out, len, "%s", json_string_value(v));
        else if (v && !json_is_object(v) && !json_is_array(v))
            snprintf(out, len, "?");
    }
    json_decref(obj);
}

static void
wait_field(const char *path, const char *field, const char *want)
{
    char have[512];
    int64_t deadline = k3c_now_ms() + WAIT_MS;

    for (;;) {
        field_of(path, field, have, sizeof(have));
        if (strcmp(have, want) == 0)
            return;
        if (k3c_now_ms() > deadline)
            fail_msg("%s %s: \"%s\", want \"%s\"", path, field, have, want);
        k3c_sleep_ms(50);
    }
}

static bool
has_event(const char *name, const char *reason)
{
    json_t *list = NULL;
    bool found = false;
    size_t i;
    json_t *ev;

    if (api("GET", "/api/v1/namespaces/default/events", NULL, &list) == 200) {
        json_array_foreach(json_object_get(list, "items"), i, ev)
        {
            const char *n =
                json_string_value(json_object_get(json_object_get(ev, "involvedObject"), "name"));
            const char *r = json_string_value(json_object_get(ev, "reason"));

            found = found || (n && r && strcmp(n, name) == 0 && strcmp(r, reason) == 0);
        }
    }
    json_decref(list);
    return found;
}

static void
wait_event(const char *name, const char *reason)
{
    int64_t deadline = k3c_now_ms() + WAIT_MS;

    while (!has_event(name, reason)) {
        if (k3c_now_ms() > deadline)
            fail_msg("no %s event for %s", reason, name);
        k3c_sleep_ms(50);
    }
}

static void
claim(const char *name, const char *size, const char *cls, const char *annotations)
{
    char body[1024];

    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":"
             "\"%s\",\"annotations\":%s},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
             "\"resources\":{\"requests\":{\"storage\":\"%s\"}}%s%s%s}}",
             name, annotations ? annotations : "{}", size, cls ? ",\"storageClassName\":\"" : "",
             cls ? cls : "", cls ? "\"" : "");
    assert_int_equal(api("POST", "/api/v1/namespaces/default/persistentvolumeclaims", body, NULL),
                     201);
}

static void
volume(const char *name, const char *size, const char *cls, const char *policy)
{
    char body[1024];

    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"%s\"},"
             "\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"capacity\":{\"storage\":\"%s\"},"
             "\"storageClassName\":\"%s\",\"persistentVolumeReclaimPolicy\":\"%s\","
             "\"hostPath\":{\"path\":\"/srv/%s\"}}}",
             name, size, cls, policy, name);
    assert_int_equal(api("POST", "/api/v1/persistentvolumes", body, NULL), 201);
}

#define PVC(n) "/api/v1/namespaces/default/persistentvolumeclaims/" n

static void
test_pvbinder(void **state)
{
    struct ctl_manager *m = manager_new(true);
    char uid[64], path[256], want[512];

    (void)state;
    /* --disable local-storage: no default class, no local-path provisioning */
    assert_int_equal(api("POST", "/apis/storage.k8s.io/v1/storageclasses",
                         "{\"apiVersion\":\"storage.k8s.io/v1\",\"kind\":\"StorageClass\","
                         "\"metadata\":{\"name\":\"wffc\"},\"provisioner\":\"rancher.io/"
                         "local-path\",\"volumeBindingMode\":\"WaitForFirstConsumer\"}",
                         NULL),
                     201);
    claim("wf", "64Mi", "wffc", "{\"volume.kubernetes.io/selected-node\":\"n1\"}");
    wait_event("wf", "ExternalProvisioning");
    field_of(PVC("wf"), "status.phase", want, sizeof(want));
    assert_string_equal(want, "Pending");
    assert_int_equal(api("GET", "/apis/storage.k8s.io/v1/storageclasses/local-path", NULL, NULL),
                     404);
    ctl_manager_free(m);

    /* enabled: the default class, and the claim provisioned on n1 */
    m = manager_new(false);
    wait_field("/apis/storage.k8s.io/v1/storageclasses/local-path", "volumeBindingMode",
               "WaitForFirstConsumer");
    {
        json_t *sc = NULL;
        const char *def;

        assert_int_equal(api("GET", "/apis/storage.k8s.io/v1/storageclasses/local-path", NULL, &sc),
                         200);
        def = json_string_value(
            json_object_get(json_object_get(json_object_get(sc, "metadata"), "annotations"),
                            "storageclass.kubernetes.io/is-default-class"));
        assert_non_null(def);
        assert_string_equal(def, "true");
        assert_string_equal(json_string_value(json_object_get(sc, "provisioner")),
                            "rancher.io/local-path");
        assert_string_equal(json_string_value(json_object_get(sc, "reclaimPolicy")), "Delete");
        json_decref(sc);
    }
    wait_field(PVC("wf"), "status.phase", "Bound");
    field_of(PVC("wf"), "metadata.uid", uid, sizeof(uid));
    snprintf(path, sizeof(path), "/api/v1/persistentvolumes/pvc-%s", uid);
    field_of(PVC("wf"), "spec.volumeName", want, sizeof(want));
    assert_string_equal(want, path + strlen("/api/v1/persistentvolumes/"));
    snprintf(want, sizeof(want), "/srv/k3c-storage/pvc-%s_default_wf", uid);
    wait_field(path, "spec.hostPath.path", want);
    wait_field(path, "status.phase", "Bound");
    wait_field(path, "spec.claimRef.uid", uid);
    wait_field(path, "spec.persistentVolumeReclaimPolicy", "Delete");
    wait_field(path, "spec.nodeAffinity.required.nodeSelectorTerms.0.matchExpressions.0.values.0",
               "n1");
    wait_field(path, "metadata.finalizers.0",
               "external-provisioner.volume.kubernetes.io/finalizer");
    wait_field(path, "metadata.finalizers.1", "kubernetes.io/pv-protection");
    wait_field(PVC("wf"), "status.capacity.storage", "64Mi");
    wait_event("wf", "ProvisioningSucceeded");

    /* the default class filled in at create; it waits for a consumer */
    claim("dflt", "1Gi", NULL, NULL);
    wait_field(PVC("dflt"), "spec.storageClassName", "local-path");
    wait_event("dflt", "WaitForFirstConsumer");

    /* static: the smallest matching volume; Retain stays Released */
    volume("big", "10Gi", "manual", "Retain");
    volume("fit", "2Gi", "manual", "Retain");
    volume("small", "100Mi", "manual", "Retain");
    wait_field("/api/v1/persistentvolumes/fit", "status.phase", "Available");
    claim("c1", "1Gi", "manual", NULL);
    wait_field(PVC("c1"), "status.phase", "Bound");
    wait_field(PVC("c1"), "spec.volumeName", "fit");
    wait_field("/api/v1/persistentvolumes/fit", "spec.claimRef.name", "c1");
    wait_field("/api/v1/persistentvolumes/big", "status.phase", "Available");
    assert_int_equal(api("DELETE", PVC("c1"), NULL, NULL), 200);
    wait_field("/api/v1/persistentvolumes/fit", "status.phase", "Released");

    /* a static Delete volume has no deleter: Failed */
    volume("del", "1Gi", "other", "Delete");
    claim("c2", "1Gi", "other", NULL);
    wait_field(PVC("c2"), "status.phase", "Bound");
    assert_int_equal(api("DELETE", PVC("c2"), NULL, NULL), 200);
    wait_field("/api/v1/persistentvolumes/del", "status.phase", "Failed");
    wait_field("/api/v1/persistentvolumes/del", "status.reason", "VolumeFailedDelete");
    ctl_manager_free(m);
}

static int
setup(void **state)
{
    struct k3c_err err = {0};

    (void)state;
    H = harness_api_start(&err);
    if (!H) {
        fprintf(stderr, "harness: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    harness_api_stop(H);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pvbinder),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
