//go:build kerneltest

package binary

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// iptables runs iptables-legacy in node n's namespace and returns its output.
func iptables(t *testing.T, n *testenv.Node, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("/usr/sbin/iptables-legacy", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := n.Run(cmd); err != nil {
		t.Fatalf("iptables %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// dnatHits is the packet counter of node n's PREROUTING DNAT rule for ip.
func dnatHits(t *testing.T, n *testenv.Node, ip string) int {
	t.Helper()
	for _, line := range strings.Split(iptables(t, n, "-t", "nat", "-L", "PREROUTING", "-v", "-x", "-n"), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "DNAT" && strings.Contains(line, ip) {
			hits, _ := strconv.Atoi(f[0])
			return hits
		}
	}
	t.Fatalf("no DNAT rule for %s in the node's nat table", ip)
	return 0
}

// sysctlIn reads a sysctl (path under /proc/sys) in where.
func sysctlIn(t *testing.T, where ns.NetNS, path string) string {
	t.Helper()
	var v []byte
	testenv.InNS(t, where, func() error {
		var err error
		v, err = os.ReadFile("/proc/sys/" + path)
		return err
	})
	return strings.TrimSpace(string(v))
}

func writeSysctl(t *testing.T, where ns.NetNS, path, value string) {
	t.Helper()
	testenv.InNS(t, where, func() error { return os.WriteFile("/proc/sys/"+path, []byte(value), 0o644) })
}

// A kubeadm node: br_netfilter loaded, bridge-nf-call-iptables=1, FORWARD
// policy DROP, and kube-proxy's DNAT for a ClusterIP that equals a tenant's
// address. Tenant traffic through qinq's bridge is not NATed, dropped or
// tracked; the control, a bridge the test makes in the node's own namespace
// on another VLAN, shows the node's rules do bite there.
func TestBridge_NodeNetfilterDoesNotTouchTenantTraffic(t *testing.T) {
	p := newPair(t, 1500)
	writeSysctl(t, p.a.NS, "net/bridge/bridge-nf-call-iptables", "1")
	iptables(t, p.a, "-P", "FORWARD", "DROP")
	for _, ip := range []string{"10.31.0.9", "10.32.0.9"} {
		iptables(t, p.a, "-t", "nat", "-A", "PREROUTING", "-d", ip, "-j", "DNAT", "--to-destination", "10.99.99.99")
	}
	pods := podsOn(t, p.a, bridged(101, 10), "10.31.0", 2)
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(101, 10).WithStaticIP("10.31.0.9/24"), peer, "net1")
	o := ownNS(t, p.a)
	for _, s := range []string{"bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables"} {
		if v := sysctlIn(t, o, "net/bridge/"+s); v != "0" {
			t.Errorf("qinq's namespace: %s = %s, want 0", s, v)
		}
	}
	tracked := sysctlIn(t, o, "net/netfilter/nf_conntrack_count")
	for _, c := range pods {
		if err := testenv.Echo(t, c, peer, "10.31.0.9", 1496); err != nil {
			t.Fatalf("%s to the far node through qinq's bridge on a kubeadm-like node: %v", c.ID, err)
		}
	}
	if err := testenv.Echo(t, pods[0], pods[1], "10.31.0.2", 1496); err != nil {
		t.Fatalf("pod to pod through qinq's bridge: %v", err)
	}
	if hits := dnatHits(t, p.a, "10.31.0.9"); hits != 0 {
		t.Errorf("the node's DNAT rule for the tenant address matched %d packets", hits)
	}
	if now := sysctlIn(t, o, "net/netfilter/nf_conntrack_count"); now != tracked {
		t.Errorf("conntrack entries in qinq's namespace went from %s to %s: tenant flows are tracked", tracked, now)
	}

	// Control: the same shape in the node's own namespace.
	p.a.Do(func() error {
		if err := testenv.AddVLAN(testenv.VLAN{Name: "wire0.102", Parent: "wire0", Proto: netlink.VLAN_PROTOCOL_8021AD, ID: 102}); err != nil {
			return err
		}
		if err := testenv.AddVLAN(testenv.VLAN{Name: "wire0.102.20", Parent: "wire0.102", Proto: netlink.VLAN_PROTOCOL_8021Q, ID: 20}); err != nil {
			return err
		}
		return nodeBridge("ctlbr", "wire0.102.20")
	})
	ctl := testenv.NewContainer(t)
	p.a.Do(func() error { return vethInto("ctlp", "ctlbr", ctl, "10.32.0.1/24", 1496) })
	far := testenv.NewContainer(t)
	p.b.Add(qinq(102, 20).WithStaticIP("10.32.0.9/24"), far, "net1")
	if !testenv.Unreachable(t, ctl, far, "10.32.0.9") {
		t.Fatal("control: a bridge in the node's namespace carried the tenant's traffic past DNAT and FORWARD DROP: the test cannot tell")
	}
	if hits := dnatHits(t, p.a, "10.32.0.9"); hits == 0 {
		t.Fatal("control: the node's DNAT rule never saw the bridged traffic of the node's own bridge")
	}
	p.a.Do(func() error { return testenv.DelLink("wire0.102") })
	p.a.Do(func() error { return testenv.DelLink("ctlbr") })
	for _, c := range pods {
		p.a.Del(bridged(101, 10), c, "net1")
	}
	assertClean(t, p.a, "", pods...)
}

// nodeBridge makes a plain bridge with port as uplink in the current netns.
func nodeBridge(name, port string) error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		return err
	}
	up, err := netlink.LinkByName(port)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMaster(up, br); err != nil {
		return err
	}
	for _, l := range []netlink.Link{up, br} {
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
	}
	return nil
}

// vethInto gives container c a veth (net1, with cidr) whose other end is a
// port of bridge br in the current netns.
func vethInto(host, br string, c *testenv.Container, cidr string, mtu int) error {
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host, MTU: mtu}, PeerName: "net1", PeerNamespace: netlink.NsFd(int(c.NS.Fd()))}
	if err := netlink.LinkAdd(v); err != nil {
		return err
	}
	b, err := netlink.LinkByName(br)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMaster(v, b); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(v); err != nil {
		return err
	}
	return c.NS.Do(func(ns.NetNS) error { return upWithAddr("net1", cidr) })
}

