#!/usr/bin/env bash
# Build the real Multus thin plugin (gopkg.in/k8snetworkplumbingwg/multus-cni.v4
# v4.2.4, cmd/multus) into bin/multus, for the Multus kernel test
# (test/multus/). v4.2.4 is the newest v4.2 release the Go module proxy serves.
#
# Not a tool dependency of our go.mod: it pins its own k8s client, cni and
# plugins versions. So its module is fetched from the Go module proxy and built
# as its own main module (its go.mod and go.sum) in a temporary copy, as
# scripts/ovs/build-ovs-cni.sh does for ovs-cni. Idempotent: skipped when
# bin/multus is already that version.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=v4.2.4
mod=gopkg.in/k8snetworkplumbingwg/multus-cni.v4
out=${1:-$PWD/bin/multus}
stamp=$out.version

if [ -x "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
	exit 0
fi
dir=$(GOFLAGS=-mod=mod go mod download -json "$mod@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "build-multus: go mod download $mod@$version failed" >&2; exit 1; }
tmp=$(mktemp -d /tmp/multus-build.XXXXXX)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
cp -r "$dir"/. "$tmp"
chmod -R u+w "$tmp"
# The module zip may keep vendor/modules.txt without the vendored code.
rm -rf "$tmp/vendor"
mkdir -p "$(dirname "$out")"
echo "build-multus: building $mod@$version cmd/multus -> $out" >&2
(cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off go build -trimpath -o "$out" ./cmd/multus)
echo "$version" >"$stamp"
