/* SPDX-License-Identifier: Apache-2.0
 * api_validate.c - the validation and defaulting helpers every kind uses,
 * after apimachinery's util/validation, pkg/apis/core/validation's metadata
 * and selector checks and upstream's SetDefaults_* helpers (Kubernetes 1.32);
 * each kind's own rules are in its kind_<name>.c. Each problem becomes one
 * Status cause worded as upstream's field.Error.ErrorBody() ("Invalid value:
 * "x": ..."), so `kubectl apply` prints the same lines. Pure functions of the
 * objects passed in; no state. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/labels.h"
#include "base/util.h"

#define MAX_LABEL_LEN        63
#define MAX_SUBDOMAIN_LEN    253
#define MAX_ANNOTATIONS_SIZE (256 * 1024)

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
const char api_msg_port_range[] = "must be between 1 and 65535, inclusive";
static const char msg_nonnegative[] = "must be greater than or equal to 0";
const char api_msg_immutable[] = "field is immutable";

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

const char *
api_str_at(const json_t *obj, const char *path)
{
    return json_string_value(api_json_path(obj, path));
}

const char *
api_or_empty(const char *s)
{
    return s ? s : "";
}

bool
api_is_empty(const char *s)
{
    return !s || !*s;
}

const char *
api_fpath(struct fpath *p, const char *fmt, ...)
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
    if (!api_is_empty(field))
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
        append_quoted(b, api_or_empty(json_string_value(json_object_get(map, keys[i]))));
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
        append_quoted(b, api_or_empty(api_str_at(e, "key")));
        k3c_buf_appendf(b, ", Operator:");
        append_quoted(b, api_or_empty(api_str_at(e, "operator")));
        k3c_buf_appendf(b, ", Values:[]string{");
        json_array_foreach(json_object_get(e, "values"), j, v)
        {
            k3c_buf_appendf(b, "%s", j ? ", " : "");
            append_quoted(b, api_or_empty(json_string_value(v)));
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

void
api_cause_invalid_str(json_t *causes, const char *field, const char *value, const char *detail)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    append_quoted(&b, value ? value : "");
    cause_invalid(causes, field, b.data, detail);
    k3c_buf_fini(&b);
}

void
api_cause_invalid_int(json_t *causes, const char *field, json_int_t value, const char *detail)
{
    char shown[32];

    snprintf(shown, sizeof(shown), "%lld", (long long)value);
    cause_invalid(causes, field, shown, detail);
}

void
api_cause_invalid_selector(json_t *causes, const char *field, const json_t *sel, const char *detail)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    append_go_selector(&b, sel);
    cause_invalid(causes, field, b.data, detail);
    k3c_buf_fini(&b);
}

void
api_cause_required(json_t *causes, const char *field, const char *detail)
{
    if (api_is_empty(detail))
        api_cause_add(causes, "FieldValueRequired", field, "Required value");
    else
        api_cause_add(causes, "FieldValueRequired", field, "Required value: %s", detail);
}

void
api_cause_forbidden(json_t *causes, const char *field, const char *detail)
{
    api_cause_add(causes, "FieldValueForbidden", field, "Forbidden: %s", detail);
}

void
api_cause_duplicate(json_t *causes, const char *field, const char *value)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    append_quoted(&b, value);
    api_cause_add(causes, "FieldValueDuplicate", field, "Duplicate value: %s", b.data);
    k3c_buf_fini(&b);
}

void
api_cause_too_long(json_t *causes, const char *field, long max)
{
    api_cause_add(causes, "FieldValueTooLong", field, "Too long: may not be more than %ld bytes",
                  max);
}

/* field.NotSupported: `Unsupported value: "x": supported values: "a", "b"`. */
void
api_cause_not_supported(json_t *causes, const char *field, const char *value,
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
void
api_check_enum(json_t *causes, const char *field, const char *value, const char *const *supported,
               bool required)
{
    if (api_is_empty(value)) {
        if (required)
            api_cause_required(causes, field, NULL);
        return;
    }
    for (size_t i = 0; supported[i]; i++) {
        if (strcmp(value, supported[i]) == 0)
            return;
    }
    api_cause_not_supported(causes, field, value, supported);
}

void
api_check_nonnegative(json_t *causes, const json_t *obj, const char *path)
{
    const json_t *v = api_json_path(obj, path);

    if (json_is_integer(v) && json_integer_value(v) < 0)
        api_cause_invalid_int(causes, path, json_integer_value(v), msg_nonnegative);
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
    api_cause_invalid_str(s->causes, s->field, s->value, full);
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

void
api_check_dns1123_label(const char *v, struct msg_sink *s)
{
    if (strlen(v) > MAX_LABEL_LEN)
        sink_max_len(s, MAX_LABEL_LEN);
    if (match_label(v, strlen(v)))
        return;
    sink_add(s, match_subdomain(v) ? "must not contain dots" : msg_dns1123_label);
}

void
api_check_dns1123_subdomain(const char *v, struct msg_sink *s)
{
    if (strlen(v) > MAX_SUBDOMAIN_LEN)
        sink_max_len(s, MAX_SUBDOMAIN_LEN);
    if (!match_subdomain(v))
        sink_add(s, msg_dns1123_subdomain);
}

void
api_check_dns1035_label(const char *v, struct msg_sink *s)
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
            api_check_dns1123_subdomain(prefix, s);
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
void
api_check_config_key(const char *v, struct msg_sink *s)
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
int
api_check_field(json_t *causes, const char *field, const char *value,
                void (*check)(const char *, struct msg_sink *))
{
    struct msg_sink s = {.causes = causes, .field = field, .value = value};

    check(value, &s);
    return s.count;
}

bool
api_is_dns1123_subdomain(const char *s)
{
    return s && api_check_field(NULL, NULL, s, api_check_dns1123_subdomain) == 0;
}

bool
api_is_dns1123_label(const char *s)
{
    return s && api_check_field(NULL, NULL, s, api_check_dns1123_label) == 0;
}

/* ---- metadata ----------------------------------------------------------- */

/* ValidateLabels: qualified keys, valid values; all at field. */
void
api_validate_labels(const json_t *labels, const char *field, json_t *causes)
{
    const char *k = NULL;
    json_t *v = NULL;

    json_object_foreach((json_t *)labels, k, v)
    {
        api_check_field(causes, field, k, check_qualified_name);
        if (!json_is_string(v))
            api_cause_invalid_str(causes, field, k, "label values must be strings");
        else
            api_check_field(causes, field, json_string_value(v), check_label_value);
    }
}

/* ValidateAnnotations: keys are qualified names (case-insensitive), the
 * total size of keys and values at most 256 KiB. */
void
api_validate_annotations(const json_t *annotations, const char *field, json_t *causes)
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
        total += strlen(k) + strlen(api_or_empty(json_string_value(v)));
    }
    if (total > MAX_ANNOTATIONS_SIZE)
        api_cause_too_long(causes, field, MAX_ANNOTATIONS_SIZE);
}

