#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# vip_sampler.py VIP OUT PERIOD_MS NAME=NETNS... - which namespaces hold VIP,
# every PERIOD_MS, one "<unix ms> name name..." line per sample appended to
# OUT, until SIGTERM. One AF_INET socket per namespace (made inside it with
# setns) answers SIOCGIFCONF, which lists every IPv4 address of every
# interface, up or down: no process is forked per sample, so the period
# holds on a loaded machine.
import array
import ctypes
import fcntl
import os
import signal
import socket
import struct
import sys
import time

SIOCGIFCONF = 0x8912
CLONE_NEWNET = 0x40000000
IFREQ_SIZE = 40


def socket_in(path, libc):
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + path)
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    finally:
        libc.setns(own, CLONE_NEWNET)
        os.close(fd)
        os.close(own)


def addresses(sock):
    buf = array.array("B", bytes(IFREQ_SIZE * 64))
    addr, _ = buf.buffer_info()
    ifc = struct.pack("iL", len(buf), addr)
    n = struct.unpack("iL", fcntl.ioctl(sock.fileno(), SIOCGIFCONF, ifc))[0]
    raw = buf.tobytes()
    return {socket.inet_ntoa(raw[i + 20:i + 24]) for i in range(0, n, IFREQ_SIZE)}


def main():
    vip, out, period = sys.argv[1], sys.argv[2], int(sys.argv[3]) / 1000.0
    libc = ctypes.CDLL(None, use_errno=True)
    socks = []
    for arg in sys.argv[4:]:
        name, ns = arg.split("=", 1)
        socks.append((name, socket_in("/run/netns/" + ns, libc)))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out, "a", buffering=1) as f:
        while True:
            held = [name for name, s in socks if vip in addresses(s)]
            f.write("%d %s\n" % (time.time() * 1000, " ".join(held)))
            time.sleep(period)


if __name__ == "__main__":
    main()
