package kernel

import (
	"errors"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/backend"
	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/record"
)

// ownNS opens qinq's own network namespace (once per invocation); with make
// it is made when missing, else a missing one is nil: nothing is in it.
func (b *Backend) ownNS(make bool) (*netdev.Own, error) {
	if b.own != nil {
		return b.own, nil
	}
	own, err := netdev.OpenOwnNS(b.store.OwnNS(), make)
	if err != nil || own == nil {
		return nil, err
	}
	b.own = own
	return own, nil
}

func bridgeSpec(p plan.Plan, e *plan.BridgeEndpoint, store string) netdev.BridgeSpec {
	j := p.Joined()
	return netdev.BridgeSpec{Name: e.Bridge, Key: j.Key, Store: store, MTU: j.MTU, VLANs: e.AllowedCVlans, Reserved: reserved(p)}
}

// attachBridge reserves the chain and the bridge on its last link under the
// locks of the master and of each link's key, then gives the container a
// veth pair whose host end is a locked port of the bridge.
func (b *Backend) attachBridge(a *attachment, e *plan.BridgeEndpoint) (backend.Attached, error) {
	own, err := b.ownNS(true)
	if err != nil {
		return backend.Attached{}, err
	}
	p, n := a.p, a.n
	n.Own = own
	a.u.Push("release the chain", func() error { return b.release(p, n, false) })
	bridge, err := a.reserveBridge(e)
	if err != nil {
		return backend.Attached{}, err
	}
	l, how, err := a.createPort(portOn{e: e, bridge: bridge, spec: bridgeSpec(p, e, a.store)})
	if err != nil {
		return backend.Attached{}, err
	}
	iface := &current.Interface{Name: l.Attrs().Name, Mac: l.Attrs().HardwareAddr.String(), Sandbox: p.Attachment.Netns}
	return backend.Attached{Container: iface, AntiSpoof: string(how)}, nil
}

// reserveBridge records the attachment as a user of every chain link and
// finds or makes them; the last one is the bridge's uplink, in qinq's
// namespace, and the bridge goes with it (one key, one set of users).
func (a *attachment) reserveBridge(e *plan.BridgeEndpoint) (netlink.Link, error) {
	p, own, links := a.p, a.n.Own, a.users
	unlock, err := links.LockMaster(p.Master.Name)
	if err != nil {
		return nil, cnierr.Internal("lock the master's state", err)
	}
	defer unlock()
	outer := p.Chain[:len(p.Chain)-1]
	parent, err := a.attachChain(outer)
	if err != nil {
		return nil, err
	}
	j := p.Joined()
	spec := bridgeSpec(p, e, a.store)
	mark := netdev.Mark{Store: a.store, Reserved: reserved(p), Top: true}
	// The uplink and its bridge have one key. Pods joining them as they are
	// hold its lock shared (JoinBridge then only repeats settings).
	unlockKey, err := links.LockKey(j.Key, true)
	if err != nil {
		return nil, cnierr.Internal("lock "+j.Name, err)
	}
	joined, bridge, ready, err := netdev.BridgeReady(own, j, spec, mark)
	if err == nil && ready {
		err = a.record(j.Key, j.Name)
	}
	if err == nil && ready {
		err = netdev.JoinBridge(own, joined, bridge, spec)
	}
	unlockKey()
	if err != nil {
		return nil, err
	}
	if !ready {
		if bridge, err = a.makeBridge(parent, j, spec, mark); err != nil {
			return nil, err
		}
	}
	return bridge, fault.Point(fault.Bridge)
}

// makeBridge records the attachment as a user of the uplink j, then
// finds, finishes or makes it on parent and its bridge, and joins them,
// under their key's lock whole.
func (a *attachment) makeBridge(parent netdev.At, j plan.VLANLink, spec netdev.BridgeSpec, mark netdev.Mark) (netlink.Link, error) {
	unlock, err := a.users.LockKey(j.Key, false)
	if err != nil {
		return nil, cnierr.Internal("lock "+j.Name, err)
	}
	defer unlock()
	if err := a.record(j.Key, j.Name); err != nil {
		return nil, err
	}
	held := conflict{a: a, tag: j.Tag, key: j.Key, parent: parent}
	joined, err := netdev.EnsureJoined(a.n, parent, j, mark, held.explain)
	if err != nil {
		return nil, err
	}
	if err := fault.Point(fault.SharedLink); err != nil {
		return nil, err
	}
	bridge, err := netdev.EnsureBridge(a.n.Own, spec)
	if err != nil {
		return nil, err
	}
	return bridge, netdev.JoinBridge(a.n.Own, joined, bridge, spec)
}

// portOn is a pod's port to make on a bridge.
type portOn struct {
	e      *plan.BridgeEndpoint
	bridge netlink.Link
	spec   netdev.BridgeSpec
}

