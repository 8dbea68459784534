/* SPDX-License-Identifier: Apache-2.0
 * pki.c - the cluster CA and the leaf certificates it signs (GnuTLS). Files
 * are reused only while they still fit what is asked for; otherwise a new key
 * and certificate replace them, key first, so a torn pair fails the key check
 * and is reissued on the next call. Every gnutls object lives in one call. */
#define LOG_COMPONENT "pki"
#include "pki/pki.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libgen.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PKI_DAY_S      (24 * 60 * 60)
#define PKI_CA_DAYS    3650
#define PKI_LEAF_DAYS  365
#define PKI_RENEW_DAYS PKI_RENEW_WINDOW_DAYS
#define PKI_BACKDATE_S (60 * 60) /* tolerate clock skew between nodes */
#define PKI_SERIAL_LEN 16
#define PKI_KEY_ID_MAX 64
#define PKI_NAME_MAX   1024
#define PKI_IP_MAX     16

K3C_DEFINE_CLEANUP(gnutls_x509_crt_t, gnutls_x509_crt_deinit)
K3C_DEFINE_CLEANUP(gnutls_x509_privkey_t, gnutls_x509_privkey_deinit)

static inline void
pki_datum_freep(gnutls_datum_t *d)
{
    gnutls_free(d->data);
}

#define _cleanup_crt_   _cleanup_(gnutls_x509_crt_deinitp)
#define _cleanup_key_   _cleanup_(gnutls_x509_privkey_deinitp)
#define _cleanup_datum_ _cleanup_(pki_datum_freep)

static const struct {
    unsigned bit;
    const char *oid;
} usage_oids[] = {
    {PKI_USAGE_SERVER, GNUTLS_KP_TLS_WWW_SERVER},
    {PKI_USAGE_CLIENT, GNUTLS_KP_TLS_WWW_CLIENT},
};

static int
gtls_err(struct k3c_err *err, int rc, const char *what, const char *path)
{
    return k3c_err_set(err, K3C_E_INTERNAL, "%s %s: %s", what, path, gnutls_strerror(rc));
}

/* ---- loading ---------------------------------------------------------- */

static int
load_crt(const char *path, gnutls_x509_crt_t *out, struct k3c_err *err)
{
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    _cleanup_free_ char *pem = NULL;
    gnutls_datum_t d;
    size_t len = 0;
    int rc;

    if (k3c_read_file(path, &pem, &len, err) < 0)
        return -1;
    d.data = (unsigned char *)pem;
    d.size = (unsigned)len;
    rc = gnutls_x509_crt_init(&crt);
    if (rc >= 0)
        rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
    if (rc < 0)
        return gtls_err(err, rc, "parse certificate", path);
    *out = TAKE_PTR(crt);
    return 0;
}

static int
load_key(const char *path, gnutls_x509_privkey_t *out, struct k3c_err *err)
{
    _cleanup_key_ gnutls_x509_privkey_t key = NULL;
    _cleanup_free_ char *pem = NULL;
    gnutls_datum_t d;
    size_t len = 0;
    int rc;

    if (k3c_read_file(path, &pem, &len, err) < 0)
        return -1;
    d.data = (unsigned char *)pem;
    d.size = (unsigned)len;
    rc = gnutls_x509_privkey_init(&key);
    /* import2 takes both PKCS#8 ("PRIVATE KEY") and SEC1 ("EC PRIVATE KEY"). */
    if (rc >= 0)
        rc = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0)
        return gtls_err(err, rc, "parse key", path);
    *out = TAKE_PTR(key);
    return 0;
}

/* Loads a pair for a reuse check. Returns 1 if both parsed; 0 if either is
 * missing or unparsable (err says why), so it may be replaced; -1 if one
 * could not be read for another reason (permissions, I/O), so nothing may
 * be overwritten. */
static int
load_pair(const char *cert_path, const char *key_path, gnutls_x509_crt_t *crt,
          gnutls_x509_privkey_t *key, struct k3c_err *err)
{
    if (load_crt(cert_path, crt, err) < 0 || load_key(key_path, key, err) < 0)
        return err->kind == K3C_E_SYSTEM && err->sys_errno != ENOENT ? -1 : 0;
    return 1;
}

