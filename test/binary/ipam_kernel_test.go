//go:build kerneltest

package binary

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// portmapNAD is the attack: a NAD naming the portmap plugin as its
// IPAM, with a forged runtimeConfig.portMappings (the node's SSH port to the
// attacker's pod) and a forged prevResult giving portmap the pod's address.
func portmapNAD() testenv.Conf {
	return qinq(3900, 10).With("cniVersion", "1.1.0",
		"ipam", map[string]any{"type": "portmap"},
		"backend", "iptables",
		"runtimeConfig", map[string]any{"portMappings": []map[string]any{{"hostPort": 22, "containerPort": 2222, "protocol": "tcp"}}},
		"prevResult", map[string]any{"cniVersion": "1.0.0", "ips": []map[string]any{{"address": "10.39.0.5/24"}}},
	)
}

// legacyIPTables makes the plugins a run starts find iptables-legacy as
// "iptables": the VM's kernel has the legacy nat table, not nf_tables.
func legacyIPTables(t *testing.T) testenv.InvokeOption {
	dir := t.TempDir()
	if err := os.Symlink("/usr/sbin/iptables-legacy", filepath.Join(dir, "iptables")); err != nil {
		t.Fatal(err)
	}
	return testenv.ExtraEnv("PATH=" + dir + ":" + os.Getenv("PATH"))
}

// dnatRules are the rules of node n's nat table that portmap makes: its
// chains and any DNAT.
func dnatRules(t *testing.T, n *testenv.Node) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(iptables(t, n, "-t", "nat", "-S"), "\n") {
		if strings.Contains(line, "DNAT") || strings.Contains(line, "CNI-HOSTPORT") {
			out = append(out, line)
		}
	}
	return out
}

// A NAD names portmap as its IPAM. Without node.json (the default
// ipamTypes) ADD and CHECK are refused with 7 naming ipam.type and the
// allowed list, DEL and GC succeed, portmap never runs: no NAT rule appears
// in the node's namespace. Control: the node's admin lists portmap in
// ipamTypes; the same ADD then runs it and the node gets the DNAT rule
// that hands its port 22 to the pod.
func TestIPAMType_PortmapAsIPAMIsRefusedAndNoNATRuleAppears(t *testing.T) {
	path := legacyIPTables(t)
	t.Run("default ipamTypes: refused", func(t *testing.T) {
		n := newNode(t, testenv.DummyMaster("wire0", 1500))
		c := testenv.NewContainer(t)
		_, err := n.Invoke("ADD", portmapNAD(), c, "net1", path)
		testenv.WantCNIError(t, err, 7, "ipam.type", `"portmap"`, `["host-local", "static", "whereabouts", "dhcp"]`)
		_, err = n.Invoke("CHECK", portmapNAD(), c, "net1", path)
		testenv.WantCNIError(t, err, 7, "ipam.type", `"portmap"`)
		if _, err := n.Invoke("DEL", portmapNAD(), c, "net1", path); err != nil {
			t.Fatalf("DEL: %v, want success with nothing run", err)
		}
		if _, err := n.Invoke("GC", portmapNAD().With("cni.dev/valid-attachments", []any{}), nil, "", path); err != nil {
			t.Fatalf("GC: %v, want success with nothing run", err)
		}
		if rules := dnatRules(t, n); len(rules) != 0 {
			t.Fatalf("portmap ran: the node's nat table has %q", rules)
		}
		assertClean(t, n, "", c)
	})
	t.Run("control: the admin allows portmap", func(t *testing.T) {
		etc := t.TempDir()
		writeNodeFile(t, etc, "policy.json", `{"version":1,"noNamespace":{"masters":["wire0"],"sVlans":["3900"],"cVlans":["10"],"containerLinks":["vlan"]}}`)
		writeNodeFile(t, etc, "node.json", `{"version":1,"ipamTypes":["host-local","portmap"]}`)
		n := newNode(t, testenv.DummyMaster("wire0", 1500), testenv.NodeDirs(etc, t.TempDir()))
		c := testenv.NewContainer(t)
		n.Add(portmapNAD(), c, "net1", path)
		rules := strings.Join(dnatRules(t, n), "\n")
		if !strings.Contains(rules, "--dports 22") || !strings.Contains(rules, "--to-destination 10.39.0.5:2222") {
			t.Fatalf("no DNAT of port 22 to the pod: the nat table has\n%s", rules)
		}
		n.Del(portmapNAD(), c, "net1", path)
		if left := dnatRules(t, n); strings.Contains(strings.Join(left, "\n"), "10.39.0.5") {
			t.Fatalf("portmap's DEL left %q", left)
		}
		assertClean(t, n, "", c)
	})
}

func writeNodeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
