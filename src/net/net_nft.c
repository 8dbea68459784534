/* SPDX-License-Identifier: Apache-2.0
 * net_nft.c - whether this process can run nftables scripts through
 * libnftables, and the fallback when it cannot: the nft program with the
 * same script on stdin (still one transaction per script).
 * libnftables talks to the kernel over a NETLINK_NETFILTER socket and, when
 * it cannot open one, prints "Unable to initialize Netlink socket" and
 * exit()s the whole process. That happens under qemu-user emulation (it
 * translates only a few netlink protocols; the arm64 edge node's tests run
 * there), so the socket is probed once before any context is made. */
#include "net/net.h"

#include "base/util.h"

#include <errno.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NFT_PROGRAM    "/usr/sbin/nft"
#define NFT_TIMEOUT_MS 30000

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool library_usable;

static void
probe(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);

    library_usable = fd >= 0 || (errno != EPROTONOSUPPORT && errno != EAFNOSUPPORT);
    if (fd >= 0)
        close(fd);
}

bool
net_nft_library_usable(void)
{
    pthread_once(&probe_once, probe);
    return library_usable;
}

int
net_nft_program_run(const char *script, char **out, struct k3c_err *err)
{
    const char *argv[] = {NFT_PROGRAM, "-f", "-", NULL};
    struct net_run_opts o = {
        .argv = argv, .input = script, .input_len = strlen(script), .timeout_ms = NFT_TIMEOUT_MS};
    struct net_run_result r = {0};

    if (access(NFT_PROGRAM, X_OK) != 0)
        return k3c_err_set(err, K3C_E_SYSTEM,
                           "nftables: this process cannot open a netfilter netlink socket "
                           "(libnftables would exit) and %s is missing (Debian package nftables)",
                           NFT_PROGRAM);
    if (net_run(&o, &r, err) < 0)
        return -1;
    if (r.exit_code != 0) {
        size_t len = r.errout ? strcspn(r.errout, "\n") : 0;

        k3c_err_set(err, K3C_E_SYSTEM, "nftables (%s): %.*s", NFT_PROGRAM, (int)len,
                    len ? r.errout : "failed");
        net_run_result_fini(&r);
        return -1;
    }
    if (out)
        *out = k3c_xstrdup(r.out ? r.out : "");
    net_run_result_fini(&r);
    return 0;
}