/* ---- checks ----------------------------------------------------------- */

static bool
key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
    unsigned char a[PKI_KEY_ID_MAX], b[PKI_KEY_ID_MAX];
    size_t na = sizeof(a), nb = sizeof(b);

    if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &na) < 0)
        return false;
    if (gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &nb) < 0)
        return false;
    return na == nb && memcmp(a, b, na) == 0;
}

static bool
signed_by(gnutls_x509_crt_t crt, gnutls_x509_crt_t ca)
{
    unsigned status = 0;

    return gnutls_x509_crt_verify(crt, &ca, 1, 0, &status) >= 0 && status == 0;
}

/* The first attribute oid of the subject equals want (absent iff want is NULL). */
static bool
dn_equals(gnutls_x509_crt_t crt, const char *oid, const char *want)
{
    char buf[PKI_NAME_MAX];
    size_t size = sizeof(buf);
    int rc = gnutls_x509_crt_get_dn_by_oid(crt, oid, 0, 0, buf, &size);

    if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        return want == NULL;
    return rc >= 0 && want && strcmp(buf, want) == 0;
}

static bool
has_purpose(gnutls_x509_crt_t crt, const char *oid)
{
    char buf[PKI_NAME_MAX];

    for (unsigned i = 0;; i++) {
        size_t size = sizeof(buf);
        unsigned critical = 0;
        int rc = gnutls_x509_crt_get_key_purpose_oid(crt, i, buf, &size, &critical);

        if (rc >= 0 && strcmp(buf, oid) == 0)
            return true;
        if (rc < 0 && rc != GNUTLS_E_SHORT_MEMORY_BUFFER)
            return false;
    }
}

static bool
has_usages(gnutls_x509_crt_t crt, unsigned usage)
{
    for (size_t i = 0; i < K3C_ARRAY_SIZE(usage_oids); i++)
        if ((usage & usage_oids[i].bit) && !has_purpose(crt, usage_oids[i].oid))
            return false;
    return true;
}

/* DNS names compare case-insensitively (RFC 4343), addresses bytewise. */
static bool
has_san(gnutls_x509_crt_t crt, int type, const void *want, size_t len)
{
    char buf[PKI_NAME_MAX];

    for (unsigned i = 0;; i++) {
        size_t size = sizeof(buf);
        unsigned critical = 0;
        int rc = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, &critical);

        if (rc == type && size == len &&
            (type == GNUTLS_SAN_DNSNAME ? strncasecmp(buf, want, len) : memcmp(buf, want, len)) ==
                0)
            return true;
        if (rc < 0 && rc != GNUTLS_E_SHORT_MEMORY_BUFFER)
            return false;
    }
}

/* Returns the address length (4 or 16), or 0 if s is no IP literal. */
static size_t
parse_ip(const char *s, unsigned char out[PKI_IP_MAX])
{
    if (inet_pton(AF_INET, s, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, s, out) == 1)
        return 16;
    return 0;
}

static bool
has_sans(gnutls_x509_crt_t crt, const struct pki_leaf_spec *spec)
{
    unsigned char ip[PKI_IP_MAX];

    for (const char *const *s = spec->dns_sans; s && *s; s++)
        if (!has_san(crt, GNUTLS_SAN_DNSNAME, *s, strlen(*s)))
            return false;
    for (const char *const *s = spec->ip_sans; s && *s; s++)
        if (!has_san(crt, GNUTLS_SAN_IPADDRESS, ip, parse_ip(*s, ip)))
            return false;
    return true;
}

static unsigned
leaf_days(const struct pki_leaf_spec *spec)
{
    return spec->valid_days ? spec->valid_days : PKI_LEAF_DAYS;
}

/* Renew 120 days before expiry, or half-way through a shorter life, so that a
 * short-lived leaf is not reissued on every call. */
