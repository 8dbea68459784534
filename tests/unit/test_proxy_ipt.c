/* SPDX-License-Identifier: Apache-2.0
 * test_proxy_ipt.c - the iptables backend's text (issue #19): the proxy's
 * model rendered as iptables-restore input (net/proxy_ipt.c), the pod
 * network's chains (net/flannel_ipt.c) and the save-text helpers
 * (net/net_ipt.c). Checked by structure: which chains are declared, which
 * rules each holds, which jumps are inserted, not one fixed blob. */
#include "base/cleanup.h"
#include "net/flannel.h"
#include "net/ipt.h"
#include "net/proxy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy_fixture.h"

static const struct proxy_rules_config cfg = {.node_name = "n1"};

/* The restore text of one service as lines, per table. */
struct rendered {
    json_t *nat, *filter; /* arrays of lines */
};

static void
render(struct rendered *r, const json_t *svc, const json_t *sl, const char *nat_save,
       const char *filter_save)
{
    _cleanup_json_ json_t *models = json_object();
    struct k3c_buf b;
    json_t *cur = NULL;
    char *save = NULL;

    struct proxy_ipt_input in = {
        .models = models, .random_fully = true, .nat_save = nat_save, .filter_save = filter_save};

    json_object_set_new(models, "default/web", proxy_service_model(&cfg, svc, sl));
    k3c_buf_init(&b);
    proxy_ipt_render(&b, &in);
    r->nat = json_array();
    r->filter = json_array();
    for (char *l = strtok_r(b.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strcmp(l, "*nat") == 0)
            cur = r->nat;
        else if (strcmp(l, "*filter") == 0)
            cur = r->filter;
        else if (cur)
            json_array_append_new(cur, json_string(l));
        else
            fail_msg("line outside a table: %s", l);
    }
    k3c_buf_fini(&b);
    assert_string_equal(json_string_value(json_array_get(r->nat, json_array_size(r->nat) - 1)),
                        "COMMIT");
    assert_string_equal(
        json_string_value(json_array_get(r->filter, json_array_size(r->filter) - 1)), "COMMIT");
}

static void
rendered_fini(struct rendered *r)
{
    json_decref(r->nat);
    json_decref(r->filter);
}

/* Lines starting with prefix (and holding needle, when given). */
static size_t
count(const json_t *lines, const char *prefix, const char *needle)
{
    size_t i, n = 0;
    json_t *l;

    json_array_foreach(lines, i, l)
    {
        const char *s = json_string_value(l);

        if (strncmp(s, prefix, strlen(prefix)) == 0 && (!needle || strstr(s, needle)))
            n++;
    }
    return n;
}

/* The target chain of the first line starting with prefix; "" when none. */
static const char *
target_of(const json_t *lines, const char *prefix, char out[64])
{
    size_t i;
    json_t *l;

    out[0] = '\0';
    json_array_foreach(lines, i, l)
    {
        const char *s = json_string_value(l), *j;

        if (strncmp(s, prefix, strlen(prefix)) == 0 && (j = strstr(s, " -j ")))
            snprintf(out, 64, "%.*s", (int)strcspn(j + 4, " "), j + 4);
    }
    return out;
}

static void
assert_declared_once(const json_t *lines)
{
    /* every chain a rule is appended to is declared, and only once */
    size_t i;
    json_t *l;

    json_array_foreach(lines, i, l)
    {
        const char *s = json_string_value(l);
        char chain[64], decl[80];

        if (strncmp(s, "-A ", 3) != 0)
            continue;
        snprintf(chain, sizeof(chain), "%.*s", (int)strcspn(s + 3, " "), s + 3);
        assert_true(strlen(chain) <= 28); /* XT_EXTENSION_MAXNAMELEN - 1 */
        snprintf(decl, sizeof(decl), ":%s - [0:0]", chain);
        assert_int_equal(count(lines, decl, NULL), 1);
    }
}

