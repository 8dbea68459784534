/* SPDX-License-Identifier: Apache-2.0
 * cdi_spec.c - a CDI spec file to checked JSON. YAML goes through libyaml's
 * document API into jansson (plain scalars typed as YAML 1.1 does: ints,
 * octal 0NNN, bools, null), JSON through jansson; then one table-driven
 * check of every field (unknown fields refused, as CDI's strict decoding
 * does), the names' syntax and the version rules of CDI's version.go: the
 * cdiVersion must be one CDI released (0.3.0-1.1.0) and at least the one
 * the fields need (mount type 0.4.0; hostPath, device names starting with
 * a digit 0.5.0; annotations, dots in the class 0.6.0; intelRdt,
 * additionalGids 0.7.0; netDevices, intelRdt schemata/enableMonitoring
 * 1.1.0). */
#define LOG_COMPONENT "cdi"
#include "cdi/cdi.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CDI_MAX_DEPTH 32

/* ---- YAML to JSON ---------------------------------------------------------- */

static json_t *
yaml_plain_scalar(const char *s)
{
    char *end;
    long long v;

    if (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();
    if (isdigit((unsigned char)s[0]) ||
        ((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1]))) {
        int base = 10;
        const char *p = s;

        if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
            base = 8, p = s + 2;
        else if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
            base = 16, p = s + 2;
        else if (s[0] == '0' && s[1])
            base = 8; /* YAML 1.1 octal, as Go's yaml reads fileMode: 0666 */
        errno = 0;
        v = strtoll(p, &end, base);
        if (errno == 0 && *end == '\0' && end != p)
            return json_integer(v);
    }
    return json_string(s);
}

static json_t *
yaml_node_json(yaml_document_t *doc, yaml_node_t *n, int depth, struct k3c_err *err)
{
    json_t *out;

    if (!n)
        return json_null();
    if (depth > CDI_MAX_DEPTH) {
        k3c_err_set(err, K3C_E_INVALID, "line %zu: nested too deep", n->start_mark.line + 1);
        return NULL;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)n->data.scalar.value;

        if (strlen(s) != n->data.scalar.length) {
            k3c_err_set(err, K3C_E_INVALID, "line %zu: NUL in a scalar", n->start_mark.line + 1);
            return NULL;
        }
        out =
            n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? yaml_plain_scalar(s) : json_string(s);
        if (!out)
            k3c_err_set(err, K3C_E_INVALID, "line %zu: not UTF-8", n->start_mark.line + 1);
        return out;
    }
    case YAML_SEQUENCE_NODE:
        out = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            json_t *v = yaml_node_json(doc, yaml_document_get_node(doc, *it), depth + 1, err);

            if (!v) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, v);
        }
        return out;
    case YAML_MAPPING_NODE:
        out = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            json_t *v;

            if (!k || k->type != YAML_SCALAR_NODE ||
                strlen((const char *)k->data.scalar.value) != k->data.scalar.length) {
                json_decref(out);
                k3c_err_set(err, K3C_E_INVALID, "line %zu: a key must be a string",
                            n->start_mark.line + 1);
                return NULL;
            }
            if (json_object_get(out, (const char *)k->data.scalar.value)) {
                json_decref(out);
                k3c_err_set(err, K3C_E_INVALID, "line %zu: duplicate key %s",
                            k->start_mark.line + 1, (const char *)k->data.scalar.value);
                return NULL;
            }
            v = yaml_node_json(doc, yaml_document_get_node(doc, p->value), depth + 1, err);
            if (!v) {
                json_decref(out);
                return NULL;
            }
            if (json_object_set_new(out, (const char *)k->data.scalar.value, v) < 0) {
                json_decref(out);
                k3c_err_set(err, K3C_E_INVALID, "line %zu: key is not UTF-8",
                            k->start_mark.line + 1);
                return NULL;
            }
        }
        return out;
    default:
        return json_null();
    }
}

