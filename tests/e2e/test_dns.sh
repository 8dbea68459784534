#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_dns.sh - issue #14's end-to-end test: the cluster DNS each agent
# answers itself. `k3c server` with its own agent (node "e2e") in a
# test-made network namespace; a second namespace is the "LAN" where a
# fake upstream DNS server (python3) answers *.example.org; the server's
# --resolv-conf lists a loopback stub (skipped) and that upstream. From a
# real busybox pod with `nslookup`: a Service, a name in another namespace
# through the search list, a headless Service (its endpoints, a per-pod
# hostname), SRV for a named port, PTR of a ClusterIP, a pod record, an
# unknown name (NXDOMAIN, timed), an upstream name (forwarded, cached), a
# Service created and deleted (the record follows; times printed). Also
# the pod's resolv.conf, the kube-dns Service, the k3c-dns0 address and a
# query over TCP. Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-dns-$$
NS2=k3c-e2e-dnsup-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
NS_IP=192.168.251.1
UP_IP=192.168.251.2 # the fake upstream, in NS2 (only inside the test's namespaces)
CLUSTER_CIDR=10.95.0.0/16
DNS_IP=10.43.0.10
E2E_NAME=dns
UP_PID=
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
RESOLV=$TMP/resolv.conf
SERVER_EXTRA_ARGS=(--cni-bridge k3cdns0 --cluster-cidr "$CLUSTER_CIDR" --resolv-conf "$RESOLV"
    --crash-backoff-base-ms 1000)
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck disable=SC2119 # no extra tools
pods_need_root_and_tools python3

upstream_stop() {
    if [ -n "$UP_PID" ]; then
        kill "$UP_PID" 2>/dev/null
        wait "$UP_PID" 2>/dev/null
        UP_PID=
    fi
}
trap 'upstream_stop; pods_cleanup; cleanup' EXIT

T_MARK=$(date +%s%N)
t_mark() { T_MARK=$(date +%s%N); }
t_ms() { echo $((($(date +%s%N) - T_MARK) / 1000000)); }

# A fake upstream DNS server on UP_IP:53, UDP and TCP: *.example.org ->
# A 198.51.100.7 (TTL 300), anything else NXDOMAIN with an SOA. Counts
# queries in $TMP/upstream.count.
cat >"$TMP/upstream.py" <<'EOF'
import socket, struct, sys, threading
ip, count_file = sys.argv[1], sys.argv[2]
lock = threading.Lock()
count = [0]

def answer(q):
    if len(q) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", q[:6])
    off, labels = 12, []
    while off < len(q) and q[off]:
        labels.append(q[off + 1:off + 1 + q[off]].decode("ascii", "replace"))
        off += 1 + q[off]
    qend = off + 5
    question = q[12:qend]
    qtype = struct.unpack(">H", q[off + 1:off + 3])[0]
    name = ".".join(labels).lower()
    with lock:
        count[0] += 1
        open(count_file, "w").write("%d\n" % count[0])
    if name.endswith("example.org"):
        if qtype != 1:
            return struct.pack(">HHHHHH", qid, 0x8180, 1, 0, 0, 0) + question
        rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + bytes([198, 51, 100, 7])
        return struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + rr
    soa = (b"\x00" + struct.pack(">HHIH", 6, 1, 300, 22) + b"\x00\x00" +
           struct.pack(">IIIII", 1, 7200, 1800, 86400, 60))
    return struct.pack(">HHHHHH", qid, 0x8183, 1, 0, 1, 0) + question + soa

def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 53))
    while True:
        q, peer = s.recvfrom(4096)
        a = answer(q)
        if a:
            s.sendto(a, peer)

def tcp_conn(c):
    with c:
        n = c.recv(2)
        if len(n) == 2:
            q = c.recv(struct.unpack(">H", n)[0])
            a = answer(q)
            if a:
                c.sendall(struct.pack(">H", len(a)) + a)

def tcp():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, 53))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()

threading.Thread(target=tcp, daemon=True).start()
udp()
EOF

