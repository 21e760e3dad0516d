#!/usr/bin/env bash
# controlplane.sh up DIR | down DIR
# The test cluster's control plane, run natively on the build machine (not in
# the VM: under TCG the API server alone would take minutes to start and a
# core to run): etcd, kube-apiserver, kube-scheduler and
# kube-controller-manager from scripts/k8s/build-kube.sh, on the host's
# loopback. The VM reaches it through QEMU's user network as
# https://10.0.2.2:PORT (scripts/vm/run with QINQ_VM_NET=user).
#
# DIR receives the keys (internal/testenv/kubepki), tokens.csv, the logs and
# what the VM's tests read: server (the URL as the VM sees it), ca.crt, one
# bearer token per identity (admin.token: system:masters; multus.token: the
# ServiceAccount kube-system/multus of Multus's own manifest, whose RBAC the
# test applies), the node's client certificate (kubelet.crt, kubelet.key:
# system:node:qinq-vm, authorized by the Node authorizer) and bin (where the
# kubelet binary is). `down` stops what `up` started and removes DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 2 ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
verb=$1 dir=$2
etcd_port=${QINQ_K8S_ETCD_PORT:-23790}
api_port=${QINQ_K8S_API_PORT:-16443}

down() {
	for p in scheduler controller-manager apiserver etcd; do
		[ -f "$dir/$p.pid" ] || continue
		kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
	done
	for p in scheduler controller-manager apiserver etcd; do
		[ -f "$dir/$p.pid" ] || continue
		for _ in $(seq 50); do kill -0 "$(cat "$dir/$p.pid")" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$(cat "$dir/$p.pid")" 2>/dev/null || true
	done
	rm -rf "$dir"
}

case $verb in
down) down; exit 0 ;;
up) ;;
*) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac

bin=$(scripts/k8s/build-kube.sh)
mkdir -p "$dir"
dir=$(realpath "$dir")
go run ./internal/testenv/kubepki -dir "$dir" -client kubelet=system:node:qinq-vm/system:nodes -client front-proxy=front-proxy
command -v curl >/dev/null || { . scripts/lib/apt-install.sh; apt_install_no_start controlplane curl; }
for id in admin multus; do head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/$id.token"; done
{
	echo "$(cat "$dir/admin.token"),admin,admin,system:masters"
	echo "$(cat "$dir/multus.token"),system:serviceaccount:kube-system:multus,multus,\"system:serviceaccounts,system:serviceaccounts:kube-system\""
} >"$dir/tokens.csv"
echo "https://10.0.2.2:$api_port" >"$dir/server"
echo "$bin" >"$dir/bin"
# The scheduler and the controller-manager, on the host, as the admin.
cat >"$dir/admin.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$dir/ca.crt"}}]
users: [{name: admin, user: {token: "$(cat "$dir/admin.token")"}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
KUBECONFIG

start=$(date +%s%N)
"$bin/etcd" --name qinq-test --data-dir "$dir/etcd" --unsafe-no-fsync \
	--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
	--initial-cluster "qinq-test=http://127.0.0.1:$((etcd_port + 1))" >"$dir/etcd.log" 2>&1 &
echo $! >"$dir/etcd.pid"
# A loopback advertise address needs --endpoint-reconciler-type=none.
"$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
	--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
	--endpoint-reconciler-type none --service-cluster-ip-range 10.96.0.0/24 --allow-privileged \
	--tls-cert-file "$dir/apiserver.crt" --tls-private-key-file "$dir/apiserver.key" \
	--client-ca-file "$dir/ca.crt" --token-auth-file "$dir/tokens.csv" --authorization-mode Node,RBAC \
	--requestheader-client-ca-file "$dir/ca.crt" --requestheader-allowed-names front-proxy \
	--requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
	--requestheader-extra-headers-prefix X-Remote-Extra- \
	--proxy-client-cert-file "$dir/front-proxy.crt" --proxy-client-key-file "$dir/front-proxy.key" \
	--service-account-issuer https://kubernetes.default.svc --service-account-key-file "$dir/sa.pub" \
	--service-account-signing-key-file "$dir/sa.key" >"$dir/apiserver.log" 2>&1 &
echo $! >"$dir/apiserver.pid"

for _ in $(seq 240); do
	if curl -sf --cacert "$dir/ca.crt" -H "Authorization: Bearer $(cat "$dir/admin.token")" \
		"https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then
		echo "controlplane: etcd and kube-apiserver ready in $((($(date +%s%N) - start) / 1000000)) ms ($dir)" >&2
		# The scheduler's delegated authentication needs the request-header
		# CA the API server publishes; both run without leader election.
		"$bin/kube-scheduler" --kubeconfig "$dir/admin.kubeconfig" --authentication-kubeconfig "$dir/admin.kubeconfig" \
			--authorization-kubeconfig "$dir/admin.kubeconfig" --leader-elect=false \
			--bind-address 127.0.0.1 --secure-port $((api_port + 1)) >"$dir/scheduler.log" 2>&1 &
		echo $! >"$dir/scheduler.pid"
		"$bin/kube-controller-manager" --kubeconfig "$dir/admin.kubeconfig" --authentication-kubeconfig "$dir/admin.kubeconfig" \
			--authorization-kubeconfig "$dir/admin.kubeconfig" --leader-elect=false \
			--service-account-private-key-file "$dir/sa.key" --root-ca-file "$dir/ca.crt" \
			--use-service-account-credentials=false --controllers '*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller' \
			--bind-address 127.0.0.1 --secure-port $((api_port + 2)) >"$dir/controller-manager.log" 2>&1 &
		echo $! >"$dir/controller-manager.pid"
		exit 0
	fi
	kill -0 "$(cat "$dir/apiserver.pid")" 2>/dev/null || break
	sleep 0.5
done
echo "controlplane: kube-apiserver not ready; its log:" >&2
tail -n 30 "$dir/apiserver.log" >&2
tail -n 10 "$dir/etcd.log" >&2
down
exit 1
