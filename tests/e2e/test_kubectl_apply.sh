#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_kubectl_apply.sh - end-to-end test of the declarative side of kubectl
# (/usr/bin/kubectl, v1.32) against a real `k3c server`, with kubectl's
# DEFAULT flags (strict field validation, OpenAPI v3 from the server):
# /openapi/v3, apply (create, unchanged, configured, 3-way merge), diff,
# server dry run, explain, JSON / merge / strategic merge patch, scale,
# rollout restart, edit, field validation (unknown and duplicate fields),
# server-side apply, delete -f.
#
# Same harness as test_kubectl.sh (lib.sh): one line per check, the output of
# every failing check, last "N passed, M failed". Exit 0 when nothing failed,
# 1 otherwise, 77 (skipped) without /usr/bin/kubectl. Every wait polls with a
# deadline; the EXIT trap stops the server and any etcd on the temp dir.
# Manifests: manifests/apply-*.yaml.
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MANIFESTS=$HERE/manifests
NS=e2e-apply # the namespace manifests/apply-app.yaml creates
E2E_NAME=kubectl-apply
if ! command -v diff >/dev/null; then
    echo "SKIP: diff not found (kubectl diff runs it)"
    exit 77
fi
# kubectl edit runs $KUBE_EDITOR before $EDITOR: only ours counts.
unset KUBE_EDITOR
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

start_server