static void
test_cluster_ip_and_node_port(void **state)
{
    _cleanup_json_ json_t *svc = service(",\"type\":\"NodePort\"");
    _cleanup_json_ json_t *sl = slices("10.42.0.5@n1 10.42.1.9@n2");
    struct rendered r;
    char svc_chain[64], ext_chain[64], sep[64];

    (void)state;
    render(&r, svc, sl, "", "");
    assert_declared_once(r.nat);
    assert_declared_once(r.filter);
    /* ClusterIP -> the service chain; node port -> the external chain */
    target_of(r.nat, "-A K3C-SERVICES -d 10.43.0.20/32 -p tcp --dport 80 ", svc_chain);
    assert_true(strncmp(svc_chain, "K3C-SVC-", 8) == 0);
    target_of(r.nat, "-A K3C-NODEPORTS -p tcp --dport 30080 ", ext_chain);
    assert_true(strncmp(ext_chain, "K3C-EXT-", 8) == 0);
    {
        _cleanup_free_ char *masq = NULL, *lb = NULL, *last = NULL, *ext_masq = NULL;

        if (asprintf(&masq, "-A %s ! -s 10.42.0.0/16 -j K3C-MARK-MASQ", svc_chain) < 0 ||
            asprintf(&lb, "-A %s -m statistic --mode random --probability 0.50000000000 -j ",
                     svc_chain) < 0 ||
            asprintf(&last, "-A %s -j K3C-SEP-", svc_chain) < 0 ||
            asprintf(&ext_masq, "-A %s -j K3C-MARK-MASQ", ext_chain) < 0)
            fail();
        assert_int_equal(count(r.nat, masq, NULL), 1);
        assert_int_equal(count(r.nat, lb, NULL), 1); /* 1/2, then the rest */
        assert_int_equal(count(r.nat, last, NULL), 1);
        assert_int_equal(count(r.nat, ext_masq, NULL), 1);
        target_of(r.nat, lb, sep);
    }
    /* each endpoint: hairpin marked, DNAT */
    assert_int_equal(count(r.nat, "-A K3C-SEP-", "-j DNAT --to-destination 10.42.0.5:8080"), 1);
    assert_int_equal(count(r.nat, "-A K3C-SEP-", "-j DNAT --to-destination 10.42.1.9:8080"), 1);
    assert_int_equal(count(r.nat, "-A K3C-SEP-", "-s 10.42.0.5/32 -j K3C-MARK-MASQ"), 1);
    assert_int_equal(count(r.nat, ":K3C-SEP-", NULL), 2);
    /* masquerade of what is marked; the node-port jump last in SERVICES */
    assert_int_equal(count(r.nat, "-A K3C-POSTROUTING -j MASQUERADE --random-fully", NULL), 1);
    assert_int_equal(count(r.nat, "-A K3C-SERVICES -m addrtype --dst-type LOCAL", NULL), 1);
    /* no saved jumps: all inserted at the top of the built-in chains */
    assert_int_equal(count(r.nat, "-I PREROUTING 1 -j K3C-SERVICES", NULL), 1);
    assert_int_equal(count(r.nat, "-I OUTPUT 1 -j K3C-SERVICES", NULL), 1);
    assert_int_equal(count(r.nat, "-I POSTROUTING 1 -j K3C-POSTROUTING", NULL), 1);
    assert_int_equal(count(r.filter, "-I FORWARD 1 ", NULL), 3);
    assert_int_equal(count(r.filter, "-A K3C-CLUSTER-IPS -d 10.43.0.20/32 -j REJECT", NULL), 1);
    assert_int_equal(count(r.filter, "-A K3C-SERVICES ", NULL), 0); /* it has endpoints */
    rendered_fini(&r);
}

