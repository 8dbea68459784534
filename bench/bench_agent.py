#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_agent.py K3C_BIN - the pod worker's figures (issue #5).

A server (no pods of its own) and a separate `k3c agent`, both in a network
namespace this script makes (bridges and addresses never touch the root
namespace); the test image comes from scripts/build-test-images' air-gap
tarball, so it is present before the first pod. Then, one pod at a time:
create -> Running latency (client clock: before `kubectl create` to the
watch event that shows phase Running), p50/p99 over N pods (default 30);
agent RSS idle and with N pods; conmon RSS per container. Needs root;
without it prints "skipped" and exits 0."""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchproc import free_ports, helper_rss_kib, rss_kib, rss_parts_kib, top_mappings, wait

N_PODS = int(os.environ.get("BENCH_PODS", "30"))
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


class Bench:
    def __init__(self, k3c):
        self.k3c = k3c
        self.tmp = tempfile.mkdtemp(prefix="k3c-bench-agent.")
        self.ns = f"k3c-bench-{os.getpid()}"
        self.nsx = ["nsenter", f"--net=/run/netns/{self.ns}"]
        self.kubeconfig = f"{self.tmp}/kubeconfig.yaml"
        self.procs = []
        self.running_at = {}
        self.lock = threading.Lock()

    def sh(self, *args, **kw):
        return subprocess.run(list(args), check=True, timeout=120, **kw)

    def kubectl(self, *args, stdin=None):
        env = dict(os.environ, KUBECONFIG=self.kubeconfig)
        return subprocess.run(self.nsx + ["kubectl", "--request-timeout=20s", *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=60)

    def start(self, *args, log):
        env = {k: v for k, v in os.environ.items() if not k.startswith("K3C_")}
        p = subprocess.Popen(self.nsx + [self.k3c, *args], stdin=subprocess.DEVNULL,
                             stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
        self.procs.append(p)
        return p

    def setup(self):
        self.sh("ip", "netns", "add", self.ns)
        self.sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        self.sh(f"{REPO}/scripts/build-test-images", f"{self.tmp}/img", stdout=subprocess.DEVNULL)
        os.makedirs(f"{self.tmp}/agent/agent/images")
        shutil.copy(f"{self.tmp}/img/airgap.tar", f"{self.tmp}/agent/agent/images/")
        c, p, api = free_ports(3)
        open(f"{self.tmp}/empty.yaml", "w").write("# empty\n")
        self.start("server", "--data-dir", f"{self.tmp}/server", "--bind-address", "127.0.0.1",
                   "--https-listen-port", str(api), "--write-kubeconfig", self.kubeconfig,
                   "--etcd-client-port", str(c), "--etcd-peer-port", str(p), "--node-name",
                   "bench-server", "--disable-pods", "--config", f"{self.tmp}/empty.yaml",
                   log=f"{self.tmp}/server.log")
        wait(lambda: os.path.exists(f"{self.tmp}/server/server/token")
             and os.path.getsize(self.kubeconfig if os.path.exists(self.kubeconfig) else "/dev/null") > 0,
             90, "the server")
        token = open(f"{self.tmp}/server/server/token").read().strip()
        self.agent = self.start("agent", "--server", f"https://127.0.0.1:{api}", "--token", token,
                                "--data-dir", f"{self.tmp}/agent", "--node-name", "bench-node",
                                "--cni-bridge", "k3cbench0", "--pod-cidr", "10.90.0.0/24",
                                "--config", f"{self.tmp}/empty.yaml", log=f"{self.tmp}/agent.log")
        wait(lambda: "pods run with" in open(f"{self.tmp}/agent.log").read(), 60, "the agent")

    def watch(self):
        env = dict(os.environ, KUBECONFIG=self.kubeconfig)
        self.watcher = subprocess.Popen(
            self.nsx + ["kubectl", "get", "pods", "--watch", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.procs.append(self.watcher)

        def reader():
            dec = json.JSONDecoder()
            buf = ""
            for line in self.watcher.stdout:
                buf += line
                buf = buf.lstrip()
                while buf:
                    try:
                        obj, end = dec.raw_decode(buf)
                    except ValueError:
                        break
                    buf = buf[end:].lstrip()
                    name = obj.get("metadata", {}).get("name")
                    if obj.get("status", {}).get("phase") == "Running":
                        with self.lock:
                            self.running_at.setdefault(name, time.monotonic())

        threading.Thread(target=reader, daemon=True).start()

    def pod(self, name):
        return json.dumps({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "bench-node", "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "k3c/busybox:test",
                                     "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"]}]}})

    def run(self):
        time.sleep(2)  # let the agent settle before the idle sample
        idle = rss_kib(self.agent.pid)
        idle_parts = rss_parts_kib(self.agent.pid)
        self.watch()
        lat, create = [], []
        for i in range(N_PODS):
            name = f"bench-{i}"
            t0 = time.monotonic()
            r = self.kubectl("create", "-f", "-", stdin=self.pod(name))
            if r.returncode != 0:
                raise SystemExit(f"bench_agent: create {name}: {r.stderr}")
            create.append((time.monotonic() - t0) * 1000)
            wait(lambda: name in self.running_at, 60, f"{name} Running")
            lat.append((self.running_at[name] - t0) * 1000)
        time.sleep(1)
        busy = rss_kib(self.agent.pid)
        busy_parts = rss_parts_kib(self.agent.pid)
        helpers = helper_rss_kib(self.agent.pid)
        if os.environ.get("BENCH_SMAPS"):
            for name, kib in top_mappings(self.agent.pid, 25):
                print(f"  smaps {kib:6d} KiB  {name}")
        conmons = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                comm = open(f"/proc/{d}/comm").read().strip()
                cmd = open(f"/proc/{d}/cmdline").read()
            except OSError:
                continue
            if comm == "conmon" and self.tmp in cmd:
                conmons.append(rss_kib(int(d)))
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(round(0.99 * len(lat))) - 1)]
        print(f"pod startup (create -> Running, image present), {len(lat)} pods one at a time:")
        print(f"  p50 {statistics.median(lat):.0f} ms  p99 {p99:.0f} ms  "
              f"min {lat[0]:.0f} ms  max {lat[-1]:.0f} ms   (goal p99 < 1000 ms)")
        print(f"  of which `kubectl create` itself (process start to exit): "
              f"p50 {statistics.median(create):.0f} ms")
        print(f"agent RSS: idle {idle / 1024:.1f} MiB, with {len(lat)} pods {busy / 1024:.1f} MiB"
              "   (goal < 15 MiB)")
        print(f"  anonymous (heap, stacks) idle {idle_parts[0] / 1024:.1f} MiB, "
              f"busy {busy_parts[0] / 1024:.1f} MiB; file-backed (binary, shared libraries) "
              f"idle {idle_parts[1] / 1024:.1f} MiB, busy {busy_parts[1] / 1024:.1f} MiB")
        # helpers alive at the busy sample (nft's session lives up to 10 s after a sync)
        print(f"  helper processes alive with {len(lat)} pods: "
              + (", ".join(f"k3c {a} {k / 1024:.1f} MiB" for a, k in helpers) or "none")
              + f"; agent + helpers {(busy + sum(k for _, k in helpers)) / 1024:.1f} MiB")
        if conmons:
            print(f"conmon RSS per container: mean {statistics.mean(conmons) / 1024:.2f} MiB "
                  f"(min {min(conmons) / 1024:.2f}, max {max(conmons) / 1024:.2f}, "
                  f"{len(conmons)} monitors)")

    def cleanup(self):
        try:
            self.kubectl("delete", "pods", "--all", "--timeout=90s")
        except Exception:  # noqa: BLE001 - best effort
            pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        subprocess.run(["ip", "netns", "del", self.ns], check=False)
        if not os.environ.get("K3C_KEEP_TEST_DIRS"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print(f"# kept {self.tmp}")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench_agent.py K3C_BIN")
    if os.geteuid() != 0:
        print("bench_agent: skipped (needs root for network namespaces and runc)")
        return
    for tool in ("kubectl", "runc", "conmon", "umoci", "skopeo", "nsenter", "ip"):
        if not shutil.which(tool):
            print(f"bench_agent: skipped ({tool} not found)")
            return
    b = Bench(os.path.abspath(sys.argv[1]))
    try:
        b.setup()
        b.run()
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
