/* SPDX-License-Identifier: Apache-2.0
 * test_net.c - pod networking with the real CNI plugins, all inside a "node"
 * network namespace N the test creates: two pods get addresses from
 * 10.42.7.0/24 and ping each other, cni0 and its gateway live in N only, the
 * root namespace gets no address, link or rule; teardown releases the IPs;
 * plugin failures leave no namespace behind. Needs root and
 * containernetworking-plugins (exit 77 otherwise). */
#include "net/net.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define CNI_DIR      "/usr/lib/cni"
#define RUN_TIMEOUT  5000
#define MAX_PODS     8
#define POD_CIDR     "10.42.7.0/24"
#define POD_GATEWAY  "10.42.7.1"
#define NODE_NS_NAME "node"

struct fixture {
    char tmp[64];
    char netns_dir[128];
    char node_ns[192];
    char state_dir[128];
    char *ip_bin;
    char *ping_bin; /* busybox, or ping */
    bool ping_is_busybox;
    char *iptables_save_bin; /* may be NULL */
    bool root_had_cni0;
    struct net_pod_config cfg;
    /* Pods a test set up, torn down by pods_teardown even when it fails
     * (cfg copied; its strings are literals or the fixture's). */
    struct net_pod_config pod_cfg[MAX_PODS];
    const char *pod_uid[MAX_PODS];
    size_t n_pods;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Unpins every namespace in the test's dir, then the dir's own mount. */
static void
netns_dir_cleanup(struct fixture *f)
{
    DIR *d = opendir(f->netns_dir);
    struct dirent *de;
    struct k3c_err err = {0};

    if (d) {
        for (int i = 0; i < 1000 && (de = readdir(d)) != NULL; i++) {
            if (net_name_valid(de->d_name) && net_netns_delete(f->netns_dir, de->d_name, &err) < 0)
                fprintf(stderr, "cleanup: %s\n", err.msg);
        }
        closedir(d);
    }
    umount2(f->netns_dir, MNT_DETACH);
}

static int
group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct k3c_err err = {0};

    if (!f)
        return -1;
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/k3c-net-XXXXXX");
    if (!mkdtemp(f->tmp)) {
        free(f);
        return -1;
    }
    snprintf(f->netns_dir, sizeof(f->netns_dir), "%s/netns", f->tmp);
    snprintf(f->state_dir, sizeof(f->state_dir), "%s/cni", f->tmp);
    snprintf(f->node_ns, sizeof(f->node_ns), "%s/%s", f->netns_dir, NODE_NS_NAME);
    f->root_had_cni0 = if_nametoindex("cni0") != 0;
    f->ip_bin = k3c_find_in_path("ip");
    if (!f->ip_bin && k3c_file_exists("/usr/sbin/ip"))
        f->ip_bin = k3c_xstrdup("/usr/sbin/ip");
    f->ping_bin = k3c_find_in_path("busybox");
    f->ping_is_busybox = f->ping_bin != NULL;
    if (!f->ping_bin)
        f->ping_bin = k3c_find_in_path("ping");
    f->iptables_save_bin = k3c_find_in_path("iptables-save");
    if (!f->iptables_save_bin && k3c_file_exists("/usr/sbin/iptables-save"))
        f->iptables_save_bin = k3c_xstrdup("/usr/sbin/iptables-save");
    *state = f;
    /* N, the node's "host" namespace: cni0, its gateway address and any
     * iptables rule exist only in here. */
    if (net_netns_create(f->netns_dir, NODE_NS_NAME, &err) < 0) {
        fprintf(stderr, "create node netns: %s\n", err.msg);
        return -1;
    }
    f->cfg = (struct net_pod_config){
        .pod_cidr = POD_CIDR,
        .host_netns = f->node_ns,
        .netns_dir = f->netns_dir,
        .state_dir = f->state_dir,
        .plugin_path = CNI_DIR,
        .timeout_ms = 10000,
    };
    return 0;
}

