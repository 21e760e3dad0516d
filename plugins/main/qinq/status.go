package main

import (
	"github.com/containernetworking/plugins/pkg/ipam"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/policy"
)

// cmdStatus reports code 50 when this node cannot attach containers (the
// backend says why), then asks IPAM.
func cmdStatus(r *run) error {
	conf, err := config.Parse(r.args.StdinData, "")
	if err != nil {
		return err
	}
	if err := ipamAllowed(r, conf.IPAMType, conf.Raw); err != nil {
		return err // an IPAM the node does not allow is never run
	}
	inv, err := open(r, conf, plan.Attachment{Network: conf.Name})
	if err != nil {
		return err
	}
	defer inv.close()
	if err := policyStatus(r); err != nil {
		return err
	}
	if err := inv.backend.Status(); err != nil {
		return err
	}
	if o, ok := inv.backend.(interface{ Offers() []any }); ok {
		r.notes = append(r.notes, o.Offers()...)
	}
	if conf.IPAMType == "" {
		return nil
	}
	if err := findIPAM(conf.IPAMType, r.args.Path); err != nil {
		return cnierr.Unavailable("ipam.type %v", err)
	}
	return ipam.ExecStatus(conf.IPAMType, conf.Raw)
}

// policyStatus is code 50 for a policy dir without a valid policy (ADD is
// closed) or with an entry that grants nothing; it parses every entry.
func policyStatus(r *run) error {
	pol, err := loadPolicy(r)
	if err != nil || pol == nil {
		return err
	}
	if err := pol.Check(); err != nil {
		return cnierr.Unavailable("node policy: %s: %v", policy.Path(), err)
	}
	return nil
}
