/* SPDX-License-Identifier: Apache-2.0
 * cmd_etcd_snapshot.c - `k3c etcd-snapshot save|ls|delete|prune`, K3s's
 * verb: snapshots of the local server's etcd member, taken while it runs,
 * with the server's own settings (--data-dir, --etcd-client-port,
 * --etcd-snapshot-dir, the config file). Its own flags (--name,
 * --snapshot-retention, --dir) and the names to delete are taken out of
 * argv before the server's option table reads the rest. */
#include "base/cleanup.h"
#include "base/util.h"
#include "cmd/cmd.h"
#include "cmd/server_etcdops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct snapshot_args {
    const char *sub;  /* save, ls, delete, prune */
    const char *name; /* --name */
    int retention;    /* --snapshot-retention; 0: --etcd-snapshot-retention */
    char **names;     /* delete's NAMEs */
    size_t n_names;
    char **rest; /* argv for config_load: "etcd-snapshot" + server flags */
    int n_rest;
};

static void
snapshot_usage(FILE *out)
{
    fprintf(out,
            "Usage: k3c etcd-snapshot <command> [flags]\n\n"
            "Snapshots of the local server's etcd member (the server may be running).\n\n"
            "Commands:\n"
            "  save [--name NAME]            save <dir>/NAME-<node>-<unix time> (NAME: on-demand)\n"
            "  ls                            list the snapshots in <dir> (also: list)\n"
            "  delete NAME... [flags]        delete snapshot files by name (names first)\n"
            "  prune [--name NAME] [--snapshot-retention N]\n"
            "                                keep the newest N NAME-<node>-* snapshots\n\n"
            "Flags (also every `k3c server` flag, read as the server reads them):\n"
            "  --dir, --etcd-snapshot-dir DIR   default <data-dir>/server/db/snapshots\n"
            "  --data-dir DIR, --etcd-client-port PORT, --node-name NAME, --config FILE\n");
}

