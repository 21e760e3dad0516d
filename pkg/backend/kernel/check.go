package kernel

import (
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// Check verifies the attachment is what p says: the container link is of
// the planned kind (a VLAN link with the planned protocol and ID, or a
// macvlan or ipvlan in the planned mode) with the planned MTU (and MAC, when
// one was asked for), sitting on the planned chain down to the master, and
// its uses of the chain are recorded.
func (b *Backend) Check(p plan.Plan) error {
	n, err := b.namespaces(p.Attachment.Netns, p.InContainer, true)
	if err != nil {
		return err
	}
	if n.Container == nil {
		return cnierr.CheckFailed("the container network namespace is gone")
	}
	i := p.Endpoint.Link()
	got, err := n.Container.LinkByName(i.Name)
	if err != nil {
		return cnierr.CheckFailed("%s: not found in the container", i.Name)
	}
	if err := checkEndpoint(got, p.Endpoint); err != nil {
		return err
	}
	if err := checkMAC(got, i); err != nil {
		return err
	}
	if e, ok := p.Endpoint.(*plan.BridgeEndpoint); ok {
		return b.checkBridge(p, e, n, got)
	}
	parent, err := expectedParent(n, p)
	if err != nil {
		return err
	}
	if err := checkParent(n, got, i.Name, parent); err != nil {
		return err
	}
	if err := b.checkReserved(p, hostChain(n, p, got)); err != nil {
		return err
	}
	return b.checkUsers(p)
}

func checkEndpoint(got netlink.Link, e plan.Endpoint) error {
	i := e.Link()
	switch e := e.(type) {
	case *plan.VLANEndpoint:
		if err := netdev.CheckVLAN(got, i.Name, e.Tag, i.MTU); err != nil {
			return err
		}
		return netdev.CheckReorderHdr(got, i.Name)
	case *plan.MacvlanEndpoint:
		if m, ok := got.(*netlink.Macvlan); ok && m.Mode != macvlanModes[e.Mode] {
			return cnierr.CheckFailed("%s: macvlan mode %s, expected %s", i.Name, modeName(macvlanModes, m.Mode), e.Mode)
		}
	case *plan.IpvlanEndpoint:
		if v, ok := got.(*netlink.IPVlan); ok && v.Mode != ipvlanModes[e.Mode] {
			return cnierr.CheckFailed("%s: ipvlan mode %s, expected %s", i.Name, modeName(ipvlanModes, v.Mode), e.Mode)
		}
	}
	kind := string(e.Kind())
	if e.Kind() == config.LinkBridge {
		kind = "veth" // the container end of the pair
	}
	if got.Type() != kind {
		return cnierr.CheckFailed("%s: is a %q link, expected a %s link", i.Name, got.Type(), kind)
	}
	return netdev.CheckMTU(got, i.Name, i.MTU)
}

// modeName spells a kernel mode the way the config does.
func modeName[M comparable](modes map[string]M, m M) string {
	for name, v := range modes {
		if v == m {
			return name
		}
	}
	return fmt.Sprint(m)
}

func checkMAC(got netlink.Link, e *plan.Iface) error {
	if e.MAC != "" && !strings.EqualFold(got.Attrs().HardwareAddr.String(), e.MAC) {
		return cnierr.CheckFailed("%s: MAC %s, expected %s", e.Name, got.Attrs().HardwareAddr, e.MAC)
	}
	return nil
}

func checkParent(n *netdev.Namespaces, got netlink.Link, name string, parent netdev.At) error {
	if n.SameLink(got, parent) {
		return nil
	}
	idx := got.Attrs().ParentIndex
	return cnierr.CheckFailed("%s: stacked on ifindex %d (link-netnsid %d), expected %s (ifindex %d, in %s)",
		name, idx, got.Attrs().NetNsID, parent.Attrs().Name, parent.Index(), where(parent))
}

// where names the namespace a chain link is in.
func where(a netdev.At) string {
	if a.Own {
		return "qinq's network namespace"
	}
	return "the namespace of the master"
}

// expectedParent resolves the chain master -> S-link -> outer C-links and
// returns the link the container link must sit on.
func expectedParent(n *netdev.Namespaces, p plan.Plan) (netdev.At, error) {
	if !n.HasLinks() {
		return netdev.At{}, cnierr.CheckFailed("the namespace holding master %q is gone", p.Master.Name)
	}
	master, err := n.Master(p.Master.Name)
	if err != nil {
		return netdev.At{}, cnierr.CheckFailed("master %q: not found", p.Master.Name)
	}
	chain := resolve(n, p.Master.Name, p.Chain)
	for i, l := range p.Chain {
		if !chain[i].Found() {
			return netdev.At{}, cnierr.CheckFailed("shared link for %s (%s) is missing", l.Tag, l.Key)
		}
	}
	if len(chain) > 0 {
		return chain[len(chain)-1], nil
	}
	return master, nil
}

func (b *Backend) checkUsers(p plan.Plan) error {
	links := b.store.Users(p)
	for _, l := range p.Links() {
		if !links.Uses(l.Key, p.Attachment) {
			return cnierr.CheckFailed("no user recorded for %s: the shared link could be deleted under this container", l.Key)
		}
	}
	return nil
}
