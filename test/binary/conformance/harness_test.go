//go:build kerneltest

package conformance

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// The binaries under test and the places the suite owns.
var (
	env     *testenv.Env // bin/qinq ($QINQ_BIN), the IPAM plugins and cnitool ($CNI_PATH), the state dir
	ipamDir string       // host-local dataDir of every config
)

// The seven spec versions qinq must speak.
var allVersions = []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// master is every node's master link.
const master = "eth1"

// ---- case accounting -----------------------------------------------------

type caseResult struct {
	name string
	ok   bool
}

var (
	resultsMu sync.Mutex
	results   []caseResult
)

// spec runs one conformance case as a subtest of an area test (TestDEL,
// TestCHECK, ...) and counts it. The case reads "DEL/after netns deleted".
func spec(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	ok := t.Run(name, f)
	resultsMu.Lock()
	results = append(results, caseResult{strings.TrimPrefix(t.Name(), "Test") + "/" + name, ok})
	resultsMu.Unlock()
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if env, err = testenv.New(); err == nil {
		err = env.Preflight("host-local", "static", "cnitool")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: cannot run: %v\n(run through scripts/test-kernel.sh, which boots the VM)\n", err)
		fmt.Println("0 passed, 1 failed")
		return 2
	}
	if env.StateDir, err = os.MkdirTemp("", "qinq-conformance-state."); err == nil {
		ipamDir, err = os.MkdirTemp("", "qinq-conformance-ipam.")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 2
	}
	defer os.RemoveAll(env.StateDir)
	defer os.RemoveAll(ipamDir)

	start := time.Now()
	code := m.Run()
	passed, failed := 0, 0
	for _, r := range results {
		if r.ok {
			passed++
		} else {
			failed++
			fmt.Printf("conformance: FAILED %s\n", r.name)
		}
	}
	fmt.Printf("conformance: %d cases in %s\n", len(results), time.Since(start).Round(time.Millisecond))
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if len(results) == 0 && code == 0 {
		return 1 // a suite that ran nothing has proven nothing
	}
	return code
}

// ---- worlds and configurations ---------------------------------------------

// newWorld is one case's world: a node (a network namespace holding the
// master eth1, a dummy with MTU 1500) and n containers, with the state
// directory and the host-local store.
func newWorld(t *testing.T, n int) (*testenv.World, []*testenv.Container) {
	t.Helper()
	w := testenv.NewWorld(t, env.NewNode(t, testenv.DummyMaster(master, 1500)), suiteDirs()...)
	return w, w.NewContainers(n)
}

// suiteDirs are the directories every world includes.
func suiteDirs() []testenv.Dir {
	return []testenv.Dir{testenv.StateDir(env.StateDir), testenv.HostLocalStore(ipamDir)}
}

// qinq is a kernel-mode config on master eth1: S-VLAN s (802.1ad) and the
// C-VLANs given, with the vlan container link these specs are about (named:
// the default is "bridge", whose proofs are plugins/main/qinq's bridge tests).
func qinq(ver string, s int, cVlans ...int) testenv.Conf {
	return testenv.QinQ(ver, "conf").OnMaster(master, s, cVlans...).With("containerLink", "vlan")
}

// attached asserts that, since before, the node gained a VLAN link, the
// state directory a reference and (when ipam) the IPAM store an allocation:
// the proof that a later "unchanged" is not vacuous.
func attached(t *testing.T, w *testenv.World, before testenv.Snapshot, ipam bool) testenv.Snapshot {
	t.Helper()
	now := w.Snapshot()
	var vlan, ref, alloc bool
	for _, line := range testenv.Diff(before, now) {
		switch {
		case strings.HasPrefix(line, "+ node link ") && strings.Contains(line, " vlan "):
			vlan = true
		case strings.HasPrefix(line, "+ state file "):
			ref = true
		case strings.HasPrefix(line, "+ ipam file "):
			alloc = true
		}
	}
	if !vlan && w.Node != nil {
		// Chain links this release makes are in qinq's namespace, which
		// the snapshot does not read.
		vlan = testenv.ChainVLANsIn(t, w.Node.NS, env.StateDir) > 0
	}
	if !vlan || !ref || (ipam && !alloc) {
		t.Fatalf("ADD did not attach (S-link %v, reference %v, IPAM allocation %v):\n  %s",
			vlan, ref, alloc, strings.Join(testenv.Diff(before, now), "\n  "))
	}
	return now
}

// ipamHolds reports whether host-local holds an address for container id.
func ipamHolds(s testenv.Snapshot, id string) bool { return s.HasWith("ipam file ", id) }

// refsOf reports whether the state directory holds a reference for id.
func refsOf(s testenv.Snapshot, id string) bool { return s.HasWith("state file ", id) }
