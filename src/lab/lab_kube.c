/* SPDX-License-Identifier: Apache-2.0
 * lab_kube.c - a read-only client for `k3c topology`, `k3c doctor` and
 * `k3c lab status`, from a kubeconfig: the first cluster's server and CA and
 * the first user's client certificate (inline data or files) or bearer
 * token, which is what k3c (and K3s) write. The inline data goes to a
 * private temp dir for libcurl, removed on free. */
#define LOG_COMPONENT "lab"
#include "lab/lab.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <gnutls/x509.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct lab_kube {
    struct http_client *c;
    char *server;
    char *tmpdir;
    char *ca_file, *cert_file, *key_file;
    char *auth_header; /* "Authorization: Bearer ..." or NULL */
};

/* The value of the first "key: value" line (any indentation, a leading
 * "- " allowed), unquoted; a new string or NULL. */
static char *
yaml_first(const char *text, const char *key)
{
    size_t klen = strlen(key);

    for (const char *line = text; line && *line;) {
        const char *p = line, *eol = strchr(line, '\n');
        size_t n;

        while (*p == ' ' || *p == '\t')
            p++;
        if (p[0] == '-' && p[1] == ' ')
            p += 2;
        while (*p == ' ')
            p++;
        if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
            p += klen + 1;
            while (*p == ' ')
                p++;
            n = eol ? (size_t)(eol - p) : strlen(p);
            while (n > 0 && isspace((unsigned char)p[n - 1]))
                n--;
            if (n >= 2 && (p[0] == '"' || p[0] == '\'') && p[n - 1] == p[0]) {
                p++;
                n -= 2;
            }
            return k3c_xstrndup(p, n);
        }
        line = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/* The file for a kubeconfig credential: <key>-data decoded into the temp
 * dir, or the <key> path as given. NULL when neither is there. */
static char *
credential_file(struct lab_kube *k, const char *text, const char *key, const char *leaf,
                struct k3c_err *err)
{
    _cleanup_free_ char *dkey = k3c_xasprintf("%s-data", key);
    _cleanup_free_ char *data = yaml_first(text, dkey);
    _cleanup_free_ char *raw = NULL;
    size_t len;
    char *path;

    if (!data)
        return yaml_first(text, key);
    raw = k3c_base64_decode(data, &len);
    if (!raw) {
        k3c_err_set(err, K3C_E_INVALID, "kubeconfig: %s is not base64", dkey);
        return NULL;
    }
    path = k3c_xasprintf("%s/%s", k->tmpdir, leaf);
    if (k3c_write_file(path, raw, len, 0600, err) < 0) {
        free(path);
        return NULL;
    }
    return path;
}

void
lab_kube_free(struct lab_kube *k)
{
    if (!k)
        return;
    http_client_free(k->c);
    if (k->tmpdir) {
        const char *leaves[] = {"ca.crt", "client.crt", "client.key"};

        for (size_t i = 0; i < K3C_ARRAY_SIZE(leaves); i++) {
            _cleanup_free_ char *p = k3c_xasprintf("%s/%s", k->tmpdir, leaves[i]);

            unlink(p);
        }
        rmdir(k->tmpdir);
    }
    free(k->tmpdir);
    free(k->server);
    free(k->ca_file);
    free(k->cert_file);
    free(k->key_file);
    free(k->auth_header);
    free(k);
}

K3C_DEFINE_CLEANUP(struct lab_kube *, lab_kube_free)

struct lab_kube *
lab_kube_open(const char *kubeconfig, long timeout_ms, struct k3c_err *err)
{
    _cleanup_(lab_kube_freep) struct lab_kube *k = k3c_xcalloc(1, sizeof(*k));
    _cleanup_free_ char *text = NULL, *token = NULL;
    char tmpl[] = "/tmp/k3c-kube.XXXXXX";
    size_t len;

    if (k3c_read_file(kubeconfig, &text, &len, err) < 0) {
        k3c_err_wrap(err, "kubeconfig (--kubeconfig, else $KUBECONFIG, else /etc/k3c/k3c.yaml)");
        return NULL;
    }
    k->server = yaml_first(text, "server");
    if (!k->server) {
        k3c_err_set(err, K3C_E_INVALID, "%s: no cluster server", kubeconfig);
        return NULL;
    }
    if (!mkdtemp(tmpl)) {
        k3c_err_sys(err, errno, "mkdtemp");
        return NULL;
    }
    k->tmpdir = k3c_xstrdup(tmpl);
    k->ca_file = credential_file(k, text, "certificate-authority", "ca.crt", err);
    if (err->kind)
        return NULL;
    k->cert_file = credential_file(k, text, "client-certificate", "client.crt", err);
    if (err->kind)
        return NULL;
    k->key_file = credential_file(k, text, "client-key", "client.key", err);
    if (err->kind)
        return NULL;
    token = yaml_first(text, "token");
    if (token)
        k->auth_header = k3c_xasprintf("Authorization: Bearer %s", token);

    const char *eps[] = {k->server, NULL};
    struct http_client_config cfg = {.endpoints = eps,
                                     .ca_file = k->ca_file,
                                     .cert_file = k->cert_file,
                                     .key_file = k->key_file,
                                     .connect_timeout_ms = timeout_ms,
                                     .request_timeout_ms = timeout_ms};
    k->c = http_client_new(&cfg, err);
    if (!k->c)
        return NULL;
    return TAKE_PTR(k);
}

const char *
lab_kube_server(const struct lab_kube *k)
{
    return k->server;
}

json_t *
lab_kube_get(struct lab_kube *k, const char *path, struct k3c_err *err)
{
    const char *headers[] = {k->auth_header, NULL};
    struct http_request req = {.path = path, .headers = k->auth_header ? headers : NULL};
    struct http_response resp;
    json_error_t jerr;
    json_t *j = NULL;

    http_response_init(&resp);
    if (http_client_do(k->c, &req, &resp, err) < 0) {
        k3c_err_wrap(err, "GET %s%s", k->server, path);
        goto out;
    }
    if (resp.status != 200) {
        k3c_err_set(err, resp.status == 404 ? K3C_E_NOT_FOUND : K3C_E_INTERNAL,
                    "GET %s%s: HTTP %ld: %.120s", k->server, path, resp.status,
                    resp.body.data ? resp.body.data : "");
        goto out;
    }
    j = json_loadb(resp.body.data, resp.body.len, 0, &jerr);
    if (!j)
        k3c_err_set(err, K3C_E_INVALID, "GET %s: %s", path, jerr.text);
out:
    http_response_fini(&resp);
    return j;
}

static int
cert_file_days(const char *path)
{
    _cleanup_free_ char *pem = NULL;
    struct k3c_err err = {0};
    gnutls_x509_crt_t crt;
    gnutls_datum_t d;
    size_t len;
    time_t exp;
    int days = INT_MIN;

    if (!path || k3c_read_file(path, &pem, &len, &err) < 0)
        return INT_MIN;
    d = (gnutls_datum_t){.data = (unsigned char *)pem, .size = (unsigned)len};
    if (gnutls_x509_crt_init(&crt) < 0)
        return INT_MIN;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0) {
        exp = gnutls_x509_crt_get_expiration_time(crt);
        if (exp != (time_t)-1)
            days = (int)((exp - time(NULL)) / 86400);
    }
    gnutls_x509_crt_deinit(crt);
    return days;
}

void
lab_kube_cert_days(const struct lab_kube *k, int *client_days, int *ca_days)
{
    *client_days = cert_file_days(k->cert_file);
    *ca_days = cert_file_days(k->ca_file);
}
