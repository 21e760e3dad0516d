//go:build kerneltest

package binary

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// migration is KubeVirt's live migration on a switched wire: the source
// node, the target node and a far node, each with wire0 on a port (swsrc,
// swdst, swfar) of a learning switch, as a provider's access switch is. The
// far node holds a peer on (S, C) = (109, 10); guestMAC is the VM's MAC,
// the pod's on both sides.
type migration struct {
	src, dst, far, sw *testenv.Node
	peer              *testenv.Container
	guestMAC          net.HardwareAddr
}

const migrationGuestIP = "10.39.0.1"

func newMigration(t *testing.T) migration {
	m := migration{src: newNode(t), dst: newNode(t), far: newNode(t), sw: env.NewNode(t),
		guestMAC: net.HardwareAddr{0x02, 0x4b, 0x56, 0x00, 0x00, 0x01}}
	m.sw.Do(func() error {
		return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "sw0"}})
	})
	for port, n := range map[string]*testenv.Node{"swsrc": m.src, "swdst": m.dst, "swfar": m.far} {
		testenv.Veth(t, n, "wire0", m.sw, port, 1500)
		m.sw.Do(func() error { return enslave(port, "sw0") })
	}
	m.sw.Do(func() error { return upWithAddr("sw0", "") })
	m.peer = testenv.NewContainer(t)
	m.far.Add(qinq(109, 10).WithStaticIP("10.39.0.9/24"), m.peer, "net1")
	return m
}

// vmNet is the network KubeVirt's pods use: the default bridge link, the
// VM's MAC.
func (m migration) vmNet() testenv.Conf { return bridged(109, 10).With("mac", m.guestMAC.String()) }

// switchPort is the switch port the switch now sends guestMAC to ("" when
// it has not learned it).
func (m migration) switchPort(t *testing.T) string {
	t.Helper()
	port := ""
	m.sw.Do(func() error {
		br, err := netlink.LinkByName("sw0")
		if err != nil {
			return err
		}
		// An FDB entry's link is its port: list them all, keep sw0's.
		fdb, err := netlink.NeighList(0, unix.AF_BRIDGE)
		if err != nil {
			return err
		}
		for _, e := range fdb {
			if e.MasterIndex == br.Attrs().Index && bytes.Equal(e.HardwareAddr, m.guestMAC) {
				l, err := netlink.LinkByIndex(e.LinkIndex)
				if err != nil {
					return err
				}
				port = l.Attrs().Name
			}
		}
		return nil
	})
	return port
}

// sourceVM is the VM running on the source node, behind its pod, and talking
// to the far node: the switch has learned its MAC on swsrc.
func (m migration) sourceVM(t *testing.T) (pod, guest *testenv.Container) {
	pod = testenv.NewContainer(t)
	m.src.Add(m.vmNet().WithStaticIP(migrationGuestIP+"/24"), pod, "net1")
	guest, err := kubevirtBridge(t, pod, migrationGuestIP+"/24")
	if err != nil {
		t.Fatalf("KubeVirt's bridge binding on the source node: %v", err)
	}
	if err := testenv.Echo(t, guest, m.peer, "10.39.0.9", 1400); err != nil {
		t.Fatalf("the VM on the source node to the far node: %v", err)
	}
	if port := m.switchPort(t); port != "swsrc" {
		t.Fatalf("the switch sends the VM's MAC to %q, want swsrc", port)
	}
	return pod, guest
}

// framesFrom are the frames of fs with source mac.
func framesFrom(fs []testenv.Frame, mac net.HardwareAddr) []testenv.Frame {
	var out []testenv.Frame
	for _, f := range fs {
		if bytes.Equal(f.Src, mac) {
			out = append(out, f)
		}
	}
	return out
}

