//go:build kerneltest

package kubernetes

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/vishvananda/netlink"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/qinq-cni/qinq/internal/testenv"
	"github.com/qinq-cni/qinq/pkg/userns"
)

// The tenants' pods on a node installed from the manifests
// (TestKubernetes_MultusAndQinqFromTheirManifests): deploy/networks' NADs
// in deploy/policy.yaml's tenant-a, whose pods must have a user namespace
// of their own (hostUsers: false, containerd 2 and runc 1.3 on 6.12).

// podVLAN is what a pod's annotation picks on deploy/networks/per-pod.yaml:
// its (S, C), MAC and address (a /24).
type podVLAN struct {
	s, c    int
	mac, ip string
}

const attackerImage = "localhost/qinq-nsattack:test" // scripts/test-cluster.sh builds it

// tenantPodIn makes namespace ns with deploy/'s tenants NAD and a pod of
// pod-per-pod-vlan.yaml's kind on v, running the pause image; mods change
// the pod before it is created.
func tenantPodIn(t *testing.T, ns, name string, v podVLAN, hostUsersFalse bool, mods ...func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	tenantNamespace(t, ns)
	var nad nadv1.NetworkAttachmentDefinition
	readYAML(t, "deploy/networks/per-pod.yaml", &nad)
	createNAD(t, ns, logged(t, &nad))
	var pod corev1.Pod
	readYAML(t, "deploy/networks/pod-per-pod-vlan.yaml", &pod)
	pod.Name, pod.Namespace = name, ns
	pod.Annotations["k8s.v1.cni.cncf.io/networks"] = fmt.Sprintf(`[{"name": "tenants", "interface": "net1",
	  "cni-args": {"sVlan": %d, "cVlans": [%d]}, "mac": %q, "ips": ["%s/24"]}]`, v.s, v.c, v.mac, v.ip)
	hostUsers := !hostUsersFalse
	pod.Spec.HostUsers = &hostUsers
	pod.Spec.Containers[0].Image, pod.Spec.Containers[0].Command = "registry.k8s.io/pause:3.6", nil
	pod.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	for _, m := range mods {
		m(&pod)
	}
	created, err := cluster.kube.CoreV1().Pods(ns).Create(ctx, &pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	return created
}

// qinqLog is where the NADs of these tests have qinq log (in the node's
// default logDir): the verbs each pod's sandbox got, as qinq logged them.
const qinqLog = "/var/log/qinq/cluster.log"

// logged is nad with qinq's logFile set, the one change to deploy/'s NADs.
func logged(t *testing.T, nad *nadv1.NetworkAttachmentDefinition) *nadv1.NetworkAttachmentDefinition {
	t.Helper()
	var conf map[string]any
	if err := json.Unmarshal([]byte(nad.Spec.Config), &conf); err != nil {
		t.Fatal(err)
	}
	if conf["type"] != "qinq" {
		return nad // a conflist, or another plugin's
	}
	conf["logFile"] = qinqLog
	b, _ := json.Marshal(conf)
	nad.Spec.Config = string(b)
	return nad
}

// applyNetworks creates every NetworkAttachmentDefinition of deploy/networks
// in namespace ns (the API server validates them; the tests' pods use
// per-pod.yaml's and macvlan.yaml's), each with qinq's logFile set.
func applyNetworks(t *testing.T, ns string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(env.Root, "deploy", "networks", "*.yaml"))
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objects(t, f, data) {
			if u.GetKind() != "NetworkAttachmentDefinition" {
				continue
			}
			var nad nadv1.NetworkAttachmentDefinition
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &nad); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			createNAD(t, ns, logged(t, &nad))
			names = append(names, nad.Name)
		}
	}
	if len(names) < 10 {
		t.Fatalf("deploy/networks has %d NADs: %v", len(names), names)
	}
	t.Logf("deploy/networks' %d NADs created in %s: %s", len(names), ns, strings.Join(names, ", "))
}

// sandboxes are the pods the kubelet made in these tests, by sandbox ID
// (qinq's container ID), in order.
var sandboxes []struct{ pod, id string }

