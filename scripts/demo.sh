#!/usr/bin/env bash
# make demo: two "containers" on the two ends of a veth wire, attached by
# cnitool through qinq with host-local IPAM; ping across; show the link tree
# and the double-tagged frames on the wire; DEL; show that nothing is left.
# Runs inside the VM, or on this host when its kernel can make VLAN links
# (QINQ_ON_HOST=1).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
need=()
command -v ping >/dev/null || need+=(iputils-ping)
if [ ${#need[@]} -gt 0 ]; then
  echo "demo: installing ${need[*]} (apt-get)"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "${QINQ_ON_HOST:-}" = 1 ]; then
  exec "$root/scripts/demo-guest.sh" "$root"
fi
QINQ_VM_TIMEOUT=${QINQ_VM_TIMEOUT:-300} exec "$root/scripts/vm/run" --shell-cmd "$root/scripts/demo-guest.sh $root"
