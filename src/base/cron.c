/* SPDX-License-Identifier: Apache-2.0
 * cron.c - CronJob schedules: robfig/cron v3's standard parser (its
 * getRange rules and error messages, which upstream's validation returns)
 * and its SpecSchedule.Next search (months and days step in wall time,
 * hours and minutes in absolute time, so DST gaps and repeats behave as
 * upstream's), over time zones read from TZif files. Zone offsets come from
 * the file's 64-bit transition table; after its last transition the last
 * offset holds (Debian's tzdata files list transitions up to 2037). */
#include "base/cron.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define STAR_BIT (1ULL << 63)

struct bounds {
    unsigned min, max;
    const char *const *names; /* names[i] is value i (months: i + 1 via names_base) */
    unsigned names_base;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct bounds field_bounds[5] = {
    {0, 59, NULL, 0},        {0, 23, NULL, 0},     {1, 31, NULL, 0},
    {1, 12, month_names, 1}, {0, 6, dow_names, 0},
};

/* strconv.Atoi then robfig's mustParseInt; expr is NUL-terminated. */
static int
must_parse_int(const char *expr, unsigned *out, struct k3c_err *err)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(expr, &end, 10);
    if (!*expr || *end || errno || isspace((unsigned char)*expr) || v > 0x7fffffffL ||
        v < -0x7fffffffL)
        return k3c_err_set(err, K3C_E_INVALID,
                           "failed to parse int from %s: strconv.Atoi: parsing \"%s\": %s", expr,
                           expr, errno == ERANGE ? "value out of range" : "invalid syntax");
    if (v < 0)
        return k3c_err_set(err, K3C_E_INVALID, "negative number (%ld) not allowed: %s", v, expr);
    *out = (unsigned)v;
    return 0;
}

static int
parse_int_or_name(const char *expr, const struct bounds *b, unsigned *out, struct k3c_err *err)
{
    for (size_t i = 0; b->names && b->names[i]; i++) {
        if (strcasecmp(expr, b->names[i]) == 0) {
            *out = (unsigned)i + b->names_base;
            return 0;
        }
    }
    return must_parse_int(expr, out, err);
}

/* Splits s at sep into at most max parts (in place); returns the count, or
 * max + 1 when there are more. */
static size_t
split(char *s, char sep, char **parts, size_t max)
{
    size_t n = 0;

    for (;;) {
        char *next = strchr(s, sep);

        if (n == max)
            return max + 1;
        parts[n++] = s;
        if (!next)
            return n;
        *next = '\0';
        s = next + 1;
    }
}

/* robfig's getRange for one comma-separated part. */
static int
get_range(const char *expr_in, const struct bounds *b, uint64_t *bits, struct k3c_err *err)
{
    _cleanup_free_ char *copy = k3c_xstrdup(expr_in);
    const char *expr = expr_in;
    char *rs[3] = {0}, *lh[3] = {0}; /* zeroed: gcc -O3 cannot see that split fills [0, n) */
    size_t n_rs = split(copy, '/', rs, 2), n_lh;
    unsigned start, end, step = 1;
    uint64_t extra = 0;

    if (n_rs > 2)
        return k3c_err_set(err, K3C_E_INVALID, "too many slashes: %s", expr);
    n_lh = split(rs[0], '-', lh, 2);
    if (strcmp(lh[0], "*") == 0 || strcmp(lh[0], "?") == 0) {
        start = b->min;
        end = b->max;
        extra = STAR_BIT;
    } else {
        if (parse_int_or_name(lh[0], b, &start, err) < 0)
            return -1;
        if (n_lh > 2)
            return k3c_err_set(err, K3C_E_INVALID, "too many hyphens: %s", expr);
        end = start;
        if (n_lh == 2 && parse_int_or_name(lh[1], b, &end, err) < 0)
            return -1;
    }
    if (n_rs == 2) {
        if (must_parse_int(rs[1], &step, err) < 0)
            return -1;
        if (n_lh == 1) /* "N/step" means "N-max/step" */
            end = b->max;
        if (step > 1)
            extra = 0;
    }
    if (start < b->min)
        return k3c_err_set(err, K3C_E_INVALID, "beginning of range (%u) below minimum (%u): %s",
                           start, b->min, expr);
    if (end > b->max)
        return k3c_err_set(err, K3C_E_INVALID, "end of range (%u) above maximum (%u): %s", end,
                           b->max, expr);
    if (start > end)
        return k3c_err_set(err, K3C_E_INVALID,
                           "beginning of range (%u) beyond end of range (%u): %s", start, end,
                           expr);
    if (step == 0)
        return k3c_err_set(err, K3C_E_INVALID, "step of range should be a positive number: %s",
                           expr);
    for (unsigned v = start; v <= end; v += step)
        *bits |= 1ULL << v;
    *bits |= extra;
    return 0;
}

