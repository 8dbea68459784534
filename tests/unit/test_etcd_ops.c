/* SPDX-License-Identifier: Apache-2.0
 * test_etcd_ops.c - the pure parts of the etcd operations: the cron parser
 * and its next-time search, Event TTL lease buckets, durations, token
 * secrets and snapshot names. */
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "etcd/etcd_ops.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* Local time t as "YYYY-MM-DD HH:MM:SS". */
static const char *
fmt(time_t t, char *buf, size_t len)
{
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

static time_t
local(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s,
                    .tm_isdst = -1};

    return mktime(&tm);
}

static void
expect_next(const char *spec, time_t after, const char *want)
{
    struct etcd_cron c;
    struct k3c_err err = {0};
    char buf[32];

    assert_int_equal(etcd_cron_parse(spec, &c, &err), 0);
    assert_string_equal(fmt(etcd_cron_next(&c, after), buf, sizeof(buf)), want);
}

static void
test_cron_default_twice_a_day(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    expect_next("0 */12 * * *", local(2026, 12, 6, 3, 0, 0), "2026-12-06 12:00:00");
    expect_next("0 */12 * * *", local(2026, 12, 6, 12, 0, 0), "2026-12-07 00:00:00");
    expect_next("0 */12 * * *", local(2026, 12, 31, 23, 59, 59), "2027-01-01 00:00:00");
}

static void
test_cron_fields(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    /* Seconds as a sixth, leading field. */
    expect_next("*/5 * * * * *", local(2026, 1, 1, 0, 0, 3), "2026-01-01 00:00:05");
    expect_next("30 15 10 * * *", local(2026, 1, 1, 12, 0, 0), "2026-01-02 10:15:30");
    /* Lists, ranges and steps. */
    expect_next("5,35 1-3 * * *", local(2026, 1, 1, 1, 35, 0), "2026-01-01 02:05:00");
    expect_next("0 9-17/4 * * *", local(2026, 1, 1, 13, 0, 0), "2026-01-01 17:00:00");
    /* Names, and Sunday as 7. */
    expect_next("0 0 1 feb *", local(2026, 3, 1, 0, 0, 0), "2027-02-01 00:00:00");
    expect_next("0 0 * * sun", local(2026, 12, 6, 1, 0, 0), "2026-12-13 00:00:00"); /* a Sunday */
    expect_next("0 0 * * 7", local(2026, 12, 6, 1, 0, 0), "2026-12-13 00:00:00");
    /* Both day fields restricted: either matches (Vixie cron). */
    expect_next("0 0 13 * fri", local(2026, 12, 6, 0, 0, 0), "2026-12-11 00:00:00");
    /* February 30 never comes; Feb 29 does, in a leap year. */
    expect_next("0 0 29 2 *", local(2026, 1, 1, 0, 0, 0), "2028-02-29 00:00:00");
    expect_next("@daily", local(2026, 1, 1, 0, 0, 0), "2026-01-02 00:00:00");
    expect_next("@hourly", local(2026, 1, 1, 0, 30, 0), "2026-01-01 01:00:00");
}

static void
test_cron_never(void **state)
{
    struct etcd_cron c;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(etcd_cron_parse("0 0 30 2 *", &c, &err), 0);
    assert_int_equal(etcd_cron_next(&c, local(2026, 1, 1, 0, 0, 0)), -1);
}

static void
test_cron_rejects(void **state)
{
    static const char *const bad[] = {
        "",          "* * * *",      "* * * * * * *", "60 * * * *",  "* 24 * * *",
        "* * 0 * *", "* * * 13 *",   "* * * * 8",     "*/0 * * * *", "5-1 * * * *",
        "a * * * *", "1,,2 * * * *", "@often"};
    struct etcd_cron c;

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bad); i++) {
        struct k3c_err err = {0};

        assert_int_equal(etcd_cron_parse(bad[i], &c, &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
        assert_non_null(strstr(err.msg, "cron"));
    }
}

static void
test_lease_buckets(void **state)
{
    int64_t bucket, ttl, b2, t2;

    (void)state;
    /* 1h: 60 s buckets (the cap), lease TTL 3660 s. */
    api_lease_bucket(3600, 1000000, &bucket, &ttl);
    assert_int_equal(ttl, 3660);
    assert_int_equal(bucket, 1000000 / 60);
    /* Everything written within one minute shares the lease... */
    api_lease_bucket(3600, 1000000 / 60 * 60, &b2, &t2);
    assert_int_equal(b2, bucket);
    api_lease_bucket(3600, 1000000 / 60 * 60 + 59, &b2, &t2);
    assert_int_equal(b2, bucket);
    /* ...and the next minute gets the next one. */
    api_lease_bucket(3600, 1000000 / 60 * 60 + 60, &b2, &t2);
    assert_int_equal(b2, bucket + 1);
    /* 10 min: 5% is 30 s. */
    api_lease_bucket(600, 90, &bucket, &ttl);
    assert_int_equal(ttl, 630);
    assert_int_equal(bucket, 3);
    /* 3 s: at least 1 s buckets. */
    api_lease_bucket(3, 17, &bucket, &ttl);
    assert_int_equal(ttl, 4);
    assert_int_equal(bucket, 17);
}

static void
test_durations(void **state)
{
    int64_t ms = -1;

    (void)state;
    assert_int_equal(k3c_duration_parse_ms("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(k3c_duration_parse_ms("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(k3c_duration_parse_ms("3s", &ms), 0);
    assert_int_equal(ms, 3000);
    assert_int_equal(k3c_duration_parse_ms("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(k3c_duration_parse_ms("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(k3c_duration_parse_ms("", &ms), -1);
    assert_int_equal(k3c_duration_parse_ms("10", &ms), -1);
    assert_int_equal(k3c_duration_parse_ms("1d", &ms), -1);
    assert_int_equal(k3c_duration_parse_ms("h", &ms), -1);
    assert_int_equal(k3c_duration_parse_ms("-1s", &ms), -1);
    assert_int_equal(k3c_duration_parse_ms("99999999999999999999h", &ms), -1);
}

static void
test_token_secret_and_names(void **state)
{
    _cleanup_free_ char *a = etcd_token_secret("K10abc::server:s3cret");
    _cleanup_free_ char *b = etcd_token_secret("s3cret");
    _cleanup_free_ char *c = etcd_token_secret("K10abc::node:other");

    (void)state;
    assert_string_equal(a, "s3cret");
    assert_string_equal(b, "s3cret");
    assert_string_equal(c, "other");
    assert_true(etcd_snapshot_name_ok("on-demand"));
    assert_true(etcd_snapshot_name_ok("etcd-snapshot-node1-1700000000"));
    assert_false(etcd_snapshot_name_ok(""));
    assert_false(etcd_snapshot_name_ok("../x"));
    assert_false(etcd_snapshot_name_ok("a/b"));
    assert_false(etcd_snapshot_name_ok(".hidden"));
    assert_false(etcd_snapshot_name_ok("sp ace"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_default_twice_a_day),
        cmocka_unit_test(test_cron_fields),
        cmocka_unit_test(test_cron_never),
        cmocka_unit_test(test_cron_rejects),
        cmocka_unit_test(test_lease_buckets),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_token_secret_and_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
