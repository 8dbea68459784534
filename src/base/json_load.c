/* SPDX-License-Identifier: Apache-2.0
 * json_load.c - a fast path in front of json_loadb (issue #20, session
 * 10).
 *
 * jansson's lexer reads a byte at a time through its stream (a UTF-8 check
 * and a buffer append per byte): a 1.5 KB ConfigMap took ~20 us to parse,
 * the largest single cost of a create in k3c. This parser builds the same
 * jansson tree (the same calls jansson's parser makes: json_object_setn_new_nocheck,
 * json_array_append_new, strings and integers of the same values) for
 * the plain JSON that clients send, and gives up on anything else: a \u
 * escape, a real number, an integer of more than 18 digits, a duplicate key,
 * a NUL in a key, nesting deeper than LOAD_MAX_DEPTH, and every error. Then
 * jansson parses the text from the start, so what is accepted, the tree and
 * the error text are always jansson's. */
#include "base/json.h"
#include "base/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_MAX_DEPTH 256

struct lexer {
    const unsigned char *p, *end;
    char *scratch; /* unescaped strings */
    size_t scratch_cap;
};

static void
skip_ws(struct lexer *lx)
{
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\n' || *lx->p == '\r' || *lx->p == '\t'))
        lx->p++;
}

/* The length of the valid UTF-8 sequence at s (its first byte >= 0x80),
 * as jansson accepts it (json.h); 0 if it is not one. */
size_t
k3c_json_utf8_len(const unsigned char *s, size_t avail)
{
    size_t n;
    uint32_t v;

    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        v = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        v = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        v = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    return n;
}

/* json.h */
const unsigned char k3c_json_string_class[256] = {
    [0x00 ... 0x1F] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xFF] = 2,
};

static const char unescape[256] = {
    ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
    ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
};

/* Appends [from, to) to scratch, with room for one more byte. */
static void
scratch_put(struct lexer *lx, size_t *out, const unsigned char *from, const unsigned char *to)
{
    size_t n = (size_t)(to - from);

    if (*out + n + 1 > lx->scratch_cap) {
        lx->scratch_cap = (*out + n + 1) * 2;
        lx->scratch = k3c_xrealloc(lx->scratch, lx->scratch_cap);
    }
    memcpy(lx->scratch + *out, from, n);
    *out += n;
}

/* The string at p (just past its opening quote): *s and *len point at its
 * bytes (in the input, or in scratch when it has escapes). false: give up. */
static bool
lex_string(struct lexer *lx, const char **s, size_t *len)
{
    const unsigned char *start = lx->p, *run = lx->p;
    size_t out = 0;
    bool escaped = false;

    for (;;) {
        size_t n;

        while (lx->p < lx->end && k3c_json_string_class[*lx->p] == 0)
            lx->p++;
        if (lx->p >= lx->end)
            return false;
        if (k3c_json_string_class[*lx->p] == 2) {
            if ((n = k3c_json_utf8_len(lx->p, (size_t)(lx->end - lx->p))) == 0)
                return false;
            lx->p += n;
            continue;
        }
        if (*lx->p == '"')
            break;
        /* A control character, a \u escape (jansson's) or a bad escape. */
        if (*lx->p != '\\' || lx->p + 1 >= lx->end || !unescape[lx->p[1]])
            return false;
        scratch_put(lx, &out, run, lx->p);
        lx->scratch[out++] = unescape[lx->p[1]];
        escaped = true;
        lx->p += 2;
        run = lx->p;
    }
    if (escaped)
        scratch_put(lx, &out, run, lx->p);
    *s = escaped ? lx->scratch : (const char *)start;
    *len = escaped ? out : (size_t)(lx->p - start);
    lx->p++;
    return true;
}

/* An integer of up to 18 digits (no overflow), nothing else. */
static json_t *
lex_integer(struct lexer *lx)
{
    bool neg = lx->p < lx->end && *lx->p == '-';
    const unsigned char *digits = lx->p + neg, *q = digits;
    long long v = 0;

    while (q < lx->end && *q >= '0' && *q <= '9' && q - digits < 18)
        v = v * 10 + (*q++ - '0');
    if (q == digits || (*digits == '0' && q - digits > 1))
        return NULL;
    /* A real, or a 19th digit: jansson's. */
    if (q < lx->end && (*q == '.' || *q == 'e' || *q == 'E' || (*q >= '0' && *q <= '9')))
        return NULL;
    lx->p = q;
    return json_integer(neg ? -v : v);
}