static time_t
renew_window(const struct pki_leaf_spec *spec)
{
    unsigned days = leaf_days(spec);

    return (time_t)(days >= 2 * PKI_RENEW_DAYS ? PKI_RENEW_DAYS : days / 2) * PKI_DAY_S;
}

/* Why the leaf does not fit spec, or NULL if it does. */
static const char *
leaf_mismatch(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, gnutls_x509_crt_t ca,
              const struct pki_leaf_spec *spec)
{
    if (!signed_by(crt, ca))
        return "not signed by the CA, or not valid now";
    if (!key_matches(crt, key))
        return "key does not match the certificate";
    if (!dn_equals(crt, GNUTLS_OID_X520_COMMON_NAME, spec->common_name))
        return "subject CN differs";
    if (!dn_equals(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, spec->organization))
        return "subject O differs";
    if (gnutls_x509_crt_get_expiration_time(crt) - time(NULL) <= renew_window(spec))
        return "expires soon";
    if (!has_usages(crt, spec->usage))
        return "lacks a requested extended key usage";
    if (!has_sans(crt, spec))
        return "lacks a requested SAN";
    return NULL;
}

static int
validate_leaf_spec(const struct pki_leaf_spec *spec, struct k3c_err *err)
{
    unsigned char ip[PKI_IP_MAX];

    if (!spec->common_name || !*spec->common_name)
        return k3c_err_set(err, K3C_E_INVALID, "leaf certificate: common name is empty");
    for (const char *const *s = spec->dns_sans; s && *s; s++)
        if (!**s)
            return k3c_err_set(err, K3C_E_INVALID, "certificate %s: empty DNS SAN",
                               spec->common_name);
    for (const char *const *s = spec->ip_sans; s && *s; s++)
        if (!parse_ip(*s, ip))
            return k3c_err_set(err, K3C_E_INVALID,
                               "certificate %s: IP SAN \"%s\" is not an IPv4/IPv6 address",
                               spec->common_name, *s);
    return 0;
}

/* ---- building --------------------------------------------------------- */

static int
new_key(const char *path, gnutls_x509_privkey_t *out, struct k3c_err *err)
{
    _cleanup_key_ gnutls_x509_privkey_t key = NULL;
    int rc = gnutls_x509_privkey_init(&key);

    if (rc >= 0)
        rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    if (rc < 0)
        return gtls_err(err, rc, "generate P-256 key for", path);
    *out = TAKE_PTR(key);
    return 0;
}

static int
set_random_serial(gnutls_x509_crt_t crt)
{
    unsigned char serial[PKI_SERIAL_LEN];
    int rc = gnutls_rnd(GNUTLS_RND_RANDOM, serial, sizeof(serial));

    if (rc < 0)
        return rc;
    /* RFC 5280 §4.1.2.2: positive. 0x40 keeps the DER minimal (no leading
     * zero octet), so the serial is always 16 octets. */
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
    return gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
}

static int
set_subject(gnutls_x509_crt_t crt, const char *cn, const char *org)
{
    int rc = 0;

    if (org)
        rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, org,
                                           (unsigned)strlen(org));
    if (rc >= 0)
        rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                           (unsigned)strlen(cn));
    return rc;
}

/* RFC 5280 §4.2.1.2 method 1: SHA-1 of the public key. */
static int
set_subject_key_id(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
    unsigned char id[PKI_KEY_ID_MAX];
    size_t size = sizeof(id);
    int rc = gnutls_x509_privkey_get_key_id(key, 0, id, &size);

    if (rc < 0)
        return rc;
    return gnutls_x509_crt_set_subject_key_id(crt, id, size);
}

static int
set_authority_key_id(gnutls_x509_crt_t crt, gnutls_x509_crt_t ca)
{
    unsigned char id[PKI_KEY_ID_MAX];
    size_t size = sizeof(id);
    unsigned critical = 0;
    int rc = gnutls_x509_crt_get_subject_key_id(ca, id, &size, &critical);

    /* A CA made elsewhere may lack the extension; ours use method 1 too. */
    if (rc < 0) {
        size = sizeof(id);
        rc = gnutls_x509_crt_get_key_id(ca, 0, id, &size);
    }
    if (rc < 0)
        return rc;
    return gnutls_x509_crt_set_authority_key_id(crt, id, size);
}

