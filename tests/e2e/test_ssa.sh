#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_ssa.sh - server-side apply (issue #17, docs/ssa.md) with stock kubectl
# (/usr/bin/kubectl 1.32; 1.27 and 1.33 smoke runs) and the Python client
# against one real `k3c server` (--disable-pods): apply of a ConfigMap and a
# Deployment, managedFields (--show-managed-fields), a second manager's
# conflict as 409 naming the field and the manager, --force-conflicts,
# removal of dropped fields, the move from client-side apply, --dry-run=server,
# kubectl diff --server-side, the apply options, and the cost of
# managedFields on a create (printed, not asserted).
#
# Same harness as test_kubectl.sh (lib.sh): one line per check, the output of
# every failing check, last "N passed, M failed"; exit 0, 1, or 77 without
# kubectl.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=ssa
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

PY=/usr/bin/python3 # python3-kubernetes is a Debian package
NS=ssa-$$

start_server
check namespace kc create namespace "$NS"

# mf KIND NAME: the object's managedFields as "manager/operation[/subresource]"
# lines, sorted.
mf() {
    kc get "$1" "$2" -n "$NS" -o json --show-managed-fields | "$PY" -c '
import json, sys
for e in json.load(sys.stdin)["metadata"].get("managedFields", []):
    print("/".join(x for x in (e["manager"], e["operation"], e.get("subresource", "")) if x))' | sort
}
# fields KIND NAME MANAGER: the fieldsV1 MANAGER owns, as compact JSON.
fields() {
    kc get "$1" "$2" -n "$NS" -o json --show-managed-fields | "$PY" -c '
import json, sys
for e in json.load(sys.stdin)["metadata"].get("managedFields", []):
    if e["manager"] == sys.argv[1]:
        print(json.dumps(e["fieldsV1"], sort_keys=True, separators=(",", ":")))' "$3"
}
# yaml FILE: writes stdin to $TMP/FILE (the namespace substituted).
yaml() { sed "s/@NS@/$NS/g" >"$TMP/$1"; }

# ---- 1. ConfigMap ----

echo "# 1. ConfigMap"
yaml cm.yaml <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: @NS@
  labels: {app: demo}
data:
  color: blue
  size: large
  shared: "yes"
EOF
expect_out cm/created '^configmap/settings serverside-applied$' kc apply --server-side -f "$TMP/cm.yaml"
expect_eq cm/managers 'kubectl/Apply' mf cm settings
expect_eq cm/fields '{"f:data":{"f:color":{},"f:shared":{},"f:size":{}},"f:metadata":{"f:labels":{"f:app":{}}}}' \
    fields cm settings kubectl
expect_all cm/show-managed-fields 'managedFields:' 'manager: kubectl' 'operation: Apply' 'fieldsType: FieldsV1' \
    -- kc get cm settings -n "$NS" -o yaml --show-managed-fields
expect_not cm/hidden-by-default 'managedFields' kc get cm settings -n "$NS" -o yaml
# The same apply again writes nothing: no new resourceVersion.
rv_before=$(kc get cm settings -n "$NS" -o 'jsonpath={.metadata.resourceVersion}')
expect_out cm/unchanged '^configmap/settings serverside-applied$' kc apply --server-side -f "$TMP/cm.yaml"
expect_eq cm/unchanged-no-write "$rv_before" kc get cm settings -n "$NS" -o 'jsonpath={.metadata.resourceVersion}'

# A second manager: the same value is shared, another value conflicts.
yaml cm-other.yaml <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: @NS@}
data: {shared: "yes", color: red}
EOF
expect_fail cm/conflict 'Apply failed with 1 conflict: conflict with "kubectl": \.data\.color' \
    kc apply --server-side --field-manager=other -f "$TMP/cm-other.yaml"