static json_t *
yaml_to_json(const char *text, size_t len, struct k3c_err *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *out = NULL;

    if (!yaml_parser_initialize(&parser)) {
        k3c_err_set(err, K3C_E_INTERNAL, "yaml parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        k3c_err_set(err, K3C_E_INVALID, "line %zu: %s", parser.problem_mark.line + 1,
                    parser.problem ? parser.problem : "bad YAML");
        yaml_parser_delete(&parser);
        return NULL;
    }
    if (!yaml_document_get_root_node(&doc))
        k3c_err_set(err, K3C_E_INVALID, "empty document");
    else
        out = yaml_node_json(&doc, yaml_document_get_root_node(&doc), 0, err);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return out;
}

/* ---- the fields ------------------------------------------------------------ */

enum ftype { F_STR, F_INT, F_UINT32, F_BOOL, F_OBJ, F_ARR_STR, F_ARR_OBJ, F_ARR_UINT32, F_MAP_STR };

struct field {
    const char *name;
    enum ftype type;
    const struct field *sub; /* F_OBJ, F_ARR_OBJ: the object's fields */
    bool required;
};

static const struct field device_node_fields[] = {
    {"path", F_STR, NULL, true},         {"hostPath", F_STR, NULL, false},
    {"type", F_STR, NULL, false},        {"major", F_INT, NULL, false},
    {"minor", F_INT, NULL, false},       {"fileMode", F_UINT32, NULL, false},
    {"permissions", F_STR, NULL, false}, {"uid", F_UINT32, NULL, false},
    {"gid", F_UINT32, NULL, false},      {NULL, 0, NULL, false},
};

static const struct field mount_fields[] = {
    {"hostPath", F_STR, NULL, true},
    {"containerPath", F_STR, NULL, true},
    {"options", F_ARR_STR, NULL, false},
    {"type", F_STR, NULL, false},
    {NULL, 0, NULL, false},
};

static const struct field hook_fields[] = {
    {"hookName", F_STR, NULL, true},  {"path", F_STR, NULL, true},
    {"args", F_ARR_STR, NULL, false}, {"env", F_ARR_STR, NULL, false},
    {"timeout", F_INT, NULL, false},  {NULL, 0, NULL, false},
};

static const struct field intel_rdt_fields[] = {
    {"closID", F_STR, NULL, false},
    {"l3CacheSchema", F_STR, NULL, false},
    {"memBwSchema", F_STR, NULL, false},
    {"schemata", F_ARR_STR, NULL, false},
    {"enableMonitoring", F_BOOL, NULL, false},
    {NULL, 0, NULL, false},
};

static const struct field net_device_fields[] = {
    {"hostInterfaceName", F_STR, NULL, true},
    {"name", F_STR, NULL, true},
    {NULL, 0, NULL, false},
};

static const struct field edits_fields[] = {
    {"env", F_ARR_STR, NULL, false},
    {"deviceNodes", F_ARR_OBJ, device_node_fields, false},
    {"hooks", F_ARR_OBJ, hook_fields, false},
    {"mounts", F_ARR_OBJ, mount_fields, false},
    {"intelRdt", F_OBJ, intel_rdt_fields, false},
    {"additionalGids", F_ARR_UINT32, NULL, false},
    {"netDevices", F_ARR_OBJ, net_device_fields, false},
    {NULL, 0, NULL, false},
};

static const struct field device_fields[] = {
    {"name", F_STR, NULL, true},
    {"annotations", F_MAP_STR, NULL, false},
    {"containerEdits", F_OBJ, edits_fields, true},
    {NULL, 0, NULL, false},
};

static const struct field spec_fields[] = {
    {"cdiVersion", F_STR, NULL, true},
    {"kind", F_STR, NULL, true},
    {"annotations", F_MAP_STR, NULL, false},
    {"devices", F_ARR_OBJ, device_fields, true},
    {"containerEdits", F_OBJ, edits_fields, false},
    {NULL, 0, NULL, false},
};

static const char *
ftype_name(enum ftype t)
{
    static const char *const names[] = {
        "a string",          "an integer",        "a uint32",         "a boolean",   "an object",
        "a list of strings", "a list of objects", "a list of uint32", "a string map"};

    return names[t];
}

static bool
is_uint32(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 &&
           json_integer_value(v) <= (json_int_t)UINT32_MAX;
}

static int check_object(const json_t *obj, const struct field *fields, const char *path,
                        struct k3c_err *err);

