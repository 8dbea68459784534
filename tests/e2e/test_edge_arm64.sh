#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_edge_arm64.sh - issue #19's edge node under emulation: an arm64
# `k3c agent` (the cross-built binary run by qemu-aarch64) in its own
# network namespace joins this build's amd64 `k3c server` (with its own
# agent) over a bridged LAN of test-made namespaces, and runs pods. A
# local registry (in the LAN namespace) serves an OCI image index with an
# amd64 and an arm64 image (the arm64 one from Debian's arm64
# busybox-static, unpacked in the arm64 sysroot); containers of the arm64
# image run through binfmt_misc and qemu-aarch64-static (registered here
# with the F flag when the kernel allows, and removed afterwards). Checks:
# the edge node Ready with kubernetes.io/arch=arm64 (and the beta label,
# nodeInfo.architecture), a DaemonSet of the index running its arm64
# variant on the edge node (uname -m: aarch64) and its amd64 variant on
# the server's node (x86_64), imageID the chosen platform's manifest,
# nodeSelector kubernetes.io/arch=arm64 landing on the edge node, and an amd64-only index refused on the edge node with a clear
# message; kubectl exec (WebSocket) into an arm64 pod of the emulated agent
# (output, exit code, stdin) and into a container that is not running
# (refused at once); the same index as an air-gap tarball in both nodes'
# <data-dir>/agent/images/, each node importing and running its platform. Prints the arm64 agent's RSS under emulation and the binary
# sizes. Needs root (else exit 77); skips with a reason without the arm64
# build (tests/arm64/test_arm64_unit.sh makes it), qemu or binfmt_misc.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c$$-srv
NSE=k3c$$-edge
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
LAN=192.168.249
NS_IP=$LAN.11
EDGE_IP=$LAN.12
LAN_REG=$LAN.1:5000 # the registry listens on the LAN namespace's bridge
CLUSTER_CIDR=10.95.0.0/16
E2E_NAME=edge-arm64
SYSROOT=${K3C_ARM64_SYSROOT:-/var/cache/k3c/sysroot-arm64}
ARM64_BIN=${K3C_ARM64_BIN:-${K3C_ARM64_BUILD:-}/k3c}
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --node-ip "$NS_IP"
    --cluster-cidr "$CLUSTER_CIDR" --crash-backoff-base-ms 1000)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck source-path=SCRIPTDIR source=lib_lan.sh
. "$HERE/lib_lan.sh"
pods_need_root_and_tools qemu-aarch64-static python3 file

if ! file -b "$ARM64_BIN" 2>/dev/null | grep -q "ARM aarch64"; then
    echo "SKIP: no arm64 k3c at '$ARM64_BIN' (make arm64, or the arm64_unit test, builds it)"
    exit 77
fi
if ! file -b "$SYSROOT/bin/busybox" 2>/dev/null | grep -q "ARM aarch64"; then
    echo "SKIP: no arm64 busybox in the sysroot $SYSROOT (scripts/arm64-sysroot)"
    exit 77
fi

# ---- binfmt_misc: arm64 executables run by qemu-aarch64-static ----
BINFMT=/proc/sys/fs/binfmt_misc
# Debian's wrapper that hands qemu-aarch64-static the preserved argv[0]
QEMU_BINFMT_P=/usr/libexec/qemu-binfmt/aarch64-binfmt-P
BINFMT_MOUNTED=
BINFMT_OURS=
binfmt_setup() {
    local f
    if [ ! -e "$BINFMT/register" ]; then
        mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || return 1
        BINFMT_MOUNTED=1
    fi
    # A handler someone else registered with the F flag (the interpreter
    # opened at registration, so it works inside containers) and the P flag
    # (argv[0] preserved: busybox's `exec sleep` re-executes itself by
    # applet name, and without P it ran as `sh` and the container exited
    # with 2) will do: Debian's own registration (qemu-user-static's
    # binfmt.d, OPF, through the aarch64-binfmt-P wrapper) is one.
    for f in "$BINFMT"/*; do
        case ${f##*/} in register | status) continue ;; esac
        [ -f "$f" ] || continue
        grep -q "^interpreter .*aarch64" "$f" && grep -q "^enabled" "$f" &&
            grep -q "^flags: .*P.*F" "$f" && return 0
    done
    [ -x "$QEMU_BINFMT_P" ] || return 1
    BINFMT_OURS=k3c-e2e-aarch64-$$
    printf ':%s:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:%s:PF\n' \
        "$BINFMT_OURS" "$QEMU_BINFMT_P" >"$BINFMT/register" 2>/dev/null ||
        { BINFMT_OURS=; return 1; }
}
binfmt_cleanup() {
    [ -n "$BINFMT_OURS" ] && [ -e "$BINFMT/$BINFMT_OURS" ] && echo -1 >"$BINFMT/$BINFMT_OURS"
    [ -n "$BINFMT_MOUNTED" ] && umount "$BINFMT" 2>/dev/null
    BINFMT_OURS=
    BINFMT_MOUNTED=
}

