package testenv

import (
	"fmt"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
)

// Node is a simulated host: a network namespace holding a master link (a
// veth wire to another node, a dummy, an OVS uplink) and whatever the plugin
// builds there. Plugins run inside it as that host's runtime would run them.
// A failure to enter the namespace fails the test the node belongs to.
type Node struct {
	t   testing.TB
	env *Env
	NS  ns.NetNS
}

// NodeOption sets up a new node.
type NodeOption func(*Node)

// DummyMaster gives the node a dummy master link, up.
func DummyMaster(name string, mtu int) NodeOption {
	return func(n *Node) { n.Do(func() error { return AddDummy(name, mtu) }) }
}

// NodeDirs gives the node its own admin directory (QINQ_ETC_DIR: where its
// policy.json and node.json are; a path that does not exist means "no
// policy") and log directory (QINQ_LOG_DIR), as a real node has /etc/cni/qinq
// and /var/log/qinq. Pass "" to keep the Env's.
func NodeDirs(etc, log string) NodeOption {
	return func(n *Node) {
		e := *n.env
		if etc != "" {
			e.EtcDir = etc
		}
		if log != "" {
			e.LogDir = log
		}
		n.env = &e
	}
}

// Dirs are the node's QINQ_ETC_DIR and QINQ_LOG_DIR ("" = the plugin's defaults).
func (n *Node) Dirs() (etc, log string) { return n.env.EtcDir, n.env.LogDir }

// NewNode makes a node in a fresh network namespace, deleted when the test
// ends.
func (e *Env) NewNode(t testing.TB, opts ...NodeOption) *Node {
	t.Helper()
	n := &Node{t: t, env: e, NS: newNetNS(t)}
	for _, o := range opts {
		o(n)
	}
	return n
}

// HostNode is the VM's own network namespace as a node: where a container
// runtime started by the test (containerd, podman) runs its CNI plugins. It
// is not deleted; the test removes what it added there.
func (e *Env) HostNode(t testing.TB) *Node {
	t.Helper()
	host, err := ns.GetCurrentNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	return &Node{t: t, env: e, NS: host}
}

// For is the same node used by another test (a subtest sharing a fixture):
// failures are reported there.
func (n *Node) For(t testing.TB) *Node {
	c := *n
	c.t = t
	return &c
}

// Do runs f in the node's namespace; an error fails the test.
func (n *Node) Do(f func() error) {
	n.t.Helper()
	InNS(n.t, n.NS, f)
}

// Run runs cmd to completion in the node's namespace and returns its error.
func (n *Node) Run(cmd *exec.Cmd) error {
	n.t.Helper()
	var err error
	n.Do(func() error { err = cmd.Run(); return nil })
	return err
}

// Start starts cmd in the node's namespace; the process stays there.
func (n *Node) Start(cmd *exec.Cmd) {
	n.t.Helper()
	n.Do(cmd.Start)
}

// Wire joins two nodes with a veth pair named name on both sides, up.
func Wire(t testing.TB, a, b *Node, name string, mtu int) {
	t.Helper()
	Veth(t, a, name, b, name, mtu)
}

// Veth makes a veth pair, up: aName in a, bName in b (mtu 0: the default).
func Veth(t testing.TB, a *Node, aName string, b *Node, bName string, mtu int) {
	t.Helper()
	const temp = "testenvpeer" // the peer's name until it is in b
	a.Do(func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = aName, mtu
		v := &netlink.Veth{LinkAttrs: attrs, PeerName: temp, PeerNamespace: netlink.NsFd(int(b.NS.Fd()))}
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("veth %s: %w", aName, err)
		}
		return netlink.LinkSetUp(v)
	})
	b.Do(func() error {
		l, err := netlink.LinkByName(temp)
		if err == nil {
			err = netlink.LinkSetName(l, bName)
		}
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		return err
	})
}

// Container is a pod sandbox: a network namespace and a container ID. A
// Container with no NS stands for an invocation without CNI_NETNS.
type Container struct {
	ID   string
	NS   ns.NetNS
	path string // the netns path handed to plugins; it outlives Kill
	gone bool
}

var containerSeq atomic.Int64 // container IDs are unique in the process

// NewContainer makes a container in a fresh network namespace, deleted when
// the test ends.
func NewContainer(t testing.TB) *Container {
	t.Helper()
	id := fmt.Sprintf("ctr%d-%05d", containerSeq.Add(1), time.Now().UnixNano()%100000)
	c := &Container{ID: id, NS: newNetNS(t)}
	c.path = c.NS.Path()
	return c
}

// RuntimeContainer is a sandbox a container runtime made: its ID and the
// network namespace at path, which the runtime owns and deletes (the test
// only holds it open until it ends).
func RuntimeContainer(t testing.TB, id, path string) *Container {
	t.Helper()
	n, err := ns.GetNS(path)
	if err != nil {
		t.Fatalf("the runtime's network namespace of %s: %v", id, err)
	}
	t.Cleanup(func() { n.Close() })
	return &Container{ID: id, NS: n, path: path}
}

// NetNSPath is the CNI_NETNS of the container ("" without a namespace).
func (c *Container) NetNSPath() string {
	if c.path == "" && c.NS != nil {
		return c.NS.Path()
	}
	return c.path
}

// Do runs f in the container's namespace; an error fails t.
func (c *Container) Do(t testing.TB, f func() error) {
	t.Helper()
	InNS(t, c.NS, f)
}

// Kill deletes the container's network namespace, as a runtime does when a
// pod dies before its DEL. Its path stays what plugins are handed.
func (c *Container) Kill(t testing.TB) {
	t.Helper()
	c.NS.Close()
	if err := testutils.UnmountNS(c.NS); err != nil {
		t.Fatal(err)
	}
	c.gone = true
}

// Gone reports whether Kill deleted the namespace.
func (c *Container) Gone() bool { return c.gone }

// InNS runs f in the namespace where; an error fails t.
func InNS(t testing.TB, where ns.NetNS, f func() error) {
	t.Helper()
	if err := where.Do(func(ns.NetNS) error { return f() }); err != nil {
		t.Fatal(err)
	}
}

func newNetNS(t testing.TB) ns.NetNS {
	t.Helper()
	n, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); _ = testutils.UnmountNS(n) })
	return n
}
