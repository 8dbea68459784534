#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_workloads3.sh - the policy kinds of issue #16 end to end with stock
# kubectl and real pods (a server with its own agent in a network namespace
# the test makes, as test_workloads2.sh). Ingress and IngressClass: the
# default class filled in, `kubectl create ingress`, the table, validation
# messages. ResourceQuota and LimitRange: default requests and limits on a
# real pod (and the limit-ranger annotation), max refused, quota status
# kept by the controller, a create over quota refused with upstream's
# message, the quota freed when a pod goes. PriorityClass: the built-in
# classes, spec.priority from a class and from the global default, an
# unknown class refused. Preemption: a high-priority pod that does not fit
# evicts a low-priority one through the real kubelet and runs in its place
# (nominatedNodeName, the Preempted event). Job podFailurePolicy: FailJob
# on an exit code with upstream's message, Ignore not counted toward
# backoffLimit, restartPolicy validation. DaemonSet ControllerRevisions:
# `kubectl rollout history/undo ds`. StatefulSet maxUnavailable 2: two pods
# replaced at once. Needs root (else exit 77).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS=k3c-e2e-wl3-$$
NETNS_EXEC=(nsenter "--net=/run/netns/$NS")
E2E_NAME=workloads3
SERVER_EXTRA_ARGS=(--cni-bridge "k3cw3$$" --cluster-cidr 10.92.0.0/16 --pod-cidr 10.92.1.0/24)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib_pods.sh
. "$HERE/lib_pods.sh"
# shellcheck disable=SC2119 # no extra tools
pods_need_root_and_tools

echo "# 0. namespace, images, server with its agent"
pods_netns_make "$NS"
pods_images_start "$NS"
SERVER_EXTRA_ARGS+=(--registry-config "$TMP/registries.yaml")
pods_airgap_install "$TMP/data"
start_server
check server/node-ready wait_for 60 node_ready e2e
T0=$SECONDS

jp() { kc get "$@" 2>/dev/null; }
gone() { ! kc get "$@" >/dev/null 2>&1; }

echo "# 1. Ingress and IngressClass"
kc apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: traefik
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec:
  controller: traefik.io/ingress-controller
EOF
expect_out ing/class-table '^traefik +traefik.io/ingress-controller +<none> ' kc get ingressclass
check ing/create kc create ingress web --rule='web.example.com/app*=web:80,tls=web-cert' \
    --rule='api.example.com/=api:http'
expect_eq ing/default-class traefik jp ingress web -o 'jsonpath={.spec.ingressClassName}'
expect_eq ing/path-types 'Prefix Exact' jp ingress web -o 'jsonpath={.spec.rules[*].http.paths[*].pathType}'
expect_out ing/table '^web +traefik +web.example.com,api.example.com +80, 443 ' kc get ingress
expect_out ing/describe 'web-cert terminates web.example.com' kc describe ingress web
bad_ingress() {
    kc apply -f - <<EOF
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bad}
spec:
  rules:
  - host: 10.1.2.3
    http:
      paths:
      - path: relative
        pathType: Prefix
        backend: {service: {name: s, port: {number: 80}}, resource: {kind: X, name: y}}
      - path: /x
        backend: {service: {name: s, port: {number: 80}}}
EOF
}
expect_fail ing/invalid-host 'spec.rules\[0\].host: Invalid value: "10.1.2.3": must be a DNS name, not an IP address' bad_ingress
expect_fail ing/invalid-path 'spec.rules\[0\].http.paths\[0\].path: Invalid value: "relative": must be an absolute path' bad_ingress
expect_fail ing/invalid-backend 'cannot set both resource and service backends' bad_ingress
expect_fail ing/invalid-pathtype 'paths\[1\].pathType: Required value: pathType must be specified' bad_ingress
empty_ingress() {
    printf '%s\n' '{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"empty"},"spec":{}}' |
        kc apply -f -
}
# shellcheck disable=SC2016 # backquotes are upstream's words
expect_fail ing/no-rules 'spec: Invalid value: .*either `defaultBackend` or `rules` must be specified' empty_ingress
check ing/delete kc delete ingress web

echo "# 2. LimitRange and ResourceQuota"
check quota/ns kc create namespace quota-e2e
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: quota-e2e}
spec:
  limits:
  - type: Container
    default: {cpu: 100m, memory: 64Mi}
    defaultRequest: {cpu: 50m, memory: 32Mi}
    max: {cpu: 500m}
    maxLimitRequestRatio: {cpu: "2"}
  - type: PersistentVolumeClaim
    max: {storage: 1Gi}