static int
group_teardown(void **state)
{
    struct fixture *f = *state;

    if (!f)
        return 0;
    netns_dir_cleanup(f);
    nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->ip_bin);
    free(f->ping_bin);
    free(f->iptables_save_bin);
    free(f);
    return 0;
}

static void
pod_track(struct fixture *f, const struct net_pod_config *cfg, const char *uid)
{
    assert_true(f->n_pods < MAX_PODS);
    f->pod_cfg[f->n_pods] = *cfg;
    f->pod_uid[f->n_pods] = uid;
    f->n_pods++;
}

/* After every test, also a failed one: tear its pods down and drop any pod
 * namespace left (N stays for the next test). */
static int
pods_teardown(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};
    DIR *d;
    struct dirent *de;

    for (size_t i = 0; i < f->n_pods; i++) {
        if (net_pod_teardown(&f->pod_cfg[i], f->pod_uid[i], &err) < 0)
            fprintf(stderr, "teardown %s: %s\n", f->pod_uid[i], err.msg);
    }
    f->n_pods = 0;
    d = opendir(f->netns_dir);
    if (!d)
        return 0;
    for (int i = 0; i < 1000 && (de = readdir(d)) != NULL; i++) {
        if (strncmp(de->d_name, "k3c-", 4) == 0)
            net_netns_delete(f->netns_dir, de->d_name, &err);
    }
    closedir(d);
    return 0;
}

/* Runs argv (bounded) inside netns (NULL: the test's own, the root one);
 * returns the exit code and, when out is not NULL, stdout (caller frees). */
static int
run_in(const char *netns, const char *const *argv, char **out)
{
    struct net_run_opts o = {.argv = argv, .netns = netns, .timeout_ms = RUN_TIMEOUT};
    struct net_run_result r;
    struct k3c_err err = {0};
    int code;

    if (net_run(&o, &r, &err) < 0) {
        fprintf(stderr, "run %s: %s\n", argv[0], err.msg);
        return -1;
    }
    code = r.exit_code;
    if (code != 0)
        fprintf(stderr, "run %s %s: exit %d: %s\n", argv[0], argv[1] ? argv[1] : "", code,
                r.errout);
    if (out)
        *out = TAKE_PTR(r.out);
    net_run_result_fini(&r);
    return code;
}

static char *
ip_out(struct fixture *f, const char *netns, const char *a1, const char *a2, const char *a3,
       const char *a4)
{
    const char *argv[] = {f->ip_bin, "-o", a1, a2, a3, a4, NULL};
    char *out = NULL;

    assert_int_equal(run_in(netns, argv, &out), 0);
    return out;
}

static bool
ip_in_pod_cidr(const char *ip)
{
    struct in_addr a, net;

    inet_pton(AF_INET, "10.42.7.0", &net);
    return inet_pton(AF_INET, ip, &a) == 1 && (ntohl(a.s_addr) & 0xffffff00u) == ntohl(net.s_addr);
}

static bool
ping_from(struct fixture *f, const char *netns, const char *dst)
{
    const char *bb[] = {f->ping_bin, "ping", "-c", "1", "-W", "1", dst, NULL};
    const char *plain[] = {f->ping_bin, "-c", "1", "-W", "1", dst, NULL};

    /* The first echo may wait for ARP; three tries of at most 1 s. */
    for (int i = 0; i < 3; i++) {
        if (run_in(netns, f->ping_is_busybox ? bb : plain, NULL) == 0)
            return true;
    }
    return false;
}

