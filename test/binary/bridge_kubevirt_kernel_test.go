//go:build kerneltest

package binary

import (
	"fmt"
	"net"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// kubevirtBridge does in pod what KubeVirt's bridge binding does to the pod
// interface (kubevirt pkg/network/setup): net1 loses its address, is renamed
// net1-nic, takes a random MAC and becomes a port (learning off) of a bridge
// k6t-net1; a veth stands in for the VM's tap, its other end eth0 in a
// nested "guest" netns that takes net1's original MAC and the pod's address.
// It returns the guest and the step that failed, if one did.
func kubevirtBridge(t *testing.T, pod *testenv.Container, cidr string) (*testenv.Container, error) {
	t.Helper()
	guest := testenv.NewContainer(t)
	var mac net.HardwareAddr
	var failed error
	pod.Do(t, func() error { mac, failed = kubevirtPodSide(guest); return nil })
	if failed != nil {
		return guest, failed
	}
	guest.Do(t, func() error {
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetHardwareAddr(eth0, mac); err != nil {
			return err
		}
		return upWithAddr("eth0", cidr)
	})
	return guest, nil
}

func kubevirtPodSide(guest *testenv.Container) (net.HardwareAddr, error) {
	nic, err := netlink.LinkByName("net1")
	if err != nil {
		return nil, err
	}
	mac, mtu := nic.Attrs().HardwareAddr, nic.Attrs().MTU
	addrs, _ := netlink.AddrList(nic, netlink.FAMILY_V4)
	for _, a := range addrs {
		if err := netlink.AddrDel(nic, &a); err != nil {
			return nil, fmt.Errorf("move the address off net1: %w", err)
		}
	}
	random := net.HardwareAddr{0x02, 0x6b, 0x76, mac[3] ^ 0x5a, mac[4] ^ 0xa5, mac[5] ^ 0x3c}
	steps := []struct {
		what string
		do   func() error
	}{
		{"set net1 down", func() error { return netlink.LinkSetDown(nic) }},
		{"rename net1 to net1-nic", func() error { return netlink.LinkSetName(nic, "net1-nic") }},
		{"give net1-nic a random MAC", func() error { return netlink.LinkSetHardwareAddr(nic, random) }},
		{"make the bridge k6t-net1", func() error {
			return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "k6t-net1", MTU: mtu}})
		}},
		{"enslave net1-nic to k6t-net1", func() error { return enslave("net1-nic", "k6t-net1") }},
		{"learning off on net1-nic", func() error { return netlink.LinkSetLearning(nic, false) }},
		{"make the tap stand-in", func() error {
			return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tap0", MTU: mtu}, PeerName: "eth0",
				PeerNamespace: netlink.NsFd(int(guest.NS.Fd()))})
		}},
		{"enslave tap0 to k6t-net1", func() error { return enslave("tap0", "k6t-net1") }},
		{"set them up", func() error {
			for _, n := range []string{"net1-nic", "tap0", "k6t-net1"} {
				if err := upWithAddr(n, ""); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return mac, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return mac, nil
}

func enslave(port, bridge string) error {
	p, err := netlink.LinkByName(port)
	if err != nil {
		return err
	}
	b, err := netlink.LinkByName(bridge)
	if err != nil {
		return err
	}
	return netlink.LinkSetMaster(p, b)
}

// Two VMs per (S, C) on one node, each behind its pod as KubeVirt's bridge
// binding puts it: both reach the far node and each other, and the wire
// shows 0x88a8/S then 0x8100/C from each guest's MAC (the one qinq gave the
// pod).
func TestBridge_KubeVirtGuestsBehindTheirPodsReachTheFarNodeAndEachOther(t *testing.T) {
	p := newPair(t, 1500)
	cf := bridged(106, 10)
	pods := podsOn(t, p.a, cf, "10.36.0", 2)
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(106, 10).WithStaticIP("10.36.0.9/24"), peer, "net1")
	var guests []*testenv.Container
	var want []string
	for i, pod := range pods {
		want = append(want, macOf(t, pod))
		g, err := kubevirtBridge(t, pod, fmt.Sprintf("10.36.0.%d/24", i+1))
		if err != nil {
			t.Fatalf("KubeVirt's bridge binding in %s: %v", pod.ID, err)
		}
		guests = append(guests, g)
	}
	stop := p.b.Capture("wire0")
	for i, g := range guests {
		if err := testenv.Echo(t, g, peer, "10.36.0.9", 1496); err != nil {
			t.Fatalf("guest %d to the far node: %v", i, err)
		}
	}
	frames := stop()
	testenv.AssertTags(t, frames, testenv.Tag8021AD(106), testenv.Tag8021Q(10))
	peerMAC := testenv.Link(t, peer.NS, "net1").Attrs().HardwareAddr.String()
	if got := testenv.Sources(frames); !sameSet(got, append(want, peerMAC)) {
		t.Fatalf("source MACs on the wire %v, want the guests' (the pods' original MACs) and the peer's %v", got, append(want, peerMAC))
	}
	if err := testenv.Echo(t, guests[0], guests[1], "10.36.0.2", 1496); err != nil {
		t.Fatalf("guest to guest on one node: %v", err)
	}
	for _, pod := range pods {
		p.a.Del(cf, pod, "net1") // the pod's net1 is net1-nic now: DEL finds the port by its name
		if _, err := testenv.LinkByName(pod.NS, "net1-nic"); err == nil {
			t.Errorf("%s: net1-nic left after DEL", pod.ID)
		}
	}
	assertClean(t, p.a, "")
}

// The controls: the same emulation over macvlan builds, but the guest's
// frames find no way back (the macvlan answers only to its own, now random,
// MAC: kubevirt #5483, #2925); over ipvlan it cannot be built (an ipvlan is
// no bridge port: kubevirt #7001).
func TestBridge_KubeVirtControlsMacvlanLosesTheGuestIpvlanCannotBeBridged(t *testing.T) {
	p := newPair(t, 1500)
	mv := podsOn(t, p.a, shared("macvlan", 107, 10), "10.37.0", 1)[0]
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(107, 10).WithStaticIP("10.37.0.9/24"), peer, "net1")
	if err := testenv.Echo(t, mv, peer, "10.37.0.9", 1496); err != nil {
		t.Fatalf("the macvlan pod before the emulation: %v", err)
	}
	g, err := kubevirtBridge(t, mv, "10.37.0.1/24")
	if err != nil {
		t.Fatalf("the emulation over macvlan: %v", err)
	}
	if !testenv.Unreachable(t, g, peer, "10.37.0.9") {
		t.Fatal("a guest behind a macvlan pod reached the far node: the control does not show the macvlan problem")
	}
	iv := podsOn(t, p.a, shared("ipvlan", 108, 10), "10.38.0", 1)[0]
	if _, err := kubevirtBridge(t, iv, "10.38.0.1/24"); err == nil {
		t.Fatal("the emulation over ipvlan was built: an ipvlan became a bridge port")
	} else {
		t.Logf("over ipvlan: %v", err)
	}
	// Past its MAC, the step that can never work: the ipvlan as a bridge port.
	var enslaved error
	iv.Do(t, func() error {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "k6t-try"}}); err != nil {
			return err
		}
		enslaved = enslave("net1-nic", "k6t-try")
		return nil
	})
	if enslaved == nil {
		t.Fatal("an ipvlan became a bridge port")
	}
	t.Logf("ipvlan as a bridge port: %v", enslaved)
}
