package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// World is what one test can change: the links and addresses in its node,
// its containers and the VM's own namespace, the files under some
// directories, and the ports of some Open vSwitch bridges. A Snapshot of it
// before and after proves that nothing changed or that nothing was left.
type World struct {
	t          testing.TB
	Node       *Node
	Containers []*Container
	Dirs       []Dir
	OVS        *OVS     // with Bridges: their ports are part of the world
	Bridges    []string // bridges whose ports count
}

// Dir is a directory whose files are part of a world.
type Dir struct {
	Name string
	Path string
	// Keep says whether the file at rel ("/" + its path under Path) counts;
	// nil keeps every file.
	Keep func(rel string) bool
}

// StateDir is qinq's state directory: its lock files persist by design
// (removing a flock file races with another run that opened it), and so
// does the store's identity (/store-id, made with the directory by the
// first run), and so does the bind mount of qinq's own network namespace (a
// file named netns, which cannot be read); only the references count.
func StateDir(path string) Dir {
	return Dir{Name: "state", Path: path, Keep: func(rel string) bool {
		return !strings.Contains(rel, "/locks/") && rel != "/store-id" && filepath.Base(rel) != "netns"
	}}
}

// HostLocalStore is a host-local dataDir: its lock and last-reserved cursor
// stay by design, only the allocations count.
func HostLocalStore(path string) Dir {
	return Dir{Name: "ipam", Path: path, Keep: func(rel string) bool {
		base := filepath.Base(rel)
		return base != "lock" && !strings.HasPrefix(base, "last_reserved_ip")
	}}
}

// NewWorld is the world of node, with containers and dirs added later or now.
func NewWorld(t testing.TB, node *Node, dirs ...Dir) *World {
	return &World{t: t, Node: node, Dirs: dirs}
}

// NewContainers adds n new containers to the world and returns them.
func (w *World) NewContainers(n int) []*Container {
	for range n {
		w.Containers = append(w.Containers, NewContainer(w.t))
	}
	return w.Containers[len(w.Containers)-n:]
}

// For is the same world used by another test (a subtest sharing a fixture).
func (w *World) For(t testing.TB) *World {
	c := *w
	c.t = t
	if w.Node != nil {
		c.Node = w.Node.For(t)
	}
	return &c
}

// Snapshot maps "where what" to a description: two equal snapshots are the
// same observable state. Keys: "vm link eth0", "node addr eth1 10.0.0.1/24",
// "ctr <id> link net1", "state file <rel>", "ovs port <name>".
type Snapshot map[string]string

// Snapshot records the world now.
func (w *World) Snapshot() Snapshot {
	w.t.Helper()
	s := Snapshot{}
	vm, err := ns.GetCurrentNS()
	if err != nil {
		w.t.Fatal(err)
	}
	defer vm.Close()
	s.links(w.t, "vm", vm)
	if w.Node != nil && !sameNetNS(w.Node.NS, vm) {
		s.links(w.t, "node", w.Node.NS)
	}
	for _, c := range w.Containers {
		if !c.Gone() && c.NS != nil {
			s.links(w.t, "ctr "+c.ID, c.NS)
		}
	}
	for _, d := range w.Dirs {
		s.files(w.t, d)
	}
	if w.OVS != nil {
		for _, br := range w.Bridges {
			s.ports(w.OVS, br)
		}
	}
	return s
}

// links records every link of where and its addresses (IPv6 link-local
// ones excepted: autoconfiguration makes them come and go).
func (s Snapshot) links(t testing.TB, where string, in ns.NetNS) {
	t.Helper()
	// A dump the kernel interrupts (a link or address changed during it,
	// as IPv6 autoconfiguration does) is taken again.
	var err error
	for try := 0; try < 5; try++ {
		if err = s.tryLinks(where, in); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		t.Fatalf("snapshot %s: %v", where, err)
	}
}

