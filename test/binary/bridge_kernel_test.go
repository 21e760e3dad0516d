//go:build kerneltest

package binary

import (
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// The bridge container link: a Linux bridge on the chain's last link, both
// in qinq's own network namespace, and a veth pair per pod whose host end is
// a locked port of the bridge. Node a holds the pods, node b a peer on the
// same (S, C) across the wire.

func bridged(sVlan int, cVlans ...int) testenv.Conf { return shared("bridge", sVlan, cVlans...) }

// ownLink is link name in qinq's own namespace of n.
func ownLink(t *testing.T, n *testenv.Node, name string) netlink.Link {
	t.Helper()
	o := ownNS(t, n)
	if o == nil {
		t.Fatalf("qinq's network namespace of the node was not made")
	}
	return testenv.Link(t, o, name)
}

// bridgeOf is the bridge in qinq's namespace of n and the port it has for
// each pod (the peer of the pod's net1).
func bridgeOf(t *testing.T, n *testenv.Node, pods ...*testenv.Container) (*netlink.Bridge, []netlink.Link) {
	t.Helper()
	o := ownNS(t, n)
	if o == nil {
		t.Fatal("qinq's network namespace of the node was not made")
	}
	var br *netlink.Bridge
	byIndex := map[int]netlink.Link{}
	testenv.InNS(t, o, func() error {
		links, err := netlink.LinkList()
		for _, l := range links {
			byIndex[l.Attrs().Index] = l
			if b, ok := l.(*netlink.Bridge); ok {
				if br != nil {
					t.Fatalf("two bridges in qinq's namespace: %s and %s", br.Name, b.Name)
				}
				br = b
			}
		}
		return err
	})
	if br == nil {
		t.Fatal("no bridge in qinq's network namespace")
	}
	var ports []netlink.Link
	for _, c := range pods {
		l := testenv.Link(t, c.NS, "net1")
		port, ok := byIndex[l.Attrs().ParentIndex]
		if l.Type() != "veth" || !ok || port.Attrs().MasterIndex != br.Index {
			t.Fatalf("%s net1: a %s whose peer (ifindex %d) is not a port of %s", c.ID, l.Type(), l.Attrs().ParentIndex, br.Name)
		}
		ports = append(ports, port)
	}
	return br, ports
}

func TestBridge_TwoPodsOfOneCVLANOnOneNodeReachTheFarNodeAndEachOtherWithTheirOwnMACs(t *testing.T) {
	p := newPair(t, 1500)
	cf := bridged(100, 10)
	pods := []*testenv.Container{testenv.NewContainer(t), testenv.NewContainer(t)}
	confs := []testenv.Conf{cf.WithStaticIP("10.30.0.1/24"), cf.WithStaticIP("10.30.0.2/24").With("mac", "02:00:5e:30:00:02")}
	// The first pod asks for its MAC in CNI_ARGS, the second in the config.
	args := []testenv.InvokeOption{testenv.CNIArgs("IgnoreUnknown=1;MAC=02:00:5e:30:00:01"), testenv.CNIArgs("")}
	var results []*current.Result
	for i, c := range pods {
		results = append(results, p.a.Add(confs[i], c, "net1", args[i]))
	}
	second := pods[1]
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(100, 10).WithStaticIP("10.30.0.9/24"), peer, "net1")

	if vs := testenv.VLANs(t, p.a.NS); len(vs) != 0 {
		t.Fatalf("node links %v: want none (the S-link and the C-link are in qinq's namespace)", vs)
	}
	if vs := chainVLANs(t, p.a); len(vs) != 2 || vs["wire0.100"] == nil || vs["wire0.100.10"] == nil {
		t.Fatalf("chain links %v: want the S-link wire0.100 and the C-link wire0.100.10", vs)
	}
	for _, c := range pods {
		if vs := testenv.VLANs(t, c.NS); len(vs) != 0 {
			t.Fatalf("%s holds VLAN links %v", c.ID, vs)
		}
		if l := testenv.Link(t, c.NS, "net1"); l.Attrs().MTU != 1496 {
			t.Fatalf("%s net1 MTU %d, want 1496", c.ID, l.Attrs().MTU)
		}
	}
	if got := macOf(t, second); got != "02:00:5e:30:00:02" {
		t.Fatalf("second pod's MAC %s, want the requested 02:00:5e:30:00:02", got)
	}
	if got := macOf(t, pods[0]); got != "02:00:5e:30:00:01" {
		t.Fatalf("first pod's MAC %s, want 02:00:5e:30:00:01 from CNI_ARGS", got)
	}
	br, ports := bridgeOf(t, p.a, pods...)
	up := ownLink(t, p.a, "wire0.100.10").(*netlink.Vlan)
	if up.MasterIndex != br.Index || up.VlanId != 10 || br.MTU != 1496 {
		t.Fatalf("uplink %s (VLAN %d) master %d, bridge %s #%d MTU %d", up.Name, up.VlanId, up.MasterIndex, br.Name, br.Index, br.MTU)
	}
	o := ownNS(t, p.a)
	for _, port := range ports {
		var pi netlink.Protinfo
		testenv.InNS(t, o, func() error {
			var err error
			pi, err = netlink.LinkGetProtinfo(port)
			return err
		})
		if pi.Learning || pi.Flood {
			t.Errorf("port %s: learning %v, unicast flood %v; want both off", port.Attrs().Name, pi.Learning, pi.Flood)
		}
	}
	reachWithOwnMACs(t, p, pods, peer, "10.30.0.9", "10.30.0.2")
	for i, c := range pods {
		if err := p.a.Check(confs[i], c, "net1", results[i], args[i]); err != nil {
			t.Errorf("CHECK of %s: %v", c.ID, err)
		}
	}
	other := testenv.NewContainer(t)
	p.a.Add(bridged(100, 11).WithStaticIP("10.30.0.7/24"), other, "net1")
	for _, target := range []struct {
		c  *testenv.Container
		ip string
	}{{peer, "10.30.0.9"}, {pods[0], "10.30.0.1"}} {
		if !testenv.Unreachable(t, other, target.c, target.ip) {
			t.Errorf("a pod on C-VLAN 11 reached %s on C-VLAN 10", target.ip)
		}
	}
	for _, c := range append(pods, other) {
		p.a.Del(cf, c, "net1")
	}
	assertClean(t, p.a, "", append(pods, other)...)
}
