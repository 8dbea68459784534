/* SPDX-License-Identifier: Apache-2.0
 * test_ctl.c - the control-loop framework against a real etcd and a real
 * in-process API server: a test-only controller that mirrors each
 * ConfigMap "x" into "x-copy" (informer -> queue -> sync -> ctl_api write)
 * and deletes the copy with its source; a key that fails a few times and
 * is retried with back-off; Events with count aggregation; the leader
 * Lease held with our identity and released (holderIdentity cleared) when
 * the manager stops; a second manager stands by while the first leads and
 * takes over after it stops; an informer whose handler is held while the
 * cache runs more than its event ring ahead catches up by a relist and still
 * reports the deletion it missed. */
#include "harness_api.h"

#include "base/util.h"
#include "client/client.h"
#include "controllers/ctl-internal.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define WAIT_MS 15000

static struct harness_api *H;
static atomic_int fail_left;    /* syncs of "default/flaky" that fail before one succeeds */
static atomic_int flaky_runs;   /* syncs of "default/flaky" */
static atomic_int started_runs; /* start() calls */

/* ---- the test controller ------------------------------------------------------ */

static bool
is_copy(const char *name)
{
    size_t n = strlen(name);

    return n > 5 && strcmp(name + n - 5, "-copy") == 0;
}

static void
on_configmap(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)ev;
    (void)old;
    ctl_enqueue_object(c, obj);
}

static bool
enqueue_one(void *ud, const json_t *obj)
{
    ctl_enqueue_object(ud, obj);
    return true;
}

static void
mirror_start(struct ctl *c)
{
    atomic_fetch_add(&started_runs, 1);
    ctl_list(c, "configmaps", NULL, NULL, enqueue_one, c);
}

static int
mirror_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    char ns[64], name[256], path[512];
    json_t *src, *copy;
    long st;

    ctl_key_split(key, ns, sizeof(ns), name, sizeof(name));
    if (strcmp(name, "flaky") == 0) {
        atomic_fetch_add(&flaky_runs, 1);
        if (atomic_fetch_sub(&fail_left, 1) > 0)
            return k3c_err_set(err, K3C_E_UNAVAILABLE, "flaky on purpose");
    }
    if (is_copy(name) || strcmp(ns, "default") != 0)
        return 0;
    src = ctl_get(c, "configmaps", ns, name);
    if (!src) {
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/%s-copy", ns, name);
        st = ctl_api(c, "DELETE", path, NULL, NULL, NULL, err);
        return st == 404 || (st >= 200 && st < 300) ? 0 : -1;
    }
    copy = json_pack("{s:s, s:s, s:{s:s+}, s:O*}", "apiVersion", "v1", "kind", "ConfigMap",
                     "metadata", "name", name, "-copy", "data", json_object_get(src, "data"));
    json_object_set_new(json_object_get(copy, "metadata"), "ownerReferences",
                        json_pack("[o]", ctl_owner_ref(src)));
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", ns);
    st = ctl_api(c, "POST", path, NULL, copy, NULL, err);
    /* "ev*" records the same event on every sync, to see it aggregated. */
    if (st == 201 || (st == 409 && strncmp(name, "ev", 2) == 0))
        ctl_event(c, src, "Normal", "Mirrored", "copied to %s-copy", name);
    json_decref(copy);
    json_decref(src);
    return st == 201 || st == 409 ? 0 : -1;
}

static const struct ctl_watch mirror_watches[] = {
    {"configmaps", on_configmap},
    {NULL, NULL},
};

static const struct ctl_def mirror_def = {
    .name = "mirror",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = mirror_watches,
    .sync = mirror_sync,
    .start = mirror_start,
};

static const struct ctl_def *const test_table[] = {&mirror_def, NULL};

/* ---- helpers ------------------------------------------------------------------- */

