/* SPDX-License-Identifier: Apache-2.0
 * client.c - the one libcurl wrapper. Requests borrow an easy handle from a
 * pool (so keep-alive connections and TLS sessions are reused) and fail over
 * across endpoints on transport errors. Streams run on their own handle in a
 * curl multi so http_stream_cancel can wake them from another thread.
 * Lock order: pool_lock only; never held across I/O. */
#define LOG_COMPONENT "client"
#include "client/client.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#define HTTP_KEEPALIVE_IDLE_S     10L /* idle seconds before the first probe */
#define HTTP_KEEPALIVE_INTERVAL_S 5L  /* between probes */
#define HTTP_KEEPALIVE_PROBES     3   /* unanswered probes before the connection is dead */

struct pooled_handle {
    CURL *curl;
    struct pooled_handle *next;
};

struct http_client {
    pthread_mutex_t endpoints_lock; /* endpoints, n_endpoints: replaced by set_endpoints */
    char **endpoints;
    size_t n_endpoints;
    atomic_size_t current; /* index of the endpoint that last worked */
    char *ca_file, *cert_file, *key_file, *basic_auth;
    bool insecure, http1;
    long connect_timeout_ms, request_timeout_ms;
    struct curl_slist *resolve; /* CURLOPT_RESOLVE entries, or NULL */

    pthread_mutex_t pool_lock; /* protects idle, n_idle */
    struct pooled_handle *idle;
    size_t n_idle, max_idle;
    long download_buffer_size; /* 0: curl's default */
};

struct http_stream {
    struct http_client *client;
    CURLM *multi;
    CURL *curl;
    atomic_bool cancelled;
    atomic_bool reset;
    atomic_bool interrupted;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* Process shutdown (http_client_shutdown_begin): the generation moves, every
 * request started under an older one is aborted by its progress callback,
 * and requests started afterwards get at most SHUTDOWN_REQUEST_MS. Without
 * it a server that lost quorum sat in one request timeout after another
 * (its agent's lease, the member monitor, each leader elector) while it
 * stopped. Streams are stopped by their owners and are not touched. */
#define SHUTDOWN_REQUEST_MS 2000L
static atomic_uint shutdown_gen;
static _Thread_local unsigned request_gen;

void
http_client_shutdown_begin(void)
{
    atomic_fetch_add(&shutdown_gen, 1);
}

bool
http_client_stopping(void)
{
    return atomic_load(&shutdown_gen) != 0;
}

static int
abort_on_shutdown(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                  curl_off_t ulnow)
{
    (void)p, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load_explicit(&shutdown_gen, memory_order_relaxed) != request_gen;
}

/* Per request: remembers the generation it runs under and arms the abort;
 * returns the timeout to use (0: none). */
static long
request_arm(CURL *curl, long timeout_ms)
{
    request_gen = atomic_load(&shutdown_gen);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_on_shutdown);
    if (request_gen != 0 && (timeout_ms == 0 || timeout_ms > SHUTDOWN_REQUEST_MS))
        timeout_ms = SHUTDOWN_REQUEST_MS;
    return timeout_ms;
}

/* libcurl's global init also initialises libssh2 (for scp:// and sftp://,
 * which k3c never speaks), and libssh2 then initialises all of OpenSSL:
 * about 1.5 MiB of libcrypto pages resident in every k3c process, the agent
 * included. libssh2_init counts its callers and sets crypto up only on the
 * first call, so a first call with LIBSSH2_INIT_NO_CRYPTO (1) makes curl's
 * own call cheap. Looked up at run time, as libcurl may be built without
 * libssh2; then there is nothing to do. */
static void
ssh_init_without_crypto(void)
{
    int (*ssh_init)(int);

    *(void **)&ssh_init = dlsym(RTLD_DEFAULT, "libssh2_init");
    if (ssh_init)
        ssh_init(1 /* LIBSSH2_INIT_NO_CRYPTO */);
}

static void
curl_global_setup(void)
{
    ssh_init_without_crypto();
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* A copy of endpoints (NULL-terminated), trailing '/' dropped: paths are
 * joined with a leading one. *n_out gets the count. */
static char **
endpoints_copy(const char *const *endpoints, size_t *n_out)
{
    size_t n = 0;
    char **out;

    while (endpoints && endpoints[n])
        n++;
    out = k3c_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(endpoints[i]);

        while (len > 0 && endpoints[i][len - 1] == '/')
            len--;
        out[i] = k3c_xstrndup(endpoints[i], len);
    }
    *n_out = n;
    return out;
}

static void
endpoints_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The URL of attempt i of a request that started at endpoint start, and
 * the index of that endpoint in *idx_out (taken under the lock: the list may
 * be replaced between attempts); NULL once i is past the end. Points curl at
 * the endpoint's unix socket for a "unix:/path" endpoint (plain HTTP to
 * "localhost" over it), at no socket otherwise. */
