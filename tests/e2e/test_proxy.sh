#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_proxy.sh - issue #13's Services end to end, on real pods: a LAN
# (a bridge in a test-made namespace, 192.168.251.1/24, the hosts' gateway)
# with three hosts on it: the server with its own agent (node "e2e", runs
# the pods), a second agent "n2" (tainted: only the pod that asks for it;
# the nodes' pods meet over flannel's VXLAN) and a client that is no node at
# all. Checks:
# ClusterIP from a pod and from the node, an unused port of a live ClusterIP
# and a Service without endpoints refused at once ("Connection refused"),
# hairpin (a pod reaching itself through its Service), random choice and
# sessionAffinity ClientIP, kubernetes.default from a pod, NodePort and a
# LoadBalancer IP from the client (ServiceLB status, the enablelb allow-list,
# the other node answering on its own IP), a backend on the other node
# (ClusterIP from a pod and the node, NodePort from the client),
# externalTrafficPolicy Local, UDP, a client looping on the ClusterIP
# through a rollout (failed requests counted: none wanted), the rules
# following the new endpoints, the table rebuilt after it was deleted
# behind the proxy's back, and the table gone after SIGTERM and with
# --disable-kube-proxy after a SIGKILL left it. Prints the time of each
# step. Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-px-$$
NS2=k3c-e2e-px2-$$
NSC=k3c-e2e-pxc-$$
LAN=k3c-e2e-pxl-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
LAN_GW=192.168.251.1
NS_IP=192.168.251.10
NS2_IP=192.168.251.11
CLIENT_IP=192.168.251.20
CLUSTER_CIDR=10.95.0.0/16
E2E_NAME=proxy
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --node-ip "$NS_IP"
    --cni-bridge k3cpx0 --cluster-cidr "$CLUSTER_CIDR" --crash-backoff-base-ms 1000)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools nft

LOOP_PID=
UDP_PID=
stop_helpers() {
    local p
    for p in $LOOP_PID $UDP_PID; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}
trap 'stop_helpers; pods_cleanup; cleanup' EXIT

T_MARK=$(date +%s%N)
t_mark() { T_MARK=$(date +%s%N); }
t_say() {
    local ms=$((($(date +%s%N) - T_MARK) / 1000000))
    echo "# time: $1: $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
}

