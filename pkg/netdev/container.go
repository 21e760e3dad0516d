package netdev

import (
	"errors"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// Absent refuses names already taken in the container (code 100): checked
// before anything changes, so a repeated ADD never touches a live attachment.
func Absent(c netlinksafe.Handle, names ...string) error {
	for _, name := range names {
		if _, err := c.LinkByName(name); err == nil {
			return cnierr.Conflict("%q already exists in the container", name)
		}
	}
	return nil
}

// ContainerLinkSpec is the container link (what the pod gets, or the OVS
// veth's container end) to create in the container.
type ContainerLinkSpec struct {
	// Link is the link to create; its name and namespace are set here.
	Link netlink.Link
	// Name is its final name in the container (CNI_IFNAME).
	Name string
	// InUse explains an EEXIST from the kernel (who holds what), if set.
	InUse func() error
	// FromContainer: the request is made in the container, where the
	// link's parent is, or it has none (a veth, whose peer's namespace is
	// set on it).
	FromContainer bool
	// Via is the namespace of its parent when that is not the links' one
	// (qinq's): the kernel resolves the parent's index in the requester's.
	Via *netlinksafe.Handle
	// BeforeUp, if set, finishes the link in the container (its ifindex
	// there) before it goes up: nothing leaves it unfiltered.
	BeforeUp func(index int) error
}

// CreateInContainer creates c.Link directly in the container under its
// final name, finishes it there while it is down (BeforeUp), then sets it
// up: no rename, which would cost the kernel an RCU grace period
// (dev_change_name), and one read-back (its ifindex and MAC). A crash
// leaves nothing, or the link down under CNI_IFNAME, which DEL deletes as
// the attachment's record says qinq made it. The link's deletion goes on u.
// It returns the link as the container sees it.
//
// The kernel looks a new link's name up in the requester's namespace too
// (__rtnl_newlink), so a link made from its parent's namespace, which holds
// a link of that name (eth0 on a Kubernetes node), is made under a
// temporary name and renamed in the container.
func CreateInContainer(n *Namespaces, c ContainerLinkSpec, u *undo.Stack) (netlink.Link, error) {
	attrs := c.Link.Attrs()
	attrs.Name = c.Name
	ctr := *n.Container
	creator := n.Links
	if c.Via != nil {
		creator = *c.Via
	}
	switch {
	case c.FromContainer:
		creator = ctr
	case !n.inContainer():
		attrs.Namespace = netlink.NsFd(int(n.ContainerNS.Fd()))
	}
	err := Retry(func() error { return creator.LinkAdd(c.Link) })
	if errors.Is(err, unix.EEXIST) {
		if taken := Absent(ctr, c.Name); taken != nil {
			return nil, taken // taken since the plan's check
		}
		if creator.Handle != ctr.Handle {
			if _, found := creator.LinkByName(c.Name); found == nil {
				attrs.Name = TempName()
				err = Retry(func() error { return creator.LinkAdd(c.Link) })
			}
		}
	}
	if err != nil {
		if errors.Is(err, unix.EEXIST) && c.InUse != nil {
			return nil, c.InUse()
		}
		return nil, CreateError(c.Link, "create "+c.Name+" in the container", err)
	}
	created, err := ctr.LinkByName(attrs.Name)
	if err != nil {
		return nil, cnierr.Internal("find the new container link "+c.Name, err)
	}
	u.Push("delete "+c.Name+" in the container", func() error { return IgnoreGone(ctr.LinkDel(created)) })
	if err := fault.Point(fault.ContainerLink); err != nil {
		return nil, err
	}
	if c.BeforeUp != nil {
		if err := c.BeforeUp(created.Attrs().Index); err != nil {
			return nil, err
		}
	}
	if attrs.Name != c.Name {
		if err := RenameUp(ctr, created, c.Name); err != nil {
			return nil, Error("rename the container link to "+c.Name+" and set it up", err)
		}
	} else if err := SetUp(ctr, created); err != nil {
		return nil, err
	}
	if err := fault.Point(fault.Renamed); err != nil {
		return nil, err
	}
	return created, nil
}

// DeleteNamed deletes the link called name in h's namespace if it is of
// kind (its Type()); a link of another kind under that name is someone
// else's and stays.
func DeleteNamed(h netlinksafe.Handle, name, kind string) error {
	l, err := h.LinkByName(name)
	if IsGone(err) {
		return nil
	}
	if err != nil {
		return Error("find "+name, err)
	}
	if l.Type() != kind {
		return nil
	}
	return Error("delete "+name, IgnoreGone(Retry(func() error { return h.LinkDel(l) })))
}
