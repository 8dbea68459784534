/* SPDX-License-Identifier: Apache-2.0
 * api_proxy.c - pods/log, pods/exec and pods/attach: the API server finds
 * the pod's node (status InternalIP, daemonEndpoints.kubeletEndpoint.Port)
 * and relays the request to that node's kubelet API over TLS, with a client
 * certificate of its own (CN system:kube-apiserver, O system:masters; from
 * api_config.kubelet_client_cert_file, or minted in memory from the client
 * CA once per server, valid a year). The kubelet's serving certificate must chain to the server CA.
 *  - log: GET /containerLogs/... and the body streamed back (follow).
 *  - exec/attach: the client's WebSocket upgrade is forwarded; once the
 *    kubelet answers 101, both sides are spliced byte for byte on a thread
 *    of their own. A SPDY/3.1 upgrade (kubectl 1.27-1.29) is relayed the
 *    same way, with the stream protocols the client offers.
 *  - portforward: the same splice to /portForward/<ns>/<pod>, for a
 *    WebSocket upgrade (SPDY tunnelled, kubectl >= 1.31) and for a plain
 *    SPDY/3.1 upgrade (every kubectl); the kubelet speaks SPDY. */
#define LOG_COMPONENT "api"
#include "admission/admission.h"
#include "api/api-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "pki/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PROXY_CONNECT_MS   5000
#define PROXY_HEADER_MAX   65536
#define PROXY_POLL_MS      1000
#define PROXY_ERROR_MAX    65536
#define PROXY_BODY_MAX     (16 << 20) /* api_kubelet_get */
#define PROXY_DEFAULT_PORT 10250
#define PROXY_CLIENT_CN    "system:kube-apiserver"

/* ---- TLS connection to a kubelet ----------------------------------------- */

struct kconn {
    int fd;
    gnutls_session_t tls;
};

static void
kconn_close(struct kconn *k)
{
    if (k->tls) {
        gnutls_bye(k->tls, GNUTLS_SHUT_WR);
        gnutls_deinit(k->tls);
    }
    if (k->fd >= 0)
        close(k->fd);
    k->tls = NULL;
    k->fd = -1;
}

/* The API server's client certificate for kubelets: the configured files,
 * or a fresh one signed by the client CA. */
static int
client_identity(const struct api_config *cfg, char **cert, char **key, struct k3c_err *err)
{
    const struct pki_leaf_spec spec = {.common_name = PROXY_CLIENT_CN,
                                       .organization = "system:masters",
                                       .usage = PKI_USAGE_CLIENT,
                                       .valid_days = 365};
    _cleanup_free_ char *csr = NULL;

    if (cfg->kubelet_client_cert_file && cfg->kubelet_client_key_file)
        return k3c_read_file(cfg->kubelet_client_cert_file, cert, NULL, err) < 0 ||
                       k3c_read_file(cfg->kubelet_client_key_file, key, NULL, err) < 0
                   ? -1
                   : 0;
    if (!cfg->client_ca_file || !cfg->client_ca_key_file)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "no client certificate for kubelets configured");
    if (pki_csr_new(PROXY_CLIENT_CN, "system:masters", key, &csr, err) < 0 ||
        pki_sign_csr(cfg->client_ca_file, cfg->client_ca_key_file, csr, &spec, cert, err) < 0)
        return -1;
    return 0;
}

