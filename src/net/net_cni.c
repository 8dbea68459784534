/* SPDX-License-Identifier: Apache-2.0
 * net_cni.c - CNI 1.0 runtime side (SPEC.md v1.0.0): plugin lookup and exec
 * with the CNI_* environment, conflist ADD/DEL/CHECK with prevResult
 * chaining, result and error parsing; and the pod network built on it. All
 * plugin execs go through net_run (bounded, inside the host namespace); the
 * only state kept is the per-pod result cache under <state>/results. */
#define LOG_COMPONENT "net"
#include "net/net.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Plugins get a fixed PATH (portmap runs iptables), not the caller's. */
#define CNI_PLUGIN_ENV_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define POD_LOOPBACK_NET    "k3c-loopback"
#define POD_CACHE_KIND      "k3c-cni-cache/v1"

static const char *const cmd_names[] = {
    [NET_CNI_ADD] = "ADD",
    [NET_CNI_DEL] = "DEL",
    [NET_CNI_CHECK] = "CHECK",
    [NET_CNI_VERSION] = "VERSION",
};

const char *
net_cni_cmd_name(enum net_cni_cmd cmd)
{
    if ((size_t)cmd >= K3C_ARRAY_SIZE(cmd_names))
        return "?";
    return cmd_names[cmd];
}

/* ---- results and errors (pure) ---- */

/* Copies an optional string member into a fixed field; -1 when present but
 * not a string or too long. */
static int
copy_str(const json_t *obj, const char *key, char *dst, size_t len)
{
    const json_t *v = json_object_get(obj, key);

    dst[0] = '\0';
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= len)
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int
parse_interfaces(const json_t *arr, struct net_cni_result *r, struct k3c_err *err)
{
    size_t i;
    const json_t *it;

    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return k3c_err_set(err, K3C_E_INVALID, "cni result: interfaces is not an array");
    json_array_foreach(arr, i, it)
    {
        struct net_cni_iface *f;

        if (i >= NET_CNI_MAX)
            break;
        f = &r->interfaces[i];
        if (!json_is_object(it) || copy_str(it, "name", f->name, sizeof(f->name)) < 0 ||
            copy_str(it, "mac", f->mac, sizeof(f->mac)) < 0 ||
            copy_str(it, "sandbox", f->sandbox, sizeof(f->sandbox)) < 0)
            return k3c_err_set(err, K3C_E_INVALID, "cni result: interface %zu is malformed", i);
        r->n_interfaces = i + 1;
    }
    return 0;
}

static int
parse_ips(const json_t *arr, size_t n_all_ifaces, struct net_cni_result *r, struct k3c_err *err)
{
    size_t i;
    const json_t *it;

    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return k3c_err_set(err, K3C_E_INVALID, "cni result: ips is not an array");
    json_array_foreach(arr, i, it)
    {
        struct net_cni_ip *ip;
        const json_t *idx;

        if (i >= NET_CNI_MAX)
            break;
        ip = &r->ips[i];
        if (!json_is_object(it) || copy_str(it, "address", ip->address, sizeof(ip->address)) < 0 ||
            !ip->address[0] || copy_str(it, "gateway", ip->gateway, sizeof(ip->gateway)) < 0)
            return k3c_err_set(err, K3C_E_INVALID, "cni result: ip %zu is malformed", i);
        idx = json_object_get(it, "interface");
        ip->interface = -1;
        if (idx) {
            if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
                (size_t)json_integer_value(idx) >= n_all_ifaces)
                return k3c_err_set(err, K3C_E_INVALID,
                                   "cni result: ip %zu names no listed interface", i);
            /* An index past what was kept is as good as absent. */
            if (json_integer_value(idx) < NET_CNI_MAX)
                ip->interface = (int)json_integer_value(idx);
        }
        r->n_ips = i + 1;
    }
    return 0;
}

static int
parse_routes(const json_t *arr, struct net_cni_result *r, struct k3c_err *err)
{
    size_t i;
    const json_t *it;

    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return k3c_err_set(err, K3C_E_INVALID, "cni result: routes is not an array");
    json_array_foreach(arr, i, it)
    {
        struct net_cni_route *rt;

        if (i >= NET_CNI_MAX)
            break;
        rt = &r->routes[i];
        if (!json_is_object(it) || copy_str(it, "dst", rt->dst, sizeof(rt->dst)) < 0 ||
            !rt->dst[0] || copy_str(it, "gw", rt->gw, sizeof(rt->gw)) < 0)
            return k3c_err_set(err, K3C_E_INVALID, "cni result: route %zu is malformed", i);
        r->n_routes = i + 1;
    }
    return 0;
}

