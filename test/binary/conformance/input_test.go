//go:build kerneltest

package conformance

import (
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// TestEnv: the CNI_* variables. libcni always sets them right, so these go
// through a raw environment.
func TestEnv(t *testing.T) {
	good := qinq("1.0.0", 100, 10)
	cases := []struct {
		name string
		vars func(c *testenv.Container) testenv.Vars
		code uint
		says []string
	}{
		{"CNI_COMMAND unknown is code 4", func(c *testenv.Container) testenv.Vars { return env.Vars("FOO", c, "net1") }, 4, []string{"CNI_COMMAND", "FOO"}},
		{"CNI_CONTAINERID missing is code 4", func(c *testenv.Container) testenv.Vars { return env.Vars("ADD", c, "net1").Without("CNI_CONTAINERID") }, 4, []string{"CNI_CONTAINERID"}},
		{"CNI_CONTAINERID with a slash is code 4", func(c *testenv.Container) testenv.Vars {
			return env.Vars("ADD", c, "net1").With("CNI_CONTAINERID", "a/b")
		}, 4, []string{"containerID"}},
		{"CNI_NETNS missing is code 4", func(c *testenv.Container) testenv.Vars { return env.Vars("ADD", c, "net1").Without("CNI_NETNS") }, 4, []string{"CNI_NETNS"}},
		{"CNI_IFNAME missing is code 4", func(c *testenv.Container) testenv.Vars { return env.Vars("ADD", c, "net1").Without("CNI_IFNAME") }, 4, []string{"CNI_IFNAME"}},
		{"CNI_IFNAME too long is code 4", func(c *testenv.Container) testenv.Vars {
			return env.Vars("ADD", c, "net1").With("CNI_IFNAME", "abcdefghijklmnop")
		}, 4, []string{"interface name"}},
		{"CNI_IFNAME with a slash is code 4", func(c *testenv.Container) testenv.Vars { return env.Vars("ADD", c, "net1").With("CNI_IFNAME", "net/1") }, 4, []string{"interface name"}},
		{"CNI_IFNAME dot-dot is code 4", func(c *testenv.Container) testenv.Vars { return env.Vars("ADD", c, "net1").With("CNI_IFNAME", "..") }, 4, []string{"interface name"}},
		{"CNI_PATH missing is code 4", func(c *testenv.Container) testenv.Vars { return env.Vars("ADD", c, "net1").Without("CNI_PATH") }, 4, []string{"CNI_PATH"}},
		{"DEL without CNI_CONTAINERID is code 4", func(c *testenv.Container) testenv.Vars { return env.Vars("DEL", c, "net1").Without("CNI_CONTAINERID") }, 4, []string{"CNI_CONTAINERID"}},
		{"CHECK without CNI_NETNS is code 4", func(c *testenv.Container) testenv.Vars { return env.Vars("CHECK", c, "net1").Without("CNI_NETNS") }, 4, []string{"CNI_NETNS"}},
		{"GC without CNI_PATH is code 4", func(c *testenv.Container) testenv.Vars { return testenv.Vars{"CNI_COMMAND": "GC"} }, 4, []string{"CNI_PATH"}},
		{"CNI_NETNS that does not exist is code 3", func(c *testenv.Container) testenv.Vars {
			return env.Vars("ADD", c, "net1").With("CNI_NETNS", "/var/run/netns/conformance-no-such-ns")
		}, 3, []string{"CNI_NETNS"}},
	}
	for _, tc := range cases {
		spec(t, tc.name, func(t *testing.T) {
			w, c := newWorld(t, 1)
			before := w.Snapshot()
			stdin := good.Bytes()
			if strings.Contains(tc.name, "CHECK") {
				stdin = good.With("prevResult", map[string]any{"cniVersion": "1.0.0"}).Bytes()
			}
			w.Node.Raw(tc.vars(c[0]), stdin).Fails(t, tc.code, tc.says...)
			w.Unchanged(before)
		})
	}

	spec(t, "CNI_NETNS the node's own namespace is code 4", func(t *testing.T) {
		w, c := newWorld(t, 1)
		before := w.Snapshot()
		w.Node.Raw(env.Vars("ADD", c[0], "net1").With("CNI_NETNS", w.Node.NS.Path()), good.Bytes()).Fails(t, 4, "CNI_NETNS")
		w.Unchanged(before)
	})

	// Without CNI_COMMAND, as when someone runs it by hand, qinq says on
	// stderr what it is and which versions it speaks, writes nothing on
	// stdout (no result, no CNI error: nothing asked for one) and exits
	// non-zero (issue 12: it did not do what a runtime asks for).
	spec(t, "CNI_COMMAND missing prints the versions and changes nothing", func(t *testing.T) {
		w, c := newWorld(t, 1)
		before := w.Snapshot()
		o := w.Node.Raw(env.Vars("ADD", c[0], "net1").Without("CNI_COMMAND"), good.Bytes())
		if o.Exit == 0 || len(o.Stdout) != 0 || !strings.Contains(string(o.Stderr), strings.Join(allVersions, ", ")) {
			t.Fatalf("want a non-zero exit, empty stdout, the versions on stderr: %v", o)
		}
		w.Unchanged(before)
	})
}

// TestStdin: what is not JSON is code 6.
func TestStdin(t *testing.T) {
	for _, tc := range []struct{ name, stdin string }{
		{"empty stdin is code 6", ""},
		{"truncated JSON is code 6", `{"cniVersion":"1.0.0","name":"conf","type":"qinq"`},
		{"not JSON is code 6", `cniVersion: 1.0.0`},
		{"a JSON list is code 6", `[{"name":"conf"}]`},
	} {
		spec(t, tc.name, func(t *testing.T) {
			w, c := newWorld(t, 1)
			before := w.Snapshot()
			for _, cmd := range []string{"ADD", "DEL", "CHECK"} {
				w.Node.Raw(env.Vars(cmd, c[0], "net1"), []byte(tc.stdin)).Fails(t, 6)
			}
			w.Unchanged(before)
		})
	}
}

// TestConfig: invalid network configurations are code 7, the message starts
// with the key, and nothing changes.
func TestConfig(t *testing.T) {
	base := qinq("1.0.0", 100, 10)
	ovs := testenv.Conf{"cniVersion": "1.0.0", "name": "conf", "type": "qinq", "mode": "ovs", "sVlan": 100}
	cases := []struct {
		name string
		conf testenv.Conf
		key  string
	}{
		{"sVlan 0", base.With("sVlan", 0), "sVlan"},
		{"sVlan 4095", base.With("sVlan", 4095), "sVlan"},
		{"sVlan 4096", base.With("sVlan", 4096), "sVlan"},
		{"sVlan -1", base.With("sVlan", -1), "sVlan"},
		{`sVlan "10" (a string)`, base.With("sVlan", "10"), "sVlan"},
		{"sVlan 1.5", base.With("sVlan", 1.5), "sVlan"},
		{"sVlan missing", base.Without("sVlan"), "sVlan"},
		{`sProto "802.1x"`, base.With("sProto", "802.1x"), "sProto"},
		{`sProto "0x9100" (Linux cannot send it)`, base.With("sProto", "0x9100"), "sProto"},
		{`sProto "0x88a8" (a TPID, not a name)`, base.With("sProto", "0x88a8"), "sProto"},
		{"sProto 34984 (a number)", base.With("sProto", 34984), "sProto"},
		{"cVlans [0]", base.With("cVlans", []int{0}), "cVlans[0]"},
		{"cVlans [4095]", base.With("cVlans", []int{4095}), "cVlans[0]"},
		{"cVlans [10, -3]", base.With("cVlans", []int{10, -3}), "cVlans[1]"},
		{"cVlans [10, 10] (duplicate)", base.With("cVlans", []int{10, 10}), "cVlans"},
		{"cVlans [1,2,3,4,5] (too deep)", base.With("cVlans", []int{1, 2, 3, 4, 5}), "cVlans"},
		{"cVlans 10 (not a list)", base.With("cVlans", 10), "cVlans"},
		{`cVlans ["10"]`, base.With("cVlans", []string{"10"}), "cVlans"},
		{"mtu 67", base.With("mtu", 67), "mtu"},
		{"mtu -1", base.With("mtu", -1), "mtu"},
		{"mtu 1501 above the S-link of a 1500 master", base.With("mtu", 1501), "mtu"},
		{"mtu 1497 above the outer C-link of QinQinQ", base.With("cVlans", []int{50, 10}, "mtu", 1497), "mtu"},
		{"mtu 1501 in tunnel mode above master", base.Without("cVlans").With("mtu", 1501), "mtu"},
		{`mtu "1500" (a string)`, base.With("mtu", "1500"), "mtu"},
		{"master missing", base.Without("master"), "master"},
		{`master ""`, base.With("master", ""), "master"},
		{"master name of 16 characters", base.With("master", "abcdefghijklmnop"), "master"},
		{`master "eth/1"`, base.With("master", "eth/1"), "master"},
		{"master not on the node", base.With("master", "eth9"), "master"},
		{"mac broadcast", base.With("mac", "ff:ff:ff:ff:ff:ff"), "mac"},
		{"mac multicast", base.With("mac", "01:00:5e:00:00:01"), "mac"},
		{"mac not a MAC", base.With("mac", "not-a-mac"), "mac"},
		{"mac of 20 bytes (InfiniBand)", base.With("mac", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"), "mac"},
		{"linkInContainer \"yes\"", base.With("linkInContainer", "yes"), "linkInContainer"},
		{`type "vlan"`, base.With("type", "vlan"), "type"},
		{`mode "tunnel"`, base.With("mode", "tunnel"), "mode"},
		{"ipam without type", base.With("ipam", map[string]any{"subnet": "10.0.0.0/24"}), "ipam.type"},
		{`ipam "host-local" (a string)`, base.With("ipam", "host-local"), "ipam"},
		{"bridge in kernel mode", base.With("bridge", "br0"), "bridge"},
		{"allowedCVlans in kernel mode", base.With("allowedCVlans", []int{10}), "allowedCVlans"},
		{"ovsdbSocket in kernel mode", base.With("ovsdbSocket", "unix:/run/ovs.sock"), "ovsdbSocket"},
		{"cVlans in chained OVS mode", ovs.With("cVlans", []int{10}), "cVlans"},
		{"master in OVS mode", ovs.With("master", "eth1"), "master"},
		{`ovsdbSocket "http://x" in OVS mode`, ovs.With("bridge", "br0", "ovsdbSocket", "http://x"), "ovsdbSocket"},
		{"allowedCVlans [4095] in OVS mode", ovs.With("allowedCVlans", []int{4095}), "allowedCVlans[0]"},
		{"linkInContainer in OVS mode", ovs.With("bridge", "br0", "linkInContainer", true), "linkInContainer"},
		{`prevResult "x" (not a result)`, base.With("prevResult", "x"), "prevResult"},
		{`containerLink "veth"`, base.With("containerLink", "veth"), "containerLink"},
		{`containerLink "Macvlan" (names are lower case)`, base.With("containerLink", "Macvlan"), "containerLink"},
		{"containerLink 1 (a number)", base.With("containerLink", 1), "containerLink"},
		{`containerLinkMode "l2" with macvlan`, base.With("containerLink", "macvlan", "containerLinkMode", "l2"), "containerLinkMode"},
		{`containerLinkMode "passthru" with macvlan`, base.With("containerLink", "macvlan", "containerLinkMode", "passthru"), "containerLinkMode"},
		{`containerLinkMode "bridge" with ipvlan`, base.With("containerLink", "ipvlan", "containerLinkMode", "bridge"), "containerLinkMode"},
		{"containerLinkMode with the vlan container link", base.With("containerLinkMode", "bridge"), "containerLinkMode"},
		{"mac with an ipvlan container link", base.With("containerLink", "ipvlan", "mac", "02:00:00:00:00:01"), "mac"},
		{"runtimeConfig.mac with an ipvlan container link", base.With("containerLink", "ipvlan", "runtimeConfig", map[string]string{"mac": "02:00:00:00:00:01"}), "runtimeConfig.mac"},
		{"runtimeConfig.mac multicast", base.With("runtimeConfig", map[string]string{"mac": "01:00:5e:00:00:01"}), "runtimeConfig.mac"},
		{"ipvlan in tunnel mode (the kernel refuses VLANs on an ipvlan)", base.Without("cVlans").With("containerLink", "ipvlan"), "containerLink"},
		{"macvlan with linkInContainer", base.With("containerLink", "macvlan", "linkInContainer", true), "containerLink"},
		{"macvlan in OVS mode", ovs.With("bridge", "br0", "containerLink", "macvlan"), "containerLink"},
		{"mtu 1497 above the shared C-link of a macvlan", base.With("containerLink", "macvlan", "mtu", 1497), "mtu"},
	}
	// One node and container for the whole table (each case still compares
	// its own before and after); a control case proves the base config and
	// the node are good, so a refusal is the key's doing.
	shared, c := newWorld(t, 1)
	spec(t, "control: the base config is accepted", func(t *testing.T) {
		w := shared.For(t)
		cf := base.WithHostLocal(ipamDir, "10.30.0.0/24")
		before := w.Snapshot()
		w.Node.Raw(env.Vars("ADD", c[0], "net1"), cf.Bytes()).OK(t)
		attached(t, w, before, true)
		w.Node.Raw(env.Vars("DEL", c[0], "net1"), cf.Bytes()).OK(t)
		w.Unchanged(before)
	})
	for _, tc := range cases {
		spec(t, tc.name+" is code 7 naming "+tc.key, func(t *testing.T) {
			w := shared.For(t)
			// With host-local IPAM: a refusal must come before any allocation.
			cf := tc.conf
			if _, ok := cf["ipam"]; !ok {
				cf = cf.WithHostLocal(ipamDir, "10.30.0.0/24")
			}
			before := w.Snapshot()
			e := w.Node.Raw(env.Vars("ADD", c[0], "net1"), cf.Bytes()).Fails(t, 7)
			if !strings.HasPrefix(e.Msg, tc.key+": ") {
				t.Fatalf("msg %q does not start with the key %q", e.Msg, tc.key)
			}
			w.Unchanged(before)
		})
	}
}
