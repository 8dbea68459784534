# SPDX-License-Identifier: Apache-2.0
# lib_pods.sh - real pods for the e2e scripts (sourced after lib.sh): the
# network namespaces the test makes, the test image and its registry, more
# `k3c agent` processes, and the cleanup of everything they leave.
#
#   pods_need_root_and_tools [TOOL...]
#                         exits 77 unless root and runc, conmon, CNI, umoci,
#                         skopeo, docker-registry, busybox (and TOOLs) exist
#   pods_netns_make NS [NS2 NS_IP NS2_IP]
#                         makes NS (lo up); with NS2, a second namespace and
#                         a veth pair NS_IP/30 <-> NS2_IP/30 between them
#                         (addresses only inside the test's namespaces)
#   pods_lan_make LAN GW  makes LAN (a namespace, as pods_netns_make) with a
#                         bridge br0 at GW/24: the hosts' switch
#   pods_lan_plug TAG NS IP LAN GW
#                         a veth from host namespace NS (named lan0 there,
#                         IP/24) to LAN's bridge, default route via GW; TAG
#                         (two letters) keeps the veth names of tests that
#                         run at the same time apart
#   pods_images_start NS [TAG...]
#                         builds k3c/busybox:test (scripts/build-test-images),
#                         starts docker-registry on loopback inside NS and
#                         pushes there; sets REG (host:port) and
#                         REGISTRY_PID, writes $TMP/registries.yaml; each TAG
#                         also gets an air-gap tarball naming
#                         docker.io/k3c/busybox:TAG (the same image)
#   pods_airgap_install DATA_DIR...
#                         drops the air-gap tarballs in DATA_DIR/agent/images
#   agent_start NAME DATA_DIR NS NODE_IP [FLAG...]
#                         starts `k3c agent --node-name NAME` in NS against
#                         https://$SERVER_IP:$API_PORT (SERVER_IP: the
#                         server's address seen from NS); log in
#                         $TMP/agent-NAME.log; AGENT_PIDS[NAME] is its pid
#   agent_stop NAME       SIGTERM (SIGKILL after STOP_TIMEOUT_S); returns
#                         the exit status
#   agent_kill NAME       SIGKILL, as a crash
#   agent_log_checks NAME no sanitizer reports in the agent's log
#   pods_cleanup          (EXIT trap) deletes the workloads and pods of
#                         namespace default through the API (and waits for
#                         the live kubelets to stop them) while the server
#                         lives, stops the agents and the server,
#                         force-deletes leftover containers, kills conmon,
#                         unmounts what is under $TMP, removes pod netns,
#                         stops the registry, deletes the test's namespaces
# The first namespace made is the server's: NETNS_EXEC should enter it.
# shellcheck shell=bash
# shellcheck disable=SC2317 # functions are called through run/check/traps
# shellcheck disable=SC2034 # settings used by the scripts that source this

REPO=${REPO:-$(cd "$HERE/../.." && pwd)}
PODS_NETNS=()
PODS_DATA_DIRS=("$TMP/data")
REGISTRY_PID=
REG=
SERVER_IP=
declare -A AGENT_PIDS=()
declare -A AGENT_DIRS=()

pods_need_root_and_tools() {
    local t
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: needs root (network namespaces, runc, overlay mounts)"
        exit 77
    fi
    for t in ip nsenter umoci skopeo runc conmon /usr/bin/docker-registry /usr/lib/cni/bridge \
        /usr/lib/cni/host-local /usr/lib/cni/loopback /bin/busybox "$@"; do
        if ! command -v "$t" >/dev/null; then
            echo "SKIP: $t not found"
            exit 77
        fi
    done
}

pods_netns_make() {
    local ns=$1 ns2=${2:-} ip1=${3:-} ip2=${4:-} va="k3cv$$${#PODS_NETNS[@]}a" vb="k3cv$$${#PODS_NETNS[@]}b"
    ip netns add "$ns" || { echo "FAIL: ip netns add $ns"; exit 1; }
    PODS_NETNS+=("$ns")
    ip -n "$ns" link set lo up
    [ -n "$ns2" ] || return 0
    ip netns add "$ns2" || { echo "FAIL: ip netns add $ns2"; exit 1; }
    PODS_NETNS+=("$ns2")
    ip -n "$ns2" link set lo up
    ip link add "$va" netns "$ns" type veth peer name "$vb" netns "$ns2" || exit 1
    ip -n "$ns" addr add "$ip1/30" dev "$va"
    ip -n "$ns2" addr add "$ip2/30" dev "$vb"
    ip -n "$ns" link set "$va" up
    ip -n "$ns2" link set "$vb" up
}

pods_lan_make() {
    local lan=$1 gw=$2
    pods_netns_make "$lan"
    ip -n "$lan" link add br0 type bridge || exit 1
    ip -n "$lan" addr add "$gw/24" dev br0
    ip -n "$lan" link set br0 up
}

pods_lan_plug() {
    local tag=$1 ns=$2 ip=$3 lan=$4 gw=$5 v
    v="$tag$$${ip##*.}"
    ip link add "${v}a" netns "$ns" type veth peer name "${v}b" netns "$lan" || exit 1
    ip -n "$ns" link set "${v}a" name lan0
    ip -n "$ns" addr add "$ip/24" dev lan0
    ip -n "$ns" link set lan0 up
    ip -n "$lan" link set "${v}b" master br0 up
    ip -n "$ns" route add default via "$gw"
}

