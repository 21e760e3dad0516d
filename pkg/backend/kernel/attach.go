package kernel

import (
	"fmt"
	"slices"

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
	name := p.Endpoint.Link().Name
	if err := netdev.Absent(*n.Container, name); err != nil {
		return backend.Attached{}, cnierr.Conflict("CNI_IFNAME %q already exists in the container", name)
	}
	store, err := b.store.Identity()
	if err != nil {
		return backend.Attached{}, cnierr.Internal("read the store's identity", err)
	}
	a := &attachment{p: p, n: n, users: b.store.Users(p), store: store, u: u}
	if e, ok := p.Endpoint.(*plan.BridgeEndpoint); ok {
		return b.attachBridge(a, e)
	}
	// One undo releases the whole chain the way DEL does: it re-takes the
	// chain's locks and deletes a shared link only if nobody else took it
	// meanwhile.
	u.Push("release the chain", func() error { return b.release(p, n, false) })
	parent, err := a.reserve()
	if err != nil {
		return backend.Attached{}, err
	}
	l, err := a.createEndpoint(parent)
	if err != nil {
		return backend.Attached{}, err
	}
	iface := &current.Interface{Name: l.Attrs().Name, Mac: l.Attrs().HardwareAddr.String(), Sandbox: p.Attachment.Netns}
	return backend.Attached{Container: iface}, nil
}

// attachment is what the steps of one attachment's ADD share: its plan, the
// namespaces it touches, the users' registry of its chain, the store's
// identity (which owner marks carry) and the ADD's undo stack.
type attachment struct {
	p     plan.Plan
	n     *netdev.Namespaces
	users record.Users
	store string
	u     *undo.Stack
}

// attachChain records the attachment as a user of each link of chain (the
// plan's, or its first links), then finds or creates the link; it returns
// the link the next one sits on.
func (a *attachment) attachChain(chain []plan.VLANLink) (netdev.At, error) {
	p, n := a.p, a.n
	parent, err := n.Master(p.Master.Name)
	if err != nil {
		return netdev.At{}, cnierr.InvalidConfig("master", "%q: no such link (%v)", p.Master.Name, err)
	}
	for i, l := range chain {
		top := i == len(p.Chain)-1
		mark := netdev.Mark{Store: a.store, Reserved: reservedAt(p, top), Top: top}
		var mtu int
		if parent, mtu, err = a.join(parent, l, mark); err != nil {
			return netdev.At{}, err
		}
		if err := fits(p, i, parent, mtu); err != nil {
			return netdev.At{}, err
		}
		if err := fault.Point(fault.SharedLink); err != nil {
			return netdev.At{}, err
		}
	}
	return parent, nil
}

// join finds chain link l ready and records the attachment as its user,
// under l's key's lock taken shared: ADDs of pods on one chain run side by
// side, and DEL or GC (the lock whole) never see the record without the
// link. A link to make, finish, mark or filter is handled under the lock
// whole, the attachment recorded first. The lock is let go before the next
// link's: once recorded, no DEL or GC takes l away.
func (a *attachment) join(parent netdev.At, l plan.VLANLink, mark netdev.Mark) (netdev.At, int, error) {
	unlock, err := a.users.LockKey(l.Key, true)
	if err != nil {
		return netdev.At{}, 0, cnierr.Internal("lock "+l.Name, err)
	}
	found, mtu, ready, err := netdev.JoinShared(a.n, parent, l, mark)
	if err == nil && ready {
		err = a.record(l.Key, l.Name)
	}
	unlock()
	if err != nil || ready {
		return found, mtu, err
	}
	absent := !found.Found()
	if unlock, err = a.users.LockKey(l.Key, false); err != nil {
		return netdev.At{}, 0, cnierr.Internal("lock "+l.Name, err)
	}
	defer unlock()
	// A mark of a release before store identities becomes this store's
	// alone only on evidence that it records the link's users: others
	// recorded here before this attachment (joiners record only under this
	// lock or once the mark names this store, so none is counted twice).
	users, err := a.users.Of(l.Key)
	others := err == nil && slices.ContainsFunc(users, func(id string) bool { return id != a.p.Attachment.ID() })
	mark.LegacyRecorded = func() bool { return others }
	if err := a.record(l.Key, l.Name); err != nil {
		return netdev.At{}, 0, err
	}
	held := conflict{a: a, tag: l.Tag, key: l.Key, parent: parent}
	return netdev.EnsureShared(a.n, parent, l, mark, held.explain, absent)
}

// record records the attachment as a user of the shared link key (name),
// before the link is made or anything stacks on it: a crash leaves nothing
// DEL or GC misses.
func (a *attachment) record(key, name string) error {
	if err := a.users.Use(key, a.p.Attachment); err != nil {
		return cnierr.Internal("record the user of "+name, err)
	}
	return fault.Point(fault.SharedRef)
}

// fits checks that what stacks on chain link i (the next chain link, or the
// endpoint) fits in the MTU the link really has: a link found under another
// name than planned (an admin's) may be smaller than the plan assumed. Code
// 7 naming the link and both MTUs, where the kernel would say EINVAL.
func fits(p plan.Plan, i int, found netdev.At, mtu int) error {
	l, idx := p.Chain[i], found.Index()
	next, what := 0, ""
	if i+1 < len(p.Chain) {
		next, what = p.Chain[i+1].MTU, "the link "+p.Chain[i+1].Name
	} else if e := p.Endpoint.Link(); e != nil {
		next, what = e.MTU, "the container link "+e.Name
	}
	if mtu == 0 || next <= mtu {
		return nil
	}
	return cnierr.InvalidConfig("mtu", "%s needs MTU %d, but the %s link it stacks on (found as ifindex %d, not as %q) has MTU %d: raise that link's MTU, or set mtu to at most %d",
		what, next, l.Tag, idx, l.Name, mtu, mtu)
}