EOF
expect_out quota/limits-describe 'Container +cpu +- +500m +50m +100m +2' kc -n quota-e2e describe limitrange defaults
check quota/create kc -n quota-e2e create quota compute --hard=pods=2,requests.cpu=1,limits.memory=1Gi,configmaps=5
quota_used_is() { [ "$(jp -n quota-e2e quota compute -o 'jsonpath={.status.used.pods}')" = "$1" ]; }
wait_check quota/status 30 quota_used_is 0
qpod() {
    kc -n quota-e2e run "$1" --image=k3c/busybox:test --restart=Never \
        --overrides='{"spec":{"terminationGracePeriodSeconds":1}}' -- sleep 600
}
check quota/pod1 qpod q1
expect_eq quota/defaults '{"limits":{"cpu":"100m","memory":"64Mi"},"requests":{"cpu":"50m","memory":"32Mi"}}' \
    jp -n quota-e2e pod q1 -o 'jsonpath={.spec.containers[0].resources}'
expect_eq quota/annotation 'LimitRanger plugin set: cpu, memory request for container q1; cpu, memory limit for container q1' \
    jp -n quota-e2e pod q1 -o 'jsonpath={.metadata.annotations.kubernetes\.io/limit-ranger}'
q1_running() { [ "$(jp -n quota-e2e pod q1 -o 'jsonpath={.status.phase}')" = Running ]; }
wait_check quota/pod1-runs 90 q1_running
expect_fail quota/limit-max 'pods "big" is forbidden: maximum cpu usage per Container is 500m, but limit is 2' \
    kc -n quota-e2e run big --image=k3c/busybox:test --restart=Never \
    --overrides='{"spec":{"containers":[{"name":"big","image":"k3c/busybox:test","resources":{"limits":{"cpu":"2"}}}]}}'
expect_fail quota/limit-ratio 'pods "ratio" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000' \
    kc -n quota-e2e run ratio --image=k3c/busybox:test --restart=Never \
    --overrides='{"spec":{"containers":[{"name":"ratio","image":"k3c/busybox:test","resources":{"requests":{"cpu":"100m"},"limits":{"cpu":"400m"}}}]}}'
big_claim() {
    printf '%s\n' '{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"big","namespace":"quota-e2e"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"5Gi"}}}}' |
        kc apply -f -
}
expect_fail quota/limit-claim 'persistentvolumeclaims "big" is forbidden: maximum storage usage per PersistentVolumeClaim is 1Gi, but request is 5Gi' big_claim
check quota/pod2 qpod q2
expect_fail quota/exceeded 'pods "q3" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2' qpod q3
expect_out quota/table '^compute +[0-9a-z]+ +configmaps: 1/5, pods: 2/2, requests.cpu: 100m/1 +limits.memory: 128Mi/1Gi' \
    kc -n quota-e2e get quota
expect_all quota/describe 'pods +2 +2' 'requests.cpu +100m +1' 'limits.memory +128Mi +1Gi' -- \
    kc -n quota-e2e describe quota compute
check quota/free kc -n quota-e2e delete pod q2 --wait=false
wait_check quota/used-down 90 quota_used_is 1
check quota/pod3 qpod q3
# six creates at once against room for two: the compare-and-swap on the
# quota lets exactly two through
check quota/race-ns kc create namespace quota-race
check quota/race-quota kc -n quota-race create quota cm --hard=configmaps=3
race_ready() { [ "$(jp -n quota-race quota cm -o 'jsonpath={.status.used.configmaps}')" = 1 ]; }
wait_check quota/race-status 30 race_ready
RACERS=()
for i in 1 2 3 4 5 6; do
    kc -n quota-race create configmap "race-$i" >/dev/null 2>&1 &
    RACERS+=($!)
done
wait "${RACERS[@]}" # only these: a bare wait would wait for the server too
race_cms() { kc -n quota-race get configmaps -o name | grep -c race-; }
expect_eq quota/race-exact 2 race_cms
expect_eq quota/race-used 3 jp -n quota-race quota cm -o 'jsonpath={.status.used.configmaps}'
check quota/ns-delete kc delete namespace quota-e2e quota-race --wait=false

