//go:build kerneltest

package conformance

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
)

var ctx = context.Background()

// addOK runs ADD through libcni and returns the 1.x result.
func addOK(t *testing.T, cn *libcni.CNIConfig, cf conf, c *container, ifName string) *current.Result {
	t.Helper()
	r, err := cn.AddNetworkList(ctx, confList(t, cf), rt(c, ifName))
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	res, err := current.NewResultFromResult(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func delOK(t *testing.T, cn *libcni.CNIConfig, cf conf, c *container, ifName string) {
	t.Helper()
	if err := cn.DelNetworkList(ctx, confList(t, cf), rt(c, ifName)); err != nil {
		t.Fatalf("DEL: %v", err)
	}
}

// ipamHolds reports whether host-local holds an address for container id.
func ipamHolds(s snap, id string) bool { return s.hasWith("ipam file ", id) }

// refsOf reports whether the state directory holds a reference for id.
func refsOf(s snap, id string) bool { return s.hasWith("state file ", id) }

func TestADD(t *testing.T) {
	spec(t, "onto an ifname that exists in the container fails and leaves it untouched", func(t *testing.T) {
		w, c := newWorld(t, 1)
		c[0].do(t, func() error {
			if err := addDummy("net1", 1234); err != nil {
				return err
			}
			l, _ := netlink.LinkByName("net1")
			return netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(192, 0, 2, 7), Mask: net.CIDRMask(24, 32)}})
		})
		before := w.snap()
		cf := qinq("1.1.0", 100, 10).hostLocal("10.40.0.0/24")
		_, err := w.node.cni().AddNetworkList(ctx, confList(t, cf), rt(c[0], "net1"))
		wantCNIError(t, err, 100, "net1", "already exists")
		w.unchanged(before) // the dummy keeps its index, MTU and address
	})

	spec(t, "a second container on the same C-VLAN is refused and the first is untouched", func(t *testing.T) {
		w, c := newWorld(t, 2)
		cn := w.node.cni()
		cf := qinq("1.1.0", 100, 10).hostLocal("10.41.0.0/24")
		empty := w.snap()
		first := addOK(t, cn, cf, c[0], "net1")
		before := w.attached(empty, true)
		_, err := cn.AddNetworkList(ctx, confList(t, cf), rt(c[1], "net1"))
		wantCNIError(t, err, 100, "VLAN 10")
		w.unchanged(before) // nothing of the second left, the IP released
		if err := cn.CheckNetworkList(ctx, confList(t, cf), rt(c[0], "net1")); err != nil {
			t.Fatalf("CHECK of the first after the refused second: %v", err)
		}
		_ = first
		delOK(t, cn, cf, c[0], "net1")
		w.unchanged(empty)
	})

	spec(t, "a failing IPAM rolls the whole ADD back", func(t *testing.T) {
		w, c := newWorld(t, 2)
		cn := w.node.cni()
		// A range of one address: the second container's IPAM fails after
		// its links were made.
		cf := qinq("1.1.0", 100).with("cVlans", []int{10}, "ipam", map[string]any{
			"type": "host-local", "dataDir": ipamDir,
			"ranges": [][]map[string]string{{{"subnet": "10.42.0.0/24", "rangeStart": "10.42.0.9", "rangeEnd": "10.42.0.9"}}},
		})
		cf2 := cf.with("cVlans", []int{11})
		empty := w.snap()
		addOK(t, cn, cf, c[0], "net1")
		before := w.snap()
		_, err := cn.AddNetworkList(ctx, confList(t, cf2), rt(c[1], "net1"))
		if err == nil {
			t.Fatal("ADD with an exhausted range succeeded")
		}
		w.unchanged(before) // no net1 in the second, no reference, S-link kept for the first
		delOK(t, cn, cf, c[0], "net1")
		w.unchanged(empty)
	})

	spec(t, "QinQinQ on a 9000 master gives the container MTU 8992", func(t *testing.T) {
		w, c := newWorld(t, 1)
		w.node.do(func() error { l, _ := netlink.LinkByName(master); return netlink.LinkSetMTU(l, 9000) })
		cn := w.node.cni()
		cf := qinq("1.1.0", 100, 50, 10)
		empty := w.snap()
		addOK(t, cn, cf, c[0], "net1")
		w.attached(empty, false)
		l, err := linkByName(t, c[0].ns, "net1")
		if err != nil || l.Attrs().MTU != 8992 {
			t.Fatalf("net1: %v, MTU want 8992", err)
		}
		if err := cn.CheckNetworkList(ctx, confList(t, cf), rt(c[0], "net1")); err != nil {
			t.Fatalf("CHECK: %v", err)
		}
		delOK(t, cn, cf, c[0], "net1")
		w.unchanged(empty)
	})
}

