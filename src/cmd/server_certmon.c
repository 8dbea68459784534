/* SPDX-License-Identifier: Apache-2.0
 * server_certmon.c - the node's certificate monitor (issue #15, K3s's
 * certmonitor), a periodic step of the metrics thread (server_metrics.c):
 * every hour (K3C_CERT_CHECK_INTERVAL_S overrides it, for tests) it lists the certificates of the
 * data dir (pki_certs_list) and, when one expires within PKI_RENEW_WINDOW_DAYS, records a Warning
 * Event CertificateExpirationWarning on this node's Node object, as K3s does: leaves are renewed at
 * the next start (pki_ensure_leaf), CAs are not renewed automatically. At most one Event per node
 * and day. */
#define LOG_COMPONENT "certmon"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"
#include "cmd/server.h"
#include "pki/pki.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK_PERIOD_S 3600

struct server_certmon {
    char *data_dir, *node;
    struct http_client *http;
    int64_t period_ms, next_ms;
};

/* One line per certificate in the window; empty when none. */
static void
expiring(const char *data_dir, struct k3c_buf *msg)
{
    struct pki_cert_info *v = NULL;
    struct k3c_err err = {0};
    int64_t now = k3c_wall_ms() / 1000;
    size_t n = 0;

    if (pki_certs_list(data_dir, &v, &n, &err) < 0) {
        log_warn("cannot list the certificates: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char when[32];

        if (v[i].not_after - now >= (int64_t)PKI_RENEW_WINDOW_DAYS * 86400)
            continue;
        k3c_time_rfc3339(v[i].not_after, when, sizeof(when));
        k3c_buf_appendf(msg, "%s%s: certificate %s %s %s%s", msg->len ? "; " : "", v[i].file,
                        v[i].common_name, v[i].not_after <= now ? "expired at" : "will expire at",
                        when, v[i].ca ? " (a CA: not renewed automatically)" : "");
    }
    pki_certs_free(v, n);
}

static void
record_event(struct server_certmon *m, const char *text)
{
    _cleanup_json_ json_t *ev = NULL;
    struct k3c_err err = {0};
    char now[32], day[16];
    time_t t = time(NULL);
    struct tm tm;
    long code;

    gmtime_r(&t, &tm);
    strftime(day, sizeof(day), "%Y%m%d", &tm);
    k3c_time_rfc3339(t, now, sizeof(now));
    ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:{s:s, s:s},"
                   " s:s, s:s, s:i, s:s, s:s}",
                   "apiVersion", "v1", "kind", "Event", "metadata", "name", "", "namespace",
                   "default", "involvedObject", "apiVersion", "v1", "kind", "Node", "name", m->node,
                   "uid", m->node, "type", "Warning", "reason", "CertificateExpirationWarning",
                   "message", "", "source", "component", "k3c-cert-monitor", "host", m->node,
                   "firstTimestamp", now, "lastTimestamp", now, "count", 1, "reportingComponent",
                   "k3c-cert-monitor", "reportingInstance", m->node);
    if (!ev)
        return;
    json_object_set_new(json_object_get(ev, "metadata"), "name",
                        json_sprintf("%s.certificate-expiration.%s", m->node, day));
    json_object_set_new(ev, "message",
                        json_sprintf("Node certificates require attention - restart k3c on this "
                                     "node to trigger automatic rotation: %s",
                                     text));
    code = http_client_json(m->http, "POST", "/api/v1/namespaces/default/events", NULL, ev, NULL,
                            &err);
    if (code == 201)
        log_warn("certificates expire within %d days: %s", PKI_RENEW_WINDOW_DAYS, text);
    else if (code != 409) /* 409: today's Event is there already */
        log_warn("cannot record the certificate expiration Event: %s", err.msg);
}

int64_t
server_certmon_step(struct server_certmon *m, int64_t now_ms)
{
    struct k3c_buf msg;

    if (now_ms < m->next_ms)
        return m->next_ms;
    k3c_buf_init(&msg);
    expiring(m->data_dir, &msg);
    if (msg.len)
        record_event(m, msg.data);
    k3c_buf_fini(&msg);
    m->next_ms = now_ms + m->period_ms;
    return m->next_ms;
}

struct server_certmon *
server_certmon_new(const struct k3c_config *cfg, struct k3c_err *err)
{
    struct server_certmon *m = k3c_xcalloc(1, sizeof(*m));
    _cleanup_free_ char *url = k3c_xasprintf("https://127.0.0.1:%d", cfg->https_listen_port);
    const char *endpoints[] = {url, NULL};
    const char *env = getenv("K3C_CERT_CHECK_INTERVAL_S");
    struct api_tls_paths tls;
    _cleanup_free_ char *tls_dir = k3c_xasprintf("%s/server/tls", cfg->data_dir);
    struct http_client_config hc = {.endpoints = endpoints};

    api_tls_paths_init(&tls, tls_dir);
    hc.ca_file = tls.server_ca_cert;
    hc.cert_file = tls.admin_cert;
    hc.key_file = tls.admin_key;
    m->http = http_client_new(&hc, err);
    api_tls_paths_fini(&tls);
    if (!m->http) {
        free(m);
        return NULL;
    }
    m->data_dir = k3c_xstrdup(cfg->data_dir);
    m->node = k3c_xstrdup(cfg->node_name);
    m->period_ms = (env && atoi(env) > 0 ? atoi(env) : CHECK_PERIOD_S) * 1000LL;
    return m; /* next_ms 0: the first step checks at once */
}

void
server_certmon_free(struct server_certmon *m)
{
    if (!m)
        return;
    http_client_free(m->http);
    free(m->data_dir);
    free(m->node);
    free(m);
}
