#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""test_plugin.py - a device plugin for the e2e tests (issue #18), written
with the real gRPC library (python3-grpcio, C-core) rather than k3c's own
code, so that it checks the kubelet against an independent implementation
of the protocol, as NVIDIA's and Intel's Go plugins are.

It serves the DevicePlugin service on <dir>/<socket>, registers
<resource> with the kubelet on <dir>/kubelet.sock (again whenever
kubelet.sock is made anew, as upstream plugins watch for), advertises
devices dev-0..dev-N-1 and reports dev-0 Unhealthy while the file
--unhealthy-file exists. Allocate answers with an env, a read-only mount,
a device node, an annotation and the --cdi-device names; GetPreferredAllocation prefers the
highest-numbered devices; PreStartContainer is asked for and logged.
Every call is logged as one line to --log.

Messages come from src/deviceplugin/api.proto, compiled with protoc at
start into a temporary directory.
"""
import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "src", "deviceplugin")


def load_api():
    out = tempfile.mkdtemp(prefix="k3c-dp-proto-")
    subprocess.run(["protoc", "--python_out=" + out, "--proto_path=" + PROTO_DIR,
                    os.path.join(PROTO_DIR, "api.proto")], check=True)
    sys.path.insert(0, out)
    try:
        return importlib.import_module("api_pb2")
    finally:
        sys.path.remove(out)
        shutil.rmtree(out, ignore_errors=True)  # the module is loaded


class Plugin:
    def __init__(self, args, api):
        self.args = args
        self.api = api
        self.changed = threading.Condition()
        self.version = 0
        self.stopping = False
        self.log_lock = threading.Lock()

    def log(self, line):
        with self.log_lock, open(self.args.log, "a") as f:
            f.write(line + "\n")

    def unhealthy(self):
        return self.args.unhealthy_file and os.path.exists(self.args.unhealthy_file)

    def devices(self):
        bad = self.unhealthy()
        return self.api.ListAndWatchResponse(devices=[
            self.api.Device(ID="dev-%d" % i,
                            health="Unhealthy" if bad and i == 0 else "Healthy")
            for i in range(self.args.devices)])

    # ---- the DevicePlugin service ----
    def get_options(self, request, context):
        return self.api.DevicePluginOptions(pre_start_required=True,
                                            get_preferred_allocation_available=True)

    def list_and_watch(self, request, context):
        self.log("ListAndWatch")
        last = None
        while context.is_active() and not self.stopping:
            cur = self.unhealthy()
            if cur != last:
                last = cur
                resp = self.devices()
                self.log("ListAndWatch send %s" % " ".join(
                    "%s=%s" % (d.ID, d.health) for d in resp.devices))
                yield resp
            time.sleep(0.2)

    def get_preferred(self, request, context):
        out = self.api.PreferredAllocationResponse()
        for req in request.container_requests:
            avail = sorted(req.available_deviceIDs, key=lambda d: int(d.split("-")[1]),
                           reverse=True)
            pick = list(req.must_include_deviceIDs)
            pick += [d for d in avail if d not in pick][:req.allocation_size - len(pick)]
            self.log("GetPreferredAllocation available=%s size=%d -> %s" % (
                ",".join(req.available_deviceIDs), req.allocation_size, ",".join(pick)))
            out.container_responses.add(deviceIDs=pick)
        return out

    def allocate(self, request, context):
        out = self.api.AllocateResponse()
        for req in request.container_requests:
            ids = ",".join(req.devices_ids)
            self.log("Allocate %s" % ids)
            r = out.container_responses.add()
            r.envs["FOO_DEVICES"] = ids
            r.annotations["example.com/foo.devices"] = ids
            r.mounts.add(container_path="/var/run/foo", host_path=self.args.mount_src,
                         read_only=True)
            r.devices.add(container_path="/dev/foo0", host_path=self.args.dev_node,
                          permissions="rw")
            for name in self.args.cdi_device or []:
                r.cdi_devices.add(name=name)
        return out

    def pre_start(self, request, context):
        self.log("PreStartContainer %s" % ",".join(request.devices_ids))
        return self.api.PreStartContainerResponse()

    def handler(self):
        api = self.api
        u = grpc.unary_unary_rpc_method_handler
        return grpc.method_handlers_generic_handler("v1beta1.DevicePlugin", {
            "GetDevicePluginOptions": u(self.get_options, api.Empty.FromString,
                                        api.DevicePluginOptions.SerializeToString),
            "ListAndWatch": grpc.unary_stream_rpc_method_handler(
                self.list_and_watch, api.Empty.FromString,
                api.ListAndWatchResponse.SerializeToString),
            "GetPreferredAllocation": u(self.get_preferred,
                                        api.PreferredAllocationRequest.FromString,
                                        api.PreferredAllocationResponse.SerializeToString),
            "Allocate": u(self.allocate, api.AllocateRequest.FromString,
                          api.AllocateResponse.SerializeToString),
            "PreStartContainer": u(self.pre_start, api.PreStartContainerRequest.FromString,
                                   api.PreStartContainerResponse.SerializeToString),
        })

    # ---- registration ----
    def register(self):
        kubelet = os.path.join(self.args.dir, "kubelet.sock")
        with grpc.insecure_channel("unix://" + kubelet) as ch:
            call = ch.unary_unary("/v1beta1.Registration/Register",
                                  request_serializer=self.api.RegisterRequest.SerializeToString,
                                  response_deserializer=self.api.Empty.FromString)
            call(self.api.RegisterRequest(
                version=self.args.version, endpoint=self.args.socket,
                resource_name=self.args.resource,
                options=self.api.DevicePluginOptions(
                    pre_start_required=True, get_preferred_allocation_available=True)),
                timeout=10)
        self.log("Registered %s" % self.args.resource)


def sock_id(path):
    try:
        st = os.stat(path)
        return (st.st_ino, st.st_ctime_ns)
    except FileNotFoundError:
        return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--socket", default="k3c-test-foo.sock")
    p.add_argument("--resource", default="example.com/foo")
    p.add_argument("--version", default="v1beta1")
    p.add_argument("--devices", type=int, default=3)
    p.add_argument("--unhealthy-file")
    p.add_argument("--mount-src", required=True)
    p.add_argument("--dev-node", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--cdi-device", action="append",
                   help="a CDI device name to return from Allocate (repeatable)")
    p.add_argument("--register-once", action="store_true",
                   help="register, print the outcome and exit (bad registrations)")
    args = p.parse_args()
    api = load_api()
    plugin = Plugin(args, api)
    if args.register_once:
        try:
            plugin.register()
            print("registered")
        except grpc.RpcError as e:
            print("refused: %s: %s" % (e.code().name, e.details()))
        return 0

    sock = os.path.join(args.dir, args.socket)
    if os.path.exists(sock):
        os.unlink(sock)
    server = grpc.server(__import__("concurrent.futures").futures.ThreadPoolExecutor(8))
    server.add_generic_rpc_handlers((plugin.handler(),))
    server.add_insecure_port("unix://" + sock)
    server.start()
    kubelet = os.path.join(args.dir, "kubelet.sock")
    registered = None
    # Register now and again whenever kubelet.sock is made anew; bounded by
    # the test killing the plugin.
    while True:
        cur = sock_id(kubelet)
        if cur is not None and cur != registered:
            try:
                plugin.register()
                registered = cur
            except grpc.RpcError as e:
                plugin.log("Register failed: %s" % e)
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
