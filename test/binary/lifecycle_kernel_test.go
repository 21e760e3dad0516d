//go:build kerneltest

package binary

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
	"github.com/qinq-cni/qinq/pkg/fault"
)

// faultCase is an attachment whose ADD the fault tests break: its config
// (QinQinQ with host-local IPAM) and the fault points its ADD passes.
type faultCase struct {
	name   string
	conf   func(sVlan int, ipamDir string) testenv.Conf
	points []string
}

var faultCases = []faultCase{
	{"vlan", func(s int, dir string) testenv.Conf { return qinqinq(s).WithHostLocal(dir, subnetOf(s)) }, fault.Kernel},
	{"macvlan", func(s int, dir string) testenv.Conf {
		return qinqinq(s).With("containerLink", "macvlan").WithHostLocal(dir, subnetOf(s))
	}, fault.SharedEndpoint},
	{"bridge", func(s int, dir string) testenv.Conf {
		return qinqinq(s).With("containerLink", "bridge").WithHostLocal(dir, subnetOf(s))
	}, fault.BridgeEndpoint},
}

func qinqinq(sVlan int) testenv.Conf { return qinq(sVlan, 50, 10) }

func subnetOf(sVlan int) string { return fmt.Sprintf("10.%d.0.0/24", sVlan%250) }

// atEveryFaultPoint runs, for each fault case, ADDs through bin/qinq-faults
// with QINQ_FAULT armed at each step in turn (as arm(point) says), then
// hands the outcome to after.
func atEveryFaultPoint(t *testing.T, sVlan int, arm func(point string) string, after func(t *testing.T, f faulted)) {
	for i, fc := range faultCases {
		t.Run(fc.name, func(t *testing.T) {
			p := newPair(t, 1500)
			ipamDir := t.TempDir()
			cf := fc.conf(sVlan+i, ipamDir)
			for _, point := range fc.points {
				t.Run(point, func(t *testing.T) {
					c := testenv.NewContainer(t)
					_, err := p.a.Invoke("ADD", cf, c, "net1", testenv.Binary(faultsBin()), testenv.ExtraEnv("QINQ_FAULT="+arm(point)))
					after(t, faulted{p.a.For(t), cf, c, ipamDir, point, err})
				})
			}
		})
	}
}

// faulted is an ADD that met a fault: where, and what it returned.
type faulted struct {
	node    *testenv.Node
	conf    testenv.Conf
	ctr     *testenv.Container
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
		f.node.Del(f.conf, f.ctr, "net1")
		assertClean(t, f.node, f.ipamDir, f.ctr)
		f.node.Add(f.conf, f.ctr, "net1")
		f.node.Del(f.conf, f.ctr, "net1")
		assertClean(t, f.node, f.ipamDir, f.ctr)
	})
}

func TestCrash_SIGKILLAtEveryStepThenGCLeavesNothing(t *testing.T) {
	atEveryFaultPoint(t, 1400, func(p string) string { return "kill@" + p }, func(t *testing.T, f faulted) {
		gc(t, f.node, f.conf)
		assertClean(t, f.node, f.ipamDir, f.ctr)
	})
}

// The plugin is killed at random moments of real ADDs; DEL must always clean
// up, and the same container must attach again afterwards.
func TestCrash_RandomSIGKILLsDuringADDThenDELLeavesNothing(t *testing.T) {
	seed := envInt("QINQ_KILL_SEED", time.Now().UnixNano())
	t.Logf("kill delays seeded with %d (QINQ_KILL_SEED=%d repeats them)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	for i, link := range []string{"vlan", "macvlan", "bridge"} {
		t.Run(link, func(t *testing.T) {
			p := newPair(t, 1500)
			ipamDir := t.TempDir()
			cf := qinq(1500+i, 10).With("containerLink", link).WithHostLocal(ipamDir, "10.15.0.0/24")
			killAtRandom(t, p.a, cf, ipamDir, rng)
		})
	}
}