echo "# 3. PriorityClass"
expect_out pc/system '^system-node-critical +2000001000 +false ' kc get priorityclass
check pc/create-low kc create priorityclass low --value=100 --description=low --global-default
check pc/create-high kc create priorityclass high --value=100000 --preemption-policy=PreemptLowerPriority
check pc/create-polite kc create priorityclass polite --value=100000 --preemption-policy=Never
expect_out pc/table '^polite +100000 +false +[0-9a-z]+ +Never$' kc get priorityclass
expect_fail pc/one-default 'PriorityClass low is already marked as default. Only one default can exist' \
    kc create priorityclass other --value=5 --global-default
expect_fail pc/one-default-update 'PriorityClass low is already marked as default' \
    kc patch priorityclass high -p '{"globalDefault":true}'
expect_fail pc/system-kept 'this is a system priority class and cannot be deleted' \
    kc delete priorityclass system-cluster-critical
expect_fail pc/reserved "priority class names with 'system-' prefix are reserved for system use only" \
    kc create priorityclass system-mine --value=5
expect_fail pc/unknown 'pods "nope" is forbidden: no PriorityClass with name missing was found' \
    kc run nope --image=k3c/busybox:test --overrides='{"spec":{"priorityClassName":"missing"}}'

echo "# 4. preemption with real pods"
ALLOC=$(jp node e2e -o 'jsonpath={.status.allocatable.cpu}')
case $ALLOC in
*m) ALLOC_M=${ALLOC%m} ;;
*) ALLOC_M=$((ALLOC * 1000)) ;;
esac
# each asks 60% of the node: one fits, two do not
WANT_M=$((ALLOC_M * 6 / 10))
echo "# node cpu ${ALLOC_M}m; each pod requests ${WANT_M}m"
ppod() {
    kc run "$1" --image=k3c/busybox:test --restart=Never --overrides="{\"spec\":{${2}\"terminationGracePeriodSeconds\":${3:-1},\"containers\":[{\"name\":\"c\",\"image\":\"k3c/busybox:test\",\"command\":[\"sleep\",\"600\"],\"resources\":{\"requests\":{\"cpu\":\"${WANT_M}m\"}}}]}}"
}
# the victim's sleep (PID 1) ignores SIGTERM: it stays terminating for its 5 s grace
check pre/low ppod victim '' 5
expect_eq pre/default-priority 'low 100' jp pod victim -o 'jsonpath={.spec.priorityClassName} {.spec.priority}'
victim_running() { [ "$(jp pod victim -o 'jsonpath={.status.phase}')" = Running ]; }
wait_check pre/low-runs 90 victim_running
check pre/high ppod preemptor '"priorityClassName":"high",'
expect_eq pre/high-priority 100000 jp pod preemptor -o 'jsonpath={.spec.priority}'
nominated() { [ "$(jp pod preemptor -o 'jsonpath={.status.nominatedNodeName}')" = e2e ]; }
preemptor_running() { [ "$(jp pod preemptor -o 'jsonpath={.status.phase}')" = Running ]; }
wait_check pre/nominated 60 nominated
# the room the eviction makes is kept for the nominated pod, not given to a later one
check pre/latecomer ppod latecomer ''
wait_check pre/victim-gone 90 gone pod victim
wait_check pre/high-runs 90 preemptor_running
expect_out pre/event 'Preempted by pod .* on node e2e' kc get events --field-selector reason=Preempted
expect_eq pre/latecomer-waits '' jp pod latecomer -o 'jsonpath={.spec.nodeName}'
check pre/never ppod patient '"priorityClassName":"polite",'
expect_fail pre/policy-given 'the string value of PreemptionPolicy \(Never\) must not be provided in pod spec' \
    kc run impatient --image=k3c/busybox:test --overrides='{"spec":{"priorityClassName":"low","preemptionPolicy":"Never"}}'
patient_pending() {
    jp pod patient -o 'jsonpath={.status.conditions[?(@.type=="PodScheduled")].message}' |
        grep -q 'Insufficient cpu'
}
wait_check pre/never-waits 60 patient_pending
expect_eq pre/never-not-nominated '' jp pod patient -o 'jsonpath={.status.nominatedNodeName}'
check pre/cleanup kc delete pod preemptor patient latecomer --wait=false
echo "# 5. Job podFailurePolicy"
pfp_job() {
    kc apply -f - <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: $1}
