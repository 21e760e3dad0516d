#!/usr/bin/env bash
# Runs the kernel tests inside the VM (scripts/vm/run), or directly on a host
# whose kernel can make VLAN links when QINQ_ON_HOST=1. Prints how many kernel
# tests ran and fails when none did: a VM that cannot boot fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log=$(mktemp /tmp/qinq-kernel.XXXXXX.log)
pkgs=(./test/binary/ ./test/binary/conformance/ ./test/callers/multus/ ./test/callers/runtime/ ${QINQ_KERNEL_PKGS:-})
export CNI_PATH="$root/bin" QINQ_BIN="$root/bin/qinq"
# One VM runs a whole package: the plugin's takes minutes under TCG, more on
# a loaded machine; a hung VM is still killed.
export QINQ_VM_TIMEOUT=${QINQ_VM_TIMEOUT:-2700}
# The VM binds a test's package directory, not the whole checkout: when the
# checkout lives under /tmp (fresh tmpfs in the VM), bind its root too, so
# internal/testenv finds go.mod, bin/ and deploy/.
export QINQ_VM_BINDS="$root${QINQ_VM_BINDS:+:$QINQ_VM_BINDS}"

exec_flag=(-exec "$root/scripts/vm/run")
where="inside the VM"
if [ "${QINQ_ON_HOST:-}" = 1 ]; then
  where="on the host"
  # The OVS tests start ovsdb-server and ovs-vswitchd, the runtime tests
  # containerd and podman (with their own config): never on a real host.
  echo "kernel tests: on the host; the OVS and runtime tests (TestOVS*, TestContainerd*, TestPodman*) run only inside the VM and are not run here"
  exec_flag=(-skip '^(TestOVS|TestContainerd|TestPodman)')
fi

echo "kernel tests: ${pkgs[*]} ($where)"
set +e
CGO_ENABLED=0 go test -count=1 -tags kerneltest -v -timeout 50m "${exec_flag[@]}" "${pkgs[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
passed=$(grep -c '^--- PASS: ' "$log" || true)
failed=$(grep -c '^--- FAIL: ' "$log" || true)
ran=$((passed + failed))
echo
echo "kernel tests: $ran ran $where"
echo "kernel: $passed passed, $failed failed"
if [ "$ran" -eq 0 ]; then
  echo "kernel tests: none ran: the VM did not boot or the tests did not start (log: $log)" >&2
  exit 1
fi
exit "$rc"
