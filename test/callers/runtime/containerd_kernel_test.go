//go:build kerneltest

package runtime

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/qinq-cni/qinq/internal/testenv"
)

func startContainerd(t *testing.T, cniConfDir string) *testenv.Containerd {
	t.Helper()
	return env.StartContainerd(t, binDir(t), cniConfDir, env.RuntimeEnv(logDir(t))...)
}

func podConfig(t *testing.T, name string) string {
	return testenv.PodSandboxConfig(t, "default", name, "uid-"+name, map[string]string{"example.org/tenant": name})
}

// TestContainerd_QinQIsThePodsNetwork: containerd's CRI runs a pod whose
// only network is qinq. The pod gets qinq's address (RunPodSandbox fails
// without one on eth0), the wire carries its tags, and a kubelet's
// teardown (StopPodSandbox twice, RemovePodSandbox: three DELs, the later
// two without a netns) leaves nothing.
func TestContainerd_QinQIsThePodsNetwork(t *testing.T) {
	n := newNetwork(t, "qinq-pods", "rt0", 300, 30)
	// containerd hands a plugin declaring this capability the pod's
	// annotations in runtimeConfig: qinq must take them.
	n.extra = []any{"capabilities", map[string]bool{podAnnotations: true}}
	w := newWire(t, n, "10.30.0.250")
	cniDir := t.TempDir()
	n.write(t, cniDir, "10-qinq.conflist", map[string]string{"subnet": "10.30.0.0/24", "rangeStart": "10.30.0.10", "rangeEnd": "10.30.0.20"})
	ctrd := startContainerd(t, cniDir)
	world := n.world(t)
	before := world.Snapshot()

	id := ctrd.Must("runp", podConfig(t, "tenant-a"))
	sb := ctrd.Inspect(id)
	const podIP = "10.30.0.10"
	if sb.Status.State != "SANDBOX_READY" || sb.Status.Network.IP != podIP {
		t.Fatalf("inspectp: state %s, IP %q; want SANDBOX_READY with qinq's %s", sb.Status.State, sb.Status.Network.IP, podIP)
	}
	eth0 := sb.Info.CNIResult.Interfaces["eth0"]
	if len(eth0.IPConfigs) != 1 || eth0.IPConfigs[0].IP != podIP {
		t.Errorf("inspectp's CNI result for eth0: %+v, want qinq's %s", eth0, podIP)
	}
	netns := sb.NetNS()
	pod := testenv.RuntimeContainer(t, id, netns)
	assertPodLink(t, pod, n, podIP)
	if !world.Snapshot().HasWith("cni-cache file results/", id) {
		t.Errorf("libcni's result cache %s has nothing of %s while the pod runs: the check after removal would prove nothing", cniCache, id)
	}
	assertAnnotationsPassed(t, n, id, "tenant-a")
	w.assertWire(t, pod, n)
	pod.NS.Close() // the runtime's namespace must not outlive the pod for us

	ctrd.Must("stopp", id)
	ctrd.Must("stopp", id)
	ctrd.Must("rmp", id)
	world.Unchanged(before)
	assertGone(t, netns)

	verbs := n.verbs(t, id)
	t.Logf("containerd %s sent: %s", runtimeVersion(t, "containerd", "--version"), verbList(verbs))
	assertVerbs(t, verbs, []string{"ADD (netns)", "DEL (netns)", "DEL (no netns)", "DEL (no netns)"})
	// containerd builds CNI_ARGS from a map: the order varies.
	want := []string{"IgnoreUnknown=1", "K8S_POD_INFRA_CONTAINER_ID=" + id, "K8S_POD_NAME=tenant-a", "K8S_POD_NAMESPACE=default", "K8S_POD_UID=uid-tenant-a"}
	if len(verbs) > 0 {
		got := strings.Split(verbs[0].CNIArgs, ";")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("CNI_ARGS of ADD: %q, want %q in any order", verbs[0].CNIArgs, want)
		}
	}
}

const podAnnotations = "io.kubernetes.cri.pod-annotations"

// assertAnnotationsPassed reads containerd's libcni cache entry of the pod
// (the capability arguments it handed libcni, which puts them into
// runtimeConfig for a plugin declaring the capability) and wants the pod's
// annotations there: the capability containerd offers was used, and the ADD
// with it succeeded.
func assertAnnotationsPassed(t *testing.T, n network, id, pod string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cniCache, "results", n.name+"-"+id+"-eth0"))
	if err != nil {
		t.Fatalf("libcni's cache entry of the pod: %v", err)
	}
	var entry struct {
		CapabilityArgs map[string]map[string]string `json:"capabilityArgs"`
	}
	if err := json.Unmarshal(data, &entry); err != nil {
		t.Fatalf("libcni's cache entry of the pod: %v\n%s", err, data)
	}
	if got := entry.CapabilityArgs[podAnnotations]["example.org/tenant"]; got != pod {
		t.Errorf("capability args containerd passed: %v, want %s with the pod's annotation", entry.CapabilityArgs, podAnnotations)
	}
}

