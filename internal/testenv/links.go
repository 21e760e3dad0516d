package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// Inspection: each function reads one namespace and fails t when it cannot.

// VLANs lists the VLAN links in where, by name.
func VLANs(t testing.TB, where ns.NetNS) map[string]*netlink.Vlan {
	t.Helper()
	out := map[string]*netlink.Vlan{}
	InNS(t, where, func() error {
		links, err := netlink.LinkList()
		for _, l := range links {
			if v, ok := l.(*netlink.Vlan); ok {
				out[v.Name] = v
			}
		}
		return err
	})
	return out
}

// CountVLANs counts the VLAN links in where with protocol proto and ID vid.
func CountVLANs(t testing.TB, where ns.NetNS, proto netlink.VlanProtocol, vid int) int {
	t.Helper()
	n := 0
	for _, v := range VLANs(t, where) {
		if v.VlanProtocol == proto && v.VlanId == vid {
			n++
		}
	}
	return n
}

// chainNamespaces calls f with where and with qinq's namespace of where's
// scope under stateDir (host-<where's inode>/netns), where kernel mode's
// chain links live ("" for the plugin's default, /run/qinq).
func chainNamespaces(where ns.NetNS, stateDir string, f func(ns.NetNS)) {
	if stateDir == "" {
		stateDir = "/run/qinq"
	}
	f(where)
	// By its fd: where's path may be a thread's (/proc/<pid>/task/<tid>)
	// that has exited since.
	var st syscall.Stat_t
	if syscall.Fstat(int(where.Fd()), &st) != nil {
		return
	}
	path := filepath.Join(stateDir, fmt.Sprintf("host-%d", st.Ino), "netns")
	own, err := ns.GetNS(path)
	for try := 0; err != nil && try < 10 && fileExists(path); try++ {
		// The file is there before its bind mount (qinq makes the mount
		// point first): a loaded machine was seen between the two.
		time.Sleep(200 * time.Millisecond)
		own, err = ns.GetNS(path)
	}
	if err != nil {
		return // none made, or a plain file left from before a reboot
	}
	defer own.Close()
	f(own)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// CountChainVLANs is CountVLANs over where and qinq's namespaces under
// stateDir.
func CountChainVLANs(t testing.TB, where ns.NetNS, stateDir string, proto netlink.VlanProtocol, vid int) int {
	t.Helper()
	n := 0
	chainNamespaces(where, stateDir, func(in ns.NetNS) { n += CountVLANs(t, in, proto, vid) })
	return n
}

// ChainNS is the namespace of where and qinq's under stateDir that holds
// the link name (where if none does); closed when t ends.
func ChainNS(t testing.TB, where ns.NetNS, stateDir, name string) ns.NetNS {
	t.Helper()
	if _, err := LinkByName(where, name); err == nil {
		return where
	}
	var path string
	chainNamespaces(where, stateDir, func(in ns.NetNS) {
		if _, err := LinkByName(in, name); err == nil && path == "" {
			path = in.Path()
		}
	})
	if path == "" {
		return where
	}
	in, err := ns.GetNS(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// ChainVLANsIn counts the VLAN links in qinq's namespace of node's scope
// under stateDir (not in node itself).
func ChainVLANsIn(t testing.TB, node ns.NetNS, stateDir string) int {
	t.Helper()
	n := 0
	chainNamespaces(node, stateDir, func(in ns.NetNS) {
		if in != node {
			n += len(VLANs(t, in))
		}
	})
	return n
}

// ChainLink is the link name in where or in one of qinq's namespaces under
// stateDir; it fails t when there is none.
func ChainLink(t testing.TB, where ns.NetNS, stateDir, name string) netlink.Link {
	t.Helper()
	var found netlink.Link
	chainNamespaces(where, stateDir, func(in ns.NetNS) {
		if l, err := LinkByName(in, name); err == nil && found == nil {
			found = l
		}
	})
	if found == nil {
		t.Fatalf("%s: not in the node's namespace nor in qinq's", name)
	}
	return found
}

// LinkByName returns the link name in where, or the error that it is not there.
func LinkByName(where ns.NetNS, name string) (netlink.Link, error) {
	var l netlink.Link
	err := where.Do(func(ns.NetNS) error {
		var err error
		l, err = netlink.LinkByName(name)
		return err
	})
	return l, err
}

// Link returns the link name in where; its absence fails t.
func Link(t testing.TB, where ns.NetNS, name string) netlink.Link {
	t.Helper()
	l, err := LinkByName(where, name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return l
}

// LinkNames lists the names of the links in where that start with prefix.
func LinkNames(t testing.TB, where ns.NetNS, prefix string) []string {
	t.Helper()
	var out []string
	InNS(t, where, func() error {
		links, err := netlink.LinkList()
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, prefix) {
				out = append(out, l.Attrs().Name)
			}
		}
		return err
	})
	return out
}

// Addrs lists the IPv4 addresses (CIDR) of link name in where.
func Addrs(t testing.TB, where ns.NetNS, name string) []string {
	t.Helper()
	var out []string
	InNS(t, where, func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			out = append(out, a.IPNet.String())
		}
		return err
	})
	return out
}

