#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_eviction.sh - the kubelet's eviction under disk pressure (issue #21)
# on a small fake disk: the agent's whole data dir (nodefs and imagefs) is a
# 160 MiB tmpfs the test mounts under its temp dir, with
# --eviction-hard nodefs.available<30% and a 4 MiB minimum reclaim. Two real
# pods write into emptyDir volumes: "guaranteed" 24 MiB within its 64Mi
# ephemeral-storage request, "besteffort" 12 MiB with no request. A filler
# file (not a pod's) then takes the disk 6 MiB below the threshold. The
# eviction manager first removes the unused air-gap image k3c/x:1 (not
# enough), then evicts the BestEffort pod, whose usage exceeds its request,
# although the other pod uses more: phase Failed, reason Evicted, upstream's
# message, the DisruptionTarget condition, an Evicted event, its emptyDir
# freed; the pressure ends and the Guaranteed pod keeps running. Then k3c
# restarts (the evicted pod stays evicted, nothing of it starts again) for
# a real memory shortage: confined in a memory cgroup the test makes (cgroup
# v1, with its own cgroup namespace, as in a container) whose limit is the
# node's working set + 256 MiB, memory.available<100Mi; a BestEffort pod
# fills a Memory emptyDir step by step past that limit: MemoryPressure, the
# pod evicted with upstream's message naming its usage, before the cgroup's
# OOM killer ever runs; the Guaranteed pods stay (see memory_phase_real).
# Where cgroup v1's memory controller is missing, the restart sets
# memory.available<(the node's memory) instead (pressure as configured).
# Real runc/conmon/CNI in a test-made network namespace. Root only. ~1.5 minutes.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-evict-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
E2E_NAME=eviction
SERVER_EXTRA_ARGS=(--cni-bridge k3cev$$ --pod-cidr 10.89.9.0/24 --kubelet-port 10250
    --eviction-hard 'nodefs.available<30%' --eviction-minimum-reclaim 'nodefs.available=4Mi'
    --eviction-pressure-transition-period 15s)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools sha256sum

trap 'pods_cleanup; cleanup' EXIT

AGENT_DIR=$TMP/data/agent
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
MI=$((1024 * 1024))

# make_image NAME: a docker-save tarball k3c/NAME:1 with one 3 MiB random layer.
make_image() {
    local name=$1 d diff cfg
    d=$TMP/mk-$name
    mkdir -p "$d/l"
    head -c $((3 * MI)) /dev/urandom >"$d/l/data-$name.bin"
    tar -C "$d/l" -cf "$d/layer.tar" "data-$name.bin"
    diff=$(sha256sum "$d/layer.tar" | cut -c1-64)
    mkdir -p "$d/out/$diff"
    mv "$d/layer.tar" "$d/out/$diff/layer.tar"
    printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/nonexistent"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$ARCH" "$diff" >"$d/out/config.json"
    cfg=$(sha256sum "$d/out/config.json" | cut -c1-64)
    mv "$d/out/config.json" "$d/out/$cfg.json"
    printf '[{"Config":"%s.json","RepoTags":["k3c/%s:1"],"Layers":["%s/layer.tar"]}]' \
        "$cfg" "$name" "$diff" >"$d/out/manifest.json"
    tar -C "$d/out" -cf "$TMP/mk-$name.tar" manifest.json "$cfg.json" "$diff/layer.tar"
    mv "$TMP/mk-$name.tar" "$AGENT_DIR/images/x-$name.tar"
    rm -rf "$d"
}
df_field() { df -B1 --output="$1" "$AGENT_DIR" | tail -n 1 | tr -dc 0-9; }
node_field() { kc get node e2e -o "jsonpath=$1" 2>/dev/null; }
disk_pressure_is() { [ "$(node_field '{.status.conditions[?(@.type=="DiskPressure")].status}')" = "$1" ]; }
# The pod's emptyDir, seen from the host (no exec while the pod starts).
pod_written() {
    local uid
    uid=$(pod_field "$1" '{.metadata.uid}')
    [ -n "$uid" ] && find "$AGENT_DIR/pods/$uid/volumes" -name 'done' 2>/dev/null | grep -q .
}

