package ovs

import (
	"fmt"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/backend"
	"github.com/qinq-cni/qinq/pkg/backend/ovs/ovsdb"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// Attach builds p: standalone, the veth, the C-link on it and the port;
// chained, the earlier plugin's port becomes a dot1q-tunnel port. Each step
// pushes its undo.
func (b *Backend) Attach(p plan.Plan, u *undo.Stack) (backend.Attached, error) {
	db, err := b.connectToBuild()
	if err != nil {
		return backend.Attached{}, err
	}
	if p.Switch.Chained {
		return b.attachChained(db, p, u)
	}
	return b.attachStandalone(db, p, u)
}

func (b *Backend) attachStandalone(db *ovsdb.Client, p plan.Plan, u *undo.Stack) (backend.Attached, error) {
	e, err := vethOf(p)
	if err != nil {
		return backend.Attached{}, err
	}
	if port, err := db.PortByName(e.HostName); err != nil || port != nil {
		return backend.Attached{}, orConflict(err, "OVS port %q already exists: this attachment was added before and not deleted", e.HostName)
	}
	n, err := netdev.Open(p.Attachment.Netns, false, false)
	if err != nil {
		return backend.Attached{}, err
	}
	b.ns = n // closed by Close, after the ADD's undo steps have run
	if err := netdev.Absent(*n.Container, e.PeerName, e.Name); err != nil {
		return backend.Attached{}, err
	}
	// From the veth to its port, GC's sweep must not take the veth for a
	// leftover.
	unlock, err := b.lockBridge(p.Switch.Bridge, false)
	if err != nil {
		return backend.Attached{}, err
	}
	defer unlock()
	host, err := makeVeth(n, e, u)
	if err != nil {
		return backend.Attached{}, err
	}
	inner, err := stackCLink(n, e, u)
	if err != nil {
		return backend.Attached{}, err
	}
	// Pushed first: a commit whose application timed out still left a port.
	u.Push("remove the OVS port", func() error { return removeOwnedPorts(db, p.Attachment, e.HostName) })
	if err := b.addPort(db, p); err != nil {
		return backend.Attached{}, err
	}
	container := &current.Interface{Name: e.Name, Mac: inner.Attrs().HardwareAddr.String(), Sandbox: p.Attachment.Netns}
	return backend.Attached{Container: container, Host: []*current.Interface{host}}, nil
}

// vethOf is a standalone attachment's endpoint: the only kind this
// backend plans besides chained's none.
func vethOf(p plan.Plan) (*plan.VethEndpoint, error) {
	if e, ok := p.Endpoint.(*plan.VethEndpoint); ok {
		return e, nil
	}
	return nil, cnierr.Internal("plan the OVS attachment", fmt.Errorf("endpoint of kind %s, expected veth", p.Endpoint.Kind()))
}

func orConflict(err error, format string, a ...any) error {
	if err != nil {
		return err
	}
	return cnierr.Conflict(format, a...)
}

// makeVeth creates the veth with its container end in the container, the
// request made there (the node may hold a link named CNI_IFNAME), and its
// host end, the future port, on the host, isolated from the node, and sets
// both up. Deleting either end deletes both, and the C-link on the
// container end with them.
func makeVeth(n *netdev.Namespaces, e *plan.VethEndpoint, u *undo.Stack) (*current.Interface, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.MTU = e.PeerMTU
	if e.CTag == nil {
		attrs.HardwareAddr = e.HardwareAddr()
	}
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: e.HostName, PeerNamespace: netlink.NsFd(int(n.Host))}
	if _, err := netdev.CreateInContainer(n, netdev.ContainerLinkSpec{Link: veth, Name: e.PeerName, FromContainer: true}, u); err != nil {
		return nil, err
	}
	host, err := n.Links.LinkByName(e.HostName)
	if err != nil {
		return nil, netdev.Error("find the host end "+e.HostName, err)
	}
	// Down until then: the host end never carries a tenant frame to the node.
	if err := netdev.IsolateHostLink(e.HostName); err != nil {
		return nil, err
	}
	if err := netdev.Retry(func() error { return n.Links.LinkSetUp(host) }); err != nil {
		return nil, netdev.Error("set "+e.HostName+" up", err)
	}
	return &current.Interface{Name: e.HostName, Mac: host.Attrs().HardwareAddr.String()}, nil
}

// stackCLink creates, in the container, the C-link on the veth's container
// end, named CNI_IFNAME; without a C-tag the veth end is CNI_IFNAME itself.
func stackCLink(n *netdev.Namespaces, e *plan.VethEndpoint, u *undo.Stack) (netlink.Link, error) {
	veth, err := n.Container.LinkByName(e.PeerName)
	if err != nil {
		return nil, netdev.Error("find "+e.PeerName+" in the container", err)
	}
	if e.CTag == nil {
		return veth, nil
	}
	v := netdev.NewVLAN("", veth.Attrs().Index, *e.CTag, e.MTU)
	v.HardwareAddr = e.HardwareAddr()
	return netdev.CreateInContainer(n, netdev.ContainerLinkSpec{Link: v, Name: e.Name, FromContainer: true}, u)
}

// addPort adds the veth's host end to the bridge as a dot1q-tunnel port
// owned by the attachment.
func (b *Backend) addPort(db *ovsdb.Client, p plan.Plan) error {
	br, err := db.Bridge(p.Switch.Bridge)
	if err != nil {
		return err
	}
	if br == nil {
		return cnierr.InvalidConfig("bridge", "%q: no such Open vSwitch bridge", p.Switch.Bridge)
	}
	vlan, err := tunnel(b.conf)
	if err != nil {
		return err
	}
	np := ovsdb.NewPort{Name: p.Switch.Port, VLAN: vlan, ExternalIDs: ownerIDs(p.Attachment)}
	if err := db.AddPort(br, np); err != nil {
		return err
	}
	return fault.Point(fault.Port)
}
