/* SPDX-License-Identifier: Apache-2.0
 * net_ipt.c - the process's netfilter backend and the iptables runner
 * (ipt.h): iptables-restore/-save run as programs (no maintained library
 * drives legacy iptables; libiptc is internal to the iptables package and
 * unstable), their save text read only for k3c's own chain names and jumps. */
#include "net/ipt.h"
#include "net/net.h"

#include "base/cleanup.h"
#include "base/util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define IPT_TIMEOUT_MS 60000
#define IPT_LOCK_TRIES 10
#define IPT_LOCK_WAIT  300

static _Atomic int backend = NET_NETFILTER_NFTABLES;

int
net_netfilter_parse(const char *s, enum net_netfilter *out, bool *automatic, struct k3c_err *err)
{
    *automatic = false;
    if (!s || strcmp(s, "auto") == 0) {
        *automatic = true;
        *out = NET_NETFILTER_NFTABLES;
    } else if (strcmp(s, "nftables") == 0) {
        *out = NET_NETFILTER_NFTABLES;
    } else if (strcmp(s, "iptables") == 0) {
        *out = NET_NETFILTER_IPTABLES;
    } else {
        return k3c_err_set(err, K3C_E_INVALID,
                           "netfilter backend \"%s\": auto, nftables or iptables wanted", s);
    }
    return 0;
}

const char *
net_netfilter_name(enum net_netfilter b)
{
    return b == NET_NETFILTER_IPTABLES ? "iptables" : "nftables";
}

void
net_netfilter_set(enum net_netfilter b)
{
    atomic_store(&backend, (int)b);
}

enum net_netfilter
net_netfilter(void)
{
    return (enum net_netfilter)atomic_load(&backend);
}

/* ---- the programs ------------------------------------------------------------ */

const char *
ipt_program(const char *tool, struct k3c_err *err)
{
    static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
    static _Thread_local char path[64];
    const char *names[] = {"iptables-legacy", "iptables"};

    for (size_t n = 0; n < K3C_ARRAY_SIZE(names); n++)
        for (size_t d = 0; d < K3C_ARRAY_SIZE(dirs); d++) {
            if (*tool)
                snprintf(path, sizeof(path), "%s/%s-%s", dirs[d], names[n], tool);
            else
                snprintf(path, sizeof(path), "%s/%s", dirs[d], names[n]);
            if (access(path, X_OK) == 0)
                return path;
        }
    k3c_err_set(err, K3C_E_NOT_FOUND,
                "iptables backend: neither iptables-legacy%s%s nor iptables%s%s found in "
                "/usr/sbin or /sbin " IPT_DEB_HINT,
                *tool ? "-" : "", tool, *tool ? "-" : "", tool);
    return NULL;
}

/* Runs argv with input; stdout into *out (may be NULL). */
static int
ipt_run(const char *const *argv, const char *input, char **out, struct k3c_err *err)
{
    for (int attempt = 0;; attempt++) {
        struct net_run_opts o = {.argv = argv,
                                 .input = input,
                                 .input_len = input ? strlen(input) : 0,
                                 .timeout_ms = IPT_TIMEOUT_MS};
        struct net_run_result r = {0};
        bool locked;

        if (net_run(&o, &r, err) < 0)
            return -1;
        if (r.exit_code == 0) {
            if (out)
                *out = k3c_xstrdup(r.out ? r.out : "");
            net_run_result_fini(&r);
            return 0;
        }
        locked = r.errout && strstr(r.errout, "xtables lock");
        if (!locked || attempt + 1 >= IPT_LOCK_TRIES) {
            /* restore names the failing line: keep the message short */
            size_t len = r.errout ? strcspn(r.errout, "\n") : 0;

            k3c_err_set(err, K3C_E_SYSTEM, "%s: %.*s (exit %d)", argv[0], (int)len,
                        len ? r.errout : "failed", r.exit_code);
            net_run_result_fini(&r);
            return -1;
        }
        net_run_result_fini(&r);
        k3c_sleep_ms(IPT_LOCK_WAIT);
    }
}

int
ipt_restore(const char *payload, struct k3c_err *err)
{
    const char *prog = ipt_program("restore", err);
    const char *argv[] = {prog, "--noflush", NULL};

    if (!prog)
        return -1;
    return ipt_run(argv, payload, NULL, err);
}

char *
ipt_save(const char *table, struct k3c_err *err)
{
    const char *prog = ipt_program("save", err);
    const char *argv[] = {prog, "-t", table, NULL};
    char *out = NULL;

    if (!prog || ipt_run(argv, NULL, &out, err) < 0)
        return NULL;
    return out;
}

bool
ipt_random_fully(void)
{
    static _Atomic int known = -1;
    int v = atomic_load(&known);

    if (v < 0) {
        struct k3c_err err = {0};
        const char *prog = ipt_program("", &err);
        const char *argv[] = {prog, "-j", "MASQUERADE", "--help", NULL};
        _cleanup_free_ char *out = NULL;

        v = prog && ipt_run(argv, NULL, &out, &err) == 0 && strstr(out, "random-fully") ? 1 : 0;
        atomic_store(&known, v);
    }
    return v == 1;
}

