#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_gpu.sh - CDI devices handed to real pods (issue #18), without a GPU:
# a server (no agent of its own) in one network namespace, an agent-only
# node `gpu` in another, reading a test CDI spec (kind nvidia.com/gpu) from
# a test-made directory whose device nodes are char devices the test makes
# with mknod (the major/minor of /dev/null), with spec-level env, a
# read-write mount and a createRuntime hook, per-device env. Checks: the
# Node's capacity/allocatable nvidia.com/gpu is 2 (index + UUID + "all"
# counted once), the model label; two pods each get a distinct device
# (visible, writable through the cgroup allow rule, env, NVIDIA_VISIBLE_
# DEVICES, the mount, the hook's mark); a third stays Pending with
# "Insufficient nvidia.com/gpu"; the agent restarted keeps the allocations
# (checkpoint; a container restarted afterwards gets its own device back);
# a deleted pod's device goes to the pending one; a broken spec file is
# reported with its file and field and the agent stays up; RuntimeClasses
# nvidia and nvidia-cdi made by the server (table, validation), a GPU pod
# of class nvidia runs with CDI, one of class nvidia-cdi under a stand-in
# nvidia-container-runtime.cdi (NVIDIA_VISIBLE_DEVICES, =void without GPUs); a pod naming a missing RuntimeClass is
# rejected (upstream's admission message), overhead and scheduling are
# applied, a handler the node does not have fails the container; the spec
# removed, the capacity drops to 0.
# Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-gpu-$$
NS2=k3c-e2e-gpu2-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
NS_IP=192.168.253.1
NS2_IP=192.168.253.2
E2E_NAME=gpu
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --disable-agent
    --cluster-cidr 10.91.0.0/16)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
pods_need_root_and_tools mknod python3

echo "# 0. the test's CDI spec: two 'GPUs' (char devices 1:3 made here)"
CDI=$TMP/cdi
SHARE=$TMP/cdi-share
mkdir -p "$CDI" "$SHARE" "$TMP/dev"
mknod "$TMP/dev/gpu0" c 1 3
mknod "$TMP/dev/gpu1" c 1 3
cat >"$TMP/hook.sh" <<'EOF2'
#!/bin/sh
# createRuntime hook: marks the share with the pod's name (from the state on stdin).
exec /usr/bin/python3 -c '
import json, sys
st = json.load(sys.stdin)
name = st.get("annotations", {}).get("io.kubernetes.pod.name", "unknown")
open(sys.argv[1] + "/hook-" + name, "w").write("hook ran for %s\n" % name)
' "$1"
EOF2
chmod 755 "$TMP/hook.sh"
cat >"$CDI/k3c-test-gpu.yaml" <<EOF2
cdiVersion: 0.6.0
kind: nvidia.com/gpu
annotations:
  nvidia.com/gpu.product: K3C Test GPU
containerEdits:
  env: [K3C_CDI_SPEC=yes]
  mounts:
  - {hostPath: $SHARE, containerPath: /cdi-share, type: bind, options: [rbind, rw]}
  hooks:
  - {hookName: createRuntime, path: $TMP/hook.sh, args: [hook.sh, $SHARE], env: [PATH=/usr/bin:/bin]}
devices:
- name: "0"
  containerEdits:
    env: [GPU_ID=0]
    deviceNodes: [{path: /dev/k3c-gpu0, hostPath: $TMP/dev/gpu0}]
- name: GPU-0b6e5a0c-1111-2222-3333-444455556666
  containerEdits:
    env: [GPU_ID=0]
    deviceNodes: [{path: /dev/k3c-gpu0, hostPath: $TMP/dev/gpu0}]
- name: "1"
  containerEdits:
    env: [GPU_ID=1]
    deviceNodes: [{path: /dev/k3c-gpu1, hostPath: $TMP/dev/gpu1}]
- name: all
  containerEdits:
    deviceNodes:
    - {path: /dev/k3c-gpu0, hostPath: $TMP/dev/gpu0}
    - {path: /dev/k3c-gpu1, hostPath: $TMP/dev/gpu1}
EOF2

