#!/usr/bin/env bash
# Build the real ovs-cni plugin (github.com/k8snetworkplumbingwg/ovs-cni
# v0.39.0, cmd/plugin) into bin/ovs, for the chained-mode kernel tests.
#
# It is not a tool dependency of our go.mod: it pins older cni/plugins/netlink
# and a k8s client. So it is built as its own main module from the Go module
# proxy (scripts/build-go-module.sh). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec scripts/build-go-module.sh github.com/k8snetworkplumbingwg/ovs-cni v0.39.0 ./cmd/plugin "${1:-$PWD/bin/ovs}"