static void
test_jumps_once_and_stale_chains_deleted(void **state)
{
    _cleanup_json_ json_t *svc = service("");
    _cleanup_json_ json_t *sl = slices("10.42.0.5@n1");
    const char *nat_save = "*nat\n:PREROUTING ACCEPT [0:0]\n:K3C-SERVICES - [0:0]\n"
                           ":K3C-SVC-00000000deadbeef - [0:0]\n"
                           ":KUBE-SVC-0000000000000000 - [0:0]\n"
                           "-A PREROUTING -j K3C-SERVICES\n"
                           "-A OUTPUT -m comment --comment x -j K3C-SERVICES\n"
                           "-A POSTROUTING -j K3C-POSTROUTING\nCOMMIT\n";
    struct rendered r;

    (void)state;
    render(&r, svc, sl, nat_save, "");
    assert_int_equal(count(r.nat, "-I ", NULL), 0);
    assert_int_equal(count(r.nat, ":K3C-SVC-00000000deadbeef - [0:0]", NULL), 1);
    assert_int_equal(count(r.nat, "-X K3C-SVC-00000000deadbeef", NULL), 1);
    assert_int_equal(count(r.nat, "-X ", NULL), 1); /* not KUBE-, not our live chains */
    assert_int_equal(count(r.nat, "KUBE-", NULL), 0);
    rendered_fini(&r);
}

static void
test_no_endpoints_reject(void **state)
{
    _cleanup_json_ json_t *svc = service(",\"type\":\"NodePort\",\"externalIPs\":[\"192.0.2.7\"]");
    struct rendered r;

    (void)state;
    render(&r, svc, NULL, "", "");
    assert_int_equal(count(r.nat, ":K3C-SVC-", NULL), 0);
    assert_int_equal(count(r.nat, "-A K3C-SERVICES -d 10.43.0.20/32", NULL), 0);
    assert_int_equal(
        count(r.filter, "-A K3C-SERVICES -d 10.43.0.20/32 -p tcp --dport 80 -j REJECT", NULL), 1);
    assert_int_equal(
        count(r.filter, "-A K3C-SERVICES -d 192.0.2.7/32 -p tcp --dport 80 -j REJECT", NULL), 1);
    assert_int_equal(count(r.filter, "-A K3C-EXTERNAL-SERVICES ", "--dport 30080 -j REJECT"), 1);
    rendered_fini(&r);
}

static void
test_affinity_and_local_policy(void **state)
{
    _cleanup_json_ json_t *svc =
        service(",\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"Local\","
                "\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{\"clientIP\":{"
                "\"timeoutSeconds\":60}}");
    _cleanup_json_ json_t *remote = slices("10.42.1.9@n2");
    _cleanup_json_ json_t *both = slices("10.42.0.5@n1 10.42.1.9@n2");
    struct rendered r, r2;
    char ext_chain[64];

    (void)state;
    json_object_set_new(svc, "status",
                        parse("{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.168.9.2\"}]}}"));
    render(&r, svc, remote, "", "");
    target_of(r.nat, "-A K3C-SERVICES -d 192.168.9.2/32 -p tcp --dport 80 ", ext_chain);
    assert_true(strncmp(ext_chain, "K3C-EXT-", 8) == 0);
    /* no endpoint here: outside clients marked to drop; pods use any */
    assert_int_equal(count(r.nat, "-A K3C-EXT-", "-j K3C-MARK-DROP"), 1);
    assert_int_equal(count(r.nat, "-A K3C-EXT-", "-s 10.42.0.0/16 -j K3C-SVC-"), 1);
    assert_int_equal(count(r.filter, "-A K3C-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP", NULL),
                     1);
    assert_int_equal(count(r.nat, "-A K3C-SVC-", "-m recent --rcheck --seconds 60 --reap"), 1);
    assert_int_equal(count(r.nat, "-A K3C-SEP-", "-m recent --set --name K3C-SEP-"), 1);
    render(&r2, svc, both, "", "");
    /* the local endpoint for outside clients, unmasqueraded */
    assert_int_equal(count(r2.nat, "-A K3C-EXT-", "-j K3C-MARK-DROP"), 0);
    assert_int_equal(count(r2.nat, "-A K3C-EXT-", "-j K3C-MARK-MASQ"), 1); /* local sources */
    assert_int_equal(count(r2.nat, "-A K3C-SEP-", "-j K3C-MARK-MASQ"), 2); /* hairpin */
    rendered_fini(&r);
    rendered_fini(&r2);
}

