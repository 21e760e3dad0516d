package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/config"
)

var net1 = Attachment{ContainerID: "c1", IfName: "net1", Network: "n"}

// plan plans js; a kernel config that names no containerLink gets "vlan",
// the endpoint most of these cases are about (the default is "bridge").
func plan(t *testing.T, js string, parentMTU int) (Plan, error) {
	t.Helper()
	if !strings.Contains(js, `"containerLink"`) && !strings.Contains(js, `"mode"`) && !strings.Contains(js, `"linkInContainer"`) {
		js = `{"containerLink":"vlan",` + js[1:]
	}
	c, err := config.Parse([]byte(`{"cniVersion":"1.0.0",`+js[1:]), "")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return For(c, net1, parentMTU)
}

func mustPlan(t *testing.T, js string, parentMTU int) Plan {
	t.Helper()
	st, err := plan(t, js, parentMTU)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mtus(st Plan) []int {
	var m []int
	for _, l := range st.Links() {
		m = append(m, l.MTU)
	}
	return m
}

func TestMTU_QinQOn1500Is1496(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[10]}`, 1500)
	if got := mtus(st); got[0] != 1500 || got[1] != 1496 {
		t.Fatalf("S-link, C-link MTUs = %v, want [1500 1496]", got)
	}
}

func TestMTU_QinQinQOn9000Is8992(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[50,10]}`, 9000)
	if got := mtus(st); len(got) != 3 || got[0] != 9000 || got[1] != 8996 || got[2] != 8992 {
		t.Fatalf("MTUs = %v, want [9000 8996 8992]", got)
	}
}

func TestMTU_TunnelModeContainerGetsMasterMTU(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":100}`, 1500)
	e, ok := st.Endpoint.(*VLANEndpoint)
	if len(st.Chain) != 0 || !ok || e.MTU != 1500 || e.Tag.VID != 100 {
		t.Fatalf("tunnel mode plan %+v", st)
	}
}

func TestMTU_ExplicitSetsTheInnermostOnly(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[50,10],"mtu":1400}`, 1500)
	if got := mtus(st); got[0] != 1500 || got[1] != 1496 || got[2] != 1400 {
		t.Fatalf("MTUs = %v, want [1500 1496 1400]", got)
	}
}

func TestMTU_ExplicitAboveWhatTheParentCarriesIsCode7(t *testing.T) {
	for _, tc := range []struct {
		js  string
		max string
	}{
		{`{"master":"eth0","sVlan":100,"cVlans":[10],"mtu":1501}`, "68-1500"},
		{`{"master":"eth0","sVlan":100,"cVlans":[50,10],"mtu":1500}`, "68-1496"},
		{`{"master":"eth0","sVlan":100,"mtu":9000}`, "68-1500"},
	} {
		_, err := plan(t, tc.js, 1500)
		var e *types.Error
		if !errors.As(err, &e) || e.Code != 7 || !strings.HasPrefix(e.Msg, "mtu:") || !strings.Contains(e.Msg, tc.max) {
			t.Errorf("%s: want code 7 on mtu mentioning %s, got %v", tc.js, tc.max, err)
		}
	}
}

func TestMTU_MasterTooSmallForTheStackIsCode7(t *testing.T) {
	_, err := plan(t, `{"master":"eth0","sVlan":100,"cVlans":[50,10]}`, 72)
	var e *types.Error
	if !errors.As(err, &e) || e.Code != 7 || !strings.HasPrefix(e.Msg, "master:") {
		t.Fatalf("want code 7 on master, got %v", err)
	}
}

func TestMTU_UnknownParentPlansWithoutChecking(t *testing.T) {
	if _, err := plan(t, `{"master":"eth0","sVlan":100,"cVlans":[10],"mtu":9000}`, 0); err != nil {
		t.Fatalf("DEL after the master is gone must still plan: %v", err)
	}
}

func TestProtocols_STagFromSProtoCTagsAlways8021Q(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[50,10]}`, 1500)
	want := []netlink.VlanProtocol{netlink.VLAN_PROTOCOL_8021AD, netlink.VLAN_PROTOCOL_8021Q, netlink.VLAN_PROTOCOL_8021Q}
	for i, l := range st.Links() {
		if l.Proto != want[i] {
			t.Errorf("link %d proto %v, want %v", i, l.Proto, want[i])
		}
	}
	cisco := mustPlan(t, `{"master":"eth0","sVlan":100,"sProto":"802.1Q","cVlans":[10]}`, 1500)
	if cisco.Chain[0].Proto != netlink.VLAN_PROTOCOL_8021Q {
		t.Fatal("Cisco-style S-tag must be 0x8100")
	}
}

