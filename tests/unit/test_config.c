/* SPDX-License-Identifier: Apache-2.0
 * test_config.c - config_load layers (flags > env > file > defaults), flag
 * syntax, YAML errors with file:line, and --help output. Each test gets a
 * fixture whose default config file does not exist; temp files are removed
 * in teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

#define MISSING_FILE "/nonexistent/k3c-test/config.yaml"

struct fixture {
    struct k3c_config cfg;
    struct k3c_err err;
    char path[64]; /* temp config file, "" if none */
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    f->cfg.default_config_file = MISSING_FILE;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    config_fini(&f->cfg);
    if (f->path[0])
        unlink(f->path);
    free(f);
    return 0;
}

/* Writes text to a new temp file and remembers its path for teardown. */
static const char *
write_file(struct fixture *f, const char *text)
{
    int fd;
    size_t len = strlen(text);

    snprintf(f->path, sizeof(f->path), "/tmp/k3c-test-config-XXXXXX");
    fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return f->path;
}

/* Runs config_load with argv = {"server", args...} and env, both NULL-terminated. */
static enum config_result
load(struct fixture *f, enum config_role role, const char **args, const char **env)
{
    const char *argv[32] = {role == CONFIG_ROLE_SERVER ? "server" : "agent"};
    const char *noenv[] = {NULL};
    int argc = 1;

    for (size_t i = 0; args && args[i]; i++)
        argv[argc++] = args[i];
    return config_load(&f->cfg, role, argc, (char **)argv, (char **)(env ? env : noenv), &f->err);
}

static enum config_result
load_server(struct fixture *f, const char **args)
{
    return load(f, CONFIG_ROLE_SERVER, args, NULL);
}

static size_t
list_len(char **v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

static void
assert_list(char **v, const char **want)
{
    size_t n = 0;

    for (; want[n]; n++) {
        assert_non_null(v);
        assert_non_null(v[n]);
        assert_string_equal(v[n], want[n]);
    }
    assert_int_equal(list_len(v), n);
}

static void
assert_usage_error(struct fixture *f, const char **args, const char *msg)
{
    assert_int_equal(load_server(f, args), CONFIG_USAGE);
    assert_non_null(strstr(f->err.msg, msg));
}

/* ---- defaults ---- */

static void
test_defaults(void **state)
{
    struct fixture *f = *state;
    struct k3c_config *c = &f->cfg;

    assert_int_equal(load_server(f, NULL), CONFIG_OK);
    assert_string_equal(c->config_file, MISSING_FILE);
    assert_string_equal(c->data_dir, "/var/lib/k3c");
    assert_non_null(c->node_name);
    assert_true(strlen(c->node_name) > 0);
    {
        char *want = config_default_node_ip();

        assert_string_equal(c->node_ip, want);
        free(want);
    }
    assert_false(c->debug);
    assert_null(c->server);
    assert_null(c->token);
    assert_null(c->node_labels);
    assert_null(c->node_taints);
    assert_false(c->cluster_init);
    assert_false(c->disable_agent);
    assert_int_equal(c->https_listen_port, 6443);
    assert_null(c->tls_sans);
    assert_string_equal(c->etcd_binary, "etcd");
    assert_int_equal(c->etcd_client_port, 2379);
    assert_int_equal(c->etcd_peer_port, 2380);
    assert_int_equal(c->etcd_heartbeat_interval_ms, 100);
    assert_int_equal(c->etcd_election_timeout_ms, 1000);
    assert_true(c->etcd_quota_backend_bytes == 2147483648LL);
    assert_string_equal(c->etcd_auto_compaction_mode, "revision");
    assert_string_equal(c->etcd_auto_compaction_retention, "10000");
}

static void
test_default_file_is_read_when_present(void **state)
{
    struct fixture *f = *state;

    f->cfg.default_config_file = write_file(f, "data-dir: /from/default\n");
    assert_int_equal(load_server(f, NULL), CONFIG_OK);
    assert_string_equal(f->cfg.data_dir, "/from/default");
    assert_string_equal(f->cfg.config_file, f->path);
}

static void
test_reuse_after_fini(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load_server(f, (const char *[]){"--tls-san", "a", NULL}), CONFIG_OK);
    config_fini(&f->cfg);
    config_fini(&f->cfg);
    assert_null(f->cfg.tls_sans);
    assert_string_equal(f->cfg.default_config_file, MISSING_FILE);
    assert_int_equal(load_server(f, (const char *[]){"--data-dir", "/b", NULL}), CONFIG_OK);
    assert_string_equal(f->cfg.data_dir, "/b");
    assert_null(f->cfg.tls_sans);
}

