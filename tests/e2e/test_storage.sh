#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_storage.sh - storage (issue #16) on REAL agents: `k3c server` (its
# own agent, node "e2e") in one test-made network namespace and a second
# `k3c agent` (node "st-1") in another, joined by a veth pair with
# addresses only inside the namespaces. Stock kubectl: the default
# StorageClass local-path; a claim that stays Pending (WaitForFirstConsumer)
# until a pod uses it, then a volume provisioned on the pod's node (the
# scheduler's selected-node, the PV's node affinity, the directory under
# --default-local-storage-path); the pod writes a file, is deleted, and a
# new pod without any nodeSelector follows the volume to its node and
# reads the file; a readOnly mount refuses writes; a static PV binds to the
# matching claim (not to a too small one), Retain keeps it Released with
# its data; pvc-protection keeps a used claim Terminating; deleting the
# claim deletes the volume and its directory (reclaim Delete); validation
# errors; `kubectl get pv,pvc,sc` columns. Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-st-$$
NS2=k3c-e2e-st2-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
NS_IP=192.168.253.1
NS2_IP=192.168.253.2
CLUSTER_CIDR=10.94.0.0/16
E2E_NAME=storage
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
STORAGE_DIR=$TMP/local-storage
SERVER_EXTRA_ARGS=(--bind-address 0.0.0.0 --tls-san "$NS_IP" --cni-bridge k3cst0
    --cluster-cidr "$CLUSTER_CIDR" --default-local-storage-path "$STORAGE_DIR")
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck disable=SC2119 # no extra tools
pods_need_root_and_tools

T_MARK=$(date +%s%N)
t_mark() { T_MARK=$(date +%s%N); }
t_say() {
    local ms=$((($(date +%s%N) - T_MARK) / 1000000))
    echo "# time: $1: $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
}

pvc_field() { kc get pvc "$1" -o "jsonpath=$2" 2>/dev/null; }
pv_field() { kc get pv "$1" -o "jsonpath=$2" 2>/dev/null; }
pvc_phase_is() { [ "$(pvc_field "$1" '{.status.phase}')" = "$2" ]; }
pv_phase_is() { [ "$(pv_field "$1" '{.status.phase}')" = "$2" ]; }
gone() { ! kc get "$1" "$2" >/dev/null 2>&1; }
events_of() { kc get events --field-selector "involvedObject.name=$1" -o 'jsonpath={.items[*].reason}' 2>/dev/null; }
has_event() { events_of "$1" | grep -qw "$2"; }
# kl LINE ARGS...: one line of kc's output (1: the header, $: the last).
kl() {
    local line=$1
    shift
    kc "$@" | sed -n "${line}p"
}

# pod NAME CLAIM COMMAND [NODE] [READONLY]: a busybox pod mounting CLAIM at /data.
pod() {
    local sel=""
    [ -n "${4:-}" ] && sel="nodeSelector: {kubernetes.io/hostname: $4}"
    kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  terminationGracePeriodSeconds: 1
  $sel
  containers:
  - name: c
    image: k3c/busybox:test
    command: [sh, -c, "$3"]
    volumeMounts: [{name: d, mountPath: /data}]
  volumes:
  - name: d
    persistentVolumeClaim: {claimName: $2, readOnly: ${5:-false}}
EOF2
}
pvc() {
    kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $1}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: $2}}
  ${3:-}
EOF2
}

echo "# 0. namespaces, images, server, second agent"
t_mark
pods_netns_make "$NS" "$NS2" "$NS_IP" "$NS2_IP"
pods_images_start "$NS" test
pods_airgap_install "$TMP/data" "$TMP/st1"
SERVER_IP=$NS_IP
start_server
agent_start st-1 "$TMP/st1" "$NS2" "$NS2_IP" --cni-bridge k3cst1
check nodes/e2e-ready wait_for 60 node_ready e2e
check nodes/st-1-ready wait_for 60 node_ready st-1
t_say "cluster up"

echo "# 1. the default StorageClass local-path"
sc_there() { kc get sc local-path >/dev/null 2>&1; }
check sc/local-path-created wait_for 30 sc_there
expect_out sc/columns '^NAME +PROVISIONER +RECLAIMPOLICY +VOLUMEBINDINGMODE +ALLOWVOLUMEEXPANSION +AGE$' \
    kl 1 get sc
expect_out sc/default-row '^local-path \(default\) +rancher\.io/local-path +Delete +WaitForFirstConsumer +false +[0-9]+s$' \
    kl '$' get sc
expect_out api/resources 'persistentvolumeclaims +pvc +v1 +true +PersistentVolumeClaim' kc api-resources
expect_out api/explain 'accessModes' kc explain pv.spec

