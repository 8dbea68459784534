/* SPDX-License-Identifier: Apache-2.0
 * kind_pod.c - Pod (and the pod template every workload kind embeds): table columns and rows
 * (pkg/printers/internalversion), validation and defaults, the shape of
 * upstream's pkg/registry/core/pod/strategy.go (Kubernetes 1.32).
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
    const char *r = api_str_at(term, "reason");
    json_int_t sig = api_int_at(term, "signal", 0);

    if (r && *r)
        pod_reason(pv, "%s%s", prefix, r);
    else if (sig != 0)
        pod_reason(pv, "%sSignal:%lld", prefix, (long long)sig);
    else
        pod_reason(pv, "%sExitCode:%lld", prefix, (long long)api_int_at(term, "exitCode", 0));
}

static bool
is_restartable_init(const json_t *pod, const char *name)
{
    size_t i = 0;
    const json_t *c = NULL;

    json_array_foreach(api_json_path(pod, "spec.initContainers"), i, c)
    {
        if (name && strcmp(api_or_else(api_str_at(c, "name"), ""), name) == 0)
            return strcmp(api_or_else(api_str_at(c, "restartPolicy"), ""), "Always") == 0;
    }
    return false;
}

static void
count_restarts(const json_t *cs, json_int_t *restarts, int64_t *last)
{
    int64_t t = 0;

    *restarts += api_int_at(cs, "restartCount", 0);
    if (api_parse_time(api_str_at(cs, "lastState.terminated.finishedAt"), &t) && t > *last)
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
        bool sidecar = is_restartable_init(pv->pod, api_str_at(cs, "name"));
        const json_t *term = api_json_path(cs, "state.terminated");
        const char *waiting = api_or_else(api_str_at(cs, "state.waiting.reason"), "");

        count_restarts(cs, &pv->restarts, &pv->last_restart);
        if (sidecar)
            count_restarts(cs, &pv->init_restarts, &pv->init_last_restart);
        if (term && api_int_at(term, "exitCode", 0) == 0)
            continue;
        if (sidecar && api_true_at(cs, "started")) {
            pv->ready += api_true_at(cs, "ready");
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
        const char *waiting = api_or_else(api_str_at(cs, "state.waiting.reason"), "");
        const json_t *term = api_json_path(cs, "state.terminated");

        count_restarts(cs, &pv->restarts, &pv->last_restart);
        if (*waiting) {
            pod_reason(pv, "%s", waiting);
        } else if (term) {
            terminated_reason(pv, term, "");
        } else if (api_true_at(cs, "ready") && api_json_path(cs, "state.running")) {
            running = true;
            pv->ready++;
        }
    }
    if (strcmp(pv->reason, "Completed") == 0 && running) {
        bool ready = api_condition_true(api_json_path(pv->pod, "status.conditions"), "Ready");

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
        pv->total += strcmp(api_or_else(api_str_at(c, "restartPolicy"), ""), "Always") == 0;
    }
    pod_reason(pv, "%s",
               api_or_else(api_str_at(pod, "status.reason"),
                           api_or_else(api_str_at(pod, "status.phase"), "Pending")));
    json_array_foreach(conditions, i, c)
    {
        if (strcmp(api_or_else(api_str_at(c, "type"), ""), "PodScheduled") == 0 &&
            strcmp(api_or_else(api_str_at(c, "reason"), ""), "SchedulingGated") == 0)
            pod_reason(pv, "%s", "SchedulingGated");
    }
}

static void
pod_view_compute(struct pod_view *pv)
{
    const char *phase = api_or_else(api_str_at(pv->pod, "status.phase"), "");

    if (!pod_init_pass(pv) ||
        api_condition_true(api_json_path(pv->pod, "status.conditions"), "Initialized"))
        pod_main_pass(pv);
    if (!api_json_path(pv->pod, "metadata.deletionTimestamp"))
        return;
    if (strcmp(api_or_else(api_str_at(pv->pod, "status.reason"), ""), "NodeLost") == 0)
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
    const char *ip = api_str_at(json_array_get(api_json_path(pod, "status.podIPs"), 0), "ip");

    return api_or_else(ip, api_or_else(api_str_at(pod, "status.podIP"), "<none>"));
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
        n_true += api_condition_true(conditions, api_or_else(api_str_at(g, "conditionType"), ""));
    }
    return json_sprintf("%zu/%zu", n_true, json_array_size(gates));
}

json_t *
api_row_pod(const json_t *obj, int64_t now_s)
{
    struct pod_view pv;

    pod_view_init(&pv, obj);
    pod_view_compute(&pv);
    return json_pack("[o o s o o s s s o]", api_name_cell(obj),
                     json_sprintf("%d/%d", pv.ready, pv.total), pv.reason,
                     pod_restarts_cell(&pv, now_s), api_age_cell(obj, now_s), pod_ip(obj),
                     api_or_else(api_str_at(obj, "spec.nodeName"), "<none>"),
                     api_or_else(api_str_at(obj, "status.nominatedNodeName"), "<none>"),
                     readiness_gates_cell(obj));
}

static const char *const restart_policies[] = {"Always", "OnFailure", "Never", NULL};

const char *const api_restart_always[] = {"Always", NULL};

static const char *const dns_policies[] = {"ClusterFirst", "ClusterFirstWithHostNet", "Default",
                                           "None", NULL};

static const char *const pull_policies[] = {"Always", "IfNotPresent", "Never", NULL};

const char *const api_protocols[] = {"SCTP", "TCP", "UDP", NULL};

void
api_check_port_number(json_t *causes, const char *field, const json_t *port, bool required)
{
    if (!port || json_integer_value(port) == 0) {
        if (required)
            api_cause_required(causes, field, NULL);
        return;
    }
    if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535)
        api_cause_invalid_int(causes, field, json_integer_value(port), api_msg_port_range);
}

static void
validate_container_ports(const json_t *ports, const char *field, json_t *causes)
{
    struct fpath f;
    size_t i = 0;
    const json_t *p = NULL;

    json_array_foreach(ports, i, p)
    {
        api_check_port_number(causes, api_fpath(&f, "%s[%zu].containerPort", field, i),
                              json_object_get(p, "containerPort"), true);
        api_check_port_number(causes, api_fpath(&f, "%s[%zu].hostPort", field, i),
                              json_object_get(p, "hostPort"), false);
        api_check_enum(causes, api_fpath(&f, "%s[%zu].protocol", field, i),
                       api_str_at(p, "protocol"), api_protocols, true);
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
        const char *name = api_str_at(c, "name");

        api_fpath(&f, "%s[%zu].name", field, i);
        if (api_is_empty(name))
            api_cause_required(causes, f.s, NULL);
        else
            api_check_field(causes, f.s, name, api_check_dns1123_label);
        if (json_object_get(names, api_or_empty(name)))
            api_cause_duplicate(causes, f.s, api_or_empty(name));
        json_object_set_new(names, api_or_empty(name), json_true());
        api_fpath(&f, "%s[%zu].image", field, i);
        if (api_is_empty(api_str_at(c, "image")))
            api_cause_required(causes, f.s, NULL);
        validate_container_ports(json_object_get(c, "ports"),
                                 api_fpath(&f, "%s[%zu].ports", field, i), causes);
        api_check_enum(causes, api_fpath(&f, "%s[%zu].imagePullPolicy", field, i),
                       api_str_at(c, "imagePullPolicy"), pull_policies, true);
    }
}

/* ValidatePodSpec at field ("spec", "spec.template.spec"). */
static void
validate_pod_spec(const json_t *spec, const char *field, json_t *causes)
{
    _cleanup_json_ json_t *names = json_object();
    const json_t *containers = json_object_get(spec, "containers");
    struct fpath f;

    api_fpath(&f, "%s.containers", field);
    if (json_array_size(containers) == 0)
        api_cause_required(causes, f.s, NULL);
    validate_containers(containers, f.s, names, causes);
    validate_containers(json_object_get(spec, "initContainers"),
                        api_fpath(&f, "%s.initContainers", field), names, causes);
    api_check_enum(causes, api_fpath(&f, "%s.restartPolicy", field),
                   api_str_at(spec, "restartPolicy"), restart_policies, true);
    api_check_enum(causes, api_fpath(&f, "%s.dnsPolicy", field), api_str_at(spec, "dnsPolicy"),
                   dns_policies, true);
    api_validate_labels(json_object_get(spec, "nodeSelector"),
                        api_fpath(&f, "%s.nodeSelector", field), causes);
}

