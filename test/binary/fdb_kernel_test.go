//go:build kerneltest

package binary

import (
	"bufio"
	"crypto/rand"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// The bridge's uplink learns nothing (issue 22, item 6): anyone on the wire
// can send frames from as many source MACs as they like, and each learned
// one would be an FDB entry (about 128 bytes of kernel memory, kept 300 s).
// Node b writes 100,000 frames from random sources into the pod's (S, C);
// the FDB keeps only its static entries, the kernel's slab memory grows by
// less than 1 MB, and the pod still reaches its peer. Control: with learning
// turned back on on the uplink, the same flood grows the FDB and the slab.

const floodFrames = 100_000

func TestBridge_UplinkFDBStaysBoundedUnderARandomSourceFlood(t *testing.T) {
	p := newPair(t, 1500)
	conf := bridged(140, 10).WithStaticIP("10.140.0.1/24")
	pod, peer := testenv.NewContainer(t), testenv.NewContainer(t)
	p.a.Add(conf, pod, "net1")
	p.b.Add(qinq(140, 10).WithStaticIP("10.140.0.200/24"), peer, "net1")
	if err := testenv.Echo(t, pod, peer, "10.140.0.200", 1000); err != nil {
		t.Fatalf("the pod before the flood: %v", err)
	}
	br, _ := bridgeOf(t, p.a, pod)
	up := uplinkOf(t, p.a, br)
	if learning(t, p.a, up) {
		t.Fatalf("learning is on on the bridge's uplink %s", up.Attrs().Name)
	}
	tags := []testenv.Tag{testenv.Tag8021AD(140), testenv.Tag8021Q(10)}
	// A warm-up from one source: the slab caches a flood itself uses
	// (skbs) are grown before the measure starts.
	flood(t, p.b, tags, false)
	static, dynamic := fdbEntries(t, p.a)
	slab := slabKB(t)
	flood(t, p.b, tags, true)
	static2, dynamic2 := fdbEntries(t, p.a)
	grown := slabKB(t) - slab
	t.Logf("learning off: %d frames from random sources: FDB %d static + %d learned -> %d + %d, slab %+d kB",
		floodFrames, static, dynamic, static2, dynamic2, grown)
	if static2 != static || dynamic2 > dynamic {
		t.Errorf("the FDB grew under the flood: %d static + %d learned, was %d + %d", static2, dynamic2, static, dynamic)
	}
	if grown >= 1024 {
		t.Errorf("kernel slab memory grew by %d kB under the flood, want < 1024 kB", grown)
	}
	if err := testenv.Echo(t, pod, peer, "10.140.0.200", 1000); err != nil {
		t.Errorf("the pod after the flood: %v", err)
	}

	// Control: learning on, as a bridge an older release made had it.
	setLearning(t, p.a, up, true)
	slab = slabKB(t)
	flood(t, p.b, tags, true)
	static3, dynamic3 := fdbEntries(t, p.a)
	grown = slabKB(t) - slab
	t.Logf("control, learning on: FDB %d static + %d learned, slab %+d kB", static3, dynamic3, grown)
	if dynamic3 < floodFrames/2 || grown < 1024 {
		t.Errorf("control: with learning on the flood left %d learned entries and %+d kB of slab: the measure proves nothing", dynamic3, grown)
	}
	// A new ADD on the bridge turns it off again (an older release's bridge).
	pod2 := testenv.NewContainer(t)
	conf2 := bridged(140, 10).WithStaticIP("10.140.0.2/24")
	p.a.Add(conf2, pod2, "net1")
	if learning(t, p.a, up) {
		t.Error("a new ADD on the bridge left learning on on its uplink")
	}
	p.a.Del(conf2, pod2, "net1")
	p.a.Del(conf, pod, "net1")
	assertClean(t, p.a, "", pod, pod2)
}

// uplinkOf is the bridge's VLAN port in qinq's namespace of n.
func uplinkOf(t *testing.T, n *testenv.Node, br *netlink.Bridge) netlink.Link {
	t.Helper()
	var up netlink.Link
	testenv.InNS(t, ownNS(t, n), func() error {
		links, err := netlink.LinkList()
		for _, l := range links {
			if l.Type() == "vlan" && l.Attrs().MasterIndex == br.Index {
				up = l
			}
		}
		return err
	})
	if up == nil {
		t.Fatalf("no VLAN port on %s", br.Name)
	}
	return up
}

func learning(t *testing.T, n *testenv.Node, l netlink.Link) bool {
	t.Helper()
	var pi netlink.Protinfo
	testenv.InNS(t, ownNS(t, n), func() (err error) { pi, err = netlink.LinkGetProtinfo(l); return err })
	return pi.Learning
}

func setLearning(t *testing.T, n *testenv.Node, l netlink.Link, on bool) {
	t.Helper()
	testenv.InNS(t, ownNS(t, n), func() error { return netlink.LinkSetLearning(l, on) })
}

// fdbEntries counts the FDB entries in qinq's namespace of n: static ones
// (the pods', the ports' own) and learned ones.
func fdbEntries(t *testing.T, n *testenv.Node) (static, learned int) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // the bridge works through its backlog
	testenv.InNS(t, ownNS(t, n), func() error {
		neighs, err := netlink.NeighList(0, unix.AF_BRIDGE)
		for _, nb := range neighs {
			if nb.State&(netlink.NUD_NOARP|netlink.NUD_PERMANENT) != 0 {
				static++
			} else {
				learned++
			}
		}
		return err
	})
	return static, learned
}

// flood writes floodFrames frames into tags on node n's wire, to a unicast
// MAC nobody has: from random source MACs, or (random false) from one.
func flood(t *testing.T, n *testenv.Node, tags []testenv.Tag, random bool) {
	t.Helper()
	dst := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	payload := testenv.UDPv4(net.ParseIP("10.140.0.77"), net.ParseIP("10.140.0.1"), 4000, 4000, []byte("flood"))
	macs := make([]byte, 6*floodFrames)
	if _, err := rand.Read(macs); err != nil {
		t.Fatal(err)
	}
	frames := make([][]byte, floodFrames)
	for i := range frames {
		src := net.HardwareAddr{0x02, 0xf1, 0, 0, 0, 1}
		if random {
			src = net.HardwareAddr(macs[6*i : 6*i+6])
			src[0] = src[0]&0xfe | 0x02 // unicast, locally administered
		}
		frames[i] = testenv.EthernetFrame(dst, src, tags, testenv.EtherTypeIPv4, payload)
	}
	start := time.Now()
	testenv.SendFrames(t, n.NS, "wire0", frames...)
	t.Logf("sent %d frames in %v", floodFrames, time.Since(start).Round(time.Millisecond))
}

// slabKB is the kernel's slab memory (/proc/meminfo Slab), once settled.
func slabKB(t *testing.T) int {
	t.Helper()
	time.Sleep(time.Second)
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "Slab:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no Slab in /proc/meminfo")
	return 0
}
