/* SPDX-License-Identifier: Apache-2.0
 * test_store.c - the storage layer against a real etcd: CRUD, CAS, list
 * pagination at a fixed revision, concurrent CAS increments, leases. */
#include "harness.h"
#include "base/util.h"

#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct fixture {
    struct harness_etcd *etcd;
    struct store *store;
};

static int
setup(void **state)
{
    struct fixture *f = k3c_xcalloc(1, sizeof(*f));
    struct k3c_err err = {0};

    if (harness_etcd_store_start(&f->etcd, &f->store, &err) < 0) {
        print_error("%s\n", err.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    harness_etcd_store_stop(f->etcd, f->store);
    free(f);
    return 0;
}

static struct store *
st(void **state)
{
    return ((struct fixture *)*state)->store;
}

static void
test_crud(void **state)
{
    struct store *s = st(state);
    struct k3c_err err = {0};
    struct store_kv kv = {0}, cur = {0}, prev = {0};
    int64_t r1 = 0, r2 = 0, r3 = 0;

    assert_int_equal(store_get(s, "/crud/a", &kv, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);

    assert_int_equal(store_create(s, "/crud/a", "{\"v\":1}", 7, 0, &r1, &err), 0);
    assert_true(r1 > 0);
    assert_int_equal(store_create(s, "/crud/a", "{\"v\":9}", 7, 0, NULL, &err), -1);
    assert_int_equal(err.kind, K3C_E_EXISTS);

    assert_int_equal(store_get(s, "/crud/a", &kv, &err), 0);
    assert_string_equal(kv.value, "{\"v\":1}");
    assert_int_equal(kv.value_len, 7);
    assert_int_equal(kv.mod_revision, r1);
    assert_int_equal(kv.create_revision, r1);
    store_kv_fini(&kv);

    assert_int_equal(store_update(s, "/crud/a", "{\"v\":2}", 7, r1, 0, &r2, NULL, &err), 0);
    assert_true(r2 > r1);
    /* A stale revision is a conflict, and the caller learns the current one. */
    assert_int_equal(store_update(s, "/crud/a", "{\"v\":3}", 7, r1, 0, NULL, &cur, &err), -1);
    assert_int_equal(err.kind, K3C_E_CONFLICT);
    assert_int_equal(cur.mod_revision, r2);
    assert_string_equal(cur.value, "{\"v\":2}");
    store_kv_fini(&cur);
    assert_int_equal(store_update(s, "/crud/missing", "x", 1, r1, 0, NULL, NULL, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);

    assert_int_equal(store_delete(s, "/crud/a", r1, NULL, NULL, &err), -1);
    assert_int_equal(err.kind, K3C_E_CONFLICT);
    assert_int_equal(store_delete(s, "/crud/a", r2, &prev, &r3, &err), 0);
    assert_string_equal(prev.value, "{\"v\":2}");
    assert_true(r3 > r2);
    store_kv_fini(&prev);
    assert_int_equal(store_delete(s, "/crud/a", 0, NULL, NULL, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_int_equal(store_get(s, "/crud/a", &kv, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
}

static void
test_binary_values_and_revision(void **state)
{
    struct store *s = st(state);
    struct k3c_err err = {0};
    const char bin[] = {'a', 0, 'b', (char)0xff, 'c'};
    struct store_kv kv = {0};
    int64_t rev = 0, now = 0;

    assert_int_equal(store_create(s, "/bin/x", bin, sizeof(bin), 0, &rev, &err), 0);
    assert_int_equal(store_revision(s, &now, &err), 0);
    assert_true(now >= rev);
    assert_int_equal(store_get(s, "/bin/x", &kv, &err), 0);
    assert_int_equal(kv.value_len, sizeof(bin));
    assert_memory_equal(kv.value, bin, sizeof(bin));
    store_kv_fini(&kv);
}

static void
put_n(struct store *s, const char *prefix, int from, int to)
{
    struct k3c_err err = {0};

    for (int i = from; i < to; i++) {
        char key[128], val[32];

        snprintf(key, sizeof(key), "%s%03d", prefix, i);
        snprintf(val, sizeof(val), "%d", i);
        assert_int_equal(store_create(s, key, val, strlen(val), 0, NULL, &err), 0);
    }
}

static void
test_list_pagination_fixed_revision(void **state)
{
    struct store *s = st(state);
    struct k3c_err err = {0};
    struct store_list page = {0};
    char *token = NULL;
    int64_t rev0 = 0;
    int seen = 0, pages = 0;

    put_n(s, "/page/item-", 0, 25);
    /* A neighbour that shares the prefix string but not the directory. */
    assert_int_equal(store_create(s, "/pagex", "n", 1, 0, NULL, &err), 0);

    assert_int_equal(store_list(s, "/page/", 10, NULL, 0, &page, &err), 0);
    assert_int_equal(page.n_items, 10);
    assert_non_null(page.continue_token);
    assert_int_equal(page.remaining, 15);
    rev0 = page.revision;
    token = k3c_xstrdup(page.continue_token);
    seen = 10;
    pages = 1;
    store_list_fini(&page);

    /* Writes between pages must not show up: the list is one snapshot. */
    put_n(s, "/page/item-", 25, 30);
    {
        struct store_kv kv = {0};

        assert_int_equal(store_get(s, "/page/item-000", &kv, &err), 0);
        assert_int_equal(
            store_update(s, "/page/item-020", "changed", 7, kv.mod_revision, 0, NULL, NULL, &err),
            -1); /* stale on purpose: item-020 has its own revision */
        store_kv_fini(&kv);
    }
    while (token) {
        assert_int_equal(store_list(s, "/page/", 10, token, 0, &page, &err), 0);
        assert_int_equal(page.revision, rev0);
        for (size_t i = 0; i < page.n_items; i++) {
            char want[64];

            snprintf(want, sizeof(want), "/page/item-%03d", seen + (int)i);
            assert_string_equal(page.items[i].key, want);
        }
        seen += (int)page.n_items;
        pages++;
        free(token);
        token = page.continue_token ? k3c_xstrdup(page.continue_token) : NULL;
        store_list_fini(&page);
        assert_true(pages < 10);
    }
    assert_int_equal(seen, 25);
    assert_int_equal(pages, 3);

    /* The current list sees the later writes; no limit means everything. */
    assert_int_equal(store_list(s, "/page/", 0, NULL, 0, &page, &err), 0);
    assert_int_equal(page.n_items, 30);
    assert_null(page.continue_token);
    assert_true(page.revision > rev0);
    store_list_fini(&page);

    /* A forged token is refused, not followed. */
    assert_int_equal(store_list(s, "/page/", 10, "bm90IGEgdG9rZW4=", 0, &page, &err), -1);
    assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
}

static void
test_list_compacted_revision(void **state)
{
    struct store *s = st(state);
    struct k3c_err err = {0};
    struct store_list page = {0};
    int64_t old = 0, now = 0;

    put_n(s, "/compact/k", 0, 3);
    assert_int_equal(store_revision(s, &old, &err), 0);
    put_n(s, "/compact/k", 3, 6);
    assert_int_equal(store_revision(s, &now, &err), 0);
    assert_int_equal(store_compact(s, now, &err), 0);
    assert_int_equal(store_list(s, "/compact/", 0, NULL, old, &page, &err), -1);
    assert_int_equal(err.kind, K3C_E_COMPACTED);
}

struct counter_ctx {
    struct store *s;
    int increments;
    int conflicts;
    int failures;
};

static void *
counter_thread(void *arg)
{
    struct counter_ctx *c = arg;

    for (int done = 0; done < c->increments;) {
        struct k3c_err err = {0};
        struct store_kv kv = {0};
        char val[32];
        int rc;

        if (store_get(c->s, "/counter", &kv, &err) < 0) {
            c->failures++;
            return NULL;
        }
        snprintf(val, sizeof(val), "%ld", strtol(kv.value, NULL, 10) + 1);
        rc = store_update(c->s, "/counter", val, strlen(val), kv.mod_revision, 0, NULL, NULL, &err);
        store_kv_fini(&kv);
        if (rc == 0)
            done++;
        else if (err.kind == K3C_E_CONFLICT)
            c->conflicts++;
        else {
            c->failures++;
            return NULL;
        }
    }
    return NULL;
}

static void
test_concurrent_cas_counter(void **state)
{
    struct store *s = st(state);
    struct k3c_err err = {0};
    struct counter_ctx ctx[8];
    pthread_t th[8];
    struct store_kv kv = {0};
    int conflicts = 0;

    assert_int_equal(store_create(s, "/counter", "0", 1, 0, NULL, &err), 0);
    for (int i = 0; i < 8; i++) {
        ctx[i] = (struct counter_ctx){.s = s, .increments = 500};
        assert_int_equal(pthread_create(&th[i], NULL, counter_thread, &ctx[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ctx[i].failures, 0);
        conflicts += ctx[i].conflicts;
    }
    assert_int_equal(store_get(s, "/counter", &kv, &err), 0);
    assert_string_equal(kv.value, "4000");
    /* Eight writers on one key must have collided; if they never did the
     * test did not test CAS. */
    assert_true(conflicts > 0);
    print_message("      8 x 500 CAS increments: 4000, %d conflicts retried\n", conflicts);
    store_kv_fini(&kv);
}

static void
test_leases(void **state)
{
    struct store *s = st(state);
    struct k3c_err err = {0};
    struct store_kv kv = {0};
    int64_t id = 0, ttl = 0, id2 = 0;

    assert_int_equal(store_lease_grant(s, 30, &id, &err), 0);
    assert_true(id != 0);
    assert_int_equal(store_create(s, "/lease/held", "x", 1, id, NULL, &err), 0);
    assert_int_equal(store_get(s, "/lease/held", &kv, &err), 0);
    assert_int_equal(kv.lease, id);
    store_kv_fini(&kv);
    assert_int_equal(store_lease_keepalive(s, id, &ttl, &err), 0);
    assert_true(ttl > 0 && ttl <= 30);
    assert_int_equal(store_lease_revoke(s, id, &err), 0);
    /* Revoking a lease deletes its keys, and it cannot be kept alive. */
    assert_int_equal(store_get(s, "/lease/held", &kv, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_int_equal(store_lease_keepalive(s, id, &ttl, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_int_equal(store_lease_revoke(s, id, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);

    /* A lease with a short TTL expires on its own. */
    assert_int_equal(store_lease_grant(s, 1, &id2, &err), 0);
    assert_int_equal(store_create(s, "/lease/short", "x", 1, id2, NULL, &err), 0);
    {
        int64_t deadline = k3c_now_ms() + 10000;
        int rc = 0;

        while (k3c_now_ms() < deadline) {
            rc = store_get(s, "/lease/short", &kv, &err);
            if (rc < 0)
                break;
            store_kv_fini(&kv);
            k3c_sleep_ms(100);
        }
        assert_int_equal(rc, -1);
        assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    }
}

static void
test_unavailable_after_retry(void **state)
{
    const char *endpoints[] = {"https://127.0.0.1:1", NULL};
    struct fixture *f = *state;
    const struct store_config sc = {.endpoints = endpoints,
                                    .ca_file = f->etcd->tls.ca_cert,
                                    .cert_file = f->etcd->tls.client_cert,
                                    .key_file = f->etcd->tls.client_key,
                                    .retry_timeout_ms = 300};
    struct k3c_err err = {0};
    struct store *s = store_new(&sc, &err);
    struct store_kv kv = {0};
    int64_t t0 = k3c_now_ms();

    assert_non_null(s);
    assert_int_equal(store_get(s, "/x", &kv, &err), -1);
    assert_int_equal(err.kind, K3C_E_UNAVAILABLE);
    /* It retried for about retry_timeout_ms, not forever and not once. */
    assert_true(k3c_now_ms() - t0 >= 100);
    assert_true(k3c_now_ms() - t0 < 5000);
    store_free(s);
}

static void
test_failover_to_second_endpoint(void **state)
{
    struct fixture *f = *state;
    const char *endpoints[] = {"https://127.0.0.1:1", etcd_client_url(f->etcd->etcd), NULL};
    const struct store_config sc = {.endpoints = endpoints,
                                    .ca_file = f->etcd->tls.ca_cert,
                                    .cert_file = f->etcd->tls.client_cert,
                                    .key_file = f->etcd->tls.client_key};
    struct k3c_err err = {0};
    struct store *s = store_new(&sc, &err);
    int64_t rev = 0;

    assert_non_null(s);
    assert_int_equal(store_revision(s, &rev, &err), 0);
    assert_true(rev > 0);
    store_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crud),
        cmocka_unit_test(test_binary_values_and_revision),
        cmocka_unit_test(test_list_pagination_fixed_revision),
        cmocka_unit_test(test_list_compacted_revision),
        cmocka_unit_test(test_concurrent_cas_counter),
        cmocka_unit_test(test_leases),
        cmocka_unit_test(test_unavailable_after_retry),
        cmocka_unit_test(test_failover_to_second_endpoint),
    };

    return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
