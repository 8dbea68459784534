/* SPDX-License-Identifier: Apache-2.0
 * image_registry.c - registry configuration as K3s's registries.yaml has it:
 * mirrors (endpoints per registry, "*" for all) and per-host auth and TLS.
 * The object is immutable once handed to a store and reference counted, so
 * a pull keeps using the set it started with while a new one is installed. */
#define LOG_COMPONENT "image"
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <errno.h>
#include <string.h>
#include <yaml.h>

struct registry_mirror {
    char *registry;
    char **endpoints;
    size_t n_endpoints;
};

struct registry_host {
    char *host;
    char *username, *password, *ca_file, *cert_file, *key_file;
    bool insecure_skip_verify, plain_http;
};

struct image_registries {
    atomic_int refs;
    struct registry_mirror *mirrors;
    size_t n_mirrors;
    struct registry_host *hosts;
    size_t n_hosts;
};

struct image_registries *
image_registries_new(void)
{
    struct image_registries *r = k3c_xcalloc(1, sizeof(*r));

    atomic_init(&r->refs, 1);
    return r;
}

struct image_registries *
image_registries_ref(struct image_registries *r)
{
    if (r)
        atomic_fetch_add(&r->refs, 1);
    return r;
}

static void
host_fini(struct registry_host *h)
{
    free(h->host);
    free(h->username);
    free(h->password);
    free(h->ca_file);
    free(h->cert_file);
    free(h->key_file);
}

void
image_registries_free(struct image_registries *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) > 1)
        return;
    for (size_t i = 0; i < r->n_mirrors; i++) {
        for (size_t j = 0; j < r->mirrors[i].n_endpoints; j++)
            free(r->mirrors[i].endpoints[j]);
        free(r->mirrors[i].endpoints);
        free(r->mirrors[i].registry);
    }
    free(r->mirrors);
    for (size_t i = 0; i < r->n_hosts; i++)
        host_fini(&r->hosts[i]);
    free(r->hosts);
    free(r);
}

/* "https://h:5000/" -> "https://h:5000"; also drops a trailing "/v2" (some
 * registries.yaml files name the API root). NULL if not http(s). */
static char *
endpoint_normalise(const char *url)
{
    size_t len = strlen(url);
    const char *host;

    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return NULL;
    if (*host == '\0' || *host == '/')
        return NULL;
    while (len > 0 && url[len - 1] == '/')
        len--;
    if (len >= 3 && strncmp(url + len - 3, "/v2", 3) == 0)
        len -= 3;
    while (len > 0 && url[len - 1] == '/')
        len--;
    return k3c_xstrndup(url, len);
}

static char *
endpoint_host(const char *url)
{
    const char *h = strstr(url, "://") + 3;
    size_t n = strcspn(h, "/");

    return k3c_xstrndup(h, n);
}

int
image_registries_add_mirror(struct image_registries *r, const char *registry, const char *endpoint,
                            struct k3c_err *err)
{
    char *url = endpoint_normalise(endpoint);
    struct registry_mirror *m = NULL;

    if (!url)
        return k3c_err_set(err, K3C_E_INVALID,
                           "registry mirror %s: endpoint \"%s\" is not an http(s) URL", registry,
                           endpoint);
    for (size_t i = 0; i < r->n_mirrors; i++)
        if (strcmp(r->mirrors[i].registry, registry) == 0)
            m = &r->mirrors[i];
    if (!m) {
        r->mirrors = k3c_xrealloc(r->mirrors, (r->n_mirrors + 1) * sizeof(*r->mirrors));
        m = &r->mirrors[r->n_mirrors++];
        *m = (struct registry_mirror){.registry = k3c_xstrdup(registry)};
    }
    m->endpoints = k3c_xrealloc(m->endpoints, (m->n_endpoints + 1) * sizeof(char *));
    m->endpoints[m->n_endpoints++] = url;
    return 0;
}

static char *
dup_or_null(const char *s)
{
    return s && *s ? k3c_xstrdup(s) : NULL;
}