echo "# 2. a claim of the default class waits for its first consumer"
t_mark
check pvc/create pvc data 64Mi
expect_eq pvc/default-class local-path pvc_field data '{.spec.storageClassName}'
expect_out pvc/protection-finalizer 'kubernetes.io/pvc-protection' pvc_field data '{.metadata.finalizers}'
check pvc/wait-event wait_for 20 has_event data WaitForFirstConsumer
expect_eq pvc/still-pending Pending pvc_field data '{.status.phase}'
expect_out pvc/columns '^NAME +STATUS +VOLUME +CAPACITY +ACCESS MODES +STORAGECLASS +VOLUMEATTRIBUTESCLASS +AGE$' \
    kl 1 get pvc
expect_out pvc/pending-row '^data +Pending +local-path +<unset> +[0-9]+s$' kl '$' get pvc data

echo "# 3. a pod on st-1 uses it: provisioned there, bound, written"
check writer/create pod writer data 'echo hello-storage > /data/f && sync && exec sleep 3600' st-1
check writer/running wait_for 90 pod_phase_is writer Running
t_say "claim Pending to writer Running"
expect_eq pvc/bound Bound pvc_field data '{.status.phase}'
expect_eq pvc/selected-node st-1 pvc_field data '{.metadata.annotations.volume\.kubernetes\.io/selected-node}'
PV=$(pvc_field data '{.spec.volumeName}')
UID_=$(pvc_field data '{.metadata.uid}')
expect_eq pv/name "pvc-$UID_" echo "$PV"
expect_eq pv/bound Bound pv_field "$PV" '{.status.phase}'
expect_eq pv/node-affinity st-1 pv_field "$PV" '{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}'
expect_eq pv/reclaim-delete Delete pv_field "$PV" '{.spec.persistentVolumeReclaimPolicy}'
DIR=$STORAGE_DIR/pvc-${UID_}_default_data
expect_eq pv/host-path "$DIR" pv_field "$PV" '{.spec.hostPath.path}'
expect_out pv/claim-ref 'default/data' kl '$' get pv "$PV"
expect_out pv/columns '^NAME +CAPACITY +ACCESS MODES +RECLAIM POLICY +STATUS +CLAIM +STORAGECLASS +VOLUMEATTRIBUTESCLASS +REASON +AGE$' \
    kl 1 get pv
expect_out pv/row "^$PV +64Mi +RWO +Delete +Bound +default/data +local-path +<unset> +[0-9]+s\$" \
    kl '$' get pv "$PV"
expect_out pvc/bound-row "^data +Bound +$PV +64Mi +RWO +local-path +<unset> +[0-9]+s\$" \
    kl '$' get pvc data
expect_eq writer/on-st-1 st-1 pod_field writer '{.spec.nodeName}'
file_is() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }
check writer/file-on-host wait_for 20 file_is "$DIR/f" hello-storage
expect_out get/pv-pvc-sc 'persistentvolume/' kc get pv,pvc,sc -o name
expect_all describe/pvc 'Status: +Bound' "Volume: +$PV" 'Used By: +writer' 'ProvisioningSucceeded' -- kc describe pvc data
expect_all describe/pv 'Source:' 'HostPath' "Path: +$DIR" 'Node Affinity:' -- kc describe pv "$PV"

echo "# 4. the pod is deleted; a new one follows the volume to st-1 and reads it"
t_mark
check writer/delete kc delete pod writer --grace-period=1 --wait=true --timeout=60s
check reader/create pod reader data 'cat /data/f; exec sleep 3600'
check reader/running wait_for 90 pod_phase_is reader Running
expect_eq reader/on-st-1 st-1 pod_field reader '{.spec.nodeName}'
reader_log() { kc logs reader 2>/dev/null | grep -q hello-storage; }
check reader/reads-file wait_for 20 reader_log
t_say "writer deleted to reader reading"
check ro/create pod ro data 'touch /data/x 2>/dev/null && echo writable || echo read-only; exec sleep 3600' "" true
check ro/running wait_for 90 pod_phase_is ro Running
ro_log() { kc logs ro 2>/dev/null | grep -q read-only; }
check ro/read-only wait_for 20 ro_log

echo "# 5. an unknown claim keeps a pod Pending"
check nopvc/create pod nopvc missing 'sleep 3600'
nopvc_msg() { kc get events --field-selector involvedObject.name=nopvc -o 'jsonpath={.items[*].message}' | grep -q 'persistentvolumeclaim "missing" not found'; }
check nopvc/failed-scheduling wait_for 20 nopvc_msg
expect_eq nopvc/pending Pending pod_field nopvc '{.status.phase}'
check nopvc/claim-appears pvc missing 16Mi
check nopvc/then-runs wait_for 90 pod_phase_is nopvc Running

