package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestContainerLink_DefaultsAndModes(t *testing.T) {
	for _, tc := range []struct {
		js         string
		link, mode string
	}{
		{`{"master":"eth0","sVlan":1}`, "bridge", ""},
		{`{"master":"eth0","sVlan":1,"linkInContainer":true}`, "vlan", ""},
		{`{"mode":"ovs","bridge":"br0","sVlan":1}`, "vlan", ""},
		{`{"master":"eth0","sVlan":1,"containerLink":"bridge"}`, "bridge", ""},
		{`{"master":"eth0","sVlan":1,"containerLink":"vlan"}`, "vlan", ""},
		{`{"master":"eth0","sVlan":1,"containerLink":"macvlan"}`, "macvlan", "bridge"},
		{`{"master":"eth0","sVlan":1,"containerLink":"macvlan","containerLinkMode":"private"}`, "macvlan", "private"},
		{`{"master":"eth0","sVlan":1,"containerLink":"macvlan","containerLinkMode":"vepa"}`, "macvlan", "vepa"},
		{`{"master":"eth0","sVlan":1,"cVlans":[10],"containerLink":"ipvlan"}`, "ipvlan", "l2"},
		{`{"master":"eth0","sVlan":1,"cVlans":[10],"containerLink":"ipvlan","containerLinkMode":"l3"}`, "ipvlan", "l3"},
		{`{"master":"eth0","sVlan":1,"cVlans":[10],"containerLink":"ipvlan","containerLinkMode":"l3s"}`, "ipvlan", "l3s"},
	} {
		c := parse(t, tc.js)
		if string(c.ContainerLink) != tc.link || c.ContainerLinkMode != tc.mode {
			t.Errorf("%s: %q/%q, want %q/%q", tc.js, c.ContainerLink, c.ContainerLinkMode, tc.link, tc.mode)
		}
	}
}

func TestContainerLink_BadValuesAreCode7NamingTheKeyAndTheAllowedValues(t *testing.T) {
	for _, tc := range []struct{ js, key, says string }{
		{`{"containerLink":"veth"}`, "containerLink", `"bridge", "vlan", "macvlan" or "ipvlan"`},
		{`{"containerLink":"MACVLAN"}`, "containerLink", `"bridge", "vlan", "macvlan" or "ipvlan"`},
		{`{"containerLink":7}`, "containerLink", `"bridge", "vlan", "macvlan" or "ipvlan"`},
		{`{"containerLink":"macvlan","containerLinkMode":"l2"}`, "containerLinkMode", `"bridge", "private" or "vepa"`},
		{`{"containerLink":"macvlan","containerLinkMode":"passthru"}`, "containerLinkMode", `"bridge", "private" or "vepa"`},
		{`{"cVlans":[10],"containerLink":"ipvlan","containerLinkMode":"bridge"}`, "containerLinkMode", `"l2", "l3" or "l3s"`},
		{`{"containerLinkMode":"bridge"}`, "containerLinkMode", "only used with containerLink"},
		{`{"containerLink":"vlan","containerLinkMode":"l2"}`, "containerLinkMode", "only used with containerLink"},
		{`{"cVlans":[10],"containerLink":"ipvlan","mac":"02:00:00:00:00:01"}`, "mac", "cannot take its own"},
		{`{"cVlans":[10],"containerLink":"ipvlan","runtimeConfig":{"mac":"02:00:00:00:00:01"}}`, "runtimeConfig.mac", "cannot take its own"},
		{`{"containerLink":"macvlan","linkInContainer":true}`, "containerLink", "linkInContainer"},
		{`{"containerLink":"ipvlan","cVlans":[]}`, "containerLink", "tunnel mode"},
		{`{"containerLink":"ipvlan","mode":"ovs","bridge":"br0","master":""}`, "containerLink", `mode "ovs"`},
		{`{"runtimeConfig":{"mac":"01:00:00:00:00:01"}}`, "runtimeConfig.mac", "unicast"},
		{`{"containerLink":"bridge","containerLinkMode":"l2"}`, "containerLinkMode", "only used with containerLink"},
		{`{"containerLink":"bridge","linkInContainer":true}`, "containerLink", "linkInContainer"},
		{`{"containerLink":"bridge","mode":"ovs","bridge":"br0","master":""}`, "containerLink", `mode "ovs"`},
		{`{"containerLink":"vlan","allowedCVlans":[10]}`, "allowedCVlans", "tunnel mode"},
		{`{"containerLink":"macvlan","allowedCVlans":[10]}`, "allowedCVlans", "tunnel mode"},
		{`{"cVlans":[10],"allowedCVlans":[10]}`, "allowedCVlans", "tunnel mode"},
		{`{"allowedCVlans":[4095]}`, "allowedCVlans[0]", "1-4094"},
	} {
		js := `{"master":"eth0","sVlan":1,` + tc.js[1:]
		_, err := Parse(v1(js), "")
		var e *types.Error
		if !errors.As(err, &e) || e.Code != 7 || !strings.HasPrefix(e.Msg, tc.key+":") || !strings.Contains(e.Msg, tc.says) {
			t.Errorf("%s: want code 7 on %s saying %s, got %v", tc.js, tc.key, tc.says, err)
		}
	}
}

