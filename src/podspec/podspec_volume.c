/* SPDX-License-Identifier: Apache-2.0
 * podspec_volume.c - a pod's volumes under <pod_dir>/volumes/<name> and the
 * container's volumeMounts. configMap, secret, downwardAPI and projected
 * volumes use upstream's atomic writer layout (pkg/volume/util/atomic_writer.go):
 *   ..2026_01_01_00_00_00.XXXXXX/  the payload of one version
 *   ..data -> ..2026_...           swapped with rename(2)
 *   <key>  -> ..data/<key>         what the container sees
 * so a reader sees either the old or the new set of files, never a mix. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_COMPONENT "podspec"
#include "podspec/podspec-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#define VOL_DEFAULT_MODE 0644
#define VOL_MAX_DEPTH    16
#define VOL_MAX_FILES    10000

/* One file of a configMap/secret/downwardAPI/projected volume. */
struct payload_file {
    char *path; /* relative, validated */
    char *data;
    size_t len;
    mode_t mode;
};

struct payload {
    struct payload_file *f;
    size_t n;
};

static void
payload_fini(struct payload *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->f[i].path);
        free(p->f[i].data);
    }
    free(p->f);
    *p = (struct payload){0};
}

/* A relative path without "..", "." or empty components (and not starting
 * with ".."), as upstream's validatePath. */
static bool
rel_path_valid(const char *path)
{
    const char *p = path;

    if (!path || !*path || path[0] == '/' || strncmp(path, "..", 2) == 0)
        return false;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n;
        if (*p == '/')
            p++;
        if (*p == '\0' && p[-1] == '/')
            return false;
    }
    return true;
}

/* Adds path (copied) with data (taken); a later entry for the same path wins. */
static int
payload_add(struct payload *p, const char *path, char *data, size_t len, mode_t mode,
            struct k3c_err *err)
{
    if (!rel_path_valid(path)) {
        free(data);
        return k3c_err_set(err, K3C_E_INVALID, "invalid path \"%s\" in volume payload",
                           path ? path : "");
    }
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->f[i].path, path) == 0) {
            free(p->f[i].data);
            p->f[i].data = data;
            p->f[i].len = len;
            p->f[i].mode = mode;
            return 0;
        }
    }
    p->f = k3c_xrealloc(p->f, (p->n + 1) * sizeof(*p->f));
    p->f[p->n++] = (struct payload_file){k3c_xstrdup(path), data, len, mode};
    return 0;
}

static mode_t
json_mode(const json_t *v, mode_t def)
{
    return json_is_integer(v) ? (mode_t)(json_integer_value(v) & 07777) : def;
}

/* ---- filesystem helpers --------------------------------------------------- */

static inline void
closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf that neither follows symlinks nor crosses mount points. */
static int
rm_tree(const char *path, struct k3c_err *err)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : k3c_err_sys(err, errno, "stat %s", path);
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 ? k3c_err_sys(err, errno, "unlink %s", path) : 0;
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
        return k3c_err_sys(err, errno, "remove %s", path);
    return 0;
}

int
podspec_rm_tree(const char *path, struct k3c_err *err)
{
    return rm_tree(path, err);
}

static bool
is_mountpoint(const char *path)
{
    struct stat a, b;
    _cleanup_free_ char *parent = k3c_xasprintf("%s/..", path);

    return stat(path, &a) == 0 && stat(parent, &b) == 0 &&
           (a.st_dev != b.st_dev || a.st_ino == b.st_ino);
}

static int
mkdir_mode(const char *path, mode_t mode, struct k3c_err *err)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return k3c_err_sys(err, errno, "mkdir %s", path);
    /* umask must not narrow emptyDir's 0777 */
    if (chmod(path, mode) < 0)
        return k3c_err_sys(err, errno, "chmod %s", path);
    return 0;
}

/* ---- atomic writer ------------------------------------------------------------ */

/* Regular files below dir (bounded), or -1. */
static long
count_files(const char *dir, int depth)
{
    _cleanup_(closedirp) DIR *d = NULL;
    struct dirent *e;
    long n = 0;

    if (depth > VOL_MAX_DEPTH || !(d = opendir(dir)))
        return -1;
    while ((e = readdir(d)) && n < VOL_MAX_FILES) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *p = k3c_xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) < 0)
            return -1;
        if (S_ISDIR(st.st_mode)) {
            long sub = count_files(p, depth + 1);
            if (sub < 0)
                return -1;
            n += sub;
        } else {
            n++;
        }
    }
    return n;
}

