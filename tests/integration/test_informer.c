/* SPDX-License-Identifier: Apache-2.0
 * test_informer.c - the agent-side informer (client/informer.h) against a
 * real in-process API server and etcd: the first list is delivered then
 * on_synced; creates, updates and deletes arrive once each; a label
 * selector filters; an object outside it is never seen; nothing is
 * delivered twice; a cut watch connection resumes from its
 * resourceVersion without a relist; informer_get/foreach read the cache.
 * Shared informers (one watch): a newcomer gets the whole list, the others
 * nothing twice; each keeps its own cache form; the watch outlives the
 * informer that started it. */
#include "harness_api.h"

#include "base/cleanup.h"
#include "base/util.h"
#include "client/client.h"
#include "client/informer.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define WAIT_MS 15000

static struct harness_api *H;
static struct http_client *C;

struct seen {
    pthread_mutex_t lock;
    int upserts, updates, deletes, synced;
    char last_deleted[64];
};

static void
on_upsert(void *ud, const json_t *obj, const json_t *old)
{
    struct seen *s = ud;

    (void)obj;
    pthread_mutex_lock(&s->lock);
    s->upserts++;
    if (old)
        s->updates++;
    pthread_mutex_unlock(&s->lock);
}

static void
on_delete(void *ud, const json_t *obj)
{
    struct seen *s = ud;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));

    pthread_mutex_lock(&s->lock);
    s->deletes++;
    snprintf(s->last_deleted, sizeof(s->last_deleted), "%s", name ? name : "");
    pthread_mutex_unlock(&s->lock);
}

static void
on_synced(void *ud)
{
    struct seen *s = ud;

    s->synced++; /* called under the informer's lock; read after wait_synced */
}

static const struct informer_ops ops = {
    .on_upsert = on_upsert, .on_delete = on_delete, .on_synced = on_synced};

static int
counter(struct seen *s, int *field)
{
    int v;

    pthread_mutex_lock(&s->lock);
    v = *field;
    pthread_mutex_unlock(&s->lock);
    return v;
}

static bool
wait_count(struct seen *s, int *field, int want)
{
    int64_t deadline = k3c_now_ms() + WAIT_MS;

    while (k3c_now_ms() < deadline) {
        if (counter(s, field) >= want)
            return true;
        k3c_sleep_ms(20);
    }
    return false;
}

static void
cm_put(const char *method, const char *name, const char *label, const char *value)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *body =
        json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                  "metadata", "name", name, "labels", "app", label, "data", "v", value);
    _cleanup_free_ char *path =
        strcmp(method, "POST") == 0
            ? k3c_xstrdup("/api/v1/namespaces/default/configmaps")
            : k3c_xasprintf("/api/v1/namespaces/default/configmaps/%s", name);
    long st = http_client_json(C, method, path, NULL, body, NULL, &err);

    assert_true(st == 200 || st == 201);
}

static void
cm_delete(const char *name)
{
    struct k3c_err err = {0};
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/namespaces/default/configmaps/%s", name);

    assert_int_equal(http_client_json(C, "DELETE", path, NULL, NULL, NULL, &err), 200);
}

static void
count_one(void *ud, const json_t *obj)
{
    (void)obj;
    (*(int *)ud)++;
}

static void
test_list_watch_cycle(void **state)
{
    struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const struct informer_config cfg = {.client = C,
                                        .path = "/api/v1/configmaps",
                                        .label_selector = "app in (web)",
                                        .name = "configmaps",
                                        .ops = &ops,
                                        .userdata = &s};
    struct k3c_err err = {0};
    struct informer *inf;
    json_t *got;
    int n = 0;

    (void)state;
    cm_put("POST", "before", "web", "1");
    cm_put("POST", "other", "db", "1");
    inf = informer_new(&cfg, &err);
    assert_non_null(inf);
    assert_int_equal(informer_start(inf, &err), 0);
    assert_true(informer_wait_synced(inf, WAIT_MS));
    /* The list: only the selected object, then on_synced. */
    assert_int_equal(counter(&s, &s.upserts), 1);
    assert_int_equal(s.synced, 1);

    cm_put("POST", "after", "web", "1");
    assert_true(wait_count(&s, &s.upserts, 2));
    cm_put("PUT", "after", "web", "2");
    assert_true(wait_count(&s, &s.updates, 1));
    cm_put("PUT", "other", "db", "2"); /* filtered out */

    got = informer_get(inf, "default", "after");
    assert_non_null(got);
    assert_string_equal(json_string_value(json_object_get(json_object_get(got, "data"), "v")), "2");
    json_decref(got);
    assert_null(informer_get(inf, "default", "other"));
    informer_foreach(inf, count_one, &n);
    assert_int_equal(n, 2);

    /* A cut connection (a server that died) resumes from the last
     * resourceVersion: the next change arrives, with no relist. */
    informer_reset_connection(inf);
    cm_put("PUT", "after", "web", "3");
    assert_true(wait_count(&s, &s.updates, 2));
    assert_int_equal(s.synced, 1);

    /* A delete arrives once; nothing already seen is delivered again. */
    cm_delete("before");
    assert_true(wait_count(&s, &s.deletes, 1));
    assert_string_equal(s.last_deleted, "before");
    assert_int_equal(counter(&s, &s.upserts), 4);
    assert_int_equal(s.synced, 1);

    informer_free(inf);
    cm_delete("after");
    cm_delete("other");
}