/* ---- precedence ---- */

static void
test_flags_over_env_over_file(void **state)
{
    struct fixture *f = *state;
    const char *path = write_file(f, "data-dir: /file\n"
                                     "node-ip: 10.0.0.1\n"
                                     "token: file-token\n"
                                     "tls-san: [file-san]\n");
    const char *env[] = {"K3C_DATA_DIR=/env", "K3C_NODE_IP=10.0.0.2", "K3C_TLS_SAN=env1,env2",
                         NULL};
    const char *args[] = {"--config", path, "--data-dir", "/flag", NULL};

    assert_int_equal(load(f, CONFIG_ROLE_SERVER, args, env), CONFIG_OK);
    assert_string_equal(f->cfg.data_dir, "/flag");
    assert_string_equal(f->cfg.node_ip, "10.0.0.2");
    assert_string_equal(f->cfg.token, "file-token");
    assert_list(f->cfg.tls_sans, (const char *[]){"env1", "env2", NULL});
    assert_string_equal(f->cfg.etcd_binary, "etcd");
}

static void
test_flag_list_replaces_file_list(void **state)
{
    struct fixture *f = *state;
    const char *path = write_file(f, "node-label:\n  - a=1\n  - b=2\n");

    assert_int_equal(load_server(f, (const char *[]){"-c", path, "--node-label=c=3", NULL}),
                     CONFIG_OK);
    assert_list(f->cfg.node_labels, (const char *[]){"c=3", NULL});
}

static void
test_config_file_from_env(void **state)
{
    struct fixture *f = *state;
    const char *path = write_file(f, "etcd-client-port: 12379\n");
    char var[128];
    const char *env[] = {var, NULL};

    snprintf(var, sizeof(var), "K3C_CONFIG=%s", path);
    assert_int_equal(load(f, CONFIG_ROLE_SERVER, NULL, env), CONFIG_OK);
    assert_int_equal(f->cfg.etcd_client_port, 12379);
}

/* ---- flag syntax ---- */

static void
test_flag_value_forms(void **state)
{
    struct fixture *f = *state;
    const char *args[] = {"--data-dir=/eq",    "--node-name",     "n1",    "-t", "secret",
                          "-s=https://a:6443", "-etcd-peer-port", "12380", NULL};

    assert_int_equal(load_server(f, args), CONFIG_OK);
    assert_string_equal(f->cfg.data_dir, "/eq");
    assert_string_equal(f->cfg.node_name, "n1");
    assert_string_equal(f->cfg.token, "secret");
    assert_string_equal(f->cfg.server, "https://a:6443");
    assert_int_equal(f->cfg.etcd_peer_port, 12380);
}

