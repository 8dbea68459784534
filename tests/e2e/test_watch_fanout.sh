#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_watch_fanout.sh - watch streams served by the API server's fixed
# thread pool (issue #20, docs/api.md "Session 8: watch fan-out"): the Python
# client's watch (python3-kubernetes) with timeoutSeconds, resourceVersion,
# label and field selectors; 410 Gone for a too-old resourceVersion; 40
# watchers each receiving every event in order; a watcher that stops reading
# does not hold up the others and still gets everything in order once it
# reads; watchers that hang up are cleaned up (apiserver_watches); BOOKMARK
# events with allowWatchBookmarks; few threads with 40 watchers open; a
# clean SIGTERM exit with watches parked. kubectl get -w is in e2e_kubectl.
# K3C_TEST_WATCH_OVERFLOW=1 (opt-in, +1,400 writes of 20 KB): a watcher that
# stays stalled past the cache's 1,024-event ring is closed with an ERROR 410.
# One server; ~45 s (the bookmark comes after 30 s of quiet). Needs stock
# kubectl and python3-kubernetes (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=fanout
E2E_NAME=watch-fanout
SERVER_EXTRA_ARGS=(--disable-scheduler)
PY=/usr/bin/python3 # python3-kubernetes is a Debian package
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

if ! "$PY" -c 'import kubernetes' 2>/dev/null; then
    echo "SKIP: python3-kubernetes not installed"
    exit 77
fi

start_server
PORT=${API_URL##*:}

# A watch with bookmarks, started first: its BOOKMARK comes after 30 s of
# quiet, checked at the end (the namespace below is its own, left alone).
kc create namespace quiet >/dev/null
# It stays open (counted by apiserver_watches) until it is stopped after its check.
acurl -N --max-time 600 "$API_URL/api/v1/namespaces/quiet/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=600" \
    >"$TMP/bookmark.out" 2>&1 &
WATCH_PID=$!
kc create namespace "$NS" >/dev/null

watches() { acurl "$API_URL/metrics" | sed -n 's/^apiserver_watches //p'; }

# ---- 1. the Python client ----

echo "# 1. python3-kubernetes watch"
cat >"$TMP/client.py" <<'EOF'
import sys, threading, time
from kubernetes import client, config, watch

config.load_kube_config()
v1 = client.CoreV1Api()
ns = sys.argv[1]
what = sys.argv[2]


def cm(name, labels=None, data=None):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels),
                              data=data or {"k": "v"})


def later(fn):
    t = threading.Timer(1.0, fn)
    t.start()
    return t


if what == "timeout":
    # Events as they come, then the stream ends at timeoutSeconds.
    later(lambda: v1.create_namespaced_config_map(ns, cm("py-a")))
    start = time.time()
    seen = [(e["type"], e["object"].metadata.name)
            for e in watch.Watch().stream(v1.list_namespaced_config_map, ns, timeout_seconds=4)]
    took = time.time() - start
    print(seen, round(took, 1))
    assert ("ADDED", "py-a") in seen, seen
    assert 3 <= took < 20, took
elif what == "rv":
    # From a resourceVersion: only what came after it, in order.
    rv = v1.read_namespaced_config_map("py-a", ns).metadata.resource_version
    v1.patch_namespaced_config_map("py-a", ns, {"data": {"k": "2"}})
    v1.patch_namespaced_config_map("py-a", ns, {"data": {"k": "3"}})
    seen = []
    for e in watch.Watch().stream(v1.list_namespaced_config_map, ns, resource_version=rv,
                                  timeout_seconds=3):
        seen.append((e["type"], e["object"].data["k"]))
    print(seen)
    assert seen == [("MODIFIED", "2"), ("MODIFIED", "3")], seen
elif what == "labels":
    # A label selector: ADDED on match, DELETED when it stops matching. From
    # the list's resourceVersion, so writes that beat the watch still count.
    rv = v1.list_namespaced_config_map(ns).metadata.resource_version

    def writes():
        v1.create_namespaced_config_map(ns, cm("sel-1", {"app": "x"}))
        v1.create_namespaced_config_map(ns, cm("sel-2", {"app": "y"}))
        v1.patch_namespaced_config_map("sel-1", ns, {"metadata": {"labels": {"app": "z"}}})
    later(writes)
    seen = [(e["type"], e["object"].metadata.name)
            for e in watch.Watch().stream(v1.list_namespaced_config_map, ns, label_selector="app=x",
                                          resource_version=rv, timeout_seconds=5)]
    print(seen)
    assert seen == [("ADDED", "sel-1"), ("DELETED", "sel-1")], seen
