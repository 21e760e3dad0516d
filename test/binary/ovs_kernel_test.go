//go:build kerneltest

package binary

import (
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
	"github.com/qinq-cni/qinq/pkg/fault"
)

// The far end of every OVS test is a kernel-mode qinq container on a node
// joined to the bridge by a veth wire: what the OVS container sends must
// arrive there as a real 802.1ad frame, and the capture on that wire shows it.

// bridgeWithUplink starts Open vSwitch, makes a bridge and joins it to a new
// node whose master, wire0, is the bridge's uplink.
func bridgeWithUplink(t *testing.T) (o *testenv.OVS, br string, far *testenv.Node) {
	o = env.StartOVS(t)
	br, far = o.NewBridge(), newNode(t)
	o.Uplink(br, far, "wire0")
	return o, br, far
}

// hostVeths lists the host ends of qinq's OVS veths (named qovs*) in the
// VM's namespace.
func hostVeths(t *testing.T, o *testenv.OVS) []string {
	return testenv.LinkNames(t, o.Host.NS, "qovs")
}

// newVeths lists the qinq host veths that exist now but not in before: a
// container torn down by an earlier test takes its veth with it only once
// the kernel's asynchronous netns cleanup has run.
func newVeths(t *testing.T, o *testenv.OVS, before []string) []string {
	return slices.DeleteFunc(hostVeths(t, o), func(v string) bool { return slices.Contains(before, v) })
}

// wantPortColumns checks columns of an OVS port.
func wantPortColumns(t *testing.T, o *testenv.OVS, port string, want map[string]string) {
	t.Helper()
	for col, w := range want {
		if got := o.PortColumn(port, col); got != w {
			t.Errorf("port %s %s = %s, want %s", port, col, got, w)
		}
	}
}

func TestOVS_StandaloneFramesCarry88a8ThenC8100(t *testing.T) {
	o, br, far := bridgeWithUplink(t)
	ca, cb := testenv.NewContainer(t), testenv.NewContainer(t)
	c := ovsConf(br, 100, 10).WithStaticIP("10.40.0.1/24")
	before := hostVeths(t, o)
	res := o.Host.Add(c, ca, "net1")
	far.Add(qinq(100, 10).WithStaticIP("10.40.0.2/24"), cb, "net1")

	if mtu := testenv.Link(t, ca.NS, "net1").Attrs().MTU; mtu != 1496 {
		t.Fatalf("container MTU %d, want 1496 (bridge 1500 minus the C-tag)", mtu)
	}
	port := o.Ports(br)[0]
	wantPortColumns(t, o, port, map[string]string{"vlan_mode": "dot1q-tunnel", "tag": "100", "cvlans": "[10]", "other_config:qinq-ethtype": `"802.1ad"`})
	stop := far.Capture("wire0")
	if err := testenv.Echo(t, ca, cb, "10.40.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	testenv.AssertTags(t, stop(), testenv.Tag8021AD(100), testenv.Tag8021Q(10))
	if err := o.Host.Check(c, ca, "net1", res); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}
	o.Host.Del(c.With("prevResult", res), ca, "net1")
	if left := o.Ports(br); len(left) != 0 {
		t.Fatalf("ports left on %s after DEL: %v", br, left)
	}
	if left := newVeths(t, o, before); len(left) != 0 {
		t.Fatalf("veths left on the host after DEL: %v", left)
	}
	testenv.AssertOnlyLoopback(t, ca)
	o.Host.Del(c, ca, "net1") // DEL is idempotent
}

// OVS matches at most two VLAN headers: a container stacking two C-tags
// behind a dot1q-tunnel port would need a third, and OVS drops such frames.
func TestOVS_StandaloneRefusesTwoCVlansWithCode7(t *testing.T) {
	o := env.StartOVS(t)
	br := o.NewBridge()
	ctr := testenv.NewContainer(t)
	_, err := o.Host.Invoke("ADD", ovsConf(br, 110, 50, 10), ctr, "net1")
	if testenv.CNICode(err) != 7 || !strings.Contains(err.Error(), "cVlans") {
		t.Fatalf("want code 7 naming cVlans, got %v", err)
	}
	if left := o.Ports(br); len(left) != 0 {
		t.Fatalf("refused ADD left ports: %v", left)
	}
	testenv.AssertOnlyLoopback(t, ctr)
}