static char *
endpoint_url(struct http_client *c, size_t start, size_t i, const char *path, size_t *idx_out,
             CURL *curl)
{
    char *url = NULL;

    pthread_mutex_lock(&c->endpoints_lock);
    if (i < c->n_endpoints) {
        const char *ep;

        *idx_out = (start + i) % c->n_endpoints;
        ep = c->endpoints[*idx_out];
        if (strncmp(ep, HTTP_UNIX_PREFIX, strlen(HTTP_UNIX_PREFIX)) == 0) {
            curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, ep + strlen(HTTP_UNIX_PREFIX));
            url = k3c_xasprintf("http://localhost%s", path);
        } else {
            curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, NULL);
            url = k3c_xasprintf("%s%s", ep, path);
        }
    }
    pthread_mutex_unlock(&c->endpoints_lock);
    return url;
}

struct http_client *
http_client_new(const struct http_client_config *cfg, struct k3c_err *err)
{
    struct http_client *c;
    size_t n = 0;

    while (cfg->endpoints && cfg->endpoints[n])
        n++;
    if (n == 0) {
        k3c_err_set(err, K3C_E_INVALID, "http client: no endpoints");
        return NULL;
    }
    pthread_once(&curl_once, curl_global_setup);
    c = k3c_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->endpoints_lock, NULL);
    c->endpoints = endpoints_copy(cfg->endpoints, &c->n_endpoints);
    c->ca_file = cfg->ca_file ? k3c_xstrdup(cfg->ca_file) : NULL;
    c->cert_file = cfg->cert_file ? k3c_xstrdup(cfg->cert_file) : NULL;
    c->key_file = cfg->key_file ? k3c_xstrdup(cfg->key_file) : NULL;
    c->basic_auth = cfg->basic_auth ? k3c_xstrdup(cfg->basic_auth) : NULL;
    c->insecure = cfg->insecure;
    c->http1 = cfg->http1;
    c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 2000;
    c->request_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 10000;
    for (size_t i = 0; cfg->resolve && cfg->resolve[i]; i++)
        c->resolve = curl_slist_append(c->resolve, cfg->resolve[i]);
    c->max_idle = cfg->max_idle;
    c->download_buffer_size = cfg->download_buffer_size;
    pthread_mutex_init(&c->pool_lock, NULL);
    return c;
}

void
http_client_free(struct http_client *c)
{
    if (!c)
        return;
    while (c->idle) {
        struct pooled_handle *h = c->idle;

        c->idle = h->next;
        curl_easy_cleanup(h->curl);
        free(h);
    }
    endpoints_free(c->endpoints, c->n_endpoints);
    pthread_mutex_destroy(&c->endpoints_lock);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->basic_auth);
    curl_slist_free_all(c->resolve);
    pthread_mutex_destroy(&c->pool_lock);
    free(c);
}

int
http_client_set_endpoints(struct http_client *c, const char *const *endpoints, struct k3c_err *err)
{
    size_t n, old_n;
    char **v, **old;

    if (!endpoints || !endpoints[0])
        return k3c_err_set(err, K3C_E_INVALID, "http client: no endpoints");
    v = endpoints_copy(endpoints, &n);
    pthread_mutex_lock(&c->endpoints_lock);
    old = c->endpoints;
    old_n = c->n_endpoints;
    c->endpoints = v;
    c->n_endpoints = n;
    atomic_store(&c->current, 0);
    pthread_mutex_unlock(&c->endpoints_lock);
    endpoints_free(old, old_n);
    return 0;
}

size_t
http_client_current(struct http_client *c)
{
    return atomic_load(&c->current);
}

bool
http_client_fail_over(struct http_client *c, size_t idx)
{
    bool others;

    pthread_mutex_lock(&c->endpoints_lock);
    others = c->n_endpoints > 1;
    if (others) {
        size_t expected = idx;

        atomic_compare_exchange_strong(&c->current, &expected, (idx + 1) % c->n_endpoints);
    }
    pthread_mutex_unlock(&c->endpoints_lock);
    return others;
}

