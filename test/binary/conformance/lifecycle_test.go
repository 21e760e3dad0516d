//go:build kerneltest

package conformance

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

var ctx = context.Background()

// addOK runs ADD through libcni and returns the 1.x result.
func addOK(t *testing.T, cn *libcni.CNIConfig, cf testenv.Conf, c *testenv.Container, ifName string) *current.Result {
	t.Helper()
	r, err := cn.AddNetworkList(ctx, cf.AsList(t), c.RuntimeConf(ifName))
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	res, err := current.NewResultFromResult(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func delOK(t *testing.T, cn *libcni.CNIConfig, cf testenv.Conf, c *testenv.Container, ifName string) {
	t.Helper()
	if err := cn.DelNetworkList(ctx, cf.AsList(t), c.RuntimeConf(ifName)); err != nil {
		t.Fatalf("DEL: %v", err)
	}
}

func TestADD(t *testing.T) {
	spec(t, "onto an ifname that exists in the container fails and leaves it untouched", func(t *testing.T) {
		w, c := newWorld(t, 1)
		c[0].Do(t, func() error {
			if err := testenv.AddDummy("net1", 1234); err != nil {
				return err
			}
			l, _ := netlink.LinkByName("net1")
			return netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(192, 0, 2, 7), Mask: net.CIDRMask(24, 32)}})
		})
		before := w.Snapshot()
		cf := qinq("1.1.0", 100, 10).WithHostLocal(ipamDir, "10.40.0.0/24")
		_, err := w.Node.LibCNI().AddNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1"))
		testenv.WantCNIError(t, err, 100, "net1", "already exists")
		w.Unchanged(before) // the dummy keeps its index, MTU and address
	})

	spec(t, "a second container on the same C-VLAN is refused and the first is untouched", func(t *testing.T) {
		w, c := newWorld(t, 2)
		cn := w.Node.LibCNI()
		cf := qinq("1.1.0", 100, 10).WithHostLocal(ipamDir, "10.41.0.0/24")
		empty := w.Snapshot()
		first := addOK(t, cn, cf, c[0], "net1")
		before := attached(t, w, empty, true)
		_, err := cn.AddNetworkList(ctx, cf.AsList(t), c[1].RuntimeConf("net1"))
		testenv.WantCNIError(t, err, 100, "VLAN 10")
		w.Unchanged(before) // nothing of the second left, the IP released
		if err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1")); err != nil {
			t.Fatalf("CHECK of the first after the refused second: %v", err)
		}
		_ = first
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(empty)
	})

	spec(t, "a failing IPAM rolls the whole ADD back", func(t *testing.T) {
		w, c := newWorld(t, 2)
		cn := w.Node.LibCNI()
		// A range of one address: the second container's IPAM fails after
		// its links were made.
		cf := qinq("1.1.0", 100, 10).WithHostLocalRange(ipamDir, map[string]string{"subnet": "10.42.0.0/24", "rangeStart": "10.42.0.9", "rangeEnd": "10.42.0.9"})
		cf2 := cf.With("cVlans", []int{11})
		empty := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		before := w.Snapshot()
		_, err := cn.AddNetworkList(ctx, cf2.AsList(t), c[1].RuntimeConf("net1"))
		if err == nil {
			t.Fatal("ADD with an exhausted range succeeded")
		}
		w.Unchanged(before) // no net1 in the second, no reference, S-link kept for the first
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(empty)
	})

	spec(t, "QinQinQ on a 9000 master gives the container MTU 8992", func(t *testing.T) {
		w, c := newWorld(t, 1)
		w.Node.Do(func() error { return testenv.SetMTU(master, 9000) })
		cn := w.Node.LibCNI()
		cf := qinq("1.1.0", 100, 50, 10)
		empty := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		attached(t, w, empty, false)
		l, err := testenv.LinkByName(c[0].NS, "net1")
		if err != nil || l.Attrs().MTU != 8992 {
			t.Fatalf("net1: %v, MTU want 8992", err)
		}
		if err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1")); err != nil {
			t.Fatalf("CHECK: %v", err)
		}
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(empty)
	})
}

