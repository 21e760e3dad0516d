package netdev

import (
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func linkWith(name, alias string) netlink.Link {
	a := netlink.NewLinkAttrs()
	a.Name, a.Alias = name, alias
	return &netlink.Vlan{LinkAttrs: a}
}

func TestOwnerMark_NamesTheStoreAndOnlyThatStoreMayDelete(t *testing.T) {
	mine, other := "00112233445566aa", "ffeeddccbbaa9988"
	l := linkWith("eth0.100", OwnerAlias(mine, "eth0:88a8.100"))
	o, ok := OwnerOf(l)
	if !ok || o.Key != "eth0:88a8.100" || !slices.Equal(o.Stores, []string{mine}) {
		t.Fatalf("OwnerOf(%q) = %+v, %v", l.Attrs().Alias, o, ok)
	}
	if !DeletableBy(l, mine) || DeletableBy(l, other) {
		t.Fatal("only the store that marked the link alone may delete it")
	}
	joined := linkWith("eth0.100", o.With(other).Alias())
	if DeletableBy(joined, mine) || DeletableBy(joined, other) {
		t.Fatalf("a link two stores use (%q) was deletable by one of them", joined.Attrs().Alias)
	}
	if key, ok := OwnedKey(joined); !ok || key != "eth0:88a8.100" {
		t.Fatalf("OwnedKey of a joined mark: %q %v", key, ok)
	}
}

// Links marked by releases before store identities are owned, and may be
// deleted on positive evidence (see DeletableBy); the callers require an
// existing, empty users' directory.
func TestOwnerMark_LegacyMarksAreOwnedAndJoinedMarksNeverDeletable(t *testing.T) {
	l := linkWith("eth0.100", "qinq-cni: owned, deleted with its last user; key=eth0:88a8.100")
	o, ok := OwnerOf(l)
	if !ok || o.Key != "eth0:88a8.100" || !slices.Equal(o.Stores, []string{LegacyStore}) || !Owned(l) {
		t.Fatalf("legacy mark: %+v %v", o, ok)
	}
	if !DeletableBy(l, "00112233445566aa") {
		t.Fatal("a legacy mark alone was not deletable on evidence")
	}
	if joined := linkWith("eth0.100", o.With("00112233445566aa").Alias()); DeletableBy(joined, "00112233445566aa") {
		t.Fatal("a legacy mark joined by a store without evidence was deletable by it")
	}
	if admin := linkWith("eth0.100", "uplink to the core"); Owned(admin) || DeletableBy(admin, "00112233445566aa") {
		t.Fatal("an admin's link counted as owned")
	}
	if temp := linkWith(TempName(), ""); !DeletableBy(temp, "00112233445566aa") {
		t.Fatal("a link an ADD died creating (temporary name, no mark) must be deletable")
	}
}

func TestOwnerMark_TooManyStoresBecomeManyAndFitTheAlias(t *testing.T) {
	o := Owner{Stores: []string{"00112233445566aa"}, Key: "eth0:88a8.100:8100.10"}
	for i := range 20 {
		o = o.With(strings.Repeat(string(rune('a'+i)), 16))
	}
	alias := o.Alias()
	back, ok := OwnerOf(linkWith("x", alias))
	if len(alias) > maxAlias || !ok || !slices.Equal(back.Stores, []string{ManyStores}) || back.Key != o.Key {
		t.Fatalf("alias %q (%d bytes) reads back as %+v", alias, len(alias), back)
	}
}

// A link made under another key of the same chain (an altname of the
// master, before masters were resolved) has users under two keys: no store
// may delete it by itself once a caller under the other key joins.
func TestOwnerMark_ALinkJoinedUnderAnotherKeyIsNoStoresToDelete(t *testing.T) {
	mine := "00112233445566aa"
	o := Owner{Stores: []string{mine}, Key: "uplink:88a8.100"}
	next := nextMark(o, Mark{Store: mine}, "eth1:88a8.100")
	l := linkWith("eth1.100", next.Alias())
	if next.Key != o.Key || DeletableBy(l, mine) || !Owned(l) {
		t.Fatalf("mark %q after a join under another key: deletable %v", next.Alias(), DeletableBy(l, mine))
	}
	if same := nextMark(o, Mark{Store: mine}, "uplink:88a8.100"); !slices.Equal(same.Stores, o.Stores) {
		t.Fatalf("a join under the mark's own key changed it: %+v", same)
	}
	if other := nextMark(o, Mark{Store: "ffeeddccbbaa9988"}, o.Key); len(other.Stores) != 2 {
		t.Fatalf("another store's join: %+v", other)
	}
}