// AssertOnlyLoopback fails t if the container has any link but lo.
func AssertOnlyLoopback(t testing.TB, c *Container) {
	t.Helper()
	for _, name := range LinkNames(t, c.NS, "") {
		if name != "lo" {
			t.Errorf("link %q left in container %s", name, c.ID)
		}
	}
}

// HostLocalAllocations lists the addresses host-local holds for network in
// its store dataDir.
func HostLocalAllocations(dataDir, network string) []string {
	entries, _ := os.ReadDir(filepath.Join(dataDir, network))
	var out []string
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// Set-up: each function works in the current namespace; call it inside Do.

// AddDummy makes a dummy link, up.
func AddDummy(name string, mtu int) error {
	a := netlink.NewLinkAttrs()
	a.Name, a.MTU = name, mtu
	d := &netlink.Dummy{LinkAttrs: a}
	if err := netlink.LinkAdd(d); err != nil {
		return fmt.Errorf("add dummy %s: %w", name, err)
	}
	return netlink.LinkSetUp(d)
}

// VLAN is a VLAN link for AddVLAN to make.
type VLAN struct {
	Parent string
	Name   string               // default <Parent>.<ID>
	Proto  netlink.VlanProtocol // default 802.1Q
	ID     int
	MTU    int      // 0: the parent's
	Alias  string   // optional
	Addr   string   // optional CIDR
	Into   ns.NetNS // make it directly in this namespace (the parent stays here)
	Down   bool     // leave it down (an admin's link not yet in use)
}

// AddVLAN makes v on its parent in the current namespace (or in v.Into).
func AddVLAN(v VLAN) error {
	p, err := netlink.LinkByName(v.Parent)
	if err != nil {
		return err
	}
	if v.Name == "" {
		v.Name = fmt.Sprintf("%s.%d", v.Parent, v.ID)
	}
	if v.Proto == 0 {
		v.Proto = netlink.VLAN_PROTOCOL_8021Q
	}
	a := netlink.NewLinkAttrs()
	a.Name, a.ParentIndex, a.MTU = v.Name, p.Attrs().Index, v.MTU
	if v.Into != nil {
		a.Namespace = netlink.NsFd(int(v.Into.Fd()))
	}
	if err := netlink.LinkAdd(&netlink.Vlan{LinkAttrs: a, VlanId: v.ID, VlanProtocol: v.Proto}); err != nil {
		return fmt.Errorf("add %s VLAN %d on %s: %w", v.Proto, v.ID, v.Parent, err)
	}
	if v.Into != nil {
		return v.Into.Do(func(ns.NetNS) error { return finishVLAN(v) })
	}
	return finishVLAN(v)
}

// finishVLAN gives a new VLAN link its alias and address and sets it up.
func finishVLAN(v VLAN) error {
	l, err := netlink.LinkByName(v.Name)
	if err != nil {
		return err
	}
	if v.Alias != "" {
		if err := netlink.LinkSetAlias(l, v.Alias); err != nil {
			return err
		}
	}
	if v.Addr != "" {
		addr, err := netlink.ParseAddr(v.Addr)
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(l, addr); err != nil {
			return err
		}
	}
	if v.Down {
		return nil
	}
	return netlink.LinkSetUp(l)
}

// DelLink deletes the link name.
func DelLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkDel(l)
}

// SetMTU changes the MTU of link name.
func SetMTU(name string, mtu int) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetMTU(l, mtu)
}

// MoveLink moves link name from one namespace to another and sets it up
// there: the stand-in for a VF a previous plugin moved into a pod.
func MoveLink(t testing.TB, name string, from, to ns.NetNS) {
	t.Helper()
	InNS(t, from, func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		return netlink.LinkSetNsFd(l, int(to.Fd()))
	})
	InNS(t, to, func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
}