// reserve records the attachment as a user of its chain links (creating
// those that are missing) and of its endpoint's VLAN, under the master's
// lock (shared: only qinq-admin waits) and each link key's; it returns the
// ifindex the endpoint sits on. Once reserved, nothing another invocation
// does takes them away, so the endpoint is created after the locks are
// dropped: parallel ADDs on one master overlap there.
func (a *attachment) reserve() (netdev.At, error) {
	p, links := a.p, a.users
	unlock, err := links.LockMaster(p.Master.Name)
	if err != nil {
		return netdev.At{}, cnierr.Internal("lock the master's state", err)
	}
	defer unlock()
	parent, err := a.attachChain(p.Chain)
	e, ok := p.Endpoint.(*plan.VLANEndpoint)
	if err != nil || !ok {
		return parent, err
	}
	// The kernel's EEXIST decides who gets the VLAN; the record names the
	// holder in the error, and is what DEL releases.
	unlockKey, err := links.LockKey(e.Key, true)
	if err != nil {
		return netdev.At{}, cnierr.Internal("lock the container link's VLAN", err)
	}
	defer unlockKey()
	if err := links.Use(e.Key, p.Attachment); err != nil {
		return netdev.At{}, cnierr.Internal("record the container link", err)
	}
	return parent, fault.Point(fault.ContainerRef)
}

// createEndpoint creates the container's link on parent. A VLAN endpoint
// on the master itself (tunnel mode) has no chain link of qinq's below it:
// it carries the filter of reserved 802.1 frames itself.
func (a *attachment) createEndpoint(parent netdev.At) (netlink.Link, error) {
	p, n := a.p, a.n
	cl := netdev.ContainerLinkSpec{Link: endpointLink(p.Endpoint, parent.Index()), Name: p.Endpoint.Link().Name}
	if parent.Own {
		cl.Via = &parent.H
	}
	if e, ok := p.Endpoint.(*plan.VLANEndpoint); ok {
		cl.InUse = conflict{a: a, tag: e.Tag, key: e.Key, parent: parent}.explain
	}
	if len(p.Chain) == 0 {
		cl.BeforeUp = func(index int) error { return netdev.FilterReserved(n.ContainerNS, index, reserved(p)) }
	}
	return netdev.CreateInContainer(n, cl, a.u)
}

// reserved is the filter of reserved 802.1 frames on the link p's pods
// send through first: all dropped, unless the network opts in.
func reserved(p plan.Plan) netdev.Reserved { return reservedAt(p, true) }

// reservedAt is reserved for a chain link: below the top, only other chain
// links' pods send through it, and each top filters its own.
func reservedAt(p plan.Plan, top bool) netdev.Reserved {
	if top && p.L2ProtocolTunnel {
		return netdev.PassReserved
	}
	return netdev.DropReserved
}

// endpointLink is the link of endpoint e's kind, on parent.
func endpointLink(e plan.Endpoint, parent int) netlink.Link {
	i := e.Link()
	attrs := netlink.NewLinkAttrs()
	attrs.ParentIndex, attrs.MTU, attrs.HardwareAddr = parent, i.MTU, i.HardwareAddr()
	switch e := e.(type) {
	case *plan.MacvlanEndpoint:
		return &netlink.Macvlan{LinkAttrs: attrs, Mode: macvlanModes[e.Mode]}
	case *plan.IpvlanEndpoint:
		return &netlink.IPVlan{LinkAttrs: attrs, Mode: ipvlanModes[e.Mode], Flag: netlink.IPVLAN_FLAG_BRIDGE}
	case *plan.VLANEndpoint:
		return &netlink.Vlan{LinkAttrs: attrs, VlanId: int(e.Tag.VID), VlanProtocol: e.Tag.Proto}
	}
	return nil
}

var (
	macvlanModes = map[string]netlink.MacvlanMode{
		"bridge": netlink.MACVLAN_MODE_BRIDGE, "private": netlink.MACVLAN_MODE_PRIVATE, "vepa": netlink.MACVLAN_MODE_VEPA,
	}
	ipvlanModes = map[string]netlink.IPVlanMode{
		"l2": netlink.IPVLAN_MODE_L2, "l3": netlink.IPVLAN_MODE_L3, "l3s": netlink.IPVLAN_MODE_L3S,
	}
)

// conflict explains an EEXIST from the kernel for the VLAN link tag on
// parent: which VLAN, on which link, and which attachment holds it when qinq
// made it. The kernel allows one VLAN link per ID on a parent, whatever
// namespace it went to, so a VLAN held by a container's own vlan link cannot
// also be shared by macvlan/ipvlan containers, and the other way round.
type conflict struct {
	a      *attachment
	tag    plan.Tag
	key    string
	parent netdev.At
}

func (c conflict) explain() error {
	on := fmt.Sprintf("ifindex %d", c.parent.Index())
	if l, err := c.parent.H.LinkByIndex(c.parent.Index()); err == nil {
		on = l.Attrs().Name
	}
	holder := "another container"
	users, _ := c.a.users.Of(c.key)
	for _, id := range users {
		if id != c.a.p.Attachment.ID() {
			holder = "attachment " + id
			break
		}
	}
	return cnierr.Conflict("%s on %s is already used by %s (the kernel allows one link per VLAN ID on a parent, in any namespace: "+
		"a VLAN a container holds as its own vlan link cannot also be shared by macvlan or ipvlan containers, nor the other way round)",
		c.tag, on, holder)
}
