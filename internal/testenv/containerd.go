package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containerdConfig is containerd 1.6's config for the VM: the native
// snapshotter (overlayfs on the VM's overlay root fails), the pause image
// imported beforehand, and the test's CNI directories. runc pivots into the
// container's root: the VM's PID 1 switches root into a mount of its own
// (scripts/vm/init). Without pivot_root, runc moves the container's root
// onto /, and in a container with a Bidirectional volume (Multus's
// installer), whose / is rshared, that move reaches the node's /.
const containerdConfig = `version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`

// containerd2Config is the same node for containerd 2 (config version 3)
// with the runc beside it (scripts/k8s/build-kube.sh): what user-namespaced
// pods need. A pod with hostUsers: false gets its network namespace made
// inside its user namespace, and its image copied and chowned into its
// range (the native snapshotter has no idmapped layers).
const containerd2Config = `version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.erofs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = %q
[plugins."io.containerd.transfer.v1.local"]
  [[plugins."io.containerd.transfer.v1.local".unpack_config]]
    platform = "linux/amd64"
    snapshotter = "native"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "native"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "registry.k8s.io/pause:3.6"
[plugins."io.containerd.cri.v1.runtime"]
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      snapshotter = "native"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = %q
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%q]
    conf_dir = %q
`

// containerdRoot holds containerd's content and snapshots for the whole
// test process, like the VM's Open vSwitch: the pause image is imported
// once.
var containerdRoot struct {
	dir      string
	imported bool
}

// PauseImage is the OCI archive of registry.k8s.io/pause:3.6 that
// scripts/runtime/setup.sh builds (tools/image -pause).
func (e *Env) PauseImage() string { return filepath.Join(e.Root, "bin", "pause-image.tar") }

// Containerd is a containerd daemon (Debian's 1.6 or a containerd 2, the CRI
// plugin, runc) started for one test and stopped when it ends, driven with
// crictl as a kubelet drives the CRI.
type Containerd struct {
	t       testing.TB
	crictl  string
	ctr     string
	sock    string
	dir     string
	daemon  string   // the containerd binary
	conf    string   // its config file
	environ []string // its environment
	logFile *os.File
	cmd     *exec.Cmd // the running daemon
}

// StartContainerd starts containerd with the CNI binaries in binDir and the
// network configs in confDir; the plugins it runs get environ on top of
// the test's environment (e.g. QINQ_STATE_DIR).
func (e *Env) StartContainerd(t testing.TB, binDir, confDir string, environ ...string) *Containerd {
	t.Helper()
	return e.startContainerd(t, "", binDir, confDir, environ)
}

// StartContainerd2 is StartContainerd with the containerd 2, its shim, ctr
// and runc in runtimeDir instead of Debian's 1.6 and 1.1.
func (e *Env) StartContainerd2(t testing.TB, runtimeDir, binDir, confDir string, environ ...string) *Containerd {
	t.Helper()
	return e.startContainerd(t, runtimeDir, binDir, confDir, environ)
}

