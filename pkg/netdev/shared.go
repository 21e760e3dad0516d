package netdev

import (
	"errors"
	"net"
	"slices"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
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

// LookupVLAN finds the VLAN link l on parent: by its planned names first
// (one request each), then by listing, for a link an admin made under
// another name or one still under a temporary name.
func LookupVLAN(h netlinksafe.Handle, parent int, l plan.VLANLink) (netlink.Link, error) {
	for _, name := range []string{l.Name, l.AltName} {
		if found, err := h.LinkByName(name); name != "" && err == nil && isVLAN(found, parent, l.Tag) {
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

// EnsureShared returns the ifindex of the shared VLAN link l on parent,
// creating it if there is none. The kernel allows one VLAN link per
// (parent, protocol, ID), so an existing one is reused whoever made it;
// inUse explains a link for it that the kernel has elsewhere (another
// namespace: a container that owns it).
//
// The usual cases cost no more than they must: one request finds the link
// under its planned name, or the link is created. The namespace's links are
// listed only when the kernel refuses the VLAN because it exists under
// another name (an admin's, or a temporary one an ADD died with): an ADD
// never scans the node.
//
// A link it makes on the host is isolated from the node before it goes up
// (IsolateHostLink); one it finds is left as it is: an admin's link is the
// admin's to set.
//
// m.Store is the caller's store identity, written into the mark of a link it
// creates and added to the mark of an owned link another store made, so
// that store never deletes it from under the caller's users. It returns the
// link's ifindex and MTU.
func EnsureShared(n *Namespaces, parent int, l plan.VLANLink, m Mark, inUse func() error) (idx, mtu int, err error) {
	h, isolate := n.Links, !n.inContainer()
	found, err := byName(h, parent, l)
	if err != nil {
		return 0, 0, err
	}
	fin := finish{h: h, l: l, m: m, isolate: isolate}
	if !isolate {
		fin.where = n.ContainerNS
	}
	if found == nil {
		v := NewVLAN(TempName(), parent, l.Tag, l.MTU)
		err := Retry(func() error { return h.LinkAdd(v) })
		if err == nil {
			idx, err := fin.created(v)
			return idx, l.MTU, err
		}
		if !errors.Is(err, unix.EEXIST) {
			return 0, 0, Error("create "+l.Name, err)
		}
		if found, err = FindVLAN(h, parent, l.Tag); err != nil {
			return 0, 0, err
		}
		if found == nil {
			return 0, 0, inUse()
		}
	}
	if IsTempName(found.Attrs().Name) {
		idx, err := fin.finish(found) // an ADD died half-way through creating it
		return idx, found.Attrs().MTU, err
	}
	if err := joinOwners(h, found, m); err != nil {
		return 0, 0, err
	}
	if err := m.ensureReserved(h, fin.where, found); err != nil {
		return 0, 0, err
	}
	if found.Attrs().Flags&net.FlagUp == 0 {
		if err := Retry(func() error { return h.LinkSetUp(found) }); err != nil {
			return 0, 0, Error("set "+found.Attrs().Name+" up", err)
		}
	}
	return found.Attrs().Index, found.Attrs().MTU, nil
}

// FindShared finds the shared VLAN link l on parent under its planned names
// (one request each); nil if neither holds it. Planning reads the MTUs of
// the links that exist this way.
func FindShared(h netlinksafe.Handle, parent int, l plan.VLANLink) (netlink.Link, error) {
	return byName(h, parent, l)
}

// byName finds the VLAN link l on parent under its planned name, or under
// the alternative one when the first belongs to an unrelated link; nil if
// neither holds it.
func byName(h netlinksafe.Handle, parent int, l plan.VLANLink) (netlink.Link, error) {
	for _, name := range []string{l.Name, l.AltName} {
		if name == "" {
			break
		}
		found, err := h.LinkByName(name)
		switch {
		case IsGone(err):
			return nil, nil
		case err != nil:
			return nil, Error("find "+name, err)
		case isVLAN(found, parent, l.Tag):
			return found, nil
		}
	}
	return nil, nil
}

// finish is what finishes a shared link EnsureShared makes: in h's
// namespace (where: nil for the calling thread's, else the container's).
type finish struct {
	h       netlinksafe.Handle
	where   ns.NetNS
	l       plan.VLANLink
	m       Mark
	isolate bool
}

// created finishes a shared link just created. It was made so that it is
// recognisably qinq's at every instant, even if the process dies: the
// kernel takes no alias at creation, so the link is born under a temporary
// name, qinq's by construction, gets the owner alias, and only then takes
// its real name; it is set up last, as the kernel renames only links that
// are down. If finishing fails, the link goes.
func (f finish) created(v netlink.Link) (int, error) {
	idx, err := f.finish(v)
	if err != nil {
		_ = f.h.LinkDel(v)
	}
	return idx, err
}

// finish isolates a shared link on the host from the node (under its
// temporary name: the settings follow the rename), filters the reserved
// 802.1 frames it lets out, marks it as owned by the store and gives it its
// planned name (the alternative one when the first is taken by an unrelated
// link).
func (f finish) finish(v netlink.Link) (int, error) {
	h, l := f.h, f.l
	if f.isolate {
		if err := IsolateHostLink(v.Attrs().Name); err != nil {
			return 0, err
		}
	}
	if err := FilterReserved(f.where, v.Attrs().Index, f.m.Reserved); err != nil {
		return 0, err
	}
	if err := Retry(func() error { return h.LinkSetAlias(v, OwnerAlias(f.m.Store, l.Key)) }); err != nil {
		return 0, Error("mark "+v.Attrs().Name+" as owned", err)
	}
	var err error
	for _, name := range []string{l.Name, l.AltName} {
		if err = Retry(func() error { return h.LinkSetName(v, name) }); err == nil {
			if v.Attrs().Flags&net.FlagUp == 0 {
				err = Retry(func() error { return h.LinkSetUp(v) })
			}
			return v.Attrs().Index, Error("set "+name+" up", err)
		}
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	return 0, Error("name the shared link "+l.Name, err)
}

// Mark is how EnsureShared marks the shared links it creates or reuses.
type Mark struct {
	Store string
	// LegacyRecorded reports whether this store records users of the link
	// besides the caller. A link marked by a release before store
	// identities whose users this store records is its own (a node
	// upgraded in place, same state directory): it is re-marked as this
	// store's alone. Without such evidence the legacy mark stays beside it.
	LegacyRecorded func() bool
	// Reserved is the filter of reserved 802.1 frames a link gets; Top:
	// pods' frames enter the link directly (the chain's last link), so an
	// existing link's filter must be Reserved itself, not just present.
	Reserved Reserved
	Top      bool
}

// ensureReserved gives an owned link found without the filter (made by a
// release before it) the filter, and refuses (code 100) a top link whose
// filter lets other frames out than this attachment may send: one S-VLAN's
// tunnel-mode networks agree on l2ProtocolTunnel. An admin's link is the
// admin's (see docs/security.md).
func (m Mark) ensureReserved(h netlinksafe.Handle, where ns.NetNS, l netlink.Link) error {
	if _, owned := OwnerOf(l); !owned {
		return nil
	}
	got, found, err := ReservedOf(h, l)
	switch {
	case err != nil:
		return err
	case !found:
		return FilterReserved(where, l.Attrs().Index, m.Reserved)
	case m.Top && got != m.Reserved:
		return cnierr.Conflict("%s: %s, and this network asks that %s: the tunnel-mode networks of one S-VLAN on one master must agree on l2ProtocolTunnel",
			l.Attrs().Name, got, m.Reserved)
	}
	return nil
}

// joinOwners adds the store to the mark of an owned link that does not name
// it yet (made by another store, or by a release before store identities).
// An admin's link stays unmarked, and so never deleted.
func joinOwners(h netlinksafe.Handle, l netlink.Link, m Mark) error {
	o, ok := OwnerOf(l)
	if !ok || slices.Contains(o.Stores, m.Store) {
		return nil
	}
	next := o.With(m.Store)
	if o.OnlyBy(LegacyStore) && m.LegacyRecorded != nil && m.LegacyRecorded() {
		next = Owner{Stores: []string{m.Store}, Key: o.Key}
	}
	alias := next.Alias()
	return Error("mark "+l.Attrs().Name+" as used by this store too", Retry(func() error { return h.LinkSetAlias(l, alias) }))
}

// DeletableBy reports whether store may delete l once its own records show
// no user (its users' directory exists and is empty): l is marked by store
// alone, or by a release before store identities alone (whose users' directory
// can only be this state directory's: every ADD of this release marks the
// links it uses), or still has the temporary name of an ADD of this node
// that died before marking it.
func DeletableBy(l netlink.Link, store string) bool {
	if o, ok := OwnerOf(l); ok {
		return o.OnlyBy(store) || o.OnlyBy(LegacyStore)
	}
	return IsTempName(l.Attrs().Name)
}

// DeleteShared deletes the shared link l if store may (DeletableBy).
func DeleteShared(h netlinksafe.Handle, l netlink.Link, store string) error {
	if l == nil || !DeletableBy(l, store) {
		return nil
	}
	return IgnoreGone(Retry(func() error { return h.LinkDel(l) }))
}
