/* SPDX-License-Identifier: Apache-2.0
 * lab_up.c - `k3c lab up`, `start`, `stop` and `status`: the network, the
 * first server (--cluster-init), the forwarder and host-side kubeconfig,
 * then the joining servers and the agents, and a wait for every node Ready,
 * with a progress line per step. What a host runs is derived from lab.json
 * every time, so `start` after `kill` runs the same command line. */
#define LOG_COMPONENT "lab"
#include "lab/lab.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "config/config.h"
#include "net/net.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LAB_SERVER_READY_MS 120000
#define LAB_STOP_WAIT_MS    30000
#define LAB_LOG_TAIL_LINES  25

K3C_DEFINE_CLEANUP(struct lab_kube *, lab_kube_free)

/* ---- feature detection: what this k3c's server accepts ---- */

static char *
server_usage(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return k3c_xstrdup("");
    config_usage(f, CONFIG_ROLE_SERVER);
    fclose(f);
    return text;
}

/* The usage line of --flag (a new string), or NULL when there is none. */
static char *
usage_line(const char *usage, const char *flag)
{
    _cleanup_free_ char *want = k3c_xasprintf("--%s ", flag);
    const char *p = strstr(usage, want), *bol, *eol;

    if (!p)
        return NULL;
    for (bol = p; bol > usage && bol[-1] != '\n'; bol--)
        ;
    eol = strchr(p, '\n');
    return k3c_xstrndup(bol, eol ? (size_t)(eol - bol) : strlen(bol));
}

/* ---- progress ---- */

struct progress {
    FILE *out;
    int64_t t0;
};

static void say(const struct progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(const struct progress *p, const char *fmt, ...)
{
    int64_t ms = k3c_now_ms() - p->t0;
    va_list ap;

    fprintf(p->out, "[%3d.%01ds] ", (int)(ms / 1000), (int)(ms % 1000 / 100));
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
}

/* Prints the last lines of a host's log, indented (an error message has
 * no room for them). */
static void
log_tail(FILE *out, const char *path)
{
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};
    size_t len;
    const char *p;
    int lines = 0;

    if (k3c_read_file(path, &text, &len, &err) < 0) {
        fprintf(out, "    (no log at %s)\n", path);
        return;
    }
    for (p = text + len; p > text; p--)
        if (p[-1] == '\n' && p != text + len && ++lines > LAB_LOG_TAIL_LINES)
            break;
    fprintf(out, "    --- last lines of %s ---\n", path);
    for (const char *line = p; *line;) {
        const char *eol = strchr(line, '\n');
        int n = eol ? (int)(eol - line) : (int)strlen(line);

        fprintf(out, "    | %.*s\n", n, line);
        line = eol ? eol + 1 : line + n;
    }
}

/* ---- host command lines ---- */

struct argv_b {
    const char *v[48];
    size_t n;
    char *owned[8];
    size_t n_owned;
};

