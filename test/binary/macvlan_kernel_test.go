//go:build kerneltest

package binary

import (
	"fmt"
	"os/exec"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// Many pods per tenant VLAN on one node: the innermost VLAN link stays on
// the host, shared, and every pod gets a macvlan or ipvlan on it. Node a
// holds the pods, node b a peer on the same (S, C) across the wire.

// shared is a kernel-mode network whose container link is link (and mode).
func shared(link string, sVlan int, cVlans ...int) testenv.Conf {
	return qinq(sVlan, cVlans...).With("containerLink", link)
}

// podsOn adds n containers of network cf on node, numbered from 1 in ipBase.
func podsOn(t *testing.T, node *testenv.Node, cf testenv.Conf, ipBase string, n int) []*testenv.Container {
	var out []*testenv.Container
	for i := 1; i <= n; i++ {
		c := testenv.NewContainer(t)
		node.Add(cf.WithStaticIP(fmt.Sprintf("%s.%d/24", ipBase, i)), c, "net1")
		out = append(out, c)
	}
	return out
}

func macOf(t *testing.T, c *testenv.Container) string {
	return testenv.Link(t, c.NS, "net1").Attrs().HardwareAddr.String()
}

func TestMacvlan_TwoPodsOfOneCVLANOnOneNodeReachTheFarNodeAndEachOtherWithTheirOwnMACs(t *testing.T) {
	p := newPair(t, 1500)
	cf := shared("macvlan", 100, 10)
	pods := podsOn(t, p.a, cf, "10.20.0", 2)
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(100, 10).WithStaticIP("10.20.0.9/24"), peer, "net1")

	cLink, ok := chainVLANs(t, p.a)["wire0.100.10"]
	if !ok || len(chainVLANs(t, p.a)) != 2 {
		t.Fatalf("host links %v: want the S-link and one shared C-link wire0.100.10", chainVLANs(t, p.a))
	}
	for _, c := range pods {
		l := testenv.Link(t, c.NS, "net1")
		if l.Type() != "macvlan" || l.Attrs().MTU != 1496 || l.Attrs().ParentIndex != cLink.Index {
			t.Fatalf("%s net1: %s MTU %d on ifindex %d; want a macvlan, MTU 1496, on the C-link (%d)",
				c.ID, l.Type(), l.Attrs().MTU, l.Attrs().ParentIndex, cLink.Index)
		}
	}
	reachWithOwnMACs(t, p, pods, peer, "10.20.0.9", "10.20.0.2")
	other := testenv.NewContainer(t)
	p.a.Add(shared("macvlan", 100, 11).WithStaticIP("10.20.0.7/24"), other, "net1")
	for _, target := range []struct {
		c  *testenv.Container
		ip string
	}{{peer, "10.20.0.9"}, {pods[0], "10.20.0.1"}} {
		if !testenv.Unreachable(t, other, target.c, target.ip) {
			t.Errorf("a pod on C-VLAN 11 reached %s on C-VLAN 10", target.ip)
		}
	}
	for _, c := range append(pods, other) {
		p.a.Del(cf, c, "net1")
	}
	assertClean(t, p.a, "", append(pods, other)...)
}

func TestMacvlan_PrivateModeKeepsPodsOfOneNodeApartButBothReachTheFarNode(t *testing.T) {
	p := newPair(t, 1500)
	pods := podsOn(t, p.a, shared("macvlan", 110, 10).With("containerLinkMode", "private"), "10.21.0", 2)
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(110, 10).WithStaticIP("10.21.0.9/24"), peer, "net1")
	for _, c := range pods {
		if m := testenv.Link(t, c.NS, "net1").(*netlink.Macvlan); m.Mode != netlink.MACVLAN_MODE_PRIVATE {
			t.Fatalf("%s: macvlan mode %v, want private", c.ID, m.Mode)
		}
		if err := testenv.Echo(t, c, peer, "10.21.0.9", 1496); err != nil {
			t.Fatalf("%s to the far node: %v", c.ID, err)
		}
	}
	if !testenv.Unreachable(t, pods[0], pods[1], "10.21.0.2") {
		t.Fatal("private macvlans of one node reached each other")
	}
}

