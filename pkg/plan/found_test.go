package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/qinq-cni/qinq/pkg/config"
)

func planFound(t *testing.T, js string, masterMTU int, found []int) (Plan, error) {
	t.Helper()
	c, err := config.Parse([]byte(`{"cniVersion":"1.0.0",`+js[1:]), "")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return ForFound(c, net1, masterMTU, found)
}

// The master went to 9000 after its S-link was made at 1500: the endpoint
// is planned from the S-link as it is, not from the master.
func TestMTU_FromTheSLinkAsFoundNotTheMaster(t *testing.T) {
	for _, tc := range []struct {
		js    string
		found []int
		want  []int
	}{
		{`{"master":"eth0","sVlan":100,"cVlans":[10]}`, []int{1500}, []int{1500, 1496}},
		{`{"master":"eth0","sVlan":100,"cVlans":[50,10]}`, []int{1500}, []int{1500, 1496, 1492}},
		{`{"master":"eth0","sVlan":100,"cVlans":[50,10]}`, []int{9000, 1400}, []int{9000, 1400, 1396}},
		{`{"master":"eth0","sVlan":100,"cVlans":[50,10]}`, nil, []int{9000, 8996, 8992}},
	} {
		p, err := planFound(t, tc.js, 9000, tc.found)
		if got := mtus(p); err != nil || !equal(got, tc.want) {
			t.Errorf("%s found %v: MTUs %v (%v), want %v", tc.js, tc.found, got, err, tc.want)
		}
	}
	p, err := planFound(t, `{"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"macvlan"}`, 9000, []int{1500, 1400})
	if err != nil || p.Endpoint.Link().MTU != 1400 {
		t.Fatalf("a macvlan on an admin's 1400 C-link: MTU %d (%v), want 1400", p.Endpoint.Link().MTU, err)
	}
}

// A requested MTU that does not fit the link as found is code 7 naming
// that link and both MTUs.
func TestMTU_RequestedAboveTheFoundLinkIsCode7NamingItAndBothMTUs(t *testing.T) {
	_, err := planFound(t, `{"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"macvlan","mtu":8996}`, 9000, []int{1500, 1496})
	var e *types.Error
	if !errors.As(err, &e) || e.Code != 7 {
		t.Fatalf("want code 7, got %v", err)
	}
	for _, want := range []string{"mtu:", "8996", `"eth0.100.10"`, "1496", "9000"} {
		if !strings.Contains(e.Msg, want) {
			t.Errorf("message %q lacks %s", e.Msg, want)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
