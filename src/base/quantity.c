/* SPDX-License-Identifier: Apache-2.0
 * quantity.c - canonical Kubernetes quantities (see quantity.h). The value
 * is kept as a signed 64-bit mantissa times a power of ten; anything that
 * does not fit is reported as unsupported rather than rounded. */
#include "base/quantity.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
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
