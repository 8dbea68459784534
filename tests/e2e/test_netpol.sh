#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_netpol.sh - NetworkPolicy enforcement (issue #13) on real pods: a LAN
# (a bridge in a test-made namespace, 192.168.252.1/24) with the server and
# its own agent (node "e2e"), a second agent "n2" (tainted: only pods that
# ask for it) and a client host that is no node (routed to the pod network
# through e2e). Pods: srv (httpd on 8080, named "http", and 9090) and cli
# on e2e, far on n2, ocli in namespace "other". Checks: everything open
# without policies; deny-all ingress blocks pod->pod on the same node,
# across nodes and through a ClusterIP, but not the node itself; an allow
# rule by podSelector with a named port opens only that port, through the
# ClusterIP too; a label change on a remote pod opens it; namespaceSelector;
# ipBlock with except (the LAN client); the policies deleted -> open again;
# egress deny, then allow to one port; the table removed with
# --disable-network-policy and at SIGTERM. "Blocked" is a connection that
# fails within nc's 3 s bound; every change is polled with a deadline.
# Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-np-$$
NS2=k3c-e2e-np2-$$
NSC=k3c-e2e-npc-$$
LAN=k3c-e2e-npl-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
LAN_GW=192.168.252.1
NS_IP=192.168.252.10
NS2_IP=192.168.252.11
CLIENT_IP=192.168.252.20
CLUSTER_CIDR=10.96.0.0/16
E2E_NAME=netpol
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --node-ip "$NS_IP"
    --cni-bridge k3cnp0 --cluster-cidr "$CLUSTER_CIDR" --crash-backoff-base-ms 1000)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools nft

trap 'kc delete namespace other --wait=false >/dev/null 2>&1; pods_cleanup; cleanup' EXIT

