package netdev

import (
	"crypto/rand"
	"encoding/hex"
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

// ownerAliasPrefix marks a shared link qinq created (IFLA_IFALIAS); the alias
// goes on with the link's key, which GC needs to find its users. Until the
// alias is set, the link's temporary name marks it. A shared link with
// neither was made by an admin: reused, never deleted.
const ownerAliasPrefix = "qinq-cni: owned, deleted with its last user; key="

// OwnerAlias is the alias of the owned shared link with the given key.
func OwnerAlias(key string) string { return ownerAliasPrefix + key }

// OwnedKey returns the key recorded in an owned link's alias.
func OwnedKey(l netlink.Link) (string, bool) {
	return strings.CutPrefix(l.Attrs().Alias, ownerAliasPrefix)
}

// Owned reports whether qinq made l: it carries the owner alias, or still
// has the temporary name it was born with.
func Owned(l netlink.Link) bool {
	_, aliased := OwnedKey(l)
	return aliased || IsTempName(l.Attrs().Name)
}