void
http_response_init(struct http_response *r)
{
    r->status = 0;
    k3c_buf_init(&r->body);
    k3c_buf_init(&r->headers);
}

void
http_response_fini(struct http_response *r)
{
    k3c_buf_fini(&r->body);
    k3c_buf_fini(&r->headers);
    r->status = 0;
}

/* A peer that is gone and whose address nobody answers for (a server
 * powered off, not the VIP) is given up after HTTP_KEEPALIVE_PROBES
 * unanswered probes instead of the kernel's 9 (libcurl 7.88 has no option
 * for it). A unix socket has no TCP options: the error is of no matter. */
static int
keepalive_probes_set(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    int probes = HTTP_KEEPALIVE_PROBES;

    (void)clientp;
    if (purpose == CURLSOCKTYPE_IPCXN)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
    return CURL_SOCKOPT_OK;
}

/* Options every handle of this client carries. */
static void
handle_setup(struct http_client *c, CURL *curl)
{
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    /* HTTP(S) only; this limits redirects too (a registry's Location). */
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    /* A watch only reads. If the server it reads from vanishes without a
     * FIN (a power cut of the VIP's holder), the connection looks idle
     * until a keepalive probe reaches the address's next holder, which
     * answers with a reset. libcurl's 60 s default left an agent's watches
     * through the VIP stale for a minute or more; 10 s + 5 s per probe
     * bounds it (issue #11's failover, docs/vip.md). */
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, HTTP_KEEPALIVE_IDLE_S);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, HTTP_KEEPALIVE_INTERVAL_S);
    curl_easy_setopt(curl, CURLOPT_SOCKOPTFUNCTION, keepalive_probes_set);
    /* Over TLS libcurl copies each request body through an upload buffer
     * that every handle keeps (64 KiB by default): with an etcd watch per
     * cached resource that was ~3 MB of the server's RSS. The minimum is
     * plenty for request bodies (issue #20). */
    curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    if (c->http1)
        curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (c->download_buffer_size > 0)
        curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, c->download_buffer_size);
    if (c->ca_file) {
        /* Trust only our CA. Without clearing CAPATH, libcurl/GnuTLS also
         * loads all of /etc/ssl/certs on every new connection: ~6 MB RSS and
         * a quarter of the client's CPU per connection, for trust we do not
         * want. */
        curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
    }
    if (c->cert_file)
        curl_easy_setopt(curl, CURLOPT_SSLCERT, c->cert_file);
    if (c->key_file)
        curl_easy_setopt(curl, CURLOPT_SSLKEY, c->key_file);
    if (c->basic_auth) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERPWD, c->basic_auth);
    }
    if (c->resolve)
        curl_easy_setopt(curl, CURLOPT_RESOLVE, c->resolve);
    if (c->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static CURL *
pool_take(struct http_client *c)
{
    struct pooled_handle *h;
    CURL *curl;

    pthread_mutex_lock(&c->pool_lock);
    h = c->idle;
    if (h) {
        c->idle = h->next;
        c->n_idle--;
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (h) {
        curl = h->curl;
        free(h);
        return curl;
    }
    curl = curl_easy_init();
    if (!curl)
        abort();
    handle_setup(c, curl);
    return curl;
}

static void
pool_give(struct http_client *c, CURL *curl)
{
    struct pooled_handle *h;

    pthread_mutex_lock(&c->pool_lock);
    if (c->max_idle > 0 && c->n_idle >= c->max_idle) {
        pthread_mutex_unlock(&c->pool_lock);
        curl_easy_cleanup(curl); /* closes its connection */
        return;
    }
    h = k3c_xmalloc(sizeof(*h));
    h->curl = curl;
    h->next = c->idle;
    c->idle = h;
    c->n_idle++;
    pthread_mutex_unlock(&c->pool_lock);
}

static size_t
collect_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    k3c_buf_append(userdata, data, size * nmemb);
    return size * nmemb;
}

/* Transport failures are worth another endpoint; anything else is not. */
static bool
is_transport_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

/* The request never left this host, so retrying it cannot apply it twice. */
static bool
never_sent(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_SSL_CONNECT_ERROR;
}

static void
request_setup(CURL *curl, const char *method, const char *url, struct curl_slist *headers,
              const void *body, size_t body_len)
{
    /* The handle keeps handle_setup's options between requests; only what
     * differs per request is set here (a reset per request costs CPU). */
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
}

int
http_client_request(struct http_client *c, const char *method, const char *path,
                    const char *content_type, const void *body, size_t body_len,
                    struct http_response *resp, struct k3c_err *err)
{
    struct curl_slist *headers = NULL;
    char ct[128];
    CURL *curl = pool_take(c);
    size_t start = atomic_load(&c->current);
    CURLcode rc = CURLE_OK;
    int ret = -1;

    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "application/json");
    headers = curl_slist_append(headers, ct);
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0;; i++) {
        size_t idx;
        _cleanup_free_ char *url = endpoint_url(c, start, i, path, &idx, curl);

        if (!url)
            break;

        k3c_buf_reset(&resp->body);
        request_setup(curl, method, url, headers, body, body_len);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, request_arm(curl, c->request_timeout_ms));
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp->body);
        rc = curl_easy_perform(curl);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
            atomic_store(&c->current, idx);
            ret = 0;
            break;
        }
        if (rc == CURLE_ABORTED_BY_CALLBACK) {
            k3c_err_set(err, K3C_E_UNAVAILABLE, "%s %s: shutting down", method, url);
            break;
        }
        if (!is_transport_error(rc)) {
            k3c_err_set(err, K3C_E_INTERNAL, "%s %s: %s", method, url, curl_easy_strerror(rc));
            break;
        }
        log_debug("%s %s: %s", method, url, curl_easy_strerror(rc));
        k3c_err_set(err, K3C_E_UNAVAILABLE, "%s %s: %s", method, url, curl_easy_strerror(rc));
        if (never_sent(rc))
            err->sys_errno = ENOTCONN;
    }
    curl_slist_free_all(headers);
    pool_give(c, curl);
    return ret;
}

