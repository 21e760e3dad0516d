//go:build kerneltest

package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// multusManifest is Multus's own multus-daemonset-thick.yml, as the module
// proxy serves v4.2.4 (QINQ_MULTUS_DIR: scripts/test-cluster.sh sets it).
func multusManifest(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	dir := os.Getenv("QINQ_MULTUS_DIR")
	if dir == "" {
		t.Fatal("QINQ_MULTUS_DIR is not set: the Multus module whose manifest the test applies")
	}
	data, err := os.ReadFile(filepath.Join(dir, "deployments", "multus-daemonset-thick.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return objects(t, "multus-daemonset-thick.yml", data)
}

// objects are the documents of a multi-document YAML file, decoded.
func objects(t *testing.T, name string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(u.Object) > 0 {
			out = append(out, &u)
		}
	}
}

// resources maps the manifest's kinds to where they are created: no
// discovery, no kubectl.
var resources = map[string]schema.GroupVersionResource{
	"CustomResourceDefinition": {Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"},
	"ClusterRole":              {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"ClusterRoleBinding":       {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	"ServiceAccount":           {Version: "v1", Resource: "serviceaccounts"},
	"ConfigMap":                {Version: "v1", Resource: "configmaps"},
	"DaemonSet":                {Group: "apps", Version: "v1", Resource: "daemonsets"},
}

// applyMultus creates the manifest's objects, all but the DaemonSet (there
// is no kubelet: the test runs its container as the kubelet would, from its
// spec), and returns that DaemonSet and the daemon's config.
func applyMultus(t *testing.T) (*appsv1.DaemonSet, string) {
	t.Helper()
	ctx := context.Background()
	var ds *appsv1.DaemonSet
	var daemonConfig string
	for _, u := range multusManifest(t) {
		switch kind := u.GetKind(); kind {
		case "DaemonSet":
			ds = new(appsv1.DaemonSet)
			b, _ := json.Marshal(u.Object)
			if err := json.Unmarshal(b, ds); err != nil {
				t.Fatal(err)
			}
			continue
		case "ConfigMap":
			daemonConfig, _, _ = unstructured.NestedString(u.Object, "data", "daemon-config.json")
		}
		gvr, ok := resources[u.GetKind()]
		if !ok {
			t.Fatalf("multus-daemonset-thick.yml has a %s: the test does not know where it goes", u.GetKind())
		}
		r := cluster.dyn.Resource(gvr)
		var err error
		if ns := u.GetNamespace(); ns != "" {
			_, err = r.Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
		} else {
			_, err = r.Create(ctx, u, metav1.CreateOptions{})
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	if ds == nil || daemonConfig == "" {
		t.Fatal("multus-daemonset-thick.yml: no DaemonSet or no daemon-config.json")
	}
	// The CRD is served once it is Established.
	nads := cluster.dyn.Resource(nadv1.SchemeGroupVersion.WithResource("network-attachment-definitions"))
	waitFor(t, 30*time.Second, "the NetworkAttachmentDefinition CRD to be served", func() error {
		_, err := nads.Namespace("default").List(ctx, metav1.ListOptions{})
		return err
	})
	return ds, daemonConfig
}

func waitFor(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %v", d, what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// multusDaemon is the manifest's kube-multus container, run as the kubelet
// and the runtime would run it on this node: its own mount namespace with a
// root of its own, every volumeMount of the DaemonSet bound from the node
// with the propagation it asks for (HostToContainer: rslave; none:
// rprivate), the node's PID namespace (hostPID) and network namespace
// (hostNetwork), its ServiceAccount's token, and the in-cluster environment.
type multusDaemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  string // the daemon's stdout and stderr
	done chan struct{}
}

const nodeName = "qinq-vm"

func startMultusDaemon(t *testing.T, ds *appsv1.DaemonSet, daemonConfig string) *multusDaemon {
	t.Helper()
	pod := ds.Spec.Template.Spec
	if !pod.HostPID || !pod.HostNetwork || len(pod.Containers) != 1 {
		t.Fatalf("the manifest's DaemonSet changed: hostPID %v, hostNetwork %v, %d containers", pod.HostPID, pod.HostNetwork, len(pod.Containers))
	}
	ctr := pod.Containers[0]
	hostPaths := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	// What the runtime puts in the container's own root: the image's binary,
	// the ConfigMap, the ServiceAccount's token, /proc of the node's PID
	// namespace, the node's /dev (privileged).
	own := t.TempDir()
	files := map[string][]byte{
		"daemon-config.json": []byte(daemonConfig),
		"token":              cluster.file(t, "multus.token"),
		"ca.crt":             cluster.file(t, "ca.crt"),
		"namespace":          []byte("kube-system"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(own, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var s strings.Builder
	// The image's /var/run is /run, as in Multus's (and most) images: the
	// runtime's netns paths (/var/run/netns/…) resolve to the volume at /run/netns.
	s.WriteString("set -e\nr=$1\nmount -t tmpfs container \"$r\"\nmkdir -p \"$r/var\" \"$r/run\"\nln -s ../run \"$r/var/run\"\n")
	bind := func(src, dst, propagation string) {
		fmt.Fprintf(&s, "mkdir -p \"$r%s\"\nmount --rbind %q \"$r%s\"\nmount --make-%s \"$r%s\"\n", dst, src, dst, propagation, dst)
	}
	for _, m := range ctr.VolumeMounts {
		src, ok := hostPaths[m.Name]
		switch {
		case ok:
			if err := os.MkdirAll(src, 0o755); err != nil { // DirectoryOrCreate, as the kubelet does
				t.Fatal(err)
			}
			propagation := "rprivate"
			if m.MountPropagation != nil && *m.MountPropagation == corev1.MountPropagationHostToContainer {
				propagation = "rslave"
			}
			bind(src, m.MountPath, propagation)
		case m.Name == "multus-daemon-config":
			fmt.Fprintf(&s, "mkdir -p \"$r%s\"\ncp %q \"$r%s/daemon-config.json\"\n", m.MountPath, filepath.Join(own, "daemon-config.json"), m.MountPath)
		default:
			t.Fatalf("the manifest's volume %q is neither a hostPath nor the daemon's ConfigMap", m.Name)
		}
	}
	sa := "/var/run/secrets/kubernetes.io/serviceaccount"
	fmt.Fprintf(&s, "mkdir -p \"$r%s\"\n", sa)
	for _, f := range []string{"token", "ca.crt", "namespace"} {
		fmt.Fprintf(&s, "cp %q \"$r%s/%s\"\n", filepath.Join(own, f), sa, f)
	}
	daemon := ctr.Command[0]
	fmt.Fprintf(&s, "mkdir -p \"$r%s\" \"$r/proc\" \"$r/dev\" \"$r/tmp\" \"$r/etc\"\n", filepath.Dir(daemon))
	fmt.Fprintf(&s, "cp %q \"$r%s\"\n", env.Tool("multus-daemon"), daemon)
	s.WriteString("echo 'root:x:0:0:root:/root:/bin/sh' >\"$r/etc/passwd\"\n")
	s.WriteString("mount -t proc proc \"$r/proc\"\nmount --rbind /dev \"$r/dev\"\n")
	fmt.Fprintf(&s, "exec chroot \"$r\" %s\n", strings.Join(append([]string{daemon}, ctr.Args...), " "))

	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "slave", "/bin/sh", "-c", s.String(), "multus-container", root)
	host, port, _ := strings.Cut(strings.TrimPrefix(cluster.server, "https://"), ":")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "MULTUS_NODE_NAME=" + nodeName,
		"KUBERNETES_SERVICE_HOST=" + host, "KUBERNETES_SERVICE_PORT=" + port}
	d := &multusDaemon{t: t, cmd: cmd, log: filepath.Join(own, "daemon.log"), done: make(chan struct{})}
	out, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// No Pdeathsig: it fires when the OS thread that started the daemon
	// exits, and the test's namespace switches end locked threads.
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			t.Logf("multus-daemon's output:\n%s", d.output())
		}
	})
	// Ready when its socket answers: a socket file the last daemon left
	// behind refuses connections.
	health := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return new(net.Dialer).DialContext(ctx, "unix", "/run/multus/multus.sock")
		}}}
	waitFor(t, 90*time.Second, "multus-daemon's socket to answer and 00-multus.conf", func() error {
		select {
		case <-d.done:
			return fmt.Errorf("multus-daemon exited: %s", d.output())
		default:
		}
		resp, err := health.Get("http://multus/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		_, err = os.Stat("/etc/cni/net.d/00-multus.conf")
		return err
	})
	return d
}

func (d *multusDaemon) output() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// kill is the kubelet killing the daemon's pod: SIGKILL, the container's
// mount namespace gone with it.
func (d *multusDaemon) kill() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Kill()
	<-d.done
}

// readYAML decodes one deploy/ file into obj, strictly.
func readYAML(t *testing.T, path string, obj any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.Root, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
