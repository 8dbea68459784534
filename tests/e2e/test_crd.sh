#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_crd.sh - end-to-end test of CustomResourceDefinitions (issue #17,
# docs/crd.md) with stock kubectl (/usr/bin/kubectl, v1.32) against a real
# `k3c server` (--disable-pods): cert-manager's Certificate CRD (four
# versions, an 86 KB schema, printer columns, status subresource;
# manifests/crd-certificates.yaml), external-snapshotter's VolumeSnapshotClass
# CRD as published (manifests/crd-volumesnapshotclasses.yaml) and a test CRD
# (manifests/crd-widgets.yaml:
# scale, defaults, category all, selectable fields, list-map, a cluster-
# scoped kind). Checks: established conditions, discovery, custom objects,
# `kubectl get` columns, explain, schema violations naming the field,
# defaulting and pruning, status and scale subresources, watch, selectors,
# `get all`, deprecation warnings, garbage collection by ownerReferences,
# deletecollection, and CRD deletion removing the objects. Prints the time to
# establish the large CRD.
#
# Harness: lib.sh (one line per check; "N passed, M failed"; exit 0/1, 77
# without kubectl). About 30 s.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MANIFESTS=$HERE/manifests
E2E_NAME=crd
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

start_server

CERTS=$MANIFESTS/crd-certificates.yaml
# fails CMD...: CMD fails (its output is what the check looks at).
fails() { ! "$@"; }
WIDGETS=$MANIFESTS/crd-widgets.yaml

# ---- 1. CRDs established and discovered ----

echo "# 1. establish"
established() { kc wait --for condition=established --timeout=2s "crd/$1" >/dev/null 2>&1; }
t0=$(date +%s%N)
check crd/apply-certificates kc apply -f "$CERTS"
wait_check crd/certificates-established 30 established certificates.cert-manager.io
t1=$(date +%s%N)
echo "# figure: apply to Established of the $(wc -c <"$CERTS")-byte Certificate CRD: $(((t1 - t0) / 1000000)) ms"
check crd/apply-widgets kc apply -f "$WIDGETS"
wait_check crd/widgets-established 30 established widgets.e2e.k3c.io
wait_check crd/gadgets-established 30 established gadgets.e2e.k3c.io
expect_fail crd/not-structural 'spec.versions\[0\].schema.openAPIV3Schema.properties\[spec\].type: Required value: must not be empty for specified object fields' \
    kc create -f - <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.e2e.k3c.io}
spec:
  group: e2e.k3c.io
  scope: Namespaced
  names: {kind: Thing, plural: things}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {description: no type}
EOF
expect_all crd/status-conditions 'NamesAccepted=True' 'Established=True' 'storedVersions=v1' -- \
    kc get crd certificates.cert-manager.io \
    -o 'jsonpath={range .status.conditions[*]}{.type}={.status} {end}storedVersions={.status.storedVersions[*]}'
expect_all crd/api-resources 'certificates +cert,certs +cert-manager.io/v1 +true +Certificate' \
    'widgets +wd +e2e.k3c.io/v1 +true +Widget' 'gadgets +e2e.k3c.io/v1 +false +Gadget' -- kc api-resources
expect_all crd/legacy-discovery '"preferredVersion":\{"groupVersion":"cert-manager.io/v1"' \
    'cert-manager.io/v1alpha2' 'cert-manager.io/v1beta1' -- kc get --raw /apis/cert-manager.io
expect_all crd/resource-list '"name":"certificates"' '"name":"certificates/status"' \
    '"shortNames":\["cert","certs"\]' -- kc get --raw /apis/cert-manager.io/v1
expect_out crd/scale-discovered '"name":"widgets/scale"' kc get --raw /apis/e2e.k3c.io/v1
expect_out crd/openapi-index '"apis/cert-manager.io/v1":\{"serverRelativeURL":"/openapi/v3/apis/cert-manager.io/v1\?hash=' \
    kc get --raw /openapi/v3

# ---- 2. custom objects, columns, explain ----

echo "# 2. objects"
cert() {
    cat <<EOF
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: $1, namespace: default}
spec:
  secretName: $1-tls
  dnsNames: [example.com]
  issuerRef: {name: letsencrypt, kind: ClusterIssuer}
  privateKey: {algorithm: $2}
