/* SPDX-License-Identifier: Apache-2.0
 * schema.c - structural schema defaulting and validation (schema.h). The
 * messages follow upstream's kube-openapi validators as kube-apiserver
 * reports them for custom resources ("spec.replicas in body must be of
 * type integer: \"string\""), with the field.Error reasons
 * (FieldValueInvalid, FieldValueRequired, ...). */
#include "schema/schema.h"

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 64

struct vctx {
    json_t *causes;
    struct k3c_buf path;
    size_t added;
};

static void cause(struct vctx *c, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cause(struct vctx *c, const char *reason, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    json_array_append_new(c->causes, json_pack("{s:s, s:s, s:s}", "reason", reason, "message",
                                               msg ? msg : fmt, "field", c->path.data));
    free(msg);
    c->added++;
}

/* Go's %v of a JSON value, as the messages show it: strings quoted. */
static char *
shown(const json_t *v)
{
    if (json_is_string(v)) {
        _cleanup_json_ json_t *s = json_string(json_string_value(v));
        return json_dumps(s, JSON_ENCODE_ANY);
    }
    if (!v || json_is_null(v))
        return k3c_xstrdup("\"null\"");
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static const char *
type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static bool
is_integral(const json_t *v)
{
    double d;

    if (json_is_integer(v))
        return true;
    if (!json_is_real(v))
        return false;
    d = json_real_value(v);
    return isfinite(d) && d == floor(d) && fabs(d) < 9.2e18;
}

static bool
type_ok(const char *type, const json_t *v)
{
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return is_integral(v);
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    return true;
}

static bool
flag(const json_t *s, const char *key)
{
    return json_is_true(json_object_get(s, key));
}

static const char *
str(const json_t *s, const char *key)
{
    return json_string_value(json_object_get(s, key));
}

/* ---- formats --------------------------------------------------------------- */

static bool
digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool
date_ok(const char *s)
{
    return strlen(s) >= 10 && digits(s, 4) && s[4] == '-' && digits(s + 5, 2) && s[7] == '-' &&
           digits(s + 8, 2) && s[5] <= '1' && s[8] <= '3';
}

static bool
uuid_ok(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};

    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool is_dash = i == dash[0] || i == dash[1] || i == dash[2] || i == dash[3];
        char ch = s[i];

        if (is_dash ? ch != '-'
                    : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                        (ch >= 'A' && ch <= 'F')))
            return false;
    }
    return true;
}

static bool
ipv4_ok(const char *s)
{
    unsigned a, b, c, d;
    char tail;

    return sscanf(s, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) == 4 && a < 256 && b < 256 &&
           c < 256 && d < 256 && strspn(s, "0123456789.") == strlen(s);
}

static bool
ipv6_ok(const char *s)
{
    size_t colons = 0;

    if (!*s || strspn(s, "0123456789abcdefABCDEF:.") != strlen(s))
        return false;
    for (const char *p = s; *p; p++)
        colons += *p == ':';
    return colons >= 2 && colons <= 7;
}

static bool
cidr_ok(const char *s)
{
    const char *slash = strchr(s, '/');
    char ip[64];
    bool v4;
    long bits;
    char *end;

    if (!slash || (size_t)(slash - s) >= sizeof(ip) || !slash[1])
        return false;
    snprintf(ip, sizeof(ip), "%.*s", (int)(slash - s), s);
    v4 = ipv4_ok(ip);
    if (!v4 && !ipv6_ok(ip))
        return false;
    bits = strtol(slash + 1, &end, 10);
    return *end == '\0' && bits >= 0 && bits <= (v4 ? 32 : 128);
}

static bool
base64_ok(const char *s)
{
    size_t n = strlen(s);

    return n % 4 == 0 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == n;
}

