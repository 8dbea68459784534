/* SPDX-License-Identifier: Apache-2.0
 * api_validate.c - validation and defaulting, after upstream's
 * pkg/apis/<group>/validation, apimachinery's util/validation and the
 * SetDefaults_* functions of Kubernetes 1.32. Each problem becomes one Status
 * cause worded as upstream's field.Error.ErrorBody() ("Invalid value: "x":
 * ..."), so `kubectl apply` prints the same lines. Pure functions of the
 * objects passed in; no state. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#define FIELD_LEN 512

#define MAX_LABEL_LEN        63
#define MAX_SUBDOMAIN_LEN    253
#define MAX_ANNOTATIONS_SIZE (256 * 1024)
#define MAX_DATA_SIZE        (1024 * 1024)

#define RE_DNS1123_LABEL "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define RE_QNAME         "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

/* Upstream's messages, as validation.RegexError() composes them. */
static const char msg_dns1123_label[] =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '" RE_DNS1123_LABEL "')";
static const char msg_dns1123_subdomain[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '" RE_DNS1123_LABEL "(\\." RE_DNS1123_LABEL ")*')";
static const char msg_dns1035_label[] =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
static const char msg_qname[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '" RE_QNAME "')";
static const char msg_label_value[] =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is '(" RE_QNAME ")?')";
static const char msg_config_key[] =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')";
static const char msg_port_range[] = "must be between 1 and 65535, inclusive";
static const char msg_nonnegative[] = "must be greater than or equal to 0";
static const char msg_immutable[] = "field is immutable";

/* ---- JSON access -------------------------------------------------------- */

const json_t *
api_json_path(const json_t *obj, const char *path)
{
    const json_t *cur = obj;

    for (;;) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);

        if (!json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, path, n);
        if (!dot || !cur)
            return cur;
        path = dot + 1;
    }
}

static const char *
str_at(const json_t *obj, const char *path)
{
    return json_string_value(api_json_path(obj, path));
}

static const char *
or_empty(const char *s)
{
    return s ? s : "";
}

static bool
is_empty(const char *s)
{
    return !s || !*s;
}

/* A field path ("spec.containers[0].name") built in place; a path longer
 * than FIELD_LEN (only a pathological key) is cut short. */
struct fpath {
    char s[FIELD_LEN];
};

static const char *fpath(struct fpath *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *
fpath(struct fpath *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->s, sizeof(p->s), fmt, ap);
    va_end(ap);
    return p->s;
}

/* ---- causes ------------------------------------------------------------- */

void
api_cause_add(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
{
    va_list ap;
    _cleanup_free_ char *msg = NULL;
    json_t *cause = NULL;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    cause = json_pack("{s:s, s:s}", "reason", reason, "message", msg ? msg : fmt);
    if (!is_empty(field))
        json_object_set_new(cause, "field", json_string(field));
    json_array_append_new(causes, cause);
}

/* Go's %q, close enough for messages: escapes quotes, backslashes and
 * control bytes. */
static void
append_quoted(struct k3c_buf *b, const char *s)
{
    k3c_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            k3c_buf_appendf(b, "\\%c", *p);
        else if (*p == '\n')
            k3c_buf_appendf(b, "\\n");
        else if (*p == '\t')
            k3c_buf_appendf(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            k3c_buf_appendf(b, "\\x%02x", *p);
        else
            k3c_buf_append(b, p, 1);
    }
    k3c_buf_append(b, "\"", 1);
}

/* Go's %#v of a map[string]string (keys sorted, as fmt prints maps). */
static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
append_go_map(struct k3c_buf *b, const json_t *map)
{
    size_t n = 0;
    _cleanup_free_ const char **keys = NULL;
    const char *k = NULL;
    json_t *v = NULL;

    if (!json_is_object(map)) {
        k3c_buf_appendf(b, "map[string]string(nil)");
        return;
    }
    keys = k3c_xcalloc(json_object_size(map) + 1, sizeof(*keys));
    json_object_foreach((json_t *)map, k, v)
    {
        keys[n++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    k3c_buf_appendf(b, "map[string]string{");
    for (size_t i = 0; i < n; i++) {
        k3c_buf_appendf(b, "%s", i ? ", " : "");
        append_quoted(b, keys[i]);
        k3c_buf_append(b, ":", 1);
        append_quoted(b, or_empty(json_string_value(json_object_get(map, keys[i]))));
    }
    k3c_buf_append(b, "}", 1);
}

/* Go's %#v of a v1.LabelSelector, as upstream prints a bad selector. */
static void
append_go_selector(struct k3c_buf *b, const json_t *sel)
{
    const json_t *exprs = json_object_get(sel, "matchExpressions");
    size_t i = 0, j = 0;
    const json_t *e = NULL, *v = NULL;

    k3c_buf_appendf(b, "v1.LabelSelector{MatchLabels:");
    append_go_map(b, json_object_get(sel, "matchLabels"));
    if (!json_is_array(exprs)) {
        k3c_buf_appendf(b, ", MatchExpressions:[]v1.LabelSelectorRequirement(nil)}");
        return;
    }
    k3c_buf_appendf(b, ", MatchExpressions:[]v1.LabelSelectorRequirement{");
    json_array_foreach(exprs, i, e)
    {
        k3c_buf_appendf(b, "%sv1.LabelSelectorRequirement{Key:", i ? ", " : "");
        append_quoted(b, or_empty(str_at(e, "key")));
        k3c_buf_appendf(b, ", Operator:");
        append_quoted(b, or_empty(str_at(e, "operator")));
        k3c_buf_appendf(b, ", Values:[]string{");
        json_array_foreach(json_object_get(e, "values"), j, v)
        {
            k3c_buf_appendf(b, "%s", j ? ", " : "");
            append_quoted(b, or_empty(json_string_value(v)));
        }
        k3c_buf_appendf(b, "}}");
    }
    k3c_buf_appendf(b, "}}");
}

/* "Invalid value: <shown>: detail"; shown is the value already printed. */
static void
cause_invalid(json_t *causes, const char *field, const char *shown, const char *detail)
{
    api_cause_add(causes, "FieldValueInvalid", field, "Invalid value: %s: %s", shown, detail);
}

static void
cause_invalid_str(json_t *causes, const char *field, const char *value, const char *detail)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    append_quoted(&b, value ? value : "");
    cause_invalid(causes, field, b.data, detail);
    k3c_buf_fini(&b);
}

static void
cause_invalid_int(json_t *causes, const char *field, json_int_t value, const char *detail)
{
    char shown[32];

    snprintf(shown, sizeof(shown), "%lld", (long long)value);
    cause_invalid(causes, field, shown, detail);
}

static void
cause_invalid_selector(json_t *causes, const char *field, const json_t *sel, const char *detail)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    append_go_selector(&b, sel);
    cause_invalid(causes, field, b.data, detail);
    k3c_buf_fini(&b);
}

static void
cause_required(json_t *causes, const char *field, const char *detail)
{
    if (is_empty(detail))
        api_cause_add(causes, "FieldValueRequired", field, "Required value");
    else
        api_cause_add(causes, "FieldValueRequired", field, "Required value: %s", detail);
}

static void
cause_forbidden(json_t *causes, const char *field, const char *detail)
{
    api_cause_add(causes, "FieldValueForbidden", field, "Forbidden: %s", detail);
}

static void
cause_duplicate(json_t *causes, const char *field, const char *value)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    append_quoted(&b, value);
    api_cause_add(causes, "FieldValueDuplicate", field, "Duplicate value: %s", b.data);
    k3c_buf_fini(&b);
}

