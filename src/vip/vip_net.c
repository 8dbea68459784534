/* SPDX-License-Identifier: Apache-2.0
 * vip_net.c - the VIP on the wire: the address on the interface over
 * netlink (libnl-route) and gratuitous ARP on an AF_PACKET socket. Owned by
 * the VIP's address thread; nothing here decides whether to hold. */
#define LOG_COMPONENT "vip"
#include "base/log.h"
#include "base/util.h"
#include "vip/vip-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct vip_net {
    struct nl_sock *sock;
    int arp_fd;
    int ifindex;
    char ifname[64];
    unsigned char mac[ETH_ALEN];
    char mac_str[18];
    struct in_addr addr;
    int prefix;
    pid_t guard_pid; /* the crash guard (0: none) and the write end of its pipe */
    int guard_fd;
};

/* The index of the interface that has node_ip; 0 if none. */
static int
ifindex_of_ip(struct nl_sock *sock, const struct in_addr *ip, struct k3c_err *err)
{
    struct nl_cache *cache = NULL;
    int found = 0;
    int rc = rtnl_addr_alloc_cache(sock, &cache);

    if (rc < 0)
        return k3c_err_set(err, K3C_E_SYSTEM, "netlink: list addresses: %s", nl_geterror(rc));
    for (struct nl_object *o = nl_cache_get_first(cache); o && !found; o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;
        struct nl_addr *local = rtnl_addr_get_local(a);

        if (rtnl_addr_get_family(a) == AF_INET && local && nl_addr_get_len(local) == 4 &&
            memcmp(nl_addr_get_binary_addr(local), ip, 4) == 0)
            found = rtnl_addr_get_ifindex(a);
    }
    nl_cache_free(cache);
    return found;
}

static int
resolve_link(struct vip_net *n, const char *iface, const char *node_ip, struct k3c_err *err)
{
    struct rtnl_link *link = NULL;
    struct nl_addr *ll;
    struct in_addr ip;
    int rc;

    if (!iface) {
        if (!node_ip || inet_pton(AF_INET, node_ip, &ip) != 1)
            return k3c_err_set(err, K3C_E_INVALID,
                               "--vip: --node-ip %s is not IPv4; give --vip-interface",
                               node_ip ? node_ip : "(none)");
        n->ifindex = ifindex_of_ip(n->sock, &ip, err);
        if (n->ifindex < 0)
            return -1;
        if (n->ifindex == 0)
            return k3c_err_set(err, K3C_E_NOT_FOUND,
                               "--vip: no interface holds --node-ip %s; give --vip-interface",
                               node_ip);
    }
    rc = rtnl_link_get_kernel(n->sock, iface ? 0 : n->ifindex, iface, &link);
    if (rc < 0)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "--vip-interface %s: %s",
                           iface ? iface : "(from --node-ip)", nl_geterror(rc));
    n->ifindex = rtnl_link_get_ifindex(link);
    snprintf(n->ifname, sizeof(n->ifname), "%s", rtnl_link_get_name(link));
    ll = rtnl_link_get_addr(link);
    if (rtnl_link_get_arptype(link) != ARPHRD_ETHER || !ll || nl_addr_get_len(ll) != ETH_ALEN) {
        rtnl_link_put(link);
        return k3c_err_set(err, K3C_E_INVALID,
                           "--vip: interface %s is not Ethernet (ARP cannot announce the VIP)",
                           n->ifname);
    }
    memcpy(n->mac, nl_addr_get_binary_addr(ll), ETH_ALEN);
    snprintf(n->mac_str, sizeof(n->mac_str), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
             n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
    rtnl_link_put(link);
    return 0;
}

struct vip_net *
vip_net_new(const char *iface, const char *node_ip, const char *addr, int prefix,
            struct k3c_err *err)
{
    struct vip_net *n = k3c_xcalloc(1, sizeof(*n));
    int rc;