CERT_ARGS=(--cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key")
APP=$MANIFESTS/apply-app.yaml
APP_V2=$MANIFESTS/apply-app-v2.yaml
APP_V3=$MANIFESTS/apply-app-v3.yaml

# dj NAME JSONPATH: a field of deployment NAME in $NS.
dj() { kc get deploy "$1" -n "$NS" -o "jsonpath=$2"; }

# ---- 1. OpenAPI v3 ----

echo "# 1. /openapi/v3"
# openapi_index: the index lists the core, apps and batch group versions, each
# with a hash in its URL; the apps URL goes to $TMP/openapi-apps-url.
openapi_index() {
    kc get --raw /openapi/v3 >"$TMP/openapi-index.json" 2>&1 || { cat "$TMP/openapi-index.json"; return 1; }
    python3 -c '
import json, sys
try:
    paths = json.load(open(sys.argv[1]))["paths"]
except Exception as e:
    print("not an OpenAPI v3 index:", e, open(sys.argv[1]).read()[:1000])
    sys.exit(1)
ok = True
for gv in ("api/v1", "apis/apps/v1", "apis/batch/v1"):
    url = paths.get(gv, {}).get("serverRelativeURL", "")
    print(gv, repr(url))
    ok = ok and url.startswith("/openapi/v3/" + gv + "?") and "hash=" in url
open(sys.argv[2], "w").write(paths.get("apis/apps/v1", {}).get("serverRelativeURL", ""))
sys.exit(0 if ok else 1)
' "$TMP/openapi-index.json" "$TMP/openapi-apps-url"
}
check openapi/index openapi_index
APPS_URL=$(cat "$TMP/openapi-apps-url" 2>/dev/null)
[ -n "$APPS_URL" ] || APPS_URL=/openapi/v3/apis/apps/v1

# openapi_doc: the apps/v1 document is OpenAPI JSON with the Deployment schema
# and an ETag.
openapi_doc() {
    local code
    code=$(acurl -D "$TMP/openapi.hdr" -o "$TMP/openapi-apps.json" -w '%{http_code}' "$API_URL$APPS_URL")
    echo "HTTP $code"
    cat "$TMP/openapi.hdr"
    [ "$code" = 200 ] || { head -c 1000 "$TMP/openapi-apps.json"; return 1; }
    python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("not JSON:", e)
    sys.exit(1)
print("openapi:", d.get("openapi"))
schemas = d.get("components", {}).get("schemas", {})
print(len(schemas), "schemas")
sys.exit(0 if "openapi" in d and "io.k8s.api.apps.v1.Deployment" in schemas else 1)
' "$TMP/openapi-apps.json"
}
check openapi/apps-v1-document openapi_doc
ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$TMP/openapi.hdr" 2>/dev/null | tr -d '\r')
OUT=$(cat "$TMP/openapi.hdr" 2>/dev/null)
RC=0
if [ -n "$ETAG" ]; then pass openapi/etag; else fail openapi/etag "no ETag header" curl "$API_URL$APPS_URL"; fi
check openapi/if-none-match-304 http_expect 304 '' "${CERT_ARGS[@]}" -H "If-None-Match: $ETAG" "$API_URL$APPS_URL"
check openapi/v2-404 http_expect 404 '"code": *404' "${CERT_ARGS[@]}" "$API_URL/openapi/v2"

# ---- 2. apply: create, unchanged, configured ----

echo "# 2. apply a multi-document file"
expect_all apply/create \
    '^namespace/e2e-apply created$' '^configmap/web-config created$' '^secret/web-secret created$' \
    '^deployment\.apps/web created$' '^service/web created$' \
    -- kc apply -f "$APP"
expect_eq apply/created-containers 'web log-shipper' dj web '{.spec.template.spec.containers[*].name}'
expect_eq apply/created-images 'nginx:1.27 busybox:1.36' dj web '{.spec.template.spec.containers[*].image}'
expect_eq apply/created-probes '/healthz cat' \
    dj web '{.spec.template.spec.containers[0].livenessProbe.httpGet.path} {.spec.template.spec.containers[0].readinessProbe.exec.command[0]}'
expect_eq apply/created-resources '100m 128Mi' \
    dj web '{.spec.template.spec.containers[0].resources.requests.cpu} {.spec.template.spec.containers[0].resources.limits.memory}'
expect_eq apply/created-volumes 'config cache web-config 100Mi' \
    dj web '{.spec.template.spec.volumes[*].name} {.spec.template.spec.volumes[0].configMap.name} {.spec.template.spec.volumes[1].emptyDir.sizeLimit}'
expect_eq apply/created-env 'web-config web-config' \
    dj web '{.spec.template.spec.containers[0].env[?(@.name=="LOG_LEVEL")].valueFrom.configMapKeyRef.name} {.spec.template.spec.containers[0].envFrom[0].configMapRef.name}'
expect_eq apply/created-label frontend dj web '{.metadata.labels.tier}'

expect_all apply/reapply-unchanged \
    '^namespace/e2e-apply unchanged$' '^configmap/web-config unchanged$' '^secret/web-secret unchanged$' \
    '^deployment\.apps/web unchanged$' '^service/web unchanged$' \
    -- kc apply -f "$APP"
expect_not apply/reapply-nothing-configured ' (created|configured)$' kc apply -f "$APP"

expect_all apply/modify \
    '^deployment\.apps/web configured$' \
    '^namespace/e2e-apply unchanged$' '^configmap/web-config unchanged$' '^secret/web-secret unchanged$' \
    '^service/web unchanged$' \
    -- kc apply -f "$APP_V2"
expect_eq apply/modified-images nginx:1.28 dj web '{.spec.template.spec.containers[*].image}'
expect_eq apply/modified-container-names web dj web '{.spec.template.spec.containers[*].name}'
count_containers() {
    local n
    n=$(kc get deploy web -n "$NS" -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["spec"]["template"]["spec"]["containers"]))') || return 1
    printf '%s\n' "$n"
}
expect_eq apply/modified-container-count 1 count_containers
expect_eq apply/modified-env staging dj web '{.spec.template.spec.containers[0].env[?(@.name=="MODE")].value}'
expect_eq apply/modified-port 8081 dj web '{.spec.template.spec.containers[0].ports[0].containerPort}'
expect_eq apply/modified-label-removed '' dj web '{.metadata.labels.tier}'
expect_eq apply/modified-label-kept web dj web '{.metadata.labels.app}'
expect_eq apply/modified-kept-the-rest '/healthz config cache web-config' \
    dj web '{.spec.template.spec.containers[0].livenessProbe.httpGet.path} {.spec.template.spec.volumes[*].name} {.spec.template.spec.containers[0].envFrom[0].configMapRef.name}'
expect_all apply/last-applied-annotation '"image":"nginx:1\.28"' '"value":"staging"' \
    -- dj web '{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}'
expect_not apply/last-applied-no-log-shipper 'log-shipper' \
    dj web '{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}'

# ---- 3. diff ----

echo "# 3. diff"
expect_rc diff/changed 1 '^\+  replicas: 3$' kc diff -f "$APP_V3"
expect_out diff/apply '^deployment\.apps/web configured$' kc apply -f "$APP_V3"
expect_eq diff/applied 3 dj web '{.spec.replicas}'
expect_rc diff/no-change 0 '' kc diff -f "$APP_V3"

# ---- 4. server dry run ----

echo "# 4. apply --dry-run=server"
RV_BEFORE=$(dj web '{.metadata.resourceVersion}' 2>/dev/null)
expect_all dry-run/apply '^deployment\.apps/web configured \(server dry run\)$' \
    '^configmap/web-config unchanged \(server dry run\)$' \
    -- kc apply --dry-run=server -f "$APP_V2"