func TestOVS_TunnelModeCiscoStyleContainerTagsItsOwnCVLANs(t *testing.T) {
	o, br, far := bridgeWithUplink(t)
	router, cb := testenv.NewContainer(t), testenv.NewContainer(t)
	o.Host.Add(ovsConf(br, 3015).With("sProto", "802.1Q"), router, "ether1")
	if got := o.PortColumn(o.Ports(br)[0], "other_config:qinq-ethtype"); got != `"802.1q"` {
		t.Fatalf("qinq-ethtype %s, want 802.1q", got)
	}
	router.Do(t, func() error { return testenv.AddVLAN(testenv.VLAN{Parent: "ether1", ID: 10, Addr: "10.42.0.1/24"}) })
	far.Add(qinq(3015, 10).With("sProto", "802.1Q").WithStaticIP("10.42.0.2/24"), cb, "net1")
	stop := far.Capture("wire0")
	if err := testenv.Echo(t, router, cb, "10.42.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	testenv.AssertTags(t, stop(), testenv.Tag8021Q(3015), testenv.Tag8021Q(10))
}

func TestOVS_AllowedCVlansDropsACVLANNotAllowed(t *testing.T) {
	o, br, far := bridgeWithUplink(t)
	router, on10, on11 := testenv.NewContainer(t), testenv.NewContainer(t), testenv.NewContainer(t)
	o.Host.Add(ovsConf(br, 200).With("allowedCVlans", []int{10}), router, "ether1")
	router.Do(t, func() error { return testenv.AddVLAN(testenv.VLAN{Parent: "ether1", ID: 10, Addr: "10.43.10.1/24"}) })
	router.Do(t, func() error { return testenv.AddVLAN(testenv.VLAN{Parent: "ether1", ID: 11, Addr: "10.43.11.1/24"}) })
	far.Add(qinq(200, 10).WithStaticIP("10.43.10.2/24"), on10, "net1")
	far.Add(qinq(200, 11).WithStaticIP("10.43.11.2/24"), on11, "net1")
	if err := testenv.Echo(t, router, on10, "10.43.10.2", 1000); err != nil {
		t.Fatalf("allowed C-VLAN 10: %v", err)
	}
	if !testenv.Unreachable(t, router, on11, "10.43.11.2") {
		t.Fatal("C-VLAN 11 is not in allowedCVlans but crossed the dot1q-tunnel port")
	}
}

func TestOVS_FailedADDLeavesNoPortAndNoLink(t *testing.T) {
	o := env.StartOVS(t)
	br := o.NewBridge()
	ctr := testenv.NewContainer(t)
	// IPAM fails after the veth, the C-link and the port exist.
	bad := ovsConf(br, 300, 30).WithStaticIP("not-an-ip")
	before := hostVeths(t, o)
	_, err := o.Host.Invoke("ADD", bad, ctr, "net1")
	if err == nil {
		t.Fatal("ADD with a broken IPAM config succeeded")
	}
	t.Logf("ADD refused: %v", err)
	if left := o.Ports(br); len(left) != 0 {
		t.Fatalf("failed ADD left ports on %s: %v", br, left)
	}
	if left := newVeths(t, o, before); len(left) != 0 {
		t.Fatalf("failed ADD left veths on the host: %v", left)
	}
	testenv.AssertOnlyLoopback(t, ctr)
	_, err = o.Host.Invoke("ADD", ovsConf("nosuchbr", 300), ctr, "net1")
	if testenv.CNICode(err) != 7 || !strings.Contains(err.Error(), "bridge") {
		t.Fatalf("ADD on a missing bridge: want code 7 naming bridge, got %v", err)
	}
}

func TestOVS_CheckFindsAChangedPortAndStatusWantsVLANLimit2(t *testing.T) {
	o := env.StartOVS(t)
	br := o.NewBridge()
	ctr := testenv.NewContainer(t)
	c := ovsConf(br, 400, 40)
	res := o.Host.Add(c, ctr, "net1")
	if err := o.Host.Check(c, ctr, "net1", res); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	o.Vsctl("set", "Port", o.Ports(br)[0], "tag=401")
	if err := o.Host.Check(c, ctr, "net1", res); testenv.CNICode(err) != 101 || !strings.Contains(err.Error(), "tag") {
		t.Fatalf("CHECK after tag changed: want code 101 naming tag, got %v", err)
	}
	if err := o.Host.Status(c); err != nil {
		t.Fatalf("STATUS with vlan-limit=2: %v", err)
	}
	o.Vsctl("set", "Open_vSwitch", ".", "other_config:vlan-limit=1")
	defer o.Vsctl("set", "Open_vSwitch", ".", "other_config:vlan-limit=2")
	err := o.Host.Status(c)
	if testenv.CNICode(err) != 50 || !strings.Contains(err.Error(), "Max VLAN headers") {
		t.Fatalf("STATUS with vlan-limit=1: want code 50 explaining the restart, got %v", err)
	}
}

// ovs-cni (the real one, bin/ovs) makes an access port; qinq, chained after
// it, turns that port into a dot1q-tunnel port and DEL gives it back.
func TestOVS_ChainedAfterOvsCniTunnelsItsPortAndDELRestoresIt(t *testing.T) {
	o, br, far := bridgeWithUplink(t)
	ctr, cb := testenv.NewContainer(t), testenv.NewContainer(t)
	ovsCNI := testenv.Binary(env.Tool("ovs"))
	first := testenv.Conf{"cniVersion": "1.0.0", "name": "chain", "type": "ovs", "bridge": br, "vlan": 5}
	r, err := o.Host.Invoke("ADD", first, ctr, "net1", ovsCNI)
	if err != nil {
		t.Fatalf("ovs-cni ADD: %v", err)
	}
	prev := testenv.Result(t, r)
	port := o.Ports(br)[0]
	before := portVLANColumns(o, port)
	chained := testenv.QinQ("1.0.0", "chain").With("mode", "ovs", "sVlan", 500, "allowedCVlans", []int{10})
	out := o.Host.Add(chained.With("prevResult", prev), ctr, "net1")
	if len(out.Interfaces) != len(prev.Interfaces) || out.Interfaces[0].Name != port {
		t.Fatalf("prevResult not passed through: %+v", out.Interfaces)
	}
	wantPortColumns(t, o, port, map[string]string{"vlan_mode": "dot1q-tunnel", "tag": "500", "cvlans": "[10]", "other_config:qinq-ethtype": `"802.1ad"`})
	ctr.Do(t, func() error { return testenv.AddVLAN(testenv.VLAN{Parent: "net1", ID: 10, Addr: "10.44.0.1/24"}) })
	far.Add(qinq(500, 10).WithStaticIP("10.44.0.2/24"), cb, "net1")
	stop := far.Capture("wire0")
	if err := testenv.Echo(t, ctr, cb, "10.44.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	testenv.AssertTags(t, stop(), testenv.Tag8021AD(500), testenv.Tag8021Q(10))
	if err := o.Host.Check(chained, ctr, "net1", out); err != nil {
		t.Fatalf("qinq CHECK: %v", err)
	}
	// Documented in docs/ovs.md: ovs-cni's own CHECK compares the port with its
	// access-port config, so it fails once qinq has reconfigured the port.
	if err := o.Host.Check(first, ctr, "net1", out, ovsCNI); err == nil {
		t.Fatal("ovs-cni CHECK passed on a dot1q-tunnel port: docs/ovs.md's advice to skip it is out of date")
	} else {
		t.Logf("ovs-cni CHECK on the dot1q-tunnel port, as documented: %v", err)
	}
	o.Host.Del(chained.With("prevResult", out), ctr, "net1")
	if after := portVLANColumns(o, port); after != before {
		t.Fatalf("after DEL the port is\n%s\nwant ovs-cni's own settings back:\n%s", after, before)
	}
	if _, err := o.Host.Invoke("DEL", first.With("prevResult", out), ctr, "net1", ovsCNI); err != nil {
		t.Fatalf("ovs-cni DEL: %v", err)
	}
	if left := o.Ports(br); len(left) != 0 {
		t.Fatalf("ports left after both DELs: %v", left)
	}
}

func TestOVS_ChainedRefusesCVlansWithCode7(t *testing.T) {
	o := env.StartOVS(t)
	ctr := testenv.NewContainer(t)
	chained := testenv.QinQ("1.0.0", "chain").With("mode", "ovs", "sVlan", 500, "cVlans", []int{10})
	_, err := o.Host.Invoke("ADD", chained, ctr, "net1")
	if testenv.CNICode(err) != 7 || !strings.Contains(err.Error(), "cVlans") {
		t.Fatalf("want code 7 naming cVlans, got %v", err)
	}
}

// portVLANColumns is what qinq may change on a chained port.
func portVLANColumns(o *testenv.OVS, port string) string {
	return strings.Join(o.PortColumns(port, "vlan_mode", "tag", "trunks", "cvlans", "other_config", "external_ids"), "\n")
}

func TestOVS_GCRemovesPortsOfAttachmentsNotValidAndReleasesTheirIPAM(t *testing.T) {
	o := env.StartOVS(t)
	br := o.NewBridge()
	ipamDir := t.TempDir()
	cf := ovsConf(br, 600, 60).WithHostLocal(ipamDir, "10.60.0.0/24")
	gone, kept := testenv.NewContainer(t), testenv.NewContainer(t)
	before := hostVeths(t, o)
	o.Host.Add(cf, gone, "net1")
	o.Host.Add(cf, kept, "net1")
	if n := len(o.Ports(br)); n != 2 {
		t.Fatalf("%d ports after two ADDs", n)
	}
	gc(t, o.Host, cf, kept)
	if left := o.Ports(br); len(left) != 1 {
		t.Fatalf("ports after GC keeping one attachment: %v", left)
	}
	if got := len(newVeths(t, o, before)); got != 1 {
		t.Fatalf("%d new host veths after GC, want the kept one only", got)
	}
	testenv.AssertOnlyLoopback(t, gone)
	if n := len(testenv.HostLocalAllocations(ipamDir, "qinq-ovs-test")); n != 1 {
		t.Fatalf("%d host-local allocations after GC, want the kept one only", n)
	}
	gc(t, o.Host, cf)
	if left := o.Ports(br); len(left) != 0 {
		t.Fatalf("ports after GC with no valid attachment: %v", left)
	}
}

// GC's sweep goes by this network's records: an ADD killed between its veth
// and its port leaves a record, and GC of its network deletes the veth; GC
// of another network does not, and a qinq veth no record names (another
// store's, or one whose record was lost) is kept.
func TestOVS_GCDeletesAVethAnADDDiedBeforeMakingItsPortOnlyForItsOwnNetwork(t *testing.T) {
	o := env.StartOVS(t)
	br := o.NewBridge()
	o.Host.Do(func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "qovsdeadbeef"
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "qovsdeadpeer"})
	})
	before := hostVeths(t, o)
	mine, theirs := ovsConf(br, 700, 10), ovsConf(br, 701, 10).With("name", "qinq-ovs-other")
	c := testenv.NewContainer(t)
	if _, err := o.Host.Invoke("ADD", mine, c, "net1", testenv.Binary(faultsBin()), testenv.ExtraEnv("QINQ_FAULT=kill@"+fault.Renamed)); err == nil {
		t.Fatal("the killed ADD reported success")
	}
	killed := newVeths(t, o, before)
	if len(killed) != 1 || len(o.Ports(br)) != 0 {
		t.Fatalf("after the kill: new veths %v, ports %v; want one veth and no port", killed, o.Ports(br))
	}
	gc(t, o.Host, theirs)
	if left := newVeths(t, o, before); len(left) != 1 {
		t.Fatalf("GC of another network took the veth of this one's killed ADD: %v left", left)
	}
	gc(t, o.Host, mine)
	if left := newVeths(t, o, before); len(left) != 0 {
		t.Fatalf("GC of its network kept the veth of a killed ADD: %v", left)
	}
	if _, err := testenv.LinkByName(o.Host.NS, "qovsdeadbeef"); err != nil {
		t.Fatal("GC deleted a qinq veth no record of its network names")
	}
}

