/* SPDX-License-Identifier: Apache-2.0
 * store_codec.c - pure encoding helpers for the etcd JSON gateway (base64
 * keys and values, int64 as strings) and Kubernetes continue tokens. */
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/util.h"
#include "store/store-internal.h"
#include "store/store_encrypt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

char *
store_prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = k3c_xstrdup(prefix);

    /* Increment the last byte that is not 0xff, dropping what follows it. */
    while (n > 0) {
        unsigned char c = (unsigned char)end[n - 1];

        if (c < 0xff) {
            end[n - 1] = (char)(c + 1);
            end[n] = '\0';
            return end;
        }
        n--;
    }
    /* Empty prefix or all 0xff: etcd's "\0" means "to the end". */
    end = k3c_xrealloc(end, 2);
    end[0] = '\0';
    return end;
}

json_t *
store_json_b64(const char *s)
{
    _cleanup_free_ char *b = k3c_base64_encode(s, strlen(s));

    /* Base64 is ASCII: skip jansson's UTF-8 scan. */
    return json_string_nocheck(b);
}

int64_t
store_json_int64(const json_t *obj, const char *field)
{
    const json_t *v = json_object_get(obj, field);

    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

static char *
b64_field(const json_t *j, const char *field, size_t *len, struct k3c_err *err)
{
    const char *s = json_string_value(json_object_get(j, field));
    char *out;

    if (!s) {
        /* proto3 JSON leaves empty fields out: an empty value is "". */
        if (len)
            *len = 0;
        return k3c_xstrdup("");
    }
    out = k3c_base64_decode(s, len);
    if (!out)
        k3c_err_set(err, K3C_E_INTERNAL, "etcd: bad base64 in field %s", field);
    return out;
}

int
store_kv_from_json(const json_t *j, struct store_kv *kv, struct k3c_err *err)
{
    memset(kv, 0, sizeof(*kv));
    kv->key = b64_field(j, "key", NULL, err);
    if (!kv->key)
        return -1;
    kv->value = b64_field(j, "value", &kv->value_len, err);
    if (!kv->value || store_value_open(kv->key, &kv->value, &kv->value_len, err) < 0) {
        store_kv_fini(kv);
        return -1;
    }
    kv->create_revision = store_json_int64(j, "create_revision");
    kv->mod_revision = store_json_int64(j, "mod_revision");
    kv->version = store_json_int64(j, "version");
    kv->lease = store_json_int64(j, "lease");
    return 0;
}

void
store_kv_fini(struct store_kv *kv)
{
    if (!kv)
        return;
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof(*kv));
}

char *
store_continue_encode(int64_t revision, const char *start_relative)
{
    _cleanup_json_ json_t *tok = json_pack("{s:s, s:I, s:s}", "v", "meta.k8s.io/v1", "rv",
                                           (json_int_t)revision, "start", start_relative);
    _cleanup_free_ char *text = json_dumps(tok, JSON_COMPACT);

    return k3c_base64_encode(text, strlen(text));
}

int
store_continue_decode(const char *token, int64_t *revision, char **start_relative,
                      struct k3c_err *err)
{
    _cleanup_free_ char *text = k3c_base64_decode(token, NULL);
    _cleanup_json_ json_t *tok = NULL;
    const char *v, *start;
    json_int_t rv;

    if (!text)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "continue key is not valid base64");
    tok = json_loads(text, 0, NULL);
    if (!tok || json_unpack(tok, "{s:s, s:I, s:s}", "v", &v, "rv", &rv, "start", &start) < 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "continue key is not valid");
    if (strcmp(v, "meta.k8s.io/v1") != 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "continue key version %s is not supported", v);
    if (rv <= 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "continue key has an invalid revision");
    /* A relative key must not escape the prefix it continues. */
    if (start[0] == '/' || strstr(start, "..") != NULL)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "continue key points outside the list");
    *revision = rv;
    *start_relative = k3c_xstrdup(start);
    return 0;
}

