//go:build kerneltest

package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/version"

	"github.com/qinq-cni/qinq/internal/testenv"
)

func TestVERSION(t *testing.T) {
	spec(t, "reports 0.1.0 to 1.1.0", func(t *testing.T) {
		w, _ := newWorld(t, 0)
		before := w.Snapshot()
		out := w.Node.Raw(testenv.Vars{"CNI_COMMAND": "VERSION"}, []byte(`{"cniVersion":"1.1.0"}`)).OK(t)
		var got struct {
			CNIVersion        string   `json:"cniVersion"`
			SupportedVersions []string `json:"supportedVersions"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("VERSION stdout %q: %v", out, err)
		}
		if !slices.Equal(got.SupportedVersions, allVersions) {
			t.Fatalf("VERSION: supportedVersions %v, want %v", got.SupportedVersions, allVersions)
		}
		// The same through libcni, as a runtime asks.
		info, err := w.Node.LibCNI().GetVersionInfo(context.Background(), "qinq")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(info.SupportedVersions(), allVersions) {
			t.Fatalf("libcni GetVersionInfo: %v, want %v", info.SupportedVersions(), allVersions)
		}
		w.Unchanged(before)
	})
}

// TestVersions: ADD at every version returns a result of that version's
// shape; what a version does not allow is refused with code 1.
func TestVersions(t *testing.T) {
	for i, v := range allVersions {
		spec(t, "ADD at "+v+" returns a "+v+" result", func(t *testing.T) {
			w, c := newWorld(t, 1)
			cidr := fmt.Sprintf("10.20.%d.5/24", i)
			cf := qinq(v, 100, 10).WithStaticIP(cidr)
			before := w.Snapshot()
			out := w.Node.Raw(env.Vars("ADD", c[0], "net1"), cf.Bytes()).OK(t)
			attached(t, w, before, false)
			resultShape(t, v, out, cidr, c[0].NetNSPath())
			w.Node.Raw(env.Vars("DEL", c[0], "net1"), cf.Bytes()).OK(t)
			w.Unchanged(before)
		})
	}

	spec(t, "missing cniVersion is 0.1.0", func(t *testing.T) {
		w, c := newWorld(t, 1)
		cf := qinq("", 100, 10).Without("cniVersion").WithStaticIP("10.21.0.5/24")
		before := w.Snapshot()
		out := w.Node.Raw(env.Vars("ADD", c[0], "net1"), cf.Bytes()).OK(t)
		resultShape(t, "0.1.0", out, "10.21.0.5/24", c[0].NetNSPath())
		w.Node.Raw(env.Vars("DEL", c[0], "net1"), cf.Bytes()).OK(t)
		w.Unchanged(before)
	})

	// A 0.1.0/0.2.0 result cannot say "no address": L2 only at those
	// versions is a configuration the plugin must refuse as such (code 7
	// naming ipam), not an internal failure, and it must leave nothing.
	for _, v := range allVersions[:2] {
		spec(t, "ADD at "+v+" without ipam is code 7 naming ipam, nothing left", func(t *testing.T) {
			w, c := newWorld(t, 1)
			cf := qinq(v, 100, 10)
			before := w.Snapshot()
			w.Node.Raw(env.Vars("ADD", c[0], "net1"), cf.Bytes()).Fails(t, 7, "ipam")
			w.Unchanged(before)
		})
	}

	for _, v := range []string{"0.5.0", "1.2.0", "2.0.0"} {
		spec(t, "unknown version "+v+" is refused with code 1", func(t *testing.T) {
			w, c := newWorld(t, 1)
			before := w.Snapshot()
			for _, cmd := range []string{"ADD", "DEL"} {
				e := w.Node.Raw(env.Vars(cmd, c[0], "net1"), qinq(v, 100, 10).Bytes()).Fails(t, 1, "incompatible CNI versions")
				if !strings.Contains(e.Details, v) {
					t.Errorf("%s: details %q do not name version %s", cmd, e.Details, v)
				}
			}
			w.Unchanged(before)
		})
	}

	for _, v := range allVersions[:4] {
		spec(t, "CHECK at "+v+" is refused with code 1", func(t *testing.T) {
			w, c := newWorld(t, 1)
			cf := qinq(v, 100, 10).WithStaticIP("10.22.0.5/24")
			w.Node.Raw(env.Vars("ADD", c[0], "net1"), cf.Bytes()).OK(t)
			before := w.Snapshot()
			w.Node.Raw(env.Vars("CHECK", c[0], "net1"), cf.Bytes()).Fails(t, 1, "does not allow CHECK")
			w.Unchanged(before)
			w.Node.Raw(env.Vars("DEL", c[0], "net1"), cf.Bytes()).OK(t)
		})
	}

	for _, v := range []string{"0.4.0", "1.0.0"} {
		for _, verb := range []string{"GC", "STATUS"} {
			spec(t, verb+" at "+v+" is refused with code 1", func(t *testing.T) {
				w, c := newWorld(t, 1)
				cf := qinq(v, 100, 10)
				w.Node.Raw(env.Vars("ADD", c[0], "net1"), cf.Bytes()).OK(t)
				before := w.Snapshot()
				// GC with no valid attachments would detach everything: the
				// refusal must come before any of it.
				w.Node.Raw(testenv.Vars{"CNI_COMMAND": verb, "CNI_PATH": env.CNIPath}, cf.Bytes()).Fails(t, 1, "does not allow "+verb)
				w.Unchanged(before)
				w.Node.Raw(env.Vars("DEL", c[0], "net1"), cf.Bytes()).OK(t)
			})
		}
	}
}

// resultShape checks that stdout is a result of version v in that version's
// own shape, giving net1 (in sandbox) the address cidr.
func resultShape(t *testing.T, v string, stdout []byte, cidr, sandbox string) {
	t.Helper()
	r, err := version.NewResult(v, stdout)
	if err != nil {
		t.Fatalf("result does not parse at %s: %v\n%s", v, err, stdout)
	}
	if r.Version() != v {
		t.Fatalf("result parsed as %s, want %s", r.Version(), v)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(stdout, &m); err != nil {
		t.Fatal(err)
	}
	var got string
	if json.Unmarshal(m["cniVersion"], &got); got != v {
		t.Fatalf("result cniVersion %q, want %q:\n%s", got, v, stdout)
	}
	switch v {
	case "0.1.0", "0.2.0":
		var ip4 struct {
			IP string `json:"ip"`
		}
		if err := json.Unmarshal(m["ip4"], &ip4); err != nil || ip4.IP != cidr {
			t.Fatalf("%s result: want ip4.ip %q:\n%s", v, cidr, stdout)
		}
		for _, k := range []string{"ips", "interfaces"} {
			if _, ok := m[k]; ok {
				t.Fatalf("%s result has %q, a 0.3.0 key:\n%s", v, k, stdout)
			}
		}
	default:
		var res struct {
			Interfaces []struct {
				Name, Sandbox string
			} `json:"interfaces"`
			IPs []map[string]json.RawMessage `json:"ips"`
		}
		if err := json.Unmarshal(stdout, &res); err != nil || len(res.IPs) != 1 {
			t.Fatalf("%s result: want one ips[] entry:\n%s", v, stdout)
		}
		ipc := res.IPs[0]
		var addr, ver string
		var idx int
		json.Unmarshal(ipc["address"], &addr)
		if addr != cidr {
			t.Fatalf("%s result: ips[0].address %q, want %q:\n%s", v, addr, cidr, stdout)
		}
		_, hasVer := ipc["version"]
		json.Unmarshal(ipc["version"], &ver)
		old := v != "1.0.0" && v != "1.1.0"
		if old && ver != "4" {
			t.Fatalf("%s result: ips[0].version %q, want \"4\":\n%s", v, ver, stdout)
		}
		if !old && hasVer {
			t.Fatalf("%s result: ips[0] has \"version\", removed in 1.0.0:\n%s", v, stdout)
		}
		if err := json.Unmarshal(ipc["interface"], &idx); err != nil || idx < 0 || idx >= len(res.Interfaces) {
			t.Fatalf("%s result: ips[0].interface does not index interfaces:\n%s", v, stdout)
		}
		if i := res.Interfaces[idx]; i.Name != "net1" || i.Sandbox != sandbox {
			t.Fatalf("%s result: ips[0] is on %+v, want net1 in %s:\n%s", v, i, sandbox, stdout)
		}
	}
}
