package cnierr

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestCodeTable_EveryConstructorHasOneRowInTheDocs: each constructor gives
// its one code, and docs/configuration.md's code table has a row for every
// code qinq returns and none it does not (a code with two meanings, or a row
// the code forgot, fails here).
func TestCodeTable_EveryConstructorHasOneRowInTheDocs(t *testing.T) {
	errAny := errors.New("x")
	returned := map[uint]string{}
	for name, e := range map[string]error{
		"ErrUnsupportedVersion": nil, // libcni's version check answers 1 for qinq (skel)
		"ContainerUnknown":      ContainerUnknown("/x", errAny),
		"InvalidEnv":            InvalidEnv("CNI_IFNAME", "x"),
		"Decode":                Decode(errAny),
		"InvalidConfig":         InvalidConfig("k", "x"),
		"TryAgain":              TryAgain("x", errAny),
		"Unavailable":           Unavailable("x"),
		"Conflict":              Conflict("x"),
		"CheckFailed":           CheckFailed("x"),
		"PolicyRefused":         PolicyRefused("r", "x"),
		"Internal":              Internal("x", errAny),
	} {
		code := uint(1)
		if e != nil {
			var ok bool
			if code, ok = Code(e); !ok {
				t.Fatalf("%s gives no CNI code", name)
			}
		}
		if other, dup := returned[code]; dup {
			t.Errorf("code %d comes from %s and %s: one code, one meaning", code, other, name)
		}
		returned[code] = name
	}
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllSubmatch(data, -1)
	documented := map[uint]bool{}
	for _, r := range rows {
		n, _ := strconv.Atoi(string(r[1]))
		if documented[uint(n)] {
			t.Errorf("docs/configuration.md lists code %d twice", n)
		}
		documented[uint(n)] = true
	}
	for code, name := range returned {
		if !documented[code] {
			t.Errorf("code %d (%s) has no row in docs/configuration.md's code table", code, name)
		}
	}
	for code := range documented {
		if _, ok := returned[code]; !ok {
			t.Errorf("docs/configuration.md documents code %d, which no constructor returns", code)
		}
	}
}
