/* SPDX-License-Identifier: Apache-2.0
 * api_discovery.c - /version, legacy discovery (/api, /apis, /api/v1,
 * /apis/<g>[/<v>]) and aggregated discovery (apidiscovery.k8s.io v2 and
 * v2beta1, chosen from Accept as kubectl negotiates it). Everything is
 * derived from the resource table. */
#define LOG_COMPONENT "api"
#include "api/api-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "base/version.h"

#include <microhttpd.h>
#include <string.h>
#include <sys/utsname.h>

#define K8S_MAJOR "1"
#define K8S_MINOR "32"
#define MAX_GVS   512 /* group-versions, custom ones included */

static const char *const all_verbs[] = {"create", "delete", "deletecollection", "get",
                                        "list",   "patch",  "update",           "watch"};
static const char *const sub_verbs[] = {"get", "patch", "update"};

static json_t *
string_array(const char *const *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; v && (n ? i < n : v[i] != NULL); i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *
serve_version_json(void)
{
    struct utsname u;
    char platform[64], git_version[128];

    uname(&u);
    snprintf(platform, sizeof(platform), "linux/%.32s",
             strcmp(u.machine, "x86_64") == 0    ? "amd64"
             : strcmp(u.machine, "aarch64") == 0 ? "arm64"
                                                 : u.machine);
    snprintf(git_version, sizeof(git_version), "v%s.%s.0+k3c%s", K8S_MAJOR, K8S_MINOR,
             k3c_version_full());
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", K8S_MAJOR, "minor",
                     K8S_MINOR, "gitVersion", git_version, "gitCommit", k3c_commit, "gitTreeState",
                     "clean", "buildDate", __DATE__, "goVersion", "none (k3c is C)", "compiler",
                     "gcc", "platform", platform);
}

/* The distinct "group/version" pairs in table order; returns the count. */
static size_t
group_versions(const char *groups[], const char *versions[], size_t max, bool core)
{
    size_t n = 0;

    for (const struct api_resource *r = api_resource_next(NULL); r; r = api_resource_next(r)) {
        bool seen = false;

        if ((r->group[0] == '\0') != core)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcmp(groups[i], r->group) == 0 && strcmp(versions[i], r->version) == 0)
                seen = true;
        if (!seen && n < max) {
            groups[n] = r->group;
            versions[n] = r->version;
            n++;
        }
    }
    /* the review kinds' groups (api_review.c): create-only, never stored */
    for (const struct api_review_resource *v = api_review_resources; !core && v->plural; v++) {
        bool seen = false;

        for (size_t i = 0; i < n; i++)
            if (strcmp(groups[i], v->group) == 0 && strcmp(versions[i], v->version) == 0)
                seen = true;
        if (!seen && n < max) {
            groups[n] = v->group;
            versions[n] = v->version;
            n++;
        }
    }
    return n;
}

static json_t *
subresource_kind(const struct api_resource *r, unsigned sub)
{
    if (sub == API_SUB_SCALE)
        return json_pack("{s:s, s:s, s:s}", "group", "autoscaling", "version", "v1", "kind",
                         "Scale");
    return json_pack("{s:s, s:s, s:s}", "group", r->group, "version", r->version, "kind", r->kind);
}

static const char *
sub_name(unsigned sub)
{
    return sub == API_SUB_SCALE ? "scale" : "status";
}

/* pods/binding and pods/eviction: POST only; kubectl drain looks for
 * pods/eviction (kind Eviction, group policy) before it evicts. */
struct post_sub {
    const char *plural, *name, *group, *version, *kind;
    bool update; /* get, patch, update (else create) */
};
static const struct post_sub pod_post_subs[] = {
    {"pods", "binding", "", "v1", "Binding", false},
    {"pods", "eviction", "policy", "v1", "Eviction", false},
    /* issue #15: TokenRequest and the CSR approval subresource */
    {"serviceaccounts", "token", "authentication.k8s.io", "v1", "TokenRequest", false},
    {"certificatesigningrequests", "approval", "", "", "CertificateSigningRequest", true},
};
static const char *const create_verb[] = {"create"};