/* An unsigned v3 certificate for key: random serial, valid from an hour ago
 * for days, subject (O and) CN, subject key id. */
static int
new_crt(gnutls_x509_privkey_t key, const char *cn, const char *org, unsigned days, const char *path,
        gnutls_x509_crt_t *out, struct k3c_err *err)
{
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    time_t now = time(NULL);
    int rc = gnutls_x509_crt_init(&crt);

    if (rc >= 0)
        rc = gnutls_x509_crt_set_version(crt, 3);
    if (rc >= 0)
        rc = set_random_serial(crt);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_activation_time(crt, now - PKI_BACKDATE_S);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * PKI_DAY_S);
    if (rc >= 0)
        rc = set_subject(crt, cn, org);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key(crt, key);
    if (rc >= 0)
        rc = set_subject_key_id(crt, key);
    if (rc < 0)
        return gtls_err(err, rc, "build certificate", path);
    *out = TAKE_PTR(crt);
    return 0;
}

static int
add_sans(gnutls_x509_crt_t crt, const struct pki_leaf_spec *spec)
{
    unsigned char ip[PKI_IP_MAX];
    int rc = 0;

    for (const char *const *s = spec->dns_sans; rc >= 0 && s && *s; s++)
        rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, *s, (unsigned)strlen(*s),
                                                  GNUTLS_FSAN_APPEND);
    for (const char *const *s = spec->ip_sans; rc >= 0 && s && *s; s++)
        rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip,
                                                  (unsigned)parse_ip(*s, ip), GNUTLS_FSAN_APPEND);
    return rc;
}

static int
set_leaf_extensions(gnutls_x509_crt_t crt, gnutls_x509_crt_t ca, const struct pki_leaf_spec *spec)
{
    int rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);

    if (rc >= 0)
        rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                                    GNUTLS_KEY_KEY_ENCIPHERMENT);
    for (size_t i = 0; rc >= 0 && i < K3C_ARRAY_SIZE(usage_oids); i++)
        if (spec->usage & usage_oids[i].bit)
            rc = gnutls_x509_crt_set_key_purpose_oid(crt, usage_oids[i].oid, 0);
    if (rc >= 0)
        rc = add_sans(crt, spec);
    if (rc >= 0)
        rc = set_authority_key_id(crt, ca);
    return rc;
}

/* ---- writing ---------------------------------------------------------- */

static int
ensure_parent_dir(const char *path, struct k3c_err *err)
{
    _cleanup_free_ char *copy = k3c_xstrdup(path);

    return k3c_mkdir_p(dirname(copy), 0700, err);
}

static int
write_pem(const char *path, const gnutls_datum_t *pem, mode_t mode, struct k3c_err *err)
{
    if (ensure_parent_dir(path, err) < 0)
        return -1;
    return k3c_write_file(path, pem->data, pem->size, mode, err);
}

/* Key first: if the cert write fails, the old cert no longer matches the
 * key and the pair is reissued next time. */
static int
write_pair(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cert_path,
           const char *key_path, struct k3c_err *err)
{
    _cleanup_datum_ gnutls_datum_t key_pem = {NULL, 0};
    _cleanup_datum_ gnutls_datum_t crt_pem = {NULL, 0};
    int rc;

    rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                           &key_pem);
    if (rc < 0)
        return gtls_err(err, rc, "export key", key_path);
    rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem);
    if (rc < 0)
        return gtls_err(err, rc, "export certificate", cert_path);
    if (write_pem(key_path, &key_pem, 0600, err) < 0)
        return -1;
    return write_pem(cert_path, &crt_pem, 0644, err);
}

