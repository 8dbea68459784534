#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_flannel.sh - issue #13's pod network across nodes on REAL agents:
# `k3c server` (with its own agent, node "e2e") and two `k3c agent`s
# ("fl-a", "fl-b"), each in its own test-made network namespace, joined
# to a bridge in a fourth "LAN" namespace (192.168.251.0/24, addresses
# only inside the test's namespaces). Checks: flannel.1's parameters
# (ip -d link), its /32 address, TX checksum offload off, the flannel
# annotations on every Node, the route/neighbour/FDB entries of every
# other node, pods on different nodes reaching each other by pod IP
# without NAT, a node reaching a remote pod, a pod reaching the LAN
# masqueraded to its node's IP, the pods' MTU, the VTEP MAC kept across an
# agent restart that lost flannel.1, a deleted Node's entries removed on
# the others (from the watch, and on a restarted agent from its relist).
# With the argument host-gw, every node runs --flannel-backend host-gw:
# no flannel.1, one route per node via its LAN address, the same pod
# checks. Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BACKEND=${1:-vxlan}
case $BACKEND in vxlan | host-gw) ;; *) echo "usage: $0 [vxlan|host-gw]"; exit 2 ;; esac
# Host namespaces as lib_lan.sh names them (k3c<pid>-<host>).
NS=k3c$$-srv
NSA=k3c$$-fl-a
NSB=k3c$$-fl-b
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
LAN=192.168.251
LAN_IP=$LAN.1 # the LAN namespace's router address
NS_IP=$LAN.11
NSA_IP=$LAN.12
NSB_IP=$LAN.13
CLUSTER_CIDR=10.94.0.0/16
E2E_NAME=flannel-$BACKEND
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --node-ip "$NS_IP"
    --cluster-cidr "$CLUSTER_CIDR" --crash-backoff-base-ms 1000 --flannel-backend "$BACKEND")
AGENT_ARGS=(--cluster-cidr "$CLUSTER_CIDR" --flannel-backend "$BACKEND")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck source-path=SCRIPTDIR source=lib_lan.sh
. "$HERE/lib_lan.sh"
pods_need_root_and_tools nft bridge python3

LAN_HTTP_PID=
trap 'lan_http_stop; pods_cleanup; lan_cleanup; cleanup' EXIT
lan_http_stop() {
    [ -n "$LAN_HTTP_PID" ] || return 0
    kill "$LAN_HTTP_PID" 2>/dev/null
    wait "$LAN_HTTP_PID" 2>/dev/null
    LAN_HTTP_PID=
}

T_MARK=$(date +%s%N)
t_mark() { T_MARK=$(date +%s%N); }
t_say() {
    local ms=$((($(date +%s%N) - T_MARK) / 1000000))
    echo "# time: $1: $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
}

in_ns() {
    local ns=$1
    shift
    timeout -k 5 "$CMD_TIMEOUT_S" nsenter "--net=/run/netns/$ns" "$@"
}
node_cidr() { kc get node "$1" -o 'jsonpath={.spec.podCIDR}' 2>/dev/null; }
node_ann() { kc get node "$1" -o "jsonpath={.metadata.annotations.flannel\.alpha\.coreos\.com/$2}" 2>/dev/null; }
cidrs_assigned() { [ -n "$(node_cidr e2e)" ] && [ -n "$(node_cidr fl-a)" ] && [ -n "$(node_cidr fl-b)" ]; }
# (sysfs shows the root namespace's links: ask ip.)
vtep_mac() { in_ns "$1" ip -br link show flannel.1 2>/dev/null | awk '{print $3}'; }
net0() { echo "${1%/*}"; }
pod_ip() { kc get pod "$1" -o 'jsonpath={.status.podIP}' 2>/dev/null; }

# pod_on NAME NODE: a busybox httpd on 8080 whose /cgi-bin/ip answers the
# client's address (REMOTE_ADDR): what the server side saw.
pod_on() {
    kc create -f - <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {app: fl}}
