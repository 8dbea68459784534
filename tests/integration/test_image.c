/* SPDX-License-Identifier: Apache-2.0
 * test_image.c - the image store against real parts on loopback: images
 * built offline with umoci from busybox-static (fixtures/mkimage.sh), pushed
 * with skopeo to Debian's docker-registry (plain and htpasswd), and a small
 * in-process registry for token auth, redirects and multi-arch indexes.
 * Also the pure parts: references, challenges, registries.yaml, and the
 * unpacker's refusal of hostile tarballs. Exits 77 without the tools. */
#include "harness.h"
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "client/client.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

/* htpasswd line for k3c:s3cret (bcrypt, cost 5 so each request stays
 * cheap), made once with Python's crypt.crypt(METHOD_BLOWFISH). */
#define HTPASSWD_LINE "k3c:$2b$05$NwG4G4.1eUPVAZ4ioQmzwekQZoxWIaWtE3l8UQZYaTp1y0pYQyPjC\n"
#define TOOL_DEADLINE "timeout 120 "

struct registry_proc {
    pid_t pid;
    int port;
    char *data; /* its storage root */
};

struct fixture {
    char *dir; /* everything lives here; removed at the end */
    char *oci; /* the umoci layout: tags 1, 2, corrupt */
    struct registry_proc plain, auth;
};

/* ---- helpers ---- */

static int run_cmd(const struct fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Runs a shell command (bounded by `timeout`), output to <dir>/cmd.log. */
static int
run_cmd(const struct fixture *f, const char *fmt, ...)
{
    va_list ap;
    char *cmd, *full;
    int rc;

    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0)
        abort();
    va_end(ap);
    full = k3c_xasprintf(TOOL_DEADLINE "%s >>%s/cmd.log 2>&1", cmd, f->dir);
    rc = system(full);
    if (rc != 0)
        print_error("command failed (%d): %s (see %s/cmd.log)\n", rc, cmd, f->dir);
    free(cmd);
    free(full);
    return rc;
}

static bool
tcp_open(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    return fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

static void
registry_stop(struct registry_proc *r)
{
    int64_t deadline = k3c_now_ms() + 5000;

    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        while (waitpid(r->pid, NULL, WNOHANG) == 0) {
            if (k3c_now_ms() > deadline) {
                kill(r->pid, SIGKILL);
                waitpid(r->pid, NULL, 0);
                break;
            }
            k3c_sleep_ms(20);
        }
    }
    r->pid = 0;
    free(r->data);
    r->data = NULL;
}

/* Starts /usr/bin/docker-registry on a free loopback port; with htpasswd
 * set, it requires Basic auth. Waits (at most 15 s) until it listens. */
static int
registry_start(const struct fixture *f, const char *name, bool htpasswd, struct registry_proc *r)
{
    _cleanup_free_ char *cfg = k3c_xasprintf("%s/%s.yml", f->dir, name);
    _cleanup_free_ char *log = k3c_xasprintf("%s/%s.log", f->dir, name);
    _cleanup_free_ char *pw = k3c_xasprintf("%s/%s.htpasswd", f->dir, name);
    _cleanup_free_ char *yml = NULL;
    struct k3c_err err = {0};
    int64_t deadline = k3c_now_ms() + 15000;

    r->port = harness_free_port();
    r->data = k3c_xasprintf("%s/%s-data", f->dir, name);
    yml =
        k3c_xasprintf("version: 0.1\n"
                      "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                      "storage:\n  filesystem:\n    rootdirectory: %s\n"
                      "http:\n  addr: 127.0.0.1:%d\n  secret: k3c-test\n"
                      "%s%s%s",
                      r->data, r->port, htpasswd ? "auth:\n  htpasswd:\n    realm: k3c-test\n" : "",
                      htpasswd ? "    path: " : "", htpasswd ? pw : "");
    if (k3c_write_file(cfg, yml, strlen(yml), 0600, &err) < 0 ||
        (htpasswd && k3c_write_file(pw, HTPASSWD_LINE, strlen(HTPASSWD_LINE), 0600, &err) < 0)) {
        print_error("%s\n", err.msg);
        return -1;
    }
    r->pid = fork();
    if (r->pid < 0)
        return -1;
    if (r->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl("/usr/bin/docker-registry", "docker-registry", "serve", cfg, (char *)NULL);
        _exit(127);
    }
    while (!tcp_open(r->port)) {
        if (k3c_now_ms() > deadline || waitpid(r->pid, NULL, WNOHANG) != 0) {
            print_error("docker-registry %s did not start (see %s)\n", name, log);
            return -1;
        }
        k3c_sleep_ms(20);
    }
    return 0;
}

/* Unmounts whatever a failed test left mounted under dir. */
static void
unmount_under(const char *dir)
{
    FILE *m = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    char *mounts[64];
    size_t n = 0;

    if (!m)
        return;
    while (n < K3C_ARRAY_SIZE(mounts) && fgets(line, sizeof(line), m)) {
        char mp[4096];

        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strncmp(mp, dir, strlen(dir)) == 0)
            mounts[n++] = k3c_xstrdup(mp);
    }
    fclose(m);
    while (n-- > 0) {
        umount2(mounts[n], MNT_DETACH);
        free(mounts[n]);
    }
}

/* The fixture script, found next to this source file: __FILE__ is relative
 * to the build directory, which is two levels above this executable. */
static char *
fixture_script(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    const char *src = __FILE__;
    char *slash;

    if (src[0] == '/') {
        char *p = k3c_xstrdup(src);

        *strrchr(p, '/') = '\0';
        slash = k3c_xasprintf("%s/fixtures/mkimage.sh", p);
        free(p);
        return slash;
    }
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    for (int i = 0; i < 2; i++) {
        slash = strrchr(exe, '/');
        if (!slash)
            return NULL;
        *slash = '\0';
    }
    {
        char *rel = k3c_xstrdup(src), *p;

        *strrchr(rel, '/') = '\0';
        p = k3c_xasprintf("%s/%s/fixtures/mkimage.sh", exe, rel);
        free(rel);
        return p;
    }
}

/* The digest of tag in the OCI layout's index.json. */
static void
layout_tag_digest(const struct fixture *f, const char *tag, char out[IMAGE_DIGEST_LEN])
{
    _cleanup_free_ char *p = k3c_xasprintf("%s/index.json", f->oci);
    _cleanup_json_ json_t *idx = json_load_file(p, 0, NULL);
    json_t *m;
    size_t i;

    out[0] = '\0';
    json_array_foreach(json_object_get(idx, "manifests"), i, m)
    {
        const char *name = json_string_value(json_object_get(json_object_get(m, "annotations"),
                                                             "org.opencontainers.image.ref.name"));

        if (name && strcmp(name, tag) == 0)
            snprintf(out, IMAGE_DIGEST_LEN, "%s", json_string_value(json_object_get(m, "digest")));
    }
}

