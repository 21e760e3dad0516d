//go:build !kerneltest

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/pkg/cnierr"
)

const policyAB = `{"version":1,"namespaces":{
  "tenant-a":{"masters":["eth9"],"sVlans":["100-199"],"cVlans":["10-19"],"containerLinks":["vlan"]},
  "tenant-b":{"masters":["eth9"],"sVlans":["200-299"],"cVlans":["10-19"],"containerLinks":["vlan"]}}}`

// withPolicy makes the plugin's /etc/cni/qinq (QINQ_ETC_DIR) hold data as policy.json.
func (p *plugin) withPolicy(data string) {
	p.t.Helper()
	if err := os.MkdirAll(p.etc, 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.etc, "policy.json"), []byte(data), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *plugin) policyLog() []map[string]any {
	data, _ := os.ReadFile(filepath.Join(p.logDir, "qinq-policy.log"))
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec map[string]any
		if line != "" && json.Unmarshal([]byte(line), &rec) == nil {
			out = append(out, rec)
		}
	}
	return out
}

func kconf(sVlan int) string {
	return `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":` + itoa(sVlan) + `,"cVlans":[10],"prevResult":{"cniVersion":"1.1.0"}}`
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestPolicy_RefusalIsCode102NamingTheRuleOneLogLineAndNoState(t *testing.T) {
	p := newPlugin(t)
	p.withPolicy(policyAB)
	p.cniArgs = "K8S_POD_NAMESPACE=tenant-b;K8S_POD_NAME=x"
	e := p.fails("ADD", kconf(150), 102, "namespaces.tenant-b.sVlans", "150")
	if strings.Contains(e.Msg, "tenant-a") {
		t.Errorf("the refusal names another tenant: %q", e.Msg)
	}
	if files := stateFiles(p.state); len(files) != 0 {
		t.Errorf("a refused ADD left state: %v", files)
	}
	p.fails("CHECK", kconf(150), 102, "namespaces.tenant-b.sVlans")
	if exit, out := p.run("DEL", kconf(150)); exit != 0 {
		t.Errorf("DEL is never gated: exit %d %s", exit, out)
	}
	log := p.policyLog()
	if len(log) != 2 || log[0]["msg"] == nil || !strings.HasPrefix(log[0]["msg"].(string), "refuse") ||
		log[0]["rule"] != "namespaces.tenant-b.sVlans" || log[0]["code"] != float64(102) || log[1]["verb"] != "CHECK" {
		t.Fatalf("policy log: %v, want one refusal line per ADD and CHECK (none for DEL)", log)
	}
}

// Control: the same ADD from the namespace the S-VLAN is granted to passes
// the policy (and fails later, on the host, for want of eth9: code 7).
func TestPolicy_AllowedADDPassesAndIsLogged(t *testing.T) {
	p := newPlugin(t)
	p.withPolicy(policyAB)
	p.cniArgs = "K8S_POD_NAMESPACE=tenant-a"
	exit, out := p.run("ADD", kconf(150))
	if exit == 0 || strings.Contains(out, `102`) {
		t.Fatalf("exit %d %s: want past the policy, then no eth9 on this host", exit, out)
	}
	if log := p.policyLog(); len(log) != 1 || log[0]["msg"] != "allow" || log[0]["entry"] != "namespaces.tenant-a" {
		t.Fatalf("policy log %v, want one allow line", log)
	}
}

// userNamespace "required": a pod whose netns qinq's own user namespace owns
// (here the test's netns: the plugin runs confined in another; as non-root
// the plugin has a user namespace of its own and the test's netns is above
// it), or whose netns cannot be read, is refused at
// ADD and CHECK with 102 naming userNamespace, and nothing is made; DEL is
// never gated. The admission of a user-namespaced pod is proved in the VM
// (userns_kernel_test.go).
func TestPolicy_UserNamespaceRequiredRefusesAHostUsersPodAndAnUnreadableNetns(t *testing.T) {
	testNetns := fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
	for netns, says := range map[string]string{testNetns: "it is owned by", "": "no such file"} {
		p := newPlugin(t)
		p.withPolicy(strings.Replace(policyAB, `"containerLinks":["vlan"]}`, `"containerLinks":["vlan"],"userNamespace":"required"}`, 1))
		p.cniArgs, p.netns = "K8S_POD_NAMESPACE=tenant-a", netns
		p.fails("ADD", kconf(150), 102, "policy: namespaces.tenant-a.userNamespace: ", says, "hostUsers: false")
		if files := stateFiles(p.state); len(files) != 0 {
			t.Errorf("a refused ADD left state: %v", files)
		}
		p.fails("CHECK", kconf(150), 102, "namespaces.tenant-a.userNamespace", says)
		if exit, out := p.run("DEL", kconf(150)); exit != 0 {
			t.Errorf("DEL is never gated: exit %d %s", exit, out)
		}
		if log := p.policyLog(); len(log) != 2 || log[0]["rule"] != "namespaces.tenant-a.userNamespace" {
			t.Errorf("policy log %v, want the refusals of ADD and CHECK naming userNamespace", log)
		}
	}
}

func TestPolicy_BadNamespacesAreRefused(t *testing.T) {
	p := newPlugin(t)
	p.withPolicy(policyAB)
	for _, args := range []string{"K8S_POD_NAMESPACE=", "K8S_POD_NAMESPACE=tenant-a;K8S_POD_NAMESPACE=tenant-b", "K8S_POD_NAMESPACE=../x",
		"K8S_POD_NAMESPACE=A", "K8S_POD_NAMESPACE=" + strings.Repeat("a", 64), "K8S_POD_NAMESPACE=tenаnt-a"} {
		p.cniArgs = args
		p.fails("ADD", kconf(150), 102, "policy: namespace")
	}
	p.cniArgs = "" // no namespace and no noNamespace entry
	p.fails("ADD", kconf(150), 102, "noNamespace")
	// Smuggled through the config: not read; the caller still names none.
	smuggled := `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":150,"cVlans":[10],"K8S_POD_NAMESPACE":"tenant-a",` +
		`"args":{"cni":{"K8S_POD_NAMESPACE":"tenant-a"}},"runtimeConfig":{"K8S_POD_NAMESPACE":"tenant-a"}}`
	p.fails("ADD", smuggled, 102, "noNamespace")
}

func TestPolicy_DirectoryWithoutAValidPolicyFailsADDCheckAndStatusClosed(t *testing.T) {
	for name, setup := range map[string]func(p *plugin){
		"missing":        func(p *plugin) { os.MkdirAll(p.etc, 0o755) },
		"empty":          func(p *plugin) { p.withPolicy("") },
		"truncated":      func(p *plugin) { p.withPolicy(policyAB[:40]) },
		"unknown field":  func(p *plugin) { p.withPolicy(`{"version":1,"tenants":{}}`) },
		"world-writable": func(p *plugin) { p.withPolicy(policyAB); os.Chmod(filepath.Join(p.etc, "policy.json"), 0o666) },
		"not root's":     func(p *plugin) { p.withPolicy(policyAB); os.Chown(filepath.Join(p.etc, "policy.json"), 1000, 1000) },
		"a symlink": func(p *plugin) {
			p.withPolicy(policyAB)
			os.Rename(filepath.Join(p.etc, "policy.json"), filepath.Join(p.etc, "real"))
			os.Symlink("real", filepath.Join(p.etc, "policy.json"))
		},
		"100 MB": func(p *plugin) { p.withPolicy(""); os.Truncate(filepath.Join(p.etc, "policy.json"), 100<<20) },
		"bad node.json": func(p *plugin) {
			p.withPolicy(policyAB)
			os.WriteFile(filepath.Join(p.etc, "node.json"), []byte(`{"version":1,"logdir":"/"}`), 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := newPlugin(t)
			setup(p)
			p.cniArgs = "K8S_POD_NAMESPACE=tenant-a"
			p.fails("ADD", kconf(150), 50)
			p.fails("CHECK", kconf(150), 50)
			p.fails("STATUS", kconf(150), 50, "node ", p.etc)
			if exit, out := p.run("DEL", kconf(150)); exit != 0 {
				t.Errorf("DEL: exit %d %s", exit, out)
			}
			if files := stateFiles(p.state); len(files) != 0 {
				t.Errorf("state left: %v", files)
			}
		})
	}
}

func TestStatus_WithoutThePolicyDirectorySaysSoInItsLogLine(t *testing.T) {
	p := newPlugin(t)
	logFile := filepath.Join(p.logDir, "n.log")
	exit, _ := p.run("STATUS", `{"cniVersion":"1.1.0","name":"n","type":"qinq","master":"eth9","sVlan":100,"logFile":"`+logFile+`"}`)
	data, _ := os.ReadFile(logFile)
	var rec map[string]any
	json.Unmarshal(data, &rec)
	if s, _ := rec["policy"].(string); !strings.HasPrefix(s, "none: ") || strings.Count(string(data), "\n") != 1 {
		t.Fatalf("exit %d, log %s: want one line saying there is no policy", exit, data)
	}
}

// stateFiles lists the records and link users under dir (lock files aside).
func stateFiles(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".lock") {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// While a policy is in force, code 100 names no other attachment; without
// one, the holder is named as before (the control).
func TestRedactHolder_NamesNoOtherAttachmentUnderAPolicy(t *testing.T) {
	held := cnierr.Conflict("802.1Q VLAN 10 on eth1.100 is already used by attachment victim-ctr:net1 (the kernel allows ...)")
	chained := cnierr.Conflict("OVS port \"p1\" is already a dot1q-tunnel port of container victim-ctr (net1)")
	own := cnierr.Conflict("CNI_IFNAME \"net1\" already exists in the container")
	r := &run{}
	if !strings.Contains(r.redactHolder(held).Error(), "victim-ctr") {
		t.Fatal("control: without a policy the holder is named")
	}
	r.policyInForce = true
	for _, err := range []error{held, chained} {
		got := r.redactHolder(err)
		if code, _ := cnierr.Code(got); code != 100 || strings.Contains(got.Error(), "victim") || !strings.Contains(got.Error(), "another attachment") {
			t.Errorf("%v -> %v", err, got)
		}
	}
	if r.redactHolder(own) != own {
		t.Error("a conflict naming only this attachment's own links is kept")
	}
}

func TestStatus_APolicyWithABadEntryIsCode50NamingIt(t *testing.T) {
	p := newPlugin(t)
	p.withPolicy(`{"version":1,"namespaces":{"tenant-a":{"masters":["eth9"]},"tenant-b":{"sVlan":["1"]}}}`)
	p.fails("STATUS", kconf(150), 50, "namespaces.tenant-b", "unknown field")
	p.cniArgs = "K8S_POD_NAMESPACE=tenant-b"
	p.fails("ADD", kconf(150), 102, "namespaces.tenant-b", "grants nothing")
}
