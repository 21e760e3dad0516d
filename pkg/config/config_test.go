package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"
)

// parse parses a config that must be valid; without a cniVersion it gets
// 1.0.0 (a missing one means 0.1.0, which refuses L2-only configs).
func parse(t *testing.T, js string) *Config {
	t.Helper()
	c, err := Parse(v1(js), "")
	if err != nil {
		t.Fatalf("Parse(%s): %v", js, err)
	}
	return c
}

func TestQinQConfigParsesIntoTypedValues(t *testing.T) {
	c := parse(t, `{"cniVersion":"1.0.0","name":"n","type":"qinq","master":"eth0","sVlan":100,"cVlans":[10],"mtu":1400,"mac":"02:00:00:00:00:01","ipam":{"type":"host-local"}}`)
	if c.Master != "eth0" || c.SVlan != 100 || len(c.CVlans) != 1 || c.CVlans[0] != 10 || c.MTU != 1400 || c.IPAMType != "host-local" {
		t.Fatalf("unexpected %+v", c)
	}
	if c.SProto != netlink.VLAN_PROTOCOL_8021AD {
		t.Fatalf("sProto defaults to 802.1ad, got %v", c.SProto)
	}
	if c.MAC.String() != "02:00:00:00:00:01" || c.TunnelMode() {
		t.Fatalf("mac %v tunnel %v", c.MAC, c.TunnelMode())
	}
}

func TestSProtoIsCaseInsensitive(t *testing.T) {
	for in, want := range map[string]netlink.VlanProtocol{
		"802.1Q": netlink.VLAN_PROTOCOL_8021Q, "802.1q": netlink.VLAN_PROTOCOL_8021Q,
		"802.1AD": netlink.VLAN_PROTOCOL_8021AD, "802.1ad": netlink.VLAN_PROTOCOL_8021AD,
	} {
		c := parse(t, `{"master":"eth0","sVlan":1,"sProto":"`+in+`"}`)
		if c.SProto != want {
			t.Errorf("sProto %q -> %v, want %v", in, c.SProto, want)
		}
	}
}

