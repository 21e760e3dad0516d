# Sourced by the setup scripts that install Debian packages shipping daemons
# (openvswitch-switch, iperf3), which must never start on the build host.
#
# apt_install_no_start <who> <package>...: apt-get update, then install the
# packages (--no-install-recommends, debconf defaults) while a policy-rc.d
# denies every service start (invoke-rc.d and deb-systemd-invoke honour it);
# the policy goes when the calling script exits, and an existing one is left
# as it is. Exits the script on failure.
apt_install_no_start() {
	local who=$1
	shift
	policy=/usr/sbin/policy-rc.d
	own_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# %s: no service starts while installing\nexit 101\n' "$who" >"$policy"
		chmod 755 "$policy"
		own_policy=1
	fi
	trap 'if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
	echo "$who: apt-get update" >&2
	apt-get update -qq >&2 || { echo "$who: apt-get update failed" >&2; exit 1; }
	echo "$who: installing Debian packages $* (--no-install-recommends; their daemons are not started)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 ||
		{ echo "$who: apt-get install $* failed" >&2; exit 1; }
}
