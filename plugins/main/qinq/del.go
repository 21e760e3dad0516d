package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ipam"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/record"
)

// cmdDel undoes an ADD by its record, so a config edited since (an sVlan
// changed, allow-lists narrowed, the mode switched) still removes what was
// built; only an attachment with no record is planned from the config.
// Whatever is already gone is skipped: DEL succeeds when there is nothing
// left to delete.
func cmdDel(r *run) error {
	inv, err := parse(r)
	if code, _ := cnierr.Code(err); code == types.ErrInvalidNetworkConfig {
		return delInvalid(r)
	}
	if err != nil {
		return err
	}
	defer inv.close()
	p, found, err := inv.store.Get(inv.attachment)
	if errors.Is(err, record.ErrUnreadable) {
		// A record a DEL cannot read must not keep the pod terminating
		// forever: the config's plan releases this attachment's own uses,
		// and a shared link still goes only on its users' evidence.
		slog.Warn("deleting by the config's plan", "error", err.Error())
		found, err = false, nil
	}
	if err != nil {
		return cnierr.Internal("read the attachment's record", err)
	}
	if !found {
		// Planned without MTUs: never refused, even when the master is
		// gone or its MTU was lowered after ADD.
		resolveMaster(r, inv.conf)
		if p, err = plan.For(inv.conf, inv.attachment, 0); err != nil {
			return err
		}
	}
	if err := inv.detach(p); err != nil && !leftToGC(found, p, err) {
		return err
	}
	if inv.conf.IPAMType == "" {
		return nil
	}
	return cnierr.AsCNI("release the IPAM allocation", ipam.ExecDel(inv.conf.IPAMType, inv.conf.Raw))
}

// leftToGC: with no record, nothing says an OVS port was ever made for the
// attachment; OVSDB being unreachable then must not keep the pod
// terminating. A port there is, is its owner's to GC (a leak, not an outage).
func leftToGC(found bool, p plan.Plan, err error) bool {
	code, _ := cnierr.Code(err)
	if found || p.Backend != config.BackendOVS || code != types.ErrTryAgainLater {
		return false
	}
	slog.Warn("no record and Open vSwitch unreachable: nothing known to delete", "error", err.Error())
	return true
}

// detach undoes p with the backend that built it, then drops its record.
func (inv *invocation) detach(p plan.Plan) error {
	b, err := inv.backendFor(p)
	if err != nil {
		return err
	}
	if err := b.Detach(p); err != nil {
		return err
	}
	if err := fault.Point(fault.Detached); err != nil {
		return err
	}
	return cnierr.AsCNI("drop the attachment's record", inv.store.Drop(p.Attachment))
}

// delInvalid is DEL for a config that no longer validates: no ADD can
// succeed with it now, but one may have succeeded before it changed. Its
// record says what to remove, whichever backend built it.
func delInvalid(r *run) error {
	args := r.args
	var nc types.NetConf
	_ = json.Unmarshal(args.StdinData, &nc) // the record is keyed by the network's name, if any
	inv := &invocation{attachment: plan.Attachment{ContainerID: args.ContainerID, IfName: args.IfName, Netns: args.Netns, Network: nc.Name}}
	var err error
	if inv.store, err = openStore(); err != nil {
		return err
	}
	defer inv.close()
	p, found, err := inv.store.Get(inv.attachment)
	if err != nil {
		return cnierr.Internal("read the attachment's record", err)
	}
	if found {
		if err := inv.detach(p); err != nil {
			return err
		}
	}
	return releaseLeniently(r)
}

// releaseLeniently runs IPAM DEL when the config still names an IPAM
// plugin that exists and the node allows, with keys within its bounds.
func releaseLeniently(r *run) error {
	args := r.args
	var nc types.NetConf
	if json.Unmarshal(args.StdinData, &nc) != nil || nc.IPAM.Type == "" {
		return nil
	}
	if err := ipamAllowed(r, nc.IPAM.Type, args.StdinData); err != nil {
		slog.Warn("IPAM not run: the node does not allow it", "error", err.Error())
		return nil // never run; ADD refuses it, so it holds no allocation of ours
	}
	if _, err := invoke.FindInPath(nc.IPAM.Type, filepath.SplitList(args.Path)); err != nil {
		return nil // no such IPAM plugin: it cannot hold an allocation either
	}
	return cnierr.AsCNI("release the IPAM allocation", ipam.ExecDel(nc.IPAM.Type, args.StdinData))
}