func TestChained(t *testing.T) {
	spec(t, "prevResult handed in is preserved in the result", func(t *testing.T) {
		w, c := newWorld(t, 1)
		prev := map[string]any{
			"cniVersion": "1.0.0",
			"interfaces": []map[string]any{{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": c[0].path}},
			"ips":        []map[string]any{{"address": "192.0.2.10/24", "gateway": "192.0.2.1", "interface": 0}},
			"routes":     []map[string]any{{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}},
			"dns":        map[string]any{"nameservers": []string{"192.0.2.53"}, "domain": "example.net"},
		}
		cf := qinq("1.0.0", 100, 10).static("10.43.0.2/24").with("prevResult", prev)
		before := w.snap()
		out := w.node.raw(cniEnv("ADD", c[0], "net1"), cf.bytes()).ok(t)
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
		w.node.raw(cniEnv("DEL", c[0], "net1"), cf.bytes()).ok(t)
		w.unchanged(before)
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
		cn := w.node.cni()
		before := w.snap()
		r, err := cn.AddNetworkList(ctx, l, rt(c[0], "net1"))
		if err != nil {
			t.Fatalf("ADD: %v", err)
		}
		w.attached(before, true)
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
		if err := cn.CheckNetworkList(ctx, l, rt(c[0], "net1")); err != nil {
			t.Errorf("CHECK of the list: %v", err)
		}
		if err := cn.DelNetworkList(ctx, l, rt(c[0], "net1")); err != nil {
			t.Fatalf("DEL: %v", err)
		}
		w.unchanged(before)
	})
}

func TestDEL(t *testing.T) {
	cf := qinq("1.1.0", 100, 10).hostLocal("10.50.0.0/24")

	spec(t, "twice", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.node.cni()
		before := w.snap()
		addOK(t, cn, cf, c[0], "net1")
		w.attached(before, true)
		delOK(t, cn, cf, c[0], "net1")
		w.unchanged(before)
		delOK(t, cn, cf, c[0], "net1")
		w.unchanged(before)
	})

	spec(t, "with no netns", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.node.cni()
		before := w.snap()
		addOK(t, cn, cf, c[0], "net1")
		w.attached(before, true)
		r := rt(c[0], "net1")
		r.NetNS = ""
		if err := cn.DelNetworkList(ctx, confList(t, cf), r); err != nil {
			t.Fatalf("DEL with no CNI_NETNS: %v", err)
		}
		w.unchanged(before)
	})

	spec(t, "after netns deleted", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.node.cni()
		before := w.snap()
		addOK(t, cn, cf, c[0], "net1")
		w.attached(before, true)
		c[0].kill(t)
		delOK(t, cn, cf, c[0], "net1")
		w.unchanged(before, "ctr "+c[0].id)
	})

	spec(t, "after master deleted", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.node.cni()
		before := w.snap()
		addOK(t, cn, cf, c[0], "net1")
		w.attached(before, true)
		w.node.do(func() error { return delLink(master) })
		delOK(t, cn, cf, c[0], "net1")
		w.unchanged(before, "node link "+master, "node addr "+master)
	})

	spec(t, "with no prevResult", func(t *testing.T) {
		w, c := newWorld(t, 1)
		before := w.snap()
		w.node.raw(cniEnv("ADD", c[0], "net1"), cf.bytes()).ok(t)
		w.attached(before, true)
		if strings.Contains(string(cf.bytes()), "prevResult") {
			t.Fatal("config has a prevResult")
		}
		w.node.raw(cniEnv("DEL", c[0], "net1"), cf.bytes()).ok(t)
		w.unchanged(before)
	})

	spec(t, "of an attachment never added changes nothing", func(t *testing.T) {
		w, c := newWorld(t, 1)
		before := w.snap()
		w.node.raw(cniEnv("DEL", c[0], "net1"), cf.bytes()).ok(t)
		w.unchanged(before)
	})

	spec(t, "leaves an ifname it did not make alone", func(t *testing.T) {
		w, c := newWorld(t, 1)
		c[0].do(t, func() error { return addDummy("net1", 1500) })
		before := w.snap()
		w.node.raw(cniEnv("DEL", c[0], "net1"), cf.bytes()).ok(t)
		w.unchanged(before)
	})

	spec(t, "of one container keeps the S-link another uses", func(t *testing.T) {
		w, c := newWorld(t, 2)
		cn := w.node.cni()
		empty := w.snap()
		addOK(t, cn, cf, c[0], "net1")
		before := w.snap()
		cf11 := cf.with("cVlans", []int{11})
		addOK(t, cn, cf11, c[1], "net1")
		delOK(t, cn, cf11, c[1], "net1")
		w.unchanged(before)
		if err := cn.CheckNetworkList(ctx, confList(t, cf), rt(c[0], "net1")); err != nil {
			t.Fatalf("CHECK of the first: %v", err)
		}
		delOK(t, cn, cf, c[0], "net1")
		w.unchanged(empty)
	})
}

