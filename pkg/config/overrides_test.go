package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

const allowing = `{"cniVersion":"1.0.0","master":"eth0","sVlan":100,"cVlans":[10],"overrideSVlans":["100-199","300"],"overrideCVlans":["10-20"]`

func TestOverride_CNIArgsPicksVLANsWithinTheAllowLists(t *testing.T) {
	c, err := Parse([]byte(allowing+`}`), "K8S_POD_NAME=web-0;SVLAN=150;CVLANS=11,12")
	if err != nil {
		t.Fatal(err)
	}
	if c.SVlan != 150 || len(c.CVlans) != 2 || c.CVlans[0] != 11 || c.CVlans[1] != 12 {
		t.Fatalf("got S %d C %v", c.SVlan, c.CVlans)
	}
}

func TestOverride_MultusArgsCNIWinsOverCNIArgs(t *testing.T) {
	c, err := Parse([]byte(allowing+`,"args":{"cni":{"sVlan":300,"cVlans":[20]}}}`), "SVLAN=150;CVLANS=11")
	if err != nil {
		t.Fatal(err)
	}
	if c.SVlan != 300 || c.CVlans[0] != 20 {
		t.Fatalf("got S %d C %v, want args.cni's 300/[20]", c.SVlan, c.CVlans)
	}
}

func TestOverride_RefusedOutsideTheRangesOrWithoutThem(t *testing.T) {
	cases := []struct{ name, js, env, key, says string }{
		{"sVlan outside", allowing + `}`, "SVLAN=200", "sVlan", `per-pod value 200 from CNI_ARGS is outside overrideSVlans ["100-199","300"]`},
		{"cVlan outside", allowing + `}`, "CVLANS=10,21", "cVlans", `per-pod value 21 from CNI_ARGS is outside overrideCVlans ["10-20"]`},
		{"args.cni outside", allowing + `,"args":{"cni":{"sVlan":4094}}}`, "", "sVlan", "from args.cni is outside"},
		{"no ranges configured", `{"master":"eth0","sVlan":100,"cVlans":[10]}`, "SVLAN=100", "sVlan", "allows no per-pod sVlan (set overrideSVlans)"},
		{"no C ranges", `{"master":"eth0","sVlan":100,"overrideSVlans":["1-4094"]}`, "CVLANS=5", "cVlans", "allows no per-pod cVlans"},
		{"empty cVlans would be tunnel mode", allowing + `,"args":{"cni":{"cVlans":[]}}}`, "", "cVlans", "never switch to tunnel mode"},
		{"not a number", allowing + `}`, "SVLAN=abc", "sVlan", "not an integer"},
		{"duplicate", allowing + `}`, "CVLANS=11,11", "cVlans", "distinct"},
		{"4095 in range text", allowing + `}`, "SVLAN=4095", "sVlan", "outside"},
		{"bad range", `{"master":"eth0","sVlan":100,"overrideSVlans":["200-100"]}`, "", "overrideSVlans[0]", "LO-HI"},
		{"range past 4094", `{"master":"eth0","sVlan":100,"overrideCVlans":["4000-4095"]}`, "", "overrideCVlans[0]", "1-4094"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.js), tc.env)
			var e *types.Error
			if !errors.As(err, &e) || e.Code != 7 || !strings.HasPrefix(e.Msg, tc.key+":") || !strings.Contains(e.Msg, tc.says) {
				t.Fatalf("want code 7 on %s saying %q, got %v", tc.key, tc.says, err)
			}
		})
	}
}

func TestOverride_CNIArgsWithOnlyForeignKeysChangesNothing(t *testing.T) {
	c, err := Parse(v1(`{"master":"eth0","sVlan":100,"cVlans":[10]}`), "IgnoreUnknown=1;K8S_POD_NAMESPACE=a;K8S_POD_NAME=b")
	if err != nil || c.SVlan != 100 || c.CVlans[0] != 10 {
		t.Fatalf("c=%+v err=%v", c, err)
	}
}

func TestLogKeys(t *testing.T) {
	c, err := Parse(v1(`{"master":"eth0","sVlan":1,"logFile":"/var/log/qinq.log","logLevel":"debug"}`), "")
	if err != nil || c.LogFile != "/var/log/qinq.log" || c.LogLevel.String() != "DEBUG" {
		t.Fatalf("c=%+v err=%v", c, err)
	}
	for js, key := range map[string]string{
		`{"master":"eth0","sVlan":1,"logFile":"qinq.log"}`: "logFile",
		`{"master":"eth0","sVlan":1,"logLevel":"chatty"}`:  "logLevel",
	} {
		_, err := Parse([]byte(js), "")
		var e *types.Error
		if !errors.As(err, &e) || e.Code != 7 || !strings.HasPrefix(e.Msg, key+":") {
			t.Errorf("%s: want code 7 on %s, got %v", js, key, err)
		}
	}
}
