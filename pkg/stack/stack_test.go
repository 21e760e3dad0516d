package stack

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/pkg/config"
)

func plan(t *testing.T, js string, parentMTU int) (Stack, error) {
	t.Helper()
	c, err := config.Parse([]byte(`{"cniVersion":"1.0.0",`+js[1:]), "")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return Plan(c, Parent{Name: "eth0", MTU: parentMTU}, "net1")
}

func mustPlan(t *testing.T, js string, parentMTU int) Stack {
	t.Helper()
	st, err := plan(t, js, parentMTU)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mtus(st Stack) []int {
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
	if len(st.Shared) != 0 || st.Container.MTU != 1500 || st.Container.VID != 100 {
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
	if cisco.Shared[0].Proto != netlink.VLAN_PROTOCOL_8021Q {
		t.Fatal("Cisco-style S-tag must be 0x8100")
	}
}

func TestNames_SharedLinksAreMasterDotVIDsAndContainerIsIfName(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[50,10]}`, 1500)
	if st.Shared[0].Name != "eth0.100" || st.Shared[1].Name != "eth0.100.50" || st.Container.Name != "net1" {
		t.Fatalf("names %q %q %q", st.Shared[0].Name, st.Shared[1].Name, st.Container.Name)
	}
}

func TestNames_TooLongFallsBackToAStableHashWithin15(t *testing.T) {
	c, _ := config.Parse([]byte(`{"cniVersion":"1.0.0","master":"enp129s0f1np1","sVlan":4000,"cVlans":[4001]}`), "")
	a, _ := Plan(c, Parent{Name: "enp129s0f1np1", MTU: 1500}, "eth0")
	b, _ := Plan(c, Parent{Name: "enp129s0f1np1", MTU: 1500}, "eth0")
	n := a.Shared[0].Name
	if len(n) > 15 || !strings.HasPrefix(n, "qinq") || n != b.Shared[0].Name {
		t.Fatalf("fallback name %q (again %q)", n, b.Shared[0].Name)
	}
}

func TestKeys_ProtocolIsPartOfTheIdentity(t *testing.T) {
	ad := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[10]}`, 1500)
	q := mustPlan(t, `{"master":"eth0","sVlan":100,"sProto":"802.1q","cVlans":[10]}`, 1500)
	if ad.Shared[0].Key == q.Shared[0].Key || ad.Shared[0].AltName == q.Shared[0].AltName {
		t.Fatal("802.1ad 100 and 802.1Q 100 are different links and need different keys and fallback names")
	}
	if ad.Shared[0].Key != "eth0:88a8.100" || ad.Container.Key != "eth0:88a8.100:8100.10" {
		t.Fatalf("keys %q %q", ad.Shared[0].Key, ad.Container.Key)
	}
}

func TestFromKey_RebuildsTheStackAPlanMade(t *testing.T) {
	st := mustPlan(t, `{"master":"eth0","sVlan":100,"cVlans":[50,10]}`, 1500)
	back, err := FromKey(st.Container.Key, "net1", false)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range back.Links() {
		want := st.Links()[i]
		if l.Key != want.Key || l.Proto != want.Proto || l.VID != want.VID {
			t.Errorf("link %d: %+v, want %+v", i, l, want)
		}
	}
	if back.Parent.Name != "eth0" || back.Container.Name != "net1" {
		t.Fatalf("parent %q container %q", back.Parent.Name, back.Container.Name)
	}
	if _, err := FromKey("eth0", "net1", false); err == nil {
		t.Fatal("a key without tags must be refused")
	}
}