static json_t *
layout_blob_json(const struct fixture *f, const char *digest)
{
    _cleanup_free_ char *p = k3c_xasprintf("%s/blobs/sha256/%s", f->oci, digest + 7);

    return json_load_file(p, 0, NULL);
}

static struct image_store *
store_at(const struct fixture *f, const char *name, int plain_port)
{
    _cleanup_free_ char *root = k3c_xasprintf("%s/%s", f->dir, name);
    struct k3c_err err = {0};
    struct image_store *s = image_store_new(root, &err);

    if (!s)
        fail_msg("image_store_new: %s", err.msg);
    if (plain_port > 0) {
        struct image_registries *regs = image_registries_new();
        _cleanup_free_ char *host = k3c_xasprintf("127.0.0.1:%d", plain_port);
        struct image_registry_host h = {.plain_http = true};

        assert_int_equal(image_registries_set_host(regs, host, &h, &err), 0);
        image_store_set_registries_take(s, regs);
    }
    return s;
}

static char *
ref_at(int port, const char *repo_tag)
{
    return k3c_xasprintf("127.0.0.1:%d/%s", port, repo_tag);
}

static char *
path_in(const char *dir, const char *rel)
{
    return k3c_xasprintf("%s/%s", dir, rel);
}

static bool
file_sha256_is(const char *path, const char *digest)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    struct k3c_err err = {0};
    char got[IMAGE_DIGEST_LEN];

    if (k3c_read_file(path, &data, &len, &err) < 0)
        return false;
    image_sha256_digest(data, len, got);
    return strcmp(got, digest) == 0;
}

static size_t
count_entries(const char *dir)
{
    _cleanup_free_ char *cmd = k3c_xasprintf("ls -A %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    unsigned long n = 0;

    if (p) {
        if (fscanf(p, "%lu", &n) != 1)
            n = 0;
        pclose(p);
    }
    return n;
}

/* ---- group setup ---- */

static int group_teardown(void **state);

static int
fixture_build(struct fixture *f)
{
    static const char *const tags[] = {"1", "2", "corrupt"};
    _cleanup_free_ char *script = fixture_script();

    f->dir = harness_mkdtemp("image");
    if (!f->dir || !script)
        return -1;
    f->oci = k3c_xasprintf("%s/oci", f->dir);
    if (run_cmd(f, "sh %s %s", script, f->dir) != 0)
        return -1;
    if (registry_start(f, "plain", false, &f->plain) < 0 ||
        registry_start(f, "auth", true, &f->auth) < 0)
        return -1;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(tags); i++)
        if (run_cmd(f,
                    "skopeo copy -q --dest-tls-verify=false oci:%s:%s "
                    "docker://127.0.0.1:%d/test/busybox:%s",
                    f->oci, tags[i], f->plain.port, tags[i]) != 0)
            return -1;
    return run_cmd(f,
                   "skopeo copy -q --dest-tls-verify=false --dest-creds k3c:s3cret oci:%s:1 "
                   "docker://127.0.0.1:%d/private/busybox:1",
                   f->oci, f->auth.port);
}