expect_eq cm/conflict-unchanged blue kc get cm settings -n "$NS" -o 'jsonpath={.data.color}'
# The raw 409: reason Conflict, one cause per field naming the manager.
printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"color":"red"}}' >"$TMP/cm-other.json"
conflict_409() {
    http_expect 409 '"reason": ?"Conflict"' --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" \
        -X PATCH -H 'Content-Type: application/apply-patch+yaml' --data-binary @"$TMP/cm-other.json" \
        "$API_URL/api/v1/namespaces/$NS/configmaps/settings?fieldManager=other" || return 1
    "$PY" - "$TMP/http.body" <<'PYEOF'
import json, sys
st = json.load(open(sys.argv[1]))
causes = st["details"]["causes"]
print(causes)
assert st["code"] == 409
assert causes == [{"reason": "FieldManagerConflict", "message": 'conflict with "kubectl"', "field": ".data.color"}], causes
PYEOF
}
check cm/409-causes conflict_409
expect_out cm/force '^configmap/settings serverside-applied$' \
    kc apply --server-side --field-manager=other --force-conflicts -f "$TMP/cm-other.yaml"
expect_eq cm/forced-value red kc get cm settings -n "$NS" -o 'jsonpath={.data.color}'
expect_eq cm/forced-owner '{"f:data":{"f:color":{},"f:shared":{}}}' fields cm settings other
expect_eq cm/forced-loser '{"f:data":{"f:shared":{},"f:size":{}},"f:metadata":{"f:labels":{"f:app":{}}}}' \
    fields cm settings kubectl

# kubectl drops size (nobody else owns it: removed), shared (other owns it:
# kept) and the label.
yaml cm-less.yaml <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: @NS@}
EOF
check cm/drop kc apply --server-side -f "$TMP/cm-less.yaml"
expect_eq cm/dropped '{"color":"red","shared":"yes"}' kc get cm settings -n "$NS" -o 'jsonpath={.data}'
expect_eq cm/label-dropped '' kc get cm settings -n "$NS" -o 'jsonpath={.metadata.labels}'
expect_eq cm/managers-after 'other/Apply' mf cm settings

# ---- 2. Deployment ----

echo "# 2. Deployment"
yaml deploy.yaml <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: @NS@}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports: [{containerPort: 80}]
        env: [{name: MODE, value: prod}]
      - name: sidecar
        image: busybox:1.36
EOF
expect_out deploy/created '^deployment\.apps/web serverside-applied$' kc apply --server-side -f "$TMP/deploy.yaml"
expect_all deploy/keys 'k:\{\\"name\\":\\"app\\"\}' 'k:\{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"\}' \
    'k:\{\\"name\\":\\"MODE\\"\}' \
    -- fields deploy web kubectl
expect_out deploy/defaults-kept '^Always$|^IfNotPresent$' \
    kc get deploy web -n "$NS" -o 'jsonpath={.spec.template.spec.containers[0].imagePullPolicy}'
# kubectl scale (an Update through /scale) takes .spec.replicas.
check deploy/scale kc scale deploy web -n "$NS" --replicas=3
expect_out deploy/scale-manager '^kubectl/Update/scale$' mf deploy web
expect_fail deploy/conflict-scale 'conflict with "kubectl" with subresource "scale" using apps/v1: \.spec\.replicas' \
    kc apply --server-side -f "$TMP/deploy.yaml"
expect_out deploy/force '^deployment\.apps/web serverside-applied$' \
    kc apply --server-side --force-conflicts -f "$TMP/deploy.yaml"
expect_eq deploy/forced-replicas 2 kc get deploy web -n "$NS" -o 'jsonpath={.spec.replicas}'
# Another manager sets one container's image; dropping the sidecar and
# the env var from kubectl's configuration removes them, app stays.
yaml deploy-img.yaml <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: @NS@}
spec:
  template:
    spec:
      containers:
      - {name: app, image: nginx:1.28}
