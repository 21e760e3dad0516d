//go:build kerneltest

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/pkg/fault"
)

// atEveryOVSFaultPoint runs a standalone OVS ADD (veth, C-link, port,
// host-local IPAM) through bin/qinq-faults with QINQ_FAULT armed at each of
// its steps in turn (as arm(point) says), then hands the outcome to after.
func atEveryOVSFaultPoint(t *testing.T, sVlan int, arm func(point string) string, after func(t *testing.T, f ovsFaulted)) {
	host := needOVS(t)
	br := newBridge(t)
	ipamDir := t.TempDir()
	cf := ovsConf(br, sVlan, 10).withHostLocal(ipamDir, "10.70.0.0/24")
	for _, point := range fault.OVS {
		t.Run(point, func(t *testing.T) {
			c := newContainer(t)
			before := hostVeths(t)
			t.Setenv("QINQ_FAULT", arm(point))
			_, err := host.execWith(execOpts{bin: faultsBin}, "ADD", cf, c, "net1")
			os.Unsetenv("QINQ_FAULT")
			after(t, ovsFaulted{host: host, br: br, conf: cf, ctr: c, ipamDir: ipamDir, point: point, err: err, veths: before})
		})
	}
}

// ovsFaulted is an OVS ADD that met a fault: where, and what it returned.
type ovsFaulted struct {
	host    *node
	br      string
	conf    conf
	ctr     *container
	ipamDir string
	point   string
	err     error
	veths   []string
}

// assertOVSClean proves "nothing left": no port on the bridge, no new host
// veth, nothing but lo in the container, no record, no IPAM allocation.
func (f ovsFaulted) assertClean(t *testing.T) {
	t.Helper()
	if left := portsOf(t, f.br); len(left) != 0 {
		t.Errorf("ports left on %s: %v", f.br, left)
	}
	if left := newVeths(t, f.veths); len(left) != 0 {
		t.Errorf("host veths left: %v", left)
	}
	onlyLoopback(t, f.ctr)
	records, _ := filepath.Glob(filepath.Join(f.host.scopeDir(), "attachments", "*"))
	if len(records) != 0 {
		t.Errorf("records left: %v", records)
	}
	files, _ := os.ReadDir(filepath.Join(f.ipamDir, "qinq-ovs-test"))
	if n := countIPFiles(files); n != 0 {
		t.Errorf("%d IPAM allocations left in %s", n, f.ipamDir)
	}
}

func TestOVS_RollbackAFailureAtEveryStepOfADDLeavesNothingBehind(t *testing.T) {
	atEveryOVSFaultPoint(t, 710, func(p string) string { return p }, func(t *testing.T, f ovsFaulted) {
		if f.err == nil || !strings.Contains(f.err.Error(), "injected fault at "+f.point) {
			t.Fatalf("ADD with a fault at %s: %v", f.point, f.err)
		}
		f.assertClean(t)
	})
}

func TestOVS_CrashSIGKILLAtEveryStepThenDELLeavesNothingAndADDWorksAgain(t *testing.T) {
	atEveryOVSFaultPoint(t, 720, func(p string) string { return "kill@" + p }, func(t *testing.T, f ovsFaulted) {
		if f.err == nil {
			t.Fatal("the killed ADD reported success")
		}
		f.host.del(f.conf, f.ctr, "net1")
		f.assertClean(t)
		f.host.add(f.conf, f.ctr, "net1")
		f.host.del(f.conf, f.ctr, "net1")
		f.assertClean(t)
	})
}

func TestOVS_CrashSIGKILLAtEveryStepThenGCLeavesNothing(t *testing.T) {
	atEveryOVSFaultPoint(t, 730, func(p string) string { return "kill@" + p }, func(t *testing.T, f ovsFaulted) {
		f.host.gc(t, f.conf)
		f.assertClean(t)
	})
}

// A config edited into an invalid value still DELs an OVS attachment: the
// record says which backend built it and where its port is.
func TestOVS_DELOfAConfigThatNoLongerValidatesRemovesThePort(t *testing.T) {
	host := needOVS(t)
	br := newBridge(t)
	ctr := newContainer(t)
	before := hostVeths(t)
	cf := ovsConf(br, 740, 10)
	host.add(cf, ctr, "net1")
	host.del(cf.with("sVlan", 5000), ctr, "net1")
	f := ovsFaulted{host: host, br: br, ctr: ctr, ipamDir: t.TempDir(), veths: before}
	f.assertClean(t)
}

// DEL while OVSDB is unreachable is not "already gone": code 11, so the
// runtime retries, and the record stays until a DEL can remove the port.
func TestOVS_DELWithOVSDBUnreachableIsCode11AndKeepsTheRecord(t *testing.T) {
	host := needOVS(t)
	br := newBridge(t)
	ctr := newContainer(t)
	before := hostVeths(t)
	cf := ovsConf(br, 750)
	host.add(cf, ctr, "net1")
	if err := os.Rename(ovsRun+"/db.sock", ovsRun+"/db.sock.away"); err != nil {
		t.Fatal(err)
	}
	_, err := host.exec("DEL", cf, ctr, "net1")
	os.Rename(ovsRun+"/db.sock.away", ovsRun+"/db.sock")
	if cniCode(err) != 11 {
		t.Fatalf("DEL with OVSDB unreachable: want code 11, got %v", err)
	}
	if len(portsOf(t, br)) != 1 {
		t.Fatal("the port went although DEL failed")
	}
	// The record, not the config, says where the port is.
	host.del(cf.with("ovsdbSocket", "unix:/run/openvswitch/nosuch.sock"), ctr, "net1")
	ovsFaulted{host: host, br: br, ctr: ctr, ipamDir: t.TempDir(), veths: before}.assertClean(t)
}