static json_t *
post_sub_verbs(const struct post_sub *p)
{
    return p->update ? string_array(sub_verbs, K3C_ARRAY_SIZE(sub_verbs))
                     : string_array(create_verb, 1);
}

static void
add_legacy_post_subs(json_t *list, const struct api_resource *r)
{
    for (size_t i = 0; i < K3C_ARRAY_SIZE(pod_post_subs); i++) {
        const struct post_sub *p = &pod_post_subs[i];
        _cleanup_free_ char *name = NULL;
        json_t *e;

        if (strcmp(r->plural, p->plural) != 0)
            continue;
        name = k3c_xasprintf("%s/%s", r->plural, p->name);
        e = json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", name, "singularName", "", "namespaced",
                      r->namespaced, "kind", p->kind, "verbs", post_sub_verbs(p));

        if (*p->group) {
            json_object_set_new(e, "group", json_string(p->group));
            json_object_set_new(e, "version", json_string(p->version));
        }
        json_array_append_new(list, e);
    }
}

static void
add_aggregated_post_subs(json_t *subs, const struct api_resource *r)
{
    for (size_t i = 0; i < K3C_ARRAY_SIZE(pod_post_subs); i++) {
        const struct post_sub *p = &pod_post_subs[i];

        if (strcmp(r->plural, p->plural) != 0)
            continue;
        json_array_append_new(subs,
                              json_pack("{s:s, s:{s:s, s:s, s:s}, s:o}", "subresource", p->name,
                                        "responseKind", "group", *p->version ? p->group : r->group,
                                        "version", *p->version ? p->version : r->version, "kind",
                                        p->kind, "verbs", post_sub_verbs(p)));
    }
}

/* The review kinds of group/version (api_review.c): create only. */
static void
add_review_resources(json_t *list, const char *group, const char *version, bool aggregated)
{
    for (const struct api_review_resource *v = api_review_resources; v->plural; v++) {
        if (strcmp(v->group, group) != 0 || strcmp(v->version, version) != 0)
            continue;
        if (aggregated)
            json_array_append_new(list, json_pack("{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:o}",
                                                  "resource", v->plural, "responseKind", "group",
                                                  v->group, "version", v->version, "kind", v->kind,
                                                  "scope", v->namespaced ? "Namespaced" : "Cluster",
                                                  "singularResource", v->singular, "verbs",
                                                  string_array(create_verb, 1)));
        else
            json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", v->plural,
                                                  "singularName", v->singular, "namespaced",
                                                  v->namespaced, "kind", v->kind, "verbs",
                                                  string_array(create_verb, 1)));
    }
}

/* ---- legacy ------------------------------------------------------------ */

static void
add_legacy_resource(json_t *list, const struct api_resource *r)
{
    json_t *e = json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", r->plural, "singularName",
                          r->singular, "namespaced", r->namespaced, "kind", r->kind, "verbs",
                          string_array(all_verbs, K3C_ARRAY_SIZE(all_verbs)));

    if (r->short_names)
        json_object_set_new(e, "shortNames", string_array(r->short_names, 0));
    if (r->categories)
        json_object_set_new(e, "categories", string_array(r->categories, 0));
    json_array_append_new(list, e);
    for (unsigned sub = API_SUB_STATUS; sub <= API_SUB_SCALE; sub <<= 1) {
        _cleanup_free_ char *name = NULL;
        json_t *k;

        if (!(r->subresources & sub))
            continue;
        name = k3c_xasprintf("%s/%s", r->plural, sub_name(sub));
        k = subresource_kind(r, sub);
        e = json_pack("{s:s, s:s, s:b, s:O, s:o}", "name", name, "singularName", "", "namespaced",
                      r->namespaced, "kind", json_object_get(k, "kind"), "verbs",
                      string_array(sub_verbs, K3C_ARRAY_SIZE(sub_verbs)));
        if (sub == API_SUB_SCALE) {
            json_object_set_new(e, "group", json_string("autoscaling"));
            json_object_set_new(e, "version", json_string("v1"));
        }
        json_decref(k);
        json_array_append_new(list, e);
    }
    add_legacy_post_subs(list, r);
}