/* True when dir/..data holds exactly the payload with the same modes. */
static bool
payload_unchanged(const char *dir, const struct payload *p, gid_t fsgroup)
{
    _cleanup_free_ char *data = k3c_xasprintf("%s/..data", dir);

    if (count_files(data, 0) != (long)p->n)
        return false;
    for (size_t i = 0; i < p->n; i++) {
        _cleanup_free_ char *path = k3c_xasprintf("%s/%s", data, p->f[i].path);
        _cleanup_free_ char *cur = NULL;
        size_t len = 0;
        struct stat st;
        struct k3c_err err = {0};

        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != p->f[i].mode ||
            (fsgroup != (gid_t)-1 && st.st_gid != fsgroup))
            return false;
        if (k3c_read_file(path, &cur, &len, &err) < 0 || len != p->f[i].len ||
            memcmp(cur, p->f[i].data, len) != 0)
            return false;
    }
    return true;
}

static int
write_payload_file(const char *ts, const struct payload_file *f, gid_t fsgroup, struct k3c_err *err)
{
    _cleanup_free_ char *path = k3c_xasprintf("%s/%s", ts, f->path);
    char *slash = strrchr(path, '/');

    *slash = '\0';
    if (k3c_mkdir_p(path, 0755, err) < 0)
        return -1;
    *slash = '/';
    if (k3c_write_file(path, f->data, f->len, f->mode, err) < 0)
        return -1;
    if (fsgroup != (gid_t)-1 && lchown(path, (uid_t)-1, fsgroup) < 0)
        return k3c_err_sys(err, errno, "chown %s", path);
    if (chmod(path, f->mode) < 0)
        return k3c_err_sys(err, errno, "chmod %s", path);
    return 0;
}

/* First path component of the i-th file is listed already among 0..i-1. */
static bool
top_seen(const struct payload *p, size_t i, size_t len)
{
    for (size_t j = 0; j < i; j++)
        if (strncmp(p->f[j].path, p->f[i].path, len) == 0 &&
            (p->f[j].path[len] == '/' || p->f[j].path[len] == '\0'))
            return true;
    return false;
}

/* Removes user-visible entries of dir that are not a top-level name of p. */
static void
prune_visible(const char *dir, const struct payload *p)
{
    _cleanup_(closedirp) DIR *d = opendir(dir);
    struct dirent *e;

    for (int n = 0; d && n < VOL_MAX_FILES && (e = readdir(d)); n++) {
        bool keep = strncmp(e->d_name, "..", 2) == 0 || strcmp(e->d_name, ".") == 0;
        size_t len = strlen(e->d_name);
        for (size_t i = 0; i < p->n && !keep; i++)
            keep = strncmp(p->f[i].path, e->d_name, len) == 0 &&
                   (p->f[i].path[len] == '/' || p->f[i].path[len] == '\0');
        if (!keep) {
            _cleanup_free_ char *path = k3c_xasprintf("%s/%s", dir, e->d_name);
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
                unlink(path);
        }
    }
}

static int
atomic_write(const char *dir, const struct payload *p, gid_t fsgroup, struct k3c_err *err)
{
    char stamp[64], old[PATH_MAX] = "";
    struct tm tm;
    time_t now = time(NULL);
    _cleanup_free_ char *data = k3c_xasprintf("%s/..data", dir);
    _cleanup_free_ char *data_tmp = k3c_xasprintf("%s/..data_tmp", dir);
    ssize_t n;

    if (payload_unchanged(dir, p, fsgroup))
        return 0;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "..%Y_%m_%d_%H_%M_%S.XXXXXX", &tm);
    _cleanup_free_ char *ts = k3c_xasprintf("%s/%s", dir, stamp);
    if (!mkdtemp(ts))
        return k3c_err_sys(err, errno, "mkdtemp %s", ts);
    if (chmod(ts, 0755) < 0)
        return k3c_err_sys(err, errno, "chmod %s", ts);
    for (size_t i = 0; i < p->n; i++) {
        if (write_payload_file(ts, &p->f[i], fsgroup, err) < 0) {
            struct k3c_err ignored = {0};
            rm_tree(ts, &ignored);
            return -1;
        }
    }
    n = readlink(data, old, sizeof(old) - 1);
    old[n > 0 ? n : 0] = '\0';
    unlink(data_tmp);
    if (symlink(strrchr(ts, '/') + 1, data_tmp) < 0 || rename(data_tmp, data) < 0)
        return k3c_err_sys(err, errno, "swap %s", data);
    for (size_t i = 0; i < p->n; i++) {
        size_t len = strcspn(p->f[i].path, "/");
        if (top_seen(p, i, len))
            continue;
        _cleanup_free_ char *top = k3c_xstrndup(p->f[i].path, len);
        _cleanup_free_ char *link = k3c_xasprintf("%s/%s", dir, top);
        _cleanup_free_ char *target = k3c_xasprintf("..data/%s", top);
        if (symlink(target, link) < 0 && errno != EEXIST)
            return k3c_err_sys(err, errno, "symlink %s", link);
    }
    prune_visible(dir, p);
    if (old[0] && strncmp(old, "..", 2) == 0 && !strchr(old, '/')) {
        _cleanup_free_ char *old_path = k3c_xasprintf("%s/%s", dir, old);
        struct k3c_err ignored = {0};
        rm_tree(old_path, &ignored);
    }
    return 0;
}