int
image_registries_set_host(struct image_registries *r, const char *host,
                          const struct image_registry_host *cfg, struct k3c_err *err)
{
    struct registry_host *h = NULL;

    if (!host || !*host)
        return k3c_err_set(err, K3C_E_INVALID, "registry config: empty host name");
    for (size_t i = 0; i < r->n_hosts; i++)
        if (strcmp(r->hosts[i].host, host) == 0)
            h = &r->hosts[i];
    if (h) {
        host_fini(h);
    } else {
        r->hosts = k3c_xrealloc(r->hosts, (r->n_hosts + 1) * sizeof(*r->hosts));
        h = &r->hosts[r->n_hosts++];
    }
    *h = (struct registry_host){
        .host = k3c_xstrdup(host),
        .username = dup_or_null(cfg->username),
        .password = dup_or_null(cfg->password),
        .ca_file = dup_or_null(cfg->ca_file),
        .cert_file = dup_or_null(cfg->cert_file),
        .key_file = dup_or_null(cfg->key_file),
        .insecure_skip_verify = cfg->insecure_skip_verify,
        .plain_http = cfg->plain_http,
    };
    return 0;
}

static const struct registry_host *
host_find(const struct image_registries *r, const char *host)
{
    for (size_t i = 0; r && i < r->n_hosts; i++)
        if (strcmp(r->hosts[i].host, host) == 0)
            return &r->hosts[i];
    return NULL;
}

static void
endpoint_fill(struct image_endpoint *ep, char *url, const struct registry_host *h)
{
    ep->url = url;
    ep->host = endpoint_host(url);
    if (h)
        ep->cfg = (struct image_registry_host){
            .username = h->username,
            .password = h->password,
            .ca_file = h->ca_file,
            .cert_file = h->cert_file,
            .key_file = h->key_file,
            .insecure_skip_verify = h->insecure_skip_verify,
            .plain_http = h->plain_http,
        };
}

int
image_registries_endpoints(const struct image_registries *r, const char *domain,
                           struct image_endpoint **out, size_t *n_out, struct k3c_err *err)
{
    const struct registry_mirror *m = NULL;
    const char *default_host = strcmp(domain, "docker.io") == 0 ? "registry-1.docker.io" : domain;
    const struct registry_host *dh = host_find(r, default_host);
    struct image_endpoint *eps;
    _cleanup_free_ char *default_url = NULL;
    size_t n = 0;

    (void)err;
    for (size_t i = 0; r && i < r->n_mirrors; i++)
        if (strcmp(r->mirrors[i].registry, domain) == 0)
            m = &r->mirrors[i];
    for (size_t i = 0; r && !m && i < r->n_mirrors; i++)
        if (strcmp(r->mirrors[i].registry, "*") == 0)
            m = &r->mirrors[i];
    if (!dh)
        dh = host_find(r, domain);
    default_url = k3c_xasprintf("%s://%s", dh && dh->plain_http ? "http" : "https", default_host);
    eps = k3c_xcalloc((m ? m->n_endpoints : 0) + 1, sizeof(*eps));
    for (size_t i = 0; m && i < m->n_endpoints; i++) {
        _cleanup_free_ char *host = endpoint_host(m->endpoints[i]);

        if (strcmp(m->endpoints[i], default_url) == 0)
            continue; /* added last anyway */
        endpoint_fill(&eps[n++], k3c_xstrdup(m->endpoints[i]), host_find(r, host));
    }
    /* The registry itself comes last, as containerd falls back to it. */
    endpoint_fill(&eps[n++], TAKE_PTR(default_url), dh);
    *out = eps;
    *n_out = n;
    return 0;
}

void
image_endpoints_free(struct image_endpoint *eps, size_t n)
{
    for (size_t i = 0; eps && i < n; i++) {
        free(eps[i].url);
        free(eps[i].host);
    }
    free(eps);
}

/* ---- registries.yaml ---- */

static void
parser_cleanup(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}

static void
document_cleanup(yaml_document_t *d)
{
    yaml_document_delete(d);
}

static yaml_node_t *
map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);

        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static const char *
scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int
yaml_bad(struct k3c_err *err, const char *path, yaml_node_t *n, const char *what)
{
    return k3c_err_set(err, K3C_E_INVALID, "%s:%zu: %s", path, n ? n->start_mark.line + 1 : 0,
                       what);
}