func TestChained(t *testing.T) {
	spec(t, "prevResult handed in is preserved in the result", func(t *testing.T) {
		w, c := newWorld(t, 1)
		prev := map[string]any{
			"cniVersion": "1.0.0",
			"interfaces": []map[string]any{{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": c[0].NetNSPath()}},
			"ips":        []map[string]any{{"address": "192.0.2.10/24", "gateway": "192.0.2.1", "interface": 0}},
			"routes":     []map[string]any{{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}},
			"dns":        map[string]any{"nameservers": []string{"192.0.2.53"}, "domain": "example.net"},
		}
		cf := qinq("1.0.0", 100, 10).WithStaticIP("10.43.0.2/24").With("prevResult", prev)
		before := w.Snapshot()
		out := w.Node.Raw(env.Vars("ADD", c[0], "net1"), cf.Bytes()).OK(t)
		var got current.Result
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Interfaces) != 2 || got.Interfaces[0].Name != "eth0" || got.Interfaces[0].Mac != "02:00:00:00:00:01" || got.Interfaces[1].Name != "net1" {
			t.Errorf("interfaces: want prev eth0 then net1, got %s", out)
		}
		if len(got.IPs) != 2 || got.IPs[0].Address.String() != "192.0.2.10/24" || *got.IPs[0].Interface != 0 ||
			got.IPs[1].Address.String() != "10.43.0.2/24" || *got.IPs[1].Interface != 1 {
			t.Errorf("ips: want prev 192.0.2.10/24 on 0 then 10.43.0.2/24 on 1, got %s", out)
		}
		if len(got.Routes) < 1 || got.Routes[0].Dst.String() != "0.0.0.0/0" {
			t.Errorf("routes: prev default route lost: %s", out)
		}
		if len(got.DNS.Nameservers) != 1 || got.DNS.Nameservers[0] != "192.0.2.53" || got.DNS.Domain != "example.net" {
			t.Errorf("dns: prev nameservers/domain lost: %s", out)
		}
		w.Node.Raw(env.Vars("DEL", c[0], "net1"), cf.Bytes()).OK(t)
		w.Unchanged(before)
	})

	spec(t, "a libcni list static then qinq passes the first result through", func(t *testing.T) {
		w, c := newWorld(t, 1)
		list := []byte(`{"cniVersion":"1.0.0","name":"conf-chain","plugins":[
			{"type":"static","ipam":{"type":"static","addresses":[{"address":"192.0.2.20/24"}]}},
			{"type":"qinq","master":"eth1","sVlan":100,"cVlans":[10],
			 "ipam":{"type":"host-local","dataDir":"` + ipamDir + `","ranges":[[{"subnet":"10.44.0.0/24"}]]}}]}`)
		l, err := libcni.NetworkConfFromBytes(list)
		if err != nil {
			t.Fatal(err)
		}
		cn := w.Node.LibCNI()
		before := w.Snapshot()
		r, err := cn.AddNetworkList(ctx, l, c[0].RuntimeConf("net1"))
		if err != nil {
			t.Fatalf("ADD: %v", err)
		}
		attached(t, w, before, true)
		res, _ := current.NewResultFromResult(r)
		var addrs []string
		for _, ip := range res.IPs {
			addrs = append(addrs, ip.Address.String())
		}
		if len(res.IPs) != 2 || addrs[0] != "192.0.2.20/24" || !strings.HasPrefix(addrs[1], "10.44.0.") {
			t.Errorf("want static's 192.0.2.20/24 kept and qinq's 10.44.0.x added, got %v", addrs)
		}
		if len(res.Interfaces) != 1 || res.Interfaces[0].Name != "net1" {
			t.Errorf("want qinq's net1 interface, got %v", res.Interfaces)
		}
		if err := cn.CheckNetworkList(ctx, l, c[0].RuntimeConf("net1")); err != nil {
			t.Errorf("CHECK of the list: %v", err)
		}
		if err := cn.DelNetworkList(ctx, l, c[0].RuntimeConf("net1")); err != nil {
			t.Fatalf("DEL: %v", err)
		}
		w.Unchanged(before)
	})
}

func TestDEL(t *testing.T) {
	cf := qinq("1.1.0", 100, 10).WithHostLocal(ipamDir, "10.50.0.0/24")

	spec(t, "twice", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.Node.LibCNI()
		before := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		attached(t, w, before, true)
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before)
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before)
	})

	spec(t, "with no netns", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.Node.LibCNI()
		before := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		attached(t, w, before, true)
		r := c[0].RuntimeConf("net1")
		r.NetNS = ""
		if err := cn.DelNetworkList(ctx, cf.AsList(t), r); err != nil {
			t.Fatalf("DEL with no CNI_NETNS: %v", err)
		}
		w.Unchanged(before)
	})

	spec(t, "after netns deleted", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.Node.LibCNI()
		before := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		attached(t, w, before, true)
		c[0].Kill(t)
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before, "ctr "+c[0].ID)
	})

	spec(t, "after master deleted", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.Node.LibCNI()
		before := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		attached(t, w, before, true)
		w.Node.Do(func() error { return testenv.DelLink(master) })
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before, "node link "+master, "node addr "+master)
	})

	spec(t, "with no prevResult", func(t *testing.T) {
		w, c := newWorld(t, 1)
		before := w.Snapshot()
		w.Node.Raw(env.Vars("ADD", c[0], "net1"), cf.Bytes()).OK(t)
		attached(t, w, before, true)
		if strings.Contains(string(cf.Bytes()), "prevResult") {
			t.Fatal("config has a prevResult")
		}
		w.Node.Raw(env.Vars("DEL", c[0], "net1"), cf.Bytes()).OK(t)
		w.Unchanged(before)
	})

	spec(t, "of an attachment never added changes nothing", func(t *testing.T) {
		w, c := newWorld(t, 1)
		before := w.Snapshot()
		w.Node.Raw(env.Vars("DEL", c[0], "net1"), cf.Bytes()).OK(t)
		w.Unchanged(before)
	})

	spec(t, "leaves an ifname it did not make alone", func(t *testing.T) {
		w, c := newWorld(t, 1)
		c[0].Do(t, func() error { return testenv.AddDummy("net1", 1500) })
		before := w.Snapshot()
		w.Node.Raw(env.Vars("DEL", c[0], "net1"), cf.Bytes()).OK(t)
		w.Unchanged(before)
	})

	spec(t, "of one container keeps the S-link another uses", func(t *testing.T) {
		w, c := newWorld(t, 2)
		cn := w.Node.LibCNI()
		empty := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		before := w.Snapshot()
		cf11 := cf.With("cVlans", []int{11})
		addOK(t, cn, cf11, c[1], "net1")
		delOK(t, cn, cf11, c[1], "net1")
		w.Unchanged(before)
		if err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1")); err != nil {
			t.Fatalf("CHECK of the first: %v", err)
		}
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(empty)
	})
}

