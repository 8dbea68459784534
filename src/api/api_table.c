/* SPDX-License-Identifier: Apache-2.0
 * api_table.c - server-side tables (as=Table): the column definitions and row
 * functions of kube-apiserver's printers (pkg/printers/internalversion,
 * Kubernetes 1.32), computed from the stored JSON. Rows always carry every
 * column, wide ones included, as upstream's TableConvertor does; kubectl
 * drops priority-1 cells unless -o wide. Pure functions of (object, now). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

/* ---- column definitions ------------------------------------------------- */

#define DESC_NAME                                                                                  \
    "Name must be unique within a namespace. Is required when creating resources, although some "  \
    "resources may allow a client to request the generation of an appropriate name "               \
    "automatically. Name is primarily intended for creation idempotence and configuration "        \
    "definition. Cannot be updated. More info: "                                                   \
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
#define DESC_AGE                                                                                   \
    "CreationTimestamp is a timestamp representing the server time when this object was created. " \
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "  \
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by "    \
    "the "                                                                                         \
    "system. Read-only. Null for lists. More info: "                                               \
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"                            \
    "api-conventions.md#metadata"
#define DESC_CONTAINERS "Names of each container in the template."
#define DESC_IMAGES     "Images referenced by each container in the template."
#define DESC_NODE_ADDRESSES                                                                        \
    "List of addresses reachable to the node. Queried from cloud provider, if available. More "    \
    "info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is "  \
    "declared as mergeable, but the merge key is not sufficiently unique, which can cause data "   \
    "corruption when it is merged. Callers should instead use a full-replacement patch. See "      \
    "https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change "   \
    "during the lifetime of a Node. However, there are some exceptions where this may not be "     \
    "possible, such as Pods that inherit a Node's address in its own status or consumers of the "  \
    "downward API (status.hostIP)."
#define DESC_LABEL_SELECTORS                                                                       \
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"

#define COL_NAME                                                                                   \
    {                                                                                              \
        "Name", "string", "name", DESC_NAME, 0                                                     \
    }
#define COL_AGE                                                                                    \
    {                                                                                              \
        "Age", "string", "", DESC_AGE, 0                                                           \
    }
#define COL_END                                                                                    \
    {                                                                                              \
        NULL, NULL, NULL, NULL, 0                                                                  \
    }

const struct api_column api_columns_namespace[] = {
    COL_NAME,
    {"Status", "string", "", "The status of the namespace", 0},
    COL_AGE,
    COL_END,
};

