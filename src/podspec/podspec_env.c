/* SPDX-License-Identifier: Apache-2.0
 * podspec_env.c - a container's environment and argv the way the kubelet
 * builds them (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables):
 * envFrom, env with $(VAR) expansion, configMap/secret key refs through the
 * caller's fetch callback, fieldRef and resourceFieldRef. */
#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include "podspec/podspec-internal.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/util.h"

/* ---- string vectors ------------------------------------------------------ */

void
podspec_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

size_t
podspec_strv_len(const char *const *v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

void
podspec_strv_push(char ***v, size_t *n, char *s)
{
    *v = k3c_xrealloc(*v, (*n + 2) * sizeof(**v));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

/* ---- ordered name → value list ---------------------------------------------- */

struct envlist {
    char **names, **vals;
    size_t n;
};

static ssize_t
envlist_find(const struct envlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return (ssize_t)i;
    return -1;
}

/* Sets name=val (copies both); a redefinition replaces in place. */
static void
envlist_set(struct envlist *l, const char *name, const char *val, size_t val_len)
{
    ssize_t i = envlist_find(l, name);

    if (i >= 0) {
        free(l->vals[i]);
        l->vals[i] = k3c_xstrndup(val, val_len);
        return;
    }
    l->names = k3c_xrealloc(l->names, (l->n + 1) * sizeof(char *));
    l->vals = k3c_xrealloc(l->vals, (l->n + 1) * sizeof(char *));
    l->names[l->n] = k3c_xstrdup(name);
    l->vals[l->n] = k3c_xstrndup(val, val_len);
    l->n++;
}

static void
envlist_set_kv(struct envlist *l, const char *kv)
{
    const char *eq = strchr(kv, '=');
    _cleanup_free_ char *name = NULL;

    if (!eq || eq == kv)
        return;
    name = k3c_xstrndup(kv, (size_t)(eq - kv));
    envlist_set(l, name, eq + 1, strlen(eq + 1));
}

static void
envlist_fini(struct envlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->names[i]);
        free(l->vals[i]);
    }
    free(l->names);
    free(l->vals);
    *l = (struct envlist){0};
}

static char **
envlist_strv(const struct envlist *l)
{
    char **v = k3c_xcalloc(l->n + 1, sizeof(char *));

    for (size_t i = 0; i < l->n; i++)
        v[i] = k3c_xasprintf("%s=%s", l->names[i], l->vals[i]);
    return v;
}

/* ---- $(VAR) expansion (third_party/forked/golang/expansion) ------------------ */

typedef const char *(*lookup_fn)(const void *ud, const char *name, size_t len);

static char *
expand_with(const char *s, lookup_fn lookup, const void *ud)
{
    struct k3c_buf b;

    k3c_buf_init(&b);
    for (const char *p = s; *p;) {
        if (p[0] != '$' || p[1] == '\0') {
            k3c_buf_append(&b, p, 1);
            p++;
            continue;
        }
        if (p[1] == '$') { /* "$$" escapes "$" */
            k3c_buf_append(&b, "$", 1);
            p += 2;
            continue;
        }
        if (p[1] != '(') { /* "$x": copied as is */
            k3c_buf_append(&b, p, 2);
            p += 2;
            continue;
        }
        const char *close = strchr(p + 2, ')');
        if (!close) { /* incomplete reference: the rest is literal */
            k3c_buf_append(&b, p, strlen(p));
            break;
        }
        const char *val = lookup(ud, p + 2, (size_t)(close - (p + 2)));
        if (val)
            k3c_buf_append(&b, val, strlen(val));
        else
            k3c_buf_append(&b, p, (size_t)(close + 1 - p));
        p = close + 1;
    }
    return k3c_buf_steal(&b, NULL);
}

static const char *
strv_lookup(const char *const *env, const char *name, size_t len)
{
    const char *found = NULL;

    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            found = env[i] + len + 1; /* last definition wins */
    return found;
}

static const char *
lookup_strv(const void *ud, const char *name, size_t len)
{
    return strv_lookup(ud, name, len);
}

char *
podspec_expand(const char *s, const char *const *env)
{
    return expand_with(s, lookup_strv, env);
}

struct env_scope {
    const struct envlist *defined;
    const char *const *service_env;
};

static const char *
lookup_scope(const void *ud, const char *name, size_t len)
{
    const struct env_scope *sc = ud;
    const struct envlist *l = sc->defined;

    for (size_t i = 0; i < l->n; i++)
        if (strncmp(l->names[i], name, len) == 0 && l->names[i][len] == '\0')
            return l->vals[i];
    return strv_lookup(sc->service_env, name, len);
}

