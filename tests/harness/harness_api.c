/* SPDX-License-Identifier: Apache-2.0
 * harness_api.c - an in-process API server for tests and benchmarks. */
#include "harness_api.h"

#include "base/cleanup.h"
#include "base/util.h"
#include "pki/pki.h"

#include <stdlib.h>

static int
make_certs(struct harness_api *h, struct k3c_err *err)
{
    _cleanup_free_ char *ca_key = k3c_xasprintf("%s/server-ca.key", h->dir);
    _cleanup_free_ char *cca = k3c_xasprintf("%s/client-ca.crt", h->dir);
    _cleanup_free_ char *cca_key = k3c_xasprintf("%s/client-ca.key", h->dir);
    _cleanup_free_ char *cert = k3c_xasprintf("%s/serving.crt", h->dir);
    _cleanup_free_ char *key = k3c_xasprintf("%s/serving.key", h->dir);
    const char *const dns[] = {"localhost", NULL};
    const char *const ips[] = {"127.0.0.1", NULL};
    const struct pki_leaf_spec serving = {.common_name = "kube-apiserver",
                                          .usage = PKI_USAGE_SERVER,
                                          .dns_sans = dns,
                                          .ip_sans = ips};
    const struct pki_leaf_spec admin = {
        .common_name = "system:admin", .organization = "system:masters", .usage = PKI_USAGE_CLIENT};
    struct api_config ac = {0};

    if (pki_ensure_ca(h->ca_file, ca_key, "test-server-ca", err) < 0 ||
        pki_ensure_ca(cca, cca_key, "test-client-ca", err) < 0 ||
        pki_ensure_leaf(h->ca_file, ca_key, cert, key, &serving, err) < 0 ||
        pki_ensure_leaf(cca, cca_key, h->admin_cert, h->admin_key, &admin, err) < 0)
        return -1;
    ac.bind_address = "127.0.0.1";
    ac.port = h->port;
    ac.serving_cert_file = cert;
    ac.serving_key_file = key;
    ac.client_ca_file = cca;
    h->srv = api_server_new(&ac, h->store, err);
    if (!h->srv || api_server_start(h->srv, err) < 0)
        return -1;
    return 0;
}

struct harness_api *
harness_api_start(struct k3c_err *err)
{
    struct harness_api *h = k3c_xcalloc(1, sizeof(*h));

    if (harness_etcd_store_start(&h->etcd, &h->store, err) < 0) {
        free(h);
        return NULL;
    }
    h->dir = harness_mkdtemp("api");
    h->ca_file = k3c_xasprintf("%s/server-ca.crt", h->dir);
    h->admin_cert = k3c_xasprintf("%s/admin.crt", h->dir);
    h->admin_key = k3c_xasprintf("%s/admin.key", h->dir);
    h->port = harness_free_port();
    h->url = k3c_xasprintf("https://127.0.0.1:%d", h->port);
    if (make_certs(h, err) < 0) {
        harness_api_stop(h);
        return NULL;
    }
    return h;
}

void
harness_api_stop(struct harness_api *h)
{
    if (!h)
        return;
    api_server_free(h->srv);
    harness_etcd_store_stop(h->etcd, h->store);
    if (h->dir)
        harness_rm_rf(h->dir);
    free(h->dir);
    free(h->ca_file);
    free(h->admin_cert);
    free(h->admin_key);
    free(h->url);
    free(h);
}

struct ctl_config
harness_api_ctl_config(const struct harness_api *h, const char *identity)
{
    struct ctl_config c = {0};

    c.api_url = h->url;
    c.ca_file = h->ca_file;
    c.cert_file = h->admin_cert;
    c.key_file = h->admin_key;
    c.identity = identity;
    c.lease_duration_s = 3;
    c.renew_deadline_s = 2;
    c.retry_period_s = 1;
    return c;
}