func TestNames_SharedLinksAreMasterDotVIDsAndContainerIsIfName(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[50,10]}`, 1500)
	if st.Chain[0].Name != "eth0.100" || st.Chain[1].Name != "eth0.100.50" || st.Endpoint.Link().Name != "net1" {
		t.Fatalf("names %q %q %q", st.Chain[0].Name, st.Chain[1].Name, st.Endpoint.Link().Name)
	}
}

func TestNames_TooLongFallsBackToAStableHashWithin15(t *testing.T) {
	c, _ := config.Parse([]byte(`{"cniVersion":"1.0.0","containerLink":"vlan","master":"enp129s0f1np1","sVlan":4000,"cVlans":[4001]}`), "")
	a, _ := For(c, net1, 1500)
	b, _ := For(c, net1, 1500)
	n := a.Chain[0].Name
	if len(n) > 15 || !strings.HasPrefix(n, "qinq") || n != b.Chain[0].Name {
		t.Fatalf("fallback name %q (again %q)", n, b.Chain[0].Name)
	}
}

func TestKeys_ProtocolIsPartOfTheIdentity(t *testing.T) {
	ad := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[10]}`, 1500)
	q := mustPlan(t, `{"master":"eth0","sVlan":100,"sProto":"802.1q","cVlans":[10]}`, 1500)
	if ad.Chain[0].Key == q.Chain[0].Key || ad.Chain[0].AltName == q.Chain[0].AltName {
		t.Fatal("802.1ad 100 and 802.1Q 100 are different links and need different keys and fallback names")
	}
	if ad.Chain[0].Key != "eth0:88a8.100" || ad.Endpoint.(*VLANEndpoint).Key != "eth0:88a8.100:8100.10" {
		t.Fatalf("keys %q %q", ad.Chain[0].Key, ad.Endpoint.(*VLANEndpoint).Key)
	}
}

func TestOVS_StandaloneEndpointIsAVethWithTheCLinkOnItsContainerEnd(t *testing.T) {
	st := mustPlan(t, `{"mode":"ovs","bridge":"br0","sVlan":100,"cVlans":[10]}`, 1500)
	e, ok := st.Endpoint.(*VethEndpoint)
	if !ok || e.Name != "net1" || e.PeerName != "net1-ovs" || e.PeerMTU != 1500 || e.MTU != 1496 || e.CTag == nil || e.CTag.VID != 10 {
		t.Fatalf("endpoint %+v", e)
	}
	if len(st.Chain) != 0 || st.Switch.Port != e.HostName || !IsHostVethName(e.HostName) || st.Switch.Chained {
		t.Fatalf("plan %+v", st)
	}
	tunnel := mustPlan(t, `{"mode":"ovs","bridge":"br0","sVlan":100}`, 9000)
	if e := tunnel.Endpoint.(*VethEndpoint); e.PeerName != "net1" || e.MTU != 9000 || e.CTag != nil {
		t.Fatalf("tunnel endpoint %+v", e)
	}
	if _, err := plan(t, `{"mode":"ovs","bridge":"br0","sVlan":100,"cVlans":[10],"mtu":1501}`, 1500); err == nil || !strings.Contains(err.Error(), "bridge \"br0\"") {
		t.Fatalf("an mtu above the veth's: want code 7 naming the bridge, got %v", err)
	}
}

func TestOVS_ChainedHasNoEndpoint(t *testing.T) {
	st := mustPlan(t, `{"mode":"ovs","sVlan":100}`, 0)
	if st.Endpoint.Kind() != config.LinkNone || st.Endpoint.Link() != nil || !st.Switch.Chained || st.Switch.Socket == "" {
		t.Fatalf("plan %+v", st)
	}
}

func TestNames_HostVethsAreStableRecognisedAndFitIFNAMSIZ(t *testing.T) {
	a, b := HostVethName("n", "c1", "net1"), HostVethName("n", "c1", "net2")
	if a == b || len(a) > 15 || a != HostVethName("n", "c1", "net1") || !IsHostVethName(a) {
		t.Fatalf("host veth names %q %q", a, b)
	}
	for _, other := range []string{"eth0", "qovs", "qovs1234567", "qovs123456789", "qovsxyzxyzxy", "qovc12345678"} {
		if IsHostVethName(other) {
			t.Errorf("%q taken for a qinq host veth", other)
		}
	}
	if ContainerVethName("net1") != "net1-ovs" {
		t.Fatalf("got %q", ContainerVethName("net1"))
	}
	if n := ContainerVethName("averyverylongif"); len(n) > 15 || n == "averyverylongif" {
		t.Fatalf("got %q", n)
	}
}

