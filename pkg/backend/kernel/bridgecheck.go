package kernel

import (
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// checkBridge verifies, past the container end (a veth of the planned MTU
// and MAC), the host end and what it depends on: a port of the planned bridge
// in qinq's namespace, the container end's peer, learning and unknown-unicast
// flooding off, a static sticky FDB entry for the container end's MAC on
// each of its VLANs; the bridge owned, with its uplink (the chain's last
// link, on the chain down to the master) as a port; the namespace's
// bridge-nf-call-* at 0; and the recorded users.
func (b *Backend) checkBridge(p plan.Plan, e *plan.BridgeEndpoint, n *netdev.Namespaces, got netlink.Link) error {
	own, err := b.ownNS(false)
	if err != nil {
		return err
	}
	if own == nil {
		return cnierr.CheckFailed("qinq's network namespace (%s) is missing: the bridge %s is gone", b.store.OwnNS().Path, e.Bridge)
	}
	bridge, err := checkOwnBridge(own, p, e)
	if err != nil {
		return err
	}
	host, err := own.H.LinkByName(e.HostName)
	if err != nil {
		return cnierr.CheckFailed("bridge port %s: not found in qinq's network namespace", e.HostName)
	}
	if host.Type() != "veth" || host.Attrs().MasterIndex != bridge.Attrs().Index {
		return cnierr.CheckFailed("%s: is not a veth port of the bridge %s", e.HostName, e.Bridge)
	}
	if got.Attrs().ParentIndex != host.Attrs().Index {
		return cnierr.CheckFailed("%s: its peer is ifindex %d, expected the bridge port %s (ifindex %d)", e.Name, got.Attrs().ParentIndex, e.HostName, host.Attrs().Index)
	}
	if err := checkPortLocked(own, host, got.Attrs().HardwareAddr, e.AllowedCVlans); err != nil {
		return err
	}
	if err := netdev.CheckOwnNS(own.NS); err != nil {
		return err
	}
	if err := b.checkReserved(p, bridgeChain(n, own, p)); err != nil {
		return err
	}
	return b.checkUsers(p)
}

// checkOwnBridge checks the bridge and its uplink, and returns the bridge.
func checkOwnBridge(own *netdev.Own, p plan.Plan, e *plan.BridgeEndpoint) (netlink.Link, error) {
	j := p.Joined()
	bridge, err := netdev.FindBridge(own.H, e.Bridge, j.Key)
	if err != nil || bridge == nil {
		return nil, cnierr.CheckFailed("bridge %s: not found in qinq's network namespace (as qinq's bridge of %s)", e.Bridge, j.Key)
	}
	br, ok := bridge.(*netlink.Bridge)
	if !ok {
		return nil, cnierr.CheckFailed("%s: is a %q link, not qinq's bridge of %s", e.Bridge, bridge.Type(), j.Key)
	}
	if err := netdev.CheckMTU(bridge, e.Bridge, j.MTU); err != nil {
		return nil, err
	}
	if br.VlanFiltering == nil || !*br.VlanFiltering {
		return nil, cnierr.CheckFailed("%s: vlan_filtering off: its own device would send and receive on the tenant's VLAN", e.Bridge)
	}
	up, err := netdev.FindOwnedLink(own.H, j)
	if err != nil || up == nil {
		return nil, cnierr.CheckFailed("the bridge's uplink %s (%s) is missing from qinq's network namespace", j.Name, j.Key)
	}
	if err := netdev.CheckVLAN(up, j.Name, j.Tag, j.MTU); err != nil {
		return nil, err
	}
	if up.Attrs().MasterIndex != bridge.Attrs().Index {
		return nil, cnierr.CheckFailed("%s: is not a port of the bridge %s", up.Attrs().Name, e.Bridge)
	}
	return bridge, nil
}

// checkPortLocked: the port kept to mac (locked, or its source-MAC filter),
// learning and unknown-unicast flooding off, and the static, sticky FDB
// entries of mac.
func checkPortLocked(own *netdev.Own, host netlink.Link, mac net.HardwareAddr, vids []config.VID) error {
	if _, err := netdev.CheckKeptToMAC(own, host, mac); err != nil {
		return err
	}
	pi, err := own.H.LinkGetProtinfo(host)
	if err != nil {
		return netdev.Error("read the bridge port flags of "+host.Attrs().Name, err)
	}
	if pi.Learning || pi.Flood {
		return cnierr.CheckFailed("%s: learning %v, unicast flood %v, expected both off", host.Attrs().Name, pi.Learning, pi.Flood)
	}
	neighs, err := own.H.NeighList(host.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return netdev.Error("list the FDB of "+host.Attrs().Name, err)
	}
	want := map[int]bool{}
	for _, v := range netdev.FDBVIDs(vids) {
		want[int(v)] = true
	}
	for _, nb := range neighs {
		static := nb.State&netlink.NUD_NOARP != 0 && nb.Flags&netlink.NTF_STICKY != 0
		if static && strings.EqualFold(nb.HardwareAddr.String(), mac.String()) {
			delete(want, nb.Vlan)
		}
	}
	for vid := range want {
		return cnierr.CheckFailed("%s: no static FDB entry for %s on VLAN %d: the pod's frames are dropped", host.Attrs().Name, mac, vid)
	}
	return nil
}

// bridgeChain lists a bridge plan's chain links: the outer ones on the host,
// the bridge's uplink (the top) in qinq's namespace.
func bridgeChain(n *netdev.Namespaces, own *netdev.Own, p plan.Plan) []filtered {
	last := len(p.Chain) - 1
	var out []filtered
	for _, l := range resolve(n, p.Master.Name, p.Chain[:last]) {
		out = append(out, filteredAt(l, false))
	}
	up, _ := netdev.FindOwnedLink(own.H, p.Joined())
	return append(out, filtered{h: own.H, link: up, top: true})
}
