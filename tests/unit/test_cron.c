/* SPDX-License-Identifier: Apache-2.0
 * test_cron.c - CronJob schedules (base/cron.c) against robfig/cron v3's
 * parser and spec tests as upstream's CronJob controller uses them: the five
 * fields, ranges, steps, names, descriptors, @every, the parser's error
 * messages, the dom/dow rule, and next times across DST in IANA zones. */
#include "base/cron.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* "YYYY-MM-DDTHH:MM:SSZ" to Unix seconds. */
static int64_t
utc(const char *s)
{
    struct tm tm = {0};

    assert_non_null(strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm));
    return (int64_t)timegm(&tm);
}

static void
fmt_utc(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
check_next(const char *zone, const char *spec, const char *after, const char *want)
{
    struct cron_schedule s;
    struct k3c_err err = {0};
    struct cron_tz *tz = cron_tz_load(zone, &err);
    char got[64];
    int64_t t;

    assert_non_null(tz);
    if (cron_parse(spec, &s, &err) < 0)
        fail_msg("%s: %s", spec, err.msg);
    t = cron_next(&s, tz, utc(after));
    cron_tz_free(tz);
    if (!want) {
        assert_int_equal(t, -1);
        return;
    }
    fmt_utc(t, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("%s in %s after %s: got %s, want %s", spec, zone ? zone : "UTC", after, got, want);
}

static void
test_next_utc(void **state)
{
    (void)state;
    check_next("UTC", "* * * * *", "2012-07-09T14:45:00Z", "2012-07-09T14:46:00Z");
    check_next("UTC", "* * * * *", "2012-07-09T14:45:30Z", "2012-07-09T14:46:00Z");
    check_next("UTC", "*/15 * * * *", "2012-07-09T14:45:00Z", "2012-07-09T15:00:00Z");
    check_next("UTC", "0/15 * * * *", "2012-07-09T14:59:59Z", "2012-07-09T15:00:00Z");
    check_next("UTC", "5/15 * * * *", "2012-07-09T14:45:00Z", "2012-07-09T14:50:00Z");
    check_next("UTC", "15,45 * * * *", "2012-07-09T14:45:00Z", "2012-07-09T15:15:00Z");
    check_next("UTC", "20-35/5 * * * *", "2012-07-09T14:35:00Z", "2012-07-09T15:20:00Z");
    /* wrap around hours, days, months, years */
    check_next("UTC", "0 * * * *", "2012-07-09T23:30:00Z", "2012-07-10T00:00:00Z");
    check_next("UTC", "0 0 * * *", "2012-07-31T23:30:00Z", "2012-08-01T00:00:00Z");
    check_next("UTC", "0 0 1 1 *", "2012-12-31T23:30:00Z", "2013-01-01T00:00:00Z");
    check_next("UTC", "30 1 * jan-mar *", "2012-07-09T14:45:00Z", "2013-01-01T01:30:00Z");
    /* leap day; a day that never comes */
    check_next("UTC", "0 0 29 2 *", "2012-03-01T00:00:00Z", "2016-02-29T00:00:00Z");
    check_next("UTC", "0 0 30 2 *", "2012-03-01T00:00:00Z", NULL);
    /* weekdays by name and number; 2012-07-09 is a Monday */
    check_next("UTC", "0 0 * * mon", "2012-07-09T14:45:00Z", "2012-07-16T00:00:00Z");
    check_next("UTC", "0 0 * * SUN", "2012-07-09T14:45:00Z", "2012-07-15T00:00:00Z");
    check_next("UTC", "0 9 * * 1-5", "2012-07-13T10:00:00Z", "2012-07-16T09:00:00Z");
    /* both day fields restricted: either matches; one is *: both must */
    check_next("UTC", "0 0 1 * mon", "2012-07-09T14:45:00Z", "2012-07-16T00:00:00Z");
    check_next("UTC", "0 0 15 * mon", "2012-07-10T00:00:00Z", "2012-07-15T00:00:00Z");
    check_next("UTC", "0 0 * * mon", "2012-07-10T00:00:00Z", "2012-07-16T00:00:00Z");
    /* a step in a day field makes it restricted (no star bit) */
    check_next("UTC", "0 0 */2 * mon", "2012-07-09T14:45:00Z", "2012-07-11T00:00:00Z");
    /* descriptors */
    check_next("UTC", "@hourly", "2012-07-09T14:45:00Z", "2012-07-09T15:00:00Z");
    check_next("UTC", "@daily", "2012-07-09T14:45:00Z", "2012-07-10T00:00:00Z");
    check_next("UTC", "@midnight", "2012-07-09T14:45:00Z", "2012-07-10T00:00:00Z");
    check_next("UTC", "@weekly", "2012-07-09T14:45:00Z", "2012-07-15T00:00:00Z");
    check_next("UTC", "@monthly", "2012-07-09T14:45:00Z", "2012-08-01T00:00:00Z");
    check_next("UTC", "@yearly", "2012-07-09T14:45:00Z", "2013-01-01T00:00:00Z");
    check_next("UTC", "@annually", "2012-07-09T14:45:00Z", "2013-01-01T00:00:00Z");
    check_next("UTC", "@every 1h30m", "2012-07-09T14:45:00Z", "2012-07-09T16:15:00Z");
    check_next("UTC", "@every 90s", "2012-07-09T14:45:00Z", "2012-07-09T14:46:30Z");
    check_next("UTC", "@every 100ms", "2012-07-09T14:45:00Z", "2012-07-09T14:45:01Z");
}

static void
test_next_zones(void **state)
{
    (void)state;
    /* Berlin: +01:00 in winter, +02:00 in summer */
    check_next("Europe/Berlin", "0 9 * * *", "2024-01-01T00:00:00Z", "2024-01-01T08:00:00Z");
    check_next("Europe/Berlin", "0 9 * * *", "2024-07-01T00:00:00Z", "2024-07-01T07:00:00Z");
    /* New York, spring forward 2012-03-11 02:00 EST -> 03:00 EDT: 02:30 does
     * not exist that day, so "30 2 11 mar" fires next year (robfig's test) */
    check_next("America/New_York", "30 2 11 mar *", "2012-03-11T05:00:00Z", "2013-03-11T06:30:00Z");
    /* every day at 02:30: skips the missing one */
    check_next("America/New_York", "30 2 * * *", "2012-03-11T05:00:00Z", "2012-03-12T06:30:00Z");
    /* fall back 2012-11-04 02:00 EDT -> 01:00 EST: 01:30 runs once, in EDT */
    check_next("America/New_York", "30 1 * * *", "2012-11-04T04:00:00Z", "2012-11-04T05:30:00Z");
    check_next("America/New_York", "0 0 * * *", "2012-11-04T03:00:00Z", "2012-11-04T04:00:00Z");
    check_next("America/New_York", "0 0 * * *", "2012-11-04T04:00:00Z", "2012-11-05T05:00:00Z");
    /* a half-hour zone */
    check_next("Asia/Kolkata", "0 0 * * *", "2024-01-01T00:00:00Z", "2024-01-01T18:30:00Z");
}

static void
check_error(const char *spec, const char *want)
{
    struct cron_schedule s;
    struct k3c_err err = {0};

    if (cron_parse(spec, &s, &err) == 0)
        fail_msg("%s: parsed, want error %s", spec, want);
    if (strcmp(err.msg, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", spec, err.msg, want);
}

static void
test_parse_errors(void **state)
{
    (void)state;
    check_error("", "empty spec string");
    check_error("* * * *", "expected exactly 5 fields, found 4: [* * * *]");
    check_error("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]");
    check_error("60 * * * *", "end of range (60) above maximum (59): 60");
    check_error("* 24 * * *", "end of range (24) above maximum (23): 24");
    check_error("0 0 0 * *", "beginning of range (0) below minimum (1): 0");
    check_error("* * * 13 *", "end of range (13) above maximum (12): 13");
    check_error("* * * * 7", "end of range (7) above maximum (6): 7");
    check_error("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1");
    check_error("*/0 * * * *", "step of range should be a positive number: */0");
    check_error("1-2-3 * * * *", "too many hyphens: 1-2-3");
    check_error("1/2/3 * * * *", "too many slashes: 1/2/3");
    check_error("a * * * *",
                "failed to parse int from a: strconv.Atoi: parsing \"a\": invalid syntax");
    check_error("* * * foo *",
                "failed to parse int from foo: strconv.Atoi: parsing \"foo\": invalid syntax");
    check_error("@foo", "unrecognized descriptor: @foo");
    check_error("@every x", "failed to parse duration @every x: time: invalid duration \"x\"");
}

static void
test_parse_fields(void **state)
{
    struct cron_schedule s;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(cron_parse("0 0 * JAN-mar Mon-FRI", &s, &err), 0);
    assert_int_equal(s.month, 0xe);
    assert_int_equal(s.dow, 0x3e);
    assert_true(s.dom_star);
    assert_false(s.dow_star);
    assert_int_equal(cron_parse("1,2,10-12 */6 ? * *", &s, &err), 0);
    assert_true(s.min == ((1ULL << 1) | (1ULL << 2) | (7ULL << 10)));
    assert_int_equal(s.hour, (1 << 0) | (1 << 6) | (1 << 12) | (1 << 18));
    assert_true(s.dom_star);
    assert_true(s.dow_star);
    assert_int_equal(cron_parse("@every 2m", &s, &err), 0);
    assert_int_equal(s.every_s, 120);
    /* a zone prefix is skipped (CronJob validation refuses it) */
    assert_int_equal(cron_parse("CRON_TZ=UTC 0 * * * *", &s, &err), 0);
    assert_int_equal(s.min, 1);
}

static void
test_zones(void **state)
{
    struct k3c_err err = {0};
    struct cron_tz *tz;

    (void)state;
    assert_null(cron_tz_load("Mars/Olympus", &err));
    assert_string_equal(err.msg, "unknown time zone Mars/Olympus");
    assert_null(cron_tz_load("../etc/passwd", &err));
    assert_null(cron_tz_load("Europe/../../etc/passwd", &err));
    tz = cron_tz_load("UTC", &err);
    assert_non_null(tz);
    assert_int_equal(cron_tz_offset(tz, 1700000000), 0);
    cron_tz_free(tz);
    tz = cron_tz_load("Europe/Berlin", &err);
    assert_non_null(tz);
    assert_int_equal(cron_tz_offset(tz, 1704067200), 3600); /* 2024-01-01 */
    assert_int_equal(cron_tz_offset(tz, 1719792000), 7200); /* 2024-07-01 */
    cron_tz_free(tz);
}

/* mostRecentScheduleTime as the CronJob controller uses it. */
static void
test_most_recent(void **state)
{
    struct cron_schedule s;
    struct k3c_err err = {0};
    int64_t missed = -1;

    (void)state;
    assert_int_equal(cron_parse("*/5 * * * *", &s, &err), 0);
    /* nothing due yet */
    assert_int_equal(cron_most_recent(&s, NULL, utc("2024-01-01T10:00:00Z"),
                                      utc("2024-01-01T10:04:59Z"), &missed),
                     -1);
    /* exactly one due */
    assert_int_equal(cron_most_recent(&s, NULL, utc("2024-01-01T10:00:00Z"),
                                      utc("2024-01-01T10:05:00Z"), &missed),
                     utc("2024-01-01T10:05:00Z"));
    assert_int_equal(missed, 0);
    /* several missed: the latest, and the count */
    assert_int_equal(cron_most_recent(&s, NULL, utc("2024-01-01T10:00:00Z"),
                                      utc("2024-01-01T10:31:00Z"), &missed),
                     utc("2024-01-01T10:30:00Z"));
    assert_int_equal(missed, 6);
    /* a controller down for days: more than 100 */
    assert_int_equal(cron_most_recent(&s, NULL, utc("2024-01-01T10:00:00Z"),
                                      utc("2024-01-03T10:02:00Z"), &missed),
                     utc("2024-01-03T10:00:00Z"));
    assert_true(missed > 100);
    /* an irregular schedule */
    assert_int_equal(cron_parse("30 6-16/4 * * 1-5", &s, &err), 0);
    assert_int_equal(cron_most_recent(&s, NULL, utc("2024-01-05T06:30:00Z"),
                                      utc("2024-01-08T12:00:00Z"), &missed),
                     utc("2024-01-08T10:30:00Z"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_utc),     cmocka_unit_test(test_next_zones),
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_zones),        cmocka_unit_test(test_most_recent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