static int
check_value(const json_t *v, const struct field *f, const char *path, struct k3c_err *err)
{
    size_t i;
    const json_t *e;
    const char *k;
    json_t *mv;
    bool ok = true;

    switch (f->type) {
    case F_STR:
        ok = json_is_string(v);
        break;
    case F_INT:
        ok = json_is_integer(v);
        break;
    case F_UINT32:
        ok = is_uint32(v);
        break;
    case F_BOOL:
        ok = json_is_boolean(v);
        break;
    case F_OBJ:
        if (!json_is_object(v))
            break;
        return check_object(v, f->sub, path, err);
    case F_MAP_STR:
        ok = json_is_object(v);
        json_object_foreach((json_t *)v, k, mv) ok = ok && json_is_string(mv);
        break;
    case F_ARR_STR:
    case F_ARR_UINT32:
        ok = json_is_array(v);
        json_array_foreach(v, i, e) ok =
            ok && (f->type == F_ARR_STR ? json_is_string(e) : is_uint32(e));
        break;
    case F_ARR_OBJ:
        if (!json_is_array(v))
            break;
        json_array_foreach(v, i, e)
        {
            _cleanup_free_ char *sub = k3c_xasprintf("%s[%zu]", path, i);

            if (!json_is_object(e))
                return k3c_err_set(err, K3C_E_INVALID, "%s: want an object", sub);
            if (check_object(e, f->sub, sub, err) < 0)
                return -1;
        }
        return 0;
    }
    if (f->type == F_OBJ && !json_is_object(v))
        ok = false;
    if (!ok)
        return k3c_err_set(err, K3C_E_INVALID, "%s: want %s", path, ftype_name(f->type));
    return 0;
}

static int
check_object(const json_t *obj, const struct field *fields, const char *path, struct k3c_err *err)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)obj, k, v)
    {
        const struct field *f = fields;
        _cleanup_free_ char *sub = k3c_xasprintf("%s%s%s", path, *path ? "." : "", k);

        while (f->name && strcmp(f->name, k) != 0)
            f++;
        if (!f->name)
            return k3c_err_set(err, K3C_E_INVALID, "%s: unknown field", sub);
        if (json_is_null(v) && !f->required)
            continue; /* Go's decoder takes null as the zero value */
        if (check_value(v, f, sub, err) < 0)
            return -1;
    }
    for (const struct field *f = fields; f->name; f++)
        if (f->required &&
            (!json_object_get(obj, f->name) || json_is_null(json_object_get(obj, f->name))))
            return k3c_err_set(err, K3C_E_INVALID, "%s%s%s: required", path, *path ? "." : "",
                               f->name);
    return 0;
}

/* ---- names ----------------------------------------------------------------- */

static bool
name_chars_ok(const char *s, size_t n, const char *extra)
{
    if (n == 0 || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
            return false;
    return true;
}

bool
cdi_kind_valid(const char *kind, bool allow_class_dots)
{
    const char *slash = kind ? strchr(kind, '/') : NULL;
    size_t vn;

    if (!slash)
        return false;
    vn = (size_t)(slash - kind);
    /* vendor: a domain-like name; class: a name */
    if (vn == 0 || !isalpha((unsigned char)kind[0]) || !name_chars_ok(kind, vn, "-_."))
        return false;
    if (!isalpha((unsigned char)slash[1]) ||
        !name_chars_ok(slash + 1, strlen(slash + 1), allow_class_dots ? "-_." : "-_"))
        return false;
    return true;
}

bool
cdi_device_name_valid(const char *name, bool allow_leading_digit)
{
    if (!name || !*name)
        return false;
    if (!isalpha((unsigned char)name[0]) &&
        !(allow_leading_digit && isdigit((unsigned char)name[0])))
        return false;
    return name_chars_ok(name, strlen(name), "-_.:");
}

/* ---- versions ---------------------------------------------------------------- */

/* major*10000 + minor*100 + patch, or -1 for a version CDI never released. */
static int
version_parse(const char *s)
{
    static const int released[] = {300, 400, 500, 600, 700, 800, 10000, 10100};
    unsigned a, b, c;
    int n = 0, v;

    if (s[0] == 'v')
        s++;
    if (sscanf(s, "%u.%u.%u%n", &a, &b, &c, &n) != 3 || s[n] || a > 99 || b > 99 || c > 99)
        return -1;
    v = (int)(a * 10000 + b * 100 + c);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(released); i++)
        if (released[i] == v)
            return v;
    return -1;
}

