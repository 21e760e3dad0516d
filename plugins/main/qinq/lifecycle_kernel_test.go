//go:build kerneltest

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/fault"
)

// withHostLocal gives the attachment an address from host-local, whose
// allocations live in dir: a leak there is an IPAM leak.
func (c conf) withHostLocal(dir, subnet string) conf {
	return c.with("ipam", map[string]any{"type": "host-local", "dataDir": dir, "ranges": [][]map[string]string{{{"subnet": subnet}}}})
}

// assertClean proves "nothing left": no VLAN link on the node or in the
// containers, no reference of the node's scope, no IPAM allocation.
func assertClean(t *testing.T, n *node, ipamDir string, ctrs ...*container) {
	t.Helper()
	if left := vlans(t, n.ns); len(left) != 0 {
		t.Errorf("VLAN links left on the node: %v", names(left))
	}
	for _, c := range ctrs {
		if c.ns == nil {
			continue
		}
		if left := vlans(t, c.ns); len(left) != 0 {
			t.Errorf("VLAN links left in container %s: %v", c.id, names(left))
		}
	}
	scope := filepath.Join(n.scopeDir(), "links")
	if entries, _ := os.ReadDir(scope); len(entries) != 0 {
		t.Errorf("references left in %s: %v", scope, entries)
	}
	if ipamDir != "" {
		files, _ := os.ReadDir(filepath.Join(ipamDir, "qinq-test"))
		if n := countIPFiles(files); n != 0 {
			t.Errorf("%d IPAM allocations left in %s", n, ipamDir)
		}
	}
}

func names(m map[string]*netlink.Vlan) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

var faultsBin = func() string { root, _ := filepath.Abs("../../.."); return filepath.Join(root, "bin", "qinq-faults") }()

// atEveryFaultPoint runs an ADD of a QinQinQ attachment with host-local IPAM
// through bin/qinq-faults with QINQ_FAULT armed at each step in turn (as
// arm(point) says), then hands the outcome to after.
func atEveryFaultPoint(t *testing.T, sVlan int, arm func(point string) string, after func(t *testing.T, f faulted)) {
	p := newPair(t, 1500)
	ipamDir := t.TempDir()
	cf := qinq(sVlan, 50, 10).withHostLocal(ipamDir, fmt.Sprintf("10.%d.0.0/24", sVlan%250))
	for _, point := range fault.Kernel {
		t.Run(point, func(t *testing.T) {
			c := newContainer(t)
			t.Setenv("QINQ_FAULT", arm(point))
			_, err := p.a.execWith(execOpts{bin: faultsBin}, "ADD", cf, c, "net1")
			os.Unsetenv("QINQ_FAULT")
			after(t, faulted{p.a, cf, c, ipamDir, point, err})
		})
	}
}

// faulted is an ADD that met a fault: where, and what it returned.
type faulted struct {
	node    *node
	conf    conf
	ctr     *container
	ipamDir string
	point   string
	err     error
}

func TestRollback_AFailureAtEveryStepOfADDLeavesNothingBehind(t *testing.T) {
	atEveryFaultPoint(t, 1200, func(p string) string { return p }, func(t *testing.T, f faulted) {
		if f.err == nil || !strings.Contains(f.err.Error(), "injected fault at "+f.point) {
			t.Fatalf("ADD with a fault at %s: %v", f.point, f.err)
		}
		assertClean(t, f.node, f.ipamDir, f.ctr)
	})
}

func TestCrash_SIGKILLAtEveryStepThenDELLeavesNothingAndADDWorksAgain(t *testing.T) {
	atEveryFaultPoint(t, 1300, func(p string) string { return "kill@" + p }, func(t *testing.T, f faulted) {
		if f.err == nil {
			t.Fatal("the killed ADD reported success")
		}
		f.node.del(f.conf, f.ctr, "net1")
		assertClean(t, f.node, f.ipamDir, f.ctr)
		f.node.add(f.conf, f.ctr, "net1")
		f.node.del(f.conf, f.ctr, "net1")
		assertClean(t, f.node, f.ipamDir, f.ctr)
	})
}