static void
cause_too_long(json_t *causes, const char *field, long max)
{
    api_cause_add(causes, "FieldValueTooLong", field, "Too long: may not be more than %ld bytes",
                  max);
}

/* field.NotSupported: `Unsupported value: "x": supported values: "a", "b"`. */
static void
cause_not_supported(json_t *causes, const char *field, const char *value,
                    const char *const *supported)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "Unsupported value: ");
    append_quoted(&b, value);
    for (size_t i = 0; supported[i]; i++) {
        k3c_buf_appendf(&b, "%s", i ? ", " : ": supported values: ");
        append_quoted(&b, supported[i]);
    }
    api_cause_add(causes, "FieldValueNotSupported", field, "%s", b.data);
    k3c_buf_fini(&b);
}

/* An enumerated string field: Required when absent (if required), else one
 * of supported. */
static void
check_enum(json_t *causes, const char *field, const char *value, const char *const *supported,
           bool required)
{
    if (is_empty(value)) {
        if (required)
            cause_required(causes, field, NULL);
        return;
    }
    for (size_t i = 0; supported[i]; i++) {
        if (strcmp(value, supported[i]) == 0)
            return;
    }
    cause_not_supported(causes, field, value, supported);
}

static void
check_nonnegative(json_t *causes, const json_t *obj, const char *path)
{
    const json_t *v = api_json_path(obj, path);

    if (json_is_integer(v) && json_integer_value(v) < 0)
        cause_invalid_int(causes, path, json_integer_value(v), msg_nonnegative);
}

/* ---- formats (apimachinery util/validation) ----------------------------- */

/* A format check reports each problem as one message, as upstream's Is*
 * functions return []string; the sink turns them into causes (or only
 * counts them when causes is NULL). */
struct msg_sink {
    json_t *causes;
    const char *field;
    const char *value;
    const char *prefix; /* "prefix part ", "name part " */
    int count;
};

static void
sink_add(struct msg_sink *s, const char *msg)
{
    _cleanup_free_ char *full = NULL;

    s->count++;
    if (!s->causes)
        return;
    full = k3c_xasprintf("%s%s", s->prefix ? s->prefix : "", msg);
    cause_invalid_str(s->causes, s->field, s->value, full);
}

static void
sink_max_len(struct msg_sink *s, size_t max)
{
    char msg[64];

    snprintf(msg, sizeof(msg), "must be no more than %zu characters", max);
    sink_add(s, msg);
}

static bool
is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n). */
static bool
match_label(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    }
    return true;
}

/* label(\.label)* */
static bool
match_subdomain(const char *s)
{
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);

        if (!match_label(s, n))
            return false;
        if (!dot)
            return true;
        s = dot + 1;
    }
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over s[0..n). */
static bool
match_qname(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && !strchr("-_.", s[i]))
            return false;
    }
    return true;
}

static void
check_dns1123_label(const char *v, struct msg_sink *s)
{
    if (strlen(v) > MAX_LABEL_LEN)
        sink_max_len(s, MAX_LABEL_LEN);
    if (match_label(v, strlen(v)))
        return;
    sink_add(s, match_subdomain(v) ? "must not contain dots" : msg_dns1123_label);
}

static void
check_dns1123_subdomain(const char *v, struct msg_sink *s)
{
    if (strlen(v) > MAX_SUBDOMAIN_LEN)
        sink_max_len(s, MAX_SUBDOMAIN_LEN);
    if (!match_subdomain(v))
        sink_add(s, msg_dns1123_subdomain);
}

static void
check_dns1035_label(const char *v, struct msg_sink *s)
{
    size_t n = strlen(v);

    if (n > MAX_LABEL_LEN)
        sink_max_len(s, MAX_LABEL_LEN);
    if (!match_label(v, n) || !(v[0] >= 'a' && v[0] <= 'z'))
        sink_add(s, msg_dns1035_label);
}

/* IsQualifiedName: [prefix/]name, prefix a DNS-1123 subdomain. */
static void
check_qualified_name(const char *v, struct msg_sink *s)
{
    const char *slash = strchr(v, '/');
    const char *name = slash ? slash + 1 : v;
    const char *saved = s->prefix;

    if (slash && strchr(name, '/')) {
        _cleanup_free_ char *msg =
            k3c_xasprintf("a qualified name %s with an optional DNS subdomain prefix and '/' (e.g. "
                          "'example.com/MyName')",
                          msg_qname);

        sink_add(s, msg);
        return;
    }
    if (slash) {
        _cleanup_free_ char *prefix = k3c_xstrndup(v, (size_t)(slash - v));

        s->prefix = "prefix part ";
        if (!*prefix)
            sink_add(s, "must be non-empty");
        else
            check_dns1123_subdomain(prefix, s);
    }
    s->prefix = "name part ";
    if (!*name)
        sink_add(s, "must be non-empty");
    else if (strlen(name) > MAX_LABEL_LEN)
        sink_max_len(s, MAX_LABEL_LEN);
    if (!match_qname(name, strlen(name)))
        sink_add(s, msg_qname);
    s->prefix = saved;
}

