#!/usr/bin/env bash
# Install what `make bench` needs beyond scripts/vm/setup.sh, from Debian: iperf3
# (the data-path item runs it inside the VM, which sees the host's /), time
# (/usr/bin/time measures the peak RSS of an ADD) and strace (make
# bench-profile). Idempotent: does nothing when they are installed. iperf3
# ships a server daemon; it is never started on the host: a policy-rc.d
# denies every service start for the length of the install.
set -euo pipefail

packages=(iperf3 time strace)
say() { echo "bench-setup: $*" >&2; }
die() { echo "bench-setup: $*" >&2; exit 1; }

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]; }
missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done
[ "${#missing[@]}" -gt 0 ] || exit 0
[ "$(id -u)" = 0 ] || die "must run as root (apt-get install ${missing[*]})"

policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# qinq scripts/bench/setup.sh: no service starts while installing\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

say "apt-get update"
apt-get update -qq >&2 || die "apt-get update failed"
say "installing Debian packages ${missing[*]} (--no-install-recommends; iperf3's daemon is not started)"
# iperf3 asks (debconf) whether to run its daemon: the default, no, is taken.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
	die "apt-get install ${missing[*]} failed"
for p in "${missing[@]}"; do
	installed "$p" || die "$p is not installed after apt-get install"
done
say "installed: $(dpkg-query -W -f='${Package} ${Version}  ' "${missing[@]}")"
