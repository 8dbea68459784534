#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""ha_writer.py - writes ConfigMaps one after another through one API
server for a fixed time and records each acknowledged write, for the HA
test and bench/ha: `ha_writer.py URL TLS_DIR SECONDS OUT [PREFIX]`.

TLS_DIR holds server-ca.crt and client-admin.crt/.key. Each attempt
creates a new name (PREFIX-<n>), so an attempt that failed or timed out is
never retried under the same name. OUT gets one line per attempt:
"<n> <ms since start> <status>" (status 0: no answer). At the end it prints
"acked N failed M max_gap_ms G" where G is the longest time between two
consecutive acknowledged writes (from the first to the last ack)."""
import http.client
import json
import ssl
import sys
import time
from urllib.parse import urlparse


def main():
    url, tls, seconds, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    prefix = sys.argv[5] if len(sys.argv) > 5 else "w"
    u = urlparse(url)
    ctx = ssl.create_default_context(cafile=f"{tls}/server-ca.crt")
    ctx.load_cert_chain(f"{tls}/client-admin.crt", f"{tls}/client-admin.key")
    conn = None
    start = time.monotonic()
    acks, failed, n = [], 0, 0
    with open(out, "w") as f:
        while time.monotonic() - start < seconds:
            n += 1
            name = f"{prefix}-{n}"
            body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": name}, "data": {"n": str(n)}})
            status = 0
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
                conn.request("POST", "/api/v1/namespaces/default/configmaps", body,
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                conn = None
            t = (time.monotonic() - start) * 1000
            f.write(f"{n} {t:.0f} {status}\n")
            f.flush()
            if status == 201:
                acks.append(t)
            else:
                failed += 1
                time.sleep(0.05)
    gap = max((b - a for a, b in zip(acks, acks[1:])), default=0)
    print(f"acked {len(acks)} failed {failed} max_gap_ms {gap:.0f}")


if __name__ == "__main__":
    main()
