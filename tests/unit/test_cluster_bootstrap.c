/* SPDX-License-Identifier: Apache-2.0
 * test_cluster_bootstrap.c - the HA bootstrap material (cluster_join.c)
 * carries the secrets encryption key (issue #15) to a joining server, mode
 * 0600, and a server of an older k3c without that file can still be joined. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "cluster/cluster.h"

static const char *const files[] = {"server-ca.crt", "server-ca.key", "client-ca.crt",
                                    "client-ca.key", "service.key",   "encryption-config.json"};

static void
write_in(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *p = k3c_xasprintf("%s/%s", dir, name);
    struct k3c_err err = {0};

    assert_int_equal(k3c_write_file(p, text, strlen(text), 0600, &err), 0);
}

static void
rm_dir(const char *dir)
{
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        _cleanup_free_ char *p = k3c_xasprintf("%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void
test_key_travels_and_is_optional(void **state)
{
    char src[] = "/tmp/k3c-test-boot-a-XXXXXX", dst[] = "/tmp/k3c-test-boot-b-XXXXXX",
         old[] = "/tmp/k3c-test-boot-c-XXXXXX";
    _cleanup_json_ json_t *settings = cluster_settings_new("10.42.0.0/16", NULL, NULL, NULL);
    _cleanup_free_ char *text = NULL, *text_old = NULL, *copied = NULL, *path = NULL;
    _cleanup_json_ json_t *boot = NULL, *boot_old = NULL;
    struct k3c_err err = {0};
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(src));
    assert_non_null(mkdtemp(dst));
    assert_non_null(mkdtemp(old));
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        write_in(src, files[i], files[i]); /* each file holds its own name */
    text = cluster_bootstrap_json(src, settings, "https://10.0.0.1:2379", &err);
    assert_non_null(text);
    boot = json_loads(text, 0, NULL);
    assert_int_equal(cluster_bootstrap_apply(boot, dst, settings, &err), 0);
    path = k3c_xasprintf("%s/encryption-config.json", dst);
    assert_int_equal(k3c_read_file(path, &copied, NULL, &err), 0);
    assert_string_equal(copied, "encryption-config.json");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* an older server without the file: still a valid bootstrap */
    free(path);
    path = k3c_xasprintf("%s/encryption-config.json", src);
    assert_int_equal(unlink(path), 0);
    text_old = cluster_bootstrap_json(src, settings, "https://10.0.0.1:2379", &err);
    assert_non_null(text_old);
    boot_old = json_loads(text_old, 0, NULL);
    assert_null(json_object_get(json_object_get(boot_old, "files"), "encryption-config.json"));
    assert_int_equal(cluster_bootstrap_apply(boot_old, old, settings, &err), 0);
    rm_dir(src);
    rm_dir(dst);
    rm_dir(old);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_key_travels_and_is_optional)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
