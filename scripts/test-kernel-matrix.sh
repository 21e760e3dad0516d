#!/usr/bin/env bash
# The kernel matrix: the whole kernel suite runs on the machine's Debian
# kernel (scripts/test-kernel.sh, 6.1); this runs, on the other kernels
# providers run, the end-to-end checks of every container link, tunnel mode
# and OVS mode, and the attack tests (scripts/vm/setup.sh fetches each
# suite's kernel; QINQ_VM_SUITE picks it). Fails when any check fails or
# when a kernel ran none.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CNI_PATH="$root/bin" QINQ_BIN="$root/bin/qinq" QINQ_VM_BINDS="$root${QINQ_VM_BINDS:+:$QINQ_VM_BINDS}"

# Every kernel: one tag, two, three, Cisco-style, tunnel mode, macvlan,
# ipvlan, linkInContainer, OVS, and the attacks on VLAN isolation and the
# node's namespace.
common='TestWire_QinQFramesCarry88a8ThenC8100|TestWire_CiscoStyleCarries8100Twice|TestWire_QinQinQCarriesThreeTagsAndMTUIs8992On9000'
common+='|TestTunnelMode_ContainersOwnVLANReachesAQinQContainer|TestIsolation_OtherSOrCVLANCannotReach'
common+='|TestMacvlan_TwoPodsOfOneCVLANOnOneNodeReachTheFarNodeAndEachOtherWithTheirOwnMACs|TestMacvlan_TunnelModeRoutersShareTheSLinkAndEachTagsItsOwnCVLAN'
common+='|TestIpvlan_L2PodsReachTheFarNodeAndEachOtherBehindOneMAC|TestLinkInContainer_BuildsTheStackOnAVFInsideTheContainer'
common+='|TestOVS_StandaloneFramesCarry88a8ThenC8100|TestOVS_TunnelModeCiscoStyleContainerTagsItsOwnCVLANs|TestIsolation_OVSPortAdmitsOnlyThePodsCVLANAndItsHostVethIsIsolated'
# The default (bridge) link: its traffic, tunnel mode, a stolen MAC, the
# node's netfilter, KubeVirt's live migration, and the hop and node attacks.
bridge='TestBridge_TwoPodsOfOneCVLANOnOneNodeReachTheFarNodeAndEachOtherWithTheirOwnMACs|TestBridge_TunnelModeRouterTagsItsCVLANsAndOnlyAllowedOnesLeave'
bridge+='|TestBridge_APodThatChangesItsMACIsDropped|TestMAC_ANeighboursMACIsNeverTakenOver|TestBridge_NodeNetfilterDoesNotTouchTenantTraffic|TestBridge_DisableContainerInterfaceLetsAVMMigrateWithoutABlackhole'
bridge+='|TestIsolation_TenantsStayInTheirVLANsAndTheNodeAnswersNone|TestIsolation_OnlyLimitedBroadcastFromNoAddressReachesANodeSocket'

# The attacks of the isolation work: the node's namespace hears no tenant
# (with its control, an admin's S-link), a MAC flood from the wire, the
# netns-id attack from a pod with and without a user namespace of its own.
common+='|TestNodeNS_HoldsOnlyTheMasterAndHearsNoTenant|TestNodeNS_AnAdminsSLinkStaysAndIsHeard'
common+='|TestUserNamespace_APodWithNetAdminReachesTheNodeOnlyWithoutOne'
# Reserved 802.1 frames: none leaves from any container link or OVS, and the
# opt-in passes all but pause.
common+='|TestReserved_NoReservedFrameLeavesAPodOnAnyContainerLink|TestReserved_L2ProtocolTunnelPassesAllButPauseInTheSVLAN|TestReserved_OVSKeepsThemInOnADot1qTunnelPort'
bridge+='|TestBridge_UplinkFDBStaysBoundedUnderARandomSourceFlood'
# A pod's link named like a link of the node's (eth0 under the kubelet), on
# every container link and OVS: where the kernel looks a new name up.
common+='|TestIfname_APodsLinkMayBeNamedAfterALinkOfTheNode'

# suite, then the tests it runs. The cluster (scripts/test-cluster.sh) boots the
# same 6.12 for its user-namespaced pods. bullseye's 5.10 has no locked bridge ports:
# there a tc filter keeps each port to its pod's MAC, and CHECK checks it.
bridge+='|TestBridge_CHECKReportsATamperedPortBridgeAndNamespace|TestBridge_ADDAndSTATUSLogTheAntiSpoofMechanismInForce'
runs=(
	"bookworm-backports:$common|$bridge"
	"bullseye:$common|$bridge"
)
status=0
for r in "${runs[@]}"; do
	suite=${r%%:*} tests=${r#*:}
	log=$(mktemp "/tmp/qinq-matrix-$suite.XXXXXX.log")
	QINQ_VM_SUITE=$suite scripts/vm/setup.sh
	kver=$(. "${QINQ_VM_CACHE:-$HOME/.cache/qinq-vm}/current-$suite.env" && echo "$KVER")
	echo "kernel matrix: $suite ($kver)"
	set +e
	QINQ_VM_SUITE=$suite CGO_ENABLED=0 go test -count=1 -tags kerneltest -v -timeout 30m -exec "$root/scripts/vm/run" \
		-run "^($tests)\$" ./test/binary/ 2>&1 | tee "$log" | grep -E '^(--- |ok|FAIL|panic)'
	rc=${PIPESTATUS[0]}
	set -e
	passed=$(grep -c '^--- PASS: ' "$log" || true)
	failed=$(grep -c '^--- FAIL: ' "$log" || true)
	echo "kernel-$kver: $passed passed, $failed failed"
	if [ "$rc" -ne 0 ] || [ "$passed" -eq 0 ]; then
		echo "kernel matrix: $suite failed (log: $log)" >&2
		status=1
	fi
done
exit "$status"