static int
tcp_connect(const char *ip, int port, struct k3c_err *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct pollfd p;
    int fd, soerr = 0;
    socklen_t len = sizeof(soerr);

    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "node address %s is not an IPv4 address", ip);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return k3c_err_sys(err, errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        int e = errno;

        close(fd);
        return k3c_err_sys(err, e, "dial tcp %s:%d", ip, port);
    }
    p = (struct pollfd){.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, PROXY_CONNECT_MS) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr) {
        close(fd);
        return k3c_err_sys(err, soerr ? soerr : ETIMEDOUT, "dial tcp %s:%d", ip, port);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* The credentials every kubelet connection shows and checks with: the
 * client identity above and the server CA (kubelet serving certificates
 * chain to it). Made once per server; NULL with err on failure. */
static gnutls_certificate_credentials_t
kubelet_credentials(struct api_server *srv, struct k3c_err *err)
{
    const struct api_config *cfg = &srv->cfg;
    _cleanup_free_ char *cert = NULL, *key = NULL, *ca = NULL;
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_datum_t dc, dk, dca;

    pthread_mutex_lock(&srv->kubelet_cred_lock);
    if (srv->kubelet_cred)
        goto out;
    if (client_identity(cfg, &cert, &key, err) < 0)
        goto out;
    if (!cfg->server_ca_cert_file || k3c_read_file(cfg->server_ca_cert_file, &ca, NULL, err) < 0) {
        k3c_err_set(err, K3C_E_UNAVAILABLE, "no CA to check kubelet certificates with");
        goto out;
    }
    dc = (gnutls_datum_t){(unsigned char *)cert, (unsigned)strlen(cert)};
    dk = (gnutls_datum_t){(unsigned char *)key, (unsigned)strlen(key)};
    dca = (gnutls_datum_t){(unsigned char *)ca, (unsigned)strlen(ca)};
    if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
        gnutls_certificate_set_x509_key_mem(cred, &dc, &dk, GNUTLS_X509_FMT_PEM) < 0 ||
        gnutls_certificate_set_x509_trust_mem(cred, &dca, GNUTLS_X509_FMT_PEM) < 0) {
        if (cred)
            gnutls_certificate_free_credentials(cred);
        k3c_err_set(err, K3C_E_INTERNAL, "kubelet connection: TLS credentials failed");
        goto out;
    }
    srv->kubelet_cred = cred;
out:
    cred = srv->kubelet_cred;
    pthread_mutex_unlock(&srv->kubelet_cred_lock);
    return cred;
}

void
api_proxy_fini(struct api_server *srv)
{
    if (srv->kubelet_cred)
        gnutls_certificate_free_credentials(srv->kubelet_cred);
    srv->kubelet_cred = NULL;
    pthread_mutex_destroy(&srv->kubelet_cred_lock);
}

static int
kconn_open(struct api_server *srv, const char *ip, int port, struct kconn *k, struct k3c_err *err)
{
    gnutls_certificate_credentials_t cred = kubelet_credentials(srv, err);
    int rc;

    *k = (struct kconn){.fd = -1};
    if (!cred)
        return -1;
    if ((k->fd = tcp_connect(ip, port, err)) < 0)
        return -1;
    if (gnutls_init(&k->tls, GNUTLS_CLIENT) < 0 || gnutls_set_default_priority(k->tls) < 0 ||
        gnutls_credentials_set(k->tls, GNUTLS_CRD_CERTIFICATE, cred) < 0) {
        kconn_close(k);
        return k3c_err_set(err, K3C_E_INTERNAL, "kubelet connection: TLS setup failed");
    }
    /* The chain is checked; the name is not (node certificates carry the
     * node's addresses, which may have changed), as kube-apiserver does
     * without --kubelet-certificate-authority's hostname checks. */
    gnutls_session_set_verify_cert(k->tls, NULL, 0);
    gnutls_transport_set_int(k->tls, k->fd);
    gnutls_handshake_set_timeout(k->tls, PROXY_CONNECT_MS);
    do {
        rc = gnutls_handshake(k->tls);
    } while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0) {
        kconn_close(k);
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "TLS handshake with kubelet %s:%d: %s", ip, port,
                           gnutls_strerror(rc));
    }
    return 0;
}