// A live migration with "disableContainerInterface": the target pod is made
// with the VM's MAC and sends nothing: no frame from that MAC reaches the
// wire and the switch keeps it on the source node, whose VM keeps its
// traffic. CHECK accepts the link down, and up. Once the source VM is gone
// and the target's interface is up (KubeVirt's bridge binding), a
// gratuitous ARP moves the MAC, and the far node reaches the VM at the
// target node.
func TestBridge_DisableContainerInterfaceLetsAVMMigrateWithoutABlackhole(t *testing.T) {
	m := newMigration(t)
	srcPod, srcGuest := m.sourceVM(t)

	stop := m.dst.CaptureSent("wire0")
	target := testenv.NewContainer(t)
	cf := m.vmNet().With("disableContainerInterface", true)
	res := m.dst.Add(cf, target, "net1")
	time.Sleep(3 * time.Second) // a link up sends IPv6 DAD and MLD within a second
	if sent := framesFrom(stop(), m.guestMAC); len(sent) != 0 {
		t.Fatalf("the target pod sent %d frames from the VM's MAC before the VM moved, first %v", len(sent), sent[0])
	}
	if l := testenv.Link(t, target.NS, "net1"); l.Attrs().Flags&net.FlagUp != 0 {
		t.Fatalf("the target pod's net1 is up (%v): disableContainerInterface leaves it down", l.Attrs().Flags)
	}
	if port := m.switchPort(t); port != "swsrc" {
		t.Fatalf("after the target's ADD the switch sends the VM's MAC to %q, want swsrc (the VM is still there)", port)
	}
	if err := m.dst.Check(cf, target, "net1", res); err != nil {
		t.Fatalf("CHECK of the target pod with net1 down: %v", err)
	}
	if err := testenv.Echo(t, srcGuest, m.peer, "10.39.0.9", 1400); err != nil {
		t.Fatalf("the VM on the source node lost its traffic while the target pod was made: %v", err)
	}

	// The VM moves: gone from the source, KubeVirt brings the target up.
	m.src.Del(m.vmNet(), srcPod, "net1")
	target.Do(t, func() error { return upWithAddr("net1", "") })
	if err := m.dst.Check(cf, target, "net1", res); err != nil {
		t.Fatalf("CHECK of the target pod with net1 up: %v", err)
	}
	dstGuest, err := kubevirtBridge(t, target, migrationGuestIP+"/24")
	if err != nil {
		t.Fatalf("KubeVirt's bridge binding on the target node: %v", err)
	}
	ip := net.ParseIP(migrationGuestIP)
	garp := testenv.EthernetFrame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, m.guestMAC, nil,
		testenv.EtherTypeARP, testenv.ARPRequest(m.guestMAC, ip, ip))
	testenv.SendFrames(t, dstGuest.NS, "eth0", garp)
	if err := testenv.Echo(t, m.peer, dstGuest, migrationGuestIP, 1400); err != nil {
		t.Fatalf("the far node to the VM on the target node: %v", err)
	}
	if port := m.switchPort(t); port != "swdst" {
		t.Fatalf("after the migration the switch sends the VM's MAC to %q, want swdst", port)
	}
	m.dst.Del(cf, target, "net1")
	assertClean(t, m.dst, "")
	assertClean(t, m.src, "")
}

// The control: the same target pod without the key comes up at once and
// sends from the VM's MAC, and a switch that learns moves the MAC to the
// target node while the VM still runs on the source: the blackhole of
// kubevirt/kubevirt PR 11069.
func TestBridge_MigrationTargetWithoutDisableContainerInterfaceTakesTheVMsMAC(t *testing.T) {
	m := newMigration(t)
	m.sourceVM(t)
	stop := m.dst.CaptureSent("wire0")
	target := testenv.NewContainer(t)
	m.dst.Add(m.vmNet(), target, "net1")
	time.Sleep(3 * time.Second)
	sent := framesFrom(stop(), m.guestMAC)
	if len(sent) == 0 {
		t.Fatal("a target pod brought up sent nothing from the VM's MAC: the control does not show what the key prevents")
	}
	// Each of them moved the MAC to swdst until the VM's next frame moved it
	// back: the switch's table now depends on who spoke last.
	t.Logf("the target pod sent %d frames from the VM's MAC, first %v; the switch sends it to %q now",
		len(sent), sent[0], m.switchPort(t))
}
