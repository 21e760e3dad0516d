//go:build kerneltest

package binary

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// MTUs come from the link the endpoint really stacks on. Before: the
// master's MTU raised after its S-link was made planned C-links the S-link
// cannot carry, and every ADD failed with EINVAL as code 999.
func TestMTU_RaisingTheMasterAfterPodsExistGivesNewPodsTheSLinksMTU(t *testing.T) {
	p := newPair(t, 1500)
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(400, 11).WithStaticIP("10.40.0.9/24"), peer, "net1")
	first := testenv.NewContainer(t)
	p.a.Add(qinq(400, 10), first, "net1")
	p.a.Do(func() error { return testenv.SetMTU("wire0", 9000) })

	second := testenv.NewContainer(t)
	p.a.Add(qinq(400, 11).WithStaticIP("10.40.0.1/24"), second, "net1")
	if mtu := testenv.Link(t, second.NS, "net1").Attrs().MTU; mtu != 1496 {
		t.Fatalf("a pod added after the master went to 9000 got MTU %d; the S-link is still 1500, so 1496", mtu)
	}
	if err := testenv.Echo(t, second, peer, "10.40.0.9", 1496); err != nil {
		t.Fatalf("full-size datagrams from the new pod: %v", err)
	}
	before := chainVLANs(t, p.a)
	third := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", qinq(400, 12).With("mtu", 8996), third, "net1")
	testenv.WantCNIError(t, err, 7, "mtu", `"wire0.400"`, "1500", "8996")
	if after := chainVLANs(t, p.a); len(after) != len(before) {
		t.Fatalf("the refused ADD left links: %v", after)
	}
	testenv.AssertOnlyLoopback(t, third)
}

// An admin's S-link smaller than the master: under the planned name its MTU
// is read when planning; under another name it is found only when the
// kernel refuses a second one, and what does not fit is a clear code 7.
func TestMTU_AnAdminsSmallerSLinkIsWhatTheEndpointIsPlannedFrom(t *testing.T) {
	p := newPair(t, 1500)
	p.a.Do(func() error {
		if err := testenv.AddVLAN(testenv.VLAN{Parent: "wire0", Proto: netlink.VLAN_PROTOCOL_8021AD, ID: 402, MTU: 1400}); err != nil {
			return err
		}
		return testenv.AddVLAN(testenv.VLAN{Parent: "wire0", Name: "adm403", Proto: netlink.VLAN_PROTOCOL_8021AD, ID: 403, MTU: 1400})
	})
	c := testenv.NewContainer(t)
	p.a.Add(shared("macvlan", 402, 10), c, "net1")
	if mtu := testenv.Link(t, c.NS, "net1").Attrs().MTU; mtu != 1396 {
		t.Fatalf("a macvlan over the admin's 1400 S-link got MTU %d, want 1396", mtu)
	}
	other := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", qinq(403, 10), other, "net1")
	testenv.WantCNIError(t, err, 7, "1400", "1496")
	if code := testenv.CNICode(err); code == 999 {
		t.Fatalf("code 999: %v", err)
	}
	testenv.AssertOnlyLoopback(t, other)
	if _, ok := chainVLANs(t, p.a)["adm403"]; !ok || !strings.Contains(err.Error(), "802.1ad VLAN 403") {
		t.Fatalf("the admin's link must stay and the error name its VLAN: %v", err)
	}
	p.a.Del(shared("macvlan", 402, 10), c, "net1")
	if _, ok := chainVLANs(t, p.a)["wire0.402"]; !ok {
		t.Fatal("DEL deleted the admin's S-link")
	}
}
