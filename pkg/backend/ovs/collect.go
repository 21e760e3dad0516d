package ovs

import (
	"errors"

	"github.com/containernetworking/plugins/pkg/netlinksafe"

	"github.com/qinq-cni/qinq/pkg/backend/ovs/ovsdb"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// Collect removes this network's ports whose attachment keep rejects and
// that no record covered (OVSDB keeps ports across a reboot, /run does not):
// standalone ports with their veths, chained ports get their settings back.
// It then deletes host veths with qinq's names that no port uses (an ADD
// killed between the veth and the port). It does all it can and reports
// every error; IPAM is the verb's.
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
			err = removePort(db, port, plan.HostVethName(owner.Network, owner.ContainerID, owner.IfName))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		detached = append(detached, owner)
	}
	errs = append(errs, sweepPortlessVeths(db))
	return detached, errors.Join(errs...)
}

// sweepPortlessVeths deletes host veths with qinq's names that no OVS port
// uses. The spec runs GC only while no ADD or DEL is in progress, so none
// is in flight.
func sweepPortlessVeths(db *ovsdb.Client) error {
	links, err := netlinksafe.LinkList()
	if err != nil {
		return cnierr.Internal("list the host's links", err)
	}
	var errs []error
	for _, l := range links {
		if l.Type() != "veth" || !plan.IsHostVethName(l.Attrs().Name) {
			continue
		}
		if port, err := db.PortByName(l.Attrs().Name); err != nil || port != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, deleteHostVeth(l.Attrs().Name))
	}
	return errors.Join(errs...)
}
