package plan

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/internal/golden"
	"github.com/qinq-cni/qinq/pkg/config"
)

// TestGolden_Names: the names and keys qinq gives links. DEL finds a link by
// its name when its record is gone, the users' registry and the owner marks
// are keyed by the keys: a name or key that changes strands the links of
// every running pod.
func TestGolden_Names(t *testing.T) {
	var b strings.Builder
	for _, js := range []string{
		`"master":"eth0","sVlan":100,"cVlans":[50,10]`,
		`"master":"eth0","sVlan":100,"sProto":"802.1Q","cVlans":[10],"containerLink":"vlan"`,
		`"master":"enp0s31f6np0","sVlan":4000,"cVlans":[4001],"containerLink":"macvlan"`,
		`"master":"eth0","sVlan":300`,
	} {
		c, err := config.Parse([]byte(`{"cniVersion":"1.0.0","name":"n","type":"qinq",`+js+`}`), "")
		if err != nil {
			t.Fatal(err)
		}
		p, err := For(c, Attachment{Network: "n", ContainerID: "c1", IfName: "net1"}, 1500)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "config {%s}\n", js)
		for _, l := range p.Chain {
			fmt.Fprintf(&b, "  chain link  key=%s name=%s altName=%s\n", l.Key, l.Name, l.AltName)
		}
		if e, ok := p.Endpoint.(*BridgeEndpoint); ok {
			fmt.Fprintf(&b, "  bridge      %s port %s\n", e.Bridge, e.HostName)
		}
		if e, ok := p.Endpoint.(*VLANEndpoint); ok {
			fmt.Fprintf(&b, "  vlan        key=%s\n", e.Key)
		}
	}
	fmt.Fprintf(&b, "BridgeName(eth0:88a8.100:8100.10)      %s\n", BridgeName("eth0:88a8.100:8100.10"))
	fmt.Fprintf(&b, "BridgePortName(n, c1, net1)            %s\n", BridgePortName("n", "c1", "net1"))
	fmt.Fprintf(&b, "HostVethName(n, c1, net1)              %s\n", HostVethName("n", "c1", "net1"))
	fmt.Fprintf(&b, "ContainerVethName(net1)                %s\n", ContainerVethName("net1"))
	fmt.Fprintf(&b, "ContainerVethName(averylongifnam)      %s\n", ContainerVethName("averylongifnam"))
	// The names the previous releases gave (FNV-32): links they made keep
	// them, and are found under them.
	fmt.Fprintf(&b, "BridgeNames(eth0:88a8.100:8100.10)     %s\n", strings.Join(BridgeNames("", "eth0:88a8.100:8100.10"), " "))
	long := VLANLink{Key: "enp0s31f6np0:88a8.4000", Name: "qinq" + digest64("enp0s31f6np0:88a8.4000")}
	long.AltName = long.Name
	fmt.Fprintf(&b, "Names(enp0s31f6np0:88a8.4000)          %s\n", strings.Join(long.Names(), " "))
	fmt.Fprintf(&b, "LegacyHostVethName(n, c1, net1)        %s\n", LegacyHostVethName("n", "c1", "net1"))
	golden.Check(t, filepath.Join("testdata", "golden", "names.txt"), []byte(b.String()))
}
