//go:build kerneltest

package binary

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/internal/testenv"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// portOf is the host end of c's net1 in qinq's namespace of n.
func portOf(t *testing.T, n *testenv.Node, c *testenv.Container) netlink.Link {
	return ownLink(t, n, plan.BridgePortName("qinq-test", c.ID, "net1"))
}

// inOwn runs f in qinq's namespace of n.
func inOwn(t *testing.T, n *testenv.Node, f func() error) {
	t.Helper()
	testenv.InNS(t, ownNS(t, n), f)
}

func wantCheck101(t *testing.T, n *testenv.Node, cf testenv.Conf, c *testenv.Container, r *current.Result, says string) {
	t.Helper()
	testenv.WantCNIError(t, n.Check(cf, c, "net1", r), 101, says)
}

func TestBridge_CHECKReportsATamperedPortBridgeAndNamespace(t *testing.T) {
	p := newPair(t, 1500)
	cf := bridged(111, 10).WithStaticIP("10.41.0.1/24")
	c := testenv.NewContainer(t)
	r := p.a.Add(cf, c, "net1")
	if err := p.a.Check(cf, c, "net1", r); err != nil {
		t.Fatalf("CHECK of an untouched pod: %v", err)
	}
	port := portOf(t, p.a, c)
	mac := testenv.Link(t, c.NS, "net1").Attrs().HardwareAddr
	fdb := &netlink.Neigh{LinkIndex: port.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_NOARP,
		Flags: netlink.NTF_MASTER | netlink.NTF_STICKY, HardwareAddr: mac}
	uplink := ownLink(t, p.a, "wire0.111.10")
	br := ownLink(t, p.a, plan.BridgeName("wire0:88a8.111:8100.10"))
	unguard := antiSpoofTamper(t, p.a, port)
	for _, tc := range []tampering{
		unguard,
		{"learning on the port", func() error { return netlink.LinkSetLearning(port, true) },
			func() error { return netlink.LinkSetLearning(port, false) }, "learning"},
		{"unknown unicast flooded to the port", func() error { return netlink.LinkSetFlood(port, true) },
			func() error { return netlink.LinkSetFlood(port, false) }, "unicast flood"},
		{"the pod's FDB entry gone", func() error { return netlink.NeighDel(fdb) },
			func() error { return netlink.NeighSet(fdb) }, "FDB entry"},
		{"br_netfilter back on in qinq's namespace", func() error { return sysctlW("net/bridge/bridge-nf-call-iptables", "1") },
			func() error { return sysctlW("net/bridge/bridge-nf-call-iptables", "0") }, "bridge-nf-call-iptables"},
		{"the uplink out of the bridge", func() error { return netlink.LinkSetNoMaster(uplink) },
			func() error { return netlink.LinkSetMaster(uplink, br) }, "is not a port"},
		{"VLAN filtering off", func() error { return setFiltering(br, false) },
			func() error { return setFiltering(br, true) }, "vlan_filtering"},
		{"the bridge's MTU changed", func() error { return netlink.LinkSetMTU(br, 1400) },
			func() error { return netlink.LinkSetMTU(br, 1496) }, "MTU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inOwn(t, p.a, tc.tamper)
			wantCheck101(t, p.a, cf, c, r, tc.says)
			inOwn(t, p.a, tc.restore)
			if err := p.a.Check(cf, c, "net1", r); err != nil {
				t.Fatalf("CHECK after restoring: %v", err)
			}
		})
	}
	p.a.Del(cf, c, "net1")
	assertClean(t, p.a, "", c)
}

// tampering is a change CHECK must report (code 101, saying says) and its
// undoing.
type tampering struct {
	name            string
	tamper, restore func() error
	says            string
}

// antiSpoofTamper takes away what keeps port to its pod's MAC on this
// kernel: the lock where the kernel has locked ports, else the filter that
// drops every other source MAC.
func antiSpoofTamper(t *testing.T, n *testenv.Node, port netlink.Link) tampering {
	var filters []netlink.Filter
	inOwn(t, n, func() (err error) {
		filters, err = netlink.FilterList(port, netlink.HANDLE_MIN_INGRESS)
		return err
	})
	dev := port.Attrs().Name
	if len(filters) == 0 {
		return tampering{"the port unlocked", func() error {
			return runCmd("/usr/sbin/ip", "link", "set", "dev", dev, "type", "bridge_slave", "locked", "off")
		},
			func() error {
				return runCmd("/usr/sbin/ip", "link", "set", "dev", dev, "type", "bridge_slave", "locked", "on")
			}, "source-MAC filter"}
	}
	t.Logf("%s is kept to its MAC by %d tc filters (no locked ports on this kernel)", dev, len(filters))
	return struct {
		name            string
		tamper, restore func() error
		says            string
	}{"the port's drop filter gone", func() error { return runCmd("/usr/sbin/tc", "filter", "del", "dev", dev, "ingress", "pref", "2") },
		func() error {
			return runCmd("/usr/sbin/tc", "filter", "add", "dev", dev, "ingress", "pref", "2", "protocol", "all", "matchall", "action", "drop")
		}, "source-MAC filter"}
}