static void
test_same_models_same_text(void **state)
{
    _cleanup_json_ json_t *models = json_object(), *svc = service("");
    _cleanup_json_ json_t *sl = slices("10.42.1.9@n2 10.42.0.5@n1");
    struct k3c_buf a, b;

    (void)state;
    json_object_set_new(models, "default/web", proxy_service_model(&cfg, svc, sl));
    json_object_set_new(models, "default/web2", proxy_service_model(&cfg, svc, sl));
    k3c_buf_init(&a);
    k3c_buf_init(&b);
    struct proxy_ipt_input in = {.models = models, .nat_save = "", .filter_save = ""};

    proxy_ipt_render(&a, &in);
    proxy_ipt_render(&b, &in);
    assert_string_equal(a.data, b.data);
    assert_null(strstr(a.data, "--random-fully"));
    k3c_buf_fini(&a);
    k3c_buf_fini(&b);
}

/* A partial sync: only the changed service's chains declared (flushed) and
 * rewritten, the shared chains whole, what the last sync made and no
 * service has now deleted, no jump inserted (nothing was read). */
static void
test_partial_sync(void **state)
{
    _cleanup_json_ json_t *models = json_object(), *svc = service(",\"type\":\"NodePort\"");
    _cleanup_json_ json_t *sl = slices("10.42.0.5@n1"), *changed = json_object();
    _cleanup_json_ json_t *applied = json_object(), *chains = json_object();
    struct proxy_ipt_input in = {
        .models = models, .changed = changed, .applied = applied, .chains_out = chains};
    struct k3c_buf b;

    (void)state;
    json_object_set_new(models, "default/web", proxy_service_model(&cfg, svc, sl));
    json_object_set_new(json_object_get(svc, "metadata"), "name", json_string("web2"));
    json_object_set_new(models, "default/web2", proxy_service_model(&cfg, svc, sl));
    json_object_set_new(changed, "default/web2", json_true());
    json_object_set_new(applied, "K3C-SEP-00000000000000aa", json_true());
    k3c_buf_init(&b);
    proxy_ipt_render(&b, &in);
    /* web2's chains declared, web's not; both in the result */
    assert_int_equal(json_object_size(chains), 6); /* svc, ext, sep of each */
    {
        size_t declared = 0;
        const char *name;
        json_t *v;

        json_object_foreach(chains, name, v)
        {
            _cleanup_free_ char *decl = NULL;

            if (asprintf(&decl, "\n:%s - [0:0]\n", name) < 0)
                fail();
            declared += strstr(b.data, decl) != NULL;
        }
        assert_int_equal(declared, 3);
    }
    assert_non_null(strstr(b.data, ":K3C-SEP-00000000000000aa - [0:0]\n"));
    assert_non_null(strstr(b.data, "-X K3C-SEP-00000000000000aa\n"));
    assert_null(strstr(b.data, "-I "));
    /* the shared chain still sends both services' cluster IP */
    assert_non_null(strstr(b.data, ":K3C-SERVICES - [0:0]\n"));
    k3c_buf_fini(&b);
}

static void
test_remove_script(void **state)
{
    const char *save = "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
                       ":DOCKER - [0:0]\n:K3C-SERVICES - [0:0]\n:K3C-SVC-1 - [0:0]\n"
                       ":K3C-FLANNEL-POSTRTG - [0:0]\n"
                       "-A PREROUTING -j K3C-SERVICES\n"
                       "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n"
                       "-A POSTROUTING -j K3C-FLANNEL-POSTRTG\n"
                       "-A K3C-SERVICES -d 10.43.0.1/32 -j K3C-SVC-1\nCOMMIT\n";
    struct k3c_buf b, all;

    (void)state;
    k3c_buf_init(&b);
    ipt_remove_script(&b, save, IPT_PREFIX, "K3C-FLANNEL-");
    assert_non_null(strstr(b.data, "-D PREROUTING -j K3C-SERVICES\n"));
    assert_non_null(strstr(b.data, ":K3C-SVC-1 - [0:0]\n"));
    assert_non_null(strstr(b.data, "-X K3C-SVC-1\n"));
    assert_non_null(strstr(b.data, "-X K3C-SERVICES\n"));
    assert_null(strstr(b.data, "DOCKER"));
    assert_null(strstr(b.data, "FLANNEL")); /* excepted */
    assert_null(strstr(b.data, "-D K3C-")); /* own chains are flushed, not edited */
    k3c_buf_init(&all);
    ipt_remove_script(&all, save, IPT_PREFIX, NULL);
    assert_non_null(strstr(all.data, "-D POSTROUTING -j K3C-FLANNEL-POSTRTG\n"));
    assert_non_null(strstr(all.data, "-X K3C-FLANNEL-POSTRTG\n"));
    k3c_buf_fini(&b);
    k3c_buf_fini(&all);
    k3c_buf_init(&b);
    ipt_remove_script(&b, "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", IPT_PREFIX, NULL);
    assert_int_equal(b.len, 0);
    k3c_buf_fini(&b);
}

