//go:build kerneltest

package main

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

const (
	tpidS = 0x88a8
	tpidC = 0x8100
)

// pair is two nodes joined by a wire, the usual test bed: a QinQ container on
// each side, talking across.
type pair struct{ a, b *node }

func newPair(t *testing.T, mtu int) pair {
	p := pair{newNode(t), newNode(t)}
	wire(t, p.a, p.b, mtu)
	return p
}

func TestWire_QinQFramesCarry88a8ThenC8100(t *testing.T) {
	p := newPair(t, 1500)
	ca, cb := newContainer(t), newContainer(t)
	p.a.add(qinq(100, 10).withIP("10.1.0.1/24"), ca, "net1")
	p.b.add(qinq(100, 10).withIP("10.1.0.2/24"), cb, "net1")

	stop := capture(t, p.b, "wire0")
	if err := exchange(t, ca, cb, "10.1.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	assertTags(t, stop(), tag{tpidS, 100}, tag{tpidC, 10})
}

func TestWire_CiscoStyleCarries8100Twice(t *testing.T) {
	p := newPair(t, 1500)
	ca, cb := newContainer(t), newContainer(t)
	cisco := qinq(3015, 2).with("sProto", "802.1Q")
	p.a.add(cisco.withIP("10.2.0.1/24"), ca, "net1")
	p.b.add(cisco.withIP("10.2.0.2/24"), cb, "net1")

	stop := capture(t, p.b, "wire0")
	if err := exchange(t, ca, cb, "10.2.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	assertTags(t, stop(), tag{tpidC, 3015}, tag{tpidC, 2})
}

func TestWire_QinQinQCarriesThreeTagsAndMTUIs8992On9000(t *testing.T) {
	p := newPair(t, 9000)
	ca, cb := newContainer(t), newContainer(t)
	p.a.add(qinq(100, 50, 10).withIP("10.3.0.1/24"), ca, "net1")
	p.b.add(qinq(100, 50, 10).withIP("10.3.0.2/24"), cb, "net1")

	if mtu := linkIn(t, ca.ns, "net1").Attrs().MTU; mtu != 8992 {
		t.Fatalf("container MTU %d, want 8992", mtu)
	}
	host := vlans(t, p.a.ns)
	if host["wire0.100"].MTU != 9000 || host["wire0.100.50"].MTU != 8996 {
		t.Fatalf("host links: S %d, outer C %d; want 9000, 8996", host["wire0.100"].MTU, host["wire0.100.50"].MTU)
	}
	stop := capture(t, p.b, "wire0")
	if err := exchange(t, ca, cb, "10.3.0.2", 8992); err != nil {
		t.Fatal(err)
	}
	assertTags(t, stop(), tag{tpidS, 100}, tag{tpidC, 50}, tag{tpidC, 10})
}

func TestMTU_QinQOn1500Gives1496AndAFullSizeDFPacketCrosses(t *testing.T) {
	p := newPair(t, 1500)
	ca, cb := newContainer(t), newContainer(t)
	p.a.add(qinq(200, 20).withIP("10.4.0.1/24"), ca, "net1")
	p.b.add(qinq(200, 20).withIP("10.4.0.2/24"), cb, "net1")
	if mtu := linkIn(t, ca.ns, "net1").Attrs().MTU; mtu != 1496 {
		t.Fatalf("container MTU %d, want 1496", mtu)
	}
	if mtu := vlans(t, p.a.ns)["wire0.200"].MTU; mtu != 1500 {
		t.Fatalf("S-link MTU %d, want 1500", mtu)
	}
	if err := exchange(t, ca, cb, "10.4.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	if err := exchangeN(t, ca, cb, "10.4.0.2", 1497, 1); err == nil {
		t.Fatal("a 1497-byte DF packet must not leave a 1496-MTU link")
	}
}

func TestIsolation_OtherSOrCVLANCannotReach(t *testing.T) {
	p := newPair(t, 1500)
	ca := newContainer(t)
	p.a.add(qinq(100, 10).withIP("10.5.0.1/24"), ca, "net1")
	for _, other := range []conf{qinq(100, 11), qinq(101, 10), qinq(100, 10).with("sProto", "802.1Q")} {
		cb := newContainer(t)
		p.b.add(other.withIP("10.5.0.2/24"), cb, "net1")
		if !unreachable(t, ca, cb, "10.5.0.2") {
			t.Errorf("S100/C10 reached a container on %v", other)
		}
		p.b.del(other.withIP("10.5.0.2/24"), cb, "net1")
	}
}

func TestTunnelMode_ContainersOwnVLANReachesAQinQContainer(t *testing.T) {
	p := newPair(t, 1500)
	router, cb := newContainer(t), newContainer(t)
	p.a.add(qinq(950), router, "ether1")
	s := linkIn(t, router.ns, "ether1").(*netlink.Vlan)
	if s.VlanProtocol != netlink.VLAN_PROTOCOL_8021AD || s.VlanId != 950 || s.MTU != 1500 {
		t.Fatalf("tunnel-mode link: proto %v id %d mtu %d", s.VlanProtocol, s.VlanId, s.MTU)
	}
	// The router on a stick tags its own VLAN 10 inside the container.
	err := router.ns.Do(func(ns.NetNS) error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.ParentIndex = "ether1.10", s.Index
		v := &netlink.Vlan{LinkAttrs: attrs, VlanId: 10}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr("10.6.0.1/24")
		if err := netlink.AddrAdd(v, addr); err != nil {
			return err
		}
		return netlink.LinkSetUp(v)
	})
	if err != nil {
		t.Fatal(err)
	}
	p.b.add(qinq(950, 10).withIP("10.6.0.2/24"), cb, "net1")
	stop := capture(t, p.b, "wire0")
	if err := exchange(t, router, cb, "10.6.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	assertTags(t, stop(), tag{tpidS, 950}, tag{tpidC, 10})
}

func TestTunnelMode_SecondContainerOnTheSameSVLANIsRefused(t *testing.T) {
	p := newPair(t, 1500)
	first, second, third := newContainer(t), newContainer(t), newContainer(t)
	p.a.add(qinq(300), first, "net1")
	before := vlans(t, p.a.ns)

	_, err := p.a.exec("ADD", qinq(300), second, "net1")
	if cniCode(err) != 100 || !strings.Contains(err.Error(), "802.1ad VLAN 300") {
		t.Fatalf("second tunnel-mode ADD: want code 100 naming the S-VLAN, got %v", err)
	}
	_, err = p.a.exec("ADD", qinq(300, 10), third, "net1")
	if cniCode(err) != 100 {
		t.Fatalf("QinQ ADD on an S-VLAN a tunnel-mode container owns: want code 100, got %v", err)
	}
	if after := vlans(t, p.a.ns); len(after) != len(before) {
		t.Fatalf("failed ADDs left links on the host: %v", after)
	}
	if len(vlans(t, second.ns)) != 0 || len(vlans(t, third.ns)) != 0 {
		t.Fatal("failed ADDs left links in the containers")
	}
}

func TestSharedSLink_SurvivesOneContainersDEL(t *testing.T) {
	p := newPair(t, 1500)
	c1, c2, peer := newContainer(t), newContainer(t), newContainer(t)
	conf1, conf2 := qinq(400, 10).withIP("10.7.0.1/24"), qinq(400, 20).withIP("10.7.1.1/24")
	p.a.add(conf1, c1, "net1")
	p.a.add(conf2, c2, "net1")
	p.b.add(qinq(400, 20).withIP("10.7.1.2/24"), peer, "net1")

	if n := countVLANs(t, p.a.ns, 0x88a8, 400); n != 1 {
		t.Fatalf("%d S-links for 802.1ad 400 on the host, want 1 shared", n)
	}
	p.a.del(conf1, c1, "net1")
	if _, ok := vlans(t, p.a.ns)["wire0.400"]; !ok {
		t.Fatal("the S-link went with the first DEL while another container uses it")
	}
	if err := exchange(t, c2, peer, "10.7.1.2", 1496); err != nil {
		t.Fatalf("second container after the first DEL: %v", err)
	}
	p.a.del(conf2, c2, "net1")
	if left := vlans(t, p.a.ns); len(left) != 0 {
		t.Fatalf("links left on the host after the last DEL: %v", left)
	}
}

func TestAdminSLink_IsReusedAndNeverDeleted(t *testing.T) {
	p := newPair(t, 1500)
	var admin netlink.Link
	p.a.do(func() error {
		wire0, _ := netlink.LinkByName("wire0")
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.ParentIndex = "provider500", wire0.Attrs().Index
		v := &netlink.Vlan{LinkAttrs: attrs, VlanId: 500, VlanProtocol: netlink.VLAN_PROTOCOL_8021AD}
		admin = v
		return netlink.LinkAdd(v)
	})
	c := newContainer(t)
	p.a.add(qinq(500, 10), c, "net1")
	inner := linkIn(t, c.ns, "net1")
	if inner.Attrs().ParentIndex != linkIn(t, p.a.ns, "provider500").Attrs().Index {
		t.Fatalf("C-link is stacked on ifindex %d, want the admin's S-link", inner.Attrs().ParentIndex)
	}
	p.a.del(qinq(500, 10), c, "net1")
	linkIn(t, p.a.ns, admin.Attrs().Name) // still there
}

func TestCHECK_PassesAfterADDAndNamesWhatWasTamperedWith(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	cf := qinq(600, 10).withIP("10.8.0.1/24")
	res := p.a.add(cf, c, "net1")
	if err := p.a.check(cf, c, "net1", res); err != nil {
		t.Fatalf("CHECK right after ADD: %v", err)
	}
	c.ns.Do(func(ns.NetNS) error { l, _ := netlink.LinkByName("net1"); return netlink.LinkSetMTU(l, 1400) })
	if err := p.a.check(cf, c, "net1", res); err == nil || !strings.Contains(err.Error(), "MTU 1400, expected 1496") {
		t.Fatalf("CHECK after an MTU change: %v", err)
	}
	c.ns.Do(func(ns.NetNS) error { l, _ := netlink.LinkByName("net1"); return netlink.LinkDel(l) })
	if err := p.a.check(cf, c, "net1", res); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("CHECK after the link was deleted: %v", err)
	}
}

func TestDEL_SucceedsTwiceAndAfterNetnsOrMasterAreGone(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	cf := qinq(700, 10)
	p.a.add(cf, c, "net1")
	p.a.del(cf, c, "net1")
	p.a.del(cf, c, "net1")
	p.a.del(cf, &container{id: c.id}, "net1") // no CNI_NETNS at all

	gone := newContainer(t)
	p.a.add(cf, gone, "net1")
	gone.ns.Close()
	testutils_unmount(t, gone)
	p.a.del(cf, gone, "net1")

	c3 := newContainer(t)
	p.a.add(cf, c3, "net1")
	p.a.do(func() error { l, _ := netlink.LinkByName("wire0"); return netlink.LinkDel(l) })
	p.a.del(cf, c3, "net1")
	if entries, _ := os.ReadDir("/run/qinq"); len(entries) == 0 {
		t.Log("state dir empty")
	}
	assertNoReferences(t, "qinq-test", c.id, gone.id, c3.id)
}

func TestADD_OntoAnExistingIfNameFailsAndLeavesItAlone(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	c.ns.Do(func(ns.NetNS) error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "net1"
		return netlink.LinkAdd(&netlink.Dummy{LinkAttrs: attrs})
	})
	_, err := p.a.exec("ADD", qinq(800, 10), c, "net1")
	if cniCode(err) != 100 || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("want code 100 'already exists', got %v", err)
	}
	if l := linkIn(t, c.ns, "net1"); l.Type() != "dummy" {
		t.Fatalf("existing net1 was replaced by a %s", l.Type())
	}
	if left := vlans(t, p.a.ns); len(left) != 0 {
		t.Fatalf("the failed ADD left host links: %v", left)
	}
	assertNoReferences(t, "qinq-test", c.id)
}

