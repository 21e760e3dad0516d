#!/usr/bin/env bash
# Build the real Multus thin plugin (gopkg.in/k8snetworkplumbingwg/multus-cni.v4
# v4.2.4, cmd/multus) into bin/multus, for the Multus kernel test
# (test/callers/multus/). v4.2.4 is the newest v4.2 release the Go module proxy serves
# (v4.2.5 and later are refused by it).
#
# Not a tool dependency of our go.mod: it pins its own k8s client, cni and
# plugins versions. So it is built as its own main module from the Go module
# proxy (scripts/build-go-module.sh), as ovs-cni is. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec scripts/build-go-module.sh gopkg.in/k8snetworkplumbingwg/multus-cni.v4 v4.2.4 ./cmd/multus "${1:-$PWD/bin/multus}"
