#!/usr/bin/env bash
# Build the real ovs-cni plugin (github.com/k8snetworkplumbingwg/ovs-cni
# v0.39.0, cmd/plugin) into bin/ovs, for the chained-mode kernel tests.
#
# It is not a tool dependency of our go.mod: it pins older cni/plugins/netlink
# and a k8s client. So its module is fetched from the Go module proxy and
# built as its own main module (its go.mod, go.sum and replace directives) in
# a temporary copy. Idempotent: skipped when bin/ovs is already that version.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=v0.39.0
mod=github.com/k8snetworkplumbingwg/ovs-cni
out=${1:-$PWD/bin/ovs}
stamp=$out.version

if [ -x "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
	exit 0
fi
dir=$(GOFLAGS=-mod=mod go mod download -json "$mod@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "build-ovs-cni: go mod download $mod@$version failed" >&2; exit 1; }
tmp=$(mktemp -d /tmp/ovs-cni-build.XXXXXX)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
cp -r "$dir"/. "$tmp"
chmod -R u+w "$tmp"
# The module zip keeps vendor/modules.txt but not the vendored code.
rm -rf "$tmp/vendor"
mkdir -p "$(dirname "$out")"
echo "build-ovs-cni: building $mod@$version cmd/plugin -> $out" >&2
(cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off go build -trimpath -o "$out" ./cmd/plugin)
echo "$version" >"$stamp"
