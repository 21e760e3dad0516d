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
	// Within: its parent is in the container, so it is created there.
	Within bool
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
func CreateInContainer(n *Namespaces, c ContainerLinkSpec, u *undo.Stack) (netlink.Link, error) {
	attrs := c.Link.Attrs()
	attrs.Name = c.Name
	creator := n.Links
	if c.Via != nil {
		creator = *c.Via
	}
	switch {
	case c.Within:
		creator = *n.Container
	case !n.inContainer():
		attrs.Namespace = netlink.NsFd(int(n.ContainerNS.Fd()))
	}
	ctr := *n.Container
	if err := Retry(func() error { return creator.LinkAdd(c.Link) }); err != nil {
		if errors.Is(err, unix.EEXIST) {
			if taken := Absent(ctr, c.Name); taken != nil {
				return nil, taken // taken since the plan's check
			}
			if c.InUse != nil {
				return nil, c.InUse()
			}
		}
		return nil, CreateError(c.Link, "create "+c.Name+" in the container", err)
	}
	created, err := ctr.LinkByName(c.Name)
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
	if err := SetUp(ctr, created); err != nil {
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
