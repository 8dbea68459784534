#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_rbac.sh - RBAC end to end with stock kubectl (issue #15, docs/auth.md):
# the bootstrap policy, a client-certificate user (issued here with the
# cluster's client CA) refused with upstream's 403 and then allowed by a
# RoleBinding, `kubectl auth can-i` yes/no matrices, resourceNames,
# `--as` impersonation, `auth whoami`, escalation prevention, ClusterRole
# aggregation, anonymous access. One server with --disable-pods (lib.sh).
# shellcheck disable=SC2317 # functions are called through run/check
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_NAME=rbac
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

if ! command -v openssl >/dev/null; then
    echo "SKIP: openssl not found (issues the test user's certificate)"
    exit 77
fi

start_server
NS=team

# ---- a user with a client certificate from the cluster's client CA ----

TLS=$TMP/data/server/tls
# user_kubeconfig NAME [GROUP]: a kubeconfig $TMP/NAME.yaml for CN=NAME (O=GROUP).
user_kubeconfig() {
    local name=$1 subj="/CN=$1" cfg=$TMP/$1.yaml
    [ -n "${2:-}" ] && subj="$subj/O=$2"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$TMP/$name.key" -subj "$subj" -out "$TMP/$name.csr" 2>/dev/null &&
        openssl x509 -req -in "$TMP/$name.csr" -CA "$TLS/client-ca.crt" -CAkey "$TLS/client-ca.key" \
            -CAcreateserial -days 1 -out "$TMP/$name.crt" 2>/dev/null || return 1
    kc config --kubeconfig="$cfg" set-cluster e2e --server="$API_URL" \
        --certificate-authority="$TMP/ca.crt" --embed-certs >/dev/null &&
        kc config --kubeconfig="$cfg" set-credentials "$name" --client-certificate="$TMP/$name.crt" \
            --client-key="$TMP/$name.key" --embed-certs >/dev/null &&
        kc config --kubeconfig="$cfg" set-context e2e --cluster=e2e --user="$name" >/dev/null &&
        kc config --kubeconfig="$cfg" use-context e2e >/dev/null
}
as_alice() { kc --kubeconfig="$TMP/alice.yaml" "$@"; }
# answer CMD...: kubectl auth can-i exits 1 when it prints "no".
answer() {
    "$@"
    return 0
}

echo "# 1. bootstrap policy"
expect_all clusterroles \
    '^NAME +CREATED AT$' '^cluster-admin +20[0-9-]+T' '^admin ' '^edit ' '^view ' \
    '^system:basic-user ' '^system:discovery ' '^system:public-info-viewer ' \
    -- kc get clusterroles
expect_all clusterrolebinding/wide \
    '^NAME +ROLE +AGE +USERS +GROUPS +SERVICEACCOUNTS$' \
    '^cluster-admin +ClusterRole/cluster-admin +[0-9]+[smh] +system:masters' \
    -- kc get clusterrolebinding cluster-admin -o wide
wait_check aggregation/view-has-rules 30 \
    sh -c "$KUBECTL --request-timeout=20s get clusterrole view -o jsonpath='{.rules[*].resources}' | grep -q pods"
wait_check aggregation/admin-has-roles 30 \
    sh -c "$KUBECTL --request-timeout=20s get clusterrole admin -o jsonpath='{.rules[*].resources}' | grep -q rolebindings"
check ns/create kc create namespace "$NS"
check user/cert user_kubeconfig alice

echo "# 2. whoami"
expect_all whoami/admin '^Username +system:admin$' 'system:masters' -- kc auth whoami
expect_all whoami/alice '^Username +alice$' 'system:authenticated' -- as_alice auth whoami

echo "# 3. forbidden before a binding, as upstream says it"
expect_fail forbidden/list-pods \
    'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team"' \
    as_alice get pods -n "$NS"
expect_fail forbidden/get-deployment \
    'deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments" in API group "apps" in the namespace "team"' \
    as_alice get deployment web -n "$NS"
expect_fail forbidden/nodes 'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope' \
    as_alice get nodes
