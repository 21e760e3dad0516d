package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qinq-cni/qinq/pkg/node"
	"github.com/qinq-cni/qinq/pkg/policy"
)

const goodPolicy = `{"version":1,"namespaces":{"tenant-a":{"masters":["eth1"],"sVlans":["100-199"],"cVlans":["1-4094"],"containerLinks":["macvlan"]}}}`

func policyOptions(t *testing.T, data string) Options {
	t.Helper()
	src := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(src, []byte(data), 0o644)
	return Options{PolicySrc: src, PolicyDstDir: filepath.Join(t.TempDir(), "etc-cni-qinq")}
}

// adminFileCase is one of the admin's files the installer puts in
// /etc/cni/qinq: a good source, sources it must refuse, and how.
type adminFileCase struct {
	name, dst, good, refusal string
	bad                      []string
	options                  func(*testing.T, string) Options
	install                  func(Options) error
	src                      func(Options) string
}

var adminFiles = []adminFileCase{
	{"policy", policy.File, goodPolicy, "refusing node policy",
		[]string{``, `{"version":1`, `{"version":1,"tenants":{}}`, `{"version":2}`, `{"version":1,"namespaces":{"a":{"sVlans":["0"]}}}`},
		policyOptions, InstallPolicy, func(o Options) string { return o.PolicySrc }},
	{"node settings", node.SettingsFile, goodNode, "refusing node settings",
		[]string{``, `{"version":1`, `{"version":1,"ipamtypes":[]}`, `{"version":2}`,
			`{"version":1,"ipamTypes":["../bin/sh"]}`, `{"version":1,"ipamDataDirs":["/"]}`, `{"version":1,"logDir":"x"}`},
		nodeOptions, InstallNode, func(o Options) string { return o.NodeSrc }},
}

func TestInstallAdminFiles_InstallCheckedContentAtomicallyMode0644(t *testing.T) {
	for _, f := range adminFiles {
		o := f.options(t, f.good)
		if err := f.install(o); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		dst := filepath.Join(o.PolicyDstDir, f.dst)
		st, err := os.Stat(dst)
		if err != nil || st.Mode().Perm() != 0o644 {
			t.Fatalf("%s: %v %v, want mode 0644", f.name, st, err)
		}
		if data, _ := os.ReadFile(dst); string(data) != f.good {
			t.Fatalf("%s: installed %q", f.name, data)
		}
		if entries, _ := os.ReadDir(o.PolicyDstDir); len(entries) != 1 {
			t.Fatalf("%s: left in the directory: %v", f.name, entries)
		}
	}
}

// What qinq would refuse is never installed: the node keeps what it has,
// and a missing source removes nothing.
func TestInstallAdminFiles_RefuseBadContentAndKeepTheInstalledOne(t *testing.T) {
	for _, f := range adminFiles {
		o := f.options(t, f.good)
		if err := f.install(o); err != nil {
			t.Fatal(err)
		}
		for _, bad := range f.bad {
			os.WriteFile(f.src(o), []byte(bad), 0o644)
			if err := f.install(o); err == nil || !strings.Contains(err.Error(), f.refusal) {
				t.Errorf("%s %q: %v, want a refusal", f.name, bad, err)
			}
			if data, _ := os.ReadFile(filepath.Join(o.PolicyDstDir, f.dst)); string(data) != f.good {
				t.Fatalf("%s %q replaced the installed file with %q", f.name, bad, data)
			}
		}
		os.Remove(f.src(o))
		if err := f.install(o); err == nil {
			t.Errorf("%s: a missing source must fail the install, not remove the file", f.name)
		}
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
