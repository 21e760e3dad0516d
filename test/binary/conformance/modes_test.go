//go:build kerneltest

package conformance

import (
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// vlanOf returns the VLAN link name in where, or fails.
func vlanOf(t *testing.T, w *testenv.World, c *testenv.Container, name string) *netlink.Vlan {
	t.Helper()
	var l netlink.Link
	if c != nil {
		l = testenv.Link(t, c.NS, name)
	} else {
		// A chain link is in qinq's namespace (or, made by an older
		// release, in the node's).
		l = testenv.ChainLink(t, w.Node.NS, env.StateDir, name)
	}
	v, ok := l.(*netlink.Vlan)
	if !ok {
		t.Fatalf("%s is a %s link, want vlan", name, l.Type())
	}
	return v
}

// TestModes: what docs/configuration.md's reference promises, seen from the
// outside.
func TestModes(t *testing.T) {
	spec(t, "QinQ: net1 is 802.1Q 10 on a shared 802.1ad 100 S-link, MTU 1496", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.Node.LibCNI()
		cf := qinq("1.1.0", 100, 10)
		before := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		s := vlanOf(t, w, nil, "eth1.100")
		n := vlanOf(t, w, c[0], "net1")
		if s.VlanProtocol != netlink.VLAN_PROTOCOL_8021AD || s.VlanId != 100 || s.MTU != 1500 {
			t.Errorf("S-link: %s %d MTU %d, want 802.1ad 100 MTU 1500", s.VlanProtocol, s.VlanId, s.MTU)
		}
		if n.VlanProtocol != netlink.VLAN_PROTOCOL_8021Q || n.VlanId != 10 || n.MTU != 1496 || n.ParentIndex != s.Index {
			t.Errorf("net1: %s %d MTU %d on #%d, want 802.1Q 10 MTU 1496 on eth1.100 (#%d)", n.VlanProtocol, n.VlanId, n.MTU, n.ParentIndex, s.Index)
		}
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before)
	})

	spec(t, "Cisco-style sProto 802.1Q makes an 0x8100 S-link", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.Node.LibCNI()
		cf := qinq("1.1.0", 3016, 2).With("sProto", "802.1q") // case-insensitive
		before := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		if s := vlanOf(t, w, nil, "eth1.3016"); s.VlanProtocol != netlink.VLAN_PROTOCOL_8021Q {
			t.Errorf("S-link protocol %s, want 802.1Q", s.VlanProtocol)
		}
		if err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1")); err != nil {
			t.Errorf("CHECK: %v", err)
		}
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before)
	})

	spec(t, "tunnel mode: the container owns the S-link and a second container gets code 100", func(t *testing.T) {
		w, c := newWorld(t, 2)
		cn := w.Node.LibCNI()
		cf := qinq("1.1.0", 950)
		before := w.Snapshot()
		addOK(t, cn, cf, c[0], "ether1")
		n := vlanOf(t, w, c[0], "ether1")
		if n.VlanProtocol != netlink.VLAN_PROTOCOL_8021AD || n.VlanId != 950 || n.MTU != 1500 {
			t.Errorf("ether1: %s %d MTU %d, want 802.1ad 950 MTU 1500", n.VlanProtocol, n.VlanId, n.MTU)
		}
		mid := w.Snapshot()
		_, err := cn.AddNetworkList(ctx, cf.AsList(t), c[1].RuntimeConf("ether1"))
		testenv.WantCNIError(t, err, 100, "950")
		w.Unchanged(mid)
		if err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("ether1")); err != nil {
			t.Errorf("CHECK: %v", err)
		}
		delOK(t, cn, cf, c[0], "ether1")
		w.Unchanged(before)
	})

	spec(t, "explicit mtu and mac are applied and CHECKed", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.Node.LibCNI()
		cf := qinq("1.1.0", 100, 10).With("mtu", 1400, "mac", "02:00:5e:10:00:01")
		before := w.Snapshot()
		res := addOK(t, cn, cf, c[0], "net1")
		n := vlanOf(t, w, c[0], "net1")
		if n.MTU != 1400 || n.HardwareAddr.String() != "02:00:5e:10:00:01" {
			t.Errorf("net1: MTU %d MAC %s, want 1400 02:00:5e:10:00:01", n.MTU, n.HardwareAddr)
		}
		if len(res.Interfaces) != 1 || res.Interfaces[0].Mac != "02:00:5e:10:00:01" {
			t.Errorf("result interfaces %v, want net1 with the MAC", res.Interfaces)
		}
		if err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1")); err != nil {
			t.Errorf("CHECK: %v", err)
		}
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before)
	})

	spec(t, "linkInContainer builds the whole stack in the container and nothing on the node", func(t *testing.T) {
		w, c := newWorld(t, 1)
		// Stand-in for a VF a previous plugin moved into the pod.
		c[0].Do(t, func() error { return testenv.AddDummy("vf0", 1500) })
		cn := w.Node.LibCNI()
		cf := qinq("1.1.0", 100, 10).With("master", "vf0", "linkInContainer", true)
		before := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		s := vlanOf(t, w, c[0], "vf0.100")
		if n := vlanOf(t, w, c[0], "net1"); n.ParentIndex != s.Index || n.MTU != 1496 {
			t.Errorf("net1 on #%d MTU %d, want on vf0.100 (#%d) MTU 1496", n.ParentIndex, n.MTU, s.Index)
		}
		after := w.Snapshot()
		for _, d := range testenv.Diff(before, after) {
			if len(d) > 7 && d[2:7] == "node " {
				t.Errorf("the node changed: %s", d)
			}
		}
		if err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1")); err != nil {
			t.Errorf("CHECK: %v", err)
		}
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before)
	})
}

