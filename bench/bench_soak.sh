#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_soak.sh - issue #10's soak: a 3-server lab (k3c lab, with the gpu
# and edge agents) under churn for MINUTES: each cycle creates a Deployment
# of two real pods, waits for its rollout, rolls it (a new env value),
# waits, and deletes it, which also makes Events. The servers run with
# --event-ttl TTL. Every 60 s it samples each server's k3c RSS, the etcd
# database size (on disk and in use) and the number of Events, and prints
# one line; at the end the two curves' first, after-the-first-TTL and last
# values. Prints figures, asserts nothing. Root; not part of `make test`.
#   bench/bench_soak.sh [K3C_BIN] [MINUTES] [TTL]    (build/k3c, 60, 10m)
#   SOAK_PAUSE_S (1): pause between cycles.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K3C=${1:-$HERE/../build/k3c}
MINUTES=${2:-60}
TTL=${3:-10m}
DIR=$(mktemp -d /tmp/k3c-soak.XXXXXX)
IMAGES=$DIR/images
OUT=$DIR/samples.txt
[ "$(id -u)" -eq 0 ] || { echo "bench_soak: needs root"; exit 77; }
command -v kubectl >/dev/null || { echo "bench_soak: needs kubectl"; exit 77; }

finish() {
    "$K3C" lab down --dir "$DIR/lab" >/dev/null 2>&1
    echo "# samples kept in $OUT"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$HERE/../scripts/build-test-images" "$IMAGES" >/dev/null || exit 1
"$K3C" lab up --dir "$DIR/lab" --images "$IMAGES" --server-arg="--event-ttl=$TTL" || exit 1
KUBECONFIG=$("$K3C" lab kubeconfig --dir "$DIR/lab")
export KUBECONFIG

# sample T: "minute rss1 rss2 rss3 (MiB) db_size db_in_use (MiB) events"
sample() {
    local rss dbs
    rss=$("$K3C" lab status --dir "$DIR/lab" -o json | python3 -c '
import json, sys
for h in json.load(sys.stdin)["hosts"]:
    if h["role"] == "server" and h["pid"] > 0:
        pid = h["pid"]
        kb = [l for l in open("/proc/%d/status" % pid) if l.startswith("VmRSS")][0].split()[1]
        print("%.1f" % (int(kb) / 1024), end=" ")')
    dbs=$("$K3C" lab exec polynode-1 --dir "$DIR/lab" -- etcdctl --endpoints https://127.0.0.1:2379 \
        --cacert "$DIR/lab/hosts/polynode-1/data/server/tls/server-ca.crt" \
        --cert "$DIR/lab/hosts/polynode-1/data/server/tls/etcd/client.crt" \
        --key "$DIR/lab/hosts/polynode-1/data/server/tls/etcd/client.key" endpoint status -w json |
        python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["Status"]
print("%.1f %.1f" % (s["dbSize"] / 1048576, s.get("dbSizeInUse", 0) / 1048576))')
    echo "$1 $rss$dbs $(kubectl get events -A --no-headers 2>/dev/null | wc -l)"
}

cycle() {
    local n=$1
    kubectl create deployment "soak-$n" --image=k3c/busybox:test --replicas=2 \
        -- httpd -f -p 8080 -h /www >/dev/null || return 1
    kubectl rollout status "deployment/soak-$n" --timeout=120s >/dev/null || return 1
    kubectl set env "deployment/soak-$n" ROUND=2 >/dev/null || return 1
    kubectl rollout status "deployment/soak-$n" --timeout=120s >/dev/null || return 1
    kubectl delete deployment "soak-$n" --wait=true --timeout=120s >/dev/null
}

echo "# minute rss(polynode-1..3 MiB) db_size db_in_use(MiB) events; --event-ttl $TTL"
end=$((SECONDS + MINUTES * 60))
next=$SECONDS
n=0
failed=0
while [ "$SECONDS" -lt "$end" ]; do
    if [ "$SECONDS" -ge "$next" ]; then
        sample $(((SECONDS - (end - MINUTES * 60)) / 60)) | tee -a "$OUT"
        next=$((next + 60))
    fi
    n=$((n + 1))
    cycle "$n" || failed=$((failed + 1))
    sleep "${SOAK_PAUSE_S:-1}" # a homelab's pace, not a stress test
done
sample "$MINUTES" | tee -a "$OUT"
echo "cycles $n, failed $failed"
python3 - "$OUT" "$TTL" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ttl = sys.argv[2]
mins = int(ttl[:-1]) * (60 if ttl.endswith("h") else 1) if ttl[-1] in "mh" else 0
after = [r for r in rows if int(r[0]) >= mins + 1] or rows[-1:]
def show(name, idx):
    vals = lambda r: "/".join(r[i] for i in idx)
    print(f"{name}: first {vals(rows[0])}, one TTL later {vals(after[0])}, last {vals(rows[-1])}")
show("server RSS MiB", [1, 2, 3])
show("etcd db size / in use MiB", [4, 5])
show("events", [6])
EOF
