//go:build kerneltest

package binary

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
	"github.com/qinq-cni/qinq/pkg/fault"
)

// Churn: ADDs and DELs interleaved on one S-link from two networks, so the
// last user's DEL races new ADDs, with GC of a third network on the same
// master alongside (a runtime never runs GC of a network beside its own
// ADDs). A pod that stays keeps its far-end peer throughout.
func TestChurn_200InterleavedADDsAndDELsOnOneSLinkAcrossTwoNetworksWithGCOfAThird(t *testing.T) {
	p := newPair(t, 1500)
	nets := []testenv.Conf{
		shared("macvlan", 500, 10).With("name", "churn-a"),
		shared("macvlan", 500, 11).With("name", "churn-b"),
	}
	third := testenv.QinQ("1.1.0", "churn-c").OnMaster("wire0", 501, 10)
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(502, 10).WithStaticIP("10.50.2.9/24"), peer, "net1")
	stays := testenv.NewContainer(t)
	p.a.Add(qinq(502, 10).WithStaticIP("10.50.2.1/24"), stays, "net1")

	const pods, workers = 100, 4 // 100 ADDs and 100 DELs
	var failures atomic.Int64
	var mu sync.Mutex
	var errs []string
	fail := func(what string, err error) {
		failures.Add(1)
		mu.Lock()
		errs = append(errs, fmt.Sprintf("%s: %v", what, err))
		mu.Unlock()
	}
	done := make(chan struct{})
	var gcs atomic.Int64
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := p.a.GC(third, "net1"); err != nil {
				fail("GC of the third network", err)
			}
			gcs.Add(1)
		}
	}()
	ctrs := make([]*testenv.Container, pods)
	for i := range ctrs {
		ctrs[i] = testenv.NewContainer(t)
	}
	start := time.Now()
	parallel(workers, func(w int) {
		// Each worker adds a pod and deletes it, alternating networks, so
		// the S-link and both C-links keep losing their last user while
		// other workers add theirs.
		for i := w; i < pods; i += workers {
			cf := nets[(i/workers)%2]
			if _, err := p.a.Invoke("ADD", cf, ctrs[i], "net1"); err != nil {
				fail(fmt.Sprintf("ADD %d (%s)", i, cf["name"]), err)
			}
			if _, err := p.a.Invoke("DEL", cf, ctrs[i], "net1"); err != nil {
				fail(fmt.Sprintf("DEL %d (%s)", i, cf["name"]), err)
			}
		}
	})
	close(done)
	<-gcDone
	t.Logf("%d ADDs and %d DELs on S-VLAN 500 (two networks) with %d GCs of a third in %v: %d failures",
		pods, pods, gcs.Load(), time.Since(start).Round(time.Millisecond), failures.Load())
	if failures.Load() != 0 {
		t.Fatalf("%d failures:\n%s", failures.Load(), strings.Join(errs, "\n"))
	}
	if err := testenv.Echo(t, stays, peer, "10.50.2.9", 1496); err != nil {
		t.Fatalf("the pod that stays lost its peer: %v", err)
	}
	p.a.Del(qinq(502, 10), stays, "net1")
	assertClean(t, p.a, "", append(ctrs, stays)...)
}

// A fault or a SIGKILL at every step of DEL, then the DEL repeated: nothing
// is left, and the other pod on the same S-link keeps its peer; the last
// user's DEL is broken the same way.
func TestCrash_AFaultOrSIGKILLAtEveryStepOfDELThenDELAgainLeavesNothingAndBreaksNoOtherPod(t *testing.T) {
	for _, link := range []string{"macvlan", "bridge"} {
		for _, point := range fault.DEL {
			for _, arm := range []string{point, "kill@" + point} {
				t.Run(link+"/"+arm, func(t *testing.T) { faultyDEL(t, link, arm) })
			}
		}
	}
}

