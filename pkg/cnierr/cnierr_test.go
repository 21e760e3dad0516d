package cnierr

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestCombine_ReportsEveryMessageWithTheFirstCode(t *testing.T) {
	err := errors.Join(errors.New("plain one"), errors.Join(Conflict("held"), Unavailable("down")))
	e := Combine("garbage collection", err)
	if e.Code != CodeConflict {
		t.Fatalf("code %d, want the first CNI code %d", e.Code, CodeConflict)
	}
	for _, want := range []string{"3 errors", "plain one", "held", "down"} {
		if !strings.Contains(e.Msg, want) {
			t.Errorf("message %q lacks %q", e.Msg, want)
		}
	}
}

func TestCombine_OneErrorKeepsItsOwnCodeAndMessage(t *testing.T) {
	e := Combine("gc", errors.Join(nil, InvalidConfig("sVlan", "bad")))
	if e.Code != types.ErrInvalidNetworkConfig || e.Msg != "sVlan: bad" {
		t.Fatalf("%+v", e)
	}
	if Combine("gc", nil) != nil {
		t.Fatal("no error must stay no error")
	}
}
