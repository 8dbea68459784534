/* SPDX-License-Identifier: Apache-2.0
 * agent-internal.h - state shared by agent.c (node, lease, heartbeat) and
 * agent_join.c. The heartbeat thread owns the API client after start. */
#ifndef K3C_AGENT_INTERNAL_H
#define K3C_AGENT_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "agent/agent.h"
#include "client/client.h"

struct agent_paths {
    char *dir;
    char *server_ca;
    char *client_cert, *client_key;
    char *serving_cert, *serving_key;
    char *kubeconfig;
    char *client_ca; /* kubelet API clients must chain to it */
};

struct agent {
    char *server_url, *token, *node_name, *node_ip;
    char **labels, **taints;
    bool control_plane;
    bool etcd_member;
    int lease_renew_s, status_every_s;
    struct agent_paths paths;
    bool run_pods;
    struct kubelet_config kcfg; /* strings owned (char * in disguise) */
    struct kubelet *kubelet;
    int kubelet_port;                /* kubelet API; -1: not served */
    struct kubelet_server *kserver;  /* kubelet_server.h */
    struct runtime *kserver_runtime; /* its view of the containers (reads + exec) */

    struct http_client *api; /* node credentials; used by the heartbeat thread */
    pthread_t thread;
    bool running;
    pthread_mutex_t lock; /* with wake: stop request */
    pthread_cond_t wake;
    bool stopping;
};

#endif
