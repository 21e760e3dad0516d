//go:build kerneltest

package binary

import (
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// GC fails closed: a cni.dev/valid-attachments it cannot read is code 7 and
// detaches nothing; the control, a well-formed list without the pod,
// detaches it.
func TestGC_AMalformedValidAttachmentsIsCode7AndDetachesNothing(t *testing.T) {
	p := newPair(t, 1500)
	cf := qinq(1750, 10).With("cniVersion", "1.1.0")
	c := testenv.NewContainer(t)
	p.a.Add(cf, c, "net1")
	for _, bad := range []any{
		map[string]string{"containerID": c.ID, "ifname": "net1"},
		[]string{c.ID + "/net1"},
		[]map[string]string{{"containerID": c.ID}},
	} {
		_, err := p.a.Invoke("GC", cf.With("cni.dev/valid-attachments", bad), nil, "")
		testenv.WantCNIError(t, err, 7, "cni.dev/valid-attachments")
		if _, ok := testenv.VLANs(t, c.NS)["net1"]; !ok {
			t.Fatalf("GC with the malformed list %v detached the pod", bad)
		}
	}
	gc(t, p.a, cf)
	if _, ok := testenv.VLANs(t, c.NS)["net1"]; ok {
		t.Fatal("control: GC with a well-formed list without the pod kept it")
	}
	assertClean(t, p.a, "", c)
}