int
net_cni_result_parse(const json_t *j, struct net_cni_result *r, struct k3c_err *err)
{
    const json_t *ifaces;

    memset(r, 0, sizeof(*r));
    if (!json_is_object(j))
        return k3c_err_set(err, K3C_E_INVALID, "cni result is not a JSON object");
    if (copy_str(j, "cniVersion", r->cni_version, sizeof(r->cni_version)) < 0)
        return k3c_err_set(err, K3C_E_INVALID, "cni result: bad cniVersion");
    ifaces = json_object_get(j, "interfaces");
    if (parse_interfaces(ifaces, r, err) < 0 ||
        parse_ips(json_object_get(j, "ips"), json_is_array(ifaces) ? json_array_size(ifaces) : 0, r,
                  err) < 0 ||
        parse_routes(json_object_get(j, "routes"), r, err) < 0) {
        memset(r, 0, sizeof(*r));
        return -1;
    }
    return 0;
}

/* SPEC §6 "Error codes" (1-99 reserved by the spec). */
static enum k3c_errkind
cni_code_kind(json_int_t code)
{
    switch (code) {
    case 1: /* incompatible CNI version */
    case 2: /* unsupported field in network configuration */
    case 4: /* invalid necessary environment variables */
    case 6: /* failed to decode content */
    case 7: /* invalid network config */
        return K3C_E_INVALID;
    case 3: /* container unknown or does not exist */
        return K3C_E_NOT_FOUND;
    case 11: /* try again later */
        return K3C_E_UNAVAILABLE;
    default: /* 5 I/O failure, 100+ plugin specific, 999 generic */
        return K3C_E_INTERNAL;
    }
}

/* The last non-empty line of s, trimmed, into buf. */
static void
last_line(const char *s, char *buf, size_t len)
{
    const char *end, *start;

    buf[0] = '\0';
    if (!s)
        return;
    end = s + strlen(s);
    while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    start = end;
    while (start > s && start[-1] != '\n')
        start--;
    snprintf(buf, len, "%.*s", (int)(end - start), start);
}

int
net_cni_plugin_error(struct k3c_err *err, const char *plugin, enum net_cni_cmd cmd, int exit_code,
                     const char *out, const char *errout)
{
    _cleanup_json_ json_t *j = NULL;
    const char *cmdname = net_cni_cmd_name(cmd);
    char line[160];

    if (out && *out)
        j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    if (json_is_object(j) && json_is_integer(json_object_get(j, "code"))) {
        json_int_t code = json_integer_value(json_object_get(j, "code"));
        const char *msg = json_string_value(json_object_get(j, "msg"));
        const char *details = json_string_value(json_object_get(j, "details"));

        if (!msg || !*msg)
            msg = "(no message)";
        if (details && *details)
            return k3c_err_set(err, cni_code_kind(code), "%s %s: %s: %s (CNI code %lld)", plugin,
                               cmdname, msg, details, (long long)code);
        return k3c_err_set(err, cni_code_kind(code), "%s %s: %s (CNI code %lld)", plugin, cmdname,
                           msg, (long long)code);
    }
    last_line(errout, line, sizeof(line));
    if (!line[0])
        last_line(out, line, sizeof(line));
    if (line[0])
        return k3c_err_set(err, K3C_E_INTERNAL, "%s %s: exit %d: %s", plugin, cmdname, exit_code,
                           line);
    return k3c_err_set(err, K3C_E_INTERNAL, "%s %s: exit %d", plugin, cmdname, exit_code);
}

/* ---- configuration lists (pure) ---- */

int
net_cni_list_validate(const json_t *list, struct k3c_err *err)
{
    const json_t *plugins, *it;
    size_t i;

    if (!json_is_object(list))
        return k3c_err_set(err, K3C_E_INVALID, "cni list is not a JSON object");
    if (!json_is_string(json_object_get(list, "cniVersion")))
        return k3c_err_set(err, K3C_E_INVALID, "cni list: cniVersion must be a string");
    if (!net_name_valid(json_string_value(json_object_get(list, "name"))))
        return k3c_err_set(err, K3C_E_INVALID, "cni list: name is missing or invalid");
    plugins = json_object_get(list, "plugins");
    if (!json_is_array(plugins) || json_array_size(plugins) == 0)
        return k3c_err_set(err, K3C_E_INVALID, "cni list: plugins must be a non-empty array");
    json_array_foreach(plugins, i, it)
    {
        if (!json_is_object(it) || !net_name_valid(json_string_value(json_object_get(it, "type"))))
            return k3c_err_set(err, K3C_E_INVALID, "cni list: plugin %zu has no valid type", i);
    }
    return 0;
}