func TestCrash_SIGKILLAtEveryStepThenGCLeavesNothing(t *testing.T) {
	atEveryFaultPoint(t, 1400, func(p string) string { return "kill@" + p }, func(t *testing.T, f faulted) {
		f.node.gc(t, f.conf)
		assertClean(t, f.node, f.ipamDir, f.ctr)
	})
}

// The plugin is killed at random moments of real ADDs; DEL must always clean
// up, and the same container must attach again afterwards.
func TestCrash_RandomSIGKILLsDuringADDThenDELLeavesNothing(t *testing.T) {
	p := newPair(t, 1500)
	ipamDir := t.TempDir()
	cf := qinq(1500, 10).withHostLocal(ipamDir, "10.15.0.0/24")
	seed := envInt("QINQ_KILL_SEED", time.Now().UnixNano())
	t.Logf("kill delays seeded with %d (QINQ_KILL_SEED=%d repeats them)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	c := newContainer(t)
	// Calibrate on this machine: kill points are drawn over 1.5 times the
	// median of five full ADDs, so they cover the whole ADD and about a third
	// of the ADDs complete; it goes on until 10 kills have landed.
	var runs []time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		p.a.add(cf, c, "net1")
		runs = append(runs, time.Since(start))
		p.a.del(cf, c, "net1")
	}
	slices.Sort(runs)
	full := runs[len(runs)/2]
	killed, tries := 0, 0
	for ; killed < 10 && tries < 60; tries++ {
		delay := time.Duration(rng.Int63n(int64(full) * 3 / 2))
		if killAddAfter(t, p.a, cf, c, delay) {
			killed++
		}
		p.a.del(cf, c, "net1")
		assertClean(t, p.a, ipamDir, c)
	}
	p.a.add(cf, c, "net1")
	p.a.del(cf, c, "net1")
	t.Logf("median ADD %v; %d of %d ADDs were killed mid-way, %d completed", full, killed, tries, tries-killed)
	if killed < 10 {
		t.Fatalf("only %d of %d ADDs were killed mid-way: the kill points no longer fall inside an ADD", killed, tries)
	}
}

// killAddAfter starts bin/qinq ADD as a runtime would and SIGKILLs it after
// delay; it reports whether the kill landed before the ADD finished.
func killAddAfter(t *testing.T, n *node, cf conf, c *container, delay time.Duration) bool {
	cmd := exec.Command(qinqBin)
	cmd.Stdin = bytes.NewReader(cf.bytes(t))
	cmd.Env = append(os.Environ(), "CNI_COMMAND=ADD", "CNI_CONTAINERID="+c.id, "CNI_NETNS="+c.ns.Path(),
		"CNI_IFNAME=net1", "CNI_PATH="+cniPath)
	n.do(cmd.Start)
	time.Sleep(delay)
	cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return err != nil && ok && ws.Signaled()
}

func (n *node) gc(t *testing.T, c conf, valid ...*container) {
	t.Helper()
	var list []map[string]string
	for _, v := range valid {
		list = append(list, map[string]string{"containerID": v.id, "ifname": "net1"})
	}
	gcConf := c.with("cniVersion", "1.1.0").with("cni.dev/valid-attachments", list)
	if _, err := n.exec("GC", gcConf, &container{}, ""); err != nil {
		t.Fatalf("GC: %v", err)
	}
}

func TestGC_DetachesWhatIsNotValidAndKeepsTheRest(t *testing.T) {
	p := newPair(t, 1500)
	ipamDir := t.TempDir()
	cf := func(c int) conf { return qinq(1600, c).withHostLocal(ipamDir, "10.16.0.0/24") }
	c1, c2 := newContainer(t), newContainer(t)
	p.a.add(cf(10), c1, "net1")
	p.a.add(cf(20), c2, "net1")

	p.a.gc(t, cf(10), c2)
	if _, ok := vlans(t, c1.ns)["net1"]; ok {
		t.Fatal("GC kept the link of an attachment missing from valid-attachments")
	}
	if _, ok := vlans(t, c2.ns)["net1"]; !ok {
		t.Fatal("GC removed a valid attachment's link")
	}
	if _, ok := vlans(t, p.a.ns)["wire0.1600"]; !ok {
		t.Fatal("GC removed the S-link a valid attachment uses")
	}
	p.a.gc(t, cf(10))
	assertClean(t, p.a, ipamDir, c1, c2)
}