/* ValidatePodTemplateSpec at spec.template, then the owner's restart rule. */
void
api_validate_pod_template(const json_t *spec, const char *const *restart, json_t *causes)
{
    const json_t *tmpl = json_object_get(spec, "template");
    const char *policy = api_str_at(tmpl, "spec.restartPolicy");

    api_validate_labels(api_json_path(tmpl, "metadata.labels"), "spec.template.metadata.labels",
                        causes);
    api_validate_annotations(api_json_path(tmpl, "metadata.annotations"),
                             "spec.template.metadata.annotations", causes);
    validate_pod_spec(json_object_get(tmpl, "spec"), "spec.template.spec", causes);
    for (size_t i = 0; restart[i]; i++) {
        if (policy && strcmp(policy, restart[i]) == 0)
            return;
    }
    api_cause_not_supported(causes, "spec.template.spec.restartPolicy", api_or_empty(policy),
                            restart);
}

void
api_validate_pod(const json_t *obj, const json_t *old, json_t *causes)
{
    (void)old;
    validate_pod_spec(json_object_get(obj, "spec"), "spec", causes);
}

/* SetDefaults_Container's pull policy: Always for ":latest" or no tag (and
 * no digest), else IfNotPresent (parsers.ParseImageName). */
static const char *
default_pull_policy(const char *image)
{
    _cleanup_free_ char *ref = k3c_xstrdup(api_or_empty(image));
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

    api_default_take(c, "imagePullPolicy",
                     json_string(default_pull_policy(api_str_at(c, "image"))));
    api_default_take(c, "terminationMessagePath", json_string("/dev/termination-log"));
    api_default_take(c, "terminationMessagePolicy", json_string("File"));
    json_array_foreach(json_object_get(c, "ports"), i, p)
    {
        api_default_take(p, "protocol", json_string("TCP"));
    }
}

