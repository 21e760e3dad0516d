//go:build kerneltest

package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// tenantPod is one pod of deploy/networks/pod-per-pod-vlan.yaml's kind: its
// own VLANs (S 150, C 12), MAC and address on the tenants network.
type tenantPod struct {
	name, namespace, mac, ip string
	api                      *corev1.Pod
	ctr                      *testenv.Container
}

// Control: the same node, daemon and NAD with the release before qinq bound
// its namespace in the node's mount namespace (bin/qinq-fe54dd9, make
// build): it binds it in the daemon's container, where the node never sees
// it, and refuses the pod with 50: the test below bites.
func TestMultusThick_ControlTheReleaseBeforeRefusesTheDefaultLink(t *testing.T) {
	host, _ := wired(t)
	ds, daemonConfig := applyMultus(t)
	// A node that ran no bridge pod since it booted: an empty namespace an
	// earlier test left bound is unbound first.
	nsPath := qinqNSPath(t)
	if testenv.NodeMounts(t, nsPath) != 0 {
		if left := qinqNSLinks(t, nsPath); len(left) != 0 {
			t.Fatalf("qinq's namespace on the node still holds %v: the control needs a node without it", left)
		}
		if err := syscall.Unmount(nsPath, syscall.MNT_DETACH); err != nil {
			t.Fatal(err)
		}
	}
	installNode(t, filepath.Join(env.Root, "bin", "qinq-fe54dd9"))
	createTenantsNAD(t)
	startMultusDaemon(t, ds, daemonConfig)
	p := &tenantPod{name: "tenant-c", mac: "02:00:5e:96:0c:0c", ip: "10.150.12.12"}
	p.api = createPod(t, p)
	p.ctr = testenv.NewContainer(t)
	_, err := host.Invoke("ADD", multusShimConf(t), p.ctr, "eth0", p.runtime()...)
	if err == nil || !strings.Contains(err.Error(), `network "tenants"`) || !strings.Contains(err.Error(), "mount namespace only") {
		t.Fatalf("ADD through the daemon with the release before: %v; want qinq's refusal (50, its namespace's mount)", err)
	}
	t.Logf("the release before, under the real daemon: %v", err)
	if names := testenv.LinkNames(t, p.ctr.NS, "net1"); len(names) != 0 {
		t.Errorf("the refused ADD left %v in the pod", names)
	}
	if got := testenv.NodeMounts(t, nsPath); got != 0 {
		t.Errorf("the refused ADD left %d mounts at %s on the node", got, nsPath)
	}
}