// faultyDEL is one case of the test above: two pods of link on one (S, C),
// the first one's DEL and then the last one's broken at arm.
func faultyDEL(t *testing.T, link, arm string) {
	p := newPair(t, 1500)
	cf := func(i int) testenv.Conf {
		return shared(link, 510, 10).WithStaticIP(fmt.Sprintf("10.51.0.%d/24", i+1))
	}
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(510, 10).WithStaticIP("10.51.0.9/24"), peer, "net1")
	pods := []*testenv.Container{testenv.NewContainer(t), testenv.NewContainer(t)}
	for i, c := range pods {
		p.a.Add(cf(i), c, "net1")
	}
	faulty := []testenv.InvokeOption{testenv.Binary(faultsBin()), testenv.ExtraEnv("QINQ_FAULT=" + arm)}
	if _, err := p.a.Invoke("DEL", cf(0), pods[0], "net1", faulty...); err == nil {
		t.Fatalf("DEL with %s reported success", arm)
	}
	if err := testenv.Echo(t, pods[1], peer, "10.51.0.9", 1496); err != nil {
		t.Fatalf("the other pod after a DEL broken at %s: %v", arm, err)
	}
	p.a.Del(cf(0), pods[0], "net1")
	if err := testenv.Echo(t, pods[1], peer, "10.51.0.9", 1496); err != nil {
		t.Fatalf("the other pod after the repeated DEL: %v", err)
	}
	// The last user's DEL, broken the same way, then repeated.
	if _, err := p.a.Invoke("DEL", cf(1), pods[1], "net1", faulty...); err == nil {
		t.Fatalf("the last DEL with %s reported success", arm)
	}
	p.a.Del(cf(1), pods[1], "net1")
	p.a.Del(cf(1), pods[1], "net1") // and once more: nothing left is success
	assertClean(t, p.a, "", pods...)
}

// The same for GC: broken at every step while detaching a stale pod and
// sweeping an orphan, then repeated; the valid pod keeps its peer.
func TestCrash_AFaultOrSIGKILLAtEveryStepOfGCThenGCAgainLeavesNothingAndBreaksNoOtherPod(t *testing.T) {
	for _, point := range fault.GC {
		for _, arm := range []string{point, "kill@" + point} {
			t.Run(arm, func(t *testing.T) {
				p := newPair(t, 1500)
				cf := func(i int) testenv.Conf {
					return shared("macvlan", 520, 10).With("cniVersion", "1.1.0").WithStaticIP(fmt.Sprintf("10.52.0.%d/24", i+1))
				}
				peer := testenv.NewContainer(t)
				p.b.Add(qinq(520, 10).WithStaticIP("10.52.0.9/24"), peer, "net1")
				stale, valid := testenv.NewContainer(t), testenv.NewContainer(t)
				p.a.Add(cf(0), stale, "net1")
				p.a.Add(cf(1), valid, "net1")
				orphan := ownedOrphan(t, p.a, 521)
				faulty := []testenv.InvokeOption{testenv.Binary(faultsBin()), testenv.ExtraEnv("QINQ_FAULT=" + arm)}
				gcOf := func(opts []testenv.InvokeOption, keep ...*testenv.Container) error {
					list := []map[string]string{}
					for _, c := range keep {
						list = append(list, map[string]string{"containerID": c.ID, "ifname": "net1"})
					}
					_, err := p.a.Invoke("GC", cf(0).With("cni.dev/valid-attachments", list), nil, "", opts...)
					return err
				}
				if err := gcOf(faulty, valid); err == nil {
					t.Fatalf("GC with %s reported success", arm)
				}
				if err := testenv.Echo(t, valid, peer, "10.52.0.9", 1496); err != nil {
					t.Fatalf("the valid pod after a GC broken at %s: %v", arm, err)
				}
				if err := gcOf(nil, valid); err != nil {
					t.Fatalf("the repeated GC: %v", err)
				}
				if err := testenv.Echo(t, valid, peer, "10.52.0.9", 1496); err != nil {
					t.Fatalf("the valid pod after the repeated GC: %v", err)
				}
				left := chainVLANs(t, p.a)
				if _, ok := left[orphan]; ok {
					t.Fatalf("the repeated GC kept the orphan %s", orphan)
				}
				if len(containerLinks(t, stale)) != 0 {
					t.Fatal("the repeated GC kept the stale pod's link")
				}
				if err := gcOf(nil); err != nil {
					t.Fatal(err)
				}
				assertClean(t, p.a, "", stale, valid)
			})
		}
	}
}

// ownedOrphan makes what a crash leaves on node n: a shared link marked by
// the node's store alone, its users' directory empty. It returns its name.
func ownedOrphan(t *testing.T, n *testenv.Node, vid int) string {
	data, err := os.ReadFile(filepath.Join(stateDir(), "store-id"))
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("wire0:88a8.%d", vid)
	name := fmt.Sprintf("orphan%d", vid)
	os.MkdirAll(filepath.Join(scopeDir(t, n), "links", key), 0o700)
	n.Do(func() error {
		return testenv.AddVLAN(testenv.VLAN{Parent: "wire0", Name: name, Proto: netlink.VLAN_PROTOCOL_8021AD, ID: vid,
			Alias: fmt.Sprintf("qinq-cni: owned by store %s, deleted with its last user; key=%s", strings.TrimSpace(string(data)), key)})
	})
	if _, ok := chainVLANs(t, n)[name]; !ok {
		t.Fatalf("no orphan made: %v", slices.Sorted(maps.Keys(chainVLANs(t, n))))
	}
	return name
}
