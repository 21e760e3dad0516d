//go:build kerneltest

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// The far end of every OVS test is a kernel-mode qinq container on a node
// joined to the bridge by a veth wire: what the OVS container sends must
// arrive there as a real 802.1ad frame, and the capture on that wire shows it.

func TestOVS_StandaloneFramesCarry88a8ThenC8100(t *testing.T) {
	host := needOVS(t)
	br, far := newBridge(t), newNode(t)
	uplink(t, host, br, far)
	ca, cb := newContainer(t), newContainer(t)
	c := ovsConf(br, 100, 10).withIP("10.40.0.1/24")
	before := hostVeths(t)
	res := host.add(c, ca, "net1")
	far.add(qinq(100, 10).withIP("10.40.0.2/24"), cb, "net1")

	if mtu := linkIn(t, ca.ns, "net1").Attrs().MTU; mtu != 1496 {
		t.Fatalf("container MTU %d, want 1496 (bridge 1500 minus the C-tag)", mtu)
	}
	port := portsOf(t, br)[0]
	for col, want := range map[string]string{"vlan_mode": "dot1q-tunnel", "tag": "100", "cvlans": "[10]", "other_config:qinq-ethtype": `"802.1ad"`} {
		if got := portColumn(t, port, col); got != want {
			t.Errorf("port %s %s = %s, want %s", port, col, got, want)
		}
	}
	stop := capture(t, far, "wire0")
	if err := exchange(t, ca, cb, "10.40.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	assertTags(t, stop(), tag{tpidS, 100}, tag{tpidC, 10})
	if err := host.check(c, ca, "net1", res); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}
	host.del(c.with("prevResult", res), ca, "net1")
	if left := portsOf(t, br); len(left) != 0 {
		t.Fatalf("ports left on %s after DEL: %v", br, left)
	}
	if left := newVeths(t, before); len(left) != 0 {
		t.Fatalf("veths left on the host after DEL: %v", left)
	}
	onlyLoopback(t, ca)
	host.del(c, ca, "net1") // DEL is idempotent
}

// OVS matches at most two VLAN headers: a container stacking two C-tags
// behind a dot1q-tunnel port would need a third, and OVS drops such frames.
func TestOVS_StandaloneRefusesTwoCVlansWithCode7(t *testing.T) {
	host := needOVS(t)
	br := newBridge(t)
	ctr := newContainer(t)
	_, err := host.exec("ADD", ovsConf(br, 110, 50, 10), ctr, "net1")
	if cniCode(err) != 7 || !strings.Contains(err.Error(), "cVlans") {
		t.Fatalf("want code 7 naming cVlans, got %v", err)
	}
	if left := portsOf(t, br); len(left) != 0 {
		t.Fatalf("refused ADD left ports: %v", left)
	}
	onlyLoopback(t, ctr)
}

