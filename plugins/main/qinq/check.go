package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ipam"

	"github.com/qinq-cni/qinq/pkg/addressing"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// cmdCheck plans from the config, has the backend compare the node with the
// plan, then asks IPAM, then compares the addresses and routes in the
// container with prevResult.
func cmdCheck(args *skel.CmdArgs) error {
	inv, err := load(args)
	if err != nil {
		return err
	}
	defer inv.close()
	if inv.conf.PrevResult == nil {
		return cnierr.InvalidConfig("prevResult", "required for CHECK: the result of the ADD being checked")
	}
	if err := inv.keepRecordedVLAN(); err != nil {
		return err
	}
	p, err := inv.backend.Plan(inv.attachment)
	if code, _ := cnierr.Code(err); code == types.ErrInvalidNetworkConfig {
		// The config parsed; what no longer fits is the node (master or
		// bridge gone, its MTU lowered): that is a difference CHECK reports.
		return cnierr.CheckFailed("%v", err)
	}
	if err != nil {
		return err
	}
	if err := inv.backend.Check(p); err != nil {
		return err
	}
	if inv.conf.IPAMType != "" {
		if err := ipam.ExecCheck(inv.conf.IPAMType, inv.conf.Raw); err != nil {
			return err
		}
	}
	if p.Endpoint.Kind == plan.KindNone {
		return nil // chained: the addresses are the earlier plugin's
	}
	return addressing.Check(inv.conf.PrevResult, inv.attachment.IfName, inv.attachment.Netns)
}

// keepRecordedVLAN: an attachment made when the default container link was
// "vlan" (its record says so) is checked as a vlan endpoint while the config
// still names no containerLink: the default changed, the pod did not.
func (inv *invocation) keepRecordedVLAN() error {
	if !inv.conf.ContainerLinkDefaulted || inv.conf.ContainerLink == config.LinkVLAN {
		return nil
	}
	r, found, err := inv.store.Get(inv.attachment)
	if err != nil {
		return cnierr.Internal("read the attachment's record", err)
	}
	if found && r.Endpoint.Kind == plan.KindVLAN {
		inv.conf.ContainerLink = config.LinkVLAN
	}
	return nil
}