bool
schema_format_ok(const char *format, const json_t *v)
{
    const char *s = json_string_value(v);

    if (!format)
        return true;
    if (strcmp(format, "int32") == 0)
        return !json_is_integer(v) ||
               (json_integer_value(v) >= INT32_MIN && json_integer_value(v) <= INT32_MAX);
    if (!s)
        return true;
    if (strcmp(format, "date-time") == 0)
        return date_ok(s) && (s[10] == 'T' || s[10] == 't') && k3c_time_parse_rfc3339(s) >= 0;
    if (strcmp(format, "date") == 0)
        return strlen(s) == 10 && date_ok(s);
    if (strcmp(format, "uuid") == 0)
        return uuid_ok(s);
    if (strcmp(format, "ipv4") == 0)
        return ipv4_ok(s);
    if (strcmp(format, "ipv6") == 0)
        return ipv6_ok(s);
    if (strcmp(format, "cidr") == 0)
        return cidr_ok(s);
    if (strcmp(format, "byte") == 0)
        return base64_ok(s);
    return true;
}

/* ---- patterns -------------------------------------------------------------- */

/* POSIX extended expressions lack Perl's class escapes, which OpenAPI
 * patterns (ECMA 262) use: \d, \w, \s become bracket expressions. */
static char *
posix_pattern(const char *p)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    for (; *p; p++) {
        if (p[0] == '\\' && p[1]) {
            const char *rep = NULL;

            switch (p[1]) {
            case 'd':
                rep = "[0-9]";
                break;
            case 'w':
                rep = "[A-Za-z0-9_]";
                break;
            case 's':
                rep = "[[:space:]]";
                break;
            case 'D':
                rep = "[^0-9]";
                break;
            default:
                break;
            }
            if (rep) {
                k3c_buf_append(&b, rep, strlen(rep));
                p++;
                continue;
            }
            k3c_buf_append(&b, p, 2);
            p++;
            continue;
        }
        k3c_buf_append(&b, p, 1);
    }
    k3c_buf_append(&b, "", 0);
    return k3c_buf_steal(&b, NULL);
}

/* 1 match, 0 no match, -1 a pattern we cannot compile (not checked). */
static int
pattern_match(const char *pattern, const char *s)
{
    _cleanup_free_ char *p = posix_pattern(pattern);
    regex_t re;
    int rc;

    if (regcomp(&re, p, REG_EXTENDED | REG_NOSUB) != 0)
        return -1;
    rc = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return rc;
}

/* ---- validation ------------------------------------------------------------ */

static void validate(const json_t *s, const json_t *v, struct vctx *c, bool root, int depth);