func (s Snapshot) tryLinks(where string, in ns.NetNS) error {
	for k := range s {
		if strings.HasPrefix(k, where+" ") {
			delete(s, k) // what an interrupted try recorded
		}
	}
	return in.Do(func(ns.NetNS) error {
		ls, err := netlink.LinkList()
		if err != nil {
			return err
		}
		byIndex := map[int]string{}
		for _, l := range ls {
			byIndex[l.Attrs().Index] = l.Attrs().Name
		}
		for _, l := range ls {
			s[where+" link "+l.Attrs().Name] = describe(l, byIndex)
			if err := s.addrs(where, l); err != nil {
				return err
			}
		}
		return nil
	})
}

// describe is a link as a snapshot sees it: index, type, MTU, state, alias,
// and for a VLAN its protocol, ID and parent.
func describe(l netlink.Link, byIndex map[int]string) string {
	a := l.Attrs()
	d := fmt.Sprintf("#%d %s mtu %d up=%v", a.Index, l.Type(), a.MTU, a.Flags&1 != 0)
	if a.Alias != "" {
		d += fmt.Sprintf(" alias %q", a.Alias)
	}
	if v, ok := l.(*netlink.Vlan); ok {
		parent := byIndex[v.ParentIndex]
		if parent == "" || a.NetNsID >= 0 {
			parent = fmt.Sprintf("#%d", v.ParentIndex) // in another namespace
		}
		d += fmt.Sprintf(" %s/%d on %s", v.VlanProtocol, v.VlanId, parent)
	}
	return d
}

func (s Snapshot) addrs(where string, l netlink.Link) error {
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	for _, ad := range addrs {
		if !ad.IP.IsLinkLocalUnicast() {
			s[where+" addr "+l.Attrs().Name+" "+ad.IPNet.String()] = ""
		}
	}
	return err
}

// files records the content of every file under d that counts.
func (s Snapshot) files(t testing.TB, d Dir) {
	t.Helper()
	err := filepath.WalkDir(d.Path, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(d.Path, p)
		if d.Keep != nil && !d.Keep("/"+rel) {
			return nil
		}
		data, err := os.ReadFile(p)
		s[d.Name+" file "+rel] = fmt.Sprintf("%q", data)
		return err
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", d.Name, err)
	}
}

// ports records the ports of bridge br and their VLAN settings and owners.
func (s Snapshot) ports(o *OVS, br string) {
	for _, p := range o.AllPorts(br) {
		s["ovs port "+p] = br + " " + strings.Join(o.PortColumns(p, portColumns...), " ")
	}
}

// portColumns is what a CNI plugin may set on an OVS port.
var portColumns = []string{"vlan_mode", "tag", "trunks", "cvlans", "other_config", "external_ids"}

func sameNetNS(a, b ns.NetNS) bool {
	var sa, sb syscall.Stat_t
	return syscall.Fstat(int(a.Fd()), &sa) == nil && syscall.Fstat(int(b.Fd()), &sb) == nil &&
		sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// Diff lists what differs from before to after, one line each, sorted:
// "- key value" gone, "+ key value" new, "~ key: old -> new" changed.
func Diff(before, after Snapshot) []string {
	var out []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			out = append(out, "- "+k+" "+v)
		} else if w != v {
			out = append(out, fmt.Sprintf("~ %s: %s -> %s", k, v, w))
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			out = append(out, "+ "+k+" "+v)
		}
	}
	sort.Strings(out)
	return out
}

// Unchanged asserts the world is exactly as in before, except for the keys
// the test itself removed (the prefixes in gone).
func (w *World) Unchanged(before Snapshot, gone ...string) {
	w.t.Helper()
	b := Snapshot{}
	for k, v := range before {
		if !hasAnyPrefix(k, gone) {
			b[k] = v
		}
	}
	if d := Diff(b, w.Snapshot()); len(d) > 0 {
		w.t.Errorf("the world changed:\n  %s", strings.Join(d, "\n  "))
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Has reports whether any key starts with prefix.
func (s Snapshot) Has(prefix string) bool {
	for k := range s {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// HasWith reports whether some key with prefix has a key or value
// containing sub.
func (s Snapshot) HasWith(prefix, sub string) bool {
	for k, v := range s {
		if strings.HasPrefix(k, prefix) && strings.Contains(k+" "+v, sub) {
			return true
		}
	}
	return false
}
