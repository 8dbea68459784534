/* SPDX-License-Identifier: Apache-2.0
 * doctor.c - `k3c doctor`: what an HA install needs, checked from where it
 * runs (best run on a node: `k3c lab exec polynode-1 -- k3c doctor`): the API
 * answers, nodes are Ready, the ports between nodes answer (6443, 2379, 2380
 * on servers when there are several, 10250 on every node), etcd has one
 * leader and a quorum with a margin, certificates are not near expiry,
 * node clocks agree, the VIP has exactly one holder, the servers' node
 * IPs are the API endpoints, and, on a node with flannel.1, the VXLAN path
 * (8472/udp both ways) to every other node: an ICMP echo to the remote
 * flannel.1 address travels encapsulated and so does the answer. One line per check: ok, WARN or
 * FAIL; only FAILs count as problems. */
#define LOG_COMPONENT "lab"
#include "lab/lab.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DOCTOR_CONNECT_MS   1500
#define DOCTOR_CERT_WARN_D  30
#define DOCTOR_SKEW_FAIL_MS 2000

struct doctor {
    FILE *out;
    int problems, warnings;
};

static void report(struct doctor *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* level 0 ok, 1 warn, 2 fail */
static void
report(struct doctor *d, int level, const char *fmt, ...)
{
    static const char *const tags[] = {"ok  ", "WARN", "FAIL"};
    va_list ap;

    fprintf(d->out, "%s  ", tags[level]);
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
    if (level == 1)
        d->warnings++;
    if (level == 2)
        d->problems++;
}

/* 0 connected, else the errno (ETIMEDOUT when nothing answered). */
static int
tcp_probe(const char *ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct pollfd p;
    int fd, soerr = 0, rc;
    socklen_t len = sizeof(soerr);

    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return EINVAL;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(fd);
        return 0;
    }
    if (errno != EINPROGRESS) {
        rc = errno;
        close(fd);
        return rc;
    }
    p = (struct pollfd){.fd = fd, .events = POLLOUT};
    rc = poll(&p, 1, DOCTOR_CONNECT_MS);
    if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0)
        rc = soerr;
    else
        rc = ETIMEDOUT;
    close(fd);
    return rc;
}

static const char *
node_name(const json_t *n)
{
    return json_string_value(json_object_get(json_object_get(n, "metadata"), "name")) ?: "?";
}

static void
check_nodes_ready(struct doctor *d, const json_t *topo)
{
    const char *groups[] = {"servers", "agents"};
    int total = 0, ready = 0;

    for (size_t g = 0; g < 2; g++) {
        size_t i;
        json_t *n;

        json_array_foreach(json_object_get(topo, groups[g]), i, n)
        {
            const char *r = json_string_value(json_object_get(n, "ready"));

            total++;
            if (strcmp(r, "Ready") == 0)
                ready++;
            else
                report(d, 2, "node %s is %s", json_string_value(json_object_get(n, "name")), r);
        }
    }
    if (ready == total)
        report(d, 0, "%d of %d nodes Ready", ready, total);
}

static void
check_ports(struct doctor *d, const json_t *topo)
{
    static const int server_ports[] = {6443, 2379, 2380};
    const json_t *servers = json_object_get(topo, "servers");
    bool multi = json_array_size(servers) > 1;
    int tried = 0, failed = 0;
    const char *groups[] = {"servers", "agents"};
    struct k3c_buf fails;

    k3c_buf_init(&fails);
    for (size_t g = 0; g < 2; g++) {
        size_t i;
        json_t *n;

        json_array_foreach(json_object_get(topo, groups[g]), i, n)
        {
            const char *ip = json_string_value(json_object_get(n, "ip"));
            const char *name = json_string_value(json_object_get(n, "name"));
            int ports[4], np = 0;

            if (g == 0) {
                /* etcd listens for peers only in a cluster of several servers. */
                for (size_t k = 0; k < K3C_ARRAY_SIZE(server_ports); k++)
                    if (multi || server_ports[k] == 6443)
                        ports[np++] = server_ports[k];
            }
            ports[np++] = 10250;
            for (int k = 0; k < np; k++) {
                int e = tcp_probe(ip, ports[k]);

                tried++;
                if (e) {
                    failed++;
                    k3c_buf_appendf(&fails, "%s%s %s:%d/tcp (%s)", fails.len ? "; " : "", name, ip,
                                    ports[k], strerror(e));
                }
            }
        }
    }
    if (tried && failed == tried)
        report(d, 2,
               "no node port answers from here (%s): run k3c doctor on a node (k3c lab exec "
               "HOST -- k3c doctor --kubeconfig ...)",
               fails.data);
    else if (failed)
        report(d, 2, "ports not reachable: %s", fails.data);
    else
        report(d, 0, "%d node ports reachable (6443%s and 10250/tcp)", tried,
               multi ? ", 2379, 2380" : "");
    k3c_buf_fini(&fails);
}