EOF
check deploy/other-image kc apply --server-side --field-manager=images --force-conflicts -f "$TMP/deploy-img.yaml"
sed -e '/- name: sidecar/,$d' -e '/env:/d' -e 's/image: nginx:1.27/image: nginx:1.28/' "$TMP/deploy.yaml" >"$TMP/deploy-less.yaml"
check deploy/drop kc apply --server-side -f "$TMP/deploy-less.yaml"
expect_eq deploy/containers 'app nginx:1.28' \
    kc get deploy web -n "$NS" -o 'jsonpath={range .spec.template.spec.containers[*]}{.name} {.image}{end}'
expect_eq deploy/env-gone '' kc get deploy web -n "$NS" -o 'jsonpath={.spec.template.spec.containers[0].env}'

# An apply to /status owns status fields under subresource "status".
status_apply() {
    acurl -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
        -d '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"status":{"observedGeneration":99}}' \
        "$API_URL/apis/apps/v1/namespaces/$NS/deployments/web/status?fieldManager=status-writer&force=true" >"$TMP/status.json" || return 1
    "$PY" - "$TMP/status.json" <<'PYEOF2'
import json, sys
obj = json.load(open(sys.argv[1]))
mine = [e for e in obj["metadata"]["managedFields"] if e["manager"] == "status-writer"]
print(obj.get("status"), mine)
assert obj["status"]["observedGeneration"] == 99
assert len(mine) == 1 and mine[0]["subresource"] == "status" and mine[0]["operation"] == "Apply"
assert mine[0]["fieldsV1"] == {"f:status": {"f:observedGeneration": {}}}, mine
PYEOF2
}
check deploy/status-apply status_apply

# ---- 3. dry run and diff ----

echo "# 3. --dry-run=server, diff --server-side"
sed 's/replicas: 2/replicas: 5/' "$TMP/deploy-less.yaml" >"$TMP/deploy-5.yaml"
expect_out dry/deploy '^deployment\.apps/web serverside-applied \(server dry run\)$' \
    kc apply --server-side --dry-run=server -f "$TMP/deploy-5.yaml"
expect_eq dry/unchanged 2 kc get deploy web -n "$NS" -o 'jsonpath={.spec.replicas}'
sed 's/name: settings/name: never/' "$TMP/cm.yaml" >"$TMP/cm-never.yaml"
check dry/create kc apply --server-side --dry-run=server -f "$TMP/cm-never.yaml"
expect_fail dry/not-created 'not found' kc get cm never -n "$NS"
expect_rc diff/changes 1 '^\+  replicas: 5$' kc diff --server-side -f "$TMP/deploy-5.yaml"
expect_rc diff/none 0 '' kc diff --server-side -f "$TMP/deploy-less.yaml"

# ---- 4. from client-side apply ----

echo "# 4. client-side apply, then --server-side"
yaml csa.yaml <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: legacy, namespace: @NS@}
data: {a: "1", b: "2"}
EOF
check csa/apply kc apply -f "$TMP/csa.yaml"
expect_out csa/manager '^kubectl-client-side-apply/Update$' mf cm legacy
# Changing a field client-side apply set, and dropping another: no conflict
# (the last-applied annotation says they are kubectl's), b removed, the
# client-side manager's fields moved to kubectl's Apply entry.
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: legacy, namespace: %s}\ndata: {a: "9"}\n' "$NS" >"$TMP/csa2.yaml"
expect_out csa/server-side '^configmap/legacy serverside-applied$' kc apply --server-side -f "$TMP/csa2.yaml"
expect_eq csa/data '{"a":"9"}' kc get cm legacy -n "$NS" -o 'jsonpath={.data}'
expect_not csa/migrated 'kubectl-client-side-apply' mf cm legacy
expect_out csa/apply-entry '^kubectl/Apply$' mf cm legacy
expect_out csa/annotation-updated '"a":"9"' \
    kc get cm legacy -n "$NS" -o 'jsonpath={.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}'

# ---- 5. Update entries of other writes ----