json_t *
net_cni_plugin_conf(const json_t *list, size_t i, const json_t *prev_result,
                    const json_t *capability_args, struct k3c_err *err)
{
    _cleanup_json_ json_t *conf = NULL;
    _cleanup_json_ json_t *rc = NULL;
    json_t *caps, *v;
    const char *key;

    if (net_cni_list_validate(list, err) < 0)
        return NULL;
    if (i >= json_array_size(json_object_get(list, "plugins"))) {
        k3c_err_set(err, K3C_E_INVALID, "cni list: no plugin %zu", i);
        return NULL;
    }
    conf = json_deep_copy(json_array_get(json_object_get(list, "plugins"), i));
    json_object_set_new(conf, "cniVersion", json_deep_copy(json_object_get(list, "cniVersion")));
    json_object_set_new(conf, "name", json_deep_copy(json_object_get(list, "name")));

    /* Only the capabilities a plugin declares reach it (SPEC §4 and
     * CONVENTIONS.md "Dynamic Plugin specific fields"). */
    caps = json_object_get(conf, "capabilities");
    if (json_is_object(caps) && json_is_object(capability_args)) {
        rc = json_object();
        json_object_foreach(caps, key, v)
        {
            const json_t *arg = json_object_get(capability_args, key);

            if (json_is_true(v) && arg)
                json_object_set_new(rc, key, json_deep_copy(arg));
        }
    }
    if (rc && json_object_size(rc) > 0) {
        json_t *have = json_object_get(conf, "runtimeConfig");

        if (json_is_object(have))
            json_object_update(have, rc);
        else
            json_object_set(conf, "runtimeConfig", rc);
    }
    if (prev_result)
        json_object_set_new(conf, "prevResult", json_deep_copy(prev_result));
    return TAKE_PTR(conf);
}

/* ---- plugin execution ---- */

char *
net_cni_find_plugin(const char *path, const char *type, struct k3c_err *err)
{
    const char *p;

    if (!net_name_valid(type)) {
        k3c_err_set(err, K3C_E_INVALID, "cni plugin type '%s' is invalid", type ? type : "");
        return NULL;
    }
    if (!path || !*path)
        path = NET_CNI_PATH;
    p = path;
    while (*p) {
        size_t n = strcspn(p, ":");

        if (n > 0) {
            _cleanup_free_ char *cand = k3c_xasprintf("%.*s/%s", (int)n, p, type);
            struct stat st;

            if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
                return TAKE_PTR(cand);
        }
        p += n;
        if (*p == ':')
            p++;
    }
    k3c_err_set(err, K3C_E_NOT_FOUND, "cni plugin '%s' not found in %s", type, path);
    return NULL;
}

/* The CNI_* environment (SPEC §3 "Parameters"); strings in env[] are
 * allocated and freed by the caller. Returns the count. */
static size_t
cni_env(const struct net_cni_runtime *rt, enum net_cni_cmd cmd, char **env)
{
    size_t n = 0;

    env[n++] = k3c_xasprintf("CNI_COMMAND=%s", net_cni_cmd_name(cmd));
    if (rt->container_id)
        env[n++] = k3c_xasprintf("CNI_CONTAINERID=%s", rt->container_id);
    env[n++] = k3c_xasprintf("CNI_NETNS=%s", rt->netns ? rt->netns : "");
    if (rt->ifname)
        env[n++] = k3c_xasprintf("CNI_IFNAME=%s", rt->ifname);
    if (rt->args)
        env[n++] = k3c_xasprintf("CNI_ARGS=%s", rt->args);
    env[n++] = k3c_xasprintf("CNI_PATH=%s",
                             rt->plugin_path && *rt->plugin_path ? rt->plugin_path : NET_CNI_PATH);
    env[n++] = k3c_xstrdup(CNI_PLUGIN_ENV_PATH);
    env[n] = NULL;
    return n;
}

static int
cni_runtime_check(const struct net_cni_runtime *rt, enum net_cni_cmd cmd, struct k3c_err *err)
{
    if (cmd == NET_CNI_VERSION)
        return 0;
    if (!net_name_valid(rt->container_id))
        return k3c_err_set(err, K3C_E_INVALID, "cni: container id '%s' is invalid",
                           rt->container_id ? rt->container_id : "");
    if (!rt->ifname || !*rt->ifname || strlen(rt->ifname) > 15)
        return k3c_err_set(err, K3C_E_INVALID, "cni: interface name is missing or too long");
    if (cmd != NET_CNI_DEL && (!rt->netns || !*rt->netns))
        return k3c_err_set(err, K3C_E_INVALID, "cni %s: netns is required", net_cni_cmd_name(cmd));
    return 0;
}

