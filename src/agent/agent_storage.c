/* SPDX-License-Identifier: Apache-2.0
 * agent_storage.c - the node's part of the local-path provisioner
 * (docs/storage.md): the directory of a local-path PersistentVolume is
 * created by the kubelet when a pod mounts it (hostPath DirectoryOrCreate)
 * and removed here when the volume is deleted. The controller deletes a
 * released volume of reclaim policy Delete; the volume keeps the
 * external-provisioner finalizer until the agent of its node (the
 * local.path.provisioner/selected-node annotation) removed the directory
 * and dropped the finalizer. An informer follows the volumes; a thread
 * does the removals (informer callbacks must not block) when told and
 * every 30 s, so a removal that failed or was missed is retried. */
#define LOG_COMPONENT "agent"
#include "agent/agent-storage.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "client/informer.h"
#include "podspec/podspec.h"

#define SELECTED_NODE "local.path.provisioner/selected-node"
#define FINALIZER     "external-provisioner.volume.kubernetes.io/finalizer"
#define RESCAN_MS     30000

struct agent_storage {
    struct http_client *api; /* borrowed */
    char *node_name;
    struct informer *inf;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping, kicked;
};

static const json_t *
at2(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);

    return b ? json_object_get(v, b) : v;
}

static bool
has_finalizer(const json_t *pv)
{
    size_t i;
    const json_t *v;

    json_array_foreach(at2(pv, "metadata", "finalizers"), i, v)
    {
        if (json_string_value(v) && strcmp(json_string_value(v), FINALIZER) == 0)
            return true;
    }
    return false;
}

/* A volume of this node being deleted that still waits for us. */
static bool
ours_to_clean(const struct agent_storage *s, const json_t *pv)
{
    const char *node =
        json_string_value(json_object_get(at2(pv, "metadata", "annotations"), SELECTED_NODE));

    return node && strcmp(node, s->node_name) == 0 && at2(pv, "metadata", "deletionTimestamp") &&
           has_finalizer(pv);
}

/* Only a directory named as the provisioner names it for the volume's
 * claim (pvc-<uid>_<ns>_<name>) is removed, whatever the object says. */
static bool
path_ok(const json_t *pv, const char *path)
{
    const json_t *ref = at2(pv, "spec", "claimRef");
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    const char *ns = json_string_value(json_object_get(ref, "namespace"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *base = path ? strrchr(path, '/') : NULL;
    _cleanup_free_ char *want = NULL;

    if (!path || path[0] != '/' || strstr(path, "/..") || !base || base == path || !uid || !*uid ||
        !ns || !name)
        return false;
    want = k3c_xasprintf("/pvc-%s_%s_%s", uid, ns, name);
    return strcmp(base, want) == 0;
}

static void
clean_one(struct agent_storage *s, const json_t *pv)
{
    const char *name = json_string_value(at2(pv, "metadata", "name"));
    const char *path = json_string_value(at2(at2(pv, "spec", "hostPath"), "path", NULL));
    _cleanup_free_ char *api_path = k3c_xasprintf("/api/v1/persistentvolumes/%s", name);
    _cleanup_json_ json_t *rest = json_array(), *body = NULL;
    struct k3c_err err = {0};
    size_t i;
    const json_t *v;
    long code;

    if (path && path_ok(pv, path)) {
        if (podspec_rm_tree(path, &err) < 0) {
            log_warn("(pv %s) removing %s: %s", name, path, err.msg);
            return;
        }
        log_info("(pv %s) removed %s", name, path);
    } else {
        log_warn("(pv %s) not removing %s: not a local-path directory of its claim", name,
                 path ? path : "(no hostPath)");
    }
    json_array_foreach(at2(pv, "metadata", "finalizers"), i, v)
    {
        if (!json_string_value(v) || strcmp(json_string_value(v), FINALIZER) != 0)
            json_array_append(rest, (json_t *)v);
    }
    body = json_pack("{s:{s:O, s:s}}", "metadata", "finalizers", rest, "resourceVersion",
                     json_string_value(at2(pv, "metadata", "resourceVersion")) ?: "");
    code = http_client_json(s->api, "PATCH", api_path, "application/merge-patch+json", body, NULL,
                            &err);
    if ((code < 200 || code >= 300) && code != 404)
        log_warn("(pv %s) dropping the finalizer: %s", name, err.msg);
}

static void
collect(void *ud, const json_t *pv)
{
    struct {
        struct agent_storage *s;
        json_t *list;
    } *c = ud;

    if (ours_to_clean(c->s, pv))
        json_array_append(c->list, (json_t *)pv);
}

static void *
storage_thread(void *arg)
{
    struct agent_storage *s = arg;

    for (;;) {
        _cleanup_json_ json_t *list = json_array();
        struct {
            struct agent_storage *s;
            json_t *list;
        } c = {s, list};
        size_t i;
        const json_t *pv;
        int64_t deadline = k3c_now_ms() + RESCAN_MS;

        pthread_mutex_lock(&s->lock);
        while (!s->stopping && !s->kicked && k3c_cond_wait_until(&s->wake, &s->lock, deadline))
            ;
        s->kicked = false;
        if (s->stopping) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        pthread_mutex_unlock(&s->lock);
        if (!informer_synced(s->inf))
            continue;
        informer_foreach(s->inf, collect, &c);
        json_array_foreach(list, i, pv) clean_one(s, pv);
    }
    return NULL;
}

static void
kick(struct agent_storage *s)
{
    pthread_mutex_lock(&s->lock);
    s->kicked = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

static void
on_upsert(void *ud, const json_t *obj, const json_t *old)
{
    struct agent_storage *s = ud;

    (void)old;
    if (ours_to_clean(s, obj))
        kick(s);
}

static void
on_delete(void *ud, const json_t *obj)
{
    (void)ud, (void)obj;
}

static const struct informer_ops ops = {.on_upsert = on_upsert, .on_delete = on_delete};

struct agent_storage *
agent_storage_start(struct http_client *api, const char *node_name, struct k3c_err *err)
{
    struct agent_storage *s = k3c_xcalloc(1, sizeof(*s));
    struct informer_config ic = {.client = api,
                                 .path = "/api/v1/persistentvolumes",
                                 .name = "persistentvolumes",
                                 .ops = &ops,
                                 .userdata = s};
    int rc;

    s->api = api;
    s->node_name = k3c_xstrdup(node_name);
    pthread_mutex_init(&s->lock, NULL);
    k3c_cond_init(&s->wake);
    s->inf = informer_new(&ic, err);
    if (!s->inf || informer_start(s->inf, err) < 0) {
        agent_storage_stop(s);
        return NULL;
    }
    rc = pthread_create(&s->thread, NULL, storage_thread, s);
    if (rc != 0) {
        k3c_err_sys(err, rc, "local-path storage thread");
        informer_free(s->inf);
        s->inf = NULL;
        agent_storage_stop(s);
        return NULL;
    }
    return s;
}

void
agent_storage_stop(struct agent_storage *s)
{
    if (!s)
        return;
    if (s->inf) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    informer_free(s->inf);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s->node_name);
    free(s);
}