static int
kconn_write(struct kconn *k, const void *data, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = gnutls_record_send(k->tls, (const char *)data + off, len - off);

        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n < 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* Reads until the end of the response header; *status, the header block in
 * head (NUL-terminated, "\r\n\r\n" included) and any body bytes after it in
 * rest. */
static int
read_head(struct kconn *k, struct k3c_buf *head, struct k3c_buf *rest, int *status,
          struct k3c_err *err)
{
    char buf[4096];
    char *end;

    while (!(end = head->data ? strstr(head->data, "\r\n\r\n") : NULL)) {
        ssize_t n = gnutls_record_recv(k->tls, buf, sizeof(buf));

        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0 || head->len + (size_t)n > PROXY_HEADER_MAX)
            return k3c_err_set(err, K3C_E_UNAVAILABLE, "kubelet: no response");
        k3c_buf_append(head, buf, (size_t)n);
    }
    k3c_buf_append(rest, end + 4, head->len - (size_t)(end + 4 - head->data));
    head->len = (size_t)(end + 4 - head->data);
    head->data[head->len] = '\0';
    if (sscanf(head->data, "HTTP/1.%*d %d", status) != 1)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "kubelet: bad response");
    return 0;
}

/* A header's value from a header block (copied, trimmed), or NULL. */
static char *
head_value(const char *head, const char *name)
{
    size_t n = strlen(name);

    for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *v = l + 2;

        if (strncasecmp(v, name, n) == 0 && v[n] == ':') {
            v += n + 1;
            while (*v == ' ')
                v++;
            return k3c_xstrndup(v, strcspn(v, "\r\n"));
        }
    }
    return NULL;
}

/* ---- the request ---------------------------------------------------------- */

struct target {
    char *container;
    char *ip;
    int port;
};

static void
target_fini(struct target *t)
{
    free(t->container);
    free(t->ip);
}

static json_t *
load(struct api_request *r, const char *plural, const char *ns, const char *name)
{
    const struct api_resource *res = api_resource_find("", "v1", plural);
    _cleanup_free_ char *key = api_object_key(res, ns, name);
    struct store_kv kv = {0};
    struct k3c_err err = {0};
    json_t *obj;

    if (store_get(r->srv->store, key, &kv, &err) < 0)
        return NULL;
    obj = json_loadb(kv.value, kv.value_len, 0, NULL);
    store_kv_fini(&kv);
    return obj;
}

static bool
has_container(const json_t *list, const char *name)
{
    size_t i;
    json_t *c;

    json_array_foreach(list, i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));

        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

static void
names_of(const json_t *list, struct k3c_buf *b)
{
    size_t i;
    json_t *c;

    json_array_foreach(list, i, c)
    {
        k3c_buf_appendf(b, "%s%s", i ? " " : "",
                        json_string_value(json_object_get(c, "name")) ?: "");
    }
}

/* The container a request is about, as upstream picks it; NULL with the
 * 400 message in msg. */
static char *
pick_container(struct api_request *r, const json_t *pod, struct k3c_buf *msg)
{
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *cs = json_object_get(spec, "containers");
    const json_t *ics = json_object_get(spec, "initContainers");
    const json_t *ecs = json_object_get(spec, "ephemeralContainers");
    const char *want = api_query(r, "container");
    const char *def = json_string_value(
        json_object_get(json_object_get(json_object_get(pod, "metadata"), "annotations"),
                        "kubectl.kubernetes.io/default-container"));

    if (want && *want) {
        if (has_container(cs, want) || has_container(ics, want) || has_container(ecs, want))
            return k3c_xstrdup(want);
        k3c_buf_appendf(msg, "container %s is not valid for pod %s", want, r->name);
        return NULL;
    }
    if (json_array_size(cs) == 1)
        return k3c_xstrdup(json_string_value(json_object_get(json_array_get(cs, 0), "name")) ?: "");
    if (def && has_container(cs, def))
        return k3c_xstrdup(def);
    k3c_buf_appendf(msg, "a container name must be specified for pod %s, choose one of: [",
                    r->name);
    names_of(cs, msg);
    k3c_buf_append(msg, "]", 1);
    if (json_array_size(ics)) {
        k3c_buf_appendf(msg, " or one of the init containers: [");
        names_of(ics, msg);
        k3c_buf_append(msg, "]", 1);
    }
    return NULL;
}

