//go:build kerneltest

package binary

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// prevRelease is the plugin as the last release before chain links moved
// to qinq's namespace built it (make build: bin/qinq-<PREV_RELEASE>); its
// chains are in the node's namespace.
func prevRelease(t *testing.T) testenv.InvokeOption { return release(t, "fe54dd9") }

// format1Release is the last release writing format 1 records
// (FORMAT1_RELEASE).
func format1Release(t *testing.T) testenv.InvokeOption { return release(t, "86e0223") }

func release(t *testing.T, rev string) testenv.InvokeOption {
	path := filepath.Join(env.Root, "bin", "qinq-"+rev)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the release's binary bin/qinq-%s is missing: run make build", rev)
	}
	return testenv.Binary(path)
}

// Pods the format 1 release made, with its default container link and with
// a shared one, keep working across the upgrade: the new binary CHECKs them
// by their records (which say vlan, whatever the default now is), a new pod
// joins their S-link, and DEL removes everything, in either order.
func TestUpgrade_PodsOfThePreviousReleasePassCHECKAndAreDeletedByThisOne(t *testing.T) {
	p := newPair(t, 1500)
	old := format1Release(t)
	ipamDir := t.TempDir()
	// No containerLink: the previous release's default (vlan), which is
	// bridge now; the pod keeps what it was built with.
	vlanConf := qinq(810, 10).Without("containerLink").WithHostLocal(ipamDir, "10.81.0.0/24")
	macvlanConf := qinq(810, 20).With("containerLink", "macvlan").WithHostLocal(ipamDir, "10.81.1.0/24")
	c1, c2, c3 := testenv.NewContainer(t), testenv.NewContainer(t), testenv.NewContainer(t)
	r1 := p.a.Add(vlanConf, c1, "net1", old)
	r2 := p.a.Add(macvlanConf, c2, "net1", old)
	if records, _ := filepath.Glob(filepath.Join(scopeDir(t, p.a), "attachments", "*:net1")); len(records) != 2 {
		t.Fatalf("the previous release wrote %d format 1 records, want 2: %v", len(records), records)
	}

	peer := testenv.NewContainer(t)
	p.b.Add(qinq(810, 10).WithStaticIP("10.81.0.200/24"), peer, "net1")
	if err := p.a.Check(vlanConf, c1, "net1", r1); err != nil {
		t.Fatalf("CHECK by this release of a vlan pod the previous one made: %v", err)
	}
	if err := p.a.Check(macvlanConf, c2, "net1", r2); err != nil {
		t.Fatalf("CHECK by this release of a macvlan pod the previous one made: %v", err)
	}
	if err := testenv.Echo(t, c1, peer, "10.81.0.200", 1496); err != nil {
		t.Fatalf("the old pod after the upgrade: %v", err)
	}
	newConf := qinq(810, 30).With("containerLink", "macvlan").WithHostLocal(ipamDir, "10.81.2.0/24")
	p.a.Add(newConf, c3, "net1")
	p.a.Del(vlanConf, c1, "net1")
	if err := p.a.Check(macvlanConf, c2, "net1", r2); err != nil {
		t.Fatalf("CHECK of the old macvlan pod after the old vlan pod's DEL: %v", err)
	}
	p.a.Del(macvlanConf, c2, "net1")
	p.a.Del(newConf, c3, "net1")
	assertClean(t, p.a, ipamDir, c1, c2, c3)
	if left, _ := os.ReadDir(filepath.Join(scopeDir(t, p.a), "attachments")); len(left) != 0 {
		t.Fatalf("records left after the upgrade's DELs: %v", left)
	}
}

// GC collects a pod the format 1 release made (format 1 record) that the
// runtime no longer lists, and keeps the one it lists.
func TestUpgrade_GCCollectsAPodOfThePreviousRelease(t *testing.T) {
	p := newPair(t, 1500)
	old := format1Release(t)
	ipamDir := t.TempDir()
	conf := qinq(820, 10).With("containerLink", "macvlan").WithHostLocal(ipamDir, "10.82.0.0/24")
	kept, stale := testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(conf, kept, "net1", old)
	p.a.Add(conf, stale, "net1", old)
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(820, 10).WithStaticIP("10.82.0.200/24"), peer, "net1")
	if err := p.a.GC(conf.With("cniVersion", "1.1.0"), "net1", kept); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if links := containerLinks(t, stale); len(links) != 0 {
		t.Fatalf("GC left the stale old pod's link: %v", links)
	}
	if err := testenv.Echo(t, kept, peer, "10.82.0.200", 1496); err != nil {
		t.Fatalf("the pod GC kept: %v", err)
	}
	p.a.Del(conf, kept, "net1")
	assertClean(t, p.a, ipamDir, kept, stale)
}

