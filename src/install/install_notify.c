/* SPDX-License-Identifier: Apache-2.0
 * install_notify.c - systemd's service notification protocol (sd_notify(3)):
 * one datagram "READY=1" to the AF_UNIX socket named in $NOTIFY_SOCKET.
 * systemd documents the protocol as stable for reimplementation; doing it
 * here keeps libsystemd out of a binary that also runs without systemd
 * (lab namespaces, containers). docs/install.md says more. */
#define LOG_COMPONENT "notify"

#include "install/install.h"

#include "base/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
install_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len;
    socklen_t salen;
    int fd;
    ssize_t n;

    if (!path || !*path)
        return 0;
    len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
        log_warn("NOTIFY_SOCKET %s: not an AF_UNIX socket path; %s not sent", path, state);
        return -1;
    }
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace; the length says where it ends */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("notify socket: %s", strerror(errno));
        return -1;
    }
    n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    if (n < 0)
        log_warn("notify %s to %s: %s", state, path, strerror(errno));
    close(fd);
    return n < 0 ? -1 : 1;
}
