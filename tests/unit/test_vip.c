/* SPDX-License-Identifier: Apache-2.0
 * test_vip.c - the VIP's pure fencing and timing rules (vip_timing.c): the
 * holder always stops holding at least margin before any follower may
 * replace it, whatever the renewal latencies; the checks on the timing,
 * the ARP schedule and --vip parsing; --servicelb-pool's address pools and
 * which LoadBalancer addresses the holder announces (vip_lb.c). */
#include "base/ip4pool.h"
#include "base/util.h"
#include "vip/vip-internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void
test_defaults_are_valid_and_meet_goal(void **state)
{
    struct vip_timing t;
    struct k3c_err err = {0};

    (void)state;
    vip_timing_default(&t);
    assert_int_equal(vip_timing_validate(&t, &err), 0);
    /* A dead holder is replaced lease_ms after its last renewal was seen:
     * within the 2 s goal with room for the takeover write and ARP. */
    assert_true(t.lease_ms <= 1500);
    /* The holder tolerates several lost renewals before it fences. */
    assert_true((t.lease_ms - t.margin_ms) / t.renew_ms >= 4);
    /* The etcd lease outlives the fence, so etcd never frees the key first. */
    assert_true(vip_etcd_ttl_s(&t) * 1000 >= t.lease_ms + 1000);
}