echo "# 1. server, and the agent-only node gpu"
pods_netns_make "$NS" "$NS2" "$NS_IP" "$NS2_IP"
pods_images_start "$NS"
SERVER_IP=$NS_IP
pods_airgap_install "$TMP/gpu"
start_server
# A stand-in for nvidia-container-runtime.cdi (the handler nvidia-cdi): it
# records its calls and runs runc.
mkdir -p "$TMP/bin"
cat >"$TMP/bin/nvidia-container-runtime.cdi" <<EOF2
#!/bin/sh
echo "\$*" >>"$TMP/fake-nvidia-runtime.log"
exec $(command -v runc) "\$@"
EOF2
chmod 755 "$TMP/bin/nvidia-container-runtime.cdi"
start_gpu_agent() {
    PATH="$TMP/bin:$PATH" agent_start gpu "$TMP/gpu" "$NS2" "$NS2_IP" --cni-bridge k3cgpu0 --pod-cidr 10.91.2.0/24 \
        --crash-backoff-base-ms 1000 --cdi-spec-dirs "$TMP/cdi-none:$CDI"
}
start_gpu_agent
check node/ready wait_for 60 node_ready gpu
node_f() { kc get node gpu -o "jsonpath=$1" 2>/dev/null; }
gpu_capacity() { [ "$(node_f '{.status.capacity.nvidia\.com/gpu} {.status.allocatable.nvidia\.com/gpu}')" = "2 2" ]; }
check node/capacity-2 wait_for 20 gpu_capacity
expect_eq node/product-label K3C-Test-GPU node_f '{.metadata.labels.nvidia\.com/gpu\.product}'

gpu_pod() {
    kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    resources: {limits: {nvidia.com/gpu: 1}}
    command:
    - sh
    - -c
    - |
      ls /dev/k3c-gpu*
      echo x > /dev/k3c-gpu\$GPU_ID && echo dev-writable
      echo "env GPU_ID=\$GPU_ID NVIDIA_VISIBLE_DEVICES=\$NVIDIA_VISIBLE_DEVICES K3C_CDI_SPEC=\$K3C_CDI_SPEC"
      cat /cdi-share/hook-\$HOSTNAME
      echo started
      while :; do
        if [ -e /cdi-share/stop-\$HOSTNAME ]; then rm /cdi-share/stop-\$HOSTNAME; exit 3; fi
        sleep 1
      done
EOF2
}
# The log of a pod's container instance N.
pod_log() { cat "$TMP/gpu/agent/logs/default_$1_$(pod_field "$1" '{.metadata.uid}')/c/${2:-0}.log" 2>/dev/null; }
log_has() { pod_log "$1" "$2" | grep -q -- "$3"; }
gpu_of() { pod_log "$1" "${2:-0}" | sed -n 's/.*env GPU_ID=\([0-9]*\) .*/\1/p' | head -n 1; }

echo "# 2. two pods get distinct devices, a third stays Pending"
gpu_pod a
check a/running wait_for 60 pod_phase_is a Running
check a/started wait_for 20 log_has a 0 started
gpu_pod b
check b/running wait_for 60 pod_phase_is b Running
check b/started wait_for 20 log_has b 0 started
GA=$(gpu_of a)
GB=$(gpu_of b)
echo "#    a has gpu $GA, b has gpu $GB"
check devices/distinct test -n "$GA" -a -n "$GB" -a "$GA" != "$GB"
for p in a b; do
    g=$(gpu_of $p)
    expect_out "$p/only-its-device" "stdout F /dev/k3c-gpu$g\$" pod_log $p
    expect_not "$p/not-the-other" "/dev/k3c-gpu$((1 - g))" pod_log $p
    expect_out "$p/device-writable" 'stdout F dev-writable' pod_log $p
    expect_out "$p/env" "env GPU_ID=$g NVIDIA_VISIBLE_DEVICES=$g K3C_CDI_SPEC=yes" pod_log $p
    expect_out "$p/hook-and-mount" "hook ran for $p" pod_log $p
done
gpu_pod c
pending_insufficient() {
    [[ "$(pod_field c '{.status.phase} {.status.conditions[?(@.type=="PodScheduled")].message}')" == Pending*"Insufficient nvidia.com/gpu"* ]]
}
check c/pending-insufficient wait_for 30 pending_insufficient
expect_out c/not-bound '^$' pod_field c '{.spec.nodeName}'