int
net_cni_exec(const struct net_cni_runtime *rt, enum net_cni_cmd cmd, const json_t *conf,
             json_t **result, struct k3c_err *err)
{
    const char *type = json_string_value(json_object_get(conf, "type"));
    _cleanup_free_ char *bin = NULL;
    _cleanup_free_ char *input = NULL;
    _cleanup_json_ json_t *res = NULL;
    char *env[8] = {NULL};
    const char *argv[2] = {NULL, NULL};
    struct net_run_opts o = {0};
    struct net_run_result r = {0};
    int rc;

    if (cni_runtime_check(rt, cmd, err) < 0)
        return -1;
    bin = net_cni_find_plugin(rt->plugin_path, type, err);
    if (!bin)
        return k3c_err_wrap(err, "cni %s", net_cni_cmd_name(cmd));
    input = json_dumps(conf, JSON_COMPACT);
    if (!input)
        return k3c_err_set(err, K3C_E_INVALID, "cni %s %s: config does not serialise", type,
                           net_cni_cmd_name(cmd));
    cni_env(rt, cmd, env);
    argv[0] = bin;
    o.argv = argv;
    o.envp = (const char *const *)env;
    o.netns = rt->host_netns;
    o.input = input;
    o.input_len = strlen(input);
    o.timeout_ms = rt->timeout_ms > 0 ? rt->timeout_ms : NET_CNI_TIMEOUT_MS;
    log_debug("(cni %s) %s %s ifname %s netns %s", rt->container_id ? rt->container_id : "-", type,
              net_cni_cmd_name(cmd), rt->ifname ? rt->ifname : "-", rt->netns ? rt->netns : "-");
    rc = net_run(&o, &r, err);
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    if (rc < 0)
        return k3c_err_wrap(err, "cni %s %s", type, net_cni_cmd_name(cmd));
    if (r.exit_code != 0) {
        net_cni_plugin_error(err, type, cmd, r.exit_code, r.out, r.errout);
        net_run_result_fini(&r);
        return -1;
    }
    if (cmd == NET_CNI_ADD || cmd == NET_CNI_VERSION) {
        json_error_t jerr;

        res = json_loads(r.out, 0, &jerr);
        if (!json_is_object(res)) {
            net_run_result_fini(&r);
            return k3c_err_set(err, K3C_E_INTERNAL, "%s %s: result is not a JSON object (%s)", type,
                               net_cni_cmd_name(cmd), res ? "wrong type" : jerr.text);
        }
    }
    net_run_result_fini(&r);
    if (result)
        *result = TAKE_PTR(res);
    return 0;
}

static int
list_add(const struct net_cni_runtime *rt, const json_t *list, json_t **result, struct k3c_err *err)
{
    _cleanup_json_ json_t *prev = NULL;
    size_t n = json_array_size(json_object_get(list, "plugins"));

    for (size_t i = 0; i < n; i++) {
        _cleanup_json_ json_t *conf = net_cni_plugin_conf(list, i, prev, rt->capability_args, err);
        json_t *res = NULL;

        if (!conf || net_cni_exec(rt, NET_CNI_ADD, conf, &res, err) < 0)
            return -1;
        json_decref(prev);
        prev = res;
    }
    if (result)
        *result = TAKE_PTR(prev);
    return 0;
}

/* Every plugin gets its DEL even when one before it failed: a failing
 * portmap must not keep host-local from releasing the address. */
static int
list_del(const struct net_cni_runtime *rt, const json_t *list, const json_t *prev_result,
         struct k3c_err *err)
{
    size_t n = json_array_size(json_object_get(list, "plugins"));
    int rc = 0;

    for (size_t i = n; i-- > 0;) {
        struct k3c_err e = {0};
        _cleanup_json_ json_t *conf =
            net_cni_plugin_conf(list, i, prev_result, rt->capability_args, &e);

        if (conf && net_cni_exec(rt, NET_CNI_DEL, conf, NULL, &e) == 0)
            continue;
        if (rc == 0)
            *err = e;
        else
            log_warn("(cni %s) also failed: %s", rt->container_id, e.msg);
        rc = -1;
    }
    return rc;
}

static int
list_check(const struct net_cni_runtime *rt, const json_t *list, const json_t *prev_result,
           struct k3c_err *err)
{
    size_t n = json_array_size(json_object_get(list, "plugins"));

    if (json_is_true(json_object_get(list, "disableCheck")))
        return 0;
    if (!prev_result)
        return k3c_err_set(err, K3C_E_INVALID, "cni CHECK needs the ADD result");
    for (size_t i = 0; i < n; i++) {
        _cleanup_json_ json_t *conf =
            net_cni_plugin_conf(list, i, prev_result, rt->capability_args, err);

        if (!conf || net_cni_exec(rt, NET_CNI_CHECK, conf, NULL, err) < 0)
            return -1;
    }
    return 0;
}

