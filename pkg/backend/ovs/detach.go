package ovs

import (
	"errors"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/backend/ovs/ovsdb"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// Detach undoes p: standalone, the attachment's ports (found by their
// external_ids, never by name alone) and the veth; chained, the port's own
// settings come back. Whatever is already gone is skipped; OVSDB being
// unreachable is not "gone" but code 11.
func (b *Backend) Detach(p plan.Plan) error {
	db, err := b.connectForRemoval(p.Switch.Socket)
	if err != nil {
		return err
	}
	if p.Switch.Chained {
		return b.detachChained(db, p)
	}
	e, err := vethOf(p)
	if err != nil {
		return err
	}
	if err := removeOwnedPorts(db, p.Attachment, e.HostName); err != nil {
		return err
	}
	return deleteHostVeth(e.HostName)
}

// detachChained restores the port if it still exists and is this
// attachment's; the earlier plugin's DEL, which runs after ours, deletes it.
func (b *Backend) detachChained(db *ovsdb.Client, p plan.Plan) error {
	name := p.Switch.Port
	if name == "" {
		// Planned from the config (no record): the port is named by
		// prevResult, if there is one.
		port, err := chainedPort(db, b.conf)
		if code, _ := cnierr.Code(err); code == 7 {
			return nil // it names no port of OVS's: nothing to restore
		}
		if err != nil {
			return err
		}
		name = port.Name
	}
	port, err := db.PortByName(name)
	if err != nil || port == nil {
		return err // gone: nothing to restore
	}
	if owner, ok := ownerOf(port.ExternalIDs); !ok || !sameAttachment(owner, p.Attachment) {
		return nil
	}
	return restorePort(db, port)
}

// removeOwnedPorts removes every port owned by attachment a; of the host
// veths, only veth, the one its record names, goes with them.
func removeOwnedPorts(db *ovsdb.Client, a plan.Attachment, veth string) error {
	ports, err := db.Ports(func(port *ovsdb.Port) bool {
		owner, ok := ownerOf(port.ExternalIDs)
		return ok && sameAttachment(owner, a)
	})
	if err != nil {
		return err
	}
	var errs []error
	for i := range ports {
		errs = append(errs, removePort(db, &ports[i], veth))
	}
	return errors.Join(errs...)
}

// removePort takes an owned standalone port off its bridge and deletes its
// veth when the port's name is veth: OVSDB's answer alone never names a link
// to delete (an OVSDB server may lie, or hold another plugin's ports).
func removePort(db *ovsdb.Client, port *ovsdb.Port, veth string) error {
	br, err := db.BridgeOf(port)
	if err != nil {
		return err
	}
	if br != nil {
		if err := db.DeletePort(br, port); err != nil {
			return err
		}
	}
	if port.Name != veth {
		return nil
	}
	return deleteHostVeth(port.Name)
}

// deleteHostVeth deletes the host end of a standalone veth, if it is still
// there and still a veth, and only if qinq makes links of that name.
func deleteHostVeth(name string) error {
	if !plan.IsHostVethName(name) {
		return nil
	}
	h, err := netlinksafe.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return cnierr.Internal("open netlink on the host", err)
	}
	defer h.Close()
	return netdev.DeleteNamed(h, name, "veth")
}
