#!/usr/bin/env bash
# Build the real Multus (gopkg.in/k8snetworkplumbingwg/multus-cni.v4 v4.2.4)
# into bin/: the thin plugin (cmd/multus) for test/callers/multus, and the
# thick plugin's daemon, shim, installer and passthru plugin (cmd/multus-daemon,
# cmd/multus-shim, cmd/install_multus, cmd/passthru-cni as bin/multus-passthru)
# for test/callers/kubernetes, whose Multus image (scripts/test-cluster.sh) holds them. v4.2.4 is the newest v4.2 release the Go module
# proxy serves (v4.2.5 and later are refused by it).
#
# Not a tool dependency of our go.mod: it pins its own k8s client, cni and
# plugins versions. So it is built as its own main module from the Go module
# proxy (scripts/build-go-module.sh), as ovs-cni is. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
mod=gopkg.in/k8snetworkplumbingwg/multus-cni.v4 version=v4.2.4
for cmd in multus multus-daemon multus-shim install_multus; do
	scripts/build-go-module.sh "$mod" "$version" "./cmd/$cmd" "$PWD/bin/$cmd"
done
scripts/build-go-module.sh "$mod" "$version" ./cmd/passthru-cni "$PWD/bin/multus-passthru"
