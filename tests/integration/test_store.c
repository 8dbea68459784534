/* SPDX-License-Identifier: Apache-2.0
 * test_store.c - the storage layer against a real etcd: CRUD, CAS, list
 * pagination at a fixed revision, concurrent CAS increments, leases. The
 * tests run twice: with the member's TLS URL only (every call through
 * etcd's JSON gateway) and with its unix socket first, as the server has
 * it (writes as gRPC calls on the socket, the rest through the gateway). */
#include "harness.h"
#include "base/util.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
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
    bool on_socket;
};

/* A store on these endpoints with the harness member's client certificate. */
static struct store *
store_on(struct harness_etcd *h, const char *const *endpoints, int64_t retry_timeout_ms,
         struct k3c_err *err)
{
    const struct store_config sc = {.endpoints = endpoints,
                                    .ca_file = h->tls.ca_cert,
                                    .cert_file = h->tls.client_cert,
                                    .key_file = h->tls.client_key,
                                    .retry_timeout_ms = retry_timeout_ms};

    return store_new(&sc, err);
}

/* A store on the member's unix socket first, then its TLS URL. */
static struct store *
socket_store_new(struct harness_etcd *h, struct k3c_err *err)
{
    const char *endpoints[] = {etcd_local_url(h->etcd), etcd_client_url(h->etcd), NULL};

    if (strncmp(endpoints[0], "unix:", 5) != 0) {
        k3c_err_set(err, K3C_E_INTERNAL, "the harness's etcd has no unix socket");
        return NULL;
    }
    return store_on(h, endpoints, 20000, err);
}

static int
setup_fixture(void **state, bool on_socket)
{
    struct fixture *f = k3c_xcalloc(1, sizeof(*f));
    struct k3c_err err = {0};

    if (harness_etcd_store_start(&f->etcd, &f->store, &err) < 0) {
        print_error("%s\n", err.msg);
        free(f);
        return -1;
    }
    if (on_socket) {
        store_free(f->store);
        f->store = socket_store_new(f->etcd, &err);
        if (!f->store) {
            print_error("%s\n", err.msg);
            harness_etcd_stop(f->etcd);
            free(f);
            return -1;
        }
    }
    f->on_socket = on_socket;
    *state = f;
    return 0;
}

static int
setup(void **state)
{
    return setup_fixture(state, false);
}

static int
setup_socket(void **state)
{
    return setup_fixture(state, true);
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
    struct k3c_err err = {0};
    struct store *s = store_on(f->etcd, endpoints, 300, &err);
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
    struct k3c_err err = {0};
    struct store *s = store_on(f->etcd, endpoints, 0, &err);
    int64_t rev = 0;

    assert_non_null(s);
    assert_int_equal(store_revision(s, &rev, &err), 0);
    assert_true(rev > 0);
    store_free(s);
}

/* A socket that takes no connection: the writes go through the gateway,
 * which fails over to the next endpoint, as every call does. */
static void
test_missing_socket_falls_back(void **state)
{
    struct fixture *f = *state;
    const char *endpoints[] = {"unix:/nonexistent/etcd.sock", etcd_client_url(f->etcd->etcd), NULL};
    struct k3c_err err = {0};
    struct store *s = store_on(f->etcd, endpoints, 0, &err);
    struct store_kv prev = {0};
    int64_t r1 = 0, r2 = 0;

    assert_non_null(s);
    assert_int_equal(store_create(s, "/fallback/a", "1", 1, 0, &r1, &err), 0);
    assert_int_equal(store_update(s, "/fallback/a", "2", 1, r1, 0, &r2, NULL, &err), 0);
    assert_true(r2 > r1);
    assert_int_equal(store_delete(s, "/fallback/a", r2, &prev, NULL, &err), 0);
    assert_string_equal(prev.value, "2");
    store_kv_fini(&prev);
    store_free(s);
}

