//go:build kerneltest

package multus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// The node policy of this test: tenant-a owns S-VLANs 100-199 on eth1,
// tenant-b 200-299. Both namespaces have the very same NAD
// (deploy/networks/per-pod.yaml) and Pod (pod-per-pod-vlan.yaml, asking for
// S-VLAN 150 through cni-args): only the namespace differs. The Pod asks for
// hostUsers: false, but no runtime stands between it and Multus here: its
// netns is the test's, in the host's user namespace, so this node's admin
// says "userNamespace": "any" (deploy/policy.yaml says "required";
// test/binary/userns_kernel_test.go proves both).
const multusPolicy = `{"version": 1, "namespaces": {
  "tenant-a": {"masters": ["eth1"], "sVlans": ["100-199", "300"], "cVlans": ["10-20"], "containerLinks": ["vlan"], "mac": true, "userNamespace": "any"},
  "tenant-b": {"masters": ["eth1"], "sVlans": ["200-299"], "cVlans": ["10-20"], "containerLinks": ["vlan"], "mac": true, "userNamespace": "any"}}}`

// policyNode is a node whose /etc/cni/qinq holds multusPolicy and whose
// /var/log/qinq is its own (QINQ_ETC_DIR, QINQ_LOG_DIR: the runtime's
// environment, which Multus hands on to qinq; no NAD reaches it).
func policyNode(t *testing.T) (n *testenv.Node, logDir string) {
	base := t.TempDir()
	etc, logDir := filepath.Join(base, "etc"), filepath.Join(base, "log")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "policy.json"), []byte(multusPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	return env.NewNode(t, testenv.NodeDirs(etc, logDir)), logDir
}

// viaMultus is what the runtime passes Multus for a pod in namespace ns.
func viaMultus(api *apiServer, pod *testenv.Container, ns string) []testenv.InvokeOption {
	return []testenv.InvokeOption{testenv.Binary(env.Tool("multus")), testenv.CNIArgs(fmt.Sprintf(
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
		ns, api.pod.Name, pod.ID, api.pod.UID))}
}

func TestMultus_PolicyGivesTenantAItsVLANAndRefusesTenantBTheSameNAD(t *testing.T) {
	node, logDir := policyNode(t)
	peer := env.NewNode(t)
	testenv.Wire(t, node, peer, "eth1", 1500)
	apiA, kubeA := newAPIServerIn(t, node, "tenant-a", podFile, nadFile)
	apiB, kubeB := newAPIServerIn(t, node, "tenant-b", podFile, nadFile)
	world := testenv.NewWorld(t, node, testenv.StateDir(env.StateDir))
	before := world.Snapshot()

	// tenant-a: S-VLAN 150 is its own.
	podA := testenv.NewContainer(t)
	confA := multusConf(t, kubeA)
	node.Add(confA, podA, "eth0", viaMultus(apiA, podA, "tenant-a")...)
	assertPodLink(t, podA, node)
	node.Del(confA, podA, "eth0", viaMultus(apiA, podA, "tenant-a")...)
	world.Unchanged(before)

	// tenant-b: the same NAD and pod in its own namespace ask for tenant-a's
	// S-VLAN 150; Multus wraps qinq's refusal in its own error.
	podB := testenv.NewContainer(t)
	confB := multusConf(t, kubeB)
	_, err := node.Invoke("ADD", confB, podB, "eth0", viaMultus(apiB, podB, "tenant-b")...)
	if err == nil || !strings.Contains(err.Error(), "policy: namespaces.tenant-b.sVlans: S-VLAN 150 is outside the granted") {
		t.Fatalf("ADD of tenant-b through Multus: %v, want qinq's refusal in Multus's error", err)
	}
	if strings.Contains(err.Error(), "tenant-a") {
		t.Errorf("the refusal names another tenant: %v", err)
	}
	t.Logf("Multus: %v", err)
	assertRefusalLogged(t, logDir, podB.ID)
	// The refusal left nothing: no link on the node, no net1 in the pod, no state.
	world.Unchanged(before)
	if _, err := testenv.LinkByName(podB.NS, "net1"); err == nil {
		t.Error("a refused pod got net1")
	}
	node.Del(confB, podB, "eth0", viaMultus(apiB, podB, "tenant-b")...) // the kubelet cleans up after a failed ADD
	world.Unchanged(before)
}

// assertRefusalLogged: qinq's policy log has tenant-a's allow, and one line
// for tenant-b's pod: code 102 and the rule.
func assertRefusalLogged(t *testing.T, logDir, containerID string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(logDir, "qinq-policy.log"))
	if err != nil {
		t.Fatal(err)
	}
	var refusals, allows int
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		switch {
		case rec["msg"] == "allow" && rec["entry"] == "namespaces.tenant-a":
			allows++
		case rec["containerID"] == containerID && rec["code"] == float64(102) && rec["rule"] == "namespaces.tenant-b.sVlans":
			refusals++
		default:
			t.Errorf("unexpected policy log line %s", line)
		}
	}
	if allows != 1 || refusals != 1 {
		t.Fatalf("policy log: %d allows of tenant-a, %d refusals of tenant-b's pod, want 1 and 1:\n%s", allows, refusals, data)
	}
}
