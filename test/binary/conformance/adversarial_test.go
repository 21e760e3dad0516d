//go:build kerneltest

package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// The adversarial suite (issue 17): inputs an attacker writes into a network
// config, or leaves on the node, each answered with a clear error that
// changes nothing, never a panic, and no file outside qinq's state and log
// directories. The node policy grants two tenants S-VLANs of their own.
const suitePolicy = `{"version": 1, "namespaces": {
  "tenant-a": {"masters": ["eth1"], "sVlans": ["100-199"], "cVlans": ["10-19"], "containerLinks": ["vlan", "macvlan"]},
  "tenant-b": {"masters": ["eth1"], "sVlans": ["200-299"], "cVlans": ["10-19"], "containerLinks": ["vlan"], "mac": true}}}`

const (
	tenantA = "K8S_POD_NAMESPACE=tenant-a;K8S_POD_NAME=web;K8S_POD_UID=1"
	tenantB = "K8S_POD_NAMESPACE=tenant-b;K8S_POD_NAME=web;K8S_POD_UID=2"
)

// node is a world whose node has its own /etc/cni/qinq (etc, holding
// policy.json unless a case says otherwise) and /var/log/qinq (log), and a
// directory of files an attacker aims at (victim). The world's files are
// qinq's state, the IPAM store, etc and victim: the log directory is the
// one place qinq may write besides its state.
type node struct {
	w                *testenv.World
	c                []*testenv.Container
	etc, log, victim string
}

// noPolicyDir makes a node without /etc/cni/qinq: no policy.
const noPolicyDir = "\x00none"

func newPolicyNode(t *testing.T, n int, policy string) *node {
	t.Helper()
	base := t.TempDir()
	x := &node{etc: filepath.Join(base, "etc"), log: filepath.Join(base, "log"), victim: filepath.Join(base, "victim")}
	for _, d := range []string{x.etc, x.victim} {
		if policy == noPolicyDir {
			break
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if policy != "" && policy != noPolicyDir {
		x.write(t, "policy.json", policy, 0o644)
	}
	os.WriteFile(filepath.Join(x.victim, "profile.sh"), []byte("# the admin's\n"), 0o644)
	if policy == noPolicyDir {
		x.etc = filepath.Join(base, "no-such-dir")
		os.MkdirAll(x.victim, 0o755)
	}
	small := func(dir string) func(string) bool {
		return func(rel string) bool { st, err := os.Lstat(dir + rel); return err != nil || st.Size() < 1<<20 }
	}
	nd := env.NewNode(t, testenv.DummyMaster(master, 1500), testenv.NodeDirs(x.etc, x.log))
	dirs := append(suiteDirs(), testenv.Dir{Name: "victim", Path: x.victim})
	if policy != noPolicyDir {
		dirs = append(dirs, testenv.Dir{Name: "etc", Path: x.etc, Keep: small(x.etc)})
	}
	x.w = testenv.NewWorld(t, nd, dirs...)
	x.c = x.w.NewContainers(n)
	return x
}

func (x *node) write(t *testing.T, name, data string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(x.etc, name)
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
	return p
}

// raw runs verb with CNI_ARGS args and asserts no panic.
func (x *node) raw(t *testing.T, verb string, c *testenv.Container, cf testenv.Conf, args string) testenv.Outcome {
	t.Helper()
	v := env.Vars(verb, c, "net1")
	if args != "" {
		v = v.With("CNI_ARGS", args)
	}
	o := x.w.Node.Raw(v, cf.Bytes())
	if o.Exit == 2 || strings.Contains(string(o.Stderr), "panic") || strings.Contains(string(o.Stdout), "panic") {
		t.Fatalf("%s panicked: %v", verb, o)
	}
	return o
}

// refused asserts ADD fails with code and says, nothing changes, and DEL of
// the same then succeeds (DEL is never gated) and changes nothing either.
func (x *node) refused(t *testing.T, cf testenv.Conf, args string, code uint, says ...string) {
	t.Helper()
	before := x.w.Snapshot()
	x.raw(t, "ADD", x.c[0], cf, args).Fails(t, code, says...)
	x.w.Unchanged(before)
	x.raw(t, "DEL", x.c[0], cf, args).OK(t)
	x.w.Unchanged(before)
}

// policyLog is the node's log of policy decisions.
func (x *node) policyLog(t *testing.T) []map[string]any {
	data, _ := os.ReadFile(filepath.Join(x.log, "qinq-policy.log"))
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec map[string]any
		if line != "" {
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("policy log line is not JSON: %q", line)
			}
			out = append(out, rec)
		}
	}
	return out
}

