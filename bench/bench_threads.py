#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_threads.py K3C_BIN - threads of an idle k3c server (issue #20).

Counts /proc/PID/task of a `k3c server` in a network namespace this script
makes: without its agent (--disable-agent) and with it (--disable-pods: the
agent's informers and loops, no containers), each idle after start-up and
again after a churn: a 20-replica Deployment created and deleted 3 times
(its pods stay Pending: no node without the agent, a cordoned one with it;
no container runs). Threads that grow with churn and stay are leaks of the
thread kind (a thread per pod, per watch, per binding kept after the work).
Prints figures and the goal (< 30); exits 0. Needs root for the namespace;
without it prints "skipped". BENCH_THREADS_DUMP=1 also prints where the
threads wait (gdb)."""
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchproc import free_ports, rss_kib, wait

GOAL = 30
CHURN_ROUNDS = 3
REPLICAS = 20





def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


# Threads that exist only while there is work (a controller's runner, a
# scheduler binder) end after 5-10 s without any: an idle count is taken
# once the count held for longer than that.
STABLE_S = 11.0


def settle(pid):
    """The thread count once it has not changed for STABLE_S (bounded)."""
    deadline = time.monotonic() + 60
    last, since = threads(pid), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < STABLE_S:
        time.sleep(0.25)
        now = threads(pid)
        if now != last:
            last, since = now, time.monotonic()
    return last


def dump(pid, what):
    """Where each thread waits, grouped by its outer frames (needs gdb)."""
    if not shutil.which("gdb"):
        return
    out = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 16"],
                         capture_output=True, text=True, timeout=120).stdout
    groups = collections.Counter()
    for t in re.split(r"\nThread \d+ ", out)[1:]:
        fns = [f for f in re.findall(r" in (\w+) \(", t)]
        groups[" <- ".join(fns[-4:-1][::-1])] += 1
    print(f"  threads {what}:")
    for k, v in groups.most_common():
        print(f"    {v:3d} {k}")


class Server:
    def __init__(self, k3c, tmp, ns, with_agent):
        self.k3c, self.tmp, self.ns = k3c, tmp, ns
        self.nsx = ["nsenter", f"--net=/run/netns/{ns}"]
        self.kubeconfig = f"{tmp}/kubeconfig.yaml"
        c, p, api = free_ports(3)
        open(f"{tmp}/empty.yaml", "w").write("# empty\n")
        args = [k3c, "server", "--data-dir", f"{tmp}/server", "--bind-address", "127.0.0.1",
                "--https-listen-port", str(api), "--write-kubeconfig", self.kubeconfig,
                "--etcd-client-port", str(c), "--etcd-peer-port", str(p), "--node-name",
                "bench-threads", "--config", f"{tmp}/empty.yaml"]
        args += ["--disable-pods"] if with_agent else ["--disable-agent"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("K3C_")}
        self.proc = subprocess.Popen(self.nsx + args, stdin=subprocess.DEVNULL,
                                     stdout=open(f"{tmp}/server.log", "w"),
                                     stderr=subprocess.STDOUT, env=env)
        wait(lambda: self.kubectl("get", "--raw", "/readyz").returncode == 0, 120, "the server")
        if with_agent:
            wait(lambda: "bench-threads" in self.kubectl("get", "nodes", "-o", "name").stdout, 60,
                 "the server's node")
            # It runs no pods: keep the churn's pods Pending (a bound pod's
            # deletion would wait for a kubelet that never confirms it).
            wait(lambda: self.kubectl("cordon", "bench-threads").returncode == 0 and self.kubectl(
                "get", "node", "bench-threads", "-o", "jsonpath={.spec.unschedulable}").stdout
                 == "true", 60, "the node cordoned")

    def kubectl(self, *args):
        if not os.path.exists(self.kubeconfig):
            return subprocess.CompletedProcess(args, 1, "", "")
        env = dict(os.environ, KUBECONFIG=self.kubeconfig)
        return subprocess.run(self.nsx + ["kubectl", "--request-timeout=20s", *args],
                              capture_output=True, text=True, env=env, timeout=60)

    def pods(self):
        r = self.kubectl("get", "pods", "--no-headers", "-o", "name")
        return len(r.stdout.split()) if r.returncode == 0 else -1

    def churn(self):
        for _ in range(CHURN_ROUNDS):
            r = self.kubectl("create", "deployment", "churn", "--image=k3c/busybox:test",
                             f"--replicas={REPLICAS}")
            if r.returncode != 0:
                raise SystemExit(f"bench_threads: create: {r.stderr}")
            wait(lambda: self.pods() >= REPLICAS, 120, f"{REPLICAS} pods")
            self.kubectl("delete", "deployment", "churn", "--wait=true")
            # Pods of a deleted Deployment go by the garbage collector.
            try:
                wait(lambda: self.pods() == 0, 180, "the pods to go")
            except SystemExit:
                print(self.kubectl("get", "deploy,rs,pods", "-o", "wide").stdout[:2000])
                raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def measure(k3c, with_agent):
    tmp = tempfile.mkdtemp(prefix="k3c-bench-threads.")
    ns = f"k3c-bthr-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    srv = None
    try:
        srv = Server(k3c, tmp, ns, with_agent)
        time.sleep(3)  # start-up work (first syncs, lease campaigns) ends
        idle = settle(srv.proc.pid)
        idle_rss = rss_kib(srv.proc.pid) / 1024
        if os.environ.get("BENCH_THREADS_DUMP"):
            dump(srv.proc.pid, "idle")
        srv.churn()
        after = settle(srv.proc.pid)
        after_rss = rss_kib(srv.proc.pid) / 1024
        if os.environ.get("BENCH_THREADS_DUMP"):
            dump(srv.proc.pid, "after the churn")
        return idle, after, idle_rss, after_rss
    finally:
        if srv:
            srv.stop()
        subprocess.run(["ip", "netns", "del", ns], check=False)
        if os.environ.get("K3C_KEEP_TEST_DIRS"):
            print(f"# kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench_threads.py K3C_BIN")
    if os.geteuid() != 0:
        print("bench_threads: skipped (needs root for the network namespace)")
        return
    if not shutil.which("kubectl"):
        print("bench_threads: skipped (kubectl not found)")
        return
    k3c = os.path.abspath(sys.argv[1])
    print(f"threads of an idle k3c server; churn: a {REPLICAS}-replica Deployment created and "
          f"deleted {CHURN_ROUNDS} times")
    print(f"{'server':28s} {'idle':>6s} {'after churn':>12s}  goal     "
          "(RSS idle / after churn, MiB)")
    worst = 0
    for with_agent in (False, True):
        idle, after, idle_rss, after_rss = measure(k3c, with_agent)
        worst = max(worst, idle, after)
        name = "with its agent (no pods)" if with_agent else "without its agent"
        print(f"{name:28s} {idle:6d} {after:12d}  < {GOAL} "
              f"{'ok' if max(idle, after) < GOAL else 'MISS':4s}  ({idle_rss:.1f} / {after_rss:.1f})")
    print(f"goal: threads in an idle server < {GOAL}: {worst} "
          f"{'ok' if worst < GOAL else 'MISS'}")


if __name__ == "__main__":
    main()
