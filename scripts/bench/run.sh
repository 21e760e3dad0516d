#!/usr/bin/env bash
# make bench / make bench-quick: build qinq, the reference plugins v1.9.1
# (github.com/containernetworking/plugins, pinned in go.mod) and the bench,
# run every item in ONE VM, then print the tables and write latest.json and
# latest.svg.
#
#   scripts/bench/run.sh profile   instead: the figures behind the ratios (init
#                        trace, syscalls and netlink requests per verb, growth)
#   QINQ_BENCH_QUICK=1   tiny counts: proves the bench works (< 2 min); writes
#                        to a temp dir unless QINQ_BENCH_OUT is set
#   QINQ_BENCH_OUT=dir   where latest.json and latest.svg go (docs/bench)
#   QINQ_BENCH_ONLY=a,b  run only these items (latency, startup, memory,
#                        concurrency, datapath, scale, reserved): for working on one
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
quick=${QINQ_BENCH_QUICK:-0}

scripts/bench/setup.sh
scripts/vm/setup.sh
# The VM's initramfs has no macvlan/ipvlan: the bench loads them inside the
# VM from the kernel tree setup.sh unpacked (the VM sees the host's /).
# shellcheck source=/dev/null
. "${QINQ_VM_CACHE:-$HOME/.cache/qinq-vm}/current.env"
export QINQ_BENCH_KROOT=${QINQ_VM_CACHE:-$HOME/.cache/qinq-vm}/kernel/$KVER
export CGO_ENABLED=0
go build -trimpath -o bin/ref/ \
	github.com/containernetworking/plugins/plugins/main/vlan \
	github.com/containernetworking/plugins/plugins/main/macvlan
# The reference bridge plugin needs go-nft, which our go.mod does not carry:
# built as its own main module, at the same v1.9.1.
scripts/build-go-module.sh github.com/containernetworking/plugins v1.9.1 ./plugins/main/bridge "$root/bin/ref/bridge"
go build -trimpath -o bin/qinq-bench ./bench

if [ "${1:-}" = profile ]; then
	export QINQ_VM_MEM=${QINQ_VM_MEM:-2048} QINQ_VM_TIMEOUT=${QINQ_VM_TIMEOUT:-3600}
	exec scripts/vm/run "$root/bin/qinq-bench" profile -bin "$root/bin" -large "${QINQ_BENCH_LARGE:-300}"
fi
if [ "$quick" = 1 ]; then
	out=${QINQ_BENCH_OUT:-$(mktemp -d /tmp/qinq-bench.XXXXXX)}
	export QINQ_VM_TIMEOUT=${QINQ_VM_TIMEOUT:-600}
else
	out=${QINQ_BENCH_OUT:-docs/bench}
	export QINQ_VM_TIMEOUT=${QINQ_VM_TIMEOUT:-7200}
fi
# 100 plugins at once and 2000 netns need more than the VM's default 1 GiB.
export QINQ_VM_MEM=${QINQ_VM_MEM:-3072}
QINQ_BENCH_HOST_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
QINQ_BENCH_HOST_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
QINQ_BENCH_REV=$(git describe --always --dirty 2>/dev/null || echo dev)
export QINQ_BENCH_HOST_CPU QINQ_BENCH_HOST_LOAD QINQ_BENCH_REV QINQ_BENCH_QUICK=$quick

raw=$(mktemp /tmp/qinq-bench-raw.XXXXXX.json)
start=$(date +%s)
echo "bench: running in the VM (quick=$quick); progress on stderr"
set +e
scripts/vm/run "$root/bin/qinq-bench" run -bin "$root/bin" >"$raw"
rc=$?
set -e
echo "bench: the VM run took $(($(date +%s) - start)) s (exit $rc)"
if [ ! -s "$raw" ]; then
	echo "bench: no report came out of the VM" >&2
	exit 1
fi
rrc=0
bin/qinq-bench render -in "$raw" -dir "$out" || rrc=$?
rm -f "$raw"
[ "$rc" = 0 ] && [ "$rrc" = 0 ] || exit 1