spec:
  nodeName: $2
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: docker.io/k3c/busybox:test
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /tmp/w/cgi-bin; echo $1 >/tmp/w/index.html; printf '#!/bin/sh\\\\necho Content-Type: text/plain\\\\necho\\\\necho \$REMOTE_ADDR\\\\n' >/tmp/w/cgi-bin/ip; chmod +x /tmp/w/cgi-bin/ip; exec httpd -f -p 8080 -h /tmp/w"]
EOF
}
# wget_from POD URL: the body POD fetches (busybox 1.35's wget crashes
# with -T: the kc timeout bounds it). httpd's REMOTE_ADDR reads
# "[::ffff:10.94.1.2]": unwrapped to the IPv4 address.
wget_from() { kc exec "$1" -- wget -q -O - "$2" 2>/dev/null | sed 's/^\[::ffff:\(.*\)\]$/\1/'; }
wget_answers() { [ "$(wget_from "$1" "$2")" = "$3" ]; }
host_wget() { in_ns "$1" busybox wget -q -O - "$2" 2>/dev/null | sed 's/^\[::ffff:\(.*\)\]$/\1/'; }
host_wget_answers() { [ "$(host_wget "$1" "$2")" = "$3" ]; }

# entries_for NS CIDR MAC NODE_IP: NS has the route, the neighbour and the
# FDB entry of the node with podCIDR CIDR, VTEP MAC and NODE_IP (host-gw:
# the route via NODE_IP).
entries_for() {
    local gw
    gw=$(net0 "$2")
    if [ "$BACKEND" = host-gw ]; then
        in_ns "$1" ip route show "$2" | grep -q "via $4 dev eth0"
        return
    fi
    in_ns "$1" ip route show "$2" | grep -q "via $gw dev flannel.1 onlink" &&
        in_ns "$1" ip neigh show dev flannel.1 | grep -q "^$gw lladdr $3 PERMANENT" &&
        in_ns "$1" bridge fdb show dev flannel.1 | grep -q "^$3 dst $4 self permanent"
}
entries_gone() {
    if [ "$BACKEND" = host-gw ]; then
        ! in_ns "$1" ip route show "$2" | grep -q .
        return
    fi
    ! in_ns "$1" ip route show "$2" | grep -q . &&
        ! in_ns "$1" ip neigh show dev flannel.1 | grep -q "lladdr $3" &&
        ! in_ns "$1" bridge fdb show dev flannel.1 | grep -q "^$3 "
}

# ---- 0. the cluster ----

echo "# 0. LAN of namespaces, images, server, two agents"
t_mark
lan_make "$LAN"
lan_host srv "$NS_IP"
lan_host fl-a "$NSA_IP"
lan_host fl-b "$NSB_IP"
NSLAN=$LAN_NS
pods_images_start "$NS" test
pods_airgap_install "$TMP/data" "$TMP/a" "$TMP/b"
SERVER_IP=$NS_IP
t_say "namespaces + images"
t_mark
start_server
agent_start fl-a "$TMP/a" "$NSA" "$NSA_IP" "${AGENT_ARGS[@]}"
agent_start fl-b "$TMP/b" "$NSB" "$NSB_IP" "${AGENT_ARGS[@]}"
for n in e2e fl-a fl-b; do
    check "nodes/$n-ready" wait_for 60 node_ready "$n"
done
check nodes/cidrs-assigned wait_for 30 cidrs_assigned
t_say "server start to three nodes Ready"
declare -A NODE_NS=([e2e]=$NS [fl-a]=$NSA [fl-b]=$NSB)
declare -A NODE_IP=([e2e]=$NS_IP [fl-a]=$NSA_IP [fl-b]=$NSB_IP)
declare -A CIDR MAC
for n in e2e fl-a fl-b; do
    CIDR[$n]=$(node_cidr "$n")
done