static void
test_bool_forms(void **state)
{
    struct fixture *f = *state;
    const char *args[] = {"--debug", "--cluster-init=true", "--disable-agent=false", NULL};

    assert_int_equal(load_server(f, args), CONFIG_OK);
    assert_true(f->cfg.debug);
    assert_true(f->cfg.cluster_init);
    assert_false(f->cfg.disable_agent);
    config_fini(&f->cfg);

    assert_int_equal(load(f, CONFIG_ROLE_SERVER, (const char *[]){"--debug=false", NULL},
                          (const char *[]){"K3C_DEBUG=1", "K3C_DISABLE_AGENT=true", NULL}),
                     CONFIG_OK);
    assert_false(f->cfg.debug);
    assert_true(f->cfg.disable_agent);
    config_fini(&f->cfg);

    assert_usage_error(f, (const char *[]){"--debug=maybe", NULL},
                       "--debug: \"maybe\" is not a boolean");
    /* A bool flag takes no separate value, so "false" is a positional argument. */
    assert_usage_error(f, (const char *[]){"--debug", "false", NULL}, "unexpected argument");
}

static void
test_list_repeat_and_comma(void **state)
{
    struct fixture *f = *state;
    const char *args[] = {"--tls-san", "a", "--tls-san=b,c", "--tls-san", " d , ,e", NULL};

    assert_int_equal(load_server(f, args), CONFIG_OK);
    assert_list(f->cfg.tls_sans, (const char *[]){"a", "b", "c", "d", "e", NULL});
}

static void
test_help(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load_server(f, (const char *[]){"--help", NULL}), CONFIG_HELP);
    assert_int_equal(load(f, CONFIG_ROLE_AGENT, (const char *[]){"--debug", "-h", NULL}, NULL),
                     CONFIG_HELP);
    assert_null(f->cfg.data_dir);
}

/* ---- usage errors ---- */

static void
test_unknown_flag(void **state)
{
    struct fixture *f = *state;

    assert_usage_error(f, (const char *[]){"--foo", NULL}, "unknown flag --foo");
    assert_int_equal(f->err.kind, K3C_E_INVALID);
    assert_usage_error(f, (const char *[]){"--foo=bar", NULL}, "unknown flag --foo");
    assert_usage_error(f, (const char *[]){"-x", NULL}, "unknown flag -x");
    assert_null(f->cfg.data_dir);
}

static void
test_agent_refuses_server_flag(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(load(f, CONFIG_ROLE_AGENT, (const char *[]){"--cluster-init", NULL}, NULL),
                     CONFIG_USAGE);
    assert_non_null(strstr(f->err.msg, "--cluster-init"));
    assert_non_null(strstr(f->err.msg, "server"));
}

static void
test_agent_ignores_server_env_and_keys(void **state)
{
    struct fixture *f = *state;
    const char *path = write_file(f, "cluster-init: true\nnode-name: a1\n");
    const char *env[] = {"K3C_TLS_SAN=x", "K3C_BIN=/usr/bin/k3c", NULL};

    assert_int_equal(load(f, CONFIG_ROLE_AGENT, (const char *[]){"--config", path, NULL}, env),
                     CONFIG_OK);
    assert_false(f->cfg.cluster_init);
    assert_null(f->cfg.tls_sans);
    assert_string_equal(f->cfg.node_name, "a1");
}

static void
test_bad_numbers(void **state)
{
    struct fixture *f = *state;

    assert_usage_error(f, (const char *[]){"--etcd-client-port", "abc", NULL},
                       "--etcd-client-port: \"abc\" is not a number");
    assert_usage_error(f, (const char *[]){"--etcd-client-port=12ab", NULL}, "is not a number");
    assert_usage_error(f, (const char *[]){"--https-listen-port=70000", NULL},
                       "--https-listen-port: 70000 is out of range (1..65535)");
    assert_usage_error(f, (const char *[]){"--etcd-peer-port=0", NULL}, "out of range");
    assert_usage_error(f, (const char *[]){"--etcd-heartbeat-interval=0", NULL}, "out of range");
    assert_usage_error(f, (const char *[]){"--etcd-quota-backend-bytes=99999999999999999999", NULL},
                       "out of range");
    assert_usage_error(f, (const char *[]){"--etcd-election-timeout=400", NULL},
                       "at least 5 times");
}

