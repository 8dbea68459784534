/* SPDX-License-Identifier: Apache-2.0
 * server_tls.c - the API server's certificates and the admin kubeconfig.
 * server-ca signs serving certificates; client-ca signs client
 * certificates (admin now, nodes later), as in K3s's layout. */
#define LOG_COMPONENT "server"
#include "cmd/server.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "api/api.h"
#include "pki/pki.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
api_tls_paths_init(struct api_tls_paths *p, const char *tls_dir)
{
    p->server_ca_cert = k3c_xasprintf("%s/server-ca.crt", tls_dir);
    p->server_ca_key = k3c_xasprintf("%s/server-ca.key", tls_dir);
    p->client_ca_cert = k3c_xasprintf("%s/client-ca.crt", tls_dir);
    p->client_ca_key = k3c_xasprintf("%s/client-ca.key", tls_dir);
    p->serving_cert = k3c_xasprintf("%s/serving-kube-apiserver.crt", tls_dir);
    p->serving_key = k3c_xasprintf("%s/serving-kube-apiserver.key", tls_dir);
    p->admin_cert = k3c_xasprintf("%s/client-admin.crt", tls_dir);
    p->admin_key = k3c_xasprintf("%s/client-admin.key", tls_dir);
}

void
api_tls_paths_fini(struct api_tls_paths *p)
{
    char **fields[] = {&p->server_ca_cert, &p->server_ca_key, &p->client_ca_cert, &p->client_ca_key,
                       &p->serving_cert,   &p->serving_key,   &p->admin_cert,     &p->admin_key};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(fields); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

static bool
is_ip(const char *s)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* SANs of the serving certificate: the names kubectl and pods use, the
 * service IP 10.43.0.1, the node's addresses and every --tls-san. */
static void
serving_sans(const struct k3c_config *cfg, const char **dns, size_t *n_dns, const char **ips,
             size_t *n_ips, size_t max)
{
    static const char *const fixed_dns[] = {"localhost", "kubernetes", "kubernetes.default",
                                            "kubernetes.default.svc",
                                            "kubernetes.default.svc.cluster.local"};
    static char host[256];

    *n_dns = 0;
    *n_ips = 0;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(fixed_dns); i++)
        dns[(*n_dns)++] = fixed_dns[i];
    if (gethostname(host, sizeof(host) - 1) == 0 && host[0])
        dns[(*n_dns)++] = host;
    dns[(*n_dns)++] = cfg->node_name;
    ips[(*n_ips)++] = "127.0.0.1";
    ips[(*n_ips)++] = "10.43.0.1";
    if (strcmp(cfg->node_ip, "127.0.0.1") != 0)
        ips[(*n_ips)++] = cfg->node_ip;
    if (cfg->vip) { /* --vip ADDR[/PREFIX]: the address without its prefix */
        static char vip[64];

        snprintf(vip, sizeof(vip), "%.*s", (int)strcspn(cfg->vip, "/"), cfg->vip);
        ips[(*n_ips)++] = vip;
    }
    for (size_t i = 0; cfg->tls_sans && cfg->tls_sans[i] && *n_dns < max - 1 && *n_ips < max - 1;
         i++) {
        if (is_ip(cfg->tls_sans[i]))
            ips[(*n_ips)++] = cfg->tls_sans[i];
        else
            dns[(*n_dns)++] = cfg->tls_sans[i];
    }
    dns[*n_dns] = NULL;
    ips[*n_ips] = NULL;
}

/* The service-account signing key beside the CA keys (issue #15). */
static int
sa_key_ensure(const struct api_tls_paths *p, struct k3c_err *err)
{
    _cleanup_free_ char *dir = k3c_xstrdup(p->client_ca_key);
    char *slash = strrchr(dir, '/');

    if (slash)
        *slash = '\0';
    return api_sa_key_ensure(slash ? dir : ".", err);
}

int
api_certs_ensure(const struct api_tls_paths *p, const struct k3c_config *cfg, struct k3c_err *err)
{
    const char *dns[48], *ips[48];
    size_t n_dns, n_ips;
    const char *const admin_o[] = {"system:masters"};
    struct pki_leaf_spec serving = {.common_name = "kube-apiserver",
                                    .usage = PKI_USAGE_SERVER,
                                    .dns_sans = dns,
                                    .ip_sans = ips};
    struct pki_leaf_spec admin = {
        .common_name = "system:admin", .organization = admin_o[0], .usage = PKI_USAGE_CLIENT};

    serving_sans(cfg, dns, &n_dns, ips, &n_ips, K3C_ARRAY_SIZE(dns));
    if (pki_ensure_ca(p->server_ca_cert, p->server_ca_key, "k3c-server-ca", err) < 0 ||
        pki_ensure_ca(p->client_ca_cert, p->client_ca_key, "k3c-client-ca", err) < 0)
        return -1;
    if (pki_ensure_leaf(p->server_ca_cert, p->server_ca_key, p->serving_cert, p->serving_key,
                        &serving, err) < 0 ||
        pki_ensure_leaf(p->client_ca_cert, p->client_ca_key, p->admin_cert, p->admin_key, &admin,
                        err) < 0)
        return k3c_err_wrap(err, "API server certificates");
    return sa_key_ensure(p, err);
}