static size_t
utf8_len(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void
check_string(const json_t *s, const json_t *v, struct vctx *c)
{
    const char *sv = json_string_value(v);
    const json_t *maxl = json_object_get(s, "maxLength"), *minl = json_object_get(s, "minLength");
    const char *pattern = str(s, "pattern");
    size_t len = utf8_len(sv);
    _cleanup_free_ char *q = shown(v);

    if (json_is_integer(maxl) && (json_int_t)len > json_integer_value(maxl))
        cause(c, "FieldValueTooLong", "Too long: may not be more than %lld bytes",
              (long long)json_integer_value(maxl));
    if (json_is_integer(minl) && (json_int_t)len < json_integer_value(minl))
        cause(c, "FieldValueInvalid",
              "Invalid value: %s: %s in body should be at least %lld chars long", q, c->path.data,
              (long long)json_integer_value(minl));
    if (pattern && pattern_match(pattern, sv) == 0)
        cause(c, "FieldValueInvalid", "Invalid value: %s: %s in body should match '%s'", q,
              c->path.data, pattern);
}

static void
check_number(const json_t *s, const json_t *v, struct vctx *c)
{
    double d = json_number_value(v);
    const json_t *min = json_object_get(s, "minimum"), *max = json_object_get(s, "maximum");
    const json_t *mult = json_object_get(s, "multipleOf");
    bool xmin = flag(s, "exclusiveMinimum"), xmax = flag(s, "exclusiveMaximum");
    _cleanup_free_ char *q = shown(v);

    if (json_is_number(min) && (xmin ? d <= json_number_value(min) : d < json_number_value(min)))
        cause(c, "FieldValueInvalid", "Invalid value: %s: %s in body should be greater than %s%g",
              q, c->path.data, xmin ? "" : "or equal to ", json_number_value(min));
    if (json_is_number(max) && (xmax ? d >= json_number_value(max) : d > json_number_value(max)))
        cause(c, "FieldValueInvalid", "Invalid value: %s: %s in body should be less than %s%g", q,
              c->path.data, xmax ? "" : "or equal to ", json_number_value(max));
    if (json_is_number(mult) && json_number_value(mult) > 0) {
        double r = fmod(d, json_number_value(mult));

        if (fabs(r) > 1e-9 && fabs(r - json_number_value(mult)) > 1e-9)
            cause(c, "FieldValueInvalid",
                  "Invalid value: %s: %s in body should be a multiple of %g", q, c->path.data,
                  json_number_value(mult));
    }
}

/* The key of a list-type map item: its list-map-keys' values as JSON. */
static char *
map_item_key(const json_t *keys, const json_t *item)
{
    _cleanup_json_ json_t *k = json_object();
    size_t i;
    json_t *name;

    json_array_foreach(keys, i, name)
    {
        const char *n = json_string_value(name);
        json_t *val = n ? json_object_get(item, n) : NULL;

        if (n && val)
            json_object_set(k, n, val);
    }
    return json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
}

static void
check_unique(const json_t *s, const json_t *v, struct vctx *c)
{
    const char *lt = str(s, "x-kubernetes-list-type");
    const json_t *keys = json_object_get(s, "x-kubernetes-list-map-keys");
    bool set = (lt && strcmp(lt, "set") == 0) || flag(s, "uniqueItems");
    bool map = lt && strcmp(lt, "map") == 0 && json_array_size(keys) > 0;
    size_t n = json_array_size(v), mark = c->path.len;

    if (!set && !map)
        return;
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            bool dup;

            if (map) {
                _cleanup_free_ char *a = map_item_key(keys, json_array_get(v, i));
                _cleanup_free_ char *b = map_item_key(keys, json_array_get(v, j));

                dup = strcmp(a, b) == 0;
            } else {
                dup = json_equal(json_array_get(v, i), json_array_get(v, j));
            }
            if (!dup)
                continue;
            k3c_buf_appendf(&c->path, "[%zu]", i);
            {
                _cleanup_free_ char *q =
                    map ? map_item_key(keys, json_array_get(v, i)) : shown(json_array_get(v, i));

                cause(c, "FieldValueDuplicate", "Duplicate value: %s", q);
            }
            c->path.len = mark;
            c->path.data[mark] = '\0';
            break;
        }
    }
}

static void
check_array(const json_t *s, const json_t *v, struct vctx *c, int depth)
{
    const json_t *maxi = json_object_get(s, "maxItems"), *mini = json_object_get(s, "minItems");
    const json_t *items = json_object_get(s, "items");
    size_t n = json_array_size(v), mark = c->path.len, i;
    json_t *e;

    if (json_is_integer(maxi) && (json_int_t)n > json_integer_value(maxi))
        cause(c, "FieldValueTooMany", "Too many: %zu: must have at most %lld items", n,
              (long long)json_integer_value(maxi));
    if (json_is_integer(mini) && (json_int_t)n < json_integer_value(mini))
        cause(c, "FieldValueInvalid",
              "Invalid value: %zu: %s in body should have at least %lld items", n, c->path.data,
              (long long)json_integer_value(mini));
    check_unique(s, v, c);
    if (!json_is_object(items))
        return;
    json_array_foreach(v, i, e)
    {
        k3c_buf_appendf(&c->path, "[%zu]", i);
        validate(items, e, c, false, depth + 1);
        c->path.len = mark;
        c->path.data[mark] = '\0';
    }
}

static void
push_key(struct vctx *c, const char *key)
{
    k3c_buf_appendf(&c->path, "%s%s", c->path.len ? "." : "", key);
}