struct do_ctx {
    const struct http_request *req;
    struct http_response *resp;
    bool sink_stopped;
};

static size_t
do_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct do_ctx *ctx = userdata;
    size_t n = size * nmemb;

    /* A status line starts a new response (after a redirect or a 100):
     * keep only the last response's headers. */
    if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', n);

        k3c_buf_reset(&ctx->resp->headers);
        ctx->resp->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    }
    k3c_buf_append(&ctx->resp->headers, data, n);
    return n;
}

static size_t
do_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct do_ctx *ctx = userdata;
    size_t n = size * nmemb;

    if (ctx->req->sink && ctx->resp->status >= 200 && ctx->resp->status < 300) {
        if (ctx->req->sink(ctx->req->sink_data, data, n) != 0) {
            ctx->sink_stopped = true;
            return CURL_WRITEFUNC_ERROR;
        }
        return n;
    }
    if (!ctx->req->sink || ctx->resp->body.len < 65536)
        k3c_buf_append(&ctx->resp->body, data, n);
    return n;
}

int
http_client_do(struct http_client *c, const struct http_request *req, struct http_response *resp,
               struct k3c_err *err)
{
    const char *method = req->method ? req->method : "GET";
    struct curl_slist *headers = NULL;
    struct do_ctx ctx = {.req = req, .resp = resp};
    CURL *curl = pool_take(c);
    size_t start = atomic_load(&c->current);
    CURLcode rc = CURLE_OK;
    int ret = -1;

    if (req->body) {
        _cleanup_free_ char *ct = k3c_xasprintf(
            "Content-Type: %s", req->content_type ? req->content_type : "application/json");

        headers = curl_slist_append(headers, ct);
    }
    headers = curl_slist_append(headers, "Expect:");
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        headers = curl_slist_append(headers, req->headers[i]);
    for (size_t i = 0;; i++) {
        size_t idx;
        _cleanup_free_ char *url = endpoint_url(c, start, i, req->path, &idx, curl);

        if (!url)
            break;

        k3c_buf_reset(&resp->body);
        k3c_buf_reset(&resp->headers);
        resp->status = 0;
        ctx.sink_stopped = false;
        request_setup(curl, method, url, headers, req->body, req->body_len);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                         request_arm(curl, req->no_timeout ? 0L : c->request_timeout_ms));
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, req->no_timeout ? 1024L : 0L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, req->no_timeout ? 30L : 0L);
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, do_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ctx);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, do_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ctx);
        rc = curl_easy_perform(curl);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
            atomic_store(&c->current, idx);
            ret = 0;
            break;
        }
        if (ctx.sink_stopped) {
            k3c_err_set(err, K3C_E_INTERNAL, "%s %s: aborted by receiver", method, url);
            break;
        }
        if (rc == CURLE_ABORTED_BY_CALLBACK) {
            k3c_err_set(err, K3C_E_UNAVAILABLE, "%s %s: shutting down", method, url);
            break;
        }
        if (!is_transport_error(rc)) {
            k3c_err_set(err, K3C_E_INTERNAL, "%s %s: %s", method, url, curl_easy_strerror(rc));
            break;
        }
        log_debug("%s %s: %s", method, url, curl_easy_strerror(rc));
        k3c_err_set(err, K3C_E_UNAVAILABLE, "%s %s: %s", method, url, curl_easy_strerror(rc));
        if (never_sent(rc))
            err->sys_errno = ENOTCONN;
    }
    /* The handle goes back to the pool: undo what http_client_request does
     * not set itself. */
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, NULL);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 0L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 0L);
    curl_slist_free_all(headers);
    pool_give(c, curl);
    return ret;
}