expect_eq can-i/before no answer as_alice auth can-i list pods -n "$NS"
expect_eq discovery/allowed yes as_alice auth can-i get /api
expect_out discovery/api-versions '^v1$' as_alice api-versions

echo "# 4. a Role and a RoleBinding"
check role/create kc create role pod-reader --verb=get,list,watch --resource=pods,pods/log -n "$NS"
check role/create-named kc create role cm-one --verb=get --resource=configmaps --resource-name=allowed -n "$NS"
expect_all role/get '^NAME +CREATED AT$' '^pod-reader +20' -- kc get roles -n "$NS"
check rolebinding/create kc create rolebinding alice-reads --role=pod-reader --user=alice -n "$NS"
check rolebinding/create-named kc create rolebinding alice-cm --role=cm-one --user=alice -n "$NS"
expect_all rolebinding/get '^NAME +ROLE +AGE$' '^alice-reads +Role/pod-reader +' -- kc get rolebindings -n "$NS"
expect_all rolebinding/wide '^alice-reads +Role/pod-reader +[0-9]+s +alice +$' -- kc get rolebinding alice-reads -n "$NS" -o wide
wait_check allowed/list-pods 20 as_alice get pods -n "$NS"

echo "# 5. can-i matrix"
# verb resource namespace want
MATRIX=(
    "list pods $NS yes"
    "get pods $NS yes"
    "watch pods $NS yes"
    "get pods/foo $NS yes"
    "create pods $NS no"
    "delete pods $NS no"
    "list pods default no"
    "list secrets $NS no"
    "list deployments.apps $NS no"
    "get configmaps/allowed $NS yes"
    "get configmaps/other $NS no"
    "list configmaps $NS no"
)
for m in "${MATRIX[@]}"; do
    read -r verb res ns want <<<"$m"
    expect_eq "can-i/$verb-${res//\//-}-in-$ns" "$want" answer as_alice auth can-i "$verb" "$res" -n "$ns"
done
expect_eq can-i/subresource-log yes answer as_alice auth can-i get pods --subresource=log -n "$NS"
expect_eq can-i/subresource-exec no answer as_alice auth can-i get pods --subresource=exec -n "$NS"
expect_eq can-i/nonresource-healthz yes as_alice auth can-i get /healthz
expect_eq can-i/nonresource-metrics no answer as_alice auth can-i get /metrics
expect_fail metrics/refused 'forbidden: User "alice" cannot get path "/metrics"' as_alice get --raw /metrics
expect_all can-i/list 'pods +\[\] +\[\] +\[get list watch\]' 'configmaps +\[\] +\[allowed\] +\[get\]' \
    -- as_alice auth can-i --list -n "$NS"
check configmap/allowed kc create configmap allowed --from-literal=a=b -n "$NS"
check configmap/read-by-name as_alice get configmap allowed -n "$NS"
expect_fail configmap/list-refused 'configmaps is forbidden' as_alice get configmaps -n "$NS"

echo "# 6. --as (impersonation)"
expect_eq as/alice-list-pods yes kc auth can-i list pods -n "$NS" --as alice
expect_eq as/alice-create-pods no answer kc auth can-i create pods -n "$NS" --as alice
expect_eq as/bob-list-pods no answer kc auth can-i list pods -n "$NS" --as bob
expect_eq as/group-admins yes kc auth can-i list pods -n "$NS" --as bob --as-group system:masters
expect_all as/whoami '^Username +bob$' 'devs' -- kc auth whoami --as bob --as-group devs
expect_fail as/alice-cannot-impersonate \
    'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope' \
    as_alice get pods -n "$NS" --as bob

echo "# 7. escalation prevention"
check escalate/grant-role-admin kc create role role-admin --verb=create,get,list,update,patch,delete \
    --resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io -n "$NS"
check escalate/bind-role-admin kc create rolebinding alice-role-admin --role=role-admin --user=alice -n "$NS"
wait_check escalate/alice-may-create-roles 20 sh -c \
    "$KUBECTL --kubeconfig=$TMP/alice.yaml --request-timeout=20s auth can-i create roles -n $NS | grep -qx yes"
