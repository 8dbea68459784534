/* SPDX-License-Identifier: Apache-2.0
 * kind_service.c - Service (the cluster IP and node port allocation hooks are in api_service.c):
 * table columns and rows (pkg/printers/internalversion), validation and defaults, the shape of
 * upstream's pkg/registry/core/service/strategy.go (Kubernetes 1.32).
 * Shared helpers are in api-kind.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api-internal.h"
#include "api/api-kind.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

const struct api_column api_columns_service[] = {
    COL_NAME,
    {"Type", "string", "",
     "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
     "ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a "
     "cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by "
     "the selector or if that is not specified, by manual construction of an Endpoints object or "
     "EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the "
     "endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds "
     "on ClusterIP and allocates a port on every node which routes to the same endpoints as the "
     "clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if "
     "supported in the current cloud) which routes to the same endpoints as the clusterIP. "
     "\"ExternalName\" aliases this service to the specified externalName. Several other fields "
     "do not apply to ExternalName services. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/"
     "#publishing-services-service-types",
     0},
    {"Cluster-IP", "string", "",
     "clusterIP is the IP address of the service and is usually assigned randomly. If an address "
     "is specified manually, is in-range (as per system configuration), and is not in use, it "
     "will be allocated to the service; otherwise creation of the service will fail. This field "
     "may not be changed through updates unless the type field is also being changed to "
     "ExternalName (which requires this field to be blank) or the type field is being changed "
     "from ExternalName (in which case this field may optionally be specified, as describe "
     "above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting "
     "this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct "
     "endpoint connections are preferred and proxying is not required.  Only applies to types "
     "ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service "
     "of type ExternalName, creation will fail. This field will be wiped when updating a Service "
     "to type ExternalName. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/"
     "#virtual-ips-and-service-proxies",
     0},
    {"External-IP", "string", "",
     "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
     "traffic for this service.  These IPs are not managed by Kubernetes.  The user is "
     "responsible for ensuring that traffic arrives at a node with this IP.  A common example is "
     "external load-balancers that are not part of the Kubernetes system.",
     0},
    {"Port(s)", "string", "",
     "The list of ports that are exposed by this service. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/"
     "#virtual-ips-and-service-proxies",
     0},
    COL_AGE,
    {"Selector", "string", "",
     "Route service traffic to pods with label keys and values matching this selector. If empty "
     "or not present, the service is assumed to have an external process managing its "
     "endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and "
     "LoadBalancer. Ignored if type is ExternalName. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/",
     1},
    COL_END,
};

/* Appends the comma-joined strings of arr. */
static void
append_strings(struct k3c_buf *b, const json_t *arr)
{
    size_t i = 0;
    const json_t *v = NULL;

    json_array_foreach(arr, i, v)
    {
        k3c_buf_appendf(b, "%s%s", b->len ? "," : "", api_or_else(json_string_value(v), ""));
    }
}

/* loadBalancerStatusStringer (wide): ingress IPs or hostnames, sorted, unique. */
static void
append_lb_ingress(struct k3c_buf *b, const json_t *svc)
{
    const json_t *ingress = api_json_path(svc, "status.loadBalancer.ingress");
    _cleanup_free_ const char **v = k3c_xcalloc(json_array_size(ingress) + 1, sizeof(*v));
    size_t n = 0, i = 0;
    const json_t *in = NULL;

    json_array_foreach(ingress, i, in)
    {
        const char *s = api_or_else(api_str_at(in, "ip"), api_str_at(in, "hostname"));

        if (s && *s)
            v[n++] = s;
    }
    qsort(v, n, sizeof(*v), api_cmp_str);
    for (i = 0; i < n; i++) {
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
            k3c_buf_appendf(b, "%s%s", b->len ? "," : "", v[i]);
    }
}

/* getServiceExternalIP. */
static json_t *
service_external_ip_cell(const json_t *svc)
{
    const char *type = api_or_else(api_str_at(svc, "spec.type"), "");
    const json_t *ext = api_json_path(svc, "spec.externalIPs");
    struct k3c_buf b;

    k3c_buf_init(&b);
    if (strcmp(type, "ClusterIP") == 0 || strcmp(type, "NodePort") == 0) {
        append_strings(&b, ext);
        return api_list_cell(&b, "<none>");
    }
    if (strcmp(type, "LoadBalancer") == 0) {
        append_lb_ingress(&b, svc);
        append_strings(&b, ext);
        return api_list_cell(&b, "<pending>");
    }
    k3c_buf_fini(&b);
    if (strcmp(type, "ExternalName") == 0)
        return json_string(api_or_else(api_str_at(svc, "spec.externalName"), ""));
    return json_string("<unknown>");
}

/* makePortString: "80/TCP" or "80:30080/TCP", comma-joined. */
static json_t *
service_ports_cell(const json_t *svc)
{
    struct k3c_buf b;
    size_t i = 0;
    const json_t *p = NULL;

    k3c_buf_init(&b);
    json_array_foreach(api_json_path(svc, "spec.ports"), i, p)
    {
        json_int_t node_port = api_int_at(p, "nodePort", 0);
        const char *proto = api_or_else(api_str_at(p, "protocol"), "");

        k3c_buf_appendf(&b, "%s%lld", i ? "," : "", (long long)api_int_at(p, "port", 0));
        if (node_port > 0)
            k3c_buf_appendf(&b, ":%lld", (long long)node_port);
        k3c_buf_appendf(&b, "/%s", proto);
    }
    return api_list_cell(&b, "<none>");
}