/* ---- the save text (pure) -------------------------------------------------------- */

/* The next line of text: *len its length without the newline; NULL at the end. */
static const char *
next_line(const char **cursor, size_t *len)
{
    const char *line = *cursor;

    if (!line || !*line)
        return NULL;
    *len = strcspn(line, "\n");
    *cursor = line[*len] ? line + *len + 1 : NULL;
    return line;
}

bool
ipt_save_has_jump(const char *save, const char *chain, const char *target)
{
    _cleanup_free_ char *head = k3c_xasprintf("-A %s ", chain);
    _cleanup_free_ char *tail = k3c_xasprintf(" -j %s", target);
    size_t hl = strlen(head), tl = strlen(tail), len;
    const char *cur = save, *line;

    while ((line = next_line(&cur, &len))) {
        if (len >= hl + tl && strncmp(line, head, hl) == 0 &&
            strncmp(line + len - tl, tail, tl) == 0)
            return true;
        /* "-A CHAIN -j TARGET" has no space between head and tail */
        if (len + 1 == hl + tl && strncmp(line, head, hl - 1) == 0 &&
            strncmp(line + hl - 1, tail, tl) == 0)
            return true;
    }
    return false;
}

void
ipt_jumps_ensure(struct k3c_buf *b, const char *save, const struct ipt_jump *jumps, size_t n)
{
    for (size_t i = n; i-- > 0;)
        if (!ipt_save_has_jump(save, jumps[i].chain, jumps[i].target))
            k3c_buf_appendf(b, "-I %s 1 %s%s-j %s\n", jumps[i].chain, jumps[i].match,
                            *jumps[i].match ? " " : "", jumps[i].target);
}

static bool
owned(const char *name, size_t len, const char *prefix, const char *except)
{
    size_t pl = strlen(prefix), el = except ? strlen(except) : 0;

    return len >= pl && strncmp(name, prefix, pl) == 0 &&
           !(except && len >= el && strncmp(name, except, el) == 0);
}

void
ipt_save_chains(const char *save, const char *prefix, json_t *out)
{
    const char *cur = save, *line;
    size_t len;

    while ((line = next_line(&cur, &len))) {
        size_t n;

        if (line[0] != ':' || len < 2)
            continue;
        n = strcspn(line + 1, " \n");
        if (owned(line + 1, n, prefix, NULL)) {
            _cleanup_free_ char *name = k3c_xstrndup(line + 1, n);

            json_object_set_new(out, name, json_true());
        }
    }
}

void
ipt_remove_script(struct k3c_buf *b, const char *save, const char *prefix, const char *except)
{
    _cleanup_json_ json_t *chains = json_object(), *mine = json_object();
    const char *name, *cur = save, *line;
    size_t len;
    json_t *v;

    ipt_save_chains(save, prefix, chains);
    json_object_foreach(chains, name, v)
    {
        if (owned(name, strlen(name), prefix, except))
            json_object_set(mine, name, v);
    }
    if (!json_object_size(mine))
        return;
    /* rules of chains k3c does not own that jump to one that goes */

    while ((line = next_line(&cur, &len))) {
        const char *j = NULL;
        size_t chain_len;

        if (strncmp(line, "-A ", 3) != 0)
            continue;
        chain_len = strcspn(line + 3, " \n");
        if (owned(line + 3, chain_len, prefix, NULL))
            continue;
        for (const char *p = line; (p = strstr(p, " -j ")) && p < line + len; p += 4)
            j = p + 4;
        if (j) {
            _cleanup_free_ char *target = k3c_xstrndup(j, strcspn(j, " \n"));

            if (json_object_get(mine, target))
                k3c_buf_appendf(b, "-D %.*s\n", (int)(len - 3), line + 3);
        }
    }
    json_object_foreach(mine, name, v) k3c_buf_appendf(b, ":%s - [0:0]\n", name);
    json_object_foreach(mine, name, v) k3c_buf_appendf(b, "-X %s\n", name);
}

int
ipt_remove_chains(const char *prefix, const char *except, struct k3c_err *err)
{
    static const char *const tables[] = {"nat", "filter"};
    struct k3c_err none = {0};
    struct k3c_buf all;
    int rc = 0, removed = 0;

    if (!ipt_program("restore", &none))
        return 0;
    k3c_buf_init(&all);
    for (size_t t = 0; t < K3C_ARRAY_SIZE(tables) && rc == 0; t++) {
        _cleanup_free_ char *save = ipt_save(tables[t], err);
        struct k3c_buf one;

        if (!save) {
            rc = -1;
            break;
        }
        k3c_buf_init(&one);
        ipt_remove_script(&one, save, prefix, except);
        if (one.len)
            k3c_buf_appendf(&all, "*%s\n%.*sCOMMIT\n", tables[t], (int)one.len, one.data);
        for (const char *p = one.data; one.len && (p = strstr(p, "\n-X ")); p++)
            removed++;
        if (one.len && strncmp(one.data, "-X ", 3) == 0)
            removed++;
        k3c_buf_fini(&one);
    }
    if (rc == 0 && all.len)
        rc = ipt_restore(all.data, err);
    k3c_buf_fini(&all);
    return rc < 0 ? -1 : removed;
}
