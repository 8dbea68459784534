# SPDX-License-Identifier: Apache-2.0
# lib_lan.sh - a bridged LAN of hosts made of network namespaces, for the
# multi-host e2e scripts (sourced after lib.sh). Addresses exist only
# inside the namespaces made here; nothing is added to the root namespace.
#
#   lan_make SUBNET_PREFIX   makes the LAN namespace (a bridge, the router
#                            address PREFIX.1/24 on it); e.g. 192.168.20
#   lan_host NAME IP         a host namespace on the LAN: eth0 with IP/24,
#                            default route via the router, lo up; its
#                            namespace name is LAN_NS_OF[NAME]
#   lan_exec NAME CMD...     runs CMD inside host NAME
#   lan_kill NAME            power cut: SIGKILL of every process in NAME
#   lan_unplug NAME / lan_plug NAME   the host's cable out / in
#   lan_cleanup              (call from the EXIT trap) kills every process
#                            of the LAN's namespaces and deletes them
# shellcheck shell=bash
# shellcheck disable=SC2034 # settings used by the scripts that source this

LAN_ID="k3c$$"
LAN_NS=
LAN_PREFIX=
declare -A LAN_NS_OF=()
declare -A LAN_IP_OF=()
LAN_HOSTS=()

lan_make() {
    LAN_PREFIX=$1
    LAN_NS="$LAN_ID-lan"
    ip netns add "$LAN_NS" || { echo "FAIL: ip netns add $LAN_NS"; exit 1; }
    ip -n "$LAN_NS" link set lo up
    ip -n "$LAN_NS" link add br0 type bridge
    ip -n "$LAN_NS" addr add "$LAN_PREFIX.1/24" dev br0
    ip -n "$LAN_NS" link set br0 up
}

lan_host() {
    local name=$1 addr=$2 ns="$LAN_ID-$1" idx=${#LAN_HOSTS[@]}
    local veth="k3c$$h$idx"
    ip netns add "$ns" || { echo "FAIL: ip netns add $ns"; exit 1; }
    LAN_NS_OF[$name]=$ns
    LAN_IP_OF[$name]=$addr
    LAN_HOSTS+=("$name")
    ip -n "$ns" link set lo up
    ip link add "$veth" netns "$LAN_NS" type veth peer name eth0 netns "$ns" || exit 1
    ip -n "$LAN_NS" link set "$veth" master br0 up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$LAN_PREFIX.1"
}

lan_exec() {
    local name=$1
    shift
    ip netns exec "${LAN_NS_OF[$name]}" "$@"
}

lan_pids() { ip netns pids "${LAN_NS_OF[$1]}" 2>/dev/null; }

lan_kill() {
    local pid
    for pid in $(lan_pids "$1"); do kill -KILL "$pid" 2>/dev/null; done
}

# The host side of eth0 is the veth in the LAN namespace.
lan_peer_of() {
    local i
    for i in "${!LAN_HOSTS[@]}"; do
        [ "${LAN_HOSTS[$i]}" = "$1" ] && echo "k3c$$h$i"
    done
}

lan_unplug() { ip -n "$LAN_NS" link set "$(lan_peer_of "$1")" down; }
lan_plug() { ip -n "$LAN_NS" link set "$(lan_peer_of "$1")" up; }

lan_cleanup() {
    local name pid tries
    for name in "${LAN_HOSTS[@]}"; do
        for pid in $(lan_pids "$name"); do kill -KILL "$pid" 2>/dev/null; done
    done
    for name in "${LAN_HOSTS[@]}"; do
        # Bounded: a process in D state may take a moment to go.
        for tries in 1 2 3 4 5 6 7 8 9 10; do
            [ -z "$(lan_pids "$name")" ] && break
            sleep 0.2
        done
        ip netns del "${LAN_NS_OF[$name]}" 2>/dev/null
    done
    if [ -n "$LAN_NS" ]; then
        ip netns del "$LAN_NS" 2>/dev/null
    fi
    LAN_HOSTS=()
}