// TestContainerd_FailingADDFailsRunp: with the range exhausted by a first
// pod, a second RunPodSandbox fails with qinq's (host-local's) message, and
// containerd's cleanup after the failed ADD leaves nothing of it; the first
// pod's removal then leaves nothing at all. The pods get macvlan links on
// the shared C-link (one VLAN link per VLAN ID: two pods cannot each own
// C-VLAN 31), so the second ADD gets as far as IPAM.
func TestContainerd_FailingADDFailsRunp(t *testing.T) {
	n := newNetwork(t, "qinq-full", "rt1", 301, 31)
	n.extra = []any{"containerLink", "macvlan"}
	testenv.Veth(t, env.HostNode(t), n.master, env.NewNode(t), "eth1", 1500)
	t.Cleanup(func() { testenv.DelLink(n.master) })
	cniDir := t.TempDir()
	n.write(t, cniDir, "10-qinq.conflist", map[string]string{"subnet": "10.31.0.0/24", "rangeStart": "10.31.0.10", "rangeEnd": "10.31.0.10"})
	ctrd := startContainerd(t, cniDir)
	world := n.world(t)
	empty := world.Snapshot()

	first := ctrd.Must("runp", podConfig(t, "first"))
	withFirst := world.Snapshot()
	if got := testenv.HostLocalAllocations(n.ipamDir, n.name); len(got) != 1 {
		t.Fatalf("host-local holds %v for the first pod, want its one address", got)
	}
	_, err := ctrd.Crictl("runp", podConfig(t, "second"))
	const msg = "no IP addresses available in range set: 10.31.0.10-10.31.0.10"
	if err == nil || !strings.Contains(err.Error(), msg) {
		t.Fatalf("runp of a pod with its range exhausted: %v, want a failure with qinq's message %q", err, msg)
	}
	t.Logf("runp failed as it should: %v", err)
	world.Unchanged(withFirst)
	if pods := ctrd.Must("pods", "--name", "second", "-q"); pods != "" {
		t.Errorf("containerd kept the failed sandbox: %q", pods)
	}
	second := secondPod(t, n, first)
	t.Logf("for the failed pod containerd sent: %s", verbList(second))
	if len(second) == 0 || second[0].Verb != "ADD" || second[0].Level != "ERROR" || !strings.Contains(second[0].Msg, msg) {
		t.Errorf("qinq's log for the failed pod: %s, want a failed ADD with %q first", verbList(second), msg)
	}
	if last := second[len(second)-1]; len(second) < 2 || last.Verb != "DEL" || last.Level != "INFO" {
		t.Errorf("qinq's log for the failed pod: %s, want containerd's cleanup DEL, successful, last", verbList(second))
	}

	ctrd.Must("stopp", first)
	ctrd.Must("rmp", first)
	world.Unchanged(empty)
}

// secondPod is what qinq logged for the one container besides first: the
// failed sandbox, whose ID containerd made and only the log names.
func secondPod(t *testing.T, n network, first string) []logLine {
	t.Helper()
	var ids []string
	for _, l := range n.lines(t) {
		if l.ContainerID != first && !slices.Contains(ids, l.ContainerID) {
			ids = append(ids, l.ContainerID)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("qinq's log names %d containers besides the first pod, want 1: %v", len(ids), ids)
	}
	return n.verbs(t, ids[0])
}

// assertPodLink: the pod's eth0 is qinq's default container link (a veth
// whose other end is a port of qinq's bridge on the C-link, MTU 1496) with
// the address, on one shared 802.1ad S-link in the VM's namespace; the wire
// checks show its tags.
func assertPodLink(t *testing.T, pod *testenv.Container, n network, ip string) {
	t.Helper()
	l := testenv.Link(t, pod.NS, "eth0")
	if _, ok := l.(*netlink.Veth); !ok || l.Attrs().MTU != 1496 {
		t.Fatalf("eth0: %T %+v, want the bridge endpoint's veth with MTU 1496", l, l.Attrs())
	}
	if addrs := testenv.Addrs(t, pod.NS, "eth0"); len(addrs) != 1 || addrs[0] != ip+"/24" {
		t.Errorf("eth0 addresses %v, want %s/24", addrs, ip)
	}
	host := env.HostNode(t)
	if c := testenv.CountChainVLANs(t, host.NS, env.StateDir, netlink.VLAN_PROTOCOL_8021AD, n.sVlan); c != 1 {
		t.Errorf("%d 802.1ad S-links for VLAN %d in the VM and qinq's namespace, want 1", c, n.sVlan)
	}
}

func assertVerbs(t *testing.T, got []logLine, want []string) {
	t.Helper()
	var s []string
	for _, l := range got {
		s = append(s, l.String())
	}
	if !slices.Equal(s, want) {
		t.Errorf("qinq logged %v, want %v", s, want)
	}
}

// runtimeVersion is the first line of a runtime's version output.
func runtimeVersion(t *testing.T, bin string, args ...string) string {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return bin + " (version unknown: " + err.Error() + ")"
	}
	return strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
}
