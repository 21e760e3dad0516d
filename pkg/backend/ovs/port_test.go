package ovs

import (
	"errors"
	"slices"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
)

func parse(t *testing.T, js string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(js), "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTunnel_CVlansBecomeTheCvlansColumnAndTheEthtypeIsExplicit(t *testing.T) {
	c := parse(t, `{"cniVersion":"1.0.0","name":"n","type":"qinq","mode":"ovs","bridge":"br0","sVlan":100,"cVlans":[10]}`)
	v, err := tunnel(c)
	if err != nil {
		t.Fatal(err)
	}
	if *v.VLANMode != "dot1q-tunnel" || *v.Tag != 100 || !slices.Equal(v.CVlans, []int{10}) || v.QinQEthtype != "802.1ad" {
		t.Fatalf("got %s", v.Encode())
	}
	if v.Trunks != nil {
		t.Fatalf("trunks must be cleared, got %v", v.Trunks)
	}
}

// With C-VLANs the port admits exactly those, whatever allowedCVlans says:
// a container that tags its own frames (reorder_hdr off, raw frames) cannot
// send another C-VLAN through it.
func TestTunnel_CVlansAreExactlyTheCvlansColumnEvenWithAllowedCVlans(t *testing.T) {
	c := parse(t, `{"cniVersion":"1.0.0","name":"n","type":"qinq","mode":"ovs","bridge":"br0","sVlan":100,"cVlans":[10],"allowedCVlans":[10,20]}`)
	v, err := tunnel(c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.CVlans, []int{10}) {
		t.Fatalf("cvlans %v, want exactly the attachment's C-VLAN [10]", v.CVlans)
	}
}

func TestTunnel_AllowedCVlansWhenNoCVlans_CiscoEthtypeIs8021q(t *testing.T) {
	c := parse(t, `{"cniVersion":"1.0.0","name":"n","type":"qinq","mode":"ovs","sVlan":7,"sProto":"802.1Q","allowedCVlans":[5,3]}`)
	v, err := tunnel(c)
	if err != nil {
		t.Fatal(err)
	}
	if *v.Tag != 7 || !slices.Equal(v.CVlans, []int{3, 5}) || v.QinQEthtype != "802.1q" {
		t.Fatalf("got %s", v.Encode())
	}
}

func TestTunnel_NoListMeansAllCVlans(t *testing.T) {
	c := parse(t, `{"cniVersion":"1.0.0","name":"n","type":"qinq","mode":"ovs","bridge":"br0","sVlan":7}`)
	v, _ := tunnel(c)
	if len(v.CVlans) != 0 {
		t.Fatalf("cvlans %v, want empty (OVS: every C-VLAN allowed)", v.CVlans)
	}
}

// OVS's schema takes 4095 in cvlans and 0 as a tag: a config that got past
// pkg/config some other way must still not reach OVSDB.
func TestTunnel_RefusesReservedVIDsWithCode7(t *testing.T) {
	for _, c := range []*config.Config{
		{Backend: config.BackendOVS, SVlan: 0},
		{Backend: config.BackendOVS, SVlan: 4095},
		{Backend: config.BackendOVS, SVlan: 10, AllowedCVlans: []config.VID{1, 4095}},
		{Backend: config.BackendOVS, SVlan: 10, CVlans: []config.VID{0}},
	} {
		_, err := tunnel(c)
		var e *types.Error
		if !errors.As(err, &e) || e.Code != types.ErrInvalidNetworkConfig {
			t.Errorf("%+v: want code 7, got %v", c, err)
		}
	}
}

func TestOwner_ExternalIDsRoundTripAndForeignPortsAreNotOwned(t *testing.T) {
	a := plan.Attachment{Network: "n", ContainerID: "c1", IfName: "net1", Netns: "/var/run/netns/x"}
	got, ok := ownerOf(ownerIDs(a))
	if !ok || got != a {
		t.Fatalf("got %+v %v", got, ok)
	}
	if _, ok := ownerOf(map[string]string{keyContainerID: "c1"}); ok {
		t.Fatal("a port without the owner key must not count as ours")
	}
	if !sameAttachment(got, plan.Attachment{Network: "n", ContainerID: "c1", IfName: "net1", Netns: "/proc/1/ns/net"}) {
		t.Fatal("the netns path may differ between ADD and DEL")
	}
	if sameAttachment(got, plan.Attachment{Network: "n", ContainerID: "c1", IfName: "net2"}) {
		t.Fatal("another interface of the container is another attachment")
	}
}
