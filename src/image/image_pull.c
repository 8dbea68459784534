/* SPDX-License-Identifier: Apache-2.0
 * image_pull.c - pulls over the OCI distribution API (distribution-spec
 * "Pulling manifests", "Pulling blobs") with the Docker token auth flow
 * (docker/distribution docs/spec/auth/token.md): a 401 with a Bearer
 * challenge sends us to its realm for a token, a Basic one to the host's
 * credentials. Every byte is verified against its digest before it enters
 * the store; endpoints (mirrors, then the registry) are tried in order. */
#define LOG_COMPONENT "image"
#include "image/image-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/client.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ACCEPT_MANIFESTS                                                                           \
    "Accept: " IMAGE_MT_OCI_INDEX ", " IMAGE_MT_OCI_MANIFEST ", " IMAGE_MT_DOCKER_LIST             \
    ", " IMAGE_MT_DOCKER_MANIFEST
#define USER_AGENT "User-Agent: k3c/" K3C_VERSION

/* Whole-blob retries after a transfer broke half-way (the verification
 * happens on the whole stream, so a retry restarts it). */
#define BLOB_ATTEMPTS 3

/* ---- WWW-Authenticate ---- */

void
image_auth_challenge_fini(struct image_auth_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    *c = (struct image_auth_challenge){0};
}

/* RFC 7235: challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ],
 * auth-param = token BWS "=" BWS ( token / quoted-string ). Only the
 * first challenge is read; a ',' followed by a new scheme ends it. */
int
image_auth_challenge_parse(const char *h, struct image_auth_challenge *out)
{
    struct image_auth_challenge c = {0};
    size_t n = 0;

    while (*h == ' ' || *h == '\t')
        h++;
    while (isalnum((unsigned char)*h) || *h == '-' || *h == '_') {
        if (n + 1 >= sizeof(c.scheme))
            return -1;
        c.scheme[n++] = (char)tolower((unsigned char)*h++);
    }
    if (n == 0)
        return -1;
    for (;;) {
        char key[32];
        struct k3c_buf val;
        size_t k = 0;

        while (*h == ' ' || *h == '\t' || *h == ',')
            h++;
        if (*h == '\0')
            break;
        while (*h && *h != '=' && *h != ' ' && *h != ',') {
            if (k + 1 < sizeof(key))
                key[k++] = (char)tolower((unsigned char)*h);
            h++;
        }
        key[k] = '\0';
        while (*h == ' ' || *h == '\t')
            h++;
        if (*h != '=')
            break; /* the next challenge's scheme: we read only the first */
        h++;
        while (*h == ' ' || *h == '\t')
            h++;
        k3c_buf_init(&val);
        k3c_buf_append(&val, "", 0);
        if (*h == '"') {
            h++;
            while (*h && *h != '"') {
                if (*h == '\\' && h[1])
                    h++;
                k3c_buf_append(&val, h++, 1);
            }
            if (*h != '"') {
                k3c_buf_fini(&val);
                image_auth_challenge_fini(&c);
                return -1;
            }
            h++;
        } else {
            while (*h && *h != ',' && *h != ' ')
                k3c_buf_append(&val, h++, 1);
        }
        if (strcmp(key, "realm") == 0 && !c.realm)
            c.realm = k3c_buf_steal(&val, NULL);
        else if (strcmp(key, "service") == 0 && !c.service)
            c.service = k3c_buf_steal(&val, NULL);
        else if (strcmp(key, "scope") == 0 && !c.scope)
            c.scope = k3c_buf_steal(&val, NULL);
        k3c_buf_fini(&val);
    }
    *out = c;
    return 0;
}

/* ---- a connection to one endpoint, for one repository ---- */

struct reg_conn {
    struct image_store *store;
    const struct image_endpoint *ep;
    const char *repo; /* repository path on this endpoint */
    const char *name; /* the reference, for messages */
    struct http_client *client;
    char *authz; /* "Authorization: ..." once a challenge was answered */
};

