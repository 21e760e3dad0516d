//go:build kerneltest

package binary

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// The node's namespace holds no link that carries tenant frames (issue 22,
// item 2): the S-links, shared C-links and bridge uplinks live in qinq's own
// namespace, and the master is the only link there that sees a tenant VLAN.
// A daemon on the node listening on 0.0.0.0 (a DHCP server, a discovery
// protocol) hears no tenant: node b sends, into the pod's (S) alone and
// (S, C), broadcasts from a tenant address and from 0.0.0.0 (as a DHCP
// client does; the kernel skips the reverse-path check for a zero source),
// ARP, ICMPv6 to ff02::1 and IPv4 echoes; node a listens with a UDP socket
// bound to 0.0.0.0 and a packet socket on every link (tcpdump -i any).
// Controls: an admin's own S-link (left in the node's namespace, the
// documented exposure) and the previous release's chain are heard.

// nodeRow is one container link in one mode.
type nodeRow struct {
	name string
	conf testenv.Conf
	s, c int // the tenant's (S, C) on the wire
	// heardBefore: the previous release left a chain link in the node's
	// namespace for this row (the control: the probe hears it).
	heardBefore bool
}

func nodeRows() []nodeRow {
	return []nodeRow{
		{"vlan/C-mode", qinq(150, 10), 150, 10, true},
		{"macvlan/C-mode", shared("macvlan", 151, 10), 151, 10, true},
		{"ipvlan/C-mode", shared("ipvlan", 152, 10), 152, 10, true},
		{"bridge/C-mode", bridged(153, 10), 153, 10, true},
		{"vlan/tunnel", qinq(154), 154, 20, false}, // the pod holds its S-link
		{"macvlan/tunnel", shared("macvlan", 155), 155, 20, true},
		{"bridge/tunnel", bridged(156), 156, 20, false}, // the uplink was in qinq's namespace already
		{"vlan/QinQinQ", qinq(157, 50, 10), 157, 50, true},
	}
}

const probePort = 6767

var probeMAC = net.HardwareAddr{0x02, 0x9b, 0, 0, 0, 0x01}

func TestNodeNS_HoldsOnlyTheMasterAndHearsNoTenant(t *testing.T) {
	for _, row := range nodeRows() {
		t.Run(row.name, func(t *testing.T) {
			p := newPair(t, 1500)
			pod := testenv.NewContainer(t)
			cf := row.conf.WithStaticIP("10.150.0.1/24")
			if _, err := p.a.Invoke("ADD", cf, pod, "net1", prevRelease(t)); err != nil && strings.Contains(err.Error(), "no locked bridge ports") {
				// The previous release has no bridge link before 5.18: the
				// other rows' controls show the probe bites on this kernel.
				t.Logf("the previous release on this kernel: %v", err)
			} else {
				if err != nil {
					t.Fatalf("ADD by the previous release: %v", err)
				}
				heard := probeNode(t, p, row.s, row.c)
				t.Logf("the previous release (chain in the node's namespace): %s", heard)
				if row.heardBefore && (heard.udp == 0 || heard.frames == 0) {
					t.Errorf("control: the node must hear the tenant through the previous release's chain, got %s", heard)
				}
				p.a.Del(cf, pod, "net1")
				assertClean(t, p.a, "", pod)
			}
			p.a.Add(cf, pod, "net1")
			if links := nodeLinks(t, p.a); !slices.Equal(links, []string{"lo", "wire0"}) {
				t.Errorf("links in the node's namespace after the ADD: %v, want only lo and the master", links)
			}
			if heard := probeNode(t, p, row.s, row.c); heard != (heardByNode{}) {
				t.Errorf("the node heard a tenant: %s", heard)
			}
			p.a.Del(cf, pod, "net1")
			assertClean(t, p.a, "", pod)
		})
	}
}