# A DNS query over TCP from the node's namespace: "rcode address...".
cat >"$TMP/tcpq.py" <<'EOF'
import socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
q = struct.pack(">HHHHHH", 7, 0x100, 1, 0, 0, 0)
for l in name.split("."):
    q += bytes([len(l)]) + l.encode()
q += b"\x00" + struct.pack(">HH", 1, 1)
s = socket.create_connection((server, 53), timeout=5)
s.sendall(struct.pack(">H", len(q)) + q)
n = struct.unpack(">H", s.recv(2))[0]
a = b""
while len(a) < n:
    a += s.recv(n - len(a))
rcode, an = a[3] & 15, struct.unpack(">H", a[6:8])[0]
out = [str(rcode)]
off = 12 + len(q) - 12
for _ in range(an):
    off += 2 if a[off] & 0xC0 == 0xC0 else 0
    typ, _, _, rdlen = struct.unpack(">HHIH", a[off:off + 10])
    if typ == 1:
        out.append(socket.inet_ntoa(a[off + 10:off + 14]))
    off += 10 + rdlen
print(" ".join(out))
EOF

upstream_count() { cat "$TMP/upstream.count" 2>/dev/null || echo 0; }
upstream_up() { [ -n "$UP_PID" ] && kill -0 "$UP_PID" 2>/dev/null && nsenter "--net=/run/netns/$NS2" ss -lun | grep -q "$UP_IP:53"; }
# The address is on k3c-dns0, or on lo where the kernel has no dummy links.
dns_addr_on_iface() { ip -n "$NS" addr show 2>/dev/null | grep -Eq "inet $DNS_IP/32 .*(k3c-dns0|lo)\$"; }
pod_running() { pod_phase_is "$1" Running; }
# ns POD ARGS...: busybox nslookup inside the pod (bounded).
ns() {
    local pod=$1
    shift
    kc exec "$pod" -- busybox nslookup "$@"
}
# ns_out POD ARGS...: the same, its output whatever the exit status
# (busybox nslookup exits 1 when any of its queries, search expansions
# included, ends in NXDOMAIN).
ns_out() {
    ns "$@" 2>&1
    return 0
}
# search_lookup POD NAME: a resolver's walk of the pod's own search list
# (busybox nslookup expands only dot-less names): NAME.<domain> for each
# domain of the pod's /etc/resolv.conf in order, "domain: result" per try,
# up to the first that answers.
search_lookup() {
    local d out
    for d in $(kc exec "$1" -- cat /etc/resolv.conf | sed -n 's/^search //p'); do
        out=$(ns_out "$1" -type=a "$2.$d")
        if printf '%s\n' "$out" | grep -q '^Address: [0-9.]*$'; then
            echo "$d: $(printf '%s\n' "$out" | sed -n 's/^Address: \([0-9.]*\)$/\1/p' | tail -n 1)"
            return 0
        fi
        echo "$d: $(printf '%s\n' "$out" | grep -o 'NXDOMAIN' || echo none)"
    done
    return 1
}
resolves_to() { ns client -type=a "$1" 2>/dev/null | grep -q "Address: $2\$"; }
not_resolving() { ns_out client -type=a "$1" | grep -q NXDOMAIN; }
svc_ip() { kc get svc "$@" -o 'jsonpath={.spec.clusterIP}' 2>/dev/null; }

echo "# 0. namespaces, fake upstream, images, server with its agent"
t_mark
pods_netns_make "$NS" "$NS2" "$NS_IP" "$UP_IP"
printf 'nameserver 127.0.0.53\nnameserver %s\nsearch lab.example\noptions edns0\n' "$UP_IP" >"$RESOLV"
nsenter "--net=/run/netns/$NS2" python3 "$TMP/upstream.py" "$UP_IP" "$TMP/upstream.count" \
    >"$TMP/upstream.log" 2>&1 &
UP_PID=$!
check upstream/listening wait_for 10 upstream_up
pods_images_start "$NS"
pods_airgap_install "$TMP/data"
start_server
check node/ready wait_for 40 node_ready e2e
echo "# time: setup: $(t_ms) ms"

