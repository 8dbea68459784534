# SPDX-License-Identifier: Apache-2.0
"""benchproc.py - what the Python benchmarks share (bench_agent.py,
bench_threads.py): free loopback ports, a bounded wait, and a process's
resident memory from /proc."""
import os
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_parts_kib(pid):
    """(anonymous, file-backed) resident KiB: heap and stacks vs. the pages
    of the binary and shared libraries (shared with other processes)."""
    parts = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                parts[line.split(":")[0]] = int(line.split()[1])
    return parts.get("RssAnon", 0), parts.get("RssFile", 0) + parts.get("RssShmem", 0)


def helper_rss_kib(pid):
    """[(argv, KiB)] of pid's children that are k3c helper processes
    (`k3c __nft`, `k3c __image-archive`): memory the process uses outside
    its own RSS while they run."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/cmdline") as f:
                argv = f.read().split("\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and len(argv) > 1 and argv[1].startswith("__"):
            out.append((" ".join(a for a in argv[1:] if a), rss_kib(int(d))))
    return out


def top_mappings(pid, n):
    """The n mappings with the most resident KiB, summed per file."""
    per, name = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if not head[0].endswith(":") or head[0] == "VmFlags:":
                if not head[0].endswith(":"):
                    name = head[5] if len(head) > 5 else "[anon]"
                continue
            if head[0] == "Rss:":
                per[name] = per.get(name, 0) + int(head[1])
    return sorted(per.items(), key=lambda kv: -kv[1])[:n]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait(pred, secs, what, step=0.05):
    """Polls pred every step seconds until it is true; exits the benchmark
    (naming it and what) after secs."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(step)
    prog = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    raise SystemExit(f"{prog}: timed out waiting for {what}")