expect_eq dry-run/live-unchanged 3 dj web '{.spec.replicas}'
expect_eq dry-run/resourceVersion-unchanged "$RV_BEFORE" dj web '{.metadata.resourceVersion}'

# ---- 5. explain ----

echo "# 5. explain"
expect_all explain/livenessProbe '^KIND: +Deployment$' '^FIELD: +livenessProbe' '^ +httpGet\b' '^ +exec\b' \
    -- kc explain deployment.spec.template.spec.containers.livenessProbe
expect_all explain/pod-ports '^FIELD: +ports' '^ +containerPort\b' \
    -- kc explain pods.spec.containers.ports

# ---- 6. patch ----

echo "# 6. patch"
expect_out patch/create '^deployment\.apps/patchme created$' kc apply -f "$MANIFESTS/apply-patch-deploy.yaml"
expect_out patch/json '^deployment\.apps/patchme patched$' \
    kc patch deploy patchme -n "$NS" --type=json -p '[{"op":"replace","path":"/spec/replicas","value":3}]'
expect_eq patch/json-applied 3 dj patchme '{.spec.replicas}'
expect_out patch/merge '^deployment\.apps/patchme patched$' \
    kc patch deploy patchme -n "$NS" --type=merge -p '{"metadata":{"labels":{"patched":"merge"}}}'
expect_eq patch/merge-applied 'merge patchme' dj patchme '{.metadata.labels.patched} {.metadata.labels.app}'
expect_out patch/strategic '^deployment\.apps/patchme patched$' \
    kc patch deploy patchme -n "$NS" --type=strategic \
    -p '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.37"}]}}}}'
expect_eq patch/strategic-applied 'app sidecar nginx:1.27 busybox:1.37' \
    dj patchme '{.spec.template.spec.containers[*].name} {.spec.template.spec.containers[*].image}'
expect_eq patch/strategic-kept-sidecar-command 'sleep infinity 80' \
    dj patchme '{.spec.template.spec.containers[1].command[*]} {.spec.template.spec.containers[0].ports[0].containerPort}'
expect_fail patch/json-test-fails '[Ii]nvalid|test' \
    kc patch deploy patchme -n "$NS" --type=json \
    -p '[{"op":"test","path":"/spec/replicas","value":99},{"op":"replace","path":"/spec/replicas","value":5}]'
expect_eq patch/json-test-nothing-applied 3 dj patchme '{.spec.replicas}'
check patch/json-test-422 http_expect 422 'test' "${CERT_ARGS[@]}" -X PATCH \
    -H 'Content-Type: application/json-patch+json' -d '[{"op":"test","path":"/spec/replicas","value":99}]' \
    "$API_URL/apis/apps/v1/namespaces/$NS/deployments/patchme"

# ---- 7. scale ----

echo "# 7. scale"
expect_out scale/run '^deployment\.apps/patchme scaled$' kc scale deploy patchme -n "$NS" --replicas=4
expect_eq scale/applied 4 dj patchme '{.spec.replicas}'
expect_all scale/subresource '"kind": *"Scale"' '"replicas": *4' \
    -- kc get --raw "/apis/apps/v1/namespaces/$NS/deployments/patchme/scale"

# ---- 8. rollout restart ----

echo "# 8. rollout restart"
expect_out rollout/restart '^deployment\.apps/patchme restarted$' kc rollout restart deploy patchme -n "$NS"
expect_out rollout/restartedAt '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}' \
    dj patchme '{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}'
expect_eq rollout/containers-kept 'app sidecar' dj patchme '{.spec.template.spec.containers[*].name}'

# ---- 9. edit ----

echo "# 9. edit"
cat >"$TMP/editor.sh" <<'EOF'
#!/bin/sh
# kubectl edit's $EDITOR: spec.replicas (not status.replicas) becomes 7.
sed -i '/^spec:/,/^status:/ s/^  replicas: [0-9]*$/  replicas: 7/' "$1"
EOF
chmod +x "$TMP/editor.sh"
edit_replicas() { EDITOR=$TMP/editor.sh kc edit deploy patchme -n "$NS"; }
expect_out edit/run '^deployment\.apps/patchme edited$' edit_replicas
expect_eq edit/applied 7 dj patchme '{.spec.replicas}'

# ---- 10. field validation: an unknown field ----