static void
check_label_value(const char *v, struct msg_sink *s)
{
    if (strlen(v) > MAX_LABEL_LEN)
        sink_max_len(s, MAX_LABEL_LEN);
    if (*v && !match_qname(v, strlen(v)))
        sink_add(s, msg_label_value);
}

/* IsConfigMapKey: [-._a-zA-Z0-9]+, <= 253, not "." or "..", no "..". */
static void
check_config_key(const char *v, struct msg_sink *s)
{
    if (strlen(v) > MAX_SUBDOMAIN_LEN)
        sink_max_len(s, MAX_SUBDOMAIN_LEN);
    if (!*v ||
        strspn(v, "-._abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(v))
        sink_add(s, msg_config_key);
    if (strcmp(v, ".") == 0)
        sink_add(s, "must not be '.'");
    else if (strcmp(v, "..") == 0)
        sink_add(s, "must not be '..'");
    else if (strncmp(v, "..", 2) == 0)
        sink_add(s, "must not start with '..'");
}

/* Runs check on value and adds an Invalid cause at field per message. */
static int
check_field(json_t *causes, const char *field, const char *value,
            void (*check)(const char *, struct msg_sink *))
{
    struct msg_sink s = {.causes = causes, .field = field, .value = value};

    check(value, &s);
    return s.count;
}

bool
api_is_dns1123_subdomain(const char *s)
{
    return s && check_field(NULL, NULL, s, check_dns1123_subdomain) == 0;
}

bool
api_is_dns1123_label(const char *s)
{
    return s && check_field(NULL, NULL, s, check_dns1123_label) == 0;
}

/* ---- metadata ----------------------------------------------------------- */

/* ValidateLabels: qualified keys, valid values; all at field. */
static void
validate_labels(const json_t *labels, const char *field, json_t *causes)
{
    const char *k = NULL;
    json_t *v = NULL;

    json_object_foreach((json_t *)labels, k, v)
    {
        check_field(causes, field, k, check_qualified_name);
        if (!json_is_string(v))
            cause_invalid_str(causes, field, k, "label values must be strings");
        else
            check_field(causes, field, json_string_value(v), check_label_value);
    }
}

/* ValidateAnnotations: keys are qualified names (case-insensitive), the
 * total size of keys and values at most 256 KiB. */
static void
validate_annotations(const json_t *annotations, const char *field, json_t *causes)
{
    size_t total = 0;
    const char *k = NULL;
    json_t *v = NULL;

    json_object_foreach((json_t *)annotations, k, v)
    {
        _cleanup_free_ char *lower = k3c_xstrdup(k);
        struct msg_sink s = {.causes = causes, .field = field, .value = k};

        for (char *p = lower; *p; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
        check_qualified_name(lower, &s);
        total += strlen(k) + strlen(or_empty(json_string_value(v)));
    }
    if (total > MAX_ANNOTATIONS_SIZE)
        cause_too_long(causes, field, MAX_ANNOTATIONS_SIZE);
}

/* ValidateObjectMeta. generateName is checked with its trailing '-' masked;
 * a missing name is fine while generateName is set (the handler fills it). */
void
api_validate_metadata(const json_t *obj, bool namespaced, bool label_names, json_t *causes)
{
    void (*check_name)(const char *, struct msg_sink *) =
        label_names ? check_dns1123_label : check_dns1123_subdomain;
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = str_at(meta, "name");
    const char *gen = str_at(meta, "generateName");
    const char *ns = str_at(meta, "namespace");

    if (!is_empty(gen)) {
        _cleanup_free_ char *masked = k3c_xstrdup(gen);
        struct msg_sink s = {.causes = causes, .field = "metadata.generateName", .value = gen};

        if (masked[strlen(masked) - 1] == '-')
            masked[strlen(masked) - 1] = 'a';
        check_name(masked, &s);
    }
    if (is_empty(name) && is_empty(gen))
        cause_required(causes, "metadata.name", "name or generateName is required");
    else if (!is_empty(name))
        check_field(causes, "metadata.name", name, check_name);
    if (namespaced && is_empty(ns))
        cause_required(causes, "metadata.namespace", NULL);
    else if (namespaced)
        check_field(causes, "metadata.namespace", ns, check_dns1123_label);
    else if (!is_empty(ns))
        cause_forbidden(causes, "metadata.namespace", "not allowed on this type");
    validate_labels(json_object_get(meta, "labels"), "metadata.labels", causes);
    validate_annotations(json_object_get(meta, "annotations"), "metadata.annotations", causes);
}

/* ---- label selectors ---------------------------------------------------- */

/* ValidateLabelSelectorRequirement. */
static void
validate_requirement(const json_t *expr, const char *field, json_t *causes)
{
    const char *op = or_empty(str_at(expr, "operator"));
    const json_t *values = json_object_get(expr, "values");
    bool with_values = strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0;
    bool without_values = strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0;
    struct fpath f;
    size_t i = 0;
    const json_t *v = NULL;

    fpath(&f, "%s.values", field);
    if (with_values && json_array_size(values) == 0)
        cause_required(causes, f.s, "must be specified when `operator` is 'In' or 'NotIn'");
    else if (without_values && json_array_size(values) > 0)
        cause_forbidden(causes, f.s,
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    if (!with_values && !without_values)
        cause_invalid_str(causes, fpath(&f, "%s.operator", field), op,
                          "not a valid selector operator");
    check_field(causes, fpath(&f, "%s.key", field), or_empty(str_at(expr, "key")),
                check_qualified_name);
    json_array_foreach(values, i, v)
    {
        check_field(causes, fpath(&f, "%s.values[%zu]", field, i), or_empty(json_string_value(v)),
                    check_label_value);
    }
}

static void
validate_label_selector(const json_t *sel, const char *field, json_t *causes)
{
    struct fpath f;
    size_t i = 0;
    const json_t *e = NULL;

    validate_labels(json_object_get(sel, "matchLabels"), fpath(&f, "%s.matchLabels", field),
                    causes);
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, e)
    {
        validate_requirement(e, fpath(&f, "%s.matchExpressions[%zu]", field, i), causes);
    }
}

static bool
selector_is_empty(const json_t *sel)
{
    return json_object_size(json_object_get(sel, "matchLabels")) == 0 &&
           json_array_size(json_object_get(sel, "matchExpressions")) == 0;
}

static bool
value_in(const json_t *values, const char *v)
{
    size_t i = 0;
    const json_t *x = NULL;

    json_array_foreach(values, i, x)
    {
        if (v && json_string_value(x) && strcmp(json_string_value(x), v) == 0)
            return true;
    }
    return false;
}

static bool
requirement_matches(const json_t *expr, const json_t *labels)
{
    const char *op = or_empty(str_at(expr, "operator"));
    const json_t *have = json_object_get(labels, or_empty(str_at(expr, "key")));
    bool in = value_in(json_object_get(expr, "values"), json_string_value(have));

    if (strcmp(op, "In") == 0)
        return in;
    if (strcmp(op, "NotIn") == 0)
        return !in;
    if (strcmp(op, "Exists") == 0)
        return have != NULL;
    return strcmp(op, "DoesNotExist") == 0 && have == NULL;
}

static bool
selector_matches(const json_t *sel, const json_t *labels)
{
    const char *k = NULL;
    json_t *v = NULL;
    size_t i = 0;
    const json_t *e = NULL;

    json_object_foreach(json_object_get(sel, "matchLabels"), k, v)
    {
        const char *have = json_string_value(json_object_get(labels, k));

        if (!have || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            return false;
    }
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, e)
    {
        if (!requirement_matches(e, labels))
            return false;
    }
    return true;
}

/* "`selector` does not match template `labels`" at spec.template.metadata.labels. */
static void
check_selector_matches_template(const json_t *spec, json_t *causes)
{
    const json_t *labels = api_json_path(spec, "template.metadata.labels");
    struct k3c_buf b;

    if (selector_matches(json_object_get(spec, "selector"), labels))
        return;
    k3c_buf_init(&b);
    append_go_map(&b, labels);
    cause_invalid(causes, "spec.template.metadata.labels", b.data,
                  "`selector` does not match template `labels`");
    k3c_buf_fini(&b);
}

/* ---- pod specs ---------------------------------------------------------- */

static const char *const restart_policies[] = {"Always", "OnFailure", "Never", NULL};
static const char *const restart_always[] = {"Always", NULL};
static const char *const restart_job[] = {"OnFailure", "Never", NULL};
static const char *const dns_policies[] = {"ClusterFirst", "ClusterFirstWithHostNet", "Default",
                                           "None", NULL};
static const char *const pull_policies[] = {"Always", "IfNotPresent", "Never", NULL};
static const char *const protocols[] = {"SCTP", "TCP", "UDP", NULL};

static void
check_port_number(json_t *causes, const char *field, const json_t *port, bool required)
{
    if (!port || json_integer_value(port) == 0) {
        if (required)
            cause_required(causes, field, NULL);
        return;
    }
    if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535)
        cause_invalid_int(causes, field, json_integer_value(port), msg_port_range);
}

static void
validate_container_ports(const json_t *ports, const char *field, json_t *causes)
{
    struct fpath f;
    size_t i = 0;
    const json_t *p = NULL;

    json_array_foreach(ports, i, p)
    {
        check_port_number(causes, fpath(&f, "%s[%zu].containerPort", field, i),
                          json_object_get(p, "containerPort"), true);
        check_port_number(causes, fpath(&f, "%s[%zu].hostPort", field, i),
                          json_object_get(p, "hostPort"), false);
        check_enum(causes, fpath(&f, "%s[%zu].protocol", field, i), str_at(p, "protocol"),
                   protocols, true);
    }
}

/* validateContainerCommon plus uniqueness against the names seen so far. */
static void
validate_containers(const json_t *containers, const char *field, json_t *names, json_t *causes)
{
    struct fpath f;
    size_t i = 0;
    const json_t *c = NULL;

    json_array_foreach(containers, i, c)
    {
        const char *name = str_at(c, "name");

        fpath(&f, "%s[%zu].name", field, i);
        if (is_empty(name))
            cause_required(causes, f.s, NULL);
        else
            check_field(causes, f.s, name, check_dns1123_label);
        if (json_object_get(names, or_empty(name)))
            cause_duplicate(causes, f.s, or_empty(name));
        json_object_set_new(names, or_empty(name), json_true());
        fpath(&f, "%s[%zu].image", field, i);
        if (is_empty(str_at(c, "image")))
            cause_required(causes, f.s, NULL);
        validate_container_ports(json_object_get(c, "ports"), fpath(&f, "%s[%zu].ports", field, i),
                                 causes);
        check_enum(causes, fpath(&f, "%s[%zu].imagePullPolicy", field, i),
                   str_at(c, "imagePullPolicy"), pull_policies, true);
    }
}

/* ValidatePodSpec at field ("spec", "spec.template.spec"). */
static void
validate_pod_spec(const json_t *spec, const char *field, json_t *causes)
{
    _cleanup_json_ json_t *names = json_object();
    const json_t *containers = json_object_get(spec, "containers");
    struct fpath f;

    fpath(&f, "%s.containers", field);
    if (json_array_size(containers) == 0)
        cause_required(causes, f.s, NULL);
    validate_containers(containers, f.s, names, causes);
    validate_containers(json_object_get(spec, "initContainers"),
                        fpath(&f, "%s.initContainers", field), names, causes);
    check_enum(causes, fpath(&f, "%s.restartPolicy", field), str_at(spec, "restartPolicy"),
               restart_policies, true);
    check_enum(causes, fpath(&f, "%s.dnsPolicy", field), str_at(spec, "dnsPolicy"), dns_policies,
               true);
    validate_labels(json_object_get(spec, "nodeSelector"), fpath(&f, "%s.nodeSelector", field),
                    causes);
}

/* ValidatePodTemplateSpec at spec.template, then the owner's restart rule. */
static void
validate_pod_template(const json_t *spec, const char *const *restart, json_t *causes)
{
    const json_t *tmpl = json_object_get(spec, "template");
    const char *policy = str_at(tmpl, "spec.restartPolicy");

    validate_labels(api_json_path(tmpl, "metadata.labels"), "spec.template.metadata.labels",
                    causes);
    validate_annotations(api_json_path(tmpl, "metadata.annotations"),
                         "spec.template.metadata.annotations", causes);
    validate_pod_spec(json_object_get(tmpl, "spec"), "spec.template.spec", causes);
    for (size_t i = 0; restart[i]; i++) {
        if (policy && strcmp(policy, restart[i]) == 0)
            return;
    }
    cause_not_supported(causes, "spec.template.spec.restartPolicy", or_empty(policy), restart);
}

void
api_validate_pod(const json_t *obj, const json_t *old, json_t *causes)
{
    (void)old;
    validate_pod_spec(json_object_get(obj, "spec"), "spec", causes);
}

/* ---- workloads ---------------------------------------------------------- */

static void
check_immutable_selector(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *sel = api_json_path(obj, "spec.selector");

    if (old && !json_equal((json_t *)sel, (json_t *)api_json_path(old, "spec.selector")))
        cause_invalid_selector(causes, "spec.selector", sel, msg_immutable);
}

/* ValidateDeploymentSpec / ValidateReplicaSetSpec / ValidateDaemonSetSpec:
 * a selector is required and must select the template; what = "deployment"
 * or "daemonset" for upstream's empty-selector message. */
static void
validate_workload(const json_t *obj, const json_t *old, const char *what, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *sel = json_object_get(spec, "selector");
    char detail[64];

    check_nonnegative(causes, obj, "spec.replicas");
    if (!json_is_object(sel)) {
        cause_required(causes, "spec.selector", NULL);
        return;
    }
    validate_label_selector(sel, "spec.selector", causes);
    if (selector_is_empty(sel)) {
        snprintf(detail, sizeof(detail), "empty selector is invalid for %s", what);
        cause_invalid_selector(causes, "spec.selector", sel, detail);
    } else {
        check_selector_matches_template(spec, causes);
    }
    validate_pod_template(spec, restart_always, causes);
    check_nonnegative(causes, obj, "spec.revisionHistoryLimit");
    check_nonnegative(causes, obj, "spec.minReadySeconds");
    check_immutable_selector(obj, old, causes);
}

void
api_validate_deployment(const json_t *obj, const json_t *old, json_t *causes)
{
    validate_workload(obj, old, "deployment", causes);
}

void
api_validate_replicaset(const json_t *obj, const json_t *old, json_t *causes)
{
    validate_workload(obj, old, "deployment", causes);
}

void
api_validate_daemonset(const json_t *obj, const json_t *old, json_t *causes)
{
    validate_workload(obj, old, "daemonset", causes);
}

static const char *const completion_modes[] = {"NonIndexed", "Indexed", NULL};

/* ValidateJob. The selector is generated at create (api_defaults_job), so
 * it is checked only when present. */
void
api_validate_job(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *sel = json_object_get(spec, "selector");

    check_nonnegative(causes, obj, "spec.parallelism");
    check_nonnegative(causes, obj, "spec.completions");
    check_nonnegative(causes, obj, "spec.backoffLimit");
    if (json_is_object(sel)) {
        validate_label_selector(sel, "spec.selector", causes);
        if (!selector_is_empty(sel))
            check_selector_matches_template(spec, causes);
    }
    validate_pod_template(spec, restart_job, causes);
    check_enum(causes, "spec.completionMode", str_at(spec, "completionMode"), completion_modes,
               false);
    if (!old)
        return;
    check_immutable_selector(obj, old, causes);
    if (!json_equal((json_t *)api_json_path(obj, "spec.completionMode"),
                    (json_t *)api_json_path(old, "spec.completionMode")))
        cause_invalid_str(causes, "spec.completionMode", str_at(spec, "completionMode"),
                          msg_immutable);
}

/* ---- services ----------------------------------------------------------- */

static const char *const service_types[] = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort",
                                            NULL};
static const char *const session_affinities[] = {"ClientIP", "None", NULL};

/* validateServicePort; names are required once there are several ports. */
static void
validate_service_port(const json_t *p, size_t i, bool need_name, const char *type, json_t *names,
                      json_t *causes)
{
    const char *name = str_at(p, "name");
    const json_t *target = json_object_get(p, "targetPort");
    const json_t *node_port = json_object_get(p, "nodePort");
    struct fpath f;

    fpath(&f, "spec.ports[%zu].name", i);
    if (is_empty(name) && need_name)
        cause_required(causes, f.s, NULL);
    else if (!is_empty(name) && check_field(causes, f.s, name, check_dns1123_label) == 0 &&
             json_object_get(names, name))
        cause_duplicate(causes, f.s, name);
    if (!is_empty(name))
        json_object_set_new(names, name, json_true());
    check_port_number(causes, fpath(&f, "spec.ports[%zu].port", i), json_object_get(p, "port"),
                      true);
    check_enum(causes, fpath(&f, "spec.ports[%zu].protocol", i), str_at(p, "protocol"), protocols,
               true);
    if (json_is_integer(target))
        check_port_number(causes, fpath(&f, "spec.ports[%zu].targetPort", i), target, false);
    fpath(&f, "spec.ports[%zu].nodePort", i);
    if (json_integer_value(node_port) != 0 && strcmp(type ? type : "", "ClusterIP") == 0)
        cause_forbidden(causes, f.s, "may not be used when `type` is 'ClusterIP'");
    else
        check_port_number(causes, f.s, node_port, false);
}

/* Service names are DNS-1035 labels. api_validate_metadata has reported a
 * name that is not even a DNS-1123 subdomain; the rest is reported here. */
static void
check_service_name(const json_t *obj, json_t *causes)
{
    const char *name = str_at(obj, "metadata.name");

    if (!is_empty(name) && api_is_dns1123_subdomain(name))
        check_field(causes, "metadata.name", name, check_dns1035_label);
}

void
api_validate_service(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *ports = json_object_get(spec, "ports");
    const char *type = str_at(spec, "type");
    bool external = type && strcmp(type, "ExternalName") == 0;
    bool headless = strcmp(or_empty(str_at(spec, "clusterIP")), "None") == 0;
    _cleanup_json_ json_t *names = json_object();
    size_t i = 0;
    const json_t *p = NULL;

    (void)old;
    check_service_name(obj, causes);
    if (json_array_size(ports) == 0 && !headless && !external)
        cause_required(causes, "spec.ports", NULL);
    if (external && is_empty(str_at(spec, "externalName")))
        cause_required(causes, "spec.externalName", NULL);
    else if (external)
        check_field(causes, "spec.externalName", str_at(spec, "externalName"),
                    check_dns1123_subdomain);
    json_array_foreach(ports, i, p)
    {
        validate_service_port(p, i, json_array_size(ports) > 1, type, names, causes);
    }
    validate_labels(json_object_get(spec, "selector"), "spec.selector", causes);
    check_enum(causes, "spec.sessionAffinity", str_at(spec, "sessionAffinity"), session_affinities,
               true);
    check_enum(causes, "spec.type", type, service_types, true);
}

/* ---- configmaps, secrets ------------------------------------------------ */

/* Keys as IsConfigMapKey at "<bag>[<key>]"; returns the values' total size
 * (base64-decoded when decode, with undecodable values reported). */
static size_t
validate_data_bag(const json_t *bag, const char *name, bool decode, json_t *causes)
{
    size_t total = 0;
    const char *k = NULL;
    json_t *v = NULL;

    json_object_foreach((json_t *)bag, k, v)
    {
        _cleanup_free_ char *f = k3c_xasprintf("%s[%s]", name, k);
        _cleanup_free_ char *raw = NULL;
        size_t len = strlen(or_empty(json_string_value(v)));

        check_field(causes, f, k, check_config_key);
        if (decode) {
            raw = k3c_base64_decode(or_empty(json_string_value(v)), &len);
            if (!raw || !json_is_string(v))
                api_cause_add(causes, "FieldValueInvalid", f, "Invalid value: illegal base64 data");
        }
        total += len;
    }
    return total;
}

/* immutable: true freezes data and the flag itself. */
static void
check_immutable_data(const json_t *obj, const json_t *old, json_t *causes)
{
    static const char *const bags[] = {"data", "binaryData", NULL};
    static const char detail[] = "field is immutable when `immutable` is set";

    if (!old || !json_is_true(json_object_get(old, "immutable")))
        return;
    if (!json_is_true(json_object_get(obj, "immutable")))
        cause_forbidden(causes, "immutable", detail);
    for (size_t i = 0; bags[i]; i++) {
        if (!json_equal(json_object_get(obj, bags[i]), json_object_get(old, bags[i])))
            cause_forbidden(causes, bags[i], detail);
    }
}

void
api_validate_configmap(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *data = json_object_get(obj, "data");
    const json_t *binary = json_object_get(obj, "binaryData");
    size_t total = 0;
    const char *k = NULL;
    json_t *v = NULL;

    total += validate_data_bag(data, "data", false, causes);
    total += validate_data_bag(binary, "binaryData", true, causes);
    json_object_foreach((json_t *)data, k, v)
    {
        _cleanup_free_ char *f = k3c_xasprintf("data[%s]", k);

        if (json_object_get(binary, k))
            cause_invalid_str(causes, f, k, "duplicate of key present in binaryData");
    }
    if (total > MAX_DATA_SIZE)
        cause_too_long(causes, "", MAX_DATA_SIZE);
    check_immutable_data(obj, old, causes);
}

/* Keys a typed secret must carry (ValidateSecret). */
static const struct {
    const char *type, *key;
} secret_required_keys[] = {
    {"kubernetes.io/dockercfg", ".dockercfg"},
    {"kubernetes.io/dockerconfigjson", ".dockerconfigjson"},
    {"kubernetes.io/ssh-auth", "ssh-privatekey"},
    {"kubernetes.io/tls", "tls.crt"},
    {"kubernetes.io/tls", "tls.key"},
};

void
api_validate_secret(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *data = json_object_get(obj, "data");
    const char *type = or_empty(str_at(obj, "type"));

    if (validate_data_bag(data, "data", true, causes) > MAX_DATA_SIZE)
        cause_too_long(causes, "data", MAX_DATA_SIZE);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(secret_required_keys); i++) {
        _cleanup_free_ char *f = NULL;

        if (strcmp(type, secret_required_keys[i].type) != 0 ||
            json_object_get(data, secret_required_keys[i].key))
            continue;
        f = k3c_xasprintf("data[%s]", secret_required_keys[i].key);
        cause_required(causes, f, NULL);
    }
    if (strcmp(type, "kubernetes.io/service-account-token") == 0 &&
        is_empty(str_at(json_object_get(json_object_get(obj, "metadata"), "annotations"),
                        "kubernetes.io/service-account.name")))
        cause_required(causes, "metadata.annotations[kubernetes.io/service-account.name]", NULL);
    if (old && strcmp(type, or_empty(str_at(old, "type"))) != 0)
        cause_invalid_str(causes, "type", type, msg_immutable);
    check_immutable_data(obj, old, causes);
}

