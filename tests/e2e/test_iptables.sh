#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_iptables.sh - issue #19's iptables backend end to end: the server
# (node "e2e", runs the pods) and an agent "n2" (tainted) in test-made
# network namespaces on a test-made LAN, both started with
# --netfilter-backend iptables (NetworkPolicy enforced in K3C-NP- chains).
# Checks: the backend chosen and logged; iptables-legacy-save in each node's
# namespace shows the K3C- chains and their jumps, `nft list ruleset` no k3c
# table; a ClusterIP and a NodePort Service answer from a pod and from the
# other node's namespace (across flannel's VXLAN); sessionAffinity, a
# Service without endpoints refused, externalTrafficPolicy Local; cluster
# DNS from a pod;
# pod egress masqueraded to the node's address; NetworkPolicy: a
# default-deny ingress policy blocks pod to pod, an allow from a labelled
# pod lets it in and keeps another out, an egress policy (ipBlock with
# except) lets a pod reach only what it allows, the chains follow the policies (FORWARD's jump
# first, chains gone with the policies); a restarted agent (after
# SIGTERM and after SIGKILL) leaves exactly one jump per chain and answers
# again; SIGTERM removes the proxy's chains; `k3c killall --with-net` in the
# node's namespace removes every K3C- chain. Nothing touches the root
# namespace's tables. Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-ipt-$$
NS2=k3c-e2e-ipt2-$$
LAN=k3c-e2e-iptl-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
LAN_GW=192.168.252.1
NS_IP=192.168.252.10
NS2_IP=192.168.252.11
CLUSTER_CIDR=10.96.0.0/16
E2E_NAME=iptables
BACKEND=(--netfilter-backend iptables)
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --node-ip "$NS_IP"
    --cni-bridge k3cit0 --cluster-cidr "$CLUSTER_CIDR" --crash-backoff-base-ms 1000 "${BACKEND[@]}")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools nft iptables-legacy-save python3

SINK_PID=
stop_sink() {
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    SINK_PID=
}
trap 'stop_sink; pods_cleanup; cleanup' EXIT

in_ns() { local ns=$1; shift; timeout -k 2 30 nsenter "--net=/run/netns/$ns" "$@"; }
get() { in_ns "$1" curl -sS --connect-timeout 3 --max-time 5 "$2"; }
pod_get() { kc exec "$1" -- sh -c "printf 'GET $4 HTTP/1.0\r\n\r\n' | nc -w 5 $2 $3"; }
save() { in_ns "$1" iptables-legacy-save -t "$2"; }
save_has() { save "$1" "$2" 2>/dev/null | grep -Eq -- "$3"; }
# jumps NS TABLE CHAIN TARGET: how many rules of CHAIN jump to TARGET
jumps() { save "$1" "$2" | grep -Ec -- "^-A $3 (.* )?-j $4\$"; }
no_k3c_chains() { ! save "$1" nat | grep -q '^:K3C-' && ! save "$1" filter | grep -q '^:K3C-'; }
no_proxy_chains() { ! save "$1" nat | grep -q '^:K3C-SERVICES'; }
no_np_chains() { ! save "$1" filter | grep -q 'K3C-NP-'; }
# FORWARD's first rule is the jump to NetworkPolicy's chain
np_first() { save "$1" filter | grep -m1 '^-A FORWARD ' | grep -qx -- '-A FORWARD -j K3C-NP-FORWARD'; }
pod_ip() { kc get pod "$1" -o 'jsonpath={.status.podIP}' 2>/dev/null; }
# reaches POD IP PORT: an HTTP answer from IP:PORT in pod POD's network
reaches() { pod_get "$1" "$2" "$3" / 2>/dev/null | grep -q 'k3c test page'; }
blocked() { ! reaches "$@"; }
no_nft_table() { ! in_ns "$1" nft list ruleset | grep -q 'k3c'; }
# refused NS URL: the connection is refused (REJECT), not timed out
refused() {
    local out
    out=$(in_ns "$1" curl -sS --connect-timeout 3 --max-time 5 "$2" 2>&1)
    echo "$out"
    [[ $out == *"Connection refused"* || $out == *"Couldn't connect"* ]]
}
svc_ip() { kc get svc "$1" -o 'jsonpath={.spec.clusterIP}' 2>/dev/null; }
node_port() { kc get svc "$1" -o 'jsonpath={.spec.ports[0].nodePort}' 2>/dev/null; }
web_ready() { [ "$(kc get deploy web -o 'jsonpath={.status.readyReplicas}' 2>/dev/null)" = 2 ]; }
# one jump per built-in chain to each of k3c's chains, on node namespace $1
one_jump_each() {
    local t c target n
    for t in "nat PREROUTING K3C-SERVICES" "nat OUTPUT K3C-SERVICES" "nat POSTROUTING K3C-POSTROUTING" \
        "nat POSTROUTING K3C-FLANNEL-POSTRTG" "filter FORWARD K3C-FLANNEL-FWD" \
        "filter FORWARD K3C-SERVICES" "filter INPUT K3C-FIREWALL" "filter FORWARD K3C-NP-FORWARD"; do
        read -r tbl c target <<<"$t"
        n=$(jumps "$1" "$tbl" "$c" "$target")
        if [ "$n" != 1 ]; then
            echo "$tbl $c -> $target: $n jumps"
            return 1
        fi
    done
    echo "one jump each"
}