func TestGC_DeletesOwnedOrphansButNeverAnAdminsLink(t *testing.T) {
	p := newPair(t, 1500)
	p.a.do(func() error {
		wire0, _ := netlink.LinkByName("wire0")
		for _, l := range []struct {
			name, alias string
			vid         int
		}{{"admin1700", "", 1700}, {"orphan1701", "qinq-cni: owned, deleted with its last user; key=wire0:88a8.1701", 1701}} {
			attrs := netlink.NewLinkAttrs()
			attrs.Name, attrs.ParentIndex = l.name, wire0.Attrs().Index
			v := &netlink.Vlan{LinkAttrs: attrs, VlanId: l.vid, VlanProtocol: netlink.VLAN_PROTOCOL_8021AD}
			if err := netlink.LinkAdd(v); err != nil {
				return err
			}
			if l.alias != "" {
				if err := netlink.LinkSetAlias(v, l.alias); err != nil {
					return err
				}
			}
		}
		return nil
	})
	p.a.gc(t, qinq(1700, 10))
	left := vlans(t, p.a.ns)
	if _, ok := left["orphan1701"]; ok {
		t.Error("GC kept an owned S-link nobody references")
	}
	if _, ok := left["admin1700"]; !ok {
		t.Error("GC deleted a link qinq did not create")
	}
}