/* ValidateObjectMeta. generateName is checked with its trailing '-' masked;
 * a missing name is fine while generateName is set (the handler fills it). */
void
api_validate_metadata(const json_t *obj, bool namespaced, bool label_names, json_t *causes)
{
    void (*check_name)(const char *, struct msg_sink *) =
        label_names ? api_check_dns1123_label : api_check_dns1123_subdomain;
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = api_str_at(meta, "name");
    const char *gen = api_str_at(meta, "generateName");
    const char *ns = api_str_at(meta, "namespace");

    if (!api_is_empty(gen)) {
        _cleanup_free_ char *masked = k3c_xstrdup(gen);
        struct msg_sink s = {.causes = causes, .field = "metadata.generateName", .value = gen};

        if (masked[strlen(masked) - 1] == '-')
            masked[strlen(masked) - 1] = 'a';
        check_name(masked, &s);
    }
    if (api_is_empty(name) && api_is_empty(gen))
        api_cause_required(causes, "metadata.name", "name or generateName is required");
    else if (!api_is_empty(name))
        api_check_field(causes, "metadata.name", name, check_name);
    if (namespaced && api_is_empty(ns))
        api_cause_required(causes, "metadata.namespace", NULL);
    else if (namespaced)
        api_check_field(causes, "metadata.namespace", ns, api_check_dns1123_label);
    else if (!api_is_empty(ns))
        api_cause_forbidden(causes, "metadata.namespace", "not allowed on this type");
    api_validate_labels(json_object_get(meta, "labels"), "metadata.labels", causes);
    api_validate_annotations(json_object_get(meta, "annotations"), "metadata.annotations", causes);
}

