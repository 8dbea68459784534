/* SPDX-License-Identifier: Apache-2.0
 * deviceplugin-internal.h - the device manager's state, shared by
 * dp_manager.c (the socket, the streams) and dp_allocate.c (pod starts). */
#ifndef K3C_DEVICEPLUGIN_INTERNAL_H
#define K3C_DEVICEPLUGIN_INTERNAL_H

#include "deviceplugin/deviceplugin.h"
#include "grpc/grpc_conn.h"
#include "api.pb-c.h"

#include <pthread.h>

#define DP_MAX_CLIENTS   32 /* Registration connections at once */
#define DP_MAX_ENDPOINTS 64 /* registered resources followed */

/* One registered plugin. conn and over belong to the manager thread;
 * devices and connected are read by others under dp->lock. */
struct dp_endpoint {
    struct deviceplugin *dp;
    struct dp_endpoint *next;
    char *resource; /* example.com/foo */
    char *sock;     /* <dir>/<endpoint> */
    bool pre_start, preferred;
    struct grpc_conn *conn; /* its ListAndWatch stream; NULL once over */
    bool over;              /* the stream ended */
    bool replaced;          /* a newer registration of its resource took over */
    bool connected;         /* the stream is live: its devices are allocatable */
    json_t *devices;        /* {"<id>": healthy?}, in the plugin's order */
};

struct deviceplugin {
    pthread_mutex_t lock;
    char *dir, *sock;
    char *checkpoint; /* <dir>/k3c_checkpoint.json */
    int listen_fd, wake_fd;
    pthread_t thread;
    bool running, stopping;
    struct grpc_conn *clients[DP_MAX_CLIENTS]; /* Registration connections */
    size_t n_clients;
    struct dp_endpoint *eps;
    bool changed; /* for the agent: the Node's counts */
    bool dirty;   /* for the checkpoint */
};

/* What a pod start needs of one endpoint, copied out under the lock. */
struct dp_snapshot {
    char *sock;
    bool pre_start, preferred;
    char **healthy; /* device IDs, NULL-terminated */
};
/* -1 when no plugin serves resource. */
int dp_endpoint_snapshot(struct deviceplugin *dp, const char *resource, struct dp_snapshot *out);
void dp_snapshot_fini(struct dp_snapshot *s);

/* The Registration service (grpc_handler_fn); dp NULL checks and parses
 * only (the fuzzer). */
int dp_registration_handler(void *ud, const char *method, const uint8_t *req, size_t len,
                            uint8_t **resp, size_t *resp_len, char **message);
bool dp_resource_name_valid(const char *name);

#endif