static char *
file_base64(const char *path, struct k3c_err *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;

    if (k3c_read_file(path, &data, &len, err) < 0)
        return NULL;
    return k3c_base64_encode(data, len);
}

int
kubeconfig_write(const char *path, const char *mode_str, const struct api_tls_paths *p, int port,
                 struct k3c_err *err)
{
    return kubeconfig_write_host(path, mode_str, p, "127.0.0.1", port, err);
}

int
kubeconfig_write_host(const char *path, const char *mode_str, const struct api_tls_paths *p,
                      const char *host, int port, struct k3c_err *err)
{
    _cleanup_free_ char *ca = NULL, *cert = NULL, *key = NULL, *text = NULL, *dir = NULL;
    char *end = NULL;
    long mode = strtol(mode_str ? mode_str : "0600", &end, 8);
    char *slash;

    if (!end || *end || mode < 0 || mode > 0777)
        return k3c_err_set(err, K3C_E_INVALID, "--write-kubeconfig-mode %s is not an octal mode",
                           mode_str);
    ca = file_base64(p->server_ca_cert, err);
    cert = ca ? file_base64(p->admin_cert, err) : NULL;
    key = cert ? file_base64(p->admin_key, err) : NULL;
    if (!key)
        return -1;
    text = k3c_xasprintf("apiVersion: v1\n"
                         "kind: Config\n"
                         "clusters:\n"
                         "- cluster:\n"
                         "    certificate-authority-data: %s\n"
                         "    server: https://%s:%d\n"
                         "  name: default\n"
                         "contexts:\n"
                         "- context:\n"
                         "    cluster: default\n"
                         "    user: default\n"
                         "  name: default\n"
                         "current-context: default\n"
                         "preferences: {}\n"
                         "users:\n"
                         "- name: default\n"
                         "  user:\n"
                         "    client-certificate-data: %s\n"
                         "    client-key-data: %s\n",
                         ca, host, port, cert, key);
    dir = k3c_xstrdup(path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (k3c_mkdir_p(dir, 0755, err) < 0)
            return k3c_err_wrap(err, "kubeconfig directory");
    }
    if (k3c_write_file(path, text, strlen(text), (mode_t)mode, err) < 0)
        return k3c_err_wrap(err, "write kubeconfig");
    log_info("wrote kubeconfig %s", path);
    return 0;
}

/* The secret of an existing token file: after "::server:" (or "::"). */
static char *
token_secret_of(const char *token)
{
    const char *p = strstr(token, "::");

    if (!p)
        return NULL;
    p += 2;
    if (strncmp(p, "server:", 7) == 0)
        p += 7;
    return k3c_xstrndup(p, strcspn(p, "\r\n"));
}

int
node_token_ensure(const char *path, const char *ca_cert, const char *given, char **secret_out,
                  struct k3c_err *err)
{
    _cleanup_free_ char *old = NULL, *secret = NULL, *token = NULL;
    char hash[65];

    if (k3c_file_exists(path) && k3c_read_file(path, &old, NULL, err) == 0)
        secret = token_secret_of(old);
    k3c_err_clear(err);
    if (given && *given) {
        /* --token may be a bare secret or a whole K10 token. */
        free(secret);
        secret = strncmp(given, "K10", 3) == 0 ? token_secret_of(given) : k3c_xstrdup(given);
    }
    if (!secret || !*secret) {
        unsigned char rnd[16];

        free(secret);
        k3c_random_bytes(rnd, sizeof(rnd));
        secret =
            k3c_xasprintf("%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x",
                          rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8],
                          rnd[9], rnd[10], rnd[11], rnd[12], rnd[13], rnd[14], rnd[15]);
    }
    if (pki_cert_sha256_hex(ca_cert, hash, err) < 0)
        return -1;
    token = k3c_xasprintf("K10%s::server:%s\n", hash, secret);
    if (!old || strcmp(old, token) != 0) {
        if (k3c_write_file(path, token, strlen(token), 0600, err) < 0)
            return k3c_err_wrap(err, "node token");
        log_info("wrote node token %s", path);
    }
    *secret_out = TAKE_PTR(secret);
    return 0;
}
