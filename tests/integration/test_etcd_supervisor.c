/* SPDX-License-Identifier: Apache-2.0
 * test_etcd_supervisor.c - the etcd supervisor with a real etcd: SIGKILL is
 * survived with the data intact, stop is clean and leaves no process, a
 * second start reuses the data, the server's local unix socket (owner only,
 * a stale one removed), a missing binary names its package. */
#include "harness.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

static bool
restarted_and_healthy(void *arg)
{
    struct harness_etcd *h = arg;
    struct k3c_err err = {0};

    return etcd_start_count(h->etcd) >= 2 && etcd_wait_healthy(h->etcd, 200, &err) == 0;
}

static bool
process_gone(pid_t pid)
{
    return kill(pid, 0) < 0 && errno == ESRCH;
}

static void
test_sigkill_restarts_with_data_intact(void **state)
{
    struct k3c_err err = {0};
    struct harness_etcd *h = harness_etcd_start(&err);
    struct store *s;
    struct store_kv kv = {0};
    pid_t first;

    (void)state;
    assert_non_null(h);
    s = harness_store_new(h, &err);
    assert_non_null(s);
    assert_int_equal(store_create(s, "/survivor", "still here", 10, 0, NULL, &err), 0);
    first = etcd_pid(h->etcd);
    assert_true(first > 0);
    assert_int_equal(etcd_start_count(h->etcd), 1);

    assert_int_equal(kill(first, SIGKILL), 0);
    assert_true(harness_wait_for(restarted_and_healthy, h, 30000));
    assert_true(etcd_pid(h->etcd) != first);
    assert_true(process_gone(first));
    assert_int_equal(store_get(s, "/survivor", &kv, &err), 0);
    assert_string_equal(kv.value, "still here");
    store_kv_fini(&kv);
    store_free(s);

    /* Stop is orderly: the child is reaped and no etcd is left. */
    first = etcd_pid(h->etcd);
    etcd_stop(h->etcd);
    assert_int_equal(etcd_pid(h->etcd), 0);
    assert_true(process_gone(first));
    etcd_stop(h->etcd); /* idempotent */
    harness_etcd_stop(h);
}

static struct etcd *
etcd_in(const char *dir, struct etcd_tls_paths *tls, int client_port, int peer_port,
        const char *binary, struct k3c_err *err)
{
    char data[512], log[512];
    struct etcd_config ec = {.binary = binary,
                             .data_dir = data,
                             .log_file = log,
                             .tls = tls,
                             .node_name = "Node_One",
                             .node_ip = "127.0.0.1",
                             .client_port = client_port,
                             .peer_port = peer_port,
                             .heartbeat_interval_ms = 100,
                             .election_timeout_ms = 1000};

    snprintf(data, sizeof(data), "%s/db/etcd", dir);
    snprintf(log, sizeof(log), "%s/etcd.log", dir);
    return etcd_new(&ec, err);
}

static void
test_second_start_reuses_data(void **state)
{
    _cleanup_free_ char *dir = harness_mkdtemp("etcd2");
    _cleanup_free_ char *tls_dir = k3c_xasprintf("%s/tls", dir);
    struct etcd_tls_paths tls;
    struct k3c_err err = {0};
    int cp = harness_free_port(), pp = harness_free_port();
    struct etcd *e;

    (void)state;
    etcd_tls_paths_init(&tls, tls_dir);
    assert_int_equal(etcd_certs_ensure(&tls, "node-one", "127.0.0.1", &err), 0);
    for (int round = 0; round < 2; round++) {
        const char *endpoints[2];
        struct store_config sc = {.endpoints = endpoints,
                                  .ca_file = tls.ca_cert,
                                  .cert_file = tls.client_cert,
                                  .key_file = tls.client_key};
        struct store *s;
        struct store_kv kv = {0};

        e = etcd_in(dir, &tls, cp, pp, "etcd", &err);
        assert_non_null(e);
        assert_string_equal(etcd_member_name(e), "node-one");
        assert_int_equal(etcd_start(e, &err), 0);
        assert_int_equal(etcd_wait_healthy(e, 30000, &err), 0);
        endpoints[0] = etcd_client_url(e);
        endpoints[1] = NULL;
        s = store_new(&sc, &err);
        assert_non_null(s);
        if (round == 0) {
            assert_int_equal(store_create(s, "/round", "zero", 4, 0, NULL, &err), 0);
        } else {
            assert_int_equal(store_get(s, "/round", &kv, &err), 0);
            assert_string_equal(kv.value, "zero");
            store_kv_fini(&kv);
        }
        store_free(s);
        etcd_free(e);
    }
    etcd_tls_paths_fini(&tls);
    harness_rm_rf(dir);
}

static bool
started_twice_and_healthy(void *arg)
{
    struct etcd *e = arg;
    struct k3c_err err = {0};

    return etcd_start_count(e) >= 2 && etcd_wait_healthy(e, 200, &err) == 0;
}