const struct api_column api_columns_node[] = {
    COL_NAME,
    {"Status", "string", "", "The status of the node", 0},
    {"Roles", "string", "", "The roles of the node", 0},
    COL_AGE,
    {"Version", "string", "", "Kubelet Version reported by the node.", 0},
    {"Internal-IP", "string", "", DESC_NODE_ADDRESSES, 1},
    {"External-IP", "string", "", DESC_NODE_ADDRESSES, 1},
    {"OS-Image", "string", "",
     "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1},
    {"Kernel-Version", "string", "",
     "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1},
    {"Container-Runtime", "string", "",
     "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
     "containerd://1.4.2).",
     1},
    COL_END,
};

const struct api_column api_columns_pod[] = {
    COL_NAME,
    {"Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0},
    {"Status", "string", "", "The aggregate status of the containers in this pod.", 0},
    {"Restarts", "string", "",
     "The number of times the containers in this pod have been restarted and when the last "
     "container in this pod has restarted.",
     0},
    COL_AGE,
    {"IP", "string", "",
     "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
     "allocated.",
     1},
    {"Node", "string", "",
     "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate "
     "for scheduling by the scheduler defined in schedulerName. Once this field is set, the "
     "kubelet for this node becomes responsible for the lifecycle of this pod. This field should "
     "not be used to express a desire for the pod to be scheduled on a specific node. "
     "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
     1},
    {"Nominated Node", "string", "",
     "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot "
     "be scheduled right away as preemption victims receive their graceful termination periods. "
     "This field does not guarantee that the pod will be scheduled on this node. Scheduler may "
     "decide to place the pod elsewhere if other nodes become available sooner. Scheduler may "
     "also decide to give the resources on this node to a higher priority pod that is created "
     "after preemption. As a result, this field may be different than PodSpec.nodeName when the "
     "pod is scheduled.",
     1},
    {"Readiness Gates", "string", "",
     "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when "
     "all its containers are ready AND all conditions specified in the readiness gates have "
     "status equal to \"True\" More info: "
     "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
     1},
    COL_END,
};

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

const struct api_column api_columns_endpoints[] = {
    COL_NAME,
    {"Endpoints", "string", "",
     "The set of all endpoints is the union of all subsets. Addresses are placed into subsets "
     "according to the IPs they share. A single address with multiple ports, some of which are "
     "ready and some of which are not (because they come from different containers) will result "
     "in the address being displayed in different subsets for the different ports. No address "
     "will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses "
     "and ports that comprise a service.",
     0},
    COL_AGE,
    COL_END,
};

const struct api_column api_columns_configmap[] = {
    COL_NAME,
    {"Data", "string", "",
     "Data contains the configuration data. Each key must consist of alphanumeric characters, "
     "'-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The "
     "keys stored in Data must not overlap with the keys in the BinaryData field, this is "
     "enforced during validation process.",
     0},
    COL_AGE,
    COL_END,
};

const struct api_column api_columns_secret[] = {
    COL_NAME,
    {"Type", "string", "",
     "Used to facilitate programmatic handling of secret data. More info: "
     "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
     0},
    {"Data", "string", "",
     "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' "
     "or '.'. The serialized form of the secret data is a base64 encoded string, representing "
     "the arbitrary (possibly non-string) data value here. Described in "
     "https://tools.ietf.org/html/rfc4648#section-4",
     0},
    COL_AGE,
    COL_END,
};

const struct api_column api_columns_serviceaccount[] = {
    COL_NAME,
    {"Secrets", "string", "",
     "Secrets is a list of the secrets in the same namespace that pods running using this "
     "ServiceAccount are allowed to use. Pods are only limited to this list if this service "
     "account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The "
     "\"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer "
     "separate namespaces to isolate access to mounted secrets. This field should not be used to "
     "find auto-generated service account token secrets for use outside of pods. Instead, tokens "
     "can be requested directly using the TokenRequest API, or service account token secrets can "
     "be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret",
     0},
    COL_AGE,
    COL_END,
};

const struct api_column api_columns_event[] = {
    {"Last Seen", "string", "",
     "The time at which the most recent occurrence of this event was recorded.", 0},
    {"Type", "string", "",
     "Type of this event (Normal, Warning), new types could be added in the future", 0},
    {"Reason", "string", "",
     "This should be a short, machine understandable string that gives the reason for the "
     "transition into the object's current status.",
     0},
    {"Object", "string", "", "The object that this event is about.", 0},
    {"Subobject", "string", "",
     "If referring to a piece of an object instead of an entire object, this string should "
     "contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. "
     "For example, if the object reference is to a container within a pod, this would take on a "
     "value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container "
     "that triggered the event) or if no container name is specified \"spec.containers[2]\" "
     "(container with index 2 in this pod). This syntax is chosen only to have some well-defined "
     "way of referencing a part of an object.",
     1},
    {"Source", "string", "",
     "The component reporting this event. Should be a short machine understandable string.", 1},
    {"Message", "string", "", "A human-readable description of the status of this operation.", 0},
    {"First Seen", "string", "",
     "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", 1},
    {"Count", "string", "", "The number of times this event has occurred.", 1},
    {"Name", "string", "name", DESC_NAME, 1},
    COL_END,
};

const struct api_column api_columns_deployment[] = {
    COL_NAME,
    {"Ready", "string", "", "Number of the pod with ready state", 0},
    {"Up-to-date", "string", "",
     "Total number of non-terminated pods targeted by this deployment that have the desired "
     "template spec.",
     0},
    {"Available", "string", "",
     "Total number of available pods (ready for at least minReadySeconds) targeted by this "
     "deployment.",
     0},
    COL_AGE,
    {"Containers", "string", "", DESC_CONTAINERS, 1},
    {"Images", "string", "", DESC_IMAGES, 1},
    {"Selector", "string", "",
     "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
     "ones affected by this deployment.",
     1},
    COL_END,
};

const struct api_column api_columns_replicaset[] = {
    COL_NAME,
    {"Desired", "integer", "",
     "Replicas is the number of desired replicas. This is a pointer to distinguish between "
     "explicit zero and unspecified. Defaults to 1. More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
     "#what-is-a-replicationcontroller",
     0},
    {"Current", "integer", "",
     "Replicas is the most recently observed number of replicas. More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
     "#what-is-a-replicationcontroller",
     0},
    {"Ready", "integer", "", "The number of ready replicas for this replica set.", 0},
    COL_AGE,
    {"Containers", "string", "", DESC_CONTAINERS, 1},
    {"Images", "string", "", DESC_IMAGES, 1},
    {"Selector", "string", "",
     "Selector is a label query over pods that should match the replica count. If the selector "
     "is empty, it is defaulted to the labels present on the pod template. Label keys and values "
     "that must match in order to be controlled by this replica set. More "
     "info: " DESC_LABEL_SELECTORS,
     1},
    COL_END,
};

const struct api_column api_columns_daemonset[] = {
    COL_NAME,
    {"Desired", "integer", "",
     "The total number of nodes that should be running the daemon pod (including nodes correctly "
     "running the daemon pod). More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
     0},
    {"Current", "integer", "",
     "The number of nodes that are running at least 1 daemon pod and are supposed to run the "
     "daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
     0},
    {"Ready", "integer", "",
     "The number of nodes that should be running the daemon pod and have one or more of the "
     "daemon pod running and ready.",
     0},
    {"Up-to-date", "integer", "", "The total number of nodes that are running updated daemon pod",
     0},
    {"Available", "integer", "",
     "The number of nodes that should be running the daemon pod and have one or more of the "
     "daemon pod running and available (ready for at least spec.minReadySeconds)",
     0},
    {"Node Selector", "string", "",
     "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which "
     "must match a node's labels for the pod to be scheduled on that node. More info: "
     "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
     0},
    COL_AGE,
    {"Containers", "string", "", DESC_CONTAINERS, 1},
    {"Images", "string", "", DESC_IMAGES, 1},
    {"Selector", "string", "",
     "A label query over pods that are managed by the daemon set. Must match in order to be "
     "controlled. If empty, defaulted to labels on Pod template. More info: " DESC_LABEL_SELECTORS,
     1},
    COL_END,
};

const struct api_column api_columns_job[] = {
    COL_NAME,
    {"Status", "string", "", "Status of the job.", 0},
    {"Completions", "string", "",
     "The number of pods which reached phase Succeeded. The value increases monotonically for a "
     "given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
     0},
    {"Duration", "string", "", "Time required to complete the job.", 0},
    COL_AGE,
    {"Containers", "string", "", DESC_CONTAINERS, 1},
    {"Images", "string", "", DESC_IMAGES, 1},
    {"Selector", "string", "",
     "A label query over pods that should match the pod count. Normally, the system sets this "
     "field for you. More info: " DESC_LABEL_SELECTORS,
     1},
    COL_END,
};

const struct api_column api_columns_lease[] = {
    COL_NAME,
    {"Holder", "string", "",
     "holderIdentity contains the identity of the holder of a current lease. If Coordinated "
     "Leader Election is used, the holder identity must be equal to the elected "
     "LeaseCandidate.metadata.name field.",
     0},
    COL_AGE,
    COL_END,
};

const struct api_column api_columns_endpointslice[] = {
    COL_NAME,
    {"AddressType", "string", "",
     "addressType specifies the type of address carried by this EndpointSlice. All addresses in "
     "this slice must be the same type. This field is immutable after creation. The following "
     "address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: "
     "Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.",
     0},
    {"Ports", "string", "",
     "ports specifies the list of network ports exposed by each endpoint in this slice. Each port "
     "must have a unique name. When ports is empty, it indicates that there are no defined ports. "
     "When a port is defined with a nil port value, it indicates \"all ports\". Each slice may "
     "include a maximum of 100 ports.",
     0},
    {"Endpoints", "string", "",
     "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of "
     "1000 endpoints.",
     0},
    COL_AGE,
    COL_END,
};

/* ---- shared cell helpers ------------------------------------------------ */

static const char *
str_at(const json_t *obj, const char *path)
{
    return json_string_value(api_json_path(obj, path));
}

static json_int_t
int_at(const json_t *obj, const char *path, json_int_t dflt)
{
    const json_t *v = api_json_path(obj, path);

    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static bool
true_at(const json_t *obj, const char *path)
{
    return json_is_true(api_json_path(obj, path));
}

/* s unless it is NULL or empty. */
static const char *
or_else(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

static json_t *
name_cell(const json_t *obj)
{
    return json_string(or_else(str_at(obj, "metadata.name"), ""));
}

static json_t *
buf_cell(struct k3c_buf *b)
{
    json_t *cell = json_stringn(b->data ? b->data : "", b->len);

    k3c_buf_fini(b);
    return cell;
}

/* Parses RFC 3339 ("2024-05-01T10:00:00Z", fractions and offsets allowed)
 * into Unix seconds. */
static bool
parse_time(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int n = 0;
    const char *p = NULL;
    int64_t t = 0;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = (int64_t)timegm(&tm);
    p = s + n;
    if (*p == '.')
        p += 1 + strspn(p + 1, "0123456789");
    if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;

        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return false;
        t -= (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
    } else if (*p != 'Z' && *p != 'z') {
        return false;
    }
    *out = t;
    return true;
}

const char *
api_human_duration(int64_t seconds, char *buf, size_t len)
{
    int64_t minutes = seconds / 60, hours = seconds / 3600, days = hours / 24;

    if (seconds < -1)
        snprintf(buf, len, "<invalid>");
    else if (seconds < 0)
        snprintf(buf, len, "0s");
    else if (seconds < 60 * 2)
        snprintf(buf, len, "%" PRId64 "s", seconds);
    else if (minutes < 10 && seconds % 60 != 0)
        snprintf(buf, len, "%" PRId64 "m%" PRId64 "s", minutes, seconds % 60);
    else if (minutes < 60 * 3)
        snprintf(buf, len, "%" PRId64 "m", minutes);
    else if (hours < 8 && minutes % 60 != 0)
        snprintf(buf, len, "%" PRId64 "h%" PRId64 "m", hours, minutes % 60);
    else if (hours < 48)
        snprintf(buf, len, "%" PRId64 "h", hours);
    else if (hours < 24 * 8 && hours % 24 != 0)
        snprintf(buf, len, "%" PRId64 "d%" PRId64 "h", days, hours % 24);
    else if (hours < 24 * 365 * 2)
        snprintf(buf, len, "%" PRId64 "d", days);
    else if (hours < 24 * 365 * 8 && days % 365 != 0)
        snprintf(buf, len, "%" PRId64 "y%" PRId64 "d", days / 365, days % 365);
    else
        snprintf(buf, len, "%" PRId64 "y", days / 365);
    return buf;
}

/* translateTimestampSince: "<unknown>" for an absent or unreadable time. */
static json_t *
since_cell(const char *ts, int64_t now_s)
{
    char buf[32];
    int64_t t = 0;

    if (!parse_time(ts, &t))
        return json_string("<unknown>");
    return json_string(api_human_duration(now_s - t, buf, sizeof(buf)));
}

static json_t *
age_cell(const json_t *obj, int64_t now_s)
{
    return since_cell(str_at(obj, "metadata.creationTimestamp"), now_s);
}

/* layoutContainerCells: one member of each container, comma-joined. */
static json_t *
containers_cell(const json_t *obj, const char *member)
{
    const json_t *containers = api_json_path(obj, "spec.template.spec.containers");
    struct k3c_buf b;
    size_t i = 0;
    const json_t *c = NULL;

    k3c_buf_init(&b);
    json_array_foreach(containers, i, c)
    {
        if (i > 0)
            k3c_buf_append(&b, ",", 1);
        k3c_buf_appendf(&b, "%s", or_else(json_string_value(json_object_get(c, member)), ""));
    }
    return buf_cell(&b);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of a JSON object, sorted; caller free()s the array (not the keys). */
static const char **
sorted_keys(const json_t *map, size_t *n_out)
{
    const char **keys = k3c_xcalloc(json_object_size(map) + 1, sizeof(*keys));
    size_t n = 0;
    const char *k = NULL;
    json_t *v = NULL;

    json_object_foreach((json_t *)map, k, v)
    {
        keys[n++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    *n_out = n;
    return keys;
}

/* labels.FormatLabels: "a=b,c=d" sorted by key, "<none>" when empty. */
static json_t *
labels_cell(const json_t *map)
{
    size_t n = 0;
    _cleanup_free_ const char **keys = sorted_keys(map, &n);
    struct k3c_buf b;

    if (n == 0)
        return json_string("<none>");
    k3c_buf_init(&b);
    for (size_t i = 0; i < n; i++)
        k3c_buf_appendf(&b, "%s%s=%s", i ? "," : "", keys[i],
                        or_else(json_string_value(json_object_get(map, keys[i])), ""));
    return buf_cell(&b);
}

/* One requirement of a label selector as labels.Requirement.String() prints
 * it, with the key kept apart for sorting. */
struct requirement {
    const char *key;
    char *text;
};

static int
cmp_requirement(const void *a, const void *b)
{
    return strcmp(((const struct requirement *)a)->key, ((const struct requirement *)b)->key);
}

static char *
expression_text(const json_t *expr)
{
    const char *key = or_else(str_at(expr, "key"), "");
    const char *op = or_else(str_at(expr, "operator"), "");
    const json_t *values = json_object_get(expr, "values");
    size_t n = 0;
    _cleanup_free_ const char **vals = NULL;
    struct k3c_buf b;

    if (strcmp(op, "Exists") == 0)
        return k3c_xstrdup(key);
    if (strcmp(op, "DoesNotExist") == 0)
        return k3c_xasprintf("!%s", key);
    vals = k3c_xcalloc(json_array_size(values) + 1, sizeof(*vals));
    for (size_t i = 0; i < json_array_size(values); i++)
        vals[n++] = or_else(json_string_value(json_array_get(values, i)), "");
    qsort(vals, n, sizeof(*vals), cmp_str);
    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "%s %s (", key, strcmp(op, "NotIn") == 0 ? "notin" : "in");
    for (size_t i = 0; i < n; i++)
        k3c_buf_appendf(&b, "%s%s", i ? "," : "", vals[i]);
    k3c_buf_append(&b, ")", 1);
    return k3c_buf_steal(&b, NULL);
}

/* metav1.LabelSelectorAsSelector(sel).String(): requirements sorted by key;
 * "" for an empty or absent selector, or empty_text when given. */
static json_t *
selector_cell(const json_t *sel, const char *empty_text)
{
    const json_t *match = json_object_get(sel, "matchLabels");
    const json_t *exprs = json_object_get(sel, "matchExpressions");
    size_t cap = json_object_size(match) + json_array_size(exprs), n = 0;
    _cleanup_free_ struct requirement *reqs = k3c_xcalloc(cap + 1, sizeof(*reqs));
    const char *k = NULL;
    json_t *v = NULL;
    struct k3c_buf b;

    json_object_foreach((json_t *)match, k, v)
    {
        reqs[n++] =
            (struct requirement){k, k3c_xasprintf("%s=%s", k, or_else(json_string_value(v), ""))};
    }
    for (size_t i = 0; i < json_array_size(exprs); i++) {
        const json_t *e = json_array_get(exprs, i);

        reqs[n++] = (struct requirement){or_else(str_at(e, "key"), ""), expression_text(e)};
    }
    if (n == 0)
        return json_string(empty_text);
    qsort(reqs, n, sizeof(*reqs), cmp_requirement);
    k3c_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        k3c_buf_appendf(&b, "%s%s", i ? "," : "", reqs[i].text);
        free(reqs[i].text);
    }
    return buf_cell(&b);
}

/* The joined list in b, or empty when there is none. */
static json_t *
list_cell(struct k3c_buf *b, const char *empty)
{
    if (b->len == 0)
        k3c_buf_appendf(b, "%s", empty);
    return buf_cell(b);
}

/* listWithMoreString: the first max items, then "+ N more..." for the rest. */
static json_t *
more_cell(struct k3c_buf *b, size_t shown, size_t count, size_t max, const char *empty)
{
    if (count > shown && shown == max)
        k3c_buf_appendf(b, " + %zu more...", count - max);
    return list_cell(b, empty);
}

/* A condition's status ("True", "False", "Unknown") by type, or NULL. */
static const char *
condition_status(const json_t *conditions, const char *type)
{
    size_t i = 0;
    const json_t *c = NULL;

    json_array_foreach(conditions, i, c)
    {
        if (strcmp(or_else(str_at(c, "type"), ""), type) == 0)
            return str_at(c, "status");
    }
    return NULL;
}

static bool
condition_true(const json_t *conditions, const char *type)
{
    const char *s = condition_status(conditions, type);

    return s && strcmp(s, "True") == 0;
}

/* ---- namespaces, nodes -------------------------------------------------- */

json_t *
api_row_namespace(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s o]", name_cell(obj), or_else(str_at(obj, "status.phase"), ""),
                     age_cell(obj, now_s));
}

#define NODE_ROLE_PREFIX "node-role.kubernetes.io/"

/* findNodeRoles: node-role.kubernetes.io/<role> keys and the legacy
 * kubernetes.io/role=<role> label, sorted and unique. */
static json_t *
node_roles_cell(const json_t *labels)
{
    size_t n = 0, shown = 0;
    _cleanup_free_ const char **keys = sorted_keys(labels, &n);
    _cleanup_free_ const char **roles = k3c_xcalloc(n + 1, sizeof(*roles));
    struct k3c_buf b;

    for (size_t i = 0; i < n; i++) {
        const char *v = json_string_value(json_object_get(labels, keys[i]));

        if (strncmp(keys[i], NODE_ROLE_PREFIX, strlen(NODE_ROLE_PREFIX)) == 0 &&
            keys[i][strlen(NODE_ROLE_PREFIX)])
            roles[shown++] = keys[i] + strlen(NODE_ROLE_PREFIX);
        else if (strcmp(keys[i], "kubernetes.io/role") == 0 && v && *v)
            roles[shown++] = v;
    }
    if (shown == 0)
        return json_string("<none>");
    qsort(roles, shown, sizeof(*roles), cmp_str);
    k3c_buf_init(&b);
    for (size_t i = 0; i < shown; i++) {
        if (i > 0 && strcmp(roles[i], roles[i - 1]) == 0)
            continue;
        k3c_buf_appendf(&b, "%s%s", b.len ? "," : "", roles[i]);
    }
    return buf_cell(&b);
}

static json_t *
node_status_cell(const json_t *obj)
{
    const char *ready = condition_status(api_json_path(obj, "status.conditions"), "Ready");
    struct k3c_buf b;

    k3c_buf_init(&b);
    if (!ready)
        k3c_buf_appendf(&b, "Unknown");
    else
        k3c_buf_appendf(&b, "%s", strcmp(ready, "True") == 0 ? "Ready" : "NotReady");
    if (true_at(obj, "spec.unschedulable"))
        k3c_buf_appendf(&b, ",SchedulingDisabled");
    return buf_cell(&b);
}

static const char *
node_address(const json_t *obj, const char *type)
{
    size_t i = 0;
    const json_t *a = NULL;

    json_array_foreach(api_json_path(obj, "status.addresses"), i, a)
    {
        if (strcmp(or_else(str_at(a, "type"), ""), type) == 0)
            return or_else(str_at(a, "address"), "");
    }
    return "<none>";
}

json_t *
api_row_node(const json_t *obj, int64_t now_s)
{
    return json_pack("[o o o o s s s s s s]", name_cell(obj), node_status_cell(obj),
                     node_roles_cell(api_json_path(obj, "metadata.labels")), age_cell(obj, now_s),
                     or_else(str_at(obj, "status.nodeInfo.kubeletVersion"), ""),
                     node_address(obj, "InternalIP"), node_address(obj, "ExternalIP"),
                     or_else(str_at(obj, "status.nodeInfo.osImage"), "<unknown>"),
                     or_else(str_at(obj, "status.nodeInfo.kernelVersion"), "<unknown>"),
                     or_else(str_at(obj, "status.nodeInfo.containerRuntimeVersion"), "<unknown>"));
}

/* ---- pods --------------------------------------------------------------- */

/* What printPod derives from the container statuses. */
struct pod_view {
    const json_t *pod;
    char reason[128];
    int ready, total;
    json_int_t restarts, init_restarts;
    int64_t last_restart, init_last_restart; /* Unix seconds; 0: never */
};

static void pod_reason(struct pod_view *pv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
pod_reason(struct pod_view *pv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(pv->reason, sizeof(pv->reason), fmt, ap);
    va_end(ap);
}

/* A terminated state's reason, or "Signal:N"/"ExitCode:N" without one. */
static void
terminated_reason(struct pod_view *pv, const json_t *term, const char *prefix)
{
    const char *r = str_at(term, "reason");
    json_int_t sig = int_at(term, "signal", 0);

    if (r && *r)
        pod_reason(pv, "%s%s", prefix, r);
    else if (sig != 0)
        pod_reason(pv, "%sSignal:%lld", prefix, (long long)sig);
    else
        pod_reason(pv, "%sExitCode:%lld", prefix, (long long)int_at(term, "exitCode", 0));
}

static bool
is_restartable_init(const json_t *pod, const char *name)
{
    size_t i = 0;
    const json_t *c = NULL;

    json_array_foreach(api_json_path(pod, "spec.initContainers"), i, c)
    {
        if (name && strcmp(or_else(str_at(c, "name"), ""), name) == 0)
            return strcmp(or_else(str_at(c, "restartPolicy"), ""), "Always") == 0;
    }
    return false;
}

static void
count_restarts(const json_t *cs, json_int_t *restarts, int64_t *last)
{
    int64_t t = 0;

    *restarts += int_at(cs, "restartCount", 0);
    if (parse_time(str_at(cs, "lastState.terminated.finishedAt"), &t) && t > *last)
        *last = t;
}

/* The init-container pass of printPod; true while the pod is initializing. */
static bool
pod_init_pass(struct pod_view *pv)
{
    const json_t *statuses = api_json_path(pv->pod, "status.initContainerStatuses");
    size_t n_init = json_array_size(api_json_path(pv->pod, "spec.initContainers"));
    size_t i = 0;
    const json_t *cs = NULL;

    json_array_foreach(statuses, i, cs)
    {
        bool sidecar = is_restartable_init(pv->pod, str_at(cs, "name"));
        const json_t *term = api_json_path(cs, "state.terminated");
        const char *waiting = or_else(str_at(cs, "state.waiting.reason"), "");

        count_restarts(cs, &pv->restarts, &pv->last_restart);
        if (sidecar)
            count_restarts(cs, &pv->init_restarts, &pv->init_last_restart);
        if (term && int_at(term, "exitCode", 0) == 0)
            continue;
        if (sidecar && true_at(cs, "started")) {
            pv->ready += true_at(cs, "ready");
            continue;
        }
        if (term)
            terminated_reason(pv, term, "Init:");
        else if (*waiting && strcmp(waiting, "PodInitializing") != 0)
            pod_reason(pv, "Init:%s", waiting);
        else
            pod_reason(pv, "Init:%zu/%zu", i, n_init);
        return true;
    }
    return false;
}

/* The main-container pass, last container first as upstream walks them. */
static void
pod_main_pass(struct pod_view *pv)
{
    const json_t *statuses = api_json_path(pv->pod, "status.containerStatuses");
    bool running = false;

    pv->restarts = pv->init_restarts;
    pv->last_restart = pv->init_last_restart;
    for (size_t i = json_array_size(statuses); i-- > 0;) {
        const json_t *cs = json_array_get(statuses, i);
        const char *waiting = or_else(str_at(cs, "state.waiting.reason"), "");
        const json_t *term = api_json_path(cs, "state.terminated");

        count_restarts(cs, &pv->restarts, &pv->last_restart);
        if (*waiting) {
            pod_reason(pv, "%s", waiting);
        } else if (term) {
            terminated_reason(pv, term, "");
        } else if (true_at(cs, "ready") && api_json_path(cs, "state.running")) {
            running = true;
            pv->ready++;
        }
    }
    if (strcmp(pv->reason, "Completed") == 0 && running) {
        bool ready = condition_true(api_json_path(pv->pod, "status.conditions"), "Ready");

        pod_reason(pv, "%s", ready ? "Running" : "NotReady");
    }
}

static void
pod_view_init(struct pod_view *pv, const json_t *pod)
{
    const json_t *conditions = api_json_path(pod, "status.conditions");
    size_t i = 0;
    const json_t *c = NULL;

    *pv = (struct pod_view){.pod = pod};
    pv->total = (int)json_array_size(api_json_path(pod, "spec.containers"));
    json_array_foreach(api_json_path(pod, "spec.initContainers"), i, c)
    {
        pv->total += strcmp(or_else(str_at(c, "restartPolicy"), ""), "Always") == 0;
    }
    pod_reason(
        pv, "%s",
        or_else(str_at(pod, "status.reason"), or_else(str_at(pod, "status.phase"), "Pending")));
    json_array_foreach(conditions, i, c)
    {
        if (strcmp(or_else(str_at(c, "type"), ""), "PodScheduled") == 0 &&
            strcmp(or_else(str_at(c, "reason"), ""), "SchedulingGated") == 0)
            pod_reason(pv, "%s", "SchedulingGated");
    }
}

static void
pod_view_compute(struct pod_view *pv)
{
    const char *phase = or_else(str_at(pv->pod, "status.phase"), "");

    if (!pod_init_pass(pv) ||
        condition_true(api_json_path(pv->pod, "status.conditions"), "Initialized"))
        pod_main_pass(pv);
    if (!api_json_path(pv->pod, "metadata.deletionTimestamp"))
        return;
    if (strcmp(or_else(str_at(pv->pod, "status.reason"), ""), "NodeLost") == 0)
        pod_reason(pv, "%s", "Unknown");
    else if (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0)
        pod_reason(pv, "%s", "Terminating");
}

static json_t *
pod_restarts_cell(const struct pod_view *pv, int64_t now_s)
{
    char age[32];

    if (pv->restarts == 0 || pv->last_restart == 0)
        return json_sprintf("%lld", (long long)pv->restarts);
    return json_sprintf("%lld (%s ago)", (long long)pv->restarts,
                        api_human_duration(now_s - pv->last_restart, age, sizeof(age)));
}

static const char *
pod_ip(const json_t *pod)
{
    const char *ip = str_at(json_array_get(api_json_path(pod, "status.podIPs"), 0), "ip");

    return or_else(ip, or_else(str_at(pod, "status.podIP"), "<none>"));
}

static json_t *
readiness_gates_cell(const json_t *pod)
{
    const json_t *gates = api_json_path(pod, "spec.readinessGates");
    const json_t *conditions = api_json_path(pod, "status.conditions");
    size_t i = 0, n_true = 0;
    const json_t *g = NULL;

    if (json_array_size(gates) == 0)
        return json_string("<none>");
    json_array_foreach(gates, i, g)
    {
        n_true += condition_true(conditions, or_else(str_at(g, "conditionType"), ""));
    }
    return json_sprintf("%zu/%zu", n_true, json_array_size(gates));
}

json_t *
api_row_pod(const json_t *obj, int64_t now_s)
{
    struct pod_view pv;

    pod_view_init(&pv, obj);
    pod_view_compute(&pv);
    return json_pack(
        "[o o s o o s s s o]", name_cell(obj), json_sprintf("%d/%d", pv.ready, pv.total), pv.reason,
        pod_restarts_cell(&pv, now_s), age_cell(obj, now_s), pod_ip(obj),
        or_else(str_at(obj, "spec.nodeName"), "<none>"),
        or_else(str_at(obj, "status.nominatedNodeName"), "<none>"), readiness_gates_cell(obj));
}

/* ---- services, endpoints, endpointslices -------------------------------- */

/* Appends the comma-joined strings of arr. */
static void
append_strings(struct k3c_buf *b, const json_t *arr)
{
    size_t i = 0;
    const json_t *v = NULL;

    json_array_foreach(arr, i, v)
    {
        k3c_buf_appendf(b, "%s%s", b->len ? "," : "", or_else(json_string_value(v), ""));
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
        const char *s = or_else(str_at(in, "ip"), str_at(in, "hostname"));

        if (s && *s)
            v[n++] = s;
    }
    qsort(v, n, sizeof(*v), cmp_str);
    for (i = 0; i < n; i++) {
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
            k3c_buf_appendf(b, "%s%s", b->len ? "," : "", v[i]);
    }
}

/* getServiceExternalIP. */
static json_t *
service_external_ip_cell(const json_t *svc)
{
    const char *type = or_else(str_at(svc, "spec.type"), "");
    const json_t *ext = api_json_path(svc, "spec.externalIPs");
    struct k3c_buf b;

    k3c_buf_init(&b);
    if (strcmp(type, "ClusterIP") == 0 || strcmp(type, "NodePort") == 0) {
        append_strings(&b, ext);
        return list_cell(&b, "<none>");
    }
    if (strcmp(type, "LoadBalancer") == 0) {
        append_lb_ingress(&b, svc);
        append_strings(&b, ext);
        return list_cell(&b, "<pending>");
    }
    k3c_buf_fini(&b);
    if (strcmp(type, "ExternalName") == 0)
        return json_string(or_else(str_at(svc, "spec.externalName"), ""));
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
        json_int_t node_port = int_at(p, "nodePort", 0);
        const char *proto = or_else(str_at(p, "protocol"), "");

        k3c_buf_appendf(&b, "%s%lld", i ? "," : "", (long long)int_at(p, "port", 0));
        if (node_port > 0)
            k3c_buf_appendf(&b, ":%lld", (long long)node_port);
        k3c_buf_appendf(&b, "/%s", proto);
    }
    return list_cell(&b, "<none>");
}

static const char *
service_cluster_ip(const json_t *svc)
{
    const char *ip = json_string_value(json_array_get(api_json_path(svc, "spec.clusterIPs"), 0));

    return or_else(ip, or_else(str_at(svc, "spec.clusterIP"), "<none>"));
}

json_t *
api_row_service(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s s o o o o]", name_cell(obj), or_else(str_at(obj, "spec.type"), ""),
                     service_cluster_ip(obj), service_external_ip_cell(obj),
                     service_ports_cell(obj), age_cell(obj, now_s),
                     labels_cell(api_json_path(obj, "spec.selector")));
}

#define LIST_MAX 3

/* Adds one "ip" or "ip:port" (net.JoinHostPort) unless LIST_MAX are shown. */
static void
add_endpoint(struct k3c_buf *b, size_t *shown, const char *ip, json_int_t port)
{
    bool v6 = ip && strchr(ip, ':');

    if (*shown == LIST_MAX)
        return;
    (*shown)++;
    k3c_buf_appendf(b, "%s", b->len ? "," : "");
    if (port < 0)
        k3c_buf_appendf(b, "%s", or_else(ip, ""));
    else
        k3c_buf_appendf(b, v6 ? "[%s]:%lld" : "%s:%lld", or_else(ip, ""), (long long)port);
}

/* formatEndpoints: at most three "ip:port", then "+ N more...". */
static json_t *
endpoints_cell(const json_t *obj)
{
    const json_t *subsets = json_object_get(obj, "subsets");
    size_t shown = 0, count = 0, i = 0, j = 0, k = 0;
    const json_t *ss = NULL, *port = NULL, *addr = NULL;
    struct k3c_buf b;

    k3c_buf_init(&b);
    json_array_foreach(subsets, i, ss)
    {
        const json_t *ports = json_object_get(ss, "ports");
        const json_t *addrs = json_object_get(ss, "addresses");

        if (json_array_size(ports) == 0) {
            count += json_array_size(addrs);
            json_array_foreach(addrs, k, addr)
            {
                add_endpoint(&b, &shown, str_at(addr, "ip"), -1);
            }
            continue;
        }
        json_array_foreach(ports, j, port)
        {
            count += json_array_size(addrs);
            json_array_foreach(addrs, k, addr)
            {
                add_endpoint(&b, &shown, str_at(addr, "ip"), int_at(port, "port", 0));
            }
        }
    }
    return more_cell(&b, shown, count, LIST_MAX, "<none>");
}

json_t *
api_row_endpoints(const json_t *obj, int64_t now_s)
{
    return json_pack("[o o o]", name_cell(obj), endpoints_cell(obj), age_cell(obj, now_s));
}

/* formatDiscoveryPorts: port numbers, names, or "*". */
static json_t *
slice_ports_cell(const json_t *obj)
{
    const json_t *ports = json_object_get(obj, "ports");
    size_t shown = 0, i = 0;
    const json_t *p = NULL;
    struct k3c_buf b;

    k3c_buf_init(&b);
    json_array_foreach(ports, i, p)
    {
        const json_t *num = json_object_get(p, "port");

        if (shown == LIST_MAX)
            break;
        shown++;
        if (json_is_integer(num))
            k3c_buf_appendf(&b, "%s%lld", i ? "," : "", (long long)json_integer_value(num));
        else
            k3c_buf_appendf(&b, "%s%s", i ? "," : "", or_else(str_at(p, "name"), "*"));
    }
    return more_cell(&b, shown, json_array_size(ports), LIST_MAX, "<unset>");
}

/* formatDiscoveryEndpoints: addresses of every endpoint. */
static json_t *
slice_endpoints_cell(const json_t *obj)
{
    size_t shown = 0, count = 0, i = 0, j = 0;
    const json_t *ep = NULL, *addr = NULL;
    struct k3c_buf b;

    k3c_buf_init(&b);
    json_array_foreach(json_object_get(obj, "endpoints"), i, ep)
    {
        json_array_foreach(json_object_get(ep, "addresses"), j, addr)
        {
            count++;
            add_endpoint(&b, &shown, json_string_value(addr), -1);
        }
    }
    return more_cell(&b, shown, count, LIST_MAX, "<unset>");
}

json_t *
api_row_endpointslice(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s o o o]", name_cell(obj), or_else(str_at(obj, "addressType"), ""),
                     slice_ports_cell(obj), slice_endpoints_cell(obj), age_cell(obj, now_s));
}

