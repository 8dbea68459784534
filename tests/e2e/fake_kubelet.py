#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# fake_kubelet.py - what the kubelets of API-registered fake nodes would do,
# for the workload e2e test: pods in the namespaces given by --ready become
# Running and Ready (as a kubelet reports them through the status
# subresource); pods being deleted anywhere are removed for good
# (gracePeriodSeconds=0), as a kubelet does once their containers stopped.
# Runs until --seconds pass (bounded) or it is killed; polls every 0.3 s.
import argparse
import json
import ssl
import sys
import time
import urllib.error
import urllib.request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ready", action="append", default=[])
    ap.add_argument("--seconds", type=int, default=900)
    a = ap.parse_args()
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.load_cert_chain(a.cert, a.key)

    def req(method, path, body=None, ctype="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(a.api + path, data=data, method=method)
        if data is not None:
            r.add_header("Content-Type", ctype)
        with urllib.request.urlopen(r, context=ctx, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        try:
            pods = req("GET", "/api/v1/pods").get("items", [])
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.3)
            continue
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for p in pods:
            m, st = p["metadata"], p.get("status", {})
            path = "/api/v1/namespaces/%s/pods/%s" % (m["namespace"], m["name"])
            try:
                if m.get("deletionTimestamp"):
                    req("DELETE", path + "?gracePeriodSeconds=0")
                    continue
                if m["namespace"] not in a.ready or st.get("phase") in ("Succeeded", "Failed"):
                    continue
                ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in st.get("conditions", []))
                if st.get("phase") == "Running" and ready:
                    continue
                conds = [{"type": t, "status": "True", "lastTransitionTime": now}
                         for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
                req("PATCH", path + "/status",
                    {"status": {"phase": "Running", "podIP": "10.42.0.10", "startTime": now,
                                "conditions": conds}},
                    "application/merge-patch+json")
            except (urllib.error.URLError, OSError, ValueError):
                pass  # gone meanwhile, or a conflict: the next pass sees it again
        time.sleep(0.3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