EOF
}
check crd/create-certificate kc apply -f <(cert web ECDSA)
expect_all crd/get-columns '^NAME +READY +SECRET +AGE$' '^web +web-tls +[0-9]+s$' -- kc get cert
expect_out crd/get-wide-columns '^NAME +READY +SECRET +ISSUER +STATUS +AGE$' kc get cert -o wide
check crd/status-ready kc patch cert web --subresource=status --type=merge \
    -p '{"status":{"conditions":[{"type":"Ready","status":"True","message":"issued"}]}}'
expect_out crd/jsonpath-filter-column '^web +True +web-tls +letsencrypt +issued +' kc get cert -o wide
expect_all crd/explain 'KIND: +Certificate' 'VERSION: +v1' 'enum: RSA, ECDSA, Ed25519' -- \
    kc explain certificate.spec.privateKey
expect_out crd/explain-widget 'The widget.s color' kc explain widget.spec.color
expect_fail crd/violation-enum 'spec.privateKey.algorithm: Unsupported value: "DSA": supported values: "RSA", "ECDSA", "Ed25519"' \
    kc apply -f <(cert bad DSA)
expect_fail crd/violation-required 'spec.secretName: Required value' kc create -f - <<'EOF'
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: nosecret}
spec: {issuerRef: {name: x}}
EOF
expect_fail crd/violation-type 'spec.revisionHistoryLimit: Invalid value: "string": spec.revisionHistoryLimit in body must be of type integer' \
    kc create -f - <<'EOF'
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: badtype}
spec: {secretName: s, issuerRef: {name: x}, revisionHistoryLimit: "two"}
EOF
expect_out crd/deprecated-warning 'Warning: cert-manager.io/v1beta1 Certificate is deprecated' \
    kc get certificates.v1beta1.cert-manager.io web
expect_out crd/other-version-apiversion '^cert-manager.io/v1alpha3$' \
    kc get certificates.v1alpha3.cert-manager.io web -o 'jsonpath={.apiVersion}'
expect_out crd/other-version-list '^cert-manager.io/v1alpha3$' \
    kc get certificates.v1alpha3.cert-manager.io -o 'jsonpath={.items[0].apiVersion}'

# external-snapshotter's VolumeSnapshotClass: published as is, top-level fields.
VSC=$MANIFESTS/crd-volumesnapshotclasses.yaml
check crd/apply-vsclass kc apply -f "$VSC"
wait_check crd/vsclass-established 30 established volumesnapshotclasses.snapshot.storage.k8s.io
check crd/create-vsclass kc create -f - <<'EOF'
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: csi-hostpath}
driver: hostpath.csi.k8s.io
deletionPolicy: Delete
parameters: {a: b}
EOF
expect_all crd/vsclass-columns '^NAME +DRIVER +DELETIONPOLICY +AGE$' '^csi-hostpath +hostpath.csi.k8s.io +Delete +' -- \
    kc get vsclass
expect_all crd/vsclass-violations 'deletionPolicy: Unsupported value: "Keep": supported values: "Delete", "Retain"' \
    'driver: Required value' -- fails kc create -f - <<'EOF'
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: bad}
deletionPolicy: Keep
EOF
expect_fail crd/unserved-version 'the server doesn.t have a resource type|could not find the requested resource' \
    kc get volumesnapshotclasses.v1beta1.snapshot.storage.k8s.io

# ---- 3. defaults, pruning, strict fields, subresources ----

echo "# 3. schema and subresources"
check crd/create-widget kc create -f - <<'EOF'
apiVersion: e2e.k3c.io/v1
kind: Widget
metadata: {name: w1, labels: {tier: a}}
spec:
  color: red
  port: http
  ports: [{name: a, number: 1}]
  extra: {anything: {goes: here}}
EOF
expect_eq crd/defaults 'medium 1 here' kc get wd w1 -o 'jsonpath={.spec.size} {.spec.replicas} {.spec.extra.anything.goes}'
expect_fail crd/strict-unknown-field 'strict decoding error: unknown field "spec.bogus"' kc create -f - <<'EOF'
apiVersion: e2e.k3c.io/v1
kind: Widget
metadata: {name: strict}
spec: {color: blue, bogus: 1}
EOF
check crd/pruned-create kc create --validate=false -f - <<'EOF'
apiVersion: e2e.k3c.io/v1
kind: Widget
metadata: {name: w2}
spec: {color: blue, bogus: 1, settings: {dropped: 1}}
EOF
expect_eq crd/pruned '{"color":"blue","replicas":1,"settings":{},"size":"medium"}' kc get wd w2 -o 'jsonpath={.spec}'
expect_all crd/violations 'spec.size: Invalid value: "huge": spec.size in body should match' \
    'spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10' \
    'spec.ports\[1\]: Duplicate value' 'spec.ports\[2\].name: Too long: may not be more than 15 bytes' \
    'spec.port: Invalid value: "array": spec.port in body must be of type integer,string' -- \
    fails kc create -f - <<'EOF'