elif what == "fields":
    rv = v1.list_namespaced_config_map(ns).metadata.resource_version
    later(lambda: (v1.create_namespaced_config_map(ns, cm("fld-1")),
                   v1.create_namespaced_config_map(ns, cm("fld-2"))))
    seen = [(e["type"], e["object"].metadata.name)
            for e in watch.Watch().stream(v1.list_namespaced_config_map, ns,
                                          field_selector="metadata.name=fld-2", resource_version=rv,
                                          timeout_seconds=5)]
    print(seen)
    assert seen == [("ADDED", "fld-2")], seen
elif what == "gone":
    # A resourceVersion older than the cache's window: 410 Expired.
    try:
        for e in watch.Watch().stream(v1.list_namespaced_config_map, ns, resource_version="1",
                                      timeout_seconds=3):
            print(e["type"], e["raw_object"])
            if e["type"] == "ERROR" and e["raw_object"].get("code") == 410:
                sys.exit(0)
        sys.exit("no 410")
    except client.exceptions.ApiException as ex:
        print(ex.status, ex.reason)
        assert ex.status == 410, ex.status
EOF
py() { timeout -k 5 60 "$PY" "$TMP/client.py" "$NS" "$@"; }
check python/timeout-seconds py timeout
check python/resource-version py rv
check python/label-selector py labels
check python/field-selector py fields
check python/410-gone py gone
expect_out raw/410-gone '"code":410' acurl "$API_URL/api/v1/namespaces/$NS/configmaps?watch=1&resourceVersion=1"

# ---- 2. fan-out, a stalled watcher, hang-ups ----

echo "# 2. fan-out"
cat >"$TMP/fan.py" <<'EOF'
import http.client, json, os, socket, ssl, sys, time

host, port, tmp, ns = "127.0.0.1", int(sys.argv[1]), sys.argv[2], sys.argv[3]
FAST, WRITES, BIG = 40, 120, 50000
ctx = ssl.create_default_context(cafile=f"{tmp}/ca.crt")
ctx.load_cert_chain(f"{tmp}/admin.crt", f"{tmp}/admin.key")


def conn():
    return http.client.HTTPSConnection(host, port, context=ctx, timeout=60)