// tamper is one way to make an attachment differ from its configuration.
type tamper struct {
	name string
	do   func(t *testing.T, w *testenv.World, c *testenv.Container)
	says []string
	// undo removes what the tamper made and DEL would (rightly) not delete.
	undo func(t *testing.T, w *testenv.World, c *testenv.Container)
}

func TestCHECK(t *testing.T) {
	for _, v := range []string{"0.4.0", "1.0.0", "1.1.0"} {
		spec(t, "passes right after ADD at "+v, func(t *testing.T) {
			w, c := newWorld(t, 1)
			cn := w.Node.LibCNI()
			cf := qinq(v, 100, 10).WithHostLocal(ipamDir, "10.60.0.0/24")
			before := w.Snapshot()
			addOK(t, cn, cf, c[0], "net1")
			attached(t, w, before, true)
			if err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1")); err != nil {
				t.Fatalf("CHECK right after ADD: %v", err)
			}
			delOK(t, cn, cf, c[0], "net1")
			w.Unchanged(before)
		})
	}

	replace := func(parent string, proto netlink.VlanProtocol, vid, mtu int) func(t *testing.T, w *testenv.World, c *testenv.Container) {
		return func(t *testing.T, w *testenv.World, c *testenv.Container) {
			c.Do(t, func() error {
				if _, err := netlink.LinkByName("net1"); err != nil {
					return nil // already gone with its parent
				}
				return testenv.DelLink("net1")
			})
			// The parent is where it is: a chain link in qinq's namespace.
			testenv.InNS(t, testenv.ChainNS(t, w.Node.NS, env.StateDir, parent), func() error {
				return testenv.AddVLAN(testenv.VLAN{Parent: parent, Name: "net1", Proto: proto, ID: vid, MTU: mtu, Into: c.NS})
			})
		}
	}
	dropNode := func(names ...string) func(t *testing.T, w *testenv.World, c *testenv.Container) {
		return func(t *testing.T, w *testenv.World, c *testenv.Container) {
			for _, n := range names {
				w.Node.Do(func() error { return testenv.DelLink(n) })
			}
		}
	}
	tampers := []tamper{
		{name: "link gone", says: []string{"net1", "not found"},
			do: func(t *testing.T, w *testenv.World, c *testenv.Container) {
				c.Do(t, func() error { return testenv.DelLink("net1") })
			}},
		{name: "VLAN ID", says: []string{"net1", "VLAN ID 11", "expected 10"},
			do: replace("eth1.100", netlink.VLAN_PROTOCOL_8021Q, 11, 1496)},
		{name: "protocol", says: []string{"net1", "protocol", "expected 802.1Q"},
			do: replace("eth1.100", netlink.VLAN_PROTOCOL_8021AD, 10, 1496)},
		{name: "reorder_hdr off (the pod would pick its own C-tag)", says: []string{"net1", "reorder_hdr is off"},
			do: func(t *testing.T, w *testenv.World, c *testenv.Container) {
				c.Do(t, func() error {
					return exec.Command("/usr/sbin/ip", "link", "set", "net1", "type", "vlan", "reorder_hdr", "off").Run()
				})
			}},
		{name: "MTU", says: []string{"net1", "MTU 1400", "expected 1496"},
			do: func(t *testing.T, w *testenv.World, c *testenv.Container) {
				c.Do(t, func() error { return testenv.SetMTU("net1", 1400) })
			}},
		{name: "parent S-link stacked on another S-VLAN", says: []string{"net1", "stacked on", "eth1.100"},
			do: func(t *testing.T, w *testenv.World, c *testenv.Container) {
				w.Node.Do(func() error {
					return testenv.AddVLAN(testenv.VLAN{Parent: master, Proto: netlink.VLAN_PROTOCOL_8021AD, ID: 200})
				})
				replace("eth1.200", netlink.VLAN_PROTOCOL_8021Q, 10, 1496)(t, w, c)
			},
			undo: dropNode("eth1.200")},
		{name: "parent S-link replaced by an 802.1Q link of the same name", says: []string{"802.1ad VLAN 100", "missing"},
			do: func(t *testing.T, w *testenv.World, c *testenv.Container) {
				// Deleting the S-link takes net1 with it; an admin then makes
				// eth1.100 as 802.1Q 100 and net1 reappears on it.
				testenv.InNS(t, testenv.ChainNS(t, w.Node.NS, env.StateDir, "eth1.100"), func() error { return testenv.DelLink("eth1.100") })
				w.Node.Do(func() error { return testenv.AddVLAN(testenv.VLAN{Parent: master, ID: 100}) })
				replace("eth1.100", netlink.VLAN_PROTOCOL_8021Q, 10, 1496)(t, w, c)
			},
			undo: dropNode("eth1.100")},
		{name: "an IP removed", says: []string{"net1", "10.61.0.7"},
			do: func(t *testing.T, w *testenv.World, c *testenv.Container) {
				c.Do(t, func() error {
					l, _ := netlink.LinkByName("net1")
					return netlink.AddrDel(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 61, 0, 7), Mask: net.CIDRMask(24, 32)}})
				})
			}},
	}
	for _, tm := range tampers {
		spec(t, "fails after tampering: "+tm.name, func(t *testing.T) {
			w, c := newWorld(t, 1)
			cn := w.Node.LibCNI()
			cf := qinq("1.1.0", 100, 10).WithStaticIP("10.61.0.7/24")
			before := w.Snapshot()
			addOK(t, cn, cf, c[0], "net1")
			if err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1")); err != nil {
				t.Fatalf("CHECK before tampering: %v", err)
			}
			tm.do(t, w, c[0])
			err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1"))
			testenv.WantCNIError(t, err, 101, tm.says...)
			t.Logf("CHECK says: %v", err)
			delOK(t, cn, cf, c[0], "net1")
			if tm.undo != nil {
				tm.undo(t, w, c[0])
			}
			w.Unchanged(before)
		})
	}

	spec(t, "without prevResult is code 7", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cf := qinq("1.1.0", 100, 10)
		w.Node.Raw(env.Vars("ADD", c[0], "net1"), cf.Bytes()).OK(t)
		before := w.Snapshot()
		w.Node.Raw(env.Vars("CHECK", c[0], "net1"), cf.Bytes()).Fails(t, 7, "prevResult")
		w.Unchanged(before)
		w.Node.Raw(env.Vars("DEL", c[0], "net1"), cf.Bytes()).OK(t)
	})
}