echo "# 1. flannel.1 ($BACKEND) and the masquerade table on every node"
for n in e2e fl-a fl-b; do
    ns=${NODE_NS[$n]}
    expect_all "nft/$n-table" 'masquerade fully-random' "ip saddr $CLUSTER_CIDR ip daddr $CLUSTER_CIDR return" \
        "ip saddr != $CLUSTER_CIDR ip daddr ${CIDR[$n]} return" "ip daddr $CLUSTER_CIDR accept" \
        -- wait_for 30 in_ns "$ns" nft list table ip k3c-flannel
    if [ "$BACKEND" = host-gw ]; then
        check "link/$n-no-flannel.1" wait_for 10 sh -c "! ip -n $ns link show flannel.1 2>/dev/null"
        MAC[$n]=
        continue
    fi
    check "link/$n-flannel.1" wait_for 30 in_ns "$ns" ip link show flannel.1
    MAC[$n]=$(vtep_mac "$ns")
    expect_all "link/$n-vxlan-params" 'mtu 1450 ' 'vxlan id 1 ' "local ${NODE_IP[$n]} " \
        'dev eth0 ' 'dstport 8472 ' 'nolearning' -- in_ns "$ns" ip -d link show flannel.1
    expect_out "link/$n-up" 'state (UNKNOWN|UP)' in_ns "$ns" ip link show flannel.1
    check "link/$n-address" wait_for 30 in_ns "$ns" sh -c \
        "ip -4 addr show dev flannel.1 | grep -q 'inet $(net0 "${CIDR[$n]}")/32 '"
    if command -v ethtool >/dev/null; then
        expect_out "link/$n-tx-csum-off" '^tx-checksumming: off' in_ns "$ns" ethtool -k flannel.1
    else
        echo "# ethtool missing: TX checksum offload not checked"
    fi
done

echo "# 2. annotations and per-node entries"
for n in e2e fl-a fl-b; do
    if [ "$BACKEND" = vxlan ]; then
        expect_eq "ann/$n-backend-data" "{\"VNI\":1,\"VtepMAC\":\"${MAC[$n]}\"}" node_ann "$n" backend-data
    else
        expect_eq "ann/$n-backend-data" null node_ann "$n" backend-data
    fi
    expect_eq "ann/$n-backend-type" "$BACKEND" node_ann "$n" backend-type
    expect_eq "ann/$n-kube-subnet-manager" true node_ann "$n" kube-subnet-manager
    expect_eq "ann/$n-public-ip" "${NODE_IP[$n]}" node_ann "$n" public-ip
done
for n in e2e fl-a fl-b; do
    for m in e2e fl-a fl-b; do
        [ "$n" = "$m" ] && continue
        wait_check "entries/$n-has-$m" 30 entries_for "${NODE_NS[$n]}" "${CIDR[$m]}" "${MAC[$m]}" "${NODE_IP[$m]}"
    done
done

echo "# 3. pods on different nodes by pod IP"
t_mark
check pods/create-a pod_on web-a fl-a
check pods/create-b pod_on web-b fl-b
check pods/create-s pod_on web-s e2e
for p in web-a web-b web-s; do
    check "pods/$p-running" wait_for 90 pod_phase_is "$p" Running
done
t_say "three pods Running"
IPA=$(pod_ip web-a)
IPB=$(pod_ip web-b)
IPS=$(pod_ip web-s)
[ "$BACKEND" = vxlan ] && MTU=1450 || MTU=1500
expect_eq pods/a-mtu "$MTU" kc exec web-a -- cat /sys/class/net/eth0/mtu
expect_all pods/a-cni0-gateway "inet $(net0 "${CIDR[fl-a]}" | sed 's/0$/1/')/24" -- in_ns "$NSA" ip -4 addr show dev cni0
t_mark
wait_check pods/a-to-b 30 wget_answers web-a "http://$IPB:8080/" web-b
t_say "first answer across nodes"
wait_check pods/b-to-a 30 wget_answers web-b "http://$IPA:8080/" web-a
wait_check pods/a-to-server-node-pod 30 wget_answers web-a "http://$IPS:8080/" web-s
wait_check pods/s-to-b 30 wget_answers web-s "http://$IPB:8080/" web-b
# Pod to pod keeps the source address (no NAT inside the cluster CIDR).
expect_eq pods/a-to-b-no-nat "$IPA" wget_from web-a "http://$IPB:8080/cgi-bin/ip"
expect_eq pods/b-to-s-no-nat "$IPB" wget_from web-b "http://$IPS:8080/cgi-bin/ip"
# A node reaches a remote pod; it arrives from its flannel.1 address
# (host-gw: from its LAN address).
wait_check host/server-to-pod-a 30 host_wget_answers "$NS" "http://$IPA:8080/" web-a
wait_check host/b-to-pod-s 30 host_wget_answers "$NSB" "http://$IPS:8080/" web-s
[ "$BACKEND" = vxlan ] && SRC=$(net0 "${CIDR[e2e]}") || SRC=$NS_IP
expect_eq host/server-source "$SRC" \
    host_wget "$NS" "http://$IPA:8080/cgi-bin/ip"