static int
get_field(const char *field, const struct bounds *b, uint64_t *bits, struct k3c_err *err)
{
    _cleanup_free_ char *copy = k3c_xstrdup(field);
    char *save = NULL;

    *bits = 0;
    /* strings.FieldsFunc(field, ','): empty parts are skipped */
    for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
        if (get_range(p, b, bits, err) < 0)
            return -1;
    return 0;
}

/* Go's time.ParseDuration for whole seconds and coarser: "1h30m", "90s",
 * "1.5h", also ms/us/ns. Returns nanoseconds, or -1. */
static int64_t
parse_go_duration(const char *s)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1},  {"us", 1e3}, {"µs", 1e3},  {"ms", 1e6},
                 {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    double total = 0;
    bool neg = false;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (strcmp(s, "0") == 0)
        return 0;
    if (!*s)
        return -1;
    while (*s) {
        char *end = NULL;
        double v;
        size_t best = 0, best_len = 0;

        if (!isdigit((unsigned char)*s) && *s != '.')
            return -1;
        v = strtod(s, &end);
        if (end == s)
            return -1;
        s = end;
        for (size_t i = 0; i < K3C_ARRAY_SIZE(units); i++) {
            size_t n = strlen(units[i].unit);

            if (strncmp(s, units[i].unit, n) == 0 && n > best_len) {
                best = i;
                best_len = n;
            }
        }
        if (!best_len)
            return -1;
        total += v * units[best].ns;
        s += best_len;
    }
    if (total > 9.2e18)
        return -1;
    return neg ? -(int64_t)total : (int64_t)total;
}

