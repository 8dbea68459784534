#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_upgrade_ha.sh - issue #21's rolling upgrade of a running HA cluster,
# with real older code: the k3c of commit $PREV_COMMIT (the main branch
# before the commit was added to the version; built from git into
# /var/cache/k3c/prev-k3c-<commit>/ once, then reused) runs `k3c lab up`:
# servers polynode-1..3 (embedded etcd, the VIP, pods) and the agent edge,
# each in its own network namespace. A Deployment of 3 pods runs and a writer
# posts ConfigMaps through the VIP all along. Then one server at a time, as
# docs/install.md says: kubectl drain, stop the old k3c, start this build on
# the same data dir, wait until its Node is Ready with this build's
# kubeletVersion, uncordon. After each step, with servers of both versions
# together: `kubectl get nodes -o wide` shows both versions, a write through
# each server is read back through every other, the Deployment has its 3
# pods Running, the k3c-scheduler and k3c-controllers leases are held and
# renewed, etcd has 3 voters. The agent last. At the end: the longest API
# gap of each step (through the VIP), no acknowledged write lost, and the
# older binary refuses a data format newer than its own with its message
# (the cluster's marker raised by etcdctl to a format 1 higher than this
# build's: the old binary is real, the newer format is faked, as no release
# has a newer one yet).
# Opt-in (K3C_TEST_UPGRADE_HA=1): building the older k3c takes ~2.5 min on
# a 2-core machine (then cached) and the test ~5 min. K3C_PREV_BIN=<k3c>
# uses that binary instead of building. Root only.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=upgrade-ha
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib_prev.sh
. "$HERE/lib_prev.sh"

if [ -z "${K3C_TEST_UPGRADE_HA:-}" ]; then
    echo "SKIP: opt-in (K3C_TEST_UPGRADE_HA=1): builds k3c $PREV_COMMIT (~2.5 min on 2 cores, then cached in $PREV_CACHE) and rolls a 4-node lab (~4 min)"
    exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root (network namespaces, runc, mounts)"
    exit 77
fi
for t in ip runc conmon etcd etcdctl umoci skopeo /bin/busybox /usr/lib/cni/bridge; do
    if ! command -v "$t" >/dev/null; then
        echo "SKIP: $t not found"
        exit 77
    fi
done
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
NEW_BIN=$K3C_BIN

prev_bin 1
PREV_VERSION=$("$PREV_BIN" --version | sed -n 's/^k3c version v//p')
NEW_VERSION=$("$NEW_BIN" --version | sed -n 's/^k3c version v//p')
echo "# older: k3c v$PREV_VERSION ($PREV_BIN); newer: k3c v$NEW_VERSION ($NEW_BIN)"
if [ "$PREV_VERSION" = "$NEW_VERSION" ]; then
    echo "FAIL: both builds say v$NEW_VERSION: the test cannot tell them apart"
    exit 1
fi

LAB=$TMP/lab
SERVERS=(polynode-1 polynode-2 polynode-3)
WRITER_PID=
export KUBECONFIG=$LAB/kubeconfig.yaml

# lab_old VERB ARGS...: the older binary's lab verbs (up, stop, exec, down);
# `start` of an upgraded host runs through NEW_BIN (lab_spawn execs the
# binary that runs `lab start`).
lab_old() { timeout -k 5 300 "$PREV_BIN" lab "$1" --dir "$LAB" "${@:2}"; }
lab_new() { timeout -k 5 300 "$NEW_BIN" lab "$1" --dir "$LAB" "${@:2}"; }

upgrade_cleanup() {
    if [ -n "$WRITER_PID" ]; then
        kill "$WRITER_PID" 2>/dev/null
        wait "$WRITER_PID" 2>/dev/null
    fi
    if [ -e "$LAB/lab.json" ]; then
        echo "# EXIT: k3c lab down"
        timeout -k 5 120 "$NEW_BIN" lab down --dir "$LAB" >/dev/null
    fi
    cleanup
}
trap upgrade_cleanup EXIT

T_MARK=$(date +%s%N)
t_mark() { T_MARK=$(date +%s%N); }
t_s() { echo "$((($(date +%s%N) - T_MARK) / 1000000000))"; }

# kh HOST ARGS...: kubectl inside HOST against its own API server.
kh() {
    local h=$1
    shift
    timeout -k 5 "$CMD_TIMEOUT_S" "$PREV_BIN" lab exec --dir "$LAB" "$h" -- "$KUBECTL" \
        --kubeconfig "$LAB/hosts/$h/kubeconfig.yaml" --request-timeout=10s "$@"
}