char *
http_response_header(const struct http_response *resp, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = resp->headers.data;

    while (p && *p) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);

        if ((size_t)(end - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;

            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            return k3c_xstrndup(v, (size_t)(end - v));
        }
        p = eol ? eol + 1 : end;
    }
    return NULL;
}

void *
http_client_stream_handle(struct http_client *c, const char *method, const char *path,
                          const char *body, size_t body_len, size_t attempt, void *headers)
{
    size_t idx;
    CURL *curl = curl_easy_init();
    _cleanup_free_ char *url = NULL;

    if (!curl)
        abort();
    url = endpoint_url(c, atomic_load(&c->current), attempt, path, &idx, curl);
    if (!url) {
        curl_easy_cleanup(curl);
        return NULL;
    }
    handle_setup(c, curl);
    request_setup(curl, method, url, headers, body, body_len);
    return curl;
}

struct http_stream *
http_stream_new(struct http_client *c)
{
    struct http_stream *s = k3c_xcalloc(1, sizeof(*s));

    s->client = c;
    s->multi = curl_multi_init();
    s->curl = curl_easy_init();
    if (!s->multi || !s->curl)
        abort();
    handle_setup(c, s->curl);
    atomic_init(&s->cancelled, false);
    atomic_init(&s->reset, false);
    atomic_init(&s->interrupted, false);
    return s;
}

void
http_stream_free(struct http_stream *s)
{
    if (!s)
        return;
    curl_easy_cleanup(s->curl);
    curl_multi_cleanup(s->multi);
    free(s);
}

void
http_stream_cancel(struct http_stream *s)
{
    atomic_store(&s->cancelled, true);
    curl_multi_wakeup(s->multi);
}

void
http_stream_interrupt(struct http_stream *s)
{
    atomic_store(&s->interrupted, true);
    curl_multi_wakeup(s->multi);
}

void
http_stream_reset(struct http_stream *s)
{
    atomic_store(&s->reset, true);
    curl_multi_wakeup(s->multi);
}

struct stream_ctx {
    http_stream_cb cb;
    void *userdata;
    bool stopped_by_cb;
    long status;
    CURL *curl;
    struct k3c_buf error_body; /* the body of a non-2xx answer */
};

static size_t
stream_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct stream_ctx *ctx = userdata;
    size_t n = size * nmemb;

    if (ctx->status == 0)
        curl_easy_getinfo(ctx->curl, CURLINFO_RESPONSE_CODE, &ctx->status);
    if (ctx->status >= 300) {
        if (ctx->error_body.len < 4096)
            k3c_buf_append(&ctx->error_body, data, n);
        return n;
    }
    if (ctx->cb(ctx->userdata, data, n) != 0) {
        ctx->stopped_by_cb = true;
        return CURL_WRITEFUNC_ERROR;
    }
    return n;
}

/* Drives the multi until the transfer ends or we are told to stop.
 * Returns the transfer's result, or -1 when cancelled or interrupted, -2 when
 * reset. */
static int
stream_drive(struct http_stream *s, CURLcode *result)
{
    for (;;) {
        int running = 0, queued = 0;
        CURLMsg *msg;

        if (atomic_load(&s->cancelled) || atomic_exchange(&s->interrupted, false))
            return -1;
        if (atomic_exchange(&s->reset, false))
            return -2;
        curl_multi_perform(s->multi, &running);
        while ((msg = curl_multi_info_read(s->multi, &queued)))
            if (msg->msg == CURLMSG_DONE) {
                *result = msg->data.result;
                return 0;
            }
        if (running == 0) {
            *result = CURLE_OK;
            return 0;
        }
        curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
    }
}

