/* SPDX-License-Identifier: Apache-2.0
 * test_pki.c - CA and leaf creation, reuse and reissue, checked by loading
 * the results back with GnuTLS. Each test runs in its own mkdtemp directory
 * under /tmp, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "pki/pki.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

struct fixture {
    char dir[64];
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
setup(void **state)
{
    struct fixture *f = k3c_xcalloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/k3c-test-pki-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* A path in the test's directory; caller free()s. */
static char *
tpath(void **state, const char *name)
{
    struct fixture *f = *state;

    return k3c_xasprintf("%s/%s", f->dir, name);
}

static void
load_crt(const char *path, gnutls_x509_crt_t *crt)
{
    _cleanup_free_ char *pem = NULL;
    struct k3c_err err = {0};
    size_t len = 0;
    gnutls_datum_t d;

    assert_int_equal(k3c_read_file(path, &pem, &len, &err), 0);
    d.data = (unsigned char *)pem;
    d.size = (unsigned)len;
    assert_int_equal(gnutls_x509_crt_init(crt), 0);
    assert_int_equal(gnutls_x509_crt_import(*crt, &d, GNUTLS_X509_FMT_PEM), 0);
}

static bool
crt_has_san(gnutls_x509_crt_t crt, int type, const void *want, size_t len)
{
    char buf[256];

    for (unsigned i = 0;; i++) {
        size_t size = sizeof(buf);
        int rc = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, NULL);

        if (rc < 0)
            return false;
        if (rc == type && size == len && memcmp(buf, want, len) == 0)
            return true;
    }
}

static bool
crt_has_ip(gnutls_x509_crt_t crt, int af, const char *ip)
{
    unsigned char bin[16];

    assert_int_equal(inet_pton(af, ip, bin), 1);
    return crt_has_san(crt, GNUTLS_SAN_IPADDRESS, bin, af == AF_INET ? 4 : 16);
}

static bool
crt_has_purpose(gnutls_x509_crt_t crt, const char *oid)
{
    char buf[128];

    for (unsigned i = 0;; i++) {
        size_t size = sizeof(buf);
        int rc = gnutls_x509_crt_get_key_purpose_oid(crt, i, buf, &size, NULL);

        if (rc < 0)
            return false;
        if (strcmp(buf, oid) == 0)
            return true;
    }
}

static bool
crt_verifies(const char *cert_path, const char *ca_path)
{
    gnutls_x509_crt_t crt = NULL, ca = NULL;
    unsigned status = 0;
    int rc;

    load_crt(cert_path, &crt);
    load_crt(ca_path, &ca);
    rc = gnutls_x509_crt_verify(crt, &ca, 1, 0, &status);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_crt_deinit(ca);
    return rc == 0 && status == 0;
}