in_ns() { local ns=$1; shift; timeout -k 2 30 nsenter "--net=/run/netns/$ns" "$@"; }
# get NS URL: one bounded HTTP GET from a host namespace.
get() { in_ns "$1" curl -sS --connect-timeout 3 --max-time 5 "$2"; }
# refused NS HOST PORT: a TCP connect fails at once with ECONNREFUSED.
refused() {
    in_ns "$1" python3 -c '
import errno, socket, sys, time
t0 = time.monotonic()
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
    print("connected"); sys.exit(1)
except OSError as e:
    dt = time.monotonic() - t0
    print("%s after %.3f s" % (errno.errorcode.get(e.errno, e), dt))
    sys.exit(0 if e.errno == errno.ECONNREFUSED and dt < 2 else 1)
' "$2" "$3"
}
# pod_get POD IP PORT PATH: an HTTP/1.0 GET with busybox nc from inside POD.
pod_get() {
    kc exec "$1" -- sh -c "printf 'GET $4 HTTP/1.0\r\n\r\n' | nc -w 5 $2 $3"
}
# pod_refused POD IP PORT: nc from inside POD is refused.
pod_refused() {
    local out
    out=$(kc exec "$1" -- nc -w 5 "$2" "$3" </dev/null 2>&1)
    echo "$out"
    [[ $out == *"Connection refused"* ]]
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
nft_table() { in_ns "$1" nft list table ip k3c-proxy; }
no_table() { ! in_ns "$1" nft list table ip k3c-proxy >/dev/null 2>&1; }
svc_ip() { kc get svc "$1" -o 'jsonpath={.spec.clusterIP}' 2>/dev/null; }
node_port() { kc get svc "$1" -o 'jsonpath={.spec.ports[0].nodePort}' 2>/dev/null; }
lb_ips() { kc get svc "$1" -o 'jsonpath={.status.loadBalancer.ingress[*].ip}' 2>/dev/null; }
lb_is() { [ "$(lb_ips "$1")" = "$2" ]; }
ready_pods() {
    kc get pods -l "$1" -o json 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    if p["metadata"].get("deletionTimestamp"): continue
    c = {x["type"]: x["status"] for x in p.get("status", {}).get("conditions", [])}
    if c.get("Ready") == "True": print(p["metadata"]["name"], p["status"].get("podIP", "-"))
'
}
ready_count() { [ "$(ready_pods "$1" | wc -l)" -eq "$2" ]; }
all_pods_count() { [ "$(kc get pods -l "$1" -o name 2>/dev/null | wc -l)" -eq "$2" ]; }
# distinct_hosts NS URL N: the backends' names over N requests, sorted, unique.
distinct_hosts() {
    for _ in $(seq "$3"); do get "$1" "$2"; echo; done | sort -u | grep -v '^$' | tr '\n' ' '
}
# table_has NS REGEX / table_lacks NS REGEX
table_has() { nft_table "$1" 2>/dev/null | grep -Eq -- "$2"; }
table_lacks() { nft_table "$1" >"$TMP/nft.txt" 2>&1 && ! grep -Eq -- "$2" "$TMP/nft.txt"; }

# web NAME REPLICAS: httpd pods that serve their own name at /host, a
# readiness probe on the port and a grace period that keeps a terminating
# pod serving while the proxy takes it out.
web() {
    kc apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      terminationGracePeriodSeconds: 4
      containers:
      - name: c
        image: k3c/busybox:test
        command: [sh, -c, 'hostname >/www/host; exec httpd -f -p 8080 -h /www']
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
EOF
}

# ---- 0. the LAN, its hosts, the cluster ----

echo "# 0. LAN, hosts, images, server, second agent"
t_mark
# lib_pods' first namespace is the server's (its cleanup deletes them all).
pods_netns_make "$NS"
pods_netns_make "$NS2"
pods_netns_make "$NSC"
pods_lan_make "$LAN" "$LAN_GW"
pods_lan_plug px "$NS" "$NS_IP" "$LAN" "$LAN_GW"
pods_lan_plug px "$NS2" "$NS2_IP" "$LAN" "$LAN_GW"
pods_lan_plug px "$NSC" "$CLIENT_IP" "$LAN" "$LAN_GW"
pods_images_start "$NS" test
pods_airgap_install "$TMP/data" "$TMP/n2"
SERVER_IP=$NS_IP
t_say "namespaces + images + registry"
t_mark
start_server
agent_start n2 "$TMP/n2" "$NS2" "$NS2_IP" --cni-bridge k3cpx1 --cluster-cidr "$CLUSTER_CIDR" \
    --node-taint dedicated=none:NoSchedule
check nodes/e2e-ready wait_for 60 node_ready e2e
check nodes/n2-ready wait_for 60 node_ready n2
t_say "server start to both nodes Ready"
check proxy/table-on-server wait_for 20 table_has "$NS" 'chain services'
check proxy/table-on-n2 wait_for 20 table_has "$NS2" 'chain services'

# ---- 1. ClusterIP ----

echo "# 1. ClusterIP from the node and from a pod"
t_mark
web web 2
kc expose deployment web --port 80 --target-port 8080 >/dev/null
kc run client --image=k3c/busybox:test --restart=Never --overrides='{"spec":{"terminationGracePeriodSeconds":1}}' \
    --command -- sleep 3600 >/dev/null
check web/2-ready wait_for 90 ready_count app=web 2
check client/running wait_for 60 pod_phase_is client Running
WEB=$(svc_ip web)
expect_out web/cluster-ip '^10\.43\.' echo "$WEB"
wait_check web/from-node 30 get "$NS" "http://$WEB/"
expect_out web/from-node-page 'k3c test page' get "$NS" "http://$WEB/"
expect_out web/from-pod 'k3c test page' pod_get client "$WEB" 80 /
t_say "Deployment + Service to answers"
HOSTS=$(distinct_hosts "$NS" "http://$WEB/host" 24)
expect_out web/random-both-backends '^web-[^ ]+ web-[^ ]+ $' echo "$HOSTS"
expect_out web/rules 'numgen random mod 2' nft_table "$NS"
check web/n2-masquerades-only-off-cluster wait_for 20 table_has "$NS2" "ip saddr != $CLUSTER_CIDR jump mark-for-masquerade"

echo "# 2. refused at once: an unused port, a Service without endpoints"
expect_out refuse/unused-port 'ECONNREFUSED' refused "$NS" "$WEB" 81
kc create service clusterip empty --tcp=80:8080 >/dev/null
EMPTY=$(svc_ip empty)
check refuse/empty-in-rules wait_for 20 table_has "$NS" "$EMPTY . tcp . 80 : goto reject-chain"
expect_out refuse/empty-from-node 'ECONNREFUSED' refused "$NS" "$EMPTY" 80
expect_out refuse/empty-from-client-pod 'Connection refused' pod_refused client "$EMPTY" 80

echo "# 3. hairpin, sessionAffinity, kubernetes.default"
web solo 1
kc expose deployment solo --port 80 --target-port 8080 >/dev/null
check solo/ready wait_for 90 ready_count app=solo 1
SOLO=$(svc_ip solo)
SOLO_POD=$(ready_pods app=solo | awk '{print $1}')
wait_check solo/from-node 30 get "$NS" "http://$SOLO/"
expect_out hairpin/pod-to-itself "^$SOLO_POD\$" pod_get "$SOLO_POD" "$SOLO" 80 /host
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports: [{port: 80, targetPort: 8080}]
EOF
STICKY=$(svc_ip sticky)
wait_check affinity/answers 30 get "$NS" "http://$STICKY/"
expect_out affinity/one-backend '^web-[^ ]+ $' distinct_hosts "$NS" "http://$STICKY/host" 12
expect_out affinity/timeout-in-rules 'timeout 1m' nft_table "$NS"
# default/kubernetes: selectorless; the servers write its EndpointSlice.
check kubernetes/in-rules wait_for 20 table_has "$NS" '10\.43\.0\.1 \. tcp \. 443 : goto svc-default/kubernetes'
expect_out kubernetes/from-pod 'open' kc exec client -- sh -c 'nc -w 3 10.43.0.1 443 </dev/null && echo open'
expect_out kubernetes/from-node '^[1-5][0-9][0-9]$' in_ns "$NS" curl -sk -o /dev/null -w '%{http_code}' --max-time 5 https://10.43.0.1/version

echo "# 4. NodePort and LoadBalancer from a client on the LAN"
t_mark
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: webnp}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: weblb}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 8081, targetPort: 8080}]
EOF
NP=$(node_port webnp)
wait_check nodeport/from-client 30 get "$NSC" "http://$NS_IP:$NP/"
expect_out nodeport/page 'k3c test page' get "$NSC" "http://$NS_IP:$NP/"
wait_check lb/ingress-both-nodes 30 lb_is weblb "$NS_IP $NS2_IP"
wait_check lb/from-client 30 get "$NSC" "http://$NS_IP:8081/"
expect_out lb/page 'k3c test page' get "$NSC" "http://$NS_IP:8081/"
expect_out lb/other-node-answers 'k3c test page' get "$NSC" "http://$NS2_IP:8081/"
expect_out lb/unused-port-refused 'ECONNREFUSED' refused "$NSC" "$NS_IP" 8082
kc label node n2 svccontroller.k3s.cattle.io/enablelb=true >/dev/null
wait_check lb/enablelb-allow-list 30 lb_is weblb "$NS2_IP"
kc label node n2 svccontroller.k3s.cattle.io/enablelb- >/dev/null
wait_check lb/back-to-both 30 lb_is weblb "$NS_IP $NS2_IP"
t_say "NodePort + LoadBalancer"