static const char *
service_cluster_ip(const json_t *svc)
{
    const char *ip = json_string_value(json_array_get(api_json_path(svc, "spec.clusterIPs"), 0));

    return api_or_else(ip, api_or_else(api_str_at(svc, "spec.clusterIP"), "<none>"));
}

json_t *
api_row_service(const json_t *obj, int64_t now_s)
{
    return json_pack(
        "[o s s o o o o]", api_name_cell(obj), api_or_else(api_str_at(obj, "spec.type"), ""),
        service_cluster_ip(obj), service_external_ip_cell(obj), service_ports_cell(obj),
        api_age_cell(obj, now_s), api_labels_cell(api_json_path(obj, "spec.selector")));
}

static const char *const service_types[] = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort",
                                            NULL};

static const char *const session_affinities[] = {"ClientIP", "None", NULL};

/* validateServicePort; names are required once there are several ports. */
static void
validate_service_port(const json_t *p, size_t i, bool need_name, const char *type, json_t *names,
                      json_t *causes)
{
    const char *name = api_str_at(p, "name");
    const json_t *target = json_object_get(p, "targetPort");
    const json_t *node_port = json_object_get(p, "nodePort");
    struct fpath f;

    api_fpath(&f, "spec.ports[%zu].name", i);
    if (api_is_empty(name) && need_name)
        api_cause_required(causes, f.s, NULL);
    else if (!api_is_empty(name) &&
             api_check_field(causes, f.s, name, api_check_dns1123_label) == 0 &&
             json_object_get(names, name))
        api_cause_duplicate(causes, f.s, name);
    if (!api_is_empty(name))
        json_object_set_new(names, name, json_true());
    api_check_port_number(causes, api_fpath(&f, "spec.ports[%zu].port", i),
                          json_object_get(p, "port"), true);
    api_check_enum(causes, api_fpath(&f, "spec.ports[%zu].protocol", i), api_str_at(p, "protocol"),
                   api_protocols, true);
    if (json_is_integer(target))
        api_check_port_number(causes, api_fpath(&f, "spec.ports[%zu].targetPort", i), target,
                              false);
    api_fpath(&f, "spec.ports[%zu].nodePort", i);
    if (json_integer_value(node_port) != 0 && strcmp(type ? type : "", "ClusterIP") == 0)
        api_cause_forbidden(causes, f.s, "may not be used when `type` is 'ClusterIP'");
    else
        api_check_port_number(causes, f.s, node_port, false);
}

/* Service names are DNS-1035 labels. api_validate_metadata has reported a
 * name that is not even a DNS-1123 subdomain; the rest is reported here. */
static void
check_service_name(const json_t *obj, json_t *causes)
{
    const char *name = api_str_at(obj, "metadata.name");

    if (!api_is_empty(name) && api_is_dns1123_subdomain(name))
        api_check_field(causes, "metadata.name", name, api_check_dns1035_label);
}

void
api_validate_service(const json_t *obj, const json_t *old, json_t *causes)
{
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *ports = json_object_get(spec, "ports");
    const char *type = api_str_at(spec, "type");
    bool external = type && strcmp(type, "ExternalName") == 0;
    bool headless = strcmp(api_or_empty(api_str_at(spec, "clusterIP")), "None") == 0;
    _cleanup_json_ json_t *names = json_object();
    size_t i = 0;
    const json_t *p = NULL;

    (void)old;
    check_service_name(obj, causes);
    if (json_array_size(ports) == 0 && !headless && !external)
        api_cause_required(causes, "spec.ports", NULL);
    if (external && api_is_empty(api_str_at(spec, "externalName")))
        api_cause_required(causes, "spec.externalName", NULL);
    else if (external)
        api_check_field(causes, "spec.externalName", api_str_at(spec, "externalName"),
                        api_check_dns1123_subdomain);
    json_array_foreach(ports, i, p)
    {
        validate_service_port(p, i, json_array_size(ports) > 1, type, names, causes);
    }
    api_validate_labels(json_object_get(spec, "selector"), "spec.selector", causes);
    api_check_enum(causes, "spec.sessionAffinity", api_str_at(spec, "sessionAffinity"),
                   session_affinities, true);
    api_check_enum(causes, "spec.type", type, service_types, true);
}

/* SetDefaults_Service (IP families and allocation belong to the registry). */
void
api_defaults_service(json_t *obj)
{
    json_t *spec = api_ensure_object(obj, "spec");
    const char *type = NULL;
    size_t i = 0;
    json_t *p = NULL;

    api_default_take(spec, "type", json_string("ClusterIP"));
    api_default_take(spec, "sessionAffinity", json_string("None"));
    type = api_or_empty(api_str_at(spec, "type"));
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        const json_t *target = json_object_get(p, "targetPort");

        api_default_take(p, "protocol", json_string("TCP"));
        if (!target || (json_is_integer(target) && json_integer_value(target) == 0) ||
            (json_is_string(target) && !*json_string_value(target)))
            json_object_set(p, "targetPort", json_object_get(p, "port"));
    }
    if (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0 ||
        (strcmp(type, "ClusterIP") == 0 && json_array_size(json_object_get(spec, "externalIPs"))))
        api_default_take(spec, "externalTrafficPolicy", json_string("Cluster"));
    if (strcmp(type, "ExternalName") != 0)
        api_default_take(spec, "internalTrafficPolicy", json_string("Cluster"));
    if (strcmp(type, "LoadBalancer") == 0)
        api_default_take(spec, "allocateLoadBalancerNodePorts", json_true());
}