/* The value of --flag V or --flag=V at argv[*i]; NULL when argv[*i] is not it. */
static const char *
flag_value(char **argv, int argc, int *i, const char *flag)
{
    size_t n = strlen(flag);

    if (strncmp(argv[*i], flag, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int
snapshot_args_parse(int argc, char **argv, struct snapshot_args *a)
{
    const char *v;
    /* delete's names follow it; the first flag ends them (a flag's value
     * cannot be told from a name without the option table). */
    bool names_open;

    a->rest = k3c_xcalloc(2 * (size_t)argc + 2, sizeof(char *)); /* --dir=V: two */
    a->names = k3c_xcalloc((size_t)argc + 1, sizeof(char *));
    a->rest[a->n_rest++] = argv[0];
    /* The command comes first, as in K3s: `k3c etcd-snapshot save --name x`. */
    if (argc < 2 || argv[1][0] == '-')
        return 0;
    a->sub = argv[1];
    names_open = strcmp(a->sub, "delete") == 0;
    for (int i = 2; i < argc; i++) {
        if (argv[i][0] == '-')
            names_open = false;
        if ((v = flag_value(argv, argc, &i, "--name"))) {
            a->name = v;
        } else if ((v = flag_value(argv, argc, &i, "--snapshot-retention"))) {
            a->retention = atoi(v);
            if (a->retention < 1) {
                fprintf(stderr, "k3c etcd-snapshot: --snapshot-retention must be at least 1\n");
                return -1;
            }
        } else if ((v = flag_value(argv, argc, &i, "--dir"))) {
            a->rest[a->n_rest++] = (char *)"--etcd-snapshot-dir";
            a->rest[a->n_rest++] = (char *)v;
        } else if (argv[i][0] != '-' && names_open) {
            a->names[a->n_names++] = argv[i];
        } else {
            a->rest[a->n_rest++] = argv[i];
        }
    }
    return 0;
}

static void
snapshot_args_fini(struct snapshot_args *a)
{
    free(a->rest);
    free(a->names);
}

static int
do_save(const struct etcd_snapshot_config *sc, const struct snapshot_args *a)
{
    struct k3c_err err = {0};
    _cleanup_free_ char *path = NULL;

    if (etcd_snapshot_save(sc, a->name ? a->name : "on-demand", &path, &err) < 0) {
        fprintf(stderr, "k3c etcd-snapshot save: %s%s%s\n", err.msg,
                err.kind == K3C_E_UNAVAILABLE ? "; is k3c server running here, its etcd at " : "",
                err.kind == K3C_E_UNAVAILABLE ? sc->client_url : "");
        return K3C_EXIT_FAIL;
    }
    printf("Snapshot %s saved.\n", strrchr(path, '/') + 1);
    return K3C_EXIT_OK;
}

static int
do_ls(const struct etcd_snapshot_config *sc)
{
    struct etcd_snapshot_list l;
    struct k3c_err err = {0};

    if (etcd_snapshot_ls(sc, &l, &err) < 0) {
        fprintf(stderr, "k3c etcd-snapshot ls: %s\n", err.msg);
        return K3C_EXIT_FAIL;
    }
    printf("%-50s %-70s %-10s %s\n", "Name", "Location", "Size", "Created");
    for (size_t i = 0; i < l.n; i++) {
        char ts[32];

        k3c_time_rfc3339(l.items[i].created, ts, sizeof(ts));
        printf("%-50s file://%-63s %-10lld %s\n", l.items[i].name, l.items[i].path, l.items[i].size,
               ts);
    }
    etcd_snapshot_list_fini(&l);
    return K3C_EXIT_OK;
}

static int
do_delete(const struct etcd_snapshot_config *sc, const struct snapshot_args *a)
{
    int rc = K3C_EXIT_OK;

    if (a->n_names == 0) {
        fprintf(stderr, "k3c etcd-snapshot delete: name the snapshots to delete\n");
        return K3C_EXIT_USAGE;
    }
    for (size_t i = 0; i < a->n_names; i++) {
        struct k3c_err err = {0};

        if (etcd_snapshot_delete(sc, a->names[i], &err) < 0) {
            fprintf(stderr, "k3c etcd-snapshot delete: %s\n", err.msg);
            rc = K3C_EXIT_FAIL;
        } else {
            printf("Snapshot %s deleted.\n", a->names[i]);
        }
    }
    return rc;
}

static int
do_prune(const struct etcd_snapshot_config *sc, const struct snapshot_args *a, int retention)
{
    struct k3c_err err = {0};
    int n = etcd_snapshot_prune(sc, a->name ? a->name : "on-demand", retention, &err);

    if (n < 0) {
        fprintf(stderr, "k3c etcd-snapshot prune: %s\n", err.msg);
        return K3C_EXIT_FAIL;
    }
    printf("Pruned %d snapshot(s); kept the newest %d.\n", n, retention);
    return K3C_EXIT_OK;
}

static int
run_sub(const struct k3c_config *cfg, const struct snapshot_args *a)
{
    struct etcd_snapshot_config sc;
    int rc;

    server_snapshot_config_init(&sc, cfg);
    if (strcmp(a->sub, "save") == 0) {
        if (!k3c_file_exists(sc.cert_file)) {
            fprintf(stderr,
                    "k3c etcd-snapshot save: no etcd client certificate at %s; is %s the data "
                    "dir of a k3c server (--data-dir)?\n",
                    sc.cert_file, cfg->data_dir);
            rc = K3C_EXIT_FAIL;
        } else {
            rc = do_save(&sc, a);
        }
    } else if (strcmp(a->sub, "ls") == 0 || strcmp(a->sub, "list") == 0) {
        rc = do_ls(&sc);
    } else if (strcmp(a->sub, "delete") == 0) {
        rc = do_delete(&sc, a);
    } else {
        rc = do_prune(&sc, a, a->retention ? a->retention : cfg->etcd_snapshot_retention);
    }
    server_snapshot_config_fini(&sc);
    return rc;
}

int
cmd_etcd_snapshot(int argc, char **argv, char **envp)
{
    static const char *const subs[] = {"save", "ls", "list", "delete", "prune"};
    struct snapshot_args a = {0};
    struct k3c_config cfg = {0};
    bool known = false;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            snapshot_usage(stdout);
            return K3C_EXIT_OK;
        }
    }
    if (snapshot_args_parse(argc, argv, &a) < 0) {
        snapshot_args_fini(&a);
        return K3C_EXIT_USAGE;
    }
    for (size_t i = 0; a.sub && i < K3C_ARRAY_SIZE(subs); i++)
        known = known || strcmp(a.sub, subs[i]) == 0;
    if (!known) {
        if (a.sub)
            fprintf(stderr, "k3c etcd-snapshot: unknown command \"%s\"\n", a.sub);
        snapshot_usage(stderr);
        snapshot_args_fini(&a);
        return K3C_EXIT_USAGE;
    }
    rc = cmd_load_config(&cfg, CONFIG_ROLE_SERVER, "etcd-snapshot", a.n_rest, a.rest, envp);
    if (rc < 0)
        rc = run_sub(&cfg, &a);
    config_fini(&cfg);
    snapshot_args_fini(&a);
    return rc;
}
