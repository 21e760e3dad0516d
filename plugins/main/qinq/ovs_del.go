package main

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/ovs"
)

// delStandalone removes the ports this attachment owns (found by their
// external_ids, never by name alone) and the host end of the veth.
func delStandalone(db *ovs.Client, inv *invocation) error {
	if err := removeOwnedPorts(db, inv.owner()); err != nil {
		return err
	}
	a := inv.attachment
	if err := deleteHostVeth(ovs.HostVethName(a.Network, a.ContainerID, a.IfName)); err != nil {
		return cnierr.Internal("delete the veth", err)
	}
	return nil
}

// removeOwnedPorts removes every port owned by o's attachment.
func removeOwnedPorts(db *ovs.Client, o ovs.Owner) error {
	ports, err := db.Ports(func(p *ovs.Port) bool {
		got, ok := ovs.OwnerOf(p.ExternalIDs)
		return ok && got.Is(o)
	})
	if err != nil {
		return err
	}
	var errs []error
	for i := range ports {
		errs = append(errs, removePort(db, &ports[i]))
	}
	return errors.Join(errs...)
}

// removePort takes an owned standalone port off its bridge and deletes its veth.
func removePort(db *ovs.Client, p *ovs.Port) error {
	br, err := db.BridgeOf(p)
	if err != nil {
		return err
	}
	if br != nil {
		if err := db.DeletePort(br, p); err != nil {
			return err
		}
	}
	if err := deleteHostVeth(p.Name); err != nil {
		return cnierr.Internal("delete the veth "+p.Name, err)
	}
	return nil
}

func ignoreNoDev(err error) error {
	if err == nil || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("delete link: %w", err)
}
