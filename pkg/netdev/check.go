package netdev

import (
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// CheckVLAN reports (code 101) how got differs from a VLAN link with tag t
// and MTU mtu; name is how the container calls it.
func CheckVLAN(got netlink.Link, name string, t plan.Tag, mtu int) error {
	v, ok := got.(*netlink.Vlan)
	switch {
	case !ok:
		return cnierr.CheckFailed("%s: is a %q link, expected a VLAN link", name, got.Type())
	case v.VlanProtocol != t.Proto:
		return cnierr.CheckFailed("%s: protocol %s, expected %s", name, config.ProtoName(v.VlanProtocol), config.ProtoName(t.Proto))
	case v.VlanId != int(t.VID):
		return cnierr.CheckFailed("%s: VLAN ID %d, expected %d", name, v.VlanId, t.VID)
	}
	return CheckMTU(got, name, mtu)
}

// CheckMTU reports (code 101) a link whose MTU is not mtu.
func CheckMTU(got netlink.Link, name string, mtu int) error {
	if got.Attrs().MTU != mtu {
		return cnierr.CheckFailed("%s: MTU %d, expected %d", name, got.Attrs().MTU, mtu)
	}
	return nil
}

// CheckReorderHdr reports (code 101) a VLAN link whose reorder_hdr flag is
// off: the kernel then sends a frame that already carries the link's TPID
// as it is (vlan_dev_hard_start_xmit), so the container picks its own tag.
// A missing flags attribute reads as off.
func CheckReorderHdr(got netlink.Link, name string) error {
	if v, ok := got.(*netlink.Vlan); ok && (v.ReorderHdr == nil || !*v.ReorderHdr) {
		return cnierr.CheckFailed("%s: reorder_hdr is off, expected on (with it off, frames the container tags itself leave with its own tag)", name)
	}
	return nil
}
