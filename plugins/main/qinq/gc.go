package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/addressing"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// cmdGC (CNI 1.1.0) detaches every recorded attachment of this network
// that is not in cni.dev/valid-attachments, lets the backend remove what no
// record covers, releases the IPAM allocations of everything detached, and
// forwards GC to IPAM. It does all it can and reports every error.
func cmdGC(r *run) error {
	args := r.args
	conf, err := config.Parse(args.StdinData, "")
	if err != nil {
		return err
	}
	// Refused before anything is opened: read wrongly, the list would keep
	// nothing, and every attachment of the network would be detached.
	valid, err := validAttachments(args.StdinData)
	if err != nil {
		return err
	}
	// A type or key the node does not allow is never run: GC still detaches.
	ipamErr := ipamAllowed(r, conf.IPAMType, conf.Raw)
	if ipamErr == nil {
		if err := checkIPAM(r, conf); err != nil {
			return err
		}
	}
	inv, err := open(r, conf, plan.Attachment{Network: conf.Name})
	if err != nil {
		return err
	}
	defer inv.close()
	keep := func(a plan.Attachment) bool { return valid[a.ContainerID+"/"+a.IfName] }
	detached, err := inv.detachStale(keep)
	if errors.As(err, new(elsewhere)) {
		return err
	}
	errs := []error{err}
	if err := fault.Point(fault.Collected); err != nil {
		return err
	}
	more, err := inv.backend.Collect(conf.Name, keep)
	errs = append(errs, err)
	if ipamErr != nil {
		slog.Warn("IPAM not run: the node does not allow it", "error", ipamErr.Error())
		return cnierr.Combine("garbage collection", errors.Join(errs...))
	}
	errs = append(errs, gcIPAM(conf, args.Path, append(detached, more...))...)
	return cnierr.Combine("garbage collection", errors.Join(errs...))
}

// gcIPAM releases the allocations of what GC detached (many IPAM plugins,
// host-local among them, implement no GC) and forwards GC to IPAM.
func gcIPAM(conf *config.Config, cniPath string, detached []plan.Attachment) []error {
	var errs []error
	for _, a := range detached {
		errs = append(errs, addressing.ReleaseFor(conf, cniPath, a))
	}
	if conf.IPAMType != "" {
		errs = append(errs, invoke.DelegateGC(context.Background(), conf.IPAMType, conf.Raw, nil))
	}
	return errs
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
// cni.dev/attachments: lists of {"containerID", "ifname"} (null is an empty
// list, as libcni sends it for a runtime with no attachment left). Neither
// key, or anything else, is code 7.
func validAttachments(stdin []byte) (map[string]bool, error) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(stdin, &in); err != nil {
		return nil, cnierr.InvalidConfig("config", "%v", err)
	}
	out := map[string]bool{}
	_, valid := in["cni.dev/valid-attachments"]
	if _, legacy := in["cni.dev/attachments"]; !valid && !legacy {
		// Without the list GC cannot tell a pod from a leftover: every
		// attachment of the network would go.
		return nil, cnierr.InvalidConfig("cni.dev/valid-attachments", "required for GC (a list, null for none): without it every attachment would be detached")
	}
	for _, key := range []string{"cni.dev/valid-attachments", "cni.dev/attachments"} {
		raw, ok := in[key]
		if !ok {
			continue
		}
		var list []*types.GCAttachment
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, cnierr.InvalidConfig(key, "%s: must be a list of {\"containerID\": …, \"ifname\": …}: %v", raw, err)
		}
		for i, a := range list {
			if a == nil || a.ContainerID == "" || a.IfName == "" {
				return nil, cnierr.InvalidConfig(key, "[%d]: must name a containerID and an ifname", i)
			}
			out[a.ContainerID+"/"+a.IfName] = true
		}
	}
	return out, nil
}