static int
load_mirrors(struct image_registries *r, yaml_document_t *doc, yaml_node_t *mirrors,
             const char *path, struct k3c_err *err)
{
    if (mirrors->type != YAML_MAPPING_NODE)
        return yaml_bad(err, path, mirrors, "mirrors: expected a mapping");
    for (yaml_node_pair_t *p = mirrors->data.mapping.pairs.start;
         p < mirrors->data.mapping.pairs.top; p++) {
        const char *reg = scalar(yaml_document_get_node(doc, p->key));
        yaml_node_t *eps = map_get(doc, yaml_document_get_node(doc, p->value), "endpoint");

        if (!reg)
            return yaml_bad(err, path, yaml_document_get_node(doc, p->key), "mirrors: bad key");
        if (!eps)
            continue;
        if (eps->type != YAML_SEQUENCE_NODE)
            return yaml_bad(err, path, eps, "mirrors.<registry>.endpoint: expected a list");
        for (yaml_node_item_t *it = eps->data.sequence.items.start;
             it < eps->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);

            if (!scalar(e))
                return yaml_bad(err, path, e, "mirrors.<registry>.endpoint: expected strings");
            if (image_registries_add_mirror(r, reg, scalar(e), err) < 0)
                return k3c_err_wrap(err, "%s:%zu", path, e->start_mark.line + 1);
        }
    }
    return 0;
}

static int
load_configs(struct image_registries *r, yaml_document_t *doc, yaml_node_t *configs,
             const char *path, struct k3c_err *err)
{
    if (configs->type != YAML_MAPPING_NODE)
        return yaml_bad(err, path, configs, "configs: expected a mapping");
    for (yaml_node_pair_t *p = configs->data.mapping.pairs.start;
         p < configs->data.mapping.pairs.top; p++) {
        const char *host = scalar(yaml_document_get_node(doc, p->key));
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        yaml_node_t *auth = map_get(doc, v, "auth"), *tls = map_get(doc, v, "tls");
        const char *insecure = scalar(map_get(doc, tls, "insecure_skip_verify"));
        const char *b64 = scalar(map_get(doc, auth, "auth"));
        _cleanup_free_ char *decoded = NULL;
        struct image_registry_host h = {
            .username = scalar(map_get(doc, auth, "username")),
            .password = scalar(map_get(doc, auth, "password")),
            .ca_file = scalar(map_get(doc, tls, "ca_file")),
            .cert_file = scalar(map_get(doc, tls, "cert_file")),
            .key_file = scalar(map_get(doc, tls, "key_file")),
            .insecure_skip_verify = insecure && strcmp(insecure, "true") == 0,
        };

        if (!host)
            return yaml_bad(err, path, yaml_document_get_node(doc, p->key), "configs: bad key");
        if (b64 && !h.username) {
            /* "auth" is base64("user:password"), as in a docker config.json. */
            size_t len = 0;
            char *colon;

            decoded = k3c_base64_decode(b64, &len);
            colon = decoded ? strchr(decoded, ':') : NULL;
            if (!colon)
                return yaml_bad(err, path, map_get(doc, auth, "auth"),
                                "configs.<host>.auth.auth: not base64 of user:password");
            *colon = '\0';
            h.username = decoded;
            h.password = colon + 1;
        }
        if (image_registries_set_host(r, host, &h, err) < 0)
            return -1;
    }
    return 0;
}

int
image_registries_load(struct image_registries *r, const char *path, struct k3c_err *err)
{
    /* Zeroed, so the cleanups are safe on every early return, the one
     * before yaml_parser_initialize included. */
    __attribute__((cleanup(parser_cleanup))) yaml_parser_t parser = {0};
    __attribute__((cleanup(document_cleanup))) yaml_document_t doc = {0};
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    yaml_node_t *root, *n;

    if (k3c_read_file(path, &data, &len, err) < 0) {
        if (err->sys_errno == ENOENT)
            err->kind = K3C_E_NOT_FOUND;
        return -1;
    }
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc))
        return k3c_err_set(err, K3C_E_INVALID, "%s:%zu: %s", path, parser.problem_mark.line + 1,
                           parser.problem ? parser.problem : "YAML syntax error");
    root = yaml_document_get_root_node(&doc);
    if (!root) /* an empty file configures nothing */
        return 0;
    if (root->type != YAML_MAPPING_NODE)
        return yaml_bad(err, path, root, "expected a mapping with mirrors and configs");
    n = map_get(&doc, root, "mirrors");
    if (n && load_mirrors(r, &doc, n, path, err) < 0)
        return -1;
    n = map_get(&doc, root, "configs");
    if (n && load_configs(r, &doc, n, path, err) < 0)
        return -1;
    return 0;
}