// A record a DEL cannot read (damaged on disk) is "unknown", not "unused":
// DEL still succeeds and removes its pod's link, by the config's plan, and
// the S-link and C-link another pod uses stay, with its traffic.
func TestDEL_AnUnreadableRecordDeletesItsPodAndBreaksNoOther(t *testing.T) {
	p := newPair(t, 1500)
	ipamDir := t.TempDir()
	conf := qinq(830, 10).With("containerLink", "macvlan").WithHostLocal(ipamDir, "10.83.0.0/24")
	damaged, other, peer := testenv.NewContainer(t), testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(conf, damaged, "net1")
	p.a.Add(conf, other, "net1")
	p.b.Add(qinq(830, 10).WithStaticIP("10.83.0.200/24"), peer, "net1")
	records, _ := filepath.Glob(filepath.Join(scopeDir(t, p.a), "attachments", "*", damaged.ID+":net1"))
	if len(records) != 1 {
		t.Fatalf("records of the pod: %v", records)
	}
	if err := os.WriteFile(records[0], []byte(`{"version":2,"endpoint":`), 0o600); err != nil {
		t.Fatal(err)
	}
	p.a.Del(conf, damaged, "net1")
	if links := containerLinks(t, damaged); len(links) != 0 {
		t.Fatalf("DEL with an unreadable record left the pod's link: %v", links)
	}
	if err := testenv.Echo(t, other, peer, "10.83.0.200", 1496); err != nil {
		t.Fatalf("the other pod on the S-link after that DEL: %v", err)
	}
	p.a.Del(conf, other, "net1")
	assertClean(t, p.a, ipamDir, damaged, other)
}

// Bridge pods of the previous release (its S-link in the node's namespace,
// its uplink learning): a new pod joins the bridge, and the ADD turns
// learning off on the uplink; both pods pass CHECK, reach the far node, and
// are deleted cleanly.
func TestUpgrade_BridgePodsOfThePreviousReleaseGetTheNewSettingsAndPassCHECK(t *testing.T) {
	p := newPair(t, 1500)
	oldConf, newConf := bridged(850, 10).WithStaticIP("10.85.0.1/24"), bridged(850, 10).WithStaticIP("10.85.0.2/24")
	oldPod, newPod, peer := testenv.NewContainer(t), testenv.NewContainer(t), testenv.NewContainer(t)
	r1 := p.a.Add(oldConf, oldPod, "net1", prevRelease(t))
	p.b.Add(qinq(850, 10).WithStaticIP("10.85.0.9/24"), peer, "net1")
	if testenv.CountVLANs(t, p.a.NS, netlink.VLAN_PROTOCOL_8021AD, 850) != 1 {
		t.Fatalf("the previous release's S-link is not in the node's namespace: %v", testenv.VLANs(t, p.a.NS))
	}
	br, _ := bridgeOf(t, p.a, oldPod)
	up := uplinkOf(t, p.a, br)
	if !learning(t, p.a, up) {
		t.Fatal("control: the previous release's uplink does not learn, so the test shows nothing")
	}
	r2 := p.a.Add(newConf, newPod, "net1")
	if learning(t, p.a, up) {
		t.Error("the new ADD on the old bridge left learning on on its uplink")
	}
	if err := p.a.Check(oldConf, oldPod, "net1", r1); err != nil {
		t.Errorf("CHECK of the previous release's pod: %v", err)
	}
	if err := p.a.Check(newConf, newPod, "net1", r2); err != nil {
		t.Errorf("CHECK of the new pod: %v", err)
	}
	for _, c := range []*testenv.Container{oldPod, newPod} {
		if err := testenv.Echo(t, c, peer, "10.85.0.9", 1400); err != nil {
			t.Errorf("%s to the far node: %v", c.ID, err)
		}
	}
	p.a.Del(oldConf, oldPod, "net1")
	p.a.Del(newConf, newPod, "net1")
	assertClean(t, p.a, "", oldPod, newPod)
}