static void
test_has_jump(void **state)
{
    const char *save = "-A INPUT -m conntrack --ctstate NEW -j K3C-SERVICES\n"
                       "-A FORWARD -j K3C-FIREWALL\n-A FORWARD -j K3C-FIREWALL-X\n";

    (void)state;
    assert_true(ipt_save_has_jump(save, "INPUT", "K3C-SERVICES"));
    assert_true(ipt_save_has_jump(save, "FORWARD", "K3C-FIREWALL"));
    assert_false(ipt_save_has_jump(save, "OUTPUT", "K3C-SERVICES"));
    assert_false(ipt_save_has_jump(save, "FORWARD", "K3C-SERVICES"));
    assert_false(ipt_save_has_jump("-A FORWARD -j K3C-FIREWALL-X\n", "FORWARD", "K3C-FIREWALL"));
    assert_false(ipt_save_has_jump(NULL, "FORWARD", "K3C-FIREWALL"));
}

static void
test_flannel_script(void **state)
{
    _cleanup_free_ char *fresh = flannel_ipt_script("10.42.0.0/16", "10.42.3.0/24", true, "", "");
    _cleanup_free_ char *again = flannel_ipt_script("10.42.0.0/16", "10.42.3.0/24", false,
                                                    "-A POSTROUTING -j K3C-FLANNEL-POSTRTG\n",
                                                    "-A FORWARD -j K3C-FLANNEL-FWD\n");

    (void)state;
    assert_non_null(strstr(fresh, "-A K3C-FLANNEL-POSTRTG ! -s 10.42.0.0/16 -d 10.42.3.0/24 "
                                  "-j RETURN\n"));
    assert_non_null(strstr(fresh, "-A K3C-FLANNEL-POSTRTG -s 10.42.0.0/16 ! -d 224.0.0.0/4 -j "
                                  "MASQUERADE --random-fully\n"));
    assert_non_null(strstr(fresh, "-A K3C-FLANNEL-FWD -d 10.42.0.0/16 -j ACCEPT\n"));
    assert_non_null(strstr(fresh, "-I POSTROUTING 1 -j K3C-FLANNEL-POSTRTG\n"));
    assert_non_null(strstr(fresh, "-I FORWARD 1 -j K3C-FLANNEL-FWD\n"));
    assert_null(strstr(again, "-I "));
    assert_null(strstr(again, "random-fully"));
}

static void
test_backend_parse(void **state)
{
    enum net_netfilter b;
    bool automatic;
    struct k3c_err err = {0};

    (void)state;
    assert_int_equal(net_netfilter_parse("iptables", &b, &automatic, &err), 0);
    assert_int_equal(b, NET_NETFILTER_IPTABLES);
    assert_false(automatic);
    assert_int_equal(net_netfilter_parse(NULL, &b, &automatic, &err), 0);
    assert_true(automatic);
    assert_int_equal(net_netfilter_parse("xtables", &b, &automatic, &err), -1);
    assert_non_null(strstr(err.msg, "auto, nftables or iptables"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_ip_and_node_port),
        cmocka_unit_test(test_jumps_once_and_stale_chains_deleted),
        cmocka_unit_test(test_no_endpoints_reject),
        cmocka_unit_test(test_affinity_and_local_policy),
        cmocka_unit_test(test_same_models_same_text),
        cmocka_unit_test(test_partial_sync),
        cmocka_unit_test(test_remove_script),
        cmocka_unit_test(test_has_jump),
        cmocka_unit_test(test_flannel_script),
        cmocka_unit_test(test_backend_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
