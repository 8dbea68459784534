/* SPDX-License-Identifier: Apache-2.0
 * install_config.c - merges `k3c install` flags into config.yaml. The file
 * is read with libyaml as a flat mapping (the shape src/config/ reads);
 * keys the flags do not name stay, in their order, with their values; the
 * text is written anew (comments do not survive, docs/install.md says so). */
#include "install/install.h"

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <string.h>
#include <yaml.h>

struct entry {
    char *key;
    char **values; /* NULL-terminated */
    bool is_list;  /* a YAML sequence (or a list flag) */
};

struct entries {
    struct entry *v;
    size_t n;
};

static void
entries_fini(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].key);
        k3c_strv_free(e->v[i].values);
    }
    free(e->v);
    *e = (struct entries){0};
}

static struct entry *
entries_find(struct entries *e, const char *key)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i].key, key) == 0)
            return &e->v[i];
    return NULL;
}

static struct entry *
entries_add(struct entries *e, const char *key, bool is_list)
{
    struct entry *x;

    e->v = k3c_xrealloc(e->v, (e->n + 1) * sizeof(*e->v));
    x = &e->v[e->n++];
    *x = (struct entry){.key = k3c_xstrdup(key), .is_list = is_list};
    x->values = k3c_xcalloc(1, sizeof(char *));
    return x;
}

static void
entry_push(struct entry *x, const char *value)
{
    size_t n = 0;

    while (x->values[n])
        n++;
    x->values = k3c_xrealloc(x->values, (n + 2) * sizeof(char *));
    x->values[n] = k3c_xstrdup(value);
    x->values[n + 1] = NULL;
}

static void
entry_clear(struct entry *x)
{
    k3c_strv_free(x->values);
    x->values = k3c_xcalloc(1, sizeof(char *));
}

/* ---- reading the old file --------------------------------------------- */

static int
read_value(yaml_document_t *doc, yaml_node_t *val, struct entry *x, struct k3c_err *err)
{
    if (val->type == YAML_SCALAR_NODE) {
        entry_push(x, (const char *)val->data.scalar.value);
        return 0;
    }
    if (val->type != YAML_SEQUENCE_NODE)
        return k3c_err_set(err, K3C_E_INVALID, "config: key \"%s\" holds a mapping", x->key);
    x->is_list = true;
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++) {
        yaml_node_t *n = yaml_document_get_node(doc, *it);

        if (!n || n->type != YAML_SCALAR_NODE)
            return k3c_err_set(err, K3C_E_INVALID, "config: key \"%s\": a list of values expected",
                               x->key);
        entry_push(x, (const char *)n->data.scalar.value);
    }
    return 0;
}

