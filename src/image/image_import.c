/* SPDX-License-Identifier: Apache-2.0
 * image_import.c - air-gapped images: docker-save archives (manifest.json
 * with Config/RepoTags/Layers) and OCI-layout archives (index.json + blobs/,
 * image-spec image-layout.md), plain or compressed. One pass streams every
 * file of the archive into a staging directory under its own sha256 (so
 * nothing is trusted by name; it runs in the image helper process, where
 * libarchive is loaded: image_helper.c); the referenced ones then enter the
 * store and each named image is committed as a pull would. */
#define LOG_COMPONENT "image"
#include "image/image-archive.h"
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct staged_file {
    char *name; /* path inside the archive, without "./" */
    char digest[IMAGE_DIGEST_LEN];
    int64_t size;
};

struct import_ctx {
    struct image_store *s;
    const char *path; /* the tarball, for messages */
    char *staging;
    struct staged_file *files;
    size_t n_files;
};

static void
import_ctx_fini(struct import_ctx *c)
{
    struct k3c_err e = {0};

    for (size_t i = 0; i < c->n_files; i++)
        free(c->files[i].name);
    free(c->files);
    if (c->staging && image_rm_rf(c->staging, &e) < 0)
        log_warn("(import %s) %s", c->path, e.msg);
    free(c->staging);
}

static const struct staged_file *
staged_by_name(const struct import_ctx *c, const char *name)
{
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    for (size_t i = 0; i < c->n_files; i++)
        if (strcmp(c->files[i].name, name) == 0)
            return &c->files[i];
    return NULL;
}

static char *
staged_path(const struct import_ctx *c, const char *digest)
{
    return k3c_xasprintf("%s/%s", c->staging, digest + 7);
}

static bool
staged_has(const struct import_ctx *c, const char *digest)
{
    for (size_t i = 0; i < c->n_files; i++)
        if (strcmp(c->files[i].digest, digest) == 0)
            return true;
    return false;
}

/* Streams one archive member into staging/<its sha256>. */
static int
stage_entry(struct import_ctx *c, struct archive *a, const char *name, struct k3c_err *err)
{
    _cleanup_free_ char *tmp = k3c_xasprintf("%s/.part", c->staging);
    _cleanup_free_ char *dst = NULL;
    _cleanup_close_ int fd = -1;
    struct image_sha256 *h = image_sha256_new();
    struct staged_file f = {0};
    char buf[64 * 1024];
    la_ssize_t n;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        image_sha256_finish(h, f.digest);
        return k3c_err_sys(err, errno, "create %s", tmp);
    }
    while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
        const char *p = buf;
        size_t left = (size_t)n;

        image_sha256_update(h, buf, (size_t)n);
        f.size += n;
        while (left > 0) {
            ssize_t w = write(fd, p, left);

            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                image_sha256_finish(h, f.digest);
                return k3c_err_sys(err, errno, "write %s", tmp);
            }
            p += w;
            left -= (size_t)w;
        }
    }
    image_sha256_finish(h, f.digest);
    if (n < 0)
        return k3c_err_set(err, K3C_E_INVALID, "%s: %s: %s", c->path, name,
                           archive_error_string(a));
    dst = staged_path(c, f.digest);
    if (rename(tmp, dst) < 0)
        return k3c_err_sys(err, errno, "rename %s", tmp);
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    f.name = k3c_xstrdup(name);
    c->files = k3c_xrealloc(c->files, (c->n_files + 1) * sizeof(*c->files));
    c->files[c->n_files++] = f;
    return 0;
}

/* Every regular file of the archive into staging (in the helper, or in
 * this process where the helper cannot run). */
