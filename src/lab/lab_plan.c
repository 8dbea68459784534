/* SPDX-License-Identifier: Apache-2.0
 * lab_plan.c - what a lab is made of: hosts, addresses and names from the
 * options, and its state file <dir>/lab.json. Every name a lab makes starts
 * with a prefix derived from its dir, so two labs never share one. */
#define LOG_COMPONENT "lab"
#include "lab/lab.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LAB_FIRST_HOST_OCTET 221 /* polynode-1 at .221, as in the target system */

char *
lab_dir_resolve(const char *dir)
{
    char cwd[PATH_MAX];

    if (!dir || !*dir)
        dir = LAB_DEFAULT_DIR;
    if (dir[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        return k3c_xstrdup(dir);
    return k3c_xasprintf("%s/%s", cwd, dir);
}

void
lab_prefix_of(const char *dir, char out[16])
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (const char *p = dir; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    snprintf(out, 16, "k3l%06x", h & 0xffffffu);
}

char *
lab_host_path(const struct lab *l, const struct lab_host *h, const char *leaf)
{
    return k3c_xasprintf("%s/hosts/%s/%s", l->dir, h->name, leaf);
}

char *
lab_netns_path(const char *name)
{
    return k3c_xasprintf("/run/netns/%s", name);
}

char *
lab_kubeconfig_path(const struct lab *l)
{
    return k3c_xasprintf("%s/kubeconfig.yaml", l->dir);
}

const struct lab_host *
lab_host_find(const struct lab *l, const char *name)
{
    for (size_t i = 0; i < l->n_hosts; i++)
        if (strcmp(l->hosts[i].name, name) == 0)
            return &l->hosts[i];
    return NULL;
}

static bool
host_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 40)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return s[0] != '-' && s[n - 1] != '-';
}

/* "192.168.20.0/24" -> network address (host order) and prefix length. */
static int
subnet_parse(const char *s, uint32_t *net, int *plen, struct k3c_err *err)
{
    char addr[24];
    const char *slash = strchr(s, '/');
    struct in_addr in;
    char *end;
    long n;

    if (!slash || (size_t)(slash - s) >= sizeof(addr))
        return k3c_err_set(err, K3C_E_INVALID, "--subnet %s: want an IPv4 CIDR like %s", s,
                           LAB_DEFAULT_SUBNET);
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = 0;
    errno = 0;
    n = strtol(slash + 1, &end, 10);
    if (inet_pton(AF_INET, addr, &in) != 1 || *end || errno || n < 8 || n > 24)
        return k3c_err_set(err, K3C_E_INVALID,
                           "--subnet %s: want an IPv4 CIDR of /8 to /24 like %s", s,
                           LAB_DEFAULT_SUBNET);
    *plen = (int)n;
    *net = ntohl(in.s_addr) & (uint32_t)(0xffffffffu << (32 - n));
    return 0;
}

static void
ip_format(uint32_t a, char out[16])
{
    struct in_addr in = {.s_addr = htonl(a)};

    inet_ntop(AF_INET, &in, out, 16);
}

/* ".225" (an offset in the subnet), "192.168.20.225" or "none". */
static int
vip_parse(const char *s, uint32_t net, int plen, char out[16], struct k3c_err *err)
{
    struct in_addr in;
    uint32_t mask = (uint32_t)(0xffffffffu << (32 - plen));

    out[0] = 0;
    if (strcmp(s, "none") == 0 || !*s)
        return 0;
    if (s[0] == '.') {
        char *end;
        long n = strtol(s + 1, &end, 10);

        if (*end || n < 2 || n > 254)
            return k3c_err_set(err, K3C_E_INVALID, "--vip %s: want .N (2..254), an IP or none", s);
        ip_format(net + (uint32_t)n, out);
        return 0;
    }
    if (inet_pton(AF_INET, s, &in) != 1 || (ntohl(in.s_addr) & mask) != net)
        return k3c_err_set(err, K3C_E_INVALID, "--vip %s: want .N, an IP inside the subnet or none",
                           s);
    snprintf(out, 16, "%s", s);
    return 0;
}