void
api_node_kubelet(const json_t *node, char **ip, int *port)
{
    const json_t *addrs = json_object_get(json_object_get(node, "status"), "addresses");
    json_t *a;
    size_t i;

    *ip = NULL;
    json_array_foreach(addrs, i, a)
    {
        const char *type = json_string_value(json_object_get(a, "type"));

        if (type && strcmp(type, "InternalIP") == 0 && !*ip)
            *ip = k3c_xstrdup(json_string_value(json_object_get(a, "address")) ?: "");
    }
    *port = (int)json_integer_value(json_object_get(
        json_object_get(json_object_get(json_object_get(node, "status"), "daemonEndpoints"),
                        "kubeletEndpoint"),
        "Port"));
    if (*port <= 0 || *port > 65535)
        *port = PROXY_DEFAULT_PORT;
}

/* Where the pod's kubelet listens. -1 with the reply queued in *ret. */
static int
locate(struct api_request *r, struct target *t, bool need_container, int *ret)
{
    _cleanup_json_ json_t *pod = load(r, "pods", r->namespace, r->name);
    _cleanup_json_ json_t *node = NULL;
    struct k3c_buf msg;
    const char *node_name;

    if (!pod) {
        *ret =
            api_reply_status(r, K3C_E_NOT_FOUND, r->name, "pods", "pods \"%s\" not found", r->name);
        return -1;
    }
    k3c_buf_init(&msg);
    t->container = need_container ? pick_container(r, pod, &msg) : k3c_xstrdup("");
    if (!t->container) {
        *ret = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL, "%s", msg.data);
        k3c_buf_fini(&msg);
        return -1;
    }
    k3c_buf_fini(&msg);
    node_name = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    if (!node_name || !*node_name) {
        *ret = api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "pod %s does not have a host assigned", r->name);
        return -1;
    }
    node = load(r, "nodes", NULL, node_name);
    api_node_kubelet(node, &t->ip, &t->port);
    if (!t->ip) {
        *ret = api_reply_status(r, K3C_E_UNAVAILABLE, NULL, NULL,
                                "no InternalIP known for node \"%s\"", node_name);
        return -1;
    }
    return 0;
}

static void
url_escape(struct k3c_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c))
            k3c_buf_append(b, s, 1);
        else
            k3c_buf_appendf(b, "%%%02X", c);
    }
}

static enum MHD_Result
add_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct k3c_buf *b = cls;

    (void)kind;
    if (strcmp(key, "container") == 0 || strcmp(key, "pretty") == 0)
        return MHD_YES;
    k3c_buf_append(b, b->data && strchr(b->data, '?') ? "&" : "?", 1);
    url_escape(b, key);
    if (value) {
        k3c_buf_append(b, "=", 1);
        url_escape(b, value);
    }
    return MHD_YES;
}

/* "/<kind>/<ns>/<pod>/<container>?<the client's query>" */
static char *
kubelet_path(struct api_request *r, const char *kind, const struct target *t)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "/%s/", kind);
    url_escape(&b, r->namespace);
    k3c_buf_append(&b, "/", 1);
    url_escape(&b, r->name);
    if (*t->container) { /* port-forward is about the pod */
        k3c_buf_append(&b, "/", 1);
        url_escape(&b, t->container);
    }
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_query, &b);
    return k3c_buf_steal(&b, NULL);
}

/* The Content-Length of a response head; -1 when it has none. */
static long
head_content_length(const char *head)
{
    _cleanup_free_ char *v = head_value(head, "Content-Length");
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : -1;

    return v && end != v && n >= 0 ? n : -1;
}

/* Relays a kubelet error reply (status + body up to PROXY_ERROR_MAX). The
 * body ends at its Content-Length when the head has one: on an HTTP/1.1
 * connection (an exec's upgrade request) the kubelet keeps the connection
 * open after it, and reading to EOF hung the client's exec into a container
 * that was not running for as long as the kubelet's connection lived. */