struct needs {
    int version;
    const char *why;
};

static void
need(struct needs *n, int version, const char *why)
{
    if (version > n->version) {
        n->version = version;
        n->why = why;
    }
}

static void
edits_needs(const json_t *e, struct needs *n)
{
    size_t i;
    const json_t *x, *rdt = json_object_get(e, "intelRdt");

    json_array_foreach(json_object_get(e, "mounts"), i, x) if (json_object_get(x, "type"))
        need(n, 400, "mounts[].type");
    json_array_foreach(json_object_get(e, "deviceNodes"), i,
                       x) if (json_string_length(json_object_get(x, "hostPath")))
        need(n, 500, "deviceNodes[].hostPath");
    if (json_is_object(rdt))
        need(n, 700, "intelRdt");
    if (json_array_size(json_object_get(e, "additionalGids")))
        need(n, 700, "additionalGids");
    if (json_is_object(rdt) && (json_object_get(rdt, "schemata") ||
                                json_is_true(json_object_get(rdt, "enableMonitoring"))))
        need(n, 10100, "intelRdt.schemata/enableMonitoring");
    if (json_array_size(json_object_get(e, "netDevices")))
        need(n, 10100, "netDevices");
}

/* ---- semantic checks ----------------------------------------------------- */

static int
check_edits(const json_t *e, const char *path, struct k3c_err *err)
{
    static const char *const hook_names[] = {"prestart",       "createRuntime", "createContainer",
                                             "startContainer", "poststart",     "poststop"};
    size_t i;
    const json_t *x;

    json_array_foreach(json_object_get(e, "env"), i, x)
    {
        const char *s = json_string_value(x), *eq = strchr(s, '=');

        if (!eq || eq == s)
            return k3c_err_set(err, K3C_E_INVALID, "%s.env[%zu]: want KEY=VALUE, got \"%s\"", path,
                               i, s);
    }
    json_array_foreach(json_object_get(e, "deviceNodes"), i, x)
    {
        const char *p = json_string_value(json_object_get(x, "path"));
        const char *t = json_string_value(json_object_get(x, "type"));
        const char *perm = json_string_value(json_object_get(x, "permissions"));

        if (p[0] != '/')
            return k3c_err_set(err, K3C_E_INVALID, "%s.deviceNodes[%zu].path: not absolute: %s",
                               path, i, p);
        if (t && *t && !(strlen(t) == 1 && strchr("bcup", t[0])))
            return k3c_err_set(err, K3C_E_INVALID,
                               "%s.deviceNodes[%zu].type: want b, c, u or p, got \"%s\"", path, i,
                               t);
        if (perm && strspn(perm, "rwm") != strlen(perm))
            return k3c_err_set(err, K3C_E_INVALID,
                               "%s.deviceNodes[%zu].permissions: want r, w, m, got \"%s\"", path, i,
                               perm);
    }
    json_array_foreach(json_object_get(e, "mounts"), i, x)
    {
        const char *cp = json_string_value(json_object_get(x, "containerPath"));

        if (cp[0] != '/')
            return k3c_err_set(err, K3C_E_INVALID, "%s.mounts[%zu].containerPath: not absolute: %s",
                               path, i, cp);
    }
    json_array_foreach(json_object_get(e, "hooks"), i, x)
    {
        const char *h = json_string_value(json_object_get(x, "hookName"));
        bool known = false;

        for (size_t k = 0; k < K3C_ARRAY_SIZE(hook_names); k++)
            known |= strcmp(h, hook_names[k]) == 0;
        if (!known)
            return k3c_err_set(err, K3C_E_INVALID, "%s.hooks[%zu].hookName: unknown hook \"%s\"",
                               path, i, h);
        if (json_string_value(json_object_get(x, "path"))[0] != '/')
            return k3c_err_set(err, K3C_E_INVALID, "%s.hooks[%zu].path: not absolute", path, i);
    }
    return 0;
}

