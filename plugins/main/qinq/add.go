package main

import (
	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/addressing"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/record"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// cmdAdd: load -> plan -> record the plan -> build -> IPAM -> result. Every
// step registers its undo, so a failure anywhere leaves nothing behind.
func cmdAdd(r *run) (err error) {
	inv, err := load(r)
	if err != nil {
		return err
	}
	defer inv.close()
	if err := enforcePolicy(r, inv.conf); err != nil {
		return err
	}
	defer func() { err = r.redactHolder(err) }()
	if err := inv.refuseRepeat(); err != nil {
		return err
	}
	p, err := inv.backend.Plan(inv.attachment)
	if err != nil {
		return err
	}
	var u undo.Stack
	defer func() { err = withUndo(err, u.Rollback()) }()
	if err := keepRecord(inv.store, p, &u); err != nil {
		return err
	}
	attached, err := inv.backend.Attach(p, &u)
	if err != nil {
		return err
	}
	if attached.AntiSpoof != "" {
		r.note("antiSpoof", attached.AntiSpoof)
	}
	result, err := addressing.Add(inv.conf, attached, &u)
	if err != nil {
		return err
	}
	if err := types.PrintResult(result, inv.conf.CNIVersion); err != nil {
		return cnierr.Internal("print the result", err)
	}
	u.Commit()
	return nil
}

// refuseRepeat refuses, before anything changes, an ADD of an attachment
// that was added and not deleted (code 100): touching it would break it.
func (inv *invocation) refuseRepeat() error {
	_, found, err := inv.store.Get(inv.attachment)
	if err != nil {
		return cnierr.Internal("read the attachment's record", err)
	}
	if found {
		return cnierr.Conflict("attachment %s (CNI_CONTAINERID %q, CNI_IFNAME %q) was added before and not deleted",
			inv.attachment.ID(), inv.attachment.ContainerID, inv.attachment.IfName)
	}
	return nil
}

// keepRecord writes the plan before anything is built, so DEL and GC find
// whatever a crash leaves; it goes again if the ADD fails.
func keepRecord(store record.Store, p plan.Plan, u *undo.Stack) error {
	if err := store.Put(p); err != nil {
		return cnierr.Internal("record the attachment", err)
	}
	u.Push("drop the attachment's record", func() error { return store.Drop(p.Attachment) })
	return fault.Point(fault.Record)
}

// withUndo reports a failed rollback next to the error that caused it.
func withUndo(err, undoErr error) error {
	if err == nil || undoErr == nil {
		return err
	}
	return cnierr.Annotate(err, "rollback also failed: "+undoErr.Error())
}