static void
test_validate_rejects_unsafe_timing(void **state)
{
    struct k3c_err err = {0};
    const struct vip_timing bad[] = {
        {.lease_ms = 1000, .renew_ms = 0, .margin_ms = 100},
        {.lease_ms = 1000, .renew_ms = 100, .margin_ms = 0},
        {.lease_ms = 1000, .renew_ms = 500, .margin_ms = 100}, /* one try only */
        {.lease_ms = 1000, .renew_ms = 100, .margin_ms = 1000},
        {.lease_ms = 120000, .renew_ms = 1000, .margin_ms = 1000},
    };

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bad); i++) {
        k3c_err_clear(&err);
        assert_int_equal(vip_timing_validate(&bad[i], &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
    }
}

static void
test_fence_measured_from_send(void **state)
{
    const struct vip_timing t = {.lease_ms = 1500, .renew_ms = 250, .margin_ms = 300};

    (void)state;
    assert_int_equal(vip_fence_deadline(&t, 10000), 11200);
    assert_false(vip_takeover_due(&t, 10000, 11499));
    assert_true(vip_takeover_due(&t, 10000, 11500));
}

static void
test_hold_allowed_needs_everything(void **state)
{
    const struct vip_timing t = {.lease_ms = 1500, .renew_ms = 250, .margin_ms = 300};
    struct vip_hold h = {.elected = true, .sent_ms = 1000, .api_ready = true};

    (void)state;
    assert_true(vip_hold_allowed(&t, &h, 1000));
    assert_true(vip_hold_allowed(&t, &h, 2199));
    assert_false(vip_hold_allowed(&t, &h, 2200)); /* renewal overdue: fenced */
    h.api_ready = false;
    assert_false(vip_hold_allowed(&t, &h, 1100)); /* own /readyz fails */
    h.api_ready = true;
    h.stopping = true;
    assert_false(vip_hold_allowed(&t, &h, 1100)); /* SIGTERM */
    h.stopping = false;
    h.elected = false;
    assert_false(vip_hold_allowed(&t, &h, 1100));
}

/* A holder renews every renew_ms; each renewal is sent at s, committed at
 * c >= s, seen by a follower at o >= c and answered at a >= c, with random
 * delays; some are lost. At a random moment the holder is cut off (power
 * cut or partition). The holder holds the address until the fence deadline
 * of its last ANSWERED renewal; the follower replaces it lease_ms after the
 * last renewal it SAW. The follower must never take over before the holder
 * has stopped, with at least margin to spare. */
static void
test_never_two_holders_random_schedules(void **state)
{
    const struct vip_timing t = {.lease_ms = 1500, .renew_ms = 250, .margin_ms = 300};
    unsigned seed = 12345;

    (void)state;
    for (int run = 0; run < 20000; run++) {
        int64_t s = 0, last_answered_send = 0, last_seen = 0;
        int64_t cut = 200 + rand_r(&seed) % 20000;
        int64_t holder_stops, follower_takes;

        for (int i = 0; s < cut; i++, s += t.renew_ms) {
            int64_t commit = s + rand_r(&seed) % 800; /* etcd under load */
            int64_t seen = commit + rand_r(&seed) % 400;
            int64_t answered = commit + rand_r(&seed) % 400;
            bool lost = rand_r(&seed) % 5 == 0;

            if (lost || commit >= cut)
                continue; /* never reached etcd */
            /* The follower sees a committed write even after the cut. */
            if (seen > last_seen)
                last_seen = seen;
            /* The holder learns of success only when connected and only if
             * the answer comes back before the fence made it worthless. */
            if (answered < cut && s > last_answered_send)
                last_answered_send = s;
        }
        if (last_seen == 0)
            continue;
        holder_stops = vip_fence_deadline(&t, last_answered_send);
        follower_takes = last_seen + t.lease_ms;
        assert_true(vip_takeover_due(&t, last_seen, follower_takes));
        assert_true(holder_stops + t.margin_ms <= follower_takes);
    }
}

static void
test_garp_burst_then_periodic(void **state)
{
    (void)state;
    assert_int_equal(vip_garp_next(1000, 0), 1100);
    assert_int_equal(vip_garp_next(1000, 1), 1300);
    assert_int_equal(vip_garp_next(1000, 3), 2500); /* burst spans > 1 s (neigh locktime) */
    assert_int_equal(vip_garp_next(1000, 4), 12500);
    assert_int_equal(vip_garp_next(1000, 5), 22500);
}

static void
test_parse_address(void **state)
{
    char addr[16];
    int prefix = 0;
    struct k3c_err err = {0};
    const char *bad[] = {"",           "192.168.20.225/", "192.168.20.225/33",  "192.168.20.225/0",
                         "192.168.20", "fe80::1",         "192.168.20.225/24x", "1.2.3.4.5"};

    (void)state;
    assert_int_equal(vip_parse_address("192.168.20.225", addr, &prefix, &err), 0);
    assert_string_equal(addr, "192.168.20.225");
    assert_int_equal(prefix, 32);
    assert_int_equal(vip_parse_address("10.0.0.5/24", addr, &prefix, &err), 0);
    assert_string_equal(addr, "10.0.0.5");
    assert_int_equal(prefix, 24);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bad); i++) {
        k3c_err_clear(&err);
        assert_int_equal(vip_parse_address(bad[i], addr, &prefix, &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
        assert_non_null(strstr(err.msg, "--vip"));
    }
}

static void
test_lb_pool_parse(void **state)
{
    struct ip4pool p;
    struct k3c_err err = {0};
    const char *bad[] = {"10.0.0.1/33", "10.0.0.9-10.0.0.1", "10.0.0", "fe80::1", "10.0.0.1/x",
                         "a-b",         "10.0.0.1/"};

    (void)state;
    assert_int_equal(ip4pool_parse("192.168.20.226-192.168.20.228, 10.1.0.0/30,10.9.9.9", &p, &err),
                     0);
    assert_int_equal(p.n, 3);
    assert_true(ip4pool_contains(&p, "192.168.20.226"));
    assert_true(ip4pool_contains(&p, "192.168.20.228"));
    assert_false(ip4pool_contains(&p, "192.168.20.229"));
    assert_false(ip4pool_contains(&p, "192.168.20.225"));
    assert_true(ip4pool_contains(&p, "10.1.0.0"));
    assert_true(ip4pool_contains(&p, "10.1.0.3"));
    assert_false(ip4pool_contains(&p, "10.1.0.4"));
    assert_true(ip4pool_contains(&p, "10.9.9.9"));
    assert_false(ip4pool_contains(&p, "not-an-ip"));
    assert_false(ip4pool_contains(&p, NULL));
    assert_int_equal(ip4pool_parse("10.1.2.3/24", &p, &err), 0); /* host bits ignored */
    assert_true(ip4pool_contains(&p, "10.1.2.0") && ip4pool_contains(&p, "10.1.2.255"));
    assert_int_equal(ip4pool_parse("0.0.0.0/0", &p, &err), 0);
    assert_true(ip4pool_contains(&p, "255.255.255.255"));
    assert_int_equal(ip4pool_parse(NULL, &p, &err), 0);
    assert_false(ip4pool_contains(&p, "10.9.9.9"));
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bad); i++) {
        k3c_err_clear(&err);
        assert_int_equal(ip4pool_parse(bad[i], &p, &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
    }
    k3c_err_clear(&err);
    assert_int_equal(
        ip4pool_parse("1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9,"
                      "1.1.1.10,1.1.1.11,1.1.1.12,1.1.1.13,1.1.1.14,1.1.1.15,1.1.1.16,1.1.1.17",
                      &p, &err),
        -1);
    assert_non_null(strstr(err.msg, "more than"));
}

static void
test_lb_service_addresses(void **state)
{
    struct ip4pool p;
    struct k3c_err err = {0};
    json_t *svc, *got;

    (void)state;
    assert_int_equal(ip4pool_parse("192.168.20.224/29", &p, &err), 0);
    /* the pool's ingress addresses, not the VIP (held anyway), not a node IP */
    svc = json_pack("{s:{s:s}, s:{s:{s:[{s:s},{s:s},{s:s}]}}}", "spec", "type", "LoadBalancer",
                    "status", "loadBalancer", "ingress", "ip", "192.168.20.226", "ip",
                    "192.168.20.225", "ip", "192.168.20.221");
    got = vip_lb_service_addresses(svc, &p, "192.168.20.225");
    assert_int_equal(json_array_size(got), 1);
    assert_string_equal(json_string_value(json_array_get(got, 0)), "192.168.20.226");
    json_decref(got);
    /* no longer a LoadBalancer (its ingress not emptied yet): nothing */
    json_object_set_new(json_object_get(svc, "spec"), "type", json_string("ClusterIP"));
    got = vip_lb_service_addresses(svc, &p, "192.168.20.225");
    assert_int_equal(json_array_size(got), 0);
    json_decref(got);
    json_decref(svc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_valid_and_meet_goal),
        cmocka_unit_test(test_validate_rejects_unsafe_timing),
        cmocka_unit_test(test_fence_measured_from_send),
        cmocka_unit_test(test_hold_allowed_needs_everything),
        cmocka_unit_test(test_never_two_holders_random_schedules),
        cmocka_unit_test(test_garp_burst_then_periodic),
        cmocka_unit_test(test_parse_address),
        cmocka_unit_test(test_lb_pool_parse),
        cmocka_unit_test(test_lb_service_addresses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
