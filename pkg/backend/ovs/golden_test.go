package ovs

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/internal/golden"
	"github.com/qinq-cni/qinq/pkg/backend/ovs/ovsdb"
	"github.com/qinq-cni/qinq/pkg/plan"
)

// TestGolden_ExternalIDs: the external_ids qinq writes on OVS ports. OVSDB
// outlives /run across a reboot, so DEL and GC of a later release find
// their ports, and a chained port's saved settings, by exactly these keys.
func TestGolden_ExternalIDs(t *testing.T) {
	ids := ownerIDs(plan.Attachment{Network: "n", ContainerID: "c1", IfName: "net1", Netns: "/var/run/netns/c1"})
	mode, tag := "access", 7
	ids[keySaved] = ovsdb.VLAN{VLANMode: &mode, Tag: &tag, Trunks: []int{1, 2}}.Encode()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(ids)) {
		fmt.Fprintf(&b, "%s=%s\n", k, ids[k])
	}
	golden.Check(t, filepath.Join("testdata", "golden", "external-ids.txt"), []byte(b.String()))
	if !slices.Equal(slices.Sorted(maps.Keys(ids)), slices.Sorted(slices.Values(ownerKeys()))) {
		t.Fatalf("ownerKeys %v does not list every key written (%v): DEL would leave some", ownerKeys(), slices.Collect(maps.Keys(ids)))
	}
	v, err := ovsdb.DecodeVLAN(ids[keySaved])
	if err != nil || *v.VLANMode != mode || *v.Tag != tag {
		t.Fatalf("saved settings %q read as %+v (%v)", ids[keySaved], v, err)
	}
}
