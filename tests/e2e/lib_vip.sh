# SPDX-License-Identifier: Apache-2.0
# lib_vip.sh - the VIP lab (sourced after lib.sh by test_vip.sh and
# bench/vip/run.sh): a LAN namespace with a bridge; an etcd namespace running
# a `k3c server` whose etcd is the external datastore of the three servers;
# three "host" namespaces h1..h3, each a `k3c server --vip` (own agent with
# --disable-pods, so each has a Node); a client namespace. Every name carries
# $$ and nothing is made in the root namespace: veth pairs are created
# straight inside the test's namespaces. A sampler writes which hosts hold
# the VIP every ~70 ms to $TMP/samples ("<ms> h1 h3" lines).
# shellcheck shell=bash
# shellcheck disable=SC2317,SC2034

VIP_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VIP=192.168.20.225
# ServiceLB addresses the servers may hand out and the VIP holder announces
LB_POOL=192.168.20.226-192.168.20.228
ETCD_IP=192.168.20.230
CLIENT_IP=192.168.20.240
HOSTS=(h1 h2 h3)
declare -A HOST_IP=([h1]=192.168.20.221 [h2]=192.168.20.222 [h3]=192.168.20.223)
declare -A VPIDS=()
NSP="kv$$"
LAN_NS=$NSP-lan
ETCD_NS=$NSP-etcd
CLIENT_NS=$NSP-c
VIP_NETNS=()
SAMPLER_PID=
NEIGH_PID=
PROBE_PID=

vip_need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: the VIP lab needs root (network namespaces)"
        exit 77
    fi
    for t in ip nsenter etcd curl nft; do
        command -v "$t" >/dev/null || { echo "SKIP: $t not found"; exit 77; }
    done
}

ns_of() { echo "$NSP-$1"; }
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
now_ms() { date +%s%3N; }

# lab_ns NAME IP: a namespace on the LAN bridge with eth0 = IP/24.
lab_ns() {
    local ns=$1 ip=$2 port="p${#VIP_NETNS[@]}$$"
    ip netns add "$ns" || { echo "FAIL: ip netns add $ns"; exit 1; }
    VIP_NETNS+=("$ns")
    ip -n "$ns" link set lo up
    ip -n "$LAN_NS" link add "$port" type veth peer name eth0 netns "$ns" || exit 1
    ip -n "$LAN_NS" link set "$port" master br0 up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
}

lab_make() {
    ip netns add "$LAN_NS" || { echo "FAIL: ip netns add $LAN_NS"; exit 1; }
    VIP_NETNS+=("$LAN_NS")
    ip -n "$LAN_NS" link add br0 type bridge
    ip -n "$LAN_NS" link set br0 up
    lab_ns "$ETCD_NS" "$ETCD_IP"
    lab_ns "$CLIENT_NS" "$CLIENT_IP"
    for h in "${HOSTS[@]}"; do lab_ns "$(ns_of "$h")" "${HOST_IP[$h]}"; done
}

# Pids of processes whose command line names $TMP.
run_pids() {
    local d cmd
    for d in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
        case $cmd in *"$TMP/"*) echo "${d#/proc/}" ;; esac
    done
}

lab_cleanup() {
    local h ns pid
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null && wait "$SAMPLER_PID" 2>/dev/null
    [ -n "$NEIGH_PID" ] && neigh_watch_stop
    [ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null && wait "$PROBE_PID" 2>/dev/null
    for h in "${!VPIDS[@]}"; do kill -KILL "${VPIDS[$h]}" 2>/dev/null; done
    for h in "${!VPIDS[@]}"; do wait "${VPIDS[$h]}" 2>/dev/null; done
    VPIDS=()
    # Safety net: anything still running whose command line names this
    # run's temp dir (k3c servers, their guards, the prober) is ours.
    for pid in $(run_pids); do kill -KILL "$pid" 2>/dev/null; done
    for ns in "${VIP_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    VIP_NETNS=()
}

# k3c_in NS NAME ARGS...: a k3c server in NS, log $TMP/NAME.log, pid VPIDS[NAME].
k3c_in() {
    local ns=$1 name=$2 v unset_args=()
    shift 2
    for v in $(compgen -e); do case $v in K3C_*) unset_args+=(-u "$v") ;; esac; done
    printf '# empty\n' >"$TMP/empty.yaml"
    # nsenter and env exec: $! is k3c itself (a backgrounded function would be a subshell).
    nsenter --net="/run/netns/$ns" env "${unset_args[@]}" "$K3C_BIN" server --data-dir "$TMP/$name" \
        --node-name "$name" --config "$TMP/empty.yaml" --write-kubeconfig "$TMP/$name.yaml" \
        "$@" </dev/null >>"$TMP/$name.log" 2>&1 &
    VPIDS[$name]=$!
}
ready_in_log() { grep -q "k3c server ready" "$TMP/$1.log" 2>/dev/null; }

