package netdev

import (
	"testing"

	"github.com/qinq-cni/qinq/pkg/config"
)

func TestReleaseAtLeast_LockedPortsNeed5_18(t *testing.T) {
	for rel, want := range map[string]bool{
		"6.1.0-57-amd64": true, "5.18.0": true, "5.17.15-arch1": false, "4.19.0-27-amd64": false,
		"5.18-rc1": true, "10.0.0": true, "garbage": false, "": false,
	} {
		if got := releaseAtLeast(rel, 5, 18); got != want {
			t.Errorf("%q: %v, want %v", rel, got, want)
		}
	}
}

func TestVIDRanges_FoldRuns(t *testing.T) {
	got := vidRanges([]config.VID{30, 10, 11, 12, 4094, 20})
	want := [][2]config.VID{{10, 12}, {20, 20}, {30, 30}, {4094, 4094}}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
}

func TestBridgeMAC_StableUnicastLocal(t *testing.T) {
	a, b := BridgeMAC("eth0:88a8.100:8100.10"), BridgeMAC("eth0:88a8.100:8100.10")
	if a.String() != b.String() || a[0] != 0x02 || BridgeMAC("eth0:88a8.100:8100.11").String() == a.String() {
		t.Fatalf("bridge MACs %s %s", a, b)
	}
}