int
net_cni_list_exec(const struct net_cni_runtime *rt, enum net_cni_cmd cmd, const json_t *list,
                  const json_t *prev_result, json_t **result, struct k3c_err *err)
{
    int rc;

    if (result)
        *result = NULL;
    if (net_cni_list_validate(list, err) < 0)
        return -1;
    switch (cmd) {
    case NET_CNI_ADD:
        rc = list_add(rt, list, result, err);
        break;
    case NET_CNI_DEL:
        rc = list_del(rt, list, prev_result, err);
        break;
    case NET_CNI_CHECK:
        rc = list_check(rt, list, prev_result, err);
        break;
    default:
        return k3c_err_set(err, K3C_E_INVALID, "cni %s is not a list operation",
                           net_cni_cmd_name(cmd));
    }
    if (rc < 0)
        return k3c_err_wrap(err, "network %s", json_string_value(json_object_get(list, "name")));
    return 0;
}

/* ---- the pod network ---- */

static const char *
dflt(const char *v, const char *d)
{
    return v && *v ? v : d;
}

/* "a.b.c.d/n", IPv4 only for now. TODO(#5): dual-stack podCIDRs. */
static bool
ipv4_cidr_valid(const char *s)
{
    char addr[INET_ADDRSTRLEN];
    const char *slash;
    struct in_addr a;
    char *end;
    long plen;

    if (!s)
        return false;
    slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(addr) || !slash[1])
        return false;
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = '\0';
    errno = 0;
    plen = strtol(slash + 1, &end, 10);
    return inet_pton(AF_INET, addr, &a) == 1 && *end == '\0' && errno == 0 && plen >= 0 &&
           plen <= 32;
}

json_t *
net_pod_conflist(const struct net_pod_config *cfg, struct k3c_err *err)
{
    const char *bridge = dflt(cfg->bridge, NET_POD_BRIDGE);
    const char *network = dflt(cfg->network, NET_POD_NETWORK);
    _cleanup_free_ char *ipam_dir = NULL;
    json_t *list, *br;

    if (!ipv4_cidr_valid(cfg->pod_cidr)) {
        k3c_err_set(err, K3C_E_INVALID, "podCIDR '%s' is not an IPv4 CIDR",
                    cfg->pod_cidr ? cfg->pod_cidr : "");
        return NULL;
    }
    if (!net_name_valid(bridge) || strlen(bridge) > 15) {
        k3c_err_set(err, K3C_E_INVALID, "bridge name '%s' is invalid", bridge);
        return NULL;
    }
    if (!net_name_valid(network)) {
        k3c_err_set(err, K3C_E_INVALID, "network name '%s' is invalid", network);
        return NULL;
    }
    ipam_dir = k3c_xasprintf("%s/ipam", dflt(cfg->state_dir, NET_POD_STATE_DIR));
    /* The bridge is the pods' gateway (isGateway puts .1 on it); ipMasq is
     * off because the service proxy owns NAT; hairpinMode lets a pod reach
     * itself through a Service. */
    br = json_pack("{s:s, s:s, s:b, s:b, s:b, s:{s:s, s:[[{s:s}]], s:[{s:s}], s:s}}", "type",
                   "bridge", "bridge", bridge, "isGateway", 1, "ipMasq", 0, "hairpinMode", 1,
                   "ipam", "type", "host-local", "ranges", "subnet", cfg->pod_cidr, "routes", "dst",
                   "0.0.0.0/0", "dataDir", ipam_dir);
    if (!br) {
        k3c_err_set(err, K3C_E_INTERNAL, "cni list: cannot build the bridge config");
        return NULL;
    }
    if (cfg->mtu > 0)
        json_object_set_new(br, "mtu", json_integer(cfg->mtu));
    list =
        json_pack("{s:s, s:s, s:[o, {s:s, s:{s:b}}]}", "cniVersion", NET_CNI_SPEC_VERSION, "name",
                  network, "plugins", br, "type", "portmap", "capabilities", "portMappings", 1);
    if (!list)
        k3c_err_set(err, K3C_E_INTERNAL, "cni list: cannot build");
    return list;
}

char *
net_pod_netns_path(const struct net_pod_config *cfg, const char *pod_uid)
{
    if (!net_name_valid(pod_uid))
        return NULL;
    return k3c_xasprintf("%s/k3c-%s", dflt(cfg->netns_dir, NET_NETNS_DIR), pod_uid);
}

/* Everything one pod operation needs, derived once from cfg and pod_uid. */
struct pod_ctx {
    const struct net_pod_config *cfg;
    const char *uid;
    char *ns_name;
    char *ns_path;
    char *cache_path;
    char *args;
    json_t *list;
    json_t *caps; /* NULL without hostPorts */
};

static void
pod_ctx_fini(struct pod_ctx *c)
{
    free(c->ns_name);
    free(c->ns_path);
    free(c->cache_path);
    free(c->args);
    json_decref(c->list);
    json_decref(c->caps);
}

