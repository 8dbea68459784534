/* SPDX-License-Identifier: Apache-2.0
 * podspec_quantity.c - Kubernetes resource quantities ("100m", "1.5Gi",
 * "1e3") as exact integers, and container resources → runtime_resources.
 * The value is kept as mantissa * 10^exp * 1024^k in 128-bit arithmetic and
 * rounded up at the end, like resource.Quantity's MilliValue/Value. */
#include <ctype.h>
#include <string.h>

#include "podspec/podspec.h"

struct suffix {
    const char *name;
    int dec_exp; /* power of ten */
    int bin_exp; /* power of 1024 */
};

static const struct suffix suffixes[] = {
    {"Ki", 0, 1}, {"Mi", 0, 2}, {"Gi", 0, 3}, {"Ti", 0, 4}, {"Pi", 0, 5}, {"Ei", 0, 6},
    {"n", -9, 0}, {"u", -6, 0}, {"m", -3, 0}, {"", 0, 0},   {"k", 3, 0},  {"M", 6, 0},
    {"G", 9, 0},  {"T", 12, 0}, {"P", 15, 0}, {"E", 18, 0},
};

/* A parsed quantity: value = sign * mant * 10^dec * 1024^bin; `inexact`
 * when digits beyond the mantissa's precision were dropped (they only ever
 * make the magnitude larger, which rounding up accounts for). */
struct qty {
    bool neg, inexact;
    __int128 mant;
    int dec, bin;
};

#define QTY_MAX_DIGITS 20

static int
parse_number(const char **pp, struct qty *q)
{
    const char *p = *pp;
    int digits = 0, frac = 0;
    bool any = false, in_frac = false;

    if (*p == '+' || *p == '-') {
        q->neg = *p == '-';
        p++;
    }
    for (;; p++) {
        if (*p == '.' && !in_frac) {
            in_frac = true;
            continue;
        }
        if (!isdigit((unsigned char)*p))
            break;
        any = true;
        if (digits >= QTY_MAX_DIGITS) {
            if (*p != '0')
                q->inexact = true;
            if (!in_frac)
                q->dec++;
            continue;
        }
        if (digits > 0 || *p != '0')
            digits++;
        q->mant = q->mant * 10 + (*p - '0');
        if (in_frac)
            frac++;
    }
    if (!any)
        return -1;
    q->dec -= frac;
    *pp = p;
    return 0;
}

static int
parse_suffix(const char *p, struct qty *q)
{
    const char *d = (*p == 'e' || *p == 'E') ? p + 1 : NULL;

    if (d && (*d == '+' || *d == '-'))
        d++;
    if (d && isdigit((unsigned char)*d)) {
        /* decimal exponent: e<int> ("1e3"); a bare "E" is exa */
        char *end = NULL;
        long e = strtol(p + 1, &end, 10);
        if (*end != '\0' || end == p + 1 || e > 100 || e < -100)
            return -1;
        q->dec += (int)e;
        return 0;
    }
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strcmp(p, suffixes[i].name) == 0) {
            q->dec += suffixes[i].dec_exp;
            q->bin = suffixes[i].bin_exp;
            return 0;
        }
    }
    return -1;
}

/* value * 10^scale, rounded up, into *out. Intermediate values may exceed
 * int64 (a long mantissa with a negative exponent); only the result must fit. */
static int
qty_scaled(const struct qty *q, int scale, int64_t *out)
{
    const __int128 big = (__int128)1 << 124, limit = (__int128)INT64_MAX;
    __int128 v = q->mant;
    int dec = q->dec + scale;
    bool remainder = q->inexact;

    for (int i = 0; i < q->bin && v != 0; i++) {
        v *= 1024;
        if (v > big)
            return -1;
    }
    for (; dec > 0 && v != 0; dec--) {
        v *= 10;
        if (v > big)
            return -1;
    }
    for (; dec < 0 && v != 0; dec++) {
        if (v % 10 != 0)
            remainder = true;
        v /= 10;
    }
    /* rounding up toward +inf: for negatives, truncation already did that */
    if (remainder && !q->neg && q->mant != 0)
        v++;
    if (v > limit)
        return -1;
    *out = q->neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int
quantity_scaled(const char *s, int scale, int64_t *out, struct k3c_err *err)
{
    struct qty q = {0};
    const char *p = s;

    if (!s || !*s)
        return k3c_err_set(err, K3C_E_INVALID, "quantity: empty");
    if (parse_number(&p, &q) < 0 || parse_suffix(p, &q) < 0)
        return k3c_err_set(err, K3C_E_INVALID,
                           "quantity \"%s\": quantities must match the regular expression "
                           "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                           s);
    if (qty_scaled(&q, scale, out) < 0)
        return k3c_err_set(err, K3C_E_INVALID, "quantity \"%s\": out of range", s);
    return 0;
}

int
podspec_quantity_milli(const char *s, int64_t *milli_out, struct k3c_err *err)
{
    return quantity_scaled(s, 3, milli_out, err);
}

int
podspec_quantity_value(const char *s, int64_t *out, struct k3c_err *err)
{
    return quantity_scaled(s, 0, out, err);
}

static int
quantity_json(const json_t *v, int scale, int64_t *out, struct k3c_err *err)
{
    char num[64];

    if (json_is_string(v))
        return quantity_scaled(json_string_value(v), scale, out, err);
    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return quantity_scaled(num, scale, out, err);
    }
    if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.9f", json_real_value(v));
        return quantity_scaled(num, scale, out, err);
    }
    return k3c_err_set(err, K3C_E_INVALID, "quantity: not a string or number");
}

int
podspec_quantity_json_milli(const json_t *v, int64_t *milli_out, struct k3c_err *err)
{
    return quantity_json(v, 3, milli_out, err);
}

int
podspec_quantity_json_value(const json_t *v, int64_t *out, struct k3c_err *err)
{
    return quantity_json(v, 0, out, err);
}

/* resources.<section>.<name> into *out (unchanged when absent). */
static int
resource_get(const json_t *res, const char *section, const char *name, bool milli, int64_t *out,
             struct k3c_err *err)
{
    const json_t *v = json_object_get(json_object_get(res, section), name);

    if (!v)
        return 0;
    if (quantity_json(v, milli ? 3 : 0, out, err) < 0)
        return k3c_err_wrap(err, "resources.%s.%s", section, name);
    return 0;
}

int
podspec_container_resources(const json_t *container, struct runtime_resources *out,
                            struct k3c_err *err)
{
    const json_t *res = json_object_get(container, "resources");
    struct runtime_resources r = {0};
    int64_t mem_req = 0;

    if (resource_get(res, "requests", "cpu", true, &r.cpu_request_millicores, err) < 0 ||
        resource_get(res, "limits", "cpu", true, &r.cpu_limit_millicores, err) < 0 ||
        resource_get(res, "limits", "memory", false, &r.memory_limit_bytes, err) < 0 ||
        resource_get(res, "requests", "memory", false, &mem_req, err) < 0)
        return -1;
    if (r.cpu_request_millicores < 0 || r.cpu_limit_millicores < 0 || r.memory_limit_bytes < 0 ||
        mem_req < 0)
        return k3c_err_set(err, K3C_E_INVALID, "resources: negative quantity");
    /* API defaulting: a limit without a request makes the request equal */
    if (!json_object_get(json_object_get(res, "requests"), "cpu"))
        r.cpu_request_millicores = r.cpu_limit_millicores;
    *out = r;
    return 0;
}