static int
create_ca(const char *cert_path, const char *key_path, const char *cn, struct k3c_err *err)
{
    _cleanup_key_ gnutls_x509_privkey_t key = NULL;
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    int rc;

    if (new_key(key_path, &key, err) < 0)
        return -1;
    if (new_crt(key, cn, NULL, PKI_CA_DAYS, cert_path, &crt, err) < 0)
        return -1;
    rc = gnutls_x509_crt_set_basic_constraints(crt, 1, -1);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
                                                    GNUTLS_KEY_DIGITAL_SIGNATURE);
    if (rc >= 0)
        rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
    if (rc < 0)
        return gtls_err(err, rc, "create CA certificate", cert_path);
    return write_pair(crt, key, cert_path, key_path, err);
}

static int
issue_leaf(gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key, const char *cert_path,
           const char *key_path, const struct pki_leaf_spec *spec, struct k3c_err *err)
{
    _cleanup_key_ gnutls_x509_privkey_t key = NULL;
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    int rc;

    if (new_key(key_path, &key, err) < 0)
        return -1;
    if (new_crt(key, spec->common_name, spec->organization, leaf_days(spec), cert_path, &crt, err) <
        0)
        return -1;
    rc = set_leaf_extensions(crt, ca, spec);
    if (rc >= 0)
        rc = gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0);
    if (rc < 0)
        return gtls_err(err, rc, "issue certificate", cert_path);
    return write_pair(crt, key, cert_path, key_path, err);
}

/* ---- public ----------------------------------------------------------- */

int
pki_ensure_ca(const char *cert_path, const char *key_path, const char *common_name,
              struct k3c_err *err)
{
    _cleanup_key_ gnutls_x509_privkey_t key = NULL;
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    int rc;

    if (!common_name || !*common_name)
        return k3c_err_set(err, K3C_E_INVALID, "CA %s: common name is empty", cert_path);
    rc = load_pair(cert_path, key_path, &crt, &key, err);
    if (rc < 0)
        return -1;
    if (rc > 0 && key_matches(crt, key))
        return 0;
    if (k3c_file_exists(cert_path) || k3c_file_exists(key_path))
        log_warn("(ca %s) replacing: %s", cert_path,
                 rc > 0 ? "key does not match the certificate" : err->msg);
    k3c_err_clear(err);
    if (create_ca(cert_path, key_path, common_name, err) < 0)
        return -1;
    log_info("(ca %s) created CA \"%s\"", cert_path, common_name);
    return 1;
}

int
pki_ensure_leaf(const char *ca_cert_path, const char *ca_key_path, const char *cert_path,
                const char *key_path, const struct pki_leaf_spec *spec, struct k3c_err *err)
{
    _cleanup_key_ gnutls_x509_privkey_t ca_key = NULL, key = NULL;
    _cleanup_crt_ gnutls_x509_crt_t ca = NULL, crt = NULL;
    const char *why;
    int rc;

    if (validate_leaf_spec(spec, err) < 0)
        return -1;
    if (load_crt(ca_cert_path, &ca, err) < 0 || load_key(ca_key_path, &ca_key, err) < 0)
        return k3c_err_wrap(err, "load CA");
    if (!key_matches(ca, ca_key))
        return k3c_err_set(err, K3C_E_INTERNAL, "CA key %s does not match %s", ca_key_path,
                           ca_cert_path);
    rc = load_pair(cert_path, key_path, &crt, &key, err);
    if (rc < 0)
        return -1;
    if (rc > 0)
        why = leaf_mismatch(crt, key, ca, spec);
    else
        why = k3c_file_exists(cert_path) ? err->msg : "first issue";
    if (!why)
        return 0;
    log_info("(cert %s) issuing for %s: %s", cert_path, spec->common_name, why);
    k3c_err_clear(err);
    if (issue_leaf(ca, ca_key, cert_path, key_path, spec, err) < 0)
        return -1;
    return 1;
}

void
pki_sha256_hex(const void *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[32];

    gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, digest);
    for (size_t i = 0; i < sizeof(digest); i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xf];
    }
    out[64] = '\0';
}

int
pki_cert_sha256_hex(const char *cert_path, char out[65], struct k3c_err *err)
{
    _cleanup_free_ char *pem = NULL;
    size_t len = 0;

    /* The file's bytes, as served to joining nodes: K3s's token hash. */
    if (k3c_read_file(cert_path, &pem, &len, err) < 0)
        return -1;
    pki_sha256_hex(pem, len, out);
    return 0;
}

