package netdev

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestRetry_TransientAnswersAreRetriedUntilTheChangeGoesThrough(t *testing.T) {
	calls := 0
	err := Retry(func() error {
		calls++
		if calls < 3 {
			return unix.EBUSY
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err=%v after %d calls, want success on the 3rd", err, calls)
	}
}

func TestRetry_PersistentTransientErrorBecomesCode11(t *testing.T) {
	calls := 0
	err := Error("create eth0.100", Retry(func() error { calls++; return unix.EAGAIN }))
	var e *types.Error
	if calls != retryAttempts || !errors.As(err, &e) || e.Code != types.ErrTryAgainLater {
		t.Fatalf("calls=%d err=%v, want %d calls and code 11", calls, err, retryAttempts)
	}
}

func TestRetry_OtherErrorsAreNotRetried(t *testing.T) {
	calls := 0
	err := Retry(func() error { calls++; return unix.EEXIST })
	if calls != 1 || !errors.Is(err, unix.EEXIST) {
		t.Fatalf("calls=%d err=%v", calls, err)
	}
}

func TestTempNames_AreRecognisedAndNeverCollideWithIfNames(t *testing.T) {
	n := TempName()
	if !IsTempName(n) || len(n) > 15 {
		t.Fatalf("tempName %q", n)
	}
	for _, s := range []string{"eth0", "net1", "qq", "qqzzzzzzzzzz", "qq0123456789a"} {
		if IsTempName(s) {
			t.Errorf("%q taken for a temporary name", s)
		}
	}
}

// A kernel without a kind of link is told by the module that brings it, not
// by an example that may be another module.
func TestCreateError_NamesTheModuleOfTheKindOfLink(t *testing.T) {
	for _, tc := range []struct {
		l      netlink.Link
		module string
	}{
		{&netlink.Bridge{}, "modprobe bridge"}, {&netlink.Vlan{}, "modprobe 8021q"}, {&netlink.Macvlan{}, "modprobe macvlan"},
		{&netlink.IPVlan{}, "modprobe ipvlan"}, {&netlink.Veth{}, "modprobe veth"},
	} {
		err := CreateError(tc.l, "create x", unix.EOPNOTSUPP)
		var e *types.Error
		if !errors.As(err, &e) || e.Code != types.ErrPluginNotAvailable || !strings.Contains(e.Msg, tc.module) {
			t.Errorf("%s: %v, want code 50 saying %q", tc.l.Type(), err, tc.module)
		}
		if tc.l.Type() != "vlan" && strings.Contains(e.Msg, "8021q") {
			t.Errorf("%s: %v names 8021q", tc.l.Type(), err)
		}
	}
	var e *types.Error
	if err := CreateError(&netlink.Bridge{}, "create x", unix.EBUSY); !errors.As(err, &e) || e.Code != types.ErrTryAgainLater {
		t.Errorf("a transient answer: %v, want code 11", err)
	}
}
