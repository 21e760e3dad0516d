package netdev

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/internal/golden"
)

// TestGolden_OwnerMarks: the owner marks (IFLA_IFALIAS) this release writes,
// and the legacy one it still reads. Marks outlive the release that wrote
// them on every node's links: each line must read back as the owner it was
// written from.
func TestGolden_OwnerMarks(t *testing.T) {
	const mine, other = "00112233445566aa", "ffeeddccbbaa9988"
	chain := "eth0:88a8.100:8100.10"
	many := Owner{Stores: []string{mine}, Key: chain}
	for i := 0; i < 20; i++ {
		many = many.With(fmt.Sprintf("%016x", i))
	}
	marks := []struct {
		name string
		o    Owner
	}{
		{"S-link", Owner{Stores: []string{mine}, Key: "eth0:88a8.100"}},
		{"C-link", Owner{Stores: []string{mine}, Key: chain}},
		{"bridge", Owner{Stores: []string{mine}, Key: BridgeKey(chain)}},
		{"two stores", Owner{Stores: []string{mine}, Key: chain}.With(other)},
		{"too many stores", many},
	}
	var b strings.Builder
	for _, m := range marks {
		alias := m.o.Alias()
		fmt.Fprintf(&b, "%s\t%s\n", m.name, alias)
		got, ok := OwnerOf(linkWith("x", alias))
		want := m.o
		if m.name == "too many stores" {
			want = Owner{Stores: []string{ManyStores}, Key: chain}
		}
		if !ok || got.Key != want.Key || !slices.Equal(got.Stores, want.Stores) {
			t.Fatalf("%s: %q reads as %+v, %v", m.name, alias, got, ok)
		}
	}
	legacy := legacyPrefix + chain
	fmt.Fprintf(&b, "legacy (read only)\t%s\n", legacy)
	if o, ok := OwnerOf(linkWith("x", legacy)); !ok || o.Key != chain || !slices.Equal(o.Stores, []string{LegacyStore}) {
		t.Fatalf("legacy mark %q reads as %+v, %v", legacy, o, ok)
	}
	golden.Check(t, filepath.Join("testdata", "golden", "owner-marks.txt"), []byte(b.String()))
}
