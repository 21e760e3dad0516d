package ovs

import (
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/config"
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
	v, err := Tunnel(c)
	if err != nil {
		t.Fatal(err)
	}
	if *v.Mode != "dot1q-tunnel" || *v.Tag != 100 || !slices.Equal(v.CVlans, []int{10}) || v.QinQEthtype != "802.1ad" {
		t.Fatalf("got %s", v.Encode())
	}
	if v.Trunks != nil {
		t.Fatalf("trunks must be cleared, got %v", v.Trunks)
	}
}

func TestTunnel_AllowedCVlansWhenNoCVlans_CiscoEthtypeIs8021q(t *testing.T) {
	c := parse(t, `{"cniVersion":"1.0.0","name":"n","type":"qinq","mode":"ovs","sVlan":7,"sProto":"802.1Q","allowedCVlans":[5,3]}`)
	v, err := Tunnel(c)
	if err != nil {
		t.Fatal(err)
	}
	if *v.Tag != 7 || !slices.Equal(v.CVlans, []int{3, 5}) || v.QinQEthtype != "802.1q" {
		t.Fatalf("got %s", v.Encode())
	}
}

func TestTunnel_NoListMeansAllCVlans(t *testing.T) {
	c := parse(t, `{"cniVersion":"1.0.0","name":"n","type":"qinq","mode":"ovs","bridge":"br0","sVlan":7}`)
	v, _ := Tunnel(c)
	if len(v.CVlans) != 0 {
		t.Fatalf("cvlans %v, want empty (OVS: every C-VLAN allowed)", v.CVlans)
	}
}

// OVS's schema takes 4095 in cvlans and 0 as a tag: a config that got past
// pkg/config some other way must still not reach OVSDB.
func TestTunnel_RefusesReservedVIDsWithCode7(t *testing.T) {
	for _, c := range []*config.Config{
		{Mode: config.ModeOVS, SVlan: 0},
		{Mode: config.ModeOVS, SVlan: 4095},
		{Mode: config.ModeOVS, SVlan: 10, AllowedCVlans: []config.VID{1, 4095}},
		{Mode: config.ModeOVS, SVlan: 10, CVlans: []config.VID{0}},
	} {
		_, err := Tunnel(c)
		var e *types.Error
		if err == nil || !asCNI(err, &e) || e.Code != types.ErrInvalidNetworkConfig {
			t.Errorf("%+v: want code 7, got %v", c, err)
		}
	}
}

func asCNI(err error, e **types.Error) bool {
	te, ok := err.(*types.Error)
	*e = te
	return ok
}

func TestEthtype_OnlyTwoSpellings(t *testing.T) {
	if Ethtype(netlink.VLAN_PROTOCOL_8021Q) != "802.1q" || Ethtype(netlink.VLAN_PROTOCOL_8021AD) != "802.1ad" {
		t.Fatal("wrong qinq-ethtype spelling")
	}
}

func TestVLANOf_RoundTripsThroughExternalIDs(t *testing.T) {
	mode, tag := "access", 42
	p := &Port{VLANMode: &mode, Tag: &tag, Trunks: []int{3, 1}, OtherConfig: map[string]string{EthtypeKey: "802.1q", "x": "y"}}
	saved := VLANOf(p)
	back, err := DecodeVLAN(saved.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if *back.Mode != "access" || *back.Tag != 42 || !slices.Equal(back.Trunks, []int{1, 3}) || back.QinQEthtype != "802.1q" {
		t.Fatalf("got %s", back.Encode())
	}
	empty, _ := DecodeVLAN(VLANOf(&Port{}).Encode())
	if empty.Mode != nil || empty.Tag != nil || empty.Trunks != nil {
		t.Fatalf("an unset port must restore to unset columns, got %s", empty.Encode())
	}
}

func TestMismatch_NamesTheColumn(t *testing.T) {
	c := &config.Config{Mode: config.ModeOVS, SVlan: 100, AllowedCVlans: []config.VID{10}, SProto: netlink.VLAN_PROTOCOL_8021AD}
	want, _ := Tunnel(c)
	if m := Mismatch(want, want); m != "" {
		t.Fatalf("equal settings: %s", m)
	}
	for col, got := range map[string]VLAN{
		"vlan_mode":    {Tag: want.Tag, CVlans: want.CVlans, QinQEthtype: "802.1ad"},
		"tag":          {Mode: want.Mode, CVlans: want.CVlans, QinQEthtype: "802.1ad"},
		"cvlans":       {Mode: want.Mode, Tag: want.Tag, CVlans: []int{11}, QinQEthtype: "802.1ad"},
		"qinq-ethtype": {Mode: want.Mode, Tag: want.Tag, CVlans: want.CVlans, QinQEthtype: "802.1q"},
	} {
		if m := Mismatch(want, got); !strings.Contains(m, col) {
			t.Errorf("%s differs: message %q does not name it", col, m)
		}
	}
}

func TestOwner_ExternalIDsRoundTripAndForeignPortsAreNotOwned(t *testing.T) {
	o := Owner{Network: "n", ContainerID: "c1", IfName: "net1", Netns: "/var/run/netns/x"}
	got, ok := OwnerOf(o.ExternalIDs())
	if !ok || got != o {
		t.Fatalf("got %+v %v", got, ok)
	}
	if _, ok := OwnerOf(map[string]string{KeyContainerID: "c1"}); ok {
		t.Fatal("a port without the owner key must not count as ours")
	}
	if !got.Is(Owner{Network: "n", ContainerID: "c1", IfName: "net1", Netns: "/proc/1/ns/net"}) {
		t.Fatal("the netns path may differ between ADD and DEL")
	}
	if got.Is(Owner{Network: "n", ContainerID: "c1", IfName: "net2"}) {
		t.Fatal("another interface of the container is another attachment")
	}
}

func TestNames_FitIFNAMSIZAndAreStable(t *testing.T) {
	a, b := HostVethName("n", "c1", "net1"), HostVethName("n", "c1", "net2")
	if a == b || len(a) > 15 || a != HostVethName("n", "c1", "net1") {
		t.Fatalf("host veth names %q %q", a, b)
	}
	if ContainerVethName("net1") != "net1-ovs" {
		t.Fatalf("got %q", ContainerVethName("net1"))
	}
	if n := ContainerVethName("averyverylongif"); len(n) > 15 || n == "averyverylongif" {
		t.Fatalf("got %q", n)
	}
}

func TestHostVethNames_AreRecognisedSoGCCanSweepThem(t *testing.T) {
	n := HostVethName("net", "ctr1", "net1")
	if !IsHostVethName(n) || len(n) > 15 {
		t.Fatalf("%q not recognised", n)
	}
	for _, other := range []string{"eth0", "qovs", "qovs1234567", "qovs123456789", "qovsxyzxyzxy", "qovc12345678"} {
		if IsHostVethName(other) {
			t.Errorf("%q taken for a qinq host veth", other)
		}
	}
}