echo "# 1. the kube-dns Service; no address before the node's first pod"
expect_eq kube-dns/cluster-ip "$DNS_IP" svc_ip -n kube-system kube-dns
expect_eq kube-dns/ports 'dns 53 UDP dns-tcp 53 TCP ' kc get svc -n kube-system kube-dns \
    -o 'jsonpath={range .spec.ports[*]}{.name} {.port} {.protocol} {end}'
if dns_addr_on_iface; then fail node/no-address-before-pods "$DNS_IP already there" ip -n "$NS" addr; else pass node/no-address-before-pods; fi

echo "# 2. services, a client pod"
kc create namespace other >/dev/null
kc apply -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: k3c/busybox:test, command: [httpd, -f, -p, "8080", -h, /www]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-hl}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: named, labels: {app: named}}
spec:
  hostname: web-0
  subdomain: named-hl
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: k3c/busybox:test, command: [sleep, "3600"]}
---
apiVersion: v1
kind: Service
metadata: {name: named-hl}
spec:
  clusterIP: None
  selector: {app: named}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: k3c/busybox:test, command: [sleep, "3600"]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: other}
spec:
  ports: [{name: pg, port: 5432}]
EOF
check pods/client-running wait_for 60 pod_running client
check pods/named-running wait_for 60 pod_running named
WEB_IP=$(svc_ip web)
DB_IP=$(svc_ip -n other db)
CLIENT_IP=$(pod_field client '{.status.podIP}')
echo "# web $WEB_IP, other/db $DB_IP, client pod $CLIENT_IP"
check node/dns-address-on-k3c-dns0-or-lo wait_for 20 dns_addr_on_iface
echo "# $(ip -n "$NS" -o addr show | grep "$DNS_IP")"
run ip addr show
if matches "$DNS_IP"; then fail root-netns/no-dns-address "the root namespace has $DNS_IP" ip addr show; else pass root-netns/no-dns-address; fi
expect_out node/tcp-query "^0 10\\.43\\.0\\.1\$" "${NETNS_EXEC[@]}" python3 "$TMP/tcpq.py" "$DNS_IP" \
    kubernetes.default.svc.cluster.local
expect_all pod/resolv.conf "^nameserver $DNS_IP\$" \
    '^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local lab\.example$' \
    '^options ndots:5$' -- kc exec client -- cat /etc/resolv.conf

echo "# 3. lookups from the pod"
t_mark
expect_out lookup/service-fqdn "Address: $WEB_IP\$" ns client -type=a web.default.svc.cluster.local
echo "# time: first lookup: $(t_ms) ms"
expect_out lookup/service-short-name "Address: $WEB_IP\$" ns_out client -type=a web
expect_all lookup/other-namespace-via-search '^default\.svc\.cluster\.local: NXDOMAIN$' \
    "^svc\\.cluster\\.local: $DB_IP\$" -- search_lookup client db.other
slice_count() {
    [ "$(kc get endpointslices -l "kubernetes.io/service-name=$1" \
        -o 'jsonpath={.items[*].endpoints[*].addresses[0]}' 2>/dev/null | wc -w)" -eq "$2" ]
}
check web/2-endpoints wait_for 60 slice_count web-hl 2
check named/1-endpoint wait_for 60 slice_count named-hl 1
WEB_PODS=$(kc get pods -l app=web -o 'jsonpath={range .items[*]}{.status.podIP} {end}')
echo "# web pods: $WEB_PODS"
run ns client -type=a web-hl.default.svc.cluster.local
ok=1
for ip in $WEB_PODS; do matches "Address: $ip\$" || ok=0; done
if [ "$ok" = 1 ] && [ -n "$WEB_PODS" ]; then pass lookup/headless-all-endpoints; else fail lookup/headless-all-endpoints "want $WEB_PODS" ns web-hl; fi
NAMED_IP=$(pod_field named '{.status.podIP}')
expect_out lookup/headless-hostname "Address: $NAMED_IP\$" ns client -type=a web-0.named-hl.default.svc.cluster.local
expect_out lookup/srv-named-port 'service = 0 [0-9]+ 80 web\.default\.svc\.cluster\.local' \
    ns client -type=srv _http._tcp.web.default.svc.cluster.local
