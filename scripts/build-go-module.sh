#!/usr/bin/env bash
# build-go-module.sh MODULE VERSION PACKAGE OUT
# Builds PACKAGE of MODULE@VERSION, fetched from the Go module proxy, into OUT
# as its own main module (its go.mod, go.sum and replace directives) in a
# temporary copy: for the real third-party plugins the tests run (ovs-cni,
# Multus), which pin their own dependency versions and so cannot be tool
# dependencies of our go.mod. Idempotent: skipped when OUT is already that
# version (OUT.version records it).
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 MODULE VERSION PACKAGE OUT" >&2; exit 2; }
mod=$1 version=$2 pkg=$3 out=$4
name=$(basename "$out")
stamp=$out.version

if [ -x "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
	exit 0
fi
dir=$(GOFLAGS=-mod=mod go mod download -json "$mod@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "build-$name: go mod download $mod@$version failed" >&2; exit 1; }
tmp=$(mktemp -d "/tmp/$name-build.XXXXXX")
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
cp -r "$dir"/. "$tmp"
chmod -R u+w "$tmp"
# The module zip may keep vendor/modules.txt without the vendored code.
rm -rf "$tmp/vendor"
mkdir -p "$(dirname "$out")"
echo "build-$name: building $mod@$version $pkg -> $out" >&2
# No -trimpath: then packages compiled earlier by our own tests (Multus pins
# the same k8s.io/api and apimachinery as our go.mod) come from the build
# cache; on a clean machine that saves about 100 s. These binaries are only
# run by the tests.
(cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off go build -o "$out" "$pkg")
echo "$version" >"$stamp"
