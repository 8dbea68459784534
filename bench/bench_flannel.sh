#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_flannel.sh [vxlan|host-gw] - pod-to-pod TCP throughput across nodes
# over the pod network (issue #13) against the underlay it rides on, in the
# same run: `k3c server` (its own agent, node "e2e") and one `k3c agent`
# ("fl-a"), each in a test-made namespace on a bridged LAN of namespaces
# (tests/e2e/lib_lan.sh). Each figure is the best of BENCH_RUNS (3)
# fetches of BENCH_MB (512) MiB of zeros with busybox wget from busybox
# httpd, timed by the receiver from /proc/uptime (10 ms) so that kubectl
# exec is not counted (busybox nc drops bulk data, and the test image has
# nothing else):
#   underlay    host fl-a -> host e2e over veth + bridge (no pod network)
#   cross-node  pod on fl-a -> pod on e2e over flannel.1 (host-gw: routes)
#   same-node   pod on e2e -> pod on e2e over cni0
#   (vxlan) cross-node again with TX checksum offload back on flannel.1:
#   what the checksum-offload guard costs here
# and the ratios to the underlay. Needs root; without it prints "skipped".
# shellcheck disable=SC2317,SC2034 # functions called through wait_for; settings lib.sh reads
set -u

BACKEND=${1:-vxlan}
BENCH_MB=${BENCH_MB:-512}
BENCH_RUNS=${BENCH_RUNS:-3}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$REPO/tests/e2e
if [ "$(id -u)" -ne 0 ]; then
    echo "bench_flannel: skipped (needs root)"
    exit 0
fi
K3C_BIN=${K3C_BIN:-$REPO/build/k3c}
NS=k3c$$-srv # as lib_lan.sh names them
NSA=k3c$$-fl-a
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
NS_IP=192.168.250.11
NSA_IP=192.168.250.12
CLUSTER_CIDR=10.95.0.0/16
E2E_NAME=bench-flannel
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --node-ip "$NS_IP"
    --cluster-cidr "$CLUSTER_CIDR" --flannel-backend "$BACKEND")
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib_lan.sh
. "$HERE/lib_lan.sh"
pods_need_root_and_tools

BYTES=$((BENCH_MB * 1024 * 1024))
in_ns() {
    local ns=$1
    shift
    nsenter "--net=/run/netns/$ns" "$@"
}
pod_ip() { kc get pod "$1" -o 'jsonpath={.status.podIP}' 2>/dev/null; }
# The receiver's script: seconds (to 10 ms) to fetch big from "$0" into
# /dev/null with busybox wget.
GET='read a _ </proc/uptime; busybox wget -q -O /dev/null "http://$0:8080/big" || exit 1; read b _ </proc/uptime; echo "$a $b"'

# best NAME DEST_IP CMD...: the best MiB/s of BENCH_RUNS fetches by
# CMD sh -c GET DEST_IP; printed, and left in BEST.
best() {
    local name=$1 dest=$2 r t v
    shift 2
    BEST=0
    for r in $(seq "$BENCH_RUNS"); do
        t=$("$@" sh -c "$GET" "$dest" 2>"$TMP/get.err" | awk '{print $2 - $1}')
        [ -n "$t" ] || sed 's/^/#   error: /' "$TMP/get.err" | tail -n 3
        v=$(awk -v t="${t:-0}" -v mb="$BENCH_MB" 'BEGIN { if (t > 0) printf "%.0f", mb / t; else print 0 }')
        [ "$v" -gt "$BEST" ] && BEST=$v
        echo "#   $name run $r: $v MiB/s (${t:-failed} s)"
    done
}

# A pod serving BENCH_MB MiB of zeros as /big on 8080 (busybox httpd, once
# the file is written).
pod_on() {
    kc create -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $2
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: docker.io/k3c/busybox:test
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /tmp/w && head -c $BYTES /dev/zero >/tmp/w/big && exec httpd -f -p 8080 -h /tmp/w"]
EOF
}
# serving POD: a LISTEN socket on 8080 (0x1F90) in POD (httpd listens on
# IPv6 any once big is written).
serving() {
    kc exec "$1" -- cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk '$2 ~ /:1F90$/ && $4 == "0A" {f = 1} END {exit !f}'
}
HOST_HTTPD_PID=
trap '[ -n "$HOST_HTTPD_PID" ] && kill "$HOST_HTTPD_PID" 2>/dev/null; pods_cleanup; lan_cleanup; cleanup' EXIT

lan_make 192.168.250
lan_host srv "$NS_IP"
lan_host fl-a "$NSA_IP"
pods_images_start "$NS" test
pods_airgap_install "$TMP/data" "$TMP/a"
SERVER_IP=$NS_IP
start_server >/dev/null
agent_start fl-a "$TMP/a" "$NSA" "$NSA_IP" --cluster-cidr "$CLUSTER_CIDR" --flannel-backend "$BACKEND"
wait_for 60 node_ready fl-a || { echo "bench_flannel: node fl-a not Ready"; exit 1; }
pod_on src e2e
pod_on dst-a fl-a
pod_on dst-s e2e
for p in src dst-a dst-s; do
    wait_for 90 pod_phase_is "$p" Running || { echo "bench_flannel: pod $p not Running"; exit 1; }
done
for p in dst-a dst-s; do
    wait_for 60 serving "$p" || { echo "bench_flannel: pod $p not serving"; exit 1; }
done
mkdir -p "$TMP/www"
head -c "$BYTES" /dev/zero >"$TMP/www/big"
nsenter "--net=/run/netns/$NSA" busybox httpd -f -p 8080 -h "$TMP/www" &
HOST_HTTPD_PID=$!
MTU=$(kc exec src -- cat /sys/class/net/eth0/mtu)
echo "# backend $BACKEND, $BENCH_MB MiB per fetch (busybox wget from busybox httpd), best of $BENCH_RUNS; pods' MTU $MTU"

best underlay "$NSA_IP" in_ns "$NS" busybox
UNDER=$BEST
best cross-node "$(pod_ip dst-a)" kc exec src --
CROSS=$BEST
best same-node "$(pod_ip dst-s)" kc exec src --
SAME=$BEST
# What the checksum-offload guard costs: the same with TX checksum offload
# (and so TSO) back on flannel.1 on both nodes, then off again.
OFFLOAD=
if [ "$BACKEND" = vxlan ] && command -v ethtool >/dev/null; then
    in_ns "$NS" ethtool -K flannel.1 tx on >/dev/null 2>&1
    in_ns "$NSA" ethtool -K flannel.1 tx on >/dev/null 2>&1
    best cross-node-tx-csum-on "$(pod_ip dst-a)" kc exec src --
    OFFLOAD=$BEST
    in_ns "$NS" ethtool -K flannel.1 tx off >/dev/null 2>&1
    in_ns "$NSA" ethtool -K flannel.1 tx off >/dev/null 2>&1
fi
ratio() { awk -v a="$1" -v b="$UNDER" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf 'underlay (veth + bridge, host to host)   %6s MiB/s\n' "$UNDER"
printf 'pod to pod across nodes (%-7s)         %6s MiB/s  ratio to underlay %s\n' "$BACKEND" "$CROSS" "$(ratio "$CROSS")"
printf 'pod to pod on one node (cni0)            %6s MiB/s  ratio to underlay %s\n' "$SAME" "$(ratio "$SAME")"
if [ -n "$OFFLOAD" ]; then
    printf 'across nodes, flannel.1 TX csum offload on %4s MiB/s  ratio to underlay %s (not the default)\n' "$OFFLOAD" "$(ratio "$OFFLOAD")"
fi
