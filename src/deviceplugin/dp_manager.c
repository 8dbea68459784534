/* SPDX-License-Identifier: Apache-2.0
 * dp_manager.c - the kubelet's device manager (deviceplugin.h): one thread
 * serves Registration on <dir>/kubelet.sock and follows each registered
 * plugin's ListAndWatch stream, all on one poll loop. A plugin that
 * registers its resource again (a restarted plugin) replaces the old
 * endpoint; a plugin whose stream ends keeps its devices in capacity with
 * none allocatable until it registers again (upstream keeps them for a
 * grace period, then drops them). A new kubelet.sock (an agent restart) is
 * what upstream plugins watch for to register again. The registered
 * resources and their devices are kept in <dir>/k3c_checkpoint.json (as
 * upstream's kubelet_internal_checkpoint): after a restart they are in
 * capacity, with nothing allocatable, until their plugins register again. */
#define LOG_COMPONENT "deviceplugin"
#include "deviceplugin/deviceplugin-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define REGISTER_METHOD "/v1beta1.Registration/Register"
#define LIST_AND_WATCH  "/v1beta1.DevicePlugin/ListAndWatch"

static void
endpoint_free(struct dp_endpoint *ep)
{
    if (!ep)
        return;
    grpc_conn_free(ep->conn); /* may end the stream: stream_end below */
    json_decref(ep->devices);
    free(ep->resource);
    free(ep->sock);
    free(ep);
}

/* ---- ListAndWatch ------------------------------------------------------- */

static void
stream_devices(void *ud, const uint8_t *msg, size_t len)
{
    struct dp_endpoint *ep = ud;
    struct deviceplugin *dp = ep->dp;
    V1beta1__ListAndWatchResponse *r = v1beta1__list_and_watch_response__unpack(NULL, len, msg);
    json_t *devs;
    size_t healthy = 0;

    if (!r) {
        log_warn("(resource %s) ListAndWatch: a message that does not parse: ignored",
                 ep->resource);
        return;
    }
    devs = json_object();
    for (size_t i = 0; i < r->n_devices; i++) {
        bool ok = r->devices[i]->health && strcmp(r->devices[i]->health, "Healthy") == 0;

        if (!r->devices[i]->id || !*r->devices[i]->id)
            continue;
        json_object_set_new(devs, r->devices[i]->id, json_boolean(ok));
        healthy += ok;
    }
    v1beta1__list_and_watch_response__free_unpacked(r, NULL);
    pthread_mutex_lock(&dp->lock);
    if (!json_equal(devs, ep->devices) || !ep->connected)
        dp->changed = dp->dirty = true;
    json_decref(ep->devices);
    ep->devices = devs;
    ep->connected = true;
    pthread_mutex_unlock(&dp->lock);
    log_info("(resource %s) %zu devices, %zu healthy", ep->resource, json_object_size(devs),
             healthy);
}

static void
stream_end(void *ud, int status, const char *message)
{
    struct dp_endpoint *ep = ud;
    struct deviceplugin *dp = ep->dp;

    pthread_mutex_lock(&dp->lock);
    ep->over = true;
    if (ep->connected)
        dp->changed = dp->dirty = true;
    ep->connected = false;
    pthread_mutex_unlock(&dp->lock);
    if (!ep->replaced)
        log_warn("(resource %s) plugin %s gone (ListAndWatch ended: code %d %s): its devices "
                 "are not allocatable until it registers again",
                 ep->resource, ep->sock, status, message ? message : "");
}

static int
endpoint_connect(struct dp_endpoint *ep, struct k3c_err *err)
{
    uint8_t empty = 0;
    int fd = grpc_unix_connect(ep->sock, err);

    if (fd < 0)
        return -1;
    ep->conn = grpc_conn_client_new(fd);
    return grpc_call_start(ep->conn, LIST_AND_WATCH, &empty, 0, stream_devices, stream_end, ep,
                           err);
}

/* ---- Registration ------------------------------------------------------- */

/* An extended resource name: <lower-case DNS subdomain>/<name>, not in a
 * kubernetes.io domain (those are the kubelet's own). */