// prevResult is the NAD author's: a chained config in another pod that names
// this pod's port must not reconfigure it. Control:
// the same config in the port's own pod does.
func TestOVS_ChainedRefusesAPortWhoseVethIsNotInTheContainer(t *testing.T) {
	o, br, _ := bridgeWithUplink(t)
	victim, attacker := testenv.NewContainer(t), testenv.NewContainer(t)
	first := testenv.Conf{"cniVersion": "1.0.0", "name": "chain", "type": "ovs", "bridge": br, "vlan": 5}
	r, err := o.Host.Invoke("ADD", first, victim, "net1", testenv.Binary(env.Tool("ovs")))
	if err != nil {
		t.Fatalf("ovs-cni ADD: %v", err)
	}
	port := o.Ports(br)[0]
	before := portVLANColumns(o, port)
	chained := testenv.QinQ("1.0.0", "chain").With("mode", "ovs", "sVlan", 666, "allowedCVlans", []int{10})
	forged := map[string]any{"cniVersion": "1.0.0", "interfaces": []map[string]any{{"name": port}}}
	_, err = o.Host.Invoke("ADD", chained.With("prevResult", forged), attacker, "net1")
	testenv.WantCNIError(t, err, 7, "prevResult", "not the host end of a veth whose other end is in CNI_NETNS")
	if after := portVLANColumns(o, port); after != before {
		t.Fatalf("another pod's chained ADD reconfigured the victim's port:\n%s\nwas\n%s", after, before)
	}
	out := o.Host.Add(chained.With("prevResult", testenv.Result(t, r)), victim, "net1")
	wantPortColumns(t, o, port, map[string]string{"vlan_mode": "dot1q-tunnel", "tag": "666"})
	o.Host.Del(chained.With("prevResult", out), victim, "net1")
}
