//go:build kerneltest

package binary

import (
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// An OVSDB server's answer never alone names a host link for DEL or GC to
// delete (issue 17: a NAD could point ovsdbSocket at a server its author
// runs). Here OVSDB holds a port that claims a container's attachment in
// qinq's external_ids but is named after another pod's veth: DEL and GC
// remove the port and keep the veth. The control: the same port with the
// name qinq gives that attachment loses its veth too.
func TestOVS_DELAndGCKeepAVethOVSDBNamesThatQinqDidNotName(t *testing.T) {
	o := env.StartOVS(t)
	br := o.NewBridge()
	cf := ovsConf(br, 800, 80)
	for _, tc := range []struct {
		name, veth string
		verb       string
		deleted    bool
	}{
		{"DEL, a foreign name", "victim0", "DEL", false},
		{"GC, a foreign name", "victim1", "GC", false},
		{"DEL, qinq's name (control)", "", "DEL", true},
		{"GC, qinq's name (control)", "", "GC", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testenv.NewContainer(t)
			veth := tc.veth
			if veth == "" {
				veth = plan.HostVethName("qinq-ovs-test", c.ID, "net1")
			}
			claim(t, o, br, veth, c)
			if tc.verb == "DEL" {
				o.Host.Del(cf, c, "net1")
			} else {
				gc(t, o.Host, cf)
			}
			_, err := testenv.LinkByName(o.Host.NS, veth)
			if gone := err != nil; gone != tc.deleted {
				t.Fatalf("%s: veth %s deleted=%v, want %v", tc.verb, veth, gone, tc.deleted)
			}
			if left := o.Ports(br); len(left) != 0 {
				t.Errorf("ports left: %v", left)
			}
			if !tc.deleted {
				o.Host.Do(func() error { return testenv.DelLink(veth) })
			}
		})
	}
}

// claim makes a host veth named veth and a port of it on br whose
// external_ids say it is container c's net1 in network qinq-ovs-test.
func claim(t *testing.T, o *testenv.OVS, br, veth string, c *testenv.Container) {
	t.Helper()
	o.Host.Do(func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = veth
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: veth[:len(veth)-1] + "p"})
	})
	o.Vsctl("add-port", br, veth, "--", "set", "Port", veth,
		"external_ids:qinq-cni-owner=qinq-cni", "external_ids:qinq-cni-network=qinq-ovs-test",
		"external_ids:qinq-cni-container-id="+c.ID, "external_ids:qinq-cni-ifname=net1",
		"external_ids:qinq-cni-netns="+c.NetNSPath())
}