static struct http_client *
admin_client(void)
{
    const char *endpoints[] = {H->url, NULL};
    struct http_client_config hc = {.endpoints = endpoints,
                                    .ca_file = H->ca_file,
                                    .cert_file = H->admin_cert,
                                    .key_file = H->admin_key};
    struct k3c_err err = {0};
    struct http_client *c = http_client_new(&hc, &err);

    assert_non_null(c);
    return c;
}

static long
api(const char *method, const char *path, const char *body_json, json_t **out)
{
    struct http_client *c = admin_client();
    json_t *body = body_json ? json_loads(body_json, 0, NULL) : NULL;
    struct k3c_err err = {0};
    long st = http_client_json(c, method, path, NULL, body, out, &err);

    json_decref(body);
    http_client_free(c);
    return st;
}

static struct ctl_manager *
manager_new(const char *identity)
{
    struct ctl_config cfg = harness_api_ctl_config(H, identity);
    struct k3c_err err = {0};
    struct ctl_manager *m;

    cfg.disable_scheduler = true;
    m = ctl_manager_new_with(&cfg, H->srv, test_table, &err);
    if (!m)
        print_error("ctl_manager_new: %s\n", err.msg);
    assert_non_null(m);
    assert_int_equal(ctl_manager_start(m, &err), 0);
    return m;
}

static bool
status_is(const char *path, long want)
{
    return api("GET", path, NULL, NULL) == want;
}

static bool
exists(void *path)
{
    return status_is(path, 200);
}

static bool
gone(void *path)
{
    return status_is(path, 404);
}

static const char *
lease_holder(json_t **keep)
{
    json_t *lease = NULL;

    if (api("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/k3c-controllers",
            NULL, &lease) != 200) {
        json_decref(lease);
        *keep = NULL;
        return NULL;
    }
    *keep = lease;
    return json_string_value(json_object_get(json_object_get(lease, "spec"), "holderIdentity"));
}

static bool
holder_is(void *want)
{
    json_t *keep;
    const char *h = lease_holder(&keep);
    bool ok = h && strcmp(h, want) == 0;

    json_decref(keep);
    return ok;
}

static bool
flaky_done(void *arg)
{
    (void)arg;
    return atomic_load(&flaky_runs) >= 4;
}

/* count of the Mirrored event about configmap name, 0 if none; *n_events
 * Event objects. */
static json_int_t
mirrored_events(const char *name, int *n_events)
{
    json_t *list = NULL, *item;
    json_int_t count = 0;
    size_t i;

    assert_int_equal(api("GET", "/api/v1/namespaces/default/events", NULL, &list), 200);
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const char *r = json_string_value(json_object_get(item, "reason"));
        const char *n =
            json_string_value(json_object_get(json_object_get(item, "involvedObject"), "name"));

        if (r && n && strcmp(r, "Mirrored") == 0 && strcmp(n, name) == 0) {
            count += json_integer_value(json_object_get(item, "count"));
            (*n_events)++;
        }
    }
    json_decref(list);
    return count;
}

static json_int_t
mirrored_count(const char *name)
{
    int n = 0;

    return mirrored_events(name, &n);
}

static bool
ev_count_3(void *arg)
{
    (void)arg;
    return mirrored_count("ev") >= 3;
}

/* ---- tests ----------------------------------------------------------------------- */