func (e *Env) startContainerd(t testing.TB, runtimeDir, binDir, confDir string, environ []string) *Containerd {
	t.Helper()
	if containerdRoot.dir == "" {
		containerdRoot.dir = mkdirTemp(t, "ctrd-root.")
	}
	dir := mkdirTemp(t, "ctrd.") // short: socket paths
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A pod with a user namespace of its own is root of an unmapped uid on
	// the node: runc, in it, must traverse the state and root to its rootfs.
	for _, d := range []string{containerdRoot.dir, dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	c := &Containerd{t: t, crictl: e.Tool("crictl"), ctr: "ctr", sock: filepath.Join(dir, "sock"), dir: dir}
	conf := filepath.Join(dir, "config.toml")
	daemon, path := "containerd", SbinPath()
	body := fmt.Sprintf(containerdConfig, containerdRoot.dir, filepath.Join(dir, "state"), c.sock, binDir, confDir)
	if runtimeDir != "" {
		// The shim and runc are looked up on PATH: runtimeDir's come first.
		daemon, c.ctr, path = filepath.Join(runtimeDir, "containerd"), filepath.Join(runtimeDir, "ctr"), runtimeDir+":"+path
		body = fmt.Sprintf(containerd2Config, containerdRoot.dir, filepath.Join(dir, "state"), c.sock,
			filepath.Join(runtimeDir, "runc"), binDir, confDir)
	}
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	c.daemon, c.conf, c.logFile = daemon, conf, logFile
	c.environ = append(os.Environ(), append(environ, "PATH="+path)...)
	t.Cleanup(c.stop) // before start: a start that fails the test still ends the daemon
	c.start()
	if !containerdRoot.imported {
		c.Import(e.PauseImage())
		containerdRoot.imported = true
	}
	return c
}

func mkdirTemp(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (c *Containerd) waitForSocket() {
	for range 600 {
		if _, err := os.Stat(c.sock); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("containerd did not listen on %s within 60 s:\n%s", c.sock, c.logTail())
}

// start starts the daemon and waits for its socket.
func (c *Containerd) start() {
	os.Remove(c.sock) // a socket left by the daemon before would answer nothing
	cmd := exec.Command(c.daemon, "--config", c.conf)
	cmd.Stdout, cmd.Stderr, cmd.Env = c.logFile, c.logFile, c.environ
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.cmd = cmd
	c.waitForSocket()
}

// terminate ends the daemon: SIGTERM, then SIGKILL. Its shims, and the
// containers they hold, keep running, as on a node.
func (c *Containerd) terminate() { Terminate(c.cmd, 30*time.Second) }

// Terminate ends a daemon the test started: SIGTERM, then SIGKILL after
// grace, and waits for it.
func Terminate(cmd *exec.Cmd, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}

// Restart stops containerd and starts it again on the same state, as a
// node's `systemctl restart containerd` does, and waits for its CRI.
func (c *Containerd) Restart() {
	c.t.Helper()
	c.terminate()
	c.start()
	for i := 0; ; i++ {
		_, err := c.Crictl("info")
		if err == nil {
			return
		}
		if i == 300 {
			c.t.Fatalf("containerd's CRI did not answer within 60 s of a restart: %v\n%s", err, c.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends the daemon and shows its log when the test failed.
func (c *Containerd) stop() {
	c.terminate()
	c.logFile.Close()
	if c.t.Failed() {
		c.t.Logf("containerd's log (tail):\n%s", c.logTail())
	}
}

func (c *Containerd) logTail() string {
	data, _ := os.ReadFile(filepath.Join(c.dir, "containerd.log"))
	lines := strings.Split(string(data), "\n")
	// Its errors first: a busy containerd's last lines are rarely the cause.
	var errs []string
	for _, l := range lines {
		if strings.Contains(l, "level=error") {
			errs = append(errs, l)
		}
	}
	return "errors:\n" + strings.Join(errs[max(0, len(errs)-20):], "\n") + "\nlast lines:\n" + strings.Join(lines[max(0, len(lines)-40):], "\n")
}

// Import imports an OCI image archive into the namespace the CRI uses.
func (c *Containerd) Import(archive string) {
	c.t.Helper()
	out, err := exec.Command(c.ctr, "--address", c.sock, "-n", "k8s.io", "images", "import", "--snapshotter", "native", archive).CombinedOutput()
	if err != nil {
		c.t.Fatalf("ctr images import %s: %v\n%s", archive, err, out)
	}
}

// Endpoint is the CRI endpoint a kubelet is given: unix://<socket>.
func (c *Containerd) Endpoint() string { return "unix://" + c.sock }

// Crictl runs crictl against this containerd: its stdout, or an error
// with its stderr.
func (c *Containerd) Crictl(args ...string) (string, error) {
	return c.CrictlStdin(nil, args...)
}

// CrictlStdin is Crictl with stdin (`crictl exec -i`).
func (c *Containerd) CrictlStdin(stdin []byte, args ...string) (string, error) {
	all := append([]string{"--runtime-endpoint", "unix://" + c.sock, "--image-endpoint", "unix://" + c.sock, "--timeout", "180s"}, args...)
	cmd := exec.Command(c.crictl, all...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("crictl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// Must is Crictl failing the test on an error.
func (c *Containerd) Must(args ...string) string {
	c.t.Helper()
	out, err := c.Crictl(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// PodSandboxConfig writes the PodSandboxConfig a kubelet would send for a
// pod (annotations may be nil) and returns its path, for `crictl runp`.
func PodSandboxConfig(t testing.TB, namespace, name, uid string, annotations map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": namespace, "uid": uid, "attempt": 0},
		"log_directory": dir, "linux": map[string]any{},
	}
	if annotations != nil {
		cfg["annotations"] = annotations
	}
	data, _ := json.Marshal(cfg)
	p := filepath.Join(dir, "pod.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Sandbox is what `crictl inspectp` says of a pod.
type Sandbox struct {
	Status struct {
		ID      string `json:"id"`
		State   string `json:"state"`
		Network struct {
			IP string `json:"ip"`
		} `json:"network"`
	} `json:"status"`
	Info struct {
		CNIResult struct {
			Interfaces map[string]struct {
				IPConfigs []struct{ IP string }
				Mac       string
			}
		} `json:"cniResult"`
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct{ Type, Path string } `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	} `json:"info"`
}

// Inspect is `crictl inspectp id`, decoded.
func (c *Containerd) Inspect(id string) Sandbox {
	c.t.Helper()
	var s Sandbox
	out := c.Must("inspectp", id)
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		c.t.Fatalf("crictl inspectp: %v\n%s", err, out)
	}
	return s
}

// NetNS is the path of the pod's network namespace.
func (s Sandbox) NetNS() string {
	for _, n := range s.Info.RuntimeSpec.Linux.Namespaces {
		if n.Type == "network" {
			return n.Path
		}
	}
	return ""
}

// SbinPath is $PATH with the system directories appended: Debian puts runc
// in /usr/sbin, which a non-login PATH may lack.
func SbinPath() string {
	return os.Getenv("PATH") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// BinDir makes a CNI binary directory (what a runtime takes: one) of
// symlinks, name to path, removed when the test ends.
func BinDir(t testing.TB, links map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
