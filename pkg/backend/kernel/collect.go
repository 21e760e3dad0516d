package kernel

import (
	"errors"
	"strings"

	"github.com/vishvananda/netlink"

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
			errs = append(errs, deleteIfOrphan(n, b.store.HostLinks(), v))
		}
	}
	return nil, errors.Join(errs...)
}

// deleteIfOrphan judges a link by the key in its owner alias, the key its
// users are recorded under and whose master's lock ADD takes: under that
// lock an owned link nobody uses can only be a leftover.
func deleteIfOrphan(n *netdev.Namespaces, links record.Links, v *netlink.Vlan) error {
	key, ok := netdev.OwnedKey(v)
	if !ok {
		// Still under its temporary name: its creator is running, or died
		// after recording its use, which DEL or GC's detach then follows.
		return nil
	}
	master, _, _ := strings.Cut(key, ":")
	unlock, err := links.Lock(master)
	if err != nil {
		return err
	}
	defer unlock()
	if unused, err := links.Unused(key); err != nil || !unused {
		return err
	}
	return netdev.IgnoreGone(n.Links.LinkDel(v))
}
