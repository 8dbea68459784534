/* SPDX-License-Identifier: Apache-2.0
 * cmd_lab.c - `k3c lab` (a whole cluster on one host in network namespaces,
 * src/lab/), `k3c topology` and `k3c doctor`: flag parsing, printing and
 * exit codes; the work is in src/lab/. */
#define LOG_COMPONENT "lab"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "cmd/cmd.h"
#include "lab/lab.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

K3C_DEFINE_CLEANUP(struct lab_kube *, lab_kube_free)

#define DEFAULT_KUBECONFIG "/etc/k3c/k3c.yaml"

static const char lab_usage[] =
    "Usage: k3c lab <command> [--dir DIR] ...\n\n"
    "A whole k3c cluster on this host (as root): one network namespace per host\n"
    "on a bridged LAN namespace, real k3c server/agent processes, nothing added to\n"
    "the host's own addresses or routes.\n\n"
    "Commands:\n"
    "  up [--servers N] [--agents gpu,edge] [--subnet 192.168.20.0/24] [--vip .225|IP|none]\n"
    "     [--images DIR] [--timeout SECONDS] [--server-arg=--FLAG[=VALUE]]...\n"
    "                       create and start the lab (servers polynode-1..N at .221 up,\n"
    "                       agent-only hosts after them, labelled NAME=true); --images\n"
    "                       gives every host the air-gap tarballs (*.tar) of DIR\n"
    "  down                 remove everything the lab made (safe to repeat)\n"
    "  status [-o json]     hosts, processes, cables, nodes, etcd, VIP\n"
    "  kill HOST            SIGKILL every process of HOST (a power cut)\n"
    "  stop HOST            SIGTERM HOST's k3c and wait for it to exit\n"
    "  start HOST           start HOST's k3c again\n"
    "  partition HOST       pull HOST's network cable\n"
    "  heal HOST            plug it back in\n"
    "  exec HOST -- CMD...  run CMD inside HOST's network namespace\n"
    "  kubeconfig           print the path of the host-side kubeconfig\n\n"
    "Every command takes --dir DIR (default " LAB_DEFAULT_DIR ").\n";

struct lab_args {
    struct lab_options o;
    const char *output;
    int first_arg; /* index of the first positional argument after the command */
};

enum {
    OPT_SERVERS = 1000,
    OPT_AGENTS,
    OPT_SUBNET,
    OPT_VIP,
    OPT_IMAGES,
    OPT_SERVER_ARG,
    OPT_TIMEOUT,
    OPT_DIR,
    OPT_KUBECONFIG,
};

static int
parse_int(const char *s, const char *flag, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (!*s || *end || v < 0 || v > 100000) {
        fprintf(stderr, "k3c: %s %s: not a number\n", flag, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Parses the flags of `k3c lab <cmd>`; positional arguments stay at the end
 * of argv from a->first_arg (GNU getopt permutes them there). */
static int
lab_parse(int argc, char **argv, struct lab_args *a)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, OPT_DIR},
        {"servers", required_argument, NULL, OPT_SERVERS},
        {"agents", required_argument, NULL, OPT_AGENTS},
        {"subnet", required_argument, NULL, OPT_SUBNET},
        {"vip", required_argument, NULL, OPT_VIP},
        {"images", required_argument, NULL, OPT_IMAGES},
        {"server-arg", required_argument, NULL, OPT_SERVER_ARG},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;

    a->o.servers = -1;
    a->o.dir = getenv("K3C_LAB_DIR");
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DIR:
            a->o.dir = optarg;
            break;
        case OPT_SERVERS:
            if (parse_int(optarg, "--servers", &a->o.servers) < 0)
                return K3C_EXIT_USAGE;
            break;
        case OPT_AGENTS:
            a->o.agents = optarg;
            break;
        case OPT_SUBNET:
            a->o.subnet = optarg;
            break;
        case OPT_VIP:
            a->o.vip = optarg;
            break;
        case OPT_IMAGES:
            a->o.images = optarg;
            break;
        case OPT_SERVER_ARG:
            if (a->o.n_server_args >= LAB_MAX_SERVER_ARGS) {
                fprintf(stderr, "k3c lab: at most %d --server-arg\n", LAB_MAX_SERVER_ARGS);
                return K3C_EXIT_USAGE;
            }
            a->o.server_args[a->o.n_server_args++] = optarg;
            break;
        case OPT_TIMEOUT:
            if (parse_int(optarg, "--timeout", &a->o.timeout_s) < 0)
                return K3C_EXIT_USAGE;
            break;
        case 'o':
            a->output = optarg;
            break;
        case 'h':
            fputs(lab_usage, stdout);
            return K3C_EXIT_OK;
        default:
            fputs("Run 'k3c lab --help' for usage.\n", stderr);
            return K3C_EXIT_USAGE;
        }
    }
    if (a->output && strcmp(a->output, "json") != 0) {
        fprintf(stderr, "k3c lab: -o %s: only -o json is known\n", a->output);
        return K3C_EXIT_USAGE;
    }
    a->first_arg = optind;
    return -1;
}