/* ---- watch messages: the events without a jansson tree --------------------
 *
 * jansson reads a string a character at a time and copies it into a
 * growing buffer: the ~2 KB of base64 that carry one object in a watch
 * event cost ~50 us to parse, a tenth of the server's CPU per create (the
 * events are the store watch thread's main work). The events are found and
 * decoded here with a scanner that looks for the end of a string with
 * memchr; the rest of the message (header, created, canceled, compaction,
 * errors) is still parsed by jansson, with "events":[] in place of the
 * array. Anything not in the shape etcd's gateway writes (an escape or a
 * byte past ASCII in a string, a revision that is not an integer, a number
 * with a fraction, a member twice, base64 that does not decode) makes the
 * split fail, and the caller parses the
 * whole message with jansson as before: the result is the same either way
 * (fuzz_store_watch checks it against the jansson path). */

struct scan {
    const char *p, *end;
};

static void
scan_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool
scan_char(struct scan *s, char c)
{
    scan_ws(s);
    if (s->p >= s->end || *s->p != c)
        return false;
    s->p++;
    return true;
}

/* A string token: its contents in [*start, *start + *len). Only what etcd
 * writes is taken: printable ASCII without escapes (base64, digits, member
 * names). Anything else (an escape, UTF-8, a control character) fails, and
 * jansson, which validates all of it, reads the message instead. */
static bool
scan_string(struct scan *s, const char **start, size_t *len)
{
    const char *q;

    if (!scan_char(s, '"'))
        return false;
    q = memchr(s->p, '"', (size_t)(s->end - s->p));
    if (!q)
        return false;
    for (const char *c = s->p; c < q; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x80 || *c == '\\')
            return false;
    *start = s->p;
    *len = (size_t)(q - s->p);
    s->p = q + 1;
    return true;
}

/* A JSON integer that fits an int64 with room to spare:
 * -?(0|[1-9][0-9]{0,17}). Fractions, exponents and longer numbers fail
 * (jansson decides on those). */
static bool
scan_integer(struct scan *s, const char **start, size_t *len)
{
    const char *p;

    scan_ws(s);
    p = s->p;
    if (p < s->end && *p == '-')
        p++;
    if (p >= s->end || !isdigit((unsigned char)*p))
        return false;
    if (*p == '0') {
        p++;
    } else {
        const char *digits = p;

        while (p < s->end && isdigit((unsigned char)*p) && p - digits < 18)
            p++;
    }
    if (p < s->end && (isdigit((unsigned char)*p) || *p == '.' || *p == 'e' || *p == 'E'))
        return false;
    *start = s->p;
    *len = (size_t)(p - s->p);
    s->p = p;
    return true;
}

static bool
scan_word(struct scan *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    /* "true0" is no word: nothing is consumed, so the caller's next try
     * (an integer) cannot take the "0" as the value */
    if (s->p + n < s->end && isalnum((unsigned char)s->p[n]))
        return false;
    s->p += n;
    return true;
}

static bool
scan_name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* Skips one value of any kind; nesting is bounded. */
static bool
scan_skip(struct scan *s, int depth)
{
    const char *str;
    size_t len;

    scan_ws(s);
    if (s->p >= s->end || depth > 64)
        return false;
    if (*s->p == '"')
        return scan_string(s, &str, &len);
    if (*s->p == '{' || *s->p == '[') {
        char close = *s->p == '{' ? '}' : ']';

        s->p++;
        if (scan_char(s, close))
            return true;
        do {
            if (close == '}' && (!scan_string(s, &str, &len) || !scan_char(s, ':')))
                return false;
            if (!scan_skip(s, depth + 1))
                return false;
        } while (scan_char(s, ','));
        return scan_char(s, close);
    }
    return scan_word(s, "true") || scan_word(s, "false") || scan_word(s, "null") ||
           scan_integer(s, &str, &len);
}

/* An int64 written as a JSON integer or as a string of digits (proto3 JSON
 * writes int64 as strings). */
