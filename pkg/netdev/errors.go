package netdev

import (
	"errors"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

// Error maps a kernel answer to the CNI code a runtime can act on: 50 when
// the kernel lacks a link type, 11 when a transient answer persisted, 999
// otherwise. An error that has its code already (qinq's namespace could not
// be made, 50) keeps it.
func Error(what string, err error) error {
	var coded *types.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &coded):
		return err
	case unsupported(err):
		return cnierr.Unavailable("%s: the kernel does not support it: %v", what, err)
	case transient(err):
		return cnierr.TryAgain(what, err)
	}
	return cnierr.Internal(what, err)
}

// CreateError is Error for the creation of l: a kernel without l's kind of
// link is named by the module that brings it.
func CreateError(l netlink.Link, what string, err error) error {
	if unsupported(err) {
		return cnierr.Unavailable("%s: the kernel cannot make a %s link: load the %s module (modprobe %s): %v",
			what, l.Type(), moduleOf(l.Type()), moduleOf(l.Type()), err)
	}
	return Error(what, err)
}

// moduleOf names the module of a kind of link: only VLAN links differ.
func moduleOf(kind string) string {
	if kind == "vlan" {
		return "8021q"
	}
	return kind // bridge, macvlan, ipvlan, veth
}

func unsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || strings.Contains(err.Error(), "operation not supported")
}

// retryAttempts bounds Retry: about 150 ms of backoff in all.
const retryAttempts = 5

// Retry runs a netlink change again while the kernel answers with a
// transient error; what still fails after that becomes code 11 in Error.
func Retry(change func() error) error {
	var err error
	for attempt := 1; attempt <= retryAttempts; attempt++ {
		if err = change(); !transient(err) {
			return err
		}
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
	}
	return err
}

func transient(err error) bool {
	return errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)
}

// IgnoreGone turns "no such link" into success: DEL succeeds when there is
// nothing left to delete.
func IgnoreGone(err error) error {
	var lnf netlink.LinkNotFoundError
	if err == nil || errors.As(err, &lnf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// IsGone reports whether err says the link does not exist.
func IsGone(err error) bool { return err != nil && IgnoreGone(err) == nil }