static int
read_old(const char *text, struct entries *out, struct k3c_err *err)
{
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_node_t *root;
    int rc = 0;

    if (!text || !*text)
        return 0;
    if (!yaml_parser_initialize(&p))
        return k3c_err_set(err, K3C_E_INTERNAL, "config: libyaml");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    if (!yaml_parser_load(&p, &doc)) {
        rc = k3c_err_set(err, K3C_E_INVALID, "config: line %zu: %s", p.problem_mark.line + 1,
                         p.problem ? p.problem : "not YAML");
        yaml_parser_delete(&p);
        return rc;
    }
    root = yaml_document_get_root_node(&doc);
    if (root && root->type != YAML_MAPPING_NODE &&
        !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        rc = k3c_err_set(err, K3C_E_INVALID, "config: not a mapping of option names to values");
    for (yaml_node_pair_t *pr =
             root && root->type == YAML_MAPPING_NODE ? root->data.mapping.pairs.start : NULL;
         rc == 0 && pr && pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&doc, pr->key);

        if (!k || k->type != YAML_SCALAR_NODE) {
            rc = k3c_err_set(err, K3C_E_INVALID, "config: keys must be option names");
            break;
        }
        rc = read_value(&doc, yaml_document_get_node(&doc, pr->value),
                        entries_add(out, (const char *)k->data.scalar.value, false), err);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return rc;
}

/* ---- the flags ---------------------------------------------------------- */

/* One flag at argv[*i] into e; a list flag named twice gives both values. */
static int
read_flag(struct entries *e, enum config_role role, int argc, char **argv, int *i,
          struct k3c_err *err)
{
    const char *arg = argv[*i], *name, *eq, *key, *value;
    _cleanup_free_ char *nm = NULL;
    enum config_opt_kind kind;
    struct entry *x;

    if (arg[0] != '-' || arg[1] == '\0' || strcmp(arg, "--") == 0)
        return k3c_err_set(err, K3C_E_INVALID, "unexpected argument \"%s\"", arg);
    name = arg[1] == '-' ? arg + 2 : arg + 1;
    eq = strchr(name, '=');
    nm = eq ? k3c_xstrndup(name, (size_t)(eq - name)) : k3c_xstrdup(name);
    kind = config_option_kind(nm, role, &key);
    if (kind == CONFIG_OPT_UNKNOWN)
        return k3c_err_set(err, K3C_E_INVALID, "unknown flag \"%s\" for %s", arg,
                           role == CONFIG_ROLE_SERVER ? "k3c server" : "k3c agent");
    if (kind == CONFIG_OPT_BOOL)
        value = eq ? eq + 1 : "true";
    else if (eq)
        value = eq + 1;
    else if (*i + 1 < argc)
        value = argv[++*i];
    else
        return k3c_err_set(err, K3C_E_INVALID, "flag %s needs a value", arg);
    x = entries_find(e, key);
    if (!x)
        x = entries_add(e, key, kind == CONFIG_OPT_LIST);
    else if (kind != CONFIG_OPT_LIST)
        entry_clear(x);
    entry_push(x, value);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* A plain scalar when it cannot be read as anything else, else quoted. */
static void
emit_scalar(struct k3c_buf *b, const char *s)
{
    static const char *const special[] = {"",    "~",   "null", "Null", "NULL", "yes",
                                          "no",  "Yes", "No",   "YES",  "NO",   "on",
                                          "off", "On",  "Off",  "y",    "n"};
    bool plain = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/"
                           "-+=,@") == strlen(s) &&
                 s[0] != '-';

    for (size_t i = 0; plain && i < K3C_ARRAY_SIZE(special); i++)
        plain = strcmp(s, special[i]) != 0;
    if (plain) {
        k3c_buf_appendf(b, "%s", s);
        return;
    }
    k3c_buf_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            k3c_buf_appendf(b, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            k3c_buf_appendf(b, "\\x%02x", (unsigned char)*p);
        else
            k3c_buf_append(b, p, 1);
    }
    k3c_buf_append(b, "\"", 1);
}

static char *
emit(const struct entries *e)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "# k3c configuration (docs/configuration.md); `k3c install` merges its "
                        "flags here\n");
    for (size_t i = 0; i < e->n; i++) {
        const struct entry *x = &e->v[i];

        k3c_buf_appendf(&b, "%s:", x->key);
        if (!x->is_list) {
            k3c_buf_append(&b, " ", 1);
            emit_scalar(&b, x->values[0] ? x->values[0] : "");
        }
        for (size_t j = 0; x->is_list && x->values[j]; j++) {
            k3c_buf_append(&b, "\n  - ", 5);
            emit_scalar(&b, x->values[j]);
        }
        if (x->is_list && !x->values[0])
            k3c_buf_append(&b, " []", 3);
        k3c_buf_append(&b, "\n", 1);
    }
    return k3c_buf_steal(&b, NULL);
}

char *
install_config_merge(const char *old, enum config_role role, int argc, char **argv,
                     struct k3c_err *err)
{
    struct entries file = {0}, flags = {0};
    char *out = NULL;

    if (read_old(old, &file, err) < 0)
        goto done;
    for (int i = 0; i < argc; i++)
        if (read_flag(&flags, role, argc, argv, &i, err) < 0)
            goto done;
    for (size_t i = 0; i < flags.n; i++) {
        struct entry *f = &flags.v[i], *x = entries_find(&file, f->key);

        if (!x)
            x = entries_add(&file, f->key, f->is_list);
        k3c_strv_free(x->values);
        x->values = TAKE_PTR(f->values);
        x->is_list = f->is_list;
    }
    out = emit(&file);
done:
    entries_fini(&file);
    entries_fini(&flags);
    return out;
}