func TestIpvlan_L2PodsReachTheFarNodeAndEachOtherBehindOneMAC(t *testing.T) {
	p := newPair(t, 1500)
	pods := podsOn(t, p.a, shared("ipvlan", 120, 10), "10.22.0", 2)
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(120, 10).WithStaticIP("10.22.0.9/24"), peer, "net1")
	stop := p.b.Capture("wire0")
	for _, c := range pods {
		if l := testenv.Link(t, c.NS, "net1"); l.Type() != "ipvlan" || l.Attrs().MTU != 1496 {
			t.Fatalf("%s net1: %s MTU %d, want an ipvlan with MTU 1496", c.ID, l.Type(), l.Attrs().MTU)
		}
		if err := testenv.Echo(t, c, peer, "10.22.0.9", 1496); err != nil {
			t.Fatalf("%s to the far node: %v", c.ID, err)
		}
	}
	frames := stop()
	testenv.AssertTags(t, frames, testenv.Tag8021AD(120), testenv.Tag8021Q(10))
	master := testenv.Link(t, p.a.NS, "wire0").Attrs().HardwareAddr.String()
	if got := testenv.Sources(frames); !sameSet(got, []string{master, macOf(t, peer)}) {
		t.Fatalf("source MACs on the wire %v: node a's pods must all send with its master's MAC %s", got, master)
	}
	if err := testenv.Echo(t, pods[0], pods[1], "10.22.0.2", 1496); err != nil {
		t.Fatalf("pod to pod on one node (l2): %v", err)
	}
}

// The Proxmox thread's case: several routers on a stick per S-VLAN on one
// node, each tagging its own C-VLAN inside its macvlan on the shared S-link.
func TestMacvlan_TunnelModeRoutersShareTheSLinkAndEachTagsItsOwnCVLAN(t *testing.T) {
	p := newPair(t, 1500)
	routers := []*testenv.Container{testenv.NewContainer(t), testenv.NewContainer(t)}
	stop := p.b.Capture("wire0")
	for i, r := range routers {
		cvlan := 10 * (i + 1)
		p.a.Add(shared("macvlan", 950), r, "net1")
		r.Do(t, func() error {
			return testenv.AddVLAN(testenv.VLAN{Parent: "net1", ID: cvlan, Addr: fmt.Sprintf("10.23.%d.1/24", cvlan)})
		})
		peer := testenv.NewContainer(t)
		p.b.Add(qinq(950, cvlan).WithStaticIP(fmt.Sprintf("10.23.%d.2/24", cvlan)), peer, "net1")
		if err := testenv.Echo(t, r, peer, fmt.Sprintf("10.23.%d.2", cvlan), 1496); err != nil {
			t.Fatalf("router %d on C-VLAN %d: %v", i, cvlan, err)
		}
	}
	frames := stop()
	for _, cvlan := range []int{10, 20} {
		var on []testenv.Frame
		for _, f := range testenv.IPv4Frames(frames) {
			if len(f.Tags) == 2 && f.Tags[1].VID == cvlan {
				on = append(on, f)
			}
		}
		testenv.AssertTags(t, on, testenv.Tag8021AD(950), testenv.Tag8021Q(cvlan))
	}
	if n := countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 950); n != 1 {
		t.Fatalf("%d S-links for 950 on node a, want one shared by both routers", n)
	}
}

