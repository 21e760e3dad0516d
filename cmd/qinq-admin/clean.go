package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/record"
)

// clean deletes an owned link with nothing stacked on it that is not
// qinq's and no user anywhere, with the users' directories of every shared
// link of its tree. Under the master's lock taken whole (ADD, DEL and GC
// take it shared): a temporary-named link of an ADD running now is that
// ADD's.
func (a *admin) clean(w io.Writer, name string) error {
	l, err := a.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %q: %w", name, err)
	}
	users := a.store.HostUsers()
	unlock, err := users.Lock(a.masterOf(l))
	if err != nil {
		return err
	}
	defer unlock()
	if a.links, err = a.h.LinkList(); err != nil { // as they are under the lock
		return err
	}
	t, err := a.tree(w, name)
	if err != nil {
		return err
	}
	if err := cleanable(t, a.store.ID(), users.Usage); err != nil {
		for _, p := range t.podsAbove(t.link) {
			fmt.Fprintf(w, "in use: %s\n", p)
		}
		return err
	}
	if err := netdev.IgnoreGone(a.h.LinkDel(t.link)); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	var errs []error
	for _, h := range t.hosts {
		if o, ok := netdev.OwnerOf(h); ok {
			errs = append(errs, users.Clear(o.Key))
		}
	}
	fmt.Fprintf(w, "deleted %s and the %d host links stacked on it\n", name, len(t.hosts)-1)
	return errors.Join(errs...)
}

// masterOf is the name whose lock ADD and DEL take for l: the master in
// its owner mark's key, else its lowest ancestor in the host's namespace.
func (a *admin) masterOf(l netlink.Link) string {
	if o, ok := netdev.OwnerOf(l); ok {
		master, _, _ := strings.Cut(o.Key, ":")
		return master
	}
	byIndex := map[int]netlink.Link{}
	for _, h := range a.links {
		byIndex[h.Attrs().Index] = h
	}
	for i := 0; i < 8; i++ { // a chain is a few links deep
		p, ok := byIndex[l.Attrs().ParentIndex]
		if !ok || l.Attrs().NetNsID >= 0 {
			break
		}
		l = p
	}
	return l.Attrs().Name
}

// cleanable says why t's root may not be deleted, nil if it may. Deleting a
// link deletes every VLAN link on it, so the whole tree must be qinq's and
// unused: each host link in it owned (ownedForClean), no link of another
// namespace on it (a pod's, a bridge uplink in qinq's namespace), every
// namespace read, and no user recorded in this store.
func cleanable(t tree, store string, usage func(key string) (record.Usage, error)) error {
	name := t.link.Attrs().Name
	for _, h := range t.hosts {
		if !ownedForClean(h, store) {
			if h == t.link {
				return fmt.Errorf("%s is not this clean's to delete (no owner mark: an admin's link; or a temporary name, "+
					"of an ADD running now or marked by another store): never deleted", name)
			}
			return fmt.Errorf("%s stacks on %s and is not this clean's to delete (an admin's link, or another store's "+
				"in the making): deleting %s would delete it", h.Attrs().Name, name, name)
		}
	}
	for _, h := range t.hosts {
		// A bridge's uplink in the tree's own namespace (chain links live in
		// qinq's): the bridge's ports are pods, which stack on no link.
		if h.Attrs().MasterIndex != 0 {
			return fmt.Errorf("%s is in use: %s is a port of a bridge, whose other ports are pods': adopt it instead", name, h.Attrs().Name)
		}
	}
	if pods := t.podsAbove(t.link); len(pods) > 0 {
		return fmt.Errorf("%s is in use by %d links in other network namespaces: adopt it instead", name, len(pods))
	}
	if t.unscanned > 0 {
		return fmt.Errorf("%d network namespaces could not be read: what stacks on %s there is unknown", t.unscanned, name)
	}
	for _, h := range t.hosts {
		o, ok := netdev.OwnerOf(h)
		if !ok {
			continue
		}
		u, err := usage(o.Key)
		if err != nil {
			return fmt.Errorf("users of %s: %w", h.Attrs().Name, err)
		}
		if u == record.InUse {
			return fmt.Errorf("%s has users recorded in this store (key %s): their DEL deletes it", h.Attrs().Name, o.Key)
		}
	}
	return nil
}

// ownedForClean: a link with its final name and qinq's mark, of any store
// (clean is for the links of lost stores); a link under qinq's temporary
// name is on its way through an ADD, and is clean's only when that ADD was
// this store's (its mark names this store alone, and clean holds the lock
// that ADD held) or died before marking it (no alias at all).
func ownedForClean(l netlink.Link, store string) bool {
	o, marked := netdev.OwnerOf(l)
	if !netdev.IsTempName(l.Attrs().Name) {
		return marked
	}
	if marked {
		return o.OnlyBy(store)
	}
	return l.Attrs().Alias == ""
}