// Control: an admin's S-link is used where it is (never moved): the node
// hears the tenant through it. The probe bites.
func TestNodeNS_AnAdminsSLinkStaysAndIsHeard(t *testing.T) {
	p := newPair(t, 1500)
	p.a.Do(func() error {
		return testenv.AddVLAN(testenv.VLAN{Parent: "wire0", Name: "provider158", Proto: netlink.VLAN_PROTOCOL_8021AD, ID: 158})
	})
	for _, cf := range []testenv.Conf{qinq(158, 10), shared("macvlan", 158, 11), bridged(158, 12)} {
		pod := testenv.NewContainer(t)
		p.a.Add(cf.WithStaticIP("10.150.0.1/24"), pod, "net1")
		heard := probeNode(t, p, 158, 10)
		if heard.udp == 0 || heard.frames == 0 {
			t.Errorf("%s: control: through the admin's S-link the node must hear the tenant, got %s", cf["containerLink"], heard)
		}
		p.a.Del(cf.WithStaticIP("10.150.0.1/24"), pod, "net1")
		if links := nodeLinks(t, p.a); !slices.Equal(links, []string{"lo", "provider158", "wire0"}) {
			t.Errorf("%s: links in the node's namespace after the DEL: %v, want lo, the admin's S-link and the master", cf["containerLink"], links)
		}
	}
	p.a.Do(func() error { return testenv.DelLink("provider158") })
	assertClean(t, p.a, "")
}

// A chain the previous release made stays in the node's namespace until its
// last user leaves (the node hears its tenants meanwhile: the control for a
// chain of qinq's own); a new pod joins it there, its new C-link goes to
// qinq's namespace; once the old pod is gone the node hears no tenant.
func TestNodeNS_ThePreviousReleasesChainStaysUntilItsLastUserLeaves(t *testing.T) {
	p := newPair(t, 1500)
	oldConf, newConf := qinq(159, 10).WithStaticIP("10.150.0.1/24"), shared("macvlan", 159, 11).WithStaticIP("10.150.1.1/24")
	old, fresh := testenv.NewContainer(t), testenv.NewContainer(t)
	r := p.a.Add(oldConf, old, "net1", prevRelease(t))
	if heard := probeNode(t, p, 159, 10); heard.udp == 0 || heard.frames == 0 {
		t.Errorf("control: the previous release's S-link is in the node's namespace, which must hear the tenant: %s", heard)
	}
	p.a.Add(newConf, fresh, "net1")
	if links := nodeLinks(t, p.a); !slices.Equal(links, []string{"lo", "wire0", "wire0.159"}) {
		t.Errorf("links in the node's namespace with the old chain in use: %v, want lo, the master and the old S-link", links)
	}
	if got := ownNSLinks(t, p.a); !slices.Equal(got, []string{"wire0.159.11"}) {
		t.Errorf("links in qinq's namespace: %v, want the new pod's C-link", got)
	}
	if err := p.a.Check(oldConf, old, "net1", r); err != nil {
		t.Errorf("CHECK of the old pod: %v", err)
	}
	p.a.Del(oldConf, old, "net1")
	p.a.Del(newConf, fresh, "net1")
	assertClean(t, p.a, "", old, fresh)
	p.a.Add(newConf, fresh, "net1")
	if links := nodeLinks(t, p.a); !slices.Equal(links, []string{"lo", "wire0"}) {
		t.Errorf("links in the node's namespace for a new chain: %v, want lo and the master", links)
	}
	if heard := probeNode(t, p, 159, 11); heard != (heardByNode{}) {
		t.Errorf("the node heard a tenant of a new chain: %s", heard)
	}
	p.a.Del(newConf, fresh, "net1")
	assertClean(t, p.a, "", fresh)
}

// nodeLinks names the links in node n's namespace, sorted; `ip -d link` is
// logged.
func nodeLinks(t *testing.T, n *testenv.Node) []string {
	t.Helper()
	var out []byte
	n.Do(func() (err error) { out, err = exec.Command("/usr/sbin/ip", "-d", "link").CombinedOutput(); return err })
	t.Logf("ip -d link in the node's namespace:\n%s", out)
	names := testenv.LinkNames(t, n.NS, "")
	slices.Sort(names)
	return names
}