echo "# 5. managedFields of create, patch, replace"
check upd/create kc create configmap plain -n "$NS" --from-literal=k=v
expect_eq upd/create-entry 'kubectl-create/Update' mf cm plain
check upd/patch kc patch cm plain -n "$NS" -p '{"data":{"k":"w"}}'
# kubectl-create keeps the data map it made, kubectl-patch takes k.
expect_eq upd/patch-entries $'kubectl-create/Update\nkubectl-patch/Update' mf cm plain
expect_eq upd/patch-took-k '{"f:data":{"f:k":{}}}' fields cm plain kubectl-patch
# Bad managedFields from a client are refused; managedFields: [] resets them.
expect_fail upd/bad-entry 'managedFields.*operation: must be Apply or Update' \
    kc patch cm plain -n "$NS" --type=merge -p '{"metadata":{"managedFields":[{}]}}'
check upd/reset-empty kc patch cm plain -n "$NS" --type=json -p '[{"op":"replace","path":"/metadata/managedFields","value":[]}]'
expect_eq upd/reset-gone '' mf cm plain
# An object without managedFields: its fields are "before-first-apply"'s.
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain, namespace: %s}\ndata: {k: x}\n' "$NS" >"$TMP/plain.yaml"
expect_fail upd/before-first-apply 'conflict with "before-first-apply" using v1: \.data\.k' \
    kc apply --server-side -f "$TMP/plain.yaml"

# ---- 6. options and errors ----

echo "# 6. apply options"
check opt/no-field-manager http_expect 422 'fieldManager: Required value: is required for apply patch' \
    --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" -X PATCH \
    -H 'Content-Type: application/apply-patch+yaml' --data-binary @"$TMP/cm-other.json" \
    "$API_URL/api/v1/namespaces/$NS/configmaps/settings"
check opt/force-non-apply http_expect 422 'force: Forbidden: may not be specified for non-apply patch' \
    --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" -X PATCH \
    -H 'Content-Type: application/merge-patch+json' -d '{}' \
    "$API_URL/api/v1/namespaces/$NS/configmaps/settings?force=true"
check opt/force-not-a-bool http_expect 400 'force: invalid value maybe' \
    --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" -X PATCH \
    -H 'Content-Type: application/apply-patch+yaml' --data-binary @"$TMP/cm-other.json" \
    "$API_URL/api/v1/namespaces/$NS/configmaps/settings?fieldManager=other&force=maybe"
check opt/managed-fields-in-config http_expect 400 'metadata.managedFields must be nil' \
    --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" -X PATCH \
    -H 'Content-Type: application/apply-patch+yaml' \
    -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","managedFields":[{"manager":"x"}]}}' \
    "$API_URL/api/v1/namespaces/$NS/configmaps/settings?fieldManager=x"
yaml bad-key.yaml <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: @NS@}
spec:
  template:
    spec:
      containers: [{name: app, image: a}, {name: app, image: b}]
EOF
expect_fail opt/duplicate-key 'BadRequest.*containers: duplicate entries for key \[name="app"\]' kc apply --server-side -f "$TMP/bad-key.yaml"

# ---- 7. the Python client and other kubectl releases ----

