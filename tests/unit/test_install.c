/* SPDX-License-Identifier: Apache-2.0
 * test_install.c - `k3c install`'s config merge (flags over config.yaml,
 * the merged text read back by config_load), the unit text, and the
 * notify protocol against a socket the test listens on (a path and an
 * abstract name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/util.h"
#include "install/install.h"

static char *
merge(const char *old, enum config_role role, int argc, char **argv)
{
    struct k3c_err err = {0};
    char *out = install_config_merge(old, role, argc, argv, &err);

    if (!out)
        print_error("merge: %s\n", err.msg);
    return out;
}

/* Loads text as the config file of role; returns 0 with cfg filled. */
static int
load(const char *text, enum config_role role, struct k3c_config *cfg)
{
    char path[] = "/tmp/k3c-test-install-XXXXXX";
    int fd = mkstemp(path);
    struct k3c_err err = {0};
    char *argv[] = {"server", NULL}, *envp[] = {NULL};
    int rc;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cfg->default_config_file = path;
    rc = config_load(cfg, role, 1, argv, envp, &err) == CONFIG_OK ? 0 : -1;
    if (rc < 0)
        print_error("load: %s\n---\n%s---\n", err.msg, text);
    unlink(path);
    return rc;
}

static void
test_merge_new(void **state)
{
    char *argv[] = {"--cluster-init",      "--tls-san",    "192.168.20.225",
                    "--tls-san=vip.lan",   "-t",           "se\"cr et:",
                    "--https-listen-port", "7443",         "--node-label",
                    "role=server",         "--debug=false"};
    struct k3c_config cfg = {0};
    char *text;

    (void)state;
    text = merge(NULL, CONFIG_ROLE_SERVER, K3C_ARRAY_SIZE(argv), argv);
    assert_non_null(text);
    assert_non_null(strstr(text, "cluster-init: true\n"));
    assert_non_null(strstr(text, "tls-san:\n  - 192.168.20.225\n  - vip.lan\n"));
    assert_int_equal(load(text, CONFIG_ROLE_SERVER, &cfg), 0);
    assert_true(cfg.cluster_init);
    assert_false(cfg.debug);
    assert_int_equal(cfg.https_listen_port, 7443);
    assert_string_equal(cfg.token, "se\"cr et:");
    assert_string_equal(cfg.tls_sans[0], "192.168.20.225");
    assert_string_equal(cfg.tls_sans[1], "vip.lan");
    assert_null(cfg.tls_sans[2]);
    assert_string_equal(cfg.node_labels[0], "role=server");
    config_fini(&cfg);
    free(text);
}

/* Keys the flags do not name stay, in order; a flag replaces its key, a
 * list flag the whole list; an agent key in the file survives a server
 * install (one file serves both). */
static void
test_merge_existing(void **state)
{
    const char *old = "# mine\n"
                      "node-name: polynode-1\n"
                      "tls-san: [a, b]\n"
                      "https-listen-port: 6443\n"
                      "node-label+: [x=y]\n";
    char *argv[] = {"--https-listen-port", "8443", "--tls-san", "c"};
    struct k3c_config cfg = {0};
    char *text = merge(old, CONFIG_ROLE_SERVER, K3C_ARRAY_SIZE(argv), argv);

    (void)state;
    assert_non_null(text);
    assert_non_null(strstr(text, "node-name: polynode-1\ntls-san:\n  - c\n"
                                 "https-listen-port: 8443\nnode-label+:\n  - x=y\n"));
    assert_int_equal(load(text, CONFIG_ROLE_SERVER, &cfg), 0);
    assert_string_equal(cfg.node_name, "polynode-1");
    assert_int_equal(cfg.https_listen_port, 8443);
    assert_string_equal(cfg.tls_sans[0], "c");
    assert_null(cfg.tls_sans[1]);
    config_fini(&cfg);
    free(text);
}