func TestPolicy(t *testing.T) {
	a := qinq("1.1.0", 150, 12)

	spec(t, "tenant-a gets its granted VLAN, and the decision is one log line", func(t *testing.T) {
		x := newPolicyNode(t, 1, suitePolicy)
		before := x.w.Snapshot()
		x.raw(t, "ADD", x.c[0], a, tenantA).OK(t)
		attached(t, x.w, before, false)
		log := x.policyLog(t)
		if len(log) != 1 || log[0]["msg"] != "allow" || log[0]["entry"] != "namespaces.tenant-a" || log[0]["containerID"] != x.c[0].ID {
			t.Fatalf("policy log %v, want one allow line", log)
		}
		x.raw(t, "DEL", x.c[0], a, tenantA).OK(t)
		x.w.Unchanged(before)
	})

	spec(t, "tenant-b asking for tenant-a's S-VLAN is 102 naming the rule, not tenant-a", func(t *testing.T) {
		x := newPolicyNode(t, 1, suitePolicy)
		x.refused(t, a, tenantB, 102, "policy: namespaces.tenant-b.sVlans:", "150")
		log := x.policyLog(t)
		if len(log) != 1 || !strings.HasPrefix(fmt.Sprint(log[0]["msg"]), "refuse") || log[0]["code"] != float64(102) || log[0]["rule"] != "namespaces.tenant-b.sVlans" {
			t.Fatalf("policy log %v, want one refusal line with code 102 and the rule", log)
		}
		if strings.Contains(fmt.Sprint(log), "tenant-a") {
			t.Errorf("the refusal names another tenant: %v", log)
		}
	})

	spec(t, "CHECK of a pod the policy no longer allows is 102 and the pod keeps running", func(t *testing.T) {
		x := newPolicyNode(t, 1, suitePolicy)
		before := x.w.Snapshot()
		out := x.raw(t, "ADD", x.c[0], a, tenantA).OK(t)
		var prev map[string]any
		json.Unmarshal(out, &prev)
		x.raw(t, "CHECK", x.c[0], a.With("prevResult", prev), tenantA).OK(t)
		x.write(t, "policy.json", strings.Replace(suitePolicy, `"100-199"`, `"300-399"`, 1), 0o644)
		narrowed := x.w.Snapshot()
		x.raw(t, "CHECK", x.c[0], a.With("prevResult", prev), tenantA).Fails(t, 102, "namespaces.tenant-a.sVlans")
		x.w.Unchanged(narrowed) // the pod keeps its links
		x.write(t, "policy.json", suitePolicy, 0o644)
		x.raw(t, "DEL", x.c[0], a, tenantA).OK(t)
		x.w.Unchanged(before)
	})

	spec(t, "under a policy code 100 names no other attachment", func(t *testing.T) {
		x := newPolicyNode(t, 2, suitePolicy)
		b := qinq("1.1.0", 250, 12)
		before := x.w.Snapshot()
		x.raw(t, "ADD", x.c[1], b, tenantB).OK(t)
		held := x.w.Snapshot()
		e := x.raw(t, "ADD", x.c[0], b, tenantB).Fails(t, 100, "another attachment")
		if strings.Contains(e.Msg+e.Details, x.c[1].ID) {
			t.Errorf("the conflict names the holder %s: %q", x.c[1].ID, e.Msg)
		}
		x.w.Unchanged(held)
		x.raw(t, "DEL", x.c[1], b, tenantB).OK(t)
		x.w.Unchanged(before)
	})

	spec(t, "without the policy directory the same config is allowed (the control)", func(t *testing.T) {
		x := newPolicyNode(t, 1, noPolicyDir)
		before := x.w.Snapshot()
		x.raw(t, "ADD", x.c[0], a, tenantB).OK(t)
		attached(t, x.w, before, false)
		x.raw(t, "DEL", x.c[0], a, tenantB).OK(t)
		x.w.Unchanged(before)
	})

	spec(t, "STATUS names a bad policy (50), and says in its log line when there is none", func(t *testing.T) {
		x := newPolicyNode(t, 1, `{"version":1,"tenants":{}}`)
		x.raw(t, "STATUS", nil, a, "").Fails(t, 50, "policy.json", "unknown field")
		os.RemoveAll(x.etc)
		logFile := filepath.Join(x.log, "status.log")
		x.raw(t, "STATUS", nil, a.With("logFile", logFile), "").OK(t)
		data, _ := os.ReadFile(logFile)
		if !strings.Contains(string(data), `"policy":"none: `) || strings.Count(string(data), "\n") != 1 {
			t.Fatalf("STATUS log %q, want one line saying there is no policy", data)
		}
	})
}