echo "# 10. unknown fields"
TYPO=$MANIFESTS/apply-typo.yaml
TYPO_RE='unknown field "spec\.template\.spec\.containers\[0\]\.imagee"'
expect_fail validate/apply-strict "$TYPO_RE" kc apply -f "$TYPO"
expect_fail validate/create-strict "$TYPO_RE" kc create -f "$TYPO"
expect_fail validate/strict-not-created 'deployments\.apps "typo" not found' kc get deploy typo -n "$NS"
expect_all validate/apply-warn "^Warning: $TYPO_RE" '^deployment\.apps/typo created$' \
    -- kc apply --validate=warn -f "$TYPO"
expect_not validate/warn-field-dropped 'imagee' dj typo '{.spec.template.spec.containers[0]}'
expect_eq validate/warn-image nginx:1.27 dj typo '{.spec.template.spec.containers[0].image}'
sed 's/^  name: typo$/  name: typo-silent/' "$TYPO" >"$TMP/typo-silent.yaml"
# create_silent: created, and no warning about the unknown field.
create_silent() {
    local out rc
    out=$(kc create --validate=false -f "$TMP/typo-silent.yaml" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    [ "$rc" -eq 0 ] && [ "$out" = "deployment.apps/typo-silent created" ]
}
check validate/create-false-silent create_silent
expect_not validate/false-field-dropped 'imagee' dj typo-silent '{.spec.template.spec.containers[0]}'

# ---- 11. field validation: a duplicate field ----

echo "# 11. duplicate fields"
for v in strict warn; do
    printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup-%s","namespace":"%s"},"data":{"a":"1","a":"2"}}\n' \
        "$v" "$NS" >"$TMP/dup-$v.json"
done
check dup/strict-400 http_expect 400 'duplicate field' "${CERT_ARGS[@]}" \
    -H 'Content-Type: application/json' --data-binary "@$TMP/dup-strict.json" \
    "$API_URL/api/v1/namespaces/$NS/configmaps?fieldValidation=Strict"
expect_fail dup/strict-not-created 'configmaps "dup-strict" not found' kc get cm dup-strict -n "$NS"
# post_dup_warn: 201 and a Warning header naming the duplicate field.
post_dup_warn() {
    local code
    code=$(acurl -D "$TMP/dup.hdr" -o "$TMP/dup.body" -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary "@$TMP/dup-warn.json" \
        "$API_URL/api/v1/namespaces/$NS/configmaps?fieldValidation=Warn")
    echo "HTTP $code"
    cat "$TMP/dup.hdr"
    head -c 1000 "$TMP/dup.body"
    echo
    [ "$code" = 201 ] && tr -d '\r' <"$TMP/dup.hdr" | grep -Eiq '^Warning: .*duplicate field'
}
check dup/warn-201-warning post_dup_warn
# Like encoding/json upstream, the last of the duplicates wins.
expect_eq dup/warn-last-wins 2 kc get cm dup-warn -n "$NS" -o 'jsonpath={.data.a}'

# ---- 12. server-side apply ----

echo "# 12. server-side apply"
# The details are test_ssa.sh's; here: kubectl's server-side apply works
# over an object that client-side apply and patches wrote.
expect_out ssa/applied '^deployment\.apps/patchme serverside-applied$' \
    kc apply --server-side --force-conflicts -f "$MANIFESTS/apply-patch-deploy.yaml"

# ---- 13. delete -f ----

echo "# 13. delete -f"
# --wait=false: without the namespace controller (issue #6) a deleted
# namespace stays Terminating, and kubectl would wait for it until it timed out.
expect_all delete/run \
    '^namespace "e2e-apply" deleted$' '^configmap "web-config" deleted$' '^secret "web-secret" deleted$' \
    '^deployment\.apps "web" deleted$' '^service "web" deleted$' \
    -- kc delete -f "$APP_V3" --wait=false
expect_fail delete/configmap-gone 'configmaps "web-config" not found' kc get cm web-config -n "$NS"
expect_fail delete/secret-gone 'secrets "web-secret" not found' kc get secret web-secret -n "$NS"
expect_fail delete/deployment-gone 'deployments\.apps "web" not found' kc get deploy web -n "$NS"
expect_fail delete/service-gone 'services "web" not found' kc get svc web -n "$NS"
ns_deleted() {
    local phase rc
    phase=$(kc get ns "$NS" -o 'jsonpath={.status.phase}' 2>&1)
    rc=$?
    printf '%s\n' "$phase"
    if [ "$rc" -ne 0 ]; then
        [[ $phase == *'namespaces "e2e-apply" not found'* ]]
    else
        [ "$phase" = Terminating ]
    fi
}
check delete/namespace-gone-or-terminating ns_deleted

server_checks
summary