static int
group_setup(void **state)
{
    struct fixture *f = k3c_xcalloc(1, sizeof(*f));

    *state = f;
    if (fixture_build(f) != 0) {
        /* Clean up here: the group teardown is not run after a failed setup. */
        group_teardown(state);
        *state = NULL;
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    struct fixture *f = *state;

    if (!f)
        return 0;
    registry_stop(&f->plain);
    registry_stop(&f->auth);
    if (f->dir) {
        unmount_under(f->dir);
        if (!getenv("K3C_KEEP_TMP"))
            harness_rm_rf(f->dir);
    }
    free(f->oci);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- pure parts ---- */

static void
check_ref(const char *in, const char *want)
{
    struct image_ref r = {0};
    struct k3c_err err = {0};
    _cleanup_free_ char *s = NULL;

    if (image_ref_parse(in, &r, &err) < 0)
        fail_msg("%s: %s", in, err.msg);
    s = image_ref_string(&r);
    assert_string_equal(s, want);
    image_ref_fini(&r);
}

static void
test_ref_parse(void **state)
{
    static const char *const bad[] = {
        "",
        "Busybox",
        "a::b",
        "busybox@sha256:abc",
        "busybox@md5:"
        "0123456789abcdef0123456789abcdef",
        "x/-y",
        "x//y",
        "host:port/x",
        "busybox:-tag",
        "a@sha256:"
        "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
    };
    const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    _cleanup_free_ char *by_digest = k3c_xasprintf("quay.io/a/b@%s", d);
    _cleanup_free_ char *want_digest = k3c_xasprintf("quay.io/a/b@%s", d);
    _cleanup_free_ char *both = k3c_xasprintf("busybox:1.36@%s", d);
    _cleanup_free_ char *want_both = k3c_xasprintf("docker.io/library/busybox:1.36@%s", d);
    _cleanup_free_ char *esc = image_ref_escape("docker.io/library/busybox:latest");
    struct k3c_err err = {0};

    (void)state;
    check_ref("busybox", "docker.io/library/busybox:latest");
    check_ref("busybox:1.36", "docker.io/library/busybox:1.36");
    check_ref("user/app:v1", "docker.io/user/app:v1");
    check_ref("index.docker.io/library/nginx", "docker.io/library/nginx:latest");
    check_ref("localhost/x", "localhost/x:latest");
    check_ref("localhost:5000/a/b_c__d-e.f:T_1.0-x", "localhost:5000/a/b_c__d-e.f:T_1.0-x");
    check_ref("127.0.0.1:5000/test/busybox:1", "127.0.0.1:5000/test/busybox:1");
    check_ref("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9");
    check_ref(by_digest, want_digest);
    check_ref(both, want_both);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(bad); i++) {
        struct image_ref r = {0};

        if (image_ref_parse(bad[i], &r, &err) == 0)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_int_equal(err.kind, K3C_E_INVALID);
    }
    assert_string_equal(esc, "docker.io%2Flibrary%2Fbusybox%3Alatest");
}

static void
test_challenge_parse(void **state)
{
    struct image_auth_challenge c = {0};

    (void)state;
    assert_int_equal(
        image_auth_challenge_parse(
            "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
            "scope=\"repository:library/busybox:pull\"",
            &c),
        0);
    assert_string_equal(c.scheme, "bearer");
    assert_string_equal(c.realm, "https://auth.docker.io/token");
    assert_string_equal(c.service, "registry.docker.io");
    assert_string_equal(c.scope, "repository:library/busybox:pull");
    image_auth_challenge_fini(&c);

    /* Case, spaces, unquoted tokens, escapes, and a second challenge. */
    assert_int_equal(image_auth_challenge_parse("  BEARER Realm = \"http://h/t?a=1\" , "
                                                "service=svc, scope=\"a\\\"b\", Basic realm=\"x\"",
                                                &c),
                     0);
    assert_string_equal(c.scheme, "bearer");
    assert_string_equal(c.realm, "http://h/t?a=1");
    assert_string_equal(c.service, "svc");
    assert_string_equal(c.scope, "a\"b");
    image_auth_challenge_fini(&c);

    assert_int_equal(image_auth_challenge_parse("Basic realm=\"k3c-test\"", &c), 0);
    assert_string_equal(c.scheme, "basic");
    assert_string_equal(c.realm, "k3c-test");
    assert_null(c.scope);
    image_auth_challenge_fini(&c);

    assert_int_equal(image_auth_challenge_parse("", &c), -1);
    assert_int_equal(image_auth_challenge_parse("Bearer realm=\"unterminated", &c), -1);
}

static void
test_registries_yaml(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *path = path_in(f->dir, "registries.yaml");
    _cleanup_free_ char *bad = path_in(f->dir, "bad.yaml");
    static const char yml[] = "mirrors:\n"
                              "  docker.io:\n"
                              "    endpoint:\n"
                              "      - \"https://mirror.example:5000/\"\n"
                              "      - \"http://10.0.0.1:5000/v2\"\n"
                              "  \"*\":\n"
                              "    endpoint: [\"https://any.example\"]\n"
                              "configs:\n"
                              "  \"mirror.example:5000\":\n"
                              "    auth:\n"
                              "      username: u\n"
                              "      password: p\n"
                              "    tls:\n"
                              "      ca_file: /etc/ca.pem\n"
                              "      insecure_skip_verify: true\n"
                              "  docker.io:\n"
                              "    auth:\n"
                              "      auth: dXNlcjpwYXNz\n" /* user:pass */
                              "  plain.example:\n"
                              "    auth: {username: x}\n";
    struct image_registries *r = image_registries_new();
    struct image_endpoint *eps = NULL;
    struct k3c_err err = {0};
    size_t n = 0;

    assert_int_equal(k3c_write_file(path, yml, strlen(yml), 0600, &err), 0);
    if (image_registries_load(r, path, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(image_registries_endpoints(r, "docker.io", &eps, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(eps[0].url, "https://mirror.example:5000");
    assert_string_equal(eps[0].host, "mirror.example:5000");
    assert_string_equal(eps[0].cfg.username, "u");
    assert_string_equal(eps[0].cfg.password, "p");
    assert_string_equal(eps[0].cfg.ca_file, "/etc/ca.pem");
    assert_true(eps[0].cfg.insecure_skip_verify);
    assert_string_equal(eps[1].url, "http://10.0.0.1:5000");
    assert_null(eps[1].cfg.username);
    /* The registry itself last; docker.io's settings apply to it. */
    assert_string_equal(eps[2].url, "https://registry-1.docker.io");
    assert_string_equal(eps[2].cfg.username, "user");
    assert_string_equal(eps[2].cfg.password, "pass");
    image_endpoints_free(eps, n);

    assert_int_equal(image_registries_endpoints(r, "quay.io", &eps, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(eps[0].url, "https://any.example");
    assert_string_equal(eps[1].url, "https://quay.io");
    image_endpoints_free(eps, n);
    image_registries_free(r);

    r = image_registries_new();
    {
        static const char bad_yml[] = "mirrors:\n  x:\n    endpoint: [\"ftp://x\"]\n";

        assert_int_equal(k3c_write_file(bad, bad_yml, sizeof(bad_yml) - 1, 0600, &err), 0);
    }
    assert_int_equal(image_registries_load(r, bad, &err), -1);
    assert_int_equal(err.kind, K3C_E_INVALID);
    if (!strstr(err.msg, "bad.yaml:3:"))
        fail_msg("unexpected message: %s", err.msg);
    assert_int_equal(image_registries_load(r, "/nonexistent/registries.yaml", &err), -1);
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    image_registries_free(r);
}

/* ---- hostile layers ---- */

struct tar_ent {
    const char *name;
    unsigned type;    /* AE_IFREG, AE_IFDIR, AE_IFLNK */
    const char *data; /* file content or symlink target */
    const char *hardlink;
    const char *xattr; /* one "name=value" */
};

/* filter: 0 (plain), ARCHIVE_FILTER_GZIP or ARCHIVE_FILTER_ZSTD. */
static void
write_tar_filtered(const char *path, const struct tar_ent *ents, size_t n, int filter)
{
    struct archive *a = archive_write_new();

    archive_write_set_format_pax_restricted(a);
    if (filter)
        assert_int_equal(archive_write_add_filter(a, filter), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        size_t len = ents[i].data && ents[i].type == AE_IFREG ? strlen(ents[i].data) : 0;

        archive_entry_set_pathname(e, ents[i].name);
        archive_entry_set_filetype(e, ents[i].type);
        archive_entry_set_perm(e, ents[i].type == AE_IFDIR ? 0755 : 0644);
        archive_entry_set_size(e, (la_int64_t)len);
        if (ents[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, ents[i].data);
        if (ents[i].hardlink) {
            archive_entry_set_hardlink(e, ents[i].hardlink);
            archive_entry_set_size(e, 0);
            len = 0;
        }
        if (ents[i].xattr) {
            const char *eq = strchr(ents[i].xattr, '=');
            _cleanup_free_ char *name = k3c_xstrndup(ents[i].xattr, (size_t)(eq - ents[i].xattr));

            archive_entry_xattr_add_entry(e, name, eq + 1, strlen(eq + 1));
        }
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (len)
            assert_int_equal(archive_write_data(a, ents[i].data, len), (la_ssize_t)len);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static void
write_tar(const char *path, const struct tar_ent *ents, size_t n)
{
    write_tar_filtered(path, ents, n, 0);
}

/* Unpacks ents into a fresh <dir>/unpack-<tag>; returns the result. */
static int
unpack_tar(const struct fixture *f, const char *tag, const struct tar_ent *ents, size_t n,
           char **dest_out, struct k3c_err *err)
{
    _cleanup_free_ char *tar = k3c_xasprintf("%s/%s.tar", f->dir, tag);
    char *dest = k3c_xasprintf("%s/unpack-%s", f->dir, tag);

    write_tar(tar, ents, n);
    assert_int_equal(k3c_mkdir_p(dest, 0755, err), 0);
    *dest_out = dest;
    return image_layer_unpack(tar, dest, NULL, err);
}

static void
test_unpack_hostile(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *outside = path_in(f->dir, "outside");
    _cleanup_free_ char *victim = path_in(f->dir, "outside/file");
    _cleanup_free_ char *victim_wh = path_in(f->dir, "outside/x");
    struct k3c_err err = {0};
    char *dest = NULL;

    (void)state;
    assert_int_equal(k3c_mkdir_p(outside, 0755, &err), 0);
    {
        const struct tar_ent e[] = {{"../evil", AE_IFREG, "x"}};

        assert_int_equal(unpack_tar(f, "dotdot", e, 1, &dest, &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
        free(dest);
    }
    {
        const struct tar_ent e[] = {{"/abs", AE_IFREG, "x"}};

        assert_int_equal(unpack_tar(f, "abs", e, 1, &dest, &err), -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
        free(dest);
    }
    {
        /* A symlink to outside, then a file "through" it. */
        const struct tar_ent e[] = {{"lnk", AE_IFLNK, outside}, {"lnk/file", AE_IFREG, "pwned"}};

        assert_int_equal(unpack_tar(f, "symlink", e, 2, &dest, &err), -1);
        assert_false(k3c_file_exists(victim));
        free(dest);
    }
    {
        /* The same trick for a whiteout. */
        const struct tar_ent e[] = {{"lnk", AE_IFLNK, outside}, {"lnk/.wh.x", AE_IFREG, ""}};

        assert_int_equal(unpack_tar(f, "symlink-wh", e, 2, &dest, &err), -1);
        assert_false(k3c_file_exists(victim_wh));
        free(dest);
    }
    {
        const struct tar_ent e[] = {{"a", AE_IFREG, "x"},
                                    {"b", AE_IFREG, NULL, "../../etc/passwd"}};

        assert_int_equal(unpack_tar(f, "hardlink", e, 2, &dest, &err), -1);
        free(dest);
    }
    {
        /* Benign: ./ prefixes, a relative symlink, a hard link, and a
         * trusted.overlay xattr that must not survive (user.* does). */
        const struct tar_ent e[] = {
            {"./", AE_IFDIR},
            {"./d/", AE_IFDIR},
            {"./d/f", AE_IFREG, "data", NULL, "trusted.overlay.redirect=/etc"},
            {"./d/g", AE_IFREG, "g", NULL, "user.k3c=yes"},
            {"./d/l", AE_IFLNK, "f"},
            {"./d/h", AE_IFREG, NULL, "./d/f"},
        };
        _cleanup_free_ char *df = NULL, *dg = NULL, *dh = NULL;
        char buf[16];
        struct stat a, b;

        assert_int_equal(unpack_tar(f, "benign", e, K3C_ARRAY_SIZE(e), &dest, &err), 0);
        df = path_in(dest, "d/f");
        dg = path_in(dest, "d/g");
        dh = path_in(dest, "d/h");
        assert_int_equal(stat(df, &a), 0);
        assert_int_equal(stat(dh, &b), 0);
        assert_int_equal(a.st_ino, b.st_ino);
        assert_int_equal(getxattr(df, "trusted.overlay.redirect", buf, sizeof(buf)), -1);
        assert_int_equal(getxattr(dg, "user.k3c", buf, sizeof(buf)), 3);
        free(dest);
    }
    {
        /* gzip and zstd layers: the diff ID is the plain tar's digest. */
        const struct tar_ent e[] = {{"./etc/", AE_IFDIR}, {"./etc/motd", AE_IFREG, "hi\n"}};
        static const int filters[] = {ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_ZSTD};
        _cleanup_free_ char *plain = path_in(f->dir, "c-plain.tar");
        _cleanup_free_ char *data = NULL;
        char diff_id[IMAGE_DIGEST_LEN];
        size_t len = 0;

        write_tar(plain, e, K3C_ARRAY_SIZE(e));
        assert_int_equal(k3c_read_file(plain, &data, &len, &err), 0);
        image_sha256_digest(data, len, diff_id);
        for (size_t i = 0; i < K3C_ARRAY_SIZE(filters); i++) {
            _cleanup_free_ char *tar = k3c_xasprintf("%s/c-%zu.tar", f->dir, i);
            _cleanup_free_ char *d = k3c_xasprintf("%s/unpack-c-%zu", f->dir, i);
            _cleanup_free_ char *motd = path_in(d, "etc/motd");
            _cleanup_free_ char *got = NULL;

            write_tar_filtered(tar, e, K3C_ARRAY_SIZE(e), filters[i]);
            assert_int_equal(k3c_mkdir_p(d, 0755, &err), 0);
            if (image_layer_unpack(tar, d, diff_id, &err) < 0)
                fail_msg("filter %d: %s", filters[i], err.msg);
            assert_int_equal(k3c_read_file(motd, &got, NULL, &err), 0);
            assert_string_equal(got, "hi\n");
        }
    }
    {
        /* A diff ID that does not match is refused. */
        _cleanup_free_ char *tar = path_in(f->dir, "benign.tar");
        _cleanup_free_ char *d2 = path_in(f->dir, "unpack-diffid");

        assert_int_equal(k3c_mkdir_p(d2, 0755, &err), 0);
        assert_int_equal(
            image_layer_unpack(
                tar, d2, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                &err),
            -1);
        assert_int_equal(err.kind, K3C_E_INVALID);
        assert_non_null(strstr(err.msg, "diff ID mismatch"));
    }
}

/* ---- pulls from docker-registry ---- */

static void
test_pull_by_tag_and_reuse(void **state)
{
    struct fixture *f = *state;
    struct image_store *s = store_at(f, "store-a", f->plain.port);
    _cleanup_free_ char *ref = ref_at(f->plain.port, "test/busybox:1");
    struct image_store_stats st0, st1, st2;
    struct k3c_err err = {0};
    struct image *img, *again, *got;
    char want[IMAGE_DIGEST_LEN];
    _cleanup_free_ char *layer = NULL, *bb = NULL, *sh = NULL, *hello = NULL, *blob = NULL;
    _cleanup_free_ char *data = NULL;
    char link[64];
    struct stat sb, sb2;

    image_store_stats(s, &st0);
    img = image_store_pull(s, ref, &err);
    if (!img)
        fail_msg("pull %s: %s", ref, err.msg);
    layout_tag_digest(f, "1", want);
    assert_string_equal(img->ref, ref);
    assert_string_equal(img->manifest_digest, want);
    assert_int_equal(img->n_layers, 1);
    assert_true(img->size > 0);

    /* The config, as the runtime sees it. */
    assert_string_equal(img->config.entrypoint[0], "/bin/sh");
    assert_null(img->config.entrypoint[1]);
    assert_string_equal(img->config.cmd[0], "-c");
    assert_string_equal(img->config.cmd[1], "echo hi");
    assert_string_equal(img->config.env[0], "PATH=/bin");
    assert_string_equal(img->config.env[1], "GREETING=hi");
    assert_string_equal(img->config.working_dir, "/data");
    assert_string_equal(img->config.user, "1000:1000");
    assert_string_equal(img->config.exposed_ports[0], "8080/tcp");
    assert_string_equal(img->config.stop_signal, "SIGTERM");
    assert_string_equal(img->config.os, "linux");

    /* Blobs are stored under their own digest; the layer is unpacked. */
    blob = image_store_blob_path(s, img->layers[0].digest);
    assert_true(file_sha256_is(blob, img->layers[0].digest));
    {
        _cleanup_free_ char *cfg = image_store_blob_path(s, img->config_digest);
        _cleanup_free_ char *man = image_store_blob_path(s, img->manifest_digest);

        assert_true(file_sha256_is(cfg, img->config_digest));
        assert_true(file_sha256_is(man, img->manifest_digest));
    }
    layer = image_store_layer_path(s, img->layers[0].diff_id);
    bb = path_in(layer, "bin/busybox");
    sh = path_in(layer, "bin/sh");
    hello = path_in(layer, "etc/hello");
    assert_int_equal(stat(bb, &sb), 0);
    assert_true(S_ISREG(sb.st_mode) && (sb.st_mode & 0111));
    assert_int_equal(sb.st_uid, 0);
    assert_int_equal(readlink(sh, link, sizeof(link)), 7);
    assert_memory_equal(link, "busybox", 7);
    assert_int_equal(k3c_read_file(hello, &data, NULL, &err), 0);
    assert_string_equal(data, "hello\n");
    image_store_stats(s, &st1);
    assert_int_equal(st1.blobs_fetched - st0.blobs_fetched, 2); /* config + layer */
    assert_int_equal(st1.layers_unpacked - st0.layers_unpacked, 1);

    /* A second pull fetches the manifest again (the tag may have moved) but
     * no blob, and unpacks nothing. */
    assert_int_equal(stat(blob, &sb), 0);
    again = image_store_pull(s, ref, &err);
    if (!again)
        fail_msg("second pull: %s", err.msg);
    image_store_stats(s, &st2);
    assert_int_equal(st2.blobs_fetched, st1.blobs_fetched);
    assert_int_equal(st2.bytes_fetched, st1.bytes_fetched);
    assert_int_equal(st2.blobs_reused - st1.blobs_reused, 2);
    assert_int_equal(st2.layers_unpacked, st1.layers_unpacked);
    assert_int_equal(st2.manifests_fetched - st1.manifests_fetched, 1);
    assert_int_equal(stat(blob, &sb2), 0);
    assert_int_equal(sb.st_mtim.tv_sec, sb2.st_mtim.tv_sec);
    assert_int_equal(sb.st_mtim.tv_nsec, sb2.st_mtim.tv_nsec);
    assert_string_equal(again->config_digest, img->config_digest);

    /* The local record, without network. */
    got = image_store_get(s, ref, &err);
    if (!got)
        fail_msg("get: %s", err.msg);
    assert_string_equal(got->manifest_digest, img->manifest_digest);
    assert_string_equal(got->layers[0].diff_id, img->layers[0].diff_id);
    image_free(got);
    assert_null(image_store_get(s, "127.0.0.1:1/none:1", &err));
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);

    /* By digest: same content, a record of its own. */
    {
        _cleanup_free_ char *by_digest =
            k3c_xasprintf("127.0.0.1:%d/test/busybox@%s", f->plain.port, img->manifest_digest);
        struct image *d = image_store_pull(s, by_digest, &err);
        struct image **all = NULL;
        size_t n = 0;

        if (!d)
            fail_msg("pull by digest: %s", err.msg);
        assert_string_equal(d->manifest_digest, img->manifest_digest);
        assert_string_equal(d->config_digest, img->config_digest);
        assert_string_equal(d->ref, by_digest);
        image_free(d);
        assert_int_equal(image_store_list(s, &all, &n, &err), 0);
        assert_int_equal(n, 2);
        for (size_t i = 0; i < n; i++)
            image_free(all[i]);
        free(all);
        assert_int_equal(image_store_remove(s, by_digest, &err), 0);
        assert_int_equal(image_store_remove(s, by_digest, &err), -1);
        assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    }
    image_free(again);
    image_free(img);
    image_store_free(s);
}

static void
test_pull_errors(void **state)
{
    struct fixture *f = *state;
    struct image_store *s = store_at(f, "store-err", f->plain.port);
    _cleanup_free_ char *tag = ref_at(f->plain.port, "test/busybox:nope");
    _cleanup_free_ char *repo = ref_at(f->plain.port, "test/nothere:1");
    _cleanup_free_ char *where = k3c_xasprintf("127.0.0.1:%d", f->plain.port);
    int dead = harness_free_port();
    _cleanup_free_ char *unreachable = ref_at(dead, "test/busybox:1");
    struct k3c_err err = {0};

    assert_null(image_store_pull(s, tag, &err));
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, tag));
    assert_non_null(strstr(err.msg, where));
    assert_non_null(strstr(err.msg, "MANIFEST_UNKNOWN"));

    assert_null(image_store_pull(s, repo, &err));
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, repo));

    /* Nothing listens there (https, the default, as no plain_http is set). */
    assert_null(image_store_pull(s, unreachable, &err));
    assert_int_equal(err.kind, K3C_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, unreachable));

    assert_null(image_store_pull(s, "Bad//Ref", &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
    image_store_free(s);
}

static void
test_whiteouts_and_overlay(void **state)
{
    struct fixture *f = *state;
    struct image_store *s = store_at(f, "store-b", f->plain.port);
    _cleanup_free_ char *ref = ref_at(f->plain.port, "test/busybox:2");
    _cleanup_free_ char *ctr = path_in(f->dir, "ctr-1");
    _cleanup_free_ char *top = NULL, *gone = NULL, *opq = NULL, *new1 = NULL, *raw_wh = NULL;
    _cleanup_free_ char *rootfs = NULL;
    struct k3c_err err = {0};
    struct image *img;
    struct stat st;
    char v[8];

    img = image_store_pull(s, ref, &err);
    if (!img)
        fail_msg("pull %s: %s", ref, err.msg);
    assert_int_equal(img->n_layers, 2);
    top = image_store_layer_path(s, img->layers[1].diff_id);
    gone = path_in(top, "etc/gone");
    raw_wh = path_in(top, "etc/.wh.gone");
    opq = path_in(top, "data/opq");
    new1 = path_in(top, "data/opq/new1");
    assert_int_equal(lstat(gone, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    assert_int_equal(lstat(raw_wh, &st), -1);
    assert_int_equal(getxattr(opq, "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_int_equal(v[0], 'y');
    assert_int_equal(count_entries(opq), 1); /* new1 only; no .wh..wh..opq */
    assert_true(k3c_file_exists(new1));

    /* The merged view. */
    if (image_rootfs_prepare(s, img, ctr, &rootfs, &err) < 0) {
        image_free(img);
        image_store_free(s);
        if (err.sys_errno == EPERM) {
            print_message("skipping the overlay mount: %s\n", err.msg);
            skip();
        }
        fail_msg("rootfs: %s", err.msg);
    }
    {
        static const char *const present[] = {"bin/busybox", "bin/sh", "etc/hello", "data/keep/a",
                                              "data/opq/new1"};
        static const char *const absent[] = {"etc/gone", "data/opq/old1", "etc/.wh.gone",
                                             "data/opq/.wh..wh..opq"};
        _cleanup_free_ char *written = path_in(rootfs, "etc/written");
        _cleanup_free_ char *in_upper = path_in(ctr, "upper/etc/written");
        _cleanup_free_ char *in_layer = path_in(top, "etc/written");
        _cleanup_free_ char *again = NULL;

        for (size_t i = 0; i < K3C_ARRAY_SIZE(present); i++) {
            _cleanup_free_ char *p = path_in(rootfs, present[i]);

            if (lstat(p, &st) < 0)
                fail_msg("%s is missing from the rootfs", present[i]);
        }
        for (size_t i = 0; i < K3C_ARRAY_SIZE(absent); i++) {
            _cleanup_free_ char *p = path_in(rootfs, absent[i]);

            if (lstat(p, &st) == 0)
                fail_msg("%s shows through the rootfs", absent[i]);
        }
        assert_int_equal(k3c_write_file(written, "w", 1, 0644, &err), 0);
        assert_true(k3c_file_exists(in_upper));
        assert_false(k3c_file_exists(in_layer));
        /* Idempotent: a second prepare keeps the mount. */
        assert_int_equal(image_rootfs_prepare(s, img, ctr, &again, &err), 0);
        assert_string_equal(again, rootfs);
    }
    assert_int_equal(image_rootfs_release(ctr, &err), 0);
    assert_false(k3c_file_exists(rootfs));
    {
        _cleanup_free_ char *upper = path_in(ctr, "upper");

        assert_false(k3c_file_exists(upper));
    }
    image_free(img);
    image_store_free(s);
}

static void
test_corrupt_blob(void **state)
{
    struct fixture *f = *state;
    struct image_store *s = store_at(f, "store-c", f->plain.port);
    _cleanup_free_ char *ref = ref_at(f->plain.port, "test/busybox:corrupt");
    _cleanup_json_ json_t *man = NULL;
    _cleanup_free_ char *blob = NULL, *tmp = NULL, *in_store = NULL;
    char mdigest[IMAGE_DIGEST_LEN];
    const char *ldigest;
    json_t *layers;
    struct k3c_err err = {0};
    struct image_store_stats st;
    _cleanup_close_ int fd = -1;
    unsigned char c;

    layout_tag_digest(f, "corrupt", mdigest);
    man = layout_blob_json(f, mdigest);
    layers = json_object_get(man, "layers");
    ldigest = json_string_value(
        json_object_get(json_array_get(layers, json_array_size(layers) - 1), "digest"));
    assert_non_null(ldigest);
    /* Flip one byte of the layer (unique to this image) in the registry's
     * own storage; it serves files as they are. */
    blob = k3c_xasprintf("%s/docker/registry/v2/blobs/sha256/%.2s/%s/data", f->plain.data,
                         ldigest + 7, ldigest + 7);
    fd = open(blob, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, 100), 1);
    c ^= 0xff;
    assert_int_equal(pwrite(fd, &c, 1, 100), 1);

    assert_null(image_store_pull(s, ref, &err));
    assert_int_equal(err.kind, K3C_E_INVALID);
    assert_non_null(strstr(err.msg, "digest mismatch"));
    assert_non_null(strstr(err.msg, ldigest));
    /* Discarded: neither in the store nor left in tmp/. */
    in_store = image_store_blob_path(s, ldigest);
    assert_false(k3c_file_exists(in_store));
    tmp = k3c_xasprintf("%s/store-c/tmp", f->dir);
    assert_int_equal(count_entries(tmp), 0);
    image_store_stats(s, &st);
    assert_int_equal(st.layers_unpacked, 0);
    image_store_free(s);
}

static void
test_basic_auth(void **state)
{
    struct fixture *f = *state;
    struct image_store *s = store_at(f, "store-auth", 0);
    _cleanup_free_ char *ref = ref_at(f->auth.port, "private/busybox:1");
    _cleanup_free_ char *host = k3c_xasprintf("127.0.0.1:%d", f->auth.port);
    struct image_registries *regs = image_registries_new();
    struct image_registry_host h = {.plain_http = true};
    struct k3c_err err = {0};
    struct image *img;

    assert_int_equal(image_registries_set_host(regs, host, &h, &err), 0);
    image_store_set_registries_take(s, regs);
    assert_null(image_store_pull(s, ref, &err));
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "requires credentials"));

    regs = image_registries_new();
    h.username = "k3c";
    h.password = "wrong";
    assert_int_equal(image_registries_set_host(regs, host, &h, &err), 0);
    image_store_set_registries_take(s, regs);
    assert_null(image_store_pull(s, ref, &err));
    assert_int_equal(err.kind, K3C_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "HTTP 401"));

    regs = image_registries_new();
    h.password = "s3cret";
    assert_int_equal(image_registries_set_host(regs, host, &h, &err), 0);
    image_store_set_registries_take(s, regs);
    img = image_store_pull(s, ref, &err);
    if (!img)
        fail_msg("pull with credentials: %s", err.msg);
    assert_int_equal(img->n_layers, 1);
    image_free(img);
    image_store_free(s);
}

static void
test_mirrors(void **state)
{
    struct fixture *f = *state;
    struct image_store *s = store_at(f, "store-mirror", 0);
    struct image_registries *regs = image_registries_new();
    _cleanup_free_ char *dead = k3c_xasprintf("http://127.0.0.1:%d", harness_free_port());
    _cleanup_free_ char *live = k3c_xasprintf("http://127.0.0.1:%d/", f->plain.port);
    struct k3c_err err = {0};
    struct image *img;

    /* docker.io is served by the mirrors; the first is down. The pull never
     * reaches registry-1.docker.io because the second mirror has it. */
    assert_int_equal(image_registries_add_mirror(regs, "docker.io", dead, &err), 0);
    assert_int_equal(image_registries_add_mirror(regs, "docker.io", live, &err), 0);
    image_store_set_registries_take(s, regs);
    img = image_store_pull(s, "test/busybox:1", &err);
    if (!img)
        fail_msg("pull through mirror: %s", err.msg);
    assert_string_equal(img->ref, "docker.io/test/busybox:1");
    assert_string_equal(img->repo_digest + strlen("docker.io/test/busybox@"), img->manifest_digest);
    image_free(img);
    image_store_free(s);
}

struct pull_job {
    struct image_store *s;
    char *ref;
    int ok;
    struct k3c_err err;
};

static void *
pull_thread(void *arg)
{
    struct pull_job *j = arg;
    struct image *img = image_store_pull(j->s, j->ref, &j->err);

    j->ok = img != NULL;
    image_free(img);
    return NULL;
}

static void
test_concurrent_pulls(void **state)
{
    struct fixture *f = *state;
    struct image_store *s = store_at(f, "store-conc", f->plain.port);
    struct pull_job jobs[6];
    pthread_t t[6];
    struct image_store_stats st;

    for (size_t i = 0; i < K3C_ARRAY_SIZE(jobs); i++) {
        jobs[i] = (struct pull_job){
            .s = s, .ref = ref_at(f->plain.port, i % 2 ? "test/busybox:2" : "test/busybox:1")};
        assert_int_equal(pthread_create(&t[i], NULL, pull_thread, &jobs[i]), 0);
    }
    for (size_t i = 0; i < K3C_ARRAY_SIZE(jobs); i++) {
        pthread_join(t[i], NULL);
        if (!jobs[i].ok)
            fail_msg("%s: %s", jobs[i].ref, jobs[i].err.msg);
        free(jobs[i].ref);
    }
    /* Distinct blobs: two configs, two layers; each downloaded and unpacked
     * exactly once however the threads interleave. */
    image_store_stats(s, &st);
    assert_int_equal(st.blobs_fetched, 4);
    assert_int_equal(st.layers_unpacked, 2);
    image_store_free(s);
}

static void
test_import(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *dir = path_in(f->dir, "import");
    struct image_store *s = store_at(f, "store-import", 0);
    struct k3c_err err = {0};
    struct image *a, *b;
    int n;

    assert_int_equal(k3c_mkdir_p(dir, 0755, &err), 0);
    assert_int_equal(
        run_cmd(f, "skopeo copy -q oci:%s:1 docker-archive:%s/a.tar:example.com/imp/busybox:1",
                f->oci, dir),
        0);
    assert_int_equal(run_cmd(f,
                             "skopeo copy -q oci:%s:2 oci-archive:%s/b.tar:example.com/imp/two:2",
                             f->oci, dir),
                     0);
    assert_int_equal(run_cmd(f, "echo junk >%s/notes.txt && echo junk >%s/c.tar", dir, dir), 0);
    n = image_import_dir(s, dir, &err);
    /* c.tar is not an image archive: reported, the others imported. */
    assert_int_equal(n, -1);
    assert_non_null(strstr(err.msg, "c.tar"));
    assert_int_equal(run_cmd(f, "rm %s/c.tar", dir), 0);
    n = image_import_dir(s, dir, &err);
    assert_int_equal(n, 0); /* a.tar and b.tar were imported above and are unchanged */

    a = image_store_get(s, "example.com/imp/busybox:1", &err);
    if (!a)
        fail_msg("docker-archive import: %s", err.msg);
    b = image_store_get(s, "example.com/imp/two:2", &err);
    if (!b)
        fail_msg("oci-archive import: %s", err.msg);
    assert_int_equal(a->n_layers, 1);
    assert_int_equal(b->n_layers, 2);
    assert_string_equal(a->config.entrypoint[0], "/bin/sh");
    /* Same base layer content: one unpacked directory, shared. */
    assert_string_equal(a->layers[0].diff_id, b->layers[0].diff_id);
    {
        _cleanup_free_ char *layer = image_store_layer_path(s, a->layers[0].diff_id);
        _cleanup_free_ char *bb = path_in(layer, "bin/busybox");
        _cleanup_free_ char *top = image_store_layer_path(s, b->layers[1].diff_id);
        _cleanup_free_ char *gone = path_in(top, "etc/gone");
        struct image_store_stats st;
        struct stat sb;

        assert_true(k3c_file_exists(bb));
        assert_int_equal(lstat(gone, &sb), 0);
        assert_true(S_ISCHR(sb.st_mode));
        image_store_stats(s, &st);
        assert_int_equal(st.layers_unpacked, 2);
        assert_int_equal(st.blobs_fetched, 0);
    }
    /* The OCI archive keeps the registry manifest: same digest as a pull. */
    {
        char want[IMAGE_DIGEST_LEN];

        layout_tag_digest(f, "2", want);
        assert_string_equal(b->manifest_digest, want);
    }
    image_free(a);
    image_free(b);
    image_store_free(s);
}

/* ---- a registry with token auth, redirects and an index ---- */

struct fake_registry {
    const struct fixture *f;
    int lfd, port;
    pthread_t thread;
    atomic_bool stop;
    char *index_multi, *index_noarch;
    atomic_int tokens, unauthorized, redirects;
};

static void
send_response(int fd, int status, const char *ctype, const char *extra, const char *body,
              size_t len)
{
    _cleanup_free_ char *head =
        k3c_xasprintf("HTTP/1.1 %d X\r\nContent-Length: %zu\r\nContent-Type: %s\r\n"
                      "Connection: close\r\n%s\r\n",
                      status, len, ctype, extra ? extra : "");
    const char *parts[2] = {head, body};
    size_t lens[2] = {strlen(head), len};

    for (int i = 0; i < 2; i++) {
        const char *p = parts[i];
        size_t left = lens[i];

        while (left > 0) {
            ssize_t n = send(fd, p, left, MSG_NOSIGNAL);

            if (n <= 0)
                return;
            p += n;
            left -= (size_t)n;
        }
    }
}

static void
fake_serve_file(struct fake_registry *r, int fd, const char *hex, bool manifest)
{
    _cleanup_free_ char *p = k3c_xasprintf("%s/blobs/sha256/%.64s", r->f->oci, hex);
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    struct k3c_err err = {0};

    if (strlen(hex) < 64 || k3c_read_file(p, &data, &len, &err) < 0) {
        static const char nf[] =
            "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"blob unknown\"}]}";

        send_response(fd, 404, "application/json", NULL, nf, sizeof(nf) - 1);
        return;
    }
    send_response(fd, 200, manifest ? IMAGE_MT_OCI_MANIFEST : "application/octet-stream", NULL,
                  data, len);
}

static void
fake_handle(struct fake_registry *r, int fd)
{
    char req[8192], method[8], path[2048];
    size_t len = 0;
    bool authed;
    static const char *const prefix = "/v2/test/bearer/";
    struct timeval tv = {.tv_sec = 5};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (len < sizeof(req) - 1) {
        ssize_t n = recv(fd, req + len, sizeof(req) - 1 - len, 0);

        if (n <= 0)
            return;
        len += (size_t)n;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    if (sscanf(req, "%7s %2047s", method, path) != 2)
        return;
    authed = strstr(req, "Authorization: Bearer tok-123\r\n") != NULL;
    if (strncmp(path, "/token?", 7) == 0) {
        static const char tok[] = "{\"token\":\"tok-123\",\"expires_in\":300}";

        atomic_fetch_add(&r->tokens, 1);
        if (strstr(path, "service=fake-registry") &&
            strstr(path, "scope=repository%3Atest%2Fbearer%3Apull"))
            send_response(fd, 200, "application/json", NULL, tok, sizeof(tok) - 1);
        else
            send_response(fd, 400, "text/plain", NULL, "bad", 3);
        return;
    }
    if (strncmp(path, "/cdn/", 5) == 0) {
        fake_serve_file(r, fd, path + 5, false);
        return;
    }
    if (!authed) {
        _cleanup_free_ char *challenge =
            k3c_xasprintf("WWW-Authenticate: Bearer "
                          "realm=\"http://127.0.0.1:%d/token\",service=\"fake-registry\","
                          "scope=\"repository:test/bearer:pull\"\r\n",
                          r->port);
        static const char ua[] = "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"auth\"}]}";

        atomic_fetch_add(&r->unauthorized, 1);
        send_response(fd, 401, "application/json", challenge, ua, sizeof(ua) - 1);
        return;
    }
    if (strncmp(path, prefix, strlen(prefix)) == 0) {
        const char *rest = path + strlen(prefix);

        if (strcmp(rest, "manifests/multi") == 0) {
            send_response(fd, 200, IMAGE_MT_OCI_INDEX, NULL, r->index_multi,
                          strlen(r->index_multi));
            return;
        }
        if (strcmp(rest, "manifests/noarch") == 0) {
            send_response(fd, 200, IMAGE_MT_DOCKER_LIST, NULL, r->index_noarch,
                          strlen(r->index_noarch));
            return;
        }
        if (strcmp(rest, "manifests/elsewhere") == 0) {
            /* A redirect off HTTP(S) (ftp is one curl follows by default) must not be followed. */
            static const char loc[] = "Location: ftp://127.0.0.1:1/x\r\n";

            send_response(fd, 307, "text/plain", loc, "", 0);
            return;
        }
        if (strncmp(rest, "manifests/sha256:", 17) == 0) {
            fake_serve_file(r, fd, rest + 17, true);
            return;
        }
        if (strncmp(rest, "blobs/sha256:", 13) == 0) {
            /* Like Docker Hub: the blob lives elsewhere. */
            _cleanup_free_ char *loc = k3c_xasprintf("Location: /cdn/%s\r\n", rest + 13);

            atomic_fetch_add(&r->redirects, 1);
            send_response(fd, 307, "text/plain", loc, "", 0);
            return;
        }
    }
    {
        static const char nf[] =
            "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}";

        send_response(fd, 404, "application/json", NULL, nf, sizeof(nf) - 1);
    }
}

static void *
fake_thread(void *arg)
{
    struct fake_registry *r = arg;

    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->lfd, .events = POLLIN};
        int fd;

        if (poll(&p, 1, 50) <= 0)
            continue;
        fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        fake_handle(r, fd);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

static char *
make_index(const char *digest, int64_t size, const char *arch, const char *variant)
{
    _cleanup_json_ json_t *idx = json_pack(
        "{s:i, s:s, s:[{s:s, s:s, s:i, s:{s:s, s:s, s:s}}, {s:s, s:s, s:I, s:{s:s, s:s}}]}",
        "schemaVersion", 2, "mediaType", IMAGE_MT_OCI_INDEX, "manifests", "mediaType",
        IMAGE_MT_OCI_MANIFEST, "digest",
        "sha256:1111111111111111111111111111111111111111111111111111111111111111", "size", 10,
        "platform", "os", "linux", "architecture", "arm", "variant", "v7", "mediaType",
        IMAGE_MT_OCI_MANIFEST, "digest", digest, "size", (json_int_t)size, "platform", "os",
        "linux", "architecture", arch);

    if (variant)
        json_object_set_new(
            json_object_get(json_array_get(json_object_get(idx, "manifests"), 1), "platform"),
            "variant", json_string(variant));
    return json_dumps(idx, JSON_COMPACT);
}

static void
test_bearer_redirect_index(void **state)
{
    struct fixture *f = *state;
    struct fake_registry r = {.f = f, .lfd = -1};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    struct image_store *s = NULL;
    char digest[IMAGE_DIGEST_LEN];
    _cleanup_free_ char *ref = NULL, *noarch = NULL, *man_path = NULL;
    const char *arch, *variant;
    struct k3c_err err = {0};
    struct image *img;
    struct stat st;

    layout_tag_digest(f, "1", digest);
    man_path = k3c_xasprintf("%s/blobs/sha256/%s", f->oci, digest + 7);
    assert_int_equal(stat(man_path, &st), 0);
    image_platform_current(&arch, &variant);
    r.index_multi = make_index(digest, st.st_size, arch, variant);
    r.index_noarch = make_index(digest, st.st_size, "s390x-nope", NULL);
    r.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(r.lfd >= 0);
    assert_int_equal(bind(r.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(r.lfd, 16), 0);
    assert_int_equal(getsockname(r.lfd, (struct sockaddr *)&sa, &slen), 0);
    r.port = ntohs(sa.sin_port);
    atomic_init(&r.stop, false);
    assert_int_equal(pthread_create(&r.thread, NULL, fake_thread, &r), 0);

    s = store_at(f, "store-bearer", r.port);
    ref = ref_at(r.port, "test/bearer:multi");
    noarch = ref_at(r.port, "test/bearer:noarch");
    img = image_store_pull(s, ref, &err);
    if (img) {
        assert_string_equal(img->manifest_digest, digest); /* this node's entry */
        assert_int_equal(img->n_layers, 1);
        /* One challenge answered with one token for the whole pull; blobs
         * came through redirects (Authorization is not needed there). */
        assert_int_equal(atomic_load(&r.tokens), 1);
        assert_int_equal(atomic_load(&r.unauthorized), 1);
        assert_int_equal(atomic_load(&r.redirects), 2);
        image_free(img);
        assert_null(image_store_pull(s, noarch, &err));
        assert_int_equal(err.kind, K3C_E_NOT_FOUND);
        assert_non_null(strstr(err.msg, "no manifest for linux/"));
        {
            _cleanup_free_ char *elsewhere = ref_at(r.port, "test/bearer:elsewhere");

            assert_null(image_store_pull(s, elsewhere, &err));
            if (!strstr(err.msg, "protocol"))
                fail_msg("ftp:// redirect: %s", err.msg);
        }
    }
    atomic_store(&r.stop, true);
    pthread_join(r.thread, NULL);
    close(r.lfd);
    free(r.index_multi);
    free(r.index_noarch);
    image_store_free(s);
    if (!img && err.kind != K3C_E_NOT_FOUND)
        fail_msg("bearer pull: %s", err.msg);
}

int
main(int argc, char **argv)
{
    static const char *const tools[] = {"/usr/bin/skopeo", "/usr/bin/umoci",
                                        "/usr/bin/docker-registry", "/bin/busybox"};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_parse),
        cmocka_unit_test(test_challenge_parse),
        cmocka_unit_test(test_registries_yaml),
        cmocka_unit_test(test_unpack_hostile),
        cmocka_unit_test(test_pull_by_tag_and_reuse),
        cmocka_unit_test(test_pull_errors),
        cmocka_unit_test(test_whiteouts_and_overlay),
        cmocka_unit_test(test_corrupt_blob),
        cmocka_unit_test(test_basic_auth),
        cmocka_unit_test(test_mirrors),
        cmocka_unit_test(test_concurrent_pulls),
        cmocka_unit_test(test_import),
        cmocka_unit_test(test_bearer_redirect_index),
    };

    /* Layers and tarballs are unpacked by `/proc/self/exe __image-archive`:
     * this program, in the image helper's role. */
    if (argc > 1 && strcmp(argv[1], IMAGE_HELPER_VERB) == 0)
        return image_helper_main(argc - 1, argv + 1);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(tools); i++) {
        if (access(tools[i], X_OK) < 0) {
            fprintf(stderr, "test_image: %s is missing, skipping\n", tools[i]);
            return 77;
        }
    }
    if (geteuid() != 0) {
        /* Layers keep their owners and whiteouts are device nodes: both
         * need root (CAP_CHOWN, CAP_MKNOD), as the agent itself does. */
        fprintf(stderr, "test_image: needs root, skipping\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
