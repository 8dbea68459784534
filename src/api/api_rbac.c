/* SPDX-License-Identifier: Apache-2.0
 * api_rbac.c - the RBAC authorizer (upstream's plugin/pkg/auth/authorizer/
 * rbac): a request is allowed when a rule of a role bound to the user
 * allows it. The bindings with their roles' rules are kept in an index
 * built from the watch caches of the four kinds; each check compares a
 * cheap fingerprint of those caches (entry count and newest revision) and
 * rebuilds the index only when it moved. Also escalation prevention: a
 * user may write a role or binding only granting what they hold, unless
 * they have the escalate or bind verb. */
#define LOG_COMPONENT "rbac"
#include "api/api-internal.h"
#include "api/api-jwt.h"
#include "api/api-rbac.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define RBAC_GROUP "rbac.authorization.k8s.io"

/* ---- the pure matcher ---------------------------------------------------- */

static bool
list_has(const json_t *list, const char *want)
{
    size_t i = 0;
    const json_t *v = NULL;

    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);

        if (s && (strcmp(s, "*") == 0 || strcmp(s, want) == 0))
            return true;
    }
    return false;
}

static bool
resource_matches(const json_t *resources, const char *resource, const char *sub)
{
    size_t i = 0, rlen = strlen(resource), slen = sub ? strlen(sub) : 0;
    const json_t *v = NULL;

    json_array_foreach(resources, i, v)
    {
        const char *s = json_string_value(v);
        size_t len = s ? strlen(s) : 0;

        if (!s)
            continue;
        if (strcmp(s, "*") == 0)
            return true;
        if (!slen && strcmp(s, resource) == 0)
            return true;
        if (slen && len == rlen + 1 + slen && strncmp(s, resource, rlen) == 0 && s[rlen] == '/' &&
            strcmp(s + rlen + 1, sub) == 0)
            return true;
        if (slen && len == slen + 2 && strncmp(s, "*/", 2) == 0 && strcmp(s + 2, sub) == 0)
            return true;
    }
    return false;
}

