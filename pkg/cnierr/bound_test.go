package cnierr

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBound_ConfigValuesAreCutAndQuotedMessagesBounded(t *testing.T) {
	if got := Cut("abc", 5); got != "abc" {
		t.Fatal(got)
	}
	long := strings.Repeat("é", 100) // 200 bytes
	if got := Cut(long, 5); !utf8.ValidString(got) || !strings.HasSuffix(got, "…") || len(got) > 5+len("…") {
		t.Fatalf("%q: cut inside a rune or too long", got)
	}
	if got := Quote("a\nb$(x)"); got != `"a\nb$(x)"` {
		t.Fatalf("Quote: %s", got)
	}
	e := InvalidConfig("sProto", "%q: bad", strings.Repeat("x", 10000)+"\n")
	if len(e.Error()) > MaxMsg+len("…")+100 || strings.Count(e.Error(), "x") > MaxValue+10 {
		t.Fatalf("message of %d bytes", len(e.Error()))
	}
	p := PolicyRefused("namespaces.a.sVlans", "S-VLAN %d", 5)
	if code, _ := Code(p); code != CodePolicy || !strings.HasPrefix(p.Error(), "policy: namespaces.a.sVlans: S-VLAN 5") {
		t.Fatalf("%v", p)
	}
}
