package ovs

import (
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/qinq-cni/qinq/pkg/backend"
	"github.com/qinq-cni/qinq/pkg/backend/ovs/ovsdb"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// attachChained turns the earlier plugin's port into a dot1q-tunnel port.
// The port's own VLAN settings are saved in its external_ids, so DEL can
// restore them from the port itself. The verb passes prevResult through.
func (b *Backend) attachChained(db *ovsdb.Client, p plan.Plan, u *undo.Stack) (backend.Attached, error) {
	port, err := db.PortByName(p.Switch.Port)
	if err != nil || port == nil {
		return backend.Attached{}, orGone(err, "OVS port %q is gone", p.Switch.Port)
	}
	want, err := tunnel(b.conf)
	if err != nil {
		return backend.Attached{}, err
	}
	saved, err := originalVLAN(port, p.Attachment)
	if err != nil {
		return backend.Attached{}, err
	}
	ids := ownerIDs(p.Attachment)
	ids[keySaved] = saved.Encode()
	// Pushed first: a commit whose application times out still changed the port.
	u.Push("restore the port's VLAN settings", func() error { return db.Reconfigure(port, saved, nil, ownerKeys()) })
	if err := db.Reconfigure(port, want, ids, ownerKeys()); err != nil {
		return backend.Attached{}, err
	}
	return backend.Attached{}, nil
}

func orGone(err error, format string, a ...any) error {
	if err != nil {
		return err
	}
	return cnierr.InvalidConfig("prevResult", format, a...)
}

// originalVLAN is what DEL restores: the port's settings now, or, when this
// attachment already reconfigured it (a repeated ADD), what it saved then.
func originalVLAN(port *ovsdb.Port, me plan.Attachment) (ovsdb.VLAN, error) {
	owner, owned := ownerOf(port.ExternalIDs)
	if !owned {
		return ovsdb.VLANOf(port), nil
	}
	if !sameAttachment(owner, me) {
		return ovsdb.VLAN{}, cnierr.Conflict("OVS port %q is already a dot1q-tunnel port of container %s (%s)", port.Name, owner.ContainerID, owner.IfName)
	}
	return savedVLAN(port)
}

func savedVLAN(port *ovsdb.Port) (ovsdb.VLAN, error) {
	v, err := ovsdb.DecodeVLAN(port.ExternalIDs[keySaved])
	if err != nil {
		return ovsdb.VLAN{}, cnierr.Internal("read the port's saved VLAN settings", err)
	}
	return v, nil
}

// chainedPort finds the OVS port among prevResult's host-side interfaces
// (no sandbox), skipping a bridge's own port (ovs-cni lists the bridge too).
func chainedPort(db *ovsdb.Client, c *config.Config) (*ovsdb.Port, error) {
	if c == nil || c.PrevResult == nil {
		return nil, cnierr.InvalidConfig("prevResult", "required in chained OVS mode (no bridge): the result of the plugin that made the port")
	}
	prev, err := current.NewResultFromResult(c.PrevResult)
	if err != nil {
		return nil, cnierr.InvalidConfig("prevResult", "cannot be converted: %v", err)
	}
	var found []*ovsdb.Port
	for _, iface := range prev.Interfaces {
		port, err := hostPort(db, iface)
		if err != nil {
			return nil, err
		}
		if port != nil {
			found = append(found, port)
		}
	}
	switch len(found) {
	case 0:
		return nil, cnierr.InvalidConfig("prevResult", "no host-side interface in it is an Open vSwitch port: chained OVS mode (no bridge) "+
			"reconfigures the port an earlier plugin made, e.g. ovs-cni listed before qinq; give bridge for standalone mode")
	case 1:
		return found[0], nil
	}
	return nil, cnierr.InvalidConfig("prevResult", "%d host-side interfaces in it are Open vSwitch ports (%s, %s, ...): cannot tell which to reconfigure",
		len(found), found[0].Name, found[1].Name)
}

// hostPort returns the port of a host-side interface that is not a bridge.
func hostPort(db *ovsdb.Client, iface *current.Interface) (*ovsdb.Port, error) {
	if iface.Sandbox != "" || iface.Name == "" {
		return nil, nil
	}
	br, err := db.Bridge(iface.Name)
	if err != nil || br != nil {
		return nil, err
	}
	return db.PortByName(iface.Name)
}

// restorePort puts back the VLAN settings saved at ADD and drops qinq's keys.
func restorePort(db *ovsdb.Client, port *ovsdb.Port) error {
	saved, err := savedVLAN(port)
	if err != nil {
		return err
	}
	return db.Reconfigure(port, saved, nil, ownerKeys())
}