/* ---- leases, endpointslices --------------------------------------------- */

void
api_validate_lease(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *duration = api_json_path(obj, "spec.leaseDurationSeconds");

    (void)old;
    if (json_is_integer(duration) && json_integer_value(duration) <= 0)
        cause_invalid_int(causes, "spec.leaseDurationSeconds", json_integer_value(duration),
                          "must be greater than 0");
    check_nonnegative(causes, obj, "spec.leaseTransitions");
}

static const char *const address_types[] = {"FQDN", "IPv4", "IPv6", NULL};

void
api_validate_endpointslice(const json_t *obj, const json_t *old, json_t *causes)
{
    struct fpath f;
    size_t i = 0;
    const json_t *ep = NULL;

    check_enum(causes, "addressType", str_at(obj, "addressType"), address_types, true);
    if (old &&
        !json_equal(json_object_get(obj, "addressType"), json_object_get(old, "addressType")))
        cause_invalid_str(causes, "addressType", str_at(obj, "addressType"), msg_immutable);
    json_array_foreach(json_object_get(obj, "endpoints"), i, ep)
    {
        fpath(&f, "endpoints[%zu].addresses", i);
        if (json_array_size(json_object_get(ep, "addresses")) == 0)
            cause_required(causes, f.s, "must contain at least 1 address");
    }
}