// TestMultusThick_DefaultLinkPodsSurviveADaemonRestart: Multus thick from its
// own multus-daemonset-thick.yml (its CRD, RBAC, ServiceAccount and
// ConfigMap applied to the API server; its daemon container run from the
// DaemonSet's spec: a mount namespace of its own, the node's / at /hostroot
// rslave, chrootDir, hostPID), the real multus-shim as the node's CNI
// plugin, and deploy/networks' tenants NAD, whose default container link is
// the bridge in qinq's namespace. Two pods come up through the shim and the
// daemon, reach a far node with the right tags, get Multus's
// network-status; the daemon's pod is killed and replaced; the pods stay on
// the wire, and their DELs through the new daemon leave nothing.
func TestMultusThick_DefaultLinkPodsSurviveADaemonRestart(t *testing.T) {
	ctx := context.Background()
	host, far := wired(t)
	ds, daemonConfig := applyMultus(t)
	installNode(t, env.Plugin)
	qinqLog := createTenantsNAD(t)

	peer := farPeer(t, far, 150, 12, "10.150.12.9/24")

	world := testenv.NewWorld(t, nil, testenv.StateDir("/run/qinq"), testenv.Dir{Name: "multus-cache", Path: "/var/lib/cni/multus"})
	before := world.Snapshot()
	daemon := startMultusDaemon(t, ds, daemonConfig)
	shim := multusShimConf(t)

	pods := []*tenantPod{{name: "tenant-a", mac: "02:00:5e:96:0c:0a", ip: "10.150.12.10"},
		{name: "tenant-b", mac: "02:00:5e:96:0c:0b", ip: "10.150.12.11"}}
	for _, p := range pods {
		p.api = createPod(t, p)
		p.ctr = testenv.NewContainer(t)
		if _, err := host.Invoke("ADD", shim, p.ctr, "eth0", p.runtime()...); err != nil {
			t.Fatalf("ADD of %s through multus-shim: %v", p.name, err)
		}
	}
	nsPath := qinqNSPath(t)
	if got := testenv.NodeMounts(t, nsPath); got != 1 {
		t.Fatalf("the node's init has %d mounts at %s, want 1: qinq's namespace bound on the node", got, nsPath)
	}
	for _, p := range pods {
		assertPod(t, p, peer, far)
		assertNetworkStatus(t, p)
	}

	daemon.kill() // the kubelet kills the daemon's pod, and makes a new one
	startMultusDaemon(t, ds, daemonConfig)
	for _, p := range pods {
		if err := testenv.Echo(t, p.ctr, peer, "10.150.12.9", 1400); err != nil {
			t.Fatalf("%s after the daemon's restart: %v", p.name, err)
		}
	}
	for _, p := range pods {
		if _, err := host.Invoke("DEL", shim, p.ctr, "eth0", p.runtime()...); err != nil {
			t.Fatalf("DEL of %s through the new daemon: %v", p.name, err)
		}
		if err := cluster.kube.CoreV1().Pods("default").Delete(ctx, p.name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	world.Unchanged(before)
	for _, p := range pods {
		if names := testenv.LinkNames(t, p.ctr.NS, "net1"); len(names) != 0 {
			t.Errorf("%s: DEL left %v in the pod", p.name, names)
		}
	}
	if left := qinqNSLinks(t, nsPath); len(left) != 0 {
		t.Errorf("the DELs left %v in qinq's namespace", left)
	}
	if got := testenv.NodeMounts(t, nsPath); got != 1 {
		t.Errorf("after the DELs the node's init has %d mounts at %s, want 1", got, nsPath)
	}
	for _, p := range pods {
		verbs := testenv.LoggedVerbs(t, qinqLog, p.ctr.ID)
		t.Logf("multus-shim -> multus-daemon -> qinq for %s: %s", p.name, strings.Join(verbs, ", "))
		if want := []string{"ADD ok", "DEL ok"}; !slices.Equal(verbs, want) {
			t.Errorf("%s: qinq logged %v, want %v", p.name, verbs, want)
		}
	}
}

// wired is the node (the VM's own network namespace, where the kubelet,
// the runtime and Multus run) and a far node, joined by a veth wire whose
// node end is eth1: the master deploy/'s NADs name.
func wired(t *testing.T) (host, far *testenv.Node) {
	t.Helper()
	host, far = env.HostNode(t), env.NewNode(t)
	testenv.Veth(t, host, "eth1", far, "eth1", 1500)
	t.Cleanup(func() { testenv.DelLink("eth1") })
	return host, far
}

// farPeer is a container on the far node in (sVlan, cVlan) at addr, made
// by qinq directly: what the node's pods must reach across the wire.
func farPeer(t *testing.T, far *testenv.Node, sVlan, cVlan int, addr string) *testenv.Container {
	t.Helper()
	peer := testenv.NewContainer(t)
	conf := testenv.QinQ("1.1.0", "peer").OnMaster("eth1", sVlan, cVlan).WithStaticIP(addr)
	far.Add(conf, peer, "net1")
	t.Cleanup(func() { far.Del(conf, peer, "net1") })
	return peer
}

// installNode puts on the node what a cluster's install gives it: the CNI
// binaries in /opt/cni/bin (Multus's init container copies multus-shim
// there; qinq's installer qinq), and a cluster network in /etc/cni/net.d
// for the daemon to wrap (the reference loopback plugin: the lightest real
// delegate for eth0).
func installNode(t *testing.T, qinq string) {
	t.Helper()
	for _, d := range []string{"/opt/cni/bin", "/etc/cni/net.d", "/var/lib/cni/multus"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, src := range map[string]string{"multus-shim": env.Tool("multus-shim"), "qinq": qinq,
		"static": env.Tool("static"), "loopback": env.Tool("loopback")} {
		copyFile(t, src, filepath.Join("/opt/cni/bin", name))
	}
	cluster := `{"cniVersion": "1.0.0", "name": "cluster", "plugins": [{"type": "loopback"}]}`
	if err := os.WriteFile("/etc/cni/net.d/10-cluster.conflist", []byte(cluster), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove("/etc/cni/net.d/10-cluster.conflist")
		os.Remove("/etc/cni/net.d/00-multus.conf")
	})
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// createTenantsNAD applies deploy/networks/per-pod.yaml, logging qinq's
// invocations to a file of the test's; it returns the file.
func createTenantsNAD(t *testing.T) string {
	t.Helper()
	var nad nadv1.NetworkAttachmentDefinition
	readYAML(t, "deploy/networks/per-pod.yaml", &nad)
	var conf map[string]any
	if err := json.Unmarshal([]byte(nad.Spec.Config), &conf); err != nil {
		t.Fatal(err)
	}
	// The daemon hands qinq no QINQ_LOG_DIR: the node's log directory it is.
	if err := os.MkdirAll("/var/log/qinq", 0o755); err != nil {
		t.Fatal(err)
	}
	log := "/var/log/qinq/multus-thick.log"
	t.Cleanup(func() { os.Remove(log) })
	conf["logFile"], conf["logLevel"] = log, "debug"
	b, _ := json.Marshal(conf)
	nad.Spec.Config = string(b)
	createNAD(t, "default", &nad)
	return log
}

// createNAD creates nad in namespace ns (kept when it exists), deleted
// when the test ends.
func createNAD(t *testing.T, ns string, nad *nadv1.NetworkAttachmentDefinition) {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(nad)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion("k8s.cni.cncf.io/v1")
	u.SetKind("NetworkAttachmentDefinition")
	u.SetNamespace(ns)
	nads := cluster.dyn.Resource(nadv1.SchemeGroupVersion.WithResource("network-attachment-definitions")).Namespace(ns)
	if _, err := nads.Create(context.Background(), u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create NAD %s/%s: %v", ns, nad.Name, err)
	}
	t.Cleanup(func() { nads.Delete(context.Background(), nad.Name, metav1.DeleteOptions{}) })
}

// createPod creates p in the API server from deploy/networks'
// pod-per-pod-vlan.yaml with p's name, MAC and address, bound to this node.
func createPod(t *testing.T, p *tenantPod) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	// The ServiceAccount admission plugin wants the namespace's default
	// account; kube-controller-manager would make it.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := cluster.kube.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	var pod corev1.Pod
	readYAML(t, "deploy/networks/pod-per-pod-vlan.yaml", &pod)
	pod.Name = p.name
	pod.Annotations["k8s.v1.cni.cncf.io/networks"] = fmt.Sprintf(`[{"name": "tenants", "interface": "net1",
	  "cni-args": {"sVlan": 150, "cVlans": [12]}, "mac": %q, "ips": ["%s/24"]}]`, p.mac, p.ip)
	pod.Spec.NodeName = nodeName
	no := false
	pod.Spec.AutomountServiceAccountToken = &no
	created, err := cluster.kube.CoreV1().Pods("default").Create(ctx, &pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.name, err)
	}
	t.Cleanup(func() {
		cluster.kube.CoreV1().Pods("default").Delete(context.Background(), p.name, metav1.DeleteOptions{})
	})
	return created
}

// runtime is what the kubelet's runtime hands the node's CNI plugin.
func (p *tenantPod) runtime() []testenv.InvokeOption {
	return []testenv.InvokeOption{testenv.Binary("/opt/cni/bin/multus-shim"), testenv.CNIArgs(fmt.Sprintf(
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
		p.name, p.ctr.ID, p.api.UID))}
}

// multusShimConf is the node's CNI config as the daemon wrote it.
func multusShimConf(t *testing.T) testenv.Conf {
	t.Helper()
	data, err := os.ReadFile("/etc/cni/net.d/00-multus.conf")
	if err != nil {
		t.Fatal(err)
	}
	var c testenv.Conf
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("00-multus.conf: %v", err)
	}
	if c["type"] != "multus-shim" {
		t.Fatalf("00-multus.conf names %v, want multus-shim", c["type"])
	}
	return c
}

