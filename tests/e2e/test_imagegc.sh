#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_imagegc.sh - image garbage collection (issue #21) on a small fake
# disk: the agent's image dir is a 64 MiB tmpfs the test mounts under its
# temp dir, holding k3c/busybox:test and four air-gap images k3c/gc-a..d:1
# made here (k3c/a:1 ... k3c/d:1, 3 MiB random layers). gc-a is used by a pod that is then
# deleted, busybox by a running pod. A filler file pushes the disk above the
# 85 % high threshold: the GC removes never-used images first (gc-b, gc-c,
# by name at equal first sight) and only as many as it needs to get under
# 80 %, keeping gc-a (used) and gc-d; pushed up again, gc-d goes before
# gc-a; the image in use never goes and its pod keeps running; the Node's
# DiskPressure condition turns True (imagefs.available < 15%) and the node
# gets the disk-pressure NoSchedule taint, both gone with the filler. Real
# runc/conmon/CNI in a test-made network namespace. Root only. ~1 minute.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-imggc-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
E2E_NAME=imagegc
# imagefs.available<15% is a soft threshold with a long grace period here:
# DiskPressure comes and goes (held 5 s after the pressure, not the
# kubelet's 5m), but no pod is evicted (test_eviction.sh).
SERVER_EXTRA_ARGS=(--cni-bridge k3cgc$$ --pod-cidr 10.89.8.0/24 --kubelet-port 10250
    --image-gc-period 1 --eviction-hard 'memory.available<100Mi,nodefs.available<10%'
    --eviction-soft 'imagefs.available<15%' --eviction-soft-grace-period 'imagefs.available=1h'
    --eviction-pressure-transition-period 5s)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools sha256sum

trap 'pods_cleanup; cleanup' EXIT

IMGDIR=$TMP/data/agent/images
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)

# make_image NAME: a docker-save tarball k3c/NAME:1 with one 3 MiB random layer.
make_image() {
    local name=$1 d diff cfg
    d=$TMP/mk-$name
    mkdir -p "$d/l"
    head -c $((3 * 1024 * 1024)) /dev/urandom >"$d/l/data-$name.bin"
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
    tar -C "$d/out" -cf "$IMGDIR/gc-$name.tar" manifest.json "$cfg.json" "$diff/layer.tar"
    rm -rf "$d"
}

used_pct() { df --output=pcent "$IMGDIR" | tail -n 1 | tr -dc 0-9; }
# fill_to PCT: grows the filler file until the tmpfs is at least PCT % used.
FILL_N=0
fill_to() {
    local want=$1 size used
    size=$(df -B1 --output=size "$IMGDIR" | tail -n 1 | tr -dc 0-9)
    used=$(df -B1 --output=used "$IMGDIR" | tail -n 1 | tr -dc 0-9)
    FILL_N=$((FILL_N + 1))
    head -c $((size * want / 100 - used + 512 * 1024)) /dev/zero >"$IMGDIR/filler-$FILL_N.bin"
}
removed() { grep -q "image GC: removed docker.io/k3c/$1:1 " "$TMP/k3c.log"; }
gc_log() { grep 'image GC' "$TMP/k3c.log" | sed 's/^/#   /'; }

echo "# a 64 MiB tmpfs as the image disk, images, server"
pods_netns_make "$NS"
pods_images_start "$NS"
mkdir -p "$IMGDIR"
check disk/tmpfs mount -t tmpfs -o size=64m "k3c-e2e-imggc-$$" "$IMGDIR"
pods_airgap_install "$TMP/data"
for n in a b c d; do make_image "$n"; done
start_server
check server/node-ready wait_for 60 node_ready e2e
wait_check images/imported 60 grep -Eq 'imported [5-9] images' "$TMP/k3c.log"
echo "# disk use after the import: $(used_pct)%"
disk_pressure() { pod_field_node '{.status.conditions[?(@.type=="DiskPressure")].status}'; }
pod_field_node() { kc get node e2e -o "jsonpath=$1" 2>/dev/null; }
expect_eq node/no-disk-pressure False disk_pressure

kc apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: bb}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: k3c/busybox:test, command: [sleep, "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: user-a}
spec:
  nodeName: e2e
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: "k3c/a:1"}
EOF
wait_check pod/bb-running 120 pod_phase_is bb Running
# gc-a in use for a few GC periods, then not any more
wait_for 5 false
check pod/user-a-deleted kc delete pod user-a --wait=true --timeout=60s
wait_for 3 false

echo "# above the high threshold: never-used images go first"
fill_to 87
echo "# disk use with the filler: $(used_pct)%"
wait_check gc/b-removed 30 removed b
wait_check gc/c-removed 10 removed c
wait_for 3 false
gc_log
expect_not gc/a-kept 'removed docker.io/k3c/a:1 ' cat "$TMP/k3c.log"
expect_not gc/d-kept 'removed docker.io/k3c/d:1 ' cat "$TMP/k3c.log"
run used_pct
if [ "$OUT" -lt 80 ]; then pass gc/below-low; else fail gc/below-low "disk $OUT% used" df; fi
expect_out gc/freed 'image GC: [0-9]+ bytes freed' cat "$TMP/k3c.log"

echo "# again: the never-used gc-d before gc-a, busybox (in use) never"
fill_to 87
wait_check gc/d-removed 30 removed d
wait_for 3 false
gc_log
line_of() { grep -n "image GC: removed docker.io/k3c/$1:1 " "$TMP/k3c.log" | head -n 1 | cut -d: -f1; }
line_d=$(line_of d)
line_a=$(line_of a)
if [ -n "$line_d" ] && { [ -z "$line_a" ] || [ "$line_d" -lt "$line_a" ]; }; then
    pass gc/d-before-a
else
    OUT="d at line ${line_d:-none}, a at line ${line_a:-none}"
    fail gc/d-before-a "gc-d not removed before gc-a" grep
fi
fill_to 95
wait_check gc/says-still-above 15 grep -q 'image GC: still above the low threshold' "$TMP/k3c.log"
disk_pressure_true() { [ "$(disk_pressure)" = True ]; }
wait_check node/disk-pressure 40 disk_pressure_true
expect_out node/disk-pressure-why 'imagefs.available [0-9]+% < 15%' \
    pod_field_node '{.status.conditions[?(@.type=="DiskPressure")].message}'
expect_eq node/disk-pressure-reason KubeletHasDiskPressure \
    pod_field_node '{.status.conditions[?(@.type=="DiskPressure")].reason}'
pressure_taint() { [ "$(pod_field_node '{.spec.taints[?(@.key=="node.kubernetes.io/disk-pressure")].effect}')" = "$1" ]; }
wait_check node/disk-pressure-taint 30 pressure_taint NoSchedule
expect_not gc/in-use-kept 'removed docker.io/k3c/busybox:test ' cat "$TMP/k3c.log"
expect_eq pod/bb-still-running Running pod_field bb '{.status.phase}'
check pod/bb-exec kc exec bb -- true
rm -f "$IMGDIR"/filler-*.bin
disk_pressure_false() { [ "$(disk_pressure)" = False ]; }
wait_check node/disk-pressure-gone 40 disk_pressure_false
wait_check node/disk-pressure-taint-gone 30 pressure_taint ""

summary