// tamper is one way to make an attachment differ from its configuration.
type tamper struct {
	name string
	do   func(t *testing.T, w *world, c *container)
	says []string
	// undo removes what the tamper made and DEL would (rightly) not delete.
	undo func(t *testing.T, w *world, c *container)
}

func TestCHECK(t *testing.T) {
	for _, v := range []string{"0.4.0", "1.0.0", "1.1.0"} {
		spec(t, "passes right after ADD at "+v, func(t *testing.T) {
			w, c := newWorld(t, 1)
			cn := w.node.cni()
			cf := qinq(v, 100, 10).hostLocal("10.60.0.0/24")
			before := w.snap()
			addOK(t, cn, cf, c[0], "net1")
			w.attached(before, true)
			if err := cn.CheckNetworkList(ctx, confList(t, cf), rt(c[0], "net1")); err != nil {
				t.Fatalf("CHECK right after ADD: %v", err)
			}
			delOK(t, cn, cf, c[0], "net1")
			w.unchanged(before)
		})
	}

	replace := func(parent string, proto netlink.VlanProtocol, vid, mtu int) func(t *testing.T, w *world, c *container) {
		return func(t *testing.T, w *world, c *container) {
			c.do(t, func() error {
				if _, err := netlink.LinkByName("net1"); err != nil {
					return nil // already gone with its parent
				}
				return delLink("net1")
			})
			w.node.do(func() error { return addVLAN(parent, "net1", proto, vid, mtu, c.ns) })
		}
	}
	dropNode := func(names ...string) func(t *testing.T, w *world, c *container) {
		return func(t *testing.T, w *world, c *container) {
			for _, n := range names {
				w.node.do(func() error { return delLink(n) })
			}
		}
	}
	tampers := []tamper{
		{name: "link gone", says: []string{"net1", "not found"},
			do: func(t *testing.T, w *world, c *container) { c.do(t, func() error { return delLink("net1") }) }},
		{name: "VLAN ID", says: []string{"net1", "VLAN ID 11", "expected 10"},
			do: replace("eth1.100", netlink.VLAN_PROTOCOL_8021Q, 11, 1496)},
		{name: "protocol", says: []string{"net1", "protocol", "expected 802.1Q"},
			do: replace("eth1.100", netlink.VLAN_PROTOCOL_8021AD, 10, 1496)},
		{name: "MTU", says: []string{"net1", "MTU 1400", "expected 1496"},
			do: func(t *testing.T, w *world, c *container) {
				c.do(t, func() error { l, _ := netlink.LinkByName("net1"); return netlink.LinkSetMTU(l, 1400) })
			}},
		{name: "parent S-link stacked on another S-VLAN", says: []string{"net1", "stacked on", "eth1.100"},
			do: func(t *testing.T, w *world, c *container) {
				w.node.do(func() error { return addVLAN(master, "eth1.200", netlink.VLAN_PROTOCOL_8021AD, 200, 0, nil) })
				replace("eth1.200", netlink.VLAN_PROTOCOL_8021Q, 10, 1496)(t, w, c)
			},
			undo: dropNode("eth1.200")},
		{name: "parent S-link replaced by an 802.1Q link of the same name", says: []string{"802.1ad VLAN 100", "missing"},
			do: func(t *testing.T, w *world, c *container) {
				// Deleting the S-link takes net1 with it; an admin then makes
				// eth1.100 as 802.1Q 100 and net1 reappears on it.
				w.node.do(func() error { return delLink("eth1.100") })
				w.node.do(func() error { return addVLAN(master, "eth1.100", netlink.VLAN_PROTOCOL_8021Q, 100, 0, nil) })
				replace("eth1.100", netlink.VLAN_PROTOCOL_8021Q, 10, 1496)(t, w, c)
			},
			undo: dropNode("eth1.100")},
		{name: "an IP removed", says: []string{"net1", "10.61.0.7"},
			do: func(t *testing.T, w *world, c *container) {
				c.do(t, func() error {
					l, _ := netlink.LinkByName("net1")
					return netlink.AddrDel(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 61, 0, 7), Mask: net.CIDRMask(24, 32)}})
				})
			}},
	}
	for _, tm := range tampers {
		spec(t, "fails after tampering: "+tm.name, func(t *testing.T) {
			w, c := newWorld(t, 1)
			cn := w.node.cni()
			cf := qinq("1.1.0", 100, 10).static("10.61.0.7/24")
			before := w.snap()
			addOK(t, cn, cf, c[0], "net1")
			if err := cn.CheckNetworkList(ctx, confList(t, cf), rt(c[0], "net1")); err != nil {
				t.Fatalf("CHECK before tampering: %v", err)
			}
			tm.do(t, w, c[0])
			err := cn.CheckNetworkList(ctx, confList(t, cf), rt(c[0], "net1"))
			wantCNIError(t, err, 101, tm.says...)
			t.Logf("CHECK says: %v", err)
			delOK(t, cn, cf, c[0], "net1")
			if tm.undo != nil {
				tm.undo(t, w, c[0])
			}
			w.unchanged(before)
		})
	}

	spec(t, "without prevResult is code 7", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cf := qinq("1.1.0", 100, 10)
		w.node.raw(cniEnv("ADD", c[0], "net1"), cf.bytes()).ok(t)
		before := w.snap()
		w.node.raw(cniEnv("CHECK", c[0], "net1"), cf.bytes()).fails(t, 7, "prevResult")
		w.unchanged(before)
		w.node.raw(cniEnv("DEL", c[0], "net1"), cf.bytes()).ok(t)
	})
}