expect_out lookup/srv-headless 'service = 0 [0-9]+ 8080 web-0\.named-hl\.default\.svc\.cluster\.local' \
    ns client -type=srv _http._tcp.named-hl.default.svc.cluster.local
expect_out lookup/ptr-cluster-ip 'name = web\.default\.svc\.cluster\.local' ns client "$WEB_IP"
DASHED=$(echo "$CLIENT_IP" | tr . -)
expect_out lookup/pod-record "Address: $CLIENT_IP\$" ns client -type=a "$DASHED.default.pod.cluster.local"
expect_out lookup/dns-version '1\.1\.0' ns client -type=txt dns-version.cluster.local
# a node's name, as K3s's NodeHosts (the server's node "e2e" at its --node-ip)
expect_out lookup/node-name 'Address: 127\.0\.0\.1$' ns client -type=a e2e.
t_mark
expect_out lookup/unknown-nxdomain 'NXDOMAIN' ns_out client -type=a nope.default.svc.cluster.local
echo "# time: NXDOMAIN answer: $(t_ms) ms"
expect_out lookup/unknown-namespace-nxdomain 'NXDOMAIN' ns_out client -type=a web.nons.svc.cluster.local

echo "# 4. upstream names through the fake upstream (the loopback stub skipped)"
BEFORE=$(upstream_count)
t_mark
expect_out upstream/forwarded 'Address: 198\.51\.100\.7$' ns client -type=a www.example.org.
echo "# time: upstream lookup: $(t_ms) ms"
AFTER=$(upstream_count)
if [ "$AFTER" -gt "$BEFORE" ]; then pass upstream/reached; else fail upstream/reached "count $BEFORE -> $AFTER" upstream_count; fi
expect_out upstream/cached 'Address: 198\.51\.100\.7$' ns client -type=a www.example.org.
expect_eq upstream/cache-hit-not-forwarded "$AFTER" upstream_count
kc create service externalname ext --external-name www.example.org >/dev/null
expect_all upstream/externalname-cname-and-address 'canonical name = www\.example\.org' \
    'Address: 198\.51\.100\.7$' -- ns client -type=a ext.default.svc.cluster.local
expect_out upstream/nxdomain 'NXDOMAIN' ns_out client -type=a nothing.invalid.
expect_out upstream/log-skips-stub "upstream $UP_IP" grep "(dns) upstream" "$TMP/k3c.log"
run grep "(dns) upstream 127.0.0.53" "$TMP/k3c.log"
if [ "$RC" -ne 0 ]; then pass upstream/stub-skipped; else fail upstream/stub-skipped "127.0.0.53 used" grep; fi

echo "# 5. records follow Service changes"
t_mark
kc create service clusterip late --tcp=81:81 >/dev/null
LATE_IP=$(svc_ip late)
wait_check change/new-service-resolves 20 resolves_to late.default.svc.cluster.local "$LATE_IP"
echo "# time: Service created to its record answered (via kubectl exec polling): $(t_ms) ms"
# The same measured on the node, without kubectl exec in the loop.
LATE2_IP=$(kc create service clusterip late2 --tcp=82:82 -o 'jsonpath={.spec.clusterIP}')
t_mark
node_resolves() { "${NETNS_EXEC[@]}" python3 "$TMP/tcpq.py" "$DNS_IP" "$1" 2>/dev/null | grep -q " $2\$"; }
wait_check change/new-service-resolves-node 20 node_resolves late2.default.svc.cluster.local "$LATE2_IP"
echo "# time: create answered by the API to the record answered (polled from the node): $(t_ms) ms"
t_mark
kc delete service late >/dev/null
wait_check change/deleted-service-nxdomain 20 not_resolving late.default.svc.cluster.local
echo "# time: Service deleted to NXDOMAIN: $(t_ms) ms"

echo "# 6. the server and its agent"
server_checks
summary