T0=$(date +%s)
in_ns() { local ns=$1; shift; timeout -k 2 30 nsenter "--net=/run/netns/$ns" "$@"; }
nft_table() { in_ns "$1" nft list table ip k3c-netpol; }
table_has() { nft_table "$1" 2>/dev/null | grep -Eq -- "$2"; }
no_table() { ! in_ns "$1" nft list table ip k3c-netpol >/dev/null 2>&1; }
pod_ip() { kc get pod "$@" -o 'jsonpath={.status.podIP}' 2>/dev/null; }
# reach [-n NS] POD IP PORT: an HTTP GET from inside POD answers (nc, 3 s bound).
reach() {
    local nsarg=()
    if [ "$1" = -n ]; then nsarg=(-n "$2"); shift 2; fi
    kc exec "${nsarg[@]}" "$1" -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $2 $3" 2>&1 |
        grep -q 'k3c test page'
}
blocked() { ! reach "$@"; }
# from the LAN client and from the node
reach_host() { in_ns "$1" curl -s --connect-timeout 3 --max-time 4 "http://$2:$3/" | grep -q 'k3c test page'; }
blocked_host() { ! reach_host "$@"; }
np() { kc apply -f - >/dev/null; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---- 0. the LAN, its hosts, the cluster ----

echo "# 0. LAN, hosts, images, server, second agent"
pods_netns_make "$NS"
pods_netns_make "$NS2"
pods_netns_make "$NSC"
pods_lan_make "$LAN" "$LAN_GW"
pods_lan_plug np "$NS" "$NS_IP" "$LAN" "$LAN_GW"
pods_lan_plug np "$NS2" "$NS2_IP" "$LAN" "$LAN_GW"
pods_lan_plug np "$NSC" "$CLIENT_IP" "$LAN" "$LAN_GW"
# the client reaches e2e's pods directly (ipBlock checks see its address)
ip -n "$NSC" route add "${CLUSTER_CIDR%.*.*}.0.0/24" via "$NS_IP"
pods_images_start "$NS" test
pods_airgap_install "$TMP/data" "$TMP/n2"
SERVER_IP=$NS_IP
start_server
agent_start n2 "$TMP/n2" "$NS2" "$NS2_IP" --cni-bridge k3cnp1 --cluster-cidr "$CLUSTER_CIDR" \
    --node-taint dedicated=none:NoSchedule
check nodes/e2e-ready wait_for 60 node_ready e2e
check nodes/n2-ready wait_for 60 node_ready n2
check table/on-server wait_for 30 table_has "$NS" 'chain forward'
check table/on-n2 wait_for 30 table_has "$NS2" 'chain forward'

kc create namespace other >/dev/null
kc label namespace other team=b >/dev/null
WEB_CMD='[sh, -c, "httpd -p 9090 -h /www; exec httpd -f -p 8080 -h /www"]'
np <<EOF
apiVersion: v1
kind: Pod
metadata: {name: srv, labels: {app: srv}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    command: $WEB_CMD
    ports: [{name: http, containerPort: 8080}, {name: alt, containerPort: 9090}]
---
apiVersion: v1
kind: Pod
metadata: {name: cli, labels: {role: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: k3c/busybox:test, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: far, labels: {app: far}}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {kubernetes.io/hostname: n2}
  tolerations: [{key: dedicated, operator: Exists}]
  containers:
  - name: c
    image: k3c/busybox:test
    command: $WEB_CMD
    ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: ocli, namespace: other, labels: {role: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: k3c/busybox:test, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Service
metadata: {name: srv}
spec:
  selector: {app: srv}
  ports: [{port: 80, targetPort: 8080}]
EOF
for p in srv cli far; do check "pod/$p-running" wait_for 90 pod_phase_is "$p" Running; done
ocli_running() { [ "$(kc get pod -n other ocli -o 'jsonpath={.status.phase}' 2>/dev/null)" = Running ]; }
check pod/ocli-running wait_for 90 ocli_running
SRV=$(pod_ip srv)
FAR=$(pod_ip far)
SVC=$(kc get svc srv -o 'jsonpath={.spec.clusterIP}')
expect_eq far/on-n2 n2 kc get pod far -o 'jsonpath={.spec.nodeName}'
echo "# srv $SRV, far $FAR, ClusterIP $SVC; setup took $(($(date +%s) - T0)) s"

echo "# 1. no policy: everything open"
wait_check open/same-node 30 reach cli "$SRV" 8080
wait_check open/across-nodes 30 reach far "$SRV" 8080
check open/to-far reach cli "$FAR" 8080
wait_check open/cluster-ip 30 reach cli "$SVC" 80
check open/other-namespace reach -n other ocli "$SRV" 8080
wait_check open/lan-client 30 reach_host "$NSC" "$SRV" 8080

echo "# 2. deny-all ingress in default"
T1=$(date +%s)
np <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all}
spec: {podSelector: {}}
EOF
wait_check deny/same-node-blocked 20 blocked cli "$SRV" 8080
echo "# deny-all applied and seen blocked after $(($(date +%s) - T1)) s"
check deny/across-nodes-blocked blocked far "$SRV" 8080
check deny/to-far-blocked-on-n2 blocked cli "$FAR" 8080
check deny/cluster-ip-blocked blocked cli "$SVC" 80
check deny/other-namespace-blocked blocked -n other ocli "$SRV" 8080
check deny/node-itself-allowed reach_host "$NS" "$SRV" 8080
check deny/chain-in-table table_has "$NS" "chain ing-$SRV"
check deny/n2-has-far table_has "$NS2" "chain ing-$FAR"

echo "# 3. allow by podSelector to the named port http"
np <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client}
spec:
  podSelector: {matchLabels: {app: srv}}
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}], ports: [{port: http}]}]
EOF
wait_check allow/same-node-open 20 reach cli "$SRV" 8080
check allow/other-port-blocked blocked cli "$SRV" 9090
check allow/cluster-ip-open reach cli "$SVC" 80
check allow/unlabelled-far-blocked blocked far "$SRV" 8080
kc label pod far role=client >/dev/null
wait_check allow/far-labelled-across-nodes-open 20 reach far "$SRV" 8080
check allow/other-namespace-still-blocked blocked -n other ocli "$SRV" 8080

