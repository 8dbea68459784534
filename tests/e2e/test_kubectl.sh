#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_kubectl.sh - end-to-end test of `k3c server` driven by stock kubectl
# (/usr/bin/kubectl, v1.32; smoke runs with 1.27 and 1.33 when present).
#
# Starts a real server ($K3C_BIN) on free loopback ports in a temp dir, runs
# kubectl against its admin kubeconfig, and prints one line per check, the
# output of every failing check, and last "N passed, M failed". Exit 0 when
# nothing failed, 1 otherwise, 77 (skipped) without /usr/bin/kubectl.
# Every wait polls with a deadline; the EXIT trap stops the server and any
# etcd on the temp dir, and removes the dir unless K3C_KEEP_TEST_DIRS is set.
# The harness (server, temp dir, checks, cleanup) is lib.sh, shared with
# test_kubectl_apply.sh.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MANIFESTS=$HERE/manifests
NS=e2e
E2E_NAME=kubectl
# This script checks kubectl against the API: its pods must stay unbound, so
# that deleting them needs no kubelet (the scheduler would bind them to the
# server's own node, whose agent then has to finish their deletion).
SERVER_EXTRA_ARGS=(--disable-scheduler)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

start_server

# ---- 1. discovery and health ----

echo "# 1. discovery and health"
expect_out version 'Server Version: v1\.32\.' kc version
check cluster-info kc cluster-info
expect_eq healthz ok kc get --raw /healthz
expect_eq readyz ok kc get --raw /readyz
for gv in v1 apps/v1 batch/v1 coordination.k8s.io/v1 discovery.k8s.io/v1; do
    expect_out "api-versions/$gv" "^${gv//./\\.}\$" kc api-versions
done
expect_all api-resources \
    '^NAME +SHORTNAMES +APIVERSION +NAMESPACED +KIND' \
    '^pods +po +v1 +true +Pod$' \
    '^deployments +deploy +apps/v1 +true +Deployment$' \
    '^configmaps +cm +v1 +true +ConfigMap$' \
    '^leases +coordination\.k8s\.io/v1 +true +Lease$' \
    -- kc api-resources
expect_all api-resources/cluster-scoped \
    '^nodes +no +v1 +false +Node$' \
    '^namespaces +ns +v1 +false +Namespace$' \
    -- kc api-resources --namespaced=false
expect_not api-resources/cluster-scoped-no-pods '^pods ' kc api-resources --namespaced=false
expect_all get-ns/defaults \
    '^NAME +STATUS +AGE$' \
    '^default +Active ' '^kube-system +Active ' '^kube-public +Active ' '^kube-node-lease +Active ' \
    -- kc get ns

# ---- 2. create, get, yaml/json of every kind ----

echo "# 2. create and get every kind"
# kind name file scope(ns|cluster) regex-for-plain-get
OBJECTS=(
    "namespace e2e namespace.yaml cluster"
    "configmap cm1 configmap.yaml ns"
    "secret secret1 secret.yaml ns"
    "serviceaccount sa1 serviceaccount.yaml ns"
    "service svc1 service.yaml ns"
    "pod pod1 pod.yaml ns"
    "deployment web-deploy deployment.yaml ns"
    "replicaset rs1 replicaset.yaml ns"
    "daemonset ds1 daemonset.yaml ns"
    "job job1 job.yaml ns"
    "lease lease1 lease.yaml ns"
    "endpointslice es1 endpointslice.yaml ns"
    "endpoints ep1 endpoints.yaml ns"
    "event ev1 event.yaml ns E2ETest"
    "node e2e-node-1 node.yaml cluster"
)
for o in "${OBJECTS[@]}"; do
    read -r kind name file scope get_re <<<"$o"
    nsargs=()
    [ "$scope" = ns ] && nsargs=(-n "$NS")
    expect_out "create/$kind" "^${kind}[a-z.0-9]*/$name created\$" kc create -f "$MANIFESTS/$file" --validate=false
    expect_out "get/$kind" "${get_re:-^$name }" kc get "$kind" "$name" "${nsargs[@]}"
    expect_all "get-yaml/$kind" \
        "^  name: $name\$" '^  resourceVersion: "[0-9]+"$' '^  uid: [0-9a-f-]{8,}$' \
        -- kc get "$kind" "$name" "${nsargs[@]}" -o yaml
    expect_all "get-json/$kind" \
        "^        \"name\": \"$name\",?\$" '"resourceVersion": "[0-9]+"' '"uid": "[0-9a-f-]{8,}"' \
        -- kc get "$kind" "$name" "${nsargs[@]}" -o json