REGISTRY_LAN_PID=
edge_cleanup() {
    local d pid
    pods_cleanup
    # pods_cleanup kills leftover k3c and conmon; the edge agent is qemu.
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        case $(cat "$d/comm" 2>/dev/null) in qemu-aarch64*) ;; *) continue ;; esac
        case $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) in *"$TMP/"*) kill -KILL "$pid" 2>/dev/null ;; esac
    done
    [ -n "$REGISTRY_LAN_PID" ] && kill "$REGISTRY_LAN_PID" 2>/dev/null
    binfmt_cleanup
    lan_cleanup
    cleanup
}
trap edge_cleanup EXIT

if ! binfmt_setup; then
    echo "SKIP: cannot register qemu-aarch64 in binfmt_misc here, or no $QEMU_BINFMT_P (Debian qemu-user-static): arm64 containers cannot run"
    exit 77
fi
echo "# binfmt_misc: ${BINFMT_OURS:-an existing qemu-aarch64 handler with the F flag}"

T_MARK=$(date +%s%N)
t_mark() { T_MARK=$(date +%s%N); }
t_say() {
    local ms=$((($(date +%s%N) - T_MARK) / 1000000))
    echo "# time: $1: $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
}

# ---- images: an OCI index with amd64 and arm64 busybox images ----

# image_add LAYOUT TAG ARCH BUSYBOX: a one-layer image of BUSYBOX and a few
# applets, its config saying ARCH.
image_add() {
    local lay=$1 tag=$2 arch=$3 bb=$4 root=$TMP/root-$2 a
    mkdir -p "$root/bin" "$root/etc" "$root/tmp"
    cp "$bb" "$root/bin/busybox"
    for a in sh uname cat echo sleep true; do ln -s busybox "$root/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$root.tar" .
    umoci new --image "$lay:$tag" &&
        umoci raw add-layer --image "$lay:$tag" "$root.tar" &&
        umoci config --no-history --image "$lay:$tag" --architecture "$arch" --os linux \
            --config.cmd sh --config.env PATH=/bin
}

# index_add LAYOUT NAME TAG:ARCH[/VARIANT]...: an image index NAME over the
# tagged images, each with its platform; prints "ARCH DIGEST" per entry.
index_add() {
    python3 - "$@" <<'EOF'
import hashlib, json, os, sys
lay, name, entries = sys.argv[1], sys.argv[2], sys.argv[3:]
path = os.path.join(lay, "index.json")
idx = json.load(open(path))
by_tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in idx["manifests"]
          if "annotations" in m}
manifests = []
for e in entries:
    tag, plat = e.split(":")
    arch, _, variant = plat.partition("/")
    d = dict(by_tag[tag])
    d.pop("annotations", None)
    d["platform"] = {"architecture": arch, "os": "linux"}
    if variant:
        d["platform"]["variant"] = variant
    manifests.append(d)
    print(arch, d["digest"])
blob = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": manifests}).encode()
digest = hashlib.sha256(blob).hexdigest()
open(os.path.join(lay, "blobs", "sha256", digest), "wb").write(blob)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                         "digest": "sha256:" + digest, "size": len(blob),
                         "annotations": {"org.opencontainers.image.ref.name": name}})