# A pod going out of the cluster CIDR is masqueraded to its node's IP.
in_ns "$NSLAN" python3 -c '
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = self.client_address[0].encode() + b"\n"
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer(("'"$LAN_IP"'", 8099), H).serve_forever()' &
LAN_HTTP_PID=$!
wait_check masq/pod-a-to-lan 30 wget_answers web-a "http://$LAN_IP:8099/" "$NSA_IP"
expect_eq masq/pod-s-to-lan "$NS_IP" wget_from web-s "http://$LAN_IP:8099/"
lan_http_stop

if [ "$BACKEND" = vxlan ]; then
    echo "# 4. agent restart without flannel.1: same VTEP MAC, entries back"
    agent_stop fl-a
    in_ns "$NSA" ip link del flannel.1
    agent_start fl-a "$TMP/a" "$NSA" "$NSA_IP" "${AGENT_ARGS[@]}"
    check restart/flannel.1-back wait_for 30 in_ns "$NSA" ip link show flannel.1
    expect_eq restart/same-mac "${MAC[fl-a]}" vtep_mac "$NSA"
    expect_eq restart/same-annotation "{\"VNI\":1,\"VtepMAC\":\"${MAC[fl-a]}\"}" node_ann fl-a backend-data
else
    echo "# 4. agent restart after its route to fl-b was deleted by hand: back"
    agent_stop fl-a
    in_ns "$NSA" ip route del "${CIDR[fl-b]}"
    agent_start fl-a "$TMP/a" "$NSA" "$NSA_IP" "${AGENT_ARGS[@]}"
fi
wait_check restart/a-has-b-again 30 entries_for "$NSA" "${CIDR[fl-b]}" "${MAC[fl-b]}" "$NSB_IP"
wait_check restart/a-to-b-again 30 wget_answers web-a "http://$IPB:8080/" web-b

echo "# 5. a deleted node's entries go: from the watch, and from a relist"
kc delete pod web-b --grace-period=1 --wait=false >/dev/null 2>&1
agent_stop fl-b
# fl-a is down while the node goes: it learns at its relist.
agent_stop fl-a
check delete/node kc delete node fl-b
wait_check delete/gone-on-server 30 entries_gone "$NS" "${CIDR[fl-b]}" "${MAC[fl-b]}"
expect_out delete/a-still-has-it-while-down "." in_ns "$NSA" ip route show "${CIDR[fl-b]}"
agent_start fl-a "$TMP/a" "$NSA" "$NSA_IP" "${AGENT_ARGS[@]}"
wait_check delete/pruned-on-a-restart 30 entries_gone "$NSA" "${CIDR[fl-b]}" "${MAC[fl-b]}"
wait_check delete/a-keeps-server 30 entries_for "$NSA" "${CIDR[e2e]}" "${MAC[e2e]}" "$NS_IP"
wait_check delete/a-to-s-still 30 wget_answers web-a "http://$IPS:8080/" web-s

echo "# 6. logs"
agent_stop fl-a
agent_log_checks fl-a
agent_log_checks fl-b
server_checks
summary
