// Package ovs is the Open vSwitch backend: the container sits behind an OVS
// port configured like Cisco's `switchport mode dot1q-tunnel`. Standalone
// (bridge given) it makes a veth and the port; chained (no bridge) it turns
// the port an earlier plugin made into a dot1q-tunnel port, saving that
// port's own settings on the port to restore them at DEL.
package ovs

import (
	"github.com/qinq-cni/qinq/pkg/backend/ovs/ovsdb"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/record"
)

// defaultBridgeMTU is used when OVS reports no MTU for the bridge.
const defaultBridgeMTU = 1500

// Backend builds OVS attachments for one network configuration.
type Backend struct {
	conf *config.Config // nil when only recorded plans are detached
	// store holds the records GC's sweep goes by and the bridges' locks.
	store record.Store
	db    *ovsdb.Client
	// ns are the container's namespaces while an ADD builds in them: the
	// undo steps use them after Attach returns.
	ns *netdev.Namespaces
}

// New returns the OVS backend for conf.
func New(conf *config.Config, store record.Store) *Backend { return &Backend{conf: conf, store: store} }

// lockBridge takes bridge's lock: shared by ADDs from their veth to their
// port, exclusive for GC's sweep of veths without a port.
func (b *Backend) lockBridge(bridge string, exclusive bool) (func(), error) {
	take := b.store.HostUsers().LockShared
	if exclusive {
		take = b.store.HostUsers().Lock
	}
	unlock, err := take("ovs-bridge-" + bridge)
	if err != nil {
		return nil, cnierr.Internal("lock bridge "+bridge, err)
	}
	return unlock, nil
}

// Close ends the OVSDB connection, if one was made.
func (b *Backend) Close() {
	if b.ns != nil {
		b.ns.Close()
		b.ns = nil
	}
	if b.db != nil {
		b.db.Close()
		b.db = nil
	}
}

// connect dials OVSDB once.
func (b *Backend) connect(socket string) (*ovsdb.Client, error) {
	if b.db != nil {
		return b.db, nil
	}
	db, err := ovsdb.Dial(socket)
	if err != nil {
		return nil, err
	}
	b.db = db
	return db, nil
}

// connectForRemoval dials OVSDB to take something away: without OVSDB
// nothing can be removed, and a switch that is down now will be up again,
// so the runtime is told to retry (code 11), not that DEL succeeded.
func (b *Backend) connectForRemoval(socket string) (*ovsdb.Client, error) {
	db, err := b.connect(socket)
	if err != nil {
		return nil, cnierr.TryAgain("OVSDB at "+socket+" is unreachable", err)
	}
	return db, nil
}

// connectToBuild dials OVSDB and refuses a switch that cannot carry two VLAN
// headers: with OVS's default vlan-limit of 1 the C-tag inside the S-tag is
// invisible and dot1q-tunnel cannot work.
func (b *Backend) connectToBuild() (*ovsdb.Client, error) {
	db, err := b.connect(b.conf.OVSDBSocket)
	if err != nil {
		return nil, err
	}
	limit, err := db.VLANLimit()
	if err != nil || limit == "0" || limit == "2" {
		return db, err
	}
	if limit == "" {
		limit = "unset (OVS's default, 1)"
	}
	return nil, cnierr.Unavailable("Open vSwitch cannot carry QinQ here: Open_vSwitch other_config:vlan-limit is %s, must be 2 (or 0). "+
		"Run `ovs-vsctl set Open_vSwitch . other_config:vlan-limit=2`, then restart ovs-vswitchd: it probes the limit only when it starts "+
		"(setting it later leaves \"Max VLAN headers: 1\" in `ovs-appctl dpif/show-dp-features <bridge>`)", limit)
}

// Plan checks the bridge (standalone) or finds the earlier plugin's port
// (chained), and plans a. Nothing changes.
func (b *Backend) Plan(a plan.Attachment) (plan.Plan, error) {
	db, err := b.connectToBuild()
	if err != nil {
		return plan.Plan{}, err
	}
	if b.conf.Chained() {
		p, err := plan.For(b.conf, a, 0)
		if err != nil {
			return p, err
		}
		port, err := chainedPort(db, b.conf)
		if err != nil {
			return p, err
		}
		// prevResult is the NAD author's to write: only the port whose veth
		// ends in this container is this attachment's to reconfigure.
		if own, err := netdev.VethPeerIn(port.Name, a.Netns); err != nil || !own {
			return p, orGone(err, "OVS port %q is not the host end of a veth whose other end is in CNI_NETNS: "+
				"chained mode reconfigures only the container's own port", port.Name)
		}
		p.Switch.Port = port.Name
		return p, nil
	}
	br, err := db.Bridge(b.conf.Bridge)
	if err != nil {
		return plan.Plan{}, err
	}
	if br == nil {
		return plan.Plan{}, cnierr.InvalidConfig("bridge", "%q: no such Open vSwitch bridge", b.conf.Bridge)
	}
	mtu, err := db.InterfaceMTU(br.Name)
	if err != nil {
		return plan.Plan{}, err
	}
	if mtu == 0 {
		mtu = defaultBridgeMTU
	}
	return plan.For(b.conf, a, mtu)
}

// Status: OVSDB reachable, vlan-limit right, the bridge there.
func (b *Backend) Status() error {
	db, err := b.connectToBuild()
	if err != nil || b.conf.Chained() {
		return err
	}
	br, err := db.Bridge(b.conf.Bridge)
	if err != nil {
		return err
	}
	if br == nil {
		return cnierr.Unavailable("bridge %q: no such Open vSwitch bridge on this node", b.conf.Bridge)
	}
	return nil
}
