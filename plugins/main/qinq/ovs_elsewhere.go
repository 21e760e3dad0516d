//go:build !ovs

package main

// bin/qinq does not link the Open vSwitch backend: libovsdb's client brings
// prometheus, protobuf and yaml, about 40 packages whose init would cost
// every kernel-mode ADD and DEL. An OVS-mode invocation is handed over to
// bin/qinq-ovs beside it (see handover.go).
var ovsBackend newBackendFunc
