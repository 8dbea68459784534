/* SPDX-License-Identifier: Apache-2.0
 * cdi_alloc.c - which container holds which CDI device, the kubelet device
 * manager's job: one owner per device, the same devices back for an owner
 * that asks again (a restarted container), and a checkpoint file written
 * (atomically) on each change so an agent restart finds the running
 * containers' devices taken. Checkpoint:
 *   {"version": 1, "allocations": {"<pod uid>/<container>":
 *       {"<resource>": ["vendor/class=name", ...]}}} */
#define LOG_COMPONENT "cdi"
#include "cdi/cdi.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <pthread.h>
#include <string.h>

struct cdi_alloc {
    pthread_mutex_t lock;
    char *path;
    json_t *owners; /* owner -> {resource -> [device, ...]} */
};

struct cdi_alloc *
cdi_alloc_new(const char *path, struct k3c_err *err)
{
    struct cdi_alloc *a;
    _cleanup_json_ json_t *cp = NULL;
    json_error_t jerr;

    if (k3c_file_exists(path)) {
        cp = json_load_file(path, 0, &jerr);
        if (!cp || !json_is_object(json_object_get(cp, "allocations"))) {
            k3c_err_set(err, K3C_E_INVALID, "device checkpoint %s: %s", path,
                        cp ? "no allocations" : jerr.text);
            return NULL;
        }
    }
    a = k3c_xcalloc(1, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    a->path = k3c_xstrdup(path);
    a->owners = cp ? json_incref(json_object_get(cp, "allocations")) : json_object();
    return a;
}

void
cdi_alloc_free(struct cdi_alloc *a)
{
    if (!a)
        return;
    json_decref(a->owners);
    free(a->path);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static int
checkpoint_write(struct cdi_alloc *a, struct k3c_err *err)
{
    _cleanup_json_ json_t *cp = json_pack("{s:i, s:O}", "version", 1, "allocations", a->owners);
    _cleanup_free_ char *text = json_dumps(cp, JSON_INDENT(1) | JSON_SORT_KEYS);

    return k3c_write_file(a->path, text, strlen(text), 0600, err);
}

static bool
held_by_other(struct cdi_alloc *a, const char *owner, const char *dev)
{
    const char *o, *res;
    json_t *byres, *list, *d;
    size_t i;

    json_object_foreach(a->owners, o, byres)
    {
        if (strcmp(o, owner) == 0)
            continue;
        json_object_foreach(byres, res, list)
            json_array_foreach(list, i, d) if (strcmp(json_string_value(d), dev) == 0) return true;
    }
    return false;
}

static char **
strv_from_json(const json_t *list)
{
    char **out = k3c_xcalloc(json_array_size(list) + 1, sizeof(char *));
    size_t i;
    const json_t *d;

    json_array_foreach(list, i, d) out[i] = k3c_xstrdup(json_string_value(d));
    return out;
}

int
cdi_alloc_take(struct cdi_alloc *a, const char *owner, const char *resource, int64_t n,
               char *const *candidates, char ***out, struct k3c_err *err)
{
    json_t *mine, *picked;
    int64_t free_n = 0;
    int rc = 0;

    *out = NULL;
    pthread_mutex_lock(&a->lock);
    mine = json_object_get(json_object_get(a->owners, owner), resource);
    if (json_array_size(mine) == (size_t)n) {
        *out = strv_from_json(mine);
        pthread_mutex_unlock(&a->lock);
        return 0;
    }
    picked = json_array();
    for (size_t i = 0; candidates && candidates[i]; i++) {
        if (held_by_other(a, owner, candidates[i]))
            continue;
        free_n++;
        if ((int64_t)json_array_size(picked) < n)
            json_array_append_new(picked, json_string(candidates[i]));
    }
    if ((int64_t)json_array_size(picked) < n) {
        json_decref(picked);
        pthread_mutex_unlock(&a->lock);
        return k3c_err_set(err, K3C_E_CONFLICT,
                           "Insufficient %s: want %lld, %lld free on this node", resource,
                           (long long)n, (long long)free_n);
    }
    if (!json_object_get(a->owners, owner))
        json_object_set_new(a->owners, owner, json_object());
    json_object_set_new(json_object_get(a->owners, owner), resource, picked);
    rc = checkpoint_write(a, err);
    if (rc == 0)
        *out = strv_from_json(picked);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

char **
cdi_alloc_unheld(struct cdi_alloc *a, const char *owner, char *const *candidates)
{
    size_t n = 0, k = 0;
    char **out;

    while (candidates && candidates[n])
        n++;
    out = k3c_xcalloc(n + 1, sizeof(char *));
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < n; i++)
        if (!held_by_other(a, owner, candidates[i]))
            out[k++] = candidates[i];
    pthread_mutex_unlock(&a->lock);
    return out;
}

int
cdi_alloc_release(struct cdi_alloc *a, const char *owner)
{
    size_t plen = strlen(owner);
    bool prefix = plen > 0 && owner[plen - 1] == '/';
    const char *o, *res;
    json_t *byres, *list;
    void *tmp;
    int freed = 0;
    struct k3c_err err = {0};

    pthread_mutex_lock(&a->lock);
    json_object_foreach_safe(a->owners, tmp, o, byres)
    {
        if (prefix ? strncmp(o, owner, plen) != 0 : strcmp(o, owner) != 0)
            continue;
        json_object_foreach(byres, res, list) freed += (int)json_array_size(list);
        json_object_del(a->owners, o);
    }
    if (freed > 0 && checkpoint_write(a, &err) < 0)
        log_warn("%s", err.msg);
    pthread_mutex_unlock(&a->lock);
    return freed;
}

int
cdi_alloc_retain(struct cdi_alloc *a, char *const *uids)
{
    const char *o, *res;
    json_t *byres, *list;
    void *tmp;
    int freed = 0;
    struct k3c_err err = {0};

    pthread_mutex_lock(&a->lock);
    json_object_foreach_safe(a->owners, tmp, o, byres)
    {
        size_t ulen = strcspn(o, "/");
        bool live = false;

        for (size_t i = 0; uids && uids[i] && !live; i++)
            live = strlen(uids[i]) == ulen && strncmp(uids[i], o, ulen) == 0;
        if (live)
            continue;
        json_object_foreach(byres, res, list) freed += (int)json_array_size(list);
        log_info("devices of %s freed: its pod is gone", o);
        json_object_del(a->owners, o);
    }
    if (freed > 0 && checkpoint_write(a, &err) < 0)
        log_warn("%s", err.msg);
    pthread_mutex_unlock(&a->lock);
    return freed;
}

size_t
cdi_alloc_n_held(struct cdi_alloc *a)
{
    const char *o, *res;
    json_t *byres, *list;
    size_t n = 0;

    pthread_mutex_lock(&a->lock);
    json_object_foreach(a->owners, o, byres) json_object_foreach(byres, res, list) n +=
        json_array_size(list);
    pthread_mutex_unlock(&a->lock);
    return n;
}
