/* SPDX-License-Identifier: Apache-2.0
 * image_gc.c - the store's garbage collection (issue #21): after the
 * kubelet removed the records of unused images, the blobs and unpacked
 * layers no record references any more are deleted. A blob or layer is
 * kept when it is younger than the grace period (a pull may be about to
 * record it), when an overlay mount uses it (mountinfo's lowerdir), and
 * it is deleted under its per-digest lock (no writer of it runs). */
#define LOG_COMPONENT "image"

#include "image/image-internal.h"

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct digest_set {
    char **v; /* "sha256:<hex>" */
    size_t n, cap;
};

static void
set_add(struct digest_set *s, const char *d)
{
    if (!d || !*d)
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = k3c_xrealloc(s->v, s->cap * sizeof(char *));
    }
    s->v[s->n++] = k3c_xstrdup(d);
}

static bool
set_has(const struct digest_set *s, const char *d)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], d) == 0)
            return true;
    return false;
}

static void
set_fini(struct digest_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* Everything the records reference: manifests, configs, layer blobs, diff ids. */
static int
referenced(struct image_store *s, struct digest_set *out, struct k3c_err *err)
{
    struct image **imgs = NULL;
    size_t n = 0;

    if (image_store_list(s, &imgs, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        set_add(out, imgs[i]->manifest_digest);
        set_add(out, imgs[i]->config_digest);
        for (size_t j = 0; j < imgs[i]->n_layers; j++) {
            set_add(out, imgs[i]->layers[j].digest);
            set_add(out, imgs[i]->layers[j].diff_id);
        }
        image_free(imgs[i]);
    }
    free(imgs);
    return 0;
}

/* The mount table's text, to look layer paths up in (lowerdir=...). */
static char *
mountinfo(void)
{
    char *data = NULL;
    struct k3c_err ignore = {0};

    if (k3c_read_file("/proc/self/mountinfo", &data, NULL, &ignore) < 0)
        return k3c_xstrdup("");
    return data;
}

static int64_t du_total;

static int
du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        du_total += (int64_t)st->st_blocks * 512;
    return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* Deletes dir/<hex> entries whose "sha256:<hex>" is not in keep. */
static int
prune_dir(struct image_store *s, const char *dir, const struct digest_set *keep, const char *mounts,
          int64_t grace_s, int64_t *freed)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int removed = 0;
    time_t now = time(NULL);

    while (d && (de = readdir(d))) {
        _cleanup_free_ char *digest = NULL, *path = NULL;
        struct k3c_err err = {0};
        struct stat st;
        int lock;

        if (de->d_name[0] == '.' || strlen(de->d_name) != 64)
            continue;
        digest = k3c_xasprintf("sha256:%s", de->d_name);
        path = k3c_xasprintf("%s/%s", dir, de->d_name);
        if (set_has(keep, digest) || lstat(path, &st) < 0 || now - st.st_mtime < grace_s ||
            strstr(mounts, path))
            continue;
        lock = image_store_lock_digest(s, digest, &err);
        if (lock < 0)
            continue;
        du_total = 0;
        nftw(path, du_one, 16, FTW_PHYS | FTW_MOUNT);
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        close(lock);
        if (access(path, F_OK) != 0) {
            removed++;
            *freed += du_total;
        }
    }
    if (d)
        closedir(d);
    return removed;
}

int
image_store_prune(struct image_store *s, int64_t grace_s, int64_t *freed_out, struct k3c_err *err)
{
    struct digest_set keep = {0};
    _cleanup_free_ char *blobs = k3c_xasprintf("%s/blobs/sha256", s->root);
    _cleanup_free_ char *layers = k3c_xasprintf("%s/layers/sha256", s->root);
    _cleanup_free_ char *mounts = NULL;
    int64_t freed = 0;
    int n;

    if (referenced(s, &keep, err) < 0) {
        set_fini(&keep);
        return -1;
    }
    mounts = mountinfo();
    n = prune_dir(s, layers, &keep, mounts, grace_s, &freed) +
        prune_dir(s, blobs, &keep, mounts, grace_s, &freed);
    set_fini(&keep);
    if (freed_out)
        *freed_out = freed;
    return n;
}