static void
argv_add(struct argv_b *a, const char *s)
{
    if (a->n < K3C_ARRAY_SIZE(a->v) - 1)
        a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static const char *
argv_own(struct argv_b *a, char *s)
{
    if (a->n_owned < K3C_ARRAY_SIZE(a->owned))
        a->owned[a->n_owned++] = s;
    return s;
}

static void
argv_fini(struct argv_b *a)
{
    for (size_t i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
}

static const struct lab_host *
first_server(const struct lab *l)
{
    for (size_t i = 0; i < l->n_hosts; i++)
        if (l->hosts[i].role == LAB_ROLE_SERVER)
            return &l->hosts[i];
    return NULL;
}

/* The join token the first server wrote (a new string), NULL with err. */
static char *
join_token(const struct lab *l, struct k3c_err *err)
{
    _cleanup_free_ char *path = lab_host_path(l, first_server(l), "data/server/token");
    char *text = NULL;
    size_t len;

    if (k3c_read_file(path, &text, &len, err) < 0)
        return NULL;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = 0;
    return text;
}

static int
host_argv(const struct lab *l, const struct lab_host *h, struct argv_b *a, struct k3c_err *err)
{
    const struct lab_host *first = first_server(l);
    bool is_first = h == first;
    char *token = NULL;

    argv_add(a, argv_own(a, lab_self_exe()));
    argv_add(a, h->role == LAB_ROLE_SERVER ? "server" : "agent");
    argv_add(a, "--config");
    argv_add(a, argv_own(a, k3c_xasprintf("%s/empty-config.yaml", l->dir)));
    argv_add(a, "--data-dir");
    argv_add(a, argv_own(a, lab_host_path(l, h, "data")));
    argv_add(a, "--node-name");
    argv_add(a, h->name);
    /* Servers name their IP (etcd's peer URLs must not move); agent-only
     * hosts find theirs from the default route, as on a real LAN. */
    if (h->role == LAB_ROLE_SERVER) {
        argv_add(a, "--node-ip");
        argv_add(a, h->ip);
    }
    if (!is_first) {
        token = join_token(l, err);
        if (!token)
            return k3c_err_wrap(err, "%s needs the first server's token", h->name);
        argv_own(a, token);
    }
    if (h->role == LAB_ROLE_SERVER) {
        for (size_t i = 0; i < l->n_server_args; i++)
            argv_add(a, l->server_args[i]);
        argv_add(a, "--write-kubeconfig");
        argv_add(a, argv_own(a, lab_host_path(l, h, "kubeconfig.yaml")));
        if (l->vip[0]) {
            argv_add(a, "--tls-san");
            argv_add(a, l->vip);
        }
        if (l->vip_flag && l->vip[0]) {
            argv_add(a, "--vip");
            argv_add(a, argv_own(a, k3c_xasprintf("%s/%d", l->vip, l->prefix_len)));
        }
        if (is_first) {
            argv_add(a, "--cluster-init");
            argv_add(a, "--token");
            argv_add(a, l->secret);
        } else {
            argv_add(a, "--server");
            argv_add(a, argv_own(a, k3c_xasprintf("https://%s:%d", first->ip, LAB_API_PORT)));
            argv_add(a, "--token");
            argv_add(a, token);
        }
    } else {
        const char *target = l->vip_flag && l->vip[0] ? l->vip : first->ip;

        argv_add(a, "--server");
        argv_add(a, argv_own(a, k3c_xasprintf("https://%s:%d", target, LAB_API_PORT)));
        argv_add(a, "--token");
        argv_add(a, token);
        argv_add(a, "--node-label");
        argv_add(a, h->label);
    }
    return 0;
}

int
lab_host_start(const struct lab *l, const struct lab_host *h, FILE *out, struct k3c_err *err)
{
    _cleanup_free_ char *log = lab_host_path(l, h, "k3c.log");
    _cleanup_free_ char *pidfile = lab_host_path(l, h, "k3c.pid");
    struct argv_b a = {0};
    char text[32];
    pid_t pid = lab_host_pid(l, h);
    int rc = -1;

    if (pid > 0) {
        if (out)
            fprintf(out, "%s: already running (pid %d)\n", h->name, (int)pid);
        return 0;
    }
    if (host_argv(l, h, &a, err) < 0)
        goto out;
    pid = lab_spawn(h->netns, a.v, log, err);
    if (pid < 0)
        goto out;
    snprintf(text, sizeof(text), "%d\n", (int)pid);
    if (k3c_write_file(pidfile, text, strlen(text), 0644, err) < 0)
        goto out;
    if (out)
        fprintf(out, "%s: started k3c %s (pid %d, log %s)\n", h->name,
                h->role == LAB_ROLE_SERVER ? "server" : "agent", (int)pid, log);
    rc = 0;
out:
    argv_fini(&a);
    return rc;
}

int
lab_host_stop(const struct lab *l, const struct lab_host *h, FILE *out, struct k3c_err *err)
{
    pid_t pid = lab_host_pid(l, h);
    int64_t deadline = k3c_now_ms() + LAB_STOP_WAIT_MS;

    (void)err;
    if (pid <= 0) {
        fprintf(out, "%s: not running\n", h->name);
        return 0;
    }
    kill(pid, SIGTERM);
    while (lab_host_pid(l, h) > 0 && k3c_now_ms() < deadline) {
        waitpid(pid, NULL, WNOHANG);
        k3c_sleep_ms(100);
    }
    if (lab_host_pid(l, h) > 0) {
        fprintf(out, "%s: k3c (pid %d) still running %ds after SIGTERM: SIGKILL\n", h->name,
                (int)pid, LAB_STOP_WAIT_MS / 1000);
        kill(pid, SIGKILL);
    }
    fprintf(out, "%s: stopped (SIGTERM to pid %d)\n", h->name, (int)pid);
    return 0;
}

/* ---- up ---- */

static int
check_prerequisites(struct k3c_err *err)
{
    static const struct {
        const char *tool, *package;
    } tools[] = {
        {"ip", "iproute2"}, {"etcd", "etcd-server"}, {"runc", "runc"}, {"conmon", "conmon"}};

    if (geteuid() != 0)
        return k3c_err_set(err, K3C_E_INVALID,
                           "k3c lab needs root (network namespaces, mounts, containers)");
    for (size_t i = 0; i < K3C_ARRAY_SIZE(tools); i++) {
        _cleanup_free_ char *p = k3c_find_in_path(tools[i].tool);

        if (!p)
            return k3c_err_set(err, K3C_E_NOT_FOUND, "%s not found in PATH (Debian package %s)",
                               tools[i].tool, tools[i].package);
    }
    return 0;
}

static int
copy_file(const char *from, const char *to, struct k3c_err *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len;

    if (link(from, to) == 0)
        return 0;
    if (k3c_read_file(from, &data, &len, err) < 0)
        return -1;
    return k3c_write_file(to, data, len, 0644, err);
}

/* Gives each host the air-gap tarballs (*.tar) of dir; returns how many. */
static int
install_images(const struct lab *l, const char *dir, struct k3c_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return k3c_err_sys(err, errno, "--images %s", dir);
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);

        if (len < 5 || strcmp(e->d_name + len - 4, ".tar") != 0)
            continue;
        for (size_t i = 0; i < l->n_hosts; i++) {
            _cleanup_free_ char *idir = lab_host_path(l, &l->hosts[i], "data/agent/images");
            _cleanup_free_ char *from = k3c_xasprintf("%s/%s", dir, e->d_name);
            _cleanup_free_ char *to = k3c_xasprintf("%s/%s", idir, e->d_name);

            if (k3c_mkdir_p(idir, 0755, err) < 0 || copy_file(from, to, err) < 0) {
                closedir(d);
                return -1;
            }
        }
        n++;
    }
    closedir(d);
    return n;
}