static void
test_shared_watch(void **state)
{
    struct seen a = {.lock = PTHREAD_MUTEX_INITIALIZER}, b = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct informer_config cfg = {.client = C,
                                  .path = "/api/v1/configmaps",
                                  .label_selector = "app=shared",
                                  .name = "shared a",
                                  .ops = &ops,
                                  .userdata = &a,
                                  .cache_form = informer_metadata_form,
                                  .shared = true};
    struct k3c_err err = {0};
    struct informer *ia, *ib;
    json_t *got;

    (void)state;
    cm_put("POST", "s1", "shared", "1");
    ia = informer_new(&cfg, &err);
    assert_non_null(ia);
    assert_int_equal(informer_start(ia, &err), 0);
    assert_true(informer_wait_synced(ia, WAIT_MS));
    cm_put("POST", "s2", "shared", "1");
    assert_true(wait_count(&a, &a.upserts, 2));

    /* b joins the running watch: it gets both objects, a neither again */
    cfg.name = "shared b";
    cfg.userdata = &b;
    cfg.cache_form = NULL;
    ib = informer_new(&cfg, &err);
    assert_non_null(ib);
    assert_int_equal(informer_start(ib, &err), 0);
    assert_true(informer_wait_synced(ib, WAIT_MS));
    assert_int_equal(counter(&b, &b.upserts), 2);
    assert_int_equal(a.synced, 2); /* the one watch relisted for b (a first) */
    cm_put("POST", "s3", "shared", "1");
    assert_true(wait_count(&a, &a.upserts, 3));
    assert_true(wait_count(&b, &b.upserts, 3));
    assert_int_equal(counter(&a, &a.updates), 0);

    /* each subscriber keeps its own form of the object */
    got = informer_get(ia, "default", "s3");
    assert_non_null(got);
    assert_null(json_object_get(got, "data"));
    json_decref(got);
    got = informer_get(ib, "default", "s3");
    assert_non_null(got);
    assert_non_null(json_object_get(got, "data"));
    json_decref(got);

    /* the watch goes on for b once a (which started it) is gone */
    informer_free(ia);
    cm_put("PUT", "s3", "shared", "2");
    assert_true(wait_count(&b, &b.updates, 1));
    cm_delete("s1");
    assert_true(wait_count(&b, &b.deletes, 1));
    assert_string_equal(b.last_deleted, "s1");
    informer_free(ib);
    cm_delete("s2");
    cm_delete("s3");
}

static void
test_bad_config(void **state)
{
    const struct informer_config cfg = {.client = C, .path = NULL, .ops = &ops};
    struct k3c_err err = {0};

    (void)state;
    assert_null(informer_new(&cfg, &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
}

static int
setup(void **state)
{
    struct k3c_err err = {0};
    const char *eps[2] = {NULL, NULL};
    struct http_client_config hc = {0};

    (void)state;
    H = harness_api_start(&err);
    if (!H) {
        fprintf(stderr, "harness: %s\n", err.msg);
        return -1;
    }
    eps[0] = H->url;
    hc.endpoints = eps;
    hc.ca_file = H->ca_file;
    hc.cert_file = H->admin_cert;
    hc.key_file = H->admin_key;
    C = http_client_new(&hc, &err);
    return C ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    http_client_free(C);
    harness_api_stop(H);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_list_watch_cycle),
        cmocka_unit_test(test_shared_watch),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