done
secret_field() {
    local v
    v=$(kc get secret secret1 -n "$NS" -o "jsonpath={.data.$1}") || return 1
    base64 -d <<<"$v"
}
expect_eq secret/stringData-merged admin secret_field username
expect_eq secret/data-kept s3cr3t secret_field password
expect_eq node/label true kc get node e2e-node-1 -o 'jsonpath={.metadata.labels.gpu}'
expect_out service/clusterIP-set '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' \
    kc get svc svc1 -n "$NS" -o 'jsonpath={.spec.clusterIP}'

# ---- 3. output formats and selectors ----

echo "# 3. output formats and selectors"
expect_out create/labelled-pods 'pod/db-1 created' kc create -f "$MANIFESTS/pods-labelled.yaml" --validate=false
expect_all get-pods/wide \
    '^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE( |$)' '^web-1 +0/1 +Pending ' \
    -- kc get pods -n "$NS" -o wide
expect_all get-pods/jsonpath '(^| )pod1( |$)' '(^| )web-1( |$)' '(^| )db-1( |$)' \
    -- kc get pods -n "$NS" -o 'jsonpath={.items[*].metadata.name}'
expect_all get-pods/custom-columns '^NAME +IMG$' '^web-1 +nginx$' '^db-1 +redis$' '^pod1 +busybox$' \
    -- kc get pods -n "$NS" -o 'custom-columns=NAME:.metadata.name,IMG:.spec.containers[0].image'
expect_all get-pods/show-labels ' LABELS$' '^web-1 .* app=web$' '^db-1 .* app=db$' \
    -- kc get pods -n "$NS" --show-labels
expect_all get-pods/all-namespaces '^NAMESPACE +NAME +READY +STATUS +RESTARTS +AGE$' '^e2e +web-1 ' \
    -- kc get pods -A
expect_eq get-pods/label-eq pod/web-1 kc get pods -n "$NS" -l app=web -o name
expect_eq get-pods/label-in $'pod/db-1\npod/web-1' kc get pods -n "$NS" -l 'app in (web,db)' -o name
expect_eq get-pods/label-notin pod/pod1 kc get pods -n "$NS" -l 'app notin (web,db,web-deploy,rs1,ds1),app' -o name
expect_eq get-pods/field-name pod/web-1 kc get pods -n "$NS" --field-selector metadata.name=web-1 -o name
expect_all get-pods/field-phase '^pod/web-1$' '^pod/db-1$' '^pod/pod1$' \
    -- kc get pods -n "$NS" --field-selector status.phase=Pending -o name
expect_not get-pods/field-phase-running 'pod/(web-1|db-1|pod1)$' \
    kc get pods -n "$NS" --field-selector status.phase=Running -o name
expect_fail get-pods/field-unknown 'field label not supported|not supported' \
    kc get pods -n "$NS" --field-selector spec.nosuchfield=x

sorted_names() {
    local names
    names=$(kc get pods -n "$NS" --sort-by=.metadata.name -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}') || return 1
    printf '%s\n' "$names"
    [ -n "$names" ] && [ "$names" = "$(printf '%s\n' "$names" | LC_ALL=C sort)" ]
}
check get-pods/sort-by-name sorted_names
sorted_images() {
    local imgs
    imgs=$(kc get pods -n "$NS" --sort-by='.spec.containers[0].image' --no-headers \
        -o 'custom-columns=IMG:.spec.containers[0].image') || return 1
    printf '%s\n' "$imgs"
    [ -n "$imgs" ] && [ "$imgs" = "$(printf '%s\n' "$imgs" | LC_ALL=C sort)" ]
}
check get-pods/sort-by-image sorted_images
expect_all get-deploy/columns '^NAME +READY +UP-TO-DATE +AVAILABLE +AGE$' '^web-deploy +[0-9]+/2 ' \
    -- kc get deploy -n "$NS"
