#!/usr/bin/env bash
# Install Open vSwitch userspace for the OVS kernel tests: Debian's
# openvswitch-switch (ovsdb-server, ovs-vswitchd, ovs-vsctl, ovs-appctl,
# ovsdb-tool and the schema in /usr/share/openvswitch), with
# --no-install-recommends. Idempotent: does nothing when it is installed.
#
# The daemons are only ever started inside the test VM (test/binary
# ovs_kernel_test.go). The host must not run them, so the package's
# maintainer scripts are told not to start or enable the service: a
# policy-rc.d that denies every start for the length of the install, and the
# service disabled afterwards when systemd is there.
set -euo pipefail

pkg=openvswitch-switch
say() { echo "ovs-setup: $*" >&2; }
die() { echo "ovs-setup: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get install $pkg)"

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" = installed ]; }
if installed && command -v ovsdb-server >/dev/null && command -v ovs-vswitchd >/dev/null; then
	exit 0
fi

# shellcheck source=../lib/apt-install.sh
. "$(dirname "$0")/../lib/apt-install.sh"
apt_install_no_start ovs-setup "$pkg"
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	systemctl disable --now openvswitch-switch ovsdb-server ovs-vswitchd >/dev/null 2>&1 || true
fi
installed || die "$pkg is not installed after apt-get install"
say "$pkg $(dpkg-query -W -f='${Version}' "$pkg") installed"