    n->arp_fd = -1;
    n->guard_fd = -1;
    n->prefix = prefix;
    if (inet_pton(AF_INET, addr, &n->addr) != 1) {
        k3c_err_set(err, K3C_E_INVALID, "--vip %s is not IPv4", addr);
        goto fail;
    }
    n->sock = nl_socket_alloc();
    if (!n->sock) {
        k3c_err_set(err, K3C_E_SYSTEM, "netlink: out of memory");
        goto fail;
    }
    rc = nl_connect(n->sock, NETLINK_ROUTE);
    if (rc < 0) {
        k3c_err_set(err, K3C_E_SYSTEM, "netlink: connect: %s", nl_geterror(rc));
        goto fail;
    }
    if (resolve_link(n, iface, node_ip, err) < 0)
        goto fail;
    n->arp_fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
    if (n->arp_fd < 0) {
        k3c_err_sys(err, errno, "--vip: ARP socket (needs CAP_NET_RAW)");
        goto fail;
    }
    return n;
fail:
    vip_net_free(n);
    return NULL;
}

void
vip_net_free(struct vip_net *n)
{
    if (!n)
        return;
    vip_net_guard_stop(n);
    if (n->arp_fd >= 0)
        close(n->arp_fd);
    nl_socket_free(n->sock);
    free(n);
}

const char *
vip_net_ifname(const struct vip_net *n)
{
    return n->ifname;
}

const char *
vip_net_mac(const struct vip_net *n)
{
    return n->mac_str;
}

/* An rtnl_addr for addr/prefix on the interface (caller rtnl_addr_put()s). */
static struct rtnl_addr *
vip_rtnl_addr(const struct vip_net *n, const struct in_addr *addr, int prefix)
{
    struct rtnl_addr *a = rtnl_addr_alloc();
    struct nl_addr *local = nl_addr_build(AF_INET, addr, sizeof(*addr));

    if (!a || !local) {
        rtnl_addr_put(a);
        nl_addr_put(local);
        return NULL;
    }
    nl_addr_set_prefixlen(local, prefix);
    rtnl_addr_set_ifindex(a, n->ifindex);
    rtnl_addr_set_local(a, local);
    rtnl_addr_set_prefixlen(a, prefix);
    nl_addr_put(local);
    return a;
}

static int
addr_add(struct vip_net *n, const struct in_addr *addr, int prefix, struct k3c_err *err)
{
    struct rtnl_addr *a = vip_rtnl_addr(n, addr, prefix);
    char ip[INET_ADDRSTRLEN];
    int rc;

    if (!a)
        return k3c_err_set(err, K3C_E_SYSTEM, "netlink: out of memory");
    /* A kernel lifetime, renewed by each call (NLM_F_REPLACE also adds a
     * missing address): a k3c that is frozen, not dead, cannot fence, and
     * the kernel removes the address for it. */
    rtnl_addr_set_valid_lifetime(a, VIP_ADDR_LIFETIME_S);
    rtnl_addr_set_preferred_lifetime(a, VIP_ADDR_LIFETIME_S);
    rc = rtnl_addr_add(n->sock, a, NLM_F_REPLACE);
    rtnl_addr_put(a);
    if (rc < 0 && rc != -NLE_EXIST)
        return k3c_err_set(err, K3C_E_SYSTEM, "add %s to %s: %s",
                           inet_ntop(AF_INET, addr, ip, sizeof(ip)), n->ifname, nl_geterror(rc));
    return 0;
}

static int
addr_del(struct vip_net *n, const struct in_addr *addr, int prefix, struct k3c_err *err)
{
    struct rtnl_addr *a = vip_rtnl_addr(n, addr, prefix);
    char ip[INET_ADDRSTRLEN];
    int rc;

    if (!a)
        return k3c_err_set(err, K3C_E_SYSTEM, "netlink: out of memory");
    rc = rtnl_addr_delete(n->sock, a, 0);
    rtnl_addr_put(a);
    if (rc < 0 && rc != -NLE_NOADDR && rc != -NLE_OBJ_NOTFOUND && rc != -NLE_NODEV)
        return k3c_err_set(err, K3C_E_SYSTEM, "remove %s from %s: %s",
                           inet_ntop(AF_INET, addr, ip, sizeof(ip)), n->ifname, nl_geterror(rc));
    return 0;
}

