package netdev

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"strings"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
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

// RenameUp gives l its name and sets it up in one request (RTM_NEWLINK on
// the existing link: the kernel renames first, then changes the flags, as
// it renames only a link that is down). l's attributes follow.
func RenameUp(h netlinksafe.Handle, l netlink.Link, name string) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Index, attrs.Name, attrs.Flags = l.Attrs().Index, name, net.FlagUp
	if err := Retry(func() error { return h.LinkModify(&netlink.Device{LinkAttrs: attrs}) }); err != nil {
		return err
	}
	l.Attrs().Name = name
	l.Attrs().Flags |= net.FlagUp
	return nil
}

// setAlias sets l's alias (the owner mark); l's attributes follow, so that
// a rollback in the same verb sees the mark (DeletableBy).
func setAlias(h netlinksafe.Handle, l netlink.Link, alias string) error {
	if err := Retry(func() error { return h.LinkSetAlias(l, alias) }); err != nil {
		return err
	}
	l.Attrs().Alias = alias
	return nil
}
