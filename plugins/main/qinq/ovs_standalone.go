package main

import (
	"errors"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/ovs"
	"github.com/qinq-cni/qinq/pkg/stack"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// defaultBridgeMTU is used when OVS reports no MTU for the bridge.
const defaultBridgeMTU = 1500

// ovsAttachment is a standalone attachment, planned: the veth (host end =
// the OVS port) and the container's stack on its container end.
type ovsAttachment struct {
	inv      *invocation
	bridge   *ovs.Bridge
	hostVeth string
	// plan: Links()[0] is the veth's container end (where the S-tag would
	// be: OVS adds it), the rest are the C-links stacked on it. Without
	// cVlans the veth end is the only link, named CNI_IFNAME.
	plan stack.Stack
	vlan ovs.VLAN
}

// planStandalone checks the bridge and plans the attachment. Nothing changes.
func planStandalone(db *ovs.Client, inv *invocation) (*ovsAttachment, error) {
	br, err := db.Bridge(inv.conf.Bridge)
	if err != nil {
		return nil, err
	}
	if br == nil {
		return nil, cnierr.InvalidConfig("bridge", "%q: no such Open vSwitch bridge", inv.conf.Bridge)
	}
	mtu, err := db.InterfaceMTU(br.Name)
	if err != nil {
		return nil, err
	}
	if mtu == 0 {
		mtu = defaultBridgeMTU
	}
	ifName := inv.attachment.IfName
	parent := ifName
	if len(inv.conf.CVlans) > 0 {
		parent = ovs.ContainerVethName(ifName)
	}
	plan, err := stack.Plan(inv.conf, stack.Parent{Name: parent, MTU: mtu}, ifName)
	if err != nil {
		return nil, err
	}
	vlan, err := ovs.Tunnel(inv.conf)
	if err != nil {
		return nil, err
	}
	a := inv.attachment
	return &ovsAttachment{inv: inv, bridge: br, hostVeth: ovs.HostVethName(a.Network, a.ContainerID, a.IfName), plan: plan, vlan: vlan}, nil
}

// vethEnd is the container end of the veth: the first planned link.
func (a *ovsAttachment) vethEnd() stack.Link {
	l := a.plan.Links()[0]
	if len(a.plan.Shared) > 0 {
		l.Name = a.plan.Parent.Name
	}
	return l
}

// addStandalone: veth, C-links, port, IPAM; each step pushes its undo.
func addStandalone(db *ovs.Client, inv *invocation, u *undo.Stack) (*current.Result, error) {
	a, err := planStandalone(db, inv)
	if err != nil {
		return nil, err
	}
	if p, err := db.PortByName(a.hostVeth); err != nil || p != nil {
		return nil, errors.Join(err, cnierr.Conflict("OVS port %q already exists: this attachment was added before and not deleted", a.hostVeth))
	}
	netns, err := ns.GetNS(inv.attachment.Netns)
	if err != nil {
		return nil, cnierr.ContainerUnknown(inv.attachment.Netns, err)
	}
	defer netns.Close()
	hostIface, err := a.makeVeth(netns, u)
	if err != nil {
		return nil, err
	}
	inner, err := a.stackCLinks(netns)
	if err != nil {
		return nil, err
	}
	// Pushed first: a commit whose application times out still left a port.
	u.Push("remove the OVS port", func() error { return removeOwnedPorts(db, inv.owner()) })
	np := ovs.NewPort{Name: a.hostVeth, VLAN: a.vlan, ExternalIDs: inv.owner().ExternalIDs()}
	if err := db.AddPort(a.bridge, np); err != nil {
		return nil, err
	}
	result, err := addIPAM(inv.conf, netns, inner, u)
	if err != nil {
		return nil, err
	}
	result.Interfaces = append(result.Interfaces, hostIface)
	return result, nil
}

// makeVeth creates the veth in the container with its host end in the host
// namespace, and sets both up. Deleting the host end later removes the
// container end and every C-link on it.
func (a *ovsAttachment) makeVeth(netns ns.NetNS, u *undo.Stack) (*current.Interface, error) {
	end := a.vethEnd()
	if err := absentIn(netns, end.Name, a.plan.Container.Name); err != nil {
		return nil, err
	}
	host, err := ns.GetCurrentNS()
	if err != nil {
		return nil, cnierr.Internal("open the host network namespace", err)
	}
	defer host.Close()
	mac := ""
	if len(a.plan.Shared) == 0 && a.inv.conf.MAC != nil {
		mac = a.inv.conf.MAC.String()
	}
	var hostVeth netlinkIface
	err = netns.Do(func(ns.NetNS) error {
		h, c, err := ip.SetupVethWithName(end.Name, a.hostVeth, end.MTU, mac, host)
		if err != nil {
			return err
		}
		hostVeth = netlinkIface{h.Name, h.HardwareAddr.String()}
		return setUp(c.Name)
	})
	if hostVeth.name != "" {
		u.Push("delete the veth", func() error { return deleteHostVeth(a.hostVeth) })
	}
	if err != nil {
		return nil, cnierr.Internal("create the veth "+a.hostVeth+"/"+end.Name, err)
	}
	return &current.Interface{Name: hostVeth.name, Mac: hostVeth.mac}, nil
}

type netlinkIface struct{ name, mac string }

// absentIn refuses names already taken in the container (code 100).
func absentIn(netns ns.NetNS, names ...string) error {
	return netns.Do(func(ns.NetNS) error {
		for _, n := range names {
			if _, err := netlinksafe.LinkByName(n); err == nil {
				return cnierr.Conflict("%q already exists in the container", n)
			}
		}
		return nil
	})
}

func setUp(name string) error {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}