int
vip_net_add(struct vip_net *n, struct k3c_err *err)
{
    return addr_add(n, &n->addr, n->prefix, err);
}

int
vip_net_del(struct vip_net *n, struct k3c_err *err)
{
    return addr_del(n, &n->addr, n->prefix, err);
}

int
vip_net_present(struct vip_net *n, bool *present, struct k3c_err *err)
{
    int idx = ifindex_of_ip(n->sock, &n->addr, err);

    if (idx < 0)
        return -1;
    *present = idx == n->ifindex;
    return 0;
}

/* RFC 5227 §3 ARP Announcement: a request with sender and target protocol
 * address both the VIP; Linux neighbours override their entry on it. */
static int
garp(struct vip_net *n, const struct in_addr *addr, struct k3c_err *err)
{
    struct {
        struct arphdr h;
        unsigned char sha[ETH_ALEN], spa[4], tha[ETH_ALEN], tpa[4];
    } __attribute__((packed)) pkt;
    struct sockaddr_ll to = {.sll_family = AF_PACKET,
                             .sll_protocol = htons(ETH_P_ARP),
                             .sll_ifindex = n->ifindex,
                             .sll_halen = ETH_ALEN};

    memset(&pkt, 0, sizeof(pkt));
    pkt.h.ar_hrd = htons(ARPHRD_ETHER);
    pkt.h.ar_pro = htons(ETH_P_IP);
    pkt.h.ar_hln = ETH_ALEN;
    pkt.h.ar_pln = 4;
    pkt.h.ar_op = htons(ARPOP_REQUEST);
    memcpy(pkt.sha, n->mac, ETH_ALEN);
    memcpy(pkt.spa, addr, 4);
    memcpy(pkt.tpa, addr, 4);
    memset(to.sll_addr, 0xff, ETH_ALEN);
    if (sendto(n->arp_fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
        return k3c_err_sys(err, errno, "gratuitous ARP on %s", n->ifname);
    return 0;
}

int
vip_net_garp(struct vip_net *n, struct k3c_err *err)
{
    return garp(n, &n->addr, err);
}

/* ---- LoadBalancer addresses held with the VIP (/32 each) ---- */

static void guard_tell(struct vip_net *n, char op, const struct in_addr *addr);

static int
extra_addr(const char *ip, struct in_addr *out, struct k3c_err *err)
{
    if (inet_pton(AF_INET, ip, out) != 1)
        return k3c_err_set(err, K3C_E_INVALID, "load balancer address %s is not IPv4", ip);
    return 0;
}

int
vip_net_extra_add(struct vip_net *n, const char *ip, struct k3c_err *err)
{
    struct in_addr a;

    if (extra_addr(ip, &a, err) < 0 || addr_add(n, &a, 32, err) < 0)
        return -1;
    guard_tell(n, '+', &a);
    return 0;
}

int
vip_net_extra_del(struct vip_net *n, const char *ip, struct k3c_err *err)
{
    struct in_addr a;

    if (extra_addr(ip, &a, err) < 0 || addr_del(n, &a, 32, err) < 0)
        return -1;
    guard_tell(n, '-', &a);
    return 0;
}

int
vip_net_extra_garp(struct vip_net *n, const char *ip, struct k3c_err *err)
{
    struct in_addr a;

    if (extra_addr(ip, &a, err) < 0)
        return -1;
    return garp(n, &a, err);
}

/* ---- the crash guard ----
 * A child process that removes the VIP when k3c dies without stopping
 * (SIGKILL, a crash): it blocks reading a pipe whose only write end k3c
 * holds; EOF means k3c is gone (or stopping), and it sends one RTM_DELADDR
 * prepared before the fork, and one more for each LoadBalancer address k3c
 * said it holds: k3c sends a record ('+' or '-' and the address) on the
 * "pipe" (a SOCK_SEQPACKET pair) when it adds or removes one. fork() in a
 * threaded process: the child uses only async-signal-safe system calls and
 * _exit. */

#define GUARD_MAX_EXTRA 256

struct vip_delmsg {
    struct nlmsghdr nh;
    struct ifaddrmsg ifa;
    struct rtattr local_rta;
    struct in_addr local;
    struct rtattr address_rta;
    struct in_addr address;
};

struct guard_rec {
    char op; /* '+' added, '-' removed */
    struct in_addr addr;
} __attribute__((packed));

/* The records until EOF into extra (the addresses held at the end). */
static size_t
guard_follow(int fd, struct in_addr *extra)
{
    struct guard_rec rec;
    size_t n = 0;
    ssize_t r;

    for (;;) {
        r = read(fd, &rec, sizeof(rec));
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof(rec))
            return n; /* EOF (or a broken pipe): k3c is gone */
        for (size_t i = 0; i < n; i++)
            if (extra[i].s_addr == rec.addr.s_addr) {
                extra[i] = extra[--n];
                break;
            }
        if (rec.op == '+' && n < GUARD_MAX_EXTRA)
            extra[n++] = rec.addr;
    }
}

static void
guard_child(int rfd, int nlfd, struct vip_delmsg *msg)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    static struct in_addr extra[GUARD_MAX_EXTRA];
    size_t n;

    /* Keep only the pipe and the netlink socket: the API's listening
     * socket and the rest must not outlive k3c in here. */
    if (dup2(rfd, 0) < 0 || dup2(nlfd, 1) < 0)
        _exit(1);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    n = guard_follow(0, extra);
    sendto(1, msg, sizeof(*msg), 0, (struct sockaddr *)&kernel, sizeof(kernel));
    msg->ifa.ifa_prefixlen = 32;
    for (size_t i = 0; i < n; i++) {
        msg->local = msg->address = extra[i];
        sendto(1, msg, sizeof(*msg), 0, (struct sockaddr *)&kernel, sizeof(kernel));
    }
    _exit(0);
}

