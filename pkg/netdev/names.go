package netdev

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
)

// tempPrefix starts the names of links on their way to their real name.
const tempPrefix = "qq"

// TempName is a unique name for a link being made: it never collides with a
// host link or with CNI_IFNAME before the rename, and a crash in between
// leaves a name DEL and GC recognise as qinq's.
func TempName() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	return tempPrefix + hex.EncodeToString(b)
}

// IsTempName recognises TempName's output: "qq" and 10 hex digits.
func IsTempName(name string) bool {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok || len(rest) != 10 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}

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
