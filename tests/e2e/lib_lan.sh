# SPDX-License-Identifier: Apache-2.0
# lib_lan.sh - a LAN of test-made network namespaces (sourced after
# lib_pods.sh): one "LAN" namespace holding bridge br0, and one namespace
# per host, each joined to br0 by a veth whose host end is eth0. Addresses
# exist only inside these namespaces; pods_cleanup deletes them.
#
#   lan_make LAN_NS LAN_CIDR HOST_NS:HOST_CIDR...
#                         e.g. lan_make k3c-l-$$ 192.168.251.254/24 \
#                              k3c-h1-$$:192.168.251.1/24 k3c-h2-$$:192.168.251.2/24
# shellcheck shell=bash

lan_make() {
    local lan=$1 lan_cidr=$2 h ns cidr i=0
    shift 2
    ip netns add "$lan" || { echo "FAIL: ip netns add $lan"; exit 1; }
    PODS_NETNS+=("$lan")
    ip -n "$lan" link set lo up
    ip -n "$lan" link add br0 type bridge
    ip -n "$lan" addr add "$lan_cidr" dev br0
    ip -n "$lan" link set br0 up
    for h in "$@"; do
        ns=${h%%:*}
        cidr=${h#*:}
        ip netns add "$ns" || { echo "FAIL: ip netns add $ns"; exit 1; }
        PODS_NETNS+=("$ns")
        ip -n "$ns" link set lo up
        # Created under a per-run name (the root namespace sees it for an
        # instant), then renamed inside the host namespace.
        ip link add "k3cl$$n$i" netns "$ns" type veth peer name "lan$i" netns "$lan" || exit 1
        ip -n "$ns" link set "k3cl$$n$i" name eth0
        ip -n "$ns" addr add "$cidr" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$lan" link set "lan$i" master br0 up
        i=$((i + 1))
    done
}