func TestMissingCNIVersionIs010AndAbsentCVlansIsTunnelMode(t *testing.T) {
	c, err := Parse([]byte(`{"master":"eth0","sVlan":4094,"ipam":{"type":"static"}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.CNIVersion != "0.1.0" || !c.TunnelMode() {
		t.Fatalf("version %q tunnel %v", c.CNIVersion, c.TunnelMode())
	}
	if !parse(t, `{"master":"eth0","sVlan":1,"cVlans":[]}`).TunnelMode() {
		t.Fatal("cVlans [] must be tunnel mode")
	}
}

// Every bad value is code 7, names the key, and says what is allowed.
func TestBadConfigIsCode7NamingTheKey(t *testing.T) {
	cases := []struct{ name, js, key, allowed string }{
		{"sVlan 0", `{"master":"eth0","sVlan":0}`, "sVlan", "1-4094"},
		{"sVlan 4095", `{"master":"eth0","sVlan":4095}`, "sVlan", "1-4094"},
		{"sVlan -1", `{"master":"eth0","sVlan":-1}`, "sVlan", "1-4094"},
		{"sVlan string", `{"master":"eth0","sVlan":"10"}`, "sVlan", "1-4094"},
		{"sVlan float", `{"master":"eth0","sVlan":10.5}`, "sVlan", "1-4094"},
		{"sVlan missing", `{"master":"eth0"}`, "sVlan", "1-4094"},
		{"cVlans 4095", `{"master":"eth0","sVlan":1,"cVlans":[10,4095]}`, "cVlans[1]", "1-4094"},
		{"cVlans 0", `{"master":"eth0","sVlan":1,"cVlans":[0]}`, "cVlans[0]", "1-4094"},
		{"cVlans string", `{"master":"eth0","sVlan":1,"cVlans":["10"]}`, "cVlans", "1-4094"},
		{"cVlans not a list", `{"master":"eth0","sVlan":1,"cVlans":10}`, "cVlans", "1-4094"},
		{"cVlans duplicate", `{"master":"eth0","sVlan":1,"cVlans":[10,10]}`, "cVlans", "distinct"},
		{"cVlans too deep", `{"master":"eth0","sVlan":1,"cVlans":[1,2,3,4,5]}`, "cVlans", "at most 4"},
		{"sProto unknown", `{"master":"eth0","sVlan":1,"sProto":"qinq"}`, "sProto", `"802.1ad"`},
		{"sProto 0x9100", `{"master":"eth0","sVlan":1,"sProto":"0x9100"}`, "sProto", `"802.1Q"`},
		{"sProto number", `{"master":"eth0","sVlan":1,"sProto":8100}`, "sProto", `"802.1ad"`},
		{"master missing", `{"sVlan":1}`, "master", "required"},
		{"master too long", `{"master":"abcdefghijklmnop","sVlan":1}`, "master", "at most 15"},
		{"master with slash", `{"master":"a/b","sVlan":1}`, "master", "'/'"},
		{"mtu 67", `{"master":"eth0","sVlan":1,"mtu":67}`, "mtu", "68"},
		{"mtu negative", `{"master":"eth0","sVlan":1,"mtu":-5}`, "mtu", "68"},
		{"mtu string", `{"master":"eth0","sVlan":1,"mtu":"1500"}`, "mtu", "68"},
		{"mac broken", `{"master":"eth0","sVlan":1,"mac":"zz"}`, "mac", "unicast"},
		{"mac multicast", `{"master":"eth0","sVlan":1,"mac":"01:00:5e:00:00:01"}`, "mac", "unicast"},
		{"mac infiniband", `{"master":"eth0","sVlan":1,"mac":"00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01"}`, "mac", "unicast"},
		{"linkInContainer string", `{"master":"eth0","sVlan":1,"linkInContainer":"yes"}`, "linkInContainer", "true or false"},
		{"l2ProtocolTunnel with cVlans", `{"master":"eth0","sVlan":1,"cVlans":[10],"l2ProtocolTunnel":true}`, "l2ProtocolTunnel", "only in tunnel mode"},
		{"l2ProtocolTunnel string", `{"master":"eth0","sVlan":1,"l2ProtocolTunnel":"yes"}`, "l2ProtocolTunnel", "true or false"},
		{"l2ProtocolTunnel per-pod cVlans", `{"master":"eth0","sVlan":1,"overrideCVlans":["10"],"args":{"cni":{"cVlans":[10]}},"l2ProtocolTunnel":true}`, "l2ProtocolTunnel", "only in tunnel mode"},
		{"l2ProtocolTunnel in OVS mode", `{"mode":"ovs","bridge":"br0","sVlan":1,"l2ProtocolTunnel":true}`, "l2ProtocolTunnel", "kernel mode"},
		{"type other", `{"type":"vlan","master":"eth0","sVlan":1}`, "type", `"qinq"`},
		{"ipam without type", `{"master":"eth0","sVlan":1,"ipam":{"subnet":"10.0.0.0/24"}}`, "ipam.type", "host-local"},
		{"cniVersion garbage", `{"cniVersion":"x.y","master":"eth0","sVlan":1}`, "cniVersion", "1.0.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.js), "")
			var e *types.Error
			if !errors.As(err, &e) || e.Code != types.ErrInvalidNetworkConfig {
				t.Fatalf("want code 7, got %v", err)
			}
			if !strings.HasPrefix(e.Msg, tc.key+":") || !strings.Contains(e.Msg, tc.allowed) {
				t.Fatalf("message %q must start with %q and mention %q", e.Msg, tc.key+":", tc.allowed)
			}
		})
	}
}

func TestUnparsableStdinIsCode6(t *testing.T) {
	for _, in := range []string{``, `{`, `not json`, `[1,2]`} {
		_, err := Parse([]byte(in), "")
		var e *types.Error
		if !errors.As(err, &e) || e.Code != types.ErrDecodingFailure {
			t.Errorf("%q: want code 6, got %v", in, err)
		}
	}
}

func TestIfNameFollowsKernelRules(t *testing.T) {
	for _, ok := range []string{"eth0", "net1", "a", "abcdefghijklmno"} {
		if err := ValidateIfName(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "abcdefghijklmnop", "a/b", "a b", ".", "..", "a:b"} {
		err := ValidateIfName(bad)
		var e *types.Error
		if !errors.As(err, &e) || e.Code != 4 || !strings.HasPrefix(e.Msg, "CNI_IFNAME:") {
			t.Errorf("%q: want code 4 naming CNI_IFNAME, got %v", bad, err)
		}
	}
}

func TestOVSModeKeys(t *testing.T) {
	c := parse(t, `{"mode":"ovs","bridge":"br0","sVlan":100,"cVlans":[10],"allowedCVlans":[10,20]}`)
	if c.Backend != BackendOVS || c.Bridge != "br0" || c.OVSDBSocket != DefaultOVSDBSocket || len(c.AllowedCVlans) != 2 || c.Chained() {
		t.Fatalf("%+v", c)
	}
	if !parse(t, `{"mode":"ovs","sVlan":100}`).Chained() {
		t.Fatal("ovs mode without bridge is chained")
	}
	for _, tc := range []struct{ js, key string }{
		{`{"mode":"ovs","sVlan":100,"cVlans":[10]}`, "cVlans"},
		{`{"mode":"ovs","bridge":"br0","sVlan":100,"cVlans":[50,10]}`, "cVlans"},
		{`{"mode":"ovs","sVlan":100,"ipam":{"type":"static"}}`, "ipam"},
		{`{"mode":"ovs","bridge":"br0","sVlan":100,"allowedCVlans":[4095]}`, "allowedCVlans[0]"},
		{`{"mode":"ovs","bridge":"br0","sVlan":100,"ovsdbSocket":"/run/db.sock"}`, "ovsdbSocket"},
		{`{"mode":"ovs","bridge":"br0","sVlan":100,"ovsdbSocket":"ssl:10.0.0.1:6640"}`, "ovsdbSocket"},
		{`{"mode":"ovs","bridge":"br0","master":"eth0","sVlan":100}`, "master"},
		{`{"mode":"switch","master":"eth0","sVlan":100}`, "mode"},
		{`{"master":"eth0","sVlan":100,"bridge":"br0"}`, "bridge"},
		{`{"master":"eth0","sVlan":100,"cVlans":[10],"allowedCVlans":[10]}`, "allowedCVlans"},
	} {
		_, err := Parse([]byte(tc.js), "")
		var e *types.Error
		if !errors.As(err, &e) || e.Code != 7 || !strings.HasPrefix(e.Msg, tc.key+":") {
			t.Errorf("%s: want code 7 on %s, got %v", tc.js, tc.key, err)
		}
	}
}

func TestTypeErrorsOnNetConfKeysNameTheKey(t *testing.T) {
	for js, key := range map[string]string{
		`{"master":"eth0","sVlan":1,"ipam":"host-local"}`:         "ipam",
		`{"master":"eth0","sVlan":1,"prevResult":"x"}`:            "prevResult",
		`{"master":"eth0","sVlan":1,"ipam":{"type":5}}`:           "ipam.type",
		`{"master":"eth0","sVlan":1,"dns":{"nameservers":"8.8"}}`: "dns.nameservers",
	} {
		_, err := Parse([]byte(js), "")
		var e *types.Error
		if !errors.As(err, &e) || e.Code != 7 || !strings.HasPrefix(e.Msg, key+":") {
			t.Errorf("%s: want code 7 naming %s, got %v", js, key, err)
		}
	}
}

func TestL2OnlyAtVersionsWhoseResultsNeedAnIPIsRefused(t *testing.T) {
	for _, v := range []string{"0.1.0", "0.2.0"} {
		_, err := Parse([]byte(`{"cniVersion":"`+v+`","master":"eth0","sVlan":1,"cVlans":[2]}`), "")
		var e *types.Error
		if !errors.As(err, &e) || e.Code != 7 || !strings.HasPrefix(e.Msg, "ipam:") {
			t.Errorf("%s without ipam: want code 7 naming ipam, got %v", v, err)
		}
	}
	if _, err := Parse([]byte(`{"master":"eth0","sVlan":1,"ipam":{"type":"static"}}`), ""); err != nil {
		t.Fatalf("0.1.0 with ipam: %v", err)
	}
	if _, err := Parse([]byte(`{"cniVersion":"0.3.0","master":"eth0","sVlan":1}`), ""); err != nil {
		t.Fatalf("0.3.0 L2 only: %v", err)
	}
}

func v1(js string) []byte {
	if strings.Contains(js, `"cniVersion"`) {
		return []byte(js)
	}
	return []byte(`{"cniVersion":"1.0.0",` + js[1:])
}

func TestL2ProtocolTunnelIsTunnelModesOwnAndOffByDefault(t *testing.T) {
	for js, want := range map[string]bool{
		`"master":"eth0","sVlan":1,"l2ProtocolTunnel":true`:                           true,
		`"master":"eth0","sVlan":1,"containerLink":"macvlan","l2ProtocolTunnel":true`: true,
		`"master":"eth0","sVlan":1`:                                                   false,
		`"master":"eth0","sVlan":1,"cVlans":[10],"l2ProtocolTunnel":false`:            false,
	} {
		c, err := Parse([]byte(`{"cniVersion":"1.0.0",`+js+`}`), "")
		if err != nil || c.L2ProtocolTunnel != want {
			t.Errorf("%s: %v, want l2ProtocolTunnel %v", js, err, want)
		}
	}
}
