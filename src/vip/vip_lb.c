/* SPDX-License-Identifier: Apache-2.0
 * vip_lb.c - which LoadBalancer addresses the VIP's holder announces: an
 * informer on Services keeps, per Service, the addresses of its
 * status.loadBalancer.ingress that lie in --servicelb-pool (ServiceLB gives
 * a Service one when it asks for it, controllers/servicelb.c), and hands
 * the union to the address thread (vip_fsm.c) after each change. The
 * holder puts them on its interface with the VIP, announces them with the
 * same gratuitous ARP, and drops them with it; the service proxy's rules
 * (net/proxy_rules.c) answer on them like on any LoadBalancer IP. */
#define LOG_COMPONENT "vip"
#include "base/cleanup.h"
#include "base/ip4pool.h"
#include "base/log.h"
#include "base/util.h"
#include "client/informer.h"
#include "vip/vip-internal.h"

#include <stdlib.h>
#include <string.h>

struct vip_lb {
    struct ip4pool pool;
    char vip_addr[16];
    struct http_client *api;
    struct informer *services;
    json_t *by_service; /* "ns/name" -> array of addresses; informer thread only */
    vip_lb_changed_fn *changed;
    void *ud;
};

json_t *
vip_lb_service_addresses(const json_t *svc, const struct ip4pool *pool, const char *vip_addr)
{
    const char *type = json_string_value(json_object_get(json_object_get(svc, "spec"), "type"));
    const json_t *ingress =
        json_object_get(json_object_get(json_object_get(svc, "status"), "loadBalancer"), "ingress");
    json_t *out = json_array(), *e;
    size_t i;

    if (!type || strcmp(type, "LoadBalancer") != 0)
        return out;
    json_array_foreach(ingress, i, e)
    {
        const char *ip = json_string_value(json_object_get(e, "ip"));

        if (ip && strcmp(ip, vip_addr) != 0 && ip4pool_contains(pool, ip))
            json_array_append_new(out, json_string(ip));
    }
    return out;
}

static int
addr_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The union of every Service's addresses, sorted, without repeats. */
static void
publish(struct vip_lb *l)
{
    const char *key;
    json_t *addrs, *a;
    size_t n = 0, cap = 0, i, out = 0;
    char(*v)[16] = NULL;

    json_object_foreach(l->by_service, key, addrs)
    {
        json_array_foreach(addrs, i, a)
        {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                v = k3c_xrealloc(v, cap * sizeof(*v));
            }
            snprintf(v[n++], sizeof(v[0]), "%s", json_string_value(a));
        }
    }
    if (n)
        qsort(v, n, sizeof(*v), addr_cmp);
    for (i = 0; i < n; i++)
        if (out == 0 || strcmp(v[i], v[out - 1]) != 0)
            memmove(v[out++], v[i], sizeof(v[0]));
    l->changed(l->ud, (const char(*)[16])v, out);
    free(v);
}

static void
service_key(const json_t *svc, char *out, size_t len)
{
    const json_t *md = json_object_get(svc, "metadata");

    snprintf(out, len, "%s/%s", json_string_value(json_object_get(md, "namespace")) ?: "",
             json_string_value(json_object_get(md, "name")) ?: "");
}

static void
on_upsert(void *ud, const json_t *svc, const json_t *old)
{
    struct vip_lb *l = ud;
    char key[512];
    json_t *addrs = vip_lb_service_addresses(svc, &l->pool, l->vip_addr);
    const json_t *had;

    (void)old;
    service_key(svc, key, sizeof(key));
    had = json_object_get(l->by_service, key);
    if (json_array_size(addrs) == 0 && !had) {
        json_decref(addrs);
        return;
    }
    if (had && json_equal(had, addrs)) {
        json_decref(addrs);
        return;
    }
    if (json_array_size(addrs))
        json_object_set_new(l->by_service, key, addrs);
    else {
        json_object_del(l->by_service, key);
        json_decref(addrs);
    }
    publish(l);
}

static void
on_delete(void *ud, const json_t *svc)
{
    struct vip_lb *l = ud;
    char key[512];

    service_key(svc, key, sizeof(key));
    if (json_object_del(l->by_service, key) == 0)
        publish(l);
}

struct vip_lb *
vip_lb_new(const struct vip_config *cfg, const char *vip_addr, vip_lb_changed_fn *changed, void *ud,
           struct k3c_err *err)
{
    static const struct informer_ops ops = {on_upsert, on_delete, NULL};
    struct vip_lb *l = k3c_xcalloc(1, sizeof(*l));
    const char *endpoints[] = {cfg->api_url, NULL};
    struct http_client_config hc = {.endpoints = endpoints,
                                    .ca_file = cfg->api_ca,
                                    .cert_file = cfg->api_cert,
                                    .key_file = cfg->api_key};
    struct informer_config ic = {
        .path = "/api/v1/services", .name = "services (vip)", .ops = &ops, .userdata = l};

    snprintf(l->vip_addr, sizeof(l->vip_addr), "%s", vip_addr);
    l->changed = changed;
    l->ud = ud;
    l->by_service = json_object();
    if (ip4pool_parse(cfg->lb_pool, &l->pool, err) < 0) {
        k3c_err_wrap(err, "--servicelb-pool");
        goto fail;
    }
    /* Its own client: the VIP's has a 1 s request timeout for /readyz. */
    l->api = http_client_new(&hc, err);
    if (!l->api)
        goto fail;
    ic.client = l->api;
    l->services = informer_new(&ic, err);
    if (!l->services)
        goto fail;
    return l;
fail:
    vip_lb_free(l);
    return NULL;
}

int
vip_lb_start(struct vip_lb *l, struct k3c_err *err)
{
    return informer_start(l->services, err);
}

void
vip_lb_free(struct vip_lb *l)
{
    if (!l)
        return;
    informer_free(l->services);
    http_client_free(l->api);
    json_decref(l->by_service);
    free(l);
}