spec:
  backoffLimit: 0
  podFailurePolicy:
    rules:
    - {action: Ignore, onExitCodes: {operator: In, values: [3]}}
    - {action: FailJob, onExitCodes: {containerName: main, operator: In, values: [42]}}
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: k3c/busybox:test, command: [sh, -c, "exit $2"]}
EOF
}
check pfp/failjob pfp_job fatal 42
job_failed_by_policy() {
    [ "$(jp job "$1" -o 'jsonpath={.status.conditions[?(@.type=="Failed")].reason}')" = PodFailurePolicy ]
}
wait_check pfp/failed 90 job_failed_by_policy fatal
expect_out pfp/message '^Container main for pod default/fatal-[a-z0-9]+ failed with exit code 42 matching FailJob rule at index 1$' \
    jp job fatal -o 'jsonpath={.status.conditions[?(@.type=="Failed")].message}'
check pfp/ignore pfp_job retried 3
two_ignored() { [ "$(kc get pods -l job-name=retried --field-selector=status.phase=Failed -o name 2>/dev/null | wc -l)" -ge 2 ]; }
# backoffLimit 0: a counted failure would have failed the job at the first pod
wait_check pfp/replaced 90 two_ignored
expect_eq pfp/not-counted ' 0' jp job retried -o 'jsonpath={.status.conditions[?(@.type=="Failed")].status} {.status.failed}'
bad_policy() {
    kc create -f - <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: badpolicy}
spec:
  podFailurePolicy: {rules: [{action: FailJob, onExitCodes: {operator: In, values: [1]}}]}
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: c, image: k3c/busybox:test}]
EOF
}
expect_fail pfp/validation 'spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified' bad_policy
check pfp/cleanup kc delete job fatal retried --wait=false
echo "# 6. DaemonSet revision history"
kc apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: nodeagent}
spec:
  selector: {matchLabels: {app: nodeagent}}
  template:
    metadata: {labels: {app: nodeagent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: k3c/busybox:test, command: [sleep, "600"], env: [{name: V, value: "1"}]}]
EOF
check ds/v2 kc set env ds/nodeagent V=2
check ds/cause kc annotate ds nodeagent kubernetes.io/change-cause=v3
check ds/v3 kc set env ds/nodeagent V=3
three_revisions() { [ "$(kc get controllerrevisions -l app=nodeagent -o name 2>/dev/null | wc -l)" -eq 3 ]; }
wait_check ds/revisions 30 three_revisions
expect_all ds/history '^1 +<none>$' '^2 +<none>$' '^3 +v3$' -- kc rollout history ds/nodeagent
expect_out ds/history-revision 'V:[[:space:]]+2' kc rollout history ds/nodeagent --revision=2
check ds/undo kc rollout undo ds/nodeagent --to-revision=1
expect_eq ds/undone 1 jp ds nodeagent -o 'jsonpath={.spec.template.spec.containers[0].env[0].value}'
renumbered() { kc rollout history ds/nodeagent 2>/dev/null | grep -Eq '^4 '; }
wait_check ds/renumbered 30 renumbered
pod_at_v1() {
    [ "$(kc get pods -l app=nodeagent -o 'jsonpath={.items[*].spec.containers[0].env[0].value}' 2>/dev/null)" = 1 ]
}
wait_check ds/pod-rolled-back 90 pod_at_v1
check ds/cleanup kc delete ds nodeagent --wait=false
echo "# 7. StatefulSet maxUnavailable 2"
sts_manifest() {
    cat <<EOF
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: quorum}
spec:
  serviceName: quorum
  replicas: 3
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: quorum}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 2}}
  template:
    metadata: {labels: {app: quorum}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: k3c/busybox:test
        command: [sleep, "600"]
        env: [{name: V, value: "$1"}]
$2
EOF
}
apply_sts() { sts_manifest "$@" | kc apply -f -; }
check sts/create apply_sts 1 ''
sts_ready() { [ "$(jp sts quorum -o 'jsonpath={.status.readyReplicas}')" = 3 ]; }
wait_check sts/ready 90 sts_ready
# the new revision never gets ready: only maxUnavailable pods may be replaced
check sts/update apply_sts 2 '        readinessProbe: {exec: {command: ["false"]}, periodSeconds: 1}'
sts_updated() { [ "$(jp sts quorum -o 'jsonpath={.status.updatedReplicas}')" = "$1" ]; }
wait_check sts/two-at-once 90 sts_updated 2
expect_eq sts/ordinal-0-kept "$(jp sts quorum -o 'jsonpath={.status.currentRevision}')" \
    jp pod quorum-0 -o 'jsonpath={.metadata.labels.controller-revision-hash}'
check sts/cleanup kc delete sts quorum --wait=false
echo "# checks took $((SECONDS - T0))s after the node was ready"

server_checks
summary