// heardByNode is what node a's namespace got of the tenant's probes: UDP
// datagrams on a socket bound to 0.0.0.0, frames from the probe's MAC on any
// link but the master, and echo replies it sent.
type heardByNode struct{ udp, frames, echo4, echo6 int }

func (h heardByNode) String() string {
	return fmt.Sprintf("%d UDP datagrams on 0.0.0.0:%d, %d frames on links other than the master, %d ICMP and %d ICMPv6 echo replies",
		h.udp, probePort, h.frames, h.echo4, h.echo6)
}

// probeNode writes the probes three times each into (s) and (s, c) from
// node b and counts what node a heard.
func probeNode(t *testing.T, p pair, s, c int) heardByNode {
	t.Helper()
	udp, frames := listenOnNode(t, p.a)
	echo4 := testenv.Counter(t, p.a.NS, "Icmp", "OutEchoReps")
	echo6 := testenv.Counter(t, p.a.NS, "Icmp6", "OutEchoReplies")
	var probes [][]byte
	for _, tags := range [][]testenv.Tag{{testenv.Tag8021AD(s)}, {testenv.Tag8021AD(s), testenv.Tag8021Q(c)}} {
		for seq := range 3 {
			probes = append(probes, nodeProbes(tags, seq)...)
		}
	}
	testenv.SendFrames(t, p.b.NS, "wire0", probes...)
	time.Sleep(time.Second)
	h := heardByNode{udp: udp(), frames: frames(),
		echo4: testenv.Counter(t, p.a.NS, "Icmp", "OutEchoReps") - echo4,
		echo6: testenv.Counter(t, p.a.NS, "Icmp6", "OutEchoReplies") - echo6}
	t.Logf("%d probes into S%d and S%d/C%d: %s", len(probes), s, s, c, h)
	return h
}

// nodeProbes are one round of probes with tags: UDP broadcasts from a
// tenant address and from 0.0.0.0 (DHCP's discover), an ARP request and an
// ARP probe, ICMPv6 echo to ff02::1, IPv4 echo to the broadcast address.
func nodeProbes(tags []testenv.Tag, seq int) [][]byte {
	bcast := net.IPv4bcast
	return [][]byte{
		testenv.EthernetFrame(broadcast, probeMAC, tags, testenv.EtherTypeIPv4, testenv.UDPv4(tenantIP, bcast, 68, probePort, []byte("tenant"))),
		testenv.EthernetFrame(broadcast, probeMAC, tags, testenv.EtherTypeIPv4, testenv.UDPv4(net.IPv4zero, bcast, 68, probePort, []byte("dhcp"))),
		testenv.EthernetFrame(broadcast, probeMAC, tags, testenv.EtherTypeARP, testenv.ARPRequest(probeMAC, tenantIP, nodeIP)),
		testenv.EthernetFrame(broadcast, probeMAC, tags, testenv.EtherTypeARP, testenv.ARPRequest(probeMAC, net.IPv4zero, nodeIP)),
		testenv.EthernetFrame(allNodesL, probeMAC, tags, testenv.EtherTypeIPv6, testenv.ICMPv6Echo(tenantLL, allNodes, seq)),
		testenv.EthernetFrame(broadcast, probeMAC, tags, testenv.EtherTypeIPv4, testenv.ICMPv4Echo(tenantIP, bcast, seq)),
	}
}

