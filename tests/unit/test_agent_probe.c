/* SPDX-License-Identifier: Apache-2.0
 * test_agent_probe.c - the kernel feature probes (agent_probe.c) over a
 * made-up /sys, /proc and /lib/modules: a kernel with everything, one
 * without VXLAN and nftables, a cgroup v1 host with the memory controller
 * disabled (a Jetson without cgroup_enable=memory), br_netfilter available
 * but not loaded, and a container without /lib/modules (nothing told). */
#include "agent/agent-internal.h"
#include "base/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define REL "4.9.253-tegra"

static char root[256];

static void
put(const char *rel, const char *text)
{
    char path[512], dir[512];
    struct k3c_err err = {0};

    snprintf(path, sizeof(path), "%s%s", root, rel);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(k3c_mkdir_p(dir, 0755, &err), 0);
    assert_int_equal(k3c_write_file(path, text, strlen(text), 0644, &err), 0);
}

static int
setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/k3c-probe-%d-XXXXXX", (int)getpid());
    assert_non_null(mkdtemp(root));
    return 0;
}

static int
teardown(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int
probe(unsigned what, struct k3c_buf *out)
{
    struct agent_probe_env env = {.root = root, .kernel_release = REL};

    k3c_buf_init(out);
    return agent_probe_kernel(&env, what, out);
}

#define ALL                                                                                        \
    (AGENT_PROBE_VXLAN | AGENT_PROBE_NFTABLES | AGENT_PROBE_BR_NETFILTER | AGENT_PROBE_CGROUPS |   \
     AGENT_PROBE_OVERLAY)

static void
test_everything_present(void **state)
{
    struct k3c_buf r;

    (void)state;
    put("/lib/modules/" REL "/modules.dep",
        "kernel/drivers/net/vxlan.ko.xz: kernel/net/ipv4/udp_tunnel.ko.xz\n"
        "kernel/net/netfilter/nf_tables.ko.zst: kernel/net/netfilter/nfnetlink.ko\n");
    put("/lib/modules/" REL "/modules.builtin", "kernel/fs/overlayfs/overlay.ko\n");
    put("/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
    put("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put("/proc/filesystems", "nodev\tsysfs\nnodev\ttmpfs\n");
    assert_int_equal(probe(ALL, &r), 0);
    assert_int_equal(r.len, 0);
    k3c_buf_fini(&r);
}

static void
test_old_kernel_names_what_is_missing(void **state)
{
    struct k3c_buf r;

    (void)state;
    /* no vxlan, no nf_tables; br_netfilter built as a module, not loaded */
    put("/lib/modules/" REL "/modules.dep",
        "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko\n"
        "kernel/net/ipv4/netfilter/iptable_nat.ko:\n"
        "kernel/drivers/net/vxlan_extra.ko:\n");
    put("/lib/modules/" REL "/modules.builtin", "kernel/fs/overlayfs/overlay.ko\n");
    /* cgroup v1 with memory disabled and no pids controller */
    put("/proc/cgroups", "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
                         "cpuset\t2\t1\t1\ncpu\t3\t1\t1\ncpuacct\t4\t1\t1\nmemory\t0\t1\t0\n");
    assert_int_equal(probe(ALL, &r), 5);
    printf("%s", r.data);
    assert_non_null(strstr(r.data, "vxlan: kernel " REL " has no VXLAN (module vxlan"));
    assert_non_null(strstr(r.data, "--flannel-backend=host-gw"));
    assert_non_null(strstr(r.data, "nf_tables: kernel " REL " has no nftables"));
    assert_non_null(strstr(r.data, "br_netfilter: module br_netfilter is not loaded"));
    assert_non_null(strstr(r.data, "cgroup v1 controller memory is disabled: add "
                                   "cgroup_enable=memory"));
    assert_non_null(strstr(r.data, "controller pids is missing (CONFIG_CGROUP_PIDS)"));
    assert_null(strstr(r.data, "overlay"));
    k3c_buf_fini(&r);
    /* only what was asked for */
    assert_int_equal(probe(AGENT_PROBE_CGROUPS, &r), 2);
    assert_null(strstr(r.data, "vxlan"));
    k3c_buf_fini(&r);
}

/* The iptables backend's modules (issue #19): an L4T-like 4.9 with the
 * tables but without xt_recent (sessionAffinity) is told so, by name. */
static void
test_iptables_modules(void **state)
{
    struct k3c_buf r;

    (void)state;
    put("/lib/modules/" REL "/modules.dep",
        "kernel/net/ipv4/netfilter/ip_tables.ko: kernel/net/netfilter/x_tables.ko\n"
        "kernel/net/ipv4/netfilter/iptable_nat.ko: kernel/net/ipv4/netfilter/ip_tables.ko\n"
        "kernel/net/ipv4/netfilter/iptable_filter.ko:\n"
        "kernel/net/netfilter/xt_addrtype.ko:\nkernel/net/netfilter/xt_conntrack.ko:\n"
        "kernel/net/netfilter/xt_mark.ko:\nkernel/net/netfilter/xt_statistic.ko:\n");
    put("/lib/modules/" REL "/modules.builtin", "");
    assert_int_equal(probe(AGENT_PROBE_IPTABLES, &r), 1);
    assert_non_null(strstr(r.data, "iptables: kernel " REL " has no module xt_recent"));
    k3c_buf_fini(&r);
    /* the nftables message points at the iptables backend */
    assert_int_equal(probe(AGENT_PROBE_NFTABLES, &r), 1);
    assert_non_null(strstr(r.data, "--netfilter-backend iptables"));
    k3c_buf_fini(&r);
}

static void
test_loaded_module_counts(void **state)
{
    struct k3c_buf r;

    (void)state;
    put("/lib/modules/" REL "/modules.dep", "kernel/net/bridge/bridge.ko:\n");
    put("/sys/module/vxlan/refcnt", "1\n");
    put("/sys/module/nf_tables/refcnt", "3\n");
    assert_int_equal(probe(AGENT_PROBE_VXLAN | AGENT_PROBE_NFTABLES, &r), 0);
    k3c_buf_fini(&r);
}

static void
test_no_modules_dir_tells_nothing(void **state)
{
    struct k3c_buf r;

    (void)state;
    /* a container: no /lib/modules, /proc and /sys of a modern host */
    put("/sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n");
    put("/proc/filesystems", "nodev\tsysfs\nnodev\toverlay\n");
    assert_int_equal(probe(ALL & ~AGENT_PROBE_BR_NETFILTER, &r), 0);
    k3c_buf_fini(&r);
    /* and without any cgroupfs: said plainly */
    teardown(NULL);
    setup(NULL);
    assert_int_equal(probe(AGENT_PROBE_CGROUPS, &r), 1);
    assert_non_null(strstr(r.data, "is cgroupfs mounted?"));
    k3c_buf_fini(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_everything_present, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_kernel_names_what_is_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iptables_modules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loaded_module_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_modules_dir_tells_nothing, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