static mode_t
file_mode(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void
sha_of(const char *path, char out[65])
{
    struct k3c_err err = {0};

    assert_int_equal(pki_cert_sha256_hex(path, out, &err), 0);
}

static const char *const dns_sans[] = {"localhost", "etcd.k3c.local", NULL};
static const char *const ip_sans[] = {"127.0.0.1", "::1", NULL};

static const struct pki_leaf_spec server_spec = {
    .common_name = "etcd-server",
    .organization = "k3c",
    .usage = PKI_USAGE_SERVER | PKI_USAGE_CLIENT,
    .dns_sans = dns_sans,
    .ip_sans = ip_sans,
};

/* Makes ca.crt/ca.key in the test directory. */
static void
make_ca(void **state, const char *name)
{
    _cleanup_free_ char *crt = NULL, *key = NULL;
    struct k3c_err err = {0};

    crt = tpath(state, name);
    key = k3c_xasprintf("%s.key", crt);
    assert_int_equal(pki_ensure_ca(crt, key, "k3c-ca", &err), 1);
}

/* ensure_leaf with ca/ca.key → leaf.crt/leaf.key; returns its result. */
static int
ensure_leaf(void **state, const char *ca_name, const struct pki_leaf_spec *spec,
            struct k3c_err *err)
{
    _cleanup_free_ char *ca = tpath(state, ca_name);
    _cleanup_free_ char *ca_key = k3c_xasprintf("%s.key", ca);
    _cleanup_free_ char *crt = tpath(state, "leaf/leaf.crt");
    _cleanup_free_ char *key = tpath(state, "leaf/leaf.key");

    return pki_ensure_leaf(ca, ca_key, crt, key, spec, err);
}

static void
test_ca_created_then_reused(void **state)
{
    _cleanup_free_ char *crt_path = tpath(state, "pki/sub/ca.crt");
    _cleanup_free_ char *key_path = tpath(state, "pki/sub/ca.key");
    struct k3c_err err = {0};
    char sha1[65], sha2[65];
    gnutls_x509_crt_t crt = NULL;
    unsigned critical = 0, usage = 0;

    assert_int_equal(pki_ensure_ca(crt_path, key_path, "k3c-ca", &err), 1);
    assert_int_equal(file_mode(key_path), 0600);
    assert_int_equal(file_mode(crt_path), 0644);
    sha_of(crt_path, sha1);
    assert_int_equal(pki_ensure_ca(crt_path, key_path, "k3c-ca", &err), 0);
    sha_of(crt_path, sha2);
    assert_string_equal(sha1, sha2);

    load_crt(crt_path, &crt);
    assert_int_equal(gnutls_x509_crt_get_basic_constraints(crt, &critical, NULL, NULL), 1);
    assert_true(critical);
    assert_true(gnutls_x509_crt_get_key_usage(crt, &usage, &critical) >= 0);
    assert_true(usage & GNUTLS_KEY_KEY_CERT_SIGN);
    assert_true(usage & GNUTLS_KEY_CRL_SIGN);
    assert_int_equal(gnutls_x509_crt_get_pk_algorithm(crt, NULL), GNUTLS_PK_ECDSA);
    assert_true(gnutls_x509_crt_get_expiration_time(crt) > time(NULL) + 3600L * 24 * 3600);
    gnutls_x509_crt_deinit(crt);
    assert_true(crt_verifies(crt_path, crt_path));
}

static void
test_ca_replaced_when_unparsable(void **state)
{
    _cleanup_free_ char *crt_path = tpath(state, "ca.crt");
    _cleanup_free_ char *key_path = tpath(state, "ca.key");
    struct k3c_err err = {0};

    assert_int_equal(pki_ensure_ca(crt_path, key_path, "k3c-ca", &err), 1);
    assert_int_equal(k3c_write_file(crt_path, "garbage", 7, 0644, &err), 0);
    assert_int_equal(pki_ensure_ca(crt_path, key_path, "k3c-ca", &err), 1);
    assert_int_equal(pki_ensure_ca(crt_path, key_path, "k3c-ca", &err), 0);
}

static void
test_leaf_issued_then_reused(void **state)
{
    _cleanup_free_ char *crt_path = tpath(state, "leaf/leaf.crt");
    _cleanup_free_ char *key_path = tpath(state, "leaf/leaf.key");
    _cleanup_free_ char *ca_path = tpath(state, "ca.crt");
    struct k3c_err err = {0};
    gnutls_x509_crt_t crt = NULL;
    char sha1[65], sha2[65], cn[64];
    size_t size = sizeof(cn);

    make_ca(state, "ca.crt");
    assert_int_equal(ensure_leaf(state, "ca.crt", &server_spec, &err), 1);
    assert_int_equal(file_mode(key_path), 0600);
    assert_int_equal(file_mode(crt_path), 0644);
    sha_of(crt_path, sha1);
    assert_int_equal(ensure_leaf(state, "ca.crt", &server_spec, &err), 0);
    sha_of(crt_path, sha2);
    assert_string_equal(sha1, sha2);
    assert_true(crt_verifies(crt_path, ca_path));

    load_crt(crt_path, &crt);
    assert_true(crt_has_ip(crt, AF_INET, "127.0.0.1"));
    assert_true(crt_has_ip(crt, AF_INET6, "::1"));
    assert_true(crt_has_san(crt, GNUTLS_SAN_DNSNAME, "localhost", strlen("localhost")));
    assert_true(crt_has_san(crt, GNUTLS_SAN_DNSNAME, "etcd.k3c.local", strlen("etcd.k3c.local")));
    assert_true(crt_has_purpose(crt, GNUTLS_KP_TLS_WWW_SERVER));
    assert_true(crt_has_purpose(crt, GNUTLS_KP_TLS_WWW_CLIENT));
    assert_int_equal(
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size), 0);
    assert_string_equal(cn, "etcd-server");
    size = sizeof(cn);
    assert_int_equal(
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, 0, cn, &size), 0);
    assert_string_equal(cn, "k3c");
    assert_int_equal(gnutls_x509_crt_get_basic_constraints(crt, NULL, NULL, NULL), 0);
    gnutls_x509_crt_deinit(crt);
}

