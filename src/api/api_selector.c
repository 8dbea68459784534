/* SPDX-License-Identifier: Apache-2.0
 * api_selector.c - label and field selectors parsed and matched as the
 * Kubernetes API does (k8s.io/apimachinery pkg/labels/selector.go and
 * pkg/fields/selector.go): same grammar, same quirks, upstream's messages.
 * Also api_json_path_string, which reads an object's field for matching. */
#include "api/api-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- label selector: data ---------------------------------------------- */

enum label_op {
    LABEL_OP_IN,
    LABEL_OP_NOTIN,
    LABEL_OP_EQ, /* "=" and "==" */
    LABEL_OP_NEQ,
    LABEL_OP_EXISTS,
    LABEL_OP_NOT_EXISTS,
    LABEL_OP_GT,
    LABEL_OP_LT,
};

struct label_req {
    char *key;
    enum label_op op;
    char **values; /* a set: sorted, no duplicates */
    size_t n_values;
};

/* The requirements are ANDed; none selects everything. */
struct label_selector {
    struct label_req *reqs;
    size_t n;
    size_t cap;
};

K3C_DEFINE_CLEANUP(struct label_selector *, label_selector_free)

void
label_selector_free(struct label_selector *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->n; i++) {
        for (size_t j = 0; j < sel->reqs[i].n_values; j++)
            free(sel->reqs[i].values[j]);
        free(sel->reqs[i].values);
        free(sel->reqs[i].key);
    }
    free(sel->reqs);
    free(sel);
}

/* Appends a zeroed requirement; the selector owns it even half-filled, so
 * label_selector_free cleans up after a parse error. */
static struct label_req *
selector_push(struct label_selector *sel)
{
    if (sel->n == sel->cap) {
        sel->cap = sel->cap ? sel->cap * 2 : 4;
        sel->reqs = k3c_xrealloc(sel->reqs, sel->cap * sizeof(*sel->reqs));
    }
    memset(&sel->reqs[sel->n], 0, sizeof(sel->reqs[0]));
    return &sel->reqs[sel->n++];
}

static bool
req_has_value(const struct label_req *r, const char *v)
{
    for (size_t i = 0; i < r->n_values; i++) {
        if (strcmp(r->values[i], v) == 0)
            return true;
    }
    return false;
}

static void
req_add_value(struct label_req *r, const char *v, size_t len)
{
    _cleanup_free_ char *s = k3c_xstrndup(v, len);

    if (req_has_value(r, s))
        return;
    r->values = k3c_xrealloc(r->values, (r->n_values + 1) * sizeof(*r->values));
    r->values[r->n_values++] = TAKE_PTR(s);
}

static int
cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- label selector: validation (apimachinery util/validation) -------- */

#define QNAME_MSG                                                                                  \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "    \
    "alphanumeric character"
#define DNS1123_MSG                                                                                \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "   \
    "'.', and must start and end with an alphanumeric character"
#define LABEL_VALUE_MSG                                                                            \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "    \
    "'.', and must start and end with an alphanumeric character"

static bool
is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool
qname_chars_ok(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    }
    return true;
}

static bool
is_dns_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)* */
static bool
dns1123_subdomain_chars_ok(const char *s, size_t n)
{
    size_t start = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!is_dns_char(s[i]) && s[i] != '-')
                return false;
            continue;
        }
        if (i == start || !is_dns_char(s[start]) || !is_dns_char(s[i - 1]))
            return false;
        start = i + 1;
    }
    return true;
}

/* Joins messages with "; " as upstream's strings.Join(errs, "; "). */
static void
why_add(struct k3c_buf *why, const char *part, const char *msg)
{
    k3c_buf_appendf(why, "%s%s%s", why->len ? "; " : "", part, msg);
}

static void
prefix_why(const char *prefix, size_t n, struct k3c_buf *why)
{
    if (n == 0) {
        why_add(why, "prefix part ", "must be non-empty");
        return;
    }
    if (n > 253)
        why_add(why, "prefix part ", "must be no more than 253 characters");
    if (!dns1123_subdomain_chars_ok(prefix, n))
        why_add(why, "prefix part ", DNS1123_MSG);
}

