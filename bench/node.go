package main

import (
	"fmt"
	"os/exec"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// node is a network namespace standing in for one node's host namespace:
// its own masters, links and (qinq's state is kept per namespace) its own
// references. Populations of different sizes live on different nodes, so
// they can be measured in the same minutes, interleaved, and a drift of the
// shared machine falls on every size alike.
type node struct {
	ns ns.NetNS
	h  *netlink.Handle
}

func newNode() (*node, error) {
	n, err := newNS()
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(n.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		closeNSes([]ns.NetNS{n})
		return nil, err
	}
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	return &node{ns: n, h: h}, err
}

func (n *node) close() {
	if n != nil {
		n.h.Close()
		closeNSes([]ns.NetNS{n.ns})
	}
}

// start starts cmd in the node: the child inherits the network namespace of
// the thread that forks it. A nil node is the VM's own namespace.
func (n *node) start(cmd *exec.Cmd) error {
	if n == nil {
		return cmd.Start()
	}
	return n.ns.Do(func(ns.NetNS) error { return cmd.Start() })
}

// handle is netlink in the node, or in the VM's own namespace for nil.
func (n *node) handle() *netlink.Handle {
	if n == nil {
		return &netlink.Handle{}
	}
	return n.h
}

// dummy makes an up dummy link to serve as a master: a NIC without a wire.
func (n *node) dummy(name string) error {
	h := n.handle()
	d := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: 1500}}
	if err := h.LinkAdd(d); err != nil {
		return fmt.Errorf("add dummy %s: %w", name, err)
	}
	return h.LinkSetUp(d)
}

// vlanOn makes an up 802.1Q link vid on master, named name.
func (n *node) vlanOn(master, name string, vid int) error {
	h := n.handle()
	m, err := h.LinkByName(master)
	if err != nil {
		return err
	}
	v := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: m.Attrs().Index}, VlanId: vid}
	if err := h.LinkAdd(v); err != nil {
		return fmt.Errorf("add vlan %s: %w", name, err)
	}
	return h.LinkSetUp(v)
}

// vlanInto makes what the reference vlan plugin makes for an attachment:
// VLAN vid on master, in container c, named net1, up, with an address.
func (n *node) vlanInto(master string, vid int, c ns.NetNS) error {
	m, err := n.handle().LinkByName(master)
	if err != nil {
		return err
	}
	attrs := netlink.LinkAttrs{Name: "net1", ParentIndex: m.Attrs().Index, Namespace: netlink.NsFd(int(c.Fd()))}
	if err := n.handle().LinkAdd(&netlink.Vlan{LinkAttrs: attrs, VlanId: vid}); err != nil {
		return fmt.Errorf("vlan %d on %s: %w", vid, master, err)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(c.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName("net1")
	if err == nil {
		err = h.LinkSetUp(l)
	}
	if err == nil {
		addr, _ := netlink.ParseAddr(fmt.Sprintf("10.21.%d.%d/16", vid/250, vid%250+1))
		err = h.AddrAdd(l, addr)
	}
	return err
}
