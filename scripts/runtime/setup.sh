#!/usr/bin/env bash
# Install what the container-runtime kernel tests (test/callers/runtime) need on the
# host, whose / is the test VM's read-only lower layer: Debian bookworm's
# containerd (1.6.20), runc (1.1.5) and podman (4.3.1) with apt (their
# daemons are never started on the host: scripts/lib/apt-install.sh), crictl
# v1.34.0 built once from the Go module proxy into bin/crictl, the
# reference ptp plugin into bin/ptp, and the
# sandbox image registry.k8s.io/pause:3.6 as an OCI archive in
# bin/pause-image.tar (tools/image around the static bin/pause, built from
# tools/image/pause). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
say() { echo "runtime-setup: $*" >&2; }
die() { echo "runtime-setup: $*" >&2; exit 1; }

packages=(containerd runc podman)
missing=()
for p in "${packages[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "must run as root (apt-get install ${missing[*]})"
	# shellcheck source=../lib/apt-install.sh
	. scripts/lib/apt-install.sh
	apt_install_no_start runtime-setup "${missing[@]}"
	# A systemd host would enable containerd and podman's socket and timers:
	# the host must not run them. (podman also ships
	# /etc/cni/net.d/87-podman-bridge.conflist; the tests never read
	# /etc/cni/net.d: every runtime gets a directory of the test's.)
	if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
		systemctl disable --now containerd podman.socket podman.service podman-restart.service \
			podman-auto-update.timer >/dev/null 2>&1 || true
	fi
	for p in "${packages[@]}"; do
		say "$p $(dpkg-query -W -f='${Version}' "$p") installed"
	done
fi

scripts/build-go-module.sh sigs.k8s.io/cri-tools v1.34.0 ./cmd/crictl "$root/bin/crictl"
# The reference ptp plugin (go.mod's plugins version): the cluster network
# Multus delegates eth0 to under containerd (test/callers/multus), which wants an IP.
CGO_ENABLED=0 go build -trimpath -o bin/ptp github.com/containernetworking/plugins/plugins/main/ptp

# The pause image: rebuilt when the pause source or the image tool changes.
key=$(cat tools/image/build.go tools/image/main.go tools/image/pause/*.go tools/image/go.sum | sha256sum | cut -c1-16)
if [ "$(cat bin/pause-image.tar.key 2>/dev/null)" != "$key" ] || [ ! -f bin/pause-image.tar ]; then
	say "building bin/pause-image.tar (registry.k8s.io/pause:3.6, tools/image)"
	(cd tools/image && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$root/bin/pause" ./pause &&
		SOURCE_DATE_EPOCH=0 CGO_ENABLED=0 go run . -pause -o "$root/bin/pause-image.tar" \
			-ref registry.k8s.io/pause:3.6 "$root/bin/pause")
	echo "$key" >bin/pause-image.tar.key
fi
