/* SPDX-License-Identifier: Apache-2.0
 * image_config.c - decoding of the JSON documents of an image: the config
 * blob (OCI image-spec config.md), platform manifests and indexes
 * (manifest.md, image-index.md, and their Docker schema 2 twins), and the
 * choice of this node's platform. Pure functions; thread: any. */
#define LOG_COMPONENT "image"
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/util.h"

#include <string.h>

/* A JSON array of strings as a NULL-terminated vector; NULL if absent or
 * null. -1 if present but not an array of strings. */
static int
strv_from_json(json_t *a, char ***out)
{
    json_t *v;
    size_t i;
    char **res;

    *out = NULL;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return -1;
    res = k3c_xcalloc(json_array_size(a) + 1, sizeof(char *));
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v)) {
            k3c_strv_free(res);
            return -1;
        }
        res[i] = k3c_xstrdup(json_string_value(v));
    }
    *out = res;
    return 0;
}

static char *
opt_string(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s && *s ? k3c_xstrdup(s) : NULL;
}

void
image_config_fini(struct image_config *c)
{
    k3c_strv_free(c->entrypoint);
    k3c_strv_free(c->cmd);
    k3c_strv_free(c->env);
    k3c_strv_free(c->exposed_ports);
    free(c->working_dir);
    free(c->user);
    free(c->stop_signal);
    free(c->os);
    free(c->architecture);
    free(c->variant);
    *c = (struct image_config){0};
}

int
image_config_parse(const char *json, size_t len, struct image_config *out, struct k3c_err *err)
{
    _cleanup_json_ json_t *root = NULL;
    struct image_config c = {0};
    json_error_t jerr;
    json_t *cfg, *ports;

    root = json_loadb(json, len, 0, &jerr);
    if (!json_is_object(root))
        return k3c_err_set(err, K3C_E_INVALID, "image config: not a JSON object (%s)",
                           root ? "wrong type" : jerr.text);
    cfg = json_object_get(root, "config");
    if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
        return k3c_err_set(err, K3C_E_INVALID, "image config: \"config\" is not an object");
    if (strv_from_json(json_object_get(cfg, "Entrypoint"), &c.entrypoint) < 0 ||
        strv_from_json(json_object_get(cfg, "Cmd"), &c.cmd) < 0 ||
        strv_from_json(json_object_get(cfg, "Env"), &c.env) < 0) {
        image_config_fini(&c);
        return k3c_err_set(err, K3C_E_INVALID,
                           "image config: Entrypoint, Cmd and Env must be string arrays");
    }
    c.working_dir = opt_string(cfg, "WorkingDir");
    c.user = opt_string(cfg, "User");
    c.stop_signal = opt_string(cfg, "StopSignal");
    ports = json_object_get(cfg, "ExposedPorts");
    if (json_is_object(ports) && json_object_size(ports) > 0) {
        const char *key;
        json_t *v;
        size_t i = 0;

        c.exposed_ports = k3c_xcalloc(json_object_size(ports) + 1, sizeof(char *));
        json_object_foreach(ports, key, v)
        {
            (void)v;
            c.exposed_ports[i++] = k3c_xstrdup(key);
        }
    }
    c.os = opt_string(root, "os");
    c.architecture = opt_string(root, "architecture");
    c.variant = opt_string(root, "variant");
    *out = c;
    return 0;
}

int
image_config_diff_ids(const char *json, size_t len, char ***out, size_t *n_out, struct k3c_err *err)
{
    _cleanup_json_ json_t *root = json_loadb(json, len, 0, NULL);
    json_t *ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
    char **v;
    json_t *d;
    size_t i;

    if (!json_is_array(ids))
        return k3c_err_set(err, K3C_E_INVALID, "image config: no rootfs.diff_ids");
    v = k3c_xcalloc(json_array_size(ids) + 1, sizeof(char *));
    json_array_foreach(ids, i, d)
    {
        if (!image_digest_valid(json_string_value(d))) {
            k3c_strv_free(v);
            return k3c_err_set(err, K3C_E_INVALID,
                               "image config: diff_ids[%zu] is not a sha256 digest", i);
        }
        v[i] = k3c_xstrdup(json_string_value(d));
    }
    *out = v;
    *n_out = json_array_size(ids);
    return 0;
}

void
image_descriptor_fini(struct image_descriptor *d)
{
    free(d->media_type);
    d->media_type = NULL;
}