static int
make_dirs(const struct lab *l, struct k3c_err *err)
{
    _cleanup_free_ char *empty = k3c_xasprintf("%s/empty-config.yaml", l->dir);
    static const char text[] = "# k3c lab: every setting is a flag on the command line\n";

    for (size_t i = 0; i < l->n_hosts; i++) {
        _cleanup_free_ char *d = lab_host_path(l, &l->hosts[i], "data");

        if (k3c_mkdir_p(d, 0700, err) < 0)
            return -1;
    }
    return k3c_write_file(empty, text, strlen(text), 0644, err);
}

static bool
server_ready(const struct lab *l, const struct lab_host *h)
{
    _cleanup_free_ char *log = lab_host_path(l, h, "k3c.log");
    _cleanup_free_ char *kc = lab_host_path(l, h, "kubeconfig.yaml");
    _cleanup_free_ char *tok = lab_host_path(l, h, "data/server/token");
    _cleanup_free_ char *text = NULL;
    struct k3c_err err = {0};
    size_t len;

    /* The first server's token is what the others join with. */
    if (!k3c_file_exists(kc) || (h == first_server(l) && !k3c_file_exists(tok)))
        return false;
    if (k3c_read_file(log, &text, &len, &err) < 0)
        return false;
    return strstr(text, "k3c server ready") != NULL;
}

