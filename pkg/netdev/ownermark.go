package netdev

import (
	"slices"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
)

// The owner mark of a shared link qinq created (IFLA_IFALIAS) names the
// stores whose attachments use it and the link's key, under which those
// stores record its users:
//
//	qinq-cni: owned by store 1f2e3d4c5b6a7988, deleted with its last user; key=eth0:88a8.100
//
// A store only deletes a link its mark names alone: users recorded in
// another store (a lost /run/qinq, another mount namespace) are invisible
// to it. Until the alias is set, the link's temporary name marks it. A
// shared link with neither was made by an admin: reused, never deleted.
const (
	ownerPrefix = "qinq-cni: owned by store "
	ownerMiddle = ", deleted with its last user; key="
	// legacyPrefix is the mark of releases before store identities: its
	// users' store is unknown, so no store deletes it by itself.
	legacyPrefix = "qinq-cni: owned, deleted with its last user; key="
	// LegacyStore stands for that unknown store in Owner.Stores.
	LegacyStore = "-"
	// ManyStores replaces a list of stores too long for an alias.
	ManyStores = "*"
	maxAlias   = 255 // IFALIASZ - 1
)

// Owner is what an owner mark says.
type Owner struct {
	Stores []string // the stores with users of the link, never empty
	Key    string
}

// OwnerAlias is the mark of a shared link with the given key made by store.
func OwnerAlias(store, key string) string { return Owner{Stores: []string{store}, Key: key}.Alias() }

// Alias is the mark itself; a list of stores too long for IFLA_IFALIAS
// becomes ManyStores, which no store deletes by itself.
func (o Owner) Alias() string {
	a := ownerPrefix + strings.Join(o.Stores, ",") + ownerMiddle + o.Key
	if len(a) > maxAlias {
		a = ownerPrefix + ManyStores + ownerMiddle + o.Key
	}
	return a
}

// OwnerOf reads l's owner mark, in this release's form or the legacy one.
func OwnerOf(l netlink.Link) (Owner, bool) {
	alias := l.Attrs().Alias
	if key, ok := strings.CutPrefix(alias, legacyPrefix); ok {
		return Owner{Stores: []string{LegacyStore}, Key: key}, true
	}
	rest, ok := strings.CutPrefix(alias, ownerPrefix)
	if !ok {
		return Owner{}, false
	}
	stores, key, ok := strings.Cut(rest, ownerMiddle)
	if !ok || stores == "" {
		return Owner{}, false
	}
	return Owner{Stores: strings.Split(stores, ","), Key: key}, true
}

// OnlyBy reports whether store alone has users of the link: the one case
// in which that store may judge it unused.
func (o Owner) OnlyBy(store string) bool { return len(o.Stores) == 1 && o.Stores[0] == store }

// With is the mark once store uses the link too.
func (o Owner) With(store string) Owner {
	if slices.Contains(o.Stores, store) || slices.Contains(o.Stores, ManyStores) {
		return o
	}
	return Owner{Stores: append(slices.Clone(o.Stores), store), Key: o.Key}
}

// OwnedKey returns the key recorded in an owned link's alias.
func OwnedKey(l netlink.Link) (string, bool) {
	o, ok := OwnerOf(l)
	return o.Key, ok
}

// Owned reports whether qinq made l: it carries an owner mark, or still
// has the temporary name it was born with.
func Owned(l netlink.Link) bool {
	_, aliased := OwnerOf(l)
	return aliased || IsTempName(l.Attrs().Name)
}

// Mark is how EnsureShared marks the shared links it creates or reuses.
type Mark struct {
	Store string
	// LegacyRecorded reports whether this store records users of the link
	// besides the caller. A link marked by a release before store
	// identities whose users this store records is its own (a node
	// upgraded in place, same state directory): it is re-marked as this
	// store's alone. Without such evidence the legacy mark stays beside it.
	LegacyRecorded func() bool
	// Reserved is the filter of reserved 802.1 frames a link gets; Top:
	// pods' frames enter the link directly (the chain's last link), so an
	// existing link's filter must be Reserved itself, not just present.
	Reserved Reserved
	Top      bool
}

// joinOwners adds the store to the mark of an owned link that does not name
// it yet (made by another store, or by a release before store identities).
// An admin's link stays unmarked, and so never deleted.
func joinOwners(h netlinksafe.Handle, l netlink.Link, m Mark, key string) error {
	o, ok := OwnerOf(l)
	if !ok {
		return nil
	}
	next := nextMark(o, m, key)
	if slices.Equal(next.Stores, o.Stores) && next.Key == o.Key {
		return nil
	}
	alias := next.Alias()
	return Error("mark "+l.Attrs().Name+" as used by this store too", Retry(func() error { return h.LinkSetAlias(l, alias) }))
}

// nextMark is the mark of a link once the caller, of store m.Store, uses
// it under key. A mark naming another key is one a release before masters
// were resolved made under another name of the master (an altname): the
// link's users are then recorded under two keys, and no store can count
// them all, so it is marked as ManyStores' (kept, never deleted by a DEL:
// a leak for qinq-admin rather than an outage).
func nextMark(o Owner, m Mark, key string) Owner {
	switch {
	case o.Key != key:
		return Owner{Stores: []string{ManyStores}, Key: o.Key}
	case slices.Contains(o.Stores, m.Store):
		return o
	case o.OnlyBy(LegacyStore) && m.LegacyRecorded != nil && m.LegacyRecorded():
		return Owner{Stores: []string{m.Store}, Key: o.Key}
	}
	return o.With(m.Store)
}

// DeletableBy reports whether store may delete l once its own records show
// no user (its users' directory exists and is empty): l is marked by store
// alone, or by a release before store identities alone (whose users' directory
// can only be this state directory's: every ADD of this release marks the
// links it uses), or still has the temporary name of an ADD of this node
// that died before marking it.
func DeletableBy(l netlink.Link, store string) bool {
	if o, ok := OwnerOf(l); ok {
		return o.OnlyBy(store) || o.OnlyBy(LegacyStore)
	}
	return IsTempName(l.Attrs().Name)
}
