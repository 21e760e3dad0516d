package testenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
)

// InvokeOption varies one plugin run.
type InvokeOption func(*invocation)

type invocation struct {
	binary   string
	cniArgs  string
	extraEnv []string
}

// Binary runs another binary than Env.Plugin (bin/qinq-faults, ovs-cni).
func Binary(path string) InvokeOption { return func(i *invocation) { i.binary = path } }

// CNIArgs sets CNI_ARGS ("K8S_POD_NAME=web;SVLAN=2050").
func CNIArgs(args string) InvokeOption { return func(i *invocation) { i.cniArgs = args } }

// ExtraEnv adds environment variables ("QINQ_FAULT=kill@...") to the run.
func ExtraEnv(kv ...string) InvokeOption {
	return func(i *invocation) { i.extraEnv = append(i.extraEnv, kv...) }
}

func (n *Node) invocation(opts []InvokeOption) invocation {
	i := invocation{binary: n.env.Plugin}
	for _, o := range opts {
		o(&i)
	}
	if n.env.StateDir != "" {
		i.extraEnv = append([]string{"QINQ_STATE_DIR=" + n.env.StateDir}, i.extraEnv...)
	}
	if n.env.EtcDir != "" {
		i.extraEnv = append([]string{"QINQ_ETC_DIR=" + n.env.EtcDir}, i.extraEnv...)
	}
	if n.env.LogDir != "" {
		i.extraEnv = append([]string{"QINQ_LOG_DIR=" + n.env.LogDir}, i.extraEnv...)
	}
	return i
}

// nodeExec runs plugins inside a node's namespace with extra variables, as
// the runtime of that node would; invoke and libcni both run through it.
type nodeExec struct {
	*invoke.DefaultExec
	ns    ns.NetNS
	extra []string
}

func (n *Node) exec(extra []string) *nodeExec {
	return &nodeExec{DefaultExec: &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}}, ns: n.NS, extra: extra}
}

func (e *nodeExec) ExecPlugin(ctx context.Context, path string, stdin []byte, environ []string) ([]byte, error) {
	var out []byte
	var err error
	nerr := e.ns.Do(func(ns.NetNS) error {
		out, err = e.DefaultExec.ExecPlugin(ctx, path, stdin, append(environ, e.extra...))
		return nil
	})
	if nerr != nil {
		return nil, nerr
	}
	return out, err // as it is: callers look for a *types.Error
}

// Invoke runs verb on the node through the CNI invoke package: the plugin's
// stdout decoded as a result (ADD) or as a CNI error. A nil ctr runs without
// CNI_CONTAINERID and CNI_NETNS (GC, STATUS).
func (n *Node) Invoke(verb string, c Conf, ctr *Container, ifName string, opts ...InvokeOption) (types.Result, error) {
	i := n.invocation(opts)
	args := &invoke.Args{Command: verb, IfName: ifName, Path: n.env.CNIPath, PluginArgsStr: i.cniArgs}
	if ctr != nil {
		args.ContainerID, args.NetNS = ctr.ID, ctr.NetNSPath()
	}
	x, ctx := n.exec(i.extraEnv), context.Background()
	if verb == "ADD" {
		return invoke.ExecPluginWithResult(ctx, i.binary, c.Bytes(), args, x)
	}
	return nil, invoke.ExecPluginWithoutResult(ctx, i.binary, c.Bytes(), args, x)
}

// Add runs ADD and returns its result; an error fails the test.
func (n *Node) Add(c Conf, ctr *Container, ifName string, opts ...InvokeOption) *current.Result {
	n.t.Helper()
	r, err := n.Invoke("ADD", c, ctr, ifName, opts...)
	if err != nil {
		n.t.Fatalf("ADD %v: %v", c, err)
	}
	return Result(n.t, r)
}

// Del runs DEL; an error fails the test.
func (n *Node) Del(c Conf, ctr *Container, ifName string, opts ...InvokeOption) {
	n.t.Helper()
	if _, err := n.Invoke("DEL", c, ctr, ifName, opts...); err != nil {
		n.t.Fatalf("DEL %v: %v", c, err)
	}
}

// Check runs CHECK with prev as prevResult.
func (n *Node) Check(c Conf, ctr *Container, ifName string, prev *current.Result, opts ...InvokeOption) error {
	_, err := n.Invoke("CHECK", c.With("prevResult", prev), ctr, ifName, opts...)
	return err
}

// GC runs GC of network c; the attachments to keep are the valid containers
// on ifName (cni.dev/valid-attachments).
func (n *Node) GC(c Conf, ifName string, valid ...*Container) error {
	var list []map[string]string
	for _, v := range valid {
		list = append(list, map[string]string{"containerID": v.ID, "ifname": ifName})
	}
	_, err := n.Invoke("GC", c.With("cni.dev/valid-attachments", list), nil, "")
	return err
}

// Status runs STATUS of network c.
func (n *Node) Status(c Conf) error {
	_, err := n.Invoke("STATUS", c, nil, "")
	return err
}

// Result converts r to a 1.x result; failing to fails t.
func Result(t testing.TB, r types.Result) *current.Result {
	t.Helper()
	res, err := current.NewResultFromResult(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// LibCNI is a libcni runtime on the node, with its own result cache: it
// finds the plugin beside Env.Plugin and the rest in Env.CNIPath.
func (n *Node) LibCNI(opts ...InvokeOption) *libcni.CNIConfig {
	i := n.invocation(opts)
	paths := []string{filepath.Dir(i.binary), n.env.CNIPath}
	return libcni.NewCNIConfigWithCacheDir(paths, n.t.TempDir(), n.exec(i.extraEnv))
}

// RuntimeConf is what a runtime tells libcni about the container's ifName.
func (c *Container) RuntimeConf(ifName string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: c.ID, NetNS: c.NetNSPath(), IfName: ifName}
}

// CNICode is the code of a CNI error, 0 for anything else.
func CNICode(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// WantCNIError asserts err is a CNI error with code whose msg contains each
// string.
func WantCNIError(t testing.TB, err error, code uint, contains ...string) {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("want CNI error %d, got %v", code, err)
	}
	if e.Code != code {
		t.Fatalf("want CNI error %d, got %d: %v", code, e.Code, e)
	}
	for _, s := range contains {
		if !strings.Contains(e.Msg, s) {
			t.Fatalf("error %d: msg %q does not name %q", e.Code, e.Msg, s)
		}
	}
}