apiVersion: e2e.k3c.io/v1
kind: Widget
metadata: {name: bad}
spec:
  color: red
  size: huge
  replicas: 11
  port: [1]
  ports: [{name: a}, {name: a}, {name: waytoolongnameforthis}]
EOF
check crd/status-via-main kc patch wd w1 --type=merge -p '{"status":{"replicas":7}}'
expect_eq crd/main-ignores-status '' kc get wd w1 -o 'jsonpath={.status.replicas}'
check crd/status-subresource kc patch wd w1 --subresource=status --type=merge \
    -p '{"status":{"replicas":2,"selector":"app=w1"},"spec":{"color":"green"}}'
expect_eq crd/status-ignores-spec '2 red' kc get wd w1 -o 'jsonpath={.status.replicas} {.spec.color}'
check crd/scale kc scale wd w1 --replicas=3
expect_eq crd/scaled '3 2' kc get wd w1 -o 'jsonpath={.spec.replicas} {.metadata.generation}'
expect_out crd/scale-subresource '"spec":\{"replicas":3\},"status":\{"replicas":2,"selector":"app=w1"' \
    kc get --raw /apis/e2e.k3c.io/v1/namespaces/default/widgets/w1/scale
expect_all crd/describe 'Name: +w1' 'Kind: +Widget' 'Color: +red' -- kc describe wd w1
expect_out crd/cel-rule-stored 'self.replicas <= 10' \
    kc get crd widgets.e2e.k3c.io -o 'jsonpath={.spec.versions[0].schema.openAPIV3Schema.properties.spec.x-kubernetes-validations[0].rule}'
expect_all crd/widget-columns '^NAME +COLOR +REPLICAS +READY +AGE$' '^w1 +red +3 ' -- kc get wd
# A CRD update is served at once: one more printer column.
check crd/update-crd kc patch crd widgets.e2e.k3c.io --type=json -p \
    '[{"op":"add","path":"/spec/versions/0/additionalPrinterColumns/-","value":{"name":"Size","type":"string","jsonPath":".spec.size"}}]'
has_size_column() { kc get wd 2>/dev/null | grep -Eq '^NAME +COLOR +REPLICAS +READY +AGE +SIZE$'; }
wait_check crd/updated-columns 30 has_size_column
expect_all crd/get-all 'widget.e2e.k3c.io/w1' 'widget.e2e.k3c.io/w2' -- kc get all
expect_all crd/field-selector '^w2 ' -- kc get wd --field-selector spec.color=blue
expect_not crd/field-selector-excludes '^w1 ' kc get wd --field-selector spec.color=blue
expect_all crd/label-selector '^w1 ' -- kc get wd -l tier=a
check crd/cluster-scoped kc create -f - <<'EOF'
apiVersion: e2e.k3c.io/v1
kind: Gadget
metadata: {name: g1}
spec: {owner: me}
EOF
expect_eq crd/cluster-scoped-get 'me' kc get gadget g1 -o 'jsonpath={.spec.owner}'

# Server-side apply on a custom object: the list-map keys come from the
# CRD's schema (x-kubernetes-list-map-keys: [name]), so two managers'
# ports entries merge; a field one manager owns conflicts for another.
printf '%s\n' 'apiVersion: e2e.k3c.io/v1' 'kind: Widget' 'metadata: {name: w-ssa}' \
    'spec: {color: red, ports: [{name: a, number: 1}]}' >"$TMP/w-ssa-m1.yaml"
printf '%s\n' 'apiVersion: e2e.k3c.io/v1' 'kind: Widget' 'metadata: {name: w-ssa}' \
    'spec: {color: red, ports: [{name: b, number: 2}]}' >"$TMP/w-ssa-m2.yaml"
printf '%s\n' 'apiVersion: e2e.k3c.io/v1' 'kind: Widget' 'metadata: {name: w-ssa}' \
    'spec: {color: blue}' >"$TMP/w-ssa-m3.yaml"
