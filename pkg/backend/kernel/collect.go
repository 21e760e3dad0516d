package kernel

import (
	"errors"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
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
			errs = append(errs, deleteIfOrphan(n.Links, b.store.HostLinks(), v))
		}
	}
	return nil, errors.Join(append(errs, b.collectOwnNS())...)
}

// collectOwnNS deletes, in qinq's namespace, the bridges and their uplinks
// that nobody uses (their users are keyed like the uplink's).
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
			errs = append(errs, deleteIfOrphan(own.H, b.store.HostLinks(), l))
		}
	}
	return errors.Join(errs...)
}

// deleteIfOrphan judges a link by the key in its owner alias, the key its
// users are recorded under and whose master's lock ADD takes: under that
// lock an owned link nobody uses can only be a leftover.
func deleteIfOrphan(h netlinksafe.Handle, links record.Links, v netlink.Link) error {
	key, ok := netdev.OwnedLinkKey(v)
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
	return netdev.IgnoreGone(h.LinkDel(v))
}