json.dump(idx, open(path, "w"))
EOF
}

echo "# 0. LAN, registry with a multi-platform index, server, arm64 agent under qemu"
t_mark
lan_make "$LAN"
lan_host srv "$NS_IP"
lan_host edge "$EDGE_IP"
LAY=$TMP/oci
umoci init --layout "$LAY" || exit 1
image_add "$LAY" amd64 amd64 /bin/busybox >"$TMP/images.log" 2>&1 &&
    image_add "$LAY" arm64 arm64 "$SYSROOT/bin/busybox" >>"$TMP/images.log" 2>&1 ||
    { echo "FAIL: building the images"; cat "$TMP/images.log"; exit 1; }
index_add "$LAY" multi amd64:amd64 arm64:arm64/v8 >"$TMP/digests.txt" || exit 1
index_add "$LAY" amd64only amd64:amd64 >/dev/null || exit 1
# The same index as an air-gap tarball (OCI layout, one entry named by
# containerd's annotation) in both nodes' <data-dir>/agent/images/: each
# imports its own platform's image at start.
AIRGAP_IMAGE=docker.io/k3c/airgap-multi:test
airgap_make() {
    local out=$TMP/airgap
    mkdir -p "$out" && cp -al "$LAY/blobs" "$out/" && cp "$LAY/oci-layout" "$out/" &&
        python3 - "$LAY/index.json" "$out/index.json" "$AIRGAP_IMAGE" <<'EOF' &&
import json, sys
idx = json.load(open(sys.argv[1]))
multi = [m for m in idx["manifests"]
         if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "multi"][0]
multi["annotations"] = {"io.containerd.image.name": sys.argv[3]}
json.dump({"schemaVersion": 2, "manifests": [multi]}, open(sys.argv[2], "w"))
EOF
        mkdir -p "$TMP/edge/agent/images" "$TMP/data/agent/images" &&
        tar -C "$out" -cf "$TMP/edge/agent/images/multi-airgap.tar" . &&
        cp "$TMP/edge/agent/images/multi-airgap.tar" "$TMP/data/agent/images/"
}
airgap_make || { echo "FAIL: making the air-gap tarball"; exit 1; }
DIGEST_AMD64=$(awk '$1 == "amd64" {print $2}' "$TMP/digests.txt")
DIGEST_ARM64=$(awk '$1 == "arm64" {print $2}' "$TMP/digests.txt")
mkdir -p "$TMP/registry"
cat >"$TMP/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $TMP/registry}}
http: {addr: "$LAN_REG"}
EOF
ip netns exec "$LAN_NS" /usr/bin/docker-registry serve "$TMP/registry.yml" >"$TMP/registry.log" 2>&1 &
REGISTRY_LAN_PID=$!
registry_up() { ip netns exec "$LAN_NS" curl -fsS "http://$LAN_REG/v2/" >/dev/null 2>&1; }
wait_for 20 registry_up || {
    echo "FAIL: docker-registry did not start"
    cat "$TMP/registry.log" "$TMP/registry.yml"
    ip netns exec "$LAN_NS" curl -sS "http://$LAN_REG/v2/"
    exit 1
}
for img in multi amd64only; do
    ip netns exec "$LAN_NS" skopeo copy -q --all --dest-tls-verify=false "oci:$LAY:$img" \
        "docker://$LAN_REG/k3c/$img:test" >>"$TMP/images.log" 2>&1 ||
        { echo "FAIL: pushing $img"; cat "$TMP/images.log"; exit 1; }
done
cat >"$TMP/registries.yaml" <<EOF
mirrors:
  "$LAN_REG":
    endpoint:
      - "http://$LAN_REG"
