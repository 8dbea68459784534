/* SPDX-License-Identifier: Apache-2.0
 * pki_expiry.c - the node's certificates and their expiry (issue #21):
 * listed for `k3c certificate check|rotate` (install_certs.c) and written as
 * /metrics lines by the server (cmd/server_metrics.c) and the kubelet
 * (kubelet_server.c), with the data dir's free space. */
#include "pki/pki.h"

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <dirent.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* Where k3c keeps certificates, relative to the data dir. */
static const char *const cert_dirs[] = {"server/tls", "server/tls/etcd", "agent"};

static int
cert_read(const char *path, struct pki_cert_info *c, struct k3c_err *err)
{
    _cleanup_free_ char *pem = NULL;
    size_t len = 0;
    gnutls_x509_crt_t crt;
    gnutls_datum_t d;
    unsigned critical = 0;
    char cn[256];
    size_t cn_len = sizeof(cn);
    int rc;

    if (k3c_read_file(path, &pem, &len, err) < 0)
        return -1;
    if (gnutls_x509_crt_init(&crt) < 0)
        return k3c_err_set(err, K3C_E_INTERNAL, "%s: gnutls_x509_crt_init failed", path);
    d = (gnutls_datum_t){.data = (unsigned char *)pem, .size = (unsigned)len};
    rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        gnutls_x509_crt_deinit(crt);
        return k3c_err_set(err, K3C_E_INVALID, "%s: not a PEM certificate: %s", path,
                           gnutls_strerror(rc));
    }
    c->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
    c->ca = gnutls_x509_crt_get_ca_status(crt, &critical) > 0;
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_len) < 0)
        cn[0] = '\0';
    c->common_name = k3c_xstrdup(cn);
    gnutls_x509_crt_deinit(crt);
    return 0;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pki_cert_info *)a)->file, ((const struct pki_cert_info *)b)->file);
}

int
pki_certs_list(const char *data_dir, struct pki_cert_info **out, size_t *n_out, struct k3c_err *err)
{
    struct pki_cert_info *v = NULL;
    size_t n = 0;

    for (size_t i = 0; i < K3C_ARRAY_SIZE(cert_dirs); i++) {
        _cleanup_free_ char *dir = k3c_xasprintf("%s/%s", data_dir, cert_dirs[i]);
        DIR *d = opendir(dir);
        struct dirent *e;

        while (d && (e = readdir(d))) {
            size_t l = strlen(e->d_name);
            struct pki_cert_info c = {0};
            _cleanup_free_ char *path = NULL;
            struct k3c_err cerr = {0};

            if (l < 5 || strcmp(e->d_name + l - 4, ".crt") != 0)
                continue;
            path = k3c_xasprintf("%s/%s", dir, e->d_name);
            if (cert_read(path, &c, &cerr) < 0) {
                closedir(d);
                pki_certs_free(v, n);
                *err = cerr;
                return -1;
            }
            c.file = k3c_xasprintf("%s/%s", cert_dirs[i], e->d_name);
            v = k3c_xrealloc(v, (n + 1) * sizeof(*v));
            v[n++] = c;
        }
        if (d)
            closedir(d);
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), name_cmp);
    *out = v;
    *n_out = n;
    return 0;
}

void
pki_certs_free(struct pki_cert_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].file);
        free(v[i].common_name);
    }
    free(v);
}

void
pki_node_metrics_write(const char *data_dir, struct k3c_buf *b)
{
    struct pki_cert_info *v = NULL;
    size_t n = 0;
    struct k3c_err err = {0};
    struct statvfs fs;
    int64_t now = k3c_wall_ms() / 1000;

    if (pki_certs_list(data_dir, &v, &n, &err) == 0 && n > 0) {
        k3c_buf_appendf(b, "# HELP k3c_certificate_expiration_seconds Seconds until the "
                           "certificate's notAfter (negative: expired).\n"
                           "# TYPE k3c_certificate_expiration_seconds gauge\n");
        for (size_t i = 0; i < n; i++)
            k3c_buf_appendf(b, "k3c_certificate_expiration_seconds{file=\"%s\",ca=\"%s\"} %lld\n",
                            v[i].file, v[i].ca ? "true" : "false",
                            (long long)(v[i].not_after - now));
    }
    pki_certs_free(v, n);
    if (statvfs(data_dir, &fs) == 0)
        k3c_buf_appendf(b,
                        "# HELP k3c_data_dir_available_bytes Free space of the data dir's file "
                        "system for unprivileged users.\n"
                        "# TYPE k3c_data_dir_available_bytes gauge\n"
                        "k3c_data_dir_available_bytes %llu\n"
                        "# TYPE k3c_data_dir_capacity_bytes gauge\n"
                        "k3c_data_dir_capacity_bytes %llu\n"
                        "# TYPE k3c_data_dir_inodes_free gauge\n"
                        "k3c_data_dir_inodes_free %llu\n",
                        (unsigned long long)fs.f_bavail * fs.f_frsize,
                        (unsigned long long)fs.f_blocks * fs.f_frsize,
                        (unsigned long long)fs.f_favail);
}

int
pki_cert_not_after(const char *cert_path, int64_t *not_after, struct k3c_err *err)
{
    struct pki_cert_info c = {0};

    if (cert_read(cert_path, &c, err) < 0)
        return -1;
    *not_after = c.not_after;
    free(c.common_name);
    return 0;
}
