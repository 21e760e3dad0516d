//go:build kerneltest

package binary

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// fdbHolders lists the bridge ports of qinq's namespace on n holding an
// entry for mac, with "static" or "learned". A port's own address list
// (self entries: the bridge syncs static entries into its uplink's) is not
// the bridge's FDB.
func fdbHolders(t *testing.T, n *testenv.Node, mac string) []string {
	t.Helper()
	var out []string
	testenv.InNS(t, ownNS(t, n), func() error {
		fdb, err := netlink.NeighList(0, unix.AF_BRIDGE)
		if err != nil {
			return err
		}
		for _, e := range fdb {
			if e.MasterIndex == 0 || !strings.EqualFold(e.HardwareAddr.String(), mac) {
				continue
			}
			l, err := netlink.LinkByIndex(e.LinkIndex)
			if err != nil {
				return err
			}
			kind := "learned"
			if e.State&(netlink.NUD_NOARP|netlink.NUD_PERMANENT) != 0 {
				kind = "static"
			}
			out = append(out, l.Attrs().Name+" "+kind)
		}
		return nil
	})
	return out
}

// setFDB replaces mac's entry on the bridge to point at port: what an ADD
// with NeighSet (create-or-replace) did. The control of the takeover test.
func setFDB(t *testing.T, n *testenv.Node, port netlink.Link, mac string) {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	testenv.InNS(t, ownNS(t, n), func() error {
		return netlink.NeighSet(&netlink.Neigh{LinkIndex: port.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_NOARP,
			Flags: netlink.NTF_MASTER | netlink.NTF_STICKY, HardwareAddr: hw, Vlan: 1})
	})
}

// learnOnUplink adds the entry for mac on the bridge's uplink as learning
// from the wire makes it: neither static nor permanent.
func learnOnUplink(t *testing.T, n *testenv.Node, mac string) {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	testenv.InNS(t, ownNS(t, n), func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Type() == "vlan" && l.Attrs().MasterIndex != 0 {
				return netlink.NeighAdd(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_REACHABLE,
					Flags: netlink.NTF_MASTER, HardwareAddr: hw, Vlan: 1})
			}
		}
		return errors.New("no bridge uplink in qinq's namespace")
	})
}

// nodeAt is n's environment with the capture point in where (a container).
func nodeAt(n *testenv.Node, where ns.NetNS) *testenv.Node {
	c := *n
	c.NS = where
	return &c
}

// framesTo counts the IPv4 and ARP frames in fs addressed to mac.
func framesTo(fs []testenv.Frame, mac string) int {
	count := 0
	for _, f := range fs {
		if strings.EqualFold(f.Dst.String(), mac) && (f.EtherType == 0x0800 || f.EtherType == 0x0806) {
			count++
		}
	}
	return count
}