static int
descriptor_parse(json_t *j, struct image_descriptor *d, const char *what, struct k3c_err *err)
{
    const char *digest = json_string_value(json_object_get(j, "digest"));
    json_t *size = json_object_get(j, "size");

    if (!image_digest_valid(digest))
        return k3c_err_set(err, K3C_E_INVALID, "%s: digest \"%s\" is not sha256:<hex>", what,
                           digest ? digest : "");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return k3c_err_set(err, K3C_E_INVALID, "%s: missing or negative size", what);
    snprintf(d->digest, sizeof(d->digest), "%s", digest);
    d->size = json_integer_value(size);
    d->media_type = opt_string(j, "mediaType");
    return 0;
}

enum image_manifest_kind
image_manifest_kind(const char *content_type, json_t *body)
{
    static const struct {
        const char *type;
        enum image_manifest_kind kind;
    } types[] = {
        {IMAGE_MT_OCI_INDEX, IMAGE_MANIFEST_INDEX},
        {IMAGE_MT_DOCKER_LIST, IMAGE_MANIFEST_INDEX},
        {IMAGE_MT_OCI_MANIFEST, IMAGE_MANIFEST_IMAGE},
        {IMAGE_MT_DOCKER_MANIFEST, IMAGE_MANIFEST_IMAGE},
    };
    const char *mt = json_string_value(json_object_get(body, "mediaType"));

    for (size_t i = 0; i < K3C_ARRAY_SIZE(types); i++) {
        size_t n = strlen(types[i].type);

        /* Content-Type may carry parameters ("; charset=utf-8"). */
        if (content_type && strncmp(content_type, types[i].type, n) == 0 &&
            (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' '))
            return types[i].kind;
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(types); i++)
        if (mt && strcmp(mt, types[i].type) == 0)
            return types[i].kind;
    /* OCI allows mediaType to be absent: go by the shape (image-spec
     * manifest.md, "mediaType ... SHOULD be used"). Schema 1 has fsLayers. */
    if (!mt && json_is_array(json_object_get(body, "manifests")))
        return IMAGE_MANIFEST_INDEX;
    if (!mt && json_is_object(json_object_get(body, "config")) &&
        json_is_array(json_object_get(body, "layers")))
        return IMAGE_MANIFEST_IMAGE;
    return IMAGE_MANIFEST_UNKNOWN;
}

void
image_manifest_fini(struct image_manifest *m)
{
    image_descriptor_fini(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        image_descriptor_fini(&m->layers[i]);
    free(m->layers);
    *m = (struct image_manifest){0};
}

int
image_manifest_parse(json_t *body, struct image_manifest *out, struct k3c_err *err)
{
    struct image_manifest m = {0};
    json_t *layers = json_object_get(body, "layers");
    json_t *l;
    size_t i;

    if (json_integer_value(json_object_get(body, "schemaVersion")) != 2)
        return k3c_err_set(err, K3C_E_INVALID,
                           "manifest: schemaVersion is not 2 (schema 1 is not supported)");
    if (!json_is_array(layers))
        return k3c_err_set(err, K3C_E_INVALID, "manifest: no layers");
    if (descriptor_parse(json_object_get(body, "config"), &m.config, "manifest config", err) < 0)
        return -1;
    m.layers = k3c_xcalloc(json_array_size(layers) + 1, sizeof(*m.layers));
    json_array_foreach(layers, i, l)
    {
        if (descriptor_parse(l, &m.layers[i], "manifest layer", err) < 0) {
            image_manifest_fini(&m);
            return -1;
        }
        m.n_layers = i + 1;
    }
    *out = m;
    return 0;
}

void
image_platform_current(const char **arch, const char **variant)
{
    *arch = k3c_arch();
    *variant = k3c_arch_variant();
}

int
image_index_select(json_t *index, const char *arch, const char *variant,
                   struct image_descriptor *out, struct k3c_err *err)
{
    json_t *manifests = json_object_get(index, "manifests");
    json_t *m, *best = NULL;
    int best_score = 0;
    size_t i;

    if (!json_is_array(manifests))
        return k3c_err_set(err, K3C_E_INVALID, "index: no manifests");
    json_array_foreach(manifests, i, m)
    {
        json_t *p = json_object_get(m, "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *a = json_string_value(json_object_get(p, "architecture"));
        const char *v = json_string_value(json_object_get(p, "variant"));
        int score;

        if (!os || !a || strcmp(os, "linux") != 0 || strcmp(a, arch) != 0)
            continue;
        /* An exact variant beats none; for arm64, "v8" and no variant are
         * the same thing (containerd's platforms.Normalize); any other
         * variant does not match. */
        if (v && variant && strcmp(v, variant) == 0)
            score = 3;
        else if (!v || !*v)
            score = 2;
        else
            continue;
        if (score > best_score) {
            best = m;
            best_score = score;
        }
    }
    if (!best)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "no manifest for linux/%s%s%s in the index", arch,
                           variant ? "/" : "", variant ? variant : "");
    return descriptor_parse(best, out, "index entry", err);
}