static void
test_leaf_client_only_usage(void **state)
{
    _cleanup_free_ char *crt_path = tpath(state, "leaf/leaf.crt");
    struct pki_leaf_spec spec = {.common_name = "admin", .usage = PKI_USAGE_CLIENT};
    struct k3c_err err = {0};
    gnutls_x509_crt_t crt = NULL;

    make_ca(state, "ca.crt");
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    load_crt(crt_path, &crt);
    assert_true(crt_has_purpose(crt, GNUTLS_KP_TLS_WWW_CLIENT));
    assert_false(crt_has_purpose(crt, GNUTLS_KP_TLS_WWW_SERVER));
    gnutls_x509_crt_deinit(crt);
    /* Asking for serverAuth as well means a new certificate. */
    spec.usage |= PKI_USAGE_SERVER;
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 0);
}

static void
test_leaf_reissued_for_new_san(void **state)
{
    static const char *const more_dns[] = {"localhost", "etcd.k3c.local", "node-2", NULL};
    struct pki_leaf_spec spec = server_spec;
    struct k3c_err err = {0};

    make_ca(state, "ca.crt");
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    spec.dns_sans = more_dns;
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 0);
    /* A subset of what the cert holds still fits. */
    spec.dns_sans = NULL;
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 0);
    spec.ip_sans = (const char *const[]){"10.0.0.1", NULL};
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
}

static void
test_leaf_reissued_for_new_cn(void **state)
{
    struct pki_leaf_spec spec = server_spec;
    struct k3c_err err = {0};

    make_ca(state, "ca.crt");
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    spec.common_name = "etcd-peer";
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    spec.organization = NULL;
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 0);
}

static void
test_leaf_reissued_when_ca_changes(void **state)
{
    _cleanup_free_ char *crt_path = tpath(state, "leaf/leaf.crt");
    _cleanup_free_ char *ca_a = tpath(state, "a/ca.crt");
    _cleanup_free_ char *ca_b = tpath(state, "b/ca.crt");
    struct k3c_err err = {0};

    make_ca(state, "a/ca.crt");
    make_ca(state, "b/ca.crt");
    assert_int_equal(ensure_leaf(state, "a/ca.crt", &server_spec, &err), 1);
    assert_true(crt_verifies(crt_path, ca_a));
    assert_false(crt_verifies(crt_path, ca_b));
    assert_int_equal(ensure_leaf(state, "b/ca.crt", &server_spec, &err), 1);
    assert_true(crt_verifies(crt_path, ca_b));
    assert_false(crt_verifies(crt_path, ca_a));
    assert_int_equal(ensure_leaf(state, "b/ca.crt", &server_spec, &err), 0);
}

static void
test_leaf_reissued_when_expiring(void **state)
{
    _cleanup_free_ char *crt_path = tpath(state, "leaf/leaf.crt");
    struct pki_leaf_spec spec = server_spec;
    struct k3c_err err = {0};

    make_ca(state, "ca.crt");
    /* 60 days left: inside the 120-day window of a default (365-day) leaf. */
    spec.valid_days = 60;
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    /* ...but a leaf asked to live 60 days renews only half-way through. */
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 0);
    spec.valid_days = 0;
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 0);
    /* 100 days left: inside K3s's 120-day window (issue #15), renewed at start */
    unlink(crt_path);
    spec.valid_days = 100;
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 0);
    spec.valid_days = 0;
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 1);
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), 0);
}

