/* SPDX-License-Identifier: Apache-2.0
 * ipt.h - the node's netfilter backend (issue #19): nftables (the default,
 * through libnftables) or iptables for kernels without nf_tables (L4T R32's
 * 4.9), and the iptables runner (net_ipt.c). The choice is made once per
 * process (the agent, at start) and read by the service proxy, the pod
 * network's masquerade and NetworkPolicy.
 *
 * Under iptables k3c owns only chains named K3C-*: every change is one
 * `iptables-restore --noflush` run (one atomic commit per table) that
 * declares (and so flushes) the chains it rewrites, deletes the ones gone,
 * and inserts the jumps from the built-in chains only when iptables-save
 * shows them missing. iptables-legacy-restore/-save are preferred (the
 * iptables-nft variants need nf_tables too); else iptables-restore/-save.
 * Every call acts on the calling thread's network namespace. */
#ifndef K3C_NET_IPT_H
#define K3C_NET_IPT_H

#include <jansson.h>
#include <stdbool.h>

#include "base/buf.h"
#include "base/err.h"

enum net_netfilter {
    NET_NETFILTER_NFTABLES = 0,
    NET_NETFILTER_IPTABLES,
};

/* "auto" (-> *automatic true), "nftables" or "iptables". INVALID. */
int net_netfilter_parse(const char *s, enum net_netfilter *out, bool *automatic,
                        struct k3c_err *err);
const char *net_netfilter_name(enum net_netfilter b);
/* The process's backend; nftables until set. Thread: any (set before the
 * threads that read it start). */
void net_netfilter_set(enum net_netfilter b);
enum net_netfilter net_netfilter(void);

#define IPT_PREFIX   "K3C-"
#define IPT_DEB_HINT "(Debian package iptables)"

/* The program for tool "restore" or "save" (iptables-legacy-<tool> when
 * present, else iptables-<tool>), or NULL with NOT_FOUND naming the
 * package. Thread: any. */
const char *ipt_program(const char *tool, struct k3c_err *err);

/* Runs payload through `iptables-restore --noflush` (retried a few times
 * while another program holds the xtables lock). SYSTEM with its message. */
int ipt_restore(const char *payload, struct k3c_err *err);

/* `iptables-save -t table` as text (caller free()s), or NULL with err. */
char *ipt_save(const char *table, struct k3c_err *err);

/* Whether MASQUERADE takes --random-fully (iptables >= 1.6.2). */
bool ipt_random_fully(void);

/* A jump from a built-in chain: "-A <chain> <match> -j <target>". */
struct ipt_jump {
    const char *chain;  /* PREROUTING, INPUT, ... */
    const char *match;  /* "" or e.g. "-m conntrack --ctstate NEW" */
    const char *target; /* a K3C- chain */
};

/* Pure. Whether save (iptables-save text of one table) holds a rule in
 * chain jumping to target. */
bool ipt_save_has_jump(const char *save, const char *chain, const char *target);
/* Pure. Appends "-I <chain> 1 <match> -j <target>" for each jump save
 * lacks, in reverse so the first listed ends up first. */
void ipt_jumps_ensure(struct k3c_buf *b, const char *save, const struct ipt_jump *jumps, size_t n);
/* Pure. Adds to out (name -> true) the chains of save whose name starts
 * with prefix. */
void ipt_save_chains(const char *save, const char *prefix, json_t *out);
/* Pure. For one table's save text: the restore lines that delete every
 * rule of a chain k3c does not own jumping to a chain named prefix* (but
 * not except*; except may be NULL), then flush and delete those chains.
 * Appends nothing when there is none. */
void ipt_remove_script(struct k3c_buf *b, const char *save, const char *prefix, const char *except);

/* The same on the node's nat and filter tables. Returns the number of
 * chains removed (0 also without an iptables program: nothing can have been
 * made), or -1 with err. */
int ipt_remove_chains(const char *prefix, const char *except, struct k3c_err *err);

#endif
