//go:build kerneltest

package runtime

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// podman is podman 4 set up for the VM: the CNI network backend on the
// test's network directory (podman reads only *.conflist there), the vfs
// storage driver (overlay on the VM's overlay root fails), cgroupfs (no
// systemd), runc without pivot_root (as for containerd) and events in a
// file (no journald).
type podman struct {
	t       *testing.T
	environ []string
}

const containersConf = `[network]
network_backend = "cni"
cni_plugin_dirs = [%q]
network_config_dir = %q
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
runtime = "runc"
no_pivot_root = true
`

const storageConf = `[storage]
driver = "vfs"
runroot = %q
graphroot = %q
`

func newPodman(t *testing.T, netDir string) *podman {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"containers.conf": fmt.Sprintf(containersConf, binDir(t), netDir, filepath.Join(dir, "events.log")),
		"storage.conf":    fmt.Sprintf(storageConf, filepath.Join(dir, "run"), filepath.Join(dir, "storage")),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &podman{t: t, environ: append(append(os.Environ(),
		"CONTAINERS_CONF="+filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(dir, "storage.conf")),
		env.RuntimeEnv(logDir(t))...)}
}

func (p *podman) run(args ...string) string {
	p.t.Helper()
	cmd := exec.Command("podman", args...)
	cmd.Env = p.environ
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		p.t.Fatalf("podman %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return strings.TrimSpace(out.String())
}

// rootfs is a container root with busybox only: `podman run --rootfs`
// needs no image.
func rootfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static (scripts/vm/setup.sh installs it): %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPodman_CNIBackend: podman 4 runs a container on a qinq network (a
// conflist in its network directory): the container has qinq's link and
// address, the wire carries its tags, and `podman rm` leaves nothing.
func TestPodman_CNIBackend(t *testing.T) {
	n := newNetwork(t, "qinqnet", "pm0", 400, 40)
	w := newWire(t, n, "10.40.0.250")
	netDir := t.TempDir()
	n.write(t, netDir, "qinqnet.conflist", map[string]string{"subnet": "10.40.0.0/24", "rangeStart": "10.40.0.10", "rangeEnd": "10.40.0.20"})
	pm := newPodman(t, netDir)
	if nets := pm.run("network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(nets, "qinqnet qinq") {
		t.Fatalf("podman network ls does not list qinqnet (driver qinq):\n%s", nets)
	}
	world := n.world(t)
	before := world.Snapshot()

	id := pm.run("run", "-d", "--name", "tenant", "--network", "qinqnet", "--rootfs", rootfs(t), "/bin/busybox", "sleep", "600")
	netns := pm.run("inspect", "--format", "{{.NetworkSettings.SandboxKey}}", "tenant")
	const podIP = "10.40.0.10"
	if ip := pm.run("inspect", "--format", `{{(index .NetworkSettings.Networks "qinqnet").IPAddress}}`, "tenant"); ip != podIP {
		t.Errorf("podman inspect: IP %q on qinqnet, want qinq's %s", ip, podIP)
	}
	ctr := testenv.RuntimeContainer(t, id, netns)
	assertPodLink(t, ctr, n, podIP)
	w.assertWire(t, ctr, n)
	ctr.NS.Close()

	pm.run("rm", "-f", "-t", "0", "tenant")
	world.Unchanged(before)
	assertGone(t, netns)
	verbs := n.verbs(t, id)
	t.Logf("%s sent: %s", runtimeVersion(t, "podman", "--version"), verbList(verbs))
	assertVerbs(t, verbs, []string{"ADD (netns)", "DEL (netns)"})
}
