package main

import (
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ipam"

	"github.com/qinq-cni/qinq/pkg/addressing"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// cmdCheck has the backend compare the node with what ADD recorded (or,
// without a record, with the config's plan), once the record is known to
// still match the config; then asks IPAM, then compares the addresses and
// routes in the container with prevResult.
func cmdCheck(r *run) error {
	inv, err := load(r)
	if err != nil {
		return err
	}
	defer inv.close()
	if inv.conf.PrevResult == nil {
		return cnierr.InvalidConfig("prevResult", "required for CHECK: the result of the ADD being checked")
	}
	// A pod the policy no longer allows fails CHECK (102); it keeps running.
	if err := enforcePolicy(r, inv.conf); err != nil {
		return err
	}
	p, err := inv.checkedPlan()
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
	if p.Endpoint.Link() == nil {
		return nil // chained: the addresses are the earlier plugin's
	}
	return addressing.Check(inv.conf.PrevResult, inv.attachment.IfName, inv.attachment.Netns)
}

// checkedPlan is what CHECK compares the node with: the record, which says
// what ADD built (a pod made under an earlier release's default keeps its
// kind), unless the config now asks for other VLANs, master or mode.
func (inv *invocation) checkedPlan() (plan.Plan, error) {
	planned, err := inv.backend.Plan(inv.attachment)
	if code, _ := cnierr.Code(err); code == types.ErrInvalidNetworkConfig {
		// The config parsed; what no longer fits is the node (master or
		// bridge gone, its MTU lowered): that is a difference CHECK reports.
		return plan.Plan{}, cnierr.CheckFailed("%v", err)
	}
	if err != nil {
		return plan.Plan{}, err
	}
	recorded, found, err := inv.store.Get(inv.attachment)
	if err != nil {
		return plan.Plan{}, cnierr.Internal("read the attachment's record", err)
	}
	if !found {
		return planned, nil
	}
	if d := plan.Differs(recorded, planned, inv.conf.ContainerLinkChosen); d != "" {
		return plan.Plan{}, cnierr.CheckFailed("the attachment differs from its configuration: %s", d)
	}
	return recorded, nil
}