check crd/ssa-create kc apply --server-side --field-manager=m1 -f "$TMP/w-ssa-m1.yaml"
check crd/ssa-second-manager kc apply --server-side --field-manager=m2 -f "$TMP/w-ssa-m2.yaml"
expect_eq crd/ssa-list-map-merged 'a=1 b=2 ' \
    kc get wd w-ssa -o 'jsonpath={range .spec.ports[*]}{.name}={.number} {end}'
expect_out crd/ssa-owned-by-key 'k:\{\\"name\\":\\"b\\"\}' \
    kc get wd w-ssa -o 'jsonpath={.metadata.managedFields[?(@.manager=="m2")].fieldsV1}'
expect_fail crd/ssa-conflict 'conflicts with "m1"' \
    kc apply --server-side --field-manager=m3 -f "$TMP/w-ssa-m3.yaml"
expect_eq crd/ssa-conflict-kept red kc get wd w-ssa -o 'jsonpath={.spec.color}'
check crd/ssa-force kc apply --server-side --force-conflicts --field-manager=m3 -f "$TMP/w-ssa-m3.yaml"
expect_eq crd/ssa-forced blue kc get wd w-ssa -o 'jsonpath={.spec.color}'

# ---- 4. watch, garbage collection, deletion ----

echo "# 4. watch and deletion"
kc get wd --watch-only --output-watch-events >"$TMP/watch.out" 2>&1 &
WATCH_PID=$!
# watch_saw: changes w1 (again: the watch may not be open yet) and looks
# for the event.
watch_saw() {
    kc label wd w1 --overwrite "seen=n$RANDOM" >/dev/null 2>&1
    sleep 0.5
    grep -Eq '^MODIFIED +w1 ' "$TMP/watch.out"
}
wait_check crd/watch-event 30 watch_saw
kill "$WATCH_PID" 2>/dev/null
WATCH_PID=
check crd/owner kc create configmap owner
owner_uid=$(kc get cm owner -o 'jsonpath={.metadata.uid}')
check crd/owned kc create -f - <<EOF
apiVersion: e2e.k3c.io/v1
kind: Widget
metadata:
  name: owned
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: owner, uid: "$owner_uid"}]
spec: {color: red}
EOF
check crd/delete-owner kc delete cm owner
owned_gone() { ! kc get wd owned >/dev/null 2>&1; }
wait_check crd/gc-collects-owned 30 owned_gone
# A built-in object owned by a custom one goes with it (the garbage collector).
check crd/custom-owner kc create -f - <<'EOF'
apiVersion: e2e.k3c.io/v1
kind: Widget
metadata: {name: parent}
spec: {color: blue}
EOF
parent_uid=$(kc get wd parent -o 'jsonpath={.metadata.uid}')
check crd/builtin-dependent kc create -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: child
  ownerReferences: [{apiVersion: e2e.k3c.io/v1, kind: Widget, name: parent, uid: "$parent_uid"}]
EOF
check crd/delete-custom-owner kc delete wd parent
child_gone() { ! kc get cm child >/dev/null 2>&1; }
wait_check crd/gc-collects-builtin-dependent 30 child_gone
check crd/orphan-cascade-not-stuck kc apply -f - <<'EOF'
apiVersion: e2e.k3c.io/v1
kind: Widget
metadata: {name: orphaner}
spec: {color: green}
EOF
check crd/delete-orphan kc delete wd orphaner --cascade=orphan
orphaner_gone() { ! kc get wd orphaner >/dev/null 2>&1; }
wait_check crd/orphan-policy-deletes 30 orphaner_gone
check crd/deletecollection kc delete wd --all
expect_rc crd/deletecollection-empty 0 'No resources found' kc get wd
check crd/delete-crd kc delete crd certificates.cert-manager.io
crd_gone() { ! kc get crd certificates.cert-manager.io >/dev/null 2>&1; }
wait_check crd/crd-deleted 30 crd_gone
expect_fail crd/not-served 'the server doesn.t have a resource type|could not find the requested resource' \
    kc get certificates.cert-manager.io
check crd/reapply kc apply -f "$CERTS"
wait_check crd/re-established 30 established certificates.cert-manager.io
expect_rc crd/objects-deleted 0 'No resources found' kc get certificates.cert-manager.io -A

server_checks
summary