expect_all get-nodes/columns '^NAME +STATUS +ROLES +AGE +VERSION$' '^e2e-node-1 ' \
    -- kc get nodes
expect_eq get-nodes/label-selector node/e2e-node-1 kc get nodes -l gpu=true -o name
expect_all get-all '^pod/web-1 ' '^deployment\.apps/web-deploy ' -- kc get all -n "$NS"

# ---- 4. label and annotate ----

echo "# 4. label and annotate"
expect_out label/add 'pod/web-1 labeled' kc label pod web-1 -n "$NS" tier=front
expect_out label/shown 'tier=front' kc get pod web-1 -n "$NS" --show-labels
expect_eq label/selector pod/web-1 kc get pods -n "$NS" -l tier=front -o name
expect_out annotate/add 'pod/web-1 annotated' kc annotate pod web-1 -n "$NS" note=hi
expect_eq annotate/shown hi kc get pod web-1 -n "$NS" -o 'jsonpath={.metadata.annotations.note}'
expect_fail label/no-overwrite "already has a value|--overwrite" kc label pod web-1 -n "$NS" app=other
expect_out label/remove 'pod/web-1 unlabeled' kc label pod web-1 -n "$NS" tier-
expect_not label/removed 'tier=' kc get pod web-1 -n "$NS" --show-labels
expect_eq label/app-kept web kc get pod web-1 -n "$NS" -o 'jsonpath={.metadata.labels.app}'

# ---- 5. watch ----

echo "# 5. watch"
WATCH_OUT=$TMP/watch.out
timeout -k 2 15 "$KUBECTL" --request-timeout=20s --cache-dir="$TMP/kube-cache" \
    get pods -n "$NS" -w --output-watch-events >"$WATCH_OUT" 2>&1 &
WATCH_PID=$!
watch_has() { grep -Eq -- "$1" "$WATCH_OUT"; }
# show_watch RE: waits for RE in the watch output; prints it for the report.
show_watch() {
    local ok=0
    wait_for "$WAIT_TIMEOUT_S" watch_has "$1" || ok=1
    cat "$WATCH_OUT"
    return "$ok"
}
# The initial list arrives as ADDED events: the watch is open after that.
check watch/initial-list show_watch '^ADDED +web-1 '
cat >"$TMP/watch-pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: watch-pod
  namespace: $NS
spec:
  containers:
  - name: main
    image: busybox
EOF
check watch/create kc create -f "$TMP/watch-pod.yaml" --validate=false
check watch/added show_watch '^ADDED +watch-pod '
check watch/delete kc delete pod watch-pod -n "$NS" --wait=true --timeout=30s
check watch/deleted show_watch '^DELETED +watch-pod '
kill "$WATCH_PID" 2>/dev/null
wait "$WATCH_PID" 2>/dev/null
WATCH_PID=

# ---- 6. delete, describe, replace ----

echo "# 6. delete, describe, replace"
sed "s/name: watch-pod/name: del-pod/" "$TMP/watch-pod.yaml" >"$TMP/del-pod.yaml"
check delete/create kc create -f "$TMP/del-pod.yaml" --validate=false
expect_out delete/wait 'pod "del-pod" deleted' kc delete pod del-pod -n "$NS" --wait=true --timeout=30s
expect_fail delete/gone 'pods "del-pod" not found' kc get pod del-pod -n "$NS"
expect_all describe/pod '^Name: +web-1$' '^Namespace: +e2e$' '^Labels: +app=web$' '^Containers:' \
    -- kc describe pod web-1 -n "$NS"