static int
conn_init(struct reg_conn *c, struct image_store *s, const struct image_endpoint *ep,
          const char *repo, const char *name, struct k3c_err *err)
{
    const char *eps[] = {ep->url, NULL};
    struct http_client_config hc = {
        .endpoints = eps,
        .ca_file = ep->cfg.ca_file,
        .cert_file = ep->cfg.cert_file,
        .key_file = ep->cfg.key_file,
        .connect_timeout_ms = 5000,
        .request_timeout_ms = 60000,
        .insecure = ep->cfg.insecure_skip_verify,
    };

    *c = (struct reg_conn){.store = s, .ep = ep, .repo = repo, .name = name};
    c->client = http_client_new(&hc, err);
    return c->client ? 0 : -1;
}

static void
conn_fini(struct reg_conn *c)
{
    http_client_free(c->client);
    free(c->authz);
}

static char *
url_escape(const char *s)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    k3c_buf_append(&b, "", 0);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p))
            k3c_buf_append(&b, p, 1);
        else
            k3c_buf_appendf(&b, "%%%02X", *p);
    }
    return k3c_buf_steal(&b, NULL);
}

static char *
basic_authz(const char *user, const char *password)
{
    _cleanup_free_ char *up = k3c_xasprintf("%s:%s", user, password ? password : "");
    _cleanup_free_ char *b64 = k3c_base64_encode(up, strlen(up));

    return k3c_xasprintf("Authorization: Basic %s", b64);
}

/* GET realm?service=..&scope=.. (with the host's credentials, if any) and
 * keep the token as this connection's Authorization. */
static int
conn_fetch_token(struct reg_conn *c, const struct image_auth_challenge *ch, struct k3c_err *err)
{
    const char *sep, *path;
    _cleanup_free_ char *origin = NULL, *query = NULL, *full = NULL, *realm_host = NULL;
    _cleanup_free_ char *scope = NULL, *user_authz = NULL;
    _cleanup_json_ json_t *body = NULL;
    struct http_client *tc = NULL;
    struct http_response resp;
    const char *token;
    const char *headers[3] = {USER_AGENT, NULL, NULL};
    int rc = -1;

    if (!ch->realm ||
        (strncmp(ch->realm, "https://", 8) != 0 && strncmp(ch->realm, "http://", 7) != 0))
        return k3c_err_set(err, K3C_E_INVALID,
                           "registry %s: bearer challenge without an http(s) realm", c->ep->url);
    sep = strstr(ch->realm, "://") + 3;
    path = sep + strcspn(sep, "/?");
    origin = k3c_xstrndup(ch->realm, (size_t)(path - ch->realm));
    realm_host = k3c_xstrndup(sep, (size_t)(path - sep));
    if (ch->scope) {
        scope = url_escape(ch->scope);
    } else {
        _cleanup_free_ char *s = k3c_xasprintf("repository:%s:pull", c->repo);

        scope = url_escape(s);
    }
    if (ch->service) {
        _cleanup_free_ char *svc = url_escape(ch->service);

        query = k3c_xasprintf("service=%s&scope=%s", svc, scope);
    } else {
        query = k3c_xasprintf("scope=%s", scope);
    }
    full = k3c_xasprintf("%s%s%s", *path ? path : "/", strchr(path, '?') ? "&" : "?", query);
    {
        const char *eps[] = {origin, NULL};
        bool same_host = strcmp(realm_host, c->ep->host) == 0;
        struct http_client_config hc = {
            .endpoints = eps,
            /* The registry's own TLS settings apply when the realm is on
             * the same host; a separate auth server gets system trust. */
            .ca_file = same_host ? c->ep->cfg.ca_file : NULL,
            .insecure = same_host && c->ep->cfg.insecure_skip_verify,
            .connect_timeout_ms = 5000,
            .request_timeout_ms = 30000,
        };

        tc = http_client_new(&hc, err);
        if (!tc)
            return -1;
    }
    if (c->ep->cfg.username) {
        user_authz = basic_authz(c->ep->cfg.username, c->ep->cfg.password);
        headers[1] = user_authz;
    }
    http_response_init(&resp);
    {
        struct http_request req = {.path = full, .headers = headers, .follow_redirects = true};

        if (http_client_do(tc, &req, &resp, err) < 0) {
            k3c_err_wrap(err, "registry %s: token from %s", c->ep->url, origin);
            goto out;
        }
    }
    if (resp.status == 401 || resp.status == 403) {
        k3c_err_set(err, K3C_E_NOT_FOUND,
                    "registry %s: token server %s refused %s (HTTP %ld): wrong credentials?",
                    c->ep->url, origin,
                    c->ep->cfg.username ? "the credentials" : "anonymous access", resp.status);
        goto out;
    }
    if (resp.status != 200) {
        k3c_err_set(err,
                    resp.status >= 500 || resp.status == 429 ? K3C_E_UNAVAILABLE : K3C_E_INVALID,
                    "registry %s: token server %s: HTTP %ld", c->ep->url, origin, resp.status);
        goto out;
    }
    body = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    token = json_string_value(json_object_get(body, "token"));
    if (!token || !*token)
        token = json_string_value(json_object_get(body, "access_token"));
    if (!token || !*token) {
        k3c_err_set(err, K3C_E_INVALID, "registry %s: token server %s: no token in the answer",
                    c->ep->url, origin);
        goto out;
    }
    free(c->authz);
    c->authz = k3c_xasprintf("Authorization: Bearer %s", token);
    rc = 0;
out:
    http_response_fini(&resp);
    http_client_free(tc);
    return rc;
}

