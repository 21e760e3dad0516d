//go:build kerneltest

package binary

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// The pair a 24-second search found colliding under FNV-32 (issue 22).
const (
	collidingKeyA = "eth1:88a8.103:8100.70:8100.3199:8100.826"
	collidingKeyB = "eth1:88a8.200:8100.10"
)

// The colliding pair works side by side on one node: two bridges, each pod
// reaching its far end. Control: the previous release's names of the two
// bridges are one name, so the test runs the pair that collided.
func TestNames_TheFNV32CollidingPairWorksSideBySide(t *testing.T) {
	oldA, oldB := plan.BridgeNames("", collidingKeyA), plan.BridgeNames("", collidingKeyB)
	if oldA[len(oldA)-1] != oldB[len(oldB)-1] {
		t.Fatalf("control: the previous release's bridge names %v and %v differ: not the colliding pair", oldA, oldB)
	}
	p := pair{newNode(t), newNode(t)}
	testenv.Wire(t, p.a, p.b, "eth1", 1500)
	onEth1 := func(c testenv.Conf) testenv.Conf { return c.With("master", "eth1") }
	confA, confB := onEth1(bridged(103, 70, 3199, 826)), onEth1(bridged(200, 10))
	podA := podsOn(t, p.a, confA, "10.103.0", 1)[0]
	podB := podsOn(t, p.a, confB, "10.200.0", 1)[0]
	farA, farB := testenv.NewContainer(t), testenv.NewContainer(t)
	p.b.Add(onEth1(qinq(103, 70, 3199, 826)).WithStaticIP("10.103.0.9/24"), farA, "net1")
	p.b.Add(onEth1(qinq(200, 10)).WithStaticIP("10.200.0.9/24"), farB, "net1")
	bridges := testenv.LinkNames(t, ownNS(t, p.a), "qbr")
	slices.Sort(bridges)
	want := []string{plan.BridgeName(collidingKeyA), plan.BridgeName(collidingKeyB)}
	slices.Sort(want)
	if !slices.Equal(bridges, want) {
		t.Fatalf("bridges %v, want %v", bridges, want)
	}
	if err := testenv.Echo(t, podA, farA, "10.103.0.9", 1488); err != nil {
		t.Fatalf("the pod on %s: %v", collidingKeyA, err)
	}
	if err := testenv.Echo(t, podB, farB, "10.200.0.9", 1496); err != nil {
		t.Fatalf("the pod on %s: %v", collidingKeyB, err)
	}
	p.a.Del(confA.WithStaticIP("10.103.0.1/24"), podA, "net1")
	if err := testenv.Echo(t, podB, farB, "10.200.0.9", 1496); err != nil {
		t.Fatalf("the pod on %s after the other's DEL: %v", collidingKeyB, err)
	}
	p.a.Del(confB.WithStaticIP("10.200.0.1/24"), podB, "net1")
	assertClean(t, p.a, "", podA, podB)
}

// digestRelease is the plugin as the last release before 64-bit digest
// names built it (make build: bin/qinq-$(PREV_RELEASE)): its links and
// bridges carry FNV-32 names.
func digestRelease(t *testing.T) testenv.InvokeOption {
	bin := filepath.Join(env.Root, "bin", "qinq-fe54dd9")
	if matches, _ := filepath.Glob(bin); len(matches) != 1 {
		t.Fatalf("the previous release's binary %s is missing: run make build", bin)
	}
	return testenv.Binary(bin)
}

// A bridge pod the previous release made, on a master whose chain names are
// hashed (FNV-32 then): this release's ADD of a second pod joins its S-link,
// C-link and bridge under their old names, both pods pass CHECK and reach
// each other and the far end, and the DELs leave nothing.
func TestNames_LinksOfThePreviousReleaseAreFoundUnderTheirOldNames(t *testing.T) {
	const master = "longmasterwire0" // 15 characters: every chain name is hashed
	p := pair{newNode(t), newNode(t)}
	testenv.Wire(t, p.a, p.b, master, 1500)
	cf := bridged(170, 10).With("master", master)
	old, young := testenv.NewContainer(t), testenv.NewContainer(t)
	rOld := p.a.Add(cf.WithStaticIP("10.170.0.1/24"), old, "net1", digestRelease(t))
	oldLinks := append(testenv.LinkNames(t, p.a.NS, "qinq"), testenv.LinkNames(t, ownNS(t, p.a), "q")...)
	rYoung := p.a.Add(cf.WithStaticIP("10.170.0.2/24"), young, "net1")
	far := testenv.NewContainer(t)
	p.b.Add(qinq(170, 10).With("master", master).WithStaticIP("10.170.0.9/24"), far, "net1")

	bridges := testenv.LinkNames(t, ownNS(t, p.a), "qbr")
	if len(bridges) != 1 || !slices.Contains(oldLinks, bridges[0]) || len(bridges[0]) != len("qbr")+8 {
		t.Fatalf("bridges %v: want the previous release's one (FNV-32 name) only; it made %v", bridges, oldLinks)
	}
	if sLinks := testenv.LinkNames(t, p.a.NS, "qinq"); len(sLinks) != 1 || len(sLinks[0]) != len("qinq")+8 {
		t.Fatalf("S-links on the node %v: want the previous release's one only", sLinks)
	}
	if err := p.a.Check(cf.WithStaticIP("10.170.0.1/24"), old, "net1", rOld); err != nil {
		t.Fatalf("CHECK of the previous release's pod: %v", err)
	}
	if err := p.a.Check(cf.WithStaticIP("10.170.0.2/24"), young, "net1", rYoung); err != nil {
		t.Fatalf("CHECK of this release's pod on the old bridge: %v", err)
	}
	for _, c := range []*testenv.Container{old, young} {
		if err := testenv.Echo(t, c, far, "10.170.0.9", 1496); err != nil {
			t.Fatalf("%s to the far end: %v", c.ID, err)
		}
	}
	if err := testenv.Echo(t, old, young, "10.170.0.2", 1496); err != nil {
		t.Fatalf("the old pod to the new one: %v", err)
	}
	p.a.Del(cf.WithStaticIP("10.170.0.1/24"), old, "net1")
	if err := testenv.Echo(t, young, far, "10.170.0.9", 1496); err != nil {
		t.Fatalf("the new pod after the old one's DEL: %v", err)
	}
	p.a.Del(cf.WithStaticIP("10.170.0.2/24"), young, "net1")
	assertClean(t, p.a, "", old, young)
}
