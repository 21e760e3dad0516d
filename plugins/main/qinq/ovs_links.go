package main

import (
	"errors"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/stack"
)

// stackCLinks creates the C-links on the veth end inside the container,
// outermost first, and returns the innermost (CNI_IFNAME). They need no
// undo of their own: they go with the veth.
func (a *ovsAttachment) stackCLinks(netns ns.NetNS) (netlink.Link, error) {
	var inner netlink.Link
	err := netns.Do(func(ns.NetNS) error {
		parent, err := netlinksafe.LinkByName(a.vethEnd().Name)
		if err != nil {
			return err
		}
		links := a.plan.Links()[1:]
		for i, l := range links {
			v := newCLink(l, parent.Attrs().Index)
			if i == len(links)-1 {
				v.HardwareAddr = a.inv.conf.MAC
			}
			if err := netlink.LinkAdd(v); err != nil {
				return err
			}
			if parent, err = netlinksafe.LinkByName(l.Name); err != nil {
				return err
			}
			if err := netlink.LinkSetUp(parent); err != nil {
				return err
			}
		}
		inner = parent
		return nil
	})
	if err != nil {
		return nil, cnierr.Internal("create the C-links in the container", err)
	}
	return inner, nil
}

func newCLink(l stack.Link, parent int) *netlink.Vlan {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.ParentIndex, attrs.MTU = l.Name, parent, l.MTU
	return &netlink.Vlan{LinkAttrs: attrs, VlanId: int(l.VID), VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}
}

// checkContainerLinks verifies, in the container, the veth end and the
// C-links planned on it: type, VLAN ID, MTU and parent chain.
func (a *ovsAttachment) checkContainerLinks(netns ns.NetNS) error {
	return netns.Do(func(ns.NetNS) error {
		end := a.vethEnd()
		veth, err := netlinksafe.LinkByName(end.Name)
		if err != nil {
			return cnierr.CheckFailed("%s: not found in the container", end.Name)
		}
		if veth.Type() != "veth" || veth.Attrs().MTU != end.MTU {
			return cnierr.CheckFailed("%s: %s link with MTU %d, expected a veth with MTU %d", end.Name, veth.Type(), veth.Attrs().MTU, end.MTU)
		}
		parent := veth.Attrs().Index
		for _, want := range a.plan.Links()[1:] {
			if parent, err = checkCLink(want, parent); err != nil {
				return err
			}
		}
		return nil
	})
}

func checkCLink(want stack.Link, parent int) (int, error) {
	got, err := netlinksafe.LinkByName(want.Name)
	if err != nil {
		return 0, cnierr.CheckFailed("%s: not found in the container", want.Name)
	}
	v, ok := got.(*netlink.Vlan)
	switch {
	case !ok:
		return 0, cnierr.CheckFailed("%s: is a %q link, expected a VLAN link", want.Name, got.Type())
	case v.VlanProtocol != netlink.VLAN_PROTOCOL_8021Q || v.VlanId != int(want.VID):
		return 0, cnierr.CheckFailed("%s: %s VLAN %d, expected 802.1Q VLAN %d", want.Name, config.ProtoName(v.VlanProtocol), v.VlanId, want.VID)
	case v.MTU != want.MTU:
		return 0, cnierr.CheckFailed("%s: MTU %d, expected %d", want.Name, v.MTU, want.MTU)
	case v.ParentIndex != parent:
		return 0, cnierr.CheckFailed("%s: stacked on ifindex %d, expected ifindex %d", want.Name, v.ParentIndex, parent)
	}
	return v.Index, nil
}

// deleteHostVeth deletes the host end of a standalone veth, if it is still
// there and still a veth.
func deleteHostVeth(name string) error {
	l, err := netlinksafe.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if l.Type() != "veth" {
		return nil // not ours: the name is taken by something else
	}
	return ignoreNoDev(netlink.LinkDel(l))
}
