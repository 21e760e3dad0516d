#!/usr/bin/env bash
# Runs the tests against a real Kubernetes control plane (test/callers/kubernetes):
# builds it (scripts/k8s/build-kube.sh, cached), starts etcd and kube-apiserver
# on the host's loopback (scripts/k8s/controlplane.sh), boots the VM on QEMU's
# user network (QINQ_VM_NET=user: the API server is https://10.0.2.2:PORT
# there) and stops the control plane after. Fails when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log=$(mktemp /tmp/qinq-cluster.XXXXXX.log)
dir=$(mktemp -d /tmp/qinq-k8s.XXXXXX)
trap 'scripts/k8s/controlplane.sh down "$dir"' EXIT
start=$(date +%s)
scripts/k8s/controlplane.sh up "$dir"
up=$(($(date +%s) - start))
# The images the kubelet runs, imported into containerd (no registry): qinq's
# as `make image` makes it, under the name deploy/'s kustomization gives it;
# Multus's around the binaries scripts/k8s/build-multus.sh built, where its
# manifest runs them.
scripts/k8s/build-multus.sh
IMAGE_REF=ghcr.io/qinq-cni/qinq:latest scripts/image.sh >&2
mb=/usr/src/multus-cni/bin
# multus-daemon looks itself up (user.Current) and must find root.
passwd=$(mktemp /tmp/qinq-passwd.XXXXXX)
echo 'root:x:0:0:root:/root:/sbin/nologin' >"$passwd"
(cd tools/image && CGO_ENABLED=0 go run . -o "$root/bin/multus-image.tar" -ref localhost/multus-cni:v4.2.4-thick \
	-file "$mb/multus-daemon=$root/bin/multus-daemon" -file "$mb/multus-shim=$root/bin/multus-shim" \
	-file "$mb/install_multus=$root/bin/install_multus" -file "$mb/passthru=$root/bin/multus-passthru" \
	-file "/etc/passwd=$passwd" -link /var/run=../run)
rm -f "$passwd"
# The Multus module whose manifest the tests apply (the one bin/multus-* come from).
QINQ_MULTUS_DIR=$(GOFLAGS=-mod=mod go mod download -json gopkg.in/k8snetworkplumbingwg/multus-cni.v4@v4.2.4 |
	sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
export QINQ_K8S_DIR=$dir QINQ_MULTUS_DIR QINQ_VM_NET=user
# Debian's 6.12 (bookworm-backports), the kernel matrix's newest: pods with
# hostUsers: false need idmapped tmpfs mounts (6.3). The matrix runs its
# subset on the same kernel (scripts/test-kernel-matrix.sh).
export QINQ_VM_SUITE=${QINQ_VM_SUITE-bookworm-backports}
export CNI_PATH="$root/bin" QINQ_BIN="$root/bin/qinq" QINQ_VM_TIMEOUT=${QINQ_VM_TIMEOUT:-1200}
# The kubelet, containerd and their pods: 1 GiB is not enough.
export QINQ_VM_MEM=${QINQ_VM_MEM:-3072}
export QINQ_VM_BINDS="$root:$dir${QINQ_VM_BINDS:+:$QINQ_VM_BINDS}"

echo "cluster tests: ./test/callers/kubernetes/ (inside the VM; control plane up in ${up} s, build included)"
set +e
CGO_ENABLED=0 go test -count=1 -tags kerneltest -v -timeout 25m ${QINQ_CLUSTER_RUN:+-run "$QINQ_CLUSTER_RUN"} -exec "$root/scripts/vm/run" ./test/callers/kubernetes/ 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
passed=$(grep -c '^--- PASS: ' "$log" || true)
failed=$(grep -c '^--- FAIL: ' "$log" || true)
echo
echo "cluster: $passed passed, $failed failed ($(($(date +%s) - start)) s with the control plane)"
if [ $((passed + failed)) -eq 0 ]; then
	echo "cluster tests: none ran: the control plane or the VM did not come up (log: $log)" >&2
	exit 1
fi
exit "$rc"
