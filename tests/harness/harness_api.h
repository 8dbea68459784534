/* SPDX-License-Identifier: Apache-2.0
 * harness_api.h - an in-process API server (real TLS, real etcd from
 * harness.h) on a free loopback port, with a server CA, a client CA and an
 * admin client certificate (system:masters) in a temporary directory. */
#ifndef K3C_TESTS_HARNESS_API_H
#define K3C_TESTS_HARNESS_API_H

#include "harness.h"

#include "api/api.h"
#include "controllers/controller.h"

struct harness_api {
    struct harness_etcd *etcd;
    struct store *store;
    struct api_server *srv;
    char *dir; /* certificates */
    char *ca_file, *admin_cert, *admin_key;
    char *url; /* https://127.0.0.1:<port> */
    int port;
};

/* etcd, store, certificates and a listening API server. NULL with err. */
struct harness_api *harness_api_start(struct k3c_err *err);
/* Stops and removes everything. NULL is a no-op. */
void harness_api_stop(struct harness_api *h);
/* A ctl_config for a manager talking to h as the admin (identity as given;
 * short lease settings: 3 s lease, 2 s renew deadline, 1 s retry). */
struct ctl_config harness_api_ctl_config(const struct harness_api *h, const char *identity);

#endif