/* Answers a 401's challenge; afterwards c->authz is set. */
static int
conn_authorize(struct reg_conn *c, const char *header, struct k3c_err *err)
{
    struct image_auth_challenge ch = {0};
    int rc;

    if (!header || image_auth_challenge_parse(header, &ch) < 0)
        return k3c_err_set(err, K3C_E_INVALID, "registry %s: 401 without a usable challenge",
                           c->ep->url);
    if (strcmp(ch.scheme, "bearer") == 0) {
        rc = conn_fetch_token(c, &ch, err);
    } else if (strcmp(ch.scheme, "basic") == 0) {
        if (!c->ep->cfg.username) {
            rc = k3c_err_set(err, K3C_E_NOT_FOUND,
                             "registry %s requires credentials (none configured for %s)",
                             c->ep->url, c->ep->host);
        } else {
            free(c->authz);
            c->authz = basic_authz(c->ep->cfg.username, c->ep->cfg.password);
            rc = 0;
        }
    } else {
        rc = k3c_err_set(err, K3C_E_INVALID, "registry %s: unsupported auth scheme \"%s\"",
                         c->ep->url, ch.scheme);
    }
    image_auth_challenge_fini(&ch);
    return rc;
}

/* One GET with the auth dance: on a 401 answer the challenge and retry
 * once. The caller reads resp->status. */
static int
conn_get(struct reg_conn *c, const char *path, const char *accept, http_stream_cb sink,
         void *sink_data, struct http_response *resp, struct k3c_err *err)
{
    for (int attempt = 0;; attempt++) {
        const char *headers[4] = {USER_AGENT, NULL, NULL, NULL};
        size_t n = 1;
        struct http_request req = {
            .path = path,
            .headers = headers,
            .follow_redirects = true,
            .no_timeout = sink != NULL,
            .sink = sink,
            .sink_data = sink_data,
        };
        _cleanup_free_ char *challenge = NULL;

        if (accept)
            headers[n++] = accept;
        if (c->authz)
            headers[n++] = c->authz;
        if (http_client_do(c->client, &req, resp, err) < 0)
            return -1;
        if (resp->status != 401 || attempt > 0)
            return 0;
        challenge = http_response_header(resp, "WWW-Authenticate");
        if (conn_authorize(c, challenge, err) < 0)
            return -1;
    }
}

/* Maps a registry's non-2xx answer to an error naming the reference. */
static int
status_error(struct reg_conn *c, const char *what, const struct http_response *resp,
             struct k3c_err *err)
{
    _cleanup_json_ json_t *body = NULL;
    json_t *e0;
    const char *code = NULL, *msg = NULL;
    enum k3c_errkind kind;

    if (resp->body.len > 0) {
        body = json_loadb(resp->body.data, resp->body.len, 0, NULL);
        e0 = json_array_get(json_object_get(body, "errors"), 0);
        code = json_string_value(json_object_get(e0, "code"));
        msg = json_string_value(json_object_get(e0, "message"));
    }
    switch (resp->status) {
    case 404:
        kind = K3C_E_NOT_FOUND;
        break;
    case 401:
    case 403:
        /* Docker Hub answers 401 for repositories that do not exist, so
         * "denied" and "unknown" cannot be told apart (nor can the kubelet). */
        kind = K3C_E_NOT_FOUND;
        if (!msg)
            msg = "pull access denied: repository does not exist or needs authorization";
        break;
    case 408:
    case 429:
        kind = K3C_E_UNAVAILABLE;
        break;
    default:
        kind = resp->status >= 500 ? K3C_E_UNAVAILABLE : K3C_E_INVALID;
        break;
    }
    return k3c_err_set(err, kind, "%s: %s: %s%s%s (HTTP %ld from %s)", c->name, what,
                       code ? code : "", code && msg ? ": " : "", msg ? msg : "", resp->status,
                       c->ep->url);
}