static const struct {
    const char *name, *spec;
} descriptors[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static int
parse_descriptor(const char *spec, struct cron_schedule *out, struct k3c_err *err)
{
    for (size_t i = 0; i < K3C_ARRAY_SIZE(descriptors); i++)
        if (strcmp(spec, descriptors[i].name) == 0)
            return cron_parse(descriptors[i].spec, out, err);
    if (strncmp(spec, "@every ", 7) == 0) {
        int64_t ns = parse_go_duration(spec + 7);

        if (ns < 0)
            return k3c_err_set(err, K3C_E_INVALID,
                               "failed to parse duration %s: time: invalid duration \"%s\"", spec,
                               spec + 7);
        memset(out, 0, sizeof(*out));
        /* robfig's Every: at least a second, whole seconds */
        out->every_s = ns < 1000000000LL ? 1 : ns / 1000000000LL;
        return 0;
    }
    return k3c_err_set(err, K3C_E_INVALID, "unrecognized descriptor: %s", spec);
}

int
cron_parse(const char *spec, struct cron_schedule *out, struct k3c_err *err)
{
    _cleanup_free_ char *copy = NULL;
    char *words[6], *save = NULL;
    uint64_t bits[5];
    size_t n = 0;
    struct k3c_buf shown;

    if (!spec || !*spec)
        return k3c_err_set(err, K3C_E_INVALID, "empty spec string");
    while (isspace((unsigned char)*spec))
        spec++;
    if (strncmp(spec, "TZ=", 3) == 0 || strncmp(spec, "CRON_TZ=", 8) == 0) {
        spec += strcspn(spec, " \t");
        while (isspace((unsigned char)*spec))
            spec++;
    }
    if (*spec == '@')
        return parse_descriptor(spec, out, err);
    copy = k3c_xstrdup(spec);
    for (char *w = strtok_r(copy, " \t\n\r\v\f", &save); w;
         w = strtok_r(NULL, " \t\n\r\v\f", &save))
        if (n++ < K3C_ARRAY_SIZE(words))
            words[n - 1] = w;
    if (n != 5) {
        /* Go prints the fields as a slice: [a b c] */
        k3c_buf_init(&shown);
        free(copy);
        copy = k3c_xstrdup(spec);
        save = NULL;
        size_t i = 0;
        for (char *w = strtok_r(copy, " \t\n\r\v\f", &save); w;
             w = strtok_r(NULL, " \t\n\r\v\f", &save))
            k3c_buf_appendf(&shown, "%s%s", i++ ? " " : "", w);
        k3c_err_set(err, K3C_E_INVALID, "expected exactly 5 fields, found %zu: [%s]", n,
                    shown.data ? shown.data : "");
        k3c_buf_fini(&shown);
        return -1;
    }
    for (size_t i = 0; i < 5; i++)
        if (get_field(words[i], &field_bounds[i], &bits[i], err) < 0)
            return -1;
    memset(out, 0, sizeof(*out));
    out->min = bits[0] & ~STAR_BIT;
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    out->dow = (uint8_t)bits[4];
    out->dom_star = (bits[2] & STAR_BIT) != 0;
    out->dow_star = (bits[4] & STAR_BIT) != 0;
    return 0;
}

/* ---- time zones ----------------------------------------------------------- */

struct cron_tz {
    size_t n;        /* transitions */
    int64_t *at;     /* transition times */
    int32_t *off_at; /* the offset from at[i] on */
    int32_t first;   /* before the first transition */
};

void
cron_tz_free(struct cron_tz *tz)
{
    if (!tz)
        return;
    free(tz->at);
    free(tz->off_at);
    free(tz);
}

static int64_t
be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

/* Parses a TZif file (RFC 8536): the version 2+ 64-bit block when there is
 * one, else the version 1 block. */
static struct cron_tz *
tzif_parse(const unsigned char *d, size_t len)
{
    size_t cnt[6], hdr = 44, v1, tsize = 4;
    const unsigned char *p = d;
    struct cron_tz *tz;
    const unsigned char *times, *idx, *types;

    if (len < hdr || memcmp(d, "TZif", 4) != 0)
        return NULL;
    for (int i = 0; i < 6; i++)
        cnt[i] = (size_t)be(d + 20 + 4 * i, 4);
    /* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
    v1 = cnt[3] * 5 + cnt[4] * 6 + cnt[5] + cnt[2] * 8 + cnt[1] + cnt[0];
    if (d[4] >= '2' && len >= hdr + v1 + hdr) {
        p = d + hdr + v1;
        if (memcmp(p, "TZif", 4) != 0)
            return NULL;
        for (int i = 0; i < 6; i++)
            cnt[i] = (size_t)be(p + 20 + 4 * i, 4);
        tsize = 8;
    }
    times = p + hdr;
    idx = times + cnt[3] * tsize;
    types = idx + cnt[3];
    if (cnt[4] == 0 || (size_t)(types + cnt[4] * 6 - d) > len)
        return NULL;
    tz = k3c_xcalloc(1, sizeof(*tz));
    tz->n = cnt[3];
    tz->at = k3c_xcalloc(tz->n ? tz->n : 1, sizeof(*tz->at));
    tz->off_at = k3c_xcalloc(tz->n ? tz->n : 1, sizeof(*tz->off_at));
    for (size_t i = 0; i < tz->n; i++) {
        size_t t = idx[i] < cnt[4] ? idx[i] : 0;

        tz->at[i] = be(times + i * tsize, tsize);
        tz->off_at[i] = (int32_t)be(types + t * 6, 4);
    }
    /* before the first transition: the first standard-time type (RFC 8536 3.2) */
    tz->first = (int32_t)be(types, 4);
    for (size_t t = 0; t < cnt[4]; t++) {
        if (!types[t * 6 + 4]) {
            tz->first = (int32_t)be(types + t * 6, 4);
            break;
        }
    }
    return tz;
}

static bool
valid_zone_name(const char *name)
{
    _cleanup_free_ char *copy = k3c_xstrdup(name);
    char *save = NULL;

    if (!*name || name[0] == '/' || strstr(name, "//"))
        return false;
    for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0 || strcmp(part, "..") == 0 || part[0] == '-' ||
            strlen(part) > 14)
            return false;
        for (const char *c = part; *c; c++)
            if (!isalnum((unsigned char)*c) && !strchr(".-_+", *c))
                return false;
    }
    return true;
}

struct cron_tz *
cron_tz_load(const char *name, struct k3c_err *err)
{
    char path[512];
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    const char *dir = getenv("ZONEINFO");
    struct cron_tz *tz = NULL;
    struct k3c_err read_err = {0};

    if (!name || strcmp(name, "UTC") == 0 || strcmp(name, "") == 0) {
        if (!name && k3c_read_file("/etc/localtime", &data, &len, &read_err) == 0 &&
            (tz = tzif_parse((const unsigned char *)data, len)))
            return tz;
        return k3c_xcalloc(1, sizeof(struct cron_tz)); /* UTC: no transitions, offset 0 */
    }
    if (!valid_zone_name(name))
        goto unknown;
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    if (k3c_read_file(path, &data, &len, &read_err) < 0)
        goto unknown;
    tz = tzif_parse((const unsigned char *)data, len);
    if (tz)
        return tz;
unknown:
    k3c_err_set(err, K3C_E_INVALID, "unknown time zone %s", name);
    return NULL;
}