static int
pod_ctx_init(struct pod_ctx *c, const struct net_pod_config *cfg, const char *uid,
             struct k3c_err *err)
{
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->uid = uid;
    if (!net_name_valid(uid))
        return k3c_err_set(err, K3C_E_INVALID, "pod uid '%s' is invalid", uid ? uid : "");
    c->ns_name = k3c_xasprintf("k3c-%s", uid);
    c->ns_path = net_pod_netns_path(cfg, uid);
    c->cache_path = k3c_xasprintf("%s/results/%s-%s-%s", dflt(cfg->state_dir, NET_POD_STATE_DIR),
                                  dflt(cfg->network, NET_POD_NETWORK), uid, NET_POD_IFNAME);
    return 0;
}

/* CNI_ARGS as kubelet/containerd pass them (CONVENTIONS.md "CNI_ARGS"). */
static int
pod_args(struct pod_ctx *c, const struct net_pod_opts *opts, struct k3c_err *err)
{
    const char *ns = opts ? opts->namespace : NULL;
    const char *name = opts ? opts->name : NULL;

    if ((ns && !net_name_valid(ns)) || (name && !net_name_valid(name)))
        return k3c_err_set(err, K3C_E_INVALID, "pod %s: namespace or name is invalid", c->uid);
    c->args = k3c_xasprintf("IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
                            "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
                            ns ? ns : "", name ? name : "", c->uid, c->uid);
    return 0;
}

/* {"portMappings": [...]} for portmap (CONVENTIONS.md "Port mappings"). */
static int
pod_caps(struct pod_ctx *c, const struct net_pod_opts *opts, struct k3c_err *err)
{
    json_t *arr;

    if (!opts || opts->n_ports == 0)
        return 0;
    arr = json_array();
    c->caps = json_pack("{s:o}", "portMappings", arr);
    for (size_t i = 0; i < opts->n_ports; i++) {
        const struct net_port_mapping *p = &opts->ports[i];
        const char *proto = dflt(p->protocol, "tcp");
        json_t *m;

        if (p->host_port < 1 || p->host_port > 65535 || p->container_port < 1 ||
            p->container_port > 65535)
            return k3c_err_set(err, K3C_E_INVALID, "pod %s: port mapping %zu out of range", c->uid,
                               i);
        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0 && strcmp(proto, "sctp") != 0)
            return k3c_err_set(err, K3C_E_INVALID, "pod %s: protocol '%s' is not tcp/udp/sctp",
                               c->uid, proto);
        m = json_pack("{s:i, s:i, s:s}", "hostPort", p->host_port, "containerPort",
                      p->container_port, "protocol", proto);
        if (p->host_ip && *p->host_ip)
            json_object_set_new(m, "hostIP", json_string(p->host_ip));
        json_array_append_new(arr, m);
    }
    return 0;
}

static void
pod_runtime(const struct pod_ctx *c, const char *netns, const char *ifname,
            struct net_cni_runtime *rt)
{
    *rt = (struct net_cni_runtime){
        .container_id = c->uid,
        .netns = netns,
        .ifname = ifname,
        .plugin_path = dflt(c->cfg->plugin_path, NET_CNI_PATH),
        .host_netns = c->cfg->host_netns,
        .args = c->args,
        .capability_args = ifname && strcmp(ifname, "lo") == 0 ? NULL : c->caps,
        .timeout_ms = c->cfg->timeout_ms,
    };
}

/* The loopback network: lo up in the pod (containerd runs it the same way,
 * as a network of its own ahead of the pod's). */
static int
pod_loopback(const struct pod_ctx *c, enum net_cni_cmd cmd, const char *netns, struct k3c_err *err)
{
    _cleanup_json_ json_t *conf = json_pack("{s:s, s:s, s:s}", "cniVersion", NET_CNI_SPEC_VERSION,
                                            "name", POD_LOOPBACK_NET, "type", "loopback");
    _cleanup_json_ json_t *res = NULL;
    struct net_cni_runtime rt;

    pod_runtime(c, netns, "lo", &rt);
    return net_cni_exec(&rt, cmd, conf, &res, err);
}

/* The eth0 address of an ADD result: the first IPv4 address on an
 * interface inside the sandbox, else the first IPv4 address. */
static int
pod_result_fill(const struct pod_ctx *c, const json_t *result, struct net_pod_result *out,
                struct k3c_err *err)
{
    struct net_cni_result r;
    const struct net_cni_ip *pick = NULL;
    size_t plen;

    if (net_cni_result_parse(result, &r, err) < 0)
        return -1;
    for (size_t i = 0; i < r.n_ips; i++) {
        const struct net_cni_ip *ip = &r.ips[i];

        if (strchr(ip->address, ':'))
            continue;
        if (ip->interface >= 0 && r.interfaces[ip->interface].sandbox[0]) {
            pick = ip;
            break;
        }
        if (!pick)
            pick = ip;
    }
    if (!pick)
        return k3c_err_set(err, K3C_E_INTERNAL, "pod %s: no IPv4 address in the CNI result",
                           c->uid);
    memset(out, 0, sizeof(*out));
    snprintf(out->netns, sizeof(out->netns), "%s", c->ns_path);
    snprintf(out->cidr, sizeof(out->cidr), "%s", pick->address);
    plen = strcspn(pick->address, "/");
    snprintf(out->ip, sizeof(out->ip), "%.*s", (int)plen, pick->address);
    snprintf(out->gateway, sizeof(out->gateway), "%s", pick->gateway);
    if (pick->interface >= 0)
        snprintf(out->mac, sizeof(out->mac), "%s", r.interfaces[pick->interface].mac);
    return 0;
}