echo "# 7. Python client, kubectl 1.27 and 1.33"
py_apply() {
    "$PY" - "$KUBECONFIG" "$NS" <<'PYEOF'
import json, sys
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
ns = sys.argv[2]
v1 = client.CoreV1Api()
body = {"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "from-python", "namespace": ns}, "data": {"lang": "python"}}
try:  # clients >= 24 take the content type per call
    cm = v1.patch_namespaced_config_map("from-python", ns, body, field_manager="py-app",
                                        _content_type="application/apply-patch+yaml")
except TypeError:  # Debian's 22.6: the type from a default header, the body as YAML text
    v1.api_client.set_default_header("Content-Type", "application/apply-patch+yaml")
    cm = v1.patch_namespaced_config_map("from-python", ns, json.dumps(body), field_manager="py-app")
print(cm.data, [(m.manager, m.operation) for m in cm.metadata.managed_fields])
assert cm.data == {"lang": "python"}
assert [(m.manager, m.operation) for m in cm.metadata.managed_fields] == [("py-app", "Apply")]
# A second manager takes the field with force=True: the client sends "True",
# which kube-apiserver reads as Go's ParseBool does.
body["data"] = {"lang": "c"}
try:
    cm = v1.patch_namespaced_config_map("from-python", ns, body, field_manager="py-other", force=True,
                                        _content_type="application/apply-patch+yaml")
except TypeError:
    cm = v1.patch_namespaced_config_map("from-python", ns, json.dumps(body), field_manager="py-other",
                                        force=True)
print(cm.data, [(m.manager, m.operation) for m in cm.metadata.managed_fields])
assert cm.data == {"lang": "c"}
assert [m.manager for m in cm.metadata.managed_fields] == ["py-other"]
PYEOF
}
check py/apply py_apply
expect_eq py/stored c kc get cm from-python -n "$NS" -o 'jsonpath={.data.lang}'
# --validate=false: 1.27 validates with OpenAPI v2, which k3c does not serve.
for v in 1.27 1.33; do
    sed "s/name: settings/name: kubectl-$v/" "$TMP/cm.yaml" >"$TMP/cm-$v.yaml"
    sed -e "s/name: settings/name: kubectl-$v/" -e 's/color: red/color: green/' "$TMP/cm-other.yaml" >"$TMP/cm-other-$v.yaml"
    expect_out "kubectl-$v/apply" 'serverside-applied' kv "$v" apply --server-side --validate=false -f "$TMP/cm-$v.yaml"
    expect_fail "kubectl-$v/conflict" 'conflict with "kubectl": \.data\.color' \
        kv "$v" apply --server-side --validate=false --field-manager=x -f "$TMP/cm-other-$v.yaml"
done

# ---- 8. cost of managedFields on a create (printed) ----

echo "# 8. cost of managedFields on a create"
bench_create() {
    "$PY" - "$API_URL" "$TMP" "$NS" <<'PYEOF'
import json, ssl, sys, time, http.client
url, tmp, ns = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = url[len("https://"):].split(":")
ctx = ssl.create_default_context(cafile=tmp + "/ca.crt")
ctx.load_cert_chain(tmp + "/admin.crt", tmp + "/admin.key")
conn = http.client.HTTPSConnection(host, int(port), context=ctx)
def deploy(name):
    c = {"name": "app", "image": "nginx", "ports": [{"containerPort": 80}],
         "env": [{"name": "E%d" % i, "value": "v"} for i in range(5)]}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [c]}}}}
n = 40
sizes = []
start = time.monotonic()
for i in range(n):
    conn.request("POST", "/apis/apps/v1/namespaces/%s/deployments?fieldManager=bench" % ns,
                 json.dumps(deploy("bench-%d" % i)), {"Content-Type": "application/json"})
    r = conn.getresponse()
    obj = json.loads(r.read())
    assert r.status == 201, obj
    mf = obj["metadata"].pop("managedFields", [])
    sizes.append((len(json.dumps(mf, separators=(",", ":"))), len(json.dumps(obj, separators=(",", ":")))))
took = time.monotonic() - start
mf_bytes = sum(s[0] for s in sizes) / n
obj_bytes = sum(s[1] for s in sizes) / n
print("BENCH ssa create: %d Deployments, %.2f ms each (with managedFields, ASan build); "
      "managedFields %.0f bytes on a %.0f-byte object (+%.0f%%)"
      % (n, took * 1000 / n, mf_bytes, obj_bytes, 100 * mf_bytes / obj_bytes))
PYEOF
}
check bench/ran bench_create
printf '%s\n' "$OUT" | grep '^BENCH'  # the figure, pass or fail

server_checks
summary
