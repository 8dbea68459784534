/* SPDX-License-Identifier: Apache-2.0
 * test_api_table_cache.c - table rows kept with the watch cache's entries
 * (api_table_row_template, rendered by api_table_render_cells) must be the
 * rows the kinds' row functions give at the time of the read: every kind's
 * row function over objects with ages, restarts, durations and future
 * timestamps, read at several times. Objects are JSON with ' for ". */
#include "api/api-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static json_t *
obj(const char *text)
{
    _cleanup_free_ char *s = k3c_xstrdup(text);
    json_error_t jerr;
    json_t *o;

    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    o = json_loads(s, 0, &jerr);
    if (!o)
        fail_msg("bad test JSON: %s: %s", jerr.text, s);
    return o;
}

/* The row at now_s, direct and through a template; fails if they differ. */
static void
check_row(const char *kind, api_row_fn row, const json_t *o, int64_t now_s)
{
    size_t len = 0;
    _cleanup_free_ char *tmpl = api_table_row_template(row, o, &len);
    _cleanup_json_ json_t *direct = row(o, now_s);
    _cleanup_free_ char *want = direct ? json_dumps(direct, JSON_COMPACT) : NULL;
    struct k3c_buf got;

    if (!want) {
        assert_null(tmpl);
        return;
    }
    assert_non_null(tmpl);
    k3c_buf_init(&got);
    api_table_render_cells(&got, tmpl, len, now_s);
    if (strcmp(got.data, want) != 0)
        fail_msg("%s at %lld:\n  template %s\n  rendered %s\n  direct   %s", kind, (long long)now_s,
                 tmpl, got.data, want);
    k3c_buf_fini(&got);
}

/* Objects that exercise the time columns of many kinds at once. */
static const char *const objects[] = {
    "{'metadata':{'name':'a','namespace':'ns','creationTimestamp':'2023-11-14T20:00:00Z',"
    "'labels':{'app':'x'}},"
    "'spec':{'nodeName':'n1','containers':[{'name':'c','image':'i'}],'selector':{'matchLabels':"
    "{'app':'x'}},'roleRef':{'kind':'Role','name':'r'},'expirationSeconds':3600},"
    "'status':{'phase':'Running','startTime':'2023-11-14T21:00:00Z','containerStatuses':["
    "{'name':'c','ready':false,'restartCount':3,'state':{'waiting':{'reason':'CrashLoopBackOff'}},"
    "'lastState':{'terminated':{'exitCode':1,'finishedAt':'2023-11-14T22:10:00Z'}}}]},"
    "'firstTimestamp':'2023-11-14T21:00:00Z','lastTimestamp':'2023-11-14T22:00:00Z','count':4,"
    "'series':{'lastObservedTime':'2023-11-14T22:05:00.000000Z','count':2}}",
    /* a finished Job: its duration is between two stored times */
    "{'metadata':{'name':'b','creationTimestamp':'2021-01-01T00:00:00Z'},"
    "'status':{'startTime':'2021-01-01T00:00:10Z','completionTime':'2021-01-01T00:03:30Z',"
    "'succeeded':1}}",
    /* no timestamps at all, and one in the future */
    "{'metadata':{'name':'c'}}",
    "{'metadata':{'name':'d','creationTimestamp':'2031-05-01T10:00:00+02:00'},"
    "'eventTime':'2023-11-14T22:13:19.123456Z'}",
};

static const int64_t nows[] = {1700000000, 1700000001, 1700086400, 1600000000, 1950000000};

static void
test_every_kind(void **state)
{
    size_t kinds = 0;

    (void)state;
    for (const struct api_resource *r = api_resources; r->kind; r++) {
        if (!r->row)
            continue;
        kinds++;
        for (size_t i = 0; i < K3C_ARRAY_SIZE(objects); i++) {
            _cleanup_json_ json_t *o = obj(objects[i]);

            for (size_t j = 0; j < K3C_ARRAY_SIZE(nows); j++)
                check_row(r->kind, r->row, o, nows[j]);
        }
    }
    assert_true(kinds > 20);
}

/* Text that merely looks like a marker is copied as it is. */
static void
test_render_leaves_other_text(void **state)
{
    static const char t[] = "[\"a\\u0001b\",\"\\u00012\",\"\\u0001x\\u0002\",\"\\u0001";
    static const char marker[] = "[\"\\u00011699999940\\u0002 ago\"]";
    struct k3c_buf out;

    (void)state;
    k3c_buf_init(&out);
    api_table_render_cells(&out, t, strlen(t), 1700000000);
    assert_string_equal(out.data, t);
    k3c_buf_reset(&out);
    /* a marker: 60 seconds before now */
    api_table_render_cells(&out, marker, strlen(marker), 1700000000);
    assert_string_equal(out.data, "[\"60s ago\"]");
    k3c_buf_fini(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind),
        cmocka_unit_test(test_render_leaves_other_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