// An ADD with a neighbour's MAC, by any of the three ways a MAC is asked
// for, is refused (100, naming no holder) and the neighbour keeps its
// traffic through every attempt and after the attacker's DEL and retry; an
// attacker that takes the MAC inside its netns afterwards gets none of the
// victim's traffic. Control: the entry replaced as NeighSet did takes the
// victim offline, so the test sees a takeover when there is one.
func TestMAC_ANeighboursMACIsNeverTakenOver(t *testing.T) {
	p := newPair(t, 1500)
	cf := bridged(140, 10)
	victim := podsOn(t, p.a, cf, "10.140.0", 1)[0]
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(140, 10).WithStaticIP("10.140.0.9/24"), peer, "net1")
	mac := macOf(t, victim)
	if err := testenv.Echo(t, victim, peer, "10.140.0.9", 1496); err != nil {
		t.Fatalf("the victim before any attempt: %v", err)
	}
	attacker := testenv.NewContainer(t)
	attempts := []struct {
		how  string
		conf testenv.Conf
		args testenv.InvokeOption
	}{
		{"mac", cf.WithStaticIP("10.140.0.2/24").With("mac", mac), testenv.CNIArgs("")},
		{"runtimeConfig.mac", cf.WithStaticIP("10.140.0.2/24").With("runtimeConfig", map[string]any{"mac": mac}), testenv.CNIArgs("")},
		{"CNI_ARGS MAC", cf.WithStaticIP("10.140.0.2/24"), testenv.CNIArgs("IgnoreUnknown=1;MAC=" + mac)},
	}
	for _, a := range attempts {
		_, err := p.a.Invoke("ADD", a.conf, attacker, "net1", a.args)
		testenv.WantCNIError(t, err, 100, mac)
		if strings.Contains(err.Error(), victim.ID) || strings.Contains(err.Error(), "qbp") {
			t.Errorf("%s: the refusal names the holder: %v", a.how, err)
		}
		if links := containerLinks(t, attacker); len(links) != 0 {
			t.Fatalf("%s: the refused ADD left %v in the attacker", a.how, links)
		}
		if err := testenv.Echo(t, victim, peer, "10.140.0.9", 1496); err != nil {
			t.Fatalf("the victim after the attempt by %s: %v", a.how, err)
		}
		if got := fdbHolders(t, p.a, mac); len(got) != 1 || got[0] != portOf(t, p.a, victim).Attrs().Name+" static" {
			t.Fatalf("after the attempt by %s the FDB holds %s at %v", a.how, mac, got)
		}
		p.a.Del(a.conf, attacker, "net1", a.args)
	}
	if err := testenv.Echo(t, victim, peer, "10.140.0.9", 1496); err != nil {
		t.Fatalf("the victim after the attacker's DELs: %v", err)
	}

	// The attacker comes with a MAC of its own, then takes the victim's.
	own := cf.WithStaticIP("10.140.0.2/24").With("mac", "02:00:5e:8c:00:66")
	p.a.Add(own, attacker, "net1")
	setMAC(t, attacker, mac)
	capture := nodeAt(p.a, attacker.NS).Capture("net1")
	for range 3 {
		if err := testenv.Echo(t, victim, peer, "10.140.0.9", 1496); err != nil {
			t.Fatalf("the victim with the attacker on its MAC and IP: %v", err)
		}
		if !testenv.Unreachable(t, attacker, peer, "10.140.0.9") {
			t.Errorf("the attacker on the victim's MAC reached the far node")
		}
	}
	if n := framesTo(capture(), mac); n != 0 {
		t.Errorf("the attacker on the victim's MAC received %d of its frames", n)
	}

	// Control: the entry replaced as an ADD with NeighSet did.
	setMAC(t, attacker, "02:00:5e:8c:00:66")
	setFDB(t, p.a, portOf(t, p.a, attacker), mac)
	if !testenv.Unreachable(t, victim, peer, "10.140.0.9") {
		t.Fatal("control: with its entry on the attacker's port the victim still reached the far node: the test cannot see a takeover")
	}
	capture = nodeAt(p.a, attacker.NS).Capture("net1")
	testenv.Unreachable(t, peer, victim, "10.140.0.1")
	if n := framesTo(capture(), mac); n == 0 {
		t.Fatal("control: with the victim's entry on its port the attacker received none of the far node's frames to the victim: the capture cannot see a takeover")
	}
	setFDB(t, p.a, portOf(t, p.a, victim), mac)
	if err := testenv.Echo(t, victim, peer, "10.140.0.9", 1496); err != nil {
		t.Fatalf("control: the entry back on the victim's port: %v", err)
	}
	p.a.Del(own, attacker, "net1")
	p.a.Del(cf.WithStaticIP("10.140.0.1/24"), victim, "net1")
	assertClean(t, p.a, "", victim, attacker)
}

