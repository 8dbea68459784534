/* SPDX-License-Identifier: Apache-2.0
 * dns_hosts.c - a hosts(5) file answered before the cluster zone, as
 * K3s's CoreDNS answers its NodeHosts (hosts plugin: TTL 60, reloaded
 * when the file changes, fallthrough for names it does not hold). */
#include "dns/dns-internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/util.h"

#define HOSTS_TTL 60

struct hosts_ent {
    struct dns_name name;
    uint8_t family;
    uint8_t ip[16];
};

struct dns_hosts {
    char *path;
    struct stat st;
    struct hosts_ent *ents;
    size_t n;
};

static void
hosts_parse(struct dns_hosts *h, char *text)
{
    char *save = NULL;
    size_t cap = 0;

    free(h->ents);
    h->ents = NULL;
    h->n = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *hash = strchr(line, '#'), *ws = NULL;
        if (hash)
            *hash = 0;
        char *ip = strtok_r(line, " \t\r", &ws);
        struct hosts_ent e = {0};
        if (!ip)
            continue;
        if (inet_pton(AF_INET, ip, e.ip) == 1)
            e.family = 4;
        else if (inet_pton(AF_INET6, ip, e.ip) == 1)
            e.family = 6;
        else
            continue;
        for (char *n = strtok_r(NULL, " \t\r", &ws); n; n = strtok_r(NULL, " \t\r", &ws)) {
            if (dns_name_from_str(&e.name, n) < 0)
                continue;
            if (h->n == cap) {
                cap = cap ? cap * 2 : 16;
                h->ents = k3c_xrealloc(h->ents, cap * sizeof(*h->ents));
            }
            h->ents[h->n++] = e;
        }
    }
}

struct dns_hosts *
dns_hosts_new(const char *path)
{
    struct dns_hosts *h = k3c_xcalloc(1, sizeof(*h));

    h->path = k3c_xstrdup(path);
    dns_hosts_reload(h);
    return h;
}

void
dns_hosts_free(struct dns_hosts *h)
{
    if (!h)
        return;
    free(h->ents);
    free(h->path);
    free(h);
}

void
dns_hosts_reload(struct dns_hosts *h)
{
    struct stat st;
    struct k3c_err err = {0};
    _cleanup_free_ char *text = NULL;

    if (stat(h->path, &st) < 0) {
        memset(&st, 0, sizeof(st));
    } else if (st.st_mtim.tv_sec == h->st.st_mtim.tv_sec &&
               st.st_mtim.tv_nsec == h->st.st_mtim.tv_nsec && st.st_size == h->st.st_size &&
               st.st_ino == h->st.st_ino) {
        return;
    }
    h->st = st;
    if (st.st_ino && k3c_read_file(h->path, &text, NULL, &err) == 0) {
        hosts_parse(h, text);
    } else {
        free(h->ents);
        h->ents = NULL;
        h->n = 0;
    }
}

size_t
dns_hosts_answer(struct dns_hosts *h, const struct dns_query *q, uint8_t *out, size_t cap)
{
    struct dns_builder b;
    bool known = false;
    int fam = q->qtype == DNS_TYPE_A ? 4 : q->qtype == DNS_TYPE_AAAA ? 6 : 0;

    if (!h || !h->n || !fam || q->qclass != DNS_CLASS_IN)
        return 0;
    dns_builder_init(&b, out, cap, q, true);
    for (size_t i = 0; i < h->n; i++) {
        if (!dns_name_equal(&h->ents[i].name, &q->qname))
            continue;
        known = true;
        if (h->ents[i].family == 4 && fam == 4)
            dns_builder_a(&b, DNS_SEC_ANSWER, &q->qname, HOSTS_TTL, h->ents[i].ip);
        else if (h->ents[i].family == 6 && fam == 6)
            dns_builder_aaaa(&b, DNS_SEC_ANSWER, &q->qname, HOSTS_TTL, h->ents[i].ip);
    }
    if (!known)
        return 0;
    if (q->has_edns)
        dns_builder_opt(&b, DNS_EDNS_UDP_MAX);
    return dns_builder_finish(&b);
}
