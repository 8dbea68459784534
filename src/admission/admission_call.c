/* SPDX-License-Identifier: Apache-2.0
 * admission_call.c - one HTTPS POST of an AdmissionReview to a webhook,
 * through the one HTTP client (client/client.h). The caBundle is handed to
 * libcurl as a memfd's /proc path: the GnuTLS build of libcurl reads trust
 * anchors only from files (no CURLOPT_CAINFO_BLOB), and a memfd never
 * touches the disk. A Service's endpoint is connected to while TLS checks
 * the name <service>.<namespace>.svc (CURLOPT_RESOLVE), as upstream.
 * Clients are kept between calls (keep-alive, no handshake per call). */
#define LOG_COMPONENT "admission"
#include "admission/admission-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int
admission_target_from_url(const char *url, struct admission_target *t, struct k3c_err *err)
{
    const char *host, *slash;

    if (strncmp(url, "https://", 8) != 0)
        return k3c_err_set(err, K3C_E_INVALID, "webhook url %s is not https", url);
    host = url + 8;
    slash = strchr(host, '/');
    if (slash == host || !*host)
        return k3c_err_set(err, K3C_E_INVALID, "webhook url %s has no host", url);
    if ((size_t)(slash ? slash - url : (long)strlen(url)) >= sizeof(t->base) ||
        (slash && strlen(slash) >= sizeof(t->path)))
        return k3c_err_set(err, K3C_E_INVALID, "webhook url %s is too long", url);
    snprintf(t->base, sizeof(t->base), "%.*s", (int)(slash ? slash - url : (long)strlen(url)), url);
    snprintf(t->path, sizeof(t->path), "%s", slash ? slash : "/");
    return 0;
}

/* A webhook is a pod: its reply is read into memory only up to this size
 * (a larger one fails the call instead of growing the API server). */
#define MAX_REPLY_BYTES (8 * 1024 * 1024)

struct reply_sink {
    struct k3c_buf body;
    bool too_large;
};

static int
reply_sink_cb(void *userdata, const char *data, size_t len)
{
    struct reply_sink *s = userdata;

    if (s->body.len + len > MAX_REPLY_BYTES) {
        s->too_large = true;
        return 1; /* stop the transfer */
    }
    k3c_buf_append(&s->body, data, len);
    return 0;
}

/* A memfd holding the CA bundle; -1 with err. */
static int
ca_memfd(const char *pem, size_t len, struct k3c_err *err)
{
    int fd = memfd_create("k3c-webhook-ca", MFD_CLOEXEC);
    size_t off = 0;

    if (fd < 0)
        return k3c_err_sys(err, errno, "memfd_create");
    while (off < len) {
        ssize_t n = write(fd, pem + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return k3c_err_sys(err, errno, "write webhook CA");
        }
        off += (size_t)n;
    }
    return fd;
}

/* ---- clients kept between calls ------------------------------------------
 * A client per (endpoint, address, timeout, CA) is kept, so its pooled
 * curl handles keep their connections and a call skips the TLS handshake.
 * At most MAX_CLIENTS, the least recently used dropped first; a client
 * in use is freed by its last user. */

#define MAX_CLIENTS 16

struct hook_client {
    char key[1024];
    struct http_client *c;
    int ca_fd;
    int refs; /* callers using it, plus one while cached; under clients_lock */
    int64_t used_ms;
    struct hook_client *next;
};

static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hook_client *clients;
static size_t n_clients;

static void
hook_client_unref(struct hook_client *h)
{
    bool last;

    pthread_mutex_lock(&clients_lock);
    last = --h->refs == 0;
    pthread_mutex_unlock(&clients_lock);
    if (!last)
        return;
    http_client_free(h->c);
    if (h->ca_fd >= 0)
        close(h->ca_fd);
    free(h);
}