/* ---- configMap / secret access --------------------------------------------- */

const char *
podspec_pod_ns(const json_t *pod)
{
    const char *ns =
        json_string_value(json_object_get(json_object_get(pod, "metadata"), "namespace"));
    return ns ? ns : "default";
}

json_t *
podspec_fetch(const struct podspec_ctx *ctx, bool secret, const char *name, struct k3c_err *err)
{
    const char *ns = podspec_pod_ns(ctx->pod);
    json_t *obj = NULL;

    if (!name || !*name) {
        k3c_err_set(err, K3C_E_INVALID, "%s reference without a name",
                    secret ? "secret" : "configmap");
        return NULL;
    }
    if (ctx->fetch)
        obj = ctx->fetch(ctx->fetch_ud, secret ? "secrets" : "configmaps", ns, name, err);
    else
        k3c_err_set(err, K3C_E_NOT_FOUND, "no API client");
    if (!obj && err->kind == K3C_E_NONE) /* a callback that forgot to say why */
        k3c_err_set(err, K3C_E_INTERNAL, "get %s %s/%s failed", secret ? "secret" : "configmap", ns,
                    name);
    else if (!obj && err->kind == K3C_E_NOT_FOUND)
        k3c_err_set(err, K3C_E_NOT_FOUND, "%s \"%s\" not found", secret ? "secret" : "configmap",
                    name);
    return obj;
}

/* data[key] of a ConfigMap (data, else binaryData decoded) or Secret
 * (data decoded). Returns a new string (*len_out bytes) or NULL if absent. */
char *
podspec_obj_value(const json_t *obj, bool secret, const char *key, size_t *len_out)
{
    const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), key));

    if (!secret && v) {
        *len_out = strlen(v);
        return k3c_xstrdup(v);
    }
    if (!secret)
        v = json_string_value(json_object_get(json_object_get(obj, "binaryData"), key));
    if (!v)
        return NULL;
    return k3c_base64_decode(v, len_out);
}

/* ---- fieldRef ----------------------------------------------------------------- */

static const json_t *
pod_path(const json_t *pod, const char *a, const char *b)
{
    return json_object_get(json_object_get(pod, a), b);
}

/* "metadata.labels['k']" → k (new string) when path has that prefix. */
static char *
subscript(const char *path, const char *prefix)
{
    size_t pl = strlen(prefix), len = strlen(path);

    if (strncmp(path, prefix, pl) != 0 || len < pl + 4 || strncmp(path + pl, "['", 2) != 0 ||
        strcmp(path + len - 2, "']") != 0)
        return NULL;
    return k3c_xstrndup(path + pl + 2, len - pl - 4);
}

/* All pairs as "k=\"v\"\n" sorted by key (downwardAPI volume format). */
static char *
format_map(const json_t *map)
{
    struct k3c_buf b;
    const char **keys = NULL;
    size_t n = json_object_size(map), i = 0;
    const char *k;
    json_t *v;

    k3c_buf_init(&b);
    keys = k3c_xcalloc(n + 1, sizeof(char *));
    json_object_foreach((json_t *)map, k, v) keys[i++] = k;
    for (size_t a = 1; a < n; a++)
        for (size_t c = a; c > 0 && strcmp(keys[c - 1], keys[c]) > 0; c--) {
            const char *t = keys[c];
            keys[c] = keys[c - 1];
            keys[c - 1] = t;
        }
    for (i = 0; i < n; i++) {
        const char *s = json_string_value(json_object_get(map, keys[i]));
        k3c_buf_appendf(&b, "%s=\"", keys[i]);
        for (; s && *s; s++) {
            if (*s == '"' || *s == '\\')
                k3c_buf_appendf(&b, "\\%c", *s);
            else if (*s == '\n')
                k3c_buf_append(&b, "\\n", 2);
            else
                k3c_buf_append(&b, s, 1);
        }
        k3c_buf_append(&b, "\"\n", 2);
    }
    free(keys);
    if (n > 0) /* upstream joins with "\n": no trailing newline */
        b.data[--b.len] = '\0';
    return k3c_buf_steal(&b, NULL);
}