func TestGC(t *testing.T) {
	gcList := func(t *testing.T, cf conf) *libcni.NetworkConfigList { return confList(t, cf) }
	cf := qinq("1.1.0", 100, 10).hostLocal("10.70.0.0/24")
	other := qinq("1.1.0", 200, 10).with("name", "conf-other").hostLocal("10.71.0.0/24")

	spec(t, "keeps valid attachments and releases the rest", func(t *testing.T) {
		w, c := newWorld(t, 3)
		cn := w.node.cni()
		empty := w.snap()
		addOK(t, cn, cf, c[0], "net1")
		addOK(t, cn, cf.with("cVlans", []int{11}), c[1], "net1")
		addOK(t, cn, other, c[2], "net1")
		s := w.snap()
		if !refsOf(s, c[1].id) || !ipamHolds(s, c[1].id) || !s.has("ctr "+c[1].id+" link net1") {
			t.Fatalf("the second attachment is not there before GC")
		}
		// A runtime with no cached attachments: only the plugin's own GC runs.
		gc := w.node.cni()
		err := gc.GCNetworkList(ctx, gcList(t, cf), &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: c[0].id, IfName: "net1"}}})
		if err != nil {
			t.Fatalf("GC: %v", err)
		}
		s = w.snap()
		if refsOf(s, c[1].id) || ipamHolds(s, c[1].id) || s.has("ctr "+c[1].id+" link net1") {
			t.Errorf("GC left the invalid attachment: refs %v, IP %v, link %v", refsOf(s, c[1].id), ipamHolds(s, c[1].id), s.has("ctr "+c[1].id+" link net1"))
		}
		for i, cc := range []conf{cf, other} {
			ctr := c[[]int{0, 2}[i]]
			if err := cn.CheckNetworkList(ctx, confList(t, cc), rt(ctr, "net1")); err != nil {
				t.Errorf("CHECK of a kept attachment (%s) after GC: %v", cc["name"], err)
			}
		}
		delOK(t, cn, cf, c[0], "net1")
		delOK(t, cn, other, c[2], "net1")
		delOK(t, cn, cf.with("cVlans", []int{11}), c[1], "net1")
		w.unchanged(empty)
	})

	spec(t, "with no valid attachments releases every attachment of the network, and only those", func(t *testing.T) {
		w, c := newWorld(t, 2)
		cn := w.node.cni()
		empty := w.snap()
		addOK(t, cn, other, c[1], "net1")
		withOther := w.snap()
		addOK(t, cn, cf, c[0], "net1")
		w.attached(withOther, true)
		if err := w.node.cni().GCNetworkList(ctx, gcList(t, cf), &libcni.GCArgs{}); err != nil {
			t.Fatalf("GC: %v", err)
		}
		w.unchanged(withOther) // S-link eth1.100 gone, reference and IP released
		if err := cn.CheckNetworkList(ctx, confList(t, other), rt(c[1], "net1")); err != nil {
			t.Errorf("CHECK of the other network's attachment after GC: %v", err)
		}
		delOK(t, cn, cf, c[0], "net1") // DEL after GC still succeeds
		delOK(t, cn, other, c[1], "net1")
		w.unchanged(empty)
	})

	spec(t, "on a node with nothing attached changes nothing", func(t *testing.T) {
		w, _ := newWorld(t, 1)
		before := w.snap()
		if err := w.node.cni().GCNetworkList(ctx, gcList(t, cf), &libcni.GCArgs{}); err != nil {
			t.Fatalf("GC: %v", err)
		}
		w.unchanged(before)
	})
}