// runCmd runs a command in the calling thread's network namespace.
func runCmd(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %v: %v: %s", name, args, err, out)
	}
	return nil
}

func setFiltering(br netlink.Link, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	// sysfs shows the VM's namespace, not this thread's: ip(8) it is.
	out, err := exec.Command("/usr/sbin/ip", "link", "set", "dev", br.Attrs().Name, "type", "bridge", "vlan_filtering", v).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func sysctlW(path, v string) error { return os.WriteFile("/proc/sys/"+path, []byte(v), 0o644) }

// A bridge and a macvlan/ipvlan endpoint cannot share one link (a device has
// one rx handler), qinq puts no bridge on a link it did not make, and a
// (S, C) a container holds as its vlan link is taken: code 100, and nothing
// changes.
func TestBridge_ConflictsWithMacvlanAnAdminsLinkAndAVLANPodAreCode100(t *testing.T) {
	p := newPair(t, 1500)
	world := testenv.NewWorld(t, p.a, testenv.StateDir(scopeDir(t, p.a)))
	holder := func(c testenv.Conf) *testenv.Container {
		ctr := testenv.NewContainer(t)
		p.a.Add(c, ctr, "net1")
		world.Containers = append(world.Containers, ctr)
		return ctr
	}
	holder(shared("macvlan", 112, 10))
	holder(bridged(113, 10))
	holder(qinq(115, 10))
	p.a.Do(func() error {
		if err := testenv.AddVLAN(testenv.VLAN{Name: "wire0.114", Parent: "wire0", Proto: netlink.VLAN_PROTOCOL_8021AD, ID: 114}); err != nil {
			return err
		}
		return testenv.AddVLAN(testenv.VLAN{Name: "wire0.114.10", Parent: "wire0.114", ID: 10})
	})
	ownBefore := ownNSLinks(t, p.a)
	for _, tc := range []struct {
		name string
		conf testenv.Conf
		says string
	}{
		{"a bridge on a macvlan pods' C-link", bridged(112, 10), "a bridge and a macvlan/ipvlan cannot share one link"},
		{"a macvlan on a bridge's C-link", shared("macvlan", 113, 10), "already used by attachment"},
		{"an ipvlan on a bridge's C-link", shared("ipvlan", 113, 10), "already used by attachment"},
		{"a bridge on an admin's C-link", bridged(114, 10), "qinq puts no bridge on a link it did not make"},
		{"a bridge on a vlan pod's C-link", bridged(115, 10), "already used by attachment"},
		{"a vlan pod on a bridge's C-link", qinq(113, 10), "already used by attachment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := world.Snapshot()
			c := testenv.NewContainer(t)
			_, err := p.a.Invoke("ADD", tc.conf, c, "net1")
			testenv.WantCNIError(t, err, 100, tc.says)
			world.For(t).Unchanged(before)
			if got := ownNSLinks(t, p.a); !sameSet(got, ownBefore) {
				t.Errorf("qinq's namespace changed: %v, was %v", got, ownBefore)
			}
			if left := containerLinks(t, c); len(left) != 0 {
				t.Errorf("links left in the refused container: %v", left)
			}
		})
	}
}

// A bridge holds at most 1023 ports: the pod after that gets code 11 (its
// (S, C) on this node is full until a pod leaves: trying again later is
// right) and nothing is left of it.
func TestBridge_AFullBridgeRefusesTheNextPodWithCode11AndLeavesNothing(t *testing.T) {
	p := newPair(t, 1500)
	cf := bridged(116, 10)
	first := testenv.NewContainer(t)
	r := p.a.Add(cf.WithStaticIP("10.46.0.1/24"), first, "net1")
	br := ownLink(t, p.a, plan.BridgeName("wire0:88a8.116:8100.10"))
	inOwn(t, p.a, func() error {
		for i := range 1023 - 2 { // the uplink and the first pod hold two
			d := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("fill%d", i), MasterIndex: br.Attrs().Index}}
			if err := netlink.LinkAdd(d); err != nil {
				return fmt.Errorf("port %d: %w", i+3, err)
			}
		}
		return nil
	})
	state := testenv.NewWorld(t, p.a, testenv.StateDir(scopeDir(t, p.a)))
	before := state.Snapshot()
	ports := len(testenv.LinkNames(t, ownNS(t, p.a), "qbp"))
	next := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", cf.WithStaticIP("10.46.0.2/24"), next, "net1")
	testenv.WantCNIError(t, err, 11, "1023 ports")
	state.Unchanged(before)
	if left := containerLinks(t, next); len(left) != 0 {
		t.Errorf("links left in the refused container: %v", left)
	}
	if now := len(testenv.LinkNames(t, ownNS(t, p.a), "qbp")); now != ports {
		t.Errorf("bridge ports of qinq's: %d, were %d", now, ports)
	}
	if err := p.a.Check(cf.WithStaticIP("10.46.0.1/24"), first, "net1", r); err != nil {
		t.Errorf("the first pod after the refusal: %v", err)
	}
}

