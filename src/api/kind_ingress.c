/* SPDX-License-Identifier: Apache-2.0
 * kind_ingress.c - networking.k8s.io/v1 Ingress ("ing") and IngressClass,
 * the shape of upstream's pkg/registry/networking/{ingress,ingressclass}
 * strategies (Kubernetes 1.32): table columns of kubectl (printIngress,
 * printIngressClass), validation (pkg/apis/networking/validation: rules or
 * a default backend, pathType and path rules, a backend is a service or a
 * resource, never both, a service port by name or number), the default of
 * parameters.scope, and the DefaultIngressClass admission plugin: an Ingress
 * created without a class gets the newest class annotated
 * ingressclass.kubernetes.io/is-default-class=true. k3c stores Ingresses;
 * routing traffic is an ingress controller's job (docs/workloads.md). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"

#define ANN_INGRESS_CLASS "kubernetes.io/ingress.class"
#define ANN_DEFAULT_CLASS "ingressclass.kubernetes.io/is-default-class"
#define LB_WIDTH          16 /* loadBalancerWidth of the printers */

const struct api_column api_columns_ingress[] = {
    COL_NAME,
    {"Class", "string", "", "The name of the IngressClass resource that should be used for ingress",
     0},
    {"Hosts", "string", "",
     "Hosts that incoming requests are matched against before the ingress rule", 0},
    {"Address", "string", "", "Address is a list containing ingress points for the load-balancer",
     0},
    {"Ports", "string", "", "Ports of TLS configurations that open", 0},
    COL_AGE,
    COL_END,
};

const struct api_column api_columns_ingressclass[] = {
    COL_NAME,
    {"Controller", "string", "", "Controller that is responsible for handling this class", 0},
    {"Parameters", "string", "", "A reference to a resource with additional parameters", 0},
    COL_AGE,
    COL_END,
};

/* formatHosts: up to three hosts, "*" when no rule names one. */
static json_t *
hosts_cell(const json_t *rules)
{
    struct k3c_buf b;
    size_t i, shown = 0;
    const json_t *r;

    k3c_buf_init(&b);
    json_array_foreach(rules, i, r)
    {
        const char *host = api_str_at(r, "host");

        if (shown == 3 || api_is_empty(host))
            continue;
        k3c_buf_appendf(&b, "%s%s", shown ? "," : "", host);
        shown++;
    }
    return api_more_cell(&b, shown, json_array_size(rules), 3, "*");
}

/* ingressLoadBalancerStatusStringer: IPs and hostnames, cut at 16 columns. */
static json_t *
address_cell(const json_t *lb_ingress)
{
    struct k3c_buf b;
    size_t i, n = 0;
    const json_t *e;
    json_t *cell;

    k3c_buf_init(&b);
    json_array_foreach(lb_ingress, i, e)
    {
        const char *ip = api_str_at(e, "ip"), *host = api_str_at(e, "hostname");

        if (!api_is_empty(ip))
            k3c_buf_appendf(&b, "%s%s", n++ ? "," : "", ip);
        else if (!api_is_empty(host))
            k3c_buf_appendf(&b, "%s%s", n++ ? "," : "", host);
    }
    if (b.len > LB_WIDTH)
        cell = json_sprintf("%.*s...", LB_WIDTH - 3, b.data);
    else
        cell = json_string(b.len ? b.data : "");
    k3c_buf_fini(&b);
    return cell;
}

json_t *
api_row_ingress(const json_t *obj, int64_t now_s)
{
    const char *cls = api_str_at(obj, "spec.ingressClassName");
    const json_t *ann = api_json_path(obj, "metadata.annotations");

    if (api_is_empty(cls))
        cls = json_string_value(json_object_get(ann, ANN_INGRESS_CLASS));
    return json_pack("[o s o o s o]", api_name_cell(obj), api_or_else(cls, "<none>"),
                     hosts_cell(api_json_path(obj, "spec.rules")),
                     address_cell(api_json_path(obj, "status.loadBalancer.ingress")),
                     json_array_size(api_json_path(obj, "spec.tls")) ? "80, 443" : "80",
                     api_age_cell(obj, now_s));
}