T0=$SECONDS
echo "# 0. LAN, hosts, images, server, second agent"
pods_netns_make "$NS"
pods_netns_make "$NS2"
pods_lan_make "$LAN" "$LAN_GW"
pods_lan_plug it "$NS" "$NS_IP" "$LAN" "$LAN_GW"
pods_lan_plug it "$NS2" "$NS2_IP" "$LAN" "$LAN_GW"
pods_images_start "$NS" test
pods_airgap_install "$TMP/data" "$TMP/n2"
SERVER_IP=$NS_IP
start_server
# n2 runs the auto choice on a kernel whose nf_tables "does not work" (the
# probe's test hook: this kernel has it), so the fallback itself is tested.
start_n2() {
    K3C_TEST_NFTABLES_UNUSABLE="no nf_tables in this kernel" \
        agent_start n2 "$TMP/n2" "$NS2" "$NS2_IP" --cni-bridge k3cit1 \
        --cluster-cidr "$CLUSTER_CIDR" --node-taint dedicated=none:NoSchedule --netfilter-backend auto
}
start_n2
check nodes/e2e-ready wait_for 90 node_ready e2e
check nodes/n2-ready wait_for 90 node_ready n2
expect_out backend/logged 'netfilter backend iptables' grep -m1 'netfilter backend' "$TMP/k3c.log"
expect_out backend/auto-fell-back 'netfilter backend iptables \(auto: nftables does not work here' \
    grep -m1 'netfilter backend' "$TMP/agent-n2.log"
check chains/server wait_for 30 save_has "$NS" nat '^-A PREROUTING -j K3C-SERVICES$'
check chains/n2 wait_for 30 save_has "$NS2" nat '^-A PREROUTING -j K3C-SERVICES$'
check chains/flannel-server wait_for 30 save_has "$NS" nat "^-A K3C-FLANNEL-POSTRTG -s $CLUSTER_CIDR ! -d 224.0.0.0/4 -j MASQUERADE"
check chains/flannel-n2-forward wait_for 30 save_has "$NS2" filter "^-A K3C-FLANNEL-FWD -s $CLUSTER_CIDR -j ACCEPT"
check nft/no-table-server no_nft_table "$NS"
check nft/no-table-n2 no_nft_table "$NS2"

echo "# 1. ClusterIP and NodePort from a pod and from the other node"
kc apply -f - >/dev/null <<EOF
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
      - name: c
        image: k3c/busybox:test
        command: [sh, -c, 'hostname >/www/host; exec httpd -f -p 8080 -h /www']
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: webnp}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
kc run client --image=k3c/busybox:test --restart=Never \
    --overrides='{"spec":{"terminationGracePeriodSeconds":1}}' --command -- sleep 3600 >/dev/null
