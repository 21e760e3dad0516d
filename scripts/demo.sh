#!/usr/bin/env bash
# make demo: two "containers" on the two ends of a veth wire, attached by
# cnitool through qinq with host-local IPAM; ping across; show the link tree
# and the double-tagged frames on the wire; DEL; show that nothing is left.
# Runs on this host when its kernel can make VLAN links, else inside the VM.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
need=()
command -v ping >/dev/null || need+=(iputils-ping)
if [ ${#need[@]} -gt 0 ]; then
  echo "demo: installing ${need[*]} (apt-get)"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
# The host will do when it is root and its kernel has 8021q (loaded or
# loadable); otherwise the VM. QINQ_ON_HOST=0 forces the VM.
if [ -z "${QINQ_ON_HOST:-}" ] && [ "$(id -u)" = 0 ] && { [ -d /proc/net/vlan ] || modprobe -q 8021q 2>/dev/null; }; then
  QINQ_ON_HOST=1
fi
if [ "${QINQ_ON_HOST:-}" = 1 ]; then
  echo "demo: this host's kernel has 8021q: running here, in network namespaces"
  exec "$root/scripts/demo-guest.sh" "$root"
fi
echo "demo: this host's kernel has no 8021q: running inside the VM"
QINQ_VM_TIMEOUT=${QINQ_VM_TIMEOUT:-300} exec "$root/scripts/vm/run" --shell-cmd "$root/scripts/demo-guest.sh $root"