static int
host_died(FILE *out, const struct lab *l, const struct lab_host *h, struct k3c_err *err)
{
    _cleanup_free_ char *log = lab_host_path(l, h, "k3c.log");

    log_tail(out, log);
    return k3c_err_set(err, K3C_E_INTERNAL, "%s: k3c exited before it was ready (log: %s)", h->name,
                       log);
}

/* <dir>/kubeconfig.yaml: the first server's admin kubeconfig with the
 * forwarder's address. */
static int
write_host_kubeconfig(const struct lab *l, struct k3c_err *err)
{
    _cleanup_free_ char *src = lab_host_path(l, first_server(l), "kubeconfig.yaml");
    _cleanup_free_ char *dst = lab_kubeconfig_path(l);
    _cleanup_free_ char *text = NULL;
    struct k3c_buf b;
    const char *p;
    size_t len;
    int rc;

    if (k3c_read_file(src, &text, &len, err) < 0)
        return -1;
    p = strstr(text, "server: https://");
    if (!p)
        return k3c_err_set(err, K3C_E_INVALID, "%s: no server line", src);
    k3c_buf_init(&b);
    k3c_buf_append(&b, text, (size_t)(p - text));
    k3c_buf_appendf(&b, "server: https://127.0.0.1:%d", l->port);
    p = strchr(p, '\n');
    if (p)
        k3c_buf_append(&b, p, strlen(p));
    rc = k3c_write_file(dst, b.data, b.len, 0600, err);
    k3c_buf_fini(&b);
    return rc;
}

static const char *
ready_status(const json_t *node)
{
    size_t i;
    json_t *c;

    json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", "Ready") == 0)
            return json_string_value(json_object_get(c, "status"));
    }
    return NULL;
}

/* The node object of each host from the API (borrowed from *list). */
static json_t *
nodes_get(const struct lab *l, long timeout_ms, struct k3c_err *err)
{
    _cleanup_free_ char *kc = lab_kubeconfig_path(l);
    _cleanup_(lab_kube_freep) struct lab_kube *k = lab_kube_open(kc, timeout_ms, err);

    if (!k)
        return NULL;
    return lab_kube_get(k, "/api/v1/nodes", err);
}

static const json_t *
node_of(const json_t *list, const char *name)
{
    size_t i;
    json_t *n;

    json_array_foreach(json_object_get(list, "items"), i, n)
    {
        const char *nn = json_string_value(json_object_get(json_object_get(n, "metadata"), "name"));

        if (nn && strcmp(nn, name) == 0)
            return n;
    }
    return NULL;
}

static const char *
annotation(const json_t *node, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(node, "metadata"), "annotations"), key));
}