# VIP_DATASTORE=external (default): one etcd in its own namespace (the etcd
# of a `k3c server` there) is the servers' --datastore-endpoint; they get
# the cluster's CAs copied in. embedded: the servers' own etcd members, h1
# with --cluster-init, h2 and h3 joining it (--server, the node token).
VIP_DATASTORE=${VIP_DATASTORE:-external}
VIP_SECRET="vip-e2e-$$"
if [ "$VIP_DATASTORE" = embedded ]; then VIP_CA=$TMP/h1/server/tls/server-ca.crt; else VIP_CA=$TMP/etcd/server/tls/server-ca.crt; fi

start_etcd_server() {
    [ "$VIP_DATASTORE" = embedded ] && return 0
    k3c_in "$ETCD_NS" etcd --node-ip "$ETCD_IP" --disable-agent --disable-scheduler \
        --disable-controller-manager
}

# start_host H: a VIP server (see VIP_DATASTORE).
start_host() {
    local h=$1 tls=$TMP/$1/server/tls etls=$TMP/etcd/server/tls f
    if [ "$VIP_DATASTORE" = embedded ]; then
        if [ "$h" = h1 ]; then
            k3c_in "$(ns_of h1)" h1 --node-ip "${HOST_IP[h1]}" --vip "$VIP/32" --servicelb-pool "$LB_POOL" --disable-pods \
                --cluster-init --token "$VIP_SECRET"
        else
            k3c_in "$(ns_of "$h")" "$h" --node-ip "${HOST_IP[$h]}" --vip "$VIP/32" --servicelb-pool "$LB_POOL" --disable-pods \
                --server "https://${HOST_IP[h1]}:6443" --token "$(cat "$TMP/h1/server/token")"
        fi
        return 0
    fi
    mkdir -p "$tls"
    for f in server-ca.crt server-ca.key client-ca.crt client-ca.key; do
        cp "$etls/$f" "$tls/$f"
    done
    k3c_in "$(ns_of "$h")" "$h" --node-ip "${HOST_IP[$h]}" --vip "$VIP/32" --servicelb-pool "$LB_POOL" --disable-pods \
        --datastore-endpoint "https://$ETCD_IP:2379" --datastore-cafile "$etls/server-ca.crt" \
        --datastore-certfile "$etls/etcd/client.crt" --datastore-keyfile "$etls/etcd/client.key"
}

# start_hosts: all three; with embedded etcd the first must be up before
# the others join it.
start_hosts() {
    local h
    start_host h1
    if [ "$VIP_DATASTORE" = embedded ]; then
        wait_for 120 ready_in_log h1 || { echo "FAIL: h1 not ready"; tail -n 30 "$TMP/h1.log"; exit 1; }
    fi
    for h in h2 h3; do start_host "$h"; done
}

# holders: the hosts whose eth0 has the VIP now, space separated.
holders() {
    local h out=()
    for h in "${HOSTS[@]}"; do
        if ip -n "$(ns_of "$h")" -4 -o addr show dev eth0 2>/dev/null | grep -q " $VIP/"; then
            out+=("$h")
        fi
    done
    echo "${out[*]}"
}
one_holder() { local h; h=$(holders); [ -n "$h" ] && [ "${h// /}" = "$h" ]; }
holder_is() { [ "$(holders)" = "$1" ]; }
host_has_vip() { ip -n "$(ns_of "$1")" -4 -o addr show dev eth0 2>/dev/null | grep -q " $VIP/"; }

