/* SPDX-License-Identifier: Apache-2.0
 * test_proxy_nft.c - the proxy's scripts against the real kernel through
 * libnftables, in a private network namespace (unshare; root only, 77
 * otherwise): the full sync, an incremental change, affinity sets and
 * chains created and removed, a script nft refuses reported with its
 * message, and the table gone after cleanup. */
#include "net/net.h"
#include "net/proxy.h"
#include "base/cleanup.h"

#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const struct proxy_rules_config cfg = {.node_name = "n1"};

static json_t *
svc_json(const char *name, const char *ip, const char *extra)
{
    _cleanup_free_ char *t = NULL;
    json_t *j;

    if (asprintf(&t,
                 "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"%s\"},\"spec\":{\"clusterIP\":"
                 "\"%s\",\"type\":\"NodePort\",\"ports\":[{\"name\":\"http\",\"port\":80,"
                 "\"nodePort\":30080,\"protocol\":\"TCP\"},{\"port\":53,\"protocol\":\"UDP\"}]%s}}",
                 name, ip, extra) < 0)
        fail();
    j = json_loads(t, 0, NULL);
    assert_non_null(j);
    return j;
}

static json_t *
slices_json(const char *ip1, const char *ip2)
{
    json_t *j = json_pack("[{s:s, s:[{s:s, s:i, s:s}, {s:i, s:s}], s:[{s:[s], s:s}, {s:[s]}]}]",
                          "addressType", "IPv4", "ports", "name", "http", "port", 8080, "protocol",
                          "TCP", "port", 5353, "protocol", "UDP", "endpoints", "addresses", ip1,
                          "nodeName", "n1", "addresses", ip2);

    assert_non_null(j);
    return j;
}

static void
run_ok(struct proxy_nft *n, const char *script)
{
    struct k3c_err err = {0};

    if (proxy_nft_run(n, script, &err) < 0)
        fail_msg("%s\nscript:\n%.2000s", err.msg, script);
}

static void
test_full_incremental_cleanup(void **state)
{
    struct k3c_err err = {0};
    struct proxy_nft *n = proxy_nft_new(&err);
    struct proxy_state *st = proxy_state_new(NULL, NULL);
    _cleanup_json_ json_t *a = svc_json("a", "10.43.0.20", "");
    _cleanup_json_ json_t *b = svc_json(
        "b", "10.43.0.21", ",\"sessionAffinity\":\"ClientIP\",\"externalIPs\":[\"192.0.2.9\"]");
    _cleanup_json_ json_t *sl1 = slices_json("10.42.0.5", "10.42.0.6");
    _cleanup_json_ json_t *sl2 = slices_json("10.42.0.5", "10.42.0.7");
    _cleanup_json_ json_t *oa = proxy_service_objects(&cfg, a, sl1);
    _cleanup_json_ json_t *ob = proxy_service_objects(&cfg, b, sl1);
    _cleanup_json_ json_t *ob2 = proxy_service_objects(&cfg, b, sl2);
    _cleanup_free_ char *full = proxy_state_reset(st), *svcs = NULL, *inc = NULL, *del = NULL;
    _cleanup_free_ char *list1 = NULL, *list2 = NULL, *list3 = NULL, *script = NULL;

    (void)state;
    assert_non_null(n);
    proxy_state_set(st, "ns/a", oa);
    svcs = proxy_state_take_script(st);
    if (asprintf(&script, "%s%s", full, svcs) < 0)
        fail();
    run_ok(n, script);
    list1 = proxy_nft_list(n, PROXY_TABLE, &err);
    assert_non_null(list1);
    assert_non_null(strstr(list1, "chain svc-ns/a/tcp/http"));
    assert_non_null(strstr(list1, "10.43.0.20 . tcp . 80 : goto svc-ns/a/tcp/http"));
    assert_non_null(strstr(list1, "tcp . 30080 : goto ext-ns/a/tcp/http"));
    /* the UDP port has no endpoint port of its protocol in ... it has: 5353 */
    assert_non_null(strstr(list1, "10.43.0.20 . udp . 53 : goto svc-ns/a/udp/53"));

    /* a second service with affinity, then one of its endpoints replaced */
    proxy_state_set(st, "ns/b", ob);
    free(script);
    script = proxy_state_take_script(st);
    run_ok(n, script);
    proxy_state_set(st, "ns/b", ob2);
    inc = proxy_state_take_script(st);
    run_ok(n, inc);
    list2 = proxy_nft_list(n, PROXY_TABLE, &err);
    assert_non_null(strstr(list2, "set aff-ns/b/tcp/http__10.42.0.7/8080/10800"));
    assert_null(strstr(list2, "aff-ns/b/tcp/http__10.42.0.6/8080"));
    assert_null(strstr(list2, "chain ep-ns/b/tcp/http__10.42.0.6/8080"));
    assert_non_null(strstr(list2, "192.0.2.9 . tcp . 80 : goto ext-ns/b/tcp/http"));

    /* service a deleted: its chains and elements go, b's stay */
    proxy_state_set(st, "ns/a", NULL);
    del = proxy_state_take_script(st);
    run_ok(n, del);
    list3 = proxy_nft_list(n, PROXY_TABLE, &err);
    assert_null(strstr(list3, "svc-ns/a/"));
    assert_null(strstr(list3, "10.43.0.20"));
    assert_non_null(strstr(list3, "svc-ns/b/tcp/http"));

    /* nft refuses: the error says so */
    assert_int_equal(proxy_nft_run(n, "add rule ip k3c-proxy no-such-chain accept\n", &err), -1);
    assert_non_null(strstr(err.msg, "nftables"));
    assert_non_null(strstr(err.msg, "no-such-chain"));
    assert_null(strchr(err.msg, '\n')); /* one log line */

    assert_int_equal(proxy_cleanup(NULL, &err), 0);
    k3c_err_clear(&err);
    assert_null(proxy_nft_list(n, PROXY_TABLE, &err));
    assert_int_equal(proxy_cleanup(NULL, &err), 0); /* idempotent */
    proxy_state_free(st);
    proxy_nft_free(n);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_incremental_cleanup),
    };

    /* the scripts run in this binary as the `__nft` helper, as in k3c */
    if (argc > 1 && strcmp(argv[1], NET_NFT_HELPER_VERB) == 0)
        return net_nft_helper_main(argc - 1, argv + 1);
    net_nft_helper_enable();
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "test_proxy_nft: needs root (a private network namespace); skipped\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
