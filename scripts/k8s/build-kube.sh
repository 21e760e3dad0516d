#!/usr/bin/env bash
# build-kube.sh [OUTDIR]
# The Kubernetes control plane and node the cluster tests run, from the Go
# module proxy, one module each, static (CGO_ENABLED=0) unless said:
#   tools/kube        kube-apiserver, kube-controller-manager, kube-scheduler
#                     and kubelet: one `go build` of k8s.io/kubernetes v1.34.4
#   tools/etcd        etcd v3.6.16 (it pins other etcd client versions than
#                     kubernetes does)
#   tools/containerd  containerd, containerd-shim-runc-v2 and ctr v2.2.9
#   tools/runc        runc v1.3.6, the runc containerd 2.2 is tested with (cgo
#                     and seccomp: Debian's libseccomp-dev, installed if missing)
# containerd 2 and runc 1.2 or later are what user-namespaced pods (hostUsers:
# false) need; Debian bookworm has containerd 1.6 and runc 1.1.
#
# Each module's binaries are cached in ~/.cache/qinq-k8s/<module>-<hash of its
# go.mod and go.sum> (QINQ_K8S_CACHE): a warm run costs nothing, and a change
# to one module rebuilds that one. A CI machine is always cold; this is the
# only build of these binaries it makes. Prints OUTDIR (default
# ~/.cache/qinq-k8s/<hash of all>), a directory with every binary in it.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${QINQ_K8S_CACHE:-$HOME/.cache/qinq-k8s}
mods=(kube etcd containerd runc)
declare -A bins=(
	[kube]="kube-apiserver kube-controller-manager kube-scheduler kubelet"
	[etcd]=etcd
	[containerd]="containerd containerd-shim-runc-v2 ctr"
	[runc]=runc
)
declare -A pkgs=(
	[kube]="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet"
	[etcd]=go.etcd.io/etcd/server/v3
	[containerd]="github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr"
	[runc]=github.com/opencontainers/runc
)
modkey() { cat "tools/$1/go.mod" "tools/$1/go.sum" | sha256sum | cut -c1-16; }

build() { # build MODULE DIR
	local m=$1 dir=$2 start
	start=$(date +%s)
	echo "build-kube: building ${bins[$m]} into $dir" >&2
	rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
	local out="$dir.tmp/"
	[ "$m" = etcd ] && out="$dir.tmp/etcd"
	if [ "$m" = runc ]; then
		if ! dpkg-query -W -f='${db:Status-Status}' libseccomp-dev 2>/dev/null | grep -qx installed; then
			[ "$(id -u)" = 0 ] || { echo "build-kube: runc needs libseccomp-dev: run as root" >&2; exit 1; }
			# shellcheck source=../lib/apt-install.sh
			(. scripts/lib/apt-install.sh && apt_install_no_start build-kube libseccomp-dev)
		fi
		(cd tools/runc && CGO_ENABLED=1 GOWORK=off go build -trimpath -tags seccomp -o "$out" ${pkgs[$m]})
	else
		# shellcheck disable=SC2086 # the packages are words
		(cd "tools/$m" && CGO_ENABLED=0 GOWORK=off go build -trimpath -o "$out" ${pkgs[$m]})
	fi
	rm -rf "$dir" && mv "$dir.tmp" "$dir"
	echo "build-kube: $m built in $(($(date +%s) - start)) s" >&2
}

all=$(for m in "${mods[@]}"; do modkey "$m"; done | sha256sum | cut -c1-16)
outdir=${1:-$cache/$all}
mkdir -p "$outdir"
for m in "${mods[@]}"; do
	dir=$cache/$m-$(modkey "$m")
	for b in ${bins[$m]}; do
		[ -x "$dir/$b" ] || { build "$m" "$dir"; break; }
	done
	for b in ${bins[$m]}; do ln -sfn "$dir/$b" "$outdir/$b"; done
done
echo "$outdir"