func TestGC(t *testing.T) {
	gcList := func(t *testing.T, cf testenv.Conf) *libcni.NetworkConfigList { return cf.AsList(t) }
	cf := qinq("1.1.0", 100, 10).WithHostLocal(ipamDir, "10.70.0.0/24")
	other := qinq("1.1.0", 200, 10).With("name", "conf-other").WithHostLocal(ipamDir, "10.71.0.0/24")

	spec(t, "keeps valid attachments and releases the rest", func(t *testing.T) {
		w, c := newWorld(t, 3)
		cn := w.Node.LibCNI()
		empty := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		addOK(t, cn, cf.With("cVlans", []int{11}), c[1], "net1")
		addOK(t, cn, other, c[2], "net1")
		s := w.Snapshot()
		if !refsOf(s, c[1].ID) || !ipamHolds(s, c[1].ID) || !s.Has("ctr "+c[1].ID+" link net1") {
			t.Fatalf("the second attachment is not there before GC")
		}
		// A runtime with no cached attachments: only the plugin's own GC runs.
		gc := w.Node.LibCNI()
		err := gc.GCNetworkList(ctx, gcList(t, cf), &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: c[0].ID, IfName: "net1"}}})
		if err != nil {
			t.Fatalf("GC: %v", err)
		}
		s = w.Snapshot()
		if refsOf(s, c[1].ID) || ipamHolds(s, c[1].ID) || s.Has("ctr "+c[1].ID+" link net1") {
			t.Errorf("GC left the invalid attachment: refs %v, IP %v, link %v", refsOf(s, c[1].ID), ipamHolds(s, c[1].ID), s.Has("ctr "+c[1].ID+" link net1"))
		}
		for i, cc := range []testenv.Conf{cf, other} {
			ctr := c[[]int{0, 2}[i]]
			if err := cn.CheckNetworkList(ctx, cc.AsList(t), ctr.RuntimeConf("net1")); err != nil {
				t.Errorf("CHECK of a kept attachment (%s) after GC: %v", cc["name"], err)
			}
		}
		delOK(t, cn, cf, c[0], "net1")
		delOK(t, cn, other, c[2], "net1")
		delOK(t, cn, cf.With("cVlans", []int{11}), c[1], "net1")
		w.Unchanged(empty)
	})

	spec(t, "with no valid attachments releases every attachment of the network, and only those", func(t *testing.T) {
		w, c := newWorld(t, 2)
		cn := w.Node.LibCNI()
		empty := w.Snapshot()
		addOK(t, cn, other, c[1], "net1")
		withOther := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		attached(t, w, withOther, true)
		if err := w.Node.LibCNI().GCNetworkList(ctx, gcList(t, cf), &libcni.GCArgs{}); err != nil {
			t.Fatalf("GC: %v", err)
		}
		w.Unchanged(withOther) // S-link eth1.100 gone, reference and IP released
		if err := cn.CheckNetworkList(ctx, other.AsList(t), c[1].RuntimeConf("net1")); err != nil {
			t.Errorf("CHECK of the other network's attachment after GC: %v", err)
		}
		delOK(t, cn, cf, c[0], "net1") // DEL after GC still succeeds
		delOK(t, cn, other, c[1], "net1")
		w.Unchanged(empty)
	})

	spec(t, "on a node with nothing attached changes nothing", func(t *testing.T) {
		w, _ := newWorld(t, 1)
		before := w.Snapshot()
		if err := w.Node.LibCNI().GCNetworkList(ctx, gcList(t, cf), &libcni.GCArgs{}); err != nil {
			t.Fatalf("GC: %v", err)
		}
		w.Unchanged(before)
	})
}