/* Waits for every host's node to be Ready; a host whose k3c dies fails it. */
static int
wait_nodes_ready(const struct lab *l, const struct progress *p, int timeout_s, struct k3c_err *err)
{
    int64_t deadline = k3c_now_ms() + (int64_t)timeout_s * 1000;
    bool ready[LAB_MAX_HOSTS] = {0};
    size_t n_ready = 0;

    while (n_ready < l->n_hosts) {
        struct k3c_err e2 = {0};
        _cleanup_json_ json_t *list = nodes_get(l, 3000, &e2);

        for (size_t i = 0; i < l->n_hosts; i++) {
            const struct lab_host *h = &l->hosts[i];
            const char *st;

            if (ready[i])
                continue;
            if (lab_host_pid(l, h) <= 0)
                return host_died(p->out, l, h, err);
            st = list ? ready_status(node_of(list, h->name)) : NULL;
            if (st && strcmp(st, "True") == 0) {
                ready[i] = true;
                n_ready++;
                say(p, "node %s Ready (%zu/%zu)", h->name, n_ready, l->n_hosts);
            }
        }
        if (n_ready == l->n_hosts)
            break;
        if (k3c_now_ms() > deadline) {
            for (size_t i = 0; i < l->n_hosts; i++) {
                _cleanup_free_ char *log = lab_host_path(l, &l->hosts[i], "k3c.log");

                if (!ready[i])
                    log_tail(p->out, log);
            }
            return k3c_err_set(err, K3C_E_TIMEOUT, "%zu of %zu nodes Ready after %d s%s%s", n_ready,
                               l->n_hosts, timeout_s, list ? "" : ": ", list ? "" : e2.msg);
        }
        k3c_sleep_ms(250);
    }
    return 0;
}

struct cluster_view {
    int servers, voters, learners, annotated;
    const char *leader, *holder; /* borrowed from the lab */
};

static void
cluster_view(const struct lab *l, const json_t *list, struct cluster_view *v)
{
    memset(v, 0, sizeof(*v));
    for (size_t i = 0; i < l->n_hosts; i++) {
        const json_t *n = node_of(list, l->hosts[i].name);
        const char *m = n ? annotation(n, "etcd.k3c.io/member") : NULL;

        v->servers += l->hosts[i].role == LAB_ROLE_SERVER;
        if (m) {
            v->annotated++;
            if (strcmp(m, "learner") == 0)
                v->learners++;
            else
                v->voters++;
            if (strcmp(m, "leader") == 0)
                v->leader = l->hosts[i].name;
        }
        if (n && annotation(n, "vip.k3c.io/holder"))
            v->holder = l->hosts[i].name;
    }
}

/* Waits (bounded, never failing) for what the servers say about etcd and
 * the VIP to settle: every server a voter with one leader, the VIP held.
 * Servers that do not publish these annotations are not waited for. */
static void
wait_cluster_settled(const struct lab *l, const struct progress *p)
{
    int64_t deadline = k3c_now_ms() + 60000;
    struct cluster_view v = {0};

    for (;;) {
        struct k3c_err err = {0};
        _cleanup_json_ json_t *list = nodes_get(l, 3000, &err);
        bool etcd_ok, vip_ok;

        if (list)
            cluster_view(l, list, &v);
        etcd_ok = !v.annotated || (v.voters == v.servers && v.leader);
        vip_ok = !(l->vip_flag && l->vip[0]) || v.holder;
        if ((list && etcd_ok && vip_ok) || k3c_now_ms() > deadline)
            break;
        k3c_sleep_ms(250);
    }
    if (v.annotated)
        say(p, "etcd: %d of %d servers voters, %d learner%s, leader %s%s", v.voters, v.servers,
            v.learners, v.learners == 1 ? "" : "s", v.leader ? v.leader : "none",
            v.voters == v.servers && v.leader ? "" : " (not settled after 60 s)");
    if (l->vip[0])
        say(p, "VIP %s: %s%s", l->vip,
            v.holder ? "held by "
                     : (l->vip_flag ? "not held after 60 s" : "not supported by this k3c"),
            v.holder ? v.holder : "");
}

static int
wait_server_ready(const struct lab *l, const struct lab_host *h, FILE *out, struct k3c_err *err)
{
    int64_t deadline = k3c_now_ms() + LAB_SERVER_READY_MS;

    while (!server_ready(l, h)) {
        if (lab_host_pid(l, h) <= 0)
            return host_died(out, l, h, err);
        if (k3c_now_ms() > deadline) {
            _cleanup_free_ char *log = lab_host_path(l, h, "k3c.log");

            log_tail(out, log);
            return k3c_err_set(err, K3C_E_TIMEOUT, "%s: not ready after %d s (log: %s)", h->name,
                               LAB_SERVER_READY_MS / 1000, log);
        }
        k3c_sleep_ms(100);
    }
    return 0;
}

