package ovs

import (
	"fmt"
	"slices"

	"github.com/qinq-cni/qinq/pkg/backend/ovs/ovsdb"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
)

// tunnel is the dot1q-tunnel configuration for c: tag = sVlan, the TPID set
// explicitly, cvlans = cVlans when given, else allowedCVlans.
//
// It re-checks every VID although pkg/config already did: OVS's schema
// accepts 4095 in cvlans, so nothing may reach OVSDB unchecked.
func tunnel(c *config.Config) (ovsdb.VLAN, error) {
	if err := checkVID("sVlan", c.SVlan); err != nil {
		return ovsdb.VLAN{}, err
	}
	allowed, field := c.CVlans, "cVlans"
	if len(allowed) == 0 {
		allowed, field = c.AllowedCVlans, "allowedCVlans"
	}
	cvlans := make([]int, 0, len(allowed))
	for i, v := range allowed {
		if err := checkVID(fmt.Sprintf("%s[%d]", field, i), v); err != nil {
			return ovsdb.VLAN{}, err
		}
		cvlans = append(cvlans, int(v))
	}
	slices.Sort(cvlans)
	mode, tag := ovsdb.Dot1qTunnel, int(c.SVlan)
	return ovsdb.VLAN{VLANMode: &mode, Tag: &tag, CVlans: cvlans, QinQEthtype: ovsdb.Ethtype(c.SProto)}, nil
}

func checkVID(field string, v config.VID) error {
	if v < config.MinVID || v > config.MaxVID {
		return cnierr.InvalidConfig(field, "%d: must be %d-%d (0 and 4095 are reserved by 802.1Q)", v, config.MinVID, config.MaxVID)
	}
	return nil
}