func TestMAC_TheRuntimesMACWinsOverTheKey(t *testing.T) {
	c := parse(t, `{"master":"eth0","sVlan":1,"mac":"02:00:00:00:00:01","runtimeConfig":{"mac":"02:00:00:00:00:02"}}`)
	if c.MAC.String() != "02:00:00:00:00:02" {
		t.Fatalf("mac %v, want the runtimeConfig one", c.MAC)
	}
	m := parse(t, `{"master":"eth0","sVlan":1,"containerLink":"macvlan","runtimeConfig":{"mac":"02:00:00:00:00:03"}}`)
	if m.MAC.String() != "02:00:00:00:00:03" {
		t.Fatalf("macvlan mac %v", m.MAC)
	}
}

func TestAllowedCVlans_KernelTunnelBridge(t *testing.T) {
	c := parse(t, `{"master":"eth0","sVlan":1,"allowedCVlans":[10,20]}`)
	if c.ContainerLink != LinkBridge || len(c.AllowedCVlans) != 2 || c.AllowedCVlans[1] != 20 {
		t.Fatalf("got %q %v, want a bridge with allowedCVlans [10 20]", c.ContainerLink, c.AllowedCVlans)
	}
}

func TestMAC_CNIArgsMACWinsOverTheKeyAndTheCapabilityOverIt(t *testing.T) {
	js := v1(`{"master":"eth0","sVlan":1,"mac":"02:00:00:00:00:01"}`)
	c, err := Parse(js, "IgnoreUnknown=1;K8S_POD_NAME=p;MAC=02:00:00:00:00:04")
	if err != nil || c.MAC.String() != "02:00:00:00:00:04" {
		t.Fatalf("CNI_ARGS MAC: %v %v, want 02:00:00:00:00:04", c, err)
	}
	rc := v1(`{"master":"eth0","sVlan":1,"runtimeConfig":{"mac":"02:00:00:00:00:02"}}`)
	if c, err := Parse(rc, "MAC=02:00:00:00:00:04"); err != nil || c.MAC.String() != "02:00:00:00:00:02" {
		t.Fatalf("runtimeConfig.mac must win over CNI_ARGS MAC: %v %v", c, err)
	}
	_, err = Parse(js, "MAC=01:00:00:00:00:04")
	var e *types.Error
	if !errors.As(err, &e) || e.Code != 7 || !strings.HasPrefix(e.Msg, "CNI_ARGS MAC:") {
		t.Fatalf("a multicast CNI_ARGS MAC: want code 7 naming CNI_ARGS MAC, got %v", err)
	}
}

// disableContainerInterface is the bridge link's alone, and never with IPAM:
// both keys are named, and the value a user would try instead.
func TestDisableContainerInterface_BridgeOnlyAndWithoutIPAM(t *testing.T) {
	for _, js := range []string{`{"master":"eth0","sVlan":1,"disableContainerInterface":true}`,
		`{"master":"eth0","sVlan":1,"containerLink":"bridge","disableContainerInterface":true}`} {
		if c := parse(t, js); !c.DisableContainerInterface {
			t.Errorf("%s: not taken", js)
		}
	}
	if c := parse(t, `{"master":"eth0","sVlan":1,"disableContainerInterface":false}`); c.DisableContainerInterface {
		t.Error("false was taken as true")
	}
	for _, tc := range []struct{ js, says string }{
		{`{"containerLink":"vlan","disableContainerInterface":true}`, `containerLink "bridge" (here "vlan")`},
		{`{"containerLink":"macvlan","disableContainerInterface":true}`, `containerLink "bridge" (here "macvlan")`},
		{`{"cVlans":[10],"containerLink":"ipvlan","disableContainerInterface":true}`, `containerLink "bridge" (here "ipvlan")`},
		{`{"linkInContainer":true,"disableContainerInterface":true}`, `containerLink "bridge" (here "vlan")`},
		{`{"mode":"ovs","bridge":"br0","master":"","disableContainerInterface":true}`, `containerLink "bridge" (here "vlan")`},
		{`{"ipam":{"type":"host-local"},"disableContainerInterface":true}`, `cannot be used with ipam (here "host-local")`},
		{`{"disableContainerInterface":"yes"}`, "true or false"},
	} {
		js := `{"master":"eth0","sVlan":1,` + tc.js[1:]
		_, err := Parse(v1(js), "")
		var e *types.Error
		if !errors.As(err, &e) || e.Code != 7 || !strings.HasPrefix(e.Msg, "disableContainerInterface:") || !strings.Contains(e.Msg, tc.says) {
			t.Errorf("%s: want code 7 on disableContainerInterface saying %s, got %v", tc.js, tc.says, err)
		}
	}
}