/* ---- manifests ---- */

struct mem_sink {
    struct k3c_buf buf;
    size_t max;
    bool overflow;
};

static int
mem_sink_write(void *userdata, const char *data, size_t len)
{
    struct mem_sink *m = userdata;

    if (m->buf.len + len > m->max) {
        m->overflow = true;
        return -1;
    }
    k3c_buf_append(&m->buf, data, len);
    return 0;
}

/* Fetches /v2/<repo>/manifests/<reference>, verifies it against want (when
 * fetching by digest) or against Docker-Content-Digest, and returns the
 * body (json), its digest and kind. */
static int
fetch_manifest(struct reg_conn *c, const char *reference, const char *want, json_t **out,
               char digest_out[IMAGE_DIGEST_LEN], enum image_manifest_kind *kind_out,
               char **raw_out, size_t *raw_len, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/v2/%s/manifests/%s", c->repo, reference);
    _cleanup_free_ char *ctype = NULL, *dcd = NULL;
    struct mem_sink sink = {.max = IMAGE_MANIFEST_MAX};
    struct http_response resp;
    json_t *body = NULL;
    int rc = -1;

    k3c_buf_init(&sink.buf);
    http_response_init(&resp);
    if (conn_get(c, path, ACCEPT_MANIFESTS, mem_sink_write, &sink, &resp, err) < 0) {
        if (sink.overflow)
            k3c_err_set(err, K3C_E_INVALID, "%s: manifest %s is larger than %u bytes (%s)", c->name,
                        reference, IMAGE_MANIFEST_MAX, c->ep->url);
        else
            k3c_err_wrap(err, "%s", c->name);
        goto out;
    }
    atomic_fetch_add(&c->store->manifests_fetched, 1);
    if (resp.status != 200) {
        status_error(c, "manifest", &resp, err);
        goto out;
    }
    image_sha256_digest(sink.buf.data ? sink.buf.data : "", sink.buf.len, digest_out);
    dcd = http_response_header(&resp, "Docker-Content-Digest");
    if (want && strcmp(want, digest_out) != 0) {
        k3c_err_set(err, K3C_E_INVALID, "%s: manifest digest mismatch: got %s (%s)", c->name,
                    digest_out, c->ep->url);
        goto out;
    }
    if (!want && dcd && strncmp(dcd, "sha256:", 7) == 0 && strcmp(dcd, digest_out) != 0) {
        k3c_err_set(err, K3C_E_INVALID,
                    "%s: manifest digest mismatch: registry says %.80s, content is %s", c->name,
                    dcd, digest_out);
        goto out;
    }
    body = json_loadb(sink.buf.data ? sink.buf.data : "", sink.buf.len, 0, NULL);
    if (!json_is_object(body)) {
        k3c_err_set(err, K3C_E_INVALID, "%s: manifest %s is not a JSON object (%s)", c->name,
                    reference, c->ep->url);
        goto out;
    }
    ctype = http_response_header(&resp, "Content-Type");
    *kind_out = image_manifest_kind(ctype, body);
    if (*kind_out == IMAGE_MANIFEST_UNKNOWN) {
        k3c_err_set(err, K3C_E_INVALID, "%s: unsupported manifest type \"%.60s\" (%s)", c->name,
                    ctype ? ctype : "?", c->ep->url);
        goto out;
    }
    *out = TAKE_PTR(body);
    *raw_out = k3c_buf_steal(&sink.buf, raw_len);
    rc = 0;
out:
    json_decref(body);
    k3c_buf_fini(&sink.buf);
    http_response_fini(&resp);
    return rc;
}

/* ---- blobs ---- */

struct blob_sink {
    int fd;
    struct image_sha256 *hash;
    int64_t bytes, limit;
    int err_no; /* a failed write */
};

