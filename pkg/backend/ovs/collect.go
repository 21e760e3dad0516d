package ovs

import (
	"errors"

	"github.com/qinq-cni/qinq/pkg/backend/ovs/ovsdb"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// Collect removes this network's ports whose attachment keep rejects and
// that no record covered (OVSDB keeps ports across a reboot, /run does not):
// standalone ports with their veths, chained ports get their settings back.
// It then deletes the host veths of this network's records that keep
// rejects and no port uses, holding the bridge's lock. It does all it can
// and reports every error; IPAM is the verb's.
func (b *Backend) Collect(network string, keep func(plan.Attachment) bool) ([]plan.Attachment, error) {
	db, err := b.connectForRemoval(b.conf.OVSDBSocket)
	if err != nil {
		return nil, err
	}
	stale, err := db.Ports(func(port *ovsdb.Port) bool {
		owner, ok := ownerOf(port.ExternalIDs)
		return ok && owner.Network == network && !keep(owner)
	})
	if err != nil {
		return nil, err
	}
	var errs []error
	var detached []plan.Attachment
	for i := range stale {
		port := &stale[i]
		owner, _ := ownerOf(port.ExternalIDs)
		var err error
		if _, chained := port.ExternalIDs[keySaved]; chained {
			err = restorePort(db, port)
		} else {
			// Its veth only if the port has the name qinq gives that owner's.
			err = removePort(db, port, hostVethOf(port.Name, owner))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		detached = append(detached, owner)
	}
	if !b.conf.Chained() {
		errs = append(errs, b.sweepPortlessVeths(db, network, keep))
	}
	return detached, errors.Join(errs...)
}

// hostVethOf is the host veth name qinq gives owner's port: this release's,
// or the previous releases' when the port carries that one.
func hostVethOf(port string, owner plan.Attachment) string {
	if legacy := plan.LegacyHostVethName(owner.Network, owner.ContainerID, owner.IfName); port == legacy {
		return legacy
	}
	return plan.HostVethName(owner.Network, owner.ContainerID, owner.IfName)
}

// sweepPortlessVeths deletes the host veths that no OVS port uses and that
// a record of this network on this bridge names, unless keep accepts its
// attachment. A qinq veth no such record names is another network's, or
// one whose record was lost: never guessed at. The bridge's exclusive lock
// waits for every ADD between its veth and its port.
func (b *Backend) sweepPortlessVeths(db *ovsdb.Client, network string, keep func(plan.Attachment) bool) error {
	unlock, err := b.lockBridge(b.conf.Bridge, true)
	if err != nil {
		return err
	}
	defer unlock()
	plans, err := b.store.List(network)
	errs := []error{err}
	for _, p := range plans {
		e, ok := p.Endpoint.(*plan.VethEndpoint)
		if !ok || p.Switch == nil || p.Switch.Bridge != b.conf.Bridge || keep(p.Attachment) {
			continue
		}
		if port, err := db.PortByName(e.HostName); err != nil || port != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, deleteHostVeth(e.HostName))
	}
	return errors.Join(errs...)
}