// TestContainerLinks: the macvlan and ipvlan container links of docs/configuration.md's
// "Many pods per VLAN", in every mode: two containers share one C-link on
// the node, CHECK passes, and the last DEL leaves the node as it was.
func TestContainerLinks(t *testing.T) {
	for _, tc := range []struct{ link, mode, want string }{
		{"macvlan", "", "bridge"}, {"macvlan", "private", "private"}, {"macvlan", "vepa", "vepa"},
		{"ipvlan", "", "l2"}, {"ipvlan", "l3", "l3"}, {"ipvlan", "l3s", "l3s"},
	} {
		spec(t, tc.link+" "+tc.want+": two containers share the C-link, CHECK passes, nothing left", func(t *testing.T) {
			w, c := newWorld(t, 2)
			cn := w.Node.LibCNI()
			cf := qinq("1.1.0", 100, 10).With("containerLink", tc.link)
			if tc.mode != "" {
				cf = cf.With("containerLinkMode", tc.mode)
			}
			before := w.Snapshot()
			for _, ctr := range c {
				addOK(t, cn, cf, ctr, "net1")
				if l := testenv.Link(t, ctr.NS, "net1"); l.Type() != tc.link || l.Attrs().MTU != 1496 {
					t.Fatalf("net1 is a %s with MTU %d, want a %s with MTU 1496", l.Type(), l.Attrs().MTU, tc.link)
				}
				if err := cn.CheckNetworkList(ctx, cf.AsList(t), ctr.RuntimeConf("net1")); err != nil {
					t.Fatalf("CHECK: %v", err)
				}
			}
			if n := testenv.CountChainVLANs(t, w.Node.NS, env.StateDir, netlink.VLAN_PROTOCOL_8021Q, 10); n != 1 {
				t.Fatalf("%d C-links for 10 on the node and in qinq's namespace, want one shared", n)
			}
			for _, ctr := range c {
				delOK(t, cn, cf, ctr, "net1")
			}
			w.Unchanged(before)
		})
	}

	spec(t, "the mac capability: libcni's runtimeConfig.mac is the macvlan's MAC and the result's", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.Node.LibCNI()
		cf := qinq("1.1.0", 100, 10).With("containerLink", "macvlan", "capabilities", map[string]bool{"mac": true})
		rc := c[0].RuntimeConf("net1")
		rc.CapabilityArgs = map[string]any{"mac": "02:00:00:00:02:01"}
		before := w.Snapshot()
		r, err := cn.AddNetworkList(ctx, cf.AsList(t), rc)
		if err != nil {
			t.Fatalf("ADD: %v", err)
		}
		res := testenv.Result(t, r)
		if got := testenv.Link(t, c[0].NS, "net1").Attrs().HardwareAddr.String(); got != "02:00:00:00:02:01" || res.Interfaces[0].Mac != got {
			t.Fatalf("net1 MAC %s, result %s; want 02:00:00:00:02:01", got, res.Interfaces[0].Mac)
		}
		if err := cn.DelNetworkList(ctx, cf.AsList(t), rc); err != nil {
			t.Fatalf("DEL: %v", err)
		}
		w.Unchanged(before)
	})
}