/* ---- defaults ----------------------------------------------------------- */

/* Sets obj[key] = value unless it is there already (not null); consumes value. */
static void
default_take(json_t *obj, const char *key, json_t *value)
{
    const json_t *have = json_object_get(obj, key);

    if (!json_is_object(obj) || (have && !json_is_null(have)))
        json_decref(value);
    else
        json_object_set_new(obj, key, value);
}

/* obj[key] as an object, created when absent. NULL if obj is not an object. */
static json_t *
ensure_object(json_t *obj, const char *key)
{
    json_t *have = json_object_get(obj, key);

    if (json_is_object(have) || !json_is_object(obj))
        return json_is_object(have) ? have : NULL;
    json_object_set_new(obj, key, json_object());
    return json_object_get(obj, key);
}

/* SetDefaults_Container's pull policy: Always for ":latest" or no tag (and
 * no digest), else IfNotPresent (parsers.ParseImageName). */
static const char *
default_pull_policy(const char *image)
{
    _cleanup_free_ char *ref = k3c_xstrdup(or_empty(image));
    char *at = strchr(ref, '@');
    bool digest = at != NULL;
    const char *slash = NULL, *colon = NULL;

    if (at)
        *at = '\0';
    slash = strrchr(ref, '/');
    colon = strrchr(slash ? slash : ref, ':');
    if (colon)
        return strcmp(colon + 1, "latest") == 0 ? "Always" : "IfNotPresent";
    return digest ? "IfNotPresent" : "Always";
}

