//go:build kerneltest

package kubernetes

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// kubeletConfig is the node's kubelet in the VM: cgroupfs (no systemd in
// the VM), swap tolerated, containerd's CRI, no kubelet server auth (the API
// server never calls it: it cannot reach the VM), and no local-storage
// accounting (the VM's root is an overlay on tmpfs).
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: %q
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
localStorageCapacityIsolation: false
evictionHard: {memory.available: "1Mi"}
imageGCHighThresholdPercent: 100
resolvConf: ""
registerNode: true
nodeStatusUpdateFrequency: 4s
syncFrequency: 5s
`

const syncFrequency = 5 * time.Second // kubeletConfig's

// kubeletKubeconfig: the node's identity, system:node:qinq-vm (the Node
// authorizer's), its certificate signed by the cluster CA.
const kubeletKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: node, user: {client-certificate: %q, client-key: %q}}]
contexts: [{name: test, context: {cluster: test, user: node}}]
current-context: test
`

// startKubelet starts containerd (v2.2.9 with runc v1.3.6, built with the
// control plane: what hostUsers: false needs; the CNI config in confDir,
// binaries in binDir) and a kubelet v1.34.4 as node qinq-vm, and waits for
// the Node to be Ready.
func startKubelet(t *testing.T, binDir, confDir string) (*testenv.Containerd, *kubelet) {
	t.Helper()
	// The kubelet puts pods in cgroups of their QoS class: every controller
	// enabled at the root. Its eviction manager needs filesystem stats: a
	// tmpfs of its own, not the VM's overlay.
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+cpu +cpuset +memory +pids +io"), 0o644); err != nil {
		t.Fatalf("enable the cgroup controllers: %v", err)
	}
	if err := os.MkdirAll("/var/lib/kubelet", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("kubelet", "/var/lib/kubelet", "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount("/var/lib/kubelet", syscall.MNT_DETACH) })
	bins := strings.TrimSpace(string(cluster.file(t, "bin")))
	ctrd := env.StartContainerd2(t, bins, binDir, confDir)

	dir := t.TempDir()
	conf, kubeconfig := filepath.Join(dir, "kubelet.yaml"), filepath.Join(dir, "kubelet.kubeconfig")
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(conf, fmt.Sprintf(kubeletConfig, ctrd.Endpoint()))
	write(kubeconfig, fmt.Sprintf(kubeletKubeconfig, cluster.server, filepath.Join(cluster.dir, "ca.crt"),
		filepath.Join(cluster.dir, "kubelet.crt"), filepath.Join(cluster.dir, "kubelet.key")))
	logFile, err := os.Create(filepath.Join(dir, "kubelet.log"))
	if err != nil {
		t.Fatal(err)
	}
	k := &kubelet{t: t, log: logFile, args: []string{filepath.Join(bins, "kubelet"), "--config", conf, "--kubeconfig", kubeconfig,
		"--hostname-override", nodeName, "--node-ip", "10.0.2.15", "--v", "1"}}
	k.start()
	t.Cleanup(func() {
		k.stop()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			lines := strings.Split(string(b), "\n")
			t.Logf("kubelet's log (tail):\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
		}
		cluster.kube.CoreV1().Nodes().Delete(context.Background(), nodeName, metav1.DeleteOptions{})
	})
	start := time.Now()
	waitFor(t, 3*time.Minute, "node "+nodeName+" to be Ready", func() error {
		n, err := cluster.kube.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("not Ready: %v", n.Status.Conditions)
	})
	t.Logf("node %s Ready %.1f s after the kubelet started", nodeName, time.Since(start).Seconds())
	return ctrd, k
}

// kubelet is the node's kubelet process.
type kubelet struct {
	t    *testing.T
	log  *os.File
	args []string
	cmd  *exec.Cmd
}

func (k *kubelet) start() {
	cmd := exec.Command(k.args[0], k.args[1:]...)
	cmd.Stdout, cmd.Stderr = k.log, k.log
	cmd.Env = append(os.Environ(), "PATH="+testenv.SbinPath())
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	k.cmd = cmd
}

// stop ends the kubelet: SIGTERM, then SIGKILL. Its pods keep running.
func (k *kubelet) stop() { testenv.Terminate(k.cmd, 20*time.Second) }

// restart is `systemctl restart kubelet`: the same kubelet, started again.
func (k *kubelet) restart() {
	k.stop()
	k.start()
}

// settled waits until the kubelet has run for two sync periods since the
// first renewal of its node lease after what: time to act on every pod.
// Only the kubelet's own timestamps are compared (the VM's clock is not
// the host's).
func (k *kubelet) settled(t *testing.T, what string) {
	t.Helper()
	leases := cluster.kube.CoordinationV1().Leases("kube-node-lease")
	renewed := func() time.Time {
		l, err := leases.Get(context.Background(), nodeName, metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil {
			return time.Time{}
		}
		return l.Spec.RenewTime.Time
	}
	before := renewed()
	var first time.Time
	waitFor(t, 2*time.Minute, "the kubelet to renew its lease twice after "+what, func() error {
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", k.cmd.Process.Pid)); err != nil ||
			strings.HasPrefix(string(st[strings.LastIndexByte(string(st), ')')+2:]), "Z") {
			data, _ := os.ReadFile(k.log.Name())
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			t.Fatalf("the kubelet exited after %s; its log ends:\n%s", what, strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
		r := renewed()
		if first.IsZero() && r.After(before) {
			first = r
		}
		if first.IsZero() || r.Sub(first) < 2*syncFrequency {
			return fmt.Errorf("lease renewed at %v (before %v)", r, before)
		}
		return nil
	})
}

// TestKubelet_PodOnQinqRunsAndIsDeletedCleanly: qinq (default container
// link) as the node's only network, a kubelet v1.34.4 with containerd as the
// node. A Pod created through the API server is scheduled by kube-scheduler
// to the node, made by the kubelet through containerd and qinq, Running
// with qinq's address; its frames reach a far node as 0x88a8/170, 0x8100/17.
// `kubectl delete` (through client-go) leaves nothing: no link, record or
// IPAM allocation; qinq logs the verbs the kubelet's runtime sent.
func TestKubelet_PodOnQinqRunsAndIsDeletedCleanly(t *testing.T) {
	ctx := context.Background()
	_, far := wired(t)
	peer := farPeer(t, far, 170, 17, "10.170.17.200/24")

	if err := os.MkdirAll("/var/log/qinq", 0o755); err != nil {
		t.Fatal(err)
	}
	qinqLog := "/var/log/qinq/kubelet.log"
	ipamDir := t.TempDir()
	confDir := t.TempDir()
	conf := testenv.QinQ("1.0.0", "qinq-node").OnMaster("eth1", 170, 17).
		WithHostLocal(ipamDir, "10.170.17.0/24").With("logFile", qinqLog, "logLevel", "debug")
	if err := os.WriteFile(filepath.Join(confDir, "10-qinq.conflist"), conf.AsList(t).Bytes, 0o644); err != nil {
		t.Fatal(err)
	}
	bins := testenv.BinDir(t, map[string]string{"qinq": env.Plugin, "host-local": env.Tool("host-local"), "loopback": env.Tool("loopback")})
	world := testenv.NewWorld(t, nil, testenv.StateDir("/run/qinq"), testenv.HostLocalStore(ipamDir))
	before := world.Snapshot()
	ctrd, _ := startKubelet(t, bins, confDir)

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "on-qinq", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.6", ImagePullPolicy: corev1.PullNever}}}}
	start := time.Now()
	if _, err := cluster.kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var running *corev1.Pod
	waitFor(t, 3*time.Minute, "the pod to be Running", func() error {
		p, err := cluster.kube.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %s, node %q, %v", p.Status.Phase, p.Spec.NodeName, p.Status.Conditions)
		}
		running = p
		return nil
	})
	t.Logf("pod Running %.1f s after it was created, on %s with %s", time.Since(start).Seconds(), running.Spec.NodeName, running.Status.PodIP)
	if running.Spec.NodeName != nodeName || !strings.HasPrefix(running.Status.PodIP, "10.170.17.") {
		t.Fatalf("pod on %q with IP %q; want node %s and qinq's 10.170.17.x", running.Spec.NodeName, running.Status.PodIP, nodeName)
	}
	id := ctrd.Must("pods", "--name", pod.Name, "-q")
	sb := ctrd.Inspect(id)
	ctr := testenv.RuntimeContainer(t, id, sb.NetNS())
	stop := far.Capture("eth1")
	if err := testenv.Echo(t, ctr, peer, "10.170.17.200", 1400); err != nil {
		t.Fatalf("the kubelet's pod -> the far node's peer: %v", err)
	}
	testenv.AssertTags(t, testenv.IPv4Frames(stop()), testenv.Tag8021AD(170), testenv.Tag8021Q(17))
	ctr.NS.Close()

	if err := cluster.kube.CoreV1().Pods("default").Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "the pod to be gone from the API and the runtime", func() error {
		if _, err := cluster.kube.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{}); err == nil {
			return fmt.Errorf("pod still in the API")
		}
		if out, _ := ctrd.Crictl("pods", "-q"); out != "" {
			return fmt.Errorf("sandboxes left: %s", out)
		}
		return nil
	})
	world.Unchanged(before)
	if left := qinqNSLinks(t, qinqNSPath(t)); len(left) != 0 {
		t.Errorf("deleting the pod left %v in qinq's namespace", left)
	}
	verbs := testenv.LoggedVerbs(t, qinqLog, id)
	t.Logf("kubelet -> containerd -> qinq: %s", strings.Join(verbs, ", "))
	if len(verbs) < 2 || verbs[0] != "ADD ok" || slices.ContainsFunc(verbs[1:], func(v string) bool { return v != "DEL ok" }) {
		t.Errorf("qinq logged %v, want ADD ok then DELs ok", verbs)
	}
}