/* validation.IsQualifiedName: [DNS-1123 subdomain prefix '/'] name. The
 * messages leave out upstream's "(e.g. ..., regex used ...)" tail, which
 * would not fit a k3c_err. */
static void
qualified_name_why(const char *k, size_t n, struct k3c_buf *why)
{
    const char *slash = memchr(k, '/', n);
    const char *name = slash ? slash + 1 : k;
    size_t name_n = n - (size_t)(name - k);

    if (slash && memchr(name, '/', name_n)) {
        why_add(why, "a qualified name " QNAME_MSG,
                " with an optional DNS subdomain prefix and '/'");
        return;
    }
    if (slash)
        prefix_why(k, (size_t)(slash - k), why);
    if (name_n == 0)
        why_add(why, "name part ", "must be non-empty");
    else if (name_n > 63)
        why_add(why, "name part ", "must be no more than 63 characters");
    if (!qname_chars_ok(name, name_n))
        why_add(why, "name part ", QNAME_MSG);
}

/* A nil field path prints as "<nil>" upstream, hence the odd prefix. */
static int
check_key(const char *k, size_t n, struct k3c_err *err)
{
    struct k3c_buf why;
    int rc = 0;

    k3c_buf_init(&why);
    qualified_name_why(k, n, &why);
    if (why.len > 0)
        rc = k3c_err_set(err, K3C_E_BAD_REQUEST, "<nil>: Invalid value: \"%.*s\": %s", (int)n, k,
                         why.data);
    k3c_buf_fini(&why);
    return rc;
}

static int
check_label_value(const struct label_req *r, size_t i, struct k3c_err *err)
{
    const char *v = r->values[i];
    size_t n = strlen(v);
    struct k3c_buf why;
    int rc = 0;

    k3c_buf_init(&why);
    if (n > 63)
        why_add(&why, "", "must be no more than 63 characters");
    if (n > 0 && !qname_chars_ok(v, n))
        why_add(&why, "", LABEL_VALUE_MSG);
    if (why.len > 0)
        rc = k3c_err_set(err, K3C_E_BAD_REQUEST, "values[%zu][%s]: Invalid value: \"%s\": %s", i,
                         r->key, v, why.data);
    k3c_buf_fini(&why);
    return rc;
}

/* strconv.ParseInt(s, 10, 64): optional sign, decimal digits, nothing else. */
static bool
parse_int64(const char *s, long long *out)
{
    const char *d = (*s == '+' || *s == '-') ? s + 1 : s;
    char *end = NULL;

    if (*d < '0' || *d > '9')
        return false;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0';
}

/* labels.NewRequirement's checks on the values (upstream reports them all;
 * this reports the first). */