func TestAdversarial(t *testing.T) {
	a := qinq("1.1.0", 150, 12)
	cases := []struct {
		name string
		conf testenv.Conf
		args string
		code uint
		says []string
	}{
		// namespaces
		{"namespace missing (no noNamespace entry)", a, "K8S_POD_NAME=web", 102, []string{"noNamespace"}},
		{"namespace empty", a, "K8S_POD_NAMESPACE=", 102, []string{"policy: namespace:"}},
		{"namespace twice", a, "K8S_POD_NAMESPACE=tenant-a;K8S_POD_NAMESPACE=tenant-b", 102, []string{"more than once"}},
		{"namespace twice, the second empty", a, "K8S_POD_NAMESPACE=tenant-a;K8S_POD_NAMESPACE=", 102, []string{"more than once"}},
		{"namespace ../x", a, "K8S_POD_NAMESPACE=../x", 102, []string{"DNS-1123"}},
		{"namespace A", a, "K8S_POD_NAMESPACE=A", 102, []string{"DNS-1123"}},
		{"namespace of 64 characters", a, "K8S_POD_NAMESPACE=" + strings.Repeat("a", 64), 102, []string{"at most 63"}},
		{"namespace with a Cyrillic look-alike", a, "K8S_POD_NAMESPACE=tenаnt-a", 102, []string{"DNS-1123"}},
		{"namespace smuggled through args.cni", a.With("args", map[string]any{"cni": map[string]any{"K8S_POD_NAMESPACE": "tenant-a"}}), "", 102, []string{"noNamespace"}},
		{"namespace smuggled through runtimeConfig", a.With("runtimeConfig", map[string]any{"K8S_POD_NAMESPACE": "tenant-a"}), "", 102, []string{"noNamespace"}},
		{"namespace smuggled as a top-level key", a.With("K8S_POD_NAMESPACE", "tenant-a"), "", 102, []string{"noNamespace"}},
		// VLANs
		{"sVlan 0", a.With("sVlan", 0), tenantA, 7, []string{"sVlan"}},
		{"sVlan 4095", a.With("sVlan", 4095), tenantA, 7, []string{"sVlan"}},
		{"sVlan 65636 (100 as a uint16)", a.With("sVlan", 65636), tenantA, 7, []string{"sVlan", "65636"}},
		{`sVlan "100"`, a.With("sVlan", "100"), tenantA, 7, []string{"sVlan"}},
		{"sVlan 1e2", a.With("sVlan", json.RawMessage("1e2")), tenantA, 7, []string{"sVlan"}},
		{"sVlan 100.5", a.With("sVlan", 100.5), tenantA, 7, []string{"sVlan"}},
		{"sVlan null", a.With("sVlan", nil), tenantA, 7, []string{"sVlan"}},
		{"cVlans [65548] (12 as a uint16)", a.With("cVlans", []int{65548}), tenantA, 7, []string{"cVlans[0]"}},
		{"a reversed range in overrideSVlans", a.With("overrideSVlans", []string{"199-100"}), tenantA, 7, []string{"overrideSVlans[0]"}},
		{"an override outside the allow-list", a.With("overrideSVlans", []string{"100-120"}, "args", map[string]any{"cni": map[string]any{"sVlan": 150}}), tenantA, 7, []string{"sVlan", "overrideSVlans"}},
		{"an allow-list wider than the policy", a.With("overrideSVlans", []string{"1-4094"}, "args", map[string]any{"cni": map[string]any{"sVlan": 250}}), tenantA, 102, []string{"namespaces.tenant-a.sVlans", "250"}},
		{"an allow-list wider than the policy, through CNI_ARGS", a.With("overrideSVlans", []string{"1-4094"}), tenantA + ";SVLAN=250", 102, []string{"namespaces.tenant-a.sVlans"}},
		{"cni-args carrying overrideSVlans", a.With("args", map[string]any{"cni": map[string]any{"overrideSVlans": []string{"1-4094"}, "sVlan": 250}}), tenantA, 7, []string{"args.cni.overrideSVlans"}},
		{"cni-args carrying master", a.With("args", map[string]any{"cni": map[string]any{"master": "lo"}}), tenantA, 7, []string{"args.cni.master"}},
		{"cni-args carrying mode", a.With("args", map[string]any{"cni": map[string]any{"mode": "ovs"}}), tenantA, 7, []string{"args.cni.mode"}},
		{"tunnel mode not granted", a.Without("cVlans"), tenantA, 102, []string{"namespaces.tenant-a.tunnelMode"}},
		{"a C-VLAN outside the grant", a.With("cVlans", []int{20}), tenantA, 102, []string{"namespaces.tenant-a.cVlans"}},
		{"Cisco-style sProto not granted", a.With("sProto", "802.1Q"), tenantA, 102, []string{"namespaces.tenant-a.sProtos"}},
		{"containerLink ipvlan not granted", a.With("containerLink", "ipvlan"), tenantA, 102, []string{"namespaces.tenant-a.containerLinks"}},
		// masters
		{"master lo", a.With("master", "lo"), tenantA, 102, []string{"namespaces.tenant-a.masters", `"lo"`}},
		{"master of 16 characters", a.With("master", "abcdefghijklmnop"), tenantA, 7, []string{"master"}},
		{"master eth0:1", a.With("master", "eth0:1"), tenantA, 7, []string{"master"}},
		{"master with a newline", a.With("master", "eth1\nx"), tenantA, 7, []string{"master", `\n`}},
		// MACs
		{"mac broadcast", a.With("mac", "ff:ff:ff:ff:ff:ff"), tenantB, 7, []string{"mac"}},
		{"mac multicast", a.With("mac", "01:00:5e:00:00:01"), tenantB, 7, []string{"mac"}},
		{"mac all-zero", a.With("mac", "00:00:00:00:00:00"), tenantB, 7, []string{"mac"}},
		{"mac not granted", a.With("mac", "02:00:5e:00:00:01"), tenantA, 102, []string{"namespaces.tenant-a.mac"}},
		// config-supplied paths and endpoints
		{"logFile outside the log directory", a.With("logFile", "/etc/profile.d/qinq.sh", "sProto", "$(touch${IFS}/tmp/pwned)"), tenantA, 7, []string{"sProto"}},
		{"logFile outside the log directory, alone", a.With("logFile", "/etc/cron.d/qinq"), tenantA, 7, []string{"logFile", "/etc/cron.d/qinq"}},
		{"logFile climbing out of the log directory", a.With("logFile", "/var/log/qinq/../../../etc/cron.d/x"), tenantA, 7, []string{"logFile"}},
		{"ovsdbSocket tcp", ovsConf().With("ovsdbSocket", "tcp:192.0.2.1:6640"), tenantA, 7, []string{"ovsdbSocket", "/run/openvswitch"}},
		{"ovsdbSocket a unix socket outside OVS's directories", ovsConf().With("ovsdbSocket", "unix:/tmp/db.sock"), tenantA, 7, []string{"ovsdbSocket"}},
	}
	for _, tc := range cases {
		spec(t, tc.name, func(t *testing.T) {
			x := newPolicyNode(t, 1, suitePolicy)
			x.refused(t, tc.conf, tc.args, tc.code, tc.says...)
			written := []string{"/tmp/pwned", "/etc/cron.d/x"}
			if f, ok := tc.conf["logFile"].(string); ok {
				written = append(written, f)
			}
			for _, path := range written {
				if _, err := os.Lstat(path); err == nil {
					t.Fatalf("%s exists", path)
				}
			}
			if entries, _ := os.ReadDir(x.log); len(entries) > 1 {
				t.Fatalf("the log directory holds more than the policy log: %v", entries)
			}
		})
	}

	files := []struct {
		name  string
		setup func(t *testing.T, x *node)
		says  string
	}{
		{"policy.json missing (the directory present)", func(t *testing.T, x *node) { os.Remove(filepath.Join(x.etc, "policy.json")) }, "missing"},
		{"policy.json empty", func(t *testing.T, x *node) { x.write(t, "policy.json", "", 0o644) }, "policy.json"},
		{"policy.json truncated", func(t *testing.T, x *node) { x.write(t, "policy.json", suitePolicy[:60], 0o644) }, "policy.json"},
		{"policy.json with an unknown field", func(t *testing.T, x *node) { x.write(t, "policy.json", `{"version":1,"tenants":{}}`, 0o644) }, "unknown field"},
		{"policy.json world-writable", func(t *testing.T, x *node) { x.write(t, "policy.json", suitePolicy, 0o666) }, "writable by group or others"},
		{"policy.json not owned by root", func(t *testing.T, x *node) {
			if err := os.Chown(x.write(t, "policy.json", suitePolicy, 0o644), 1000, 1000); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 1000"},
		{"policy.json a symlink", func(t *testing.T, x *node) {
			real := filepath.Join(x.victim, "policy.json")
			os.WriteFile(real, []byte(suitePolicy), 0o644)
			os.Remove(filepath.Join(x.etc, "policy.json"))
			os.Symlink(real, filepath.Join(x.etc, "policy.json"))
		}, "symlink"},
		{"policy.json of 100 MB", func(t *testing.T, x *node) {
			if err := os.Truncate(x.write(t, "policy.json", suitePolicy, 0o644), 100<<20); err != nil {
				t.Fatal(err)
			}
		}, "at most"},
		{"node.json with an unknown field", func(t *testing.T, x *node) { x.write(t, "node.json", `{"version":1,"logdir":"/"}`, 0o644) }, "node.json"},
	}
	for _, tc := range files {
		spec(t, tc.name+" fails ADD, CHECK and STATUS closed (50)", func(t *testing.T) {
			x := newPolicyNode(t, 1, suitePolicy)
			tc.setup(t, x)
			x.refused(t, a, tenantA, 50, tc.says)
			x.raw(t, "CHECK", x.c[0], a.With("prevResult", map[string]any{"cniVersion": "1.1.0"}), tenantA).Fails(t, 50, tc.says)
			x.raw(t, "STATUS", nil, a, "").Fails(t, 50, tc.says)
		})
	}

	spec(t, "master: another tenant's S-link is 102", func(t *testing.T) {
		x := newPolicyNode(t, 2, suitePolicy)
		x.raw(t, "ADD", x.c[1], qinq("1.1.0", 250, 12), tenantB).OK(t)
		x.refused(t, a.With("master", "eth1.250"), tenantA, 102, "namespaces.tenant-a.masters")
		x.raw(t, "DEL", x.c[1], qinq("1.1.0", 250, 12), tenantB).OK(t)
	})

	spec(t, "mac: the host's own is 102 for a tenant not granted MACs", func(t *testing.T) {
		x := newPolicyNode(t, 1, suitePolicy)
		mac := testenv.Link(t, x.w.Node.NS, master).Attrs().HardwareAddr.String()
		x.refused(t, a.With("mac", mac), tenantA, 102, "namespaces.tenant-a.mac")
	})

	for _, l := range []struct {
		name string
		vlan testenv.VLAN
	}{
		{"another ID", testenv.VLAN{Parent: master, Name: "eth1.150", ID: 151, Proto: netlink.VLAN_PROTOCOL_8021AD}},
		{"another protocol", testenv.VLAN{Parent: master, Name: "eth1.150", ID: 150, Proto: netlink.VLAN_PROTOCOL_8021Q}},
		{"another parent", testenv.VLAN{Parent: "eth2", Name: "eth1.150", ID: 150, Proto: netlink.VLAN_PROTOCOL_8021AD}},
	} {
		spec(t, "master: a pre-existing link with qinq's name but "+l.name+" is never used nor touched", func(t *testing.T) {
			x := newPolicyNode(t, 1, suitePolicy)
			x.w.Node.Do(func() error {
				if l.vlan.Parent != master {
					if err := testenv.AddDummy(l.vlan.Parent, 1500); err != nil {
						return err
					}
				}
				return testenv.AddVLAN(l.vlan)
			})
			before := x.w.Snapshot()
			key := "node link " + l.vlan.Name
			x.raw(t, "ADD", x.c[0], a, tenantA).OK(t) // the S-link gets qinq's other name
			if now := x.w.Snapshot(); now[key] != before[key] {
				t.Fatalf("the admin's %s changed: %s -> %s", l.vlan.Name, before[key], now[key])
			}
			x.raw(t, "DEL", x.c[0], a, tenantA).OK(t)
			x.w.Unchanged(before)
		})
	}

	netns := []struct {
		name string
		path func(t *testing.T, x *node) string
		code uint
	}{
		{"the node's own namespace through a symlink", func(t *testing.T, x *node) string {
			p := filepath.Join(t.TempDir(), "netns")
			os.Symlink(x.w.Node.NS.Path(), p)
			return p
		}, 4},
		{"a regular file", func(t *testing.T, x *node) string { return filepath.Join(x.victim, "profile.sh") }, 3},
		{"a relative path", func(t *testing.T, x *node) string { return "proc/self/ns/net" }, 3},
	}
	for _, tc := range netns {
		spec(t, "CNI_NETNS "+tc.name, func(t *testing.T) {
			x := newPolicyNode(t, 1, suitePolicy)
			before := x.w.Snapshot()
			v := env.Vars("ADD", x.c[0], "net1").With("CNI_ARGS", tenantA, "CNI_NETNS", tc.path(t, x))
			x.w.Node.Raw(v, a.Bytes()).Fails(t, tc.code, "CNI_NETNS")
			x.w.Unchanged(before)
		})
	}

	spec(t, "a symlink planted at the log path is not followed", func(t *testing.T) {
		x := newPolicyNode(t, 1, suitePolicy)
		os.MkdirAll(x.log, 0o700)
		os.Symlink(filepath.Join(x.victim, "profile.sh"), filepath.Join(x.log, "qinq.log"))
		cf := a.With("logFile", filepath.Join(x.log, "qinq.log"))
		before := x.w.Snapshot()
		x.raw(t, "ADD", x.c[0], cf, tenantA).OK(t)
		x.raw(t, "DEL", x.c[0], cf, tenantA).OK(t)
		x.w.Unchanged(before) // the victim file is part of the world
	})

	spec(t, "symlinks planted at the attachment's record paths are not followed", func(t *testing.T) {
		x := newPolicyNode(t, 1, suitePolicy)
		var st syscall.Stat_t
		if err := syscall.Stat(x.w.Node.NS.Path(), &st); err != nil {
			t.Fatal(err)
		}
		records := filepath.Join(env.StateDir, fmt.Sprintf("host-%d", st.Ino), "attachments")
		os.MkdirAll(records, 0o700)
		t.Cleanup(func() { os.RemoveAll(filepath.Dir(records)) })
		for _, name := range []string{x.c[0].ID + ":net1", "." + x.c[0].ID + ":net1.tmp"} {
			if err := os.Symlink(filepath.Join(x.victim, "profile.sh"), filepath.Join(records, name)); err != nil {
				t.Fatal(err)
			}
		}
		before := x.w.Snapshot()
		x.raw(t, "ADD", x.c[0], a, tenantA).OK(t) // a link is not qinq's record: it is replaced, never followed
		x.raw(t, "DEL", x.c[0], a, tenantA).OK(t)
		if data, _ := os.ReadFile(filepath.Join(x.victim, "profile.sh")); string(data) != "# the admin's\n" {
			t.Fatalf("a planted symlink was followed: the victim holds %q", data)
		}
		for _, line := range testenv.Diff(before, x.w.Snapshot()) {
			if !strings.Contains(line, "state file host-"+fmt.Sprint(st.Ino)+"/attachments/") { // the planted links go with the record
				t.Errorf("changed: %s", line)
			}
		}
	})

	spec(t, "a NAD prevResult listing the node's eth1 leaves eth1 alone", func(t *testing.T) {
		x := newPolicyNode(t, 1, suitePolicy)
		before := x.w.Snapshot()
		prev := map[string]any{"cniVersion": "1.1.0", "interfaces": []map[string]any{{"name": master}},
			"ips": []map[string]any{{"address": "192.0.2.9/24", "interface": 0}}}
		cf := a.With("prevResult", prev)
		o := x.raw(t, "ADD", x.c[0], cf, tenantA)
		for k, v := range before {
			if strings.HasPrefix(k, "node ") && strings.Contains(k, " "+master) && x.w.Snapshot()[k] != v {
				t.Errorf("%s changed", k)
			}
		}
		if x.w.Snapshot().HasWith("node addr "+master, "192.0.2.9") {
			t.Error("prevResult's address was put on the node's master")
		}
		if o.Exit == 0 {
			x.raw(t, "DEL", x.c[0], cf, tenantA).OK(t)
		}
		x.w.Unchanged(before)
	})

	spec(t, "GC: a crafted valid-attachments list keeps what it names and breaks nothing", func(t *testing.T) {
		x := newPolicyNode(t, 1, suitePolicy)
		before := x.w.Snapshot()
		x.raw(t, "ADD", x.c[0], a, tenantA).OK(t)
		live := x.w.Snapshot()
		gc := func(valid any) testenv.Outcome {
			return x.w.Node.Raw(testenv.Vars{"CNI_COMMAND": "GC", "CNI_PATH": env.CNIPath}, a.With("cni.dev/valid-attachments", valid).Bytes())
		}
		gc("all").Fails(t, 7, "cni.dev/valid-attachments")
		gc([]any{"x", 1}).Fails(t, 7, "cni.dev/valid-attachments")
		x.w.Unchanged(live)
		gc([]map[string]string{{"containerID": x.c[0].ID, "ifname": "net1"}, {"containerID": "../../../etc", "ifname": "passwd"},
			{"containerID": strings.Repeat("x", 5000), "ifname": "net1\n"}}).OK(t)
		x.w.Unchanged(live)
		x.raw(t, "DEL", x.c[0], a, tenantA).OK(t)
		x.w.Unchanged(before)
	})
}

// ovsConf is an OVS-mode config (its endpoint is refused before OVS is asked).
func ovsConf() testenv.Conf {
	return testenv.Conf{"cniVersion": "1.1.0", "name": "conf", "type": "qinq", "mode": "ovs", "bridge": "br0", "sVlan": 150, "cVlans": []int{12}}
}