static json_t *
resource_list(const char *group, const char *version)
{
    _cleanup_free_ char *gv =
        group[0] ? k3c_xasprintf("%s/%s", group, version) : k3c_xstrdup(version);
    json_t *resources = json_array();

    for (const struct api_resource *r = api_resource_next(NULL); r; r = api_resource_next(r))
        if (strcmp(r->group, group) == 0 && strcmp(r->version, version) == 0)
            add_legacy_resource(resources, r);
    add_review_resources(resources, group, version, false);
    if (json_array_size(resources) == 0) {
        json_decref(resources);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                     "groupVersion", gv, "resources", resources);
}

static json_t *
api_group_json(const char *group)
{
    const char *groups[MAX_GVS], *versions[MAX_GVS];
    size_t n = group_versions(groups, versions, MAX_GVS, false);
    json_t *vs = json_array(), *preferred = NULL;

    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *gv = NULL;

        if (strcmp(groups[i], group) != 0)
            continue;
        gv = k3c_xasprintf("%s/%s", groups[i], versions[i]);
        json_array_append_new(vs,
                              json_pack("{s:s, s:s}", "groupVersion", gv, "version", versions[i]));
        if (!preferred)
            preferred = json_pack("{s:s, s:s}", "groupVersion", gv, "version", versions[i]);
    }
    if (!preferred) {
        json_decref(vs);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o}", "name", group, "versions", vs, "preferredVersion",
                     preferred);
}

static json_t *
api_group_list(void)
{
    const char *groups[MAX_GVS], *versions[MAX_GVS];
    size_t n = group_versions(groups, versions, MAX_GVS, false);
    json_t *list = json_array();

    for (size_t i = 0; i < n; i++) {
        bool first = true;

        for (size_t k = 0; k < i; k++)
            if (strcmp(groups[k], groups[i]) == 0)
                first = false;
        if (first)
            json_array_append_new(list, api_group_json(groups[i]));
    }
    return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups", list);
}

static json_t *
api_versions(struct api_request *r)
{
    const char *host = api_header(r, "Host");

    return json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
                     "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
                     host ? host : "");
}

/* ---- aggregated (apidiscovery.k8s.io) ----------------------------------- */

static json_t *
aggregated_resource(const struct api_resource *r)
{
    json_t *e = json_pack("{s:s, s:o, s:s, s:s, s:o}", "resource", r->plural, "responseKind",
                          subresource_kind(r, 0), "scope", r->namespaced ? "Namespaced" : "Cluster",
                          "singularResource", r->singular, "verbs",
                          string_array(all_verbs, K3C_ARRAY_SIZE(all_verbs)));
    json_t *subs = json_array();

    if (r->short_names)
        json_object_set_new(e, "shortNames", string_array(r->short_names, 0));
    if (r->categories)
        json_object_set_new(e, "categories", string_array(r->categories, 0));
    for (unsigned sub = API_SUB_STATUS; sub <= API_SUB_SCALE; sub <<= 1)
        if (r->subresources & sub)
            json_array_append_new(subs, json_pack("{s:s, s:o, s:o}", "subresource", sub_name(sub),
                                                  "responseKind", subresource_kind(r, sub), "verbs",
                                                  string_array(sub_verbs, 3)));
    add_aggregated_post_subs(subs, r);
    if (json_array_size(subs))
        json_object_set_new(e, "subresources", subs);
    else
        json_decref(subs);
    return e;
}

