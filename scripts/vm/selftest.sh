#!/usr/bin/env bash
# Self-test of the VM runner: boot time, exit codes, kernel features inside
# the VM (scripts/vm/selftest-guest.sh), go test -exec, failure paths.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run=$here/run
fails=0
ok() { echo "vm-selftest: ok: $*"; }
bad() { echo "vm-selftest: FAIL: $*" >&2; fails=$((fails + 1)); }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

"$here/setup.sh"

# Exit codes, and boot-to-poweroff wall time of a trivial command.
for want in 0 3 0; do
	t0=$(now_ms)
	rc=0
	"$run" --shell-cmd "exit $want" || rc=$?
	t1=$(now_ms)
	if [ "$rc" = "$want" ]; then ok "exit $want propagated ($((t1 - t0)) ms wall)"; else bad "exit $want: got $rc"; fi
done

# stdout and stderr kept apart, cwd and args preserved.
tmp=$(mktemp -d /tmp/qinq-vm-selftest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && "$run" /bin/sh -c 'echo "out:$(pwd):$1:$QINQ_IN_VM"; echo err >&2' sh 'a b' >"$tmp/o" 2>"$tmp/e") || bad "stdout/stderr run failed"
if [ "$(cat "$tmp/o")" = "out:$tmp:a b:1" ] && [ "$(cat "$tmp/e")" = err ]; then
	ok "stdout/stderr separated, cwd ($tmp) and args preserved"
else
	bad "stdout/stderr/cwd/args: stdout=[$(cat "$tmp/o")] stderr=[$(cat "$tmp/e")]"
fi

# Kernel features and tools inside the VM.
if "$run" --shell-cmd "/bin/sh $here/selftest-guest.sh"; then ok "guest checks"; else bad "guest checks"; fi

# go test -exec (if Go is available).
go=$(command -v go || echo /usr/local/go/bin/go)
if [ -x "$go" ]; then
	mkdir -p "$tmp/gopkg/testdata"
	echo hello >"$tmp/gopkg/testdata/hello.txt"
	printf 'module vmselftest\n\ngo 1.21\n' >"$tmp/gopkg/go.mod"
	cat >"$tmp/gopkg/vm_test.go" <<'EOF'
package vmselftest

import (
	"os"
	"os/exec"
	"testing"
)

func TestInVM(t *testing.T) {
	if os.Getenv("QINQ_IN_VM") != "1" {
		t.Fatal("QINQ_IN_VM != 1")
	}
	if b, err := os.ReadFile("testdata/hello.txt"); err != nil || string(b) != "hello\n" {
		t.Fatalf("testdata: %q %v", b, err)
	}
	out, err := exec.Command("/usr/sbin/ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link add veth: %v: %s", err, out)
	}
	if os.Getenv("QINQ_SELFTEST_FAIL") == "1" {
		t.Fatal("failing on purpose")
	}
}
EOF
	if (cd "$tmp/gopkg" && CGO_ENABLED=0 "$go" test -exec "$run" -v -count=1 . 2>&1 | tee "$tmp/go.out" | sed 's/^/    /') &&
		grep -q -- '--- PASS: TestInVM' "$tmp/go.out"; then
		ok "go test -exec"
	else
		bad "go test -exec"
	fi
	if (cd "$tmp/gopkg" && QINQ_SELFTEST_FAIL=1 CGO_ENABLED=0 "$go" test -exec "$run" -count=1 . >"$tmp/go.out" 2>&1); then
		bad "failing go test reported success"
	else
		grep -q 'failing on purpose' "$tmp/go.out" && ok "failing go test fails" || bad "failing go test: unexpected output"
	fi
else
	echo "vm-selftest: go not found, skipping go test -exec"
fi

# Two VMs at once.
"$run" --shell-cmd 'exit 4' & p1=$!
"$run" --shell-cmd 'exit 5' & p2=$!
r1=0 r2=0
wait $p1 || r1=$?
wait $p2 || r2=$?
if [ "$r1" = 4 ] && [ "$r2" = 5 ]; then ok "two concurrent VMs"; else bad "concurrent VMs: $r1 $r2"; fi

# Failure paths: bogus kernel, timeout.
rc=0
QINQ_VM_KERNEL=/nonexistent/vmlinuz "$run" --shell-cmd 'exit 0' 2>"$tmp/e" || rc=$?
if [ "$rc" != 0 ]; then ok "bogus kernel -> exit $rc: $(head -n1 "$tmp/e")"; else bad "bogus kernel exited 0"; fi
rc=0
QINQ_VM_TIMEOUT=10 "$run" --shell-cmd 'sleep 60' 2>"$tmp/e" || rc=$?
if [ "$rc" != 0 ]; then ok "timeout -> exit $rc: $(head -n1 "$tmp/e")"; else bad "timeout exited 0"; fi

if [ "$fails" = 0 ]; then
	echo "vm-selftest: ALL OK"
else
	echo "vm-selftest: $fails FAILED" >&2
	exit 1
fi