json_t *
api_row_ingressclass(const json_t *obj, int64_t now_s)
{
    const json_t *p = api_json_path(obj, "spec.parameters");
    json_t *params;

    if (!json_is_object(p))
        params = json_string("<none>");
    else if (api_str_at(p, "apiGroup"))
        params = json_sprintf("%s.%s/%s", api_or_empty(api_str_at(p, "kind")),
                              api_str_at(p, "apiGroup"), api_or_empty(api_str_at(p, "name")));
    else
        params = json_sprintf("%s/%s", api_or_empty(api_str_at(p, "kind")),
                              api_or_empty(api_str_at(p, "name")));
    return json_pack("[o s o o]", api_name_cell(obj),
                     api_or_empty(api_str_at(obj, "spec.controller")), params,
                     api_age_cell(obj, now_s));
}

/* ---- Ingress validation -------------------------------------------------- */

static const char *const path_types[] = {"Exact", "ImplementationSpecific", "Prefix", NULL};

/* validation.IsValidPortName, the checks that matter for a Service port
 * reference (an IANA service name: at most 15 characters, a DNS label with
 * a letter). */
static bool
port_name_ok(const char *s)
{
    bool letter = false;

    for (const char *p = s; *p; p++)
        letter |= *p >= 'a' && *p <= 'z';
    return letter && strlen(s) <= 15 && !strstr(s, "--") && api_is_dns1123_label(s);
}

static void
validate_service_backend(const json_t *svc, const char *at, json_t *causes)
{
    struct fpath f;
    const char *name = api_str_at(svc, "name"), *port_name = api_str_at(svc, "port.name");
    const json_t *number = api_json_path(svc, "port.number");
    bool has_name = !api_is_empty(port_name), has_number = json_integer_value(number) != 0;

    if (api_is_empty(name))
        api_cause_required(causes, api_fpath(&f, "%s.service.name", at), NULL);
    else
        api_check_field(causes, api_fpath(&f, "%s.service.name", at), name,
                        api_check_dns1035_label);
    if (has_name && has_number)
        api_cause_invalid_str(causes, at, "", "cannot set both port name & port number");
    else if (has_name && !port_name_ok(port_name))
        api_cause_invalid_str(causes, api_fpath(&f, "%s.service.port.name", at), port_name,
                              "must be a valid port name (IANA_SVC_NAME)");
    else if (has_number)
        api_check_port_number(causes, api_fpath(&f, "%s.service.port.number", at), number, true);
    else if (!has_name)
        api_cause_required(causes, at, "port name or number is required");
}

/* validateIngressBackend: exactly one of service and resource. */
static void
validate_backend(const json_t *backend, const char *at, json_t *causes)
{
    const json_t *svc = json_object_get(backend, "service");
    const json_t *res = json_object_get(backend, "resource");
    struct fpath f;

    if (json_is_object(svc) && json_is_object(res)) {
        api_cause_invalid_str(causes, at, "", "cannot set both resource and service backends");
    } else if (json_is_object(res)) {
        if (api_is_empty(api_str_at(res, "kind")))
            api_cause_required(causes, api_fpath(&f, "%s.resource.kind", at), NULL);
        if (api_is_empty(api_str_at(res, "name")))
            api_cause_required(causes, api_fpath(&f, "%s.resource.name", at), NULL);
    } else if (json_is_object(svc)) {
        validate_service_backend(svc, at, causes);
    } else {
        api_cause_invalid_str(causes, at, "", "resource or service backend is required");
    }
}

/* validateHTTPIngressPath: a pathType, an absolute path without dot
 * segments for Exact and Prefix, and a backend. */