bool
dp_resource_name_valid(const char *name)
{
    const char *slash = strchr(name, '/');
    size_t plen;
    const char *n;

    if (!slash || slash == name || strchr(slash + 1, '/'))
        return false;
    plen = (size_t)(slash - name);
    if (plen > 253 || !strchr(name, '.') || name[0] == '.' || name[0] == '-' || slash[-1] == '.' ||
        slash[-1] == '-')
        return false;
    for (const char *p = name; p < slash; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            return false;
    if ((plen == 13 && strncmp(name, "kubernetes.io", 13) == 0) ||
        (plen > 14 && strncmp(slash - 14, ".kubernetes.io", 14) == 0))
        return false;
    n = slash + 1;
    if (!*n || strlen(n) > 63)
        return false;
    for (const char *p = n; *p; p++) {
        bool alnum =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');

        if (!alnum && ((p == n || !p[1]) || !strchr("-_.", *p)))
            return false;
    }
    return true;
}

/* Puts the new endpoint in place of one for the same resource (a
 * restarted plugin). Manager thread only; the list is changed under the
 * lock since other threads read it. */
static void
endpoint_install(struct deviceplugin *dp, struct dp_endpoint *ep)
{
    struct dp_endpoint **pp, *old = NULL;

    pthread_mutex_lock(&dp->lock);
    for (pp = &dp->eps; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->resource, ep->resource) == 0) {
            old = *pp;
            *pp = old->next;
            break;
        }
    ep->next = dp->eps;
    dp->eps = ep;
    dp->changed = dp->dirty = true;
    if (old)
        old->replaced = true;
    pthread_mutex_unlock(&dp->lock);
    endpoint_free(old);
}

static int
do_register(struct deviceplugin *dp, const V1beta1__RegisterRequest *r, char **message)
{
    struct dp_endpoint *ep;
    struct k3c_err err = {0};

    if (!r->version || strcmp(r->version, "v1beta1") != 0) {
        *message = k3c_xasprintf("Unsupported version: %s (this kubelet serves v1beta1)",
                                 r->version ? r->version : "");
        return GRPC_INVALID_ARGUMENT;
    }
    if (!r->resource_name || !dp_resource_name_valid(r->resource_name)) {
        *message = k3c_xasprintf("invalid resource name: %s (want <domain>/<name>, not in "
                                 "kubernetes.io)",
                                 r->resource_name ? r->resource_name : "");
        return GRPC_INVALID_ARGUMENT;
    }
    if (!r->endpoint || !*r->endpoint || strchr(r->endpoint, '/') ||
        strcmp(r->endpoint, "kubelet.sock") == 0 || strcmp(r->endpoint, "..") == 0 ||
        strcmp(r->endpoint, ".") == 0) {
        *message = k3c_xasprintf("invalid endpoint %s: a socket name in %s",
                                 r->endpoint ? r->endpoint : "", dp->dir);
        return GRPC_INVALID_ARGUMENT;
    }
    ep = k3c_xcalloc(1, sizeof(*ep));
    ep->dp = dp;
    ep->resource = k3c_xstrdup(r->resource_name);
    ep->sock = k3c_xasprintf("%s/%s", dp->dir, r->endpoint);
    ep->devices = json_object();
    ep->pre_start = r->options && r->options->pre_start_required;
    ep->preferred = r->options && r->options->get_preferred_allocation_available;
    if (endpoint_connect(ep, &err) < 0) {
        *message = k3c_xasprintf("failed to dial device plugin: %s", err.msg);
        endpoint_free(ep);
        return GRPC_UNKNOWN;
    }
    log_info("(resource %s) plugin registered at %s%s%s", ep->resource, ep->sock,
             ep->preferred ? ", offers GetPreferredAllocation" : "",
             ep->pre_start ? ", wants PreStartContainer" : "");
    endpoint_install(dp, ep);
    return GRPC_OK;
}

int
dp_registration_handler(void *ud, const char *method, const uint8_t *req, size_t len,
                        uint8_t **resp, size_t *resp_len, char **message)
{
    struct deviceplugin *dp = ud;
    V1beta1__RegisterRequest *r;
    int st;

    *resp = NULL;
    *resp_len = 0;
    if (strcmp(method, REGISTER_METHOD) != 0) {
        *message = k3c_xasprintf("unknown method %s", method);
        return GRPC_UNIMPLEMENTED;
    }
    r = v1beta1__register_request__unpack(NULL, len, req);
    if (!r) {
        *message = k3c_xstrdup("RegisterRequest does not parse");
        return GRPC_INVALID_ARGUMENT;
    }
    st = dp ? do_register(dp, r, message) : GRPC_OK;
    v1beta1__register_request__free_unpacked(r, NULL);
    return st;
}

/* ---- the checkpoint ------------------------------------------------------ */

/* {"version": 1, "resources": {"<name>": {"endpoint": "<sock>",
 * "devices": ["<id>", ...]}}}, written by the manager thread after a change. */