echo "# 4. namespaceSelector"
np <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-team-b}
spec:
  podSelector: {matchLabels: {app: srv}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {role: client}}}]}]
EOF
wait_check ns/other-namespace-open 20 reach -n other ocli "$SRV" 9090

echo "# 5. ipBlock with except (the LAN client)"
check ipblock/client-blocked-before blocked_host "$NSC" "$SRV" 8080
np <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-lan}
spec:
  podSelector: {matchLabels: {app: srv}}
  ingress: [{from: [{ipBlock: {cidr: 192.168.252.0/24, except: [$CLIENT_IP/32]}}]}]
EOF
check ipblock/in-table wait_for 20 table_has "$NS" "ip saddr 192.168.252.0/24 ip saddr != $CLIENT_IP"
check ipblock/excepted-client-blocked blocked_host "$NSC" "$SRV" 8080
kc patch netpol allow-lan --type=json \
    -p '[{"op":"replace","path":"/spec/ingress/0/from/0/ipBlock/except","value":["192.168.252.30/32"]}]' >/dev/null
wait_check ipblock/client-open 20 reach_host "$NSC" "$SRV" 8080

echo "# 6. policies deleted: open again"
kc delete netpol deny-all allow-client allow-team-b allow-lan >/dev/null
wait_check deleted/port-9090-open 20 reach cli "$SRV" 9090
check deleted/far-to-srv-open reach far "$SRV" 9090
check deleted/no-pod-chains-left wait_for 20 sh -c "! nsenter --net=/run/netns/$NS nft list table ip k3c-netpol | grep -q 'chain ing-'"

echo "# 7. egress: deny, then allow to one port"
np <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cli-egress}
spec:
  podSelector: {matchLabels: {role: client}}
  policyTypes: [Egress]
EOF
wait_check egress/denied 20 blocked cli "$SRV" 8080
check egress/denied-cluster-ip blocked cli "$SVC" 80
check egress/denied-on-n2 blocked far "$SRV" 8080
check egress/srv-not-isolated reach_host "$NS" "$SRV" 8080
kc patch netpol cli-egress --type=merge -p '{"spec":{"egress":[{"ports":[{"port":9090}]}]}}' >/dev/null
wait_check egress/allowed-port-open 20 reach cli "$SRV" 9090
check egress/other-port-still-blocked blocked cli "$SRV" 8080
kc delete netpol cli-egress >/dev/null
wait_check egress/deleted-open 20 reach cli "$SRV" 8080
echo "# policy checks took $(($(date +%s) - T1)) s"

echo "# 8. the table goes: --disable-network-policy after a SIGKILL, and SIGTERM"
kc delete pod -n other ocli --grace-period=1 >/dev/null 2>&1
kc delete pods --all --grace-period=1 --wait=false >/dev/null 2>&1
wait_for 60 pods_containers_gone
RSS_WITH=$(rss_kib "${AGENT_PIDS[n2]}")
agent_kill n2
check n2/table-left-after-sigkill table_has "$NS2" 'chain forward'
agent_start n2 "$TMP/n2" "$NS2" "$NS2_IP" --cni-bridge k3cnp1 --cluster-cidr "$CLUSTER_CIDR" \
    --node-taint dedicated=none:NoSchedule --disable-network-policy
check n2/disable-network-policy-removes wait_for 60 no_table "$NS2"
wait_for 20 node_ready n2
echo "# n2 agent RSS (no pods): $((RSS_WITH / 1024)) MiB enforcing, $(($(rss_kib "${AGENT_PIDS[n2]}") / 1024)) MiB with --disable-network-policy (K3C_BIN=$K3C_BIN)"
agent_stop n2
agent_log_checks n2
server_checks
check server/table-gone-after-sigterm no_table "$NS"
echo "# total $(($(date +%s) - T0)) s"

summary
