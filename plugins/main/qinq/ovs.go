package main

import (
	"errors"

	"github.com/containernetworking/cni/pkg/skel"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/netlinksafe"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/ovs"
	"github.com/qinq-cni/qinq/pkg/refs"
	"github.com/qinq-cni/qinq/pkg/undo"
)

// OVS mode: the container sits behind an Open vSwitch dot1q-tunnel port.
// Standalone (bridge given) qinq makes the veth and the port; chained (no
// bridge) it turns the port an earlier plugin made into a dot1q-tunnel port.
// Which of the two is decided by the config alone: libcni hands DEL and
// CHECK the cached ADD result as prevResult, so its presence says nothing.

// addOVS builds the attachment and prints the result, like cmdAdd.
func addOVS(inv *invocation, _ *skel.CmdArgs) (err error) {
	db, err := dialOVS(inv.conf)
	if err != nil {
		return err
	}
	defer db.Close()
	var u undo.Stack
	defer func() { err = withUndo(err, u.Rollback()) }()
	var result *current.Result
	if inv.conf.Chained() {
		result, err = addChained(db, inv, &u)
	} else {
		result, err = addStandalone(db, inv, &u)
	}
	if err != nil {
		return err
	}
	return printAndKeep(result, inv.conf.CNIVersion, &u)
}

// delOVS undoes ADD; whatever is already gone is skipped.
func delOVS(inv *invocation, _ *skel.CmdArgs) error {
	db, err := ovs.Dial(inv.conf.OVSDBSocket)
	if err != nil {
		return err // without OVSDB the port cannot be removed: let the runtime retry
	}
	defer db.Close()
	if inv.conf.Chained() {
		return delChained(db, inv)
	}
	if err := delStandalone(db, inv); err != nil {
		return err
	}
	if inv.conf.IPAMType != "" {
		if err := ipam.ExecDel(inv.conf.IPAMType, inv.conf.Raw); err != nil {
			return cnierr.AsCNI("release the IPAM allocation", err)
		}
	}
	return nil
}

// checkOVS verifies the switch, the port and the container links.
func checkOVS(inv *invocation, _ *skel.CmdArgs) error {
	db, err := dialOVS(inv.conf)
	if err != nil {
		return err
	}
	defer db.Close()
	if inv.conf.Chained() {
		return checkChained(db, inv)
	}
	return checkStandalone(db, inv)
}

// statusOVS: OVSDB reachable, vlan-limit right, the bridge there, then IPAM.
func statusOVS(conf *config.Config) error {
	db, err := dialOVS(conf)
	if err != nil {
		return err
	}
	defer db.Close()
	if !conf.Chained() {
		br, err := db.Bridge(conf.Bridge)
		if err != nil {
			return err
		}
		if br == nil {
			return cnierr.Unavailable("bridge %q: no such Open vSwitch bridge on this node", conf.Bridge)
		}
	}
	if conf.IPAMType != "" {
		return ipam.ExecStatus(conf.IPAMType, conf.Raw)
	}
	return nil
}

// gcOVS (CNI 1.1.0) removes this network's ports whose attachment valid
// rejects (standalone: the port and its veth; chained: the port's VLAN
// settings are restored). IPAM is left to the caller. It does all it can and
// reports every error.
func gcOVS(conf *config.Config, keep func(refs.Attachment) bool) ([]refs.Attachment, error) {
	db, err := ovs.Dial(conf.OVSDBSocket)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	stale, err := db.Ports(func(p *ovs.Port) bool {
		o, ok := ovs.OwnerOf(p.ExternalIDs)
		return ok && o.Network == conf.Name && !keep(o.Attachment())
	})
	if err != nil {
		return nil, err
	}
	var errs []error
	var detached []refs.Attachment
	for i := range stale {
		detach := removePort
		if conf.Chained() {
			detach = restorePort
		}
		if err := detach(db, &stale[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		o, _ := ovs.OwnerOf(stale[i].ExternalIDs)
		detached = append(detached, o.Attachment())
	}
	errs = append(errs, sweepPortlessVeths(db))
	return detached, errors.Join(errs...)
}

// sweepPortlessVeths deletes host veths with qinq's names that no OVS port
// uses: an ADD killed between making the veth and adding the port. The spec
// runs GC only while no ADD or DEL is in progress, so none is in flight.
func sweepPortlessVeths(db *ovs.Client) error {
	links, err := netlinksafe.LinkList()
	if err != nil {
		return cnierr.Internal("list the host's links", err)
	}
	var errs []error
	for _, l := range links {
		if l.Type() != "veth" || !ovs.IsHostVethName(l.Attrs().Name) {
			continue
		}
		if p, err := db.PortByName(l.Attrs().Name); err != nil || p != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, deleteHostVeth(l.Attrs().Name))
	}
	return errors.Join(errs...)
}

// dialOVS connects and refuses a switch that cannot carry two VLAN headers.
func dialOVS(conf *config.Config) (*ovs.Client, error) {
	db, err := ovs.Dial(conf.OVSDBSocket)
	if err != nil {
		return nil, err
	}
	if err := checkVLANLimit(db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// checkVLANLimit: with OVS's default vlan-limit of 1 the switch parses one
// tag only, so the C-tag inside the S-tag is invisible and dot1q-tunnel
// cannot work.
func checkVLANLimit(db *ovs.Client) error {
	limit, err := db.VLANLimit()
	if err != nil {
		return err
	}
	if limit == "0" || limit == "2" {
		return nil
	}
	if limit == "" {
		limit = "unset (OVS's default, 1)"
	}
	return cnierr.Unavailable("Open vSwitch cannot carry QinQ here: Open_vSwitch other_config:vlan-limit is %s, must be 2 (or 0). "+
		"Run `ovs-vsctl set Open_vSwitch . other_config:vlan-limit=2`, then restart ovs-vswitchd: it probes the limit only when it starts "+
		"(setting it later leaves \"Max VLAN headers: 1\" in `ovs-appctl dpif/show-dp-features <bridge>`)", limit)
}

// owner is the ownership record of this invocation's attachment.
func (inv *invocation) owner() ovs.Owner {
	a := inv.attachment
	return ovs.Owner{Network: a.Network, ContainerID: a.ContainerID, IfName: a.IfName, Netns: a.Netns}
}