static int
relay_error(struct api_request *r, struct kconn *k, int status, long length, struct k3c_buf *body)
{
    char buf[4096];
    _cleanup_json_ json_t *st = NULL;

    while (body->len < PROXY_ERROR_MAX && (length < 0 || (long)body->len < length)) {
        ssize_t n = gnutls_record_recv(k->tls, buf, sizeof(buf));

        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0)
            break;
        k3c_buf_append(body, buf, (size_t)n);
    }
    st = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    if (json_is_object(st))
        return api_reply_json_take(r, (unsigned)status, json_incref(st));
    return api_reply_status_code(r, (unsigned)status, "", "%.*s", (int)body->len,
                                 body->data ? body->data : "");
}

/* ---- pods/log ------------------------------------------------------------- */

struct log_relay {
    struct kconn k;
    struct k3c_buf pending;  /* body bytes that came with the header */
    struct api_request *req; /* valid while the reader may run */
    struct api_server *srv;
};

static void
log_relay_free(void *cls)
{
    struct log_relay *lr = cls;

    kconn_close(&lr->k);
    k3c_buf_fini(&lr->pending);
    free(lr);
}

/* Runs on an MHD polling thread: never waits. With nothing from the
 * kubelet yet it parks the connection until the kubelet's socket is
 * readable or the client hangs up. */
static ssize_t
log_relay_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct log_relay *lr = cls;
    struct pollfd p = {.fd = lr->k.fd, .events = POLLIN};
    ssize_t n;

    (void)pos;
    if (lr->pending.len) {
        n = (ssize_t)(lr->pending.len < max ? lr->pending.len : max);
        memcpy(buf, lr->pending.data, (size_t)n);
        k3c_buf_consume(&lr->pending, (size_t)n);
        return n;
    }
    if (atomic_load(&lr->srv->stopping) || lr->req->client_gone)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* the client left */
    if (!gnutls_record_check_pending(lr->k.tls)) {
        if (poll(&p, 1, 0) < 0 && errno != EINTR)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (!p.revents)
            return api_http_park(lr->req, lr->k.fd, NULL, NULL);
    }
    n = gnutls_record_recv(lr->k.tls, buf, max);
    if (n > 0)
        return n;
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        return api_http_park(lr->req, lr->k.fd, NULL, NULL);
    return n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION ? MHD_CONTENT_READER_END_OF_STREAM
                                                         : MHD_CONTENT_READER_END_WITH_ERROR;
}

static int
serve_log(struct api_request *r, const struct target *t)
{
    struct log_relay *lr = k3c_xcalloc(1, sizeof(*lr));
    _cleanup_free_ char *path = kubelet_path(r, "containerLogs", t);
    _cleanup_free_ char *req = NULL;
    struct k3c_buf head;
    struct k3c_err err = {0};
    struct MHD_Response *resp;
    int status = 0, ret;
    long length;

    lr->srv = r->srv;
    lr->req = r;
    k3c_buf_init(&lr->pending);
    k3c_buf_init(&head);
    /* HTTP/1.0: the body comes unchunked and ends with the connection. */
    req = k3c_xasprintf("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: k3c-apiserver\r\n\r\n", path,
                        t->ip);
    if (kconn_open(r->srv, t->ip, t->port, &lr->k, &err) < 0 ||
        kconn_write(&lr->k, req, strlen(req)) < 0 ||
        read_head(&lr->k, &head, &lr->pending, &status, &err) < 0) {
        k3c_buf_fini(&head);
        log_relay_free(lr);
        return api_reply_status(r, K3C_E_UNAVAILABLE, NULL, NULL, "%s",
                                err.msg[0] ? err.msg : "kubelet unreachable");
    }
    length = head_content_length(head.data ? head.data : "");
    k3c_buf_fini(&head);
    if (status != 200) {
        ret = relay_error(r, &lr->k, status, length, &lr->pending);
        log_relay_free(lr);
        return ret;
    }
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, log_relay_read, lr,
                                             log_relay_free);
    MHD_add_response_header(resp, "Content-Type", "text/plain");
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- pods/exec, pods/attach ------------------------------------------------ */

