package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// FuzzParse: no input panics; every refusal is a CNI error, code 6 for
// undecodable JSON and 7 for anything else; every accepted config holds only
// valid values. Seeds: testdata/configs/*.json (real and broken configs).
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/configs/*.json")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "")
		f.Add(data, "SVLAN=150;CVLANS=11,12")
	}
	f.Fuzz(func(t *testing.T, stdin []byte, cniArgs string) {
		c, err := Parse(stdin, cniArgs)
		if err != nil {
			var e *types.Error
			if !errors.As(err, &e) || (e.Code != 4 && e.Code != 6 && e.Code != 7) {
				t.Fatalf("refusal is not code 4/6/7: %#v", err)
			}
			return
		}
		assertValid(t, c)
	})
}

func assertValid(t *testing.T, c *Config) {
	inRange := func(v VID) bool { return v >= MinVID && v <= MaxVID }
	if !inRange(c.SVlan) || len(c.CVlans) > MaxCVlans {
		t.Fatalf("accepted S %d C %v", c.SVlan, c.CVlans)
	}
	seen := map[VID]bool{}
	for _, v := range append(append([]VID{}, c.CVlans...), c.AllowedCVlans...) {
		if !inRange(v) {
			t.Fatalf("accepted VLAN %d", v)
		}
	}
	for _, v := range c.CVlans {
		if seen[v] {
			t.Fatalf("accepted duplicate C-VLAN %d", v)
		}
		seen[v] = true
	}
	if c.MTU != 0 && c.MTU < MinMTU {
		t.Fatalf("accepted mtu %d", c.MTU)
	}
	if c.Backend == BackendKernel && c.Master == "" {
		t.Fatal("accepted kernel mode without master")
	}
	// The names that reach link names and record paths.
	for key, name := range map[string]string{"master": c.Master, "bridge": c.Bridge} {
		if name != "" && checkIfName(name) != nil || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			t.Fatalf("accepted %s %q", key, name)
		}
	}
	if c.LogFile != "" && (!filepath.IsAbs(c.LogFile) || strings.ContainsRune(c.LogFile, 0)) {
		t.Fatalf("accepted logFile %q", c.LogFile)
	}
	if c.MAC != nil && (len(c.MAC) != 6 || c.MAC[0]&1 == 1 || allZero(c.MAC)) {
		t.Fatalf("accepted mac %v", c.MAC)
	}
}

func TestSeedCorpusHasRealAndBrokenConfigs(t *testing.T) {
	seeds, _ := filepath.Glob("testdata/configs/*.json")
	ok, bad := 0, 0
	for _, s := range seeds {
		data, _ := os.ReadFile(s)
		if _, err := Parse(data, ""); err == nil {
			ok++
		} else {
			bad++
		}
	}
	if ok < 5 || bad < 5 {
		t.Fatalf("seed corpus: %d valid, %d invalid; want at least 5 of each", ok, bad)
	}
}
