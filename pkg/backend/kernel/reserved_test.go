package kernel

import (
	"testing"

	"github.com/qinq-cni/qinq/pkg/netdev"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// Only the top link of an opt-in network passes reserved frames; every
// other chain link, and every link of other networks, drops them.
func TestReservedAt_OnlyTheOptInTopPasses(t *testing.T) {
	for _, c := range []struct {
		optIn, top bool
		want       netdev.Reserved
	}{
		{true, true, netdev.PassReserved}, {true, false, netdev.DropReserved},
		{false, true, netdev.DropReserved}, {false, false, netdev.DropReserved},
	} {
		if got := reservedAt(plan.Plan{L2ProtocolTunnel: c.optIn}, c.top); got != c.want {
			t.Errorf("opt-in %v, top %v: %v, want %v", c.optIn, c.top, got, c.want)
		}
	}
}