static int
add_host(struct lab *l, const char *name, enum lab_role role, uint32_t addr, struct k3c_err *err)
{
    struct lab_host *h;

    if (l->n_hosts >= LAB_MAX_HOSTS)
        return k3c_err_set(err, K3C_E_INVALID, "at most %d hosts", LAB_MAX_HOSTS);
    if (!host_name_valid(name))
        return k3c_err_set(err, K3C_E_INVALID,
                           "host name '%s': want 1..40 of [a-z0-9-], not starting or ending in -",
                           name);
    if (lab_host_find(l, name))
        return k3c_err_set(err, K3C_E_INVALID, "host name '%s' given twice", name);
    h = &l->hosts[l->n_hosts];
    snprintf(h->name, sizeof(h->name), "%s", name);
    h->role = role;
    ip_format(addr, h->ip);
    snprintf(h->netns, sizeof(h->netns), "%s-%s", l->prefix, name);
    snprintf(h->lan_if, sizeof(h->lan_if), "%.9sh%u", l->prefix, (unsigned)(l->n_hosts % 100));
    if (role == LAB_ROLE_AGENT)
        snprintf(h->label, sizeof(h->label), "%s=true", name);
    l->n_hosts++;
    return 0;
}

int
lab_plan(struct lab *l, const struct lab_options *o, struct k3c_err *err)
{
    _cleanup_free_ char *dir = lab_dir_resolve(o->dir);
    _cleanup_free_ char *agents = k3c_xstrdup(o->agents ? o->agents : LAB_DEFAULT_AGENTS);
    uint32_t net = 0, addr;
    unsigned char rnd[16];
    char *save = NULL;

    memset(l, 0, sizeof(*l));
    if (strlen(dir) >= sizeof(l->dir) - 64)
        return k3c_err_set(err, K3C_E_INVALID, "--dir %s: path too long", dir);
    snprintf(l->dir, sizeof(l->dir), "%s", dir);
    lab_prefix_of(l->dir, l->prefix);
    snprintf(l->subnet, sizeof(l->subnet), "%s", o->subnet ? o->subnet : LAB_DEFAULT_SUBNET);
    if (subnet_parse(l->subnet, &net, &l->prefix_len, err) < 0)
        return -1;
    ip_format(net, l->subnet);
    snprintf(l->subnet + strlen(l->subnet), sizeof(l->subnet) - strlen(l->subnet), "/%d",
             l->prefix_len);
    ip_format(net + 1, l->router_ip);
    if (vip_parse(o->vip ? o->vip : LAB_DEFAULT_VIP, net, l->prefix_len, l->vip, err) < 0)
        return -1;
    if (o->servers < 1 || o->servers > 7)
        return k3c_err_set(err, K3C_E_INVALID, "--servers %d: want 1..7", o->servers);
    for (size_t i = 0; i < o->n_server_args; i++) {
        if (strncmp(o->server_args[i], "--", 2) != 0 ||
            strlen(o->server_args[i]) >= sizeof(l->server_args[0]))
            return k3c_err_set(err, K3C_E_INVALID,
                               "--server-arg %s: want one flag, e.g. --server-arg=--event-ttl=10m",
                               o->server_args[i]);
        snprintf(l->server_args[l->n_server_args++], sizeof(l->server_args[0]), "%s",
                 o->server_args[i]);
    }

    addr = net + LAB_FIRST_HOST_OCTET;
    for (int i = 0; i < o->servers; i++) {
        char name[32];

        snprintf(name, sizeof(name), "polynode-%d", i + 1);
        if (add_host(l, name, LAB_ROLE_SERVER, addr++, err) < 0)
            return -1;
    }
    for (char *a = strtok_r(agents, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        /* Skip the VIP's address: it belongs to whichever server holds it. */
        char ip[16];

        ip_format(addr, ip);
        if (strcmp(ip, l->vip) == 0)
            addr++;
        if (add_host(l, a, LAB_ROLE_AGENT, addr++, err) < 0)
            return -1;
    }
    if ((addr - 1 - net) >= 255u)
        return k3c_err_set(err, K3C_E_INVALID, "too many hosts for .%d up", LAB_FIRST_HOST_OCTET);
    k3c_random_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(l->secret + 2 * i, 3, "%02x", rnd[i]);
    return 0;
}

/* ---- lab.json ---- */

static const char *const role_names[] = {[LAB_ROLE_SERVER] = "server", [LAB_ROLE_AGENT] = "agent"};

int
lab_save(const struct lab *l, struct k3c_err *err)
{
    _cleanup_json_ json_t *j = NULL;
    _cleanup_free_ char *text = NULL, *path = k3c_xasprintf("%s/lab.json", l->dir);
    json_t *hosts = json_array();

    for (size_t i = 0; i < l->n_hosts; i++) {
        const struct lab_host *h = &l->hosts[i];

        json_array_append_new(hosts, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", h->name,
                                               "role", role_names[h->role], "ip", h->ip, "netns",
                                               h->netns, "lan_if", h->lan_if, "label", h->label));
    }
    json_t *sargs = json_array();

    for (size_t i = 0; i < l->n_server_args; i++)
        json_array_append_new(sargs, json_string(l->server_args[i]));
    j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:b, s:s, s:i, s:o, s:o}", "dir", l->dir,
                  "prefix", l->prefix, "subnet", l->subnet, "prefix_len", l->prefix_len,
                  "router_ip", l->router_ip, "vip", l->vip, "vip_flag", l->vip_flag, "secret",
                  l->secret, "port", l->port, "hosts", hosts, "server_args", sargs);
    text = json_dumps(j, JSON_INDENT(2));
    return k3c_write_file(path, text, strlen(text), 0600, err);
}