// Upgrades: a pod made when the default container link was vlan (its
// record says vlan) passes CHECK and is deleted cleanly with the same config,
// which now means bridge. The control shows CHECK does tell the kinds apart.
func TestBridge_APodRecordedAsVLANPassesCHECKAndDELUnderTheNewDefault(t *testing.T) {
	p := newPair(t, 1500)
	unnamed := testenv.QinQ("1.0.0", "qinq-test").OnMaster("wire0", 117, 10).WithStaticIP("10.47.0.1/24")
	c := testenv.NewContainer(t)
	r := p.a.Add(unnamed.With("containerLink", "vlan"), c, "net1")
	if l := testenv.Link(t, c.NS, "net1"); l.Type() != "vlan" {
		t.Fatalf("the old pod's net1 is a %s", l.Type())
	}
	if err := p.a.Check(unnamed, c, "net1", r); err != nil {
		t.Fatalf("CHECK of the vlan pod with the config that names no containerLink: %v", err)
	}
	testenv.WantCNIError(t, p.a.Check(unnamed.With("containerLink", "bridge"), c, "net1", r), 101, "configured as bridge")
	p.a.Del(unnamed, c, "net1")
	assertClean(t, p.a, "", c)
	rec := filepath.Join(scopeDir(t, p.a), "attachments", c.ID+":net1")
	if _, err := os.Stat(rec); err == nil {
		t.Errorf("record %s left", rec)
	}
	// A new pod with that config is a bridge pod.
	c2 := testenv.NewContainer(t)
	p.a.Add(unnamed, c2, "net1")
	if l := testenv.Link(t, c2.NS, "net1"); l.Type() != "veth" {
		t.Fatalf("a new pod under the default got a %s", l.Type())
	}
	p.a.Del(unnamed, c2, "net1")
	assertClean(t, p.a, "", c2)
}

var _ = net.ParseMAC

// Parallel ADDs of pods of two (S, C)s on a fresh node: the first of them
// makes qinq's netns (under its lock), one bridge per (S, C) is shared by its
// pods, every pod gets its port; parallel DELs leave nothing.
func TestBridge_30ParallelADDsOnTwoCVLANsThen30ParallelDELs(t *testing.T) {
	const n = 30
	p := newPair(t, 1500)
	ctrs := make([]*testenv.Container, n)
	for i := range ctrs {
		ctrs[i] = testenv.NewContainer(t)
	}
	conf := func(i int) testenv.Conf { return bridged(2210, 10+i%2) }
	parallel(n, func(i int) {
		if _, err := p.a.Invoke("ADD", conf(i), ctrs[i], "net1"); err != nil {
			t.Errorf("ADD %d: %v", i, err)
		}
	})
	if got := countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 2210); got != 1 {
		t.Fatalf("%d S-links after %d parallel ADDs, want 1", got, n)
	}
	if got := testenv.LinkNames(t, ownNS(t, p.a), "qbr"); len(got) != 2 {
		t.Fatalf("bridges %v, want one per C-VLAN", got)
	}
	if got := testenv.LinkNames(t, ownNS(t, p.a), "qbp"); len(got) != n {
		t.Fatalf("%d bridge ports, want %d", len(got), n)
	}
	for i, c := range ctrs {
		if l := testenv.Link(t, c.NS, "net1"); l.Type() != "veth" {
			t.Fatalf("container %d: net1 is a %s", i, l.Type())
		}
	}
	parallel(n, func(i int) {
		if _, err := p.a.Invoke("DEL", conf(i), ctrs[i], "net1"); err != nil {
			t.Errorf("DEL %d: %v", i, err)
		}
	})
	assertClean(t, p.a, "", ctrs...)
}

// The log of ADD and of STATUS names what keeps the bridge ports to their
// pods' MACs on this kernel: the lock, or the filter where the kernel has no
// locked ports (what is on the port says which).
func TestBridge_ADDAndSTATUSLogTheAntiSpoofMechanismInForce(t *testing.T) {
	p := newPair(t, 1500)
	logDir := t.TempDir()
	logFile := filepath.Join(logDir, "qinq.log")
	cf, dirs := bridged(112, 10).With("cniVersion", "1.1.0", "logFile", logFile), testenv.ExtraEnv("QINQ_LOG_DIR="+logDir)
	c := testenv.NewContainer(t)
	p.a.Add(cf, c, "net1", dirs)
	if _, err := p.a.Invoke("STATUS", cf, nil, "", dirs); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	var filters []netlink.Filter
	port := portOf(t, p.a, c)
	inOwn(t, p.a, func() (err error) {
		filters, err = netlink.FilterList(port, netlink.HANDLE_MIN_INGRESS)
		return err
	})
	want := "locked bridge port"
	if len(filters) > 0 {
		want = "tc source-MAC filter"
	}
	data, _ := os.ReadFile(logFile)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("want the lines of ADD and STATUS, got %d:\n%s", len(lines), data)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["antiSpoof"] != want {
			t.Errorf("log line %s: want antiSpoof %q (%v)", l, want, err)
		}
	}
	p.a.Del(cf, c, "net1", dirs)
}