static void
test_env_bad_value_names_variable(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(
        load(f, CONFIG_ROLE_SERVER, NULL, (const char *[]){"K3C_ETCD_PEER_PORT=x", NULL}),
        CONFIG_USAGE);
    assert_non_null(strstr(f->err.msg, "K3C_ETCD_PEER_PORT"));
    assert_int_equal(load(f, CONFIG_ROLE_SERVER, NULL, (const char *[]){"K3C_DEBUG=perhaps", NULL}),
                     CONFIG_USAGE);
    assert_non_null(strstr(f->err.msg, "K3C_DEBUG"));
}

static void
test_env_values(void **state)
{
    struct fixture *f = *state;
    const char *env[] = {"K3C_ETCD_QUOTA_BACKEND_BYTES=8589934592", "K3C_TOKEN=", "PATH=/bin",
                         NULL};

    assert_int_equal(load(f, CONFIG_ROLE_SERVER, NULL, env), CONFIG_OK);
    assert_true(f->cfg.etcd_quota_backend_bytes == 8589934592LL);
    assert_null(f->cfg.token); /* "" counts as unset */
}

static void
test_bad_choice(void **state)
{
    struct fixture *f = *state;

    assert_usage_error(f, (const char *[]){"--etcd-auto-compaction-mode=hourly", NULL},
                       "must be one of revision|periodic");
    assert_int_equal(
        load_server(f, (const char *[]){"--etcd-auto-compaction-mode", "periodic", NULL}),
        CONFIG_OK);
    assert_string_equal(f->cfg.etcd_auto_compaction_mode, "periodic");
}

static void
test_positional_and_missing_value(void **state)
{
    struct fixture *f = *state;

    assert_usage_error(f, (const char *[]){"stray", NULL}, "unexpected argument \"stray\"");
    assert_usage_error(f, (const char *[]){"--", "x", NULL}, "unexpected argument \"x\"");
    assert_usage_error(f, (const char *[]){"--data-dir", NULL}, "--data-dir needs a value");
    assert_usage_error(f, (const char *[]){"--data-dir=", NULL}, "--data-dir: empty value");
}

/* ---- config file ---- */

static void
test_file_lists(void **state)
{
    struct fixture *f = *state;
    const char *path = write_file(f, "# k3c\n"
                                     "tls-san:\n"
                                     "  - a.example\n"
                                     "  - 10.0.0.1\n"
                                     "node-label: \"x=1,y=2\"\n"
                                     "node-taint: [t=1:NoSchedule]\n"
                                     "node-taint+: [t=2:NoExecute]\n"
                                     "debug: true\n"
                                     "https-listen-port: 7443\n");

    assert_int_equal(load_server(f, (const char *[]){"--config", path, NULL}), CONFIG_OK);
    assert_list(f->cfg.tls_sans, (const char *[]){"a.example", "10.0.0.1", NULL});
    assert_list(f->cfg.node_labels, (const char *[]){"x=1", "y=2", NULL});
    assert_list(f->cfg.node_taints, (const char *[]){"t=1:NoSchedule", "t=2:NoExecute", NULL});
    assert_true(f->cfg.debug);
    assert_int_equal(f->cfg.https_listen_port, 7443);
}

static void
test_empty_file(void **state)
{
    struct fixture *f = *state;
    const char *path = write_file(f, "# nothing yet\n");

    assert_int_equal(load_server(f, (const char *[]){"--config", path, NULL}), CONFIG_OK);
    assert_string_equal(f->cfg.data_dir, "/var/lib/k3c");
}

/* Loads text as --config and checks the error starts "<file>:<line>: " and holds msg. */
static void
assert_file_error(struct fixture *f, const char *text, int line, const char *msg)
{
    const char *path = write_file(f, text);
    char prefix[128];

    assert_int_equal(load_server(f, (const char *[]){"--config", path, NULL}), CONFIG_ERROR);
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
    assert_memory_equal(f->err.msg, prefix, strlen(prefix));
    assert_non_null(strstr(f->err.msg, msg));
    unlink(f->path);
    f->path[0] = '\0';
}