static void
validate_path(const json_t *p, const char *at, json_t *causes)
{
    static const char *const bad_seqs[] = {"//", "/./", "/../", "%2f", "%2F", NULL};
    static const char *const bad_ends[] = {"/..", "/.", NULL};
    const char *type = api_str_at(p, "pathType"), *path = api_or_empty(api_str_at(p, "path"));
    size_t n = strlen(path);
    struct fpath f, fp;
    char why[64];

    api_fpath(&fp, "%s.path", at);
    if (api_is_empty(type)) {
        api_cause_required(causes, api_fpath(&f, "%s.pathType", at), "pathType must be specified");
        return;
    }
    if (strcmp(type, "Exact") == 0 || strcmp(type, "Prefix") == 0) {
        if (path[0] != '/')
            api_cause_invalid_str(causes, fp.s, path, "must be an absolute path");
        for (size_t i = 0; n && bad_seqs[i]; i++) {
            snprintf(why, sizeof(why), "must not contain '%s'", bad_seqs[i]);
            if (strstr(path, bad_seqs[i]))
                api_cause_invalid_str(causes, fp.s, path, why);
        }
        for (size_t i = 0; bad_ends[i]; i++) {
            size_t m = strlen(bad_ends[i]);

            snprintf(why, sizeof(why), "cannot end with '%s'", bad_ends[i]);
            if (n >= m && strcmp(path + n - m, bad_ends[i]) == 0)
                api_cause_invalid_str(causes, fp.s, path, why);
        }
    } else if (strcmp(type, "ImplementationSpecific") == 0) {
        if (n && path[0] != '/')
            api_cause_invalid_str(causes, fp.s, path, "must be an absolute path");
    } else {
        api_cause_not_supported(causes, api_fpath(&f, "%s.pathType", at), type, path_types);
    }
    validate_backend(json_object_get(p, "backend"), api_fpath(&f, "%s.backend", at), causes);
}

/* A host is a DNS-1123 subdomain, possibly "*." wildcarded, never an IP. */
static void
validate_host(const char *host, const char *field, json_t *causes)
{
    unsigned char addr[16];

    if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
        api_cause_invalid_str(causes, field, host, "must be a DNS name, not an IP address");
        return;
    }
    if (strncmp(host, "*.", 2) == 0 && host[2])
        host += 2;
    if (!api_is_dns1123_subdomain(host))
        api_check_field(causes, field, host, api_check_dns1123_subdomain);
}

static void
validate_rules(const json_t *rules, json_t *causes)
{
    size_t i, j;
    const json_t *r, *p;
    struct fpath f;

    json_array_foreach(rules, i, r)
    {
        const char *host = api_str_at(r, "host");
        const json_t *http = json_object_get(r, "http");

        if (!api_is_empty(host))
            validate_host(host, api_fpath(&f, "spec.rules[%zu].host", i), causes);
        if (!json_is_object(http))
            continue;
        if (json_array_size(json_object_get(http, "paths")) == 0)
            api_cause_required(causes, api_fpath(&f, "spec.rules[%zu].http.paths", i), NULL);
        json_array_foreach(json_object_get(http, "paths"), j, p)
            validate_path(p, api_fpath(&f, "spec.rules[%zu].http.paths[%zu]", i, j), causes);
    }
}

void
api_validate_ingress(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *rules = json_object_get(spec, "rules");
    const json_t *def = json_object_get(spec, "defaultBackend");
    const char *cls = api_str_at(spec, "ingressClassName");
    const char *ann = json_string_value(
        json_object_get(api_json_path(obj, "metadata.annotations"), ANN_INGRESS_CLASS));
    size_t i, j;
    const json_t *t, *h;
    struct fpath f;

    if (json_array_size(rules) == 0 && !json_is_object(def))
        api_cause_invalid_str(causes, "spec", "[]",
                              "either `defaultBackend` or `rules` must be specified");
    if (json_is_object(def))
        validate_backend(def, "spec.defaultBackend", causes);
    validate_rules(rules, causes);
    json_array_foreach(json_object_get(spec, "tls"), i, t)
    {
        json_array_foreach(json_object_get(t, "hosts"), j, h)
        {
            if (json_string_value(h))
                validate_host(json_string_value(h), api_fpath(&f, "spec.tls[%zu].hosts[%zu]", i, j),
                              causes);
        }
    }
    if (cls)
        api_check_field(causes, "spec.ingressClassName", cls, api_check_dns1123_subdomain);
    if (!old && cls && ann && strcmp(cls, ann) != 0)
        api_cause_invalid_str(causes, "annotations.kubernetes.io/ingress.class", ann,
                              "must match `ingressClassName` when both are specified");
}

/* ---- IngressClass -------------------------------------------------------- */

void
api_defaults_ingressclass(json_t *obj)
{
    json_t *p = json_object_get(json_object_get(obj, "spec"), "parameters");

    if (json_is_object(p) && !json_is_string(json_object_get(p, "scope")))
        json_object_set_new(p, "scope", json_string("Cluster"));
}

