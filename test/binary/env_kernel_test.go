//go:build kerneltest

// The kernel tests build real links on a real kernel (inside the VM that
// scripts/vm/run boots, or on a host with 8021q), exec the real bin/qinq, and
// check real traffic and captured frames. They never skip: a kernel that
// cannot make VLAN links fails the run. The test bed (nodes, containers,
// running the plugin, traffic, capture, Open vSwitch) is internal/testenv;
// this file adds what only these white-box tests know: where qinq keeps its
// records (pkg/record's layout).
package binary

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

var env *testenv.Env // the binaries under test

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.New(); err == nil {
		err = env.Preflight("static")
	}
	if err == nil {
		_, err = testenv.Tcpdump()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kernel tests cannot run: %v\n(run them through `make test`, which boots the VM)\n", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// faultsBin is the plugin built with its fault points (make build).
func faultsBin() string { return filepath.Join(env.Root, "bin", "qinq-faults") }

// qinq is a kernel-mode network on the wire: S-VLAN sVlan, the C-VLANs
// given, with the vlan container link these tests are mostly about (named:
// the default is "bridge"; bridge_kernel_test.go tests that one).
func qinq(sVlan int, cVlans ...int) testenv.Conf {
	return testenv.QinQ("1.0.0", "qinq-test").OnMaster("wire0", sVlan, cVlans...).With("containerLink", "vlan")
}

// ovsConf is a standalone OVS-mode network on bridge br.
func ovsConf(br string, sVlan int, cVlans ...int) testenv.Conf {
	return testenv.QinQ("1.1.0", "qinq-ovs-test").OnBridge(br, sVlan, cVlans...)
}

// newNode makes a node; when the test ends the node "reboots": its netns and
// its state scope under /run/qinq go together, as /run does at a real reboot
// (a later node may get the same netns inode, and with it the same scope).
func newNode(t *testing.T, opts ...testenv.NodeOption) *testenv.Node {
	n := env.NewNode(t, opts...)
	scope := scopeDir(t, n)
	t.Cleanup(func() {
		// qinq's own netns is bound there: unbound, it goes with its links.
		_ = syscall.Unmount(filepath.Join(scope, "netns"), syscall.MNT_DETACH)
		os.RemoveAll(scope)
	})
	return n
}

// ownNS opens qinq's own network namespace of node n; nil if none was made.
func ownNS(t *testing.T, n *testenv.Node) ns.NetNS {
	o, err := ns.GetNS(filepath.Join(scopeDir(t, n), "netns"))
	if err != nil {
		return nil
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// ownNSLinks lists the links in qinq's own namespace of n but lo.
func ownNSLinks(t *testing.T, n *testenv.Node) []string {
	o := ownNS(t, n)
	if o == nil {
		return nil
	}
	var out []string
	for _, name := range testenv.LinkNames(t, o, "") {
		if name != "lo" {
			out = append(out, name)
		}
	}
	return out
}

// pair is two nodes joined by a wire (wire0 on both), the usual test bed: a
// QinQ container on each side, talking across.
type pair struct{ a, b *testenv.Node }

func newPair(t *testing.T, mtu int) pair {
	p := pair{newNode(t), newNode(t)}
	testenv.Wire(t, p.a, p.b, "wire0", mtu)
	return p
}

// stateDir is where qinq keeps its records.
func stateDir() string {
	if env.StateDir != "" {
		return env.StateDir
	}
	return "/run/qinq"
}

// scopeDir is where qinq keeps node n's attachment records and link users.
func scopeDir(t *testing.T, n *testenv.Node) string {
	var st syscall.Stat_t
	if err := syscall.Stat(n.NS.Path(), &st); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(stateDir(), fmt.Sprintf("host-%d", st.Ino))
}

// containerScopes lists the scopes of linkInContainer attachments.
func containerScopes() []string {
	entries, _ := os.ReadDir(stateDir())
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "ctr-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// assertNoReferences fails if any reference file of the given containers is
// left in the state directory.
func assertNoReferences(t *testing.T, containerIDs ...string) {
	t.Helper()
	filepath.WalkDir(stateDir(), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		for _, id := range containerIDs {
			if strings.HasPrefix(d.Name(), id+":") {
				t.Errorf("reference left behind: %s", path)
			}
		}
		return nil
	})
}

// assertClean proves "nothing left": no VLAN link on the node, none but lo
// in qinq's own namespace, no container link qinq makes (VLAN, macvlan,
// ipvlan, veth) in the containers, no attachment
// record and no shared-link user in the node's scope, no IPAM allocation.
func assertClean(t *testing.T, n *testenv.Node, ipamDir string, ctrs ...*testenv.Container) {
	t.Helper()
	if left := testenv.VLANs(t, n.NS); len(left) != 0 {
		t.Errorf("VLAN links left on the node: %v", slices.Sorted(maps.Keys(left)))
	}
	if left := ownNSLinks(t, n); len(left) != 0 {
		t.Errorf("links left in qinq's network namespace: %v", left)
	}
	for _, c := range ctrs {
		if c.NS == nil || c.Gone() {
			continue
		}
		if left := containerLinks(t, c); len(left) != 0 {
			t.Errorf("links left in container %s: %v", c.ID, left)
		}
	}
	for _, dir := range []string{"links", "attachments"} {
		scope := filepath.Join(scopeDir(t, n), dir)
		if entries, _ := os.ReadDir(scope); len(entries) != 0 {
			t.Errorf("state left in %s: %v", scope, entries)
		}
	}
	if ipamDir != "" {
		if left := testenv.HostLocalAllocations(ipamDir, "qinq-test"); len(left) != 0 {
			t.Errorf("%d IPAM allocations left in %s: %v", len(left), ipamDir, left)
		}
	}
}

// containerLinks lists the links of the kinds qinq makes in a container.
func containerLinks(t *testing.T, c *testenv.Container) []string {
	var out []string
	c.Do(t, func() error {
		links, err := netlink.LinkList()
		for _, l := range links {
			if slices.Contains([]string{"vlan", "macvlan", "ipvlan", "veth"}, l.Type()) {
				out = append(out, l.Attrs().Name+" ("+l.Type()+")")
			}
		}
		return err
	})
	return out
}

// gc runs GC of network c on n (at 1.1.0, the first version with GC),
// keeping the attachments of the valid containers on net1.
func gc(t *testing.T, n *testenv.Node, c testenv.Conf, valid ...*testenv.Container) {
	t.Helper()
	if err := n.GC(c.With("cniVersion", "1.1.0"), "net1", valid...); err != nil {
		t.Fatalf("GC: %v", err)
	}
}

func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// chainVLANs are the VLAN links of node n's chains: in the node's namespace
// (an older release's, an admin's) and in qinq's own, by name.
func chainVLANs(t *testing.T, n *testenv.Node) map[string]*netlink.Vlan {
	t.Helper()
	out := testenv.VLANs(t, n.NS)
	if o := ownNS(t, n); o != nil {
		maps.Copy(out, testenv.VLANs(t, o))
	}
	return out
}

// countChainVLANs counts the chain VLAN links of n with proto and vid.
func countChainVLANs(t *testing.T, n *testenv.Node, proto netlink.VlanProtocol, vid int) int {
	t.Helper()
	got := testenv.CountVLANs(t, n.NS, proto, vid)
	if o := ownNS(t, n); o != nil {
		got += testenv.CountVLANs(t, o, proto, vid)
	}
	return got
}

// chainNS is the namespace of n where the chain link name is: qinq's own,
// or the node's.
func chainNS(t *testing.T, n *testenv.Node, name string) ns.NetNS {
	t.Helper()
	if o := ownNS(t, n); o != nil {
		if _, err := testenv.LinkByName(o, name); err == nil {
			return o
		}
	}
	return n.NS
}

// inChainNS runs f in chainNS.
func inChainNS(t *testing.T, n *testenv.Node, name string, f func() error) {
	t.Helper()
	testenv.InNS(t, chainNS(t, n, name), f)
}
