package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
)

// Env is where one test run finds its binaries and tells the plugin to keep
// its state. Build it in TestMain with New (and adjust its fields there);
// tests only read it.
type Env struct {
	Root     string // the module root (the directory holding go.mod)
	Plugin   string // the plugin under test: $QINQ_BIN, else <Root>/bin/qinq
	CNIPath  string // IPAM plugins and tools: the first entry of $CNI_PATH, else <Root>/bin
	StateDir string // handed to every plugin run as QINQ_STATE_DIR; "" leaves the plugin's default
	// EtcDir and LogDir stand for the node's /etc/cni/qinq (policy.json,
	// node.json) and /var/log/qinq, handed to every run as QINQ_ETC_DIR and
	// QINQ_LOG_DIR (the runtime's environment: no network config reaches
	// them); "" leaves the plugin's defaults. A test changes them on its own
	// copy (WithNodeDirs), never here.
	EtcDir string
	LogDir string
}

// noEtcDir is the EtcDir of runs that set none: a path under the module
// that does not exist, so a machine's own /etc/cni/qinq (a policy) never
// decides a test; tests that want a policy give a node its own (NodeDirs).
const noEtcDir = "internal/testenv/no-etc-cni-qinq"

// New reads the environment scripts/test-kernel.sh sets up (QINQ_BIN,
// CNI_PATH, QINQ_STATE_DIR) and falls back to the module's bin/.
func New() (*Env, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	e := &Env{
		Root:     root,
		Plugin:   envOr("QINQ_BIN", filepath.Join(root, "bin", "qinq")),
		CNIPath:  filepath.SplitList(envOr("CNI_PATH", filepath.Join(root, "bin")))[0],
		StateDir: os.Getenv("QINQ_STATE_DIR"),
		EtcDir:   envOr("QINQ_ETC_DIR", filepath.Join(root, noEtcDir)),
		LogDir:   os.Getenv("QINQ_LOG_DIR"),
	}
	return e, nil
}

// Tool is the path of a binary in CNIPath (an IPAM plugin, cnitool, ovs-cni).
func (e *Env) Tool(name string) string { return filepath.Join(e.CNIPath, name) }

// Preflight fails instead of letting tests skip: it wants root, the plugin,
// each tool named (in CNIPath), network namespaces and a kernel that makes
// 802.1ad VLAN links.
func (e *Env) Preflight(tools ...string) error {
	if os.Getuid() != 0 {
		return errors.New("not root")
	}
	for _, p := range append([]string{e.Plugin}, e.tools(tools)...) {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (make build)", err)
		}
	}
	return vlanCapable()
}

func (e *Env) tools(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, e.Tool(n))
	}
	return out
}

// vlanCapable makes a dummy and an 802.1ad VLAN on it in a scratch namespace:
// 8021q may be a module that loads on the first VLAN link, so /proc/net/vlan
// alone proves nothing.
func vlanCapable() error {
	n, err := testutils.NewNS()
	if err != nil {
		return fmt.Errorf("network namespaces: %w", err)
	}
	defer testutils.UnmountNS(n)
	defer n.Close()
	err = n.Do(func(ns.NetNS) error {
		if err := AddDummy("d0", 1500); err != nil {
			return err
		}
		return AddVLAN(VLAN{Parent: "d0", Proto: netlink.VLAN_PROTOCOL_8021AD, ID: 5})
	})
	if err != nil {
		return fmt.Errorf("this kernel cannot make VLAN links: %w", err)
	}
	return nil
}

// moduleRoot walks up from the working directory (go test runs a test binary
// in its package's directory, in the VM too) to the directory with go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// RuntimeEnv is the environment a runtime started by a test (containerd,
// podman) hands on to qinq, as a node's would: the test's state directory,
// the node directories (EtcDir, and logDir for /var/log/qinq, where a
// config's logFile must live).
func (e *Env) RuntimeEnv(logDir string) []string {
	out := []string{"QINQ_ETC_DIR=" + e.EtcDir, "QINQ_LOG_DIR=" + logDir}
	if e.StateDir != "" {
		out = append(out, "QINQ_STATE_DIR="+e.StateDir)
	}
	return out
}
