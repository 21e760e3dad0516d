package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qinq-cni/qinq/pkg/policy"
)

const goodPolicy = `{"version":1,"namespaces":{"tenant-a":{"masters":["eth1"],"sVlans":["100-199"],"cVlans":["1-4094"],"containerLinks":["macvlan"]}}}`

func policyOptions(t *testing.T, data string) Options {
	t.Helper()
	src := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(src, []byte(data), 0o644)
	return Options{PolicySrc: src, PolicyDstDir: filepath.Join(t.TempDir(), "etc-cni-qinq")}
}

func TestInstallPolicy_InstallsACheckedPolicyAtomicallyMode0644(t *testing.T) {
	o := policyOptions(t, goodPolicy)
	if err := InstallPolicy(o); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(o.PolicyDstDir, policy.File)
	st, err := os.Stat(dst)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("%v %v, want policy.json mode 0644", st, err)
	}
	if data, _ := os.ReadFile(dst); string(data) != goodPolicy {
		t.Fatalf("installed %q", data)
	}
	entries, _ := os.ReadDir(o.PolicyDstDir)
	if len(entries) != 1 {
		t.Fatalf("left in the directory: %v", entries)
	}
}

// A policy qinq would refuse is never installed: the node keeps its own.
func TestInstallPolicy_RefusesABadPolicyAndKeepsTheInstalledOne(t *testing.T) {
	o := policyOptions(t, goodPolicy)
	if err := InstallPolicy(o); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{``, `{"version":1`, `{"version":1,"tenants":{}}`, `{"version":2}`, `{"version":1,"namespaces":{"a":{"sVlans":["0"]}}}`} {
		os.WriteFile(o.PolicySrc, []byte(bad), 0o644)
		if err := InstallPolicy(o); err == nil || !strings.Contains(err.Error(), "refusing node policy") {
			t.Errorf("%q: %v, want a refusal", bad, err)
		}
		if data, _ := os.ReadFile(filepath.Join(o.PolicyDstDir, policy.File)); string(data) != goodPolicy {
			t.Fatalf("%q replaced the installed policy with %q", bad, data)
		}
	}
	os.Remove(o.PolicySrc)
	if err := InstallPolicy(o); err == nil {
		t.Error("a missing source must fail the install, not remove the policy")
	}
}

func TestRun_InstallsAChangedPolicy(t *testing.T) {
	o := policyOptions(t, goodPolicy)
	o.PolicyEvery = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchPolicy(ctx, o)
	changed := strings.Replace(goodPolicy, "100-199", "100-150", 1)
	os.WriteFile(o.PolicySrc, []byte(changed), 0o644)
	for range 200 {
		if data, _ := os.ReadFile(filepath.Join(o.PolicyDstDir, policy.File)); string(data) == changed {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the changed policy was not installed")
}