echo "# 4a. across nodes (flannel's VXLAN): a backend on n2"
kc apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: far}
spec:
  replicas: 1
  selector: {matchLabels: {app: far}}
  template:
    metadata: {labels: {app: far}}
    spec:
      terminationGracePeriodSeconds: 1
      nodeSelector: {kubernetes.io/hostname: n2}
      tolerations: [{key: dedicated, operator: Exists}]
      containers:
      - name: c
        image: k3c/busybox:test
        command: [sh, -c, 'hostname >/www/host; exec httpd -f -p 8080 -h /www']
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: far}
spec:
  type: NodePort
  selector: {app: far}
  ports: [{port: 80, targetPort: 8080}]
EOF
check far/ready-on-n2 wait_for 90 ready_count app=far 1
FAR=$(svc_ip far)
FAR_POD=$(ready_pods app=far | awk '{print $1}')
NPF=$(node_port far)
expect_eq far/runs-on-n2 n2 kc get pod "$FAR_POD" -o 'jsonpath={.spec.nodeName}'
wait_check far/from-e2e-node 30 get "$NS" "http://$FAR/"
expect_out far/from-pod-on-e2e "^$FAR_POD\$" pod_get client "$FAR" 80 /host
expect_out far/nodeport-on-e2e-from-client "^$FAR_POD\$" get "$NSC" "http://$NS_IP:$NPF/host"

