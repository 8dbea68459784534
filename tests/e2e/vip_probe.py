#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# vip_probe.py HOST PORT CA OUT - a client polling https://HOST:PORT/readyz
# until SIGTERM: a new attempt on a fresh TCP connection every 25 ms, each in
# its own thread, so one attempt stuck on a dead host does not delay the
# next (150 ms to connect, then 2 s for TLS and the answer; the server is
# verified against CA, so its certificate must name HOST). Each attempt
# appends "<start ms> <end ms> <1|0>" to OUT when it ends. One process for
# the whole test, so failover figures are not paced by process start-up.
import http.client
import os
import signal
import socket
import ssl
import sys
import threading
import time


def ready(host, port, ctx):
    conn = http.client.HTTPSConnection(host, port, context=ctx)
    try:
        raw = socket.create_connection((host, port), timeout=0.15)
        raw.settimeout(2.0)
        conn.sock = ctx.wrap_socket(raw, server_hostname=host)
        conn.request("GET", "/readyz")
        resp = conn.getresponse()
        return resp.status == 200 and resp.read() == b"ok"
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def attempt(host, port, ctx, f, lock):
    start = time.time()
    ok = ready(host, port, ctx)
    with lock:
        f.write("%d %d %d\n" % (start * 1000, time.time() * 1000, ok))


def main():
    host, port, ca, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ctx = ssl.create_default_context(cafile=ca)
    lock = threading.Lock()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    with open(out, "a", buffering=1) as f:
        while True:
            if threading.active_count() < 200:
                threading.Thread(target=attempt, args=(host, port, ctx, f, lock),
                                 daemon=True).start()
            time.sleep(0.025)


if __name__ == "__main__":
    main()
