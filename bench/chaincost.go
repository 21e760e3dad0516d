package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// byHand is the kernel's own cost of the links a first pod of a chain makes
// beyond what its reference plugin makes: the same links, made in one
// namespace of their own as qinq makes them in its (the S-link through the
// node's namespace, the rest there), set up and deleted, in this process
// with nothing else (no exec, no IPAM, no record). Its rows sit beside the
// plugins' in the latency rounds, so drift falls on them alike.
type byHand struct {
	master int // the ifindex of a dummy in the VM's namespace
	depth  int // 1: the S-link; 2: and the C-link; 3: and the bridge
	own    ns.NetNS
	h      *netlink.Handle // in own
}

// chainByHand is the row name for a chain of depth links.
var chainByHand = map[int]string{1: "links-s", 2: "links-sc", 3: "links-scb"}

func newByHand(master string, depth int, own ns.NetNS) (*byHand, error) {
	m, err := netlink.LinkByName(master)
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(own.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	return &byHand{master: m.Attrs().Index, depth: depth, own: own, h: h}, nil
}

// add makes the links and sets them up; del deletes them, innermost first.
func (b *byHand) add() (time.Duration, error) {
	start := time.Now()
	s := &netlink.Vlan{LinkAttrs: netlink.NewLinkAttrs(), VlanId: 100, VlanProtocol: netlink.VLAN_PROTOCOL_8021AD}
	s.Name, s.ParentIndex, s.MTU, s.Namespace = "hs", b.master, 1496, netlink.NsFd(int(b.own.Fd()))
	if err := netlink.LinkAdd(s); err != nil {
		return 0, fmt.Errorf("S-link: %w", err)
	}
	made, err := b.h.LinkByName("hs")
	if err != nil {
		return 0, err
	}
	links := []netlink.Link{made}
	if b.depth >= 2 {
		c := &netlink.Vlan{LinkAttrs: netlink.NewLinkAttrs(), VlanId: 10, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}
		c.Name, c.ParentIndex, c.MTU = "hsc", made.Attrs().Index, 1492
		if err := b.h.LinkAdd(c); err != nil {
			return 0, fmt.Errorf("C-link: %w", err)
		}
		links = append(links, c)
	}
	if b.depth >= 3 {
		br := &netlink.Bridge{LinkAttrs: netlink.NewLinkAttrs()}
		br.Name, br.MTU = "hsb", 1492
		if err := b.h.LinkAdd(br); err != nil {
			return 0, fmt.Errorf("bridge: %w", err)
		}
		if err := b.h.LinkSetMaster(links[1], br); err != nil {
			return 0, err
		}
		links = append(links, br)
	}
	for _, l := range links {
		if err := b.h.LinkSetUp(l); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func (b *byHand) del() (time.Duration, error) {
	start := time.Now()
	var errs []error
	for _, name := range []string{"hsb", "hsc", "hs"}[3-b.depth:] {
		l, err := b.h.LinkByName(name)
		if err == nil {
			err = b.h.LinkDel(l)
		}
		errs = append(errs, err)
	}
	return time.Since(start), errors.Join(errs...)
}

func (b *byHand) close() { b.h.Close() }
