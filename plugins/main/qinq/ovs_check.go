package main

import (
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/ovs"
)

// checkStandalone: the port exists, is ours, on the bridge, configured as
// planned; the container links are right; then IPAM and the addresses.
func checkStandalone(db *ovs.Client, inv *invocation) error {
	a, err := planStandalone(db, inv)
	if err != nil {
		return err
	}
	if err := a.checkPort(db); err != nil {
		return err
	}
	netns, err := ns.GetNS(inv.attachment.Netns)
	if err != nil {
		return cnierr.CheckFailed("the container network namespace %s cannot be opened: %v", inv.attachment.Netns, err)
	}
	defer netns.Close()
	if err := a.checkContainerLinks(netns); err != nil {
		return err
	}
	if err := checkIPAM(inv); err != nil {
		return err
	}
	return checkAddresses(inv.conf.PrevResult, inv.attachment.IfName, netns)
}

func (a *ovsAttachment) checkPort(db *ovs.Client) error {
	p, err := db.PortByName(a.hostVeth)
	if err != nil {
		return err
	}
	if p == nil {
		return cnierr.CheckFailed("OVS port %q is missing", a.hostVeth)
	}
	if o, ok := ovs.OwnerOf(p.ExternalIDs); !ok || !o.Is(a.inv.owner()) {
		return cnierr.CheckFailed("OVS port %q is not owned by this attachment (external_ids %v)", a.hostVeth, p.ExternalIDs)
	}
	br, err := db.BridgeOf(p)
	if err != nil {
		return err
	}
	if br == nil || br.UUID != a.bridge.UUID {
		return cnierr.CheckFailed("OVS port %q is not on bridge %q", a.hostVeth, a.bridge.Name)
	}
	if m := ovs.Mismatch(a.vlan, ovs.VLANOf(p)); m != "" {
		return cnierr.CheckFailed("OVS port %q: %s", a.hostVeth, m)
	}
	return nil
}

func checkIPAM(inv *invocation) error {
	if inv.conf.IPAMType == "" {
		return nil
	}
	return ipam.ExecCheck(inv.conf.IPAMType, inv.conf.Raw)
}