check escalate/role-within-own-rights as_alice create role pods-sub --verb=get,list --resource=pods -n "$NS"
expect_fail escalate/role-with-secrets \
    'is attempting to grant RBAC permissions not currently held' \
    as_alice create role steal --verb=get --resource=secrets -n "$NS"
expect_fail escalate/role-with-star 'not currently held' \
    as_alice create role star --verb='*' --resource=pods -n "$NS"
check escalate/bind-held-role as_alice create rolebinding bob-reads --role=pod-reader --user=bob -n "$NS"
expect_fail escalate/bind-edit 'not currently held' \
    as_alice create rolebinding alice-edit --clusterrole=edit --user=alice -n "$NS"
expect_fail escalate/clusterrole 'clusterroles.rbac.authorization.k8s.io is forbidden' \
    as_alice create clusterrole mine --verb=get --resource=pods
check escalate/grant-bind kc create role binder --verb=bind --resource=clusterroles.rbac.authorization.k8s.io \
    --resource-name=edit -n "$NS"
check escalate/bind-binder kc create rolebinding alice-binder --role=binder --user=alice -n "$NS"
wait_check escalate/bind-verb-allows 20 as_alice create rolebinding alice-edit --clusterrole=edit --user=alice -n "$NS"
wait_check escalate/edit-now-allows-secrets 20 sh -c \
    "$KUBECTL --kubeconfig=$TMP/alice.yaml --request-timeout=20s auth can-i create secrets -n $NS | grep -qx yes"

echo "# 8. ClusterRoleBinding and aggregation"
check crb/create kc create clusterrolebinding alice-view --clusterrole=view --user=alice
wait_check crb/alice-lists-namespaces 20 as_alice get namespaces
expect_eq agg/no-leases-before no answer as_alice auth can-i list leases.coordination.k8s.io -n "$NS"
check agg/clusterrole kc create clusterrole lease-reader --verb=get,list --resource=leases.coordination.k8s.io
check agg/label kc label clusterrole lease-reader rbac.authorization.k8s.io/aggregate-to-view=true
wait_check agg/view-gets-leases 20 sh -c \
    "$KUBECTL --request-timeout=20s get clusterrole view -o jsonpath='{.rules[*].resources}' | grep -q leases"
wait_check agg/edit-gets-leases 20 sh -c \
    "$KUBECTL --request-timeout=20s get clusterrole edit -o jsonpath='{.rules[*].resources}' | grep -q leases"
expect_eq agg/alice-can-list-leases yes as_alice auth can-i list leases.coordination.k8s.io -n "$NS"

echo "# 9. validation"
cat >"$TMP/bad-role.yaml" <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: bad, namespace: $NS}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: []
- nonResourceURLs: [/x]
  verbs: [get]
EOF
expect_all validate/role 'rules\[0\]\.verbs: Required value' \
    'rules\[1\]\.nonResourceURLs: Invalid value: .*namespaced rules cannot apply to non-resource URLs' \
    -- sh -c "$KUBECTL --request-timeout=20s create -f $TMP/bad-role.yaml 2>&1; true"
expect_fail validate/roleref-immutable 'cannot change roleRef' \
    kc patch rolebinding alice-reads -n "$NS" --type=merge -p '{"roleRef":{"name":"cm-one"}}'
expect_fail validate/subject-kind 'Unsupported value: "Robot"' sh -c \
    "printf '%s' '{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"x\"},\"roleRef\":{\"kind\":\"ClusterRole\",\"name\":\"view\"},\"subjects\":[{\"kind\":\"Robot\",\"name\":\"r\"}]}' | $KUBECTL --request-timeout=20s create -f -"

echo "# 10. anonymous"
http_name() { curl -sk --max-time 20 -o /dev/null -w '%{http_code}' "$API_URL$1"; }
expect_eq anonymous/version 200 http_name /version
expect_eq anonymous/healthz 200 http_name /healthz
expect_eq anonymous/api 401 http_name /api
expect_eq anonymous/pods 401 http_name /api/v1/pods

echo "# 11. SubjectAccessReview"
SAR='{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"alice","resourceAttributes":{"namespace":"'$NS'","verb":"get","resource":"pods"}}}'
expect_out sar/admin-asks '"allowed": *true' \
    acurl -X POST -H 'Content-Type: application/json' -d "$SAR" "$API_URL/apis/authorization.k8s.io/v1/subjectaccessreviews"