static int
fail(const char *what, const struct k3c_err *err)
{
    fprintf(stderr, "k3c %s: %s\n", what, err->msg);
    return K3C_EXIT_FAIL;
}

static int
lab_status_cmd(const struct lab *l, const struct lab_args *a)
{
    struct k3c_err err = {0};
    _cleanup_json_ json_t *st = lab_status(l, &err);

    if (!st)
        return fail("lab status", &err);
    if (a->output) {
        json_dumpf(st, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        lab_status_print(stdout, st);
    }
    return K3C_EXIT_OK;
}

/* The verbs that act on one host of an existing lab. */
static int
lab_host_cmd(const char *cmd, const struct lab *l, const struct lab_host *h, char **rest,
             int n_rest)
{
    struct k3c_err err = {0};
    int rc = 0, n;

    if (strcmp(cmd, "kill") == 0) {
        n = lab_host_signal_all(l, h, SIGKILL);
        printf("%s: SIGKILL to %d process%s (power cut)\n", h->name, n, n == 1 ? "" : "es");
    } else if (strcmp(cmd, "stop") == 0) {
        rc = lab_host_stop(l, h, stdout, &err);
    } else if (strcmp(cmd, "start") == 0) {
        rc = lab_host_start(l, h, stdout, &err);
    } else if (strcmp(cmd, "partition") == 0 || strcmp(cmd, "heal") == 0) {
        bool up = strcmp(cmd, "heal") == 0;

        rc = lab_net_cable(l, h, up, &err);
        if (rc == 0)
            printf("%s: cable %s\n", h->name, up ? "in (healed)" : "out (partitioned)");
    } else if (strcmp(cmd, "exec") == 0) {
        if (n_rest < 1) {
            fprintf(stderr, "k3c lab exec: want: exec HOST -- CMD [ARG...]\n");
            return K3C_EXIT_USAGE;
        }
        fflush(stdout);
        rc = lab_exec(l, h, rest, &err);
        return rc < 0 ? fail("lab exec", &err) : rc;
    }
    if (rc < 0) {
        fprintf(stderr, "k3c lab %s %s: %s\n", cmd, h->name, err.msg);
        return K3C_EXIT_FAIL;
    }
    return K3C_EXIT_OK;
}

static bool
is_host_cmd(const char *cmd)
{
    static const char *const cmds[] = {"kill", "stop", "start", "partition", "heal", "exec"};

    for (size_t i = 0; i < K3C_ARRAY_SIZE(cmds); i++)
        if (strcmp(cmd, cmds[i]) == 0)
            return true;
    return false;
}

int
cmd_lab(int argc, char **argv, char **envp)
{
    struct lab_args a = {0};
    struct k3c_err err = {0};
    const char *cmd;
    struct lab l;
    int rc;

    (void)envp;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(lab_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? K3C_EXIT_USAGE : K3C_EXIT_OK;
    }
    cmd = argv[1];
    /* The CLI's own lines are its output; the parts it uses speak only of trouble. */
    k3c_log_set_level(K3C_LOG_WARN);
    rc = lab_parse(argc - 1, argv + 1, &a);
    if (rc >= 0)
        return rc;
    argc -= 1;
    argv += 1;

    if (strcmp(cmd, "up") == 0)
        return lab_up(&a.o, stdout, &err) < 0 ? fail("lab up", &err) : K3C_EXIT_OK;
    if (strcmp(cmd, "down") == 0)
        return lab_down(a.o.dir, stdout, &err) < 0 ? fail("lab down", &err) : K3C_EXIT_OK;
    if (strcmp(cmd, "forward") == 0) {
        k3c_log_set_level(K3C_LOG_INFO);
        return lab_forward_run(a.o.dir, &err) < 0 ? fail("lab forward", &err) : K3C_EXIT_OK;
    }
    if (strcmp(cmd, "status") != 0 && strcmp(cmd, "kubeconfig") != 0 && !is_host_cmd(cmd)) {
        fprintf(stderr, "k3c lab: unknown command \"%s\"\n\n%s", cmd, lab_usage);
        return K3C_EXIT_USAGE;
    }
    if (lab_load(&l, a.o.dir, &err) < 0)
        return fail("lab", &err);
    if (strcmp(cmd, "status") == 0)
        return lab_status_cmd(&l, &a);
    if (strcmp(cmd, "kubeconfig") == 0) {
        _cleanup_free_ char *kc = lab_kubeconfig_path(&l);

        printf("%s\n", kc);
        return K3C_EXIT_OK;
    }
    if (a.first_arg >= argc) {
        fprintf(stderr, "k3c lab %s: which host? (", cmd);
        for (size_t i = 0; i < l.n_hosts; i++)
            fprintf(stderr, "%s%s", i ? ", " : "", l.hosts[i].name);
        fprintf(stderr, ")\n");
        return K3C_EXIT_USAGE;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "k3c lab %s: needs root\n", cmd);
        return K3C_EXIT_FAIL;
    }
    const struct lab_host *h = lab_host_find(&l, argv[a.first_arg]);
    if (!h) {
        fprintf(stderr, "k3c lab %s: no host \"%s\" in the lab in %s\n", cmd, argv[a.first_arg],
                l.dir);
        return K3C_EXIT_USAGE;
    }
    if (strcmp(cmd, "exec") != 0 && a.first_arg + 1 < argc) {
        fprintf(stderr, "k3c lab %s: one host at a time\n", cmd);
        return K3C_EXIT_USAGE;
    }
    return lab_host_cmd(cmd, &l, h, argv + a.first_arg + 1, argc - a.first_arg - 1);
}