static void
test_malformed_yaml(void **state)
{
    struct fixture *f = *state;

    assert_file_error(f, "node-ip: 1.2.3.4\ndata-dir: [unclosed\n", 2, "did not find expected");
    assert_file_error(f, "data-dir: x\n  bad: indent\n", 2, "mapping values are not allowed");
    assert_file_error(f, "- a\n- b\n", 1, "expected a mapping");
}

static void
test_unknown_key(void **state)
{
    struct fixture *f = *state;

    assert_file_error(f, "debug: true\n\ndta-dir: /x\n", 3, "unknown key \"dta-dir\"");
    assert_file_error(f, "config: /other.yaml\n", 1, "unknown key \"config\"");
    assert_file_error(f, "debug+: true\n", 1, "appends only to list options");
}

static void
test_file_bad_values(void **state)
{
    struct fixture *f = *state;

    assert_file_error(f, "data-dir:\n  - a\n", 2, "not a list");
    assert_file_error(f, "data-dir: {a: b}\n", 1, "mapping is not a valid value");
    assert_file_error(f, "tls-san:\n  - a\n  - [b]\n", 3, "expected a plain value");
    assert_file_error(f, "debug: true\netcd-client-port: abc\n", 2,
                      "etcd-client-port: \"abc\" is not a number");
    assert_file_error(f, "token:\n", 1, "no value for \"token\"");
}

static void
test_missing_explicit_file(void **state)
{
    struct fixture *f = *state;
    char var[] = "K3C_CONFIG=" MISSING_FILE;

    assert_int_equal(load_server(f, (const char *[]){"--config", MISSING_FILE, NULL}),
                     CONFIG_ERROR);
    assert_non_null(strstr(f->err.msg, MISSING_FILE));
    assert_int_equal(load(f, CONFIG_ROLE_SERVER, NULL, (const char *[]){var, NULL}), CONFIG_ERROR);
}

/* ---- usage ---- */

static char *
usage_text(enum config_role role)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    config_usage(out, role);
    fclose(out);
    return text;
}

static void
test_usage(void **state)
{
    char *server = usage_text(CONFIG_ROLE_SERVER);
    char *agent = usage_text(CONFIG_ROLE_AGENT);

    (void)state;
    assert_non_null(strstr(server, "--data-dir DIR"));
    assert_non_null(strstr(server, "K3C_DATA_DIR"));
    assert_non_null(strstr(server, "default /var/lib/k3c"));
    assert_non_null(strstr(server, "--cluster-init"));
    assert_non_null(strstr(server, "--help"));
    assert_non_null(strstr(agent, "--token"));
    assert_null(strstr(agent, "--cluster-init"));
    assert_null(strstr(agent, "etcd"));
    free(server);
    free(agent);
}

/* --node-ip's default comes from the default route's interface, as K3s. */
static void
test_default_route_iface(void **state)
{
    static const char table[] =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth1\t0014A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "eth9\t00000000\t0114A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"
        "eth0\t00000000\t0114A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        "eth2\t00000000\t0114A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n";
    char iface[32];

    (void)state;
    assert_true(config_route_default_iface(table, iface, sizeof(iface)));
    assert_string_equal(iface, "eth0"); /* lowest metric among routes that are up */
    assert_false(
        config_route_default_iface("Iface\tDestination\tGateway\n"
                                   "eth1\t0014A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
                                   iface, sizeof(iface)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_route_iface),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_file_is_read_when_present, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse_after_fini, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags_over_env_over_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_list_replaces_file_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_file_from_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_value_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_repeat_and_comma, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_refuses_server_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_ignores_server_env_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_bad_value_names_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positional_and_missing_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_yaml, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_explicit_file, setup, teardown),
        cmocka_unit_test(test_usage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
