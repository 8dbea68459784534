/* SPDX-License-Identifier: Apache-2.0
 * nodeipam.c - pod CIDR allocation (upstream's node-ipam-controller, range
 * allocator): each node without spec.podCIDR gets the lowest free
 * node-sized range of --cluster-cidr (10.42.0.0/16, /24 per node) in
 * spec.podCIDR and spec.podCIDRs. Ranges in use are recovered from the nodes
 * when the controller starts and released when their node is deleted.
 *
 * State: one allocation table for the process (file-static: one manager per
 * process, and the worker thread is its only user); rebuilt by start(). */
#define LOG_COMPONENT "nodeipam"
#include "controllers/controllers.h"
#include "controllers/lifecycle.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

struct ipam {
    struct lc_cidr cidr;
    bool valid;
    char **owner; /* node name per range index, NULL when free */
    size_t n;
};

static struct ipam ipam;

static void
ipam_reset(const struct ctl_config *cfg)
{
    const char *cidr = cfg->cluster_cidr ? cfg->cluster_cidr : "10.42.0.0/16";
    int mask = cfg->node_cidr_mask_size > 0 ? cfg->node_cidr_mask_size : 24;

    for (size_t i = 0; i < ipam.n; i++)
        free(ipam.owner[i]);
    free(ipam.owner);
    memset(&ipam, 0, sizeof(ipam));
    if (lc_cidr_parse(cidr, mask, &ipam.cidr) < 0) {
        log_error("cluster CIDR %s with node mask /%d is not usable; no pod CIDRs allocated", cidr,
                  mask);
        return;
    }
    ipam.valid = true;
    ipam.n = lc_cidr_count(&ipam.cidr);
    ipam.owner = k3c_xcalloc(ipam.n, sizeof(char *));
}

static long
ipam_find(const char *node)
{
    for (size_t i = 0; i < ipam.n; i++)
        if (ipam.owner[i] && strcmp(ipam.owner[i], node) == 0)
            return (long)i;
    return -1;
}

static void
ipam_release(const char *node)
{
    long i;

    while ((i = ipam_find(node)) >= 0) {
        char buf[32];

        lc_cidr_format(&ipam.cidr, (size_t)i, buf, sizeof(buf));
        log_info("(node %s) deleted; released %s", node, buf);
        free(ipam.owner[i]);
        ipam.owner[i] = NULL;
    }
}

static const char *
pod_cidr(const json_t *node)
{
    const char *s = json_string_value(json_object_get(json_object_get(node, "spec"), "podCIDR"));

    return s && *s ? s : NULL;
}

/* Records node's range as taken (recovery, or a range set by someone else). */
static void
ipam_occupy(const char *name, const char *cidr)
{
    long i = lc_cidr_index(&ipam.cidr, cidr);

    if (i < 0 || (size_t)i >= ipam.n)
        return; /* outside the cluster CIDR: not ours to track */
    if (ipam.owner[i] && strcmp(ipam.owner[i], name) == 0)
        return;
    if (ipam.owner[i])
        log_warn("(node %s) has %s, also held by node %s", name, cidr, ipam.owner[i]);
    free(ipam.owner[i]);
    ipam.owner[i] = k3c_xstrdup(name);
}

static void
on_node(struct ctl *c, enum ctl_event ev, const json_t *old, const json_t *obj)
{
    (void)old;
    if (ev == CTL_DELETED || !pod_cidr(obj))
        ctl_enqueue_object(c, obj);
}

static int
assign(struct ctl *c, const char *name, json_t *node, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/nodes/%s", name);
    _cleanup_json_ json_t *patch = NULL;
    char buf[32];
    long code;
    size_t i;

    for (i = 0; i < ipam.n && ipam.owner[i]; i++)
        ;
    if (i == ipam.n) {
        ctl_event(c, node, "Warning", "CIDRNotAvailable", "Node %s status is now: CIDRNotAvailable",
                  name);
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "no pod CIDR left for node %s", name);
    }
    lc_cidr_format(&ipam.cidr, i, buf, sizeof(buf));
    ipam.owner[i] = k3c_xstrdup(name);
    patch = json_pack("{s:{s:s, s:[s]}}", "spec", "podCIDR", buf, "podCIDRs", buf);
    code = ctl_api(c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
    if (code == 200) {
        log_info("(node %s) pod CIDR %s", name, buf);
        return 0;
    }
    free(ipam.owner[i]);
    ipam.owner[i] = NULL;
    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    ctl_event(c, node, "Warning", "CIDRAssignmentFailed", "Node %s: %s", name, err->msg);
    return -1;
}

/* 1 if the API's node has a podCIDR, 0 if not (or gone), -1 with err. */
static int
live_has_cidr(struct ctl *c, const char *name, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("/api/v1/nodes/%s", name);
    _cleanup_json_ json_t *live = NULL;
    long code = ctl_api(c, "GET", path, NULL, NULL, &live, err);

    if (code == 404) {
        k3c_err_clear(err);
        return 0;
    }
    if (code != 200)
        return -1;
    return pod_cidr(live) ? 1 : 0;
}

static int
sync_node(struct ctl *c, const char *key, struct k3c_err *err)
{
    _cleanup_json_ json_t *node = ctl_get(c, "nodes", NULL, key);

    if (!ipam.valid)
        return 0;
    if (!node) {
        ipam_release(key);
        return 0;
    }
    if (pod_cidr(node)) {
        ipam_occupy(key, pod_cidr(node));
        return 0;
    }
    if (ipam_find(key) >= 0) {
        /* Assigned by us: either the cache has not caught up yet, or the
         * node was deleted and created again in between (ask the API). */
        int live = live_has_cidr(c, key, err);

        if (live != 0)
            return live > 0 ? 0 : -1;
        ipam_release(key);
    }
    return assign(c, key, node, err);
}

static bool
recover_one(void *ud, const json_t *node)
{
    const char *name =
        json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));

    if (name && pod_cidr(node))
        ipam_occupy(name, pod_cidr(node));
    else
        ctl_enqueue_object(ud, node);
    return true;
}

static void
start(struct ctl *c)
{
    ipam_reset(ctl_manager_config(ctl_manager(c)));
    if (ipam.valid)
        ctl_list(c, "nodes", NULL, NULL, recover_one, c);
}

static const struct ctl_watch watches[] = {
    {"nodes", on_node},
    {NULL, NULL},
};

const struct ctl_def ctl_def_nodeipam = {
    .name = "nodeipam",
    .group = CTL_GROUP_CONTROLLERS,
    .watches = watches,
    .sync = sync_node,
    .start = start,
};