static void
test_leaf_reissued_when_key_replaced(void **state)
{
    _cleanup_free_ char *key_path = tpath(state, "leaf/leaf.key");
    _cleanup_free_ char *ca_key = tpath(state, "ca.crt.key");
    _cleanup_free_ char *pem = NULL;
    struct k3c_err err = {0};
    size_t len = 0;

    make_ca(state, "ca.crt");
    assert_int_equal(ensure_leaf(state, "ca.crt", &server_spec, &err), 1);
    /* Any other valid key: the CA's. */
    assert_int_equal(k3c_read_file(ca_key, &pem, &len, &err), 0);
    assert_int_equal(k3c_write_file(key_path, pem, len, 0600, &err), 0);
    assert_int_equal(ensure_leaf(state, "ca.crt", &server_spec, &err), 1);
    assert_int_equal(ensure_leaf(state, "ca.crt", &server_spec, &err), 0);
}

static void
test_bad_ip_san_is_invalid(void **state)
{
    _cleanup_free_ char *crt_path = tpath(state, "leaf/leaf.crt");
    struct pki_leaf_spec spec = server_spec;
    struct k3c_err err = {0};

    make_ca(state, "ca.crt");
    spec.ip_sans = (const char *const[]){"127.0.0.1", "not-an-ip", NULL};
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_non_null(strstr(err.msg, "not-an-ip"));
    assert_false(k3c_file_exists(crt_path));

    spec.ip_sans = (const char *const[]){"300.1.1.1", NULL};
    assert_int_equal(ensure_leaf(state, "ca.crt", &spec, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
}

static void
test_missing_ca_is_an_error(void **state)
{
    struct k3c_err err = {0};

    assert_int_equal(ensure_leaf(state, "nope.crt", &server_spec, &err), -1);
    assert_int_equal(err.kind, K3C_E_SYSTEM);
    assert_non_null(strstr(err.msg, "nope.crt"));
}

static void
test_unwritable_dir_errors(void **state)
{
    _cleanup_free_ char *ca = tpath(state, "ca.crt");
    _cleanup_free_ char *ca_key = tpath(state, "ca.crt.key");
    struct k3c_err err = {0};

    assert_int_equal(pki_ensure_ca("/proc/k3c-test/ca.crt", "/proc/k3c-test/ca.key", "x", &err),
                     -1);
    assert_int_not_equal(err.kind, K3C_E_NONE);
    assert_non_null(strstr(err.msg, "/proc/k3c-test"));

    make_ca(state, "ca.crt");
    k3c_err_clear(&err);
    assert_int_equal(pki_ensure_leaf(ca, ca_key, "/proc/k3c-test/l.crt", "/proc/k3c-test/l.key",
                                     &server_spec, &err),
                     -1);
    assert_int_not_equal(err.kind, K3C_E_NONE);
}

static void
test_sha256_hex(void **state)
{
    _cleanup_free_ char *a = tpath(state, "a.crt");
    _cleanup_free_ char *b = tpath(state, "b.crt");
    _cleanup_free_ char *junk = tpath(state, "junk.crt");
    struct k3c_err err = {0};
    char sha_a[65], sha_b[65];

    make_ca(state, "a.crt");
    make_ca(state, "b.crt");
    sha_of(a, sha_a);
    sha_of(b, sha_b);
    assert_int_equal(strlen(sha_a), 64);
    assert_int_equal(strspn(sha_a, "0123456789abcdef"), 64);
    assert_string_not_equal(sha_a, sha_b);

    /* The hash is over the file's bytes (K3s's token hash), so it is known
     * for any content: sha256("abc") from FIPS 180-2. */
    assert_int_equal(k3c_write_file(junk, "abc", 3, 0644, &err), 0);
    assert_int_equal(pki_cert_sha256_hex(junk, sha_a, &err), 0);
    assert_string_equal(sha_a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(pki_cert_sha256_hex("/nonexistent/k3c/ca.crt", sha_a, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/k3c/ca.crt"));
}

/* A joining node's CSR is signed with the identity the server chose: a CSR
 * that claims to be someone else gets the server's CN/O anyway. */
static void
test_sign_csr_takes_identity_from_spec(void **state)
{
    _cleanup_free_ char *ca = tpath(state, "ca.crt");
    _cleanup_free_ char *ca_key = tpath(state, "ca.crt.key");
    _cleanup_free_ char *out_path = tpath(state, "node.crt");
    _cleanup_free_ char *key_pem = NULL, *csr_pem = NULL, *cert_pem = NULL;
    const struct pki_leaf_spec spec = {
        .common_name = "system:node:n1", .organization = "system:nodes", .usage = PKI_USAGE_CLIENT};
    struct k3c_err err = {0};
    gnutls_x509_crt_t crt = NULL;
    char cn[128];
    size_t size = sizeof(cn);

    make_ca(state, "ca.crt");
    assert_int_equal(pki_csr_new("system:admin", "system:masters", &key_pem, &csr_pem, &err), 0);
    assert_non_null(strstr(key_pem, "PRIVATE KEY"));
    assert_non_null(strstr(csr_pem, "CERTIFICATE REQUEST"));
    assert_int_equal(pki_sign_csr(ca, ca_key, csr_pem, &spec, &cert_pem, &err), 0);
    assert_int_equal(k3c_write_file(out_path, cert_pem, strlen(cert_pem), 0644, &err), 0);
    assert_true(crt_verifies(out_path, ca));
    load_crt(out_path, &crt);
    assert_int_equal(
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size), 0);
    assert_string_equal(cn, "system:node:n1");
    size = sizeof(cn);
    assert_int_equal(
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, 0, cn, &size), 0);
    assert_string_equal(cn, "system:nodes");
    assert_true(crt_has_purpose(crt, GNUTLS_KP_TLS_WWW_CLIENT));
    gnutls_x509_crt_deinit(crt);
    /* Garbage is refused as a bad request, not signed. */
    free(cert_pem);
    cert_pem = NULL;
    assert_int_equal(pki_sign_csr(ca, ca_key, "not a csr", &spec, &cert_pem, &err), -1);
    assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
}

/* CertificateSigningRequest: the request's subject is read back, and the
 * signer can issue for several O values and a lifetime in seconds. */
static void
test_csr_parse_and_sign_for_seconds(void **state)
{
    _cleanup_free_ char *ca = tpath(state, "ca.crt");
    _cleanup_free_ char *ca_key = tpath(state, "ca.crt.key");
    _cleanup_free_ char *key_pem = NULL, *csr_pem = NULL, *cert_pem = NULL;
    const char *more[] = {"ops", NULL};
    const struct pki_leaf_spec spec = {.common_name = "carol",
                                       .organization = "devs",
                                       .more_organizations = more,
                                       .usage = PKI_USAGE_CLIENT,
                                       .valid_seconds = 3600};
    struct pki_csr_info info;
    struct k3c_err err = {0};
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t d;
    char o[128];
    size_t size = sizeof(o);
    time_t left;

    make_ca(state, "ca.crt");
    assert_int_equal(pki_csr_new("carol", "devs", &key_pem, &csr_pem, &err), 0);
    assert_int_equal(pki_csr_parse(csr_pem, strlen(csr_pem), &info, &err), 0);
    assert_string_equal(info.common_name, "carol");
    assert_int_equal(info.n_organizations, 1);
    assert_string_equal(info.organizations[0], "devs");
    assert_false(info.has_sans);
    assert_int_equal(pki_csr_parse("junk", 4, &info, &err), -1);
    assert_int_equal(err.kind, K3C_E_BAD_REQUEST);
    assert_int_equal(pki_sign_csr(ca, ca_key, csr_pem, &spec, &cert_pem, &err), 0);
    d = (gnutls_datum_t){(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    assert_int_equal(
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 1, 0, o, &size), 0);
    assert_true(strcmp(o, "ops") == 0 || strcmp(o, "devs") == 0);
    left = gnutls_x509_crt_get_expiration_time(crt) - time(NULL);
    assert_true(left > 3500 && left <= 3600);
    gnutls_x509_crt_deinit(crt);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_ca_created_then_reused),         T(test_sign_csr_takes_identity_from_spec),
        T(test_ca_replaced_when_unparsable),    T(test_leaf_issued_then_reused),
        T(test_leaf_client_only_usage),         T(test_leaf_reissued_for_new_san),
        T(test_leaf_reissued_for_new_cn),       T(test_leaf_reissued_when_ca_changes),
        T(test_leaf_reissued_when_expiring),    T(test_leaf_reissued_when_key_replaced),
        T(test_bad_ip_san_is_invalid),          T(test_missing_ca_is_an_error),
        T(test_unwritable_dir_errors),          T(test_sha256_hex),
        T(test_csr_parse_and_sign_for_seconds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