/* Starts the joining servers one at a time (etcd takes one new member at
 * a time), or all agents at once. */
static int
start_hosts(const struct lab *l, bool servers, const struct progress *p, struct k3c_err *err)
{
    const struct lab_host *first = first_server(l);

    for (size_t i = 0; i < l->n_hosts; i++) {
        const struct lab_host *h = &l->hosts[i];

        if (h == first || (h->role == LAB_ROLE_SERVER) != servers)
            continue;
        if (lab_host_start(l, h, NULL, err) < 0)
            return k3c_err_wrap(err, "%s", h->name);
        say(p, "%s (%s) started: k3c %s%s%s", h->name, h->ip, servers ? "server" : "agent",
            h->label[0] ? ", label " : "", h->label);
        if (servers) {
            if (wait_server_ready(l, h, p->out, err) < 0)
                return -1;
            say(p, "%s: API server ready (joined)", h->name);
        }
    }
    return 0;
}

static int
up_existing(const struct lab_options *o, FILE *out, const char *dir, struct k3c_err *err)
{
    struct lab l;
    _cleanup_free_ char *lan = NULL;
    _cleanup_json_ json_t *st = NULL;

    if (lab_load(&l, dir, err) < 0)
        return -1;
    lan = k3c_xasprintf("/run/netns/%s-lan", l.prefix);
    if (!net_netns_is_pinned(lan))
        return k3c_err_set(err, K3C_E_EXISTS,
                           "%s holds a lab that is not running (its network is gone): "
                           "k3c lab down --dir %s, then up again",
                           dir, dir);
    if (o->subnet && strcmp(o->subnet, l.subnet) != 0)
        fprintf(out, "note: the lab runs subnet %s (not %s): k3c lab down first to change it\n",
                l.subnet, o->subnet);
    fprintf(out, "lab in %s is up already; nothing changed\n", l.dir);
    st = lab_status(&l, err);
    if (!st)
        return -1;
    lab_status_print(out, st);
    for (size_t i = 0; i < l.n_hosts; i++)
        if (lab_host_pid(&l, &l.hosts[i]) <= 0)
            fprintf(out, "note: %s is down: k3c lab start %s --dir %s\n", l.hosts[i].name,
                    l.hosts[i].name, l.dir);
    return 0;
}