func TestGC_LegacyAttachmentsKeyIsHonoured(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	p.a.add(qinq(1800, 10), c, "net1")
	legacy := qinq(1800, 10).with("cniVersion", "1.1.0").with("cni.dev/attachments", []map[string]string{{"containerID": c.id, "ifname": "net1"}})
	if _, err := p.a.exec("GC", legacy, &container{}, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := vlans(t, c.ns)["net1"]; !ok {
		t.Fatal("GC removed an attachment listed under cni.dev/attachments")
	}
}

func TestSTATUS_ReadyWithTheMasterAndCode50WithoutIt(t *testing.T) {
	p := newPair(t, 1500)
	st := qinq(1900, 10).with("cniVersion", "1.1.0")
	if _, err := p.a.exec("STATUS", st, &container{}, ""); err != nil {
		t.Fatalf("STATUS with master present: %v", err)
	}
	_, err := p.a.exec("STATUS", st.with("master", "nosuch0"), &container{}, "")
	if cniCode(err) != 50 || !strings.Contains(err.Error(), `"nosuch0"`) {
		t.Fatalf("STATUS without master: want code 50 naming it, got %v", err)
	}
}

func TestOverride_PodPicksVLANsFromCNIArgsOnlyWithinTheAllowLists(t *testing.T) {
	p := newPair(t, 1500)
	allow := qinq(2000, 10).with("overrideSVlans", []string{"2000-2099"}).with("overrideCVlans", []string{"10-19"})
	c := newContainer(t)
	p.a.execWith(execOpts{cniArgs: "K8S_POD_NAME=web;SVLAN=2050;CVLANS=15"}, "ADD", allow, c, "net1")
	v, ok := vlans(t, c.ns)["net1"]
	if !ok || v.VlanId != 15 || countVLANs(t, p.a.ns, tpidS, 2050) != 1 {
		t.Fatalf("per-pod S 2050/C 15 not applied: %v", vlans(t, p.a.ns))
	}
	hopper := newContainer(t)
	_, err := p.a.execWith(execOpts{cniArgs: "SVLAN=2100"}, "ADD", allow, hopper, "net1")
	if cniCode(err) != 7 || !strings.Contains(err.Error(), `outside overrideSVlans ["2000-2099"]`) {
		t.Fatalf("S-VLAN outside the allow-list: %v", err)
	}
	_, err = p.a.execWith(execOpts{cniArgs: "SVLAN=2050"}, "ADD", qinq(2000, 10), hopper, "net1")
	if cniCode(err) != 7 || !strings.Contains(err.Error(), "allows no per-pod sVlan") {
		t.Fatalf("override without allow-lists: %v", err)
	}
	if len(vlans(t, hopper.ns)) != 0 || countVLANs(t, p.a.ns, tpidS, 2100) != 0 {
		t.Fatal("a refused override changed something")
	}
	p.a.execWith(execOpts{cniArgs: "SVLAN=2050;CVLANS=15"}, "DEL", allow, c, "net1")
	assertClean(t, p.a, "", c, hopper)
}

func TestHostNetns_IsRefusedBeforeAnythingChanges(t *testing.T) {
	p := newPair(t, 1500)
	self := &container{id: "self", ns: p.a.ns}
	_, err := p.a.exec("ADD", qinq(2100, 10), self, "net1")
	if cniCode(err) != 4 || !strings.Contains(err.Error(), "CNI_NETNS") {
		t.Fatalf("ADD into the plugin's own netns: want code 4 naming CNI_NETNS, got %v", err)
	}
	assertClean(t, p.a, "")
}

func TestLoad_50ParallelADDsOnOneSLinkThen50ParallelDELs(t *testing.T) {
	const n = 50
	p := newPair(t, 1500)
	ctrs := make([]*container, n)
	for i := range ctrs {
		ctrs[i] = newContainer(t)
	}
	start := time.Now()
	parallel(n, func(i int) {
		if _, err := p.a.exec("ADD", qinq(2200, 100+i), ctrs[i], "net1"); err != nil {
			t.Errorf("ADD %d: %v", i, err)
		}
	})
	t.Logf("%d parallel ADDs: %v", n, time.Since(start))
	if got := countVLANs(t, p.a.ns, tpidS, 2200); got != 1 {
		t.Fatalf("%d S-links after %d parallel ADDs, want 1", got, n)
	}
	for i, c := range ctrs {
		if v, ok := vlans(t, c.ns)["net1"]; !ok || v.VlanId != 100+i {
			t.Fatalf("container %d lacks its C-link", i)
		}
	}
	start = time.Now()
	parallel(n, func(i int) {
		if _, err := p.a.exec("DEL", qinq(2200, 100+i), ctrs[i], "net1"); err != nil {
			t.Errorf("DEL %d: %v", i, err)
		}
	})
	t.Logf("%d parallel DELs: %v", n, time.Since(start))
	assertClean(t, p.a, "", ctrs...)
}

func TestLog_EveryVerbWritesOneJSONLineAndStdoutStaysTheResult(t *testing.T) {
	p := newPair(t, 1500)
	c := newContainer(t)
	logFile := filepath.Join(t.TempDir(), "qinq.log")
	cf := qinq(2300, 10).with("logFile", logFile)
	p.a.add(cf, c, "net1") // add parses stdout as the result: a log line there would fail it
	_, err := p.a.exec("ADD", cf, newContainer(t), "net1")
	if err == nil {
		t.Fatal("second ADD on the same C-VLAN must conflict")
	}
	p.a.del(cf, c, "net1")
	data, _ := os.ReadFile(logFile)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 log lines (ADD ok, ADD refused, DEL ok), got %d:\n%s", len(lines), data)
	}
	for i, want := range []struct{ verb, level string }{{"ADD", "INFO"}, {"ADD", "ERROR"}, {"DEL", "INFO"}} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %s", i, lines[i])
		}
		if rec["verb"] != want.verb || rec["level"] != want.level || rec["ifname"] != "net1" || rec["durationMs"] == nil || rec["containerID"] == "" {
			t.Errorf("line %d: %s", i, lines[i])
		}
	}
}

func envInt(k string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(k), 10, 64); err == nil {
		return v
	}
	return def
}
