package plan

import (
	"testing"

	"github.com/qinq-cni/qinq/pkg/config"
)

// BenchmarkParseAndPlan is the pure work every ADD does before touching the
// kernel: decode, validate, plan a QinQinQ chain.
func BenchmarkParseAndPlan(b *testing.B) {
	stdin := []byte(`{"cniVersion":"1.1.0","name":"isp","type":"qinq","master":"eth2","sVlan":100,"cVlans":[50,10],"mtu":8900,"ipam":{"type":"host-local","subnet":"10.0.0.0/24"}}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c, err := config.Parse(stdin, "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := For(c, Attachment{ContainerID: "c1", IfName: "net1"}, 9000); err != nil {
			b.Fatal(err)
		}
	}
}