// killAtRandom kills ADDs of cf at random moments until 10 kills landed
// mid-way, with a DEL and a check that nothing is left after each.
func killAtRandom(t *testing.T, n *testenv.Node, cf testenv.Conf, ipamDir string, rng *rand.Rand) {
	c := testenv.NewContainer(t)
	// Calibrate on this machine: kill points are drawn over 1.5 times the
	// median of five full ADDs, so they cover the whole ADD and about a third
	// of the ADDs complete; it goes on until 10 kills have landed.
	var runs []time.Duration
	for range 5 {
		start := time.Now()
		n.Add(cf, c, "net1")
		runs = append(runs, time.Since(start))
		n.Del(cf, c, "net1")
	}
	slices.Sort(runs)
	full := runs[len(runs)/2]
	killed, tries := 0, 0
	for ; killed < 10 && tries < 60; tries++ {
		delay := time.Duration(rng.Int63n(int64(full) * 3 / 2))
		if killAddAfter(n, cf, c, delay) {
			killed++
		}
		n.Del(cf, c, "net1")
		assertClean(t, n, ipamDir, c)
	}
	n.Add(cf, c, "net1")
	n.Del(cf, c, "net1")
	t.Logf("median ADD %v; %d of %d ADDs were killed mid-way, %d completed", full, killed, tries, tries-killed)
	if killed < 10 {
		t.Fatalf("only %d of %d ADDs were killed mid-way: the kill points no longer fall inside an ADD", killed, tries)
	}
}

// killAddAfter starts bin/qinq ADD as a runtime would and SIGKILLs it after
// delay; it reports whether the kill landed before the ADD finished.
func killAddAfter(n *testenv.Node, cf testenv.Conf, c *testenv.Container, delay time.Duration) bool {
	cmd := n.RawCommand(env.Vars("ADD", c, "net1"), cf.Bytes())
	n.Start(cmd)
	time.Sleep(delay)
	cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return err != nil && ok && ws.Signaled()
}

func TestGC_DetachesWhatIsNotValidAndKeepsTheRest(t *testing.T) {
	p := newPair(t, 1500)
	ipamDir := t.TempDir()
	cf := func(c int) testenv.Conf { return qinq(1600, c).WithHostLocal(ipamDir, "10.16.0.0/24") }
	c1, c2 := testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(cf(10), c1, "net1")
	p.a.Add(cf(20), c2, "net1")

	gc(t, p.a, cf(10), c2)
	if _, ok := testenv.VLANs(t, c1.NS)["net1"]; ok {
		t.Fatal("GC kept the link of an attachment missing from valid-attachments")
	}
	if _, ok := testenv.VLANs(t, c2.NS)["net1"]; !ok {
		t.Fatal("GC removed a valid attachment's link")
	}
	if _, ok := chainVLANs(t, p.a)["wire0.1600"]; !ok {
		t.Fatal("GC removed the S-link a valid attachment uses")
	}
	gc(t, p.a, cf(10))
	assertClean(t, p.a, ipamDir, c1, c2)
}

