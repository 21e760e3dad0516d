//go:build kerneltest

package binary

import (
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

func TestWire_QinQFramesCarry88a8ThenC8100(t *testing.T) {
	p := newPair(t, 1500)
	ca, cb := testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(qinq(100, 10).WithStaticIP("10.1.0.1/24"), ca, "net1")
	p.b.Add(qinq(100, 10).WithStaticIP("10.1.0.2/24"), cb, "net1")

	stop := p.b.Capture("wire0")
	if err := testenv.Echo(t, ca, cb, "10.1.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	testenv.AssertTags(t, stop(), testenv.Tag8021AD(100), testenv.Tag8021Q(10))
}

func TestWire_CiscoStyleCarries8100Twice(t *testing.T) {
	p := newPair(t, 1500)
	ca, cb := testenv.NewContainer(t), testenv.NewContainer(t)
	cisco := qinq(3015, 2).With("sProto", "802.1Q")
	p.a.Add(cisco.WithStaticIP("10.2.0.1/24"), ca, "net1")
	p.b.Add(cisco.WithStaticIP("10.2.0.2/24"), cb, "net1")

	stop := p.b.Capture("wire0")
	if err := testenv.Echo(t, ca, cb, "10.2.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	testenv.AssertTags(t, stop(), testenv.Tag8021Q(3015), testenv.Tag8021Q(2))
}

func TestWire_QinQinQCarriesThreeTagsAndMTUIs8992On9000(t *testing.T) {
	p := newPair(t, 9000)
	ca, cb := testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(qinq(100, 50, 10).WithStaticIP("10.3.0.1/24"), ca, "net1")
	p.b.Add(qinq(100, 50, 10).WithStaticIP("10.3.0.2/24"), cb, "net1")

	if mtu := testenv.Link(t, ca.NS, "net1").Attrs().MTU; mtu != 8992 {
		t.Fatalf("container MTU %d, want 8992", mtu)
	}
	host := chainVLANs(t, p.a)
	if host["wire0.100"].MTU != 9000 || host["wire0.100.50"].MTU != 8996 {
		t.Fatalf("host links: S %d, outer C %d; want 9000, 8996", host["wire0.100"].MTU, host["wire0.100.50"].MTU)
	}
	stop := p.b.Capture("wire0")
	if err := testenv.Echo(t, ca, cb, "10.3.0.2", 8992); err != nil {
		t.Fatal(err)
	}
	testenv.AssertTags(t, stop(), testenv.Tag8021AD(100), testenv.Tag8021Q(50), testenv.Tag8021Q(10))
}

func TestMTU_QinQOn1500Gives1496AndAFullSizeDFPacketCrosses(t *testing.T) {
	p := newPair(t, 1500)
	ca, cb := testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(qinq(200, 20).WithStaticIP("10.4.0.1/24"), ca, "net1")
	p.b.Add(qinq(200, 20).WithStaticIP("10.4.0.2/24"), cb, "net1")
	if mtu := testenv.Link(t, ca.NS, "net1").Attrs().MTU; mtu != 1496 {
		t.Fatalf("container MTU %d, want 1496", mtu)
	}
	if mtu := chainVLANs(t, p.a)["wire0.200"].MTU; mtu != 1500 {
		t.Fatalf("S-link MTU %d, want 1500", mtu)
	}
	if err := testenv.Echo(t, ca, cb, "10.4.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	if err := testenv.EchoOnce(t, ca, cb, "10.4.0.2", 1497); err == nil {
		t.Fatal("a 1497-byte DF packet must not leave a 1496-MTU link")
	}
}

func TestIsolation_OtherSOrCVLANCannotReach(t *testing.T) {
	p := newPair(t, 1500)
	ca := testenv.NewContainer(t)
	p.a.Add(qinq(100, 10).WithStaticIP("10.5.0.1/24"), ca, "net1")
	for _, other := range []testenv.Conf{qinq(100, 11), qinq(101, 10), qinq(100, 10).With("sProto", "802.1Q")} {
		cb := testenv.NewContainer(t)
		p.b.Add(other.WithStaticIP("10.5.0.2/24"), cb, "net1")
		if !testenv.Unreachable(t, ca, cb, "10.5.0.2") {
			t.Errorf("S100/C10 reached a container on %v", other)
		}
		p.b.Del(other.WithStaticIP("10.5.0.2/24"), cb, "net1")
	}
}

func TestTunnelMode_ContainersOwnVLANReachesAQinQContainer(t *testing.T) {
	p := newPair(t, 1500)
	router, cb := testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(qinq(950), router, "ether1")
	s := testenv.Link(t, router.NS, "ether1").(*netlink.Vlan)
	if s.VlanProtocol != netlink.VLAN_PROTOCOL_8021AD || s.VlanId != 950 || s.MTU != 1500 {
		t.Fatalf("tunnel-mode link: proto %v id %d mtu %d", s.VlanProtocol, s.VlanId, s.MTU)
	}
	// The router on a stick tags its own VLAN 10 inside the container.
	router.Do(t, func() error { return testenv.AddVLAN(testenv.VLAN{Parent: "ether1", ID: 10, Addr: "10.6.0.1/24"}) })
	p.b.Add(qinq(950, 10).WithStaticIP("10.6.0.2/24"), cb, "net1")
	stop := p.b.Capture("wire0")
	if err := testenv.Echo(t, router, cb, "10.6.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	testenv.AssertTags(t, stop(), testenv.Tag8021AD(950), testenv.Tag8021Q(10))
}

func TestTunnelMode_SecondContainerOnTheSameSVLANIsRefused(t *testing.T) {
	p := newPair(t, 1500)
	first, second, third := testenv.NewContainer(t), testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(qinq(300), first, "net1")
	before := chainVLANs(t, p.a)

	_, err := p.a.Invoke("ADD", qinq(300), second, "net1")
	if testenv.CNICode(err) != 100 || !strings.Contains(err.Error(), "802.1ad VLAN 300") {
		t.Fatalf("second tunnel-mode ADD: want code 100 naming the S-VLAN, got %v", err)
	}
	_, err = p.a.Invoke("ADD", qinq(300, 10), third, "net1")
	if testenv.CNICode(err) != 100 {
		t.Fatalf("QinQ ADD on an S-VLAN a tunnel-mode container owns: want code 100, got %v", err)
	}
	if after := chainVLANs(t, p.a); len(after) != len(before) {
		t.Fatalf("failed ADDs left links on the host: %v", after)
	}
	if len(testenv.VLANs(t, second.NS)) != 0 || len(testenv.VLANs(t, third.NS)) != 0 {
		t.Fatal("failed ADDs left links in the containers")
	}
}

func TestSharedSLink_SurvivesOneContainersDEL(t *testing.T) {
	p := newPair(t, 1500)
	c1, c2, peer := testenv.NewContainer(t), testenv.NewContainer(t), testenv.NewContainer(t)
	conf1, conf2 := qinq(400, 10).WithStaticIP("10.7.0.1/24"), qinq(400, 20).WithStaticIP("10.7.1.1/24")
	p.a.Add(conf1, c1, "net1")
	p.a.Add(conf2, c2, "net1")
	p.b.Add(qinq(400, 20).WithStaticIP("10.7.1.2/24"), peer, "net1")

	if n := countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 400); n != 1 {
		t.Fatalf("%d S-links for 802.1ad 400 on the host, want 1 shared", n)
	}
	p.a.Del(conf1, c1, "net1")
	if _, ok := chainVLANs(t, p.a)["wire0.400"]; !ok {
		t.Fatal("the S-link went with the first DEL while another container uses it")
	}
	if err := testenv.Echo(t, c2, peer, "10.7.1.2", 1496); err != nil {
		t.Fatalf("second container after the first DEL: %v", err)
	}
	p.a.Del(conf2, c2, "net1")
	if left := chainVLANs(t, p.a); len(left) != 0 {
		t.Fatalf("links left on the host after the last DEL: %v", left)
	}
}

func TestAdminSLink_IsReusedAndNeverDeleted(t *testing.T) {
	p := newPair(t, 1500)
	p.a.Do(func() error {
		return testenv.AddVLAN(testenv.VLAN{Parent: "wire0", Name: "provider500", Proto: netlink.VLAN_PROTOCOL_8021AD, ID: 500, Down: true})
	})
	c := testenv.NewContainer(t)
	p.a.Add(qinq(500, 10), c, "net1")
	inner := testenv.Link(t, c.NS, "net1")
	if inner.Attrs().ParentIndex != testenv.Link(t, p.a.NS, "provider500").Attrs().Index {
		t.Fatalf("C-link is stacked on ifindex %d, want the admin's S-link", inner.Attrs().ParentIndex)
	}
	p.a.Del(qinq(500, 10), c, "net1")
	testenv.Link(t, p.a.NS, "provider500") // still there
}

func TestCHECK_PassesAfterADDAndNamesWhatWasTamperedWith(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	cf := qinq(600, 10).WithStaticIP("10.8.0.1/24")
	res := p.a.Add(cf, c, "net1")
	if err := p.a.Check(cf, c, "net1", res); err != nil {
		t.Fatalf("CHECK right after ADD: %v", err)
	}
	c.Do(t, func() error { return testenv.SetMTU("net1", 1400) })
	if err := p.a.Check(cf, c, "net1", res); err == nil || !strings.Contains(err.Error(), "MTU 1400, expected 1496") {
		t.Fatalf("CHECK after an MTU change: %v", err)
	}
	c.Do(t, func() error { return testenv.DelLink("net1") })
	if err := p.a.Check(cf, c, "net1", res); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("CHECK after the link was deleted: %v", err)
	}
}

func TestDEL_SucceedsTwiceAndAfterNetnsOrMasterAreGone(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	cf := qinq(700, 10)
	p.a.Add(cf, c, "net1")
	p.a.Del(cf, c, "net1")
	p.a.Del(cf, c, "net1")
	p.a.Del(cf, &testenv.Container{ID: c.ID}, "net1") // no CNI_NETNS at all

	gone := testenv.NewContainer(t)
	p.a.Add(cf, gone, "net1")
	gone.Kill(t)
	p.a.Del(cf, gone, "net1")

	c3 := testenv.NewContainer(t)
	p.a.Add(cf, c3, "net1")
	p.a.Do(func() error { return testenv.DelLink("wire0") })
	p.a.Del(cf, c3, "net1")
	assertNoReferences(t, c.ID, gone.ID, c3.ID)
}

func TestADD_OntoAnExistingIfNameFailsAndLeavesItAlone(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	c.Do(t, func() error { return testenv.AddDummy("net1", 0) })
	_, err := p.a.Invoke("ADD", qinq(800, 10), c, "net1")
	if testenv.CNICode(err) != 100 || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("want code 100 'already exists', got %v", err)
	}
	if l := testenv.Link(t, c.NS, "net1"); l.Type() != "dummy" {
		t.Fatalf("existing net1 was replaced by a %s", l.Type())
	}
	if left := chainVLANs(t, p.a); len(left) != 0 {
		t.Fatalf("the failed ADD left host links: %v", left)
	}
	assertNoReferences(t, c.ID)
}

func TestLinkInContainer_BuildsTheStackOnAVFInsideTheContainer(t *testing.T) {
	p := newPair(t, 1500)
	pod, peer := testenv.NewContainer(t), testenv.NewContainer(t)
	testenv.MoveLink(t, "wire0", p.a.NS, pod.NS) // the VF a previous plugin moved in
	cf := qinq(900, 10).With("linkInContainer", true).WithStaticIP("10.9.0.1/24")
	p.a.Add(cf, pod, "net1")
	p.b.Add(qinq(900, 10).WithStaticIP("10.9.0.2/24"), peer, "net1")
	if _, ok := testenv.VLANs(t, pod.NS)["wire0.900"]; !ok {
		t.Fatalf("S-link not built in the container: %v", testenv.VLANs(t, pod.NS))
	}
	stop := p.b.Capture("wire0")
	if err := testenv.Echo(t, pod, peer, "10.9.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	testenv.AssertTags(t, stop(), testenv.Tag8021AD(900), testenv.Tag8021Q(10))
	p.a.Del(cf, pod, "net1")
	if left := testenv.VLANs(t, pod.NS); len(left) != 0 {
		t.Fatalf("links left in the container: %v", left)
	}
}

func TestIPAM_HostLocalAddressIsAppliedAndReleased(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	data := t.TempDir()
	cf := qinq(1000, 10).WithHostLocal(data, "10.11.0.0/24")
	res := p.a.Add(cf, c, "net1")
	if len(res.IPs) != 1 || res.IPs[0].Interface == nil || res.Interfaces[*res.IPs[0].Interface].Name != "net1" {
		t.Fatalf("result %v", res)
	}
	addrs := testenv.Addrs(t, c.NS, "net1")
	if !slices.Contains(addrs, res.IPs[0].Address.String()) {
		t.Fatalf("net1 has %s, result says %s", addrs, res.IPs[0].Address.String())
	}
	p.a.Del(cf, c, "net1")
	if left := testenv.HostLocalAllocations(data, "qinq-test"); len(left) != 0 {
		t.Fatalf("host-local still holds an allocation after DEL: %v", left)
	}
}