static void
guard_tell(struct vip_net *n, char op, const struct in_addr *addr)
{
    struct guard_rec rec = {.op = op, .addr = *addr};

    if (n->guard_fd < 0)
        return;
    while (send(n->guard_fd, &rec, sizeof(rec), MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

int
vip_net_guard_start(struct vip_net *n, struct k3c_err *err)
{
    struct vip_delmsg msg;
    int pipefd[2], nlfd;
    pid_t pid;

    memset(&msg, 0, sizeof(msg));
    msg.nh.nlmsg_len = sizeof(msg);
    msg.nh.nlmsg_type = RTM_DELADDR;
    msg.nh.nlmsg_flags = NLM_F_REQUEST;
    msg.ifa.ifa_family = AF_INET;
    msg.ifa.ifa_prefixlen = (unsigned char)n->prefix;
    msg.ifa.ifa_index = (unsigned)n->ifindex;
    msg.local_rta.rta_len = RTA_LENGTH(sizeof(struct in_addr));
    msg.local_rta.rta_type = IFA_LOCAL;
    msg.local = n->addr;
    msg.address_rta.rta_len = RTA_LENGTH(sizeof(struct in_addr));
    msg.address_rta.rta_type = IFA_ADDRESS;
    msg.address = n->addr;
    nlfd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (nlfd < 0)
        return k3c_err_sys(err, errno, "vip guard: netlink socket");
    /* A socket pair, not a pipe: records keep their bounds, and a write to
     * a guard that died raises no SIGPIPE (MSG_NOSIGNAL). */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pipefd) < 0) {
        close(nlfd);
        return k3c_err_sys(err, errno, "vip guard: socketpair");
    }
    pid = fork();
    if (pid == 0)
        guard_child(pipefd[0], nlfd, &msg);
    close(pipefd[0]);
    close(nlfd);
    if (pid < 0) {
        close(pipefd[1]);
        return k3c_err_sys(err, errno, "vip guard: fork");
    }
    n->guard_pid = pid;
    n->guard_fd = pipefd[1];
    return 0;
}

void
vip_net_guard_stop(struct vip_net *n)
{
    if (n->guard_pid <= 0)
        return;
    close(n->guard_fd);
    n->guard_fd = -1;
    while (waitpid(n->guard_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    n->guard_pid = 0;
}
