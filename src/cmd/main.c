/* SPDX-License-Identifier: Apache-2.0
 * main.c - entry point and verb table of the one k3c binary. */
#include "base/log.h"
#include "base/util.h"
#include "base/version.h"
#include "cmd/cmd.h"
#include "image/image.h"
#include "net/net.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* malloc thresholds of every verb but the agent (which sets its own). */
#define SERVER_MMAP_THRESHOLD (256 * 1024)
#define SERVER_TRIM_THRESHOLD (512 * 1024)

struct verb {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv, char **envp);
    enum config_role role;
};

static const struct verb verbs[] = {
    {"server", "run the control plane, its etcd member, the control loops and an agent", cmd_server,
     CONFIG_ROLE_SERVER},
    {"agent", "join a server and run this node's pods", cmd_agent, CONFIG_ROLE_AGENT},
    /* Verbs with their own flags (role 0): `k3c help VERB` runs VERB --help. */
    {"etcd-snapshot", "save, list, delete and prune snapshots of the local etcd member",
     cmd_etcd_snapshot, 0},
    {"lab", "a whole cluster on this host in network namespaces (as root)", cmd_lab, 0},
    {"topology", "draw the cluster: VIP, servers, etcd, agents", cmd_topology, 0},
    {"doctor", "check what an HA cluster needs and say what is wrong", cmd_doctor, 0},
    {"install", "install server|agent as a systemd service with these flags", cmd_install, 0},
    {"killall", "stop k3c and its containers, remove pod networks and mounts", cmd_killall, 0},
    {"uninstall", "killall, then remove the units, config, data and binary", cmd_uninstall, 0},
    {"certificate", "check the certificates' expiry, or rotate them (k3c stopped)", cmd_certificate,
     0},
    {"secrets-encrypt", "status of Secrets encryption at rest", cmd_secrets_encrypt, 0},
};

static void
usage(FILE *out)
{
    fprintf(out,
            "k3c %s - a lightweight, highly available Kubernetes-compatible cluster\n\n"
            "Usage: k3c <command> [flags]\n\nCommands:\n",
            K3C_VERSION);
    for (size_t i = 0; i < K3C_ARRAY_SIZE(verbs); i++)
        fprintf(out, "  %-13s %s\n", verbs[i].name, verbs[i].summary);
    fprintf(out, "  %-13s %s\n  %-13s %s\n\n", "help", "show this help, or a command's flags",
            "--version", "print the version");
    fprintf(out, "Run 'k3c <command> --help' for a command's flags.\n");
}

static const struct verb *
find_verb(const char *name)
{
    for (size_t i = 0; i < K3C_ARRAY_SIZE(verbs); i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

static int
cmd_help(int argc, char **argv)
{
    const struct verb *v;

    if (argc < 3) {
        usage(stdout);
        return K3C_EXIT_OK;
    }
    v = find_verb(argv[2]);
    if (!v) {
        fprintf(stderr, "k3c: unknown command \"%s\"\n", argv[2]);
        usage(stderr);
        return K3C_EXIT_USAGE;
    }
    if (!v->role) {
        char *help_argv[] = {argv[2], "--help", NULL};

        return v->run(2, help_argv, NULL);
    }
    printf("Usage: k3c %s [flags]\n\n%s\n\nFlags:\n", v->name, v->summary);
    config_usage(stdout, v->role);
    return K3C_EXIT_OK;
}

int
cmd_load_config(struct k3c_config *cfg, enum config_role role, const char *verb, int argc,
                char **argv, char **envp)
{
    struct k3c_err err = {0};

    switch (config_load(cfg, role, argc, argv, envp, &err)) {
    case CONFIG_OK:
        k3c_log_set_level(cfg->debug ? K3C_LOG_DEBUG : K3C_LOG_INFO);
        return -1;
    case CONFIG_HELP:
        printf("Usage: k3c %s [flags]\n\nFlags:\n", verb);
        config_usage(stdout, role);
        return K3C_EXIT_OK;
    case CONFIG_USAGE:
        fprintf(stderr, "k3c %s: %s\nRun 'k3c %s --help' for usage.\n", verb, err.msg, verb);
        return K3C_EXIT_USAGE;
    case CONFIG_ERROR:
    default:
        fprintf(stderr, "k3c %s: %s\n", verb, err.msg);
        return K3C_EXIT_FAIL;
    }
}

int
cmd_wait_signal(const sigset_t *set, int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    int sig;

    do {
        sig = ms < 0 ? sigwaitinfo(set, NULL) : sigtimedwait(set, NULL, &ts);
    } while (sig < 0 && errno == EINTR);
    return sig < 0 ? 0 : sig;
}

int
main(int argc, char **argv, char **envp)
{
    const struct verb *v;

    /* Every HTTP connection has its own thread; glibc would give each busy
     * one its own malloc arena and keep the memory of a large list reply
     * there. Two arenas keep the server's RSS close to what it uses. */
    mallopt(M_ARENA_MAX, 2);
    /* Fixed thresholds, as the agent has them: glibc raises both after a
     * large block is freed (the mmap threshold to its size, the trim
     * threshold to twice that), and it trims a second arena's top only
     * past the trim threshold (malloc_trim never does). A burst of 10,000
     * pod creates then left ~6 MB of free space at that top resident for
     * good (docs/api.md, "Session 11: the server's RSS"). */
    mallopt(M_MMAP_THRESHOLD, SERVER_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, SERVER_TRIM_THRESHOLD);

    if (argc < 2) {
        usage(stderr);
        return K3C_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0 ||
        strcmp(argv[1], "-v") == 0) {
        printf("k3c version v%s\n", k3c_version_full());
        return K3C_EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0)
        return cmd_help(argc, argv);
    /* Hidden: the image store's libarchive jobs, in a process of their own. */
    if (strcmp(argv[1], IMAGE_HELPER_VERB) == 0)
        return image_helper_main(argc - 1, argv + 1);
    /* Hidden: one nftables script, likewise (net/net_nft.c). */
    if (strcmp(argv[1], NET_NFT_HELPER_VERB) == 0)
        return net_nft_helper_main(argc - 1, argv + 1);
    net_nft_helper_enable();
    v = find_verb(argv[1]);
    if (!v) {
        fprintf(stderr, "k3c: unknown command \"%s\"\n\n", argv[1]);
        usage(stderr);
        return K3C_EXIT_USAGE;
    }
    return v->run(argc - 1, argv + 1, envp);
}