static int
stage_members(struct import_ctx *c, struct k3c_err *err)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    int r, rc = -1;

    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_lz4(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    if (archive_read_open_filename(a, c->path, 64 * 1024) != ARCHIVE_OK) {
        k3c_err_set(err, K3C_E_INVALID, "%s: %s", c->path, archive_error_string(a));
        goto out;
    }
    while ((r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
        const char *name;

        if (r < ARCHIVE_WARN) {
            k3c_err_set(err, K3C_E_INVALID, "%s: %s", c->path, archive_error_string(a));
            goto out;
        }
        name = archive_entry_pathname(e);
        /* A name with a newline could not be referenced by a manifest
         * line anyway, and would break the FILE lines. */
        if (archive_entry_filetype(e) != AE_IFREG || !name || strchr(name, '\n'))
            continue;
        if (stage_entry(c, a, name, err) < 0)
            goto out;
    }
    rc = 0;
out:
    archive_read_free(a);
    return rc;
}

int
image_import_stage_here(const char *path, const char *staging, struct k3c_err *err)
{
    struct import_ctx c = {.path = path, .staging = k3c_xstrdup(staging)};
    int rc = stage_members(&c, err);

    for (size_t i = 0; rc == 0 && i < c.n_files; i++)
        printf("FILE %s %lld %s\n", c.files[i].digest, (long long)c.files[i].size, c.files[i].name);
    free(c.staging); /* the parent owns the directory and removes it */
    c.staging = NULL;
    import_ctx_fini(&c);
    return rc;
}

/* Parses the helper's FILE lines into c->files. */
static int
parse_staged(struct import_ctx *c, char *out, struct k3c_err *err)
{
    char *save = NULL;

    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct staged_file f = {0};
        long long size;
        int off = 0;

        if (sscanf(line, "FILE %71s %lld%n", f.digest, &size, &off) != 2 || line[off] != ' ' ||
            !image_digest_valid(f.digest) || size < 0)
            return k3c_err_set(err, K3C_E_INTERNAL, "image helper: bad line \"%.100s\"", line);
        f.size = size;
        f.name = k3c_xstrdup(line + off + 1);
        c->files = k3c_xrealloc(c->files, (c->n_files + 1) * sizeof(*c->files));
        c->files[c->n_files++] = f;
    }
    return 0;
}

static int
stage_archive(struct import_ctx *c, struct k3c_err *err)
{
    const char *args[] = {"stage", c->path, c->staging, NULL};
    _cleanup_free_ char *out = NULL;

    if (!image_helper_usable())
        return image_archive_load(err) < 0 ? -1 : stage_members(c, err);
    /* The helper inherits our working directory: relative paths hold. */
    if (image_helper_run(args, &out, err) < 0)
        return -1;
    return parse_staged(c, out ? out : (char *)"", err);
}

static int
read_staged(const struct import_ctx *c, const char *digest, size_t max, char **out, size_t *len,
            struct k3c_err *err)
{
    _cleanup_free_ char *p = staged_path(c, digest);
    struct stat st;

    if (!staged_has(c, digest) || stat(p, &st) < 0)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "%s: the archive has no blob %s", c->path, digest);
    if ((size_t)st.st_size > max)
        return k3c_err_set(err, K3C_E_INVALID, "%s: %s is too large", c->path, digest);
    return k3c_read_file(p, out, len, err);
}

/* Moves a staged blob into the store (unless it is there already). */
static int
admit(const struct import_ctx *c, const char *digest, struct k3c_err *err)
{
    _cleanup_free_ char *p = staged_path(c, digest);

    if (image_store_has_blob(c->s, digest))
        return 0;
    if (!staged_has(c, digest) || access(p, F_OK) < 0)
        return k3c_err_set(err, K3C_E_NOT_FOUND, "%s: the archive has no blob %s", c->path, digest);
    return image_store_admit_blob(c->s, p, digest, err);
}

static int
commit_names(const struct import_ctx *c, const char *const *names, size_t n_names,
             const char *manifest_digest, const struct image_manifest *m, struct k3c_err *err)
{
    int count = 0;

    if (admit(c, m->config.digest, err) < 0)
        return -1;
    for (size_t i = 0; i < m->n_layers; i++)
        if (admit(c, m->layers[i].digest, err) < 0)
            return -1;
    for (size_t i = 0; i < n_names; i++) {
        struct image_ref ref = {0};
        struct image *img;

        if (image_ref_parse(names[i], &ref, err) < 0)
            return k3c_err_wrap(err, "%s", c->path);
        img = image_store_commit(c->s, &ref, manifest_digest, m, err);
        if (img)
            log_info("(image %s) imported from %s", img->ref, c->path);
        image_free(img);
        image_ref_fini(&ref);
        if (!img)
            return k3c_err_wrap(err, "%s", c->path);
        count++;
    }
    return count;
}

/* What a docker-save layer is, by its magic (they are usually plain tar). */
static const char *
layer_media_type(const struct import_ctx *c, const char *digest)
{
    _cleanup_free_ char *p = staged_path(c, digest);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    unsigned char m[4] = {0};

    if (fd >= 0 && read(fd, m, sizeof(m)) == (ssize_t)sizeof(m)) {
        if (m[0] == 0x1f && m[1] == 0x8b)
            return IMAGE_MT_OCI_LAYER "+gzip";
        if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
            return IMAGE_MT_OCI_LAYER "+zstd";
    }
    return IMAGE_MT_OCI_LAYER;
}

/* docker save: [{"Config": "<file>", "RepoTags": [...], "Layers": ["<file>", ...]}]. There
 * is no registry manifest, so an OCI manifest is made for the record. */
