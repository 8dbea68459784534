/* SPDX-License-Identifier: Apache-2.0
 * cdi_registry.c - the CDI spec directories, as CDI's cache reads them:
 * every *.json, *.yaml and *.yml file of each directory in order (files of
 * one directory by name), a later directory's device replacing an earlier
 * one, two files of one directory defining the same device a conflict
 * (reported, the device left out), a broken file reported with its file
 * and field and skipped. Changes are found by a periodic check of the
 * listing (names, sizes, mtimes) rather than inotify: the agent already
 * wakes every few seconds for its heartbeat, and a check costs a readdir
 * and a stat per file. */
#define LOG_COMPONENT "cdi"
#include "cdi/cdi.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <ctype.h>
#include <dirent.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CDI_MAX_FILE (4 << 20)

struct cdi_dev {
    char *qualified; /* vendor/class=name */
    char *kind;
    const char *name; /* into qualified */
    json_t *spec;     /* borrowed from the registry's specs */
    const json_t *dev;
    int prio; /* directory index */
    char *path;
};

struct cdi_registry {
    pthread_mutex_t lock;
    char **dirs;
    char *signature;
    json_t *specs; /* [spec, ...]: keeps the devices' JSON alive */
    struct cdi_dev *devs;
    size_t n_devs;
    json_t *reported; /* path -> "size:mtime" of a bad file already logged */
    json_t *kinds;    /* every kind ever seen: one that goes away is reported as 0 */
    int n_errors;
};

static void
split_dirs(const char *list, char ***out, size_t *n)
{
    _cleanup_free_ char *copy = k3c_xstrdup(list);
    char *save = NULL;

    for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
        if (!*t)
            continue;
        *out = k3c_xrealloc(*out, (*n + 2) * sizeof(char *));
        (*out)[(*n)++] = k3c_xstrdup(t);
        (*out)[*n] = NULL;
    }
}

struct cdi_registry *
cdi_registry_new(char *const *dirs)
{
    struct cdi_registry *r = k3c_xcalloc(1, sizeof(*r));
    size_t n = 0;

    if (!dirs || !dirs[0])
        split_dirs(CDI_DEFAULT_DIRS, &r->dirs, &n);
    for (size_t i = 0; dirs && dirs[i]; i++)
        split_dirs(dirs[i], &r->dirs, &n);
    if (!r->dirs)
        r->dirs = k3c_xcalloc(1, sizeof(char *));
    pthread_mutex_init(&r->lock, NULL);
    r->specs = json_array();
    r->reported = json_object();
    r->kinds = json_object();
    return r;
}

static void
devs_free(struct cdi_dev *devs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(devs[i].qualified);
        free(devs[i].kind);
        free(devs[i].path);
    }
    free(devs);
}