static bool
scan_int64(struct scan *s, int64_t *out)
{
    const char *str;
    size_t len;
    char buf[24], *end;

    scan_ws(s);
    if (s->p < s->end && *s->p == '"' ? !scan_string(s, &str, &len) : !scan_integer(s, &str, &len))
        return false;
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, str, len);
    buf[len] = '\0';
    /* what store_json_int64 reads, as long as it reads all of it */
    errno = 0;
    *out = strtoll(buf, &end, 10);
    return errno == 0 && *end == '\0' && (isdigit((unsigned char)buf[0]) || buf[0] == '-');
}

/* A base64 string member decoded (NUL-terminated, *len without it). */
static bool
scan_b64(struct scan *s, char **out, size_t *len)
{
    const char *str;
    size_t n;
    _cleanup_free_ char *copy = NULL;

    if (!scan_string(s, &str, &n))
        return false;
    copy = k3c_xstrndup(str, n);
    *out = k3c_base64_decode(copy, len);
    return *out != NULL;
}

/* One kv object: {"key":..., "value":..., "create_revision":..., ...}. */
static bool
scan_kv(struct scan *s, struct store_kv *kv)
{
    unsigned seen = 0;

    memset(kv, 0, sizeof(*kv));
    if (!scan_char(s, '{'))
        return false;
    if (scan_char(s, '}'))
        goto done;
    do {
        static const char *const names[] = {"key",          "value",   "create_revision",
                                            "mod_revision", "version", "lease"};
        int64_t *ints[] = {NULL,         NULL,      &kv->create_revision, &kv->mod_revision,
                           &kv->version, &kv->lease};
        const char *name;
        size_t len, i;
        bool ok;

        if (!scan_string(s, &name, &len) || !scan_char(s, ':'))
            goto fail;
        for (i = 0; i < K3C_ARRAY_SIZE(names) && !scan_name_is(name, len, names[i]); i++)
            ;
        if (i == K3C_ARRAY_SIZE(names)) {
            ok = scan_skip(s, 0);
        } else if (seen & (1u << i)) {
            ok = false; /* twice: jansson would keep the last; let it decide */
        } else {
            seen |= 1u << i;
            ok = i == 0   ? scan_b64(s, &kv->key, NULL)
                 : i == 1 ? scan_b64(s, &kv->value, &kv->value_len)
                          : scan_int64(s, ints[i]);
        }
        if (!ok)
            goto fail;
    } while (scan_char(s, ','));
    if (!scan_char(s, '}'))
        goto fail;
done:
    /* proto3 JSON leaves empty fields out */
    if (!kv->key)
        kv->key = k3c_xstrdup("");
    if (!kv->value)
        kv->value = k3c_xstrdup("");
    return true;
fail:
    store_kv_fini(kv);
    return false;
}

/* One event: {"type":"DELETE", "kv":{...}}; other members (a prev_kv) are
 * skipped. */
static bool
scan_event(struct scan *s, struct store_watch_event *ev)
{
    bool seen_type = false, seen_kv = false;

    memset(ev, 0, sizeof(*ev));
    if (!scan_char(s, '{'))
        return false;
    if (scan_char(s, '}'))
        goto fail; /* no kv */
    do {
        const char *name, *type;
        size_t len, tlen;
        bool ok;

        if (!scan_string(s, &name, &len) || !scan_char(s, ':'))
            goto fail;
        if (scan_name_is(name, len, "type") && !seen_type) {
            seen_type = true;
            ok = scan_string(s, &type, &tlen);
            ev->deleted = ok && scan_name_is(type, tlen, "DELETE");
        } else if (scan_name_is(name, len, "kv") && !seen_kv) {
            seen_kv = ok = scan_kv(s, &ev->kv);
        } else if (scan_name_is(name, len, "type") || scan_name_is(name, len, "kv")) {
            ok = false;
        } else {
            ok = scan_skip(s, 0);
        }
        if (!ok)
            goto fail;
    } while (scan_char(s, ','));
    if (scan_char(s, '}') && seen_kv)
        return true;
fail:
    store_watch_event_fini(ev);
    return false;
}

