package ovs

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
)

// ModeDot1qTunnel is OVS's Cisco-style QinQ access port: frames from the
// port are wrapped in the S-tag `tag` (TPID from qinq-ethtype), frames to it
// are unwrapped, and `cvlans`, when set, lists the C-VLANs allowed in.
const ModeDot1qTunnel = "dot1q-tunnel"

// EthtypeKey is the Port other_config key that picks the S-tag's TPID.
const EthtypeKey = "qinq-ethtype"

// VLAN is the VLAN configuration of a port: the columns a dot1q-tunnel port
// uses and the ones it replaces, so chained mode can save and restore them.
// Nil / empty means "unset" (the column is empty in OVSDB).
type VLAN struct {
	Mode        *string `json:"vlan_mode,omitempty"`
	Tag         *int    `json:"tag,omitempty"`
	Trunks      []int   `json:"trunks,omitempty"`
	CVlans      []int   `json:"cvlans,omitempty"`
	QinQEthtype string  `json:"qinq-ethtype,omitempty"`
}

// Tunnel is the dot1q-tunnel configuration for c: tag = sVlan, the TPID set
// explicitly, cvlans = cVlans when given, else allowedCVlans.
//
// It re-checks every VID although pkg/config already did: OVS's schema
// accepts 4095 in cvlans, so nothing may reach OVSDB unchecked.
func Tunnel(c *config.Config) (VLAN, error) {
	if err := checkVID("sVlan", c.SVlan); err != nil {
		return VLAN{}, err
	}
	allowed, field := c.CVlans, "cVlans"
	if len(allowed) == 0 {
		allowed, field = c.AllowedCVlans, "allowedCVlans"
	}
	cvlans := make([]int, 0, len(allowed))
	for i, v := range allowed {
		if err := checkVID(fmt.Sprintf("%s[%d]", field, i), v); err != nil {
			return VLAN{}, err
		}
		cvlans = append(cvlans, int(v))
	}
	slices.Sort(cvlans)
	mode, tag := ModeDot1qTunnel, int(c.SVlan)
	return VLAN{Mode: &mode, Tag: &tag, CVlans: cvlans, QinQEthtype: Ethtype(c.SProto)}, nil
}

func checkVID(field string, v config.VID) error {
	if v < config.MinVID || v > config.MaxVID {
		return cnierr.InvalidConfig(field, "%d: must be %d-%d (0 and 4095 are reserved by 802.1Q)", v, config.MinVID, config.MaxVID)
	}
	return nil
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
	v := VLAN{Mode: p.VLANMode, Tag: p.Tag, Trunks: sorted(p.Trunks), CVlans: sorted(p.CVlans)}
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
	case str(got.Mode) != str(want.Mode):
		return fmt.Sprintf("vlan_mode is %q, expected %q", str(got.Mode), str(want.Mode))
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