static int
copy_str(char *dst, size_t size, const json_t *obj, const char *key, struct k3c_err *err)
{
    const char *s = json_string_value(json_object_get(obj, key));

    if (!s || strlen(s) >= size)
        return k3c_err_set(err, K3C_E_INVALID, "lab.json: bad or missing \"%s\"", key);
    snprintf(dst, size, "%s", s);
    return 0;
}

int
lab_load(struct lab *l, const char *dir, struct k3c_err *err)
{
    _cleanup_free_ char *rdir = lab_dir_resolve(dir);
    _cleanup_free_ char *path = k3c_xasprintf("%s/lab.json", rdir);
    _cleanup_json_ json_t *j = NULL;
    json_error_t jerr;
    json_t *hosts;

    memset(l, 0, sizeof(*l));
    if (!k3c_file_exists(path))
        return k3c_err_set(err, K3C_E_NOT_FOUND, "no lab in %s (k3c lab up --dir %s)", rdir, rdir);
    j = json_load_file(path, 0, &jerr);
    if (!j)
        return k3c_err_set(err, K3C_E_INVALID, "%s: %s", path, jerr.text);
    if (copy_str(l->dir, sizeof(l->dir), j, "dir", err) < 0 ||
        copy_str(l->prefix, sizeof(l->prefix), j, "prefix", err) < 0 ||
        copy_str(l->subnet, sizeof(l->subnet), j, "subnet", err) < 0 ||
        copy_str(l->router_ip, sizeof(l->router_ip), j, "router_ip", err) < 0 ||
        copy_str(l->vip, sizeof(l->vip), j, "vip", err) < 0 ||
        copy_str(l->secret, sizeof(l->secret), j, "secret", err) < 0)
        return k3c_err_wrap(err, "%s", path);
    l->prefix_len = (int)json_integer_value(json_object_get(j, "prefix_len"));
    l->vip_flag = json_is_true(json_object_get(j, "vip_flag"));
    l->port = (int)json_integer_value(json_object_get(j, "port"));
    for (size_t i = 0; i < json_array_size(json_object_get(j, "server_args")) &&
                       l->n_server_args < LAB_MAX_SERVER_ARGS;
         i++) {
        const char *s = json_string_value(json_array_get(json_object_get(j, "server_args"), i));

        if (s && strlen(s) < sizeof(l->server_args[0]))
            snprintf(l->server_args[l->n_server_args++], sizeof(l->server_args[0]), "%s", s);
    }
    hosts = json_object_get(j, "hosts");
    for (size_t i = 0; i < json_array_size(hosts) && i < LAB_MAX_HOSTS; i++) {
        json_t *jh = json_array_get(hosts, i);
        struct lab_host *h = &l->hosts[i];
        const char *role = json_string_value(json_object_get(jh, "role"));

        if (copy_str(h->name, sizeof(h->name), jh, "name", err) < 0 ||
            copy_str(h->ip, sizeof(h->ip), jh, "ip", err) < 0 ||
            copy_str(h->netns, sizeof(h->netns), jh, "netns", err) < 0 ||
            copy_str(h->lan_if, sizeof(h->lan_if), jh, "lan_if", err) < 0 ||
            copy_str(h->label, sizeof(h->label), jh, "label", err) < 0)
            return k3c_err_wrap(err, "%s", path);
        h->role = role && strcmp(role, "server") == 0 ? LAB_ROLE_SERVER : LAB_ROLE_AGENT;
        l->n_hosts++;
    }
    return 0;
}