func upWithAddr(name, cidr string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if cidr != "" {
		a, err := netlink.ParseAddr(cidr)
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(l, a); err != nil {
			return err
		}
	}
	return netlink.LinkSetUp(l)
}

// setMAC gives net1 in c the MAC mac (the pod has NET_ADMIN).
func setMAC(t *testing.T, c *testenv.Container, mac string) {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	c.Do(t, func() error {
		l, err := netlink.LinkByName("net1")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetDown(l); err != nil {
			return err
		}
		if err := netlink.LinkSetHardwareAddr(l, hw); err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
}

// A pod that changes its MAC (to a new one, or to its neighbour's) sends
// nothing that leaves its port: the port is locked to the MAC qinq gave it.
func TestBridge_APodThatChangesItsMACIsDropped(t *testing.T) {
	p := newPair(t, 1500)
	pods := podsOn(t, p.a, bridged(103, 10), "10.34.0", 2)
	peer := testenv.NewContainer(t)
	p.b.Add(qinq(103, 10).WithStaticIP("10.34.0.9/24"), peer, "net1")
	own, neighbour := macOf(t, pods[0]), macOf(t, pods[1])
	if err := testenv.Echo(t, pods[0], peer, "10.34.0.9", 1496); err != nil {
		t.Fatalf("before the change: %v", err)
	}
	for _, spoof := range []string{"02:00:5e:66:66:66", neighbour} {
		setMAC(t, pods[0], spoof)
		stop := p.b.Capture("wire0")
		if !testenv.Unreachable(t, pods[0], peer, "10.34.0.9") {
			t.Errorf("with MAC %s the pod still reached the far node", spoof)
		}
		if !testenv.Unreachable(t, pods[0], pods[1], "10.34.0.2") {
			t.Errorf("with MAC %s the pod still reached its neighbour", spoof)
		}
		// IPv4 and ARP only: the neighbour itself sends IPv6 router
		// solicitations from the MAC that is rightfully its own.
		for _, f := range stop() {
			if f.Src.String() == spoof && (f.EtherType == 0x0800 || f.EtherType == 0x0806) {
				t.Errorf("a frame from %s left the node: %v", spoof, f)
			}
		}
	}
	// Control: back on its own MAC, the same pod reaches both again.
	setMAC(t, pods[0], own)
	if err := testenv.Echo(t, pods[0], peer, "10.34.0.9", 1496); err != nil {
		t.Fatalf("control: back on its own MAC: %v", err)
	}
	if err := testenv.Echo(t, pods[0], pods[1], "10.34.0.2", 1496); err != nil {
		t.Fatalf("control: neighbour on its own MAC: %v", err)
	}
	if err := testenv.Echo(t, pods[1], peer, "10.34.0.9", 1496); err != nil {
		t.Fatalf("the neighbour whose MAC was taken lost its port: %v", err)
	}
}

// vlanIn adds VLAN vid on net1 in c with cidr, up.
func vlanIn(t *testing.T, c *testenv.Container, vid int, cidr string) {
	t.Helper()
	c.Do(t, func() error {
		name := fmt.Sprintf("net1.%d", vid)
		if err := testenv.AddVLAN(testenv.VLAN{Name: name, Parent: "net1", Proto: netlink.VLAN_PROTOCOL_8021Q, ID: vid}); err != nil {
			return err
		}
		return upWithAddr(name, cidr)
	})
}

// Tunnel mode: a router behind the bridge tags its own C-VLANs; with
// allowedCVlans only those leave (and untagged frames do not, as on an OVS
// dot1q-tunnel port whose cvlans lacks 0). The control, a bridge without
// allowedCVlans, carries the same C-VLAN.
func TestBridge_TunnelModeRouterTagsItsCVLANsAndOnlyAllowedOnesLeave(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sVlan   int
		allowed []int
	}{{"allowedCVlans", 104, []int{10, 20}}, {"control without allowedCVlans", 105, nil}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, 1500)
			cf := bridged(tc.sVlan)
			if tc.allowed != nil {
				cf = cf.With("allowedCVlans", tc.allowed)
			}
			router := testenv.NewContainer(t)
			p.a.Add(cf, router, "net1")
			if l := testenv.Link(t, router.NS, "net1"); l.Type() != "veth" || l.Attrs().MTU != 1500 {
				t.Fatalf("router net1: %s MTU %d, want a veth with the master's MTU 1500", l.Type(), l.Attrs().MTU)
			}
			vlanIn(t, router, 10, "10.35.10.1/24")
			vlanIn(t, router, 30, "10.35.30.1/24")
			router.Do(t, func() error { return upWithAddr("net1", "10.35.0.1/24") })
			p10, p30 := testenv.NewContainer(t), testenv.NewContainer(t)
			p.b.Add(qinq(tc.sVlan, 10).WithStaticIP("10.35.10.9/24"), p10, "net1")
			p.b.Add(qinq(tc.sVlan, 30).WithStaticIP("10.35.30.9/24"), p30, "net1")
			stop := p.b.Capture("wire0")
			if err := testenv.Echo(t, router, p10, "10.35.10.9", 1496); err != nil {
				t.Fatalf("router on C-VLAN 10 (allowed): %v", err)
			}
			reached30 := !testenv.Unreachable(t, router, p30, "10.35.30.9")
			sendUntagged(t, router, "10.35.0.9")
			frames := stop()
			var on30, untagged int
			mine := macOf(t, router)
			for _, f := range frames {
				switch {
				case f.Src.String() != mine: // the far side's own IPv6 ND and MLD
				case len(f.Tags) == 2 && f.Tags[1] == testenv.Tag8021Q(30):
					on30++
				case len(f.Tags) == 1 && f.Tags[0] == testenv.Tag8021AD(tc.sVlan):
					untagged++
				}
			}
			if tc.allowed == nil {
				if !reached30 || on30 == 0 || untagged == 0 {
					t.Fatalf("control: without allowedCVlans C-VLAN 30 reached=%v, %d frames on it, %d untagged frames; want all through", reached30, on30, untagged)
				}
			} else if reached30 || on30 != 0 || untagged != 0 {
				t.Fatalf("C-VLAN 30 is not in allowedCVlans %v, yet reached=%v, %d frames on it left, %d untagged frames left", tc.allowed, reached30, on30, untagged)
			}
			p.a.Del(cf, router, "net1")
			assertClean(t, p.a, "", router)
		})
	}
}

// sendUntagged sends a few UDP datagrams from c to ip on net1's own subnet:
// untagged ARP requests (and, once answered, the datagrams) on net1.
func sendUntagged(t *testing.T, c *testenv.Container, ip string) {
	t.Helper()
	c.Do(t, func() error {
		conn, err := net.Dial("udp4", ip+":9")
		if err != nil {
			return err
		}
		defer conn.Close()
		for range 3 {
			_, _ = conn.Write([]byte("untagged"))
			time.Sleep(300 * time.Millisecond)
		}
		return nil
	})
}