/* ---- payload sources --------------------------------------------------------- */

/* configMap or secret source (volume or projected) into p. */
static int
keyed_payload(const struct podspec_ctx *ctx, const json_t *src, bool secret, mode_t def_mode,
              struct payload *p, struct k3c_err *err)
{
    const char *name = json_string_value(json_object_get(src, secret ? "secretName" : "name"));
    const json_t *items = json_object_get(src, "items");
    bool optional = json_is_true(json_object_get(src, "optional"));
    const char *key;
    size_t i;
    json_t *it, *v;

    if (!name) /* projected secret sources use "name" too */
        name = json_string_value(json_object_get(src, "name"));
    _cleanup_json_ json_t *obj = podspec_fetch(ctx, secret, name, err);
    if (!obj) {
        if (err->kind == K3C_E_NOT_FOUND && optional) {
            k3c_err_clear(err);
            return 0;
        }
        return -1;
    }
    if (json_array_size(items) > 0) {
        json_array_foreach(items, i, it)
        {
            const char *k = json_string_value(json_object_get(it, "key"));
            const char *path = json_string_value(json_object_get(it, "path"));
            size_t len = 0;
            char *val = podspec_obj_value(obj, secret, k ? k : "", &len);
            if (!val) {
                if (optional)
                    continue;
                return k3c_err_set(err, K3C_E_NOT_FOUND, "%s references non-existent %s key: %s",
                                   secret ? "secret" : "configmap", secret ? "secret" : "config",
                                   k ? k : "");
            }
            if (payload_add(p, path, val, len, json_mode(json_object_get(it, "mode"), def_mode),
                            err) < 0)
                return -1;
        }
        return 0;
    }
    for (int pass = 0; pass < (secret ? 1 : 2); pass++) {
        json_object_foreach(json_object_get(obj, pass ? "binaryData" : "data"), key, v)
        {
            size_t len = 0;
            char *val = podspec_obj_value(obj, secret, key, &len);
            if (!val)
                continue;
            if (payload_add(p, key, val, len, def_mode, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int
downward_payload(const struct podspec_ctx *ctx, const json_t *src, mode_t def_mode,
                 struct payload *p, struct k3c_err *err)
{
    size_t i;
    json_t *it;

    json_array_foreach(json_object_get(src, "items"), i, it)
    {
        const char *path = json_string_value(json_object_get(it, "path"));
        const json_t *fr = json_object_get(it, "fieldRef");
        const json_t *rr = json_object_get(it, "resourceFieldRef");
        char *val = NULL;

        if (fr)
            val = podspec_field_ref(ctx, json_string_value(json_object_get(fr, "fieldPath")), err);
        else if (rr)
            val = podspec_resource_field_ref(ctx, NULL, rr, err);
        else
            k3c_err_set(err, K3C_E_INVALID, "downwardAPI item %s: no fieldRef", path ? path : "");
        if (!val)
            return -1;
        if (payload_add(p, path, val, strlen(val), json_mode(json_object_get(it, "mode"), def_mode),
                        err) < 0)
            return -1;
    }
    return 0;
}

/* A serviceAccountToken source: the kubelet's TokenRequest (issue #15). */
static int
sa_token_payload(const struct podspec_ctx *ctx, const json_t *src, mode_t def_mode,
                 struct payload *p, struct k3c_err *err)
{
    const char *path = json_string_value(json_object_get(src, "path"));
    const json_t *exp = json_object_get(src, "expirationSeconds");
    char *token = NULL;

    if (!ctx->token) {
        log_info("(pod %s) projected serviceAccountToken source skipped (no token source)",
                 json_string_value(json_object_get(json_object_get(ctx->pod, "metadata"), "name")));
        return 0;
    }
    token = ctx->token(ctx->token_ud, ctx->pod, json_string_value(json_object_get(src, "audience")),
                       json_is_integer(exp) ? json_integer_value(exp) : 3607, err);
    if (!token)
        return -1;
    return payload_add(p, path ? path : "token", token, strlen(token), def_mode, err);
}

static int
projected_payload(const struct podspec_ctx *ctx, const json_t *src, struct payload *p,
                  struct k3c_err *err)
{
    mode_t def_mode = json_mode(json_object_get(src, "defaultMode"), VOL_DEFAULT_MODE);
    size_t i;
    json_t *s, *x;

    json_array_foreach(json_object_get(src, "sources"), i, s)
    {
        if ((x = json_object_get(s, "configMap"))) {
            if (keyed_payload(ctx, x, false, def_mode, p, err) < 0)
                return -1;
        } else if ((x = json_object_get(s, "secret"))) {
            if (keyed_payload(ctx, x, true, def_mode, p, err) < 0)
                return -1;
        } else if ((x = json_object_get(s, "downwardAPI"))) {
            if (downward_payload(ctx, x, def_mode, p, err) < 0)
                return -1;
        } else if ((x = json_object_get(s, "serviceAccountToken"))) {
            if (sa_token_payload(ctx, x, def_mode, p, err) < 0)
                return -1;
        } else {
            return k3c_err_set(err, K3C_E_INVALID, "projected volume: unsupported source");
        }
    }
    return 0;
}

/* ---- per volume type -------------------------------------------------------------- */

struct vol_job {
    const struct podspec_ctx *ctx;
    const json_t *spec; /* the type's object, e.g. volumes[i].configMap */
    const char *dir;    /* <pod_dir>/volumes/<name> */
    gid_t fsgroup;
    struct podspec_volume *vol;
};

static int
vol_emptydir(struct vol_job *j, struct k3c_err *err)
{
    const char *medium = json_string_value(json_object_get(j->spec, "medium"));
    const json_t *size = json_object_get(j->spec, "sizeLimit");
    bool memory = medium && strcmp(medium, "Memory") == 0;
    int64_t bytes = 0;

    if (medium && *medium && !memory)
        return k3c_err_set(err, K3C_E_INVALID, "emptyDir medium %s is not supported", medium);
    if (mkdir_mode(j->dir, 0777, err) < 0)
        return -1;
    j->vol->kind = memory ? PODSPEC_VOL_EMPTYDIR_MEMORY : PODSPEC_VOL_EMPTYDIR;
    if (memory && !is_mountpoint(j->dir)) {
        if (size && podspec_quantity_json_value(size, &bytes, err) < 0)
            return k3c_err_wrap(err, "emptyDir sizeLimit");
        _cleanup_free_ char *opts =
            bytes > 0 ? k3c_xasprintf("mode=0777,size=%" PRId64, bytes) : k3c_xstrdup("mode=0777");
        if (mount("tmpfs", j->dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
            return k3c_err_sys(err, errno, "mount tmpfs on %s", j->dir);
    }
    if (j->fsgroup != (gid_t)-1 &&
        (chown(j->dir, (uid_t)-1, j->fsgroup) < 0 || chmod(j->dir, 02777) < 0))
        return k3c_err_sys(err, errno, "fsGroup on %s", j->dir);
    j->vol->host_path = k3c_xstrdup(j->dir);
    return 0;
}

struct hostpath_type {
    const char *name;
    mode_t fmt;  /* required S_IFMT, 0 = any */
    bool create; /* DirectoryOrCreate / FileOrCreate */
    const char *what;
};

static const struct hostpath_type hostpath_types[] = {
    {"", 0, false, NULL},
    {"DirectoryOrCreate", S_IFDIR, true, "a directory"},
    {"Directory", S_IFDIR, false, "a directory"},
    {"FileOrCreate", S_IFREG, true, "a file"},
    {"File", S_IFREG, false, "a file"},
    {"Socket", S_IFSOCK, false, "a socket file"},
    {"CharDevice", S_IFCHR, false, "a character device"},
    {"BlockDevice", S_IFBLK, false, "a block device"},
};

static int
hostpath_create(const struct hostpath_type *t, const char *path, struct k3c_err *err)
{
    _cleanup_close_ int fd = -1;

    if (t->fmt == S_IFDIR)
        return k3c_mkdir_p(path, 0755, err);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return k3c_err_sys(err, errno, "hostPath create %s", path);
    return 0;
}

static int
vol_hostpath(struct vol_job *j, struct k3c_err *err)
{
    const char *path = json_string_value(json_object_get(j->spec, "path"));
    const char *type = json_string_value(json_object_get(j->spec, "type"));
    const struct hostpath_type *t = NULL;
    struct stat st;

    if (!path || path[0] != '/')
        return k3c_err_set(err, K3C_E_INVALID, "hostPath: path must be absolute");
    for (size_t i = 0; i < sizeof(hostpath_types) / sizeof(hostpath_types[0]); i++)
        if (strcmp(hostpath_types[i].name, type ? type : "") == 0)
            t = &hostpath_types[i];
    if (!t)
        return k3c_err_set(err, K3C_E_INVALID, "hostPath: unknown type %s", type);
    if (stat(path, &st) < 0) {
        if (errno != ENOENT)
            return k3c_err_sys(err, errno, "hostPath %s", path);
        /* "" checks nothing; a missing path becomes a directory, as the
         * CRI runtimes create a missing bind source */
        if (!t->fmt && k3c_mkdir_p(path, 0755, err) < 0)
            return -1;
        if (t->fmt && !t->create)
            return k3c_err_set(err, K3C_E_INVALID, "hostPath type check failed: %s is not %s", path,
                               t->what);
        if (t->create && hostpath_create(t, path, err) < 0)
            return -1;
        if (stat(path, &st) < 0)
            return k3c_err_sys(err, errno, "hostPath %s", path);
    }
    if (t->fmt && (st.st_mode & S_IFMT) != t->fmt)
        return k3c_err_set(err, K3C_E_INVALID, "hostPath type check failed: %s is not %s", path,
                           t->what);
    j->vol->kind = PODSPEC_VOL_HOSTPATH;
    j->vol->host_path = k3c_xstrdup(path);
    return 0;
}

static int
vol_payload(struct vol_job *j, enum podspec_volume_kind kind, struct k3c_err *err)
{
    struct payload p = {0};
    mode_t def_mode = json_mode(json_object_get(j->spec, "defaultMode"), VOL_DEFAULT_MODE);
    int rc;

    if (kind == PODSPEC_VOL_CONFIGMAP || kind == PODSPEC_VOL_SECRET)
        rc = keyed_payload(j->ctx, j->spec, kind == PODSPEC_VOL_SECRET, def_mode, &p, err);
    else if (kind == PODSPEC_VOL_DOWNWARDAPI)
        rc = downward_payload(j->ctx, j->spec, def_mode, &p, err);
    else
        rc = projected_payload(j->ctx, j->spec, &p, err);
    /* fsGroup: group-owned and group-readable, as SetVolumeOwnership does
     * for read-only volumes */
    for (size_t i = 0; j->fsgroup != (gid_t)-1 && i < p.n; i++)
        p.f[i].mode |= 0440;
    if (rc == 0)
        rc = mkdir_mode(j->dir, 0755, err);
    if (rc == 0)
        rc = atomic_write(j->dir, &p, j->fsgroup, err);
    payload_fini(&p);
    if (rc < 0)
        return -1;
    j->vol->kind = kind;
    j->vol->host_path = k3c_xstrdup(j->dir);
    j->vol->readonly = true;
    return 0;
}

static int
vol_configmap(struct vol_job *j, struct k3c_err *err)
{
    return vol_payload(j, PODSPEC_VOL_CONFIGMAP, err);
}

static int
vol_secret(struct vol_job *j, struct k3c_err *err)
{
    return vol_payload(j, PODSPEC_VOL_SECRET, err);
}

static int
vol_downward(struct vol_job *j, struct k3c_err *err)
{
    return vol_payload(j, PODSPEC_VOL_DOWNWARDAPI, err);
}

static int
vol_projected(struct vol_job *j, struct k3c_err *err)
{
    return vol_payload(j, PODSPEC_VOL_PROJECTED, err);
}

/* persistentVolumeClaim: claim -> bound volume -> its hostPath or local
 * directory on this node, used in place. A claim not bound yet is
 * K3C_E_UNAVAILABLE (the kubelet waits in ContainerCreating). */
static int
vol_pvc(struct vol_job *j, struct k3c_err *err)
{
    const char *claim = json_string_value(json_object_get(j->spec, "claimName"));
    const char *ns =
        json_string_value(json_object_get(json_object_get(j->ctx->pod, "metadata"), "namespace"));
    _cleanup_json_ json_t *pvc = NULL, *pv = NULL;
    const json_t *spec, *src;
    const char *vol, *phase, *uid, *ref_uid;

    if (!claim || !*claim)
        return k3c_err_set(err, K3C_E_INVALID, "persistentVolumeClaim: claimName is required");
    if (!j->ctx->fetch)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "persistentvolumeclaim \"%s\" not found", claim);
    pvc =
        j->ctx->fetch(j->ctx->fetch_ud, "persistentvolumeclaims", ns ? ns : "default", claim, err);
    if (!pvc) {
        if (err->kind == K3C_E_NOT_FOUND)
            err->kind = K3C_E_UNAVAILABLE; /* it may be created yet */
        return -1;
    }
    vol = json_string_value(json_object_get(json_object_get(pvc, "spec"), "volumeName"));
    phase = json_string_value(json_object_get(json_object_get(pvc, "status"), "phase"));
    if (!vol || !*vol || !phase || strcmp(phase, "Bound") != 0)
        return k3c_err_set(err, K3C_E_UNAVAILABLE, "persistentvolumeclaim \"%s\" is not bound",
                           claim);
    pv = j->ctx->fetch(j->ctx->fetch_ud, "persistentvolumes", NULL, vol, err);
    if (!pv) {
        if (err->kind == K3C_E_NOT_FOUND)
            err->kind = K3C_E_UNAVAILABLE;
        return -1;
    }
    spec = json_object_get(pv, "spec");
    uid = json_string_value(json_object_get(json_object_get(pvc, "metadata"), "uid"));
    ref_uid = json_string_value(json_object_get(json_object_get(spec, "claimRef"), "uid"));
    if (!uid || !ref_uid || strcmp(uid, ref_uid) != 0)
        return k3c_err_set(err, K3C_E_UNAVAILABLE,
                           "persistentvolume \"%s\" is not bound to claim \"%s\"", vol, claim);
    if ((src = json_object_get(spec, "hostPath"))) {
        struct vol_job hj = {j->ctx, src, j->dir, j->fsgroup, j->vol};

        if (vol_hostpath(&hj, err) < 0)
            return -1;
    } else if ((src = json_object_get(spec, "local"))) {
        const char *path = json_string_value(json_object_get(src, "path"));
        struct stat st;

        if (!path || path[0] != '/' || stat(path, &st) < 0)
            return k3c_err_set(err, K3C_E_INVALID, "local volume %s: path %s does not exist", vol,
                               path ? path : "");
        j->vol->kind = PODSPEC_VOL_HOSTPATH;
        j->vol->host_path = k3c_xstrdup(path);
    } else {
        return k3c_err_set(err, K3C_E_INVALID,
                           "persistentvolume \"%s\": only hostPath and local volumes can be "
                           "mounted by this kubelet",
                           vol);
    }
    j->vol->readonly = json_is_true(json_object_get(j->spec, "readOnly"));
    return 0;
}

struct vol_type {
    const char *key;
    int (*prepare)(struct vol_job *j, struct k3c_err *err);
};

static const struct vol_type vol_types[] = {
    {"emptyDir", vol_emptydir},         {"hostPath", vol_hostpath},
    {"configMap", vol_configmap},       {"secret", vol_secret},
    {"downwardAPI", vol_downward},      {"projected", vol_projected},
    {"persistentVolumeClaim", vol_pvc},
};

static int
prepare_one(const struct podspec_ctx *ctx, const json_t *vspec, const char *vol_dir, gid_t fsgroup,
            struct podspec_volume *vol, struct k3c_err *err)
{
    const char *name = json_string_value(json_object_get(vspec, "name"));

    if (!name || !rel_path_valid(name) || strchr(name, '/'))
        return k3c_err_set(err, K3C_E_INVALID, "volume with an invalid name");
    vol->name = k3c_xstrdup(name);
    for (size_t i = 0; i < sizeof(vol_types) / sizeof(vol_types[0]); i++) {
        const json_t *spec = json_object_get(vspec, vol_types[i].key);
        if (!spec)
            continue;
        _cleanup_free_ char *dir = k3c_xasprintf("%s/%s", vol_dir, name);
        struct vol_job j = {ctx, spec, dir, fsgroup, vol};
        if (vol_types[i].prepare(&j, err) < 0)
            return k3c_err_wrap(err, "volume %s", name);
        return 0;
    }
    return k3c_err_set(err, K3C_E_INVALID, "volume %s: unsupported volume type", name);
}

int
podspec_volumes_prepare(const struct podspec_ctx *ctx, const char *pod_dir,
                        struct podspec_volumes *out, struct k3c_err *err)
{
    const json_t *spec = json_object_get(ctx->pod, "spec");
    const json_t *vols = json_object_get(spec, "volumes");
    const json_t *fsg = json_object_get(json_object_get(spec, "securityContext"), "fsGroup");
    gid_t fsgroup = json_is_integer(fsg) ? (gid_t)json_integer_value(fsg) : (gid_t)-1;
    struct podspec_volumes res = {0};
    _cleanup_free_ char *vol_dir = k3c_xasprintf("%s/volumes", pod_dir);
    size_t i;
    json_t *v;

    if (k3c_mkdir_p(vol_dir, 0750, err) < 0)
        return -1;
    res.v = k3c_xcalloc(json_array_size(vols) + 1, sizeof(*res.v));
    json_array_foreach(vols, i, v)
    {
        if (prepare_one(ctx, v, vol_dir, fsgroup, &res.v[res.n++], err) < 0) {
            podspec_volumes_fini(&res);
            return -1;
        }
    }
    *out = res;
    return 0;
}

void
podspec_volumes_fini(struct podspec_volumes *vols)
{
    for (size_t i = 0; i < vols->n; i++) {
        free(vols->v[i].name);
        free(vols->v[i].host_path);
    }
    free(vols->v);
    *vols = (struct podspec_volumes){0};
}

const struct podspec_volume *
podspec_volumes_find(const struct podspec_volumes *vols, const char *name)
{
    for (size_t i = 0; name && i < vols->n; i++)
        if (strcmp(vols->v[i].name, name) == 0)
            return &vols->v[i];
    return NULL;
}

/* ---- volumeMounts ---------------------------------------------------------------- */

/* subPath: relative, no ".." component (upstream's validation). */
static bool
subpath_valid(const char *sub)
{
    if (sub[0] == '/')
        return false;
    for (const char *p = sub; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

/* The host source of one mount: the volume, or the resolved subPath inside
 * it (created as a directory when missing). New string or NULL. */
static char *
mount_source(const struct podspec_volume *vol, const char *sub, struct k3c_err *err)
{
    char vol_real[PATH_MAX], src_real[PATH_MAX];

    if (!sub || !*sub)
        return k3c_xstrdup(vol->host_path);
    if (!subpath_valid(sub)) {
        k3c_err_set(err, K3C_E_INVALID, "subPath \"%s\" must be a relative path without ..", sub);
        return NULL;
    }
    _cleanup_free_ char *src = k3c_xasprintf("%s/%s", vol->host_path, sub);
    struct stat st;
    if (lstat(src, &st) < 0 && errno == ENOENT && k3c_mkdir_p(src, 0755, err) < 0)
        return NULL;
    if (!realpath(vol->host_path, vol_real) || !realpath(src, src_real)) {
        k3c_err_sys(err, errno, "subPath %s", sub);
        return NULL;
    }
    size_t vl = strlen(vol_real);
    if (strncmp(src_real, vol_real, vl) != 0 || (src_real[vl] != '/' && src_real[vl] != '\0')) {
        k3c_err_set(err, K3C_E_INVALID, "subPath \"%s\" resolves outside the volume %s", sub,
                    vol->name);
        return NULL;
    }
    return k3c_xstrdup(src_real);
}

int
podspec_volume_mounts(const struct podspec_volumes *vols, const json_t *container,
                      const char *const *env, struct runtime_mount **out, size_t *n_out,
                      struct k3c_err *err)
{
    const json_t *vms = json_object_get(container, "volumeMounts");
    struct runtime_mount *m = k3c_xcalloc(json_array_size(vms) + 1, sizeof(*m));
    size_t n = 0, i;
    json_t *vm;

    json_array_foreach(vms, i, vm)
    {
        const char *name = json_string_value(json_object_get(vm, "name"));
        const char *dest = json_string_value(json_object_get(vm, "mountPath"));
        const char *sub = json_string_value(json_object_get(vm, "subPath"));
        const char *sub_expr = json_string_value(json_object_get(vm, "subPathExpr"));
        const struct podspec_volume *vol = podspec_volumes_find(vols, name);
        _cleanup_free_ char *expanded = NULL;

        if (!vol) {
            k3c_err_set(err, K3C_E_INVALID, "volumeMount %s: no volume of that name",
                        name ? name : "");
            goto fail;
        }
        if (!dest || dest[0] != '/') {
            k3c_err_set(err, K3C_E_INVALID, "volumeMount %s: mountPath must be absolute", name);
            goto fail;
        }
        if (sub_expr && *sub_expr)
            sub = expanded = podspec_expand(sub_expr, env);
        char *src = mount_source(vol, sub, err);
        if (!src) {
            k3c_err_wrap(err, "volumeMount %s", name);
            goto fail;
        }
        m[n].type = RUNTIME_MOUNT_BIND;
        m[n].source = src;
        m[n].destination = k3c_xstrdup(dest);
        m[n].readonly = vol->readonly || json_is_true(json_object_get(vm, "readOnly"));
        n++;
    }
    *out = m;
    *n_out = n;
    return 0;
fail:
    podspec_mounts_free(m, n);
    return -1;
}

void
podspec_mounts_free(struct runtime_mount *mounts, size_t n)
{
    for (size_t i = 0; mounts && i < n; i++) {
        free((char *)mounts[i].source);
        free((char *)mounts[i].destination);
    }
    free(mounts);
}

/* ---- cleanup ------------------------------------------------------------------------ */

int
podspec_volumes_cleanup(const char *pod_dir, struct k3c_err *err)
{
    _cleanup_free_ char *vol_dir = k3c_xasprintf("%s/volumes", pod_dir);
    _cleanup_(closedirp) DIR *d = opendir(vol_dir);
    struct dirent *e;

    if (!d)
        return errno == ENOENT ? 0 : k3c_err_sys(err, errno, "open %s", vol_dir);
    for (int n = 0; n < VOL_MAX_FILES && (e = readdir(d)); n++) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *path = k3c_xasprintf("%s/%s", vol_dir, e->d_name);
        struct stat st;
        /* a tmpfs (emptyDir medium Memory); bounded: stacked mounts peel one by one */
        for (int k = 0;
             k < 8 && lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && is_mountpoint(path); k++)
            if (umount2(path, MNT_DETACH) < 0)
                return k3c_err_sys(err, errno, "umount %s", path);
    }
    if (rm_tree(vol_dir, err) < 0)
        return -1;
    if (k3c_file_exists(vol_dir))
        return k3c_err_set(err, K3C_E_SYSTEM, "%s: could not remove everything", vol_dir);
    return 0;
}

/* ---- service-account token refresh (issue #15) -------------------------------------- */

static bool
projected_has_token(const json_t *projected)
{
    size_t i;
    json_t *s;

    json_array_foreach(json_object_get(projected, "sources"), i, s)
    {
        if (json_object_get(s, "serviceAccountToken"))
            return true;
    }
    return false;
}

int64_t
podspec_token_refresh_after_s(const json_t *pod, int64_t max_age_s)
{
    const json_t *vols = json_object_get(json_object_get(pod, "spec"), "volumes");
    int64_t best = -1;
    size_t i, j;
    json_t *v, *s;

    json_array_foreach(vols, i, v)
    {
        json_array_foreach(json_object_get(json_object_get(v, "projected"), "sources"), j, s)
        {
            const json_t *src = json_object_get(s, "serviceAccountToken");
            const json_t *exp = json_object_get(src, "expirationSeconds");
            int64_t ttl = json_is_integer(exp) ? json_integer_value(exp) : 3607, after;

            if (!src)
                continue;
            /* upstream's token manager: refresh within 20% of the TTL of
             * expiry, or once the token is older than maxTTL (24 h) */
            after = ttl - ttl / 5;
            if (max_age_s > 0 && after > max_age_s)
                after = max_age_s;
            if (after < 1)
                after = 1;
            if (best < 0 || after < best)
                best = after;
        }
    }
    return best;
}

int
podspec_volumes_refresh_tokens(const struct podspec_ctx *ctx, const char *pod_dir,
                               struct k3c_err *err)
{
    const json_t *spec = json_object_get(ctx->pod, "spec");
    const json_t *fsg = json_object_get(json_object_get(spec, "securityContext"), "fsGroup");
    gid_t fsgroup = json_is_integer(fsg) ? (gid_t)json_integer_value(fsg) : (gid_t)-1;
    int n = 0;
    size_t i;
    json_t *v;

    json_array_foreach(json_object_get(spec, "volumes"), i, v)
    {
        const json_t *proj = json_object_get(v, "projected");
        const char *name = json_string_value(json_object_get(v, "name"));
        struct podspec_volume vol = {0};

        if (!proj || !projected_has_token(proj) || !name || !rel_path_valid(name) ||
            strchr(name, '/'))
            continue;
        _cleanup_free_ char *dir = k3c_xasprintf("%s/volumes/%s", pod_dir, name);
        struct vol_job j = {ctx, proj, dir, fsgroup, &vol};
        int rc = vol_projected(&j, err);
        free(vol.host_path);
        if (rc < 0)
            return k3c_err_wrap(err, "volume %s", name);
        n++;
    }
    return n;
}