static uint16_t
icmp_checksum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

/* One ICMP echo to ip over a raw socket (root); 0 when the echo reply from
 * ip arrives within timeout_ms, else an errno (ETIMEDOUT, EPERM...). */
static int
icmp_echo(const char *ip, int timeout_ms)
{
    struct sockaddr_in to = {.sin_family = AF_INET};
    uint8_t pkt[16] = {8 /* echo request */, 0}, buf[256];
    uint16_t id = (uint16_t)(getpid() ^ k3c_now_ms()), sum;
    int64_t deadline = k3c_now_ms() + timeout_ms;
    int fd, e = ETIMEDOUT;

    if (inet_pton(AF_INET, ip, &to.sin_addr) != 1)
        return EINVAL;
    fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0)
        return errno;
    memcpy(pkt + 4, &id, 2);
    memcpy(pkt + 8, "k3cdoctr", 8);
    sum = icmp_checksum(pkt, sizeof(pkt));
    memcpy(pkt + 2, &sum, 2);
    if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
        e = errno;
        close(fd);
        return e;
    }
    while (k3c_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        struct sockaddr_in from;
        socklen_t flen = sizeof(from);
        ssize_t n;
        size_t ihl;

        if (poll(&p, 1, (int)(deadline - k3c_now_ms())) <= 0)
            break;
        n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
        if (n < 20)
            continue;
        ihl = (size_t)(buf[0] & 0x0f) * 4;
        /* Raw ICMP sockets see every ICMP packet: ours is an echo reply
         * (type 0) from ip with our id. */
        if ((size_t)n >= ihl + 8 && from.sin_addr.s_addr == to.sin_addr.s_addr && buf[ihl] == 0 &&
            memcmp(buf + ihl + 4, &id, 2) == 0) {
            e = 0;
            break;
        }
    }
    close(fd);
    return e;
}

/* "10.42.1.0/24" -> "10.42.1.0": flannel.1's address on that node. */
static bool
cidr_network(const char *cidr, char *out, size_t len)
{
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    struct in_addr a;
    char ip[INET_ADDRSTRLEN];

    if (!slash || (size_t)(slash - cidr) >= sizeof(ip))
        return false;
    memcpy(ip, cidr, (size_t)(slash - cidr));
    ip[slash - cidr] = '\0';
    return inet_pton(AF_INET, ip, &a) == 1 && snprintf(out, len, "%s", ip) > 0;
}

/* True when this host has addr on flannel.1: that node is this one. */
static bool
is_local_vtep(const char *addr)
{
    struct ifaddrs *ifs = NULL;
    bool mine = false;
    struct in_addr a;

    if (inet_pton(AF_INET, addr, &a) != 1 || getifaddrs(&ifs) < 0)
        return false;
    for (struct ifaddrs *i = ifs; i && !mine; i = i->ifa_next)
        mine = i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
               strcmp(i->ifa_name, "flannel.1") == 0 &&
               ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == a.s_addr;
    freeifaddrs(ifs);
    return mine;
}

/* The VXLAN path to every other node: an echo to its flannel.1 address
 * goes out encapsulated in 8472/udp and its answer comes back the same
 * way, so a firewall dropping 8472/udp either way shows here. */
static void
check_vxlan(struct doctor *d, const json_t *topo)
{
    const char *groups[] = {"servers", "agents"};
    int tried = 0, failed = 0;
    struct k3c_buf fails;

    if (if_nametoindex("flannel.1") == 0) {
        report(d, 0, "8472/udp (VXLAN): not checked here (no flannel.1: run k3c doctor on a node)");
        return;
    }
    k3c_buf_init(&fails);
    for (size_t g = 0; g < 2; g++) {
        size_t i;
        json_t *n;

        json_array_foreach(json_object_get(topo, groups[g]), i, n)
        {
            const char *name = json_string_value(json_object_get(n, "name"));
            char vtep[INET_ADDRSTRLEN];
            int e;

            if (!cidr_network(json_string_value(json_object_get(n, "podCIDR")), vtep,
                              sizeof(vtep)) ||
                is_local_vtep(vtep))
                continue;
            tried++;
            e = icmp_echo(vtep, DOCTOR_CONNECT_MS);
            if (e) {
                failed++;
                k3c_buf_appendf(&fails, "%s%s (flannel.1 %s: %s)", fails.len ? "; " : "", name,
                                vtep, e == ETIMEDOUT ? "no answer" : strerror(e));
            }
        }
    }
    if (failed)
        report(d, 2, "8472/udp (VXLAN) path broken to: %s", fails.data);
    else if (tried)
        report(d, 0, "8472/udp (VXLAN): %d other node%s answer through flannel.1", tried,
               tried == 1 ? "" : "s");
    k3c_buf_fini(&fails);
}