int
cron_tz_offset(const struct cron_tz *tz, int64_t t)
{
    size_t lo = 0, hi;

    if (!tz || tz->n == 0)
        return tz ? tz->first : 0;
    if (t < tz->at[0])
        return tz->first;
    hi = tz->n; /* the last transition <= t is in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (tz->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off_at[lo];
}

/* ---- next time -------------------------------------------------------------- */

/* Wall-clock fields of instant t in tz. */
static void
wall(const struct cron_tz *tz, int64_t t, struct tm *out)
{
    time_t w = (time_t)(t + cron_tz_offset(tz, t));

    gmtime_r(&w, out);
}

/* Go's time.Date in tz: the instant of wall time tm (normalised), taking
 * the offset in force there. */
static int64_t
instant(const struct cron_tz *tz, struct tm *tm)
{
    int64_t w = (int64_t)timegm(tm);
    int off = cron_tz_offset(tz, w);
    int64_t utc = w - off;
    int off2 = cron_tz_offset(tz, utc);

    return off2 == off ? utc : w - off2;
}

static bool
day_matches(const struct cron_schedule *s, const struct tm *t)
{
    bool dom = (s->dom >> t->tm_mday) & 1, dow = (s->dow >> t->tm_wday) & 1;

    if (s->dom_star || s->dow_star)
        return dom && dow;
    return dom || dow;
}

int64_t
cron_next(const struct cron_schedule *s, const struct cron_tz *tz, int64_t after)
{
    int64_t t = after + 1;
    struct tm tm;
    int year_limit;
    bool added = false;
    int guard = 0;

    if (s->every_s > 0)
        return after + s->every_s;
    wall(tz, t, &tm);
    year_limit = tm.tm_year + 5;
    /* seconds are always 0 for five fields: round up to the next minute */
    if (tm.tm_sec != 0) {
        t += 60 - tm.tm_sec;
        wall(tz, t, &tm);
    }
wrap:
    if (tm.tm_year > year_limit || ++guard > 100000)
        return -1;
    while (!((s->month >> (tm.tm_mon + 1)) & 1)) {
        if (!added) {
            added = true;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        }
        tm.tm_mon++;
        t = instant(tz, &tm);
        wall(tz, t, &tm);
        if (tm.tm_mon == 0)
            goto wrap;
    }
    while (!day_matches(s, &tm)) {
        if (!added) {
            added = true;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        }
        tm.tm_mday++;
        t = instant(tz, &tm);
        wall(tz, t, &tm);
        /* a DST change at midnight: back to 00:00 (robfig's fix-up) */
        if (tm.tm_hour != 0) {
            t += tm.tm_hour > 12 ? (int64_t)(24 - tm.tm_hour) * 3600 : -(int64_t)tm.tm_hour * 3600;
            wall(tz, t, &tm);
        }
        if (tm.tm_mday == 1)
            goto wrap;
    }
    while (!((s->hour >> tm.tm_hour) & 1)) {
        if (!added) {
            added = true;
            tm.tm_min = tm.tm_sec = 0;
            t = instant(tz, &tm);
        }
        t += 3600;
        wall(tz, t, &tm);
        if (tm.tm_hour == 0)
            goto wrap;
    }
    while (!((s->min >> tm.tm_min) & 1)) {
        if (!added) {
            added = true;
            t -= tm.tm_sec;
        }
        t += 60;
        wall(tz, t, &tm);
        if (tm.tm_min == 0)
            goto wrap;
    }
    return t;
}

int64_t
cron_most_recent(const struct cron_schedule *s, const struct cron_tz *tz, int64_t earliest,
                 int64_t now, int64_t *missed)
{
    int64_t t1 = cron_next(s, tz, earliest), t2, between, n, from, recent = -1;
    int guard = 0;

    *missed = 0;
    if (t1 < 0 || now < t1)
        return -1;
    t2 = cron_next(s, tz, t1);
    if (t2 < 0 || now < t2) {
        *missed = t2 < 0 ? 1 : 0;
        return t1;
    }
    between = t2 - t1;
    n = (now - t1) / between + 1;
    *missed = n;
    /* start two intervals before the estimate and let the schedule walk
     * (irregular schedules such as "30 6-16/4 * * 1-5") */
    from = t1 + (n - 2) * between;
    for (int64_t t = cron_next(s, tz, from); t >= 0 && t <= now && guard++ < 100000;
         t = cron_next(s, tz, t))
        recent = t;
    return recent;
}