func TestLinkInContainer_BuildsTheStackOnAVFInsideTheContainer(t *testing.T) {
	p := newPair(t, 1500)
	pod, peer := newContainer(t), newContainer(t)
	p.wireIntoPod(t, pod)
	cf := qinq(900, 10).with("linkInContainer", true).withIP("10.9.0.1/24")
	p.a.add(cf, pod, "net1")
	p.b.add(qinq(900, 10).withIP("10.9.0.2/24"), peer, "net1")
	if _, ok := vlans(t, pod.ns)["wire0.900"]; !ok {
		t.Fatalf("S-link not built in the container: %v", vlans(t, pod.ns))
	}
	stop := capture(t, p.b, "wire0")
	if err := exchange(t, pod, peer, "10.9.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	assertTags(t, stop(), tag{tpidS, 900}, tag{tpidC, 10})
	p.a.del(cf, pod, "net1")
	if left := vlans(t, pod.ns); len(left) != 0 {
		t.Fatalf("links left in the container: %v", left)
	}
}

func TestIPAM_HostLocalAddressIsAppliedAndReleased(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	data := t.TempDir()
	cf := qinq(1000, 10).with("ipam", map[string]any{
		"type": "host-local", "dataDir": data, "ranges": [][]map[string]string{{{"subnet": "10.11.0.0/24"}}},
	})
	res := p.a.add(cf, c, "net1")
	if len(res.IPs) != 1 || res.IPs[0].Interface == nil || res.Interfaces[*res.IPs[0].Interface].Name != "net1" {
		t.Fatalf("result %v", res)
	}
	addrs := addrsOf(t, c.ns, "net1")
	if !strings.Contains(addrs, res.IPs[0].Address.String()) {
		t.Fatalf("net1 has %s, result says %s", addrs, res.IPs[0].Address.String())
	}
	p.a.del(cf, c, "net1")
	if files, _ := os.ReadDir(data + "/qinq-test"); countIPFiles(files) != 0 {
		t.Fatalf("host-local still holds an allocation after DEL: %v", files)
	}
}

// --- small helpers -------------------------------------------------------------

// wireIntoPod moves node a's wire end into pod and sets it up: the stand-in
// for an SR-IOV VF a previous plugin moved into the pod (linkInContainer).
func (p pair) wireIntoPod(t *testing.T, pod *container) {
	t.Helper()
	p.a.do(func() error {
		l, err := netlink.LinkByName("wire0")
		if err != nil {
			return err
		}
		return netlink.LinkSetNsFd(l, int(pod.ns.Fd()))
	})
	err := pod.ns.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName("wire0")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); f(i) }(i)
	}
	wg.Wait()
}

func countVLANs(t *testing.T, where ns.NetNS, tpid int, vid int) int {
	n := 0
	for _, v := range vlans(t, where) {
		if int(v.VlanProtocol) == tpid && v.VlanId == vid {
			n++
		}
	}
	return n
}

func addrsOf(t *testing.T, where ns.NetNS, name string) string {
	var out []string
	where.Do(func(ns.NetNS) error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			out = append(out, a.IPNet.String())
		}
		return nil
	})
	return strings.Join(out, " ")
}

func countIPFiles(files []os.DirEntry) int {
	n := 0
	for _, f := range files {
		if strings.Count(f.Name(), ".") == 3 {
			n++
		}
	}
	return n
}