// logVerbs logs, for each pod the kubelet made, the verbs qinq logged for
// its sandbox: kubelet -> containerd -> multus-shim -> multus-daemon -> qinq.
func logVerbs(t *testing.T) {
	t.Helper()
	for _, s := range sandboxes {
		t.Logf("%s (sandbox %.12s): %s", s.pod, s.id, strings.Join(testenv.LoggedVerbs(t, qinqLog, s.id), ", "))
	}
}

// asAttacker makes a pod the attacker: CAP_NET_ADMIN added, the image with
// qinq-nsattack, pause its process.
func asAttacker(p *corev1.Pod) {
	c := &p.Spec.Containers[0]
	c.Image, c.Command = attackerImage, []string{"/pause"}
	c.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
}

// tenantNamespace creates namespace ns (kept when it exists), deleted when
// the test ends.
func tenantNamespace(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := cluster.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
}

// waitRunning waits for pod ns/name to be Running and returns its sandbox,
// as a container of the test (its network namespace held open).
func waitRunning(t *testing.T, ctrd *testenv.Containerd, ns, name string) *testenv.Container {
	t.Helper()
	start := time.Now()
	waitFor(t, 4*time.Minute, ns+"/"+name+" Running", func() error {
		p, err := cluster.kube.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && p.Status.Phase != corev1.PodRunning {
			err = fmt.Errorf("phase %s: %s", p.Status.Phase, events(t, ns, name))
		}
		return err
	})
	t.Logf("%s/%s Running in %.1f s", ns, name, time.Since(start).Seconds())
	id := sandboxID(t, ctrd, ns, name)
	sandboxes = append(sandboxes, struct{ pod, id string }{ns + "/" + name, id})
	return testenv.RuntimeContainer(t, id, ctrd.Inspect(id).NetNS())
}

// net1Status is the network-status entry Multus wrote for the pod's net1.
// sandboxID is the pod's ready sandbox, "" if none.
func sandboxID(t *testing.T, ctrd *testenv.Containerd, ns, name string) string {
	t.Helper()
	return ctrd.Must("pods", "--namespace", ns, "--name", name, "--state", "ready", "-q")
}

func net1Status(t *testing.T, ns, name string) nadv1.NetworkStatus {
	t.Helper()
	pod, err := cluster.kube.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw := pod.Annotations[nadv1.NetworkStatusAnnot]
	var statuses []nadv1.NetworkStatus
	if err := json.Unmarshal([]byte(raw), &statuses); err != nil {
		t.Fatalf("%s/%s: network-status %q: %v", ns, name, raw, err)
	}
	for _, s := range statuses {
		if s.Interface == "net1" {
			return s
		}
	}
	t.Fatalf("%s/%s: network-status %s names no net1", ns, name, raw)
	return nadv1.NetworkStatus{}
}

// onTheWire: the pod's net1 reaches peer at peerIP, and its frames cross the
// wire tagged (s, c).
func onTheWire(t *testing.T, far *testenv.Node, pod, peer *testenv.Container, peerIP string, s, c int) {
	t.Helper()
	stop := far.Capture("eth1")
	if err := testenv.Echo(t, pod, peer, peerIP, 1400); err != nil {
		t.Fatalf("%s net1 -> %s on the far node: %v", pod.ID, peerIP, err)
	}
	testenv.AssertTags(t, testenv.IPv4Frames(stop()), testenv.Tag8021AD(s), testenv.Tag8021Q(c))
}

// runningPod is a pod the kubelet made, and its peer on the far node.
type runningPod struct {
	name   string
	v      podVLAN
	ctr    *testenv.Container
	peer   *testenv.Container
	peerIP string
}

// onTheWire: the pod still reaches its peer with its tags.
func (p runningPod) onTheWire(t *testing.T, far *testenv.Node) {
	t.Helper()
	onTheWire(t, far, p.ctr, p.peer, p.peerIP, p.v.s, p.v.c)
}

