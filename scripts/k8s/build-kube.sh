#!/usr/bin/env bash
# build-kube.sh [OUTDIR]
# The Kubernetes control plane and node the cluster tests run, from the Go
# module proxy: kube-apiserver, kube-controller-manager, kube-scheduler and
# kubelet (tools/kube, one `go build` of k8s.io/kubernetes v1.34.4) and etcd
# (tools/etcd, go.etcd.io/etcd/server/v3 v3.6.16, a module of its own: it pins
# other etcd client versions than kubernetes does). Static, CGO_ENABLED=0.
#
# Cached in OUTDIR (default ~/.cache/qinq-k8s/<key>), keyed by the two
# modules' go.mod and go.sum: a warm run costs nothing. A CI machine is always
# cold; this is the only build of these binaries it makes.
set -euo pipefail
cd "$(dirname "$0")/../.."
key=$(cat tools/kube/go.mod tools/kube/go.sum tools/etcd/go.mod tools/etcd/go.sum | sha256sum | cut -c1-16)
out=${1:-${QINQ_K8S_CACHE:-$HOME/.cache/qinq-k8s}/$key}
bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet etcd)
have=1
for b in "${bins[@]}"; do [ -x "$out/$b" ] || have=0; done
if [ "$have" = 1 ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$out.tmp"
start=$(date +%s)
echo "build-kube: building ${bins[*]} into $out (cold: about 15-25 min on 2 cores)" >&2
(cd tools/kube && CGO_ENABLED=0 GOWORK=off go build -trimpath -o "$out.tmp/" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet)
(cd tools/etcd && CGO_ENABLED=0 GOWORK=off go build -trimpath -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3)
rm -rf "$out" && mv "$out.tmp" "$out"
echo "build-kube: built in $(($(date +%s) - start)) s" >&2
echo "$out"
