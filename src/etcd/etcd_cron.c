/* SPDX-License-Identifier: Apache-2.0
 * etcd_cron.c - the cron schedules of --etcd-snapshot-schedule-cron: each
 * field becomes a bit set; the next time is found by stepping the fields
 * from the largest down (month, day, hour, minute, second), as robfig/cron
 * (K3s's parser) does. Pure, unit tested. */
#include "etcd/etcd_ops.h"
#include "base/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cron_field {
    const char *what;
    int min, max;
    const char *const *names; /* names[i] is value min + i, or NULL */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct cron_field fields[] = {
    {"second", 0, 59, NULL},       {"minute", 0, 59, NULL},       {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL}, {"month", 1, 12, month_names}, {"day of week", 0, 7, dow_names},
};

/* One number or name of field f at *p; advances p. -1 when there is none. */
static int
cron_value(const struct cron_field *f, const char **p)
{
    const char *s = *p;
    int v = 0;

    if (isdigit((unsigned char)*s)) {
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (*s++ - '0');
        *p = s;
        return v;
    }
    for (size_t i = 0; f->names && f->names[i]; i++) {
        if (strncasecmp(s, f->names[i], 3) == 0) {
            *p = s + 3;
            return f->min + (int)i;
        }
    }
    return -1;
}

/* Parses one comma-separated field into *bits. */
static int
cron_field_parse(const struct cron_field *f, const char *text, uint64_t *bits, struct k3c_err *err)
{
    const char *p = text;

    *bits = 0;
    for (;;) {
        int lo = f->min, hi = f->max, step = 1;

        if (*p == '*' || *p == '?') {
            p++;
        } else {
            lo = hi = cron_value(f, &p);
            if (lo >= 0 && *p == '-') {
                p++;
                hi = cron_value(f, &p);
            }
            if (lo < 0 || hi < 0)
                goto bad;
        }
        if (*p == '/') {
            p++;
            step = cron_value(&(struct cron_field){0}, &p);
            if (step <= 0)
                goto bad;
            if (lo == hi && p[-1] != '*')
                hi = f->max; /* "5/10": from 5 on, as robfig/cron */
        }
        if (lo < f->min || hi > f->max || lo > hi)
            goto bad;
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ULL << v;
        if (*p == '\0')
            return 0;
        if (*p != ',')
            goto bad;
        p++;
    }
bad:
    return k3c_err_set(err, K3C_E_INVALID,
                       "cron %s field \"%s\": expected *, N, A-B, */S or a list "
                       "(%d-%d)",
                       f->what, text, f->min, f->max);
}

/* Only a bare "*" (or "?") leaves a day field unrestricted; a step restricts it. */
static bool
is_star(const char *word)
{
    return strcmp(word, "*") == 0 || strcmp(word, "?") == 0;
}

static const struct {
    const char *name, *spec;
} shorthands[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int
etcd_cron_parse(const char *spec, struct etcd_cron *out, struct k3c_err *err)
{
    char *copy, *words[7], *save = NULL;
    uint64_t bits[6];
    size_t n = 0, first;

    for (size_t i = 0; spec && i < K3C_ARRAY_SIZE(shorthands); i++)
        if (strcmp(spec, shorthands[i].name) == 0)
            spec = shorthands[i].spec;
    if (!spec)
        return k3c_err_set(err, K3C_E_INVALID, "cron: empty schedule");
    copy = k3c_xstrdup(spec);
    for (char *w = strtok_r(copy, " \t", &save); w && n < K3C_ARRAY_SIZE(words);
         w = strtok_r(NULL, " \t", &save))
        words[n++] = w;
    if (n != 5 && n != 6) {
        free(copy);
        return k3c_err_set(err, K3C_E_INVALID,
                           "cron \"%s\": expected 5 fields (min hour dom month dow) or 6 (with "
                           "seconds first), got %zu",
                           spec, n);
    }
    first = n == 5 ? 1 : 0;
    bits[0] = 1; /* five fields: at second 0 */
    for (size_t i = 0; i < n; i++) {
        if (cron_field_parse(&fields[first + i], words[i], &bits[first + i], err) < 0) {
            free(copy);
            return -1;
        }
    }
    out->sec = bits[0];
    out->min = bits[1];
    out->hour = (uint32_t)bits[2];
    out->dom = (uint32_t)bits[3];
    out->month = (uint16_t)bits[4];
    /* 7 is Sunday too. */
    out->dow = (uint8_t)((bits[5] | (bits[5] >> 7)) & 0x7f);
    out->dom_star = is_star(words[3 - first]);
    out->dow_star = is_star(words[5 - first]);
    free(copy);
    return 0;
}

static bool
day_matches(const struct etcd_cron *c, const struct tm *t)
{
    bool dom = c->dom & (1u << t->tm_mday), dow = c->dow & (1u << t->tm_wday);

    if (c->dom_star || c->dow_star)
        return dom && dow;
    return dom || dow;
}

time_t
etcd_cron_next(const struct etcd_cron *c, time_t after)
{
    struct tm t;
    time_t now = after + 1;
    int year_limit;

    localtime_r(&now, &t);
    year_limit = t.tm_year + 5;
    while (t.tm_year <= year_limit) {
        if (!(c->month & (1u << (t.tm_mon + 1)))) {
            t.tm_mon++;
            t.tm_mday = 1;
            t.tm_hour = t.tm_min = t.tm_sec = 0;
        } else if (!day_matches(c, &t)) {
            t.tm_mday++;
            t.tm_hour = t.tm_min = t.tm_sec = 0;
        } else if (!(c->hour & (1u << t.tm_hour))) {
            t.tm_hour++;
            t.tm_min = t.tm_sec = 0;
        } else if (!(c->min & (1ULL << t.tm_min))) {
            t.tm_min++;
            t.tm_sec = 0;
        } else if (!(c->sec & (1ULL << t.tm_sec))) {
            t.tm_sec++;
        } else {
            return mktime(&t);
        }
        /* Normalise the carried field; tm_isdst -1 lets mktime find DST. */
        t.tm_isdst = -1;
        now = mktime(&t);
        localtime_r(&now, &t);
    }
    return -1;
}
