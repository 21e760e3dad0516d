//go:build kerneltest

// Package runtime runs qinq under real container runtimes inside the test
// VM, as their CNI plugin: Debian bookworm's containerd 1.6 (its CRI,
// driven by crictl as a kubelet drives it, runc underneath) and podman 4
// with its CNI backend. Both are built with libcni 1.1.2, so the
// configurations are at cniVersion 1.0.0 with cniVersions listing 1.1.0.
// The pod's master is a veth wire from the VM's own namespace (where the
// runtime runs its plugins) to a far node with a qinq peer on the same
// VLANs: the frames are captured there. scripts/runtime/setup.sh installs
// the runtimes and builds crictl and the pause image.
package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/qinq-cni/qinq/internal/testenv"
)

var env *testenv.Env

// The runtimes' own binaries (Debian packages) and where libcni caches
// results: both runtimes use libcni's default.
var runtimeBinaries = []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "podman", "conmon"}

const cniCache = "/var/lib/cni"

func TestMain(m *testing.M) {
	err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "the runtime kernel tests cannot run: %v\n(run them through `make test`: make build, scripts/runtime/setup.sh, the VM)\n", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(env.StateDir)
	os.Exit(code)
}

func setup() error {
	var err error
	if env, err = testenv.New(); err != nil {
		return err
	}
	if err = env.Preflight("host-local", "static", "loopback", "crictl"); err != nil {
		return err
	}
	os.Setenv("PATH", testenv.SbinPath()) // runc, for podman too
	for _, b := range runtimeBinaries {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%w (scripts/runtime/setup.sh installs it)", err)
		}
	}
	if _, err := os.Stat(env.PauseImage()); err != nil {
		return fmt.Errorf("%w (scripts/runtime/setup.sh builds it)", err)
	}
	// runc puts every container in a cgroup: the VM mounts cgroup2.
	var fs unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &fs); err != nil || fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("cgroup2 is not mounted at /sys/fs/cgroup (scripts/vm/init mounts it): %v", err)
	}
	if err := os.MkdirAll(filepath.Join(cniCache, "results"), 0o755); err != nil {
		return err
	}
	// qinq's state of these tests alone: the runtimes hand their
	// environment on to their plugins.
	if env.StateDir, err = os.MkdirTemp("", "qinq-runtime-state."); err != nil {
		return err
	}
	return nil
}

// binDir is the one CNI binary directory a runtime takes: the plugin under
// test, the IPAM plugins and loopback (containerd sets up the pod's lo with
// it).
func binDir(t *testing.T) string {
	return testenv.BinDir(t, map[string]string{"qinq": env.Plugin, "host-local": env.Tool("host-local"),
		"static": env.Tool("static"), "loopback": env.Tool("loopback")})
}

// network is the qinq network a runtime reads from its CNI config
// directory: a conflist at 1.0.0 that newer libcni reads at 1.1.0.
type network struct {
	name    string
	master  string
	sVlan   int
	cVlan   int
	ipamDir string // host-local's store
	log     string // qinq's logFile
	extra   []any  // more keys of the qinq plugin entry, as Conf.With takes them
}

// logDir is the test's node log directory (QINQ_LOG_DIR): a logFile must
// be a file directly in it.
func logDir(t *testing.T) string {
	d, _ := logDirs.LoadOrStore(t, sync.OnceValue(func() string { return t.TempDir() }))
	return d.(func() string)()
}

var logDirs sync.Map