static int
stream_once(struct http_stream *s, const char *url, const char *method, const char *body,
            size_t body_len, struct stream_ctx *ctx, struct k3c_err *err)
{
    struct curl_slist *headers = NULL;
    CURLcode result = CURLE_OK;
    int r;

    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    request_setup(s->curl, method, url, headers, body, body_len);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, ctx);
    ctx->curl = s->curl;
    curl_multi_add_handle(s->multi, s->curl);
    r = stream_drive(s, &result);
    curl_multi_remove_handle(s->multi, s->curl);
    curl_slist_free_all(headers);
    if (r == -1)
        return 0; /* cancelled: a normal end for the caller */
    if (r == -2) {
        /* The transfer was removed half-way, so its connection is closed and
         * the next run dials a fresh one. */
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "%s: connection reset", url);
    }
    if (ctx->stopped_by_cb)
        return 0;
    if (result != CURLE_OK)
        return k3c_err_set(err, is_transport_error(result) ? K3C_E_UNAVAILABLE : K3C_E_INTERNAL,
                           "%s: %s", url, curl_easy_strerror(result));
    if (ctx->status >= 300)
        return k3c_err_set(err, ctx->status >= 500 ? K3C_E_UNAVAILABLE : K3C_E_BAD_REQUEST,
                           "%s: HTTP %ld: %.200s", url, ctx->status,
                           ctx->error_body.data ? ctx->error_body.data : "");
    return 0;
}

int
http_stream_run(struct http_stream *s, const char *method, const char *path, const char *body,
                size_t body_len, http_stream_cb cb, void *userdata, struct k3c_err *err)
{
    struct http_client *c = s->client;
    size_t start = atomic_load(&c->current);
    int ret = -1;

    for (size_t i = 0;; i++) {
        size_t idx;
        _cleanup_free_ char *url = endpoint_url(c, start, i, path, &idx, s->curl);

        if (!url)
            break;
        struct stream_ctx ctx = {.cb = cb, .userdata = userdata};

        k3c_buf_init(&ctx.error_body);
        ret = stream_once(s, url, method, body, body_len, &ctx, err);
        k3c_buf_fini(&ctx.error_body);
        if (ret == 0 || err->kind != K3C_E_UNAVAILABLE || atomic_load(&s->cancelled))
            break;
    }
    return ret;
}

/* ---- JSON requests ---------------------------------------------------------- */

static enum k3c_errkind
kind_for_status(long code, const char *reason)
{
    switch (code) {
    case 400:
        return K3C_E_BAD_REQUEST;
    case 404:
        return K3C_E_NOT_FOUND;
    case 409:
        return reason && strcmp(reason, "AlreadyExists") == 0 ? K3C_E_EXISTS : K3C_E_CONFLICT;
    case 410:
        return K3C_E_COMPACTED;
    case 422:
        return K3C_E_INVALID;
    case 503:
        return K3C_E_UNAVAILABLE;
    case 504:
        return K3C_E_TIMEOUT;
    default:
        return K3C_E_INTERNAL;
    }
}

long
http_client_json(struct http_client *http, const char *method, const char *path,
                 const char *content_type, const json_t *body, json_t **out, struct k3c_err *err)
{
    struct http_response resp;
    _cleanup_free_ char *data = NULL;
    json_t *reply = NULL;
    long status;

    if (out)
        *out = NULL;
    if (body)
        data = json_dumps(body, JSON_COMPACT);
    http_response_init(&resp);
    if (http_client_request(http, method, path, content_type ? content_type : "application/json",
                            data, data ? strlen(data) : 0, &resp, err) < 0) {
        http_response_fini(&resp);
        return -1;
    }
    status = resp.status;
    if (resp.body.len > 0)
        reply = k3c_json_loadb(resp.body.data, resp.body.len, 0, NULL);
    if (status < 200 || status >= 300) {
        const char *msg = json_string_value(json_object_get(reply, "message"));
        const char *reason = json_string_value(json_object_get(reply, "reason"));

        k3c_err_set(err, kind_for_status(status, reason), "%s %s: %ld %s", method, path, status,
                    msg ? msg : "");
    }
    http_response_fini(&resp);
    if (out)
        *out = reply;
    else
        json_decref(reply);
    return status;
}
