package kernel

import (
	"errors"
	"log/slog"
	"slices"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/cnierr"
	"github.com/qinq-cni/qinq/pkg/config"
	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/record"
)

// Detach removes the container link and releases the chain. Whatever is
// already gone (netns, links, master, users) is skipped.
func (b *Backend) Detach(p plan.Plan) error {
	n, err := b.namespaces(p.Attachment.Netns, p.InContainer, true)
	if err != nil {
		return err
	}
	if p.Endpoint.Kind() == config.LinkBridge {
		// The port is found by its name in qinq's namespace, whatever
		// became of the container end (gone with its netns, or renamed).
		return b.release(p, n, b.made(p))
	}
	return b.release(p, n, n.Container != nil && (b.made(p) || b.lostButOnChain(n, p)))
}

// lostButOnChain: the attachment's record is lost, and CNI_IFNAME is a link
// qinq would have made on the chain and no other network's record claims.
func (b *Backend) lostButOnChain(n *netdev.Namespaces, p plan.Plan) bool {
	return onChain(n, p) && !b.store.HeldByAnotherNetwork(p.Attachment)
}

// onChain reports whether CNI_IFNAME is the endpoint qinq would have made,
// stacked on the chain's own top link: after the records were lost (a
// cleared /run/qinq, another mount namespace) that is the evidence left.
func onChain(n *netdev.Namespaces, p plan.Plan) bool {
	if n.Container == nil || !n.HasLinks() || p.Endpoint.Link() == nil {
		return false
	}
	l, err := n.Container.LinkByName(p.Endpoint.Link().Name)
	if err != nil || !isEndpoint(l, p.Endpoint) {
		return false
	}
	top, err := n.Master(p.Master.Name)
	if found := resolve(n, p.Master.Name, p.Chain); len(found) > 0 {
		top, err = found[len(found)-1], nil
	}
	return err == nil && top.Found() && n.SameLink(l, top)
}

// made reports whether qinq may have made p's endpoint: a VLAN endpoint's
// user is recorded before the link is made, a macvlan's or ipvlan's
// attachment record; without either, the link in CNI_IFNAME's place is
// someone else's.
func (b *Backend) made(p plan.Plan) bool {
	if e, ok := p.Endpoint.(*plan.VLANEndpoint); ok {
		return b.store.Users(p).Uses(e.Key, p.Attachment)
	}
	_, found, err := b.store.Get(p.Attachment)
	return found && err == nil
}

// deleteEndpoint deletes CNI_IFNAME, or the link still under its temporary
// name if an ADD died before the rename, but only if it is the kind of link
// qinq would have made: an interface someone else put there is left alone.
func deleteEndpoint(c netlinksafe.Handle, e plan.Endpoint) error {
	name := e.Link().Name
	if l, err := c.LinkByName(name); err == nil {
		if !isEndpoint(l, e) {
			return nil
		}
		return netdev.Error("delete "+name, netdev.IgnoreGone(netdev.Retry(func() error { return c.LinkDel(l) })))
	}
	// Not under its name: an ADD may have died before the rename.
	links, err := c.LinkList()
	if err != nil {
		return netdev.Error("list the container's links", err)
	}
	var errs []error
	for _, l := range links {
		if netdev.IsTempName(l.Attrs().Name) && isEndpoint(l, e) {
			errs = append(errs, netdev.IgnoreGone(netdev.Retry(func() error { return c.LinkDel(l) })))
		}
	}
	return netdev.Error("delete "+name, errors.Join(errs...))
}

// isEndpoint reports whether l is a link of e's kind (and, for a VLAN link,
// with e's tag).
func isEndpoint(l netlink.Link, e plan.Endpoint) bool {
	if v, ok := e.(*plan.VLANEndpoint); ok {
		return netdev.CheckVLAN(l, v.Name, v.Tag, l.Attrs().MTU) == nil
	}
	return l.Type() == string(e.Kind())
}

