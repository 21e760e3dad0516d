//go:build kerneltest

package binary

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// These pin down defects a review found: each scenario used to leak or to
// destroy something, and must not any more.

func TestRepeatedADD_OfALiveAttachmentIsRefusedAndLeavesItWorking(t *testing.T) {
	p := newPair(t, 1500)
	c, peer := testenv.NewContainer(t), testenv.NewContainer(t)
	cf := qinq(3000, 10).WithStaticIP("10.30.0.1/24")
	p.a.Add(cf, c, "net1")
	p.b.Add(qinq(3000, 10).WithStaticIP("10.30.0.2/24"), peer, "net1")
	_, err := p.a.Invoke("ADD", cf, c, "net1")
	if testenv.CNICode(err) != 100 {
		t.Fatalf("second ADD of the same attachment: want code 100, got %v", err)
	}
	if err := testenv.Echo(t, c, peer, "10.30.0.2", 1496); err != nil {
		t.Fatalf("the attachment broke after a refused repeat ADD: %v", err)
	}
	p.a.Del(cf, c, "net1")
	assertClean(t, p.a, "", c)
}

func TestDEL_AfterTheMasterMTUWasLoweredStillRemovesEverything(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	cf := qinq(3100, 10).With("mtu", 1496)
	res := p.a.Add(cf, c, "net1")
	p.a.Do(func() error { return testenv.SetMTU("wire0", 1400) })
	if err := p.a.Check(cf, c, "net1", res); testenv.CNICode(err) != 101 {
		t.Fatalf("CHECK after the master MTU dropped below mtu: want code 101, got %v", err)
	}
	p.a.Del(cf, c, "net1")
	assertClean(t, p.a, "", c)
}

func TestDEL_AfterTheAllowListsWereNarrowedGoesByWhatADDRecorded(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	wide := qinq(3200, 10).With("overrideSVlans", []string{"3200-3299"})
	p.a.Add(wide, c, "net1", testenv.CNIArgs("SVLAN=3250"))
	if countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 3250) != 1 {
		t.Fatal("per-pod S-VLAN 3250 not built")
	}
	narrow := qinq(3200, 10).With("overrideSVlans", []string{"3200-3209"})
	p.a.Del(narrow, c, "net1", testenv.CNIArgs("SVLAN=3250"))
	assertClean(t, p.a, "", c)
}

func TestDEL_AfterTheConfigsSVlanWasEditedRemovesWhatWasBuilt(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	p.a.Add(qinq(3300, 10), c, "net1")
	p.a.Del(qinq(3301, 10), c, "net1")
	assertClean(t, p.a, "", c)
}

func TestDEL_LeavesAnotherPluginsVLANLinkNamedCNI_IFNAMEAlone(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	// Another plugin's 802.1Q VLAN 10 named net1, in the container.
	c.Do(t, func() error {
		if err := testenv.AddDummy("base", 0); err != nil {
			return err
		}
		return testenv.AddVLAN(testenv.VLAN{Parent: "base", Name: "net1", ID: 10, Down: true})
	})
	if _, err := p.a.Invoke("ADD", qinq(3400, 10), c, "net1"); testenv.CNICode(err) != 100 {
		t.Fatalf("ADD onto an existing net1: want code 100, got %v", err)
	}
	p.a.Del(qinq(3400, 10), c, "net1") // the runtime's DEL after a failed ADD
	if _, ok := testenv.VLANs(t, c.NS)["net1"]; !ok {
		t.Fatal("DEL deleted a VLAN link qinq did not make")
	}
}

func TestGC_KeepsAnInUseSLinkWhoseMasterIsItselfAVLANLink(t *testing.T) {
	p := newPair(t, 1500)
	p.a.Do(func() error { return testenv.AddVLAN(testenv.VLAN{Parent: "wire0", ID: 5}) })
	c := testenv.NewContainer(t)
	cf := qinq(3500, 10).With("master", "wire0.5")
	p.a.Add(cf, c, "net1")
	gc(t, p.a, qinq(3599, 10).With("name", "another-network"))
	if countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 3500) != 1 {
		t.Fatal("GC of another network deleted an S-link a container uses")
	}
	if _, ok := testenv.VLANs(t, c.NS)["net1"]; !ok {
		t.Fatal("the container lost its C-link to GC")
	}
	p.a.Del(cf, c, "net1")
}

func TestIPAMTypo_IsCode7BeforeAnythingIsBuilt(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	cf := qinq(3600, 10).With("ipam", map[string]any{"type": "host-locl"})
	_, err := p.a.Invoke("ADD", cf, c, "net1")
	if testenv.CNICode(err) != 7 || !strings.Contains(err.Error(), "ipam.type") {
		t.Fatalf("want code 7 naming ipam.type, got %v", err)
	}
	p.a.Del(cf, c, "net1")
	assertClean(t, p.a, "", c)
}

func TestLinkInContainer_ScopeDirectoryGoesWithTheLastDEL(t *testing.T) {
	p := newPair(t, 1500)
	pod := testenv.NewContainer(t)
	testenv.MoveLink(t, "wire0", p.a.NS, pod.NS) // the VF a previous plugin moved in
	cf := qinq(3700, 10).With("linkInContainer", true)
	before := containerScopes()
	p.a.Add(cf, pod, "net1")
	if len(containerScopes()) != len(before)+1 {
		t.Fatal("linkInContainer ADD made no container scope")
	}
	p.a.Del(cf, pod, "net1")
	if after := containerScopes(); len(after) != len(before) {
		t.Fatalf("container scope left after DEL: %v", after)
	}
}
