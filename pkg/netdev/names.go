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

// RenameUp gives l its name, then sets it up: nothing of qinq's is ever up
// under a temporary name. Two requests: vishvananda/netlink carries both in
// one only with IFLA_LINKINFO, whose kind the kernel looks up before the
// link from 6.13 on (an unknown one runs modprobe on every call). l's
// attributes follow, so no read-back is needed.
func RenameUp(h netlinksafe.Handle, l netlink.Link, name string) error {
	if err := Retry(func() error { return h.LinkSetName(l, name) }); err != nil {
		return err
	}
	l.Attrs().Name = name
	if err := Retry(func() error { return h.LinkSetUp(l) }); err != nil {
		return err
	}
	l.Attrs().Flags |= net.FlagUp
	return nil
}

// setAlias sets l's alias (the owner mark); l's attributes follow, so the
// link in hand stays what the kernel has.
func setAlias(h netlinksafe.Handle, l netlink.Link, alias string) error {
	if err := Retry(func() error { return h.LinkSetAlias(l, alias) }); err != nil {
		return err
	}
	l.Attrs().Alias = alias
	return nil
}