/* ---- certificate requests (joining nodes) ------------------------------- */

K3C_DEFINE_CLEANUP(gnutls_x509_crq_t, gnutls_x509_crq_deinit)
K3C_DEFINE_CLEANUP(gnutls_pubkey_t, gnutls_pubkey_deinit)

static char *
datum_string(const gnutls_datum_t *d)
{
    return k3c_xstrndup((const char *)d->data, d->size);
}

int
pki_csr_new(const char *common_name, const char *organization, char **key_pem, char **csr_pem,
            struct k3c_err *err)
{
    _cleanup_key_ gnutls_x509_privkey_t key = NULL;
    _cleanup_(gnutls_x509_crq_deinitp) gnutls_x509_crq_t crq = NULL;
    _cleanup_datum_ gnutls_datum_t kd = {NULL, 0}, cd = {NULL, 0};
    int rc;

    if (new_key("certificate request", &key, err) < 0)
        return -1;
    rc = gnutls_x509_crq_init(&crq);
    if (rc >= 0 && organization)
        rc = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, organization,
                                           (unsigned)strlen(organization));
    if (rc >= 0)
        rc = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, common_name,
                                           (unsigned)strlen(common_name));
    if (rc >= 0)
        rc = gnutls_x509_crq_set_key(crq, key);
    if (rc >= 0)
        rc = gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0);
    if (rc >= 0)
        rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                               &kd);
    if (rc >= 0)
        rc = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &cd);
    if (rc < 0)
        return gtls_err(err, rc, "make certificate request for", common_name);
    *key_pem = datum_string(&kd);
    *csr_pem = datum_string(&cd);
    return 0;
}

/* The CSR proves possession of its key; its subject is ignored: identity
 * comes from spec, which the server derives from what it authenticated. */
static int
crt_from_csr(const char *csr_pem, const struct pki_leaf_spec *spec, gnutls_x509_crt_t *out,
             struct k3c_err *err)
{
    _cleanup_(gnutls_x509_crq_deinitp) gnutls_x509_crq_t crq = NULL;
    _cleanup_(gnutls_pubkey_deinitp) gnutls_pubkey_t pub = NULL;
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t in = {(unsigned char *)csr_pem, (unsigned)strlen(csr_pem)};
    unsigned char id[PKI_KEY_ID_MAX];
    size_t id_len = sizeof(id);
    time_t now = time(NULL);
    int rc = gnutls_x509_crq_init(&crq);

    if (rc >= 0)
        rc = gnutls_x509_crq_import(crq, &in, GNUTLS_X509_FMT_PEM);
    if (rc >= 0)
        rc = gnutls_x509_crq_verify(crq, 0);
    if (rc < 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "certificate request: %s", gnutls_strerror(rc));
    rc = gnutls_pubkey_init(&pub);
    if (rc >= 0)
        rc = gnutls_pubkey_import_x509_crq(pub, crq, 0);
    if (rc >= 0)
        rc = gnutls_x509_crt_init(&crt);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_version(crt, 3);
    if (rc >= 0)
        rc = set_random_serial(crt);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_activation_time(crt, now - PKI_BACKDATE_S);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_expiration_time(
            crt, now + (spec->valid_seconds ? (time_t)spec->valid_seconds
                                            : (time_t)leaf_days(spec) * PKI_DAY_S));
    if (rc >= 0)
        rc = set_subject(crt, spec->common_name, spec->organization);
    for (const char *const *o = spec->more_organizations; rc >= 0 && o && *o; o++)
        rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, *o,
                                           (unsigned)strlen(*o));
    if (rc >= 0)
        rc = gnutls_x509_crt_set_pubkey(crt, pub);
    if (rc >= 0)
        rc = gnutls_pubkey_get_key_id(pub, 0, id, &id_len);
    if (rc >= 0)
        rc = gnutls_x509_crt_set_subject_key_id(crt, id, id_len);
    if (rc < 0)
        return gtls_err(err, rc, "build certificate for", spec->common_name);
    *out = TAKE_PTR(crt);
    return 0;
}

