package cnierr

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestCombine_ReportsEveryMessageWithTheFirstCode(t *testing.T) {
	err := errors.Join(errors.New("plain one"), errors.Join(Conflict("held"), Unavailable("down")))
	e := asError(t, Combine("garbage collection", err))
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
	e := asError(t, Combine("gc", errors.Join(nil, InvalidConfig("sVlan", "bad"))))
	if e.Code != types.ErrInvalidNetworkConfig || e.Msg != "sVlan: bad" {
		t.Fatalf("%+v", e)
	}
	if Combine("gc", nil) != nil {
		t.Fatal("no error must stay no error")
	}
}

func asError(t *testing.T, err error) *types.Error {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("not a CNI error: %v", err)
	}
	return e
}

// The defect this guards against: a helper returning a nil *types.Error as
// an error made DEL of an invalid config crash in the logger.
func TestAsCNI_NilStaysAnUntypedNil(t *testing.T) {
	if err := AsCNI("x", nil); err != nil {
		t.Fatalf("AsCNI(nil) = %#v, want an untyped nil", err)
	}
	if err := Combine("x", errors.Join(nil, nil)); err != nil {
		t.Fatalf("Combine(nil) = %#v, want an untyped nil", err)
	}
}

func TestAnnotate_KeepsTheCodeAndAddsTheNote(t *testing.T) {
	e := asError(t, Annotate(Conflict("held"), "rollback also failed: x"))
	if e.Code != CodeConflict || e.Msg != "held" || e.Details != "rollback also failed: x" {
		t.Fatalf("%+v", e)
	}
	if c, _ := Code(Annotate(errors.New("plain"), "n")); c != types.ErrInternal {
		t.Fatalf("a plain error becomes code %d, want 999", c)
	}
}
