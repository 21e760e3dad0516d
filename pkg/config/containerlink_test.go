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
		{`{"master":"eth0","sVlan":1}`, "vlan", ""},
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
		{`{"containerLink":"veth"}`, "containerLink", `"vlan", "macvlan" or "ipvlan"`},
		{`{"containerLink":"MACVLAN"}`, "containerLink", `"vlan", "macvlan" or "ipvlan"`},
		{`{"containerLink":7}`, "containerLink", `"vlan", "macvlan" or "ipvlan"`},
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
