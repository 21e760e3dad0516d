// Package conformance is a black-box CNI conformance suite for the qinq
// binary. It never imports the plugin's packages (pkg/...): it execs bin/qinq
// the way a runtime does, through libcni for the positive flows and through a
// raw environment and stdin for the inputs libcni would refuse before the
// plugin ever ran. Its test bed (nodes, containers, running the binary,
// snapshots, Open vSwitch) is internal/testenv, which the plugin's own kernel
// tests share and which imports none of the plugin's packages either.
//
// The cases are Go tests behind the build tag kerneltest, because they need
// root and a kernel with 8021q and openvswitch; scripts/test-kernel.sh runs
// them inside the QEMU VM (scripts/vm/run as go test -exec):
//
//	QINQ_KERNEL_PKGS=./conformance/ timeout 900 scripts/test-kernel.sh
//
// Every case runs in its own simulated node (a network namespace holding the
// master "eth1"), and takes a snapshot of that node's links, the containers'
// links and addresses, the VM's own links, the qinq state directory and the
// host-local IPAM store before and after, to prove that nothing changed or
// that nothing was left. The OVS cases (TestOVS) start Open vSwitch in the
// suite's VM, run the binary in the VM's own namespace (where OVS ports must
// be) and add the ports of their bridge to the snapshot. TestMain ends with a
// line "N passed, N failed" counting the cases.
//
// This file carries no build tag so that the package exists for plain
// `go vet ./...` and `go build ./...`.
package conformance