/* IsDomainPrefixedPath: "example.com/path". */
static void
validate_controller(const char *ctl, json_t *causes)
{
    const char *slash = ctl ? strchr(ctl, '/') : NULL;
    char host[256];

    if (api_is_empty(ctl)) {
        api_cause_required(causes, "spec.controller", NULL);
        return;
    }
    if (strlen(ctl) > 250)
        api_cause_too_long(causes, "spec.controller", 250);
    if (!slash || slash == ctl || !slash[1] || (size_t)(slash - ctl) >= sizeof(host)) {
        api_cause_invalid_str(causes, "spec.controller", ctl,
                              "must be a domain-prefixed path (such as \"acme.io/foo\")");
        return;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(slash - ctl), ctl);
    api_check_field(causes, "spec.controller", host, api_check_dns1123_subdomain);
}

static void
validate_parameters(const json_t *p, json_t *causes)
{
    static const char *const scopes[] = {"Cluster", "Namespace", NULL};
    const char *scope = api_str_at(p, "scope"), *ns = api_str_at(p, "namespace");

    if (api_is_empty(api_str_at(p, "kind")))
        api_cause_required(causes, "spec.parameters.kind", NULL);
    if (api_is_empty(api_str_at(p, "name")))
        api_cause_required(causes, "spec.parameters.name", NULL);
    api_check_enum(causes, "spec.parameters.scope", scope, scopes, true);
    if (scope && strcmp(scope, "Namespace") == 0 && api_is_empty(ns))
        api_cause_required(causes, "spec.parameters.namespace",
                           "`parameters.scope` is set to 'Namespace'");
    if (scope && strcmp(scope, "Cluster") == 0 && ns)
        api_cause_forbidden(causes, "spec.parameters.namespace",
                            "`parameters.scope` is set to 'Cluster'");
}

void
api_validate_ingressclass(const json_t *obj, const json_t *old, json_t *causes)
{
    const char *ctl = api_str_at(obj, "spec.controller");
    const json_t *p = api_json_path(obj, "spec.parameters");

    validate_controller(ctl, causes);
    if (json_is_object(p))
        validate_parameters(p, causes);
    if (old && strcmp(api_or_empty(ctl), api_or_empty(api_str_at(old, "spec.controller"))) != 0)
        api_cause_invalid_str(causes, "spec.controller", api_or_empty(ctl), api_msg_immutable);
}

bool
api_ingressclass_is_default(const json_t *cls)
{
    const char *v = json_string_value(
        json_object_get(api_json_path(cls, "metadata.annotations"), ANN_DEFAULT_CLASS));

    return v && strcmp(v, "true") == 0;
}

/* ---- DefaultIngressClass admission --------------------------------------- */

struct newest_default {
    char name[256];
    char created[64];
};

static void
find_default_class(void *ud, struct wc_entry *e)
{
    struct newest_default *d = ud;
    _cleanup_json_ json_t *cls = wc_entry_object(e);
    const char *created = api_str_at(cls, "metadata.creationTimestamp");

    if (!api_ingressclass_is_default(cls))
        return;
    if (d->name[0] && created && strcmp(created, d->created) < 0)
        return;
    snprintf(d->name, sizeof(d->name), "%s", e->name);
    snprintf(d->created, sizeof(d->created), "%s", api_or_empty(created));
}

static int
ingress_allocate(struct api_server *srv, json_t *obj, json_t *causes, struct k3c_err *err)
{
    const struct api_resource *res = api_resource_find("networking.k8s.io", "v1", "ingressclasses");
    struct watch_cache *wc = res ? api_cache_for(srv, res) : NULL;
    json_t *spec = json_object_get(obj, "spec");
    struct newest_default d = {0};

    (void)causes, (void)err;
    if (!json_is_object(spec) || api_str_at(spec, "ingressClassName") || !wc ||
        json_object_get(api_json_path(obj, "metadata.annotations"), ANN_INGRESS_CLASS))
        return 0;
    watch_cache_foreach(wc, "/registry/ingressclasses/", find_default_class, &d);
    if (d.name[0])
        json_object_set_new(spec, "ingressClassName", json_string(d.name));
    return 0;
}

const struct api_hooks api_ingress_hooks = {.allocate = ingress_allocate};