static char *
ips_joined(const json_t *pod, const char *field, const char *first)
{
    const json_t *arr = pod_path(pod, "status", field);
    struct k3c_buf b;
    size_t i;
    json_t *e;

    if (json_array_size(arr) == 0)
        return k3c_xstrdup(first ? first : "");
    k3c_buf_init(&b);
    json_array_foreach(arr, i, e)
    {
        const char *ip = json_string_value(json_object_get(e, "ip"));
        if (ip)
            k3c_buf_appendf(&b, "%s%s", b.len ? "," : "", ip);
    }
    return k3c_buf_steal(&b, NULL);
}

static char *
str_or_empty(const json_t *v)
{
    const char *s = json_string_value(v);
    return k3c_xstrdup(s ? s : "");
}

char *
podspec_field_ref(const struct podspec_ctx *ctx, const char *path, struct k3c_err *err)
{
    const json_t *pod = ctx->pod;
    _cleanup_free_ char *key = NULL;
    const char *s;

    if (!path)
        path = "";
    if (strcmp(path, "metadata.name") == 0 || strcmp(path, "metadata.namespace") == 0 ||
        strcmp(path, "metadata.uid") == 0)
        return str_or_empty(pod_path(pod, "metadata", path + strlen("metadata.")));
    if ((key = subscript(path, "metadata.labels")))
        return str_or_empty(json_object_get(pod_path(pod, "metadata", "labels"), key));
    if ((key = subscript(path, "metadata.annotations")))
        return str_or_empty(json_object_get(pod_path(pod, "metadata", "annotations"), key));
    if (strcmp(path, "metadata.labels") == 0 || strcmp(path, "metadata.annotations") == 0)
        return format_map(pod_path(pod, "metadata", path + strlen("metadata.")));
    if (strcmp(path, "spec.nodeName") == 0)
        return ctx->node_name ? k3c_xstrdup(ctx->node_name)
                              : str_or_empty(pod_path(pod, "spec", "nodeName"));
    if (strcmp(path, "spec.serviceAccountName") == 0) {
        s = json_string_value(pod_path(pod, "spec", "serviceAccountName"));
        return k3c_xstrdup(s ? s : "default");
    }
    if (strcmp(path, "status.podIP") == 0)
        return ctx->pod_ip ? k3c_xstrdup(ctx->pod_ip)
                           : str_or_empty(pod_path(pod, "status", "podIP"));
    if (strcmp(path, "status.hostIP") == 0)
        return ctx->host_ip ? k3c_xstrdup(ctx->host_ip)
                            : str_or_empty(pod_path(pod, "status", "hostIP"));
    if (strcmp(path, "status.podIPs") == 0)
        return ips_joined(pod, "podIPs", ctx->pod_ip);
    if (strcmp(path, "status.hostIPs") == 0)
        return ips_joined(pod, "hostIPs", ctx->host_ip);
    k3c_err_set(err, K3C_E_INVALID, "unsupported fieldPath: %s", path);
    return NULL;
}

/* ---- resourceFieldRef ------------------------------------------------------------ */

static const json_t *
container_named(const json_t *pod, const char *name)
{
    static const char *const lists[] = {"containers", "initContainers"};
    size_t i;
    json_t *c;

    for (size_t l = 0; l < 2; l++)
        json_array_foreach(json_object_get(json_object_get(pod, "spec"), lists[l]), i, c)
        {
            const char *n = json_string_value(json_object_get(c, "name"));
            if (n && strcmp(n, name) == 0)
                return c;
        }
    return NULL;
}

static int64_t
ceil_div(int64_t a, int64_t b)
{
    return a / b + (a % b != 0 && ((a > 0) == (b > 0)));
}

