//go:build kerneltest

package binary

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
	"github.com/qinq-cni/qinq/pkg/fault"
)

// atEveryOVSFaultPoint runs a standalone OVS ADD (veth, C-link, port,
// host-local IPAM) through bin/qinq-faults with QINQ_FAULT armed at each of
// its steps in turn (as arm(point) says), then hands the outcome to after.
func atEveryOVSFaultPoint(t *testing.T, sVlan int, arm func(point string) string, after func(t *testing.T, f ovsFaulted)) {
	o := env.StartOVS(t)
	br := o.NewBridge()
	ipamDir := t.TempDir()
	cf := ovsConf(br, sVlan, 10).WithHostLocal(ipamDir, "10.70.0.0/24")
	for _, point := range fault.OVS {
		t.Run(point, func(t *testing.T) {
			c := testenv.NewContainer(t)
			before := hostVeths(t, o)
			_, err := o.Host.Invoke("ADD", cf, c, "net1", testenv.Binary(faultsBin()), testenv.ExtraEnv("QINQ_FAULT="+arm(point)))
			after(t, ovsFaulted{ovs: o.For(t), br: br, conf: cf, ctr: c, ipamDir: ipamDir, point: point, err: err, veths: before})
		})
	}
}

// ovsFaulted is an OVS ADD that met a fault: where, and what it returned.
type ovsFaulted struct {
	ovs     *testenv.OVS
	br      string
	conf    testenv.Conf
	ctr     *testenv.Container
	ipamDir string
	point   string
	err     error
	veths   []string
}

// assertClean proves "nothing left": no port on the bridge, no new host
// veth, nothing but lo in the container, no record, no IPAM allocation.
func (f ovsFaulted) assertClean(t *testing.T) {
	t.Helper()
	if left := f.ovs.Ports(f.br); len(left) != 0 {
		t.Errorf("ports left on %s: %v", f.br, left)
	}
	if left := newVeths(t, f.ovs, f.veths); len(left) != 0 {
		t.Errorf("host veths left: %v", left)
	}
	testenv.AssertOnlyLoopback(t, f.ctr)
	records, _ := filepath.Glob(filepath.Join(scopeDir(t, f.ovs.Host), "attachments", "*"))
	if len(records) != 0 {
		t.Errorf("records left: %v", records)
	}
	if left := testenv.HostLocalAllocations(f.ipamDir, "qinq-ovs-test"); len(left) != 0 {
		t.Errorf("%d IPAM allocations left in %s", len(left), f.ipamDir)
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
		f.ovs.Host.Del(f.conf, f.ctr, "net1")
		f.assertClean(t)
		f.ovs.Host.Add(f.conf, f.ctr, "net1")
		f.ovs.Host.Del(f.conf, f.ctr, "net1")
		f.assertClean(t)
	})
}

func TestOVS_CrashSIGKILLAtEveryStepThenGCLeavesNothing(t *testing.T) {
	atEveryOVSFaultPoint(t, 730, func(p string) string { return "kill@" + p }, func(t *testing.T, f ovsFaulted) {
		gc(t, f.ovs.Host, f.conf)
		f.assertClean(t)
	})
}

// A config edited into an invalid value still DELs an OVS attachment: the
// record says which backend built it and where its port is.
func TestOVS_DELOfAConfigThatNoLongerValidatesRemovesThePort(t *testing.T) {
	o := env.StartOVS(t)
	br := o.NewBridge()
	ctr := testenv.NewContainer(t)
	before := hostVeths(t, o)
	cf := ovsConf(br, 740, 10)
	o.Host.Add(cf, ctr, "net1")
	o.Host.Del(cf.With("sVlan", 5000), ctr, "net1")
	ovsFaulted{ovs: o, br: br, ctr: ctr, ipamDir: t.TempDir(), veths: before}.assertClean(t)
}

// DEL while OVSDB is unreachable is not "already gone": code 11, so the
// runtime retries, and the record stays until a DEL can remove the port.
func TestOVS_DELWithOVSDBUnreachableIsCode11AndKeepsTheRecord(t *testing.T) {
	o := env.StartOVS(t)
	br := o.NewBridge()
	ctr := testenv.NewContainer(t)
	before := hostVeths(t, o)
	cf := ovsConf(br, 750)
	o.Host.Add(cf, ctr, "net1")
	sock := filepath.Join(testenv.OVSRun, "db.sock")
	if err := os.Rename(sock, sock+".away"); err != nil {
		t.Fatal(err)
	}
	_, err := o.Host.Invoke("DEL", cf, ctr, "net1")
	os.Rename(sock+".away", sock)
	if testenv.CNICode(err) != 11 {
		t.Fatalf("DEL with OVSDB unreachable: want code 11, got %v", err)
	}
	if len(o.Ports(br)) != 1 {
		t.Fatal("the port went although DEL failed")
	}
	// The record, not the config, says where the port is.
	o.Host.Del(cf.With("ovsdbSocket", "unix:/run/openvswitch/nosuch.sock"), ctr, "net1")
	ovsFaulted{ovs: o, br: br, ctr: ctr, ipamDir: t.TempDir(), veths: before}.assertClean(t)
}