static char *
nat_rules(struct fixture *f, const char *netns)
{
    const char *argv[] = {f->iptables_save_bin, "-t", "nat", NULL};
    char *out = NULL;

    if (run_in(netns, argv, &out) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static char *
ipam_file(struct fixture *f, const char *network, const char *ip)
{
    return k3c_xasprintf("%s/ipam/%s/%s", f->state_dir, network, ip);
}

static void
test_two_pods_ping_and_teardown(void **state)
{
    struct fixture *f = *state;
    struct net_port_mapping ports[] = {{.host_port = 18080, .container_port = 80}};
    struct net_pod_opts opts_b = {
        .namespace = "default", .name = "pod-b", .ports = ports, .n_ports = 1};
    struct net_pod_result a, b, c;
    struct k3c_err err = {0};
    _cleanup_free_ char *out = NULL;
    _cleanup_free_ char *file_a = NULL;
    _cleanup_free_ char *file_b = NULL;
    _cleanup_free_ char *file_c = NULL;
    _cleanup_free_ char *cache_a = NULL;
    const char *uid_a = "0a1b2c3d-0000-4000-8000-00000000000a";
    const char *uid_b = "0a1b2c3d-0000-4000-8000-00000000000b";
    const char *uid_c = "0a1b2c3d-0000-4000-8000-00000000000c";

    if (!f->ip_bin)
        skip();
    pod_track(f, &f->cfg, uid_a);
    pod_track(f, &f->cfg, uid_b);
    if (net_pod_setup(&f->cfg, uid_a, NULL, &a, &err) < 0)
        fail_msg("setup A: %s", err.msg);
    if (net_pod_setup(&f->cfg, uid_b, &opts_b, &b, &err) < 0)
        fail_msg("setup B: %s", err.msg);

    /* Each pod: an address from the podCIDR, the gateway, its own netns. */
    assert_true(ip_in_pod_cidr(a.ip));
    assert_true(ip_in_pod_cidr(b.ip));
    assert_string_not_equal(a.ip, b.ip);
    assert_string_equal(a.gateway, POD_GATEWAY);
    assert_true(net_netns_is_pinned(a.netns));
    assert_true(net_netns_is_pinned(b.netns));
    assert_string_not_equal(a.netns, b.netns);
    assert_true(strlen(a.mac) > 0);
    out = ip_out(f, a.netns, "addr", "show", "dev", "eth0");
    assert_non_null(strstr(out, a.cidr));
    free(TAKE_PTR(out));
    out = ip_out(f, b.netns, "addr", "show", "dev", "eth0");
    assert_non_null(strstr(out, b.cidr));
    free(TAKE_PTR(out));
    /* lo is up (the loopback plugin ran). */
    out = ip_out(f, a.netns, "addr", "show", "dev", "lo");
    assert_non_null(strstr(out, "127.0.0.1/8"));
    free(TAKE_PTR(out));

    /* cni0 with the gateway is in N, and nowhere in the root namespace. */
    out = ip_out(f, f->node_ns, "addr", "show", "dev", "cni0");
    assert_non_null(strstr(out, POD_GATEWAY "/24"));
    free(TAKE_PTR(out));
    if (!f->root_had_cni0)
        assert_int_equal(if_nametoindex("cni0"), 0);
    out = ip_out(f, NULL, "addr", "show", NULL, NULL);
    assert_null(strstr(out, POD_GATEWAY "/"));
    assert_null(strstr(out, a.ip));
    free(TAKE_PTR(out));

    /* Pod A reaches pod B over the bridge, and the gateway. */
    assert_true(ping_from(f, a.netns, b.ip));
    assert_true(ping_from(f, b.netns, POD_GATEWAY));

    /* B's hostPort became a DNAT rule in N, not in the root namespace. */
    if (f->iptables_save_bin) {
        out = nat_rules(f, f->node_ns);
        assert_non_null(out);
        assert_non_null(strstr(out, "18080"));
        assert_non_null(strstr(out, uid_b));
        free(TAKE_PTR(out));
        out = nat_rules(f, NULL);
        if (out)
            assert_null(strstr(out, uid_b));
        free(TAKE_PTR(out));
    }

    /* CHECK agrees with what ADD did. */
    if (net_pod_check(&f->cfg, uid_a, &err) < 0)
        fail_msg("check A: %s", err.msg);

    /* A second setup of a running pod is refused and changes nothing. */
    assert_int_equal(net_pod_setup(&f->cfg, uid_a, NULL, &c, &err), -1);
    assert_int_equal(err.kind, K3C_E_EXISTS);
    assert_true(net_netns_is_pinned(a.netns));

    /* Teardown: namespaces, host-local reservations, cache and rules go. */
    file_a = ipam_file(f, NET_POD_NETWORK, a.ip);
    file_b = ipam_file(f, NET_POD_NETWORK, b.ip);
    cache_a = k3c_xasprintf("%s/results/%s-%s-eth0", f->state_dir, NET_POD_NETWORK, uid_a);
    assert_true(k3c_file_exists(file_a));
    assert_true(k3c_file_exists(file_b));
    assert_true(k3c_file_exists(cache_a));
    if (net_pod_teardown(&f->cfg, uid_a, &err) < 0)
        fail_msg("teardown A: %s", err.msg);
    if (net_pod_teardown(&f->cfg, uid_b, &err) < 0)
        fail_msg("teardown B: %s", err.msg);
    assert_false(k3c_file_exists(a.netns));
    assert_false(k3c_file_exists(b.netns));
    assert_false(k3c_file_exists(file_a));
    assert_false(k3c_file_exists(file_b));
    assert_false(k3c_file_exists(cache_a));
    if (f->iptables_save_bin) {
        out = nat_rules(f, f->node_ns);
        assert_non_null(out);
        assert_null(strstr(out, "18080"));
        free(TAKE_PTR(out));
    }
    out = ip_out(f, f->node_ns, "link", "show", "type", "veth");
    assert_string_equal(out, "");
    free(TAKE_PTR(out));
    /* Idempotent. */
    assert_int_equal(net_pod_teardown(&f->cfg, uid_a, &err), 0);

    /* A new pod after teardown gets an address again. */
    pod_track(f, &f->cfg, uid_c);
    if (net_pod_setup(&f->cfg, uid_c, NULL, &c, &err) < 0)
        fail_msg("setup C: %s", err.msg);
    assert_true(ip_in_pod_cidr(c.ip));
    file_c = ipam_file(f, NET_POD_NETWORK, c.ip);
    assert_true(k3c_file_exists(file_c));
    assert_true(ping_from(f, c.netns, POD_GATEWAY));
    if (net_pod_teardown(&f->cfg, uid_c, &err) < 0)
        fail_msg("teardown C: %s", err.msg);
    assert_false(k3c_file_exists(file_c));
    assert_false(k3c_file_exists(c.netns));
}

static void
test_teardown_of_unknown_pod_is_ok(void **state)
{
    struct fixture *f = *state;
    struct k3c_err err = {0};

    assert_int_equal(net_pod_teardown(&f->cfg, "never-set-up", &err), 0);
    assert_int_equal(net_pod_teardown(&f->cfg, "../bad", &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_int_equal(net_pod_check(&f->cfg, "never-set-up", &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
}

static void
test_missing_plugins_leave_nothing(void **state)
{
    struct fixture *f = *state;
    struct net_pod_config cfg = f->cfg;
    _cleanup_free_ char *ns = NULL;
    struct net_pod_result r;
    struct k3c_err err = {0};

    cfg.plugin_path = "/nonexistent/k3c-cni-plugins";
    pod_track(f, &cfg, "pod-noplugins");
    assert_int_equal(net_pod_setup(&cfg, "pod-noplugins", NULL, &r, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "not found in"));
    assert_non_null(strstr(err.msg, "pod-noplugins"));
    ns = net_pod_netns_path(&cfg, "pod-noplugins");
    assert_false(k3c_file_exists(ns));
}

static void
test_plugin_error_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct net_pod_config cfg = f->cfg;
    _cleanup_free_ char *ns = NULL;
    _cleanup_free_ char *before = NULL;
    _cleanup_free_ char *after = NULL;
    struct net_pod_result r;
    struct k3c_err err = {0};

    if (!f->ip_bin)
        skip();
    /* host-local refuses a /31: a real plugin error object on stdout. */
    cfg.pod_cidr = "10.42.9.0/31";
    cfg.network = "k3c-bad";
    cfg.bridge = "cni9";
    before = ip_out(f, f->node_ns, "link", "show", "type", "veth");
    pod_track(f, &cfg, "pod-badsubnet");
    assert_int_equal(net_pod_setup(&cfg, "pod-badsubnet", NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "too small"));
    assert_non_null(strstr(err.msg, "CNI code"));
    assert_non_null(strstr(err.msg, "bridge ADD"));
    ns = net_pod_netns_path(&cfg, "pod-badsubnet");
    assert_false(k3c_file_exists(ns));
    after = ip_out(f, f->node_ns, "link", "show", "type", "veth");
    assert_string_equal(before, after);
}

static void
test_exhausted_range_fails_cleanly(void **state)
{
    struct fixture *f = *state;
    struct net_pod_config cfg = f->cfg;
    _cleanup_free_ char *ns2 = NULL;
    _cleanup_free_ char *file1 = NULL;
    struct net_pod_result r1, r2;
    struct k3c_err err = {0};

    /* A /30 holds the gateway .1 and one pod, .2. */
    cfg.pod_cidr = "10.42.8.0/30";
    cfg.network = "k3c-small";
    cfg.bridge = "cni8";
    pod_track(f, &cfg, "pod-small-1");
    pod_track(f, &cfg, "pod-small-2");
    if (net_pod_setup(&cfg, "pod-small-1", NULL, &r1, &err) < 0)
        fail_msg("setup 1: %s", err.msg);
    assert_string_equal(r1.ip, "10.42.8.2");
    assert_int_equal(net_pod_setup(&cfg, "pod-small-2", NULL, &r2, &err), -1);
    assert_non_null(strstr(err.msg, "no IP addresses available"));
    ns2 = net_pod_netns_path(&cfg, "pod-small-2");
    assert_false(k3c_file_exists(ns2));
    /* The failure did not take the first pod's address away. */
    file1 = ipam_file(f, "k3c-small", "10.42.8.2");
    assert_true(k3c_file_exists(file1));
    if (net_pod_teardown(&cfg, "pod-small-1", &err) < 0)
        fail_msg("teardown 1: %s", err.msg);
    assert_false(k3c_file_exists(file1));
}

static char *
write_script(struct fixture *f, const char *dir, const char *name, const char *body)
{
    _cleanup_free_ char *d = k3c_xasprintf("%s/%s", f->tmp, dir);
    char *path = k3c_xasprintf("%s/%s", d, name);
    _cleanup_free_ char *text = k3c_xasprintf("#!/bin/sh\n%s\n", body);
    struct k3c_err err = {0};

    assert_int_equal(k3c_mkdir_p(d, 0755, &err), 0);
    assert_int_equal(k3c_write_file(path, text, strlen(text), 0755, &err), 0);
    return path;
}

static void
test_exec_timeout_error_and_version(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *bin = k3c_xasprintf("%s/fake-bin", f->tmp);
    _cleanup_free_ char *sleepy = write_script(f, "fake-bin", "sleepy", "sleep 30");
    _cleanup_free_ char *failing = write_script(
        f, "fake-bin", "failing",
        "printf '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad conf\",\"details\":\"%s\"}' "
        "\"$CNI_COMMAND $CNI_IFNAME\"; exit 1");
    _cleanup_json_ json_t *conf_sleepy =
        json_pack("{s:s,s:s,s:s}", "cniVersion", "1.0.0", "name", "t", "type", "sleepy");
    _cleanup_json_ json_t *conf_failing =
        json_pack("{s:s,s:s,s:s}", "cniVersion", "1.0.0", "name", "t", "type", "failing");
    _cleanup_json_ json_t *conf_bridge =
        json_pack("{s:s,s:s,s:s}", "cniVersion", "1.0.0", "name", "t", "type", "bridge");
    _cleanup_json_ json_t *res = NULL;
    struct net_cni_runtime rt = {.container_id = "c1",
                                 .netns = f->node_ns,
                                 .ifname = "eth0",
                                 .plugin_path = bin,
                                 .host_netns = f->node_ns,
                                 .timeout_ms = 300};
    struct k3c_err err = {0};
    int64_t t0;
    size_t i;
    json_t *v;
    bool has_1_0_0 = false;

    (void)sleepy;
    (void)failing;
    t0 = k3c_now_ms();
    assert_int_equal(net_cni_exec(&rt, NET_CNI_ADD, conf_sleepy, &res, &err), -1);
    assert_int_equal(err.kind, K3C_E_TIMEOUT);
    assert_true(k3c_now_ms() - t0 < 3000);
    assert_null(res);

    rt.timeout_ms = RUN_TIMEOUT;
    assert_int_equal(net_cni_exec(&rt, NET_CNI_DEL, conf_failing, NULL, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_string_equal(err.msg, "failing DEL: bad conf: DEL eth0 (CNI code 7)");

    rt.plugin_path = CNI_DIR;
    assert_int_equal(net_cni_exec(&rt, NET_CNI_VERSION, conf_bridge, &res, &err), 0);
    assert_non_null(res);
    json_array_foreach(json_object_get(res, "supportedVersions"), i, v)
    {
        if (strcmp(json_string_value(v) ? json_string_value(v) : "", NET_CNI_SPEC_VERSION) == 0)
            has_1_0_0 = true;
    }
    assert_true(has_1_0_0);
}

static void
test_run_pipes_and_epipe(void **state)
{
    struct fixture *f = *state;
    size_t n = 1u << 20;
    char *input = malloc(n);
    const char *cat[] = {"/bin/cat", NULL};
    const char *tru[] = {"/bin/true", NULL};
    const char *none[] = {"/nonexistent/prog", NULL};
    struct net_run_opts o = {.argv = cat, .input = input, .input_len = n, .timeout_ms = 5000};
    struct net_run_result r;
    struct k3c_err err = {0};

    (void)f;
    assert_non_null(input);
    for (size_t i = 0; i < n; i++)
        input[i] = (char)('a' + i % 26);
    /* 1 MiB through cat: stdin and stdout interleave through poll. */
    assert_int_equal(net_run(&o, &r, &err), 0);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.out_len, n);
    assert_memory_equal(r.out, input, n);
    net_run_result_fini(&r);
    /* A child that never reads: EPIPE, not a dead test process. */
    o.argv = tru;
    assert_int_equal(net_run(&o, &r, &err), 0);
    assert_int_equal(r.exit_code, 0);
    net_run_result_fini(&r);
    o.argv = none;
    assert_int_equal(net_run(&o, &r, &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    free(input);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_two_pods_ping_and_teardown, pods_teardown),
        cmocka_unit_test_teardown(test_teardown_of_unknown_pod_is_ok, pods_teardown),
        cmocka_unit_test_teardown(test_missing_plugins_leave_nothing, pods_teardown),
        cmocka_unit_test_teardown(test_plugin_error_leaves_nothing, pods_teardown),
        cmocka_unit_test_teardown(test_exhausted_range_fails_cleanly, pods_teardown),
        cmocka_unit_test_teardown(test_exec_timeout_error_and_version, pods_teardown),
        cmocka_unit_test(test_run_pipes_and_epipe),
    };

    if (geteuid() != 0 || !k3c_file_exists(CNI_DIR "/bridge") ||
        !k3c_file_exists(CNI_DIR "/host-local")) {
        fprintf(stderr, "test_net: needs root and %s/bridge (containernetworking-plugins)\n",
                CNI_DIR);
        return 77;
    }
    return cmocka_run_group_tests_name("net", tests, group_setup, group_teardown);
}