echo "# 5b. a pod on a claim no provisioner serves waits in ContainerCreating"
kc apply -f - >/dev/null <<EOF2
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: external}
provisioner: example.com/nfs
EOF2
check ext/claim pvc ext 16Mi 'storageClassName: external'
check ext/external-provisioning wait_for 20 has_event ext ExternalProvisioning
expect_eq ext/immediate-default Immediate kc get sc external -o 'jsonpath={.volumeBindingMode}'
# nodeName set: the kubelet gets the pod at once (no scheduler to wait)
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: extpod}
spec:
  nodeName: st-1
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: k3c/busybox:test, command: [sleep, "3600"], volumeMounts: [{name: d, mountPath: /data}]}
  volumes: [{name: d, persistentVolumeClaim: {claimName: ext}}]
EOF2
check ext/failed-mount wait_for 30 has_event extpod FailedMount
expect_eq ext/container-creating ContainerCreating pod_field extpod '{.status.containerStatuses[0].state.waiting.reason}'
mkdir -p "$TMP/static-ext"
kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: PersistentVolume
metadata: {name: static-ext}
spec:
  capacity: {storage: 16Mi}
  accessModes: [ReadWriteOnce]
  storageClassName: external
  hostPath: {path: $TMP/static-ext}
EOF2
check ext/bound-to-new-pv wait_for 20 pvc_phase_is ext Bound
check ext/pod-then-runs wait_for 60 pod_phase_is extpod Running
expect_out ext/csi-kinds-served 'No resources found' kc get csidrivers,volumeattachments

echo "# 6. static volumes: the matching one binds, Retain keeps it Released"
t_mark
mkdir -p "$TMP/static-big" "$TMP/static-small"
for v in big:1Gi small:10Mi; do
    kc apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: PersistentVolume
metadata: {name: static-${v%%:*}, labels: {kind: static}}
spec:
  capacity: {storage: ${v#*:}}
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  hostPath: {path: $TMP/static-${v%%:*}}
EOF2
done
check static/big-available wait_for 20 pv_phase_is static-big Available
check static/small-available wait_for 20 pv_phase_is static-small Available
expect_eq static/retain-default Retain pv_field static-big '{.spec.persistentVolumeReclaimPolicy}'
expect_out static/pv-protection 'kubernetes.io/pv-protection' pv_field static-big '{.metadata.finalizers}'
check static/claim pvc claim-static 100Mi 'storageClassName: manual'
check static/claim-bound wait_for 20 pvc_phase_is claim-static Bound
expect_eq static/bound-to-big static-big pvc_field claim-static '{.spec.volumeName}'
expect_eq static/capacity 1Gi pvc_field claim-static '{.status.capacity.storage}'
expect_eq static/small-still-available Available pv_field static-small '{.status.phase}'
check static/pod pod spod claim-static 'echo kept > /data/k; exec sleep 3600'
check static/pod-running wait_for 90 pod_phase_is spod Running
check static/file wait_for 20 file_is "$TMP/static-big/k" kept
check static/pod-delete kc delete pod spod --grace-period=1 --wait=true --timeout=60s
check static/claim-delete kc delete pvc claim-static --wait=true --timeout=30s
check static/released wait_for 20 pv_phase_is static-big Released
expect_eq static/data-kept kept cat "$TMP/static-big/k"
t_say "static bind to Released"

echo "# 7. pvc-protection, then reclaim Delete removes the volume and its directory"
t_mark
check protect/delete-used-claim kc delete pvc data --wait=false
expect_out protect/terminating '^data +Terminating' kl '$' get pvc data
expect_eq protect/still-there data pvc_field data '{.metadata.name}'
check protect/delete-pods kc delete pod reader ro --grace-period=1 --wait=true --timeout=60s
check delete/claim-gone wait_for 30 gone pvc data
check delete/pv-gone wait_for 60 gone pv "$PV"
dir_gone() { [ ! -e "$DIR" ]; }
check delete/dir-removed wait_for 30 dir_gone
t_say "claim deleted to directory removed"
agent_rm_log() { grep -q "removed $DIR" "$TMP/agent-st-1.log"; }
check delete/by-st-1-agent agent_rm_log

echo "# 8. validation"
expect_fail validate/pv-no-capacity 'spec.capacity: Required value' kc apply -f - <<EOF2
apiVersion: v1
kind: PersistentVolume
metadata: {name: bad}
spec: {accessModes: [ReadWriteOnce], hostPath: {path: /tmp/bad}}
EOF2
expect_fail validate/pvc-bad-mode 'Unsupported value: "ReadWriteSome"' kc apply -f - <<EOF2
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: bad}
spec: {accessModes: [ReadWriteSome], resources: {requests: {storage: 1Gi}}}
EOF2
expect_fail validate/sc-immutable 'updates to reclaimPolicy are forbidden' \
    kc patch sc local-path --type merge -p '{"reclaimPolicy":"Retain"}'

echo "# 9. cleanup"
check cleanup/pods kc delete pods --all --grace-period=1 --wait=false
check cleanup/no-containers-left wait_for 60 pods_containers_gone
agent_stop st-1
expect_eq agent-st-1/sigterm-exit-0 0 echo "$?"
agent_log_checks st-1
server_checks
summary
