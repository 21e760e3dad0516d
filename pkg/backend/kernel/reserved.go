package kernel

import (
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// filtered is a link CHECK expects a filter of reserved 802.1 frames on.
type filtered struct {
	h    netlinksafe.Handle
	link netlink.Link
	top  bool
}

// checkReserved verifies the filters of reserved 802.1 frames (code 101):
// every chain link qinq made has one, and the one p's pods send through
// first lets out what the config asks for. links are the chain's links as
// found, outermost first; an admin's link is the admin's to filter.
func (b *Backend) checkReserved(p plan.Plan, links []filtered) error {
	if !p.ReservedFiltered {
		return nil // made by a release before the filter: its next ADD on the chain adds it
	}
	p.L2ProtocolTunnel = b.conf != nil && b.conf.L2ProtocolTunnel // not recorded
	for _, f := range links {
		if f.link == nil {
			continue
		}
		_, owned := netdev.OwnerOf(f.link)
		switch {
		case f.top && (owned || len(p.Chain) == 0): // the endpoint itself when there is no chain
			if err := netdev.CheckReserved(f.h, f.link, reserved(p)); err != nil {
				return err
			}
		case owned:
			if _, found, err := netdev.ReservedOf(f.h, f.link); err != nil || !found {
				if err != nil {
					return err
				}
				return cnierr.CheckFailed("%s: no filter of reserved 802.1 frames: the pods above it would send STP, LACP or LLDP to the wire", f.link.Attrs().Name)
			}
		}
	}
	return nil
}

// filteredAt is the chain link found at a (wherever it lives: qinq's
// namespace, or the node's for an older release's chain); none if missing.
func filteredAt(a netdev.At, top bool) filtered {
	if !a.Found() {
		return filtered{top: top}
	}
	return filtered{h: a.H, link: a.Link, top: top}
}

// hostChain lists the chain links found where they live (or, linkInContainer,
// in the container), the last one the top; the endpoint itself when p has
// no chain (a VLAN endpoint on the master, in the container).
func hostChain(n *netdev.Namespaces, p plan.Plan, endpoint netlink.Link) []filtered {
	if len(p.Chain) == 0 {
		return []filtered{{h: *n.Container, link: endpoint, top: true}}
	}
	var out []filtered
	for i, l := range resolve(n, p.Master.Name, p.Chain) {
		out = append(out, filteredAt(l, i == len(p.Chain)-1))
	}
	return out
}
