/* SPDX-License-Identifier: Apache-2.0
 * quantity.c - canonical Kubernetes quantities (see quantity.h). The value
 * is kept as a signed 64-bit mantissa times a power of ten; anything that
 * does not fit is reported as unsupported rather than rounded. */
#include "base/quantity.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum qformat { Q_DECIMAL_SI, Q_BINARY_SI, Q_DECIMAL_EXPONENT };

struct qvalue {
    int64_t mantissa; /* >= 0; the sign is apart */
    int scale;        /* value = mantissa * 10^scale */
    bool negative;
    enum qformat format;
};

static bool
mul_add(int64_t *v, int64_t mul, int64_t add)
{
    return !__builtin_mul_overflow(*v, mul, v) && !__builtin_add_overflow(*v, add, v);
}

/* The suffix after the number: its base-10 exponent, or its power of 1024. */
static bool
parse_suffix(const char *s, struct qvalue *q, int *pow10, int *pow1024)
{
    static const struct {
        const char *s;
        int exp;
    } dec[] = {{"n", -9}, {"u", -6}, {"m", -3}, {"", 0},   {"k", 3},
               {"M", 6},  {"G", 9},  {"T", 12}, {"P", 15}, {"E", 18}};
    static const char *const bin[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

    *pow10 = 0;
    *pow1024 = 0;
    for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++)
        if (strcmp(s, dec[i].s) == 0) {
            *pow10 = dec[i].exp;
            q->format = Q_DECIMAL_SI;
            return true;
        }
    for (size_t i = 0; i < sizeof(bin) / sizeof(bin[0]); i++)
        if (strcmp(s, bin[i]) == 0) {
            *pow1024 = (int)i + 1;
            q->format = Q_BINARY_SI;
            return true;
        }
    if ((s[0] == 'e' || s[0] == 'E') && s[1]) {
        const char *p = s + 1;
        bool neg = false;
        int e = 0;

        if (*p == '+' || *p == '-')
            neg = *p++ == '-';
        if (!*p)
            return false;
        for (; *p; p++) {
            if (!isdigit((unsigned char)*p) || e > 1000)
                return false;
            e = e * 10 + (*p - '0');
        }
        *pow10 = neg ? -e : e;
        q->format = Q_DECIMAL_EXPONENT;
        return true;
    }
    return false;
}

/* Drops trailing zeros of the mantissa into the scale. */
static void
normalize(struct qvalue *q)
{
    while (q->mantissa != 0 && q->mantissa % 10 == 0) {
        q->mantissa /= 10;
        q->scale++;
    }
}

static bool
parse(const char *s, struct qvalue *q)
{
    const char *p = s;
    int digits = 0, significant = 0, frac = 0, pow10, pow1024;
    bool dot = false;

    memset(q, 0, sizeof(*q));
    if (*p == '+' || *p == '-')
        q->negative = *p++ == '-';
    for (; isdigit((unsigned char)*p) || (*p == '.' && !dot); p++) {
        if (*p == '.') {
            dot = true;
            continue;
        }
        digits++;
        frac += dot;
        if (q->mantissa == 0 && *p == '0')
            continue;
        if (++significant > 18)
            return false; /* beyond 64 bits: the caller keeps the text */
        q->mantissa = q->mantissa * 10 + (*p - '0');
    }
    if (digits == 0 || !parse_suffix(p, q, &pow10, &pow1024))
        return false;
    q->scale = pow10 - frac;
    for (int i = 0; i < pow1024; i++) {
        normalize(q);
        if (!mul_add(&q->mantissa, 1024, 0))
            return false;
    }
    normalize(q);
    /* upstream rounds non-zero values up to nano */
    while (q->scale < -9) {
        int64_t rest = q->mantissa % 10;

        q->mantissa = q->mantissa / 10 + (rest != 0);
        q->scale++;
    }
    if (q->mantissa == 0)
        q->negative = false;
    normalize(q);
    return q->scale <= 60;
}

