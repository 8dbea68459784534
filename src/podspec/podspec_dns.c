/* SPDX-License-Identifier: Apache-2.0
 * podspec_dns.c - a pod's /etc/resolv.conf by dnsPolicy and dnsConfig, as
 * the kubelet builds it (pkg/kubelet/network/dns: GetPodDNS,
 * appendDNSConfig, formDNSSearchFitsLimits): ClusterFirst gets the cluster
 * DNS with the namespace's search list and ndots:5; ClusterFirst on the
 * host network and Default get the host's resolv.conf; None starts empty;
 * dnsConfig is appended; at most 3 nameservers, 32 search domains of at
 * most 253 characters, 2048 characters in all. */
#include "podspec/podspec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "dns/dns.h"

#define MAX_NAMESERVERS  3
#define MAX_SEARCH_PATHS 32
#define MAX_SEARCH_CHARS 2048
#define MAX_SEARCH_LEN   253

struct strv {
    char **v;
    size_t n;
};

static bool
strv_has(const struct strv *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return true;
    return false;
}

/* Appends x unless present (upstream's omitDuplicates). */
static void
strv_add(struct strv *s, const char *x)
{
    if (!x || !*x || strv_has(s, x))
        return;
    s->v = k3c_xrealloc(s->v, (s->n + 1) * sizeof(char *));
    s->v[s->n++] = k3c_xstrdup(x);
}

static void
strv_clear(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* The option's name: "ndots" of "ndots:5". */
static size_t
opt_name_len(const char *o)
{
    const char *c = strchr(o, ':');
    return c ? (size_t)(c - o) : strlen(o);
}

/* mergeDNSOptions: a pod option replaces a host/cluster option of the same
 * name. */
static void
option_set(struct strv *s, const char *opt)
{
    size_t l = opt_name_len(opt);

    for (size_t i = 0; i < s->n; i++) {
        if (opt_name_len(s->v[i]) == l && strncmp(s->v[i], opt, l) == 0) {
            free(s->v[i]);
            s->v[i] = k3c_xstrdup(opt);
            return;
        }
    }
    strv_add(s, opt);
}

/* Host search domains without the root and trailing dots. */
static void
add_host_search(struct strv *s, char **search)
{
    for (size_t i = 0; search && search[i]; i++) {
        char *d = k3c_xstrdup(search[i]);
        size_t l = strlen(d);
        if (l && d[l - 1] == '.')
            d[--l] = 0;
        if (l)
            strv_add(s, d);
        free(d);
    }
}

/* formDNSSearchFitsLimits. */
static void
search_fit_limits(struct strv *s)
{
    size_t k = 0, total = 0;

    while (s->n > MAX_SEARCH_PATHS)
        free(s->v[--s->n]);
    for (size_t i = 0; i < s->n; i++) {
        if (strlen(s->v[i]) > MAX_SEARCH_LEN) {
            free(s->v[i]);
            continue;
        }
        s->v[k++] = s->v[i];
    }
    s->n = k;
    for (size_t i = 0; i < s->n; i++)
        total += strlen(s->v[i]) + (i ? 1 : 0);
    while (s->n && total > MAX_SEARCH_CHARS) {
        total -= strlen(s->v[s->n - 1]) + (s->n > 1 ? 1 : 0);
        free(s->v[--s->n]);
    }
}

static bool
host_network(const json_t *spec)
{
    return json_is_true(json_object_get(spec, "hostNetwork"));
}

char *
podspec_resolv_conf(const json_t *pod, const struct podspec_dns_config *c)
{
    const json_t *spec = json_object_get(pod, "spec");
    const char *ns =
        json_string_value(json_object_get(json_object_get(pod, "metadata"), "namespace"));
    const char *policy = json_string_value(json_object_get(spec, "dnsPolicy"));
    struct dns_resolv host = {0};
    struct strv servers = {0}, search = {0}, options = {0};
    struct k3c_buf b;
    bool cluster = false, none = false;

    if (!policy || strcmp(policy, "ClusterFirst") == 0)
        cluster = !host_network(spec);
    else if (strcmp(policy, "ClusterFirstWithHostNet") == 0)
        cluster = true;
    else if (strcmp(policy, "None") == 0)
        none = true;
    if (cluster && !(c->cluster_dns && *c->cluster_dns))
        cluster = false; /* no cluster DNS known: upstream falls back to the host's */
    dns_resolv_parse(c->host_resolv, &host);
    if (cluster) {
        const char *domain =
            c->cluster_domain && *c->cluster_domain ? c->cluster_domain : "cluster.local";
        char *d = k3c_xasprintf("%s.svc.%s", ns ? ns : "default", domain);
        strv_add(&servers, c->cluster_dns);
        strv_add(&search, d);
        free(d);
        d = k3c_xasprintf("svc.%s", domain);
        strv_add(&search, d);
        free(d);
        strv_add(&search, domain);
        add_host_search(&search, host.search);
        strv_add(&options, "ndots:5");
    } else if (!none) {
        /* Loopback stubs (127.0.0.53) are unreachable from a pod's own
         * network namespace, as K3s's --resolv-conf handling knows. */
        for (size_t i = 0; host.nameservers && host.nameservers[i]; i++)
            if (host_network(spec) || !dns_addr_is_loopback(host.nameservers[i]))
                strv_add(&servers, host.nameservers[i]);
        add_host_search(&search, host.search);
        for (size_t i = 0; host.options && host.options[i]; i++)
            option_set(&options, host.options[i]);
    }
    dns_resolv_fini(&host);
    const json_t *dc = json_object_get(spec, "dnsConfig");
    const json_t *it;
    size_t i;
    json_array_foreach(json_object_get(dc, "nameservers"), i, it)
        strv_add(&servers, json_string_value(it));
    json_array_foreach(json_object_get(dc, "searches"), i, it)
        strv_add(&search, json_string_value(it));
    json_array_foreach(json_object_get(dc, "options"), i, it)
    {
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *value = json_string_value(json_object_get(it, "value"));
        if (!name || !*name)
            continue;
        char *o = value ? k3c_xasprintf("%s:%s", name, value) : k3c_xstrdup(name);
        option_set(&options, o);
        free(o);
    }
    search_fit_limits(&search);

    k3c_buf_init(&b);
    for (size_t k = 0; k < servers.n && k < MAX_NAMESERVERS; k++)
        k3c_buf_appendf(&b, "nameserver %s\n", servers.v[k]);
    if (search.n) {
        k3c_buf_appendf(&b, "search");
        for (size_t k = 0; k < search.n; k++)
            k3c_buf_appendf(&b, " %s", search.v[k]);
        k3c_buf_appendf(&b, "\n");
    }
    if (options.n) {
        k3c_buf_appendf(&b, "options");
        for (size_t k = 0; k < options.n; k++)
            k3c_buf_appendf(&b, " %s", options.v[k]);
        k3c_buf_appendf(&b, "\n");
    }
    strv_clear(&servers);
    strv_clear(&search);
    strv_clear(&options);
    if (!b.data)
        k3c_buf_append(&b, "", 0);
    return k3c_buf_steal(&b, NULL);
}
