#!/usr/bin/env bash
# Install what `make bench` needs beyond scripts/vm/setup.sh, from Debian: iperf3
# (the data-path item runs it inside the VM, which sees the host's /), time
# (/usr/bin/time measures the peak RSS of an ADD) and strace (make
# bench-profile). Idempotent: does nothing when they are installed. iperf3
# ships a server daemon; it is never started on the host (scripts/lib/apt-install.sh).
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

# iperf3 asks (debconf) whether to run its daemon: the default, no, is taken.
# shellcheck source=../lib/apt-install.sh
. "$(dirname "$0")/../lib/apt-install.sh"
apt_install_no_start bench-setup "${missing[@]}"
for p in "${missing[@]}"; do
	installed "$p" || die "$p is not installed after apt-get install"
done
say "installed: $(dpkg-query -W -f='${Package} ${Version}  ' "${missing[@]}")"