func TestSTATUS(t *testing.T) {
	spec(t, "ready", func(t *testing.T) {
		w, _ := newWorld(t, 1)
		before := w.snap()
		cf := qinq("1.1.0", 100, 10).hostLocal("10.80.0.0/24")
		if err := w.node.cni().GetStatusNetworkList(ctx, confList(t, cf)); err != nil {
			t.Fatalf("STATUS: %v", err)
		}
		w.unchanged(before)
	})
	spec(t, "not ready: master missing is code 50", func(t *testing.T) {
		w, _ := newWorld(t, 1)
		before := w.snap()
		cf := qinq("1.1.0", 100, 10).with("master", "eth9")
		err := w.node.cni().GetStatusNetworkList(ctx, confList(t, cf))
		wantCNIError(t, err, 50, "eth9")
		w.unchanged(before)
	})
	spec(t, "not ready: master deleted after ADD is code 50", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cn := w.node.cni()
		cf := qinq("1.1.0", 100, 10)
		if err := cn.GetStatusNetworkList(ctx, confList(t, cf)); err != nil {
			t.Fatalf("STATUS before: %v", err)
		}
		before := w.snap()
		addOK(t, cn, cf, c[0], "net1")
		w.node.do(func() error { return delLink(master) })
		wantCNIError(t, cn.GetStatusNetworkList(ctx, confList(t, cf)), 50, master)
		delOK(t, cn, cf, c[0], "net1")
		w.unchanged(before, "node link "+master)
	})
}