/* ---- configmaps, secrets, serviceaccounts, leases, events --------------- */

json_t *
api_row_configmap(const json_t *obj, int64_t now_s)
{
    size_t n = json_object_size(json_object_get(obj, "data")) +
               json_object_size(json_object_get(obj, "binaryData"));

    return json_pack("[o I o]", name_cell(obj), (json_int_t)n, age_cell(obj, now_s));
}

json_t *
api_row_secret(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s I o]", name_cell(obj), or_else(str_at(obj, "type"), ""),
                     (json_int_t)json_object_size(json_object_get(obj, "data")),
                     age_cell(obj, now_s));
}

json_t *
api_row_serviceaccount(const json_t *obj, int64_t now_s)
{
    return json_pack("[o I o]", name_cell(obj),
                     (json_int_t)json_array_size(json_object_get(obj, "secrets")),
                     age_cell(obj, now_s));
}

json_t *
api_row_lease(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s o]", name_cell(obj), or_else(str_at(obj, "spec.holderIdentity"), ""),
                     age_cell(obj, now_s));
}

/* "kind/name" with the kind lower-cased, or just the kind. */
static json_t *
event_object_cell(const json_t *ev)
{
    const char *kind = or_else(str_at(ev, "involvedObject.kind"), "");
    const char *name = or_else(str_at(ev, "involvedObject.name"), "");
    struct k3c_buf b;

    k3c_buf_init(&b);
    for (const char *p = kind; *p; p++) {
        char c = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;

        k3c_buf_append(&b, &c, 1);
    }
    if (*name)
        k3c_buf_appendf(&b, "/%s", name);
    return buf_cell(&b);
}