func newNetwork(t *testing.T, name, master string, sVlan, cVlan int) network {
	dir := t.TempDir()
	n := network{name: name, master: master, sVlan: sVlan, cVlan: cVlan,
		ipamDir: filepath.Join(dir, "ipam"), log: filepath.Join(logDir(t), name+".log")}
	if err := os.Mkdir(n.ipamDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return n
}

// write puts the network into dir as file, with host-local's range r.
func (n network) write(t *testing.T, dir, file string, r map[string]string) {
	t.Helper()
	plugin := testenv.Conf{"type": "qinq"}.OnMaster(n.master, n.sVlan, n.cVlan).
		WithHostLocalRange(n.ipamDir, r).With("logFile", n.log, "logLevel", "debug").With(n.extra...)
	list := testenv.Conf{"cniVersion": "1.0.0", "cniVersions": []string{"1.0.0", "1.1.0"}, "name": n.name, "plugins": []testenv.Conf{plugin}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), list.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// world is what a runtime's pod may leave: links and addresses in the VM,
// qinq's state, host-local's allocations and libcni's result cache.
func (n network) world(t *testing.T) *testenv.World {
	return testenv.NewWorld(t, nil, testenv.StateDir(env.StateDir), testenv.HostLocalStore(n.ipamDir),
		testenv.Dir{Name: "cni-cache", Path: cniCache})
}

// wire is a master's veth wire from the VM's namespace to a far node, where
// a qinq peer sits on the same VLANs with a static address.
type wire struct {
	far    *testenv.Node
	peer   *testenv.Container
	peerIP string
}

func newWire(t *testing.T, n network, peerIP string) *wire {
	t.Helper()
	w := &wire{far: env.NewNode(t), peer: testenv.NewContainer(t), peerIP: peerIP}
	testenv.Veth(t, env.HostNode(t), n.master, w.far, "eth1", 1500)
	t.Cleanup(func() { testenv.DelLink(n.master) })
	conf := testenv.QinQ("1.1.0", "peer").OnMaster("eth1", n.sVlan, n.cVlan).WithStaticIP(peerIP + "/24")
	w.far.Add(conf, w.peer, "net1")
	t.Cleanup(func() { w.far.Del(conf, w.peer, "net1") })
	return w
}

// assertWire sends a full-size datagram (1496 bytes with DF: the C-link's
// MTU) from the pod to the peer and back, and wants the pod's frames on
// the far end of the wire tagged S then C.
func (w *wire) assertWire(t *testing.T, pod *testenv.Container, n network) {
	t.Helper()
	stop := w.far.Capture("eth1")
	if err := testenv.Echo(t, pod, w.peer, w.peerIP, 1496); err != nil {
		t.Errorf("pod -> far peer, a full 1496-byte DF datagram: %v", err)
	}
	frames := stop()
	testenv.AssertTags(t, frames, testenv.Tag8021AD(n.sVlan), testenv.Tag8021Q(n.cVlan))
	t.Logf("on the wire: %d frames, e.g. %v", len(frames), first(testenv.IPv4Frames(frames)))
}

func first(fs []testenv.Frame) any {
	if len(fs) == 0 {
		return "none"
	}
	return fs[0]
}

// logLine is one line of qinq's logFile.
type logLine struct {
	Level       string `json:"level"`
	Msg         string `json:"msg"`
	Verb        string `json:"verb"`
	ContainerID string `json:"containerID"`
	Netns       string `json:"netns"`
	CNIArgs     string `json:"cniArgs"`
}

func (l logLine) String() string {
	netns := "netns"
	if l.Netns == "" {
		netns = "no netns"
	}
	s := l.Verb + " (" + netns + ")"
	if l.Level != "INFO" {
		s += " " + l.Level + ": " + l.Msg
	}
	return s
}

// lines is qinq's log, in order.
func (n network) lines(t *testing.T) []logLine {
	t.Helper()
	data, err := os.ReadFile(n.log)
	if err != nil {
		t.Fatalf("qinq's log: %v", err)
	}
	var out []logLine
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var l logLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("qinq's log line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

// verbs is what qinq logged for the container id, in order.
func (n network) verbs(t *testing.T, id string) []logLine {
	t.Helper()
	var out []logLine
	for _, l := range n.lines(t) {
		if l.ContainerID == id {
			out = append(out, l)
		}
	}
	return out
}

func verbList(ls []logLine) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.String())
	}
	return strings.Join(s, ", ")
}

// assertGone: the runtime deleted the pod's network namespace.
func assertGone(t *testing.T, netns string) {
	t.Helper()
	if _, err := os.Stat(netns); err == nil {
		t.Errorf("the pod's network namespace %s is still there", netns)
	}
}
