package netdev

import (
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// At is a link of a chain and the namespace it lives in. In kernel mode the
// master is in the node's namespace and every chain link this release makes
// is in qinq's own (Own), made there directly on its lower link: the node's
// stack never sees a tenant's frame. A chain link an older release made (or
// an admin's) stays in the node's namespace, where it was.
type At struct {
	netlink.Link
	H   netlinksafe.Handle
	Own bool
}

// Index is the link's ifindex in its namespace.
func (a At) Index() int { return a.Attrs().Index }

// Found reports whether a link was found.
func (a At) Found() bool { return a.Link != nil }

// Master is the master in the links' namespace, looked up once per verb.
func (n *Namespaces) Master(name string) (At, error) {
	if n.master != nil && n.master.Attrs().Name == name {
		return At{Link: n.master, H: n.Links}, nil
	}
	l, err := n.Links.LinkByName(name)
	if err != nil {
		return At{}, err
	}
	n.master = l
	return At{Link: l, H: n.Links}, nil
}

// Find finds the chain link l on parent: in qinq's namespace first, where
// this release makes it, then where parent is (an older release's chain,
// an admin's link); the kernel has at most one of them. Under its planned
// names only, or with list also by listing (a link under another name, or
// a temporary one an ADD died with).
func (n *Namespaces) Find(parent At, l plan.VLANLink, list bool) (At, error) {
	if !parent.Own && n.Own != nil {
		id, err := n.parentID()
		if err != nil {
			return At{}, err
		}
		if id >= 0 { // else no link in qinq's namespace refers to the node's
			f, err := findVLAN(n.Own.H, parent.Index(), id, l, list)
			if f != nil || err != nil {
				return At{Link: f, H: n.Own.H, Own: true}, err
			}
		}
	}
	f, err := findVLAN(parent.H, parent.Index(), -1, l, list)
	return At{Link: f, H: parent.H, Own: parent.Own}, err
}

// parentID is the id qinq's namespace has for the links' one (-1: none yet,
// so no link there sits on one of the node's).
func (n *Namespaces) parentID() (int, error) {
	if n.hostID >= 0 {
		return n.hostID, nil
	}
	id, err := n.Own.H.GetNetNsIdByFd(int(n.Host))
	if err != nil {
		return -1, Error("read the id of the node's network namespace in qinq's", err)
	}
	n.hostID = id
	return id, nil
}

// findVLAN finds l on parent in h's namespace: the parent is in the
// namespace with id nsid there, or in h's own (nsid < 0).
func findVLAN(h netlinksafe.Handle, parent, nsid int, l plan.VLANLink, list bool) (netlink.Link, error) {
	for _, name := range l.Names() {
		found, err := h.LinkByName(name)
		switch {
		case IsGone(err):
		case err != nil:
			return nil, Error("find "+name, err)
		case isVLANIn(found, parent, nsid, l.Tag):
			return found, nil
		}
	}
	if !list {
		return nil, nil
	}
	links, err := h.LinkList()
	if err != nil {
		return nil, Error("list links", err)
	}
	for _, f := range links {
		if isVLANIn(f, parent, nsid, l.Tag) {
			return f, nil
		}
	}
	return nil, nil
}

func isVLANIn(l netlink.Link, parent, nsid int, t plan.Tag) bool {
	if nsid < 0 {
		return isVLAN(l, parent, t) && l.Attrs().NetNsID < 0
	}
	return isVLAN(l, parent, t) && l.Attrs().NetNsID == nsid
}

// own is qinq's namespace, made if it is missing; nil where chain links are
// made in the links' namespace (linkInContainer, or no MakeOwn).
func (n *Namespaces) own() (*Own, error) {
	if n.Own != nil || n.MakeOwn == nil || n.inContainer() {
		return n.Own, nil
	}
	o, err := n.MakeOwn()
	if err != nil {
		return nil, err
	}
	n.Own, n.hostID = o, -1
	return o, nil
}

// createChainLink creates v, a VLAN link on parent under a temporary name,
// where this release makes chain links: in qinq's namespace, through the
// parent's namespace (IFLA_LINK is resolved in the requester's namespace,
// IFLA_NET_NS_FD names where the link goes), or in the links' namespace
// (linkInContainer). It returns where the link is, and how to isolate it
// from the stack there (nil: nothing to isolate, the container's own).
func (n *Namespaces) createChainLink(parent At, v *netlink.Vlan) (At, func(string) error, error) {
	o, err := n.own()
	if err != nil {
		return At{}, nil, err
	}
	where, isolate := At{H: n.Links}, IsolateHostLink
	switch {
	case o != nil:
		v.Namespace = netlink.NsFd(int(o.NS.Fd()))
		where, isolate = At{H: o.H, Own: true}, func(name string) error { return isolateIn(o, name) }
	case n.inContainer():
		isolate = nil
	}
	if err := Retry(func() error { return parent.H.LinkAdd(v) }); err != nil {
		return At{}, nil, err
	}
	created, err := where.H.LinkByName(v.Name)
	if err != nil {
		return At{}, nil, cnierr.Internal("find the new link "+v.Name, err)
	}
	where.Link = created
	return where, isolate, nil
}

// SameLink reports whether got (a link in the container) sits on parent:
// the same ifindex in the same namespace (indexes repeat across
// namespaces: the container's id for parent's namespace says which).
func (n *Namespaces) SameLink(got netlink.Link, parent At) bool {
	if got.Attrs().ParentIndex != parent.Index() {
		return false
	}
	if n.inContainer() {
		return got.Attrs().NetNsID < 0
	}
	fd := int(n.Host)
	if parent.Own {
		fd = int(n.Own.NS.Fd())
	}
	id, err := n.Container.GetNetNsIdByFd(fd)
	return err == nil && id >= 0 && id == got.Attrs().NetNsID
}