void
store_watch_event_fini(struct store_watch_event *ev)
{
    store_kv_fini(&ev->kv);
}

void
store_watch_events_free(struct store_watch_event *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_watch_event_fini(&v[i]);
    free(v);
}

/* The events array, scanned from its '['; its end in s->p. */
static bool
scan_events(struct scan *s, struct store_watch_event **out, size_t *n_out)
{
    struct store_watch_event *v = NULL;
    size_t n = 0, cap = 0;

    if (!scan_char(s, '['))
        return false;
    if (scan_char(s, ']'))
        goto done;
    do {
        if (n == cap) {
            cap = cap ? 2 * cap : 4;
            v = k3c_xrealloc(v, cap * sizeof(*v));
        }
        if (!scan_event(s, &v[n]))
            goto fail;
        n++;
    } while (scan_char(s, ','));
    if (!scan_char(s, ']'))
        goto fail;
done:
    *out = v;
    *n_out = n;
    return true;
fail:
    store_watch_events_free(v, n);
    return false;
}

/* What find_events looks for and found. */
struct events_find {
    bool seen_result, seen_events;
    const char *from, *to; /* the events array */
    struct store_watch_event *events;
    size_t n;
};

/* The members of the message (level 0) or of its "result" (level 1). */
static bool
scan_message_object(struct scan *s, int level, struct events_find *f)
{
    if (!scan_char(s, '{'))
        return false;
    if (scan_char(s, '}'))
        return true;
    do {
        const char *name;
        size_t len;
        bool ok;

        if (!scan_string(s, &name, &len) || !scan_char(s, ':'))
            return false;
        if (level == 0 && scan_name_is(name, len, "result")) {
            ok = !f->seen_result;
            f->seen_result = true;
            ok = ok && scan_message_object(s, 1, f);
        } else if (level == 1 && scan_name_is(name, len, "events")) {
            ok = !f->seen_events;
            f->seen_events = true;
            scan_ws(s);
            f->from = s->p;
            ok = ok && scan_events(s, &f->events, &f->n);
            f->to = s->p;
        } else {
            ok = scan_skip(s, 0);
        }
        if (!ok)
            return false;
    } while (scan_char(s, ','));
    return scan_char(s, '}');
}

/* Finds "result"."events" in the message and decodes the events. */
static bool
find_events(const char *msg, size_t len, struct events_find *f)
{
    struct scan s = {msg, msg + len};
    bool ok = scan_message_object(&s, 0, f);

    scan_ws(&s);
    if (ok && s.p == s.end && f->events)
        return true;
    store_watch_events_free(f->events, f->n);
    f->events = NULL;
    f->n = 0;
    return false;
}

int
store_watch_msg_split(const char *msg, size_t len, json_t **rest, struct store_watch_event **events,
                      size_t *n_events)
{
    struct events_find f = {0};
    struct k3c_buf b;

    *rest = NULL;
    *events = NULL;
    *n_events = 0;
    if (!find_events(msg, len, &f))
        return -1;
    *events = f.events;
    *n_events = f.n;
    k3c_buf_init(&b);
    k3c_buf_append(&b, msg, (size_t)(f.from - msg));
    k3c_buf_append(&b, "[]", 2);
    k3c_buf_append(&b, f.to, (size_t)(msg + len - f.to));
    *rest = k3c_json_loadb(b.data, b.len, 0, NULL);
    k3c_buf_fini(&b);
    for (size_t i = 0; *rest && i < *n_events; i++) {
        struct store_watch_event *ev = &(*events)[i];
        struct k3c_err err = {0};

        if (store_value_open(ev->kv.key, &ev->kv.value, &ev->kv.value_len, &err) < 0) {
            json_decref(*rest);
            *rest = NULL;
        }
    }
    if (!*rest) {
        store_watch_events_free(*events, *n_events);
        *events = NULL;
        *n_events = 0;
        return -1;
    }
    return 0;
}