/* SetDefaults_PodSpec and the containers in it. */
static void
pod_spec_defaults(json_t *spec)
{
    static const char *const lists[] = {"containers", "initContainers", NULL};

    if (!json_is_object(spec))
        return;
    api_default_take(spec, "dnsPolicy", json_string("ClusterFirst"));
    api_default_take(spec, "restartPolicy", json_string("Always"));
    api_default_take(spec, "securityContext", json_object());
    api_default_take(spec, "terminationGracePeriodSeconds", json_integer(30));
    api_default_take(spec, "schedulerName", json_string("default-scheduler"));
    for (size_t l = 0; lists[l]; l++) {
        size_t i = 0;
        json_t *c = NULL;

        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            container_defaults(c);
        }
    }
}

void
api_template_defaults(json_t *obj)
{
    pod_spec_defaults(
        api_ensure_object(api_ensure_object(api_ensure_object(obj, "spec"), "template"), "spec"));
}

void
api_defaults_pod(json_t *obj)
{
    json_t *spec = api_ensure_object(obj, "spec");

    pod_spec_defaults(spec);
    api_default_take(spec, "enableServiceLinks", json_true());
    api_default_take(api_ensure_object(obj, "status"), "phase", json_string("Pending"));
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
        const char *k = api_or_empty(api_str_at(t, "key"));
        const char *e = api_or_empty(api_str_at(t, "effect"));

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
    json_t *spec = api_ensure_object(pod, "spec");
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
