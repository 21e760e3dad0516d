package ovsdb

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
)

// Dot1qTunnel is the vlan_mode of OVS's Cisco-style QinQ access port:
// frames from the port are wrapped in the S-tag `tag` (TPID from
// qinq-ethtype), frames to it are unwrapped, and `cvlans`, when set, lists
// the C-VLANs allowed in.
const Dot1qTunnel = "dot1q-tunnel"

// EthtypeKey is the Port other_config key that picks the S-tag's TPID.
const EthtypeKey = "qinq-ethtype"

// VLAN is the VLAN configuration of a port: the columns a dot1q-tunnel port
// uses and the ones it replaces, so chained mode can save and restore them.
// Nil / empty means "unset" (the column is empty in OVSDB).
type VLAN struct {
	VLANMode    *string `json:"vlan_mode,omitempty"`
	Tag         *int    `json:"tag,omitempty"`
	Trunks      []int   `json:"trunks,omitempty"`
	CVlans      []int   `json:"cvlans,omitempty"`
	QinQEthtype string  `json:"qinq-ethtype,omitempty"`
}

// Ethtype spells sProto the way OVS wants it. Always written explicitly: OVS
// turns any value other than "802.1q" (including a typo) into 0x88a8.
func Ethtype(p netlink.VlanProtocol) string {
	if p == netlink.VLAN_PROTOCOL_8021Q {
		return "802.1q"
	}
	return "802.1ad"
}

// VLANOf reads a port's VLAN configuration.
func VLANOf(p *Port) VLAN {
	v := VLAN{VLANMode: p.VLANMode, Tag: p.Tag, Trunks: sorted(p.Trunks), CVlans: sorted(p.CVlans)}
	v.QinQEthtype = p.OtherConfig[EthtypeKey]
	return v
}

func sorted(s []int) []int {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// Mismatch describes how got differs from the dot1q-tunnel configuration
// want, or returns "" when the port is as configured.
func Mismatch(want, got VLAN) string {
	switch {
	case str(got.VLANMode) != str(want.VLANMode):
		return fmt.Sprintf("vlan_mode is %q, expected %q", str(got.VLANMode), str(want.VLANMode))
	case num(got.Tag) != num(want.Tag):
		return fmt.Sprintf("tag is %s, expected %s", num(got.Tag), num(want.Tag))
	case !slices.Equal(sorted(got.CVlans), sorted(want.CVlans)):
		return fmt.Sprintf("cvlans are %v, expected %v", got.CVlans, want.CVlans)
	case got.QinQEthtype != want.QinQEthtype:
		return fmt.Sprintf("other_config:%s is %q, expected %q", EthtypeKey, got.QinQEthtype, want.QinQEthtype)
	}
	return ""
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func num(n *int) string {
	if n == nil {
		return "unset"
	}
	return fmt.Sprint(*n)
}

// Encode serialises v for the port's external_ids (chained mode keeps the
// original settings on the port itself, so DEL needs no local state).
func (v VLAN) Encode() string {
	b, _ := json.Marshal(v) // plain struct of strings and ints: cannot fail
	return string(b)
}

// DecodeVLAN is the inverse of Encode.
func DecodeVLAN(s string) (VLAN, error) {
	var v VLAN
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return VLAN{}, fmt.Errorf("saved VLAN settings %q: %w", s, err)
	}
	return v, nil
}