static void
check_object(const json_t *s, const json_t *v, struct vctx *c, bool root, int depth)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *addl = json_object_get(s, "additionalProperties");
    const json_t *maxp = json_object_get(s, "maxProperties"),
                 *minp = json_object_get(s, "minProperties");
    bool embedded = flag(s, "x-kubernetes-embedded-resource");
    size_t mark = c->path.len, i;
    const char *key;
    json_t *child, *req;

    if (json_is_integer(maxp) && (json_int_t)json_object_size(v) > json_integer_value(maxp))
        cause(c, "FieldValueTooMany", "Too many: %zu: must have at most %lld items",
              json_object_size(v), (long long)json_integer_value(maxp));
    if (json_is_integer(minp) && (json_int_t)json_object_size(v) < json_integer_value(minp))
        cause(c, "FieldValueInvalid",
              "Invalid value: %zu: %s in body should have at least %lld properties",
              json_object_size(v), c->path.data, (long long)json_integer_value(minp));
    json_array_foreach(json_object_get(s, "required"), i, req)
    {
        const char *r = json_string_value(req);

        if (!r || json_object_get(v, r))
            continue;
        push_key(c, r);
        cause(c, "FieldValueRequired", "Required value");
        c->path.len = mark;
        c->path.data[mark] = '\0';
    }
    if (embedded) { /* an object of its own: apiVersion and kind are required */
        static const char *const tm[] = {"apiVersion", "kind"};

        for (size_t k = 0; k < 2; k++) {
            if (json_string_value(json_object_get(v, tm[k])))
                continue;
            push_key(c, tm[k]);
            cause(c, "FieldValueRequired", "Required value: must not be empty");
            c->path.len = mark;
            c->path.data[mark] = '\0';
        }
    }
    json_object_foreach((json_t *)v, key, child)
    {
        const json_t *cs = json_object_get(props, key);

        if ((root || embedded) && (strcmp(key, "metadata") == 0 || strcmp(key, "apiVersion") == 0 ||
                                   strcmp(key, "kind") == 0))
            continue;
        if (!cs && json_is_object(addl))
            cs = addl;
        if (!cs)
            continue;
        push_key(c, key);
        validate(cs, child, c, false, depth + 1);
        c->path.len = mark;
        c->path.data[mark] = '\0';
    }
}

/* Runs a sub-schema into a scratch list: how many causes it finds. */
static size_t
count_causes(const json_t *s, const json_t *v, struct vctx *c, int depth)
{
    struct vctx sub = {.causes = json_array()};
    size_t n;

    k3c_buf_init(&sub.path);
    k3c_buf_append(&sub.path, c->path.data, c->path.len);
    k3c_buf_append(&sub.path, "", 0);
    validate(s, v, &sub, false, depth + 1);
    n = sub.added;
    json_decref(sub.causes);
    k3c_buf_fini(&sub.path);
    return n;
}

static void
check_combinators(const json_t *s, const json_t *v, struct vctx *c, int depth)
{
    const json_t *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf");
    const json_t *not = json_object_get(s, "not");
    size_t i, ok = 0;
    json_t *sub;

    json_array_foreach(json_object_get(s, "allOf"), i, sub)
    {
        validate(sub, v, c, false, depth + 1);
    }
    if (json_array_size(any) > 0) {
        json_array_foreach(any, i, sub)
        {
            ok += count_causes(sub, v, c, depth) == 0;
        }
        if (ok == 0)
            cause(c, "FieldValueInvalid",
                  "Invalid value: \"\": %s in body must validate at least one schema (anyOf)",
                  c->path.data);
    }
    if (json_array_size(one) > 0) {
        ok = 0;
        json_array_foreach(one, i, sub)
        {
            ok += count_causes(sub, v, c, depth) == 0;
        }
        if (ok != 1)
            cause(c, "FieldValueInvalid",
                  "Invalid value: \"\": %s in body must validate one and only one schema (oneOf)",
                  c->path.data);
    }
    if (json_is_object(not ) && count_causes(not, v, c, depth) == 0)
        cause(c, "FieldValueInvalid",
              "Invalid value: \"\": %s in body must not validate the schema (not)", c->path.data);
}

static bool
enum_ok(const json_t *e, const json_t *v)
{
    size_t i;
    json_t *x;

    json_array_foreach(e, i, x)
    {
        if (json_equal(x, v) || (json_is_number(x) && json_is_number(v) &&
                                 json_number_value(x) == json_number_value(v)))
            return true;
    }
    return false;
}