expect_out describe/deployment '^Name: +web-deploy$' kc describe deployment web-deploy -n "$NS"
expect_out describe/node '^Name: +e2e-node-1$' kc describe node e2e-node-1
expect_eq replace/before original kc get cm cm1 -n "$NS" -o 'jsonpath={.data.key}'
expect_out replace/run 'configmap/cm1 replaced' kc replace -f "$MANIFESTS/configmap-replaced.yaml" --validate=false
expect_eq replace/after replaced kc get cm cm1 -n "$NS" -o 'jsonpath={.data.key}'
expect_eq replace/key-dropped '' kc get cm cm1 -n "$NS" -o 'jsonpath={.data.other}'
expect_out patch/merge 'configmap/cm1 patched' kc patch cm cm1 -n "$NS" --type=merge -p '{"data":{"patched":"yes"}}'
expect_eq patch/merge-shown yes kc get cm cm1 -n "$NS" -o 'jsonpath={.data.patched}'

# `kubectl create configmap` sends its body as protobuf
# (application/vnd.kubernetes.protobuf), unlike `create -f` (JSON).
expect_out create/configmap-generator 'configmap/cm-gen created' \
    kc create configmap cm-gen -n "$NS" --from-literal=a=b
expect_eq create/configmap-generator-get b kc get cm cm-gen -n "$NS" -o 'jsonpath={.data.a}'
expect_out create/deployment-generator 'deployment.apps/gen-web created' \
    kc create deployment gen-web -n "$NS" --image=nginx:1.27 --replicas=3
expect_eq create/deployment-generator-get '3 nginx:1.27 gen-web' \
    kc get deploy gen-web -n "$NS" -o 'jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.selector.matchLabels.app}'
expect_out create/secret-generator 'secret/gen-secret created' \
    kc create secret generic gen-secret -n "$NS" --from-literal=password=s3cr3t
expect_eq create/secret-generator-get czNjcjN0 kc get secret gen-secret -n "$NS" -o 'jsonpath={.data.password}'
expect_out scale/deployment 'deployment.apps/gen-web scaled' kc scale deploy gen-web -n "$NS" --replicas=1
expect_eq scale/deployment-get 1 kc get deploy gen-web -n "$NS" -o 'jsonpath={.spec.replicas}'

# ---- 6b. pagination ----

echo "# 6b. pagination (limit/continue)"
kc create namespace pages >/dev/null
for i in 1 2 3 4 5; do kc create configmap "page-$i" -n pages --from-literal=i="$i" >/dev/null; done
# Every namespace gets ConfigMap kube-root-ca.crt (root-ca-publisher, as upstream).
wait_for 20 kc get cm kube-root-ca.crt -n pages >/dev/null 2>&1
expect_eq pages/chunked 'kube-root-ca.crt page-1 page-2 page-3 page-4 page-5' \
    kc get cm -n pages --chunk-size=2 -o 'jsonpath={.items[*].metadata.name}'