// GC deletes an owned link only on evidence: marked by this store (or a
// release before store identities) alone, its users' directory present and
// empty. Unknown users (no directory), another store's mark, or a legacy mark
// a store joined without evidence keep it.
func TestGC_DeletesOwnedOrphansOnlyOnEvidenceAndNeverAnAdminsLink(t *testing.T) {
	p := newPair(t, 1500)
	made := testenv.NewContainer(t) // an ADD makes the store's identity
	p.a.Add(qinq(1699, 10), made, "net1")
	p.a.Del(qinq(1699, 10), made, "net1")
	data, err := os.ReadFile(filepath.Join(stateDir(), "store-id"))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(data))
	mark := func(store string, vid int) string {
		return fmt.Sprintf("qinq-cni: owned by store %s, deleted with its last user; key=wire0:88a8.%d", store, vid)
	}
	links := map[string]struct {
		vid      int
		alias    string
		usersDir bool
		wantKept bool
	}{
		"admin1700":   {1700, "", true, true},
		"orphan1701":  {1701, mark(id, 1701), true, false},
		"unknown1702": {1702, mark(id, 1702), false, true},
		"foreign1703": {1703, mark("00000000deadbeef", 1703), true, true},
		"joint1704":   {1704, strings.Replace(mark(id, 1704), id, id+",00000000deadbeef", 1), true, true},
		"legacy1705":  {1705, "qinq-cni: owned, deleted with its last user; key=wire0:88a8.1705", true, false},
		"legacy1706":  {1706, "qinq-cni: owned, deleted with its last user; key=wire0:88a8.1706", false, true},
		"joined1707":  {1707, "qinq-cni: owned by store -," + id + ", deleted with its last user; key=wire0:88a8.1707", true, true},
	}
	p.a.Do(func() error {
		for name, l := range links {
			if l.usersDir {
				os.MkdirAll(filepath.Join(scopeDir(t, p.a), "links", fmt.Sprintf("wire0:88a8.%d", l.vid)), 0o700)
			}
			v := testenv.VLAN{Parent: "wire0", Name: name, Proto: netlink.VLAN_PROTOCOL_8021AD, ID: l.vid, Down: true, Alias: l.alias}
			if err := testenv.AddVLAN(v); err != nil {
				return err
			}
		}
		return nil
	})
	gc(t, p.a, qinq(1700, 10))
	left := chainVLANs(t, p.a)
	for name, l := range links {
		if _, kept := left[name]; kept != l.wantKept {
			t.Errorf("%s (mark %q, users' directory %v): kept=%v, want %v", name, l.alias, l.usersDir, kept, l.wantKept)
		}
	}
	if _, err := os.Stat(filepath.Join(scopeDir(t, p.a), "links", "wire0:88a8.1701")); !os.IsNotExist(err) {
		t.Error("the users' directory of the deleted orphan stayed")
	}
}

func TestGC_LegacyAttachmentsKeyIsHonoured(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	p.a.Add(qinq(1800, 10), c, "net1")
	legacy := qinq(1800, 10).With("cniVersion", "1.1.0", "cni.dev/attachments", []map[string]string{{"containerID": c.ID, "ifname": "net1"}})
	if _, err := p.a.Invoke("GC", legacy, nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := testenv.VLANs(t, c.NS)["net1"]; !ok {
		t.Fatal("GC removed an attachment listed under cni.dev/attachments")
	}
}

func TestSTATUS_ReadyWithTheMasterAndCode50WithoutIt(t *testing.T) {
	p := newPair(t, 1500)
	st := qinq(1900, 10).With("cniVersion", "1.1.0")
	if err := p.a.Status(st); err != nil {
		t.Fatalf("STATUS with master present: %v", err)
	}
	err := p.a.Status(st.With("master", "nosuch0"))
	if testenv.CNICode(err) != 50 || !strings.Contains(err.Error(), `"nosuch0"`) {
		t.Fatalf("STATUS without master: want code 50 naming it, got %v", err)
	}
}

func TestOverride_PodPicksVLANsFromCNIArgsOnlyWithinTheAllowLists(t *testing.T) {
	p := newPair(t, 1500)
	allow := qinq(2000, 10).With("overrideSVlans", []string{"2000-2099"}, "overrideCVlans", []string{"10-19"})
	c := testenv.NewContainer(t)
	p.a.Add(allow, c, "net1", testenv.CNIArgs("K8S_POD_NAME=web;SVLAN=2050;CVLANS=15"))
	v, ok := testenv.VLANs(t, c.NS)["net1"]
	if !ok || v.VlanId != 15 || countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 2050) != 1 {
		t.Fatalf("per-pod S 2050/C 15 not applied: %v", chainVLANs(t, p.a))
	}
	hopper := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", allow, hopper, "net1", testenv.CNIArgs("SVLAN=2100"))
	if testenv.CNICode(err) != 7 || !strings.Contains(err.Error(), `outside overrideSVlans ["2000-2099"]`) {
		t.Fatalf("S-VLAN outside the allow-list: %v", err)
	}
	_, err = p.a.Invoke("ADD", qinq(2000, 10), hopper, "net1", testenv.CNIArgs("SVLAN=2050"))
	if testenv.CNICode(err) != 7 || !strings.Contains(err.Error(), "allows no per-pod sVlan") {
		t.Fatalf("override without allow-lists: %v", err)
	}
	if len(testenv.VLANs(t, hopper.NS)) != 0 || countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 2100) != 0 {
		t.Fatal("a refused override changed something")
	}
	p.a.Del(allow, c, "net1", testenv.CNIArgs("SVLAN=2050;CVLANS=15"))
	assertClean(t, p.a, "", c, hopper)
}

