/* SPDX-License-Identifier: Apache-2.0
 * pki.h - the cluster's certificates (GnuTLS). A cluster CA is made once and
 * kept; leaf certificates are signed by it and renewed when they are missing,
 * expire within 120 days (K3s's window), or lack a SAN that is asked for. Keys are ECDSA
 * P-256, written mode 0600; certificates 0644. All files are PEM.
 * Thread: any (no shared state). */
#ifndef K3C_PKI_PKI_H
#define K3C_PKI_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum pki_usage {
    PKI_USAGE_SERVER = 1 << 0, /* extKeyUsage serverAuth */
    PKI_USAGE_CLIENT = 1 << 1, /* extKeyUsage clientAuth */
};

struct pki_leaf_spec {
    const char *common_name;     /* CN */
    const char *organization;    /* O, may be NULL */
    unsigned usage;              /* PKI_USAGE_* bits */
    const char *const *dns_sans; /* NULL-terminated, may be NULL */
    const char *const *ip_sans;  /* NULL-terminated IPv4/IPv6 literals, may be NULL */
    unsigned valid_days;         /* 0 means 365 */
    /* CertificateSigningRequest signing (issue #15): more O values after
     * organization (NULL-terminated, may be NULL), and a lifetime in
     * seconds that overrides valid_days when not 0 (pki_sign_csr only). */
    const char *const *more_organizations;
    unsigned valid_seconds;
};

/* Makes sure a CA exists at cert_path/key_path: loads it if both files are
 * there, otherwise creates a self-signed CA (10 years, CN=common_name).
 * Returns 1 if it created one, 0 if it reused one, -1 on error. */
int pki_ensure_ca(const char *cert_path, const char *key_path, const char *common_name,
                  struct k3c_err *err);

/* Makes sure a leaf signed by the CA exists at cert_path/key_path and fits
 * spec (CN, every SAN, not expiring within 120 days, signed by this CA);
 * otherwise (re)issues it, reusing nothing. Returns 1 if issued, 0 if
 * reused, -1 on error. */
int pki_ensure_leaf(const char *ca_cert_path, const char *ca_key_path, const char *cert_path,
                    const char *key_path, const struct pki_leaf_spec *spec, struct k3c_err *err);

/* Lowercase hex SHA-256 of len bytes. out holds 65 bytes. */
void pki_sha256_hex(const void *data, size_t len, char out[65]);

/* Lowercase hex SHA-256 of the bytes of the PEM file at cert_path, as K3s
 * computes the CA hash in its K10 join token (over the CA bundle it serves).
 * out must hold 65 bytes. */
int pki_cert_sha256_hex(const char *cert_path, char out[65], struct k3c_err *err);

/* A new P-256 key and a certificate request for CN/O (a joining node's).
 * Both PEM strings are the caller's to free. */
int pki_csr_new(const char *common_name, const char *organization, char **key_pem, char **csr_pem,
                struct k3c_err *err);

/* Signs the public key of a (self-signed, verified) CSR with the CA. The
 * certificate's subject, usages and SANs come from spec, never from the
 * CSR: the caller decides the identity. BAD_REQUEST for a bad CSR. */
int pki_sign_csr(const char *ca_cert_path, const char *ca_key_path, const char *csr_pem,
                 const struct pki_leaf_spec *spec, char **cert_pem, struct k3c_err *err);

/* What a PEM certificate request (PKCS#10) asks for, after its
 * self-signature verified: subject CN and O values, and whether it names
 * any subjectAltName. For CertificateSigningRequest validation and signers;
 * the input is untrusted (fuzzed: tests/fuzz/fuzz_csr.c). BAD_REQUEST with
 * the reason when it is not a valid request. */
struct pki_csr_info {
    char common_name[256];
    char organizations[8][128];
    int n_organizations;
    bool has_sans;
};
int pki_csr_parse(const char *pem, size_t len, struct pki_csr_info *out, struct k3c_err *err);

/* The verified TLS peer of a server session (a gnutls_session_t): its
 * certificate must chain to the session's trusted CAs. CN and every O, as
 * kube-apiserver reads a client certificate. False when there is no
 * certificate, it does not verify, or it has no CN. */
struct pki_subject {
    char common_name[256];
    char organizations[8][128];
    int n_organizations;
};
bool pki_peer_subject(void *tls_session, struct pki_subject *out);

/* ---- the node's certificates and their expiry (pki_expiry.c, issue #21) ---- */

/* One certificate under <data-dir>/server/tls, server/tls/etcd or agent. */
/* A leaf certificate this close to expiry is renewed at the next start
 * (K3s's window, issue #15). */
#define PKI_RENEW_WINDOW_DAYS 120

struct pki_cert_info {
    char *file; /* relative to the data dir */
    char *common_name;
    bool ca;
    int64_t not_after; /* Unix seconds */
};
/* Every *.crt there, sorted by file; an unreadable one fails the list. */
int pki_certs_list(const char *data_dir, struct pki_cert_info **out, size_t *n_out,
                   struct k3c_err *err);
void pki_certs_free(struct pki_cert_info *v, size_t n);
/* The notAfter (Unix seconds) of the PEM certificate at cert_path. */
int pki_cert_not_after(const char *cert_path, int64_t *not_after, struct k3c_err *err);
struct k3c_buf;
/* /metrics lines: k3c_certificate_expiration_seconds{file,ca} per
 * certificate and the data dir's free space (k3c_data_dir_*). */
void pki_node_metrics_write(const char *data_dir, struct k3c_buf *b);

#endif