// annotatedPods: three tenant-a pods, each picking its own (S, C), MAC and
// address in its annotation, Running with a user namespace of their own;
// each is on the wire with its tags and named in network-status.
func annotatedPods(t *testing.T, ctrd *testenv.Containerd, far *testenv.Node) []runningPod {
	pods := map[string]podVLAN{
		"tenant-150-12": {150, 12, "02:00:5e:96:0c:01", "10.150.12.1"},
		"tenant-151-13": {151, 13, "02:00:5e:97:0d:01", "10.151.13.1"},
		"tenant-300-20": {300, 20, "02:00:5e:2c:14:01", "10.44.20.1"},
	}
	for name, v := range pods {
		tenantPodIn(t, "tenant-a", name, v, true)
	}
	var out []runningPod
	for _, name := range slices.Sorted(maps.Keys(pods)) {
		v := pods[name]
		ctr := waitRunning(t, ctrd, "tenant-a", name)
		peerIP := strings.TrimSuffix(v.ip, ".1") + ".200"
		p := runningPod{name, v, ctr, farPeer(t, far, v.s, v.c, peerIP+"/24"), peerIP}
		p.onTheWire(t, far)
		if got := testenv.Link(t, ctr.NS, "net1").Attrs().HardwareAddr.String(); got != v.mac {
			t.Errorf("%s: net1 has MAC %s, want the annotation's %s", name, got, v.mac)
		}
		st := net1Status(t, "tenant-a", name)
		if st.Name != "tenant-a/tenants" || st.Mac != v.mac || !slices.Contains(st.IPs, v.ip) {
			t.Errorf("%s: network-status net1 %+v, want tenant-a/tenants with %s and %s", name, st, v.mac, v.ip)
		}
		assertOwnUserNS(t, ctr)
		t.Logf("%s: (S %d, C %d), %s, %s: on the wire, in network-status", name, v.s, v.c, v.mac, v.ip)
		out = append(out, p)
	}
	return out
}

// assertOwnUserNS: the pod's network namespace is owned by a user
// namespace below the node's (hostUsers: false took effect).
func assertOwnUserNS(t *testing.T, ctr *testenv.Container) {
	t.Helper()
	if err := userns.Below(ctr.NetNSPath()); err != nil {
		t.Errorf("%s: %v: hostUsers: false did not take", ctr.ID, err)
	}
}

// whereabouts' resources: its IPPools and reservations, in kube-system.
var (
	ipPools      = schema.GroupVersionResource{Group: "whereabouts.cni.cncf.io", Version: "v1alpha1", Resource: "ippools"}
	reservations = schema.GroupVersionResource{Group: "whereabouts.cni.cncf.io", Version: "v1alpha1", Resource: "overlappingrangeipreservations"}
)

