/* SPDX-License-Identifier: Apache-2.0
 * cmd_install.c - k3c install server|agent, k3c killall, k3c uninstall
 * (src/install/). Their own flags: --root DIR (everything under DIR, no
 * systemctl: tests), --with-net (killall/uninstall with --root: also this
 * network namespace's links and tables; tests run them in their own),
 * --no-start (install), --keep-data (uninstall); the
 * other flags of install are the server's or agent's, for config.yaml. */
#include "cmd/cmd.h"
#include "install/install.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct own_flags {
    const char *root;
    bool no_start, keep_data, with_net, help;
};

/* Takes --root/--no-start/--keep-data/--help out of argv (in place);
 * returns the new argc, or -1 after printing a usage error. */
static int
take_own_flags(const char *verb, int argc, char **argv, struct own_flags *f)
{
    int n = 0;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
            f->root = argv[++i];
        else if (strncmp(argv[i], "--root=", 7) == 0)
            f->root = argv[i] + 7;
        else if (strcmp(argv[i], "--root") == 0) {
            fprintf(stderr, "k3c %s: --root needs a directory\n", verb);
            return -1;
        } else if (strcmp(argv[i], "--no-start") == 0)
            f->no_start = true;
        else if (strcmp(argv[i], "--with-net") == 0)
            f->with_net = true;
        else if (strcmp(argv[i], "--keep-data") == 0)
            f->keep_data = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            f->help = true;
        else
            argv[n++] = argv[i];
    }
    if (f->root && f->root[0] != '/') {
        fprintf(stderr, "k3c %s: --root needs an absolute path\n", verb);
        return -1;
    }
    return n;
}

static bool
may_run(const char *verb, const struct own_flags *f)
{
    if (f->root || geteuid() == 0)
        return true;
    fprintf(stderr, "k3c %s: run as root (or with --root DIR for a scratch tree)\n", verb);
    return false;
}

int
cmd_install(int argc, char **argv, char **envp)
{
    struct own_flags f = {0};
    struct k3c_err err = {0};
    struct install_opts o = {.out = stdout};
    enum config_role role;
    int n;

    (void)envp;
    n = take_own_flags("install", argc - 1, argv + 1, &f);
    if (n < 0)
        return K3C_EXIT_USAGE;
    if (f.help || n < 1 || (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "agent") != 0)) {
        fprintf(f.help ? stdout : stderr,
                "Usage: k3c install server|agent [--root DIR] [--no-start] [server or agent "
                "flags]\n\n"
                "Writes the flags into /etc/k3c/config.yaml (merged with what is there), installs\n"
                "k3c.service or k3c-agent.service, enables and starts it, and prints what to run\n"
                "on the next machine. Run it again to change flags. See docs/install.md.\n");
        return f.help ? K3C_EXIT_OK : K3C_EXIT_USAGE;
    }
    if (!may_run("install", &f))
        return K3C_EXIT_FAIL;
    role = strcmp(argv[1], "server") == 0 ? CONFIG_ROLE_SERVER : CONFIG_ROLE_AGENT;
    o.root = f.root;
    o.no_start = f.no_start;
    if (install_run(&o, role, n - 1, argv + 2, &err) < 0) {
        fprintf(stderr, "k3c install %s: %s\n", argv[1], err.msg);
        return K3C_EXIT_FAIL;
    }
    return K3C_EXIT_OK;
}

static int
remove_verb(const char *verb, int argc, char **argv, bool uninstall)
{
    struct own_flags f = {0};
    struct k3c_err err = {0};
    struct install_opts o = {.out = stdout};
    int n = take_own_flags(verb, argc - 1, argv + 1, &f), rc;

    if (n < 0 || f.help || n > 0 || (f.keep_data && !uninstall) || f.no_start ||
        (f.with_net && !f.root)) {
        fprintf(n < 0 || !f.help ? stderr : stdout, "Usage: k3c %s [--root DIR [--with-net]]%s\n",
                verb, uninstall ? " [--keep-data]" : "");
        return f.help && n == 0 ? K3C_EXIT_OK : K3C_EXIT_USAGE;
    }
    if (!may_run(verb, &f))
        return K3C_EXIT_FAIL;
    o.root = f.root;
    o.with_net = f.with_net;
    rc = uninstall ? install_uninstall(&o, f.keep_data, &err) : install_killall(&o, &err);
    if (rc < 0) {
        fprintf(stderr, "k3c %s: %s\n", verb, err.msg);
        return K3C_EXIT_FAIL;
    }
    return K3C_EXIT_OK;
}

int
cmd_killall(int argc, char **argv, char **envp)
{
    (void)envp;
    return remove_verb("killall", argc, argv, false);
}

int
cmd_uninstall(int argc, char **argv, char **envp)
{
    (void)envp;
    return remove_verb("uninstall", argc, argv, true);
}