pods_images_start() {
    local ns=$1 tag
    shift
    if ! nsenter "--net=/run/netns/$ns" "$REPO/scripts/build-test-images" "$TMP/img" start \
        >"$TMP/images.log" 2>&1; then
        echo "FAIL: build-test-images"
        cat "$TMP/images.log"
        exit 1
    fi
    REGISTRY_PID=$(cat "$TMP/img/registry.pid")
    REG=$(cat "$TMP/img/registry.addr")
    cat >"$TMP/registries.yaml" <<EOC
mirrors:
  "$REG":
    endpoint:
      - "http://$REG"
EOC
    for tag in "$@"; do
        if ! skopeo copy -q "oci:$TMP/img/oci:test" \
            "docker-archive:$TMP/img/airgap-$tag.tar:docker.io/k3c/busybox:$tag" >>"$TMP/images.log" 2>&1; then
            echo "FAIL: air-gap tarball for :$tag"
            cat "$TMP/images.log"
            exit 1
        fi
    done
}

pods_airgap_install() {
    local d
    for d in "$@"; do
        mkdir -p "$d/agent/images"
        cp "$TMP"/img/airgap*.tar "$d/agent/images/"
    done
}

# nsenter execs k3c (no fork for a network namespace), so $! is the agent.
agent_start() {
    local name=$1 dir=$2 ns=$3 ip=$4
    shift 4
    nsenter "--net=/run/netns/$ns" "$K3C_BIN" agent --server "https://$SERVER_IP:$API_PORT" \
        --token "$(cat "$TMP/data/server/token")" --data-dir "$dir" --node-name "$name" \
        --node-ip "$ip" --config "$TMP/empty.yaml" "$@" </dev/null >>"$TMP/agent-$name.log" 2>&1 &
    AGENT_PIDS[$name]=$!
    AGENT_DIRS[$name]=$dir
    case " ${PODS_DATA_DIRS[*]} " in *" $dir "*) ;; *) PODS_DATA_DIRS+=("$dir") ;; esac
}

agent_stop() {
    local pid=${AGENT_PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    AGENT_PIDS[$1]=
    stop_pid "$pid" "$STOP_TIMEOUT_S"
}

agent_kill() {
    local pid=${AGENT_PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    AGENT_PIDS[$1]=
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

agent_log_checks() {
    run grep -E -A 30 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/agent-$1.log"
    if [ "$RC" -eq 0 ]; then
        fail "agent-$1/no-sanitizer-reports" "sanitizer report in the agent log" "grep $TMP/agent-$1.log"
    else
        pass "agent-$1/no-sanitizer-reports"
    fi
}

# True when no container is left in the data dirs of live kubelets.
pods_containers_gone() {
    local d
    [ -z "$(ls "$TMP/data/agent/containers/containers" 2>/dev/null)" ] || return 1
    for d in "${!AGENT_PIDS[@]}"; do
        [ -n "${AGENT_PIDS[$d]}" ] || continue
        [ -z "$(ls "${AGENT_DIRS[$d]}/agent/containers/containers" 2>/dev/null)" ] || return 1
    done
}

pods_cleanup() {
    local n st d pid
    if server_alive; then
        kc delete deployments,replicasets,daemonsets,jobs --all --wait=false >/dev/null 2>&1
        kc delete pods --all --all-namespaces --grace-period=1 --wait=false >/dev/null 2>&1
        wait_for 60 pods_containers_gone
    fi
    for n in "${!AGENT_PIDS[@]}"; do
        agent_stop "$n"
    done
    if [ -n "$SERVER_PID" ]; then
        stop_pid "$SERVER_PID" "$STOP_TIMEOUT_S"
        SERVER_PID=
    fi
    for d in "${PODS_DATA_DIRS[@]}"; do
        st=$d/agent/containers
        [ -d "$st/containers" ] || continue
        for n in "$st"/containers/*/; do
            [ -d "$n" ] || continue
            echo "# removing leftover container $(basename "$n")"
            runc --root "$st/runc-root" delete --force "$(basename "$n")" >/dev/null 2>&1
        done
    done
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        case $(cat "$d/comm" 2>/dev/null) in conmon | k3c) ;; *) continue ;; esac
        case $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) in
        *"$TMP/"*) kill -KILL "$pid" 2>/dev/null ;;
        esac
    done
    awk -v t="$TMP/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    # Pods a stopped agent left: their netns and (now empty) pod cgroups.
    for d in "${PODS_DATA_DIRS[@]}"; do
        for n in "$d"/agent/pods/*/; do
            [ -d "$n" ] || continue
            n=$(basename "$n")
            [ -e "/run/netns/k3c-$n" ] && ip netns del "k3c-$n" 2>/dev/null
            find /sys/fs/cgroup -maxdepth 4 -type d -path "*/k3c/$n" -prune -print 2>/dev/null |
                while read -r m; do find "$m" -depth -type d -exec rmdir {} + 2>/dev/null; done
        done
    done
    if [ -n "$REGISTRY_PID" ]; then
        kill "$REGISTRY_PID" 2>/dev/null
        wait "$REGISTRY_PID" 2>/dev/null
        REGISTRY_PID=
    fi
    for n in "${PODS_NETNS[@]}"; do
        ip netns del "$n" 2>/dev/null
    done
    PODS_NETNS=()
}
trap 'pods_cleanup; cleanup' EXIT

# Helpers the pod tests share.
node_ready() {
    [ "$(kc get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
pod_field() { kc get pod "$1" -o "jsonpath=$2" 2>/dev/null; }
pod_phase_is() { [ "$(pod_field "$1" '{.status.phase}')" = "$2" ]; }
