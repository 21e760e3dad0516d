package netdev

import (
	"errors"
	"net"
	"slices"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/plan"
)

// FindVLAN returns the VLAN link on parent with tag t, or nil if there is
// none in h's namespace. It lists the namespace's links: callers that know
// the link's likely name try LookupVLAN first.
func FindVLAN(h netlinksafe.Handle, parent int, t plan.Tag) (netlink.Link, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, Error("list links", err)
	}
	for _, l := range links {
		if isVLAN(l, parent, t) {
			return l, nil
		}
	}
	return nil, nil
}

// LookupVLAN finds the VLAN link l on parent: by its names first (one
// request each), then by listing, for a link an admin made under another
// name or one still under a temporary name.
func LookupVLAN(h netlinksafe.Handle, parent int, l plan.VLANLink) (netlink.Link, error) {
	for _, name := range l.Names() {
		if found, err := h.LinkByName(name); err == nil && isVLAN(found, parent, l.Tag) {
			return found, nil
		}
	}
	return FindVLAN(h, parent, l.Tag)
}

func isVLAN(l netlink.Link, parent int, t plan.Tag) bool {
	v, ok := l.(*netlink.Vlan)
	return ok && v.ParentIndex == parent && v.VlanProtocol == t.Proto && v.VlanId == int(t.VID)
}

// NewVLAN is the VLAN link with tag t on parent, to be created as name.
func NewVLAN(name string, parent int, t plan.Tag, mtu int) *netlink.Vlan {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.ParentIndex, attrs.MTU = name, parent, mtu
	return &netlink.Vlan{LinkAttrs: attrs, VlanId: int(t.VID), VlanProtocol: t.Proto}
}

// EnsureShared returns the shared VLAN link l on parent, creating it if
// there is none. The kernel allows one VLAN link per (parent, protocol, ID),
// in any namespace, so an existing one is reused whoever made it, wherever
// it is (an older release's in the node's namespace); inUse explains a link
// for it that the kernel has elsewhere (a container that owns it). A new one
// goes to qinq's namespace (kernel mode, see Namespaces.Find).
//
// The usual cases cost no more than they must: one request per namespace
// finds the link under its planned name, or the link is created. The
// namespaces' links are listed only when the kernel refuses the VLAN because
// it exists under another name (an admin's, or a temporary one an ADD died
// with): an ADD never scans the node.
//
// A link it makes is isolated from the stack of its namespace before it
// goes up (IsolateHostLink); one it finds is left as it is: an admin's link
// is the admin's to set.
//
// m.Store is the caller's store identity, written into the mark of a link it
// creates and added to the mark of an owned link another store made, so
// that store never deletes it from under the caller's users. It returns the
// link and its MTU.
//
// absent says the caller has just looked l up under its names and found
// nothing (JoinShared): the link is then created at once, and the kernel's
// EEXIST stands for the lookup (one request instead of one per name and
// namespace) if another ADD made it in between.
func EnsureShared(n *Namespaces, parent At, l plan.VLANLink, m Mark, inUse func() error, absent bool) (At, int, error) {
	var found At
	if !absent {
		var err error
		if found, err = n.Find(parent, l, false); err != nil {
			return At{}, 0, err
		}
	}
	if !found.Found() {
		v := NewVLAN(TempName(), parent.Index(), l.Tag, l.MTU)
		made, err := n.createShared(parent, v, l, m)
		if err == nil {
			return made, l.MTU, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return At{}, 0, CreateError(v, "create "+l.Name, err)
		}
		if found, err = n.Find(parent, l, true); err != nil {
			return At{}, 0, err
		}
		if !found.Found() {
			return At{}, 0, inUse()
		}
	}
	if IsTempName(found.Attrs().Name) {
		// An ADD died half-way through creating it.
		if _, err := n.finishing(found, l, m).finish(found.Link); err != nil {
			return At{}, 0, err
		}
		return n.refetch(found)
	}
	if found.Own && found.Attrs().MasterIndex != 0 {
		return At{}, 0, inUse() // a bridge's uplink: its one receive handler is the bridge's
	}
	if err := joinOwners(found.H, found.Link, m, l.Key); err != nil {
		return At{}, 0, err
	}
	if err := m.ensureReserved(found.H, n.nsOf(found), found.Link); err != nil {
		return At{}, 0, err
	}
	if found.Attrs().Flags&net.FlagUp == 0 {
		if err := Retry(func() error { return found.H.LinkSetUp(found.Link) }); err != nil {
			return At{}, 0, Error("set "+found.Attrs().Name+" up", err)
		}
	}
	return found, found.Attrs().MTU, nil
}

