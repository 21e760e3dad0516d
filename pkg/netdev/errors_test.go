package netdev

import (
	"errors"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
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