func TestOVS_TunnelModeCiscoStyleContainerTagsItsOwnCVLANs(t *testing.T) {
	host := needOVS(t)
	br, far := newBridge(t), newNode(t)
	uplink(t, host, br, far)
	router, cb := newContainer(t), newContainer(t)
	host.add(ovsConf(br, 3015).with("sProto", "802.1Q"), router, "ether1")
	if got := portColumn(t, portsOf(t, br)[0], "other_config:qinq-ethtype"); got != `"802.1q"` {
		t.Fatalf("qinq-ethtype %s, want 802.1q", got)
	}
	addVLAN(t, router, "ether1", 10, "10.42.0.1/24")
	far.add(qinq(3015, 10).with("sProto", "802.1Q").withIP("10.42.0.2/24"), cb, "net1")
	stop := capture(t, far, "wire0")
	if err := exchange(t, router, cb, "10.42.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	assertTags(t, stop(), tag{tpidC, 3015}, tag{tpidC, 10})
}

func TestOVS_AllowedCVlansDropsACVLANNotAllowed(t *testing.T) {
	host := needOVS(t)
	br, far := newBridge(t), newNode(t)
	uplink(t, host, br, far)
	router, on10, on11 := newContainer(t), newContainer(t), newContainer(t)
	host.add(ovsConf(br, 200).with("allowedCVlans", []int{10}), router, "ether1")
	addVLAN(t, router, "ether1", 10, "10.43.10.1/24")
	addVLAN(t, router, "ether1", 11, "10.43.11.1/24")
	far.add(qinq(200, 10).withIP("10.43.10.2/24"), on10, "net1")
	far.add(qinq(200, 11).withIP("10.43.11.2/24"), on11, "net1")
	if err := exchange(t, router, on10, "10.43.10.2", 1000); err != nil {
		t.Fatalf("allowed C-VLAN 10: %v", err)
	}
	if !unreachable(t, router, on11, "10.43.11.2") {
		t.Fatal("C-VLAN 11 is not in allowedCVlans but crossed the dot1q-tunnel port")
	}
}

func TestOVS_FailedADDLeavesNoPortAndNoLink(t *testing.T) {
	host := needOVS(t)
	br := newBridge(t)
	ctr := newContainer(t)
	// IPAM fails after the veth, the C-link and the port exist.
	bad := ovsConf(br, 300, 30).with("ipam", map[string]any{"type": "static", "addresses": []map[string]string{{"address": "not-an-ip"}}})
	before := hostVeths(t)
	_, err := host.exec("ADD", bad, ctr, "net1")
	if err == nil {
		t.Fatal("ADD with a broken IPAM config succeeded")
	}
	t.Logf("ADD refused: %v", err)
	if left := portsOf(t, br); len(left) != 0 {
		t.Fatalf("failed ADD left ports on %s: %v", br, left)
	}
	if left := newVeths(t, before); len(left) != 0 {
		t.Fatalf("failed ADD left veths on the host: %v", left)
	}
	onlyLoopback(t, ctr)
	_, err = host.exec("ADD", ovsConf("nosuchbr", 300), ctr, "net1")
	if cniCode(err) != 7 || !strings.Contains(err.Error(), "bridge") {
		t.Fatalf("ADD on a missing bridge: want code 7 naming bridge, got %v", err)
	}
}

func TestOVS_CheckFindsAChangedPortAndStatusWantsVLANLimit2(t *testing.T) {
	host := needOVS(t)
	br := newBridge(t)
	ctr := newContainer(t)
	c := ovsConf(br, 400, 40)
	res := host.add(c, ctr, "net1")
	if err := host.check(c, ctr, "net1", res); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	vsctl(t, "set", "Port", portsOf(t, br)[0], "tag=401")
	if err := host.check(c, ctr, "net1", res); cniCode(err) != 101 || !strings.Contains(err.Error(), "tag") {
		t.Fatalf("CHECK after tag changed: want code 101 naming tag, got %v", err)
	}
	if _, err := host.exec("STATUS", c, ctr, "net1"); err != nil {
		t.Fatalf("STATUS with vlan-limit=2: %v", err)
	}
	vsctl(t, "set", "Open_vSwitch", ".", "other_config:vlan-limit=1")
	defer vsctl(t, "set", "Open_vSwitch", ".", "other_config:vlan-limit=2")
	_, err := host.exec("STATUS", c, ctr, "net1")
	if cniCode(err) != 50 || !strings.Contains(err.Error(), "Max VLAN headers") {
		t.Fatalf("STATUS with vlan-limit=1: want code 50 explaining the restart, got %v", err)
	}
}

// ovs-cni (the real one, bin/ovs) makes an access port; qinq, chained after
// it, turns that port into a dot1q-tunnel port and DEL gives it back.
func TestOVS_ChainedAfterOvsCniTunnelsItsPortAndDELRestoresIt(t *testing.T) {
	host := needOVS(t)
	br, far := newBridge(t), newNode(t)
	uplink(t, host, br, far)
	ctr, cb := newContainer(t), newContainer(t)
	ovsCNI := filepath.Join(cniPath, "ovs")
	first := conf{"cniVersion": "1.0.0", "name": "chain", "type": "ovs", "bridge": br, "vlan": 5}
	r, err := host.execBin(ovsCNI, "ADD", first, ctr, "net1")
	if err != nil {
		t.Fatalf("ovs-cni ADD: %v", err)
	}
	prev := resultOf(t, r)
	port := portsOf(t, br)[0]
	before := portVLANColumns(t, port)
	chained := conf{"cniVersion": "1.0.0", "name": "chain", "type": "qinq", "mode": "ovs", "sVlan": 500, "allowedCVlans": []int{10}}
	out := host.add(chained.with("prevResult", prev), ctr, "net1")
	if len(out.Interfaces) != len(prev.Interfaces) || out.Interfaces[0].Name != port {
		t.Fatalf("prevResult not passed through: %+v", out.Interfaces)
	}
	for col, want := range map[string]string{"vlan_mode": "dot1q-tunnel", "tag": "500", "cvlans": "[10]", "other_config:qinq-ethtype": `"802.1ad"`} {
		if got := portColumn(t, port, col); got != want {
			t.Errorf("port %s %s = %s, want %s", port, col, got, want)
		}
	}
	addVLAN(t, ctr, "net1", 10, "10.44.0.1/24")
	far.add(qinq(500, 10).withIP("10.44.0.2/24"), cb, "net1")
	stop := capture(t, far, "wire0")
	if err := exchange(t, ctr, cb, "10.44.0.2", 1496); err != nil {
		t.Fatal(err)
	}
	assertTags(t, stop(), tag{tpidS, 500}, tag{tpidC, 10})
	if err := host.check(chained, ctr, "net1", out); err != nil {
		t.Fatalf("qinq CHECK: %v", err)
	}
	// Documented in README: ovs-cni's own CHECK compares the port with its
	// access-port config, so it fails once qinq has reconfigured the port.
	_, err = host.execBin(ovsCNI, "CHECK", first.with("prevResult", out), ctr, "net1")
	if err == nil {
		t.Fatal("ovs-cni CHECK passed on a dot1q-tunnel port: README's advice to skip it is out of date")
	}
	t.Logf("ovs-cni CHECK on the dot1q-tunnel port, as documented: %v", err)
	host.del(chained.with("prevResult", out), ctr, "net1")
	if after := portVLANColumns(t, port); after != before {
		t.Fatalf("after DEL the port is\n%s\nwant ovs-cni's own settings back:\n%s", after, before)
	}
	if _, err := host.execBin(ovsCNI, "DEL", first.with("prevResult", out), ctr, "net1"); err != nil {
		t.Fatalf("ovs-cni DEL: %v", err)
	}
	if left := portsOf(t, br); len(left) != 0 {
		t.Fatalf("ports left after both DELs: %v", left)
	}
}

func TestOVS_ChainedRefusesCVlansWithCode7(t *testing.T) {
	host := needOVS(t)
	ctr := newContainer(t)
	_, err := host.exec("ADD", conf{"cniVersion": "1.0.0", "name": "chain", "type": "qinq", "mode": "ovs", "sVlan": 500, "cVlans": []int{10}}, ctr, "net1")
	if cniCode(err) != 7 || !strings.Contains(err.Error(), "cVlans") {
		t.Fatalf("want code 7 naming cVlans, got %v", err)
	}
}

// portVLANColumns is what qinq may change on a chained port.
func portVLANColumns(t *testing.T, port string) string {
	var b strings.Builder
	for _, col := range []string{"vlan_mode", "tag", "trunks", "cvlans", "other_config", "external_ids"} {
		b.WriteString(col + "=" + portColumn(t, port, col) + "\n")
	}
	return b.String()
}

func TestOVS_GCRemovesPortsOfAttachmentsNotValidAndReleasesTheirIPAM(t *testing.T) {
	host := needOVS(t)
	br := newBridge(t)
	ipamDir := t.TempDir()
	cf := ovsConf(br, 600, 60).withHostLocal(ipamDir, "10.60.0.0/24")
	gone, kept := newContainer(t), newContainer(t)
	before := hostVeths(t)
	host.add(cf, gone, "net1")
	host.add(cf, kept, "net1")
	if n := len(portsOf(t, br)); n != 2 {
		t.Fatalf("%d ports after two ADDs", n)
	}
	host.gc(t, cf, kept)
	if left := portsOf(t, br); len(left) != 1 {
		t.Fatalf("ports after GC keeping one attachment: %v", left)
	}
	if got := len(newVeths(t, before)); got != 1 {
		t.Fatalf("%d new host veths after GC, want the kept one only", got)
	}
	onlyLoopback(t, gone)
	files, _ := os.ReadDir(filepath.Join(ipamDir, "qinq-ovs-test"))
	if n := countIPFiles(files); n != 1 {
		t.Fatalf("%d host-local allocations after GC, want the kept one only", n)
	}
	host.gc(t, cf)
	if left := portsOf(t, br); len(left) != 0 {
		t.Fatalf("ports after GC with no valid attachment: %v", left)
	}
}

func TestOVS_GCDeletesAVethAnADDDiedBeforeMakingItsPort(t *testing.T) {
	host := needOVS(t)
	br := newBridge(t)
	// What an ADD killed between the veth and the port leaves on the host.
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "qovsdeadbeef"
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "qovsdeadpeer"}); err != nil {
		t.Fatal(err)
	}
	host.gc(t, ovsConf(br, 700))
	if _, err := netlink.LinkByName("qovsdeadbeef"); err == nil {
		t.Fatal("GC kept a qinq host veth that no OVS port uses")
	}
}
