package kernel

import (
	"errors"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/fault"
	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
	"github.com/qinq-cni/qinq/pkg/record"
)

// Collect deletes the shared links on the host that qinq owns and nobody
// uses (left by a crash, or by an attachment whose record went missing).
// Attachments are detached by their records, before this runs.
func (b *Backend) Collect(string, func(plan.Attachment) bool) ([]plan.Attachment, error) {
	n, err := b.namespaces("", false, true)
	if err != nil {
		return nil, err
	}
	list, err := n.Links.LinkList()
	if err != nil {
		return nil, netdev.Error("list links", err)
	}
	var errs []error
	for _, l := range list {
		if v, ok := l.(*netlink.Vlan); ok {
			errs = append(errs, deleteIfOrphan(n, b.store.HostUsers(), b.store.ID(), v))
		}
	}
	return nil, errors.Join(append(errs, b.collectOwnNS())...)
}

// collectOwnNS deletes, in qinq's namespace, the bridges and their uplinks
// that nobody uses: marked by this store (qinq's netns is its alone), their
// users (one key for a bridge and its uplink) recorded as none.
func (b *Backend) collectOwnNS() error {
	own, err := b.ownNS(false)
	if err != nil || own == nil {
		return err
	}
	list, err := own.H.LinkList()
	if err != nil {
		return netdev.Error("list the links of qinq's network namespace", err)
	}
	var errs []error
	for _, l := range list {
		if l.Type() == "bridge" || l.Type() == "vlan" {
			errs = append(errs, b.deleteOwnOrphan(own, l))
		}
	}
	return errors.Join(errs...)
}

func (b *Backend) deleteOwnOrphan(own *netdev.Own, l netlink.Link) error {
	key, ok := netdev.OwnedLinkKey(l)
	if !ok || !netdev.DeletableBy(l, b.store.ID()) {
		return nil // still being made (DEL or the next ADD finishes it), or not this store's
	}
	links := b.store.HostUsers()
	unlock, err := lockKey(links, key)
	if err != nil {
		return err
	}
	defer unlock()
	if u, err := links.Usage(key); err != nil || u != record.Unused {
		return err
	}
	if err := netdev.IgnoreGone(own.H.LinkDel(l)); err != nil {
		return err
	}
	return links.Done(key)
}

// lockKey takes key's lock whole under its master's, as DEL does: GC
// judges and deletes one link under it. The links stacked on it go with
// it, and have no user either: every user of a link is recorded as a user
// of the links below it first.
func lockKey(links record.Users, key string) (unlock func(), err error) {
	master, _, _ := strings.Cut(key, ":")
	return links.LockKeys(master, key)
}

// deleteIfOrphan judges a link by its owner mark: only a link this store
// (or a release before store identities) alone marked, whose users'
// directory (under the key in the mark, whose lock ADD takes)
// exists and is empty, is a leftover. Another store's link and one whose
// users are unknown are kept.
func deleteIfOrphan(n *netdev.Namespaces, links record.Users, store string, v *netlink.Vlan) error {
	o, ok := netdev.OwnerOf(v)
	if !ok {
		// An admin's, or still under its temporary name: its creator is
		// running, or died after recording its use, which DEL or GC's
		// detach then follows.
		return nil
	}
	if !netdev.DeletableBy(v, store) {
		return nil // another store's users may be on it: never reclaimed here
	}
	unlock, err := lockKey(links, o.Key)
	if err != nil {
		return err
	}
	defer unlock()
	// Listed before the lock: a DEL may have deleted it since, or an ADD
	// joined its mark.
	now, err := n.Links.LinkByIndex(v.Attrs().Index)
	if netdev.IsGone(err) || (err == nil && now.Attrs().Alias != v.Attrs().Alias) {
		return nil
	}
	if err != nil {
		return netdev.Error("find "+v.Attrs().Name, err)
	}
	switch u, err := links.Usage(o.Key); {
	case err != nil:
		return err
	case u == record.Unknown:
		KeptLink(v, store, u)
		return nil
	case u == record.InUse:
		return nil
	}
	if err := fault.Point(fault.Orphan); err != nil {
		return err
	}
	if err := netdev.IgnoreGone(n.Links.LinkDel(v)); err != nil {
		return err
	}
	return links.Done(o.Key)
}