# pressure_is CONDITION: the Node shows CONDITION True. The agent reports
# conditions at its 10 s heartbeat; a pressure that the eviction manager's
# pass ends between two heartbeats still shows, because the condition is
# held for --eviction-pressure-transition-period (15 s here) after the
# pressure was last seen, by the pass or by a heartbeat.
pressure_is_true() { [ "$(node_field "{.status.conditions[?(@.type==\"$1\")].status}")" = True ]; }

# ---- the memory phase ----

# A real shortage (cgroup v1's memory controller, as on the CI machines):
# k3c restarts confined in a memory cgroup the test makes, MEMCG, as the
# root of a cgroup namespace of its own with the memory hierarchy mounted
# again in a mount namespace of its own (the view a container with a private
# cgroup namespace has): k3c, etcd, conmon and the new pods' cgroups
# (/k3c/<uid> in that view) are all inside MEMCG, and the kubelet measures
# memory.available against MEMCG's limit. The limit is set to the node's
# working set + 256 MiB once it runs; memory.available<100Mi (the kubelet's
# default). A Guaranteed pod holds 16 MiB; the BestEffort pod "grower" fills
# a Memory emptyDir 4 MiB at a time, fast to 112 MiB and then 2 MiB/s, up to
# 384 MiB: past the limit if nobody stops it, so everything the test risks
# is inside MEMCG. It must be evicted with MemoryPressure before the cgroup's
# OOM killer ever runs (memory.oom_control's oom_kill stays 0).
MEMCG_ROOT=/sys/fs/cgroup/memory
MEMCG=$MEMCG_ROOT/k3c-e2e-evict-$$

memcg_cleanup() {
    local d pid pids
    [ -d "$MEMCG" ] || return 0
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(find "$MEMCG" -name cgroup.procs -exec cat {} + 2>/dev/null)
        [ -z "$pids" ] && break
        for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
        sleep 0.3
    done
    find "$MEMCG" -depth -type d 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null; done
    [ -d "$MEMCG" ] && echo "# could not remove $MEMCG"
}
trap 'pods_cleanup; memcg_cleanup; cleanup' EXIT

# memcg_get FILE [KEY]: a number from MEMCG's FILE (a "KEY N" line when KEY).
memcg_get() {
    if [ $# -eq 1 ]; then cat "$MEMCG/$1"; else awk -v k="$2" '$1 == k { print $2 }' "$MEMCG/$1"; fi
}
memcg_ws() { echo $(($(memcg_get memory.usage_in_bytes) - $(memcg_get memory.stat total_inactive_file))); }

memory_phase_real() {
    local saved_exec headroom=$((256 * MI)) t0 ws limit oom
    echo "# a restart of k3c confined in $MEMCG (its own cgroup and mount namespaces)"
    stop_pid "$SERVER_PID" "$STOP_TIMEOUT_S"
    SERVER_PID=
    mv "$TMP/k3c.log" "$TMP/k3c-1.log"
    mkdir "$MEMCG" || { fail memory/cgroup "mkdir $MEMCG" true; return; }
    # confine.sh CMD...: joins MEMCG, makes it the root of a new cgroup
    # namespace, mounts the memory hierarchy again (so /sys/fs/cgroup/memory
    # is MEMCG here), and execs CMD (no fork: SERVER_PID stays k3c's).
    cat >"$TMP/confine.sh" <<EOS
echo \$\$ >"$MEMCG/cgroup.procs" || exit 1
exec unshare --cgroup --mount --propagation unchanged sh -c 'mount --make-rslave /sys/fs/cgroup && umount /sys/fs/cgroup/memory && mount -t cgroup -o memory k3c-e2e-memcg /sys/fs/cgroup/memory && exec "\$@"' confine "\$@"
EOS
    SERVER_EXTRA_ARGS=(--cni-bridge "k3cev$$" --pod-cidr 10.89.9.0/24 --kubelet-port 10250
        --eviction-hard "nodefs.available<30%,memory.available<100Mi"
        --eviction-pressure-transition-period 15s)
    saved_exec=("${NETNS_EXEC[@]}")
    NETNS_EXEC+=(sh "$TMP/confine.sh")
    start_server
    NETNS_EXEC=("${saved_exec[@]}")
    restart_checks
    check memory/server-confined grep -qx "$SERVER_PID" "$MEMCG/cgroup.procs"
    kc apply -f - >/dev/null <<'EOY'
apiVersion: v1
kind: Pod
metadata: {name: mguaranteed}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    command: [sh, -c, "head -c 16777216 /dev/zero >/dev/shm/x && touch /dev/shm/done && exec sleep 3600"]
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: 100m, memory: 64Mi}
EOY
    guaranteed_done() { kc exec mguaranteed -- test -f /dev/shm/done >/dev/null 2>&1; }
    wait_check memory/guaranteed-holds-16mi 120 guaranteed_done
    # The pod's cgroup is inside MEMCG, with its 64Mi limit.
    expect_out memory/pod-cgroup-inside 'memory.limit_in_bytes$' \
        grep -rlx --include=memory.limit_in_bytes 67108864 "$MEMCG/k3c/$(pod_field mguaranteed '{.metadata.uid}')"
    ws=$(memcg_ws)
    limit=$((ws + headroom))
    echo "$limit" >"$MEMCG/memory.limit_in_bytes"
    echo "# node working set $((ws / MI)) MiB: memory limit $((limit / MI)) MiB (MemTotal $(($(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo) / 1024)) MiB)"
    wait_check memory/no-pressure-yet 30 memory_pressure_is False
    kc apply -f - >/dev/null <<'EOY'
apiVersion: v1
kind: Pod
metadata: {name: grower}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    command: [sh, -c, 'i=0; while [ $i -lt 96 ]; do head -c 4194304 /dev/zero >/m/f$i || break; i=$((i+1)); echo "$((i*4)) MiB at $(date +%s)"; [ $i -lt 28 ] || sleep 2; done; exec sleep 3600']
    volumeMounts: [{name: m, mountPath: /m}]
  volumes: [{name: m, emptyDir: {medium: Memory}}]
EOY
    t0=$SECONDS
    wait_check memory/pressure 150 pressure_is_true MemoryPressure
    echo "# MemoryPressure $((SECONDS - t0)) s after the grower was created"
    expect_out memory/pressure-why 'memory.available [0-9]+(Ki|Mi)? < 100Mi' \
        node_field '{.status.conditions[?(@.type=="MemoryPressure")].message}'
    wait_check memory/threshold-crossed 60 grep -q 'eviction manager: attempting to reclaim memory (hard threshold memory.available crossed)' "$TMP/k3c.log"
    wait_check memory/grower-evicted 120 pod_phase_is grower Failed
    echo "# grower evicted $((SECONDS - t0)) s after it was created; the cgroup's peak usage $(($(memcg_get memory.max_usage_in_bytes) / MI)) MiB of $((limit / MI))"
    run kc logs grower
    echo "#   grower's last lines: $(printf '%s\n' "$OUT" | tail -n 2 | tr '\n' ' ')"
    expect_eq memory/grower-reason Evicted pod_field grower '{.status.reason}'
    expect_out memory/grower-message '^The node was low on resource: memory\. Threshold quantity: 100Mi, available: [0-9]+(Ki|Mi)?\. Container c was using [0-9]+(Ki|Mi)?, request is 0, has larger consumption of memory\. $' \
        pod_field grower '{.status.message}'
    grower_event() { kc get events --field-selector involvedObject.name=grower,reason=Evicted -o name 2>/dev/null | grep -q .; }
    wait_check memory/grower-event 30 grower_event
    oom=$(memcg_get memory.oom_control oom_kill)
    expect_eq memory/no-oom-kill 0 echo "$oom"
    wait_check memory/pressure-gone 60 memory_pressure_is False
    expect_eq memory/guaranteed-stays Running pod_field mguaranteed '{.status.phase}'
    check memory/guaranteed-intact kc exec mguaranteed -- test -f /dev/shm/done
    expect_eq memory/adopted-guaranteed-stays Running pod_field guaranteed '{.status.phase}'
    run grep -c 'eviction manager: evicting pod' "$TMP/k3c.log"
    expect_eq memory/one-eviction 1 echo "$OUT"
    grep -E 'eviction manager' "$TMP/k3c.log" | sed 's/^/#   /'
}

# Where cgroup v1's memory controller is not there (a cgroup v2 host):
# memory pressure as configured, memory.available<(the node's memory).
memory_phase_configured() {
    local mem_ki line_hog line_g
    echo "# a BestEffort pod holding 32 MiB of memory (/dev/shm), for the memory phase"
    kc apply -f - >/dev/null <<'EOY'
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    command: [sh, -c, "head -c 33554432 /dev/zero >/dev/shm/x && touch /data/done && exec sleep 3600"]
    volumeMounts: [{name: d, mountPath: /data}]
  volumes: [{name: d, emptyDir: {}}]
EOY
    wait_check pod/hog-written 120 pod_written hog

    # Restarted with memory.available below the node's whole memory as a hard
    # threshold: memory pressure as configured, not a real shortage (that would
    # endanger the other work on the machine); the usage ranked is real (the
    # pods' cgroups).
    mem_ki=$(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo)
    echo "# a restart of k3c with memory.available<${mem_ki}Ki (the node's memory)"
    stop_pid "$SERVER_PID" "$STOP_TIMEOUT_S"
    SERVER_PID=
    mv "$TMP/k3c.log" "$TMP/k3c-1.log"
    SERVER_EXTRA_ARGS=(--cni-bridge "k3cev$$" --pod-cidr 10.89.9.0/24 --kubelet-port 10250
        --eviction-hard "nodefs.available<30%,memory.available<${mem_ki}Ki"
        --eviction-pressure-transition-period 15s)
    start_server
    restart_checks
    echo "# memory pressure: the pod over its request (hog, BestEffort) goes first"
    wait_check memory/node-pressure 40 memory_pressure_is True
    wait_check memory/hog-evicted 60 pod_phase_is hog Failed
    expect_eq memory/hog-reason Evicted pod_field hog '{.status.reason}'
    expect_out memory/hog-message '^The node was low on resource: memory\. Threshold quantity: [0-9]+(Ki|Mi|Gi)?, available: [0-9]+(Ki|Mi|Gi)?\. Container c was using [0-9]+(Ki|Mi)?, request is 0, has larger consumption of memory\. $' \
        pod_field hog '{.status.message}'
    grep -E 'eviction manager: evicting pod' "$TMP/k3c.log" | sed 's/^/#   /'
    line_hog=$(line_evicting hog)
    line_g=$(line_evicting guaranteed)
    if [ -n "$line_hog" ] && { [ -z "$line_g" ] || [ "$line_hog" -lt "$line_g" ]; }; then
        pass memory/hog-before-guaranteed
    else
        OUT="hog at line ${line_hog:-none}, guaranteed at line ${line_g:-none}"
        fail memory/hog-before-guaranteed "the Guaranteed pod within its request went first" true
    fi
}

echo "# a 160 MiB tmpfs as the agent's data dir, images, server"
pods_netns_make "$NS"
pods_images_start "$NS"
mkdir -p "$AGENT_DIR"
check disk/tmpfs mount -t tmpfs -o size=160m "k3c-e2e-evict-$$" "$AGENT_DIR"
pods_airgap_install "$TMP/data"
make_image x
start_server
check server/node-ready wait_for 60 node_ready e2e
wait_check images/imported 60 grep -Eq 'imported [2-9] images' "$TMP/k3c.log"
check node/no-disk-pressure disk_pressure_is False

kc apply -f - >/dev/null <<'EOY'
apiVersion: v1
kind: Pod
metadata: {name: guaranteed}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    command: [sh, -c, "head -c 25165824 /dev/zero >/data/f && touch /data/done && exec sleep 3600"]
    resources:
      requests: {cpu: 100m, memory: 128Mi, ephemeral-storage: 64Mi}
      limits: {cpu: 100m, memory: 128Mi, ephemeral-storage: 64Mi}
    volumeMounts: [{name: d, mountPath: /data}]
  volumes: [{name: d, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: besteffort}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    command: [sh, -c, "head -c 12582912 /dev/zero >/data/f && touch /data/done && exec sleep 3600"]
    volumeMounts: [{name: d, mountPath: /data}]
  volumes: [{name: d, emptyDir: {}}]
EOY
echo "# pods created at ${SECONDS}s"
wait_check pod/guaranteed-written 120 pod_written guaranteed
wait_check pod/besteffort-written 60 pod_written besteffort
expect_eq pod/guaranteed-qos Guaranteed pod_field guaranteed '{.status.qosClass}'
expect_eq pod/besteffort-qos BestEffort pod_field besteffort '{.status.qosClass}'
BE_UID=$(pod_field besteffort '{.metadata.uid}')

echo "# a filler file takes the disk 6 MiB below nodefs.available<30%"
size=$(df_field size)
avail=$(df_field avail)
threshold=$((size * 30 / 100))
head -c $((avail - threshold + 6 * MI)) /dev/zero >"$AGENT_DIR/filler.bin"
echo "# size $((size / MI)) MiB, threshold $((threshold / MI)) MiB, available now $(($(df_field avail) / MI)) MiB"
echo "# filler at ${SECONDS}s"
wait_check node/disk-pressure 60 pressure_is_true DiskPressure
expect_out node/disk-pressure-why 'nodefs.available [0-9]+% < 30%' \
    node_field '{.status.conditions[?(@.type=="DiskPressure")].message}'
wait_check evict/besteffort-failed 60 pod_phase_is besteffort Failed
echo "# evicted at ${SECONDS}s"
expect_eq evict/reason Evicted pod_field besteffort '{.status.reason}'
expect_out evict/message '^The node was low on resource: ephemeral-storage\. Threshold quantity: [0-9]+(Ki|Mi)?, available: [0-9]+(Ki|Mi)?\. $' \
    pod_field besteffort '{.status.message}'
expect_eq evict/disruption-target True \
    pod_field besteffort '{.status.conditions[?(@.type=="DisruptionTarget")].status}'
expect_eq evict/disruption-reason TerminationByKubelet \
    pod_field besteffort '{.status.conditions[?(@.type=="DisruptionTarget")].reason}'
expect_out evict/container-terminated '^137$' \
    pod_field besteffort '{.status.containerStatuses[0].state.terminated.exitCode}'
evicted_event() { kc get events --field-selector involvedObject.name=besteffort,reason=Evicted -o name 2>/dev/null | grep -q .; }
wait_check evict/event 30 evicted_event
run ls "$AGENT_DIR/pods/$BE_UID"
if [ -d "$AGENT_DIR/pods/$BE_UID/volumes" ]; then
    fail evict/emptydir-freed "volumes of the evicted pod still there" ls -R "$AGENT_DIR/pods/$BE_UID"
else
    pass evict/emptydir-freed
fi

echo "# the unused image went first, then the pod"
grep -E 'image GC|eviction manager|evicted' "$TMP/k3c.log" | sed 's/^/#   /'
line_of() { grep -n "$1" "$TMP/k3c.log" | head -n 1 | cut -d: -f1; }
line_gc=$(line_of 'image GC: removed docker.io/k3c/x:1 ')
line_ev=$(line_of 'eviction manager: evicting pod default/besteffort')
if [ -n "$line_gc" ] && [ -n "$line_ev" ] && [ "$line_gc" -lt "$line_ev" ]; then
    pass evict/image-gc-first
else
    OUT="image GC at line ${line_gc:-none}, eviction at line ${line_ev:-none}"
    fail evict/image-gc-first "the unused image was not removed before the eviction" true
fi
expect_not evict/busybox-kept 'image GC: removed docker.io/k3c/busybox:test ' cat "$TMP/k3c.log"

echo "# the pressure ends (12 MiB freed > 6 MiB + the 4 MiB minimum reclaim); the Guaranteed pod stays"
wait_check node/disk-pressure-gone 60 disk_pressure_is False
expect_eq pod/guaranteed-running Running pod_field guaranteed '{.status.phase}'
check pod/guaranteed-exec kc exec guaranteed -- test -f /data/done
expect_not evict/only-one 'evicting pod default/guaranteed' cat "$TMP/k3c.log"
echo "# evicted pods: $(grep -c 'eviction manager: evicting pod' "$TMP/k3c.log")"
rm -f "$AGENT_DIR/filler.bin"

restart_checks() {
    check restart/node-ready wait_for 60 node_ready e2e
    wait_check restart/guaranteed-adopted 60 grep -q '(pod default/guaranteed) adopted container c' "$TMP/k3c.log"
    expect_eq restart/besteffort-still-failed Failed pod_field besteffort '{.status.phase}'
    expect_eq restart/besteffort-still-evicted Evicted pod_field besteffort '{.status.reason}'
    run grep -c '(pod default/besteffort) started' "$TMP/k3c.log"
    if [ "$OUT" = 0 ]; then pass restart/besteffort-not-started; else fail restart/besteffort-not-started "its container started again" grep; fi
}
memory_pressure_is() { [ "$(node_field '{.status.conditions[?(@.type=="MemoryPressure")].status}')" = "$1" ]; }
line_evicting() { line_of "eviction manager: evicting pod default/$1 "; }

if [ -f "$MEMCG_ROOT/memory.limit_in_bytes" ] && command -v unshare >/dev/null; then
    memory_phase_real
else
    memory_phase_configured
fi

echo "# stop everything: no sanitizer report from the server"
pods_cleanup
run grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$TMP/k3c.log"
if [ "$RC" -ne 0 ]; then pass server/no-sanitizer-reports; else fail server/no-sanitizer-reports "sanitizer report" grep; fi

summary