class StalledConn(http.client.HTTPSConnection):
    """A client that stops reading: a fixed 4 KiB receive buffer (no
    autotuning), so what it does not read stays in the server's send buffer
    (4 MiB at most: tcp_wmem) and then in the server itself."""

    def connect(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(self.timeout)
        sock.connect((self.host, self.port))
        self.sock = ctx.wrap_socket(sock, server_hostname=self.host)


def stalled_conn():
    return StalledConn(host, port, context=ctx, timeout=60)


def req(method, path, body=None):
    c = conn()
    c.request(method, path, body=json.dumps(body) if body else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def gauge(name="apiserver_watches"):
    _, text = req("GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    return -1


def wait(pred, secs, what):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return
        time.sleep(0.2)
    sys.exit(f"timed out: {what}")


base = gauge()
status, data = req("GET", f"/api/v1/namespaces/{ns}/configmaps?limit=1")
rv = json.loads(data)["metadata"]["resourceVersion"]
path = f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}&labelSelector=fan%3Dyes"
watchers = []
for _ in range(FAST):
    c = conn()
    c.request("GET", path)
    watchers.append(c)
stalled = stalled_conn()  # never reads until the writes are done
stalled.request("GET", path)
# Hang-ups: 20 more watches, closed at once without a word.
quitters = []
for _ in range(20):
    c = conn()
    c.request("GET", path)
    quitters.append(c)
wait(lambda: gauge() >= base + FAST + 21, 60, "watches open")
# Idle watches hold no thread: they are parked (suspended) for the hub.
wait(lambda: gauge("k3c_api_parked_streams") >= FAST + 21, 30, "idle watches parked")
threads = len(os.listdir(f"/proc/{sys.argv[4]}/task"))
print(f"threads with {FAST + 21} watches open: {threads}")
for c in quitters:
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
wait(lambda: gauge() == base + FAST + 1, 30, "hung-up watches cleaned up")
print("hung-up watches gone")

t0 = time.time()
for i in range(WRITES):
    status, _ = req("POST", f"/api/v1/namespaces/{ns}/configmaps",
                    {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"fan-{i:04d}", "labels": {"fan": "yes"}},
                     "data": {"big": "x" * BIG}})
    assert status == 201, status
print(f"{WRITES} writes of {BIG} bytes in {time.time() - t0:.1f} s")


def drain(c, n):
    r = c.getresponse()
    assert r.status == 200, r.status
    names = []
    while len(names) < n:
        line = r.readline()
        if not line:
            break
        ev = json.loads(line)
        assert ev["type"] == "ADDED", ev["type"]
        names.append(ev["object"]["metadata"]["name"])
    return names


want = [f"fan-{i:04d}" for i in range(WRITES)]
# The fast watchers get everything while the stalled one has not read a
# byte (120 x 50 KB: more than its socket buffers hold).
for c in watchers:
    got = drain(c, WRITES)
    assert got == want, (len(got), got[:3])
print(f"{FAST} watchers got {WRITES} events each, in order, {time.time() - t0:.1f} s after the first write")
got = drain(stalled, WRITES)
assert got == want, (len(got), got[:3])
print("the stalled watcher got every event in order once it read")
for c in watchers + [stalled]:
    c.close()

if os.environ.get("K3C_TEST_WATCH_OVERFLOW") == "1":
    # A watcher that stays stalled while more than the cache's ring (1,024
    # events) goes by is closed: it reads what was sent, then an ERROR 410
    # (upstream closes such a watcher too), while a reading one gets all.
    MANY = 1400  # the ring, plus what the socket buffers hold (4 MiB: ~200)
    status, data = req("GET", f"/api/v1/namespaces/{ns}/configmaps?limit=1")
    rv = json.loads(data)["metadata"]["resourceVersion"]
    path = f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}&labelSelector=many%3Dyes"
    slow, fast = stalled_conn(), conn()
    slow.request("GET", path)
    fast.request("GET", path)
    wait(lambda: gauge("k3c_api_parked_streams") >= 2, 30, "overflow watches parked")
    fr = None
    got_fast = 0
    for i in range(MANY):
        status, _ = req("POST", f"/api/v1/namespaces/{ns}/configmaps",
                        {"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": f"many-{i:04d}", "labels": {"many": "yes"}},
                         "data": {"big": "x" * 20000}})
        assert status == 201, status
        if i == 0:
            fr = fast.getresponse()
        while got_fast < i and json.loads(fr.readline())["type"] == "ADDED":
            got_fast += 1
    r = slow.getresponse()
    types = []
    while True:
        line = r.readline()
        if not line:
            break
        ev = json.loads(line)
        types.append(ev["type"] if ev["type"] != "ERROR" else ev["object"].get("code"))
    print(f"stalled watcher: {types.count('ADDED')} events, then {types[-1]!r}")
    assert types[-1] == 410 and types.count("ADDED") < MANY, types[-3:]
    print(f"overflow: the reading watcher kept up ({got_fast} of {MANY} read during the writes)")
print("ok")
EOF
run timeout -k 5 180 "$PY" "$TMP/fan.py" "$PORT" "$TMP" "$NS" "$SERVER_PID"
if [ "$RC" -eq 0 ]; then pass fanout/40-watchers-stalled-one-hangups; else fail fanout/40-watchers-stalled-one-hangups "fan.py failed" "fan.py"; fi
printf '%s\n' "$OUT" | sed 's/^/   /'
THREADS=$(printf '%s\n' "$OUT" | sed -n 's/^threads with [0-9]* watches open: //p')
# Before: a thread per connection (61 watches: 80+). Now: 2 MHD threads,
# the hub and a few workers beside the server's own.
check fanout/few-threads-with-61-watches test "${THREADS:-999}" -lt 40
wait_check fanout/watches-gauge-back 30 test "$(watches)" -le 1

# ---- 3. bookmarks, shutdown with parked watches ----

echo "# 3. bookmarks and shutdown"
wait_check bookmark/after-30s-quiet 45 grep -q '"type":"BOOKMARK"' "$TMP/bookmark.out"
run cat "$TMP/bookmark.out"
kill "$WATCH_PID" 2>/dev/null
wait "$WATCH_PID" 2>/dev/null
WATCH_PID=
# A watch still parked at SIGTERM: server_checks wants exit 0, no sanitizer report.
acurl -N --max-time 60 "$API_URL/api/v1/namespaces/quiet/configmaps?watch=1" >/dev/null 2>&1 &
WATCH2_PID=$!
wait_for 20 test "$(watches)" -ge 1
server_checks
kill "$WATCH2_PID" 2>/dev/null
wait "$WATCH2_PID" 2>/dev/null
summary