static bool
edits_empty(const json_t *e)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)e, k, v)
    {
        if (json_is_array(v) && json_array_size(v) > 0)
            return false;
        if (json_is_object(v))
            return false;
    }
    return true;
}

int
cdi_spec_validate(const json_t *spec, struct k3c_err *err)
{
    struct needs n = {300, NULL};
    const char *kind, *ver;
    int have;
    size_t i;
    const json_t *d;
    const char *slash;

    if (!json_is_object(spec))
        return k3c_err_set(err, K3C_E_INVALID, "want an object");
    if (check_object(spec, spec_fields, "", err) < 0)
        return -1;
    ver = json_string_value(json_object_get(spec, "cdiVersion"));
    kind = json_string_value(json_object_get(spec, "kind"));
    have = version_parse(ver);
    if (have < 0)
        return k3c_err_set(err, K3C_E_INVALID,
                           "cdiVersion: \"%s\" is not a CDI version k3c reads (0.3.0 to 1.1.0)",
                           ver);
    if (!cdi_kind_valid(kind, true))
        return k3c_err_set(err, K3C_E_INVALID,
                           "kind: \"%s\" is not vendor/class (letters, digits, '-', '_', '.')",
                           kind);
    slash = strchr(kind, '/');
    if (strchr(slash, '.'))
        need(&n, 600, "a '.' in the kind's class");
    if (json_object_size(json_object_get(spec, "annotations")))
        need(&n, 600, "annotations");
    if (json_object_get(spec, "containerEdits")) {
        if (check_edits(json_object_get(spec, "containerEdits"), "containerEdits", err) < 0)
            return -1;
        edits_needs(json_object_get(spec, "containerEdits"), &n);
    }
    if (json_array_size(json_object_get(spec, "devices")) == 0)
        return k3c_err_set(err, K3C_E_INVALID, "devices: no devices");
    json_array_foreach(json_object_get(spec, "devices"), i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        _cleanup_free_ char *path = k3c_xasprintf("devices[%zu].containerEdits", i);
        size_t j;
        const json_t *other;

        if (!cdi_device_name_valid(name, true))
            return k3c_err_set(err, K3C_E_INVALID, "devices[%zu].name: \"%s\" is not a device name",
                               i, name);
        if (isdigit((unsigned char)name[0]))
            need(&n, 500, "a device name starting with a digit");
        if (json_object_size(json_object_get(d, "annotations")))
            need(&n, 600, "device annotations");
        if (edits_empty(json_object_get(d, "containerEdits")))
            return k3c_err_set(err, K3C_E_INVALID, "%s: empty", path);
        if (check_edits(json_object_get(d, "containerEdits"), path, err) < 0)
            return -1;
        edits_needs(json_object_get(d, "containerEdits"), &n);
        json_array_foreach(json_object_get(spec, "devices"), j, other)
        {
            if (j >= i)
                break;
            if (strcmp(json_string_value(json_object_get(other, "name")), name) == 0)
                return k3c_err_set(err, K3C_E_INVALID, "devices[%zu].name: \"%s\" defined twice", i,
                                   name);
        }
    }
    if (have < n.version)
        return k3c_err_set(err, K3C_E_INVALID, "cdiVersion: %s is too old for %s (needs %d.%d.%d)",
                           ver, n.why, n.version / 10000, n.version / 100 % 100, n.version % 100);
    return 0;
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

json_t *
cdi_spec_parse(const char *text, size_t len, const char *name, struct k3c_err *err)
{
    _cleanup_json_ json_t *spec = NULL;

    if (ends_with(name, ".json")) {
        json_error_t jerr;

        spec = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!spec) {
            k3c_err_set(err, K3C_E_INVALID, "%s:%d: %s", name, jerr.line, jerr.text);
            return NULL;
        }
    } else {
        spec = yaml_to_json(text, len, err);
        if (!spec) {
            k3c_err_wrap(err, "%s", name);
            return NULL;
        }
    }
    if (cdi_spec_validate(spec, err) < 0) {
        k3c_err_wrap(err, "%s", name);
        return NULL;
    }
    return TAKE_PTR(spec);
}