static int
import_docker(struct import_ctx *c, const struct staged_file *mf, struct k3c_err *err)
{
    _cleanup_free_ char *raw = NULL;
    _cleanup_json_ json_t *list = NULL;
    size_t len = 0, i;
    json_t *entry;
    int total = 0;

    if (read_staged(c, mf->digest, IMAGE_MANIFEST_MAX, &raw, &len, err) < 0)
        return -1;
    list = json_loadb(raw, len, 0, NULL);
    if (!json_is_array(list))
        return k3c_err_set(err, K3C_E_INVALID, "%s: manifest.json is not a list", c->path);
    json_array_foreach(list, i, entry)
    {
        const char *cfg_name = json_string_value(json_object_get(entry, "Config"));
        json_t *tags = json_object_get(entry, "RepoTags"),
               *layers = json_object_get(entry, "Layers");
        const struct staged_file *cf = cfg_name ? staged_by_name(c, cfg_name) : NULL;
        _cleanup_json_ json_t *man = NULL;
        _cleanup_free_ char *dump = NULL;
        _cleanup_free_ const char **names = NULL;
        struct image_manifest m = {0};
        char mdigest[IMAGE_DIGEST_LEN];
        json_t *l, *t, *jl;
        size_t j, n_names = 0;
        int n;

        if (!cf || !json_is_array(layers))
            return k3c_err_set(err, K3C_E_INVALID, "%s: manifest.json entry %zu: no Config/Layers",
                               c->path, i);
        jl = json_array();
        json_array_foreach(layers, j, l)
        {
            const struct staged_file *lf =
                json_is_string(l) ? staged_by_name(c, json_string_value(l)) : NULL;

            if (!lf) {
                json_decref(jl);
                return k3c_err_set(err, K3C_E_NOT_FOUND, "%s: layer %s is not in the archive",
                                   c->path, json_is_string(l) ? json_string_value(l) : "?");
            }
            json_array_append_new(jl, json_pack("{s:s, s:s, s:I}", "mediaType",
                                                layer_media_type(c, lf->digest), "digest",
                                                lf->digest, "size", (json_int_t)lf->size));
        }
        man = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                        IMAGE_MT_OCI_MANIFEST, "config", "mediaType", IMAGE_MT_OCI_CONFIG, "digest",
                        cf->digest, "size", (json_int_t)cf->size, "layers", jl);
        dump = json_dumps(man, JSON_COMPACT | JSON_SORT_KEYS);
        if (image_manifest_parse(man, &m, err) < 0)
            return k3c_err_wrap(err, "%s", c->path);
        if (image_store_put_blob(c->s, dump, strlen(dump), mdigest, err) < 0) {
            image_manifest_fini(&m);
            return -1;
        }
        names = k3c_xcalloc(json_array_size(tags) + 1, sizeof(char *));
        json_array_foreach(tags, j, t) if (json_is_string(t)) names[n_names++] =
            json_string_value(t);
        if (n_names == 0)
            log_warn("(import %s) image %s has no RepoTags: skipped", c->path, cf->digest);
        n = commit_names(c, names, n_names, mdigest, &m, err);
        image_manifest_fini(&m);
        if (n < 0)
            return -1;
        total += n;
    }
    return total;
}

/* The name an OCI-layout entry is imported under: containerd's annotation,
 * else ref.name when it is a full reference (it is often a bare tag). */
static const char *
oci_entry_name(json_t *desc)
{
    json_t *ann = json_object_get(desc, "annotations");
    const char *n = json_string_value(json_object_get(ann, "io.containerd.image.name"));

    if (n)
        return n;
    n = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
    return n && strchr(n, '/') ? n : NULL;
}

