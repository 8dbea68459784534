/* SPDX-License-Identifier: Apache-2.0
 * lab_net.c - the lab's network: a LAN namespace holding a bridge and the
 * router address (.1), and one namespace per host whose eth0 is a veth
 * cabled to that bridge, with a default route via the router so that a
 * k3c picking its node IP from the default route finds eth0's address.
 * Namespaces come from net/ (net_netns_create, `ip netns` compatible); links
 * and addresses are set with iproute2's `ip -batch` run inside the lab's
 * namespaces (net_run), one run per namespace: simpler than the same through
 * libnl, and never a change to the root namespace. */
#define LOG_COMPONENT "lab"
#include "lab/lab.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "net/net.h"

#include <dirent.h>
#include <string.h>

#define LAB_IP_TIMEOUT_MS 15000

static int
ip_run(const char *netns, const char *const *args, const char *input, struct net_run_result *r,
       struct k3c_err *err)
{
    _cleanup_free_ char *ip = k3c_find_in_path("ip");
    _cleanup_free_ char *path = netns ? lab_netns_path(netns) : NULL;
    const char *argv[16];
    size_t n = 0;

    if (!ip)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "ip not found (Debian package iproute2)");
    argv[n++] = ip;
    for (size_t i = 0; args[i] && n < K3C_ARRAY_SIZE(argv) - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    struct net_run_opts o = {.argv = argv,
                             .netns = path,
                             .input = input,
                             .input_len = input ? strlen(input) : 0,
                             .timeout_ms = LAB_IP_TIMEOUT_MS};
    if (net_run(&o, r, err) < 0)
        return k3c_err_wrap(err, "ip %s%s%s", args[0], netns ? " in " : "", netns ? netns : "");
    if (r->exit_code != 0) {
        k3c_err_set(err, K3C_E_INTERNAL, "ip %s%s%s: exit %d: %.160s", args[0], netns ? " in " : "",
                    netns ? netns : "", r->exit_code, r->errout && *r->errout ? r->errout : "");
        net_run_result_fini(r);
        return -1;
    }
    return 0;
}

int
lab_ip(const char *netns, const char *const *args, struct k3c_err *err)
{
    struct net_run_result r;

    if (ip_run(netns, args, NULL, &r, err) < 0)
        return -1;
    net_run_result_fini(&r);
    return 0;
}

/* ip -batch - in netns with the commands in b. */
static int
ip_batch(const char *netns, const struct k3c_buf *b, struct k3c_err *err)
{
    static const char *const args[] = {"-batch", "-", NULL};
    struct net_run_result r;

    if (ip_run(netns, args, b->data, &r, err) < 0)
        return -1;
    net_run_result_fini(&r);
    return 0;
}

static void
lan_netns_name(const char *prefix, char out[64])
{
    snprintf(out, 64, "%s-lan", prefix);
}

static int
netns_make(const char *name, struct k3c_err *err)
{
    if (net_netns_create(NET_NETNS_DIR, name, err) < 0)
        return -1;
    return 0;
}

int
lab_net_up(const struct lab *l, struct k3c_err *err)
{
    char lan[64];
    struct k3c_buf b;
    int rc = -1;

    k3c_buf_init(&b);
    lan_netns_name(l->prefix, lan);
    if (netns_make(lan, err) < 0)
        goto out;
    for (size_t i = 0; i < l->n_hosts; i++)
        if (netns_make(l->hosts[i].netns, err) < 0)
            goto out;

    k3c_buf_appendf(&b, "link set lo up\nlink add %sbr type bridge\n", l->prefix);
    k3c_buf_appendf(&b, "addr add %s/%d dev %sbr\nlink set %sbr up\n", l->router_ip, l->prefix_len,
                    l->prefix, l->prefix);
    for (size_t i = 0; i < l->n_hosts; i++) {
        const struct lab_host *h = &l->hosts[i];

        k3c_buf_appendf(&b, "link add %s type veth peer name eth0 netns %s\n", h->lan_if, h->netns);
        k3c_buf_appendf(&b, "link set %s master %sbr up\n", h->lan_if, l->prefix);
    }
    if (ip_batch(lan, &b, err) < 0)
        goto out;
    for (size_t i = 0; i < l->n_hosts; i++) {
        const struct lab_host *h = &l->hosts[i];

        b.len = 0;
        k3c_buf_appendf(&b, "link set lo up\naddr add %s/%d dev eth0\nlink set eth0 up\n", h->ip,
                        l->prefix_len);
        k3c_buf_appendf(&b, "route add default via %s dev eth0\n", l->router_ip);
        if (ip_batch(h->netns, &b, err) < 0)
            goto out;
    }
    rc = 0;
out:
    k3c_buf_fini(&b);
    return rc;
}

int
lab_net_down(const char *prefix, struct k3c_err *err)
{
    _cleanup_free_ char *want = k3c_xasprintf("%s-", prefix);
    DIR *d = opendir(NET_NETNS_DIR);
    struct dirent *e;
    int n = 0, rc = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, want, strlen(want)) != 0)
            continue;
        if (net_netns_delete(NET_NETNS_DIR, e->d_name, err) < 0)
            rc = -1;
        else
            n++;
    }
    closedir(d);
    return rc < 0 ? -1 : n;
}

int
lab_net_cable(const struct lab *l, const struct lab_host *h, bool up, struct k3c_err *err)
{
    char lan[64];
    const char *args[] = {"link", "set", h->lan_if, up ? "up" : "down", NULL};

    /* The LAN side of the cable: the host keeps its address and routes
     * (eth0 just loses carrier), as with a pulled cable. */
    lan_netns_name(l->prefix, lan);
    return lab_ip(lan, args, err);
}

int
lab_net_cable_state(const struct lab *l, const struct lab_host *h, struct k3c_err *err)
{
    char lan[64];
    const char *args[] = {"-o", "link", "show", h->lan_if, NULL};
    struct net_run_result r;
    const char *open, *close;
    int up = 0;

    lan_netns_name(l->prefix, lan);
    if (ip_run(lan, args, NULL, &r, err) < 0)
        return -1;
    /* "5: k3l..h0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu ..." */
    open = strchr(r.out, '<');
    close = open ? strchr(open, '>') : NULL;
    if (open && close) {
        _cleanup_free_ char *flags = k3c_xstrndup(open, (size_t)(close - open + 1));

        up = strstr(flags, ",UP,") || strstr(flags, "<UP,") || strstr(flags, ",UP>");
    }
    net_run_result_fini(&r);
    return up;
}