static void
check_etcd(struct doctor *d, const json_t *topo)
{
    const json_t *etcd = json_object_get(topo, "etcd");
    int voters = (int)json_integer_value(json_object_get(etcd, "voters"));
    int up = (int)json_integer_value(json_object_get(etcd, "voters_up"));
    const char *leader = json_string_value(json_object_get(etcd, "leader"));
    bool annotated = json_is_true(json_object_get(etcd, "from_annotations"));
    int leaders = 0;
    size_t i;
    json_t *n;

    json_array_foreach(json_object_get(topo, "servers"), i, n)
    {
        const char *m = json_string_value(json_object_get(n, "etcd"));

        leaders += m && strcmp(m, "leader") == 0;
    }
    if (!json_is_true(json_object_get(etcd, "has_quorum")))
        report(d, 2, "etcd quorum lost: %d of %d voters up, %d needed", up, voters, voters / 2 + 1);
    else
        report(d, 0, "etcd quorum: %d of %d voters up (needs %d)", up, voters, voters / 2 + 1);
    if (!annotated)
        report(d, 1, "etcd member roles unknown: no etcd.k3c.io/member annotations");
    else if (leaders == 1)
        report(d, 0, "etcd leader: %s", leader);
    else
        report(d, 2, "etcd has %d leaders by the nodes' annotations (want 1)", leaders);
    if (voters == 1)
        report(d, 1, "1 etcd voter: no fault tolerance (an HA cluster has 3 servers)");
    else if (voters == 2)
        report(d, 1, "2 etcd voters: losing either loses quorum (add a third server)");
    else if (voters % 2 == 0)
        report(d, 1, "%d etcd voters: an even count tolerates no more failures than %d", voters,
               voters - 1);
    else if (voters > 0 && up == voters)
        report(d, 0, "quorum margin: %d server%s may fail", (voters - 1) / 2,
               (voters - 1) / 2 == 1 ? "" : "s");
    else if (voters > 0)
        report(d, 1, "quorum margin: %d of %d voters down, %d more may fail", voters - up, voters,
               up - (voters / 2 + 1));
}

static void
check_certs(struct doctor *d, struct lab_kube *k)
{
    int client, ca;
    struct {
        const char *what;
        int days;
    } certs[2];

    lab_kube_cert_days(k, &client, &ca);
    certs[0].what = "client certificate";
    certs[0].days = client;
    certs[1].what = "cluster CA";
    certs[1].days = ca;
    for (size_t i = 0; i < 2; i++) {
        if (certs[i].days == INT_MIN)
            continue;
        if (certs[i].days < 0)
            report(d, 2, "the kubeconfig's %s has expired", certs[i].what);
        else if (certs[i].days < DOCTOR_CERT_WARN_D)
            report(d, 1, "the kubeconfig's %s expires in %d days", certs[i].what, certs[i].days);
        else
            report(d, 0, "the kubeconfig's %s is valid for %d more days", certs[i].what,
                   certs[i].days);
    }
}

/* "2026-12-06T03:30:00.123456Z" -> ms since the epoch, or -1. */
static int64_t
micro_time_ms(const char *s)
{
    char buf[32];
    const char *dot;
    int64_t t;

    if (!s || strlen(s) < 20)
        return -1;
    dot = strchr(s, '.');
    if (!dot)
        return (t = k3c_time_parse_rfc3339(s)) < 0 ? -1 : t * 1000;
    snprintf(buf, sizeof(buf), "%.*sZ", (int)(dot - s), s);
    t = k3c_time_parse_rfc3339(buf);
    return t < 0 ? -1 : t * 1000 + (int64_t)(strtod(dot, NULL) * 1000);
}

/* A node's Lease renewTime is its own clock: one in our future means its
 * clock is ahead of ours. */
