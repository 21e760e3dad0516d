package ovsdb

import (
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

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
	if *back.VLANMode != "access" || *back.Tag != 42 || !slices.Equal(back.Trunks, []int{1, 3}) || back.QinQEthtype != "802.1q" {
		t.Fatalf("got %s", back.Encode())
	}
	empty, _ := DecodeVLAN(VLANOf(&Port{}).Encode())
	if empty.VLANMode != nil || empty.Tag != nil || empty.Trunks != nil {
		t.Fatalf("an unset port must restore to unset columns, got %s", empty.Encode())
	}
}

func TestMismatch_NamesTheColumn(t *testing.T) {
	mode, tag := Dot1qTunnel, 100
	want := VLAN{VLANMode: &mode, Tag: &tag, CVlans: []int{10}, QinQEthtype: "802.1ad"}
	if m := Mismatch(want, want); m != "" {
		t.Fatalf("equal settings: %s", m)
	}
	for col, got := range map[string]VLAN{
		"vlan_mode":    {Tag: want.Tag, CVlans: want.CVlans, QinQEthtype: "802.1ad"},
		"tag":          {VLANMode: want.VLANMode, CVlans: want.CVlans, QinQEthtype: "802.1ad"},
		"cvlans":       {VLANMode: want.VLANMode, Tag: want.Tag, CVlans: []int{11}, QinQEthtype: "802.1ad"},
		"qinq-ethtype": {VLANMode: want.VLANMode, Tag: want.Tag, CVlans: want.CVlans, QinQEthtype: "802.1q"},
	} {
		if m := Mismatch(want, got); !strings.Contains(m, col) {
			t.Errorf("%s differs: message %q does not name it", col, m)
		}
	}
}