func TestHostNetns_IsRefusedBeforeAnythingChanges(t *testing.T) {
	p := newPair(t, 1500)
	self := &testenv.Container{ID: "self", NS: p.a.NS}
	_, err := p.a.Invoke("ADD", qinq(2100, 10), self, "net1")
	if testenv.CNICode(err) != 4 || !strings.Contains(err.Error(), "CNI_NETNS") {
		t.Fatalf("ADD into the plugin's own netns: want code 4 naming CNI_NETNS, got %v", err)
	}
	assertClean(t, p.a, "")
}

func TestLoad_50ParallelADDsOnOneSLinkThen50ParallelDELs(t *testing.T) {
	const n = 50
	p := newPair(t, 1500)
	ctrs := make([]*testenv.Container, n)
	for i := range ctrs {
		ctrs[i] = testenv.NewContainer(t)
	}
	start := time.Now()
	parallel(n, func(i int) {
		if _, err := p.a.Invoke("ADD", qinq(2200, 100+i), ctrs[i], "net1"); err != nil {
			t.Errorf("ADD %d: %v", i, err)
		}
	})
	t.Logf("%d parallel ADDs: %v", n, time.Since(start))
	if got := countChainVLANs(t, p.a, netlink.VLAN_PROTOCOL_8021AD, 2200); got != 1 {
		t.Fatalf("%d S-links after %d parallel ADDs, want 1", got, n)
	}
	for i, c := range ctrs {
		if v, ok := testenv.VLANs(t, c.NS)["net1"]; !ok || v.VlanId != 100+i {
			t.Fatalf("container %d lacks its C-link", i)
		}
	}
	start = time.Now()
	parallel(n, func(i int) {
		if _, err := p.a.Invoke("DEL", qinq(2200, 100+i), ctrs[i], "net1"); err != nil {
			t.Errorf("DEL %d: %v", i, err)
		}
	})
	t.Logf("%d parallel DELs: %v", n, time.Since(start))
	assertClean(t, p.a, "", ctrs...)
}

func TestLog_EveryVerbWritesOneJSONLineAndStdoutStaysTheResult(t *testing.T) {
	p := newPair(t, 1500)
	c := testenv.NewContainer(t)
	logDir := t.TempDir() // the node's log directory: logFile may name a file only there
	logFile := filepath.Join(logDir, "qinq.log")
	cf, dirs := qinq(2300, 10).With("logFile", logFile), testenv.ExtraEnv("QINQ_LOG_DIR="+logDir)
	p.a.Add(cf, c, "net1", dirs) // Add parses stdout as the result: a log line there would fail it
	_, err := p.a.Invoke("ADD", cf, testenv.NewContainer(t), "net1", dirs)
	if err == nil {
		t.Fatal("second ADD on the same C-VLAN must conflict")
	}
	p.a.Del(cf, c, "net1", dirs)
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