static void
client_key(const struct admission_target *t, char *key, size_t len)
{
    unsigned char digest[32] = {0};
    char hex[65];

    if (t->ca_pem && t->ca_len)
        gnutls_hash_fast(GNUTLS_DIG_SHA256, t->ca_pem, t->ca_len, digest);
    for (size_t i = 0; i < sizeof(digest); i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    snprintf(key, len, "%s|%s|%d|%s", t->base, t->resolve, t->timeout_s, hex);
}

static struct hook_client *
hook_client_new(const struct admission_target *t, const char *key, struct k3c_err *err)
{
    const char *endpoints[] = {t->base, NULL};
    const char *resolve[] = {t->resolve, NULL};
    char ca_path[64];
    struct http_client_config cfg = {
        .endpoints = endpoints,
        .resolve = t->resolve[0] ? resolve : NULL,
        .connect_timeout_ms = t->timeout_s * 1000L < 2000 ? t->timeout_s * 1000L : 2000,
        .request_timeout_ms = t->timeout_s * 1000L,
    };
    struct hook_client *h = k3c_xcalloc(1, sizeof(*h));

    h->ca_fd = -1;
    h->refs = 1;
    snprintf(h->key, sizeof(h->key), "%s", key);
    if (t->ca_pem && t->ca_len) {
        h->ca_fd = ca_memfd(t->ca_pem, t->ca_len, err);
        if (h->ca_fd < 0) {
            free(h);
            return NULL;
        }
        snprintf(ca_path, sizeof(ca_path), "/proc/self/fd/%d", h->ca_fd);
        cfg.ca_file = ca_path;
    }
    h->c = http_client_new(&cfg, err);
    if (!h->c) {
        if (h->ca_fd >= 0)
            close(h->ca_fd);
        free(h);
        return NULL;
    }
    return h;
}

/* Under clients_lock: the cached client for key with a ref taken, or NULL. */
static struct hook_client *
cached_client_locked(const char *key)
{
    for (struct hook_client *h = clients; h; h = h->next)
        if (strcmp(h->key, key) == 0) {
            h->refs++;
            h->used_ms = k3c_now_ms();
            return h;
        }
    return NULL;
}

/* Under clients_lock: unlinks the least recently used client but keep. */
static struct hook_client *
evict_locked(const struct hook_client *keep)
{
    struct hook_client **victim = NULL, *v;

    for (struct hook_client **pp = &clients; *pp; pp = &(*pp)->next)
        if (*pp != keep && (!victim || (*pp)->used_ms < (*victim)->used_ms))
            victim = pp;
    if (!victim)
        return NULL;
    v = *victim;
    *victim = v->next;
    n_clients--;
    return v;
}

/* A client for t with a ref for the caller (hook_client_unref). */
static struct hook_client *
hook_client_get(const struct admission_target *t, struct k3c_err *err)
{
    struct hook_client *h, *have, *victim = NULL;
    char key[1024];

    client_key(t, key, sizeof(key));
    pthread_mutex_lock(&clients_lock);
    h = cached_client_locked(key);
    pthread_mutex_unlock(&clients_lock);
    if (h)
        return h;
    h = hook_client_new(t, key, err);
    if (!h)
        return NULL;
    pthread_mutex_lock(&clients_lock);
    have = cached_client_locked(key); /* another call made one meanwhile */
    if (!have) {
        h->refs++; /* the cache's */
        h->used_ms = k3c_now_ms();
        h->next = clients;
        clients = h;
        if (++n_clients > MAX_CLIENTS)
            victim = evict_locked(h);
    }
    pthread_mutex_unlock(&clients_lock);
    if (victim)
        hook_client_unref(victim);
    if (have) {
        hook_client_unref(h);
        return have;
    }
    return h;
}

int
admission_call(const struct admission_target *t, const json_t *review, char **reply,
               size_t *reply_len, struct k3c_err *err)
{
    const char *headers[] = {"Accept: application/json", NULL};
    _cleanup_free_ char *body = NULL;
    struct reply_sink sink = {0};
    struct http_request req = {.method = "POST",
                               .path = t->path,
                               .headers = headers,
                               .sink = reply_sink_cb,
                               .sink_data = &sink};
    struct http_response resp;
    struct hook_client *h;
    int rc;

    *reply = NULL;
    *reply_len = 0;
    h = hook_client_get(t, err);
    if (!h)
        return -1;
    body = json_dumps(review, JSON_COMPACT);
    req.body = body;
    req.body_len = strlen(body);
    k3c_buf_init(&sink.body);
    http_response_init(&resp);
    rc = http_client_do(h->c, &req, &resp, err);
    hook_client_unref(h);
    if (rc < 0 && sink.too_large) {
        k3c_err_clear(err);
        k3c_err_set(err, K3C_E_INVALID, "POST %s%s: the reply is larger than %d bytes", t->base,
                    t->path, MAX_REPLY_BYTES);
    } else if (rc == 0 && resp.status != 200) {
        rc = k3c_err_set(err, K3C_E_INTERNAL, "POST %s%s: the webhook answered HTTP %ld: %.200s",
                         t->base, t->path, resp.status, resp.body.data ? resp.body.data : "");
    }
    http_response_fini(&resp);
    if (rc < 0) {
        k3c_buf_fini(&sink.body);
        return -1;
    }
    *reply = k3c_buf_steal(&sink.body, reply_len);
    if (!*reply)
        *reply = k3c_xstrdup("");
    return 0;
}