/* ---- k3c topology, k3c doctor ---- */

static const char topology_usage[] =
    "Usage: k3c topology [--kubeconfig FILE] [-o json]\n\n"
    "Draws the cluster from its live Node objects: the VIP and its holder, the\n"
    "servers with IP, roles and etcd membership, the agent-only nodes with their\n"
    "labels, Ready state and the etcd quorum. FILE: --kubeconfig, else $KUBECONFIG,\n"
    "else " DEFAULT_KUBECONFIG ".\n";

static const char doctor_usage[] =
    "Usage: k3c doctor [--kubeconfig FILE]\n\n"
    "Checks what an HA install needs: nodes Ready, the ports between nodes\n"
    "(6443, 2379, 2380, 10250/tcp), etcd leader and quorum margin, certificate\n"
    "expiry, clock skew, one VIP holder, server IPs as API endpoints. Run it on a\n"
    "node (k3c lab exec HOST -- k3c doctor ...) for the port checks to mean\n"
    "something. Exits 1 when a check fails.\n";

/* Parses --kubeconfig/-o; returns -1 to go on or an exit code. */
static int
kube_parse(int argc, char **argv, const char *usage, const char **kubeconfig, const char **output)
{
    static const struct option opts[] = {
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;

    *kubeconfig = getenv("KUBECONFIG");
    if (!*kubeconfig || !**kubeconfig)
        *kubeconfig = DEFAULT_KUBECONFIG;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_KUBECONFIG:
            *kubeconfig = optarg;
            break;
        case 'o':
            if (!output || strcmp(optarg, "json") != 0) {
                fprintf(stderr, "k3c: -o %s: not known here\n", optarg);
                return K3C_EXIT_USAGE;
            }
            *output = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return K3C_EXIT_OK;
        default:
            fputs(usage, stderr);
            return K3C_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "k3c: unexpected argument \"%s\"\n%s", argv[optind], usage);
        return K3C_EXIT_USAGE;
    }
    return -1;
}

int
cmd_topology(int argc, char **argv, char **envp)
{
    const char *kubeconfig = NULL, *output = NULL;
    struct k3c_err err = {0};
    _cleanup_(lab_kube_freep) struct lab_kube *k = NULL;
    _cleanup_json_ json_t *topo = NULL;
    int rc = kube_parse(argc, argv, topology_usage, &kubeconfig, &output);

    (void)envp;
    if (rc >= 0)
        return rc;
    k = lab_kube_open(kubeconfig, 5000, &err);
    if (!k)
        return fail("topology", &err);
    topo = topology_collect(k, &err);
    if (!topo)
        return fail("topology", &err);
    if (output) {
        json_dumpf(topo, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        topology_print(stdout, topo);
    }
    return K3C_EXIT_OK;
}

int
cmd_doctor(int argc, char **argv, char **envp)
{
    const char *kubeconfig = NULL;
    struct k3c_err err = {0};
    _cleanup_(lab_kube_freep) struct lab_kube *k = NULL;
    int rc = kube_parse(argc, argv, doctor_usage, &kubeconfig, NULL);

    (void)envp;
    if (rc >= 0)
        return rc;
    k = lab_kube_open(kubeconfig, 5000, &err);
    if (!k)
        return fail("doctor", &err);
    return doctor_run(k, stdout, &err) > 0 ? K3C_EXIT_FAIL : K3C_EXIT_OK;
}
