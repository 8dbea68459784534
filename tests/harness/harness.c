/* SPDX-License-Identifier: Apache-2.0
 * harness.c - a real, TLS-secured etcd for tests and benchmarks, started by
 * k3c's etcd supervisor on loopback ports chosen at run time. */
#include "harness.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
harness_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    return ntohs(sa.sin_port);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
harness_rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *
harness_mkdtemp(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = k3c_xasprintf("%s/k3c-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);

    if (!mkdtemp(dir)) {
        free(dir);
        return NULL;
    }
    return dir;
}

bool
harness_wait_for(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = k3c_now_ms() + timeout_ms;

    for (;;) {
        if (cond(arg))
            return true;
        if (k3c_now_ms() >= deadline)
            return false;
        k3c_sleep_ms(20);
    }
}

struct harness_etcd *
harness_etcd_start(struct k3c_err *err)
{
    struct harness_etcd *h = k3c_xcalloc(1, sizeof(*h));
    _cleanup_free_ char *tls_dir = NULL, *data = NULL, *log = NULL;
    struct etcd_config ec = {0};

    h->dir = harness_mkdtemp("etcd");
    if (!h->dir) {
        free(h);
        k3c_err_set(err, K3C_E_SYSTEM, "mkdtemp failed");
        return NULL;
    }
    tls_dir = k3c_xasprintf("%s/tls", h->dir);
    data = k3c_xasprintf("%s/db/etcd", h->dir);
    log = k3c_xasprintf("%s/etcd.log", h->dir);
    etcd_tls_paths_init(&h->tls, tls_dir);
    h->client_port = harness_free_port();
    do
        h->peer_port = harness_free_port();
    while (h->peer_port == h->client_port);
    ec.binary = "etcd";
    ec.data_dir = data;
    ec.log_file = log;
    ec.tls = &h->tls;
    ec.node_name = "harness";
    ec.node_ip = "127.0.0.1";
    ec.client_port = h->client_port;
    ec.peer_port = h->peer_port;
    ec.heartbeat_interval_ms = 100;
    ec.election_timeout_ms = 1000;
    if (etcd_certs_ensure(&h->tls, "harness", "127.0.0.1", err) < 0)
        goto fail;
    h->etcd = etcd_new(&ec, err);
    if (!h->etcd || etcd_start(h->etcd, err) < 0 || etcd_wait_healthy(h->etcd, 30000, err) < 0)
        goto fail;
    return h;
fail:
    harness_etcd_stop(h);
    return NULL;
}

void
harness_etcd_stop(struct harness_etcd *h)
{
    if (!h)
        return;
    etcd_free(h->etcd);
    etcd_tls_paths_fini(&h->tls);
    if (!getenv("K3C_KEEP_TEST_DIRS"))
        harness_rm_rf(h->dir);
    free(h->dir);
    free(h);
}

struct store *
harness_store_new(struct harness_etcd *h, struct k3c_err *err)
{
    const char *endpoints[] = {etcd_client_url(h->etcd), NULL};
    const struct store_config sc = {.endpoints = endpoints,
                                    .ca_file = h->tls.ca_cert,
                                    .cert_file = h->tls.client_cert,
                                    .key_file = h->tls.client_key,
                                    .retry_timeout_ms = 20000};

    return store_new(&sc, err);
}

int
harness_etcd_store_start(struct harness_etcd **etcd, struct store **store, struct k3c_err *err)
{
    *etcd = harness_etcd_start(err);
    if (!*etcd)
        return k3c_err_wrap(err, "etcd");
    *store = harness_store_new(*etcd, err);
    if (!*store) {
        harness_etcd_stop(*etcd);
        *etcd = NULL;
        return k3c_err_wrap(err, "store");
    }
    return 0;
}

void
harness_etcd_store_stop(struct harness_etcd *etcd, struct store *store)
{
    store_free(store);
    harness_etcd_stop(etcd);
}

int
harness_busybox_rootfs(const char *rootfs, const char *const *applets, struct k3c_err *err)
{
    _cleanup_free_ char *bin = k3c_xasprintf("%s/bin", rootfs);
    _cleanup_free_ char *bb = k3c_xasprintf("%s/busybox", bin);
    _cleanup_free_ char *data = NULL;
    size_t len = 0;

    if (k3c_mkdir_p(bin, 0755, err) < 0 || k3c_read_file("/bin/busybox", &data, &len, err) < 0 ||
        k3c_write_file(bb, data, len, 0755, err) < 0)
        return -1;
    for (size_t i = 0; applets[i]; i++) {
        _cleanup_free_ char *l = k3c_xasprintf("%s/%s", bin, applets[i]);

        if (symlink("busybox", l) < 0)
            return k3c_err_sys(err, errno, "symlink %s", l);
    }
    return 0;
}