// assertPod: net1 has the pod's MAC and address, and its frames reach the
// far node's peer as 0x88a8/150, 0x8100/12.
func assertPod(t *testing.T, p *tenantPod, peer *testenv.Container, far *testenv.Node) {
	t.Helper()
	var net1 netlink.Link
	err := p.ctr.NS.Do(func(ns.NetNS) error {
		var err error
		net1, err = netlink.LinkByName("net1")
		return err
	})
	if err != nil {
		t.Fatalf("%s: no net1: %v", p.name, err)
	}
	if got := net1.Attrs().HardwareAddr.String(); got != p.mac {
		t.Errorf("%s: net1 MAC %s, want %s from the annotation", p.name, got, p.mac)
	}
	stop := far.Capture("eth1")
	if err := testenv.Echo(t, p.ctr, peer, "10.150.12.9", 1400); err != nil {
		t.Fatalf("%s net1 -> peer across the wire: %v", p.name, err)
	}
	testenv.AssertTags(t, testenv.IPv4Frames(stop()), testenv.Tag8021AD(150), testenv.Tag8021Q(12))
}

// assertNetworkStatus: the daemon wrote Multus's network-status on the pod,
// naming net1 with the pod's MAC.
func assertNetworkStatus(t *testing.T, p *tenantPod) {
	t.Helper()
	ns := p.namespace
	if ns == "" {
		ns = "default"
	}
	pod, err := cluster.kube.CoreV1().Pods(ns).Get(context.Background(), p.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw := pod.Annotations[nadv1.NetworkStatusAnnot]
	var statuses []nadv1.NetworkStatus
	if err := json.Unmarshal([]byte(raw), &statuses); err != nil {
		t.Fatalf("%s: network-status %q: %v", p.name, raw, err)
	}
	for _, s := range statuses {
		if s.Interface == "net1" && s.Name == ns+"/tenants" && s.Mac == p.mac && slices.Contains(s.IPs, p.ip) {
			return
		}
	}
	t.Errorf("%s: network-status %s names no net1 of default/tenants with %s and %s", p.name, raw, p.mac, p.ip)
}

// qinqNSPath is where qinq binds its namespace for the node (the VM's own
// network namespace, PID 1's) in the default store, /run/qinq: the daemon
// hands qinq no QINQ_STATE_DIR.
func qinqNSPath(t *testing.T) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/1/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return filepath.Join("/run/qinq", fmt.Sprintf("host-%d", st.Ino), "netns")
}

// qinqNSLinks are the links in qinq's namespace, lo aside.
func qinqNSLinks(t *testing.T, path string) []string {
	t.Helper()
	o, err := ns.GetNS(path)
	if err != nil {
		t.Fatalf("qinq's namespace %s: %v", path, err)
	}
	defer o.Close()
	var out []string
	for _, name := range testenv.LinkNames(t, o, "") {
		if name != "lo" {
			out = append(out, name)
		}
	}
	return out
}
