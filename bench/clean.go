package main

import (
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// checkClean records as problems whatever the attachments of item left after
// their DELs: links on the masters they stacked on (or under a temporary
// name), links in their containers, qinq references, IPAM allocations.
func (e *Env) checkClean(item string, masters []string, nses []ns.NetNS) []string {
	return e.checkNode(item, nil, masters, nses)
}

// checkNode is checkClean for masters in node n (nil: the VM's namespace).
func (e *Env) checkNode(item string, n *node, masters []string, nses []ns.NetNS) []string {
	var left []string
	left = append(left, hostLeftovers(n.handle(), masters)...)
	for _, n := range nses {
		left = append(left, containerLeftovers(n)...)
	}
	left = append(left, e.ownNSLeftovers()...)
	left = append(left, e.refLeftovers()...)
	left = append(left, ipamLeftovers()...)
	for i, l := range left {
		if i == 10 {
			e.problem("%s: %d more leftovers", item, len(left)-i)
			break
		}
		e.problem("%s: leftover %s", item, l)
	}
	return left
}

func hostLeftovers(h *netlink.Handle, masters []string) []string {
	parents := map[int]string{}
	for _, m := range masters {
		if l, err := h.LinkByName(m); err == nil {
			parents[l.Attrs().Index] = m
		}
	}
	links, err := h.LinkList()
	if err != nil {
		return []string{"host link list: " + err.Error()}
	}
	var out []string
	for _, l := range links {
		a := l.Attrs()
		_, onMaster := parents[a.ParentIndex]
		if (onMaster && stacked[l.Type()]) || strings.HasPrefix(a.Name, "qq") {
			out = append(out, l.Type()+" link "+a.Name+" on "+parents[a.ParentIndex])
		}
	}
	return out
}

// stacked are the link types the plugins stack on a master (a veth's peer
// names its master as its link too, and is the bench's own).
var stacked = map[string]bool{"vlan": true, "macvlan": true, "ipvlan": true}

func containerLeftovers(n ns.NetNS) []string {
	h, err := netlink.NewHandleAt(netns.NsHandle(n.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return []string{n.Path() + ": " + err.Error()}
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return []string{n.Path() + ": " + err.Error()}
	}
	var out []string
	for _, l := range links {
		if l.Attrs().Name != "lo" {
			out = append(out, "link "+l.Attrs().Name+" in "+n.Path())
		}
	}
	return out
}

// refLeftovers: every file of qinq's store but its lock files and its
// identity (store-id, made once and kept with the store) is a reference
// (whatever layout the store uses), and none may outlive the DELs.
func (e *Env) refLeftovers() []string {
	var out []string
	_ = filepath.WalkDir(e.StateDir, func(p string, d fs.DirEntry, err error) error {
		// Lock files, the store's identity and the bind mount of qinq's own
		// netns persist by design.
		if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, ".lock") && p != filepath.Join(e.StateDir, "store-id") &&
			filepath.Base(p) != "netns" {
			out = append(out, "qinq state file "+p)
		}
		return nil
	})
	return out
}

// ownNSLeftovers: qinq's own netns (one per node, bound in its store at
// host-<inode>/netns) outlives its bridges by design; no link in it may.
func (e *Env) ownNSLeftovers() []string {
	paths, _ := filepath.Glob(filepath.Join(e.StateDir, "host-*", "netns"))
	var out []string
	for _, p := range paths {
		n, err := ns.GetNS(p)
		if err != nil {
			out = append(out, "qinq's netns "+p+": "+err.Error())
			continue
		}
		out = append(out, containerLeftovers(n)...)
		n.Close()
	}
	return out
}

// ipamLeftovers: host-local keeps one file per allocated address.
func ipamLeftovers() []string {
	var out []string
	files, _ := filepath.Glob(filepath.Join(ipamRoot, "*", "*"))
	for _, f := range files {
		if net.ParseIP(filepath.Base(f)) != nil {
			out = append(out, "IPAM allocation "+f)
		}
	}
	return out
}

// removeLinks deletes the bench's own masters at the end of an item.
func removeLinks(names ...string) {
	for _, n := range names {
		if l, err := netlink.LinkByName(n); err == nil {
			_ = netlink.LinkDel(l)
		}
	}
}

// linkKind is the type of link name in container n (vlan, macvlan...).
func linkKind(n ns.NetNS, name string) (string, error) {
	h, err := netlink.NewHandleAt(netns.NsHandle(n.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return "", err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		return "", fmt.Errorf("%s in %s: %w", name, n.Path(), err)
	}
	return l.Type(), nil
}

// linkMTU is the MTU of link name in container n.
func linkMTU(n ns.NetNS, name string) (int, error) {
	h, err := netlink.NewHandleAt(netns.NsHandle(n.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("%s in %s: %w", name, n.Path(), err)
	}
	return l.Attrs().MTU, nil
}
