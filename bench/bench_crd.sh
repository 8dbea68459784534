#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_crd.sh - what CustomResourceDefinitions cost (issue #17,
# docs/crd.md): the time from POSTing cert-manager's Certificate CRD (four
# versions, an 86 KB schema; tests/e2e/manifests/crd-certificates.yaml) to
# its Established condition and to its first custom object created, then
# the server's RSS growth for BENCH_CRDS (default 50) more copies of it
# (each its own group), per CRD. Figures only, no assertions. Use an
# optimised build:
#   K3C_BIN=build/k3c bash bench/bench_crd.sh
# shellcheck disable=SC2317
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e" && pwd)
E2E_NAME=bench-crd
K3C_BIN=${K3C_BIN:-$HERE/../../build/k3c}
N=${BENCH_CRDS:-50}
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$HERE/lib.sh"
start_server

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }

python3 - "$HERE/manifests/crd-certificates.yaml" "$TMP" "$N" <<'PY'
import json, sys, yaml
src, tmp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
crd = yaml.safe_load(open(src))
json.dump(crd, open(f"{tmp}/crd-0.json", "w"))
for i in range(1, n + 1):
    crd["metadata"]["name"] = f"certificates.bench{i}.example.com"
    crd["spec"]["group"] = f"bench{i}.example.com"
    json.dump(crd, open(f"{tmp}/crd-{i}.json", "w"))
PY

# The first CRD: POST, then poll its status and its objects' URL (10 ms).
python3 - "$API_URL" "$TMP" <<'PY'
import json, ssl, sys, time, http.client, urllib.parse
url, tmp = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=f"{tmp}/ca.crt")
ctx.load_cert_chain(f"{tmp}/admin.crt", f"{tmp}/admin.key")
host = urllib.parse.urlparse(url)
conn = http.client.HTTPSConnection(host.hostname, host.port, context=ctx)
def req(method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()
crd = json.load(open(f"{tmp}/crd-0.json"))
t0 = time.monotonic()
st, body = req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
t_post = time.monotonic() - t0
assert st == 201, (st, body[:300])
established = None
while time.monotonic() - t0 < 30:
    st, body = req("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.cert-manager.io")
    conds = json.loads(body).get("status", {}).get("conditions", [])
    if any(c["type"] == "Established" and c["status"] == "True" for c in conds):
        established = time.monotonic() - t0
        break
    time.sleep(0.01)
cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c1"},
        "spec": {"secretName": "s", "issuerRef": {"name": "i"}}}
st, body = req("POST", "/apis/cert-manager.io/v1/namespaces/default/certificates", cert)
served = time.monotonic() - t0
print(f"crd-bench: POST of the {len(json.dumps(crd))}-byte CRD answered in {t_post*1000:.1f} ms; "
      f"Established after {established*1000:.1f} ms; first Certificate created ({st}) after {served*1000:.1f} ms")
t0 = time.monotonic()
for i in range(200):
    cert["metadata"]["name"] = f"bench-{i}"
    st, body = req("POST", "/apis/cert-manager.io/v1/namespaces/default/certificates", cert)
    assert st == 201, (st, body[:300])
took = time.monotonic() - t0
print(f"crd-bench: 200 Certificates created (schema defaulting and validation) in {took*1000:.0f} ms: {200/took:.0f}/s")
PY

before=$(rss_kb)
for i in $(seq "$N"); do
    curl -sf --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" \
        -H 'Content-Type: application/json' --data-binary "@$TMP/crd-$i.json" \
        "$API_URL/apis/apiextensions.k8s.io/v1/customresourcedefinitions" >/dev/null ||
        echo "crd-bench: creating CRD $i failed"
done
all_established() {
    [ "$(kc get crd -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Established")].status}{"\n"}{end}' | grep -c True)" -ge $((N + 1)) ]
}
wait_for 120 all_established || echo "crd-bench: not all $N CRDs established in 120 s"
kc get --raw /openapi/v3 >/dev/null
kc api-resources >/dev/null
after=$(rss_kb)
echo "crd-bench: server RSS $before KiB before, $after KiB after $N more Certificate CRDs (4 versions each): $(((after - before) / N)) KiB per CRD"
stop_pid "$SERVER_PID" "$STOP_TIMEOUT_S"
SERVER_PID=