static void
check_enum(const json_t *e, const json_t *v, struct vctx *c)
{
    struct k3c_buf b;
    _cleanup_free_ char *q = shown(v);
    size_t i;
    json_t *x;

    if (!json_is_array(e) || enum_ok(e, v))
        return;
    k3c_buf_init(&b);
    json_array_foreach(e, i, x)
    {
        _cleanup_free_ char *sx = shown(x);

        k3c_buf_appendf(&b, "%s%s", i ? ", " : "", sx);
    }
    k3c_buf_append(&b, "", 0);
    cause(c, "FieldValueNotSupported", "Unsupported value: %s: supported values: %s", q, b.data);
    k3c_buf_fini(&b);
}

static void
validate(const json_t *s, const json_t *v, struct vctx *c, bool root, int depth)
{
    const char *type = str(s, "type");
    const char *format = str(s, "format");

    if (!json_is_object(s) || depth > MAX_DEPTH)
        return;
    if (json_is_null(v)) {
        if (!flag(s, "nullable") && type)
            cause(c, "FieldValueTypeInvalid",
                  "Invalid value: \"null\": %s in body must be of type %s: \"null\"", c->path.data,
                  type);
        return;
    }
    if (flag(s, "x-kubernetes-int-or-string")) {
        if (!json_is_string(v) && !is_integral(v)) {
            _cleanup_free_ char *q = shown(v);

            cause(c, "FieldValueTypeInvalid",
                  "Invalid value: \"%s\": %s in body must be of type integer,string: %s",
                  type_name(v), c->path.data, q);
            return;
        }
    } else if (type && !type_ok(type, v)) {
        _cleanup_free_ char *q = shown(v);

        cause(c, "FieldValueTypeInvalid",
              "Invalid value: \"%s\": %s in body must be of type %s: %s", type_name(v),
              c->path.data, type, q);
        return;
    }
    check_enum(json_object_get(s, "enum"), v, c);
    if (json_is_string(v)) {
        check_string(s, v, c);
        if (!schema_format_ok(format, v)) {
            _cleanup_free_ char *q = shown(v);

            cause(c, "FieldValueInvalid", "Invalid value: %s: %s in body must be of type %s: %s", q,
                  c->path.data, format, q);
        }
    } else if (json_is_number(v)) {
        check_number(s, v, c);
        if (!schema_format_ok(format, v)) {
            _cleanup_free_ char *q = shown(v);

            cause(c, "FieldValueInvalid", "Invalid value: %s: %s in body must be of type %s: %s", q,
                  c->path.data, format, q);
        }
    } else if (json_is_array(v)) {
        check_array(s, v, c, depth);
    } else if (json_is_object(v)) {
        check_object(s, v, c, root, depth);
    }
    check_combinators(s, v, c, depth);
}

size_t
schema_validate(const json_t *schema, const json_t *obj, bool root, json_t *causes)
{
    struct vctx c = {.causes = causes};

    k3c_buf_init(&c.path);
    k3c_buf_append(&c.path, "", 0);
    validate(schema, obj, &c, root, 0);
    k3c_buf_fini(&c.path);
    return c.added;
}

/* ---- defaulting ------------------------------------------------------------ */

static void default_value(const json_t *s, json_t *v, int depth);

static void
default_object(const json_t *s, json_t *v, int depth)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *addl = json_object_get(s, "additionalProperties");
    const char *key;
    json_t *ps, *child;

    json_object_foreach((json_t *)props, key, ps)
    {
        const json_t *dflt = json_object_get(ps, "default");

        child = json_object_get(v, key);
        if (dflt && (!child || (json_is_null(child) && !flag(ps, "nullable"))))
            json_object_set_new(v, key, json_deep_copy(dflt));
    }
    json_object_foreach(v, key, child)
    {
        const json_t *cs = json_object_get(props, key);

        if (!cs && json_is_object(addl))
            cs = addl;
        if (cs)
            default_value(cs, child, depth + 1);
    }
}

static void
default_value(const json_t *s, json_t *v, int depth)
{
    size_t i;
    json_t *e;

    if (!json_is_object(s) || depth > MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        default_object(s, v, depth);
    } else if (json_is_array(v) && json_is_object(json_object_get(s, "items"))) {
        json_array_foreach(v, i, e)
        {
            default_value(json_object_get(s, "items"), e, depth + 1);
        }
    }
}

void
schema_default(const json_t *schema, json_t *obj)
{
    default_value(schema, obj, 0);
}