static bool
name_matches(const json_t *names, const char *name)
{
    size_t i = 0;
    const json_t *v = NULL;

    if (json_array_size(names) == 0)
        return true;
    if (!name || !*name)
        return false;
    json_array_foreach(names, i, v)
    {
        if (json_string_value(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

static bool
url_matches(const json_t *urls, const char *path)
{
    size_t i = 0;
    const json_t *v = NULL;

    json_array_foreach(urls, i, v)
    {
        const char *s = json_string_value(v);
        size_t len = s ? strlen(s) : 0;

        if (!s)
            continue;
        if (strcmp(s, path) == 0 || strcmp(s, "*") == 0)
            return true;
        if (len > 0 && s[len - 1] == '*' && strncmp(s, path, len - 1) == 0)
            return true;
    }
    return false;
}

bool
rbac_rule_allows(const json_t *rule, const struct rbac_attrs *a)
{
    if (!json_is_object(rule) || !a->verb || !list_has(json_object_get(rule, "verbs"), a->verb))
        return false;
    if (!a->resource_request)
        return a->path && url_matches(json_object_get(rule, "nonResourceURLs"), a->path);
    return a->group && a->resource && list_has(json_object_get(rule, "apiGroups"), a->group) &&
           resource_matches(json_object_get(rule, "resources"), a->resource,
                            a->subresource && *a->subresource ? a->subresource : NULL) &&
           name_matches(json_object_get(rule, "resourceNames"), a->name);
}

static bool
user_in_group(const struct api_user *u, const char *g)
{
    for (int i = 0; i < u->n_groups; i++)
        if (strcmp(u->groups[i], g) == 0)
            return true;
    return false;
}

bool
rbac_subject_matches(const json_t *subject, const struct api_user *u, const char *binding_ns)
{
    const char *kind = json_string_value(json_object_get(subject, "kind"));
    const char *name = json_string_value(json_object_get(subject, "name"));
    const char *ns = json_string_value(json_object_get(subject, "namespace"));
    char sa[512];

    if (!kind || !name)
        return false;
    if (strcmp(kind, "User") == 0)
        return strcmp(u->name, name) == 0;
    if (strcmp(kind, "Group") == 0)
        return user_in_group(u, name);
    if (strcmp(kind, "ServiceAccount") != 0)
        return false;
    if (!ns || !*ns)
        ns = binding_ns;
    if (!ns || !*ns)
        return false;
    snprintf(sa, sizeof(sa), "system:serviceaccount:%s:%s", ns, name);
    return strcmp(u->name, sa) == 0;
}

/* ---- the index ----------------------------------------------------------- */

enum { RB_ROLES, RB_CLUSTERROLES, RB_ROLEBINDINGS, RB_CLUSTERROLEBINDINGS, RB_N };
static const char *const rb_plurals[RB_N] = {"roles", "clusterroles", "rolebindings",
                                             "clusterrolebindings"};

struct rbac_index {
    atomic_int refs;
    /* [{"ns": "x" | null, "subjects": [...], "rules": [...]}] */
    json_t *bindings;
    int64_t fp[RB_N][2]; /* entry count, newest revision */
};

struct api_rbac {
    pthread_mutex_t lock;
    struct rbac_index *idx;
    struct jwt_key *sa_key; /* api_satoken.c's, set once */
};

static pthread_mutex_t rbac_create_lock = PTHREAD_MUTEX_INITIALIZER;

static struct rbac_index *
index_unref(struct rbac_index *idx)
{
    if (idx && atomic_fetch_sub(&idx->refs, 1) == 1) {
        json_decref(idx->bindings);
        free(idx);
    }
    return NULL;
}

static void
index_unrefp(struct rbac_index **p)
{
    index_unref(*p);
}

static struct api_rbac *
rbac_of(struct api_server *srv)
{
    pthread_mutex_lock(&rbac_create_lock);
    if (!srv->rbac) {
        srv->rbac = k3c_xcalloc(1, sizeof(*srv->rbac));
        pthread_mutex_init(&srv->rbac->lock, NULL);
    }
    pthread_mutex_unlock(&rbac_create_lock);
    return srv->rbac;
}

void
api_rbac_free(struct api_server *srv)
{
    if (!srv->rbac)
        return;
    index_unref(srv->rbac->idx);
    jwt_key_free(srv->rbac->sa_key);
    pthread_mutex_destroy(&srv->rbac->lock);
    free(srv->rbac);
    srv->rbac = NULL;
}

const struct jwt_key *
api_rbac_sa_key(struct api_server *srv)
{
    return rbac_of(srv)->sa_key;
}

void
api_rbac_set_sa_key(struct api_server *srv, struct jwt_key *key)
{
    struct api_rbac *rb = rbac_of(srv);

    jwt_key_free(rb->sa_key);
    rb->sa_key = key;
}

struct collect {
    struct wc_entry **items;
    size_t n, cap;
    int64_t max_rev;
    bool keep;
};

static void
collect_entry(void *ud, struct wc_entry *e)
{
    struct collect *c = ud;

    c->n++;
    if (e->revision > c->max_rev)
        c->max_rev = e->revision;
    if (!c->keep)
        return;
    if (c->n > c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->items = k3c_xrealloc(c->items, c->cap * sizeof(*c->items));
    }
    c->items[c->n - 1] = wc_entry_ref(e);
}

static void
collect_fini(struct collect *c)
{
    for (size_t i = 0; c->keep && i < c->n; i++)
        wc_entry_unref(c->items[i]);
    free(c->items);
}

static struct watch_cache *
rb_cache(struct api_server *srv, int kind)
{
    const struct api_resource *res = api_resource_find(RBAC_GROUP, "v1", rb_plurals[kind]);

    return res ? api_cache_for(srv, res) : NULL;
}

static void
rb_scan(struct api_server *srv, int kind, struct collect *c)
{
    const struct api_resource *res = api_resource_find(RBAC_GROUP, "v1", rb_plurals[kind]);
    struct watch_cache *wc = rb_cache(srv, kind);
    _cleanup_free_ char *prefix = NULL;

    if (!wc)
        return;
    prefix = api_list_prefix(res, NULL);
    watch_cache_foreach(wc, prefix, collect_entry, c);
}

/* {"<ns>/<name>" or "<name>": rules} of the roles or cluster roles. */
static json_t *
rules_by_name(struct collect *c)
{
    json_t *out = json_object();

    for (size_t i = 0; i < c->n; i++) {
        _cleanup_json_ json_t *obj = wc_entry_object(c->items[i]);
        char key[512];
        json_t *rules = json_object_get(obj, "rules");

        snprintf(key, sizeof(key), "%s%s%s", c->items[i]->namespace,
                 c->items[i]->namespace[0] ? "/" : "", c->items[i]->name);
        json_object_set(out, key, json_is_array(rules) ? rules : json_array());
    }
    return out;
}

static void
add_bindings(json_t *out, struct collect *c, const json_t *roles, const json_t *croles)
{
    for (size_t i = 0; i < c->n; i++) {
        _cleanup_json_ json_t *obj = wc_entry_object(c->items[i]);
        const char *ns = c->items[i]->namespace;
        const char *kind = json_string_value(api_json_path(obj, "roleRef.kind"));
        const char *name = json_string_value(api_json_path(obj, "roleRef.name"));
        const json_t *rules = NULL;
        char key[512];

        if (!kind || !name)
            continue;
        if (strcmp(kind, "ClusterRole") == 0) {
            rules = json_object_get(croles, name);
        } else if (strcmp(kind, "Role") == 0 && ns[0]) {
            snprintf(key, sizeof(key), "%s/%s", ns, name);
            rules = json_object_get(roles, key);
        }
        if (!rules || !json_is_array(json_object_get(obj, "subjects")))
            continue;
        json_array_append_new(out, json_pack("{s:o, s:O, s:O}", "ns",
                                             ns[0] ? json_string(ns) : json_null(), "subjects",
                                             json_object_get(obj, "subjects"), "rules", rules));
    }
}

static struct rbac_index *
index_build(struct api_server *srv)
{
    struct collect c[RB_N] = {0};
    struct rbac_index *idx = k3c_xcalloc(1, sizeof(*idx));
    _cleanup_json_ json_t *roles = NULL, *croles = NULL;

    atomic_init(&idx->refs, 1);
    for (int k = 0; k < RB_N; k++) {
        c[k].keep = true;
        rb_scan(srv, k, &c[k]);
        idx->fp[k][0] = (int64_t)c[k].n;
        idx->fp[k][1] = c[k].max_rev;
    }
    roles = rules_by_name(&c[RB_ROLES]);
    croles = rules_by_name(&c[RB_CLUSTERROLES]);
    idx->bindings = json_array();
    add_bindings(idx->bindings, &c[RB_CLUSTERROLEBINDINGS], roles, croles);
    add_bindings(idx->bindings, &c[RB_ROLEBINDINGS], roles, croles);
    for (int k = 0; k < RB_N; k++)
        collect_fini(&c[k]);
    return idx;
}

static bool
index_current(struct api_server *srv, const struct rbac_index *idx)
{
    for (int k = 0; k < RB_N; k++) {
        struct collect c = {0};

        rb_scan(srv, k, &c);
        if ((int64_t)c.n != idx->fp[k][0] || c.max_rev != idx->fp[k][1])
            return false;
    }
    return true;
}

/* A ref to an index that matches the caches now. */
static struct rbac_index *
index_get(struct api_server *srv)
{
    struct api_rbac *rb = rbac_of(srv);
    struct rbac_index *idx = NULL;

    pthread_mutex_lock(&rb->lock);
    if (!rb->idx || !index_current(srv, rb->idx)) {
        index_unref(rb->idx);
        rb->idx = index_build(srv);
    }
    idx = rb->idx;
    atomic_fetch_add(&idx->refs, 1);
    pthread_mutex_unlock(&rb->lock);
    return idx;
}

/* Whether binding b (an index entry) applies to u in namespace ns. */
static bool
binding_applies(const json_t *b, const struct api_user *u, const char *ns)
{
    const char *bns = json_string_value(json_object_get(b, "ns"));
    size_t i = 0;
    const json_t *s = NULL;

    if (bns && (!ns || strcmp(bns, ns) != 0))
        return false;
    json_array_foreach(json_object_get(b, "subjects"), i, s)
    {
        if (rbac_subject_matches(s, u, bns))
            return true;
    }
    return false;
}

bool
api_rbac_allows(struct api_server *srv, const struct api_user *u, const struct rbac_attrs *a)
{
    _cleanup_(index_unrefp) struct rbac_index *idx = index_get(srv);
    const char *ns = a->resource_request && a->namespace && *a->namespace ? a->namespace : NULL;
    size_t i = 0, k = 0;
    const json_t *b = NULL, *rule = NULL;

    json_array_foreach(idx->bindings, i, b)
    {
        if (!binding_applies(b, u, ns))
            continue;
        json_array_foreach(json_object_get(b, "rules"), k, rule)
        {
            if (rbac_rule_allows(rule, a))
                return true;
        }
    }
    return false;
}

bool
api_authz_allows(struct api_server *srv, const struct api_user *u, const struct rbac_attrs *a)
{
    return user_in_group(u, "system:masters") || api_rbac_allows(srv, u, a);
}

static json_t *
copy_list(const json_t *rule, const char *field)
{
    const json_t *v = json_object_get(rule, field);

    return json_is_array(v) ? json_deep_copy(v) : json_array();
}

json_t *
api_rbac_rules_review(struct api_server *srv, const struct api_user *u, const char *ns)
{
    _cleanup_(index_unrefp) struct rbac_index *idx = index_get(srv);
    json_t *res = json_array(), *nonres = json_array();
    size_t i = 0, k = 0;
    const json_t *b = NULL, *rule = NULL;

    json_array_foreach(idx->bindings, i, b)
    {
        if (!binding_applies(b, u, ns && *ns ? ns : NULL))
            continue;
        json_array_foreach(json_object_get(b, "rules"), k, rule)
        {
            if (json_array_size(json_object_get(rule, "nonResourceURLs")) > 0) {
                json_array_append_new(nonres, json_pack("{s:o, s:o}", "verbs",
                                                        copy_list(rule, "verbs"), "nonResourceURLs",
                                                        copy_list(rule, "nonResourceURLs")));
                continue;
            }
            json_t *r =
                json_pack("{s:o, s:o, s:o}", "verbs", copy_list(rule, "verbs"), "apiGroups",
                          copy_list(rule, "apiGroups"), "resources", copy_list(rule, "resources"));

            if (json_array_size(json_object_get(rule, "resourceNames")) > 0)
                json_object_set_new(r, "resourceNames", copy_list(rule, "resourceNames"));
            json_array_append_new(res, r);
        }
    }
    return json_pack("{s:o, s:o, s:b}", "resourceRules", res, "nonResourceRules", nonres,
                     "incomplete", 0);
}

/* ---- 403 ----------------------------------------------------------------- */

int
api_reply_forbidden(struct api_request *r, const struct rbac_attrs *a)
{
    char scope[160], resource[256], qualified[256];

    if (!a->resource_request)
        return api_reply_status_code(r, 403, "Forbidden",
                                     "forbidden: User \"%s\" cannot %s path \"%s\"", r->user.name,
                                     a->verb, a->path);
    if (a->namespace && *a->namespace)
        snprintf(scope, sizeof(scope), " in the namespace \"%.100s\"", a->namespace);
    else
        snprintf(scope, sizeof(scope), " at the cluster scope");
    snprintf(resource, sizeof(resource), "%s%s%s", a->resource,
             a->subresource && *a->subresource ? "/" : "",
             a->subresource && *a->subresource ? a->subresource : "");
    snprintf(qualified, sizeof(qualified), "%s%s%s", a->resource, a->group[0] ? "." : "", a->group);
    if (a->name && *a->name)
        return api_reply_status_code(r, 403, "Forbidden",
                                     "%s \"%s\" is forbidden: User \"%s\" cannot %s resource "
                                     "\"%s\" in API group \"%s\"%s",
                                     qualified, a->name, r->user.name, a->verb, resource, a->group,
                                     scope);
    return api_reply_status_code(r, 403, "Forbidden",
                                 "%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API "
                                 "group \"%s\"%s",
                                 qualified, r->user.name, a->verb, resource, a->group, scope);
}

/* ---- escalation prevention ---------------------------------------------- */

static const json_t *
str_list(const json_t *rule, const char *field, const json_t *dflt)
{
    const json_t *v = json_object_get(rule, field);

    return json_array_size(v) > 0 ? v : dflt;
}

/* Whether u holds every atomic permission of rule in ns (NULL: cluster). */
static bool
rule_covered(struct api_server *srv, const struct api_user *u, const json_t *rule, const char *ns)
{
    _cleanup_json_ json_t *none = json_pack("[s]", "");
    const json_t *verbs = json_object_get(rule, "verbs"), *urls = NULL;
    size_t iv = 0, ig = 0, ir = 0, in = 0;
    const json_t *v = NULL, *g = NULL, *res = NULL, *n = NULL;

    urls = json_object_get(rule, "nonResourceURLs");
    json_array_foreach(verbs, iv, v)
    {
        json_array_foreach(urls, ir, res)
        {
            struct rbac_attrs a = {.verb = json_string_value(v), .path = json_string_value(res)};

            if (a.verb && a.path && !api_authz_allows(srv, u, &a))
                return false;
        }
        json_array_foreach(json_object_get(rule, "apiGroups"), ig, g)
        {
            json_array_foreach(json_object_get(rule, "resources"), ir, res)
            {
                const char *full = json_string_value(res);
                char base[256];
                const char *slash;

                if (!full || !json_string_value(g))
                    continue;
                slash = strchr(full, '/');
                snprintf(base, sizeof(base), "%.*s",
                         slash ? (int)(slash - full) : (int)strlen(full), full);
                json_array_foreach(str_list(rule, "resourceNames", none), in, n)
                {
                    struct rbac_attrs a = {.verb = json_string_value(v),
                                           .resource_request = true,
                                           .group = json_string_value(g),
                                           .resource = base,
                                           .subresource = slash ? slash + 1 : NULL,
                                           .name = json_string_value(n),
                                           .namespace = ns};

                    if (a.verb && !api_authz_allows(srv, u, &a))
                        return false;
                }
            }
        }
    }
    return true;
}

static void
append_rule_text(struct k3c_buf *b, const json_t *rule)
{
    static const char *const fields[][2] = {{"apiGroups", "APIGroups"},
                                            {"resources", "Resources"},
                                            {"resourceNames", "ResourceNames"},
                                            {"nonResourceURLs", "NonResourceURLs"},
                                            {"verbs", "Verbs"}};
    bool first = true;

    k3c_buf_append(b, "{", 1);
    for (size_t f = 0; f < K3C_ARRAY_SIZE(fields); f++) {
        const json_t *list = json_object_get(rule, fields[f][0]), *v = NULL;
        size_t i = 0;

        if (json_array_size(list) == 0)
            continue;
        k3c_buf_appendf(b, "%s%s:[", first ? "" : ", ", fields[f][1]);
        json_array_foreach(list, i, v)
        {
            k3c_buf_appendf(b, "%s\"%s\"", i ? " " : "",
                            json_string_value(v) ? json_string_value(v) : "");
        }
        k3c_buf_append(b, "]", 1);
        first = false;
    }
    k3c_buf_append(b, "}", 1);
}

/* upstream ConfirmNoEscalation's error. */
static int
reply_escalation(struct api_request *r, const char *name, const json_t *missing)
{
    struct k3c_buf b;
    size_t i = 0;
    const json_t *rule = NULL;
    int ret;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "user \"%s\" (groups=[", r->user.name);
    for (int g = 0; g < r->user.n_groups; g++)
        k3c_buf_appendf(&b, "%s\"%s\"", g ? " " : "", r->user.groups[g]);
    k3c_buf_appendf(&b, "]) is attempting to grant RBAC permissions not currently held:");
    json_array_foreach(missing, i, rule)
    {
        k3c_buf_append(&b, "\n", 1);
        append_rule_text(&b, rule);
    }
    ret = api_reply_status_code(r, 403, "Forbidden", "%s.%s \"%s\" is forbidden: %s",
                                r->res->plural, RBAC_GROUP, name, b.data);
    k3c_buf_fini(&b);
    return ret;
}

static int
check_rules(struct api_request *r, const char *name, const json_t *rules, const char *ns)
{
    _cleanup_json_ json_t *missing = json_array();
    size_t i = 0;
    const json_t *rule = NULL;

    json_array_foreach(rules, i, rule)
    {
        if (!rule_covered(r->srv, &r->user, rule, ns))
            json_array_append(missing, (json_t *)rule);
    }
    if (json_array_size(missing) == 0)
        return -1;
    return reply_escalation(r, name, missing);
}

/* The rules of the role a binding refers to, from the index's source
 * caches (a new reference), or NULL. */
static json_t *
referenced_rules(struct api_server *srv, const char *kind, const char *name, const char *ns)
{
    bool cluster = strcmp(kind, "ClusterRole") == 0;
    const struct api_resource *res =
        api_resource_find(RBAC_GROUP, "v1", cluster ? "clusterroles" : "roles");
    _cleanup_free_ char *key = NULL;
    struct wc_entry *e = NULL;
    json_t *obj = NULL, *rules = NULL;

    if (!res || (!cluster && !ns))
        return NULL;
    key = api_object_key(res, cluster ? NULL : ns, name);
    e = watch_cache_get(api_cache_for(srv, res), key);
    if (!e)
        return NULL;
    obj = wc_entry_object(e);
    wc_entry_unref(e);
    rules = json_incref(json_object_get(obj, "rules"));
    json_decref(obj);
    return rules ? rules : json_array();
}

int
api_rbac_admit(struct api_request *r, const json_t *obj)
{
    const char *plural = r->res->plural, *name = api_meta_str(obj, "name");
    const char *ns = r->res->namespaced ? api_meta_str(obj, "namespace") : NULL;
    bool binding = strstr(plural, "bindings") != NULL;
    struct rbac_attrs a = {.resource_request = true, .group = RBAC_GROUP, .namespace = ns};
    _cleanup_json_ json_t *rules = NULL, *full = NULL;

    if (strcmp(r->res->group, RBAC_GROUP) != 0 || user_in_group(&r->user, "system:masters"))
        return -1;
    if (!name)
        name = "";
    if (!binding) {
        a.verb = "escalate";
        a.resource = plural;
        a.name = name;
        if (api_rbac_allows(r->srv, &r->user, &a))
            return -1;
        if (json_is_object(json_object_get(obj, "aggregationRule"))) {
            full = json_pack("[{s:[s], s:[s], s:[s]}, {s:[s], s:[s]}]", "apiGroups", "*",
                             "resources", "*", "verbs", "*", "nonResourceURLs", "*", "verbs", "*");
            int ret = check_rules(r, name, full, NULL);

            if (ret >= 0)
                return ret;
        }
        return check_rules(r, name, json_object_get(obj, "rules"), ns);
    }
    {
        const char *kind = json_string_value(api_json_path(obj, "roleRef.kind"));
        const char *role = json_string_value(api_json_path(obj, "roleRef.name"));

        if (!kind || !role)
            return -1; /* validation already refused it */
        a.verb = "bind";
        a.resource = strcmp(kind, "ClusterRole") == 0 ? "clusterroles" : "roles";
        a.name = role;
        if (api_rbac_allows(r->srv, &r->user, &a))
            return -1;
        rules = referenced_rules(r->srv, kind, role, ns);
        if (!rules)
            return api_reply_status_code(
                r, 403, "Forbidden",
                "%s.%s \"%s\" is forbidden: user \"%s\" cannot bind %s \"%s\": not found", plural,
                RBAC_GROUP, name, r->user.name, kind, role);
        return check_rules(r, name, rules, ns);
    }
}
