//go:build kerneltest

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// prevRelease is the plugin as the last release built it (make build:
// bin/qinq-<PREV_RELEASE>); its records are format 1.
func prevRelease(t *testing.T) testenv.InvokeOption {
	matches, _ := filepath.Glob(filepath.Join(env.Root, "bin", "qinq-86e0223"))
	if len(matches) != 1 {
		t.Fatalf("the previous release's binary bin/qinq-86e0223 is missing: run make build")
	}
	return testenv.Binary(matches[0])
}

// Pods the previous release made, with its default container link and with
// a shared one, keep working across the upgrade: the new binary CHECKs them
// by their records (which say vlan, whatever the default now is), a new pod
// joins their S-link, and DEL removes everything, in either order.
func TestUpgrade_PodsOfThePreviousReleasePassCHECKAndAreDeletedByThisOne(t *testing.T) {
	p := newPair(t, 1500)
	old := prevRelease(t)
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

// GC collects a pod the previous release made (format 1 record) that the
// runtime no longer lists, and keeps the one it lists.
func TestUpgrade_GCCollectsAPodOfThePreviousRelease(t *testing.T) {
	p := newPair(t, 1500)
	old := prevRelease(t)
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