/* ---- label selectors ---------------------------------------------------- */

/* ValidateLabelSelectorRequirement. */
static void
validate_requirement(const json_t *expr, const char *field, json_t *causes)
{
    const char *op = api_or_empty(api_str_at(expr, "operator"));
    const json_t *values = json_object_get(expr, "values");
    bool with_values = strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0;
    bool without_values = strcmp(op, "Exists") == 0 || strcmp(op, "DoesNotExist") == 0;
    struct fpath f;
    size_t i = 0;
    const json_t *v = NULL;

    api_fpath(&f, "%s.values", field);
    if (with_values && json_array_size(values) == 0)
        api_cause_required(causes, f.s, "must be specified when `operator` is 'In' or 'NotIn'");
    else if (without_values && json_array_size(values) > 0)
        api_cause_forbidden(causes, f.s,
                            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    if (!with_values && !without_values)
        api_cause_invalid_str(causes, api_fpath(&f, "%s.operator", field), op,
                              "not a valid selector operator");
    api_check_field(causes, api_fpath(&f, "%s.key", field), api_or_empty(api_str_at(expr, "key")),
                    check_qualified_name);
    json_array_foreach(values, i, v)
    {
        api_check_field(causes, api_fpath(&f, "%s.values[%zu]", field, i),
                        api_or_empty(json_string_value(v)), check_label_value);
    }
}

void
api_validate_label_selector(const json_t *sel, const char *field, json_t *causes)
{
    struct fpath f;
    size_t i = 0;
    const json_t *e = NULL;

    api_validate_labels(json_object_get(sel, "matchLabels"), api_fpath(&f, "%s.matchLabels", field),
                        causes);
    json_array_foreach(json_object_get(sel, "matchExpressions"), i, e)
    {
        validate_requirement(e, api_fpath(&f, "%s.matchExpressions[%zu]", field, i), causes);
    }
}

bool
api_selector_is_empty(const json_t *sel)
{
    return json_object_size(json_object_get(sel, "matchLabels")) == 0 &&
           json_array_size(json_object_get(sel, "matchExpressions")) == 0;
}

/* The one matcher (base/labels.c); here a missing selector matches all. */
bool
api_label_selector_matches(const json_t *sel, const json_t *labels)
{
    return !json_is_object(sel) || k3c_label_selector_matches(sel, labels);
}

/* "`selector` does not match template `labels`" at spec.template.metadata.labels. */
void
api_check_selector_matches_template(const json_t *spec, json_t *causes)
{
    const json_t *labels = api_json_path(spec, "template.metadata.labels");
    struct k3c_buf b;

    if (api_label_selector_matches(json_object_get(spec, "selector"), labels))
        return;
    k3c_buf_init(&b);
    append_go_map(&b, labels);
    cause_invalid(causes, "spec.template.metadata.labels", b.data,
                  "`selector` does not match template `labels`");
    k3c_buf_fini(&b);
}

/* ---- defaults ----------------------------------------------------------- */

/* Sets obj[key] = value unless it is there already (not null); consumes value. */
void
api_default_take(json_t *obj, const char *key, json_t *value)
{
    const json_t *have = json_object_get(obj, key);

    if (!json_is_object(obj) || (have && !json_is_null(have)))
        json_decref(value);
    else
        json_object_set_new(obj, key, value);
}

/* obj[key] as an object, created when absent. NULL if obj is not an object. */
json_t *
api_ensure_object(json_t *obj, const char *key)
{
    json_t *have = json_object_get(obj, key);

    if (json_is_object(have) || !json_is_object(obj))
        return json_is_object(have) ? have : NULL;
    json_object_set_new(obj, key, json_object());
    return json_object_get(obj, key);
}
