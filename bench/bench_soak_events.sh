#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_soak_events.sh - does a server stay flat under Event churn? A real
# `k3c server` on loopback gets SOAK_RATE (default 40) new Events a second
# (plus a ConfigMap created and deleted each second) for SOAK_SECONDS (240),
# first with --event-ttl SOAK_TTL (60s), then with --event-ttl 0 (Events
# kept forever, as k3c did before) as the peer. Every 20 s it prints the
# server's RSS, the etcd database size and the number of Events; at the end
# the growth over the second half of each run (after the first TTL).
# Use an optimised build: K3C_BIN=build/k3c bash bench/bench_soak_events.sh
# shellcheck disable=SC2317
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e" && pwd)
E2E_NAME=bench-soak
K3C_BIN=${K3C_BIN:-$HERE/../../build/k3c}
SECONDS_RUN=${SOAK_SECONDS:-240}
RATE=${SOAK_RATE:-40}
TTL=${SOAK_TTL:-60s}
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$HERE/lib.sh"

N_RUN=0
soak() {
    local ttl=$1 data=$TMP/data-$N_RUN
    N_RUN=$((N_RUN + 1))
    [ -e "$TMP/k3c.log" ] && mv "$TMP/k3c.log" "$TMP/k3c-$N_RUN.log"
    rm -f "$KUBECONFIG"
    SERVER_EXTRA_ARGS=(--disable-etcd-snapshots --event-ttl "$ttl" --data-dir "$data" --disable-agent)
    start_server
    echo "# --event-ttl $ttl: $RATE Events/s for ${SECONDS_RUN}s"
    python3 - "$API_URL" "$TMP" "$SERVER_PID" "$data" "$ETCD_CLIENT_PORT" "$SECONDS_RUN" "$RATE" <<'EOF'
import http.client, json, ssl, subprocess, sys, time
url, tmp, pid, data, eport, secs, rate = sys.argv[1:]
secs, rate = int(secs), int(rate)
host, port = url[len("https://"):].split(":")
ctx = ssl.create_default_context(cafile=f"{tmp}/ca.crt")
ctx.load_cert_chain(f"{tmp}/admin.crt", f"{tmp}/admin.key")
conn = http.client.HTTPSConnection(host, int(port), context=ctx)

def call(method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body else None,
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    return r.status

def rss_mb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def db_mb():
    tls = f"{data}/server/tls"
    out = subprocess.run(["etcdctl", f"--endpoints=https://127.0.0.1:{eport}",
                          f"--cacert={tls}/server-ca.crt", f"--cert={tls}/etcd/client.crt",
                          f"--key={tls}/etcd/client.key", "endpoint", "status", "-w", "json"],
                         capture_output=True, text=True, env={"ETCDCTL_API": "3"}).stdout
    return json.loads(out)[0]["Status"]["dbSize"] / 1048576
def events():
    conn.request("GET", "/api/v1/namespaces/default/events")
    r = conn.getresponse()
    return len(json.loads(r.read()).get("items", []))

start, n, samples = time.time(), 0, []
while time.time() - start < secs:
    second = time.time()
    for _ in range(rate):
        n += 1
        call("POST", "/api/v1/namespaces/default/events", {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"soak-{n}", "namespace": "default"},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": f"p{n % 50}",
                               "namespace": "default"},
            "reason": "Soak", "message": "x" * 200, "type": "Normal"})
    call("POST", "/api/v1/namespaces/default/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{n}"},
        "data": {"k": "v" * 1000}})
    call("DELETE", f"/api/v1/namespaces/default/configmaps/c{n}")
    t = int(time.time() - start)
    if t // 20 > len(samples) - 1:
        samples.append((t, rss_mb(), db_mb(), events()))
        print(f"  t={t:4d}s  rss {samples[-1][1]:6.1f} MiB  etcd db {samples[-1][2]:6.1f} MiB"
              f"  events {samples[-1][3]}", flush=True)
    time.sleep(max(0, 1 - (time.time() - second)))
half = [s for s in samples if s[0] >= secs // 2]
if len(half) >= 2:
    a, b = half[0], half[-1]
    print(f"  second half ({a[0]}s..{b[0]}s): rss {b[1] - a[1]:+.1f} MiB, etcd db "
          f"{b[2] - a[2]:+.1f} MiB, events {b[3] - a[3]:+d}")
EOF
    stop_pid "$SERVER_PID" "$STOP_TIMEOUT_S"
    SERVER_PID=
}

soak "$TTL"
soak 0