static void
check_clocks(struct doctor *d, struct lab_kube *k)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *leases =
        lab_kube_get(k, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", &err);
    int64_t now = k3c_wall_ms(), worst = 0;
    const char *worst_node = NULL;
    size_t i;
    json_t *l;

    if (!leases) {
        report(d, 1, "clock skew not checked: %s", err.msg);
        return;
    }
    json_array_foreach(json_object_get(leases, "items"), i, l)
    {
        int64_t t = micro_time_ms(
            json_string_value(json_object_get(json_object_get(l, "spec"), "renewTime")));

        if (t > 0 && t - now > worst) {
            worst = t - now;
            worst_node = node_name(l);
        }
    }
    if (worst > DOCTOR_SKEW_FAIL_MS)
        report(d, 2, "clock skew: node %s is %.1f s ahead of this host", worst_node,
               (double)worst / 1000);
    else
        report(d, 0, "clocks agree: no node Lease renewed in this host's future (> %d ms)",
               DOCTOR_SKEW_FAIL_MS);
}

static void
check_vip(struct doctor *d, struct lab_kube *k, const json_t *topo)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *list = lab_kube_get(k, "/api/v1/nodes", &err);
    int holders = 0;
    struct k3c_buf who;
    size_t i;
    json_t *n;

    if (!list)
        return;
    k3c_buf_init(&who);
    json_array_foreach(json_object_get(list, "items"), i, n)
    {
        const char *v = json_string_value(json_object_get(
            json_object_get(json_object_get(n, "metadata"), "annotations"), "vip.k3c.io/holder"));

        if (v) {
            holders++;
            k3c_buf_appendf(&who, "%s%s (%s)", who.len ? ", " : "", node_name(n), v);
        }
    }
    if (holders == 1)
        report(d, 0, "VIP held by exactly one server: %s", who.data);
    else if (holders > 1)
        report(d, 2, "VIP held by %d servers: %s", holders, who.data);
    else if (json_array_size(json_object_get(topo, "servers")) > 1)
        report(d, 1, "no server holds a VIP (none configured, or vip.k3c.io/holder missing)");
    k3c_buf_fini(&who);
}

/* Every Ready server should be an endpoint of default/kubernetes, by its
 * node IP: one that is not may have changed its IP. */
static void
check_node_ips(struct doctor *d, struct lab_kube *k, const json_t *topo)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *ep =
        lab_kube_get(k, "/api/v1/namespaces/default/endpoints/kubernetes", &err);
    _cleanup_free_ char *dumped = NULL;
    int missing = 0;
    size_t i;
    json_t *n;

    if (!ep) {
        report(d, 1, "node IPs not checked: %s", err.msg);
        return;
    }
    dumped = json_dumps(json_object_get(ep, "subsets"), JSON_COMPACT);
    json_array_foreach(json_object_get(topo, "servers"), i, n)
    {
        const char *ip = json_string_value(json_object_get(n, "ip"));
        _cleanup_free_ char *quoted = k3c_xasprintf("\"%s\"", ip);

        if (strcmp(json_string_value(json_object_get(n, "ready")), "Ready") != 0)
            continue;
        if (!dumped || !strstr(dumped, quoted)) {
            missing++;
            report(d, 1,
                   "server %s: node IP %s is not an endpoint of default/kubernetes "
                   "(its IP changed, or its API server is not registered)",
                   json_string_value(json_object_get(n, "name")), ip);
        }
    }
    if (!missing)
        report(d, 0, "every Ready server's node IP is an API endpoint");
}

int
doctor_run(struct lab_kube *k, FILE *out, struct k3c_err *err)
{
    struct doctor d = {.out = out};
    _cleanup_json_ json_t *topo = topology_collect(k, err);

    if (!topo) {
        report(&d, 2, "API %s: %s", lab_kube_server(k), err->msg);
        k3c_err_clear(err);
        fprintf(out, "doctor: %d problem%s, %d warning%s\n", d.problems, d.problems == 1 ? "" : "s",
                d.warnings, d.warnings == 1 ? "" : "s");
        return d.problems;
    }
    report(&d, 0, "API %s answers", lab_kube_server(k));
    check_nodes_ready(&d, topo);
    check_ports(&d, topo);
    check_vxlan(&d, topo);
    check_etcd(&d, topo);
    check_certs(&d, k);
    check_clocks(&d, k);
    check_vip(&d, k, topo);
    check_node_ips(&d, k, topo);
    fprintf(out, "doctor: %d problem%s, %d warning%s\n", d.problems, d.problems == 1 ? "" : "s",
            d.warnings, d.warnings == 1 ? "" : "s");
    return d.problems;
}