sampler_start() {
    local h args=()
    : >"$TMP/samples"
    for h in "${HOSTS[@]}"; do args+=("$h=$(ns_of "$h")"); done
    python3 "$VIP_LIB_DIR/vip_sampler.py" "$VIP" "$TMP/samples" 50 "${args[@]}" &
    SAMPLER_PID=$!
}
# Lines of $TMP/samples with two or more holders.
dual_samples() { awk 'NF >= 3' "$TMP/samples" | wc -l; }
sample_count() { wc -l <"$TMP/samples"; }
# Mean and largest interval between samples, in ms.
sample_intervals() { awk 'NR > 1 { d = $1 - p; s += d; if (d > m) m = d } { p = $1 } END { printf "%d %d\n", (NR > 1 ? s / (NR - 1) : 0), m }' "$TMP/samples"; }

host_mac() { ip -n "$(ns_of "$1")" -o link show eth0 2>/dev/null | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
client_neigh_mac() { ip -n "$CLIENT_NS" neigh show "$VIP" | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p'; }
client_readyz() {
    in_ns "$CLIENT_NS" curl -sS --connect-timeout 0.2 --max-time 1 --cacert "$VIP_CA" \
        "https://$VIP:6443/readyz" 2>/dev/null | grep -qx ok
}

# neigh_watch_start: records the client's neighbour entry for the VIP every
# ~20 ms ("<ms> <mac>" lines in $TMP/neigh, written when the MAC changes).
neigh_watch_start() {
    : >"$TMP/neigh"
    (
        trap 'exit 0' TERM
        last=
        while :; do
            mac=$(client_neigh_mac)
            if [ "$mac" != "$last" ]; then
                echo "$(now_ms) $mac" >>"$TMP/neigh"
                last=$mac
            fi
            sleep 0.02
        done
    ) &
    NEIGH_PID=$!
}
neigh_watch_stop() {
    kill "$NEIGH_PID" 2>/dev/null
    wait "$NEIGH_PID" 2>/dev/null
    NEIGH_PID=
}

# probe_start: the client prober (vip_probe.py in the client namespace)
# polls /readyz via the VIP for the rest of the test into $TMP/probe.
probe_start() {
    : >"$TMP/probe"
    # nsenter execs: $! is the prober itself (a backgrounded function would be a subshell).
    nsenter --net="/run/netns/$CLIENT_NS" python3 "$VIP_LIB_DIR/vip_probe.py" "$VIP" 6443 \
        "$VIP_CA" "$TMP/probe" &
    PROBE_PID=$!
}
# probe_ready_ms T0: ms from T0 to the end of the first successful /readyz
# among the attempts that started after the first failed attempt (one that
# started at most 200 ms before T0 or later): the end of the outage. Empty
# while it lasts; 0 when no attempt failed within 5 s.
probe_ready_ms() {
    awk -v t0="$1" '$3 == 0 && $1 >= t0 - 200 && (!f || $1 < f) { f = $1 }
        { line[NR] = $0; if ($1 > last) last = $1 }
        END {
            if (!f) { if (last >= t0 + 5000) print 0; exit }
            for (i = 1; i <= NR; i++) {
                split(line[i], a, " ")
                if (a[3] == 1 && a[1] >= f && (!r || a[2] < r)) r = a[2]
            }
            if (r) print r - t0
        }' "$TMP/probe"
}

# measure_failover OLD T0: waits (up to 20 s) until the prober sees the VIP
# answer again and a host other than OLD holds the VIP alone. Sets READY_MS
# (from T0), NEW_HOLDER, and ARP_MS: when the client's neighbour entry first
# showed the new holder's MAC (neighbour watcher). Returns 1 on timeout.
measure_failover() {
    local old=$1 t0=$2 deadline=$(($(now_ms) + 20000)) h mac
    READY_MS='' ARP_MS='' NEW_HOLDER=''
    while [ "$(now_ms)" -lt "$deadline" ]; do
        if [ -z "$NEW_HOLDER" ]; then
            h=$(holders)
            if [ -n "$h" ] && [ "$h" != "$old" ] && [ "${h// /}" = "$h" ]; then NEW_HOLDER=$h; fi
        fi
        if [ -n "$NEW_HOLDER" ] && [ -z "$ARP_MS" ]; then
            mac=$(host_mac "$NEW_HOLDER")
            ARP_MS=$(awk -v t0="$t0" -v mac="$mac" '$1 >= t0 && $2 == mac { print $1 - t0; exit }' "$TMP/neigh")
        fi
        [ -z "$READY_MS" ] && READY_MS=$(probe_ready_ms "$t0")
        [ -n "$ARP_MS" ] && [ -n "$READY_MS" ] && return 0
        sleep 0.05
    done
    return 1
}

# power_cut H: the host vanishes from the LAN at once (link down), every
# process in it dies (SIGKILL), and its kernel state with it (the VIP
# flushed: a powered-off host answers no ARP).
power_cut() {
    local h=$1 ns
    ns=$(ns_of "$h")
    ip -n "$ns" link set eth0 down
    kill -KILL "${VPIDS[$h]}" 2>/dev/null
    wait "${VPIDS[$h]}" 2>/dev/null
    unset "VPIDS[$h]"
    ip -n "$ns" addr del "$VIP/32" dev eth0 2>/dev/null
}
# power_on H: the link comes back and k3c starts again (a fresh log, so
# ready_in_log waits for this start).
power_on() {
    : >"$TMP/$1.log"
    ip -n "$(ns_of "$1")" link set eth0 up
    start_host "$1"
}
partition() { ip -n "$(ns_of "$1")" link set eth0 down; }
heal() { ip -n "$(ns_of "$1")" link set eth0 up; }

# ---- ServiceLB addresses held with the VIP (issue #13) ----
LB_IP=192.168.20.226
LB_BACKEND_PORT=$((20000 + $$ % 10000))
# lb_holders: the hosts whose eth0 has LB_IP now.
lb_holders() {
    local h out=()
    for h in "${HOSTS[@]}"; do
        ip -n "$(ns_of "$h")" -4 -o addr show dev eth0 2>/dev/null | grep -q " $LB_IP/32" && out+=("$h")
    done
    echo "${out[*]}"
}
# lb_backend_start: an HTTP server in the etcd namespace answering "backend-$$".
lb_backend_start() {
    mkdir -p "$TMP/www"
    echo "backend-$$" >"$TMP/www/index.html"
    in_ns "$ETCD_NS" python3 -m http.server --bind "$ETCD_IP" --directory "$TMP/www" \
        "$LB_BACKEND_PORT" >"$TMP/www.log" 2>&1 &
}
# lb_get IP PORT: the client's GET of http://IP:PORT/ (fresh connection).
lb_get() { in_ns "$CLIENT_NS" curl -sS --connect-timeout 1 --max-time 3 "http://$1:$2/" 2>/dev/null; }
lb_answers() { [ "$(lb_get "$1" "$2")" = "backend-$$" ]; }
# lb_services: a Service asking for LB_IP (spec.loadBalancerIP), one asking
# for the VIP itself (kube-vip's annotation), one asking for an address
# outside the pool; selectorless, with EndpointSlices naming the backend.
lb_services() {
    local s
    for s in lb-pool lb-vip lb-outside; do
        cat <<EOF
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $s-1, labels: {kubernetes.io/service-name: $s}}
addressType: IPv4
ports: [{port: $LB_BACKEND_PORT, protocol: TCP}]
endpoints: [{addresses: ["$ETCD_IP"], conditions: {ready: true}}]
EOF
    done
    cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: lb-pool}
spec:
  type: LoadBalancer
  loadBalancerIP: $LB_IP
  ports: [{port: 80, targetPort: $LB_BACKEND_PORT}]
---
apiVersion: v1
kind: Service
metadata: {name: lb-vip, annotations: {kube-vip.io/loadbalancerIPs: "$VIP"}}
spec:
  type: LoadBalancer
  ports: [{port: 8080, targetPort: $LB_BACKEND_PORT}]
---
apiVersion: v1
kind: Service
metadata: {name: lb-outside}
spec:
  type: LoadBalancer
  loadBalancerIP: 10.99.0.1
  ports: [{port: 80, targetPort: $LB_BACKEND_PORT}]
EOF
}
# lb_sampler_start: the sampler for LB_IP ($TMP/lb-samples), as for the VIP.
LB_SAMPLER_PID=
lb_sampler_start() {
    local h args=()
    : >"$TMP/lb-samples"
    for h in "${HOSTS[@]}"; do args+=("$h=$(ns_of "$h")"); done
    python3 "$VIP_LIB_DIR/vip_sampler.py" "$LB_IP" "$TMP/lb-samples" 50 "${args[@]}" &
    LB_SAMPLER_PID=$!
}
