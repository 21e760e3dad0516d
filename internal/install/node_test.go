package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qinq-cni/qinq/pkg/node"
)

const goodNode = `{"version":1,"ipamTypes":["host-local","static","whereabouts","dhcp"],"ipamDataDirs":["/var/lib/cni/networks"]}`

func nodeOptions(t *testing.T, data string) Options {
	t.Helper()
	src := filepath.Join(t.TempDir(), "node.json")
	os.WriteFile(src, []byte(data), 0o644)
	return Options{NodeSrc: src, PolicyDstDir: filepath.Join(t.TempDir(), "etc-cni-qinq")}
}

func TestInstallNode_InstallsCheckedSettingsAtomicallyMode0644(t *testing.T) {
	o := nodeOptions(t, goodNode)
	if err := InstallNode(o); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(o.PolicyDstDir, node.SettingsFile)
	st, err := os.Stat(dst)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("%v %v, want node.json mode 0644", st, err)
	}
	if data, _ := os.ReadFile(dst); string(data) != goodNode {
		t.Fatalf("installed %q", data)
	}
	if entries, _ := os.ReadDir(o.PolicyDstDir); len(entries) != 1 {
		t.Fatalf("left in the directory: %v", entries)
	}
}

// Settings qinq would refuse are never installed: the node keeps its own.
func TestInstallNode_RefusesBadSettingsAndKeepsTheInstalledOnes(t *testing.T) {
	o := nodeOptions(t, goodNode)
	if err := InstallNode(o); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{``, `{"version":1`, `{"version":1,"ipamtypes":[]}`, `{"version":2}`,
		`{"version":1,"ipamTypes":["../bin/sh"]}`, `{"version":1,"ipamDataDirs":["/"]}`, `{"version":1,"logDir":"x"}`} {
		os.WriteFile(o.NodeSrc, []byte(bad), 0o644)
		if err := InstallNode(o); err == nil || !strings.Contains(err.Error(), "refusing node settings") {
			t.Errorf("%q: %v, want a refusal", bad, err)
		}
		if data, _ := os.ReadFile(filepath.Join(o.PolicyDstDir, node.SettingsFile)); string(data) != goodNode {
			t.Fatalf("%q replaced the installed node.json with %q", bad, data)
		}
	}
	os.Remove(o.NodeSrc)
	if err := InstallNode(o); err == nil {
		t.Error("a missing source must fail the install, not remove node.json")
	}
}

func TestRun_InstallsChangedNodeSettingsBesideThePolicy(t *testing.T) {
	o := nodeOptions(t, goodNode)
	p := policyOptions(t, goodPolicy)
	o.PolicySrc, o.PolicyEvery = p.PolicySrc, 10*time.Millisecond
	if err := installAdmin(o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchPolicy(ctx, o)
	changed := strings.Replace(goodNode, `"dhcp"`, `"dhcp","portmap"`, 1)
	os.WriteFile(o.NodeSrc, []byte(changed), 0o644)
	for range 200 {
		data, _ := os.ReadFile(filepath.Join(o.PolicyDstDir, node.SettingsFile))
		pol, _ := os.ReadFile(filepath.Join(o.PolicyDstDir, "policy.json"))
		if string(data) == changed && string(pol) == goodPolicy {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the changed node.json was not installed beside the policy")
}