/* formatEventSource: component (or reportingController), then ", host". */
static json_t *
event_source_cell(const json_t *ev)
{
    const char *comp =
        or_else(str_at(ev, "source.component"), or_else(str_at(ev, "reportingComponent"), ""));
    const char *host =
        or_else(str_at(ev, "source.host"), or_else(str_at(ev, "reportingInstance"), ""));

    if (!*host)
        return json_string(comp);
    return json_sprintf("%s, %s", comp, host);
}

static json_t *
event_message_cell(const json_t *ev)
{
    const char *m = or_else(str_at(ev, "message"), "");
    size_t len = strlen(m);

    while (*m == ' ' || *m == '\t' || *m == '\n' || *m == '\r') {
        m++;
        len--;
    }
    while (len > 0 && strchr(" \t\n\r", m[len - 1]))
        len--;
    return json_stringn(m, len);
}

json_t *
api_row_event(const json_t *obj, int64_t now_s)
{
    const char *first_ts = str_at(obj, "firstTimestamp");
    json_t *first = since_cell(first_ts ? first_ts : str_at(obj, "eventTime"), now_s);
    json_t *last = NULL;
    json_int_t count = int_at(obj, "count", 0);

    if (api_json_path(obj, "series")) {
        last = since_cell(str_at(obj, "series.lastObservedTime"), now_s);
        count = int_at(obj, "series.count", 0);
    } else {
        last = str_at(obj, "lastTimestamp") ? since_cell(str_at(obj, "lastTimestamp"), now_s)
                                            : json_incref(first);
        if (count == 0)
            count = 1;
    }
    return json_pack("[o s s o s o o o I o]", last, or_else(str_at(obj, "type"), ""),
                     or_else(str_at(obj, "reason"), ""), event_object_cell(obj),
                     or_else(str_at(obj, "involvedObject.fieldPath"), ""), event_source_cell(obj),
                     event_message_cell(obj), first, count, name_cell(obj));
}

