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
