# Thin wrapper over Meson/Ninja. `make test` and `make run` install the
# Debian packages they need first (scripts/install-deps, idempotent).
BUILD ?= build
BUILD_TEST ?= build-test
BUILD_FUZZ ?= build-fuzz
PREFIX ?= /usr/local
MESON_TEST_ARGS ?=

.PHONY: all arm64 deps test fuzz run clean-run run-server clean-run-server bench install clean format format-check deb

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dtests=false --prefix=$(PREFIX)

deps:
	scripts/install-deps

# k3c for arm64 (the edge node), cross-built against an arm64 sysroot
# (scripts/arm64-sysroot; the host's packages stay untouched): build-arm64/k3c.
arm64: deps
	scripts/build-arm64 build-arm64

# Tests build separately with ASan + UBSan.
$(BUILD_TEST)/build.ninja:
	meson setup $(BUILD_TEST) -Db_sanitize=address,undefined -Db_lundef=false

test: deps $(BUILD_TEST)/build.ninja
	ninja -C $(BUILD_TEST)
	scripts/run-tests $(BUILD_TEST) $(MESON_TEST_ARGS)

# Only the libFuzzer targets (also run by `make test`, suite 'fuzz');
# K3C_FUZZ_SECONDS per target, 20 by default.
fuzz: deps
	K3C_FUZZ_BUILD=$(abspath $(BUILD_FUZZ)) scripts/run-fuzz

# The target system on this host (root): `k3c lab up` makes three servers
# with an etcd quorum, the VIP and the agent-only nodes gpu and edge, each a
# network namespace on a bridged LAN; the sample app of examples/web.yaml
# runs in real pods across them. `make clean-run` is `k3c lab down`.
run: deps all
	scripts/run-lab $(BUILD)/k3c

clean-run:
	scripts/run-lab --stop $(BUILD)/k3c

# One server with its own agent in this host's own network namespace (the
# product as installed on one machine); `make clean-run-server` stops it and
# removes its containers, mounts, pod network namespaces and bridge.
run-server: deps all
	scripts/run-server $(BUILD)/k3c

clean-run-server:
	scripts/run-server --stop

bench: deps all
	$(BUILD)/bench/bench_store
	$(BUILD)/bench/bench_api $(BUILD)/k3c
	python3 bench/bench_agent.py $(BUILD)/k3c
	python3 bench/bench_threads.py $(BUILD)/k3c
	bench/bench_ha.sh $(BUILD)/k3c
	$(BUILD)/bench/bench_scheduler
	K3C_BIN=$(BUILD)/k3c bash bench/bench_flannel.sh vxlan
	$(BUILD)/bench/bench_proxy
	$(BUILD)/bench/bench_dns

install: all
	install -D -m 0755 $(BUILD)/k3c $(DESTDIR)$(PREFIX)/bin/k3c

# k3c_<version>_<arch>.deb from the optimised build (scripts/build-deb;
# docs/install.md): binary, units shipped disabled, k3c(8), docs.
# ARCH=arm64: the cross build (make arm64) packaged for arm64.
deb: all
ifeq ($(ARCH),arm64)
	scripts/build-arm64 build-arm64
	scripts/build-deb --binary build-arm64/k3c --arch arm64 --shlibs-from $(BUILD)/k3c --out .
else
	scripts/build-deb --binary $(BUILD)/k3c --out .
endif

format:
	clang-format -i $$(find src tests bench -name '*.[ch]')

format-check:
	scripts/check-format

clean:
	rm -rf $(BUILD) $(BUILD_TEST) $(BUILD_FUZZ)