# A list is one snapshot: a write between pages does not show up in later
# pages (the next pages come from the cache while nothing changed, from etcd
# at the first page's revision once something did).
page_walk() {
    local first cont second third names
    first=$(acurl "$API_URL/api/v1/namespaces/pages/configmaps?limit=2") || return 1
    cont=$(printf '%s' "$first" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["continue"])') || return 1
    kc create configmap page-0 -n pages --from-literal=i=0 >/dev/null || return 1
    second=$(acurl --get --data-urlencode "continue=$cont" "$API_URL/api/v1/namespaces/pages/configmaps?limit=2") || return 1
    cont=$(printf '%s' "$second" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["continue"])') || return 1
    third=$(acurl --get --data-urlencode "continue=$cont" "$API_URL/api/v1/namespaces/pages/configmaps?limit=2") || return 1
    names=$(printf '%s\n%s\n%s\n' "$first" "$second" "$third" | python3 -c '
import json, sys
names = []
for line in sys.stdin:
    if line.strip():
        names += [i["metadata"]["name"] for i in json.loads(line)["items"]]
print(" ".join(names))')
    echo "$names"
    [ "$names" = 'kube-root-ca.crt page-1 page-2 page-3 page-4 page-5' ]
}
check pages/snapshot-across-write page_walk
expect_eq pages/after-write 7 bash -c "KUBECONFIG=$KUBECONFIG $KUBECTL --request-timeout=20s get cm -n pages --no-headers | wc -l"

# ---- 7. conflict ----

echo "# 7. optimistic concurrency"
# cm_manifest NAME KEY VALUE: a ConfigMap (no namespace) as JSON on stdout.
cm_manifest() {
    printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s"},"data":{"%s":"%s"}}\n' "$@"
}
cm_manifest cm-conflict key v1 >"$TMP/cm-conflict.json"
check conflict/create kc create -f "$TMP/cm-conflict.json" -n "$NS" --validate=false
run kc get cm cm-conflict -n "$NS" -o json
printf '%s\n' "$OUT" >"$TMP/conflict.json"
# set_key FILE VALUE OUT: the same object (same resourceVersion) with data.key = VALUE.
set_key() {
    python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); o["data"]["key"]=sys.argv[2]; json.dump(o, open(sys.argv[3], "w"))' "$@"
}
if set_key "$TMP/conflict.json" v2 "$TMP/conflict-v2.json" 2>"$TMP/conflict.err" &&
    set_key "$TMP/conflict.json" v3 "$TMP/conflict-v3.json" 2>>"$TMP/conflict.err"; then
    expect_out conflict/first-replace 'replaced' kc replace -f "$TMP/conflict-v2.json" --validate=false
    expect_fail conflict/second-replace 'the object has been modified' \
        kc replace -f "$TMP/conflict-v3.json" --validate=false
    expect_eq conflict/value-kept v2 kc get cm cm-conflict -n "$NS" -o 'jsonpath={.data.key}'
else
    OUT="$(cat "$TMP/conflict.json") $(cat "$TMP/conflict.err")"
    RC=1
    fail conflict/get-json "could not read the configmap as JSON" kc get cm cm-conflict -n "$NS" -o json
fi

# ---- 8. error paths ----

echo "# 8. error paths"
check http/401-no-credentials http_expect 401 '"reason": *"Unauthorized"' -k "$API_URL/api/v1/namespaces"
check http/401-bad-token http_expect 401 '"reason": *"Unauthorized"' -k \
    -H 'Authorization: Bearer not-a-token' "$API_URL/api/v1/namespaces"
check http/200-admin-token http_expect 200 '"kind": *"NamespaceList"' -k \
    -H 'Authorization: Bearer e2e-admin-token' "$API_URL/api/v1/namespaces"
check http/403-viewer-token http_expect 403 '"reason": *"Forbidden"' -k \
    -H 'Authorization: Bearer e2e-viewer-token' "$API_URL/api/v1/namespaces"
check http/405-method http_expect 405 '"reason": *"MethodNotAllowed"' \
    --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" -X POST \
    -H 'Content-Type: application/json' -d '{}' "$API_URL/api/v1/namespaces/default/configmaps/x"
check http/415-protobuf-patch http_expect 415 '"reason": *"UnsupportedMediaType"' \
    --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" -X PATCH \
    -H 'Content-Type: application/apply-patch+cbor' -d 'a: b' \
    "$API_URL/api/v1/namespaces/default/services/kubernetes"
check http/200-admin-cert http_expect 200 '"kind": *"NamespaceList"' \
    --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" "$API_URL/api/v1/namespaces"
check http/404-status http_expect 404 '"reason": *"NotFound"' \
    --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" "$API_URL/api/v1/namespaces/$NS/pods/nope"
expect_fail get/not-found 'pods "nope" not found' kc get pod nope -n "$NS"
expect_fail create/already-exists 'configmaps "cm1" already exists' \
    kc create -f "$MANIFESTS/configmap.yaml" --validate=false
expect_fail create/invalid-name 'is invalid.*metadata\.name' \
    kc create -f "$MANIFESTS/pod-bad-name.yaml" --validate=false
expect_fail create/no-containers 'is invalid.*spec\.containers' \
    kc create -f "$MANIFESTS/pod-no-containers.yaml" --validate=false