char *
podspec_resource_field_ref(const struct podspec_ctx *ctx, const json_t *container,
                           const json_t *ref, struct k3c_err *err)
{
    const char *cname = json_string_value(json_object_get(ref, "containerName"));
    const char *resource = json_string_value(json_object_get(ref, "resource"));
    const json_t *divisor = json_object_get(ref, "divisor");
    const char *dot = resource ? strchr(resource, '.') : NULL;
    bool cpu;
    int64_t val = 0, div = 0;

    if (cname && *cname && !(container = container_named(ctx->pod, cname))) {
        k3c_err_set(err, K3C_E_INVALID, "resourceFieldRef: no container %s", cname);
        return NULL;
    }
    if (!dot || (strncmp(resource, "limits.", 7) != 0 && strncmp(resource, "requests.", 9) != 0)) {
        k3c_err_set(err, K3C_E_INVALID, "unsupported container resource: %s",
                    resource ? resource : "");
        return NULL;
    }
    _cleanup_free_ char *section = k3c_xstrndup(resource, (size_t)(dot - resource));
    const char *name = dot + 1;
    cpu = strcmp(name, "cpu") == 0;
    if (!cpu && strcmp(name, "memory") != 0 && strcmp(name, "ephemeral-storage") != 0) {
        k3c_err_set(err, K3C_E_INVALID, "unsupported container resource: %s", resource);
        return NULL;
    }
    const json_t *res = json_object_get(container, "resources");
    const json_t *q = json_object_get(json_object_get(res, section), name);
    if (!q && strcmp(section, "requests") == 0) /* API defaulting: requests = limits */
        q = json_object_get(json_object_get(res, "limits"), name);
    if (q) {
        if (podspec_quantity_json_milli(q, &val, err) < 0)
            return NULL;
    } else if (strcmp(section, "limits") == 0) { /* no limit: the node's allocatable */
        val = cpu ? ctx->node_cpu_millicores : ctx->node_memory_bytes * 1000;
        if (strcmp(name, "ephemeral-storage") == 0)
            val = 0;
    }
    if (divisor && podspec_quantity_json_milli(divisor, &div, err) < 0)
        return NULL;
    if (!divisor)
        div = 1000;
    if (div <= 0) {
        k3c_err_set(err, K3C_E_INVALID, "resourceFieldRef: divisor must be positive");
        return NULL;
    }
    return k3c_xasprintf("%" PRId64, ceil_div(val, div));
}

/* ---- env -------------------------------------------------------------------- */