struct splice {
    struct kconn k;
    struct k3c_buf to_client;  /* what the kubelet sent after its 101 */
    struct k3c_buf to_kubelet; /* what the client sent after its request */
    int sock;
    int client_fd; /* the client's TCP socket under MHD's TLS relay */
    struct MHD_UpgradeResponseHandle *urh;
    struct api_server *srv; /* api_server_free waits for proxy_sessions to drain */
};

static void
splice_free(struct splice *sp)
{
    kconn_close(&sp->k);
    k3c_buf_fini(&sp->to_client);
    k3c_buf_fini(&sp->to_kubelet);
    free(sp);
}

static int
sock_write(int fd, const char *data, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};

            poll(&p, 1, PROXY_POLL_MS);
            continue;
        }
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* Copies bytes both ways until either side closes or the server stops.
 * A kubelet that no longer takes the client's bytes (it has ended the
 * session) may still have sent the end of the output and the exit status:
 * that is relayed up to its end of the connection. MHD does not pass a
 * client's close on to us, so its socket is watched as the log relay does:
 * a client that left ends the splice, and the kubelet sees its end. */
static void
splice_run(struct splice *sp)
{
    char buf[32768];
    bool to_kubelet = true;

    if (sock_write(sp->sock, sp->to_client.data, sp->to_client.len) < 0 ||
        kconn_write(&sp->k, sp->to_kubelet.data, sp->to_kubelet.len) < 0)
        return;
    while (!atomic_load(&sp->srv->stopping)) {
        struct pollfd p[3] = {{.fd = to_kubelet ? sp->sock : -1, .events = POLLIN},
                              {.fd = sp->k.fd, .events = POLLIN},
                              {.fd = sp->client_fd, .events = POLLRDHUP}};
        ssize_t n;

        if (!gnutls_record_check_pending(sp->k.tls) && poll(p, 3, PROXY_POLL_MS) < 0 &&
            errno != EINTR)
            return;
        if (p[0].revents) {
            n = recv(sp->sock, buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return;
            if (n > 0 && kconn_write(&sp->k, buf, (size_t)n) < 0)
                to_kubelet = false;
        }
        if (p[1].revents || gnutls_record_check_pending(sp->k.tls)) {
            n = gnutls_record_recv(sp->k.tls, buf, sizeof(buf));
            if (n == 0 || (n < 0 && n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED))
                return;
            if (n > 0 && sock_write(sp->sock, buf, (size_t)n) < 0)
                return;
        }
        if (p[2].revents & (POLLRDHUP | POLLHUP | POLLERR))
            return; /* the client left */
    }
}

static void *
splice_thread(void *arg)
{
    struct splice *sp = arg;

    struct api_server *srv = sp->srv;

    splice_run(sp);
    MHD_upgrade_action(sp->urh, MHD_UPGRADE_ACTION_CLOSE);
    splice_free(sp);
    atomic_fetch_sub(&srv->proxy_sessions, 1);
    return NULL;
}

static void
on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
           size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct splice *sp = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    pthread_attr_t attr;
    pthread_t t;

    (void)con_cls;
    sp->sock = sock;
    sp->client_fd = ci ? ci->connect_fd : -1;
    sp->urh = urh;
    k3c_buf_append(&sp->to_kubelet, extra_in, extra_in_size);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    atomic_fetch_add(&sp->srv->proxy_sessions, 1);
    if (pthread_create(&t, &attr, splice_thread, sp) != 0) {
        atomic_fetch_sub(&sp->srv->proxy_sessions, 1);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        splice_free(sp);
    }
    pthread_attr_destroy(&attr);
}

static bool
header_has(struct api_request *r, const char *name, const char *token)
{
    const char *v = api_header(r, name);

    return v && strcasestr(v, token);
}

