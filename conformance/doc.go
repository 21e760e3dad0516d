// Package conformance is a black-box CNI conformance suite for the qinq
// binary. It never imports the plugin's packages: it execs bin/qinq the way a
// runtime does, through libcni for the positive flows and through a raw
// environment and stdin for the inputs libcni would refuse before the plugin
// ever ran.
//
// The cases are Go tests behind the build tag kerneltest, because they need
// root and a kernel with 8021q; scripts/test-kernel.sh runs them inside the
// QEMU VM (scripts/vm/run as go test -exec):
//
//	QINQ_KERNEL_PKGS=./conformance/ timeout 900 scripts/test-kernel.sh
//
// Every case runs in its own simulated node (a network namespace holding the
// master "eth1"), and takes a snapshot of that node's links, the containers'
// links and addresses, the VM's own links, the qinq state directory and the
// host-local IPAM store before and after, to prove that nothing changed or
// that nothing was left. TestMain ends with a line "N passed, N failed"
// counting the cases.
//
// This file carries no build tag so that the package exists for plain
// `go vet ./...` and `go build ./...`.
package conformance