func TestShared_MacvlanSitsOnTheSharedCLinkWithItsMTU(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"macvlan"}`, 1500)
	if len(st.Chain) != 2 || st.Chain[1].Name != "eth0.100.10" || st.Chain[1].Key != "eth0:88a8.100:8100.10" || st.Chain[1].MTU != 1496 {
		t.Fatalf("chain %+v: the C-link must stay on the host, shared", st.Chain)
	}
	if e, ok := st.Endpoint.(*MacvlanEndpoint); !ok || e.Mode != "bridge" || e.MTU != 1496 || e.Name != "net1" {
		t.Fatalf("endpoint %+v", e)
	}
	if len(st.Links()) != 2 {
		t.Fatal("a macvlan is not a VLAN link of the chain")
	}
}

func TestShared_TunnelModeSharesTheSLink(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":950,"containerLink":"macvlan","containerLinkMode":"private"}`, 9000)
	e, ok := st.Endpoint.(*MacvlanEndpoint)
	if len(st.Chain) != 1 || st.Chain[0].Name != "eth0.950" || !ok || e.MTU != 9000 || e.Mode != "private" {
		t.Fatalf("plan %+v", st)
	}
}

func TestShared_ExplicitMTUAboveTheSharedLinkIsCode7(t *testing.T) {
	if _, err := plan(t, `{"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"macvlan","mtu":1497}`, 1500); err == nil || !strings.Contains(err.Error(), "68-1496") {
		t.Fatalf("want code 7 on mtu naming 68-1496, got %v", err)
	}
	st := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"macvlan","mtu":1400}`, 1500)
	if st.Endpoint.Link().MTU != 1400 || st.Chain[1].MTU != 1496 {
		t.Fatalf("explicit mtu: endpoint %d, C-link %d", st.Endpoint.Link().MTU, st.Chain[1].MTU)
	}
}

// CHECK compares a pod with its record, not with a re-plan: what it reports
// is a change of VLANs, master or mode, or of a kind the config names.
func TestDiffers_TagsMasterModeAndAChosenKind(t *testing.T) {
	rec := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"vlan"}`, 1500)
	for _, tc := range []struct {
		js     string
		chosen bool
		want   string
	}{
		{`{"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"vlan","mtu":1400}`, true, ""},
		{`{"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"macvlan"}`, false, ""},
		{`{"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"macvlan"}`, true, "built as a vlan container link"},
		{`{"master":"eth0","sVlan":100,"cVlans":[20],"containerLink":"vlan"}`, true, "VLANs eth0:88a8.100:8100.10"},
		{`{"master":"eth0","sVlan":200,"cVlans":[10],"containerLink":"macvlan"}`, false, "configured with eth0:88a8.200:8100.10"},
		{`{"master":"eth1","sVlan":100,"cVlans":[10],"containerLink":"vlan"}`, true, `built on "eth0"`},
		{`{"mode":"ovs","bridge":"br0","sVlan":100,"cVlans":[10]}`, true, `mode "kernel"`},
	} {
		got := Differs(rec, mustPlan(t, tc.js, 1500), tc.chosen)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s (chosen %v): %q, want %q", tc.js, tc.chosen, got, tc.want)
		}
	}
}

func TestBridge_TheChainIsEveryTagAndTheBridgeJoinsItsLastLink(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[10],"containerLink":"bridge","mac":"02:00:00:00:00:01"}`, 1500)
	e, ok := st.Endpoint.(*BridgeEndpoint)
	if !ok || len(st.Chain) != 2 || st.Joined().Key != "eth0:88a8.100:8100.10" || e.MTU != 1496 || e.MAC != "02:00:00:00:00:01" {
		t.Fatalf("bridge plan %+v", st)
	}
	if e.Bridge != BridgeName(st.Joined().Key) || e.HostName != BridgePortName("n", "c1", "net1") || len(e.HostName) > 15 {
		t.Fatalf("bridge %q, port %q", e.Bridge, e.HostName)
	}
	tunnel := mustPlan(t, `{"master":"eth0","sVlan":100,"containerLink":"bridge","allowedCVlans":[10,20]}`, 1500)
	te, ok := tunnel.Endpoint.(*BridgeEndpoint)
	if !ok || len(tunnel.Chain) != 1 || len(te.AllowedCVlans) != 2 || te.MTU != 1500 {
		t.Fatalf("tunnel-mode bridge plan %+v", tunnel)
	}
}