EOF
SERVER_EXTRA_ARGS+=(--registry-config "$TMP/registries.yaml")
SERVER_IP=$NS_IP
t_say "namespaces, images, registry"
t_mark
start_server
mkdir -p "$TMP/edge"
nsenter "--net=/run/netns/$NSE" qemu-aarch64-static -L "$SYSROOT" "$ARM64_BIN" agent \
    --server "https://$SERVER_IP:$API_PORT" --token "$(cat "$TMP/data/server/token")" \
    --data-dir "$TMP/edge" --node-name edge --node-ip "$EDGE_IP" --config "$TMP/empty.yaml" \
    --cluster-cidr "$CLUSTER_CIDR" --registry-config "$TMP/registries.yaml" \
    --node-label edge=true </dev/null >>"$TMP/agent-edge.log" 2>&1 &
AGENT_PIDS[edge]=$!
AGENT_DIRS[edge]=$TMP/edge
PODS_DATA_DIRS+=("$TMP/edge")

node_ready() {
    [ "$(kc get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
check node/edge-ready-under-qemu wait_for 240 node_ready edge
t_say "arm64 agent Ready"
check node/server-node-ready wait_for 60 node_ready e2e
expect_out node/edge-arch-label '^arm64$' kc get node edge -o 'jsonpath={.metadata.labels.kubernetes\.io/arch}'
expect_out node/edge-beta-arch-label '^arm64$' kc get node edge -o 'jsonpath={.metadata.labels.beta\.kubernetes\.io/arch}'
expect_out node/edge-nodeinfo-architecture '^arm64$' kc get node edge -o 'jsonpath={.status.nodeInfo.architecture}'
expect_out node/edge-label-from-flag '^true$' kc get node edge -o 'jsonpath={.metadata.labels.edge}'
expect_out node/server-arch-label '^amd64$' kc get node e2e -o 'jsonpath={.metadata.labels.kubernetes\.io/arch}'

# ---- 1. a DaemonSet of the index: each node runs its own platform ----

echo "# 1. DaemonSet of the multi-platform index"
t_mark
kc apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: multi}
spec:
  selector: {matchLabels: {app: multi}}
  template:
    metadata: {labels: {app: multi}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: $LAN_REG/k3c/multi:test
        command: ["sh", "-c", "uname -m; exec sleep 3600"]
EOF
ds_pod_on() { kc get pods -l app=multi --field-selector "spec.nodeName=$1" -o 'jsonpath={.items[0].metadata.name}' 2>/dev/null; }
pod_running() { [ "$(kc get pod "$1" -o 'jsonpath={.status.phase}' 2>/dev/null)" = Running ]; }
ds_running_on() { local p; p=$(ds_pod_on "$1") && [ -n "$p" ] && pod_running "$p"; }
check ds/runs-on-edge wait_for 240 ds_running_on edge
check ds/runs-on-server-node wait_for 120 ds_running_on e2e
t_say "DaemonSet running on both nodes"
EDGE_POD=$(ds_pod_on edge)
SRV_POD=$(ds_pod_on e2e)
logs_are() { [ "$(kc logs "$1" 2>/dev/null | head -n1)" = "$2" ]; }
check ds/edge-runs-the-arm64-variant wait_for 30 logs_are "$EDGE_POD" aarch64
check ds/server-node-runs-the-amd64-variant wait_for 30 logs_are "$SRV_POD" x86_64
expect_out ds/edge-imageid-is-the-arm64-manifest "$DIGEST_ARM64" \
    kc get pod "$EDGE_POD" -o 'jsonpath={.status.containerStatuses[0].imageID}'
expect_out ds/server-imageid-is-the-amd64-manifest "$DIGEST_AMD64" \
    kc get pod "$SRV_POD" -o 'jsonpath={.status.containerStatuses[0].imageID}'

# ---- kubectl exec into a pod of the emulated agent (WebSocket, kubectl 1.32) ----
echo "# 1b. kubectl exec on the arm64 agent"
t_mark
kx() { timeout 90 "${NETNS_EXEC[@]}" "$KUBECTL" --request-timeout=60s "$@"; }
expect_eq exec/edge-uname-m aarch64 kx exec "$EDGE_POD" -- uname -m
expect_rc exec/edge-exit-code-3 3 'command terminated with exit code 3' kx exec "$EDGE_POD" -- sh -c 'exit 3'
expect_eq exec/edge-stdin 'piped-in' sh -c "echo piped-in | timeout 90 ${NETNS_EXEC[*]} $KUBECTL --request-timeout=60s exec -i $EDGE_POD -- cat"
t_say "three execs on the arm64 agent"

# ---- 1c. the multi-platform air-gap tarball, imported at start ----
echo "# 1c. air-gap tarball with amd64 and arm64 images"
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: airgap-edge}
spec:
  nodeName: edge
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: "$AIRGAP_IMAGE", imagePullPolicy: Never, command: ["sh", "-c", "uname -m; exec sleep 3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: airgap-srv}
spec:
  nodeName: e2e
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: "$AIRGAP_IMAGE", imagePullPolicy: Never, command: ["sh", "-c", "uname -m; exec sleep 3600"]}
EOF
expect_out airgap/edge-imported-its-platform "imported from .*multi-airgap.tar" grep "airgap-multi" "$TMP/agent-edge.log"
check airgap/edge-pod-running wait_for 180 pod_running airgap-edge
check airgap/server-pod-running wait_for 120 pod_running airgap-srv
check airgap/edge-runs-arm64 wait_for 30 logs_are airgap-edge aarch64
check airgap/server-runs-amd64 wait_for 30 logs_are airgap-srv x86_64
expect_out airgap/edge-imageid-is-the-arm64-manifest "$DIGEST_ARM64" \
    kc get pod airgap-edge -o 'jsonpath={.status.containerStatuses[0].imageID}'
expect_out airgap/server-imageid-is-the-amd64-manifest "$DIGEST_AMD64" \
    kc get pod airgap-srv -o 'jsonpath={.status.containerStatuses[0].imageID}'

# ---- 2. scheduling by architecture; an index with no arm64 entry ----

echo "# 2. nodeSelector kubernetes.io/arch, an amd64-only index on arm64"
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: on-arm}
spec:
  nodeSelector: {kubernetes.io/arch: arm64}
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: "$LAN_REG/k3c/multi:test", command: ["sh", "-c", "uname -m; exec sleep 3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: amd64only}
spec:
  nodeName: edge
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: "$LAN_REG/k3c/amd64only:test", command: ["sleep", "3600"]}
EOF
check select/arm64-pod-running wait_for 180 pod_running on-arm
expect_out select/arm64-pod-on-the-edge-node '^edge$' kc get pod on-arm -o 'jsonpath={.spec.nodeName}'
check select/arm64-pod-says-aarch64 wait_for 30 logs_are on-arm aarch64
pull_refused() {
    kc get pod amd64only -o 'jsonpath={.status.containerStatuses[0].state.waiting.message}' 2>/dev/null |
        grep -q "no manifest for linux/arm64"
}
check pull/amd64-only-index-refused-on-arm64 wait_for 120 pull_refused
expect_out pull/refusal-reason '^(ErrImagePull|ImagePullBackOff)$' \
    kc get pod amd64only -o 'jsonpath={.status.containerStatuses[0].state.waiting.reason}'
# exec into a container that is not running answers at once (it used to
# hang: the API server read the kubelet's 404 until a close that never came)
expect_fail exec/not-running-refused-at-once 'container "c" in pod "amd64only" is not running' \
    kx exec amd64only -- true

# ---- figures ----
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
EDGE_PODS=$(kc get pods --field-selector spec.nodeName=edge -o name 2>/dev/null | wc -l)
echo "# figures: arm64 agent (qemu-aarch64 process, emulator included) RSS $(($(rss_kib "${AGENT_PIDS[edge]}") / 1024)) MiB with $EDGE_PODS pods"
echo "# kernel probes on the edge agent: $(grep -c 'kernel feature missing' "$TMP/agent-edge.log") missing"
grep 'kernel feature missing' "$TMP/agent-edge.log" | sed 's/^/#   /'
echo "# figures: k3c binary sizes: amd64 (this test build) $(stat -c %s "$K3C_BIN") bytes; arm64 $(stat -c %s "$ARM64_BIN") bytes"

summary