echo "# 3. the agent restarted keeps the allocations"
CP=$TMP/gpu/agent/devices/checkpoint.json
expect_all checkpoint/both "nvidia.com/gpu=$GA" "nvidia.com/gpu=$GB" -- cat "$CP"
agent_stop gpu
start_gpu_agent
check restart/node-ready wait_for 60 node_ready gpu
expect_all restart/checkpoint-kept "nvidia.com/gpu=$GA" "nvidia.com/gpu=$GB" -- cat "$CP"
# b's container exits and restarts: it must get its own device back (a
# forgotten allocation would hand it the first free one, a's).
touch "$SHARE/stop-b"
b_restarted() { [ "$(pod_field b '{.status.containerStatuses[0].restartCount}')" -ge 1 ] 2>/dev/null; }
check restart/b-restarted wait_for 60 b_restarted
RB=$(pod_field b '{.status.containerStatuses[0].restartCount}')
check restart/b-started-again wait_for 30 log_has b "$RB" started
expect_eq restart/b-same-device "$GB" gpu_of b "$RB"
expect_eq restart/c-still-pending Pending pod_field c '{.status.phase}'

echo "# 4. a's device goes to c when a is deleted"
check a/delete kc delete pod a --timeout=60s
check c/running wait_for 90 pod_phase_is c Running
check c/started wait_for 20 log_has c 0 started
expect_eq c/gets-a-device "$GA" gpu_of c

echo "# 5. a broken spec is reported; the agent stays up"
printf 'cdiVersion: 0.6.0\nkind: example.com/broken\ndevices:\n- name: x\n  containerEdits:\n    envs: [A=1]\n' \
    >"$CDI/broken.yaml"
broken_logged() { grep -q "CDI spec skipped: $CDI/broken.yaml: devices\[0\].containerEdits.envs: unknown field" "$TMP/agent-gpu.log"; }
check broken/logged wait_for 40 broken_logged
check broken/agent-alive kill -0 "${AGENT_PIDS[gpu]}"
check broken/node-ready node_ready gpu
expect_eq broken/capacity-kept 2 node_f '{.status.capacity.nvidia\.com/gpu}'

echo "# 6. RuntimeClass: nvidia and nvidia-cdi made for the GPU node; nvidia runs with CDI"
expect_all runtimeclass/table '^NAME +HANDLER +AGE' '^nvidia +nvidia +[0-9]' '^nvidia-cdi +nvidia-cdi +[0-9]' \
    -- kc get runtimeclasses
expect_out runtimeclass/api-resources '^runtimeclasses +node.k8s.io/v1 +false +RuntimeClass$' kc api-resources --api-group node.k8s.io
expect_fail runtimeclass/handler-immutable 'field is immutable' kc patch runtimeclass nvidia --type merge -p '{"handler":"runc"}'
expect_fail runtimeclass/handler-required 'handler: Required value' kc create -f - <<EOF2
{"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "nohandler"}}
EOF2
kc delete pod b --timeout=60s >/dev/null
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: rc}
spec:
  runtimeClassName: nvidia
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    resources: {limits: {nvidia.com/gpu: 1}}
    command: [sh, -c, "ls /dev/k3c-gpu*; echo env GPU_ID=\$GPU_ID NVIDIA_VISIBLE_DEVICES=\$NVIDIA_VISIBLE_DEVICES; echo started; exec sleep 3600"]
EOF2
check runtimeclass/nvidia-running wait_for 60 pod_phase_is rc Running
check runtimeclass/nvidia-started wait_for 20 log_has rc 0 started
expect_eq runtimeclass/nvidia-gets-b-device "$GB" gpu_of rc
kc delete pod rc --timeout=60s >/dev/null
rc_pod() { # NAME GPUS: class nvidia-cdi, run by the stand-in runtime
    kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  runtimeClassName: nvidia-cdi
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: k3c/busybox:test
    resources: {limits: {nvidia.com/gpu: $2}}
    command: [sh, -c, "ls /dev/k3c-gpu* || echo no-cdi-device; echo NVIDIA_VISIBLE_DEVICES=\$NVIDIA_VISIBLE_DEVICES; echo started; exec sleep 3600"]
EOF2
}
rc_pod rccdi 1
rc_pod rcvoid 0
check runtimeclass/nvidia-cdi-running wait_for 60 pod_phase_is rccdi Running
check runtimeclass/nvidia-cdi-started wait_for 20 log_has rccdi 0 started
expect_out runtimeclass/nvidia-cdi-runtime-used "create .*$(pod_field rccdi '{.status.containerStatuses[0].containerID}' | sed 's|k3c://||')" \
    cat "$TMP/fake-nvidia-runtime.log"
