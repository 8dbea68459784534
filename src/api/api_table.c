/* SPDX-License-Identifier: Apache-2.0
 * api_table.c - the cell helpers of server-side tables (as=Table), after
 * kube-apiserver's printers (pkg/printers/internalversion, Kubernetes 1.32):
 * ages, label and selector strings, container lists, conditions. Each kind's
 * columns and row function are in its kind_<name>.c. Rows always carry every
 * column, wide ones included, as upstream's TableConvertor does; kubectl
 * drops priority-1 cells unless -o wide. Pure functions of (object, now). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

/* ---- shared cell helpers ------------------------------------------------ */

json_int_t
api_int_at(const json_t *obj, const char *path, json_int_t dflt)
{
    const json_t *v = api_json_path(obj, path);

    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

bool
api_true_at(const json_t *obj, const char *path)
{
    return json_is_true(api_json_path(obj, path));
}

/* s unless it is NULL or empty. */
const char *
api_or_else(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

json_t *
api_name_cell(const json_t *obj)
{
    return json_string(api_or_else(api_str_at(obj, "metadata.name"), ""));
}

json_t *
api_buf_cell(struct k3c_buf *b)
{
    json_t *cell = json_stringn(b->data ? b->data : "", b->len);

    k3c_buf_fini(b);
    return cell;
}

/* Days from 1970-01-01 to y-m-01 in the proleptic Gregorian calendar (as
 * timegm counts), m in 1..12. */
static int64_t
days_to_month(int64_t y, int m)
{
    int64_t era, yoe, doy;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* s's first n characters as a number, if they are all digits. */
static bool
digits_at(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS" exactly (every timestamp k3c writes) without
 * sscanf and timegm, which were most of a table row's time; the same
 * value they give, out-of-range days and times counted on as timegm does.
 * false: not that shape (the caller parses it the general way). */
static bool
parse_time_fixed(const char *s, int64_t *t, int *n)
{
    int y, mo, d, h, mi, sec;

    if (!digits_at(s, 4, &y) || s[4] != '-' || !digits_at(s + 5, 2, &mo) || s[7] != '-' ||
        !digits_at(s + 8, 2, &d) || s[10] != 'T' || !digits_at(s + 11, 2, &h) || s[13] != ':' ||
        !digits_at(s + 14, 2, &mi) || s[16] != ':' || !digits_at(s + 17, 2, &sec) || mo < 1 ||
        mo > 12)
        return false;
    *t = (days_to_month(y, mo) + d - 1) * 86400 + (int64_t)h * 3600 + mi * 60 + sec;
    *n = 19;
    return true;
}

/* Parses RFC 3339 ("2024-05-01T10:00:00Z", fractions and offsets allowed)
 * into Unix seconds. */
bool
api_parse_time(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int n = 0;
    const char *p = NULL;
    int64_t t = 0;

    if (!s)
        return false;
    if (!parse_time_fixed(s, &t, &n)) {
        if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
            return false;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t = (int64_t)timegm(&tm);
    }
    p = s + n;
    if (*p == '.')
        p += 1 + strspn(p + 1, "0123456789");
    if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;

        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return false;
        t -= (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
    } else if (*p != 'Z' && *p != 'z') {
        return false;
    }
    *out = t;
    return true;
}

/* Row templates: a row computed once per object version and cached with it
 * (api_table_row_template). The row function runs at a "now" far in the
 * future, TEMPLATE_NOW; every duration it measures up to now comes out as the
 * marker \x01<t>\x02 naming the instant t it was measured from, which
 * api_table_render_cells replaces with the duration at the time of the read.
 * Durations between two stored instants (a finished Job's) are far smaller
 * than TEMPLATE_NOW / 2 and are printed as they are. */
#define TEMPLATE_NOW ((int64_t)1 << 40)
static _Thread_local bool template_mode;

const char *
api_human_duration(int64_t seconds, char *buf, size_t len)
{
    int64_t minutes = seconds / 60, hours = seconds / 3600, days = hours / 24;

    if (template_mode && seconds > TEMPLATE_NOW / 2)
        snprintf(buf, len, "\x01%" PRId64 "\x02", TEMPLATE_NOW - seconds);
    else if (seconds < -1)
        snprintf(buf, len, "<invalid>");
    else if (seconds < 0)
        snprintf(buf, len, "0s");
    else if (seconds < 60 * 2)
        snprintf(buf, len, "%" PRId64 "s", seconds);
    else if (minutes < 10 && seconds % 60 != 0)
        snprintf(buf, len, "%" PRId64 "m%" PRId64 "s", minutes, seconds % 60);
    else if (minutes < 60 * 3)
        snprintf(buf, len, "%" PRId64 "m", minutes);
    else if (hours < 8 && minutes % 60 != 0)
        snprintf(buf, len, "%" PRId64 "h%" PRId64 "m", hours, minutes % 60);
    else if (hours < 48)
        snprintf(buf, len, "%" PRId64 "h", hours);
    else if (hours < 24 * 8 && hours % 24 != 0)
        snprintf(buf, len, "%" PRId64 "d%" PRId64 "h", days, hours % 24);
    else if (hours < 24 * 365 * 2)
        snprintf(buf, len, "%" PRId64 "d", days);
    else if (hours < 24 * 365 * 8 && days % 365 != 0)
        snprintf(buf, len, "%" PRId64 "y%" PRId64 "d", days / 365, days % 365);
    else
        snprintf(buf, len, "%" PRId64 "y", days / 365);
    return buf;
}

/* translateTimestampSince: "<unknown>" for an absent or unreadable time. */
json_t *
api_since_cell(const char *ts, int64_t now_s)
{
    char buf[32];
    int64_t t = 0;

    if (!api_parse_time(ts, &t))
        return json_string("<unknown>");
    return json_string(api_human_duration(now_s - t, buf, sizeof(buf)));
}

json_t *
api_age_cell(const json_t *obj, int64_t now_s)
{
    return api_since_cell(api_str_at(obj, "metadata.creationTimestamp"), now_s);
}

/* layoutContainerCells: one member of each container, comma-joined. */
json_t *
api_containers_cell(const json_t *obj, const char *member)
{
    const json_t *containers = api_json_path(obj, "spec.template.spec.containers");
    struct k3c_buf b;
    size_t i = 0;
    const json_t *c = NULL;

    k3c_buf_init(&b);
    json_array_foreach(containers, i, c)
    {
        if (i > 0)
            k3c_buf_append(&b, ",", 1);
        k3c_buf_appendf(&b, "%s", api_or_else(json_string_value(json_object_get(c, member)), ""));
    }
    return api_buf_cell(&b);
}

int
api_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of a JSON object, sorted; caller free()s the array (not the keys). */
const char **
api_sorted_keys(const json_t *map, size_t *n_out)
{
    const char **keys = k3c_xcalloc(json_object_size(map) + 1, sizeof(*keys));
    size_t n = 0;
    const char *k = NULL;
    json_t *v = NULL;

    json_object_foreach((json_t *)map, k, v)
    {
        keys[n++] = k;
    }
    qsort(keys, n, sizeof(*keys), api_cmp_str);
    *n_out = n;
    return keys;
}

/* labels.FormatLabels: "a=b,c=d" sorted by key, "<none>" when empty. */
json_t *
api_labels_cell(const json_t *map)
{
    size_t n = 0;
    _cleanup_free_ const char **keys = api_sorted_keys(map, &n);
    struct k3c_buf b;

    if (n == 0)
        return json_string("<none>");
    k3c_buf_init(&b);
    for (size_t i = 0; i < n; i++)
        k3c_buf_appendf(&b, "%s%s=%s", i ? "," : "", keys[i],
                        api_or_else(json_string_value(json_object_get(map, keys[i])), ""));
    return api_buf_cell(&b);
}

/* One requirement of a label selector as labels.Requirement.String() prints
 * it, with the key kept apart for sorting. */
struct requirement {
    const char *key;
    char *text;
};

static int
cmp_requirement(const void *a, const void *b)
{
    return strcmp(((const struct requirement *)a)->key, ((const struct requirement *)b)->key);
}

static char *
expression_text(const json_t *expr)
{
    const char *key = api_or_else(api_str_at(expr, "key"), "");
    const char *op = api_or_else(api_str_at(expr, "operator"), "");
    const json_t *values = json_object_get(expr, "values");
    size_t n = 0;
    _cleanup_free_ const char **vals = NULL;
    struct k3c_buf b;

    if (strcmp(op, "Exists") == 0)
        return k3c_xstrdup(key);
    if (strcmp(op, "DoesNotExist") == 0)
        return k3c_xasprintf("!%s", key);
    vals = k3c_xcalloc(json_array_size(values) + 1, sizeof(*vals));
    for (size_t i = 0; i < json_array_size(values); i++)
        vals[n++] = api_or_else(json_string_value(json_array_get(values, i)), "");
    qsort(vals, n, sizeof(*vals), api_cmp_str);
    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "%s %s (", key, strcmp(op, "NotIn") == 0 ? "notin" : "in");
    for (size_t i = 0; i < n; i++)
        k3c_buf_appendf(&b, "%s%s", i ? "," : "", vals[i]);
    k3c_buf_append(&b, ")", 1);
    return k3c_buf_steal(&b, NULL);
}

/* metav1.LabelSelectorAsSelector(sel).String(): requirements sorted by key;
 * "" for an empty or absent selector, or empty_text when given. */
json_t *
api_selector_cell(const json_t *sel, const char *empty_text)
{
    const json_t *match = json_object_get(sel, "matchLabels");
    const json_t *exprs = json_object_get(sel, "matchExpressions");
    size_t cap = json_object_size(match) + json_array_size(exprs), n = 0;
    _cleanup_free_ struct requirement *reqs = k3c_xcalloc(cap + 1, sizeof(*reqs));
    const char *k = NULL;
    json_t *v = NULL;
    struct k3c_buf b;

    json_object_foreach((json_t *)match, k, v)
    {
        reqs[n++] = (struct requirement){
            k, k3c_xasprintf("%s=%s", k, api_or_else(json_string_value(v), ""))};
    }
    for (size_t i = 0; i < json_array_size(exprs); i++) {
        const json_t *e = json_array_get(exprs, i);

        reqs[n++] = (struct requirement){api_or_else(api_str_at(e, "key"), ""), expression_text(e)};
    }
    if (n == 0)
        return json_string(empty_text);
    qsort(reqs, n, sizeof(*reqs), cmp_requirement);
    k3c_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        k3c_buf_appendf(&b, "%s%s", i ? "," : "", reqs[i].text);
        free(reqs[i].text);
    }
    return api_buf_cell(&b);
}

/* The joined list in b, or empty when there is none. */
json_t *
api_list_cell(struct k3c_buf *b, const char *empty)
{
    if (b->len == 0)
        k3c_buf_appendf(b, "%s", empty);
    return api_buf_cell(b);
}

/* listWithMoreString: the first max items, then "+ N more..." for the rest. */
json_t *
api_more_cell(struct k3c_buf *b, size_t shown, size_t count, size_t max, const char *empty)
{
    if (count > shown && shown == max)
        k3c_buf_appendf(b, " + %zu more...", count - max);
    return api_list_cell(b, empty);
}

/* A condition's status ("True", "False", "Unknown") by type, or NULL. */
const char *
api_condition_status(const json_t *conditions, const char *type)
{
    size_t i = 0;
    const json_t *c = NULL;

    json_array_foreach(conditions, i, c)
    {
        if (strcmp(api_or_else(api_str_at(c, "type"), ""), type) == 0)
            return api_str_at(c, "status");
    }
    return NULL;
}

bool
api_condition_true(const json_t *conditions, const char *type)
{
    const char *s = api_condition_status(conditions, type);

    return s && strcmp(s, "True") == 0;
}

/* ---- row templates ------------------------------------------------------ */

char *
api_table_row_template(api_row_fn row, const json_t *obj, size_t *len)
{
    json_t *cells;
    char *text;

    template_mode = true;
    cells = row(obj, TEMPLATE_NOW);
    template_mode = false;
    text = json_is_array(cells) ? api_json_dumps_compact(cells, len) : NULL;
    json_decref(cells);
    if (!text)
        *len = 0;
    return text;
}

/* The markers as JSON escapes them. */
#define MARK_OPEN  "\\u0001"
#define MARK_CLOSE "\\u0002"
#define MARK_LEN   6

void
api_table_render_cells(struct k3c_buf *out, const char *tmpl, size_t len, int64_t now_s)
{
    const char *p = tmpl, *end = tmpl + len, *mark;

    while ((mark = memmem(p, (size_t)(end - p), MARK_OPEN, MARK_LEN))) {
        const char *digits = mark + MARK_LEN;
        char *after = NULL, buf[32];
        long long t = strtoll(digits, &after, 10);

        if (after == digits || after + MARK_LEN > end ||
            memcmp(after, MARK_CLOSE, MARK_LEN) != 0) { /* not ours: copy it */
            k3c_buf_append(out, p, (size_t)(digits - p));
            p = digits;
            continue;
        }
        k3c_buf_append(out, p, (size_t)(mark - p));
        api_human_duration(now_s - (int64_t)t, buf, sizeof(buf));
        k3c_buf_append(out, buf, strlen(buf));
        p = after + MARK_LEN;
    }
    k3c_buf_append(out, p, (size_t)(end - p));
}
