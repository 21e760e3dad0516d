package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// oldLibcniTool builds tools/libcni112 (its own module: libcni 1.1.2).
func oldLibcniTool(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "libcni112")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join(root, "tools", "libcni112")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building tools/libcni112: %v\n%s", err, msg)
	}
	return out
}

// everyExample is every CNI configuration under deploy/ and in README.md
// and docs/*.md, variants of one network name included.
func everyExample(t *testing.T) []*Network {
	t.Helper()
	all := deploySet(t).All
	for _, d := range docSets(t) {
		all = append(all, d.set.All...)
	}
	return all
}

func TestCallers_EveryExampleWorksWithLibcni112AndCurrent(t *testing.T) {
	nets := everyExample(t)
	old, err := OldLibcni(oldLibcniTool(t), nets)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nets {
		cur := CurrentLibcni(n.Where, n.Config)
		where := strings.TrimPrefix(n.Where, root+"/")
		if old[i].Error != "" {
			t.Errorf("%s: libcni 1.1.2 (containerd 1.6, podman 4) fails: %s\n  use \"cniVersion\": \"1.0.0\", or in a conflist \"cniVersion\": \"1.0.0\", \"cniVersions\": [\"1.0.0\", \"1.1.0\"]", where, old[i].Error)
		}
		if cur.Error != "" {
			t.Errorf("%s: current libcni fails: %s", where, cur.Error)
		}
		t.Logf("%s: libcni 1.1.2 sends qinq %s, current libcni %s", where, old[i].Sent, cur.Sent)
	}
	if len(nets) < 20 {
		t.Errorf("only %d configurations found in deploy/, README.md and docs/", len(nets))
	}
}

// TestCallers_TheTwoLibcnisDiffer is the control: a config at 1.1.0 fails
// under libcni 1.1.2 as containerd 1.6 fails it, after qinq's ADD, and a
// conflist with cniVersions is sent at 1.0.0 by the old libcni and at 1.1.0
// by the current one.
func TestCallers_TheTwoLibcnisDiffer(t *testing.T) {
	nets := []*Network{
		{Where: "conf at 1.1.0", Config: []byte(`{"cniVersion":"1.1.0","name":"a","type":"qinq","master":"eth1","sVlan":100}`)},
		{Where: "conflist with cniVersions", Config: []byte(`{"cniVersion":"1.0.0","cniVersions":["1.0.0","1.1.0"],"name":"b","plugins":[{"type":"qinq","master":"eth1","sVlan":100}]}`)},
	}
	old, err := OldLibcni(oldLibcniTool(t), nets)
	if err != nil {
		t.Fatal(err)
	}
	if o := old[0]; o.Sent != "1.1.0" || !strings.Contains(o.Error, `unsupported CNI result version "1.1.0"`) {
		t.Errorf("libcni 1.1.2 on a conf at 1.1.0: %+v, want qinq's ADD sent at 1.1.0, then the result refused", o)
	}
	if o := CurrentLibcni(nets[0].Where, nets[0].Config); o.Sent != "1.1.0" || o.Error != "" {
		t.Errorf("current libcni on a conf at 1.1.0: %+v, want it sent and accepted at 1.1.0", o)
	}
	if o := old[1]; o.Sent != "1.0.0" || o.Error != "" {
		t.Errorf("libcni 1.1.2 on a conflist with cniVersions: %+v, want it sent at 1.0.0 (cniVersions ignored)", o)
	}
	if o := CurrentLibcni(nets[1].Where, nets[1].Config); o.Sent != "1.1.0" || o.Error != "" {
		t.Errorf("current libcni on a conflist with cniVersions: %+v, want 1.1.0 picked", o)
	}
}