static void
container_defaults(json_t *c)
{
    size_t i = 0;
    json_t *p = NULL;

    default_take(c, "imagePullPolicy", json_string(default_pull_policy(str_at(c, "image"))));
    default_take(c, "terminationMessagePath", json_string("/dev/termination-log"));
    default_take(c, "terminationMessagePolicy", json_string("File"));
    json_array_foreach(json_object_get(c, "ports"), i, p)
    {
        default_take(p, "protocol", json_string("TCP"));
    }
}

/* SetDefaults_PodSpec and the containers in it. */
static void
pod_spec_defaults(json_t *spec)
{
    static const char *const lists[] = {"containers", "initContainers", NULL};

    if (!json_is_object(spec))
        return;
    default_take(spec, "dnsPolicy", json_string("ClusterFirst"));
    default_take(spec, "restartPolicy", json_string("Always"));
    default_take(spec, "securityContext", json_object());
    default_take(spec, "terminationGracePeriodSeconds", json_integer(30));
    default_take(spec, "schedulerName", json_string("default-scheduler"));
    for (size_t l = 0; lists[l]; l++) {
        size_t i = 0;
        json_t *c = NULL;

        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            container_defaults(c);
        }
    }
}

static void
template_defaults(json_t *obj)
{
    pod_spec_defaults(ensure_object(ensure_object(ensure_object(obj, "spec"), "template"), "spec"));
}