expect_out sar/alice-may-not 'subjectaccessreviews.authorization.k8s.io is forbidden: User \\"alice\\" cannot create' \
    curl -sS --max-time 20 --cacert "$TMP/ca.crt" --cert "$TMP/alice.crt" --key "$TMP/alice.key" \
    -X POST -H 'Content-Type: application/json' -d "$SAR" "$API_URL/apis/authorization.k8s.io/v1/subjectaccessreviews"

echo "# 12. revoking"
check revoke/delete-binding kc delete rolebinding alice-reads alice-edit -n "$NS"
wait_check revoke/refused-again 20 sh -c \
    "$KUBECTL --kubeconfig=$TMP/alice.yaml --request-timeout=20s auth can-i create pods -n $NS | grep -qx no"

echo "# 13. service-account tokens"
check sa/create kc create serviceaccount robot -n "$NS"
run kc create token robot -n "$NS"
SA_TOKEN=$OUT
if [ "$RC" -eq 0 ] && [ "$(printf '%s' "$SA_TOKEN" | tr -cd . | wc -c)" -eq 2 ]; then pass sa/token-request; else fail sa/token-request "no JWT" "kc create token robot"; fi
as_robot() { kc --kubeconfig=/dev/null --server="$API_URL" --certificate-authority="$TMP/ca.crt" --token="$1" "${@:2}"; }
expect_all sa/whoami '^Username +system:serviceaccount:team:robot$' 'system:serviceaccounts:team' \
    -- as_robot "$SA_TOKEN" auth whoami
expect_fail sa/forbidden 'pods is forbidden: User "system:serviceaccount:team:robot" cannot list resource "pods" in API group "" in the namespace "team"' \
    as_robot "$SA_TOKEN" get pods -n "$NS"
check sa/bind kc create rolebinding robot-reads --role=pod-reader --serviceaccount="$NS:robot" -n "$NS"
wait_check sa/allowed 20 as_robot "$SA_TOKEN" get pods -n "$NS"
expect_fail sa/short-duration 'may not specify a duration less than 10 minutes' kc create token robot -n "$NS" --duration=1m
expect_out sa/oidc-config '"issuer": *"https://kubernetes.default.svc.cluster.local"' \
    curl -sS --max-time 20 --cacert "$TMP/ca.crt" -H "Authorization: Bearer $SA_TOKEN" "$API_URL/.well-known/openid-configuration"
expect_out sa/jwks '"kty": *"EC"' \
    curl -sS --max-time 20 --cacert "$TMP/ca.crt" -H "Authorization: Bearer $SA_TOKEN" "$API_URL/openid/v1/jwks"
REVIEW='{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"'$SA_TOKEN'"}}'
expect_out sa/token-review '"username": *"system:serviceaccount:team:robot"' \
    acurl -X POST -H 'Content-Type: application/json' -d "$REVIEW" "$API_URL/apis/authentication.k8s.io/v1/tokenreviews"
# Change a signature character that carries only data bits (the last one
# also holds padding bits, and may already be the replacement).
SIG_C=${SA_TOKEN: -5:1}
TAMPERED=${SA_TOKEN:0:${#SA_TOKEN}-5}$([ "$SIG_C" = A ] && echo B || echo A)${SA_TOKEN: -4}
expect_eq sa/tampered-401 401 curl -sS --max-time 20 -o /dev/null -w '%{http_code}' --cacert "$TMP/ca.crt" \
    -H "Authorization: Bearer $TAMPERED" "$API_URL/api/v1/namespaces/$NS/pods"
check sa/delete kc delete serviceaccount robot -n "$NS"
wait_check sa/deleted-401 20 sh -c "[ \"\$(curl -sS --max-time 20 -o /dev/null -w '%{http_code}' --cacert $TMP/ca.crt -H 'Authorization: Bearer $SA_TOKEN' $API_URL/api/v1/namespaces/$NS/pods)\" = 401 ]"

server_checks
summary