# ectl ARGS...: etcdctl inside polynode-1 against its member.
ectl() {
    local tls=$LAB/hosts/polynode-1/data/server/tls
    timeout -k 5 30 "$PREV_BIN" lab exec --dir "$LAB" polynode-1 -- etcdctl \
        --endpoints https://127.0.0.1:2379 --cacert "$tls/server-ca.crt" \
        --cert "$tls/etcd/client.crt" --key "$tls/etcd/client.key" --dial-timeout 3s \
        --command-timeout 5s "$@"
}

kubelet_version() { kc get node "$1" -o jsonpath='{.status.nodeInfo.kubeletVersion}' 2>/dev/null; }
node_runs() { [ "$(kubelet_version "$1")" = "v1.32.0+k3c$2" ]; }
node_ready() {
    [ "$(kc get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
node_new_and_ready() { node_runs "$1" "$NEW_VERSION" && node_ready "$1"; }

# web_running: the Deployment's 3 pods Running and available.
web_running() {
    [ "$(kc get deploy roll-web -o jsonpath='{.status.availableReplicas}' 2>/dev/null)" = 3 ] &&
        [ "$(kc get pods -l app=roll-web --field-selector=status.phase=Running --no-headers 2>/dev/null | wc -l)" -eq 3 ]
}
web_on() {
    kc get pods -l app=roll-web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | grep -cx "$1"
    return 0
}

# lease_fresh NAME: kube-system/NAME held by a server and renewed within 20 s.
lease_fresh() {
    local holder renew age
    holder=$(kc -n kube-system get lease "$1" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)
    renew=$(kc -n kube-system get lease "$1" -o jsonpath='{.spec.renewTime}' 2>/dev/null)
    [ -n "$holder" ] && [ -n "$renew" ] || return 1
    age=$(($(date +%s) - $(date -d "$renew" +%s)))
    [ "$age" -le 20 ]
}

voters3() { [ "$(ectl member list 2>/dev/null | grep -c ', started, .*, false')" -eq 3 ]; }

# write_read TAG: a ConfigMap written through each server, each read back
# through every server.
write_read() {
    local tag=$1 w r
    for w in "${SERVERS[@]}"; do
        check "$tag/write-via-$w" kh "$w" create configmap "roll-$tag-$w" --from-literal=by="$w"
    done
    for r in "${SERVERS[@]}"; do
        for w in "${SERVERS[@]}"; do
            expect_eq "$tag/read-$w-via-$r" "$w" kh "$r" get configmap "roll-$tag-$w" -o 'jsonpath={.data.by}'
        done
    done
}

# mixed_checks TAG: what must hold between two steps of the roll.
mixed_checks() {
    local tag=$1
    write_read "$tag"
    wait_check "$tag/workload-running" 180 web_running
    wait_check "$tag/lease-scheduler" 60 lease_fresh k3c-scheduler
    wait_check "$tag/lease-controllers" 60 lease_fresh k3c-controllers
    wait_check "$tag/etcd-3-voters" 60 voters3
}

# ---- 1. the cluster on the older k3c ----

if ! "$REPO/scripts/build-test-images" "$TMP/img" >"$TMP/images.log" 2>&1; then
    echo "FAIL: build-test-images"
    cat "$TMP/images.log"
    exit 1
fi
mkdir -p "$TMP/images"
cp "$TMP/img/airgap.tar" "$TMP/images/"

echo "# 1. lab up with k3c v$PREV_VERSION"
t_mark
run lab_old up --servers 3 --agents edge --images "$TMP/images"
printf '%s\n' "$OUT" | sed 's/^/     > /'
if [ "$RC" -eq 0 ]; then pass old/lab-up; else
    fail old/lab-up "exit status $RC" lab up
    summary
fi
echo "# lab up: $(t_s) s"
for n in "${SERVERS[@]}" edge; do
    expect_eq "old/$n-version" "v1.32.0+k3c$PREV_VERSION" kubelet_version "$n"
done
run kc get nodes -o wide
printf '%s\n' "$OUT" | sed 's/^/     > /'

check old/deployment kc create deployment roll-web --image=k3c/busybox:test --replicas=3 -- sleep 100000
wait_check old/workload-running 180 web_running
mixed_checks old

# The writer: a ConfigMap after another through the VIP (the forwarder of
# the host-side kubeconfig) for the whole roll; killed at the end.
API=$(sed -n 's/^ *server: //p' "$KUBECONFIG" | head -n 1)
python3 "$HERE/ha_writer.py" "$API" "$LAB/hosts/polynode-1/data/server/tls" 1200 \
    "$TMP/writes.txt" roll-w >"$TMP/writer.log" 2>&1 &
WRITER_PID=$!
WRITER_T0=$(date +%s%N)
writer_ms() { echo "$((($(date +%s%N) - WRITER_T0) / 1000000))"; }
writer_acked() { grep -q ' 201$' "$TMP/writes.txt" 2>/dev/null; }
wait_for 30 writer_acked
STEPS=()

# ---- 2. one server at a time ----

# upgrade HOST: drain, stop the old k3c, start the new on the same data dir,
# Ready with the new version, uncordon.
upgrade() {
    local h=$1 from to
    echo "# 2. upgrade $h"
    t_mark
    from=$(writer_ms)
    check "$h/drain" kc drain "$h" --ignore-daemonsets --delete-emptydir-data --timeout=180s
    expect_eq "$h/no-workload-left" 0 web_on "$h"
    check "$h/stop-old" lab_old stop "$h"
    check "$h/start-new" lab_new start "$h"
    wait_check "$h/ready-new-version" 240 node_new_and_ready "$h"
    check "$h/uncordon" kc uncordon "$h"
    to=$(writer_ms)
    STEPS+=("$h $from $to $(t_s)")
    echo "# $h upgraded in $(t_s) s"
}

# both_versions: `kubectl get nodes -o wide` lists nodes of both builds.
both_versions() {
    run kc get nodes -o wide
    printf '%s\n' "$OUT" | sed 's/^/     > /'
    grep -q -- "+k3c$PREV_VERSION " <<<"$OUT" && grep -q -- "+k3c$NEW_VERSION " <<<"$OUT"
}

ROLL_T0=$SECONDS
for h in "${SERVERS[@]}"; do
    upgrade "$h"
    if [ "$h" != polynode-3 ]; then
        check "$h/both-versions-listed" both_versions
    fi
    mixed_checks "$h"
done
upgrade edge
wait_check edge/workload-running 180 web_running
ROLL_S=$((SECONDS - ROLL_T0))
for n in "${SERVERS[@]}" edge; do
    expect_eq "new/$n-version" "v1.32.0+k3c$NEW_VERSION" kubelet_version "$n"
done
echo "# roll of 3 servers and 1 agent: $ROLL_S s"

# ---- 3. the writes during the roll ----

kill "$WRITER_PID" 2>/dev/null
wait "$WRITER_PID" 2>/dev/null
WRITER_PID=
# The longest gap between acknowledged writes in each step's window.
for s in "${STEPS[@]}"; do
    read -r h from to secs <<<"$s"
    gap=$(awk -v a="$from" -v b="$to" '$3 == 201 && $2 >= a && $2 <= b { if (p != "" && $2 - p > g) g = $2 - p; p = $2 } END { print g + 0 }' "$TMP/writes.txt")
    echo "# step $h: $secs s, longest API gap through the VIP $gap ms"
done
ACKED=$(awk '$3 == 201 { print "roll-w-" $1 }' "$TMP/writes.txt" | sort)
echo "# writes: $(echo "$ACKED" | wc -l) acknowledged, $(awk '$3 != 201' "$TMP/writes.txt" | wc -l) failed"
missing() {
    comm -23 <(printf '%s\n' "$ACKED") <(kc get configmaps -o name | sed 's|^configmap/||' | grep '^roll-w-' | sort) | wc -l
}
expect_eq writes/acked-none-lost 0 missing

# ---- 4. a newer data format refused by the older binary ----

FORMAT=$(ectl get /k3c/data-format --print-value-only 2>/dev/null)
expect_out format/marker '^\{"format":[0-9]+,"writtenBy":"v' echo "$FORMAT"
CUR=$(sed -n 's/^{"format":\([0-9]*\),.*/\1/p' <<<"$FORMAT")
NEXT=$((${CUR:-1} + 1))
check format/stop-polynode-3 lab_new stop polynode-3
check format/raise ectl put /k3c/data-format "{\"format\":$NEXT,\"writtenBy\":\"v9.9.9\"}"
echo "=== older binary on a newer format ===" >>"$LAB/hosts/polynode-3/k3c.log"
check format/start-old lab_old start polynode-3
refused() { sed -n '/=== older binary on a newer format ===/,$p' "$LAB/hosts/polynode-3/k3c.log" | grep -q "the cluster's data is in format $NEXT (written by k3c v9.9.9); this k3c v${PREV_VERSION%%-g*} reads formats up to $CUR"; }
wait_check format/old-refuses 60 refused
gone() { ! kill -0 "$(cat "$LAB/hosts/polynode-3/k3c.pid")" 2>/dev/null; }
wait_check format/old-exited 30 gone
check format/restore ectl put /k3c/data-format "$FORMAT"

summary
