# qinq: a CNI plugin for QinQ (802.1ad) container networking.
#   make build   bin/qinq, plus what the tests and demo use: the IPAM plugins, cnitool,
#                and bin/qinq-faults (test-only: fault points armed by QINQ_FAULT)
#   make test    unit tests and the config fuzzer on the host, then the kernel tests inside a VM
#   make demo    two containers across a wire, double-tagged frames, clean host after
#   make bench   qinq vs the reference plugins in one VM run: tables, docs/bench/latest.{json,svg}
#   make bench-quick  the same with tiny counts: proves the bench works, asserts nothing about time
#   make bench-profile  the figures behind the ratios: init trace, syscalls and netlink requests per verb
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Static binaries: they run unchanged on the host and inside the VM.
export CGO_ENABLED := 0
TOOLS     := github.com/containernetworking/cni/cnitool \
             github.com/containernetworking/plugins/plugins/ipam/host-local \
             github.com/containernetworking/plugins/plugins/ipam/static

FUZZTIME  ?= 30s

.PHONY: build test unit fuzz kernel demo bench bench-quick bench-profile bench-micro vm-setup clean

build:
	$(GO) build -trimpath -ldflags "-X main.Version=$(VERSION)" -o $(BIN)/qinq ./plugins/main/qinq
	$(GO) build -trimpath -tags faultinject -o $(BIN)/qinq-faults ./plugins/main/qinq
	$(GO) build -trimpath -o $(BIN)/ $(TOOLS)

unit:
	$(GO) vet ./... && $(GO) vet -tags kerneltest ./...
	$(GO) test -count=1 ./...

# Config parsing under the fuzzer, for a bounded time (FUZZTIME).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/config

vm-setup:
	scripts/vm/setup.sh
	scripts/ovs/setup.sh

kernel: build vm-setup
	scripts/ovs/build-ovs-cni.sh
	scripts/test-kernel.sh

test: unit fuzz kernel

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
