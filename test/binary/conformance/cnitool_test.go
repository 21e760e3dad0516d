//go:build kerneltest

package conformance

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/qinq-cni/qinq/internal/testenv"
)

// TestCnitool: the runtime's view end to end, with the pinned cnitool and
// host-local from the Go module proxy (bin/cnitool, bin/host-local).
func TestCnitool(t *testing.T) {
	spec(t, "add, check, a full-size packet across, del on two nodes with host-local", func(t *testing.T) {
		a := testenv.NewWorld(t, env.NewNode(t), suiteDirs()...)
		b := testenv.NewWorld(t, env.NewNode(t), suiteDirs()...)
		testenv.Wire(t, a.Node, b.Node, master, 1500)
		ca, cb := a.NewContainers(1)[0], b.NewContainers(1)[0]
		beforeA, beforeB := a.Snapshot(), b.Snapshot()

		// One network, two nodes: each node's host-local hands out its own
		// part of the subnet, as a real deployment would configure it.
		netconf := func(first, last string) string {
			dir := t.TempDir()
			cf := qinq("1.1.0", 3015, 2).With("name", "tenant-a").
				WithHostLocalRange(ipamDir, map[string]string{"subnet": "192.168.2.0/24", "rangeStart": first, "rangeEnd": last})
			if err := os.WriteFile(filepath.Join(dir, "10-tenant-a.conf"), cf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}
		dirA, dirB := netconf("192.168.2.10", "192.168.2.19"), netconf("192.168.2.20", "192.168.2.29")

		resA := cnitool(t, a.Node, dirA, "add", ca)
		resB := cnitool(t, b.Node, dirB, "add", cb)
		attached(t, a, beforeA, true)
		attached(t, b, beforeB, true)
		ipA, ipB := onlyIP(t, resA), onlyIP(t, resB)
		if !strings.HasPrefix(ipA, "192.168.2.1") || !strings.HasPrefix(ipB, "192.168.2.2") {
			t.Fatalf("addresses %s and %s are not from the two nodes' ranges", ipA, ipB)
		}
		if l, err := testenv.LinkByName(ca.NS, "net1"); err != nil || l.Attrs().MTU != 1496 {
			t.Fatalf("net1 in the container: %v (MTU want 1496)", err)
		}
		cnitool(t, a.Node, dirA, "check", ca)
		cnitool(t, b.Node, dirB, "check", cb)
		if err := testenv.Echo(t, ca, cb, strings.Split(ipB, "/")[0], 1496); err != nil {
			t.Fatal(err)
		}
		cnitool(t, a.Node, dirA, "del", ca)
		cnitool(t, b.Node, dirB, "del", cb)
		a.Unchanged(beforeA)
		b.Unchanged(beforeB)
	})
}

// cnitool runs bin/cnitool <verb> tenant-a <netns> on node n and returns its
// stdout.
func cnitool(t *testing.T, n *testenv.Node, confDir, verb string, c *testenv.Container) []byte {
	t.Helper()
	cmd := exec.Command(env.Tool("cnitool"), verb, "tenant-a", c.NetNSPath())
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "QINQ_STATE_DIR=" + env.StateDir, "NETCONFPATH=" + confDir,
		"CNI_PATH=" + filepath.Dir(env.Plugin) + ":" + env.CNIPath, "CNI_IFNAME=net1",
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := n.Run(cmd); err != nil {
		t.Fatalf("cnitool %s: %v\nstdout %s\nstderr %s", verb, err, out.Bytes(), errb.Bytes())
	}
	return out.Bytes()
}

func onlyIP(t *testing.T, out []byte) string {
	t.Helper()
	var res current.Result
	if err := json.Unmarshal(out, &res); err != nil || len(res.IPs) != 1 {
		t.Fatalf("cnitool add printed %s (%v), want a result with one IP", out, err)
	}
	return res.IPs[0].Address.String()
}
