package config

import (
	"strings"
	"testing"
)

// A pod's cni-args naming a network key is refused, not silently ignored.
func TestArgsCNI_NetworkKeysAreCode7(t *testing.T) {
	for _, key := range []string{"master", "mode", "overrideSVlans", "logFile", "ovsdbSocket", "bridge", "containerLink"} {
		_, err := Parse(v1(`{"master":"eth0","sVlan":1,"overrideSVlans":["1-9"],"args":{"cni":{"sVlan":2,"`+key+`":"x"}}}`), "")
		if err == nil || !strings.HasPrefix(err.Error(), "args.cni."+key+": ") {
			t.Errorf("%s: %v", key, err)
		}
	}
	// Control: the per-pod keys, and keys qinq does not know (other plugins' labels), pass.
	if _, err := Parse(v1(`{"master":"eth0","sVlan":1,"overrideSVlans":["1-9"],"args":{"cni":{"sVlan":2,"labels":{}}}}`), ""); err != nil {
		t.Fatal(err)
	}
}

func TestMAC_AllZeroIsCode7(t *testing.T) {
	if _, err := Parse(v1(`{"master":"eth0","sVlan":1,"mac":"00:00:00:00:00:00"}`), ""); err == nil || !strings.HasPrefix(err.Error(), "mac: ") {
		t.Fatal(err)
	}
}