// installWhereabouts does what whereabouts' install script (its DaemonSet's
// container, a shell script) does on a node: its CRDs and RBAC from its
// manifests, the binary in /opt/cni/bin, and whereabouts.d's config with a
// kubeconfig of its ServiceAccount's token, reaching the API server by the
// kubernetes Service.
func installWhereabouts(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	dir := os.Getenv("QINQ_WHEREABOUTS_DIR")
	if dir == "" {
		t.Fatal("QINQ_WHEREABOUTS_DIR is not set: the whereabouts module whose manifests the test applies")
	}
	for _, f := range []string{"whereabouts.cni.cncf.io_ippools.yaml", "whereabouts.cni.cncf.io_overlappingrangeipreservations.yaml", "daemonset-install.yaml"} {
		data, err := os.ReadFile(filepath.Join(dir, "doc", "crds", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objects(t, f, data) {
			if u.GetKind() == "DaemonSet" {
				continue // the install script's work is the test's
			}
			create(t, u)
		}
	}
	copyFile(t, env.Tool("whereabouts"), "/opt/cni/bin/whereabouts") // removed after the node's pods (the test's first cleanup)
	tok, err := cluster.kube.CoreV1().ServiceAccounts("kube-system").CreateToken(ctx, "whereabouts",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("whereabouts' ServiceAccount token: %v", err)
	}
	wd := "/etc/cni/net.d/whereabouts.d"
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://10.96.0.1:443", certificate-authority-data: %s}}]
users: [{name: whereabouts, user: {token: %q}}]
contexts: [{name: whereabouts-context, context: {cluster: local, user: whereabouts, namespace: kube-system}}]
current-context: whereabouts-context
`, base64.StdEncoding.EncodeToString(cluster.file(t, "ca.crt")), tok.Status.Token)
	conf := `{"datastore": "kubernetes", "kubernetes": {"kubeconfig": "` + wd + `/whereabouts.kubeconfig"}, "reconciler_cron_expression": "30 4 * * *"}`
	for name, body := range map[string]string{"whereabouts.kubeconfig": kubeconfig, "whereabouts.conf": conf} {
		if err := os.WriteFile(filepath.Join(wd, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "whereabouts' CRDs to be served", func() error {
		_, err := cluster.dyn.Resource(ipPools).Namespace("kube-system").List(ctx, metav1.ListOptions{})
		return err
	})
}

// allocations are whereabouts' allocations in every IPPool and its
// reservations: what a deleted pod must not leave.
func allocations(t *testing.T) []string {
	t.Helper()
	var out []string
	for ip, pod := range pooled(t) {
		out = append(out, ip+" "+pod)
	}
	res, err := cluster.dyn.Resource(reservations).Namespace("kube-system").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Items {
		out = append(out, "reservation "+r.GetName())
	}
	return out
}

// pooled are the addresses whereabouts' IPPools hold (each allocation is an
// offset into its pool's range), each with the pod ("ns/name") holding it.
func pooled(t *testing.T) map[string]string {
	t.Helper()
	pools, err := cluster.dyn.Resource(ipPools).Namespace("kube-system").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pools.Items {
		cidr, _, _ := unstructured.NestedString(p.Object, "spec", "range")
		prefix, err := netip.ParsePrefix(cidr)
		if err != nil || !prefix.Addr().Is4() {
			t.Fatalf("IPPool %s: range %q: want an IPv4 prefix (%v)", p.GetName(), cidr, err)
		}
		base := prefix.Masked().Addr().As4()
		allocs, _, _ := unstructured.NestedMap(p.Object, "spec", "allocations")
		for off, a := range allocs {
			o, err := strconv.ParseUint(off, 10, 32)
			if err != nil {
				t.Fatalf("IPPool %s: allocation offset %q: %v", p.GetName(), off, err)
			}
			var ip [4]byte
			binary.BigEndian.PutUint32(ip[:], binary.BigEndian.Uint32(base[:])+uint32(o))
			podref, _, _ := unstructured.NestedString(a.(map[string]any), "podref")
			out[netip.AddrFrom4(ip).String()] = podref
		}
	}
	return out
}

// deploymentOnWhereabouts: deploy/networks' Deployment (3 replicas,
// hostUsers: false) on its NAD (macvlan.yaml: S 3015, C 2, whereabouts) in
// tenant-a, the image swapped for the pause image. Each replica is Running
// with an address whereabouts chose, different from the others', on the
// wire as 0x88a8/3015, 0x8100/2; whereabouts' pool holds exactly those
// addresses for those pods. Scaled to 1, the pool holds only the last
// replica's: the namespace's deletion later must release it.
func deploymentOnWhereabouts(t *testing.T, ctrd *testenv.Containerd, far *testenv.Node) {
	ctx := context.Background()
	tenantNamespace(t, "tenant-a")
	var nad nadv1.NetworkAttachmentDefinition
	readYAML(t, "deploy/networks/macvlan.yaml", &nad)
	createNAD(t, "tenant-a", logged(t, &nad))
	var d appsv1.Deployment
	readYAML(t, "deploy/networks/deployment-macvlan.yaml", &d)
	c := &d.Spec.Template.Spec.Containers[0]
	c.Image, c.ImagePullPolicy, c.Ports = "registry.k8s.io/pause:3.6", corev1.PullNever, nil
	deps := cluster.kube.AppsV1().Deployments("tenant-a")
	if _, err := deps.Create(ctx, &d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Deployment %s: %v", d.Name, err)
	}
	t.Cleanup(func() { deps.Delete(context.Background(), d.Name, metav1.DeleteOptions{}) })
	listPods := func() []corev1.Pod {
		pods, err := cluster.kube.CoreV1().Pods("tenant-a").List(ctx, metav1.ListOptions{LabelSelector: "app=tenant-a-web"})
		if err != nil {
			t.Fatal(err)
		}
		return pods.Items
	}
	start := time.Now()
	waitFor(t, 5*time.Minute, "Deployment "+d.Name+": 3 replicas available", func() error {
		got, err := deps.Get(ctx, d.Name, metav1.GetOptions{})
		if err == nil && got.Status.AvailableReplicas != 3 {
			var st []string
			for _, p := range listPods() {
				st = append(st, p.Name+": "+string(p.Status.Phase)+" "+events(t, "tenant-a", p.Name))
			}
			err = fmt.Errorf("%d available; pods: %s", got.Status.AvailableReplicas, strings.Join(st, "; "))
		}
		return err
	})
	t.Logf("Deployment %s: 3 replicas available in %.1f s", d.Name, time.Since(start).Seconds())
	peer := farPeer(t, far, 3015, 2, "192.168.20.250/24")
	pods := listPods()
	if len(pods) != 3 {
		t.Fatalf("the Deployment has %d pods, want 3", len(pods))
	}
	_, subnet, _ := net.ParseCIDR("192.168.20.0/24")
	seen := map[string]string{} // address -> "tenant-a/pod"
	for _, p := range pods {
		st := net1Status(t, "tenant-a", p.Name)
		if len(st.IPs) != 1 || !subnet.Contains(net.ParseIP(st.IPs[0])) {
			t.Fatalf("%s: network-status net1 %+v: want one address whereabouts chose in %s", p.Name, st, subnet)
		}
		if other, dup := seen[st.IPs[0]]; dup {
			t.Errorf("%s and %s both got %s", p.Name, other, st.IPs[0])
		}
		seen[st.IPs[0]] = "tenant-a/" + p.Name
		ctr := waitRunning(t, ctrd, "tenant-a", p.Name)
		assertOwnUserNS(t, ctr)
		onTheWire(t, far, ctr, peer, "192.168.20.250", 3015, 2)
		t.Logf("%s: %s (whereabouts), %s: on the wire as (S 3015, C 2)", p.Name, st.IPs[0], st.Mac)
	}
	if got := pooled(t); !maps.Equal(got, seen) {
		t.Errorf("whereabouts' pool holds %v, want the replicas' %v", got, seen)
	}

	// kubectl scale --replicas=1: two replicas go, and their addresses.
	if _, err := deps.Patch(ctx, d.Name, types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	var last corev1.Pod
	waitFor(t, 4*time.Minute, "the Deployment to scale to 1", func() error {
		left := listPods()
		if len(left) != 1 {
			return fmt.Errorf("%d pods", len(left))
		}
		last = left[0]
		return nil
	})
	want := map[string]string{}
	for ip, pod := range seen {
		if pod == "tenant-a/"+last.Name {
			want[ip] = pod
		}
	}
	if got := pooled(t); len(want) != 1 || !maps.Equal(got, want) {
		t.Errorf("scaled to %s: whereabouts' pool holds %v, want %v", last.Name, got, want)
	}
	// Stopped (the network torn down); the kubelet removes them later.
	if out := ctrd.Must("pods", "--namespace", "tenant-a", "--label", "app=tenant-a-web", "--state", "ready", "-q"); out != sandboxID(t, ctrd, "tenant-a", last.Name) {
		t.Errorf("scaled to 1: ready sandboxes %q, want only %s's", out, last.Name)
	}
	t.Logf("scaled to 1: %s keeps its address, the other two released theirs", last.Name)
}

// The netns-id attack from inside the cluster: attackReq is the attack of
// the isolation issue (test/binary TestUserNamespace_…), from a pod the
// kubelet made, against the node's eth1 and a neighbour's link in qinq's
// namespace, with a C-link into the far node's (S 200, C 20).
const custIP, custAtk = "10.83.0.2", "10.83.0.1"

func attackReq(t *testing.T, host *testenv.Node, victim testenv.LinkRef) testenv.AttackRequest {
	return testenv.AttackRequest{Victim: victim, SVlan: 200, CVlan: 20, Addr: custAtk + "/24", Do: true,
		Master: testenv.LinkRef{Name: "eth1", Index: testenv.Link(t, host.NS, "eth1").Attrs().Index}}
}

// neighbourVeth is the far end of a bridge-link pod's net1: its port's veth
// in qinq's namespace.
func neighbourVeth(t *testing.T, nb *testenv.Container) (testenv.LinkRef, ns.NetNS) {
	t.Helper()
	net1 := testenv.Link(t, nb.NS, "net1")
	if net1.Attrs().NetNsID < 0 {
		t.Fatalf("%s: net1 names no peer in another namespace", nb.ID)
	}
	qns, err := ns.GetNS(qinqNSPath(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qns.Close() })
	var peer netlink.Link
	testenv.InNS(t, qns, func() (err error) { peer, err = netlink.LinkByIndex(net1.Attrs().ParentIndex); return err })
	return testenv.LinkRef{Name: peer.Attrs().Name, Index: peer.Attrs().Index}, qns
}

// attackFromPod runs the attack as a process of the pod (crictl exec into
// its container: the pod's user namespace, capabilities and network
// namespace), and returns its report.
func attackFromPod(t *testing.T, ctrd *testenv.Containerd, sandbox string, req testenv.AttackRequest) testenv.AttackReport {
	t.Helper()
	cid := ctrd.Must("ps", "--pod", sandbox, "--state", "running", "-q")
	line, _ := json.Marshal(req)
	out, err := ctrd.CrictlStdin(append(line, '\n'), "exec", "-i", cid, "/qinq-nsattack")
	if err != nil {
		t.Fatalf("the attack in the pod: %v", err)
	}
	var rep testenv.AttackReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rep); err != nil {
		t.Fatalf("the attacker's report %q: %v", out, err)
	}
	for _, s := range rep.Steps {
		t.Logf("attacker: %s: %s", s.What, cmpOr(s.Err, "done"))
	}
	return rep
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// userNamespacedAttack: a NET_ADMIN pod with hostUsers: false in tenant-a
// (userNamespace required) runs on the default link and reaches its peer;
// the attack through its ids is refused at every step, the neighbour's
// link and the node untouched, nothing crosses as (S 200, C 20), and its
// own traffic still works. The same pod with hostUsers: true is refused
// with 102 (the install test's refused pods).
func userNamespacedAttack(t *testing.T, ctrd *testenv.Containerd, host, far *testenv.Node, neighbour runningPod, cust *testenv.Container) {
	v := podVLAN{160, 14, "02:00:5e:a0:0e:01", "10.160.14.1"}
	tenantPodIn(t, "tenant-a", "attacker", v, true, asAttacker)
	pod := waitRunning(t, ctrd, "tenant-a", "attacker")
	assertOwnUserNS(t, pod)
	peer := farPeer(t, far, v.s, v.c, "10.160.14.200/24")
	onTheWire(t, far, pod, peer, "10.160.14.200", v.s, v.c)

	victim, qns := neighbourVeth(t, neighbour.ctr)
	req := attackReq(t, host, victim)
	hints := env.Discover(t, pod, req)
	t.Logf("found by root in the pod's netns: %+v", hints)
	if hints.Node < 0 || hints.VictimNS < 0 {
		t.Fatalf("root in the pod's netns did not find the node's namespace or the neighbour's link (%+v): the refusals would prove nothing", hints)
	}
	req.Hints = &hints
	stop := far.Capture("eth1")
	rep := attackFromPod(t, ctrd, pod.ID, req)
	frames := stop()
	if len(rep.Steps) == 0 || rep.Steps[0].Err != "" || len(rep.Found.Seen) == 0 {
		t.Fatalf("the pod must see its own links and their link-netnsid (the ids it would attack through): %+v", rep)
	}
	for _, s := range rep.Steps[1:] {
		if s.Errno != "EACCES" && s.Errno != "EPERM" {
			t.Errorf("%s: %s, want refused with EACCES or EPERM", s.What, cmpOr(s.Err, "it worked"))
		}
	}
	if len(rep.Steps) < 4 || len(rep.Found.Listed) != 0 || rep.CLink != "" {
		t.Errorf("want the ids listed, the delete and the S-link tried, each refused: %d steps, listed %v, C-link %q", len(rep.Steps), rep.Found.Listed, rep.CLink)
	}
	if _, err := testenv.LinkByName(qns, victim.Name); err != nil {
		t.Errorf("the neighbour's %s is gone: %v", victim.Name, err)
	}
	custMAC := testenv.Link(t, cust.NS, "net1").Attrs().HardwareAddr.String()
	for _, f := range frames {
		if len(f.Tags) == 2 && f.Tags[0] == testenv.Tag8021AD(200) && f.Tags[1] == testenv.Tag8021Q(20) && f.Src.String() != custMAC {
			t.Errorf("a frame from %s crossed the wire as (S 200, C 20)", f.Src)
		}
	}
	onTheWire(t, far, pod, peer, "10.160.14.200", v.s, v.c)
	neighbour.onTheWire(t, far)
	t.Logf("hostUsers: false: %d calls refused, the neighbour's %s and the node untouched, both pods still on the wire", len(rep.Steps)-1, victim.Name)
}

// hostUsersAttack, the control: the same attacker in the host's user
// namespace (tenant-c, whose policy requires none) finds the node, deletes
// its neighbour's link (tenant-c-pod's port) and reaches the far node's
// (S 200, C 20) through eth1: the attack bites where user namespaces are
// not used.
func hostUsersAttack(t *testing.T, ctrd *testenv.Containerd, host, far *testenv.Node, neighbour, cust *testenv.Container) {
	v := podVLAN{190, 12, "02:00:5e:be:0c:0d", "10.190.12.13"} // tenant-c-pod's (S, C)
	tenantPodIn(t, "tenant-c", "attacker", v, false, asAttacker)
	pod := waitRunning(t, ctrd, "tenant-c", "attacker")
	victim, qns := neighbourVeth(t, neighbour)
	rep := attackFromPod(t, ctrd, pod.ID, attackReq(t, host, victim))
	if failed := rep.Failed(); len(failed) != 0 || rep.Found.Node < 0 || rep.Found.VictimNS < 0 || rep.CLink == "" {
		t.Fatalf("control: the attack must succeed from a pod in the host's user namespace, or the test proves nothing: failed %v, found %+v", failed, rep.Found)
	}
	if _, err := testenv.LinkByName(qns, victim.Name); err == nil {
		t.Errorf("control: the neighbour's %s is still there after the attacker deleted it", victim.Name)
	}
	stop := far.Capture("eth1")
	if err := testenv.Echo(t, pod, cust, custIP, 1000); err != nil {
		t.Errorf("control: the attacker's C-link did not reach the other customer (S 200, C 20): %v", err)
	}
	mac := testenv.Link(t, pod.NS, rep.CLink).Attrs().HardwareAddr.String()
	n := 0
	for _, f := range stop() {
		if len(f.Tags) == 2 && f.Tags[0] == testenv.Tag8021AD(200) && f.Tags[1] == testenv.Tag8021Q(20) && f.Src.String() == mac {
			n++
		}
	}
	if n == 0 {
		t.Error("control: no frame of the attacker's C-link crossed the wire as (S 200, C 20)")
	}
	t.Logf("control (hostUsers: true): found the node as netns id %d, deleted the neighbour's %s, %d frames as (S 200, C 20) from the pod's %s",
		rep.Found.Node, victim.Name, n, rep.CLink)
}

// restarts: the kubelet, containerd and Multus's daemon (its pod deleted:
// the DaemonSet makes another) restart in turn; after each, every running
// pod is still on the wire. A pod deleted after them is cleaned up
// completely: its port in qinq's namespace, its record, its sandbox.
func restarts(t *testing.T, ctrd *testenv.Containerd, k *kubelet, far *testenv.Node, pods []runningPod, multus *appsv1.DaemonSet) {
	ctx := context.Background()
	// Each pod keeps its sandbox: the same one ready, and qinq got no verb
	// for it but its ADD (a sandbox made again would show as a new id, or
	// as DEL and ADD on the old one).
	survived := func(after string) {
		t.Helper()
		for _, p := range pods {
			if id := sandboxID(t, ctrd, "tenant-a", p.name); id != p.ctr.ID {
				t.Errorf("after %s: %s's ready sandbox is %q, was %.12s", after, p.name, id, p.ctr.ID)
			}
			if got := testenv.LoggedVerbs(t, qinqLog, p.ctr.ID); !slices.Equal(got, []string{"ADD ok"}) {
				t.Errorf("after %s: qinq got %v for %s's sandbox, want only its ADD", after, got, p.name)
			}
			p.onTheWire(t, far)
		}
		t.Logf("after %s: %d pods kept their sandboxes, on the wire", after, len(pods))
	}
	k.restart()
	k.settled(t, "its restart")
	survived("the kubelet's restart")
	ctrd.Restart()
	k.settled(t, "containerd's restart")
	survived("containerd's restart")

	sel := metav1.FormatLabelSelector(multus.Spec.Selector)
	old, err := cluster.kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil || len(old.Items) != 1 {
		t.Fatalf("Multus's pod (%s): %v, %d", sel, err, len(old.Items))
	}
	for _, c := range old.Items[0].Status.ContainerStatuses {
		if c.RestartCount != 0 {
			t.Errorf("Multus's %s restarted %d times before the test killed it (last: %+v)", c.Name, c.RestartCount, c.LastTerminationState.Terminated)
		}
	}
	if err := cluster.kube.CoreV1().Pods("kube-system").Delete(ctx, old.Items[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 4*time.Minute, "a new Multus pod ready", func() error {
		list, err := cluster.kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		for _, p := range list.Items {
			if p.UID == old.Items[0].UID {
				return fmt.Errorf("%s still there (%s)", p.Name, p.Status.Phase)
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		return fmt.Errorf("%d pods, none ready", len(list.Items))
	})
	t.Logf("Multus's pod deleted; a new one ready in %.1f s", time.Since(start).Seconds())
	survived("Multus's daemon's restart")

	// kubectl delete pod, after the restarts: nothing of it is left.
	gone := pods[len(pods)-1]
	port, qns := neighbourVeth(t, gone.ctr)
	records := func() int {
		recs, _ := filepath.Glob(filepath.Join(filepath.Dir(qinqNSPath(t)), "attachments", "*", "*"))
		return len(recs)
	}
	before := records()
	if err := cluster.kube.CoreV1().Pods("tenant-a").Delete(ctx, gone.name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, gone.name+" to be gone", func() error {
		_, err := cluster.kube.CoreV1().Pods("tenant-a").Get(ctx, gone.name, metav1.GetOptions{})
		if err == nil {
			return fmt.Errorf("still there")
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	})
	if _, err := testenv.LinkByName(qns, port.Name); err == nil {
		t.Errorf("%s, deleted after the restarts, left its port %s in qinq's namespace", gone.name, port.Name)
	}
	if after := records(); after != before-1 {
		t.Errorf("%s, deleted after the restarts: qinq holds %d records, had %d", gone.name, after, before)
	}
	if out := sandboxID(t, ctrd, "tenant-a", gone.name); out != "" {
		t.Errorf("%s, deleted after the restarts, left its sandbox %s ready", gone.name, out)
	}
	t.Logf("%s deleted after the restarts: its port %s and its record gone", gone.name, port.Name)
}