func TestMacvlan_100PodsOfOneCVLANAddedInParallelThenDeletedInParallel(t *testing.T) {
	const n = 100
	p := newPair(t, 1500)
	cf := shared("macvlan", 130, 10)
	pods := make([]*testenv.Container, n)
	for i := range pods {
		pods[i] = testenv.NewContainer(t)
	}
	parallel(n, func(i int) {
		if _, err := p.a.Invoke("ADD", cf, pods[i], "net1"); err != nil {
			t.Errorf("ADD %d: %v", i, err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	if got := chainVLANs(t, p.a); len(got) != 2 || got["wire0.130.10"] == nil {
		t.Fatalf("host links after %d ADDs: %v, want the S-link and one shared C-link", n, got)
	}
	macs := map[string]bool{}
	for _, c := range pods {
		macs[macOf(t, c)] = true
	}
	if len(macs) != n {
		t.Fatalf("%d distinct MACs among %d pods", len(macs), n)
	}
	parallel(n, func(i int) {
		if _, err := p.a.Invoke("DEL", cf, pods[i], "net1"); err != nil {
			t.Errorf("DEL %d: %v", i, err)
		}
	})
	assertClean(t, p.a, "", pods...)
}

// The kernel allows one VLAN link per ID on a parent, in any namespace: a
// (S, C) a vlan container link holds cannot also be shared, nor the other
// way round. Code 100 names the holder, and nothing changes.
func TestSharedLink_ConflictsWithAVlanContainerLinkBothWaysNamingTheHolder(t *testing.T) {
	p := newPair(t, 1500)
	holder, pod := testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(qinq(140, 10), holder, "net1")
	before := chainVLANs(t, p.a)
	_, err := p.a.Invoke("ADD", shared("macvlan", 140, 10), pod, "net1")
	testenv.WantCNIError(t, err, 100, "802.1Q VLAN 10", holder.ID+":net1")
	if after := chainVLANs(t, p.a); len(after) != len(before) || len(containerLinks(t, pod)) != 0 {
		t.Fatalf("the refused ADD changed something: host %v, pod %v", after, containerLinks(t, pod))
	}
	p.a.Del(qinq(140, 10), holder, "net1")

	p.a.Add(shared("ipvlan", 140, 10), pod, "net1")
	_, err = p.a.Invoke("ADD", qinq(140, 10), holder, "net1")
	testenv.WantCNIError(t, err, 100, "802.1Q VLAN 10", pod.ID+":net1")
	if len(containerLinks(t, holder)) != 0 {
		t.Fatal("the refused vlan ADD left a link")
	}
	tunnel := testenv.NewContainer(t)
	_, err = p.a.Invoke("ADD", qinq(140), tunnel, "net1")
	testenv.WantCNIError(t, err, 100, "802.1ad VLAN 140", pod.ID+":net1")
	p.a.Del(shared("ipvlan", 140, 10), pod, "net1")
	assertClean(t, p.a, "", holder, pod, tunnel)
}

// The mac capability: the runtime (or Multus) passes runtimeConfig.mac, which
// wins over the key; the result lists the MAC the link really has, and
// CHECK compares it.
func TestMacvlan_TheRuntimesMACWinsAndTheResultAndCHECKSayIt(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	cf := shared("macvlan", 150, 10).With("mac", "02:00:00:00:01:01",
		"capabilities", map[string]bool{"mac": true}, "runtimeConfig", map[string]string{"mac": "02:00:00:00:01:02"})
	res := p.a.Add(cf, c, "net1")
	if got := macOf(t, c); got != "02:00:00:00:01:02" || res.Interfaces[0].Mac != got {
		t.Fatalf("net1 has MAC %s, the result says %s; want runtimeConfig.mac 02:00:00:00:01:02", got, res.Interfaces[0].Mac)
	}
	if err := p.a.Check(cf, c, "net1", res); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}
	c.Do(t, func() error {
		l, err := netlink.LinkByName("net1")
		if err == nil {
			err = netlink.LinkSetHardwareAddr(l, []byte{2, 0, 0, 0, 1, 3})
		}
		return err
	})
	testenv.WantCNIError(t, p.a.Check(cf, c, "net1", res), 101, "MAC 02:00:00:00:01:03", "expected 02:00:00:00:01:02")
	p.a.Del(cf, c, "net1")
	assertClean(t, p.a, "", c)
}

func TestMacvlan_CHECKNamesTheKindModeParentAndMTUThatChanged(t *testing.T) {
	p := newPair(t, 1500)
	cf := shared("macvlan", 160, 10)
	for _, tc := range []struct {
		name   string
		tamper func(c *testenv.Container) error
		says   []string
	}{
		{"mode", func(c *testenv.Container) error {
			return exec.Command("/usr/sbin/ip", "link", "set", "net1", "type", "macvlan", "mode", "vepa").Run()
		}, []string{"net1", "macvlan mode vepa", "expected bridge"}},
		{"MTU", func(c *testenv.Container) error { return testenv.SetMTU("net1", 1400) }, []string{"net1", "MTU 1400", "expected 1496"}},
		{"kind", func(c *testenv.Container) error {
			if err := testenv.DelLink("net1"); err != nil {
				return err
			}
			return testenv.AddDummy("net1", 1496)
		}, []string{"net1", `"dummy"`, "expected a macvlan"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testenv.NewContainer(t)
			res := p.a.Add(cf, c, "net1")
			if err := p.a.Check(cf, c, "net1", res); err != nil {
				t.Fatalf("CHECK after ADD: %v", err)
			}
			c.Do(t, func() error { return tc.tamper(c) })
			testenv.WantCNIError(t, p.a.Check(cf, c, "net1", res), 101, tc.says...)
			p.a.Del(cf, c, "net1")
		})
	}
	// The parent: net1 on the S-link instead of the shared C-link.
	c := testenv.NewContainer(t)
	res := p.a.Add(cf, c, "net1")
	sLink := chainVLANs(t, p.a)["wire0.160"]
	c.Do(t, func() error { return testenv.DelLink("net1") })
	inChainNS(t, p.a, "wire0.160", func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.ParentIndex, attrs.MTU, attrs.Namespace = "net1", sLink.Index, 1496, netlink.NsFd(int(c.NS.Fd()))
		return netlink.LinkAdd(&netlink.Macvlan{LinkAttrs: attrs, Mode: netlink.MACVLAN_MODE_BRIDGE})
	})
	testenv.WantCNIError(t, p.a.Check(cf, c, "net1", res), 101, "net1", "stacked on", "wire0.160.10")
	c.Do(t, func() error { return testenv.DelLink("net1") })
	p.a.Del(cf, c, "net1")
	assertClean(t, p.a, "", c)
}

// DEL goes by the record: it works when the netns, the shared C-link or the
// master are gone, and takes the shared links with the last pod.
func TestMacvlan_DELWorksWhenTheNetnsTheSharedLinkOrTheMasterAreGone(t *testing.T) {
	p := newPair(t, 1500)
	cf := shared("macvlan", 170, 10)
	pods := podsOn(t, p.a, cf, "10.24.0", 3)
	pods[0].Kill(t)
	p.a.Del(cf, pods[0], "net1")
	if chainVLANs(t, p.a)["wire0.170.10"] == nil {
		t.Fatal("the shared C-link went while two pods still use it")
	}
	inChainNS(t, p.a, "wire0.170.10", func() error { return testenv.DelLink("wire0.170.10") })
	p.a.Del(cf, pods[1], "net1")
	p.a.Do(func() error { return testenv.DelLink("wire0") })
	p.a.Del(cf, pods[2], "net1")
	p.a.Del(cf, pods[2], "net1")
	assertClean(t, p.a, "", pods...)
}

// Per-pod VLANs with a shared container link: each (S, C) a pod picks gets
// its shared link on demand, and it goes with its last pod.
func TestMacvlan_PerPodVLANsCreateTheirSharedLinksOnDemand(t *testing.T) {
	p := newPair(t, 1500)
	cf := shared("macvlan", 180, 10).With("overrideSVlans", []string{"180-189"}, "overrideCVlans", []string{"10-19"})
	a, b := testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(cf, a, "net1", testenv.CNIArgs("SVLAN=181;CVLANS=12"))
	p.a.Add(cf, b, "net1", testenv.CNIArgs("SVLAN=181;CVLANS=12"))
	if got := chainVLANs(t, p.a); len(got) != 2 || got["wire0.181.12"] == nil {
		t.Fatalf("host links %v: want S 181 and one shared C 12", got)
	}
	p.a.Del(cf, a, "net1", testenv.CNIArgs("SVLAN=181;CVLANS=12"))
	p.a.Del(cf, b, "net1", testenv.CNIArgs("SVLAN=181;CVLANS=12"))
	assertClean(t, p.a, "", a, b)
}

func TestMacvlan_GCDetachesPodsNotValidAndTheSharedLinksGoWithTheLast(t *testing.T) {
	p := newPair(t, 1500)
	ipamDir := t.TempDir()
	cf := shared("macvlan", 190, 10).WithHostLocal(ipamDir, "10.25.0.0/24")
	gone, kept := testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(cf, gone, "net1")
	p.a.Add(cf, kept, "net1")
	gc(t, p.a, cf, kept)
	if len(containerLinks(t, gone)) != 0 || len(containerLinks(t, kept)) != 1 {
		t.Fatalf("after GC keeping one: gone %v, kept %v", containerLinks(t, gone), containerLinks(t, kept))
	}
	if chainVLANs(t, p.a)["wire0.190.10"] == nil {
		t.Fatal("GC deleted the shared C-link a valid pod uses")
	}
	gc(t, p.a, cf)
	assertClean(t, p.a, ipamDir, gone, kept)
}

func sameSet(got, want []string) bool {
	a, b := slices.Clone(got), slices.Clone(want)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// reachWithOwnMACs: each pod reaches the far peer at peerIP with 1496-byte
// packets, the wire carries S100/C10 from each pod's own MAC, and the
// first pod reaches the second at pod2IP on the node.
func reachWithOwnMACs(t *testing.T, p pair, pods []*testenv.Container, peer *testenv.Container, peerIP, pod2IP string) {
	t.Helper()
	stop := p.b.Capture("wire0")
	for _, c := range pods {
		if err := testenv.Echo(t, c, peer, peerIP, 1496); err != nil {
			t.Fatalf("%s to the far node: %v", c.ID, err)
		}
	}
	frames := stop()
	testenv.AssertTags(t, frames, testenv.Tag8021AD(100), testenv.Tag8021Q(10))
	want := []string{macOf(t, pods[0]), macOf(t, pods[1]), macOf(t, peer)}
	if got := testenv.Sources(frames); !sameSet(got, want) {
		t.Fatalf("source MACs on the wire %v, want each pod's own and the peer's %v", got, want)
	}
	if err := testenv.Echo(t, pods[0], pods[1], pod2IP, 1496); err != nil {
		t.Fatalf("pod to pod on one node: %v", err)
	}
}
