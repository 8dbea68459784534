/* SPDX-License-Identifier: Apache-2.0
 * admission_call.c - one HTTPS POST of an AdmissionReview to a webhook,
 * through the one HTTP client (client/client.h). The caBundle is handed to
 * libcurl as a memfd's /proc path: the GnuTLS build of libcurl reads trust
 * anchors only from files (no CURLOPT_CAINFO_BLOB), and a memfd never
 * touches the disk. A Service is reached at its ClusterIP while TLS checks
 * the name <service>.<namespace>.svc (CURLOPT_RESOLVE), as upstream. */
#define LOG_COMPONENT "admission"
#include "admission/admission-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"

#include <errno.h>
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

int
admission_call(const struct admission_target *t, const json_t *review, char **reply,
               size_t *reply_len, struct k3c_err *err)
{
    const char *endpoints[] = {t->base, NULL};
    const char *resolve[] = {t->resolve, NULL};
    const char *headers[] = {"Accept: application/json", NULL};
    _cleanup_close_ int ca_fd = -1;
    _cleanup_free_ char *body = NULL;
    char ca_path[64];
    struct http_client_config cfg = {
        .endpoints = endpoints,
        .resolve = t->resolve[0] ? resolve : NULL,
        .connect_timeout_ms = t->timeout_s * 1000L < 2000 ? t->timeout_s * 1000L : 2000,
        .request_timeout_ms = t->timeout_s * 1000L,
    };
    struct reply_sink sink = {0};
    struct http_request req = {.method = "POST",
                               .path = t->path,
                               .headers = headers,
                               .sink = reply_sink_cb,
                               .sink_data = &sink};
    struct http_response resp;
    struct http_client *c;
    int rc;

    *reply = NULL;
    *reply_len = 0;
    if (t->ca_pem && t->ca_len) {
        ca_fd = ca_memfd(t->ca_pem, t->ca_len, err);
        if (ca_fd < 0)
            return -1;
        snprintf(ca_path, sizeof(ca_path), "/proc/self/fd/%d", ca_fd);
        cfg.ca_file = ca_path;
    }
    c = http_client_new(&cfg, err);
    if (!c)
        return -1;
    body = json_dumps(review, JSON_COMPACT);
    req.body = body;
    req.body_len = strlen(body);
    k3c_buf_init(&sink.body);
    http_response_init(&resp);
    rc = http_client_do(c, &req, &resp, err);
    http_client_free(c);
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