static bool
decimal_out(struct qvalue *q, char out[K3C_QUANTITY_MAX])
{
    static const char *const si[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
    int64_t m = q->mantissa;
    int e = q->scale;

    /* the exponent a multiple of 3: more mantissa digits, never fractions */
    while (((e % 3) + 3) % 3 != 0) {
        if (!mul_add(&m, 10, 0))
            return false;
        e--;
    }
    if (m >= 1000000000000000000LL)
        return false; /* more digits than the parser takes back */
    if (q->format == Q_DECIMAL_EXPONENT) {
        if (e == 0)
            snprintf(out, K3C_QUANTITY_MAX, "%s%lld", q->negative ? "-" : "", (long long)m);
        else
            snprintf(out, K3C_QUANTITY_MAX, "%s%llde%d", q->negative ? "-" : "", (long long)m, e);
        return true;
    }
    while (e > 18) { /* past E: more digits */
        if (!mul_add(&m, 1000, 0) || m >= 1000000000000000000LL)
            return false;
        e -= 3;
    }
    snprintf(out, K3C_QUANTITY_MAX, "%s%lld%s", q->negative ? "-" : "", (long long)m,
             si[(e + 9) / 3]);
    return true;
}

static bool
binary_out(const struct qvalue *q, char out[K3C_QUANTITY_MAX])
{
    static const char *const bin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    int64_t v = q->mantissa;
    int k = 0;

    for (int i = 0; i < q->scale; i++)
        if (!mul_add(&v, 10, 0))
            return false;
    while (k < 6 && v % 1024 == 0) {
        v /= 1024;
        k++;
    }
    snprintf(out, K3C_QUANTITY_MAX, "%s%lld%s", q->negative ? "-" : "", (long long)v, bin[k]);
    return true;
}

bool
k3c_quantity_canonical(const char *s, char out[K3C_QUANTITY_MAX])
{
    struct qvalue q;

    if (!s || !parse(s, &q))
        return false;
    if (q.mantissa == 0) {
        snprintf(out, K3C_QUANTITY_MAX, "0");
        return true;
    }
    if (q.format == Q_BINARY_SI) {
        /* below 1024, or not a whole number: decimal SI, as upstream */
        int64_t v = q.mantissa;
        bool fits = q.scale >= 0;

        for (int i = 0; fits && i < q.scale; i++)
            fits = mul_add(&v, 10, 0);
        if (q.scale >= 0 && !fits)
            return false; /* a whole number past 64 bits: kept as written */
        if (!fits || v < 1024)
            q.format = Q_DECIMAL_SI;
        else
            return binary_out(&q, out);
    }
    return decimal_out(&q, out);
}

/* ---- exact values (k3c_quantity_scaled) ------------------------------------
 * The value is kept as mantissa * 10^exp * 1024^k in 128-bit arithmetic and
 * rounded up at the end, like resource.Quantity's MilliValue/Value. */

struct exact_suffix {
    const char *name;
    int dec_exp; /* power of ten */
    int bin_exp; /* power of 1024 */
};

static const struct exact_suffix exact_suffixes[] = {
    {"Ki", 0, 1}, {"Mi", 0, 2}, {"Gi", 0, 3}, {"Ti", 0, 4}, {"Pi", 0, 5}, {"Ei", 0, 6},
    {"n", -9, 0}, {"u", -6, 0}, {"m", -3, 0}, {"", 0, 0},   {"k", 3, 0},  {"M", 6, 0},
    {"G", 9, 0},  {"T", 12, 0}, {"P", 15, 0}, {"E", 18, 0},
};

/* A parsed quantity: value = sign * mant * 10^dec * 1024^bin; `inexact`
 * when digits beyond the mantissa's precision were dropped (they only ever
 * make the magnitude larger, which rounding up accounts for). */
struct qexact {
    bool neg, inexact;
    __int128 mant;
    int dec, bin;
};

#define QEXACT_MAX_DIGITS 20

static int
exact_number(const char **pp, struct qexact *q)
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
        if (digits >= QEXACT_MAX_DIGITS) {
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
exact_suffix_of(const char *p, struct qexact *q)
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
    for (size_t i = 0; i < sizeof(exact_suffixes) / sizeof(exact_suffixes[0]); i++) {
        if (strcmp(p, exact_suffixes[i].name) == 0) {
            q->dec += exact_suffixes[i].dec_exp;
            q->bin = exact_suffixes[i].bin_exp;
            return 0;
        }
    }
    return -1;
}

/* value * 10^scale, rounded up, into *out. Intermediate values may exceed
 * int64 (a long mantissa with a negative exponent); only the result must fit. */
static int
exact_scaled(const struct qexact *q, int scale, int64_t *out)
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

int
k3c_quantity_scaled(const char *s, int scale, int64_t *out)
{
    struct qexact q = {0};
    const char *p = s;

    if (!s || !*s || exact_number(&p, &q) < 0 || exact_suffix_of(p, &q) < 0)
        return K3C_QUANTITY_SYNTAX;
    if (exact_scaled(&q, scale, out) < 0)
        return K3C_QUANTITY_RANGE;
    return 0;
}