static void
test_merge_errors(void **state)
{
    struct k3c_err err = {0};
    char *unknown[] = {"--no-such-flag", "1"};
    char *other_role[] = {"--cluster-init"};
    char *no_value[] = {"--data-dir"};
    char *positional[] = {"server"};

    (void)state;
    assert_null(install_config_merge(NULL, CONFIG_ROLE_SERVER, 2, unknown, &err));
    assert_non_null(strstr(err.msg, "unknown flag \"--no-such-flag\""));
    assert_null(install_config_merge(NULL, CONFIG_ROLE_AGENT, 1, other_role, &err));
    assert_null(install_config_merge(NULL, CONFIG_ROLE_SERVER, 1, no_value, &err));
    assert_non_null(strstr(err.msg, "needs a value"));
    assert_null(install_config_merge(NULL, CONFIG_ROLE_SERVER, 1, positional, &err));
    assert_null(install_config_merge("- a\n- b\n", CONFIG_ROLE_SERVER, 0, NULL, &err));
    assert_null(install_config_merge("a: {b: c}\n", CONFIG_ROLE_SERVER, 0, NULL, &err));
    assert_null(install_config_merge("a: [\n", CONFIG_ROLE_SERVER, 0, NULL, &err));
}

/* Values YAML would read as something else are quoted. */
static void
test_merge_quoting(void **state)
{
    char *argv[] = {"--node-name", "yes", "--data-dir", "/srv/k3c data", "--node-label", "a=#b"};
    struct k3c_config cfg = {0};
    char *text = merge(NULL, CONFIG_ROLE_AGENT, K3C_ARRAY_SIZE(argv), argv);

    (void)state;
    assert_non_null(text);
    assert_int_equal(load(text, CONFIG_ROLE_AGENT, &cfg), 0);
    assert_string_equal(cfg.node_name, "yes");
    assert_string_equal(cfg.data_dir, "/srv/k3c data");
    assert_string_equal(cfg.node_labels[0], "a=#b");
    config_fini(&cfg);
    free(text);
}

static void
test_unit_text(void **state)
{
    char *s = install_unit_text(CONFIG_ROLE_AGENT, "/usr/bin/k3c");
    const char *want[] = {"Type=notify\n",
                          "KillMode=process\n",
                          "Delegate=yes\n",
                          "Restart=always\n",
                          "LimitNOFILE=",
                          "TasksMax=infinity\n",
                          "StandardOutput=journal\n",
                          "ExecStart=/usr/bin/k3c agent\n",
                          "WantedBy=multi-user.target\n"};

    (void)state;
    for (size_t i = 0; i < K3C_ARRAY_SIZE(want); i++)
        assert_non_null(strstr(s, want[i]));
    assert_string_equal(install_unit_name(CONFIG_ROLE_AGENT), "k3c-agent.service");
    assert_string_equal(install_unit_name(CONFIG_ROLE_SERVER), "k3c.service");
    free(s);
}

/* Binds a datagram socket at name (leading '@': abstract) and returns it. */
static int
listen_dgram(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    assert_int_equal(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
        0);
    return fd;
}

static void
expect_datagram(int fd, const char *want)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void
test_notify(void **state)
{
    char path[64], abstract[64];
    int fd;

    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(install_sd_notify("READY=1"), 0);

    snprintf(path, sizeof(path), "/tmp/k3c-test-notify-%d.sock", (int)getpid());
    unlink(path);
    fd = listen_dgram(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(install_sd_notify("READY=1\nSTATUS=ok"), 1);
    expect_datagram(fd, "READY=1\nSTATUS=ok");
    close(fd);
    unlink(path);
    /* nobody listens any more: an error, not a crash */
    assert_int_equal(install_sd_notify("STOPPING=1"), -1);

    snprintf(abstract, sizeof(abstract), "@k3c-test-notify-%d", (int)getpid());
    fd = listen_dgram(abstract);
    setenv("NOTIFY_SOCKET", abstract, 1);
    assert_int_equal(install_sd_notify("STOPPING=1"), 1);
    expect_datagram(fd, "STOPPING=1");
    close(fd);

    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(install_sd_notify("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_new),    cmocka_unit_test(test_merge_existing),
        cmocka_unit_test(test_merge_errors), cmocka_unit_test(test_merge_quoting),
        cmocka_unit_test(test_unit_text),    cmocka_unit_test(test_notify),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
