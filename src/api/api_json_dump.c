/* SPDX-License-Identifier: Apache-2.0
 * api_json_dump.c - compact JSON text of a jansson tree, byte for byte what
 * json_dump_callback(v, JSON_COMPACT | JSON_ENCODE_ANY) writes, straight
 * into a k3c_buf (issue #20, session 10).
 *
 * Why not jansson's own: json_dump_callback keeps a hashtable of the
 * containers it is inside (cycle detection), so every object and array it
 * writes costs an snprintf("%p"), a malloc and a free, plus one callback per
 * token ("{", the key, ":", the value, ","). For the write path's objects
 * that was most of the serialisation's CPU. Trees k3c builds have no
 * cycles; a tree nested deeper than DUMP_MAX_DEPTH or a string that is not
 * valid UTF-8 (jansson fails, or for a key writes it cut short) goes to
 * jansson whole, and a real number is written by jansson (its formatting),
 * so the text is always the one jansson would write. */
#include "api/api-internal.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"

#include <stdint.h>
#include <string.h>

/* Deeper than any object etcd holds (jansson's parser stops at 2048). */
#define DUMP_MAX_DEPTH 256

struct dump {
    struct k3c_buf *b;
    bool fallback; /* met something only jansson writes exactly */
};

static inline void
put(struct k3c_buf *b, const char *s, size_t n)
{
    if (b->data && b->len + n < b->cap) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    k3c_buf_append(b, s, n);
}

/* The two-character escapes jansson writes; other control characters
 * are written as \\u00XX. */
static const char short_escape[256] = {
    ['"'] = '"',  ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
    ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't',
};

static void
dump_string(struct dump *d, const char *str, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str, *end = s + len, *run = s;

    put(d->b, "\"", 1);
    while (s < end) {
        char esc[6] = {'\\', 0, '0', '0', 0, 0};
        size_t esc_len = 2;
        unsigned char c;

        while (s < end && k3c_json_string_class[*s] == 0)
            s++;
        if (s == end)
            break;
        c = *s;
        if (k3c_json_string_class[c] == 2) {
            size_t n = k3c_json_utf8_len(s, (size_t)(end - s));

            if (n == 0) {
                d->fallback = true;
                return;
            }
            s += n;
            continue;
        }
        put(d->b, (const char *)run, (size_t)(s - run));
        if (short_escape[c]) {
            esc[1] = short_escape[c];
        } else { /* "\\u%04X" */
            esc[1] = 'u';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            esc_len = 6;
        }
        put(d->b, esc, esc_len);
        run = ++s;
    }
    put(d->b, (const char *)run, (size_t)(s - run));
    put(d->b, "\"", 1);
}

static void
dump_integer(struct dump *d, json_int_t v)
{
    char digits[24], *p = digits + sizeof(digits);
    /* Negated as unsigned: LLONG_MIN has no positive counterpart. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    put(d->b, p, (size_t)(digits + sizeof(digits) - p));
}

static int
buf_dump(const char *text, size_t len, void *ud)
{
    k3c_buf_append(ud, text, len);
    return 0;
}

static void dump_value(struct dump *d, const json_t *v, int depth);

static void
dump_object(struct dump *d, const json_t *obj, int depth)
{
    bool first = true;

    put(d->b, "{", 1);
    for (void *it = json_object_iter((json_t *)obj); it && !d->fallback;
         it = json_object_iter_next((json_t *)obj, it)) {
        if (!first)
            put(d->b, ",", 1);
        first = false;
        dump_string(d, json_object_iter_key(it), json_object_iter_key_len(it));
        put(d->b, ":", 1);
        dump_value(d, json_object_iter_value(it), depth + 1);
    }
    put(d->b, "}", 1);
}

static void
dump_value(struct dump *d, const json_t *v, int depth)
{
    if (d->fallback)
        return;
    if (!v || depth > DUMP_MAX_DEPTH) {
        d->fallback = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        dump_object(d, v, depth);
        break;
    case JSON_ARRAY:
        put(d->b, "[", 1);
        for (size_t i = 0; i < json_array_size(v) && !d->fallback; i++) {
            if (i > 0)
                put(d->b, ",", 1);
            dump_value(d, json_array_get(v, i), depth + 1);
        }
        put(d->b, "]", 1);
        break;
    case JSON_STRING:
        dump_string(d, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        dump_integer(d, json_integer_value(v));
        break;
    case JSON_TRUE:
        put(d->b, "true", 4);
        break;
    case JSON_FALSE:
        put(d->b, "false", 5);
        break;
    case JSON_NULL:
        put(d->b, "null", 4);
        break;
    case JSON_REAL: /* jansson's own formatting (a leaf: no hashtable walk) */
        if (json_dump_callback(v, buf_dump, d->b, JSON_COMPACT | JSON_ENCODE_ANY) < 0)
            d->fallback = true;
        break;
    default:
        d->fallback = true;
        break;
    }
}

bool
api_json_dump_compact(struct k3c_buf *b, const json_t *v)
{
    struct dump d = {.b = b};
    size_t start = b->len;

    dump_value(&d, v, 0);
    if (!d.fallback)
        return true;
    /* What only jansson writes exactly (or fails on): all of it by jansson. */
    b->len = start;
    if (b->data)
        b->data[start] = '\0';
    if (json_dump_callback(v, buf_dump, b, JSON_COMPACT | JSON_ENCODE_ANY) == 0)
        return true;
    b->len = start;
    if (b->data)
        b->data[start] = '\0';
    return false;
}

bool
api_json_dump_member(struct k3c_buf *b, const char *key, size_t key_len, const json_t *v)
{
    struct dump d = {.b = b};
    size_t start = b->len;

    dump_string(&d, key, key_len);
    if (!d.fallback) {
        put(b, ":", 1);
        if (api_json_dump_compact(b, v))
            return true;
    }
    b->len = start;
    if (b->data)
        b->data[start] = '\0';
    return false;
}

char *
api_json_dumps_compact(const json_t *v, size_t *len)
{
    struct k3c_buf b;
    char *text;

    k3c_buf_init(&b);
    if (!json_is_object(v) && !json_is_array(v)) { /* as json_dumps without ENCODE_ANY */
        *len = 0;
        return NULL;
    }
    if (!api_json_dump_compact(&b, v)) {
        k3c_buf_fini(&b);
        *len = 0;
        return NULL;
    }
    if (!b.data) /* not reached: "{}" at least */
        k3c_buf_append(&b, "", 0);
    /* Exactly the text's size, as json_dumps returns it: the watch cache
     * keeps some of these texts (Table rows) for each of its entries, and the
     * buffer's doubling left up to half of each unused (~2 MB of RSS with
     * 10,000 pods). */
    text = k3c_buf_steal(&b, len);
    return k3c_xrealloc(text, *len + 1);
}
