//go:build kerneltest

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// These pin down defects a review found: each scenario used to leak or to
// destroy something, and must not any more.

func TestRepeatedADD_OfALiveAttachmentIsRefusedAndLeavesItWorking(t *testing.T) {
	p := newPair(t, 1500)
	c, peer := newContainer(t), newContainer(t)
	cf := qinq(3000, 10).withIP("10.30.0.1/24")
	p.a.add(cf, c, "net1")
	p.b.add(qinq(3000, 10).withIP("10.30.0.2/24"), peer, "net1")
	_, err := p.a.exec("ADD", cf, c, "net1")
	if cniCode(err) != 100 {
		t.Fatalf("second ADD of the same attachment: want code 100, got %v", err)
	}
	if err := exchange(t, c, peer, "10.30.0.2", 1496); err != nil {
		t.Fatalf("the attachment broke after a refused repeat ADD: %v", err)
	}
	p.a.del(cf, c, "net1")
	assertClean(t, p.a, "", c)
}

func TestDEL_AfterTheMasterMTUWasLoweredStillRemovesEverything(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	cf := qinq(3100, 10).with("mtu", 1496)
	res := p.a.add(cf, c, "net1")
	p.a.do(func() error { l, _ := netlink.LinkByName("wire0"); return netlink.LinkSetMTU(l, 1400) })
	if err := p.a.check(cf, c, "net1", res); cniCode(err) != 101 {
		t.Fatalf("CHECK after the master MTU dropped below mtu: want code 101, got %v", err)
	}
	p.a.del(cf, c, "net1")
	assertClean(t, p.a, "", c)
}

func TestDEL_AfterTheAllowListsWereNarrowedGoesByWhatADDRecorded(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	wide := qinq(3200, 10).with("overrideSVlans", []string{"3200-3299"})
	p.a.execWith(execOpts{cniArgs: "SVLAN=3250"}, "ADD", wide, c, "net1")
	if countVLANs(t, p.a.ns, tpidS, 3250) != 1 {
		t.Fatal("per-pod S-VLAN 3250 not built")
	}
	narrow := qinq(3200, 10).with("overrideSVlans", []string{"3200-3209"})
	if _, err := p.a.execWith(execOpts{cniArgs: "SVLAN=3250"}, "DEL", narrow, c, "net1"); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	assertClean(t, p.a, "", c)
}

func TestDEL_AfterTheConfigsSVlanWasEditedRemovesWhatWasBuilt(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	p.a.add(qinq(3300, 10), c, "net1")
	p.a.del(qinq(3301, 10), c, "net1")
	assertClean(t, p.a, "", c)
}

func TestDEL_LeavesAnotherPluginsVLANLinkNamedCNI_IFNAMEAlone(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	// Another plugin's 802.1Q VLAN 10 named net1, in the container.
	c.ns.Do(func(ns.NetNS) error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "base"
		if err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: attrs}); err != nil {
			return err
		}
		base, _ := netlink.LinkByName("base")
		v := netlink.NewLinkAttrs()
		v.Name, v.ParentIndex = "net1", base.Attrs().Index
		return netlink.LinkAdd(&netlink.Vlan{LinkAttrs: v, VlanId: 10})
	})
	if _, err := p.a.exec("ADD", qinq(3400, 10), c, "net1"); cniCode(err) != 100 {
		t.Fatalf("ADD onto an existing net1: want code 100, got %v", err)
	}
	p.a.del(qinq(3400, 10), c, "net1") // the runtime's DEL after a failed ADD
	if _, ok := vlans(t, c.ns)["net1"]; !ok {
		t.Fatal("DEL deleted a VLAN link qinq did not make")
	}
}

func TestGC_KeepsAnInUseSLinkWhoseMasterIsItselfAVLANLink(t *testing.T) {
	p := newPair(t, 1500)
	p.a.do(func() error {
		wire0, _ := netlink.LinkByName("wire0")
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.ParentIndex = "wire0.5", wire0.Attrs().Index
		v := &netlink.Vlan{LinkAttrs: attrs, VlanId: 5}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		return netlink.LinkSetUp(v)
	})
	c := newContainer(t)
	cf := qinq(3500, 10).with("master", "wire0.5")
	p.a.add(cf, c, "net1")
	p.a.gc(t, qinq(3599, 10).with("name", "another-network"))
	if countVLANs(t, p.a.ns, tpidS, 3500) != 1 {
		t.Fatal("GC of another network deleted an S-link a container uses")
	}
	if _, ok := vlans(t, c.ns)["net1"]; !ok {
		t.Fatal("the container lost its C-link to GC")
	}
	p.a.del(cf, c, "net1")
}

func TestIPAMTypo_IsCode7BeforeAnythingIsBuilt(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	cf := qinq(3600, 10).with("ipam", map[string]any{"type": "host-locl"})
	_, err := p.a.exec("ADD", cf, c, "net1")
	if cniCode(err) != 7 || !strings.Contains(err.Error(), "ipam.type") {
		t.Fatalf("want code 7 naming ipam.type, got %v", err)
	}
	p.a.del(cf, c, "net1")
	assertClean(t, p.a, "", c)
}

func TestLinkInContainer_ScopeDirectoryGoesWithTheLastDEL(t *testing.T) {
	p := newPair(t, 1500)
	pod := newContainer(t)
	p.wireIntoPod(t, pod)
	cf := qinq(3700, 10).with("linkInContainer", true)
	before := scopes(t)
	p.a.add(cf, pod, "net1")
	if len(scopes(t)) != len(before)+1 {
		t.Fatal("linkInContainer ADD made no container scope")
	}
	p.a.del(cf, pod, "net1")
	if after := scopes(t); len(after) != len(before) {
		t.Fatalf("container scope left after DEL: %v", after)
	}
}

func scopes(t *testing.T) []string {
	entries, _ := os.ReadDir(envOr("QINQ_STATE_DIR", "/run/qinq"))
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "ctr-") {
			out = append(out, e.Name())
		}
	}
	return out
}
