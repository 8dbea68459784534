/* SPDX-License-Identifier: Apache-2.0
 * harness.h - test and benchmark support: a real etcd (Debian's etcd-server)
 * started through k3c's own supervisor with TLS, on free loopback ports, in
 * a temporary directory that is removed afterwards. */
#ifndef K3C_TESTS_HARNESS_H
#define K3C_TESTS_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"
#include "etcd/etcd.h"
#include "store/store.h"

struct harness_etcd {
    char *dir; /* temporary root, removed by harness_etcd_stop */
    struct etcd_tls_paths tls;
    struct etcd *etcd;
    int client_port, peer_port;
};

/* A TCP port on 127.0.0.1 that is free right now. */
int harness_free_port(void);

/* Starts etcd and waits until it is healthy. NULL with err on failure. */
struct harness_etcd *harness_etcd_start(struct k3c_err *err);
/* Stops etcd and removes the directory. NULL is a no-op. */
void harness_etcd_stop(struct harness_etcd *h);
/* A store client with the harness's client certificate. */
struct store *harness_store_new(struct harness_etcd *h, struct k3c_err *err);

/* harness_etcd_start and harness_store_new together: both or neither.
 * Release with harness_etcd_store_stop. */
int harness_etcd_store_start(struct harness_etcd **etcd, struct store **store, struct k3c_err *err);
void harness_etcd_store_stop(struct harness_etcd *etcd, struct store *store);

/* rm -rf path (no symlinks followed). */
void harness_rm_rf(const char *path);
/* A new temporary directory under $TMPDIR or /tmp; caller frees the string. */
char *harness_mkdtemp(const char *tag);
/* A minimal container root: rootfs/bin/busybox (a copy of the host's
 * /bin/busybox from busybox-static) and one symlink to it per applet
 * (NULL-terminated). */
int harness_busybox_rootfs(const char *rootfs, const char *const *applets, struct k3c_err *err);
/* Polls cond(arg) every 20 ms until it is true or timeout_ms passes. */
bool harness_wait_for(bool (*cond)(void *arg), void *arg, int timeout_ms);

#endif