/* Every X-Stream-Protocol-Version the client offers (SPDY), as header lines. */
static enum MHD_Result
add_stream_protocol(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct k3c_buf *b = cls;

    (void)kind;
    if (strcasecmp(key, "X-Stream-Protocol-Version") == 0 && value && !strpbrk(value, "\r\n"))
        k3c_buf_appendf(b, "X-Stream-Protocol-Version: %s\r\n", value);
    return MHD_YES;
}

/* The upgrade request for the kubelet: the client's WebSocket handshake, or
 * its SPDY/3.1 upgrade with the stream protocols it offers. */
static char *
upgrade_request(struct api_request *r, const char *path, const char *host, bool ws)
{
    const char *key = api_header(r, "Sec-WebSocket-Key");
    const char *proto = api_header(r, "Sec-WebSocket-Protocol");
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_appendf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: k3c-apiserver\r\n",
                    ws ? "GET" : "POST", path, host);
    if (ws) {
        k3c_buf_appendf(&b,
                        "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n",
                        key);
        if (proto && !strpbrk(proto, "\r\n"))
            k3c_buf_appendf(&b, "Sec-WebSocket-Protocol: %s\r\n", proto);
    } else {
        k3c_buf_appendf(&b, "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n");
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_stream_protocol, &b);
    }
    k3c_buf_append(&b, "\r\n", 2);
    return k3c_buf_steal(&b, NULL);
}

static const char *
kubelet_kind(const struct api_request *r)
{
    if (strcmp(r->subresource, "exec") == 0)
        return "exec";
    if (strcmp(r->subresource, "attach") == 0)
        return "attach";
    return "portForward";
}