struct restart_wait {
    struct etcd *etcd;
    unsigned starts; /* the start count before the kill */
};

static bool
restarted(void *arg)
{
    struct restart_wait *w = arg;
    struct k3c_err err = {0};

    return etcd_start_count(w->etcd) > w->starts && etcd_wait_healthy(w->etcd, 200, &err) == 0;
}

/* The member restarts: the connections the store kept are closed, and the
 * next writes work on new ones (a write while it is down waits for it, as
 * the store's retries do). */
static void
test_writes_after_etcd_restart(void **state)
{
    struct fixture *f = *state;
    struct store *s = f->store;
    struct k3c_err err = {0};
    struct store_kv kv = {0};
    int64_t r1 = 0, r2 = 0;

    unsigned starts = etcd_start_count(f->etcd->etcd);
    pid_t first = etcd_pid(f->etcd->etcd);

    assert_int_equal(store_create(s, "/restart/a", "1", 1, 0, &r1, &err), 0);
    /* killed, etcd is started again by its supervisor */
    assert_int_equal(kill(first, SIGKILL), 0);
    assert_true(harness_wait_for(restarted, &(struct restart_wait){f->etcd->etcd, starts}, 30000));
    assert_int_equal(store_update(s, "/restart/a", "2", 1, r1, 0, &r2, NULL, &err), 0);
    assert_true(r2 > r1);
    assert_int_equal(store_create(s, "/restart/b", "3", 1, 0, NULL, &err), 0);
    assert_int_equal(store_get(s, "/restart/a", &kv, &err), 0);
    assert_string_equal(kv.value, "2");
    store_kv_fini(&kv);
}

/* A 1 MiB value is stored and read back. etcd refuses a value past its
 * request limit (1.5 MiB), and one past its gRPC message limit (2 MiB)
 * with another error: BAD_REQUEST either way, whichever way the write
 * went, and nothing is stored. */
static void
test_too_large_refused(void **state)
{
    struct fixture *f = *state;
    struct store *s = f->store;
    struct k3c_err err = {0};
    struct store_kv kv = {0};
    size_t len = (size_t)1700 * 1024;
    char *big = k3c_xmalloc(len);

    /* 1 MiB passes, and comes back whole (HTTP/2 flow control both ways) */
    for (size_t i = 0; i < len; i++)
        big[i] = (char)('a' + i % 23);
    assert_int_equal(store_create(s, "/big/fits", big, 1024 * 1024, 0, NULL, &err), 0);
    assert_int_equal(store_get(s, "/big/fits", &kv, &err), 0);
    assert_int_equal(kv.value_len, 1024 * 1024);
    assert_memory_equal(kv.value, big, 1024 * 1024);
    store_kv_fini(&kv);

    memset(big, 'b', len);
    assert_int_equal(store_create(s, "/big/one", big, len, 0, NULL, &err), -1);
    assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
    assert_non_null(strstr(err.msg, "too large"));
    /* the error names the call: etcd's gRPC method, or the gateway's path */
    assert_non_null(strstr(err.msg, f->on_socket ? "etcdserverpb.KV/Txn" : "/v3/kv/txn"));
    assert_int_equal(store_get(s, "/big/one", &kv, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    free(big);

    len = (size_t)2600 * 1024;
    big = k3c_xmalloc(len);
    memset(big, 'b', len);
    assert_int_equal(store_create(s, "/big/two", big, len, 0, NULL, &err), -1);
    assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
    assert_int_equal(store_get(s, "/big/two", &kv, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    free(big);
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
        cmocka_unit_test(test_missing_socket_falls_back),
        cmocka_unit_test(test_too_large_refused),
        cmocka_unit_test(test_writes_after_etcd_restart),
    };
    int failed = cmocka_run_group_tests_name("store through the gateway", tests, setup, teardown);

    return failed + cmocka_run_group_tests_name("store with writes over gRPC on the socket", tests,
                                                setup_socket, teardown);
}