static void
checkpoint_write(struct deviceplugin *dp)
{
    _cleanup_json_ json_t *res = json_object(), *cp = NULL;
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};

    pthread_mutex_lock(&dp->lock);
    dp->dirty = false;
    for (struct dp_endpoint *ep = dp->eps; ep; ep = ep->next) {
        json_t *ids = json_array();
        const char *id;
        json_t *h;

        json_object_foreach(ep->devices, id, h) json_array_append_new(ids, json_string(id));
        json_object_set_new(res, ep->resource,
                            json_pack("{s:s, s:o}", "endpoint", ep->sock, "devices", ids));
    }
    pthread_mutex_unlock(&dp->lock);
    cp = json_pack("{s:i, s:O}", "version", 1, "resources", res);
    text = json_dumps(cp, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (k3c_write_file(dp->checkpoint, text, strlen(text), 0600, &err) < 0)
        log_warn("device plugin checkpoint: %s", err.msg);
}

/* The resources of the last run, not allocatable until registered again. */
static void
checkpoint_load(struct deviceplugin *dp)
{
    json_error_t jerr;
    _cleanup_json_ json_t *cp =
        k3c_file_exists(dp->checkpoint) ? json_load_file(dp->checkpoint, 0, &jerr) : NULL;
    const char *name;
    json_t *r;

    json_object_foreach(json_object_get(cp, "resources"), name, r)
    {
        const char *sock = json_string_value(json_object_get(r, "endpoint"));
        struct dp_endpoint *ep;
        size_t i;
        json_t *id;

        if (!sock || !dp_resource_name_valid(name))
            continue;
        ep = k3c_xcalloc(1, sizeof(*ep));
        ep->dp = dp;
        ep->resource = k3c_xstrdup(name);
        ep->sock = k3c_xstrdup(sock);
        ep->devices = json_object();
        ep->over = true;
        json_array_foreach(json_object_get(r, "devices"), i, id) if (json_is_string(id))
            json_object_set_new(ep->devices, json_string_value(id), json_false());
        ep->next = dp->eps;
        dp->eps = ep;
        dp->changed = true;
        log_info("(resource %s) %zu devices from the last run: none allocatable until its "
                 "plugin registers again",
                 name, json_object_size(ep->devices));
    }
}

/* ---- the loop ----------------------------------------------------------- */

static void
accept_clients(struct deviceplugin *dp)
{
    for (int i = 0; i < 16; i++) {
        int fd = accept4(dp->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0)
            return;
        if (dp->n_clients >= DP_MAX_CLIENTS) {
            close(fd);
            continue;
        }
        dp->clients[dp->n_clients++] = grpc_conn_server_new(fd, dp_registration_handler, dp);
    }
}

static void
drop_client(struct deviceplugin *dp, size_t i)
{
    grpc_conn_free(dp->clients[i]);
    dp->clients[i] = dp->clients[--dp->n_clients];
}

/* The endpoints first (a registration may replace one), then the clients. */
static void
serve_once(struct deviceplugin *dp)
{
    struct pollfd pfd[2 + DP_MAX_CLIENTS + DP_MAX_ENDPOINTS];
    struct dp_endpoint *eps[DP_MAX_ENDPOINTS];
    size_t n = 2, n_eps = 0;

    pfd[0] = (struct pollfd){.fd = dp->wake_fd, .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = dp->listen_fd, .events = POLLIN};
    for (struct dp_endpoint *ep = dp->eps; ep && n_eps < DP_MAX_ENDPOINTS; ep = ep->next)
        if (ep->conn) {
            eps[n_eps++] = ep;
            pfd[n++] =
                (struct pollfd){.fd = grpc_conn_fd(ep->conn), .events = grpc_conn_events(ep->conn)};
        }
    for (size_t i = 0; i < dp->n_clients; i++)
        pfd[n++] = (struct pollfd){.fd = grpc_conn_fd(dp->clients[i]),
                                   .events = grpc_conn_events(dp->clients[i])};
    if (poll(pfd, n, 1000) <= 0)
        return;
    for (size_t i = 0; i < n_eps; i++) {
        struct dp_endpoint *ep = eps[i];
        struct k3c_err err = {0};

        if (pfd[2 + i].revents && (grpc_conn_io(ep->conn, &err) < 0 || ep->over)) {
            struct grpc_conn *c = ep->conn;

            ep->conn = NULL;
            grpc_conn_free(c); /* ends the stream (stream_end) if it had not ended */
        }
    }
    /* clients from the end so that dropping one does not skip another */
    for (size_t i = dp->n_clients; i-- > 0;) {
        struct k3c_err err = {0};

        if (pfd[2 + n_eps + i].revents && grpc_conn_io(dp->clients[i], &err) < 0)
            drop_client(dp, i);
    }
    if (pfd[1].revents)
        accept_clients(dp);
    if (dp->dirty)
        checkpoint_write(dp);
}

static void *
manager_thread(void *arg)
{
    struct deviceplugin *dp = arg;

    while (!__atomic_load_n(&dp->stopping, __ATOMIC_ACQUIRE))
        serve_once(dp);
    return NULL;
}