/* ---- workloads ---------------------------------------------------------- */

json_t *
api_row_deployment(const json_t *obj, int64_t now_s)
{
    json_t *ready = json_sprintf("%lld/%lld", (long long)int_at(obj, "status.readyReplicas", 0),
                                 (long long)int_at(obj, "spec.replicas", 1));

    return json_pack("[o o I I o o o o]", name_cell(obj), ready,
                     int_at(obj, "status.updatedReplicas", 0),
                     int_at(obj, "status.availableReplicas", 0), age_cell(obj, now_s),
                     containers_cell(obj, "name"), containers_cell(obj, "image"),
                     selector_cell(api_json_path(obj, "spec.selector"), ""));
}

json_t *
api_row_replicaset(const json_t *obj, int64_t now_s)
{
    return json_pack("[o I I I o o o o]", name_cell(obj), int_at(obj, "spec.replicas", 1),
                     int_at(obj, "status.replicas", 0), int_at(obj, "status.readyReplicas", 0),
                     age_cell(obj, now_s), containers_cell(obj, "name"),
                     containers_cell(obj, "image"),
                     selector_cell(api_json_path(obj, "spec.selector"), ""));
}

json_t *
api_row_daemonset(const json_t *obj, int64_t now_s)
{
    return json_pack(
        "[o I I I I I o o o o o]", name_cell(obj), int_at(obj, "status.desiredNumberScheduled", 0),
        int_at(obj, "status.currentNumberScheduled", 0), int_at(obj, "status.numberReady", 0),
        int_at(obj, "status.updatedNumberScheduled", 0), int_at(obj, "status.numberAvailable", 0),
        labels_cell(api_json_path(obj, "spec.template.spec.nodeSelector")), age_cell(obj, now_s),
        containers_cell(obj, "name"), containers_cell(obj, "image"),
        selector_cell(api_json_path(obj, "spec.selector"), ""));
}