echo "# 4b. externalTrafficPolicy Local; UDP to a selectorless Service with a manual slice"
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: weblocal}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 8083, targetPort: 8080}]
EOF
NPL=$(node_port weblocal)
wait_check local/ingress-only-serving-node 30 lb_is weblocal "$NS_IP"
wait_check local/nodeport-with-local-endpoint 30 get "$NSC" "http://$NS_IP:$NPL/"
expect_out local/n2-rules-keep-client-address 'fib saddr type local goto svc-default/weblocal' nft_table "$NS2"
# n2 has no local endpoint: outside clients are dropped there (a timeout, not a refusal)
expect_rc local/nodeport-without-local-endpoint-dropped 28 'Timeout|timed out' in_ns "$NSC" curl -sS --connect-timeout 2 --max-time 3 "http://$NS2_IP:$NPL/"
# UDP: the backend is a python echo server on the client host, named by a hand-made slice.
in_ns "$NSC" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 5300))
for _ in range(50):
    d, a = s.recvfrom(512); s.sendto(b"echo " + d, a)
' &
UDP_PID=$!
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: udp}
spec:
  ports: [{name: dns, port: 53, protocol: UDP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: udp-1, labels: {kubernetes.io/service-name: udp}}
addressType: IPv4
ports: [{name: dns, port: 5300, protocol: UDP}]
endpoints: [{addresses: ["$CLIENT_IP"], conditions: {ready: true}}]
EOF
UDP_IP=$(svc_ip udp)
udp_echo() {
    in_ns "$NS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b"ping", (sys.argv[1], 53)); print(s.recv(512).decode())
' "$UDP_IP"
}
check udp/in-rules wait_for 20 table_has "$NS" "$UDP_IP . udp . 53 : goto svc-default/udp/udp/dns"
expect_out udp/echo-through-cluster-ip '^echo ping$' udp_echo
kill "$UDP_PID" 2>/dev/null
wait "$UDP_PID" 2>/dev/null
UDP_PID=

echo "# 5. a client loops on the ClusterIP through a rollout"
t_mark
OLD_IPS=$(ready_pods app=web | awk '{print $2}' | sort | tr '\n' ' ')
# loop: one request each 0.1 s until $TMP/stop-loop exists (bounded: 3000)
(
    for _ in $(seq 3000); do
        [ -e "$TMP/stop-loop" ] && break
        if out=$(nsenter "--net=/run/netns/$NS" curl -s --connect-timeout 2 --max-time 3 "http://$WEB/host"); then
            echo "ok $out"
        else
            echo "fail $?"
        fi
        sleep 0.1
    done >"$TMP/loop.txt"
) &
LOOP_PID=$!
wait_for 10 test -s "$TMP/loop.txt"
check rollout/restart kc rollout restart deployment/web
check rollout/status kc rollout status deployment/web --timeout=150s
check rollout/old-pods-gone wait_for 60 all_pods_count app=web 2
sleep 1 # a few more requests after the last old pod went
touch "$TMP/stop-loop"
wait "$LOOP_PID"
LOOP_PID=
OK=$(grep -c '^ok' "$TMP/loop.txt")
FAILS=$(grep -c '^fail' "$TMP/loop.txt")
echo "# rollout loop: $OK requests answered, $FAILS failed; backends seen: $(awk '/^ok/ {print $2}' "$TMP/loop.txt" | sort -u | tr '\n' ' ')"
expect_eq rollout/no-failed-requests 0 echo "$FAILS"
check rollout/requests-made test "$OK" -ge 20
NEW_IPS=$(ready_pods app=web | awk '{print $2}' | sort | tr '\n' ' ')
ip1=$(echo "$NEW_IPS" | awk '{print $1}')
check rollout/rules-have-new wait_for 10 table_has "$NS" "$ip1 \. 8080"
gone=1
for ip in $OLD_IPS; do table_lacks "$NS" "$ip \. 8080" || gone=0; done
check rollout/rules-lack-old test "$gone" -eq 1
t_say "rollout under load"

echo "# 6. a table changed behind the proxy's back is rebuilt (full resync after an error)"
in_ns "$NS" nft delete table ip k3c-proxy
kc create service clusterip late --tcp=80:8080 >/dev/null
LATE=$(svc_ip late)
check resync/new-service-in-rules wait_for 30 table_has "$NS" "$LATE . tcp . 80 : goto reject-chain"
check resync/old-services-back table_has "$NS" "$WEB . tcp . 80 : goto svc-default/web/tcp/80"
expect_out resync/logged 'full resync' grep -m1 'full resync' "$TMP/k3c.log"
wait_check resync/web-answers 20 get "$NS" "http://$WEB/"

echo "# 7. the table goes: --disable-kube-proxy after a SIGKILL, and SIGTERM"
check n2/table-before table_has "$NS2" 'svc-default/web/tcp'
RSS_WITH=$(rss_kib "${AGENT_PIDS[n2]}")
agent_kill n2
check n2/table-left-after-sigkill table_has "$NS2" 'svc-default/web/tcp'
agent_start n2 "$TMP/n2" "$NS2" "$NS2_IP" --cni-bridge k3cpx1 \
    --node-taint dedicated=none:NoSchedule --disable-kube-proxy
check n2/disable-kube-proxy-removes wait_for 60 no_table "$NS2"
wait_for 20 node_ready n2
echo "# n2 agent RSS: $((RSS_WITH / 1024)) MiB with the proxy, $(($(rss_kib "${AGENT_PIDS[n2]}") / 1024)) MiB with --disable-kube-proxy (K3C_BIN=$K3C_BIN)"
agent_stop n2
agent_log_checks n2
check server/table-before table_has "$NS" 'svc-default/web/tcp'
kc delete deployments,replicasets,pods --all --grace-period=1 --wait=false >/dev/null 2>&1
wait_for 60 pods_containers_gone
server_checks
check server/table-gone-after-sigterm no_table "$NS"

summary