python3 -c 'import json,sys; print(json.dumps({"apiVersion":"v1","kind":"Pod","metadata":{"name":"no-containers","namespace":sys.argv[1]},"spec":{"containers":[]}}))' \
    "$NS" >"$TMP/pod-no-containers.json"
check http/422-invalid http_expect 422 '"reason": *"Invalid".*spec\.containers|spec\.containers.*"reason": *"Invalid"' \
    --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" \
    -H 'Content-Type: application/json' --data-binary "@$TMP/pod-no-containers.json" \
    "$API_URL/api/v1/namespaces/$NS/pods"
python3 -c 'import json,sys; print(json.dumps({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big","namespace":sys.argv[1]},"data":{"big":"x"*(4*1024*1024)}}))' \
    "$NS" >"$TMP/big-cm.json"
expect_fail create/too-large 'request is too large|RequestEntityTooLarge|[Rr]equest entity too large' \
    kc create -f "$TMP/big-cm.json" --validate=false
check http/413-too-large http_expect 413 'RequestEntityTooLarge|too large' \
    --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" \
    -H 'Content-Type: application/json' --data-binary "@$TMP/big-cm.json" \
    "$API_URL/api/v1/namespaces/$NS/configmaps"
expect_fail get/big-not-stored 'configmaps "big" not found' kc get cm big -n "$NS"
expect_fail create/namespace-missing 'namespaces "x" not found' \
    kc create -f "$MANIFESTS/pod-no-namespace.yaml" -n x --validate=false
expect_fail get/unknown-resource "doesn't have a resource type|the server doesn't have" kc get nosuchthings

# ---- delete what section 2 created (the namespace keeps pods and cm-conflict) ----

echo "# 2b. delete every kind"
for o in "${OBJECTS[@]}"; do
    read -r kind name file scope _ <<<"$o"
    [ "$kind" = namespace ] && continue
    nsargs=()
    [ "$scope" = ns ] && nsargs=(-n "$NS")
    expect_out "delete/$kind" "\"$name\" deleted" kc delete "$kind" "$name" "${nsargs[@]}" --wait=true --timeout=30s
    expect_fail "delete/$kind-gone" "\"$name\" not found" kc get "$kind" "$name" "${nsargs[@]}"
done

# ---- 10. other kubectl releases ----

echo "# 10. kubectl 1.27 and 1.33"
for v in 1.27 1.33; do
    if [ ! -x "$KUBECTL_DIR/kubectl.$v" ]; then
        echo "# $KUBECTL_DIR/kubectl.$v not present: skipped"
        continue
    fi
    cm=smoke-${v/./-}
    cm_manifest "$cm" a b >"$TMP/$cm.json"
    expect_out "kubectl-$v/get-ns" '^default +Active ' kv "$v" get ns
    expect_out "kubectl-$v/api-resources" '^pods +po +v1 +true +Pod$' kv "$v" api-resources
    expect_out "kubectl-$v/create-cm" "configmap/$cm created" \
        kv "$v" create -f "$TMP/$cm.json" -n default --validate=false
    expect_eq "kubectl-$v/get-cm" b kv "$v" get cm "$cm" -n default -o 'jsonpath={.data.a}'
    expect_out "kubectl-$v/delete-cm" "configmap \"$cm\" deleted" kv "$v" delete cm "$cm" -n default
    # The generator: protobuf body from 1.28 on, JSON before.
    expect_out "kubectl-$v/create-cm-generator" "configmap/$cm-gen created" \
        kv "$v" create configmap "$cm-gen" -n default --from-literal=a=b
    kv "$v" delete cm "$cm-gen" -n default >/dev/null 2>&1
done

# ---- 9. namespace deletion ----

echo "# 9. namespace deletion"
expect_out ns-delete/run 'namespace "e2e" deleted' kc delete ns "$NS" --wait=false
expect_eq ns-delete/terminating Terminating kc get ns "$NS" -o 'jsonpath={.status.phase}'
cm_manifest late a b >"$TMP/cm-late.json"
expect_fail ns-delete/create-refused 'being terminated' \
    kc create -f "$TMP/cm-late.json" -n "$NS" --validate=false

# ---- the server itself ----

server_checks
summary