// createPort creates the veth pair (the container end already CNI_IFNAME),
// locks its host end on the bridge to the container end's MAC, then sets
// the container end up: the pod sends nothing before its port accepts only
// its own MAC.
func (a *attachment) createPort(on portOn) (netlink.Link, netdev.AntiSpoof, error) {
	n, own, u := a.n, a.n.Own, a.u
	e := on.e
	ctr := *n.Container
	port := netdev.Port{HostName: e.HostName, Name: e.Name, MTU: e.MTU, MAC: e.HardwareAddr()}
	if err := netdev.CreatePortPair(own, ctr, port); err != nil {
		return nil, "", err
	}
	u.Push("delete the bridge port "+e.HostName, func() error { return netdev.DeleteNamed(own.H, e.HostName, "veth") })
	if err := fault.Point(fault.ContainerLink); err != nil {
		return nil, "", err
	}
	l, err := ctr.LinkByName(e.Name)
	if err != nil {
		return nil, "", cnierr.Internal("find the new container link "+e.Name, err)
	}
	host, err := own.H.LinkByName(e.HostName)
	if err != nil {
		return nil, "", cnierr.Internal("find the bridge port "+e.HostName, err)
	}
	how, err := netdev.AttachPort(own, host, on.bridge, l.Attrs().HardwareAddr, on.spec)
	if err != nil {
		return nil, "", err
	}
	// Down: KubeVirt brings it up once the VM is here (disableContainerInterface).
	if !e.Down {
		if err := netdev.SetUp(ctr, l); err != nil {
			return nil, "", err
		}
	}
	if err := fault.Point(fault.Renamed); err != nil {
		return nil, "", err
	}
	return l, how, nil
}

// resolveBridgeChain is resolve for a bridge plan: the outer links where
// they are, the last one in qinq's namespace (nil where missing), or, still
// on the host under its temporary name, the one an older release's ADD died
// with before moving it.
func resolveBridgeChain(n *netdev.Namespaces, own *netdev.Own, p plan.Plan) []netdev.At {
	last := len(p.Chain) - 1
	found := append(resolve(n, p.Master.Name, p.Chain[:last]), netdev.At{})
	if own != nil {
		if l, _ := netdev.FindOwnedLink(own.H, p.Joined()); l != nil {
			found[last] = netdev.At{Link: l, H: own.H, Own: true}
			return found
		}
	}
	if !n.HasLinks() {
		return found
	}
	var parent netdev.At
	if last > 0 {
		parent = found[last-1]
	} else if m, err := n.Master(p.Master.Name); err == nil {
		parent = m
	}
	if !parent.Found() {
		return found
	}
	if l, err := n.Find(parent, p.Joined(), true); err == nil && l.Found() && netdev.IsTempName(l.Attrs().Name) {
		found[last] = l
	}
	return found
}

// releasing is what release hands releaseBridge: the plan, its namespaces,
// what the chain's users' records said once this attachment's uses went
// (outermost first), and whether the pod's port is release's to delete.
type releasing struct {
	p     plan.Plan
	n     *netdev.Namespaces
	usage []record.Usage
	port  bool
}

// releaseBridge is release's part for a bridge plan, under the chain's
// locks (lockChain), once the chain's uses are released (usage): the
// attachment's port goes (taking the container end with it); when the
// chain's last link has no user left, the bridge goes; and the outermost
// chain link that goes goes (an ADD that failed before recording the last
// link's user leaves its outer links to go) (deleting a host link takes the
// links stacked on it, the one in qinq's namespace too).
func (b *Backend) releaseBridge(r releasing, e *plan.BridgeEndpoint) error {
	p, n, usage := r.p, r.n, r.usage
	own, err := b.ownNS(false)
	if err != nil {
		return err
	}
	var errs []error
	if r.port && own != nil {
		errs = append(errs, netdev.DeleteNamed(own.H, e.HostName, "veth"))
	}
	if usage[len(usage)-1] == record.InUse {
		// The chain's last link still has users: so has every link.
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if err := fault.Point(fault.Released); err != nil {
			return err
		}
		return fault.Point(fault.Unlinked)
	}
	found := resolveBridgeChain(n, own, p)
	// The bridge goes with the link it joins, on the same evidence: no users
	// recorded, and a mark only this store holds (after a lost store, the
	// pods on the bridge are unknown, not absent).
	joined := found[len(found)-1]
	if own != nil && usage[len(usage)-1] == record.Unused && (!joined.Found() || netdev.DeletableBy(joined.Link, b.store.ID())) {
		errs = append(errs, netdev.DeleteBridge(own.H, e.Bridge, p.Joined().Key))
	}
	outermost := -1
	for i := len(found) - 1; i >= 0; i-- {
		if b.goes(found[i].Link, usage[i]) {
			outermost = i
		}
	}
	if err := fault.Point(fault.Released); err != nil {
		return err
	}
	if outermost >= 0 {
		errs = append(errs, netdev.DeleteShared(found[outermost].H, found[outermost].Link, b.store.ID()))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return fault.Point(fault.Unlinked)
}