check web/ready wait_for 90 web_ready
check client/running wait_for 60 pod_phase_is client Running
WEB=$(svc_ip web)
NP=$(node_port webnp)
wait_check web/from-other-node 30 get "$NS2" "http://$WEB/"
expect_out web/from-other-node-page 'k3c test page' get "$NS2" "http://$WEB/"
expect_out web/from-pod 'k3c test page' pod_get client "$WEB" 80 /
HOSTS=$(for _ in $(seq 16); do get "$NS" "http://$WEB/host"; echo; done | sort -u | grep -c '^web-')
expect_eq web/both-backends 2 echo "$HOSTS"
expect_out web/statistic-rule 'statistic --mode random --probability 0.5' save "$NS" nat
wait_check nodeport/from-other-node 30 get "$NS2" "http://$NS_IP:$NP/"
expect_out nodeport/via-n2-from-pod 'k3c test page' pod_get client "$NS2_IP" "$NP" /
expect_out nodeport/in-chains "K3C-NODEPORTS -p tcp -m tcp --dport $NP -j K3C-EXT-" save "$NS2" nat

echo "# 1a. sessionAffinity, a Service without endpoints, externalTrafficPolicy Local"
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: local}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
STICKY=$(svc_ip sticky)
EMPTY=$(svc_ip empty)
LOCAL_NP=$(node_port local)
wait_check affinity/answers 30 get "$NS2" "http://$STICKY/"
STICKY_HOSTS=$(for _ in $(seq 8); do get "$NS2" "http://$STICKY/host"; echo; done | sort -u | grep -c '^web-')
expect_eq affinity/one-backend 1 echo "$STICKY_HOSTS"
expect_out affinity/recent-rule 'recent --rcheck --seconds 60 --reap' save "$NS2" nat
check empty/reject-rule wait_for 30 save_has "$NS2" filter "^-A K3C-SERVICES -d $EMPTY/32 -p tcp -m tcp --dport 80 -j REJECT"
check empty/refused refused "$NS2" "http://$EMPTY/"
wait_check etp-local/node-with-endpoints 30 get "$NS2" "http://$NS_IP:$LOCAL_NP/"
expect_out etp-local/no-local-endpoint-drops 'K3C-MARK-DROP' save "$NS2" nat

echo "# 2. cluster DNS and egress masquerade from a pod"
expect_out dns/service-name "$WEB" kc exec client -- busybox nslookup web.default.svc.cluster.local
# a one-shot TCP listener on the LAN's gateway writes its peer's address
in_ns "$LAN" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7070)); s.listen(1); s.settimeout(60)
c, a = s.accept(); open(sys.argv[2], "w").write(a[0] + "\n"); c.close()
' "$LAN_GW" "$TMP/peer.txt" &
SINK_PID=$!
# the pod connects until the listener has taken one connection
egress_once() {
    kc exec client -- nc -w 3 "$LAN_GW" 7070 </dev/null >/dev/null 2>&1
    test -s "$TMP/peer.txt"
}
wait_for 30 egress_once
expect_out egress/masqueraded-to-node-ip "^$NS_IP\$" cat "$TMP/peer.txt"
stop_sink

echo "# 2a. NetworkPolicy in K3C-NP- chains"
kc run friend --image=k3c/busybox:test --restart=Never --labels=role=friend \
    --overrides='{"spec":{"terminationGracePeriodSeconds":1}}' --command -- sleep 3600 >/dev/null
check friend/running wait_for 60 pod_phase_is friend Running
WEB1=$(kc get pods -l app=web -o 'jsonpath={.items[0].status.podIP}')
WEB2=$(kc get pods -l app=web -o 'jsonpath={.items[1].status.podIP}')
check netpol/forward-jump-first wait_for 30 np_first "$NS"
check netpol/open-before reaches client "$WEB1" 8080
kc apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-deny}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
EOF
check netpol/deny-chain wait_for 30 save_has "$NS" filter "^-A K3C-NP-FORWARD -d $WEB1/32 -j K3C-NP-I-$WEB1\$"
check netpol/deny-blocks-client wait_for 30 blocked client "$WEB1" 8080
check netpol/deny-blocks-friend blocked friend "$WEB1" 8080
kc apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-friend}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: friend}}}]
    ports: [{protocol: TCP, port: 8080}]