void
api_defaults_pod(json_t *obj)
{
    json_t *spec = ensure_object(obj, "spec");

    pod_spec_defaults(spec);
    default_take(spec, "enableServiceLinks", json_true());
    default_take(ensure_object(obj, "status"), "phase", json_string("Pending"));
}

/* True if tolerations has one for taint key with effect NoExecute (an empty
 * key or effect matches any, as upstream's admission checks it). */
static bool
tolerates_no_execute(const json_t *tolerations, const char *key)
{
    size_t i;
    json_t *t;

    json_array_foreach(tolerations, i, t)
    {
        const char *k = or_empty(str_at(t, "key"));
        const char *e = or_empty(str_at(t, "effect"));

        if ((!*k || strcmp(k, key) == 0) && (!*e || strcmp(e, "NoExecute") == 0))
            return true;
    }
    return false;
}

void
api_pod_default_tolerations(json_t *pod, int not_ready_s, int unreachable_s)
{
    static const char *const keys[] = {"node.kubernetes.io/not-ready",
                                       "node.kubernetes.io/unreachable"};
    const int secs[] = {not_ready_s > 0 ? not_ready_s : 300,
                        unreachable_s > 0 ? unreachable_s : 300};
    json_t *spec = ensure_object(pod, "spec");
    json_t *tols = json_object_get(spec, "tolerations");

    if (!json_is_array(tols)) {
        tols = json_array();
        json_object_set_new(spec, "tolerations", tols);
    }
    for (size_t i = 0; i < 2; i++) {
        if (tolerates_no_execute(tols, keys[i]))
            continue;
        json_array_append_new(tols, json_pack("{s:s, s:s, s:s, s:I}", "key", keys[i], "operator",
                                              "Exists", "effect", "NoExecute", "tolerationSeconds",
                                              (json_int_t)secs[i]));
    }
}

void
api_defaults_namespace(json_t *obj)
{
    json_t *meta = ensure_object(obj, "metadata");
    const char *name = str_at(meta, "name");

    if (!is_empty(name))
        json_object_set_new(ensure_object(meta, "labels"), "kubernetes.io/metadata.name",
                            json_string(name));
    default_take(ensure_object(obj, "spec"), "finalizers", json_pack("[s]", "kubernetes"));
    default_take(ensure_object(obj, "status"), "phase", json_string("Active"));
}

