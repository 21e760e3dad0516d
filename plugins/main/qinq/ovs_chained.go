package main

import (
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/ovs"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// addChained turns the port named by prevResult into a dot1q-tunnel port.
// The port's own VLAN settings are saved in its external_ids, so DEL can
// restore them without local state. prevResult passes through unchanged.
func addChained(db *ovs.Client, inv *invocation, u *undo.Stack) (*current.Result, error) {
	prev, err := baseResult(inv.conf)
	if err != nil {
		return nil, err
	}
	p, err := chainedPort(db, prev)
	if err != nil {
		return nil, err
	}
	want, err := ovs.Tunnel(inv.conf)
	if err != nil {
		return nil, err
	}
	saved, err := originalVLAN(p, inv.owner())
	if err != nil {
		return nil, err
	}
	ids := inv.owner().ExternalIDs()
	ids[ovs.KeySaved] = saved.Encode()
	// Pushed first: a commit whose application times out still changed the port.
	u.Push("restore the port's VLAN settings", func() error { return db.Reconfigure(p, saved, nil, ovs.OwnerKeys()) })
	if err := db.Reconfigure(p, want, ids, ovs.OwnerKeys()); err != nil {
		return nil, err
	}
	return prev, nil
}

// originalVLAN is what DEL restores: the port's settings now, or, when this
// attachment already reconfigured it (a repeated ADD), what it saved then.
func originalVLAN(p *ovs.Port, me ovs.Owner) (ovs.VLAN, error) {
	o, owned := ovs.OwnerOf(p.ExternalIDs)
	if !owned {
		return ovs.VLANOf(p), nil
	}
	if !o.Is(me) {
		return ovs.VLAN{}, cnierr.Conflict("OVS port %q is already a dot1q-tunnel port of container %s (%s)", p.Name, o.ContainerID, o.IfName)
	}
	v, err := ovs.DecodeVLAN(p.ExternalIDs[ovs.KeySaved])
	if err != nil {
		return ovs.VLAN{}, cnierr.Internal("read the port's saved VLAN settings", err)
	}
	return v, nil
}

// chainedPort finds the OVS port among prevResult's host-side interfaces
// (no sandbox), skipping a bridge's own port (ovs-cni lists the bridge too).
func chainedPort(db *ovs.Client, prev *current.Result) (*ovs.Port, error) {
	var found []*ovs.Port
	for _, iface := range prev.Interfaces {
		if iface.Sandbox != "" || iface.Name == "" {
			continue
		}
		if br, err := db.Bridge(iface.Name); err != nil || br != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		p, err := db.PortByName(iface.Name)
		if err != nil {
			return nil, err
		}
		if p != nil {
			found = append(found, p)
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

// delChained restores the port named by prevResult, if it still exists and
// is this attachment's. Without prevResult there is nothing to go by: the
// earlier plugin's DEL, which runs after ours, deletes its port anyway.
func delChained(db *ovs.Client, inv *invocation) error {
	if inv.conf.PrevResult == nil {
		return nil
	}
	prev, err := baseResult(inv.conf)
	if err != nil {
		return nil // an unreadable prevResult names no port to touch
	}
	p, err := chainedPort(db, prev)
	if err != nil {
		return nil // the port is gone
	}
	if o, ok := ovs.OwnerOf(p.ExternalIDs); !ok || !o.Is(inv.owner()) {
		return nil
	}
	return restorePort(db, p)
}

// restorePort puts back the VLAN settings saved at ADD and drops qinq's keys.
func restorePort(db *ovs.Client, p *ovs.Port) error {
	saved, err := ovs.DecodeVLAN(p.ExternalIDs[ovs.KeySaved])
	if err != nil {
		return cnierr.Internal("read the port's saved VLAN settings", err)
	}
	return db.Reconfigure(p, saved, nil, ovs.OwnerKeys())
}

// checkChained: the port named by prevResult is ours and a dot1q-tunnel
// port as configured.
func checkChained(db *ovs.Client, inv *invocation) error {
	prev, err := baseResult(inv.conf)
	if err != nil {
		return err
	}
	p, err := chainedPort(db, prev)
	if err != nil {
		return cnierr.CheckFailed("%v", err)
	}
	if o, ok := ovs.OwnerOf(p.ExternalIDs); !ok || !o.Is(inv.owner()) {
		return cnierr.CheckFailed("OVS port %q was not reconfigured by this attachment (external_ids %v)", p.Name, p.ExternalIDs)
	}
	want, err := ovs.Tunnel(inv.conf)
	if err != nil {
		return err
	}
	if m := ovs.Mismatch(want, ovs.VLANOf(p)); m != "" {
		return cnierr.CheckFailed("OVS port %q: %s", p.Name, m)
	}
	return nil
}
