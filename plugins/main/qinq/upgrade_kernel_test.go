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
	vlanConf := qinq(810, 10).WithHostLocal(ipamDir, "10.81.0.0/24")
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
