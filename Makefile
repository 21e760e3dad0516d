# qinq: a CNI plugin for QinQ (802.1ad) container networking.
#   make build   bin/qinq, plus what the tests and demo use: the IPAM plugins, cnitool,
#                portmap (the ipamTypes attack test runs it as a NAD would name it),
#                bin/qinq-faults (test-only: fault points armed by QINQ_FAULT) and bin/qinq-nsattack
#                (test-only: a pod's process attacking the namespaces the kernel gives it ids for)
#   make test    lint, unit tests and the config fuzzer on the host, then the kernel tests inside a VM
#                (all of them on Debian 12's 6.1; the end-to-end and attack tests on 5.10 and 6.12:
#                scripts/test-kernel-matrix.sh), the tests against a real Kubernetes control plane
#                (scripts/test-cluster.sh), then make bench-quick (the bench still runs; no figure is judged)
#   make lint    go vet plus bin/qinq-lint (errptr: no typed-nil errors; nilness; staticcheck SA*)
#   make demo    two containers across a wire, double-tagged frames, clean host after
#   make bench   qinq vs the reference plugins in one VM run: tables, docs/bench/latest.{json,svg}
#   make bench-quick  the same with tiny counts: proves the bench works, asserts nothing about time
#   make bench-profile  the figures behind the ratios: init trace; per container link and its reference, the netlink requests, namespace switches and files written per verb; growth
#   make image   bin/qinq-image.tar: an OCI image archive (no daemon) of the binaries and
#                bin/qinq-install, its entrypoint; deploy/ installs it on every node
#   make manifests  the deploy/ manifests and README/docs examples, decoded strictly and run through
#                libcni 1.1.2 (tools/libcni112, its own module) and the current libcni (make unit runs it too)
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Static binaries: they run unchanged on the host and inside the VM.
export CGO_ENABLED := 0
TOOLS     := github.com/containernetworking/cni/cnitool \
             github.com/containernetworking/plugins/plugins/ipam/host-local \
             github.com/containernetworking/plugins/plugins/ipam/static \
             github.com/containernetworking/plugins/plugins/main/loopback \
             github.com/containernetworking/plugins/plugins/meta/portmap

FUZZTIME  ?= 30s
# The releases whose pods the upgrade tests make (bin/qinq-<rev>): pods
# they made must pass CHECK and be deleted by this build. PREV_RELEASE is the
# last one before chain links moved to qinq's namespace (its chains are in
# the node's); FORMAT1_RELEASE the last one writing format 1 records.
# PREV_RELEASE is also the last with FNV-32 link names: the links and bridges
# it made must be found and joined under those names.
PREV_RELEASE := fe54dd9
FORMAT1_RELEASE := 86e0223

.PHONY: build test lint unit fuzz kernel demo bench bench-quick bench-profile bench-micro vm-setup clean image manifests

# The plugin lives for one verb: memory the kernel backs with a transparent huge page
# ("always") costs a 2 MiB zeroing on first touch. -R aligns the segments to 2 MiB so
# .bss starts on small pages; disablethp (a runtime GODEBUG //go:debug does not take)
# keeps the heap on them. Why and what it saves: docs/performance.md#start-up.
PLUGIN_LDFLAGS = -R=0x200000 -X=runtime.godebugDefault=disablethp=1 -X main.Version=$(VERSION)

# bin/qinq is the plugin users name; it hands OVS-mode invocations to bin/qinq-ovs
# beside it (the same plugin with the OVS backend linked), so the kernel path never
# pays for libovsdb's dependencies.
build:
	$(GO) build -trimpath -ldflags "$(PLUGIN_LDFLAGS)" -o $(BIN)/qinq ./plugins/main/qinq
	$(GO) build -trimpath -ldflags "$(PLUGIN_LDFLAGS)" -tags ovs -o $(BIN)/qinq-ovs ./plugins/main/qinq
	$(GO) build -trimpath -tags faultinject,ovs -o $(BIN)/qinq-faults ./plugins/main/qinq
	$(GO) build -trimpath -o $(BIN)/qinq-install ./cmd/qinq-install
	$(GO) build -trimpath -o $(BIN)/qinq-admin ./cmd/qinq-admin
	$(GO) build -trimpath -o $(BIN)/qinq-nsattack ./internal/testenv/nsattack
	$(GO) build -trimpath -o $(BIN)/ $(TOOLS)
	scripts/build-release.sh $(PREV_RELEASE) $(BIN)/qinq-$(PREV_RELEASE)
	scripts/build-release.sh $(FORMAT1_RELEASE) $(BIN)/qinq-$(FORMAT1_RELEASE)

# The vet tool is its own module (tools/lint): its dependencies never reach bin/qinq.
lint:
	cd tools/lint && $(GO) build -trimpath -o ../../$(BIN)/qinq-lint . && $(GO) test -count=1 ./...
	$(GO) vet ./... && $(GO) vet -tags kerneltest ./... && $(GO) vet -tags ovs,faultinject ./...
	$(GO) vet -vettool=$(BIN)/qinq-lint ./... && $(GO) vet -vettool=$(BIN)/qinq-lint -tags kerneltest ./...
	$(GO) vet -vettool=$(BIN)/qinq-lint -tags ovs,faultinject ./...
	cd tools/image && $(GO) vet ./...
	cd tools/libcni112 && $(GO) vet ./...

unit:
	$(GO) test -count=1 ./...
	cd tools/image && $(GO) test -count=1 ./...

manifests:
	$(GO) test -count=1 -v ./internal/manifests

image: build
	VERSION=$(VERSION) scripts/image.sh

# Config parsing, and what DEL, CHECK, GC and STATUS read (CNI_* variables, the GC
# list, the namespace, the node policy, logFile, ovsdbSocket), under the fuzzer,
# each for a bounded time (FUZZTIME).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/config
	$(GO) test -run '^$$' -fuzz '^FuzzVerbInputs$$' -fuzztime $(FUZZTIME) ./plugins/main/qinq

vm-setup:
	scripts/vm/setup.sh
	scripts/ovs/setup.sh

kernel: build vm-setup
	scripts/ovs/build-ovs-cni.sh
	scripts/k8s/build-multus.sh
	scripts/runtime/setup.sh
	scripts/test-kernel.sh
	scripts/test-kernel-matrix.sh
	scripts/test-cluster.sh

test: lint unit fuzz kernel bench-quick

demo: build vm-setup
	scripts/demo.sh

bench: build
	scripts/bench/run.sh

bench-quick: build
	QINQ_BENCH_QUICK=1 scripts/bench/run.sh

bench-profile: build
	scripts/bench/run.sh profile

# Go micro-benchmarks of the pure code (parse and plan), on the host.
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

clean:
	rm -rf $(BIN)
