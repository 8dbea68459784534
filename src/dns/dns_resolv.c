/* SPDX-License-Identifier: Apache-2.0
 * dns_resolv.c - resolv.conf(5) as the DNS forwarder (its upstreams) and
 * the kubelet (pods' resolv.conf for dnsPolicy Default and the host's
 * search list) read it. */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"

static void
strv_push(char ***v, const char *s)
{
    size_t n = 0;

    while (*v && (*v)[n])
        n++;
    *v = k3c_xrealloc(*v, (n + 2) * sizeof(char *));
    (*v)[n] = k3c_xstrdup(s);
    (*v)[n + 1] = NULL;
}

static void
strv_clear(char ***v)
{
    for (size_t i = 0; *v && (*v)[i]; i++)
        free((*v)[i]);
    free(*v);
    *v = NULL;
}

void
dns_resolv_parse(const char *text, struct dns_resolv *out)
{
    _cleanup_free_ char *copy = k3c_xstrdup(text ? text : "");
    char *save = NULL;

    memset(out, 0, sizeof(*out));
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *ws = NULL, *key = strtok_r(line, " \t\r", &ws);
        if (!key || key[0] == '#' || key[0] == ';')
            continue;
        bool search = strcmp(key, "search") == 0 || strcmp(key, "domain") == 0;
        if (search)
            strv_clear(&out->search);
        for (char *w = strtok_r(NULL, " \t\r", &ws); w; w = strtok_r(NULL, " \t\r", &ws)) {
            if (w[0] == '#' || w[0] == ';')
                break;
            if (strcmp(key, "nameserver") == 0) {
                strv_push(&out->nameservers, w);
                break;
            }
            if (search)
                strv_push(&out->search, w);
            else if (strcmp(key, "options") == 0)
                strv_push(&out->options, w);
        }
    }
}

int
dns_resolv_load(const char *path, struct dns_resolv *out, struct k3c_err *err)
{
    _cleanup_free_ char *text = NULL;

    memset(out, 0, sizeof(*out));
    if (k3c_read_file(path, &text, NULL, err) < 0)
        return k3c_err_wrap(err, "resolv.conf %s", path);
    dns_resolv_parse(text, out);
    return 0;
}

void
dns_resolv_fini(struct dns_resolv *r)
{
    strv_clear(&r->nameservers);
    strv_clear(&r->search);
    strv_clear(&r->options);
}

bool
dns_addr_is_loopback(const char *ip)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (inet_pton(AF_INET, ip, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, ip, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}
