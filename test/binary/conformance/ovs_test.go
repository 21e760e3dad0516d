//go:build kerneltest

package conformance

import (
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// newOVSWorld is a world on Open vSwitch, started in this VM on first use:
// the plugin runs in the VM's own namespace (where ovs-vswitchd is, so where
// its ports must be), and the ports of a new bridge count, with n containers.
func newOVSWorld(t *testing.T, n int) (*testenv.World, []*testenv.Container) {
	t.Helper()
	o := env.StartOVS(t)
	w := testenv.NewWorld(t, o.Host, suiteDirs()...)
	w.OVS, w.Bridges = o, []string{o.NewBridge()}
	return w, w.NewContainers(n)
}

// attachedOVS asserts that, since before, the bridge gained a port, the VM a
// veth, the container net1 and the IPAM store an allocation: the proof that
// a later "unchanged" is not vacuous.
func attachedOVS(t *testing.T, w *testenv.World, before testenv.Snapshot, c *testenv.Container) {
	t.Helper()
	var port, veth, net1, alloc bool
	d := testenv.Diff(before, w.Snapshot())
	for _, line := range d {
		switch {
		case strings.HasPrefix(line, "+ ovs port "):
			port = true
		case strings.HasPrefix(line, "+ vm link ") && strings.Contains(line, " veth "):
			veth = true
		case strings.HasPrefix(line, "+ ctr "+c.ID+" link net1 "):
			net1 = true
		case strings.HasPrefix(line, "+ ipam file "):
			alloc = true
		}
	}
	if !port || !veth || !net1 || !alloc {
		t.Fatalf("ADD did not attach (port %v, host veth %v, net1 %v, IPAM allocation %v):\n  %s",
			port, veth, net1, alloc, strings.Join(d, "\n  "))
	}
}

// TestOVS: OVS mode (standalone: qinq makes the veth and a dot1q-tunnel port
// on the bridge), seen from the outside, on a real Open vSwitch.
func TestOVS(t *testing.T) {
	spec(t, "standalone: ADD, CHECK and DEL on a bridge leave no port, no veth, no state file", func(t *testing.T) {
		w, c := newOVSWorld(t, 1)
		br, cn := w.Bridges[0], w.Node.LibCNI()
		cf := testenv.QinQ("1.1.0", "conf-ovs").OnBridge(br, 100, 10).WithHostLocal(ipamDir, "10.90.0.0/24")
		before := w.Snapshot()
		res := addOK(t, cn, cf, c[0], "net1")
		attachedOVS(t, w, before, c[0])
		ports := w.OVS.Ports(br)
		if len(ports) != 1 {
			t.Fatalf("ports on %s after ADD: %v, want one", br, ports)
		}
		want := []string{"vlan_mode=dot1q-tunnel", "tag=100", "cvlans=[10]", `other_config:qinq-ethtype="802.1ad"`}
		if got := w.OVS.PortColumns(ports[0], "vlan_mode", "tag", "cvlans", "other_config:qinq-ethtype"); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("port %s: %v, want %v", ports[0], got, want)
		}
		n := vlanOf(t, w, c[0], "net1")
		if n.VlanProtocol != netlink.VLAN_PROTOCOL_8021Q || n.VlanId != 10 || n.MTU != 1496 {
			t.Errorf("net1: %s %d MTU %d, want 802.1Q 10 MTU 1496 (the bridge's 1500 minus the C-tag)", n.VlanProtocol, n.VlanId, n.MTU)
		}
		if len(res.IPs) != 1 || !strings.HasPrefix(res.IPs[0].Address.String(), "10.90.0.") {
			t.Errorf("result IPs %v, want one from 10.90.0.0/24", res.IPs)
		}
		if err := cn.CheckNetworkList(ctx, cf.AsList(t), c[0].RuntimeConf("net1")); err != nil {
			t.Errorf("CHECK: %v", err)
		}
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before)
		delOK(t, cn, cf, c[0], "net1")
		w.Unchanged(before)
	})

	// One world for the table: each case still compares its own before and
	// after, with host-local IPAM (a refusal must come before any allocation).
	shared, c := newOVSWorld(t, 1)
	br := shared.Bridges[0]
	base := testenv.QinQ("1.1.0", "conf-ovs").WithHostLocal(ipamDir, "10.91.0.0/24")
	for _, tc := range []struct {
		name string
		conf testenv.Conf
		key  string
	}{
		{"a bridge Open vSwitch does not have", base.OnBridge("nosuchbr", 100, 10), "bridge"},
		{"two cVlans behind one dot1q-tunnel port (OVS matches two tags at most)", base.OnBridge(br, 100, 50, 10), "cVlans"},
	} {
		spec(t, "bad config: "+tc.name+" is code 7 naming "+tc.key+", nothing changes", func(t *testing.T) {
			w := shared.For(t)
			before := w.Snapshot()
			e := w.Node.Raw(env.Vars("ADD", c[0], "net1"), tc.conf.Bytes()).Fails(t, 7)
			if !strings.HasPrefix(e.Msg, tc.key+": ") {
				t.Fatalf("msg %q does not start with the key %q", e.Msg, tc.key)
			}
			w.Unchanged(before)
		})
	}
}