static json_t *
aggregated_list(bool core, const char *api_version)
{
    const char *groups[MAX_GVS], *versions[MAX_GVS];
    size_t n = group_versions(groups, versions, MAX_GVS, core);
    json_t *items = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *item = NULL, *resources = json_array();
        size_t k;

        /* One item per group; its versions in table order. */
        for (k = 0; k < i; k++)
            if (strcmp(groups[k], groups[i]) == 0)
                break;
        if (k < i) {
            json_decref(resources);
            continue;
        }
        item = json_pack("{s:{s:s}, s:[]}", "metadata", "name", groups[i], "versions");
        for (size_t v = i; v < n; v++) {
            if (strcmp(groups[v], groups[i]) != 0)
                continue;
            for (const struct api_resource *r = api_resource_next(NULL); r;
                 r = api_resource_next(r))
                if (strcmp(r->group, groups[v]) == 0 && strcmp(r->version, versions[v]) == 0)
                    json_array_append_new(resources, aggregated_resource(r));
            add_review_resources(resources, groups[v], versions[v], true);
            json_array_append_new(json_object_get(item, "versions"),
                                  json_pack("{s:s, s:O, s:s}", "version", versions[v], "resources",
                                            resources, "freshness", "Current"));
            json_decref(resources);
            resources = json_array();
        }
        json_decref(resources);
        json_array_append_new(items, item);
    }
    return json_pack("{s:s, s:s, s:{}, s:o}", "kind", "APIGroupDiscoveryList", "apiVersion",
                     api_version, "metadata", "items", items);
}

/* Which aggregated form Accept asks for: "v2", "v2beta1" or NULL. */
static const char *
aggregated_wanted(struct api_request *r)
{
    const char *accept = api_header(r, "Accept");

    if (!accept || !strstr(accept, "as=APIGroupDiscoveryList"))
        return NULL;
    if (strstr(accept, "g=apidiscovery.k8s.io;v=v2;") || strstr(accept, "v=v2;as=") ||
        strstr(accept, "v=v2,"))
        return "v2";
    if (strstr(accept, "v=v2beta1"))
        return "v2beta1";
    return NULL;
}

static int
reply_aggregated(struct api_request *r, bool core, const char *v)
{
    _cleanup_free_ char *ct =
        k3c_xasprintf("application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList", v);
    _cleanup_free_ char *api_version = k3c_xasprintf("apidiscovery.k8s.io/%s", v);
    _cleanup_json_ json_t *body = aggregated_list(core, api_version);
    char *text = json_dumps(body, JSON_COMPACT);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    int ret;

    MHD_add_response_header(resp, "Content-Type", ct);
    MHD_add_response_header(resp, "Vary", "Accept");
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

int
api_discovery_serve(struct api_request *r)
{
    const char *u = r->url;
    char group[128], version[64], extra;
    const char *agg;
    json_t *j;
    int reply;

    if (strcmp(r->method, "GET") != 0)
        return -1;
    if (strcmp(u, "/version") == 0)
        return api_reply_json_take(r, 200, serve_version_json());
    if (strcmp(u, "/api") == 0 || strcmp(u, "/apis") == 0) {
        bool core = strcmp(u, "/api") == 0;

        agg = aggregated_wanted(r);
        if (agg)
            return reply_aggregated(r, core, agg);
        return api_reply_json_take(r, 200, core ? api_versions(r) : api_group_list());
    }
    if (strcmp(u, "/api/v1") == 0)
        return api_reply_json_take(r, 200, resource_list("", "v1"));
    if (sscanf(u, "/apis/%127[^/]/%63[^/]%c", group, version, &extra) == 2) {
        j = resource_list(group, version);
        if (!j)
            return api_reply_status(r, K3C_E_NOT_FOUND, NULL, NULL,
                                    "the server could not find the requested resource");
        return api_reply_json_take(r, 200, j);
    }
    if (sscanf(u, "/apis/%127[^/]%c", group, &extra) == 1) {
        j = api_group_json(group);
        if (!j)
            return api_reply_status(r, K3C_E_NOT_FOUND, NULL, NULL,
                                    "the server could not find the requested resource");
        reply = api_reply_json_take(
            r, 200,
            json_pack("{s:s, s:s, s:O, s:O, s:O}", "kind", "APIGroup", "apiVersion", "v1", "name",
                      json_object_get(j, "name"), "versions", json_object_get(j, "versions"),
                      "preferredVersion", json_object_get(j, "preferredVersion")));
        json_decref(j); /* the group's JSON: the reply holds its own references */
        return reply;
    }
    return -1;
}