int
pki_sign_csr(const char *ca_cert_path, const char *ca_key_path, const char *csr_pem,
             const struct pki_leaf_spec *spec, char **cert_pem, struct k3c_err *err)
{
    _cleanup_key_ gnutls_x509_privkey_t ca_key = NULL;
    _cleanup_crt_ gnutls_x509_crt_t ca = NULL, crt = NULL;
    _cleanup_datum_ gnutls_datum_t pem = {NULL, 0};
    int rc;

    if (validate_leaf_spec(spec, err) < 0)
        return -1;
    if (load_crt(ca_cert_path, &ca, err) < 0 || load_key(ca_key_path, &ca_key, err) < 0)
        return k3c_err_wrap(err, "load CA");
    if (crt_from_csr(csr_pem, spec, &crt, err) < 0)
        return -1;
    rc = set_leaf_extensions(crt, ca, spec);
    if (rc >= 0)
        rc = gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0);
    if (rc >= 0)
        rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem);
    if (rc < 0)
        return gtls_err(err, rc, "sign certificate for", spec->common_name);
    *cert_pem = datum_string(&pem);
    return 0;
}

bool
pki_peer_subject(void *tls_session, struct pki_subject *out)
{
    gnutls_session_t session = tls_session;
    const gnutls_datum_t *chain;
    unsigned int n = 0, status = 0;
    gnutls_x509_crt_t crt = NULL;
    char buf[256];
    size_t len;
    bool ok = false;

    memset(out, 0, sizeof(*out));
    if (!session || gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0)
        return false;
    chain = gnutls_certificate_get_peers(session, &n);
    if (!chain || n == 0 || gnutls_x509_crt_init(&crt) < 0)
        return false;
    if (gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) < 0)
        goto out;
    len = sizeof(buf);
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &len) < 0)
        goto out;
    snprintf(out->common_name, sizeof(out->common_name), "%s", buf);
    for (unsigned i = 0; out->n_organizations < (int)K3C_ARRAY_SIZE(out->organizations); i++) {
        len = sizeof(buf);
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0, buf, &len) <
            0)
            break;
        snprintf(out->organizations[out->n_organizations++], sizeof(out->organizations[0]),
                 "%.127s", buf);
    }
    ok = out->common_name[0] != '\0';
out:
    gnutls_x509_crt_deinit(crt);
    return ok;
}

int
pki_csr_parse(const char *pem, size_t len, struct pki_csr_info *out, struct k3c_err *err)
{
    _cleanup_(gnutls_x509_crq_deinitp) gnutls_x509_crq_t crq = NULL;
    gnutls_datum_t in = {(unsigned char *)pem, (unsigned)len};
    char buf[256];
    size_t n;
    int rc;

    memset(out, 0, sizeof(*out));
    if (len > 64 * 1024)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "certificate request larger than 64 KiB");
    rc = gnutls_x509_crq_init(&crq);
    if (rc >= 0)
        rc = gnutls_x509_crq_import(crq, &in, GNUTLS_X509_FMT_PEM);
    if (rc >= 0)
        rc = gnutls_x509_crq_verify(crq, 0);
    if (rc < 0)
        return k3c_err_set(err, K3C_E_BAD_REQUEST, "certificate request: %s", gnutls_strerror(rc));
    n = sizeof(buf);
    if (gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &n) >= 0)
        snprintf(out->common_name, sizeof(out->common_name), "%s", buf);
    for (unsigned i = 0; out->n_organizations < (int)K3C_ARRAY_SIZE(out->organizations); i++) {
        n = sizeof(buf);
        if (gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0, buf, &n) <
            0)
            break;
        snprintf(out->organizations[out->n_organizations++], sizeof(out->organizations[0]),
                 "%.127s", buf);
    }
    n = sizeof(buf);
    rc = gnutls_x509_crq_get_subject_alt_name(crq, 0, buf, &n, NULL, NULL);
    out->has_sans = rc >= 0 || rc == GNUTLS_E_SHORT_MEMORY_BUFFER;
    return 0;
}