// listenOnNode opens, in n's namespace, a UDP socket on 0.0.0.0:probePort
// and a packet socket on every link (as tcpdump -i any); the functions
// returned count what each got from the probe's MAC (frames on the master,
// where tenant frames arrive tagged, do not count) and close them.
func listenOnNode(t *testing.T, n *testenv.Node) (udp, frames func() int) {
	t.Helper()
	var conn net.PacketConn
	var fd int
	n.Do(func() (err error) {
		if conn, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", probePort)); err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK, int(htons(unix.ETH_P_ALL)))
		return err
	})
	master := testenv.Link(t, n.NS, "wire0").Attrs().Index
	udp = func() int {
		defer conn.Close()
		got := 0
		buf := make([]byte, 2048)
		for {
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, _, err := conn.ReadFrom(buf); err != nil {
				return got
			}
			got++
		}
	}
	frames = func() int {
		defer unix.Close(fd)
		got := 0
		buf := make([]byte, 2048)
		for {
			m, from, err := unix.Recvfrom(fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) || err != nil {
				return got
			}
			ll, ok := from.(*unix.SockaddrLinklayer)
			if ok && ll.Ifindex != master && m >= 12 && net.HardwareAddr(buf[6:12]).String() == probeMAC.String() {
				got++
			}
		}
	}
	return udp, frames
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// A downgrade, as docs/security.md says: the previous release looks for
// chain links in the node's namespace only. A pod this release made keeps
// its traffic; the older release's ADD on its S-VLAN is refused (100: the
// kernel has the S-link, in qinq's namespace); its DEL of this release's
// pod deletes the pod's link and leaves the chain in qinq's namespace,
// which qinq-admin clean then removes.
func TestNodeNS_ADowngradeKeepsPodsAndLeavesTheChainToQinqAdmin(t *testing.T) {
	p := newPair(t, 1500)
	conf := shared("macvlan", 161, 10).WithStaticIP("10.161.0.1/24")
	pod, peer := testenv.NewContainer(t), testenv.NewContainer(t)
	s := newStore(t)
	p.a.Add(conf, pod, "net1", s.env())
	p.b.Add(qinq(161, 10).WithStaticIP("10.161.0.9/24"), peer, "net1")
	old := prevRelease(t)
	second := testenv.NewContainer(t)
	_, err := p.a.Invoke("ADD", shared("macvlan", 161, 11).WithStaticIP("10.161.1.1/24"), second, "net1", s.env(), old)
	testenv.WantCNIError(t, err, 100, "already used")
	if err := testenv.Echo(t, pod, peer, "10.161.0.9", 1400); err != nil {
		t.Fatalf("this release's pod under the previous release: %v", err)
	}
	p.a.Del(conf, pod, "net1", s.env(), old)
	if left := containerLinks(t, pod); len(left) != 0 {
		t.Errorf("the previous release's DEL left the pod's link: %v", left)
	}
	if got := ownNSLinksOf(t, s, p.a); !slices.Equal(got, []string{"wire0.161", "wire0.161.10"}) {
		t.Errorf("qinq's namespace after the previous release's DEL: %v, want the chain, left", got)
	}
	if _, err := admin(t, p.a, s, "clean", "wire0.161"); err != nil {
		t.Fatalf("qinq-admin clean of the chain left in qinq's namespace: %v", err)
	}
	if got := ownNSLinksOf(t, s, p.a); len(got) != 0 {
		t.Errorf("qinq's namespace after qinq-admin clean: %v", got)
	}
	if links := nodeLinks(t, p.a); !slices.Equal(links, []string{"lo", "wire0"}) {
		t.Errorf("links in the node's namespace: %v", links)
	}
}

// ownNSLinksOf lists, sorted, the links but lo in qinq's namespace of node n
// under store s.
func ownNSLinksOf(t *testing.T, s store, n *testenv.Node) []string {
	t.Helper()
	o, err := ns.GetNS(filepath.Join(s.dir, filepath.Base(scopeDir(t, n)), "netns"))
	if err != nil {
		t.Fatalf("qinq's namespace of the store: %v", err)
	}
	defer o.Close()
	var out []string
	for _, name := range testenv.LinkNames(t, o, "") {
		if name != "lo" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
