#!/usr/bin/env bash
# Runs the tests against a real Kubernetes cluster (test/callers/kubernetes):
# builds it (scripts/k8s/build-kube.sh, cached), starts etcd, kube-apiserver,
# kube-scheduler and kube-controller-manager on the host's loopback
# (scripts/k8s/controlplane.sh), builds the images and whereabouts the tests
# use, boots the VM (Debian's 6.12) on QEMU's user network (QINQ_VM_NET=user:
# the API server is https://10.0.2.2:PORT there), where the tests start the
# kubelet and containerd, and stops the control plane after. Fails when no
# test ran.
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
# The attacker pod's image (the netns-id attack from inside the cluster):
# pause is its process, qinq-nsattack what the test execs in it.
(cd tools/image && CGO_ENABLED=0 go run . -o "$root/bin/nsattack-image.tar" -ref localhost/qinq-nsattack:test \
	-file "/pause=$root/bin/pause" -file "/qinq-nsattack=$root/bin/qinq-nsattack")
# whereabouts, the IPAM of deploy/networks' Deployment: the test does what its
# install script does (binary, CRDs, RBAC, kubeconfig); its DaemonSet runs that
# script in an image with a shell, which nothing here builds.
scripts/build-go-module.sh github.com/k8snetworkplumbingwg/whereabouts v0.9.2 ./cmd "$root/bin/whereabouts"
QINQ_WHEREABOUTS_DIR=$(GOFLAGS=-mod=mod go mod download -json github.com/k8snetworkplumbingwg/whereabouts@v0.9.2 |
	sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
# The Multus module whose manifest the tests apply (the one bin/multus-* come from).
QINQ_MULTUS_DIR=$(GOFLAGS=-mod=mod go mod download -json gopkg.in/k8snetworkplumbingwg/multus-cni.v4@v4.2.4 |
	sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
export QINQ_K8S_DIR=$dir QINQ_MULTUS_DIR QINQ_WHEREABOUTS_DIR QINQ_VM_NET=user
# Debian's 6.12 (bookworm-backports), the kernel matrix's newest: pods with
# hostUsers: false need idmapped tmpfs mounts (6.3). The matrix runs its
# subset on the same kernel (scripts/test-kernel-matrix.sh).
export QINQ_VM_SUITE=${QINQ_VM_SUITE-bookworm-backports}
export CNI_PATH="$root/bin" QINQ_BIN="$root/bin/qinq" QINQ_VM_TIMEOUT=${QINQ_VM_TIMEOUT:-1800}
# The kubelet, containerd and their pods: 1 GiB is not enough.
export QINQ_VM_MEM=${QINQ_VM_MEM:-3072}
# The node toggles the scheduler's static keys (CFS quotas) while both vCPUs
# run the patched code: see scripts/vm/run.
export QINQ_VM_TCG_THREAD=${QINQ_VM_TCG_THREAD:-single}
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
