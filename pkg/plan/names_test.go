package plan

import (
	"strings"
	"testing"
)

// The pair a 24-second search found colliding under FNV-32: every name
// derived from their keys differs now.
const (
	collideA = "eth1:88a8.103:8100.70:8100.3199:8100.826"
	collideB = "eth1:88a8.200:8100.10"
)

func TestNames_TheFNV32CollidingPairGetsTwoBridgesAndTwoLinks(t *testing.T) {
	if legacyHash32(collideA) != legacyHash32(collideB) {
		t.Fatalf("the pair no longer collides under FNV-32 (%s, %s): the test lost its control", legacyHash32(collideA), legacyHash32(collideB))
	}
	if BridgeName(collideA) == BridgeName(collideB) {
		t.Fatalf("BridgeName collides: %s", BridgeName(collideA))
	}
	for _, k := range []string{collideA, collideB} {
		if names := BridgeNames("", k); len(names) != 2 || names[1] != "qbr"+legacyHash32(k) {
			t.Fatalf("BridgeNames(%q) = %v: the previous release's name must follow this one's", k, names)
		}
	}
	_, altA := sharedNames("eth1", nil, collideA)
	_, altB := sharedNames("eth1", nil, collideB)
	if altA == altB {
		t.Fatalf("shared link names collide: %s", altA)
	}
}

// Every hashed name fits IFNAMSIZ, carries 64 bits of digest, and holds
// nothing the kernel refuses in a link name ('/', ':', whitespace).
func TestNames_HashedNamesFitAndCarry64Bits(t *testing.T) {
	longIf := "averylongifnam"
	for _, name := range []string{
		BridgeName(collideA), BridgePortName("n", "c1", "net1"), HostVethName("n", "c1", "net1"),
		ContainerVethName(longIf), sharedPrefix + digest64(collideA),
	} {
		if len(name) > maxIfName || strings.ContainsAny(name, "/: \t\n") {
			t.Errorf("%q: not a valid link name", name)
		}
	}
	if d := digest64("x"); len(d) != digestLen || len(d)*6 < 64 {
		t.Fatalf("digest64 gives %q: fewer than 64 bits", d)
	}
}

// Names the previous releases gave are still recognised and looked for.
func TestNames_OldFormsAreRecognisedAndLookedFor(t *testing.T) {
	for _, name := range []string{HostVethName("n", "c1", "net1"), LegacyHostVethName("n", "c1", "net1"), "qovs5ac63f32"} {
		if !IsHostVethName(name) {
			t.Errorf("IsHostVethName(%q) = false", name)
		}
	}
	for _, name := range []string{"qovs", "qovs5ac63f3", "qovs5ac63f3g", "eth0", "qbr5ac63f32", "qovs" + strings.Repeat("A", 12)} {
		if IsHostVethName(name) {
			t.Errorf("IsHostVethName(%q) = true", name)
		}
	}
	l := VLANLink{Key: collideA, Name: "qinq" + digest64(collideA), AltName: "qinq" + digest64(collideA)}
	if names := l.Names(); len(names) != 2 || names[1] != "qinq"+legacyHash32(collideA) {
		t.Fatalf("Names() = %v: the previous release's name must follow this one's", names)
	}
	// A record of the previous release names the old form itself.
	old := VLANLink{Key: collideA, Name: "qinq" + legacyHash32(collideA), AltName: "qinq" + legacyHash32(collideA)}
	if names := old.Names(); len(names) != 1 {
		t.Fatalf("Names() of a previous release's record = %v", names)
	}
	if names := BridgeNames("qbr"+legacyHash32(collideA), collideA); len(names) != 2 || names[0] != "qbr"+legacyHash32(collideA) {
		t.Fatalf("BridgeNames of a recorded old name = %v", names)
	}
}
