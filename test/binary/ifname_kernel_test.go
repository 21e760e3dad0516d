//go:build kerneltest

package binary

import (
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// CNI_IFNAME may name a link the node's namespace holds too: a Kubernetes
// pod's first network is eth0, and so is the node's NIC. The kernel looks a
// new link's name up in the namespace the request comes from as well
// (__rtnl_newlink), so each container link is asked for where its name must
// be free. Here the pod's link takes the name of the node's master (the
// OVS uplink for OVS mode). Control: the node holds that name all along.
func TestIfname_APodsLinkMayBeNamedAfterALinkOfTheNode(t *testing.T) {
	for _, c := range []struct {
		name, kind string
		pod, far   testenv.Conf
	}{
		{"bridge", "veth", bridged(150, 10), qinq(150, 10)},
		{"vlan", "vlan", qinq(151, 10), qinq(151, 10)},
		{"macvlan", "macvlan", shared("macvlan", 152, 10), qinq(152, 10)},
		{"ipvlan", "ipvlan", shared("ipvlan", 153, 10), qinq(153, 10)},
		{"tunnel mode", "vlan", qinq(154), qinq(154)}, // made on the master itself
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, 1500)
			pod, far := testenv.NewContainer(t), testenv.NewContainer(t)
			cf := c.pod.WithStaticIP("10.150.0.1/24")
			p.a.Add(cf, pod, "wire0")
			p.b.Add(c.far.WithStaticIP("10.150.0.9/24"), far, "net1")
			if l := testenv.Link(t, pod.NS, "wire0"); l.Type() != c.kind {
				t.Fatalf("the pod's wire0 is a %s, want a %s", l.Type(), c.kind)
			}
			testenv.Link(t, p.a.NS, "wire0") // control: the node's master kept its name
			if err := testenv.Echo(t, pod, far, "10.150.0.9", 1000); err != nil {
				t.Fatal(err)
			}
			p.a.Del(cf, pod, "wire0")
			assertClean(t, p.a, "", pod)
		})
	}
	t.Run("OVS", func(t *testing.T) {
		o, br, far := bridgeWithUplink(t)
		uplink := o.UplinkName(br)
		// Without a C-tag the veth's container end is CNI_IFNAME itself.
		for _, c := range []struct{ pod, far testenv.Conf }{
			{ovsConf(br, 155), qinq(155)},
			{ovsConf(br, 155, 10), qinq(155, 10)},
		} {
			pod, peer := testenv.NewContainer(t), testenv.NewContainer(t)
			cf, farConf := c.pod.WithStaticIP("10.155.0.1/24"), c.far
			o.Host.Add(cf, pod, uplink)
			far.Add(farConf.WithStaticIP("10.155.0.9/24"), peer, "net1")
			testenv.Link(t, o.Host.NS, uplink) // control: the node's link kept its name
			if err := testenv.Echo(t, pod, peer, "10.155.0.9", 1000); err != nil {
				t.Fatalf("%v: %v", cf, err)
			}
			o.Host.Del(cf, pod, uplink)
			far.Del(farConf.WithStaticIP("10.155.0.9/24"), peer, "net1")
			testenv.AssertOnlyLoopback(t, pod)
		}
	})
}