/* SetDefaults_Service (IP families and allocation belong to the registry). */
void
api_defaults_service(json_t *obj)
{
    json_t *spec = ensure_object(obj, "spec");
    const char *type = NULL;
    size_t i = 0;
    json_t *p = NULL;

    default_take(spec, "type", json_string("ClusterIP"));
    default_take(spec, "sessionAffinity", json_string("None"));
    type = or_empty(str_at(spec, "type"));
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        const json_t *target = json_object_get(p, "targetPort");

        default_take(p, "protocol", json_string("TCP"));
        if (!target || (json_is_integer(target) && json_integer_value(target) == 0) ||
            (json_is_string(target) && !*json_string_value(target)))
            json_object_set(p, "targetPort", json_object_get(p, "port"));
    }
    if (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0 ||
        (strcmp(type, "ClusterIP") == 0 && json_array_size(json_object_get(spec, "externalIPs"))))
        default_take(spec, "externalTrafficPolicy", json_string("Cluster"));
    if (strcmp(type, "ExternalName") != 0)
        default_take(spec, "internalTrafficPolicy", json_string("Cluster"));
    if (strcmp(type, "LoadBalancer") == 0)
        default_take(spec, "allocateLoadBalancerNodePorts", json_true());
}

/* type Opaque; stringData is folded into data (base64), as upstream's
 * conversion does, so it is never stored. */
void
api_defaults_secret(json_t *obj)
{
    json_t *strings = json_object_get(obj, "stringData");
    json_t *data = NULL;
    const char *k = NULL;
    json_t *v = NULL;

    default_take(obj, "type", json_string("Opaque"));
    if (!json_is_object(strings) || json_object_size(strings) == 0) {
        json_object_del(obj, "stringData");
        return;
    }
    data = ensure_object(obj, "data");
    json_object_foreach(strings, k, v)
    {
        const char *s = or_empty(json_string_value(v));
        _cleanup_free_ char *enc = k3c_base64_encode(s, strlen(s));

        json_object_set_new(data, k, json_string(enc));
    }
    json_object_del(obj, "stringData");
}

void
api_defaults_deployment(json_t *obj)
{
    json_t *spec = ensure_object(obj, "spec");
    json_t *strategy = ensure_object(spec, "strategy");

    default_take(spec, "replicas", json_integer(1));
    default_take(strategy, "type", json_string("RollingUpdate"));
    if (strcmp(or_empty(str_at(strategy, "type")), "RollingUpdate") == 0) {
        json_t *ru = ensure_object(strategy, "rollingUpdate");

        default_take(ru, "maxUnavailable", json_string("25%"));
        default_take(ru, "maxSurge", json_string("25%"));
    }
    default_take(spec, "revisionHistoryLimit", json_integer(10));
    default_take(spec, "progressDeadlineSeconds", json_integer(600));
    template_defaults(obj);
}

void
api_defaults_replicaset(json_t *obj)
{
    default_take(ensure_object(obj, "spec"), "replicas", json_integer(1));
    template_defaults(obj);
}

void
api_defaults_daemonset(json_t *obj)
{
    json_t *spec = ensure_object(obj, "spec");
    json_t *strategy = ensure_object(spec, "updateStrategy");

    default_take(strategy, "type", json_string("RollingUpdate"));
    if (strcmp(or_empty(str_at(strategy, "type")), "RollingUpdate") == 0) {
        json_t *ru = ensure_object(strategy, "rollingUpdate");

        default_take(ru, "maxUnavailable", json_integer(1));
        default_take(ru, "maxSurge", json_integer(0));
    }
    default_take(spec, "revisionHistoryLimit", json_integer(10));
    template_defaults(obj);
}

/* The job strategy's generateSelector: pods get job-name and controller-uid
 * labels (legacy and batch.kubernetes.io/ forms) and the selector picks the
 * uid. Only for a job with a uid, no selector and no manualSelector. */
static void
job_generate_selector(json_t *obj, json_t *spec)
{
    const char *name = str_at(obj, "metadata.name");
    const char *uid = str_at(obj, "metadata.uid");
    json_t *labels = NULL;

    if (is_empty(uid) || json_object_get(spec, "selector") ||
        json_is_true(json_object_get(spec, "manualSelector")))
        return;
    labels = ensure_object(ensure_object(ensure_object(spec, "template"), "metadata"), "labels");
    default_take(labels, "job-name", json_string(or_empty(name)));
    default_take(labels, "batch.kubernetes.io/job-name", json_string(or_empty(name)));
    default_take(labels, "controller-uid", json_string(uid));
    default_take(labels, "batch.kubernetes.io/controller-uid", json_string(uid));
    json_object_set_new(
        spec, "selector",
        json_pack("{s:{s:s}}", "matchLabels", "batch.kubernetes.io/controller-uid", uid));
}

/* SetDefaults_Job. The template's restartPolicy gets SetDefaults_PodSpec's
 * Always like every pod template, which validation then rejects for a job
 * exactly as upstream does. */
void
api_defaults_job(json_t *obj)
{
    json_t *spec = ensure_object(obj, "spec");
    bool had_labels = json_is_object(api_json_path(spec, "template.metadata.labels"));
    json_t *meta = ensure_object(obj, "metadata");

    if (!json_object_get(spec, "completions") && !json_object_get(spec, "parallelism"))
        default_take(spec, "completions", json_integer(1));
    default_take(spec, "parallelism", json_integer(1));
    default_take(spec, "backoffLimit",
                 json_integer(json_object_get(spec, "backoffLimitPerIndex") ? 2147483647 : 6));
    default_take(spec, "completionMode", json_string("NonIndexed"));
    default_take(spec, "suspend", json_false());
    default_take(
        spec, "podReplacementPolicy",
        json_string(json_object_get(spec, "podFailurePolicy") ? "Failed" : "TerminatingOrFailed"));
    job_generate_selector(obj, spec);
    /* Upstream shares the template's label map with the job when the job
     * has none, so the job also shows the generated labels. */
    if (had_labels && json_object_size(json_object_get(meta, "labels")) == 0)
        json_object_set_new(meta, "labels",
                            json_deep_copy(api_json_path(spec, "template.metadata.labels")));
    template_defaults(obj);
}

/* ---- for the kinds in their own files (kind_*.c) ------------------------ */

void
api_validate_label_selector(const json_t *sel, const char *field, json_t *causes)
{
    validate_label_selector(sel, field, causes);
}