static int
serve_stream(struct api_request *r, const struct target *t)
{
    const char *key = api_header(r, "Sec-WebSocket-Key");
    bool ws = header_has(r, "Upgrade", "websocket") && key;
    bool spdy = header_has(r, "Upgrade", "SPDY/3.1");
    _cleanup_free_ char *path = NULL, *req = NULL, *accept = NULL, *got_proto = NULL,
                        *got_stream = NULL;
    struct splice *sp;
    struct k3c_buf head;
    struct k3c_err err = {0};
    struct MHD_Response *resp;
    int status = 0, ret;

    if (!header_has(r, "Connection", "upgrade") || (!ws && !spdy))
        return api_reply_status(r, K3C_E_BAD_REQUEST, NULL, NULL,
                                "Upgrade request required: this server relays %s over WebSocket "
                                "or SPDY/3.1",
                                r->subresource);
    sp = k3c_xcalloc(1, sizeof(*sp));
    sp->srv = r->srv;
    k3c_buf_init(&sp->to_client);
    k3c_buf_init(&sp->to_kubelet);
    k3c_buf_init(&head);
    path = kubelet_path(r, kubelet_kind(r), t);
    req = upgrade_request(r, path, t->ip, ws);
    if (kconn_open(r->srv, t->ip, t->port, &sp->k, &err) < 0 ||
        kconn_write(&sp->k, req, strlen(req)) < 0 ||
        read_head(&sp->k, &head, &sp->to_client, &status, &err) < 0) {
        k3c_buf_fini(&head);
        splice_free(sp);
        return api_reply_status(r, K3C_E_UNAVAILABLE, NULL, NULL, "%s",
                                err.msg[0] ? err.msg : "kubelet unreachable");
    }
    if (status != 101) {
        long length = head_content_length(head.data ? head.data : "");

        k3c_buf_fini(&head);
        ret = relay_error(r, &sp->k, status, length, &sp->to_client);
        splice_free(sp);
        return ret;
    }
    accept = head_value(head.data, "Sec-WebSocket-Accept");
    got_proto = head_value(head.data, "Sec-WebSocket-Protocol");
    got_stream = head_value(head.data, "X-Stream-Protocol-Version");
    k3c_buf_fini(&head);
    resp = MHD_create_response_for_upgrade(on_upgrade, sp);
    MHD_add_response_header(resp, "Upgrade", ws ? "websocket" : "SPDY/3.1");
    if (accept)
        MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    if (got_proto)
        MHD_add_response_header(resp, "Sec-WebSocket-Protocol", got_proto);
    if (got_stream)
        MHD_add_response_header(resp, "X-Stream-Protocol-Version", got_stream);
    ret = MHD_queue_response(r->conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    if (ret != MHD_YES)
        splice_free(sp);
    return ret;
}

/* ---- entry ------------------------------------------------------------------ */

bool
api_proxy_handles(const struct api_request *r)
{
    return r->res && r->subresource && r->name && strcmp(r->res->plural, "pods") == 0 &&
           !r->res->group[0] &&
           (strcmp(r->subresource, "log") == 0 || strcmp(r->subresource, "exec") == 0 ||
            strcmp(r->subresource, "attach") == 0 || strcmp(r->subresource, "portforward") == 0);
}

static bool
is_node(const struct api_request *r)
{
    for (int i = 0; i < r->user.n_groups; i++)
        if (strcmp(r->user.groups[i], "system:nodes") == 0)
            return true;
    return false;
}

int
api_proxy_serve(struct api_request *r)
{
    struct target t = {0};
    bool log = strcmp(r->subresource, "log") == 0;
    int ret;

    if (strcmp(r->method, "GET") != 0 && (log || strcmp(r->method, "POST") != 0))
        return api_reply_status_code(r, 405, "MethodNotAllowed",
                                     "the server does not allow this method on the requested "
                                     "resource");
    if (is_node(r)) /* upstream's Node authorizer grants neither */
        return api_reply_status_code(r, 403, "Forbidden",
                                     "pods \"%s\" is forbidden: User \"%s\" cannot %s resource "
                                     "\"pods/%s\" in API group \"\" in the namespace \"%s\"",
                                     r->name, r->user.name, log ? "get" : "create", r->subresource,
                                     r->namespace);
    if (!log) { /* CONNECT admission webhooks (src/admission/) */
        struct admission_denial d;

        if (admission_connect(r, &d) < 0)
            return api_reply_status_code(r, d.code, d.reason, "%s", d.message);
    }
    if (locate(r, &t, strcmp(r->subresource, "portforward") != 0, &ret) < 0) {
        target_fini(&t);
        return ret;
    }
    ret = log ? serve_log(r, &t) : serve_stream(r, &t);
    target_fini(&t);
    return ret;
}

/* ---- a plain GET for other parts (metrics.k8s.io's scrapes) --------------- */

int
api_kubelet_get(struct api_server *srv, const char *ip, int port, const char *path, int timeout_ms,
                struct k3c_buf *body, struct k3c_err *err)
{
    struct kconn k;
    struct k3c_buf head;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    _cleanup_free_ char *req = NULL;
    char buf[16384];
    int status = 0, rc = -1;

    if (kconn_open(srv, ip, port, &k, err) < 0)
        return -1;
    /* Bounded reads: a kubelet that stops answering must not hold us. */
    setsockopt(k.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    k3c_buf_init(&head);
    req =
        k3c_xasprintf("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: k3c-apiserver\r\n\r\n", path, ip);
    if (kconn_write(&k, req, strlen(req)) < 0 || read_head(&k, &head, body, &status, err) < 0)
        goto out;
    for (;;) {
        ssize_t n = gnutls_record_recv(k.tls, buf, sizeof(buf));

        if (n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION)
            break;
        if (n < 0) {
            k3c_err_set(err, K3C_E_UNAVAILABLE, "kubelet %s:%d: %s", ip, port,
                        gnutls_strerror((int)n));
            goto out;
        }
        k3c_buf_append(body, buf, (size_t)n);
        if (body->len > PROXY_BODY_MAX) {
            k3c_err_set(err, K3C_E_UNAVAILABLE, "kubelet %s:%d: answer too long", ip, port);
            goto out;
        }
    }
    if (status != 200) {
        k3c_err_set(err, K3C_E_UNAVAILABLE, "kubelet %s:%d%s: HTTP %d", ip, port, path, status);
        goto out;
    }
    rc = 0;
out:
    k3c_buf_fini(&head);
    kconn_close(&k);
    return rc;
}