/* printJob's status: the first true condition in upstream's order. */
static const char *
job_status(const json_t *job)
{
    static const char *const order[][2] = {
        {"Complete", "Complete"},
        {"Failed", "Failed"},
        {NULL, "Terminating"},
        {"Suspended", "Suspended"},
        {"FailureTarget", "FailureTarget"},
        {"SuccessCriteriaMet", "SuccessCriteriaMet"},
    };
    const json_t *conditions = api_json_path(job, "status.conditions");

    for (size_t i = 0; i < K3C_ARRAY_SIZE(order); i++) {
        bool hit = order[i][0] ? condition_true(conditions, order[i][0])
                               : api_json_path(job, "metadata.deletionTimestamp") != NULL;

        if (hit)
            return order[i][1];
    }
    return "Running";
}

static json_t *
job_completions_cell(const json_t *job)
{
    long long succeeded = (long long)int_at(job, "status.succeeded", 0);
    json_int_t parallelism = int_at(job, "spec.parallelism", 0);

    if (json_is_integer(api_json_path(job, "spec.completions")))
        return json_sprintf("%lld/%lld", succeeded, (long long)int_at(job, "spec.completions", 0));
    if (parallelism > 1)
        return json_sprintf("%lld/1 of %lld", succeeded, (long long)parallelism);
    return json_sprintf("%lld/1", succeeded);
}

static json_t *
job_duration_cell(const json_t *job, int64_t now_s)
{
    char buf[32];
    int64_t start = 0, end = now_s;

    if (!parse_time(str_at(job, "status.startTime"), &start))
        return json_string("");
    parse_time(str_at(job, "status.completionTime"), &end);
    return json_string(api_human_duration(end - start, buf, sizeof(buf)));
}

json_t *
api_row_job(const json_t *obj, int64_t now_s)
{
    return json_pack("[o s o o o o o o]", name_cell(obj), job_status(obj),
                     job_completions_cell(obj), job_duration_cell(obj, now_s), age_cell(obj, now_s),
                     containers_cell(obj, "name"), containers_cell(obj, "image"),
                     selector_cell(api_json_path(obj, "spec.selector"), "<none>"));
}

/* ---- for the kinds in their own files (kind_*.c) ------------------------ */

json_t *
api_name_cell(const json_t *obj)
{
    return name_cell(obj);
}

json_t *
api_age_cell(const json_t *obj, int64_t now_s)
{
    return age_cell(obj, now_s);
}

json_t *
api_selector_cell(const json_t *sel, const char *empty_text)
{
    return selector_cell(sel, empty_text);
}