static int
blob_sink_write(void *userdata, const char *data, size_t len)
{
    struct blob_sink *b = userdata;

    b->bytes += (int64_t)len;
    if (b->bytes > b->limit)
        return -1; /* more than the descriptor said: stop reading now */
    image_sha256_update(b->hash, data, len);
    while (len > 0) {
        ssize_t n = write(b->fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            b->err_no = errno;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One download attempt into tmp (truncated first). 0: verified; -1 with
 * err; UNAVAILABLE errors are worth another attempt. */
static int
fetch_blob_once(struct reg_conn *c, const struct image_descriptor *d, int fd, const char *tmp,
                struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/v2/%s/blobs/%s", c->repo, d->digest);
    struct blob_sink sink = {.fd = fd, .hash = image_sha256_new(), .limit = d->size};
    struct http_response resp;
    char got[IMAGE_DIGEST_LEN];
    int rc = -1;

    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        image_sha256_finish(sink.hash, got);
        return k3c_err_sys(err, errno, "truncate %s", tmp);
    }
    http_response_init(&resp);
    if (conn_get(c, path, NULL, blob_sink_write, &sink, &resp, err) < 0) {
        if (sink.err_no)
            k3c_err_sys(err, sink.err_no, "%s: blob %s: write %s", c->name, d->digest, tmp);
        else if (sink.bytes > sink.limit)
            k3c_err_set(err, K3C_E_INVALID,
                        "%s: blob %s: registry sent more than the %lld bytes expected (%s)",
                        c->name, d->digest, (long long)d->size, c->ep->url);
        else
            k3c_err_wrap(err, "%s: blob %s", c->name, d->digest);
        goto out;
    }
    if (resp.status != 200) {
        status_error(c, "blob", &resp, err);
        goto out;
    }
    atomic_fetch_add(&c->store->bytes_fetched, (uint64_t)sink.bytes);
    image_sha256_finish(sink.hash, got);
    sink.hash = NULL;
    if (strcmp(got, d->digest) != 0 || sink.bytes != d->size) {
        k3c_err_set(err, K3C_E_INVALID,
                    "%s: blob %s: digest mismatch from %s (content is %.19s..., %lld of %lld "
                    "bytes)",
                    c->name, d->digest, c->ep->url, got, (long long)sink.bytes, (long long)d->size);
        goto out;
    }
    rc = 0;
out:
    if (sink.hash)
        image_sha256_finish(sink.hash, got);
    http_response_fini(&resp);
    return rc;
}

/* Makes blob d present in the store: reused if it is, else downloaded and
 * verified. A mismatching download is discarded. */
static int
fetch_blob(struct reg_conn *c, const struct image_descriptor *d, int64_t max, struct k3c_err *err)
{
    struct image_store *s = c->store;
    _cleanup_close_ int lock = -1, fd = -1;
    _cleanup_free_ char *tmp = NULL;
    int rc = -1;

    if (image_store_has_blob(s, d->digest)) {
        atomic_fetch_add(&s->blobs_reused, 1);
        return 0;
    }
    if (max > 0 && d->size > max)
        return k3c_err_set(err, K3C_E_INVALID, "%s: blob %s: %lld bytes is more than %lld", c->name,
                           d->digest, (long long)d->size, (long long)max);
    lock = image_store_lock_digest(s, d->digest, err);
    if (lock < 0)
        return -1;
    if (image_store_has_blob(s, d->digest)) { /* a concurrent pull got it first */
        atomic_fetch_add(&s->blobs_reused, 1);
        return 0;
    }
    tmp = image_store_tmpfile(s, &fd, err);
    if (!tmp)
        return -1;
    for (int attempt = 1; attempt <= BLOB_ATTEMPTS; attempt++) {
        rc = fetch_blob_once(c, d, fd, tmp, err);
        if (rc == 0 || err->kind != K3C_E_UNAVAILABLE)
            break;
        log_warn("(image %s) blob %s attempt %d: %s", c->name, d->digest, attempt, err->msg);
    }
    if (rc < 0) {
        unlink(tmp);
        return -1;
    }
    if (image_store_admit_blob(s, tmp, d->digest, err) < 0)
        return -1;
    atomic_fetch_add(&s->blobs_fetched, 1);
    return 0;
}

/* ---- pull ---- */

static struct image *
pull_from(struct reg_conn *c, const struct image_ref *ref, struct k3c_err *err)
{
    struct image_store *s = c->store;
    _cleanup_json_ json_t *body = NULL;
    _cleanup_free_ char *raw = NULL;
    struct image_manifest m = {0};
    enum image_manifest_kind kind = IMAGE_MANIFEST_UNKNOWN;
    char digest[IMAGE_DIGEST_LEN], stored[IMAGE_DIGEST_LEN];
    size_t raw_len = 0;
    struct image *img = NULL;

    if (fetch_manifest(c, ref->digest ? ref->digest : ref->tag, ref->digest, &body, digest, &kind,
                       &raw, &raw_len, err) < 0)
        return NULL;
    if (kind == IMAGE_MANIFEST_INDEX) {
        struct image_descriptor pick = {0};
        const char *arch, *variant;

        image_platform_current(&arch, &variant);
        if (image_index_select(body, arch, variant, &pick, err) < 0) {
            k3c_err_wrap(err, "%s (%s)", c->name, c->ep->url);
            return NULL;
        }
        json_decref(TAKE_PTR(body));
        free(TAKE_PTR(raw));
        kind = IMAGE_MANIFEST_UNKNOWN;
        if (fetch_manifest(c, pick.digest, pick.digest, &body, digest, &kind, &raw, &raw_len, err) <
            0) {
            image_descriptor_fini(&pick);
            return NULL;
        }
        image_descriptor_fini(&pick);
        if (kind != IMAGE_MANIFEST_IMAGE) {
            k3c_err_set(err, K3C_E_INVALID, "%s: index entry %s is not an image manifest (%s)",
                        c->name, digest, c->ep->url);
            return NULL;
        }
    }
    if (image_manifest_parse(body, &m, err) < 0) {
        k3c_err_wrap(err, "%s (%s)", c->name, c->ep->url);
        return NULL;
    }
    if (image_store_put_blob(s, raw, raw_len, stored, err) < 0 ||
        fetch_blob(c, &m.config, IMAGE_CONFIG_MAX, err) < 0)
        goto out;
    for (size_t i = 0; i < m.n_layers; i++)
        if (fetch_blob(c, &m.layers[i], 0, err) < 0)
            goto out;
    img = image_store_commit(s, ref, digest, &m, err);
out:
    image_manifest_fini(&m);
    return img;
}

struct image *
image_store_pull(struct image_store *s, const char *refstr, struct k3c_err *err)
{
    struct image_ref ref = {0};
    struct image_registries *regs;
    struct image_endpoint *eps = NULL;
    size_t n = 0;
    _cleanup_free_ char *name = NULL;
    struct image *img = NULL;
    struct k3c_err answered = {0};
    int64_t t0 = k3c_now_ms();

    if (image_ref_parse(refstr, &ref, err) < 0)
        return NULL;
    name = image_ref_string(&ref);
    pthread_mutex_lock(&s->lock);
    regs = image_registries_ref(s->regs);
    pthread_mutex_unlock(&s->lock);
    if (image_registries_endpoints(regs, ref.domain, &eps, &n, err) < 0)
        goto out;
    for (size_t i = 0; i < n && !img; i++) {
        struct reg_conn c;

        if (i > 0) /* the previous endpoint failed; err says why */
            log_warn("(image %s) %s; trying %s", name, err->msg, eps[i].url);
        k3c_err_clear(err);
        if (conn_init(&c, s, &eps[i], ref.path, name, err) == 0) {
            img = pull_from(&c, &ref, err);
            conn_fini(&c);
        }
        /* A registry that answered ("manifest unknown") says more than a
         * later fallback endpoint that could not be reached at all. */
        if (!img && answered.kind == K3C_E_NONE && err->kind != K3C_E_UNAVAILABLE &&
            err->kind != K3C_E_TIMEOUT && err->kind != K3C_E_SYSTEM)
            answered = *err;
    }
    if (!img && answered.kind != K3C_E_NONE)
        *err = answered;
    if (img)
        log_info("(image %s) pulled %s in %lld ms", name, img->manifest_digest,
                 (long long)(k3c_now_ms() - t0));
out:
    image_endpoints_free(eps, n);
    image_registries_free(regs);
    image_ref_fini(&ref);
    return img;
}