int
lab_up(const struct lab_options *o, FILE *out, struct k3c_err *err)
{
    _cleanup_free_ char *dir = lab_dir_resolve(o->dir);
    _cleanup_free_ char *state = k3c_xasprintf("%s/lab.json", dir);
    _cleanup_free_ char *usage = server_usage();
    _cleanup_free_ char *kc = NULL;
    struct progress p = {.out = out, .t0 = k3c_now_ms()};
    struct lab_options opts = *o;
    const struct lab_host *first;
    struct lab *l;
    int rc = -1;

    if (check_prerequisites(err) < 0)
        return -1;
    if (k3c_file_exists(state))
        return up_existing(o, out, dir, err);
    if (opts.servers < 0)
        opts.servers = 3;
    l = k3c_xcalloc(1, sizeof(*l));
    if (lab_plan(l, &opts, err) < 0)
        goto out;
    {
        _cleanup_free_ char *vip_line = usage_line(usage, "vip");

        l->vip_flag = vip_line != NULL;
    }
    if (k3c_mkdir_p(l->dir, 0700, err) < 0 || make_dirs(l, err) < 0 || lab_save(l, err) < 0)
        goto out;
    say(&p, "lab %s: %zu hosts on %s (names %s-*)", l->dir, l->n_hosts, l->subnet, l->prefix);

    if (lab_net_up(l, err) < 0)
        goto out;
    say(&p, "network: LAN %s-lan with bridge %sbr (router %s), %zu host namespaces", l->prefix,
        l->prefix, l->router_ip, l->n_hosts);
    if (o->images) {
        int n = install_images(l, o->images, err);

        if (n < 0)
            goto out;
        say(&p, "air-gap images: %d tarball%s from %s on every host", n, n == 1 ? "" : "s",
            o->images);
    }

    first = first_server(l);
    if (lab_host_start(l, first, NULL, err) < 0)
        goto out;
    say(&p, "%s (%s) started: k3c server --cluster-init", first->name, first->ip);
    if (wait_server_ready(l, first, out, err) < 0)
        goto out;
    say(&p, "%s: API server ready", first->name);

    if (lab_forward_start(l, err) < 0 || write_host_kubeconfig(l, err) < 0 || lab_save(l, err) < 0)
        goto out;
    kc = lab_kubeconfig_path(l);
    say(&p, "API forwarder on 127.0.0.1:%d (kubeconfig %s)", l->port, kc);

    if (start_hosts(l, true, &p, err) < 0 || start_hosts(l, false, &p, err) < 0)
        goto out;
    if (wait_nodes_ready(l, &p, o->timeout_s > 0 ? o->timeout_s : 180, err) < 0)
        goto out;
    wait_cluster_settled(l, &p);
    say(&p, "lab up: %zu nodes Ready", l->n_hosts);
    fprintf(out,
            "\nNext:\n  export KUBECONFIG=%s\n  kubectl get nodes -o wide\n"
            "  k3c topology --kubeconfig %s\n  k3c lab status --dir %s\n"
            "  k3c lab exec %s --dir %s -- ip addr\n  k3c lab down --dir %s\n",
            kc, kc, l->dir, first->name, l->dir, l->dir);
    rc = 0;
out:
    if (rc < 0)
        fprintf(out, "lab up failed; what it made stays for a look: k3c lab down --dir %s\n", dir);
    free(l);
    return rc;
}

/* ---- status ---- */

json_t *
lab_status(const struct lab *l, struct k3c_err *err)
{
    _cleanup_free_ char *kc = lab_kubeconfig_path(l);
    _cleanup_free_ char *fwd_pidfile = k3c_xasprintf("%s/forwarder.pid", l->dir);
    _cleanup_free_ char *fwd_pid_text = NULL;
    struct k3c_err api_err = {0}, e2 = {0};
    _cleanup_json_ json_t *list = nodes_get(l, 3000, &api_err);
    json_t *hosts = json_array(), *st;
    const char *holder = NULL;
    long fwd_pid = 0;
    size_t len;

    (void)err;
    if (k3c_read_file(fwd_pidfile, &fwd_pid_text, &len, &e2) == 0)
        fwd_pid = strtol(fwd_pid_text, NULL, 10);
    for (size_t i = 0; i < l->n_hosts; i++) {
        const struct lab_host *h = &l->hosts[i];
        const json_t *n = list ? node_of(list, h->name) : NULL;
        const char *ready = n ? ready_status(n) : NULL;
        const char *member = n ? annotation(n, "etcd.k3c.io/member") : NULL;
        int cable = lab_net_cable_state(l, h, &e2);
        pid_t pid = lab_host_pid(l, h);
        json_t *jh;

        if (n && annotation(n, "vip.k3c.io/holder"))
            holder = h->name;
        jh = json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:s}", "name", h->name, "role",
                       h->role == LAB_ROLE_SERVER ? "server" : "agent", "ip", h->ip, "netns",
                       h->netns, "running", pid > 0, "pid", (int)pid, "cable",
                       cable < 0 ? "unknown"
                       : cable   ? "in"
                                 : "out");
        json_object_set_new(jh, "label", json_string(h->label));
        json_object_set_new(jh, "ready",
                            !list                        ? json_null()
                            : !ready                     ? json_string("absent")
                            : strcmp(ready, "True") == 0 ? json_string("Ready")
                                                         : json_string("NotReady"));
        json_object_set_new(jh, "etcd", member ? json_string(member) : json_null());
        json_array_append_new(hosts, jh);
    }
    st = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "dir", l->dir, "subnet", l->subnet, "vip",
                   l->vip, "kubeconfig", kc, "forwarder",
                   json_pack("{s:i, s:b, s:i}", "pid", (int)fwd_pid, "running",
                             fwd_pid > 0 && kill((pid_t)fwd_pid, 0) == 0, "port", l->port),
                   "hosts", hosts);
    json_object_set_new(st, "vip_holder", holder ? json_string(holder) : json_null());
    json_object_set_new(st, "api", json_string(list ? "ok" : api_err.msg));
    return st;
}