// release drops the attachment's uses and deletes the chain links qinq owns
// that nobody uses any more. With endpoint, the container's link goes too:
// explicitly while the chain stays, or with it. Deleting a link deletes every
// link stacked on it in the same unregistration, and an unregistration is
// the dearest step of a DEL (it waits for the kernel's grace periods), so
// only the outermost link that goes is deleted: the last user of a chain
// pays for one deletion, however many links it had. Without endpoint (an
// ADD's rollback, a netns already gone) the endpoint is not release's
// business.
//
// A link goes only on evidence: its mark names this store alone and its
// users' directory exists and is empty. Otherwise it is kept and logged: a
// leaked link is an operator's chore (qinq-admin), a deleted one is an
// outage of every pod stacked on it.
func (b *Backend) release(p plan.Plan, n *netdev.Namespaces, endpoint bool) error {
	links := b.store.Users(p)
	unlock, err := lockChain(links, p)
	if err != nil {
		return cnierr.Internal("lock the chain's state", err)
	}
	defer unlock()
	var errs []error
	// The chain's uses go first, innermost first, and the endpoint's last:
	// a DEL that dies in between and is retried still knows the endpoint
	// is its own.
	usage := make([]record.Usage, len(p.Chain))
	for i := len(p.Chain) - 1; i >= 0; i-- {
		usage[i], err = links.Release(p.Chain[i].Key, p.Attachment)
		errs = append(errs, err)
	}
	if e, ok := p.Endpoint.(*plan.BridgeEndpoint); ok {
		// The users' directories stay until the links are gone: a DEL that
		// failed here and is repeated must still find them unused.
		if err := b.releaseBridge(releasing{p: p, n: n, usage: usage, port: endpoint}, e); err != nil {
			return cnierr.AsCNI("release the chain", errors.Join(append(errs, err)...))
		}
		for i, u := range usage {
			if u == record.Unused {
				errs = append(errs, links.Done(p.Chain[i].Key))
			}
		}
		errs = append(errs, links.Forget())
		return cnierr.AsCNI("release the chain", errors.Join(errs...))
	}
	outermost, found := -1, []netdev.At(nil)
	if slices.ContainsFunc(usage, func(u record.Usage) bool { return u != record.InUse }) {
		found = resolve(n, p.Master.Name, p.Chain)
	}
	for i := len(found) - 1; i >= 0; i-- {
		if b.goes(found[i].Link, usage[i]) {
			outermost = i
		}
	}
	if err := fault.Point(fault.Released); err != nil {
		return err
	}
	if endpoint && outermost < 0 {
		if err := deleteEndpoint(*n.Container, p.Endpoint); err != nil {
			return err
		}
	}
	if outermost >= 0 {
		errs = append(errs, netdev.DeleteShared(found[outermost].H, found[outermost].Link, b.store.ID()))
	}
	if err := fault.Point(fault.Unlinked); err != nil {
		return err
	}
	for i, u := range usage {
		if u == record.Unused {
			errs = append(errs, links.Done(p.Chain[i].Key))
		}
	}
	if e, ok := p.Endpoint.(*plan.VLANEndpoint); ok {
		u, err := links.Release(e.Key, p.Attachment)
		errs = append(errs, err)
		if u == record.Unused {
			errs = append(errs, links.Done(e.Key))
		}
	}
	errs = append(errs, links.Forget())
	return cnierr.AsCNI("release the chain", errors.Join(errs...))
}

// lockChain takes the master's lock (shared) and, whole, the lock of every
// key of p's chain, outermost first, and of its endpoint's VLAN: deleting a
// link deletes what is stacked on it. An ADD holds one key at a time.
func lockChain(links record.Users, p plan.Plan) (unlock func(), err error) {
	keys := make([]string, 0, len(p.Chain)+1)
	for _, l := range p.Chain {
		keys = append(keys, l.Key)
	}
	if e, ok := p.Endpoint.(*plan.VLANEndpoint); ok {
		keys = append(keys, e.Key)
	}
	return links.LockKeys(p.Master.Name, keys...)
}

// goes reports whether the shared link l, whose users in this store are u,
// is to be deleted; a link kept for want of evidence is logged.
func (b *Backend) goes(l netlink.Link, u record.Usage) bool {
	if l == nil || !netdev.Owned(l) || u == record.InUse {
		return false // gone, an admin's, or used
	}
	deletable := netdev.DeletableBy(l, b.store.ID())
	if deletable && u == record.Unused {
		return true
	}
	KeptLink(l, b.store.ID(), u)
	return false
}

// KeptLink logs a shared link kept because its users cannot be known here.
func KeptLink(l netlink.Link, store string, u record.Usage) {
	o, _ := netdev.OwnerOf(l)
	slog.Warn("kept a shared link whose users this store cannot know (see qinq-admin)",
		"link", l.Attrs().Name, "key", o.Key, "markedBy", o.Stores, "store", store, "recordedUsers", u.String())
}

// resolve finds which of chain exist, and where (netdev.Namespaces.Find),
// outermost first; a missing one (and so everything above it) is not Found.
func resolve(n *netdev.Namespaces, master string, chain []plan.VLANLink) []netdev.At {
	found := make([]netdev.At, len(chain))
	if !n.HasLinks() {
		return found
	}
	parent, err := n.Master(master)
	if err != nil {
		return found
	}
	for i, l := range chain {
		f, err := n.Find(parent, l, true)
		if err != nil || !f.Found() {
			break
		}
		found[i], parent = f, f
	}
	return found
}