/* Like libcni's cache (<cacheDir>/results/<net>-<id>-<if>): what DEL and
 * CHECK need later, even when the node's config has changed since. */
static int
pod_cache_write(const struct pod_ctx *c, const json_t *result, struct k3c_err *err)
{
    _cleanup_json_ json_t *j = NULL;
    _cleanup_free_ char *dir = NULL;
    _cleanup_free_ char *text = NULL;

    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O?, s:O, s:O}", "kind", POD_CACHE_KIND,
                  "containerId", c->uid, "ifName", NET_POD_IFNAME, "netns", c->ns_path, "cniArgs",
                  c->args, "capabilityArgs", c->caps, "config", c->list, "result", result);
    if (!j)
        return k3c_err_set(err, K3C_E_INTERNAL, "pod %s: cannot build the cache", c->uid);
    text = json_dumps(j, JSON_COMPACT);
    dir = k3c_xasprintf("%s/results", dflt(c->cfg->state_dir, NET_POD_STATE_DIR));
    if (k3c_mkdir_p(dir, 0700, err) < 0)
        return -1;
    return k3c_write_file(c->cache_path, text, strlen(text), 0600, err);
}

/* Returns a new reference, or NULL: K3C_E_NOT_FOUND when there is no cache. */
static json_t *
pod_cache_read(const struct pod_ctx *c, struct k3c_err *err)
{
    _cleanup_free_ char *text = NULL;
    const char *kind;
    json_error_t jerr;
    json_t *j;

    if (!k3c_file_exists(c->cache_path)) {
        k3c_err_set(err, K3C_E_NOT_FOUND, "pod %s: no cached CNI result", c->uid);
        return NULL;
    }
    if (k3c_read_file(c->cache_path, &text, NULL, err) < 0)
        return NULL;
    j = json_loads(text, 0, &jerr);
    kind = json_string_value(json_object_get(j, "kind"));
    if (!kind || strcmp(kind, POD_CACHE_KIND) != 0 ||
        net_cni_list_validate(json_object_get(j, "config"), err) < 0) {
        json_decref(j);
        k3c_err_set(err, K3C_E_INTERNAL, "pod %s: cache %s is unreadable", c->uid, c->cache_path);
        return NULL;
    }
    return j;
}

/* The side effects of setup, undone in reverse on failure. */
static int
pod_attach(struct pod_ctx *c, struct net_pod_result *res, struct k3c_err *err)
{
    const char *dir = dflt(c->cfg->netns_dir, NET_NETNS_DIR);
    struct net_cni_runtime rt;
    struct k3c_err e = {0};
    json_t *result = NULL;

    if (net_netns_create(dir, c->ns_name, err) < 0)
        return -1;
    if (pod_loopback(c, NET_CNI_ADD, c->ns_path, err) < 0)
        goto fail_netns;
    pod_runtime(c, c->ns_path, NET_POD_IFNAME, &rt);
    if (net_cni_list_exec(&rt, NET_CNI_ADD, c->list, NULL, &result, err) < 0)
        goto fail_list;
    if (pod_result_fill(c, result, res, err) < 0 || pod_cache_write(c, result, err) < 0)
        goto fail_list;
    json_decref(result);
    return 0;

fail_list:
    /* A failed ADD may have left a veth or an address behind (bridge does
     * not undo its own partial work); the whole list's DEL releases it. */
    if (net_cni_list_exec(&rt, NET_CNI_DEL, c->list, result, NULL, &e) < 0)
        log_warn("(pod %s) undoing a failed setup: %s", c->uid, e.msg);
    json_decref(result);
    if (pod_loopback(c, NET_CNI_DEL, c->ns_path, &e) < 0)
        log_warn("(pod %s) undoing a failed setup: %s", c->uid, e.msg);
fail_netns:
    if (net_netns_delete(dir, c->ns_name, &e) < 0)
        log_warn("(pod %s) undoing a failed setup: %s", c->uid, e.msg);
    return -1;
}

