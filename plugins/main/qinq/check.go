package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ipam"

	"github.com/qinq-cni/qinq/pkg/addressing"
	"github.com/qinq-cni/qinq/pkg/cnierr"
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
	// A pod the policy no longer allows fails CHECK (102); it keeps running.
	if err := enforcePolicy("CHECK", args, inv.conf); err != nil {
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