static void
test_mirror(void **state)
{
    struct ctl_manager *m;

    (void)state;
    /* One object before the manager starts (start() lists it)... */
    assert_int_equal(api("POST", "/api/v1/namespaces/default/configmaps",
                         "{\"metadata\":{\"name\":\"early\"},\"data\":{\"k\":\"v\"}}", NULL),
                     201);
    m = manager_new("test-a");
    assert_true(harness_wait_for(holder_is, "test-a", WAIT_MS));
    assert_true(
        harness_wait_for(exists, "/api/v1/namespaces/default/configmaps/early-copy", WAIT_MS));
    /* ...one after (the informer delivers it). */
    assert_int_equal(api("POST", "/api/v1/namespaces/default/configmaps",
                         "{\"metadata\":{\"name\":\"late\"},\"data\":{\"a\":\"b\"}}", NULL),
                     201);
    assert_true(
        harness_wait_for(exists, "/api/v1/namespaces/default/configmaps/late-copy", WAIT_MS));
    assert_true(mirrored_count("late") >= 1);
    /* Deleting the source deletes the copy (a DELETED event). */
    assert_int_equal(api("DELETE", "/api/v1/namespaces/default/configmaps/late", NULL, NULL), 200);
    assert_true(harness_wait_for(gone, "/api/v1/namespaces/default/configmaps/late-copy", WAIT_MS));
    /* A failing key is retried with back-off until it succeeds. */
    atomic_store(&fail_left, 3);
    atomic_store(&flaky_runs, 0);
    assert_int_equal(api("POST", "/api/v1/namespaces/default/configmaps",
                         "{\"metadata\":{\"name\":\"flaky\"}}", NULL),
                     201);
    assert_true(harness_wait_for(flaky_done, NULL, WAIT_MS));
    assert_true(
        harness_wait_for(exists, "/api/v1/namespaces/default/configmaps/flaky-copy", WAIT_MS));
    assert_int_equal(atomic_load(&started_runs), 1);
    ctl_manager_free(m);
    /* Released on shutdown. */
    assert_true(harness_wait_for(holder_is, "", 1000));
}

static void
test_event_count(void **state)
{
    struct ctl_manager *m;
    int n_events = 0;

    (void)state;
    m = manager_new("test-ev");
    assert_true(harness_wait_for(holder_is, "test-ev", WAIT_MS));
    assert_int_equal(api("POST", "/api/v1/namespaces/default/configmaps",
                         "{\"metadata\":{\"name\":\"ev\"}}", NULL),
                     201);
    assert_true(harness_wait_for(exists, "/api/v1/namespaces/default/configmaps/ev-copy", WAIT_MS));
    /* Two more syncs record the same event again: one Event, count 3. */
    assert_int_equal(api("PUT", "/api/v1/namespaces/default/configmaps/ev",
                         "{\"metadata\":{\"name\":\"ev\",\"labels\":{\"a\":\"1\"}}}", NULL),
                     200);
    assert_true(harness_wait_for(exists, "/api/v1/namespaces/default/configmaps/ev-copy", 100));
    k3c_sleep_ms(300);
    assert_int_equal(api("PUT", "/api/v1/namespaces/default/configmaps/ev",
                         "{\"metadata\":{\"name\":\"ev\",\"labels\":{\"a\":\"2\"}}}", NULL),
                     200);
    assert_true(harness_wait_for(ev_count_3, NULL, WAIT_MS));
    assert_int_equal(mirrored_events("ev", &n_events), 3);
    assert_int_equal(n_events, 1);
    ctl_manager_free(m);
}

static void
test_standby_takes_over(void **state)
{
    struct ctl_manager *a, *b;
    int64_t t0;

    (void)state;
    a = manager_new("test-leader");
    assert_true(harness_wait_for(holder_is, "test-leader", WAIT_MS));
    b = manager_new("test-standby");
    /* b stands by: a keeps the lease over several retry periods. */
    k3c_sleep_ms(2500);
    assert_true(holder_is("test-leader"));
    assert_int_equal(api("POST", "/api/v1/namespaces/default/configmaps",
                         "{\"metadata\":{\"name\":\"one\"}}", NULL),
                     201);
    assert_true(
        harness_wait_for(exists, "/api/v1/namespaces/default/configmaps/one-copy", WAIT_MS));
    t0 = k3c_now_ms();
    ctl_manager_free(a);
    /* Released: b takes over at its next retry (1 s), not after the lease. */
    assert_true(harness_wait_for(holder_is, "test-standby", 3000));
    assert_true(k3c_now_ms() - t0 < 3000);
    assert_int_equal(api("POST", "/api/v1/namespaces/default/configmaps",
                         "{\"metadata\":{\"name\":\"two\"}}", NULL),
                     201);
    assert_true(
        harness_wait_for(exists, "/api/v1/namespaces/default/configmaps/two-copy", WAIT_MS));
    ctl_manager_free(b);
}

