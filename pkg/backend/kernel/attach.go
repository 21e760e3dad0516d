package kernel

import (
	"fmt"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/backend"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/record"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// Attach finds or creates the chain, then creates the endpoint in the
// container. Every user is recorded before the link it uses is made, so a
// crash leaves nothing DEL or GC can miss.
func (b *Backend) Attach(p plan.Plan, u *undo.Stack) (backend.Attached, error) {
	n, err := b.namespaces(p.Attachment.Netns, p.InContainer, false)
	if err != nil {
		return backend.Attached{}, err
	}
	// Checked before anything changes: a repeated ADD of a live attachment
	// must not touch its users, nor roll them back.
	if err := netdev.Absent(*n.Container, p.Endpoint.Name); err != nil {
		return backend.Attached{}, cnierr.Conflict("CNI_IFNAME %q already exists in the container", p.Endpoint.Name)
	}
	links := b.store.Links(p)
	unlock, err := links.Lock(p.Master.Name)
	if err != nil {
		return backend.Attached{}, cnierr.Internal("lock the master's state", err)
	}
	defer unlock()
	// One undo releases the whole chain the way DEL does: it re-takes the
	// lock and deletes a shared link only if nobody else took it meanwhile.
	u.Push("release the chain", func() error { return b.release(p, n) })
	parent, err := attachChain(n, links, p)
	if err != nil {
		return backend.Attached{}, err
	}
	l, err := b.attachEndpoint(n, links, p, parent, u)
	if err != nil {
		return backend.Attached{}, err
	}
	iface := &current.Interface{Name: l.Attrs().Name, Mac: l.Attrs().HardwareAddr.String(), Sandbox: p.Attachment.Netns}
	return backend.Attached{Container: iface}, nil
}

// attachChain records the attachment as a user of each chain link, then
// finds or creates the link; it returns the ifindex the endpoint sits on.
func attachChain(n *netdev.Namespaces, links record.Links, p plan.Plan) (int, error) {
	master, err := n.Links.LinkByName(p.Master.Name)
	if err != nil {
		return 0, cnierr.InvalidConfig("master", "%q: no such link (%v)", p.Master.Name, err)
	}
	idx := master.Attrs().Index
	for _, l := range p.Chain {
		if err := links.Use(l.Key, p.Attachment); err != nil {
			return 0, cnierr.Internal("record the user of "+l.Name, err)
		}
		if err := fault.Point(fault.SharedRef); err != nil {
			return 0, err
		}
		if idx, err = netdev.EnsureShared(n.Links, idx, l); err != nil {
			return 0, err
		}
		if err := fault.Point(fault.SharedLink); err != nil {
			return 0, err
		}
	}
	return idx, nil
}

// attachEndpoint creates the container's link on parent.
func (b *Backend) attachEndpoint(n *netdev.Namespaces, links record.Links, p plan.Plan, parent int, u *undo.Stack) (netlink.Link, error) {
	e := p.Endpoint
	if err := links.Use(e.Key, p.Attachment); err != nil {
		return nil, cnierr.Internal("record the container link", err)
	}
	if err := fault.Point(fault.ContainerRef); err != nil {
		return nil, err
	}
	v := netdev.NewVLAN("", parent, e.Tag, e.MTU)
	v.HardwareAddr = e.HardwareAddr()
	inUse := func() error { return inUse(n, links, p, parent) }
	return netdev.CreateInContainer(n, netdev.ContainerLink{Link: v, Name: e.Name, InUse: inUse}, u)
}

// inUse explains an EEXIST on the container link: which VLAN, on which
// parent, and which attachment holds it when qinq made it.
func inUse(n *netdev.Namespaces, links record.Links, p plan.Plan, parent int) error {
	e := p.Endpoint
	on := fmt.Sprintf("ifindex %d", parent)
	if l, err := n.Links.LinkByIndex(parent); err == nil {
		on = l.Attrs().Name
	}
	holder := "another container"
	users, _ := links.Users(e.Key)
	for _, id := range users {
		if id != p.Attachment.ID() {
			holder = "attachment " + id
		}
	}
	return cnierr.Conflict("%s on %s is already used by %s (the kernel allows one link per VLAN ID on a parent)", e.Tag, on, holder)
}