static int
check_values(struct label_req *r, struct k3c_err *err)
{
    long long ignored;

    qsort(r->values, r->n_values, sizeof(*r->values), cmp_strp);
    if ((r->op == LABEL_OP_GT || r->op == LABEL_OP_LT) && !parse_int64(r->values[0], &ignored))
        return k3c_err_set(err, K3C_E_BAD_REQUEST,
                           "values[0]: Invalid value: \"%s\": for 'Gt', 'Lt' operators, the value "
                           "must be an integer",
                           r->values[0]);
    for (size_t i = 0; i < r->n_values; i++) {
        if (check_label_value(r, i, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- label selector: lexer --------------------------------------------- */

enum tok_kind {
    TOK_EOS,
    TOK_IDENT,
    TOK_IN,
    TOK_NOTIN,
    TOK_NOT, /* "!": does not exist */
    TOK_EQ,
    TOK_DEQ,
    TOK_NEQ,
    TOK_GT,
    TOK_LT,
    TOK_OPEN,
    TOK_CLOSE,
    TOK_COMMA,
};

struct token {
    enum tok_kind kind;
    const char *lit; /* points into the selector string, len bytes */
    int len;
};

static const struct {
    const char *lit;
    enum tok_kind kind;
} tok_literals[] = {
    {"==", TOK_DEQ},  {"!=", TOK_NEQ}, {"=", TOK_EQ},        {"!", TOK_NOT},
    {">", TOK_GT},    {"<", TOK_LT},   {"(", TOK_OPEN},      {")", TOK_CLOSE},
    {",", TOK_COMMA}, {"in", TOK_IN},  {"notin", TOK_NOTIN},
};

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_special(char c)
{
    return c != '\0' && strchr("=!(),<>", c) != NULL;
}

static enum tok_kind
tok_lookup(const char *s, size_t n)
{
    for (size_t i = 0; i < K3C_ARRAY_SIZE(tok_literals); i++) {
        if (strlen(tok_literals[i].lit) == n && memcmp(tok_literals[i].lit, s, n) == 0)
            return tok_literals[i].kind;
    }
    return TOK_IDENT;
}

/* Reads one token at p; returns where the next one starts. A run of special
 * characters yields the longest token it starts with ("==", "!=" or one
 * character); anything else runs to the next space or special character. */
static const char *
lex_one(const char *p, struct token *t)
{
    size_t n = 0;

    while (is_space(*p))
        p++;
    if (is_special(*p)) {
        n = (p[1] == '=' && (p[0] == '=' || p[0] == '!')) ? 2 : 1;
    } else {
        while (p[n] && !is_space(p[n]) && !is_special(p[n]))
            n++;
    }
    t->lit = p;
    t->len = (int)n;
    t->kind = n ? tok_lookup(p, n) : TOK_EOS;
    return p + n;
}

/* Every token but the last consumes a byte: strlen + 1 slots suffice. */
static struct token *
lex_all(const char *s)
{
    struct token *toks = k3c_xcalloc(strlen(s) + 1, sizeof(*toks));
    size_t n = 0;

    do
        s = lex_one(s, &toks[n]);
    while (toks[n++].kind != TOK_EOS);
    return toks;
}

/* ---- label selector: parser (a port of upstream's Parser) ------------- */

struct parser {
    const struct token *toks;
    size_t pos;
    struct k3c_err *err;
};

/* Upstream's "Values" context: the keywords in and notin are identifiers. */
static enum tok_kind
as_value(enum tok_kind k)
{
    return (k == TOK_IN || k == TOK_NOTIN) ? TOK_IDENT : k;
}

static const struct token *
peek(const struct parser *p)
{
    return &p->toks[p->pos];
}

static const struct token *
next(struct parser *p)
{
    const struct token *t = &p->toks[p->pos];

    if (t->kind != TOK_EOS)
        p->pos++;
    return t;
}

static int
found(struct parser *p, const struct token *t, const char *expected)
{
    return k3c_err_set(p->err, K3C_E_BAD_REQUEST, "found '%.*s', expected: %s", t->len, t->lit,
                       expected);
}

/* parseKeyAndInferOperator: returns 1 when the requirement is complete
 * ("key" exists, "!key" does not exist), 0 when an operator follows. */
static int
parse_key(struct parser *p, struct label_req *r)
{
    const struct token *t = next(p);
    bool negated = t->kind == TOK_NOT;
    enum tok_kind after;

    if (negated)
        t = next(p);
    if (as_value(t->kind) != TOK_IDENT)
        return found(p, t, "identifier");
    if (check_key(t->lit, (size_t)t->len, p->err) < 0)
        return -1;
    r->key = k3c_xstrndup(t->lit, (size_t)t->len);
    after = as_value(peek(p)->kind);
    if (negated)
        r->op = LABEL_OP_NOT_EXISTS;
    else if (after == TOK_EOS || after == TOK_COMMA)
        r->op = LABEL_OP_EXISTS;
    else
        return 0;
    return 1;
}

static int
parse_operator(struct parser *p, struct label_req *r)
{
    const struct token *t = next(p);

    switch (t->kind) {
    case TOK_IN:
        r->op = LABEL_OP_IN;
        return 0;
    case TOK_NOTIN:
        r->op = LABEL_OP_NOTIN;
        return 0;
    case TOK_EQ:
    case TOK_DEQ:
        r->op = LABEL_OP_EQ;
        return 0;
    case TOK_NEQ:
        r->op = LABEL_OP_NEQ;
        return 0;
    case TOK_GT:
        r->op = LABEL_OP_GT;
        return 0;
    case TOK_LT:
        r->op = LABEL_OP_LT;
        return 0;
    default:
        return found(p, t, "in, notin, =, ==, !=, gt, lt");
    }
}

/* parseIdentifiersList: after "(", up to (not including) ")". Commas with
 * nothing between them stand for "" ("(,a)", "(a,)", as upstream). */
static int
parse_value_list(struct parser *p, struct label_req *r)
{
    for (;;) {
        const struct token *t = next(p);

        if (as_value(t->kind) == TOK_IDENT) {
            req_add_value(r, t->lit, (size_t)t->len);
            if (peek(p)->kind == TOK_CLOSE)
                return 0;
            if (peek(p)->kind != TOK_COMMA)
                return found(p, peek(p), "',' or ')'");
            continue;
        }
        if (t->kind != TOK_COMMA)
            return found(p, t, "',', or identifier");
        if (r->n_values == 0)
            req_add_value(r, "", 0);
        if (peek(p)->kind == TOK_CLOSE) {
            req_add_value(r, "", 0);
            return 0;
        }
        if (peek(p)->kind == TOK_COMMA) {
            next(p);
            req_add_value(r, "", 0);
        }
    }
}

/* parseValues: "(" list ")"; "()" is the set {""}. */
static int
parse_values(struct parser *p, struct label_req *r)
{
    const struct token *t = next(p);
    const struct token *first;

    if (t->kind != TOK_OPEN)
        return k3c_err_set(p->err, K3C_E_BAD_REQUEST, "found '%.*s' expected: '('", t->len, t->lit);
    first = peek(p);
    switch (as_value(first->kind)) {
    case TOK_IDENT:
    case TOK_COMMA:
        if (parse_value_list(p, r) < 0)
            return -1;
        /* Upstream names the token after "(" here, not the one found. */
        if (next(p)->kind != TOK_CLOSE)
            return found(p, first, "')'");
        return 0;
    case TOK_CLOSE:
        next(p);
        req_add_value(r, "", 0);
        return 0;
    default:
        return found(p, first, "',', ')' or identifier");
    }
}

/* parseExactValue: "a=" (nothing before "," or the end) means "". */
static int
parse_exact_value(struct parser *p, struct label_req *r)
{
    enum tok_kind k = as_value(peek(p)->kind);
    const struct token *t;

    if (k == TOK_EOS || k == TOK_COMMA) {
        req_add_value(r, "", 0);
        return 0;
    }
    t = next(p);
    if (as_value(t->kind) != TOK_IDENT)
        return found(p, t, "identifier");
    req_add_value(r, t->lit, (size_t)t->len);
    return 0;
}

static int
parse_requirement(struct parser *p, struct label_req *r)
{
    int rc = parse_key(p, r);

    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (parse_operator(p, r) < 0)
        return -1;
    if (r->op == LABEL_OP_IN || r->op == LABEL_OP_NOTIN)
        rc = parse_values(p, r);
    else
        rc = parse_exact_value(p, r);
    if (rc < 0)
        return -1;
    return check_values(r, p->err);
}

/* After a requirement: the end, or "," and the start of another one. */
static int
parse_separator(struct parser *p, bool *done)
{
    const struct token *t = next(p);
    enum tok_kind k;

    *done = t->kind == TOK_EOS;
    if (*done)
        return 0;
    if (t->kind != TOK_COMMA)
        return found(p, t, "',' or 'end of string'");
    k = as_value(peek(p)->kind);
    if (k != TOK_IDENT && k != TOK_NOT)
        return found(p, peek(p), "identifier after ','");
    return 0;
}

static int
parse_selector(struct parser *p, struct label_selector *sel)
{
    enum tok_kind k = as_value(peek(p)->kind);
    bool done = k == TOK_EOS;

    if (!done && k != TOK_IDENT && k != TOK_NOT)
        return found(p, peek(p), "!, identifier, or 'end of string'");
    while (!done) {
        if (parse_requirement(p, selector_push(sel)) < 0)
            return k3c_err_wrap(p->err, "unable to parse requirement");
        if (parse_separator(p, &done) < 0)
            return -1;
    }
    return 0;
}

struct label_selector *
label_selector_parse(const char *s, struct k3c_err *err)
{
    _cleanup_(label_selector_freep) struct label_selector *sel = k3c_xcalloc(1, sizeof(*sel));
    _cleanup_free_ struct token *toks = lex_all(s);
    struct parser p = {.toks = toks, .pos = 0, .err = err};

    if (parse_selector(&p, sel) < 0)
        return NULL;
    return TAKE_PTR(sel);
}

/* ---- label selector: matching (Requirement.Matches) ------------------- */

static bool
int_compare(const struct label_req *r, const char *label_value)
{
    long long have, want;

    if (!parse_int64(label_value, &have) || !parse_int64(r->values[0], &want))
        return false;
    return r->op == LABEL_OP_GT ? have > want : have < want;
}

/* v: the label's value ("" for a value that is not a string), NULL when
 * the label is absent. */
static bool
req_matches_value(const struct label_req *r, const char *v)
{
    switch (r->op) {
    case LABEL_OP_IN:
    case LABEL_OP_EQ:
        return v && req_has_value(r, v);
    case LABEL_OP_NOTIN:
    case LABEL_OP_NEQ:
        return !v || !req_has_value(r, v);
    case LABEL_OP_EXISTS:
        return v != NULL;
    case LABEL_OP_NOT_EXISTS:
        return v == NULL;
    case LABEL_OP_GT:
    case LABEL_OP_LT:
        return v && int_compare(r, v);
    }
    return false;
}

static bool
req_matches(const struct label_req *r, const json_t *labels)
{
    const json_t *lv = labels ? json_object_get(labels, r->key) : NULL;

    return req_matches_value(r, lv ? (json_is_string(lv) ? json_string_value(lv) : "") : NULL);
}

bool
label_selector_matches(const struct label_selector *sel, const json_t *labels)
{
    for (size_t i = 0; i < sel->n; i++) {
        if (!req_matches(&sel->reqs[i], labels))
            return false;
    }
    return true;
}

bool
label_selector_matches_entry(const struct label_selector *sel, const struct wc_entry *e)
{
    for (size_t i = 0; i < sel->n; i++) {
        if (!req_matches_value(&sel->reqs[i], wc_entry_label(e, sel->reqs[i].key)))
            return false;
    }
    return true;
}

/* ---- field selector ---------------------------------------------------- */

struct field_term {
    char *field;
    char *value;  /* unescaped */
    bool negated; /* "!=" */
};

/* The terms are ANDed; none selects everything. */
struct field_selector {
    struct field_term *terms;
    size_t n;
};

K3C_DEFINE_CLEANUP(struct field_selector *, field_selector_free)

void
field_selector_free(struct field_selector *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->n; i++) {
        free(sel->terms[i].field);
        free(sel->terms[i].value);
    }
    free(sel->terms);
    free(sel);
}

struct strv {
    char **v;
    size_t n;
};

static void
strv_fini(struct strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
}

/* splitTerms: cuts at commas that no backslash escapes; the escapes stay. */
static void
split_terms(const char *s, struct strv *out)
{
    size_t start = 0;
    bool in_slash = false;

    out->v = k3c_xcalloc(strlen(s) + 1, sizeof(*out->v));
    out->n = 0;
    for (size_t i = 0;; i++) {
        if (s[i] == '\0' || (s[i] == ',' && !in_slash)) {
            out->v[out->n++] = k3c_xstrndup(s + start, i - start);
            start = i + 1;
        }
        if (s[i] == '\0')
            break;
        in_slash = !in_slash && s[i] == '\\';
    }
}

/* The byte length of the UTF-8 sequence at s, for naming a bad escape. */
static int
utf8_seq_len(const char *s)
{
    unsigned char c = (unsigned char)*s;
    int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

    return (int)strnlen(s, (size_t)n);
}

/* UnescapeValue's checks: only \\ \, \= are escapes, and a bare , or = is
 * an error (upstream prints that rune with %v: its code point). */
static int
check_escapes(const char *s, struct k3c_err *err)
{
    for (const char *p = s; *p; p++) {
        if (*p == ',' || *p == '=')
            return k3c_err_set(err, K3C_E_BAD_REQUEST,
                               "invalid field selector: unescaped character in value: %d", *p);
        if (*p != '\\')
            continue;
        p++;
        if (*p != '\\' && *p != ',' && *p != '=')
            return k3c_err_set(err, K3C_E_BAD_REQUEST,
                               "invalid field selector: invalid escape sequence: \\%.*s",
                               *p ? utf8_seq_len(p) : 0, p);
    }
    return 0;
}

/* Drops the backslash of each escape; s passed check_escapes. */
static char *
unescape_value(const char *s)
{
    char *out = k3c_xmalloc(strlen(s) + 1);
    char *o = out;

    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            p++;
        *o++ = *p;
    }
    *o = '\0';
    return out;
}

/* splitTerm: the first "!=", "==" or "=" splits field from value. */
static int
parse_term(const char *term, const char *whole, struct field_term *ft, struct k3c_err *err)
{
    size_t i = 0;
    size_t op_len = 1;

    while (term[i] && term[i] != '=' && !(term[i] == '!' && term[i + 1] == '='))
        i++;
    if (!term[i])
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "invalid selector: '%s'; can't understand '%s'",
                           whole, term);
    if (term[i] == '!' || term[i + 1] == '=')
        op_len = 2;
    ft->negated = term[i] == '!';
    if (check_escapes(term + i + op_len, err) < 0)
        return -1;
    ft->field = k3c_xstrndup(term, i);
    ft->value = unescape_value(term + i + op_len);
    return 0;
}

static bool
field_supported(const char *field, const char *const *supported)
{
    if (strcmp(field, "metadata.name") == 0 || strcmp(field, "metadata.namespace") == 0)
        return true;
    for (size_t i = 0; supported && supported[i]; i++) {
        if (strcmp(field, supported[i]) == 0)
            return true;
    }
    return false;
}

/* Upstream parses every term (sorted) before the kind's field label
 * conversion rejects an unsupported one: parse errors win. */
static int
parse_terms(const char *s, struct field_selector *sel, struct k3c_err *err)
{
    struct strv raw;
    int rc = 0;

    split_terms(s, &raw);
    qsort(raw.v, raw.n, sizeof(*raw.v), cmp_strp);
    sel->terms = k3c_xcalloc(raw.n, sizeof(*sel->terms));
    for (size_t i = 0; i < raw.n && rc == 0; i++) {
        if (raw.v[i][0] == '\0')
            continue;
        rc = parse_term(raw.v[i], s, &sel->terms[sel->n], err);
        if (rc == 0)
            sel->n++;
    }
    strv_fini(&raw);
    return rc;
}

struct field_selector *
field_selector_parse(const char *s, const char *const *supported, struct k3c_err *err)
{
    _cleanup_(field_selector_freep) struct field_selector *sel = k3c_xcalloc(1, sizeof(*sel));

    if (parse_terms(s, sel, err) < 0)
        return NULL;
    for (size_t i = 0; i < sel->n; i++) {
        if (!field_supported(sel->terms[i].field, supported)) {
            k3c_err_set(err, K3C_E_BAD_REQUEST, "field label not supported: %s",
                        sel->terms[i].field);
            return NULL;
        }
    }
    return TAKE_PTR(sel);
}

bool
field_selector_matches(const struct field_selector *sel,
                       const char *(*get)(void *ud, const char *field), void *ud)
{
    for (size_t i = 0; i < sel->n; i++) {
        const char *v = get(ud, sel->terms[i].field);
        bool equal = strcmp(v ? v : "", sel->terms[i].value) == 0;

        if (equal == sel->terms[i].negated)
            return false;
    }
    return true;
}

/* ---- JSON paths --------------------------------------------------------- */

static const json_t *
json_path_get(const json_t *obj, const char *path)
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

/* The shortest %g form that reads back as the same double. */
static const char *
print_real(double d, char *buf, size_t len)
{
    if (!isfinite(d))
        return NULL;
    for (int prec = 1; prec <= 17; prec++) {
        int n = snprintf(buf, len, "%.*g", prec, d);

        if (n < 0 || (size_t)n >= len)
            return NULL;
        if (strtod(buf, NULL) == d)
            break;
    }
    return buf;
}

static const char *
print_scalar(const json_t *v, char *buf, size_t len)
{
    int n;

    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_real(v))
        return print_real(json_real_value(v), buf, len);
    if (json_is_integer(v))
        n = snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_boolean(v))
        n = snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else
        return NULL;
    return (n < 0 || (size_t)n >= len) ? NULL : buf;
}

const char *
api_json_path_string(const json_t *obj, const char *path, char *buf, size_t len)
{
    const json_t *v = json_path_get(obj, path);

    if (!v)
        return NULL;
    return print_scalar(v, buf, len);
}
