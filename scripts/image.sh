#!/usr/bin/env bash
# make image: builds bin/qinq-image.tar, an OCI image archive made from
# scratch without any container daemon (tools/image, go-containerregistry),
# holding the static binaries qinq-install installs and qinq-install as the
# entrypoint; then checks the archive's config and layer (tools/image's
# TestArchive reads it back by hand).
#   podman load -i bin/qinq-image.tar      docker load -i bin/qinq-image.tar (Docker 25+)
#   ctr -n k8s.io images import bin/qinq-image.tar   (containerd, e.g. on a k3s node)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
version=${VERSION:-dev}
ref=${IMAGE_REF:-ghcr.io/qinq-cni/qinq:$version}
out=$root/bin/qinq-image.tar
bins=()
# The list of binaries is the installer's own (install.Binaries).
for b in $(bin/qinq-install -list); do
	[ -x "bin/$b" ] || { echo "image: bin/$b is missing (make build builds it)" >&2; exit 1; }
	bins+=("$root/bin/$b")
done
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
cd tools/image
CGO_ENABLED=0 go run . -o "$out" -installer "$root/bin/qinq-install" -ref "$ref" -version "$version" "${bins[@]}"
QINQ_IMAGE=$out QINQ_IMAGE_REF=$ref QINQ_IMAGE_VERSION=$version QINQ_IMAGE_BINARIES="${bins[*]} " \
	go test -count=1 -run '^TestArchive$' .
echo "image: $out ($ref, $(du -h "$out" | cut -f1))"