/* Steps over c if it comes next. */
static bool
lex_take(struct lexer *lx, char c)
{
    if (lx->p >= lx->end || *lx->p != (unsigned char)c)
        return false;
    lx->p++;
    return true;
}

static bool
lex_word(struct lexer *lx, const char *w, size_t n)
{
    if ((size_t)(lx->end - lx->p) < n || memcmp(lx->p, w, n) != 0)
        return false;
    /* jansson reads a whole word: "truex" is no literal. */
    if (lx->p + n < lx->end && lx->p[n] >= 'a' && lx->p[n] <= 'z')
        return false;
    lx->p += n;
    return true;
}

static json_t *parse_value(struct lexer *lx, int depth);

static json_t *
parse_object(struct lexer *lx, int depth)
{
    json_t *obj = json_object();

    lx->p++;
    skip_ws(lx);
    if (lex_take(lx, '}'))
        return obj;
    for (;;) {
        const char *key;
        size_t key_len, size;
        json_t *v;
        char *key_copy = NULL;
        bool ok;

        if (!lex_take(lx, '"') || !lex_string(lx, &key, &key_len) || memchr(key, '\0', key_len))
            break;
        /* An unescaped key lives in scratch, which the value may reuse. */
        if (key == lx->scratch)
            key = key_copy = memcpy(k3c_xmalloc(key_len + 1), key, key_len);
        skip_ws(lx);
        v = lex_take(lx, ':') ? parse_value(lx, depth + 1) : NULL;
        size = json_object_size(obj);
        /* A duplicate key leaves the size as it was: jansson's to judge. */
        ok = v && json_object_setn_new_nocheck(obj, key, key_len, v) == 0 &&
             json_object_size(obj) > size;
        free(key_copy);
        if (!ok)
            break;
        skip_ws(lx);
        if (lex_take(lx, '}'))
            return obj;
        if (!lex_take(lx, ','))
            break;
        skip_ws(lx);
    }
    json_decref(obj);
    return NULL;
}

static json_t *
parse_array(struct lexer *lx, int depth)
{
    json_t *arr = json_array();

    lx->p++;
    skip_ws(lx);
    if (lex_take(lx, ']'))
        return arr;
    for (;;) {
        json_t *v = parse_value(lx, depth + 1);

        if (!v || json_array_append_new(arr, v) < 0)
            break;
        skip_ws(lx);
        if (lex_take(lx, ']'))
            return arr;
        if (!lex_take(lx, ','))
            break;
    }
    json_decref(arr);
    return NULL;
}

static json_t *
parse_value(struct lexer *lx, int depth)
{
    const char *s;
    size_t len;

    skip_ws(lx);
    if (lx->p >= lx->end || depth > LOAD_MAX_DEPTH)
        return NULL;
    switch (*lx->p) {
    case '{':
        return parse_object(lx, depth);
    case '[':
        return parse_array(lx, depth);
    case '"':
        lx->p++;
        return lex_string(lx, &s, &len) ? json_stringn_nocheck(s, len) : NULL;
    case 't':
        return lex_word(lx, "true", 4) ? json_true() : NULL;
    case 'f':
        return lex_word(lx, "false", 5) ? json_false() : NULL;
    case 'n':
        return lex_word(lx, "null", 4) ? json_null() : NULL;
    default:
        return lex_integer(lx);
    }
}

/* The tree json_loadb(buf, len, JSON_REJECT_DUPLICATES) gives, or NULL
 * where this parser gives up (see the top). */
static json_t *
load_fast(const char *buf, size_t len)
{
    struct lexer lx = {(const unsigned char *)buf, (const unsigned char *)buf + len, NULL, 0};
    json_t *v = NULL;

    skip_ws(&lx);
    if (lx.p < lx.end && (*lx.p == '{' || *lx.p == '['))
        v = parse_value(&lx, 0);
    skip_ws(&lx);
    if (v && lx.p != lx.end) { /* more after the value: jansson's error */
        json_decref(v);
        v = NULL;
    }
    free(lx.scratch);
    return v;
}

json_t *
k3c_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err)
{
    json_t *v = NULL;

    /* The fast path gives up on duplicate keys, so it serves both. */
    if (flags == 0 || flags == JSON_REJECT_DUPLICATES)
        v = load_fast(buf, len);
    return v ? v : json_loadb(buf, len, flags, err);
}
