//go:build kerneltest

package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/qinq-cni/qinq/internal/manifests"
	"github.com/qinq-cni/qinq/internal/testenv"
)

const multusImage = "localhost/multus-cni:v4.2.4-thick" // scripts/test-cluster.sh builds it

// TestKubernetes_MultusAndQinqFromTheirManifests: the node runs what a user
// installs. Multus thick from its own multus-daemonset-thick.yml (only its
// image changed, to the one built here), qinq from `kubectl apply -k
// deploy/` (rendered by kustomize's library, created through client-go)
// with the image `make image` made: the kubelet runs both DaemonSets; the
// installer, under its own security context, writes qinq and qinq-ovs into
// the node's /opt/cni/bin and the policy into /etc/cni/qinq; a change of the
// policy's ConfigMap reaches the node. Then pods through the kubelet,
// containerd, Multus and qinq: one in the namespace the changed policy
// grants is Running with net1 on the wire and Multus's network-status; one
// in a namespace the policy does not name and one in deploy/'s tenant-a
// without a user namespace stay in ContainerCreating with qinq's 102 in
// their FailedCreatePodSandBox events.
func TestKubernetes_MultusAndQinqFromTheirManifests(t *testing.T) {
	ctx := context.Background()
	host, far := wired(t)
	peer := farPeer(t, far, 190, 12, "10.190.12.9/24")

	// The node as a cluster's install leaves it: the runtime's CNI
	// directories are /opt/cni/bin and /etc/cni/net.d, where both
	// manifests write, and the cluster network (ptp, host-local) is there.
	clusterIPAM := t.TempDir()
	for _, d := range []string{"/opt/cni/bin", "/etc/cni/net.d", "/var/lib/cni/multus", "/var/log/qinq"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"ptp", "host-local", "loopback", "static"} {
		copyFile(t, env.Tool(name), filepath.Join("/opt/cni/bin", name))
	}
	clusterNet := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "cluster", "plugins": [{"type": "ptp",
	  "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": "10.99.0.0/24"}]]}}]}`, clusterIPAM)
	if err := os.WriteFile("/etc/cni/net.d/10-cluster.conflist", []byte(clusterNet), 0o644); err != nil {
		t.Fatal(err)
	}
	// After the node's pods are gone (cleanups run last first): their DELs
	// need the plugins, whereabouts' included. The kubelet has stopped by
	// then: no installer the DaemonSet restarts writes /etc/cni/qinq again
	// (one without policy.json refuses every ADD of the next test's node).
	t.Cleanup(func() {
		for _, f := range []string{qinqLog, "/etc/cni/net.d/10-cluster.conflist", "/etc/cni/net.d/00-multus.conf", "/opt/cni/bin/qinq", "/opt/cni/bin/qinq-ovs", "/opt/cni/bin/multus-shim",
			"/opt/cni/bin/whereabouts", "/etc/cni/net.d/whereabouts.d", "/etc/cni/qinq"} {
			os.RemoveAll(f)
		}
	})
	serviceDNAT(t)
	if _, err := os.Stat("/etc/cni/qinq"); err == nil {
		t.Fatal("/etc/cni/qinq exists before qinq's installer ran: the node is not fresh")
	}
	ctrd, kubelet := startKubelet(t, "/opt/cni/bin", "/etc/cni/net.d")
	// Before the kubelet stops: every pod goes (the installer would write the
	// policy again), then what the installers put on the node, which the
	// other tests' nodes have not.
	t.Cleanup(func() {
		if _, err := ctrd.Crictl("rmp", "--all", "--force"); err != nil {
			t.Errorf("remove the node's pods: %v", err)
		}
		// A /etc/cni/qinq without policy.json refuses every ADD.
		os.RemoveAll("/etc/cni/qinq")
	})
	ctrd.Import(filepath.Join(env.Root, "bin", "qinq-image.tar"))
	ctrd.Import(filepath.Join(env.Root, "bin", "multus-image.tar"))
	ctrd.Import(filepath.Join(env.Root, "bin", "nsattack-image.tar"))

	// Multus thick, its manifest whole, the image swapped.
	ds, _ := applyMultus(t)
	for _, cs := range [][]corev1.Container{ds.Spec.Template.Spec.Containers, ds.Spec.Template.Spec.InitContainers} {
		for i := range cs {
			cs[i].Image = multusImage
		}
	}
	// The daemon's limits (100m, 50Mi) are too small under TCG: during three
	// pods' ADDs at once its container restarted three times (the requests
	// in flight failed with EOF). Only the limits change.
	daemon := &ds.Spec.Template.Spec.Containers[0]
	daemon.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")}
	if _, err := cluster.kube.AppsV1().DaemonSets("kube-system").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Multus's DaemonSet: %v", err)
	}
	t.Cleanup(func() {
		cluster.kube.AppsV1().DaemonSets("kube-system").Delete(context.Background(), ds.Name, metav1.DeleteOptions{})
	})
	// qinq: kubectl apply -k deploy/.
	for _, u := range render(t, filepath.Join(env.Root, "deploy")) {
		create(t, u)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the DaemonSets' container logs:\n%s", podLogs(t, "kube-system"))
		}
	})
	waitDaemonSet(t, ds.Name)
	waitDaemonSet(t, "qinq-install")
	for _, f := range []string{"/opt/cni/bin/qinq", "/opt/cni/bin/qinq-ovs", "/opt/cni/bin/multus-shim", "/etc/cni/qinq/policy.json", "/etc/cni/qinq/node.json", "/etc/cni/net.d/00-multus.conf"} {
		waitFor(t, time.Minute, f+" on the node", func() error { _, err := os.Stat(f); return err })
	}
	if err := exec.Command("cmp", "/opt/cni/bin/qinq", env.Plugin).Run(); err != nil {
		t.Errorf("the installer's /opt/cni/bin/qinq is not bin/qinq: %v", err)
	}

	// The policy's ConfigMap changes: a namespace of the default link.
	grantTenantC(t)
	waitFor(t, 3*time.Minute, "the changed policy on the node", func() error {
		b, err := os.ReadFile("/etc/cni/qinq/policy.json")
		if err == nil && !bytes.Contains(b, []byte(`"tenant-c"`)) {
			err = errors.New("policy.json has no tenant-c yet")
		}
		return err
	})

	tenantC := podVLAN{190, 12, "02:00:5e:be:0c:0c", "10.190.12.12"}
	tenantPodIn(t, "tenant-c", "tenant-c-pod", tenantC, false)
	ctr := waitRunning(t, ctrd, "tenant-c", "tenant-c-pod")
	onTheWire(t, far, ctr, peer, "10.190.12.9", 190, 12)
	assertNetworkStatus(t, &tenantPod{name: "tenant-c-pod", namespace: "tenant-c", mac: tenantC.mac, ip: tenantC.ip})

	// deploy/networks in tenant-a, whose pods must have a user namespace of
	// their own: three pods picking their VLANs, MAC and address, and the
	// Deployment on whereabouts.
	installWhereabouts(t)
	tenantNamespace(t, "tenant-a")
	applyNetworks(t, "tenant-a")
	t.Log("three annotated pods (hostUsers: false)")
	pods := annotatedPods(t, ctrd, far)
	t.Log("the Deployment of 3 replicas on whereabouts (hostUsers: false)")
	deploymentOnWhereabouts(t, ctrd, far)

	// The netns-id attack from a pod the kubelet made: refused with a user
	// namespace of its own; the control, in the host's, bites.
	cust := farPeer(t, far, 200, 20, custIP+"/24") // the other customer the attacker aims at
	t.Log("the netns-id attack from a NET_ADMIN pod with hostUsers: false")
	userNamespacedAttack(t, ctrd, host, far, pods[1], cust)
	t.Log("control: the same attack from a NET_ADMIN pod with hostUsers: true (tenant-c)")
	hostUsersAttack(t, ctrd, host, far, ctr, cust)

	t.Log("restarts: the kubelet, containerd, Multus's pod")
	restarts(t, ctrd, kubelet, far, pods, ds)

	// Refused by the policy: the pod stays, its sandbox never gets a network.
	// tenant-a's is the attacker pod with hostUsers: true, on VLANs tenant-a
	// is granted: only the missing user namespace refuses it.
	refused := []struct {
		ns, why string
		v       podVLAN
		mods    []func(*corev1.Pod)
	}{
		{"tenant-x", `"tenant-x" has no entry`, tenantC, nil}, // the policy does not name it
		{"tenant-a", "policy: namespaces.tenant-a.userNamespace: ", podVLAN{150, 12, "02:00:5e:96:0c:0e", "10.150.12.14"},
			[]func(*corev1.Pod){asAttacker}}, // deploy/'s tenant-a requires a user namespace
	}
	for _, c := range refused {
		p := tenantPodIn(t, c.ns, c.ns+"-pod", c.v, false, c.mods...)
		waitFor(t, 3*time.Minute, c.ns+"-pod's FailedCreatePodSandBox with qinq's 102", func() error {
			ev := events(t, c.ns, p.Name)
			if !strings.Contains(ev, "FailedCreatePodSandBox") || !strings.Contains(ev, c.why) {
				return fmt.Errorf("events: %s", ev)
			}
			i := strings.Index(ev, c.why)
			t.Logf("%s-pod: FailedCreatePodSandBox: …%s", c.ns, ev[i:min(len(ev), i+200)])
			return nil
		})
		if p, _ := cluster.kube.CoreV1().Pods(c.ns).Get(ctx, p.Name, metav1.GetOptions{}); p.Status.Phase != corev1.PodPending {
			t.Errorf("%s-pod is %s, want Pending (ContainerCreating)", c.ns, p.Status.Phase)
		}
	}

	// kubectl delete namespace: nothing of qinq's is left on the node, and
	// whereabouts gets back the address of the Deployment's last replica.
	if held := pooled(t); len(held) != 1 {
		t.Errorf("before the namespaces' deletion whereabouts holds %v, want the Deployment's last replica's address", held)
	}
	for _, ns := range []string{"tenant-c", "tenant-x", "tenant-a"} {
		if err := cluster.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A namespace is gone once the kubelet has stopped its pods' sandboxes
	// (CNI DEL) and deleted them.
	waitFor(t, 4*time.Minute, "the three namespaces to be gone", func() error {
		for _, ns := range []string{"tenant-c", "tenant-x", "tenant-a"} {
			if _, err := cluster.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("namespace %s: %v", ns, err)
			}
		}
		return nil
	})
	if left := qinqNSLinks(t, qinqNSPath(t)); len(left) != 0 {
		t.Errorf("the namespaces' deletion left %v in qinq's namespace", left)
	}
	if recs, _ := filepath.Glob(filepath.Join(filepath.Dir(qinqNSPath(t)), "attachments", "*", "*")); len(recs) != 0 {
		t.Errorf("the namespaces' deletion left qinq's records %v", recs)
	}
	if vlans := testenv.VLANs(t, host.NS); len(vlans) != 0 {
		t.Errorf("the namespaces' deletion left VLAN links on the node: %v", vlans)
	}
	if left := allocations(t); len(left) != 0 {
		t.Errorf("the namespaces' deletion left whereabouts' allocations %v", left)
	}
	logVerbs(t)
}

// serviceDNAT makes the kubernetes Service (10.96.0.1:443) reach the API
// server on the host from the node: what kube-proxy would do for a pod in
// the node's network namespace (Multus's daemon, hostNetwork).
func serviceDNAT(t *testing.T) {
	t.Helper()
	port := cluster.server[strings.LastIndex(cluster.server, ":")+1:]
	rule := []string{"OUTPUT", "-d", "10.96.0.1/32", "-p", "tcp", "--dport", "443", "-j", "DNAT", "--to-destination", "10.0.2.2:" + port}
	if out, err := exec.Command("/usr/sbin/iptables-legacy", append([]string{"-t", "nat", "-A"}, rule...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables: %v: %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("/usr/sbin/iptables-legacy", append([]string{"-t", "nat", "-D"}, rule...)...).Run()
	})
}

// render is `kubectl apply -k dir` up to the API: kustomize's library.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	y, err := manifests.Render(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return objects(t, "kustomize build "+dir, y)
}

// create creates u where its kind goes, deleting it when the test ends.
func create(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	gvr, ok := resources[u.GetKind()]
	if !ok {
		t.Fatalf("deploy/ has a %s: the test does not know where it goes", u.GetKind())
	}
	r := cluster.dyn.Resource(gvr).Namespace(u.GetNamespace())
	if _, err := r.Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	t.Cleanup(func() { r.Delete(context.Background(), u.GetName(), metav1.DeleteOptions{}) })
}

// waitDaemonSet waits for the DaemonSet's pod on the node to be ready.
func waitDaemonSet(t *testing.T, name string) {
	t.Helper()
	start := time.Now()
	waitFor(t, 4*time.Minute, "DaemonSet "+name+" ready on the node", func() error {
		ds, err := cluster.kube.AppsV1().DaemonSets("kube-system").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && ds.Status.NumberReady != 1 {
			pods, _ := cluster.kube.CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{})
			var st []string
			for _, p := range pods.Items {
				st = append(st, p.Name+": "+string(p.Status.Phase)+" "+events(t, "kube-system", p.Name))
			}
			err = fmt.Errorf("%d ready; pods: %s", ds.Status.NumberReady, strings.Join(st, "; "))
		}
		return err
	})
	t.Logf("DaemonSet %s ready in %.1f s", name, time.Since(start).Seconds())
}

// grantTenantC adds tenant-c to deploy/'s policy ConfigMap: S-VLANs of the
// tenants NAD that tenant-a's grant leaves out (a VLAN is a broadcast
// domain: tenants never share one), the default container link, no user
// namespace required.
func grantTenantC(t *testing.T) {
	t.Helper()
	cms := cluster.kube.CoreV1().ConfigMaps("kube-system")
	cm, err := cms.Get(context.Background(), "qinq-policy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var policy map[string]any
	if err := json.Unmarshal([]byte(cm.Data["policy.json"]), &policy); err != nil {
		t.Fatal(err)
	}
	policy["namespaces"].(map[string]any)["tenant-c"] = map[string]any{
		"masters": []string{"eth1"}, "sVlans": []string{"190-199"}, "cVlans": []string{"10-20"},
		"containerLinks": []string{"bridge"}, "mac": true,
	}
	b, _ := json.MarshalIndent(policy, "", "  ")
	cm.Data["policy.json"] = string(b)
	if _, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// events are the events of a pod, "Reason: message" each.
func events(t *testing.T, ns, pod string) string {
	t.Helper()
	list, err := cluster.kube.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return strings.Join(out, " | ")
}

// podLogs is the tail of every container log the kubelet wrote for pods of
// namespace ns (/var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log).
func podLogs(t *testing.T, ns string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("/var/log/pods", ns+"_*", "*", "*.log"))
	var out strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		fmt.Fprintf(&out, "--- %s\n%s\n", f, strings.Join(lines[max(0, len(lines)-25):], "\n"))
	}
	return out.String()
}