EOF
FRIEND=$(pod_ip friend)
check netpol/allow-rule wait_for 30 save_has "$NS" filter "^-A K3C-NP-I-$WEB1 -s $FRIEND/32 -p tcp -m tcp --dport 8080 -j RETURN\$"
check netpol/allow-lets-friend-in wait_for 30 reaches friend "$WEB1" 8080
check netpol/allow-keeps-client-out blocked client "$WEB1" 8080
# friend may reach the pod network on 8080 but for the second web pod
check netpol/egress-open-before reaches friend "$WEB2" 8080
kc apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: friend-egress}
spec:
  podSelector: {matchLabels: {role: friend}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: $CLUSTER_CIDR, except: [$WEB2/32]}}]
    ports: [{port: 8080}]
EOF
check netpol/egress-except-rule wait_for 30 save_has "$NS" filter "-m iprange ! --dst-range $WEB2-$WEB2 .*--dport 8080 -j RETURN\$"
check netpol/egress-blocks-except wait_for 30 blocked friend "$WEB2" 8080
check netpol/egress-allows-web reaches friend "$WEB1" 8080
kc delete networkpolicy web-deny web-from-friend friend-egress >/dev/null
check netpol/pod-chains-gone wait_for 30 sh -c "! nsenter --net=/run/netns/$NS iptables-legacy-save -t filter | grep -q '^:K3C-NP-[IE]-'"
check netpol/open-after wait_for 30 reaches client "$WEB1" 8080

echo "# 3. restarts keep one jump per chain"
check jumps/one-each-n2 one_jump_each "$NS2"
agent_stop n2
check sigterm/proxy-chains-gone wait_for 10 no_proxy_chains "$NS2"
check sigterm/netpol-chains-gone no_np_chains "$NS2"
check sigterm/flannel-chains-kept save_has "$NS2" nat '^:K3C-FLANNEL-POSTRTG'
start_n2
check restart/n2-ready wait_for 60 node_ready n2
check restart/chains-back wait_for 30 save_has "$NS2" nat '^-A PREROUTING -j K3C-SERVICES$'
wait_check restart/web-from-n2 30 get "$NS2" "http://$WEB/"
agent_kill n2
check sigkill/chains-left save_has "$NS2" nat '^:K3C-SERVICES'
start_n2
check sigkill-restart/n2-ready wait_for 60 node_ready n2
wait_check sigkill-restart/web-from-n2 30 get "$NS2" "http://$WEB/"
# the restarted proxy has synced once the node port is there again
check sigkill-restart/synced wait_for 30 save_has "$NS2" nat "dport $NP -j K3C-EXT-"
# and the network policies have synced (their own informers, apart from the proxy's)
check sigkill-restart/np-synced wait_for 30 np_first "$NS2"
expect_out jumps/one-each-after-restarts 'one jump each' one_jump_each "$NS2"

echo "# 4. k3c killall removes every K3C- chain"
agent_kill n2
mkdir -p "$TMP/kroot"
expect_out killall/reports 'K3C- chains removed' in_ns "$NS2" "$K3C_BIN" killall --root "$TMP/kroot" --with-net
check killall/no-k3c-chains no_k3c_chains "$NS2"
check killall/no-jumps-left sh -c "! nsenter --net=/run/netns/$NS2 iptables-legacy-save | grep -q 'K3C-'"
agent_log_checks n2

echo "# 5. the root namespace untouched; the server stops cleanly"
check root/no-k3c-chains sh -c "! iptables-legacy-save 2>/dev/null | grep -q K3C-"
kc delete deployments,pods --all --grace-period=1 --wait=false >/dev/null 2>&1
wait_for 60 pods_containers_gone
server_checks
check server/proxy-chains-gone-after-sigterm no_proxy_chains "$NS"
check server/netpol-chains-gone-after-sigterm no_np_chains "$NS"
echo "# total: $((SECONDS - T0)) s"
summary
