package manifests

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/qinq-cni/qinq/pkg/config"
)

const root = "../.."

// deploySet reads every manifest under deploy/ except the kustomization.
func deploySet(t *testing.T) *Set {
	t.Helper()
	s := NewSet()
	files, _ := filepath.Glob(filepath.Join(root, "deploy", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(root, "deploy", "*", "*.yaml"))
	for _, f := range append(files, more...) {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddYAML(f, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Resolve(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeploy_EveryManifestDecodesStrictlyAndEveryQinqConfigParses(t *testing.T) {
	s := deploySet(t)
	t.Logf("decoded %v; networks %v", s.Objects, s.names())
	want := map[string]int{"NetworkAttachmentDefinition": 12, "DaemonSet": 1, "Deployment": 1, "Pod": 2, "ConfigMap": 1}
	for kind, n := range want {
		if s.Objects[kind] < n {
			t.Errorf("%d %s objects under deploy/, want at least %d", s.Objects[kind], kind, n)
		}
	}
}

// TestDeploy_EveryModeHasAnExample fails when the example of a mode the
// issue lists disappears.
func TestDeploy_EveryModeHasAnExample(t *testing.T) {
	s := deploySet(t)
	modes := map[string]func(plugin) bool{
		"QinQ 802.1ad":                func(p plugin) bool { return p["sProto"] == nil && len(list(p["cVlans"])) == 1 },
		"Cisco-style 802.1Q":          func(p plugin) bool { return p["sProto"] == "802.1Q" },
		"QinQinQ":                     func(p plugin) bool { return len(list(p["cVlans"])) == 2 },
		"tunnel mode":                 func(p plugin) bool { return p["cVlans"] == nil && p["mode"] == nil && p["linkInContainer"] == nil },
		"macvlan container link":      func(p plugin) bool { return p["containerLink"] == "macvlan" && p.capability("mac") },
		"ipvlan container link":       func(p plugin) bool { return p["containerLink"] == "ipvlan" },
		"linkInContainer":             func(p plugin) bool { return p["linkInContainer"] == true },
		"OVS standalone":              func(p plugin) bool { return p["mode"] == "ovs" && p["bridge"] != nil },
		"OVS chained":                 func(p plugin) bool { return p["mode"] == "ovs" && p["bridge"] == nil },
		"per-pod VLANs (allow-lists)": func(p plugin) bool { return p["overrideSVlans"] != nil && p["overrideCVlans"] != nil },
		"mac and ips capabilities":    func(p plugin) bool { return p.capability("mac") && p.capability("ips") },
		"whereabouts IPAM":            func(p plugin) bool { return ipamType(p) == "whereabouts" },
		"static IPAM with an address": func(p plugin) bool { return ipamType(p) == "static" && strings.Contains(toJSON(p), "addresses") },
		"sriov-cni before qinq (VF)":  func(p plugin) bool { return p.typ() == "sriov" },
		"ovs-cni before qinq (chain)": func(p plugin) bool { return p.typ() == "ovs" },
	}
	for mode, match := range modes {
		found := false
		for _, n := range s.Networks {
			_, ps, _ := plugins(n.Config)
			for _, p := range ps {
				found = found || match(p)
			}
		}
		if !found {
			t.Errorf("no NetworkAttachmentDefinition under deploy/ shows %s", mode)
		}
	}
	for _, n := range s.Networks {
		if strings.Contains(string(n.Config), "host-local") {
			t.Errorf("%s uses host-local: it hands out the same addresses on every node", n.Where)
		}
	}
}

func list(v any) []any { l, _ := v.([]any); return l }

func ipamType(p plugin) string {
	ipam, _ := p["ipam"].(map[string]any)
	s, _ := ipam["type"].(string)
	return s
}

func toJSON(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

// rendered builds deploy/ with kustomize and returns the DaemonSet.
func rendered(t *testing.T, fs filesys.FileSystem, dir string) *appsv1.DaemonSet {
	t.Helper()
	out, err := Render(fs, dir)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet()
	if err := s.AddYAML("kustomize build", out); err != nil {
		t.Fatal(err)
	}
	if s.Objects["DaemonSet"] != 1 || s.Objects["ConfigMap"] != 2 {
		t.Fatalf("kustomize build: %v, want one DaemonSet and the policy's and node's ConfigMaps", s.Objects)
	}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		if !strings.Contains(doc, "kind: DaemonSet") {
			continue
		}
		var ds appsv1.DaemonSet
		if err := yaml.UnmarshalStrict([]byte(doc), &ds); err != nil {
			t.Fatalf("kustomize build: the DaemonSet: %v", err)
		}
		return &ds
	}
	t.Fatal("kustomize build: no DaemonSet")
	return nil
}

func TestKustomize_DaemonSetAsTheIssueSpecifies(t *testing.T) {
	ds := rendered(t, filesys.MakeFsOnDisk(), filepath.Join(root, "deploy"))
	spec := ds.Spec.Template.Spec
	checks := map[string]bool{
		"namespace kube-system": ds.Namespace == "kube-system",
		"hostNetwork":           spec.HostNetwork,
		"system-node-critical":  spec.PriorityClassName == "system-node-critical",
		"tolerates every taint": len(spec.Tolerations) == 1 && spec.Tolerations[0].Operator == corev1.TolerationOpExists && spec.Tolerations[0].Key == "",
		"one container":         len(spec.Containers) == 1,
		"host dirs: the CNI dir and /etc/cni/qinq only, the policy and node.json from their ConfigMaps": len(spec.Volumes) == 4 &&
			spec.Volumes[0].HostPath != nil && spec.Volumes[1].HostPath != nil && spec.Volumes[1].HostPath.Path == "/etc/cni/qinq" &&
			spec.Volumes[2].ConfigMap != nil && spec.Volumes[2].ConfigMap.Name == PolicyConfigMap &&
			spec.Volumes[3].ConfigMap != nil && spec.Volumes[3].ConfigMap.Name == NodeConfigMap,
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	checks["resource requests"] = !c.Resources.Requests.Cpu().IsZero() && !c.Resources.Requests.Memory().IsZero()
	checks["not privileged"] = sc != nil && sc.Privileged != nil && !*sc.Privileged
	checks["no privilege escalation"] = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	checks["read-only root"] = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	checks["drops ALL capabilities, adds none"] = sc.Capabilities != nil && len(sc.Capabilities.Add) == 0 &&
		len(sc.Capabilities.Drop) == 1 && sc.Capabilities.Drop[0] == "ALL"
	args := strings.Join(c.Args, " ")
	checks["mounts the host dirs where the installer writes"] = len(c.VolumeMounts) == 4 && c.VolumeMounts[0].MountPath == "/host/cni-bin" &&
		strings.Contains(args, "-dst=/host/cni-bin") && c.VolumeMounts[1].MountPath == "/host/etc-cni-qinq" && strings.Contains(args, "-policy-dst=/host/etc-cni-qinq") &&
		c.VolumeMounts[2].ReadOnly && strings.Contains(args, "-policy="+c.VolumeMounts[2].MountPath+"/policy.json") &&
		c.VolumeMounts[3].ReadOnly && strings.Contains(args, "-node="+c.VolumeMounts[3].MountPath+"/node.json")
	checks["default dir /opt/cni/bin"] = spec.Volumes[0].HostPath.Path == "/opt/cni/bin"
	var failed []string
	for what, ok := range checks {
		if !ok {
			failed = append(failed, what)
		}
	}
	sort.Strings(failed)
	if len(failed) > 0 {
		t.Fatalf("the rendered DaemonSet fails: %s", strings.Join(failed, "; "))
	}
}

// copyDeploy puts deploy/'s kustomization and DaemonSet in an in-memory
// file system, kustomization.yaml edited by edit.
func copyDeploy(t *testing.T, edit func(string) string) filesys.FileSystem {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	for _, f := range []string{"kustomization.yaml", "daemonset.yaml", "policy.yaml", "node.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, "deploy", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "kustomization.yaml" {
			data = []byte(edit(string(data)))
		}
		if err := fs.WriteFile("/deploy/"+f, data); err != nil {
			t.Fatal(err)
		}
	}
	return fs
}

func TestKustomize_TheOneSettingMovesTheHostDirectory(t *testing.T) {
	const k3s = "/var/lib/rancher/k3s/data/cni"
	fs := copyDeploy(t, func(k string) string {
		if !strings.Contains(k, "value: /opt/cni/bin") {
			t.Fatal("kustomization.yaml no longer sets the directory with `value: /opt/cni/bin`")
		}
		return strings.Replace(k, "value: /opt/cni/bin", "value: "+k3s, 1)
	})
	ds := rendered(t, fs, "/deploy")
	if got := ds.Spec.Template.Spec.Volumes[0].HostPath.Path; got != k3s {
		t.Fatalf("hostPath %s, want %s", got, k3s)
	}
}

func TestKustomize_PatchRefusesAVolumeListItDoesNotKnow(t *testing.T) {
	fs := copyDeploy(t, func(k string) string { return k })
	ds, _ := fs.ReadFile("/deploy/daemonset.yaml")
	moved := strings.Replace(string(ds), "      volumes:\n", "      volumes:\n        - name: other\n          emptyDir: {}\n", 1)
	fs.WriteFile("/deploy/daemonset.yaml", []byte(moved))
	if _, err := Render(fs, "/deploy"); err == nil {
		t.Fatal("the patch replaced the path of a volume that is not cni-bin")
	}
}

// examplesBefore is how many examples README.md and docs/*.md held when the
// README was split into docs/ (12 and 1): moving an example must not drop it.
const examplesBefore = 13

// TestDocs_EveryExampleDecodesAndParses checks README.md and docs/*.md;
// their pods may name networks defined in the same document or in deploy/.
func TestDocs_EveryExampleDecodesAndParses(t *testing.T) {
	total := 0
	for _, d := range docSets(t) {
		if err := d.set.Resolve(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d examples checked", d.path, d.n)
		total += d.n
		if filepath.Base(d.path) == "README.md" && d.n < 2 {
			t.Errorf("README.md: only %d examples recognised, want the minimal config and the annotation", d.n)
		}
	}
	if total < examplesBefore {
		t.Errorf("%d examples in README.md and docs/*.md, fewer than the %d before the split", total, examplesBefore)
	}
}

// docSet is the examples of one document, read on top of deploy/'s.
type docSet struct {
	path string
	set  *Set
	n    int
}

// docSets reads README.md and docs/*.md, each into a set whose parent is
// deploy/'s: their pods may name networks defined there.
func docSets(t *testing.T) []docSet {
	t.Helper()
	base := deploySet(t)
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	var out []docSet
	for _, doc := range append([]string{filepath.Join(root, "README.md")}, docs...) {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		s := NewSet()
		s.Parent, s.Redefine = base, true
		n, err := s.AddMarkdown(doc, data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, docSet{doc, s, n})
	}
	return out
}

func TestKeys_ComeFromTheDecodingStructs(t *testing.T) {
	keys := config.Keys()
	for _, k := range []string{"cniVersion", "name", "type", "capabilities", "ipam", "master", "sVlan", "sProto", "cVlans", "mtu",
		"linkInContainer", "mac", "mode", "bridge", "ovsdbSocket", "allowedCVlans", "overrideSVlans", "overrideCVlans", "logFile", "logLevel", "args"} {
		if !keys[k] {
			t.Errorf("config.Keys() lacks %q", k)
		}
	}
	for _, k := range []string{"PrevResult", "-", "NetConf", ""} {
		if keys[k] {
			t.Errorf("config.Keys() has %q", k)
		}
	}
}

func TestBlocks_FindsFencedBlocksWithTheirLines(t *testing.T) {
	md := "text\n```json\n{\"a\": 1}\n```\n\n```sh\nls\n```\n"
	b := Blocks([]byte(md))
	if len(b) != 2 || b[0].Lang != "json" || b[0].Line != 3 || b[0].Text != "{\"a\": 1}\n" || b[1].Lang != "sh" {
		t.Fatalf("blocks: %+v", b)
	}
}
