package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/addressing"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// cmdGC (CNI 1.1.0) detaches every recorded attachment of this network
// that is not in cni.dev/valid-attachments, lets the backend remove what no
// record covers, releases the IPAM allocations of everything detached, and
// forwards GC to IPAM. It does all it can and reports every error.
func cmdGC(args *skel.CmdArgs) error {
	conf, err := config.Parse(args.StdinData, "")
	if err != nil {
		return err
	}
	inv, err := open(conf, plan.Attachment{Network: conf.Name})
	if err != nil {
		return err
	}
	defer inv.close()
	valid, err := validAttachments(args.StdinData)
	if err != nil {
		return err
	}
	keep := func(a plan.Attachment) bool { return valid[a.ContainerID+"/"+a.IfName] }
	detached, err := inv.detachStale(keep)
	if errors.As(err, new(elsewhere)) {
		return err
	}
	errs := []error{err}
	more, err := inv.backend.Collect(conf.Name, keep)
	errs = append(errs, err)
	for _, a := range append(detached, more...) {
		errs = append(errs, addressing.ReleaseFor(conf, args.Path, a))
	}
	if conf.IPAMType != "" {
		errs = append(errs, invoke.DelegateGC(context.Background(), conf.IPAMType, conf.Raw, nil))
	}
	return cnierr.Combine("garbage collection", errors.Join(errs...))
}

// detachStale detaches, by their records, the network's attachments keep
// rejects. Their backends are all chosen before any is detached.
func (inv *invocation) detachStale(keep func(plan.Attachment) bool) ([]plan.Attachment, error) {
	plans, err := inv.store.List(inv.conf.Name)
	errs := []error{err}
	var stale []plan.Plan
	for _, p := range plans {
		if keep(p.Attachment) {
			continue
		}
		if _, err := inv.backendFor(p); err != nil {
			return nil, err // served by another binary: hand over first
		}
		stale = append(stale, p)
	}
	var detached []plan.Attachment
	for _, p := range stale {
		if err := inv.detach(p); err != nil {
			errs = append(errs, err)
			continue
		}
		detached = append(detached, p.Attachment)
	}
	return detached, errors.Join(errs...)
}

// validAttachments reads cni.dev/valid-attachments and its older spelling
// cni.dev/attachments.
// A list that does not decode is code 7: read as empty, it would make GC
// detach every attachment of the network.
func validAttachments(stdin []byte) (map[string]bool, error) {
	var in struct {
		Valid  []types.GCAttachment `json:"cni.dev/valid-attachments"`
		Legacy []types.GCAttachment `json:"cni.dev/attachments"`
	}
	if err := json.Unmarshal(stdin, &in); err != nil {
		return nil, cnierr.InvalidConfig("cni.dev/valid-attachments", "must be a list of {\"containerID\": ..., \"ifname\": ...} objects: %v", err)
	}
	out := map[string]bool{}
	for _, a := range append(in.Valid, in.Legacy...) {
		out[a.ContainerID+"/"+a.IfName] = true
	}
	return out, nil
}
