#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/vip/run.sh [N] - VIP failover figures (issue #11), root only, in the
# lab of tests/e2e/lib_vip.sh (three `k3c server --vip` on one external etcd,
# netns on a bridged LAN, a client): N failovers each of a power cut (link
# down + SIGKILL, then power on), a partition (link down, then heal) and a
# graceful stop (SIGTERM, then start again). Prints per kind the p50 and
# max of the time until the client's /readyz via the VIP answers again and
# until the client's neighbour entry shows the new holder's MAC, and the
# dual-holder samples of the whole run (must be 0). Never fails on figures.
# K3C_BIN picks the binary (default build/k3c, the optimised build).
# shellcheck disable=SC2317 # functions are called through wait_check/wait_for
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tests/e2e" && pwd)
E2E_NAME=vipbench # names the temp dir (lib.sh)
export E2E_NAME
K3C_BIN=${K3C_BIN:-$HERE/../../build/k3c}
N=${1:-3}
# shellcheck source-path=SCRIPTDIR/../../tests/e2e source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR/../../tests/e2e source=lib_vip.sh
. "$HERE/lib_vip.sh"
vip_need_root
trap 'lab_cleanup; cleanup' EXIT

declare -A READY=() ARP=()

all_ready() { local h; for h in "${HOSTS[@]}"; do ready_in_log "$h" || return 1; done; }
# settle: every server up (their logs truncated on restart), one holder,
# then two lease periods of quiet.
settle() {
    wait_for 120 all_ready || { echo "servers not ready"; exit 1; }
    wait_for 20 one_holder || { echo "no single holder"; exit 1; }
    sleep 3
}
restart() { : >"$TMP/$1.log"; start_host "$1"; }

# p50 and max of the numbers given.
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "p50 %5d ms   max %5d ms", v[int((NR + 1) / 2)], v[NR] }'; }

lab_make
start_etcd_server
[ "$VIP_DATASTORE" = embedded ] || wait_for 90 ready_in_log etcd || { echo "etcd server not ready"; exit 1; }
sampler_start
neigh_watch_start
start_hosts
settle
probe_start
settle
echo "# $N failovers each; binary $K3C_BIN; lease 1500 ms, renew 250 ms, fence 1200 ms"
for kind in power-cut partition graceful; do
    for i in $(seq 1 "$N"); do
        H=$(holders)
        T0=$(now_ms)
        case $kind in
        power-cut) power_cut "$H" ;;
        partition) partition "$H" ;;
        graceful) kill -TERM "${VPIDS[$H]}" ;;
        esac
        if measure_failover "$H" "$T0"; then
            READY[$kind]+="$READY_MS "
            ARP[$kind]+="$ARP_MS "
            echo "# $kind $i: $H -> $NEW_HOLDER, /readyz after $READY_MS ms, neighbour after $ARP_MS ms"
        else
            echo "# $kind $i: no failover within 20 s (holders '$(holders)')"
        fi
        case $kind in
        power-cut) power_on "$H" ;;
        partition) heal "$H" ;;
        graceful) wait "${VPIDS[$H]}" 2>/dev/null; unset "VPIDS[$H]"; restart "$H" ;;
        esac
        settle
    done
done
kill "$SAMPLER_PID" 2>/dev/null
wait "$SAMPLER_PID" 2>/dev/null
SAMPLER_PID=
read -r MEAN_MS MAX_MS <<<"$(sample_intervals)"
echo
echo "VIP failover, $N each (time from the fault to the client's /readyz via the VIP / to its neighbour entry)"
for kind in power-cut partition graceful; do
    # shellcheck disable=SC2086
    printf '%-10s readyz %s   neighbour %s\n' "$kind" "$(stats ${READY[$kind]:-0})" "$(stats ${ARP[$kind]:-0})"
done
echo "dual-holder samples: $(dual_samples) of $(sample_count) (one every $MEAN_MS ms on average, largest gap $MAX_MS ms)"