// JoinShared finds the shared VLAN link l on parent when it is ready to
// be joined as it is: under its final name, up, its mark already naming
// m.Store and its filter of reserved frames in place. It writes nothing, so
// ADDs joining one link run side by side (under its key's lock, shared);
// ready false sends the caller to EnsureShared, under the lock whole, with
// found set if there was a link under one of l's names.
func JoinShared(n *Namespaces, parent At, l plan.VLANLink, m Mark) (found At, mtu int, ready bool, err error) {
	if found, err = n.Find(parent, l, false); err != nil || !found.Found() {
		return At{}, 0, false, err
	}
	a := found.Attrs()
	if IsTempName(a.Name) || a.Flags&net.FlagUp == 0 || (found.Own && a.MasterIndex != 0) {
		return found, 0, false, nil
	}
	if o, owned := OwnerOf(found.Link); owned {
		if next := nextMark(o, m, l.Key); !slices.Equal(next.Stores, o.Stores) || next.Key != o.Key {
			return found, 0, false, nil
		}
		got, filtered, err := ReservedOf(found.H, found.Link)
		if err != nil || !filtered || (m.Top && got != m.Reserved) {
			return found, 0, false, err
		}
	}
	return found, a.MTU, true, nil
}

// createShared creates v (l on parent) and finishes it (finish.created);
// an EEXIST from the kernel comes back as it is.
func (n *Namespaces) createShared(parent At, v *netlink.Vlan, l plan.VLANLink, m Mark) (At, error) {
	made, isolate, err := n.createChainLink(parent, v)
	if err != nil {
		return At{}, err
	}
	f := finish{h: made.H, where: n.nsOf(made), l: l, m: m, isolate: isolate}
	if _, err := f.created(made.Link); err != nil {
		return At{}, err
	}
	return made, nil // finish kept its attributes (name, alias, flags) up to date
}

// refetch reads a link again after its rename (one found, not made).
func (n *Namespaces) refetch(a At) (At, int, error) {
	l, err := a.H.LinkByIndex(a.Index())
	if err != nil {
		return At{}, 0, Error("find the shared link", err)
	}
	a.Link = l
	return a, l.Attrs().MTU, nil
}

// finishing is how a link found at a is finished: isolated from its
// namespace's stack (not in the container: linkInContainer), filtered and
// marked there.
func (n *Namespaces) finishing(a At, l plan.VLANLink, m Mark) finish {
	f := finish{h: a.H, where: n.nsOf(a), l: l, m: m, isolate: IsolateHostLink}
	switch {
	case a.Own:
		f.isolate = func(name string) error { return isolateIn(n.Own, name) }
	case n.inContainer():
		f.isolate = nil
	}
	return f
}

// nsOf is the namespace of a link found at a, for what netlink handles do
// not carry (tc filters): nil for the calling thread's, the node's.
func (n *Namespaces) nsOf(a At) ns.NetNS {
	switch {
	case a.Own:
		return n.Own.NS
	case n.inContainer():
		return n.ContainerNS
	}
	return nil
}

// FindShared finds the VLAN link l on parent under its planned name, or under
// the alternative one when the first belongs to an unrelated link, or under
// the hashed name a previous release gave it; nil if none holds it.
func FindShared(h netlinksafe.Handle, parent int, l plan.VLANLink) (netlink.Link, error) {
	for _, name := range l.Names() {
		found, err := h.LinkByName(name)
		switch {
		case IsGone(err):
			continue
		case err != nil:
			return nil, Error("find "+name, err)
		case isVLAN(found, parent, l.Tag):
			return found, nil
		}
	}
	return nil, nil
}

// finish is what finishes a shared link EnsureShared makes: in h's
// namespace (where: nil for the calling thread's), isolated from its stack
// by isolate (nil: the container's own link).
type finish struct {
	h       netlinksafe.Handle
	where   ns.NetNS
	l       plan.VLANLink
	m       Mark
	isolate func(string) error
}

// created finishes a shared link just created. It was made so that it is
// recognisably qinq's at every instant, even if the process dies: the
// kernel takes no alias at creation, so the link is born under a temporary
// name, qinq's by construction, gets the owner alias, and only then takes
// its real name; it is set up last (before 6.2 the kernel renames only links
// that are down), never up under a temporary name. If finishing fails, the
// link goes.
func (f finish) created(v netlink.Link) (int, error) {
	idx, err := f.finish(v)
	if err != nil {
		_ = f.h.LinkDel(v)
	}
	return idx, err
}

// finish isolates a shared link from its namespace's stack (under its
// temporary name: the settings follow the rename), filters the reserved
// 802.1 frames it lets out, marks it as owned by the store and gives it its
// planned name (the alternative one when the first is taken by an unrelated
// link).
func (f finish) finish(v netlink.Link) (int, error) {
	h, l := f.h, f.l
	if f.isolate != nil {
		if err := f.isolate(v.Attrs().Name); err != nil {
			return 0, err
		}
	}
	if err := FilterReserved(f.where, v.Attrs().Index, f.m.Reserved); err != nil {
		return 0, err
	}
	if err := setAlias(h, v, OwnerAlias(f.m.Store, l.Key)); err != nil {
		return 0, Error("mark "+v.Attrs().Name+" as owned", err)
	}
	var err error
	for _, name := range []string{l.Name, l.AltName} {
		if err = RenameUp(h, v, name); err == nil {
			return v.Attrs().Index, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	return 0, Error("name the shared link "+l.Name+" and set it up", err)
}

// DeleteShared deletes the shared link l if store may (DeletableBy).
func DeleteShared(h netlinksafe.Handle, l netlink.Link, store string) error {
	if l == nil || !DeletableBy(l, store) {
		return nil
	}
	return IgnoreGone(Retry(func() error { return h.LinkDel(l) }))
}