func TestSTATUS(t *testing.T) {
	spec(t, "ready", func(t *testing.T) {
		w, _ := newWorld(t, 1)
		before := w.Snapshot()
		cf := qinq("1.1.0", 100, 10).WithHostLocal(ipamDir, "10.80.0.0/24")
		if err := w.Node.LibCNI().GetStatusNetworkList(ctx, cf.AsList(t)); err != nil {
			t.Fatalf("STATUS: %v", err)
		}
		w.Unchanged(before)
	})
	spec(t, "not ready: master missing is code 50", func(t *testing.T) {
		w, _ := newWorld(t, 1)
		before := w.Snapshot()
		cf := qinq("1.1.0", 100, 10).With("master", "eth9")
		err := w.Node.LibCNI().GetStatusNetworkList(ctx, cf.AsList(t))
		testenv.WantCNIError(t, err, 50, "eth9")
		w.Unchanged(before)
	})
	spec(t, "not ready: master deleted after ADD is code 50", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.Node.LibCNI()
		cf := qinq("1.1.0", 100, 10)
		if err := cn.GetStatusNetworkList(ctx, cf.AsList(t)); err != nil {
			t.Fatalf("STATUS before: %v", err)
		}
		before := w.Snapshot()
		addOK(t, cn, cf, c[0], "net1")
		w.Node.Do(func() error { return testenv.DelLink(master) })
		testenv.WantCNIError(t, cn.GetStatusNetworkList(ctx, cf.AsList(t)), 50, master)
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before, "node link "+master)
	})
}