struct deviceplugin *
deviceplugin_new(const char *dir, struct k3c_err *err)
{
    struct deviceplugin *dp;
    int rc;

    if (k3c_mkdir_p(dir, 0750, err) < 0)
        return NULL;
    dp = k3c_xcalloc(1, sizeof(*dp));
    pthread_mutex_init(&dp->lock, NULL);
    dp->dir = k3c_xstrdup(dir);
    dp->sock = k3c_xasprintf("%s/kubelet.sock", dir);
    dp->checkpoint = k3c_xasprintf("%s/k3c_checkpoint.json", dir);
    checkpoint_load(dp);
    dp->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    dp->listen_fd = grpc_unix_listen(dp->sock, err);
    if (dp->listen_fd < 0 || dp->wake_fd < 0) {
        if (dp->wake_fd < 0)
            k3c_err_sys(err, errno, "eventfd");
        deviceplugin_free(dp);
        return NULL;
    }
    rc = pthread_create(&dp->thread, NULL, manager_thread, dp);
    if (rc != 0) {
        k3c_err_sys(err, rc, "device manager thread");
        deviceplugin_free(dp);
        return NULL;
    }
    dp->running = true;
    log_info("device plugins register at %s", dp->sock);
    return dp;
}

void
deviceplugin_free(struct deviceplugin *dp)
{
    if (!dp)
        return;
    if (dp->running) {
        uint64_t one = 1;

        __atomic_store_n(&dp->stopping, true, __ATOMIC_RELEASE);
        if (write(dp->wake_fd, &one, sizeof(one)) < 0)
            log_warn("device manager wake: %s", strerror(errno));
        pthread_join(dp->thread, NULL);
    }
    while (dp->n_clients > 0)
        drop_client(dp, 0);
    while (dp->eps) {
        struct dp_endpoint *ep = dp->eps;

        dp->eps = ep->next;
        ep->replaced = true; /* quiet: we are stopping */
        endpoint_free(ep);
    }
    if (dp->listen_fd >= 0) {
        close(dp->listen_fd);
        unlink(dp->sock);
    }
    if (dp->wake_fd >= 0)
        close(dp->wake_fd);
    pthread_mutex_destroy(&dp->lock);
    free(dp->dir);
    free(dp->sock);
    free(dp->checkpoint);
    free(dp);
}

/* ---- what the agent and the kubelet read -------------------------------- */

json_t *
deviceplugin_resources(struct deviceplugin *dp, bool healthy_only)
{
    json_t *out = json_object();

    if (!dp)
        return out;
    pthread_mutex_lock(&dp->lock);
    for (struct dp_endpoint *ep = dp->eps; ep; ep = ep->next) {
        const char *id;
        json_t *h;
        json_int_t n = 0;

        json_object_foreach(ep->devices, id, h) n +=
            !healthy_only || (ep->connected && json_is_true(h));
        json_object_set_new(out, ep->resource, json_integer(n));
    }
    pthread_mutex_unlock(&dp->lock);
    return out;
}

bool
deviceplugin_take_changed(struct deviceplugin *dp)
{
    bool changed;

    if (!dp)
        return false;
    pthread_mutex_lock(&dp->lock);
    changed = dp->changed;
    dp->changed = false;
    pthread_mutex_unlock(&dp->lock);
    return changed;
}

bool
deviceplugin_serves(struct deviceplugin *dp, const char *resource)
{
    bool found = false;

    if (!dp)
        return false;
    pthread_mutex_lock(&dp->lock);
    for (struct dp_endpoint *ep = dp->eps; ep && !found; ep = ep->next)
        found = strcmp(ep->resource, resource) == 0;
    pthread_mutex_unlock(&dp->lock);
    return found;
}

int
dp_endpoint_snapshot(struct deviceplugin *dp, const char *resource, struct dp_snapshot *out)
{
    int rc = -1;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&dp->lock);
    for (struct dp_endpoint *ep = dp->eps; ep; ep = ep->next) {
        const char *id;
        json_t *h;
        size_t n = 0;

        if (strcmp(ep->resource, resource) != 0)
            continue;
        out->sock = k3c_xstrdup(ep->sock);
        out->pre_start = ep->pre_start;
        out->preferred = ep->preferred;
        out->healthy = k3c_xcalloc(json_object_size(ep->devices) + 1, sizeof(char *));
        json_object_foreach(ep->devices, id, h) if (ep->connected && json_is_true(h))
            out->healthy[n++] = k3c_xstrdup(id);
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&dp->lock);
    return rc;
}

void
dp_snapshot_fini(struct dp_snapshot *s)
{
    free(s->sock);
    k3c_strv_free(s->healthy);
    memset(s, 0, sizeof(*s));
}