static bool
env_name_valid(const char *s)
{
    if (!s || !*s || isdigit((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return false;
    return true;
}

/* envFrom[i]: every key of the object, with prefix. */
static int
env_from_one(const struct podspec_ctx *ctx, const json_t *src, struct envlist *l,
             struct k3c_err *err)
{
    const json_t *ref = json_object_get(src, "configMapRef");
    bool secret = false;
    const char *prefix = json_string_value(json_object_get(src, "prefix"));
    const char *key;
    json_t *v;

    if (!ref) {
        ref = json_object_get(src, "secretRef");
        secret = true;
    }
    if (!ref)
        return 0;
    _cleanup_json_ json_t *obj =
        podspec_fetch(ctx, secret, json_string_value(json_object_get(ref, "name")), err);
    if (!obj) {
        if (err->kind == K3C_E_NOT_FOUND && json_is_true(json_object_get(ref, "optional"))) {
            k3c_err_clear(err);
            return 0;
        }
        return -1;
    }
    json_object_foreach(json_object_get(obj, "data"), key, v)
    {
        _cleanup_free_ char *name = k3c_xasprintf("%s%s", prefix ? prefix : "", key);
        size_t len = 0;
        _cleanup_free_ char *val = podspec_obj_value(obj, secret, key, &len);
        if (!env_name_valid(name) || !val)
            continue; /* upstream skips invalid keys with an event */
        envlist_set(l, name, val, len);
    }
    return 0;
}

/* valueFrom.{configMapKeyRef,secretKeyRef}: *out NULL when optional and absent. */
static int
env_key_ref(const struct podspec_ctx *ctx, const json_t *ref, bool secret, char **out, size_t *len,
            struct k3c_err *err)
{
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *key = json_string_value(json_object_get(ref, "key"));
    bool optional = json_is_true(json_object_get(ref, "optional"));
    _cleanup_json_ json_t *obj = podspec_fetch(ctx, secret, name, err);

    *out = NULL;
    if (!obj) {
        if (err->kind == K3C_E_NOT_FOUND && optional) {
            k3c_err_clear(err);
            return 0;
        }
        return -1;
    }
    *out = podspec_obj_value(obj, secret, key ? key : "", len);
    if (!*out && !optional)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "couldn't find key %s in %s %s/%s", key ? key : "",
                           secret ? "Secret" : "ConfigMap", podspec_pod_ns(ctx->pod), name);
    return 0;
}

static int
env_one(const struct podspec_ctx *ctx, const json_t *container, const json_t *e,
        const char *const *service_env, struct envlist *l, struct k3c_err *err)
{
    const char *name = json_string_value(json_object_get(e, "name"));
    const json_t *from = json_object_get(e, "valueFrom");
    const json_t *ref;
    _cleanup_free_ char *val = NULL;
    size_t len = 0;

    if (!name || !*name)
        return k3c_err_set(err, K3C_E_INVALID, "env: entry without a name");
    if (!from) {
        const char *raw = json_string_value(json_object_get(e, "value"));
        struct env_scope sc = {.defined = l, .service_env = service_env};
        val = expand_with(raw ? raw : "", lookup_scope, &sc);
        len = strlen(val);
    } else if ((ref = json_object_get(from, "configMapKeyRef"))) {
        if (env_key_ref(ctx, ref, false, &val, &len, err) < 0)
            return -1;
        if (!val)
            return 0;
    } else if ((ref = json_object_get(from, "secretKeyRef"))) {
        if (env_key_ref(ctx, ref, true, &val, &len, err) < 0)
            return -1;
        if (!val)
            return 0;
    } else if ((ref = json_object_get(from, "fieldRef"))) {
        val = podspec_field_ref(ctx, json_string_value(json_object_get(ref, "fieldPath")), err);
        if (!val)
            return -1;
        len = strlen(val);
    } else if ((ref = json_object_get(from, "resourceFieldRef"))) {
        val = podspec_resource_field_ref(ctx, container, ref, err);
        if (!val)
            return -1;
        len = strlen(val);
    } else {
        return k3c_err_set(err, K3C_E_INVALID, "env %s: unsupported valueFrom", name);
    }
    envlist_set(l, name, val, len);
    return 0;
}

char **
podspec_env_build(const struct podspec_ctx *ctx, const json_t *container,
                  const char *const *image_env, struct k3c_err *err)
{
    struct envlist l = {0}, out = {0};
    size_t i;
    json_t *e;
    char **v = NULL;

    json_array_foreach(json_object_get(container, "envFrom"), i, e)
    {
        if (env_from_one(ctx, e, &l, err) < 0)
            goto fail;
    }
    json_array_foreach(json_object_get(container, "env"), i, e)
    {
        if (env_one(ctx, container, e, ctx->service_env, &l, err) < 0) {
            const char *n = json_string_value(json_object_get(e, "name"));
            k3c_err_wrap(err, "env %s", n ? n : "?");
            goto fail;
        }
    }
    for (i = 0; ctx->service_env && ctx->service_env[i]; i++) {
        const char *eq = strchr(ctx->service_env[i], '=');
        _cleanup_free_ char *n =
            eq ? k3c_xstrndup(ctx->service_env[i], (size_t)(eq - ctx->service_env[i])) : NULL;
        if (n && envlist_find(&l, n) < 0)
            envlist_set(&l, n, eq + 1, strlen(eq + 1));
    }
    /* the runtime's merge: image env, overridden by the container's */
    for (i = 0; image_env && image_env[i]; i++)
        envlist_set_kv(&out, image_env[i]);
    for (i = 0; i < l.n; i++)
        envlist_set(&out, l.names[i], l.vals[i], strlen(l.vals[i]));
    v = envlist_strv(&out);
fail:
    envlist_fini(&l);
    envlist_fini(&out);
    return v;
}

/* ---- argv --------------------------------------------------------------------- */

static void
push_json_strings(char ***v, size_t *n, const json_t *arr, const char *const *env)
{
    size_t i;
    json_t *s;

    json_array_foreach(arr, i, s)
    {
        const char *str = json_string_value(s);
        podspec_strv_push(v, n, podspec_expand(str ? str : "", env));
    }
}

static void
push_strv(char ***v, size_t *n, const char *const *src)
{
    for (size_t i = 0; src && src[i]; i++)
        podspec_strv_push(v, n, k3c_xstrdup(src[i]));
}

char **
podspec_container_args(const json_t *container, const char *const *image_entrypoint,
                       const char *const *image_cmd, const char *const *env, struct k3c_err *err)
{
    const json_t *cmd = json_object_get(container, "command");
    const json_t *args = json_object_get(container, "args");
    char **v = NULL;
    size_t n = 0;

    if (json_array_size(cmd) > 0) {
        push_json_strings(&v, &n, cmd, env);
        push_json_strings(&v, &n, args, env);
    } else if (json_array_size(args) > 0) {
        push_strv(&v, &n, image_entrypoint);
        push_json_strings(&v, &n, args, env);
    } else {
        push_strv(&v, &n, image_entrypoint);
        push_strv(&v, &n, image_cmd);
    }
    if (n == 0) {
        podspec_strv_free(v);
        k3c_err_set(err, K3C_E_INVALID, "no command specified");
        return NULL;
    }
    return v;
}