int
net_pod_setup(const struct net_pod_config *cfg, const char *pod_uid,
              const struct net_pod_opts *opts, struct net_pod_result *res, struct k3c_err *err)
{
    _cleanup_(pod_ctx_fini) struct pod_ctx c = {0};
    struct net_pod_result r;

    if (pod_ctx_init(&c, cfg, pod_uid, err) < 0)
        return -1;
    c.list = net_pod_conflist(cfg, err);
    if (!c.list || pod_args(&c, opts, err) < 0 || pod_caps(&c, opts, err) < 0)
        return k3c_err_wrap(err, "pod %s", pod_uid);
    if (pod_attach(&c, &r, err) < 0)
        return k3c_err_wrap(err, "pod %s: network setup", pod_uid);
    log_info("(pod %s) %s via %s on %s, netns %s", pod_uid, r.cidr, r.gateway,
             dflt(cfg->bridge, NET_POD_BRIDGE), r.netns);
    *res = r;
    return 0;
}

/* Teardown goes on past a failure; the first error is returned, later
 * ones are logged. */
static void
pod_note_failure(const char *uid, int *rc, struct k3c_err *err, const struct k3c_err *e)
{
    if (*rc == 0)
        *err = *e;
    else
        log_warn("(pod %s) teardown: %s", uid, e->msg);
    *rc = -1;
}

/* Takes list, capability and CNI args of the cached ADD into c. */
static void
pod_ctx_from_cache(struct pod_ctx *c, const json_t *cache)
{
    const json_t *caps = json_object_get(cache, "capabilityArgs");
    const char *args = json_string_value(json_object_get(cache, "cniArgs"));

    c->list = json_deep_copy(json_object_get(cache, "config"));
    c->caps = json_is_object(caps) ? json_deep_copy(caps) : NULL;
    c->args = k3c_xstrdup(args ? args : "");
}

int
net_pod_teardown(const struct net_pod_config *cfg, const char *pod_uid, struct k3c_err *err)
{
    _cleanup_(pod_ctx_fini) struct pod_ctx c = {0};
    _cleanup_json_ json_t *cache = NULL;
    struct net_cni_runtime rt;
    struct k3c_err e = {0};
    const char *netns;
    bool pinned;
    int rc = 0;

    if (pod_ctx_init(&c, cfg, pod_uid, err) < 0)
        return -1;
    pinned = net_netns_is_pinned(c.ns_path);
    cache = pod_cache_read(&c, &e);
    if (!cache && e.kind != K3C_E_NOT_FOUND)
        log_warn("(pod %s) %s; tearing down with the current config", pod_uid, e.msg);
    if (!cache && !pinned && !k3c_file_exists(c.ns_path))
        return 0; /* never set up, or already torn down */
    if (cache) {
        pod_ctx_from_cache(&c, cache);
    } else {
        c.list = net_pod_conflist(cfg, err);
        if (!c.list || pod_args(&c, NULL, err) < 0)
            return k3c_err_wrap(err, "pod %s: teardown", pod_uid);
    }
    /* SPEC §3: DEL gets an empty CNI_NETNS when the namespace is gone. */
    netns = pinned ? c.ns_path : "";
    pod_runtime(&c, netns, NET_POD_IFNAME, &rt);
    k3c_err_clear(&e);
    if (net_cni_list_exec(&rt, NET_CNI_DEL, c.list, json_object_get(cache, "result"), NULL, &e) < 0)
        pod_note_failure(pod_uid, &rc, err, &e);
    k3c_err_clear(&e);
    if (pinned && pod_loopback(&c, NET_CNI_DEL, netns, &e) < 0)
        pod_note_failure(pod_uid, &rc, err, &e);
    k3c_err_clear(&e);
    if (net_netns_delete(dflt(cfg->netns_dir, NET_NETNS_DIR), c.ns_name, &e) < 0)
        pod_note_failure(pod_uid, &rc, err, &e);
    if (rc < 0)
        return k3c_err_wrap(err, "pod %s: network teardown", pod_uid);
    /* Only now: a retry after a failed DEL still has the cached result. */
    if (unlink(c.cache_path) < 0 && errno != ENOENT)
        log_warn("(pod %s) remove %s: %s", pod_uid, c.cache_path, strerror(errno));
    log_info("(pod %s) network torn down", pod_uid);
    return 0;
}

int
net_pod_check(const struct net_pod_config *cfg, const char *pod_uid, struct k3c_err *err)
{
    _cleanup_(pod_ctx_fini) struct pod_ctx c = {0};
    _cleanup_json_ json_t *cache = NULL;
    struct net_cni_runtime rt;

    if (pod_ctx_init(&c, cfg, pod_uid, err) < 0)
        return -1;
    cache = pod_cache_read(&c, err);
    if (!cache)
        return -1;
    pod_ctx_from_cache(&c, cache);
    pod_runtime(&c, c.ns_path, NET_POD_IFNAME, &rt);
    if (net_cni_list_exec(&rt, NET_CNI_CHECK, c.list, json_object_get(cache, "result"), NULL, err) <
        0)
        return k3c_err_wrap(err, "pod %s: check", pod_uid);
    return 0;
}