void
lab_status_print(FILE *out, const json_t *st)
{
    const json_t *fwd = json_object_get(st, "forwarder");
    const char *vip = json_string_value(json_object_get(st, "vip"));
    const char *holder = json_string_value(json_object_get(st, "vip_holder"));
    size_t i;
    json_t *h;

    fprintf(out, "lab %s: subnet %s", json_string_value(json_object_get(st, "dir")),
            json_string_value(json_object_get(st, "subnet")));
    if (vip && *vip)
        fprintf(out, ", VIP %s (%s%s)", vip, holder ? "held by " : "not held",
                holder ? holder : "");
    fprintf(out, "\nAPI https://127.0.0.1:%d via forwarder (%s): %s\nkubeconfig %s\n\n",
            (int)json_integer_value(json_object_get(fwd, "port")),
            json_is_true(json_object_get(fwd, "running")) ? "running" : "NOT running",
            json_string_value(json_object_get(st, "api")),
            json_string_value(json_object_get(st, "kubeconfig")));
    {
        int voters = 0, learners = 0;
        const char *leader = NULL;

        json_array_foreach(json_object_get(st, "hosts"), i, h)
        {
            const char *m = json_string_value(json_object_get(h, "etcd"));

            if (!m)
                continue;
            if (strcmp(m, "learner") == 0)
                learners++;
            else
                voters++;
            if (strcmp(m, "leader") == 0)
                leader = json_string_value(json_object_get(h, "name"));
        }
        if (voters || learners)
            fprintf(out, "etcd: %d voter%s, %d learner%s, leader %s\n\n", voters,
                    voters == 1 ? "" : "s", learners, learners == 1 ? "" : "s",
                    leader ? leader : "none");
    }
    fprintf(out, "%-12s %-7s %-15s %-14s %-6s %-9s %-8s %s\n", "HOST", "ROLE", "IP", "PROCESS",
            "CABLE", "NODE", "ETCD", "LABELS");
    json_array_foreach(json_object_get(st, "hosts"), i, h)
    {
        char proc[32];
        const json_t *ready = json_object_get(h, "ready");
        const char *etcd = json_string_value(json_object_get(h, "etcd"));
        const char *label = json_string_value(json_object_get(h, "label"));

        if (json_is_true(json_object_get(h, "running")))
            snprintf(proc, sizeof(proc), "running %d",
                     (int)json_integer_value(json_object_get(h, "pid")));
        else
            snprintf(proc, sizeof(proc), "down");
        fprintf(out, "%-12s %-7s %-15s %-14s %-6s %-9s %-8s %s\n",
                json_string_value(json_object_get(h, "name")),
                json_string_value(json_object_get(h, "role")),
                json_string_value(json_object_get(h, "ip")), proc,
                json_string_value(json_object_get(h, "cable")),
                json_is_string(ready) ? json_string_value(ready) : "?", etcd ? etcd : "-",
                label && *label ? label : "-");
    }
}