static int
import_oci(struct import_ctx *c, const struct staged_file *idx, struct k3c_err *err)
{
    _cleanup_free_ char *raw = NULL;
    _cleanup_json_ json_t *index = NULL;
    size_t len = 0, i;
    json_t *desc;
    int total = 0;

    if (read_staged(c, idx->digest, IMAGE_MANIFEST_MAX, &raw, &len, err) < 0)
        return -1;
    index = json_loadb(raw, len, 0, NULL);
    if (!json_is_array(json_object_get(index, "manifests")))
        return k3c_err_set(err, K3C_E_INVALID, "%s: index.json has no manifests", c->path);
    json_array_foreach(json_object_get(index, "manifests"), i, desc)
    {
        const char *name = oci_entry_name(desc);
        const char *digest = json_string_value(json_object_get(desc, "digest"));
        char mdigest[IMAGE_DIGEST_LEN];
        _cleanup_free_ char *mraw = NULL;
        _cleanup_json_ json_t *body = NULL;
        struct image_manifest m = {0};
        size_t mlen = 0;
        int n;

        if (!name) {
            log_warn("(import %s) manifest %s has no image name annotation: skipped", c->path,
                     digest ? digest : "?");
            continue;
        }
        if (!image_digest_valid(digest))
            return k3c_err_set(err, K3C_E_INVALID, "%s: index.json entry %zu: bad digest", c->path,
                               i);
        snprintf(mdigest, sizeof(mdigest), "%s", digest);
        if (read_staged(c, mdigest, IMAGE_MANIFEST_MAX, &mraw, &mlen, err) < 0)
            return -1;
        body = json_loadb(mraw, mlen, 0, NULL);
        if (image_manifest_kind(json_string_value(json_object_get(desc, "mediaType")), body) ==
            IMAGE_MANIFEST_INDEX) {
            struct image_descriptor pick = {0};
            const char *arch, *variant;

            image_platform_current(&arch, &variant);
            if (image_index_select(body, arch, variant, &pick, err) < 0)
                return k3c_err_wrap(err, "%s: %s", c->path, name);
            snprintf(mdigest, sizeof(mdigest), "%s", pick.digest);
            image_descriptor_fini(&pick);
            json_decref(TAKE_PTR(body));
            free(TAKE_PTR(mraw));
            if (read_staged(c, mdigest, IMAGE_MANIFEST_MAX, &mraw, &mlen, err) < 0)
                return -1;
            body = json_loadb(mraw, mlen, 0, NULL);
        }
        if (image_manifest_parse(body, &m, err) < 0)
            return k3c_err_wrap(err, "%s: %s", c->path, name);
        if (admit(c, mdigest, err) < 0) {
            image_manifest_fini(&m);
            return -1;
        }
        n = commit_names(c, &name, 1, mdigest, &m, err);
        image_manifest_fini(&m);
        if (n < 0)
            return -1;
        total += n;
    }
    return total;
}

int
image_import_file(struct image_store *s, const char *path, struct k3c_err *err)
{
    struct import_ctx c = {.s = s, .path = path};
    const struct staged_file *f;
    int n = -1;

    c.staging = image_store_tmpdir(s, err);
    if (!c.staging)
        return -1;
    if (stage_archive(&c, err) < 0)
        goto out;
    /* docker save (since Docker 25) also writes index.json; its
     * manifest.json has the full names, so it wins. */
    f = staged_by_name(&c, "manifest.json");
    if (f) {
        n = import_docker(&c, f, err);
        goto out;
    }
    f = staged_by_name(&c, "index.json");
    if (f) {
        n = import_oci(&c, f, err);
        goto out;
    }
    k3c_err_set(err, K3C_E_INVALID,
                "%s: neither a docker-save (manifest.json) nor an OCI layout "
                "(index.json) archive",
                path);
out:
    import_ctx_fini(&c);
    return n;
}

static bool
is_tarball(const char *name)
{
    static const char *const suffixes[] = {".tar",      ".tar.gz",  ".tgz",    ".tar.zst",
                                           ".tar.zstd", ".tar.lz4", ".tar.xz", ".tar.bz2"};
    size_t len = strlen(name);

    for (size_t i = 0; i < K3C_ARRAY_SIZE(suffixes); i++) {
        size_t n = strlen(suffixes[i]);

        if (len > n && strcmp(name + len - n, suffixes[i]) == 0)
            return true;
    }
    return false;
}

int
image_import_dir(struct image_store *s, const char *dir, struct k3c_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int total = 0;
    bool failed = false;

    if (!d)
        return k3c_err_sys(err, errno, "image import %s", dir);
    while ((de = readdir(d))) {
        _cleanup_free_ char *path = NULL, *esc = NULL, *stamp_path = NULL, *stamp = NULL;
        _cleanup_free_ char *old = NULL;
        struct k3c_err e = {0};
        struct stat st;
        int n;

        if (de->d_name[0] == '.' || !is_tarball(de->d_name))
            continue;
        path = k3c_xasprintf("%s/%s", dir, de->d_name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        /* Imported already, unchanged: skip (as K3s does on restart). */
        esc = image_ref_escape(de->d_name);
        stamp_path = k3c_xasprintf("%s/imported/%s", s->root, esc);
        stamp = k3c_xasprintf("%lld %lld.%09ld\n", (long long)st.st_size,
                              (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        if (k3c_read_file(stamp_path, &old, NULL, &e) == 0 && strcmp(old, stamp) == 0)
            continue;
        k3c_err_clear(&e);
        n = image_import_file(s, path, &e);
        if (n < 0) {
            log_warn("(import %s) %s", path, e.msg);
            if (!failed)
                *err = e;
            failed = true;
            continue;
        }
        total += n;
        if (k3c_write_file(stamp_path, stamp, strlen(stamp), 0600, &e) < 0)
            log_warn("(import %s) %s", path, e.msg);
    }
    closedir(d);
    return failed ? -1 : total;
}