/* The server's own socket to its member: plain HTTP that only the owner may
 * open, and a socket file left by a killed etcd does not keep the next one
 * from listening. */
static void
test_local_socket(void **state)
{
    _cleanup_free_ char *dir = harness_mkdtemp("etcd4");
    _cleanup_free_ char *tls_dir = k3c_xasprintf("%s/tls", dir);
    _cleanup_free_ char *sock = k3c_xasprintf("%s/db/etcd-client.sock:0", dir);
    _cleanup_free_ char *want_url = k3c_xasprintf("unix:%s", sock);
    struct etcd_tls_paths tls;
    struct k3c_err err = {0};
    const char *endpoints[2] = {NULL, NULL};
    struct store_config sc = {.endpoints = endpoints};
    struct store_kv kv = {0};
    struct store *s;
    struct stat st;
    struct etcd *e;
    pid_t first;

    (void)state;
    etcd_tls_paths_init(&tls, tls_dir);
    assert_int_equal(etcd_certs_ensure(&tls, "node-one", "127.0.0.1", &err), 0);
    e = etcd_in(dir, &tls, harness_free_port(), harness_free_port(), "etcd", &err);
    assert_non_null(e);
    assert_string_equal(etcd_local_url(e), want_url);
    assert_int_equal(etcd_start(e, &err), 0);
    assert_int_equal(etcd_wait_healthy(e, 30000, &err), 0);
    assert_int_equal(lstat(sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 077, 0); /* nobody but the owner connects */

    /* No client certificate: the socket is plain HTTP. */
    endpoints[0] = etcd_local_url(e);
    s = store_new(&sc, &err);
    assert_non_null(s);
    assert_int_equal(store_create(s, "/over-socket", "yes", 3, 0, NULL, &err), 0);

    /* SIGKILL leaves the socket file; the restarted etcd listens anyway. */
    first = etcd_pid(e);
    assert_int_equal(kill(first, SIGKILL), 0);
    assert_true(harness_wait_for(started_twice_and_healthy, e, 30000));
    assert_int_equal(store_get(s, "/over-socket", &kv, &err), 0);
    assert_string_equal(kv.value, "yes");
    store_kv_fini(&kv);
    store_free(s);

    /* A clean stop removes the socket. */
    etcd_free(e);
    assert_int_equal(lstat(sock, &st), -1);

    /* A data dir whose socket path would not fit sun_path: TLS on loopback. */
    {
        char deep[200];

        snprintf(deep, sizeof(deep), "%s/%0120d", dir, 0);
        e = etcd_in(deep, &tls, harness_free_port(), harness_free_port(), "etcd", &err);
        assert_non_null(e);
        assert_string_equal(etcd_local_url(e), etcd_client_url(e));
        etcd_free(e);
    }
    etcd_tls_paths_fini(&tls);
    harness_rm_rf(dir);
}

static void
test_missing_binary_names_package(void **state)
{
    _cleanup_free_ char *dir = harness_mkdtemp("etcd3");
    _cleanup_free_ char *tls_dir = k3c_xasprintf("%s/tls", dir);
    struct etcd_tls_paths tls;
    struct k3c_err err = {0};
    struct etcd *e;

    (void)state;
    etcd_tls_paths_init(&tls, tls_dir);
    e = etcd_in(dir, &tls, 12379, 12380, "k3c-test-no-such-etcd", &err);
    assert_null(e);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "etcd-server"));
    assert_non_null(strstr(err.msg, "k3c-test-no-such-etcd"));
    etcd_tls_paths_fini(&tls);
    harness_rm_rf(dir);
}

static void
test_bad_timing_refused(void **state)
{
    struct etcd_tls_paths tls;
    struct k3c_err err = {0};
    struct etcd_config ec = {.binary = "etcd",
                             .data_dir = "/tmp/x",
                             .log_file = "/tmp/x.log",
                             .tls = &tls,
                             .node_name = "n",
                             .node_ip = "127.0.0.1",
                             .client_port = 1,
                             .peer_port = 2,
                             .heartbeat_interval_ms = 500,
                             .election_timeout_ms = 1000};

    (void)state;
    etcd_tls_paths_init(&tls, "/tmp/k3c-unused");
    assert_null(etcd_new(&ec, &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
    ec.election_timeout_ms = 2500;
    ec.peer_port = 1;
    assert_null(etcd_new(&ec, &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
    etcd_tls_paths_fini(&tls);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_restarts_with_data_intact),
        cmocka_unit_test(test_second_start_reuses_data),
        cmocka_unit_test(test_local_socket),
        cmocka_unit_test(test_missing_binary_names_package),
        cmocka_unit_test(test_bad_timing_refused),
    };

    return cmocka_run_group_tests_name("etcd_supervisor", tests, NULL, NULL);
}
