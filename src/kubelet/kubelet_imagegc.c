/* SPDX-License-Identifier: Apache-2.0
 * kubelet_imagegc.c - image garbage collection, as the kubelet's image GC
 * manager: when the file system of the image store is more than
 * imageGCHighThresholdPercent full, unused images are removed, least
 * recently used first (images never seen in use before any that was), until
 * it is below imageGCLowThresholdPercent; an image any pod bound to this
 * node names is in use and never removed. The records go with
 * image_store_remove, their blobs and layers with image_store_prune. */
#define LOG_COMPONENT "kubelet"

#include "kubelet/kubelet-internal.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

struct gc_order {
    const struct kubelet_gc_image *img;
    size_t index;
};

static int
order_cmp(const void *a, const void *b)
{
    const struct kubelet_gc_image *x = ((const struct gc_order *)a)->img;
    const struct kubelet_gc_image *y = ((const struct gc_order *)b)->img;

    if (x->last_used_ms != y->last_used_ms)
        return x->last_used_ms < y->last_used_ms ? -1 : 1;
    if (x->first_seen_ms != y->first_seen_ms)
        return x->first_seen_ms < y->first_seen_ms ? -1 : 1;
    return strcmp(x->ref, y->ref);
}

size_t
kubelet_image_gc_select(const struct kubelet_gc_image *imgs, size_t n, int64_t want,
                        size_t *order_out)
{
    struct gc_order *o = k3c_xcalloc(n ? n : 1, sizeof(*o));
    size_t m = 0, picked = 0;
    int64_t sum = 0;

    for (size_t i = 0; i < n; i++)
        if (!imgs[i].in_use)
            o[m++] = (struct gc_order){.img = &imgs[i], .index = i};
    qsort(o, m, sizeof(*o), order_cmp);
    for (size_t i = 0; i < m && sum < want; i++) {
        order_out[picked++] = o[i].index;
        sum += o[i].img->size;
    }
    free(o);
    return picked;
}

/* ---- the pass ------------------------------------------------------------ */

/* The normalised references of the images the node's pods name. */
static char **
images_in_use(struct kubelet *k, size_t *n_out)
{
    static const char *const lists[] = {"containers", "initContainers"};
    char **v = NULL;
    size_t n = 0;

    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < k->n_pods; i++) {
        json_t *spec = json_object_get(k->pods[i]->pod, "spec");

        for (size_t l = 0; l < 2; l++) {
            size_t j;
            json_t *c;

            json_array_foreach(json_object_get(spec, lists[l]), j, c)
            {
                struct image_ref r = {0};
                struct k3c_err err = {0};
                const char *ref = json_string_value(json_object_get(c, "image"));

                if (!ref || image_ref_parse(ref, &r, &err) < 0)
                    continue;
                v = k3c_xrealloc(v, (n + 1) * sizeof(char *));
                v[n++] = image_ref_string(&r);
                image_ref_fini(&r);
            }
        }
    }
    pthread_mutex_unlock(&k->lock);
    *n_out = n;
    return v;
}

/* The record of ref in the kubelet's memory of images (first seen, last used). */
static struct kubelet_gc_seen *
seen(struct kubelet *k, const char *ref, int64_t now)
{
    for (size_t i = 0; i < k->gc_n_seen; i++)
        if (strcmp(k->gc_seen[i].ref, ref) == 0)
            return &k->gc_seen[i];
    k->gc_seen = k3c_xrealloc(k->gc_seen, (k->gc_n_seen + 1) * sizeof(*k->gc_seen));
    k->gc_seen[k->gc_n_seen] =
        (struct kubelet_gc_seen){.ref = k3c_xstrdup(ref), .first_seen_ms = now};
    return &k->gc_seen[k->gc_n_seen++];
}

static bool
strv_has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* all: remove every unused image whatever the disk use (the eviction
 * manager's reclaim), else only above the high threshold down to the low. */
static void
image_gc(struct kubelet *k, bool all)
{
    struct statvfs fs;
    struct image **imgs = NULL;
    struct kubelet_gc_image *gi = NULL;
    size_t n = 0, n_use = 0, *order = NULL, picked;
    char **use = NULL;
    struct k3c_err err = {0};
    int64_t now = k3c_wall_ms(), cap, used, want, freed = 0;
    int pct;

    if (!k->images || statvfs(k->images_dir, &fs) < 0 || fs.f_blocks == 0)
        return;
    if (image_store_list(k->images, &imgs, &n, &err) < 0) {
        log_warn("image GC: %s", err.msg);
        return;
    }
    use = images_in_use(k, &n_use);
    gi = k3c_xcalloc(n ? n : 1, sizeof(*gi));
    order = k3c_xcalloc(n ? n : 1, sizeof(*order));
    for (size_t i = 0; i < n; i++) {
        struct kubelet_gc_seen *s = seen(k, imgs[i]->ref, now);

        gi[i] = (struct kubelet_gc_image){.ref = imgs[i]->ref,
                                          .size = imgs[i]->size,
                                          .in_use = strv_has(use, n_use, imgs[i]->ref)};
        if (gi[i].in_use)
            s->last_used_ms = now;
        gi[i].last_used_ms = s->last_used_ms; /* 0: never seen in use */
        gi[i].first_seen_ms = s->first_seen_ms;
    }
    cap = (int64_t)fs.f_blocks * (int64_t)fs.f_frsize;
    used = cap - (int64_t)fs.f_bavail * (int64_t)fs.f_frsize;
    pct = (int)(used * 100 / cap);
    if (pct >= k->gc_high_pct || all) {
        want = all ? INT64_MAX : used - cap * k->gc_low_pct / 100;
        picked = kubelet_image_gc_select(gi, n, want, order);
        if (all)
            log_info("image GC: disk pressure: removing all %zu unused image(s) of %zu", picked, n);
        else
            log_info("image GC: the image file system is %d%% full (high threshold %d%%): freeing "
                     "%lld bytes, %zu unused image(s) of %zu",
                     pct, k->gc_high_pct, (long long)want, picked, n);
        for (size_t i = 0; i < picked; i++) {
            if (image_store_remove(k->images, gi[order[i]].ref, &err) == 0)
                log_info("image GC: removed %s (%lld bytes)", gi[order[i]].ref,
                         (long long)gi[order[i]].size);
            else
                log_warn("image GC: %s", err.msg);
        }
        if (picked > 0 && image_store_prune(k->images, k->gc_grace_s, &freed, &err) < 0)
            log_warn("image GC: %s", err.msg);
        else if (picked > 0)
            log_info("image GC: %lld bytes freed", (long long)freed);
        if (!all && used - freed > cap * k->gc_low_pct / 100)
            log_warn("image GC: still above the low threshold %d%% (images in use, or other "
                     "files on the file system)",
                     k->gc_low_pct);
    }
    for (size_t i = 0; i < n; i++)
        image_free(imgs[i]);
    free(imgs);
    for (size_t i = 0; i < n_use; i++)
        free(use[i]);
    free(use);
    free(gi);
    free(order);
}

void
kubelet_image_gc(struct kubelet *k)
{
    image_gc(k, false);
}

void
kubelet_image_gc_unused(struct kubelet *k)
{
    image_gc(k, true);
}
