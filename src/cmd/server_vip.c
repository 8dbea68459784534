/* SPDX-License-Identifier: Apache-2.0
 * server_vip.c - `k3c server --vip`: wires src/vip/ to the server's store
 * endpoint, certificates and API server. Kept out of cmd_server.c, which
 * only calls server_vip_start after the API is up and server_vip_stop
 * first on shutdown. */
#define LOG_COMPONENT "server"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "api/api.h"
#include "cmd/server.h"
#include "etcd/etcd.h"
#include "base/ip4pool.h"
#include "vip/vip.h"

#include <string.h>

/* At most this long for the connections through the VIP to close on a
 * shutdown (the hub's pass over the parked streams, then libmicrohttpd's). */
#define SERVER_VIP_DRAIN_MS 2000

static void
vip_metrics(void *data, struct k3c_buf *b)
{
    vip_metrics_append(data, b);
}

/* The holder steps aside while it keeps running (vip_config.drain). */
static void
vip_drain(void *ud, const char *address, int64_t max_ms)
{
    if (address)
        api_server_drain_address(ud, address, max_ms);
    else
        api_server_drain_end(ud);
}

struct vip *
server_vip_start(const struct k3c_config *cfg, const char *tls_dir, const char *etcd_url,
                 const struct etcd_tls_paths *etls, struct api_server *api, struct k3c_err *err)
{
    struct api_tls_paths tls;
    _cleanup_free_ char *url = k3c_xasprintf("https://127.0.0.1:%d", cfg->https_listen_port);
    const char *endpoints[] = {etcd_url ? etcd_url : cfg->datastore_endpoint, NULL};
    char addr[16];
    int prefix;
    struct vip_config vc = {0};
    struct vip *v = NULL;

    if (vip_parse_address(cfg->vip, addr, &prefix, err) < 0)
        return NULL;
    api_tls_paths_init(&tls, tls_dir);
    vc.address = cfg->vip;
    vc.interface = cfg->vip_interface;
    vc.node_ip = cfg->node_ip;
    vc.node_name = cfg->node_name;
    vc.store_endpoints = endpoints;
    vc.store_ca = etcd_url ? etls->ca_cert : cfg->datastore_cafile;
    vc.store_cert = etcd_url ? etls->client_cert : cfg->datastore_certfile;
    vc.store_key = etcd_url ? etls->client_key : cfg->datastore_keyfile;
    vc.api_url = url;
    vc.api_ca = tls.server_ca_cert;
    vc.api_cert = tls.admin_cert;
    vc.api_key = tls.admin_key;
    vc.lb_pool = cfg->servicelb_pool;
    vc.drain = vip_drain;
    vc.drain_ud = api;
    v = vip_new(&vc, err);
    if (v && vip_start(v, err) < 0) {
        vip_free(v);
        v = NULL;
    }
    if (v) {
        struct k3c_err kerr = {0};

        api_server_set_metrics_fn(api, vip_metrics, v);
        if (kubeconfig_write_host(cfg->write_kubeconfig, cfg->write_kubeconfig_mode, &tls, addr,
                                  cfg->https_listen_port, &kerr) < 0)
            log_warn("kubeconfig for the VIP: %s", kerr.msg);
    }
    api_tls_paths_fini(&tls);
    return v;
}

void
server_vip_stop(struct vip *v, struct api_server *api, const struct k3c_config *cfg)
{
    struct k3c_err err = {0};
    char addr[16];
    int prefix;

    if (!v)
        return;
    /* While the address is still ours: a client's watch through it would
     * otherwise hang once the next holder has it (its FIN could not leave). */
    if (api && vip_parse_address(cfg->vip, addr, &prefix, &err) == 0)
        api_server_drain_address(api, addr, SERVER_VIP_DRAIN_MS);
    if (api)
        api_server_set_metrics_fn(api, NULL, NULL);
    vip_free(v);
}

int
server_lb_pool_check(const struct k3c_config *cfg, struct k3c_err *err)
{
    struct ip4pool pool;

    if (!cfg->servicelb_pool || !*cfg->servicelb_pool)
        return 0;
    if (ip4pool_parse(cfg->servicelb_pool, &pool, err) < 0)
        return k3c_err_wrap(err, "--servicelb-pool");
    if (!cfg->vip)
        return k3c_err_set(err, K3C_E_INVALID,
                           "--servicelb-pool needs --vip: the VIP's holder announces the pool's "
                           "addresses");
    if (cfg->disable_agent || cfg->disable_kube_proxy)
        return k3c_err_set(err, K3C_E_INVALID,
                           "--servicelb-pool with %s: this server may hold the pool's addresses "
                           "and its service proxy must answer on them",
                           cfg->disable_agent ? "--disable-agent" : "--disable-kube-proxy");
    return 0;
}