/* ---- informer catch-up ------------------------------------------------------------
 * A handler that blocks while the cache runs more than its event ring ahead:
 * the watcher is closed, the informer reads the cache whole and reports the
 * difference, the deletion it missed included. */

#define BULK 1100 /* more than the watch cache's ring (1,024 events) */

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static int bulk_added, victim_added, victim_deleted;

static void
on_recorded(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));

    (void)c;
    (void)old;
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    if (!name)
        return;
    pthread_mutex_lock(&seen_mu);
    if (strncmp(name, "bulk-", 5) == 0 && ev == CTL_ADDED)
        bulk_added++;
    if (strcmp(name, "victim") == 0 && ev == CTL_ADDED)
        victim_added++;
    if (strcmp(name, "victim") == 0 && ev == CTL_DELETED)
        victim_deleted++;
    pthread_mutex_unlock(&seen_mu);
}

static int
recorder_sync(struct ctl *c, const char *key, struct k3c_err *err)
{
    (void)c;
    (void)key;
    (void)err;
    return 0;
}

static const struct ctl_watch recorder_watches[] = {
    {"configmaps", on_recorded},
    {NULL, NULL},
};

static const struct ctl_def recorder_def = {
    .name = "recorder",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = recorder_watches,
    .sync = recorder_sync,
};

static int
seen(int *v)
{
    int n;

    pthread_mutex_lock(&seen_mu);
    n = *v;
    pthread_mutex_unlock(&seen_mu);
    return n;
}

static bool
victim_seen(void *arg)
{
    (void)arg;
    return seen(&victim_added) > 0;
}

static bool
caught_up(void *arg)
{
    (void)arg;
    return seen(&victim_deleted) == 1 && seen(&bulk_added) == BULK;
}

static void
put_raw(const char *name)
{
    char key[128], value[256];
    struct k3c_err err = {0};
    int64_t rev;

    snprintf(key, sizeof(key), "/registry/configmaps/default/%s", name);
    snprintf(value, sizeof(value),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\",\"uid\":\"u-%s\"}}",
             name, name);
    assert_int_equal(store_create(H->store, key, value, strlen(value), 0, &rev, &err), 0);
}

static void
test_informer_catches_up(void **state)
{
    static const struct ctl_def *const table[] = {&recorder_def, NULL};
    struct ctl_config cfg = harness_api_ctl_config(H, "test-recorder");
    struct k3c_err err = {0};
    struct ctl_manager *m;
    char name[32];
    int64_t rev;

    (void)state;
    cfg.disable_scheduler = true;
    m = ctl_manager_new_with(&cfg, H->srv, table, &err);
    assert_non_null(m);
    assert_int_equal(ctl_manager_start(m, &err), 0);
    assert_true(harness_wait_for(holder_is, "test-recorder", WAIT_MS));
    put_raw("victim");
    assert_true(harness_wait_for(victim_seen, NULL, WAIT_MS));
    /* Hold the dispatcher in a handler while the cache moves on. */
    pthread_mutex_lock(&gate);
    put_raw("trigger");
    assert_int_equal(
        store_delete(H->store, "/registry/configmaps/default/victim", 0, NULL, &rev, &err), 0);
    for (int i = 0; i < BULK; i++) {
        snprintf(name, sizeof(name), "bulk-%04d", i);
        put_raw(name);
    }
    pthread_mutex_unlock(&gate);
    assert_true(harness_wait_for(caught_up, NULL, 30000));
    assert_int_equal(seen(&victim_added), 1);
    ctl_manager_free(m);
}

static int
setup(void **state)
{
    struct k3c_err err = {0};

    (void)state;
    H = harness_api_start(&err);
    if (!H) {
        print_error("harness_api_start: %s\n", err.msg);
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
        cmocka_unit_test(test_mirror),
        cmocka_unit_test(test_event_count),
        cmocka_unit_test(test_standby_takes_over),
        cmocka_unit_test(test_informer_catches_up),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