void
cdi_registry_free(struct cdi_registry *r)
{
    if (!r)
        return;
    devs_free(r->devs, r->n_devs);
    json_decref(r->specs);
    json_decref(r->reported);
    json_decref(r->kinds);
    k3c_strv_free(r->dirs);
    free(r->signature);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static bool
spec_file_name(const char *name)
{
    size_t n = strlen(name);

    if (name[0] == '.')
        return false;
    return (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The spec files of dir, sorted; NULL-terminated (k3c_strv_free). */
static char **
dir_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **out = k3c_xcalloc(1, sizeof(char *));
    size_t n = 0;

    while (d && (e = readdir(d)) && n < 1024) {
        if (!spec_file_name(e->d_name))
            continue;
        out = k3c_xrealloc(out, (n + 2) * sizeof(char *));
        out[n++] = k3c_xasprintf("%s/%s", dir, e->d_name);
        out[n] = NULL;
    }
    if (d)
        closedir(d);
    qsort(out, n, sizeof(char *), cmp_str);
    return out;
}

static char *
listing_signature(struct cdi_registry *r)
{
    struct k3c_buf b;
    char *out;

    k3c_buf_init(&b);
    for (size_t i = 0; r->dirs[i]; i++) {
        char **files = dir_files(r->dirs[i]);

        for (size_t j = 0; files[j]; j++) {
            struct stat st;

            if (stat(files[j], &st) == 0)
                k3c_buf_appendf(&b, "%s %lld %lld.%ld\n", files[j], (long long)st.st_size,
                                (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        }
        k3c_strv_free(files);
    }
    out = k3c_xstrdup(b.len ? b.data : "");
    k3c_buf_fini(&b);
    return out;
}

static json_t *
spec_load(const char *path, struct k3c_err *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    struct stat st;

    if (stat(path, &st) == 0 && st.st_size > CDI_MAX_FILE) {
        k3c_err_set(err, K3C_E_INVALID, "%s: larger than %d bytes", path, CDI_MAX_FILE);
        return NULL;
    }
    if (k3c_read_file(path, &text, &len, err) < 0)
        return NULL;
    return cdi_spec_parse(text, len, path, err);
}

static void
report_bad(struct cdi_registry *r, const char *path, const char *msg)
{
    struct stat st;
    _cleanup_free_ char *key = NULL;
    const char *seen = json_string_value(json_object_get(r->reported, path));

    if (stat(path, &st) == 0)
        key = k3c_xasprintf("%lld:%lld.%ld", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                            st.st_mtim.tv_nsec);
    else
        key = k3c_xstrdup("gone");
    if (seen && strcmp(seen, key) == 0)
        return;
    log_error("CDI spec skipped: %s", msg);
    json_object_set_new(r->reported, path, json_string(key));
}

static ssize_t
find_dev(struct cdi_dev *devs, size_t n, const char *qualified)
{
    for (size_t i = 0; i < n; i++)
        if (devs[i].qualified && strcmp(devs[i].qualified, qualified) == 0)
            return (ssize_t)i;
    return -1;
}

/* Adds the devices of one spec; a device defined by another file of the
 * same directory is a conflict (*conflicts gets its name). */
static void
add_spec_devices(struct cdi_dev **devs, size_t *n, json_t *spec, const char *path, int prio,
                 json_t *conflicts)
{
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    size_t i;
    const json_t *d;

    json_array_foreach(json_object_get(spec, "devices"), i, d)
    {
        _cleanup_free_ char *q =
            k3c_xasprintf("%s=%s", kind, json_string_value(json_object_get(d, "name")));
        ssize_t at = find_dev(*devs, *n, q);
        struct cdi_dev nd = {.qualified = k3c_xstrdup(q),
                             .kind = k3c_xstrdup(kind),
                             .spec = spec,
                             .dev = d,
                             .prio = prio,
                             .path = k3c_xstrdup(path)};

        nd.name = strchr(nd.qualified, '=') + 1;
        if (at >= 0 && (*devs)[at].prio == prio) {
            json_object_set_new(conflicts, q, json_pack("[s, s]", (*devs)[at].path, path));
            free(nd.qualified);
            free(nd.kind);
            free(nd.path);
            continue;
        }
        if (at >= 0) { /* a later directory wins */
            free((*devs)[at].qualified);
            free((*devs)[at].kind);
            free((*devs)[at].path);
            (*devs)[at] = nd;
            continue;
        }
        *devs = k3c_xrealloc(*devs, (*n + 1) * sizeof(**devs));
        (*devs)[(*n)++] = nd;
    }
}

static json_t *
devs_summary(const struct cdi_dev *devs, size_t n)
{
    json_t *s = json_object();

    for (size_t i = 0; i < n; i++)
        json_object_set_new(s, devs[i].qualified, json_string(devs[i].path));
    return s;
}

bool
cdi_registry_refresh(struct cdi_registry *r)
{
    _cleanup_free_ char *sig = NULL;
    _cleanup_json_ json_t *specs = json_array(), *conflicts = json_object(), *before = NULL,
                          *after = NULL;
    struct cdi_dev *devs = NULL;
    size_t n = 0;
    int n_errors = 0;
    const char *q;
    json_t *paths;
    bool changed;

    pthread_mutex_lock(&r->lock);
    sig = listing_signature(r);
    if (r->signature && strcmp(sig, r->signature) == 0) {
        pthread_mutex_unlock(&r->lock);
        return false;
    }
    for (int d = 0; r->dirs[d]; d++) {
        char **files = dir_files(r->dirs[d]);

        for (size_t j = 0; files[j]; j++) {
            struct k3c_err err = {0};
            json_t *spec = spec_load(files[j], &err);

            if (!spec) {
                report_bad(r, files[j], err.msg);
                n_errors++;
                continue;
            }
            json_object_del(r->reported, files[j]);
            json_array_append_new(specs, spec);
            add_spec_devices(&devs, &n, spec, files[j], d, conflicts);
        }
        k3c_strv_free(files);
    }
    json_object_foreach(conflicts, q, paths)
    {
        ssize_t at = find_dev(devs, n, q);

        log_error("CDI device %s defined in both %s and %s: left out", q,
                  json_string_value(json_array_get(paths, 0)),
                  json_string_value(json_array_get(paths, 1)));
        if (at >= 0) {
            free(devs[at].qualified);
            free(devs[at].kind);
            free(devs[at].path);
            memmove(&devs[at], &devs[at + 1], (n - (size_t)at - 1) * sizeof(*devs));
            n--;
        }
    }
    before = devs_summary(r->devs, r->n_devs);
    after = devs_summary(devs, n);
    changed = !json_equal(before, after);
    devs_free(r->devs, r->n_devs);
    r->devs = devs;
    r->n_devs = n;
    for (size_t i = 0; i < n; i++)
        json_object_set_new(r->kinds, devs[i].kind, json_true());
    json_decref(r->specs);
    r->specs = json_incref(specs);
    free(r->signature);
    r->signature = TAKE_PTR(sig);
    r->n_errors = n_errors;
    if (changed)
        log_info("CDI: %zu devices from %zu spec files (%d skipped)", n, json_array_size(specs),
                 n_errors);
    pthread_mutex_unlock(&r->lock);
    return changed;
}

int
cdi_registry_n_errors(struct cdi_registry *r)
{
    int n;

    pthread_mutex_lock(&r->lock);
    n = r->n_errors;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* The device nodes' paths, sorted and joined: one GPU named by its index
 * and by its UUID has the same ones. "" for a device without nodes. */
static char *
nodes_key(const json_t *dev)
{
    const json_t *nodes = json_object_get(json_object_get(dev, "containerEdits"), "deviceNodes");
    size_t n = json_array_size(nodes), len = 1;
    const char **paths = k3c_xcalloc(n + 1, sizeof(char *));
    char *out;

    for (size_t i = 0; i < n; i++) {
        paths[i] = json_string_value(json_object_get(json_array_get(nodes, i), "path"));
        len += strlen(paths[i]) + 1;
    }
    qsort(paths, n, sizeof(char *), cmp_str);
    out = k3c_xcalloc(1, len);
    for (size_t i = 0; i < n; i++) {
        strcat(out, paths[i]);
        strcat(out, "\n");
    }
    free(paths);
    return out;
}

/* Whether kind has a device besides "all". */
static bool
kind_has_named(const struct cdi_registry *r, const char *kind)
{
    for (size_t j = 0; j < r->n_devs; j++)
        if (strcmp(r->devs[j].kind, kind) == 0 && strcmp(r->devs[j].name, "all") != 0)
            return true;
    return false;
}

/* Whether devs[i] is a device of its own: not the "all" alias, not a
 * second name of an earlier device. A kind whose only device is "all" (the
 * single-device CSV spec nvidia-ctk writes on a Jetson before 1.19) has
 * that one device. */
static bool
countable(const struct cdi_registry *r, size_t i)
{
    _cleanup_free_ char *key = NULL;

    if (strcmp(r->devs[i].name, "all") == 0)
        return !kind_has_named(r, r->devs[i].kind);
    key = nodes_key(r->devs[i].dev);
    if (!*key)
        return true;
    for (size_t j = 0; j < i; j++) {
        _cleanup_free_ char *other = NULL;

        if (strcmp(r->devs[j].kind, r->devs[i].kind) != 0 || strcmp(r->devs[j].name, "all") == 0)
            continue;
        other = nodes_key(r->devs[j].dev);
        if (strcmp(key, other) == 0)
            return false;
    }
    return true;
}

json_t *
cdi_registry_resources(struct cdi_registry *r)
{
    json_t *out = json_object();
    const char *kind;
    json_t *v;

    pthread_mutex_lock(&r->lock);
    /* A kind whose specs were removed stays, at 0: the Node's status is
     * merge-patched, and a key left out would keep its old count. */
    json_object_foreach(r->kinds, kind, v) json_object_set_new(out, kind, json_integer(0));
    for (size_t i = 0; i < r->n_devs; i++) {
        if (!countable(r, i))
            continue;
        json_object_set_new(
            out, r->devs[i].kind,
            json_integer(json_integer_value(json_object_get(out, r->devs[i].kind)) + 1));
    }
    pthread_mutex_unlock(&r->lock);
    return out;
}

char **
cdi_registry_devices(struct cdi_registry *r, const char *kind)
{
    char **out = k3c_xcalloc(1, sizeof(char *));
    size_t n = 0;

    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_devs; i++) {
        if (strcmp(r->devs[i].kind, kind) != 0 || !countable(r, i))
            continue;
        out = k3c_xrealloc(out, (n + 2) * sizeof(char *));
        out[n++] = k3c_xstrdup(r->devs[i].qualified);
        out[n] = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    return out;
}

static char *
label_safe(const char *s)
{
    char *out = k3c_xstrndup(s, 63);
    size_t n;

    for (char *p = out; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            *p = '-';
    n = strlen(out);
    while (n > 0 && !isalnum((unsigned char)out[n - 1]))
        out[--n] = '\0';
    if (!isalnum((unsigned char)out[0])) {
        free(out);
        return NULL;
    }
    return out;
}

static const char *
product_annotation(const json_t *ann)
{
    const char *v = json_string_value(json_object_get(ann, "nvidia.com/gpu.product"));

    return v ? v : json_string_value(json_object_get(ann, "product"));
}

/* The first GPU's "Model:" line of the NVIDIA driver's procfs. */
static char *
nvidia_proc_model(void)
{
    glob_t g;
    char *out = NULL;

    if (glob("/proc/driver/nvidia/gpus/*/information", 0, NULL, &g) != 0)
        return NULL;
    for (size_t i = 0; i < g.gl_pathc && !out; i++) {
        FILE *f = fopen(g.gl_pathv[i], "re");
        char line[256];

        while (f && !out && fgets(line, sizeof(line), f)) {
            char *v = line + 6;

            if (strncmp(line, "Model:", 6) != 0)
                continue;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = '\0';
            out = k3c_xstrdup(v);
        }
        if (f)
            fclose(f);
    }
    globfree(&g);
    return out;
}

char *
cdi_registry_product(struct cdi_registry *r, const char *kind)
{
    _cleanup_free_ char *model = NULL;

    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_devs && !model; i++) {
        const char *v;

        if (strcmp(r->devs[i].kind, kind) != 0)
            continue;
        v = product_annotation(json_object_get(r->devs[i].dev, "annotations"));
        if (!v)
            v = product_annotation(json_object_get(r->devs[i].spec, "annotations"));
        if (v)
            model = k3c_xstrdup(v);
    }
    pthread_mutex_unlock(&r->lock);
    if (!model && strcmp(kind, "nvidia.com/gpu") == 0)
        model = nvidia_proc_model();
    return model ? label_safe(model) : NULL;
}

int
cdi_registry_apply(struct cdi_registry *r, json_t *oci, char *const *devices, struct k3c_err *err)
{
    _cleanup_json_ json_t *done_specs = json_array();
    int rc = 0;

    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; devices && devices[i] && rc == 0; i++) {
        ssize_t at = find_dev(r->devs, r->n_devs, devices[i]);
        const struct cdi_dev *d;
        bool spec_done = false;
        size_t j;
        json_t *s;

        if (at < 0) {
            rc = k3c_err_set(err, K3C_E_NOT_FOUND, "CDI device %s: no spec defines it", devices[i]);
            break;
        }
        d = &r->devs[at];
        json_array_foreach(done_specs, j, s) spec_done |= s == d->spec;
        if (!spec_done) {
            json_array_append(done_specs, d->spec);
            if (json_object_get(d->spec, "containerEdits"))
                rc = cdi_edits_apply(oci, json_object_get(d->spec, "containerEdits"), err);
        }
        if (rc == 0)
            rc = cdi_edits_apply(oci, json_object_get(d->dev, "containerEdits"), err);
        if (rc < 0)
            k3c_err_wrap(err, "CDI device %s (%s)", devices[i], d->path);
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}