expect_out runtimeclass/nvidia-cdi-visible "stdout F NVIDIA_VISIBLE_DEVICES=$GB\$" pod_log rccdi
expect_out runtimeclass/nvidia-edits-left-to-runtime 'stdout F no-cdi-device' pod_log rccdi
check runtimeclass/no-gpu-started wait_for 60 log_has rcvoid 0 started
expect_out runtimeclass/no-gpu-void 'stdout F NVIDIA_VISIBLE_DEVICES=void$' pod_log rcvoid

echo "# 6b. RuntimeClass admission and handlers"
expect_fail runtimeclass/missing-class-rejected 'pods "norc" is forbidden: pod rejected: RuntimeClass "no-such-class" not found' \
    kc create -f - <<EOF2
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "norc"}, "spec": {"nodeName": "gpu",
 "runtimeClassName": "no-such-class", "containers": [{"name": "c", "image": "k3c/busybox:test"}]}}
EOF2
kc create -f - >/dev/null <<EOF2
{"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "kata"}, "handler": "kata",
 "overhead": {"podFixed": {"memory": "64Mi"}},
 "scheduling": {"nodeSelector": {"sandbox": "kata"}, "tolerations": [{"key": "kata", "operator": "Exists"}]}}
EOF2
expect_eq runtimeclass/admission-applied '{"memory":"64Mi"} {"sandbox":"kata"} kata' kc create --dry-run=server -o \
    'jsonpath={.spec.overhead} {.spec.nodeSelector} {.spec.tolerations[?(@.key=="kata")].key}' -f - <<EOF2
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "k"}, "spec": {"runtimeClassName": "kata",
 "containers": [{"name": "c", "image": "k3c/busybox:test"}]}}
EOF2
expect_fail runtimeclass/selector-conflict 'conflict: runtimeClass.scheduling.nodeSelector\[sandbox\] = kata; pod.spec.nodeSelector\[sandbox\] = gvisor' \
    kc create --dry-run=server -f - <<EOF2
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "k"}, "spec": {"runtimeClassName": "kata",
 "nodeSelector": {"sandbox": "gvisor"}, "containers": [{"name": "c", "image": "k3c/busybox:test"}]}}
EOF2
kc create -f - >/dev/null <<EOF2
{"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "kata-plain"}, "handler": "kata"}
EOF2
kc create -f - >/dev/null <<EOF2
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nohandler"}, "spec": {"nodeName": "gpu",
 "runtimeClassName": "kata-plain", "containers": [{"name": "c", "image": "k3c/busybox:test", "command": ["sleep", "3600"]}]}}
EOF2
nohandler_failed() { [[ "$(pod_field nohandler '{.status.containerStatuses[0].state.waiting.message}')" == *'failed to get sandbox runtime: no runtime for "kata" is configured'* ]]; }
check runtimeclass/unknown-handler-fails wait_for 40 nohandler_failed

echo "# 7. cleanup: every device freed"
check cleanup/delete-all kc delete pods --all --timeout=90s
none_held() { ! grep -q 'nvidia.com/gpu=' "$CP"; }
check cleanup/devices-freed wait_for 30 none_held
rm -f "$CDI/k3c-test-gpu.yaml"
gpu_capacity_0() { [ "$(node_f '{.status.capacity.nvidia\.com/gpu} {.status.allocatable.nvidia\.com/gpu}')" = "0 0" ]; }
check spec-removed/capacity-0 wait_for 40 gpu_capacity_0
agent_stop gpu
AGENT_RC=$?
expect_eq agent/sigterm-exit-0 0 echo "$AGENT_RC"
agent_log_checks gpu

server_checks
summary
