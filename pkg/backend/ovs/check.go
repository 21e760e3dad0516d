package ovs

import (
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/backend/ovs/ovsdb"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// Check: the port exists, is this attachment's, on the bridge, configured
// as planned; standalone, the container's links are right too.
func (b *Backend) Check(p plan.Plan) error {
	db, err := b.connectToBuild()
	if err != nil {
		return err
	}
	if err := b.checkPort(db, p); err != nil || p.Switch.Chained {
		return err
	}
	n, err := netdev.Open(p.Attachment.Netns, false, true)
	if err != nil {
		return err
	}
	defer n.Close()
	if n.Container == nil {
		return cnierr.CheckFailed("the container network namespace %s cannot be opened", p.Attachment.Netns)
	}
	e, err := vethOf(p)
	if err != nil {
		return err
	}
	return checkContainerLinks(*n.Container, e)
}

func (b *Backend) checkPort(db *ovsdb.Client, p plan.Plan) error {
	name := p.Switch.Port
	port, err := db.PortByName(name)
	if err != nil {
		return err
	}
	if port == nil {
		return cnierr.CheckFailed("OVS port %q is missing", name)
	}
	if owner, ok := ownerOf(port.ExternalIDs); !ok || !sameAttachment(owner, p.Attachment) {
		// Its external_ids name whoever holds it, maybe another tenant: not said.
		return cnierr.CheckFailed("OVS port %q was not made or reconfigured by this attachment", name)
	}
	if !p.Switch.Chained {
		br, err := db.BridgeOf(port)
		if err != nil {
			return err
		}
		if br == nil || br.Name != p.Switch.Bridge {
			return cnierr.CheckFailed("OVS port %q is not on bridge %q", name, p.Switch.Bridge)
		}
	}
	want, err := tunnel(b.conf)
	if err != nil {
		return err
	}
	if m := ovsdb.Mismatch(want, ovsdb.VLANOf(port)); m != "" {
		return cnierr.CheckFailed("OVS port %q: %s", name, m)
	}
	return nil
}

// checkContainerLinks verifies, in the container, the veth end and the
// C-link planned on it: type, VLAN ID, MTU, parent and MAC.
func checkContainerLinks(c netlinksafe.Handle, e *plan.VethEndpoint) error {
	veth, err := c.LinkByName(e.PeerName)
	if err != nil {
		return cnierr.CheckFailed("%s: not found in the container", e.PeerName)
	}
	if veth.Type() != "veth" {
		return cnierr.CheckFailed("%s: is a %q link, expected a veth", e.PeerName, veth.Type())
	}
	if err := netdev.CheckMTU(veth, e.PeerName, e.PeerMTU); err != nil {
		return err
	}
	inner := veth
	if e.CTag != nil {
		if inner, err = c.LinkByName(e.Name); err != nil {
			return cnierr.CheckFailed("%s: not found in the container", e.Name)
		}
		if err := netdev.CheckVLAN(inner, e.Name, *e.CTag, e.MTU); err != nil {
			return err
		}
		if inner.Attrs().ParentIndex != veth.Attrs().Index {
			return cnierr.CheckFailed("%s: stacked on ifindex %d, expected %s (ifindex %d)", e.Name, inner.Attrs().ParentIndex, e.PeerName, veth.Attrs().Index)
		}
	}
	return checkMAC(inner, &e.Iface)
}

func checkMAC(l netlink.Link, e *plan.Iface) error {
	if mac := e.HardwareAddr(); mac != nil && l.Attrs().HardwareAddr.String() != mac.String() {
		return cnierr.CheckFailed("%s: MAC %s, expected %s", e.Name, l.Attrs().HardwareAddr, mac)
	}
	return nil
}
