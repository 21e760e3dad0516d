package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
)

// Env is where the plugins are and what the bench created, so it can be
// checked for leftovers and removed.
type Env struct {
	Qinq, Vlan, Macvlan, Bridge string // plugin binaries
	CNIPath                     string // where the IPAM plugins are
	StateDir                    string // qinq's reference store (its default)
	mu                          sync.Mutex
	problems                    []string
}

// Call is one CNI invocation.
type Call struct {
	Cmd, ContainerID, IfName string
	Netns                    ns.NetNS // nil: none (VERSION, DEL of a gone netns)
	// Node is the network namespace the plugin runs in, as if it were the
	// host of another node; nil: the VM's own.
	Node *node
	Conf []byte
	// Wrap runs the plugin under another command (strace), with Env added.
	Wrap []string
	Env  []string
}

// Outcome is what one plugin process cost: wall time from fork to exit (what
// a runtime waits for, exec start-up included).
type Outcome struct {
	Dur    time.Duration
	Stdout []byte
}

// Exec runs plugin with a minimal CNI environment, so nothing of the bench's
// own environment (GODEBUG, GOMAXPROCS) leaks into what is measured.
func (e *Env) Exec(plugin string, c Call) (Outcome, error) {
	cmd := e.command(plugin, c)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := c.Node.start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	o := Outcome{Dur: time.Since(start), Stdout: stdout.Bytes()}
	if err != nil {
		return o, fmt.Errorf("%s %s %s/%s: %v: %s %s", filepath.Base(plugin), c.Cmd, c.ContainerID, c.IfName,
			err, strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	}
	return o, nil
}

func (e *Env) command(plugin string, c Call) *exec.Cmd {
	cmd := exec.Command(plugin)
	if len(c.Wrap) > 0 {
		cmd = exec.Command(c.Wrap[0], append(c.Wrap[1:], plugin)...)
	}
	cmd.Env = []string{
		"CNI_COMMAND=" + c.Cmd, "CNI_CONTAINERID=" + c.ContainerID, "CNI_IFNAME=" + c.IfName,
		"CNI_PATH=" + e.CNIPath, "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	}
	if c.Netns != nil {
		cmd.Env = append(cmd.Env, "CNI_NETNS="+c.Netns.Path())
	}
	cmd.Env = append(cmd.Env, c.Env...)
	cmd.Stdin = bytes.NewReader(c.Conf)
	return cmd
}

// problem records something that makes the bench itself broken (a plugin
// error, a leftover); the run still finishes and reports, then fails.
func (e *Env) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	logf("PROBLEM: %s", msg)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.problems) < 50 {
		e.problems = append(e.problems, msg)
	}
}

// newNS makes a named network namespace as a runtime would (a bind mount
// under /var/run/netns), in-process: ip netns add costs a process per pod.
func newNS() (ns.NetNS, error) { return testutils.NewNS() }

func newNSes(n int) ([]ns.NetNS, error) {
	out := make([]ns.NetNS, n)
	for i := range out {
		var err error
		if out[i], err = newNS(); err != nil {
			return out[:i], err
		}
	}
	return out, nil
}

func closeNSes(nses []ns.NetNS) {
	for _, n := range nses {
		if n != nil {
			n.Close()
			_ = testutils.UnmountNS(n)
		}
	}
}

// wire makes a veth pair a and b, both up: two NICs joined by a cable.
func wire(a, b string) error {
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a, MTU: 1500}, PeerName: b}
	if err := netlink.LinkAdd(v); err != nil {
		return fmt.Errorf("add veth %s-%s: %w", a, b, err)
	}
	for _, n := range []string{a, b} {
		l, err := netlink.LinkByName(n)
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			return fmt.Errorf("set %s up: %w", n, err)
		}
	}
	return nil
}

// trunk makes bridge br as the reference bridge plugin makes it for "vlan"
// (VLAN filtering on), with port as its uplink carrying vid tagged.
func trunk(br, port string, vid int) error {
	on := true
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: br, MTU: 1500}, VlanFiltering: &on}); err != nil {
		return fmt.Errorf("add bridge %s: %w", br, err)
	}
	b, err := netlink.LinkByName(br)
	if err != nil {
		return err
	}
	p, err := netlink.LinkByName(port)
	if err == nil {
		err = netlink.LinkSetMaster(p, b)
	}
	if err == nil {
		err = netlink.BridgeVlanAdd(p, uint16(vid), false, false, false, true)
	}
	if err == nil {
		err = netlink.LinkSetUp(b)
	}
	if err != nil {
		return fmt.Errorf("bridge %s with uplink %s: %w", br, port, err)
	}
	return nil
}

// conf renders a network configuration.
func conf(fields map[string]any) []byte {
	base := map[string]any{"cniVersion": "1.1.0"}
	for k, v := range fields {
		base[k] = v
	}
	b, err := json.Marshal(base)
	if err != nil {
		panic(err) // maps of plain values always marshal
	}
	return b
}

// hostLocal keeps its allocations in ipamRoot/<network>, where leftovers
// are looked for.
func hostLocal(subnet string) map[string]any {
	return map[string]any{"type": "host-local", "subnet": subnet, "dataDir": ipamRoot}
}

// staticIPAM has no state and no lock: the scale rows measure the plugin
// and the kernel, not IPAM.
func staticIPAM(cidr string) map[string]any {
	return map[string]any{"type": "static", "addresses": []map[string]any{{"address": cidr}}}
}

const ipamRoot = "/tmp/bench-ipam"

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// dummy makes a master in the VM's own namespace.
func dummy(name string) error { return (*node)(nil).dummy(name) }