// Of ADDs racing with one MAC, exactly one wins; the others are refused
// with 100 and leave nothing, and the winner has its traffic.
func TestMAC_RacingADDsWithOneMACExactlyOneWins(t *testing.T) {
	p := newPair(t, 1500)
	cf := bridged(141, 10).With("mac", "02:00:5e:8d:00:01")
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(141, 10).WithStaticIP("10.141.0.9/24"), peer, "net1")
	// A first pod makes the bridge: the racers meet at the FDB, not at the
	// bridge's creation (the master's lock orders that).
	first := podsOn(t, p.a, bridged(141, 10), "10.141.0", 1)[0]
	const racers = 4
	pods := make([]*testenv.Container, racers)
	errs := make([]error, racers)
	for i := range pods {
		pods[i] = testenv.NewContainer(t)
	}
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.a.Invoke("ADD", cf.WithStaticIP("10.141.0.2/24"), pods[i], "net1")
		}()
	}
	wg.Wait()
	var winner *testenv.Container
	for i, err := range errs {
		switch {
		case err == nil && winner != nil:
			t.Fatalf("two ADDs with one MAC both won: %s and %s", winner.ID, pods[i].ID)
		case err == nil:
			winner = pods[i]
		case testenv.CNICode(err) != 100:
			t.Fatalf("a losing ADD: want 100, got %v", err)
		default:
			if links := containerLinks(t, pods[i]); len(links) != 0 {
				t.Fatalf("a losing ADD left %v", links)
			}
		}
	}
	if winner == nil {
		t.Fatalf("no ADD won: %v", errs)
	}
	if got := fdbHolders(t, p.a, "02:00:5e:8d:00:01"); len(got) != 1 || got[0] != portOf(t, p.a, winner).Attrs().Name+" static" {
		t.Fatalf("the FDB holds the MAC at %v", got)
	}
	if err := testenv.Echo(t, winner, peer, "10.141.0.9", 1496); err != nil {
		t.Fatalf("the winner: %v", err)
	}
	for _, c := range pods {
		p.a.Del(cf.WithStaticIP("10.141.0.2/24"), c, "net1")
	}
	p.a.Del(bridged(141, 10).WithStaticIP("10.141.0.1/24"), first, "net1")
	assertClean(t, p.a, "", append(pods, first)...)
}

// A MAC the uplink learned from the wire is no conflict: a VM's MAC arrives
// on a live-migration target first. The pod that takes it gets its traffic.
func TestMAC_AMACSeenFromTheWireIsNoConflict(t *testing.T) {
	p := newPair(t, 1500)
	cf := bridged(142, 10)
	local := podsOn(t, p.a, cf, "10.142.0", 1)[0]
	far := testenv.NewContainer(t)
	p.b.Add(qinq(142, 10).WithStaticIP("10.142.0.9/24"), far, "net1")
	if err := testenv.Echo(t, local, far, "10.142.0.9", 1496); err != nil {
		t.Fatalf("before: %v", err)
	}
	mac := macOf(t, far)
	if got := fdbHolders(t, p.a, mac); len(got) != 1 || !strings.HasSuffix(got[0], " learned") {
		// The uplink does not learn: the entry the wire would make.
		learnOnUplink(t, p.a, mac)
	}
	if got := fdbHolders(t, p.a, mac); len(got) != 1 || !strings.HasSuffix(got[0], " learned") {
		t.Fatalf("the FDB holds the far pod's MAC %s at %v, want one learned entry on the uplink", mac, got)
	}
	// The far pod goes (the VM leaves the source node) and a pod with its
	// MAC comes up here.
	p.b.Del(qinq(142, 10).WithStaticIP("10.142.0.9/24"), far, "net1")
	migrated := testenv.NewContainer(t)
	mcf := cf.WithStaticIP("10.142.0.9/24").With("mac", mac)
	p.a.Add(mcf, migrated, "net1")
	if got := fdbHolders(t, p.a, mac); len(got) != 1 || got[0] != portOf(t, p.a, migrated).Attrs().Name+" static" {
		t.Fatalf("after the ADD the FDB holds %s at %v", mac, got)
	}
	if err := testenv.Echo(t, local, migrated, "10.142.0.9", 1496); err != nil {
		t.Fatalf("the migrated pod from its neighbour: %v", err)
	}
	p.a.Del(mcf, migrated, "net1")
	p.a.Del(cf.WithStaticIP("10.142.0.1/24"), local, "net1")
	assertClean(t, p.a, "", local, migrated)
}
