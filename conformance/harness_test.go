//go:build kerneltest

package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
)

// The binaries under test and the places the suite owns.
var (
	qinqBin  string // bin/qinq, or $QINQ_BIN
	binDir   string // where host-local, static and cnitool are ($CNI_PATH)
	stateDir string // QINQ_STATE_DIR handed to every plugin run
	ipamDir  string // host-local dataDir of every config
)

// The seven spec versions qinq must speak.
var allVersions = []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// ---- case accounting -----------------------------------------------------

type caseResult struct {
	name string
	ok   bool
}

var (
	resultsMu sync.Mutex
	results   []caseResult
)

// spec runs one conformance case as a subtest of an area test (TestDEL,
// TestCHECK, ...) and counts it. The case reads "DEL/after netns deleted".
func spec(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	ok := t.Run(name, f)
	resultsMu.Lock()
	results = append(results, caseResult{strings.TrimPrefix(t.Name(), "Test") + "/" + name, ok})
	resultsMu.Unlock()
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, _ := filepath.Abs("..")
	qinqBin = envOr("QINQ_BIN", filepath.Join(root, "bin", "qinq"))
	binDir = filepath.SplitList(envOr("CNI_PATH", filepath.Join(root, "bin")))[0]
	if err := preflight(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: cannot run: %v\n(run through scripts/test-kernel.sh, which boots the VM)\n", err)
		fmt.Println("0 passed, 1 failed")
		return 2
	}
	var err error
	if stateDir, err = os.MkdirTemp("", "qinq-conformance-state."); err == nil {
		ipamDir, err = os.MkdirTemp("", "qinq-conformance-ipam.")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 2
	}
	defer os.RemoveAll(stateDir)
	defer os.RemoveAll(ipamDir)
	os.Setenv("QINQ_STATE_DIR", stateDir)

	start := time.Now()
	code := m.Run()
	passed, failed := 0, 0
	for _, r := range results {
		if r.ok {
			passed++
		} else {
			failed++
			fmt.Printf("conformance: FAILED %s\n", r.name)
		}
	}
	fmt.Printf("conformance: %d cases in %s\n", len(results), time.Since(start).Round(time.Millisecond))
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if len(results) == 0 && code == 0 {
		return 1 // a suite that ran nothing has proven nothing
	}
	return code
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func preflight() error {
	if os.Getuid() != 0 {
		return errors.New("not root")
	}
	for _, p := range []string{qinqBin, filepath.Join(binDir, "host-local"), filepath.Join(binDir, "static"), filepath.Join(binDir, "cnitool")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (make build)", err)
		}
	}
	if _, err := os.Stat("/proc/net/vlan"); err != nil {
		// 8021q may be a module that loads on the first VLAN link; a node
		// namespace proves it either way.
		n, err := testutils.NewNS()
		if err != nil {
			return err
		}
		defer testutils.UnmountNS(n)
		defer n.Close()
		err = n.Do(func(ns.NetNS) error {
			if err := addDummy("d0", 1500); err != nil {
				return err
			}
			return addVLAN("d0", "d0.5", netlink.VLAN_PROTOCOL_8021AD, 5, 0, nil)
		})
		if err != nil {
			return fmt.Errorf("this kernel cannot make VLAN links: %w", err)
		}
	}
	return nil
}

// ---- nodes and containers --------------------------------------------------

// node is a simulated host: a network namespace with the master "eth1"
// (a dummy, MTU 1500), where bin/qinq runs as a runtime would run it.
type node struct {
	t  *testing.T
	ns ns.NetNS
}

const master = "eth1"

func newNS(t *testing.T) ns.NetNS {
	t.Helper()
	n, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); _ = testutils.UnmountNS(n) })
	return n
}

func newNode(t *testing.T) *node {
	t.Helper()
	n := &node{t: t, ns: newNS(t)}
	n.do(func() error { return addDummy(master, 1500) })
	return n
}

func (n *node) do(f func() error) {
	n.t.Helper()
	if err := n.ns.Do(func(ns.NetNS) error { return f() }); err != nil {
		n.t.Fatal(err)
	}
}

type container struct {
	id string
	ns ns.NetNS
	// gone: the namespace was deleted (a dead pod); its path stays.
	gone bool
	path string
}

var ctrSeq int

func newContainer(t *testing.T) *container {
	t.Helper()
	ctrSeq++
	c := &container{id: fmt.Sprintf("conf%03d-%d", ctrSeq, time.Now().UnixNano()%100000), ns: newNS(t)}
	c.path = c.ns.Path()
	return c
}

func (c *container) do(t *testing.T, f func() error) {
	t.Helper()
	if err := c.ns.Do(func(ns.NetNS) error { return f() }); err != nil {
		t.Fatal(err)
	}
}

// kill deletes the container's network namespace, as a runtime does when a
// pod dies before its DEL. The path handed to the plugin stays.
func (c *container) kill(t *testing.T) {
	t.Helper()
	c.ns.Close()
	if err := testutils.UnmountNS(c.ns); err != nil {
		t.Fatal(err)
	}
	c.gone = true
}

func addDummy(name string, mtu int) error {
	a := netlink.NewLinkAttrs()
	a.Name, a.MTU = name, mtu
	d := &netlink.Dummy{LinkAttrs: a}
	if err := netlink.LinkAdd(d); err != nil {
		return fmt.Errorf("add dummy %s: %w", name, err)
	}
	return netlink.LinkSetUp(d)
}

// addVLAN makes a VLAN link on parent (in the current namespace); with into
// set, the link is created directly in that namespace (the parent stays here).
func addVLAN(parent, name string, proto netlink.VlanProtocol, vid, mtu int, into ns.NetNS) error {
	p, err := netlink.LinkByName(parent)
	if err != nil {
		return err
	}
	a := netlink.NewLinkAttrs()
	a.Name, a.ParentIndex, a.MTU = name, p.Attrs().Index, mtu
	if into != nil {
		a.Namespace = netlink.NsFd(int(into.Fd()))
	}
	v := &netlink.Vlan{LinkAttrs: a, VlanId: vid, VlanProtocol: proto}
	if err := netlink.LinkAdd(v); err != nil {
		return fmt.Errorf("add %s VLAN %d on %s: %w", proto, vid, parent, err)
	}
	if into != nil {
		return into.Do(func(ns.NetNS) error { return linkUp(name) })
	}
	return netlink.LinkSetUp(v)
}

func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

func delLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkDel(l)
}

func linkByName(t *testing.T, where ns.NetNS, name string) (netlink.Link, error) {
	t.Helper()
	var l netlink.Link
	err := where.Do(func(ns.NetNS) error {
		var err error
		l, err = netlink.LinkByName(name)
		return err
	})
	return l, err
}

// ---- network configurations ------------------------------------------------

type conf map[string]any

// qinq is a kernel-mode config on master eth1: S-VLAN s (802.1ad) and the
// C-VLANs given.
func qinq(ver string, s int, cVlans ...int) conf {
	c := conf{"cniVersion": ver, "name": "conf", "type": "qinq", "master": master, "sVlan": s}
	if len(cVlans) > 0 {
		c["cVlans"] = cVlans
	}
	return c
}

func (c conf) with(kv ...any) conf {
	d := conf{}
	for k, v := range c {
		d[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i].(string)] = kv[i+1]
	}
	return d
}

func (c conf) without(keys ...string) conf {
	d := c.with()
	for _, k := range keys {
		delete(d, k)
	}
	return d
}

// hostLocal gives the config a host-local range in the suite's IPAM store.
func (c conf) hostLocal(subnet string) conf {
	return c.with("ipam", map[string]any{
		"type": "host-local", "dataDir": ipamDir,
		"ranges": [][]map[string]string{{{"subnet": subnet}}},
	})
}

// static gives the container one fixed address.
func (c conf) static(cidr string) conf {
	return c.with("ipam", map[string]any{"type": "static", "addresses": []map[string]string{{"address": cidr}}})
}

func (c conf) bytes() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return b
}

// ---- raw invocation: environment + stdin -----------------------------------

// env is the CNI_* environment of one invocation; a key absent is unset.
type env map[string]string

func cniEnv(cmd string, c *container, ifName string) env {
	e := env{"CNI_COMMAND": cmd, "CNI_PATH": binDir, "CNI_IFNAME": ifName}
	if c != nil {
		e["CNI_CONTAINERID"] = c.id
		e["CNI_NETNS"] = c.path
	}
	return e
}

func (e env) with(kv ...string) env {
	d := env{}
	for k, v := range e {
		d[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	return d
}

func (e env) without(keys ...string) env {
	d := e.with()
	for _, k := range keys {
		delete(d, k)
	}
	return d
}

// outcome is what the binary did: exit status, stdout, stderr.
type outcome struct {
	what   string
	exit   int
	stdout []byte
	stderr []byte
}

func (o outcome) String() string {
	return fmt.Sprintf("%s: exit %d, stdout %q, stderr %q", o.what, o.exit, o.stdout, o.stderr)
}

// raw execs bin/qinq in node n with exactly the given CNI_* variables (plus
// PATH and QINQ_STATE_DIR) and stdin.
func (n *node) raw(e env, stdin []byte) outcome {
	n.t.Helper()
	cmd := exec.Command(qinqBin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "QINQ_STATE_DIR=" + stateDir}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
	var runErr error
	n.do(func() error { runErr = cmd.Run(); return nil })
	o := outcome{what: e["CNI_COMMAND"], stdout: out.Bytes(), stderr: errb.Bytes()}
	var ee *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &ee):
		o.exit = ee.ExitCode()
	default:
		n.t.Fatalf("exec %s: %v", qinqBin, runErr)
	}
	return o
}

// ok asserts success: exit 0 and nothing but a result (or nothing) on stdout.
func (o outcome) ok(t *testing.T) []byte {
	t.Helper()
	if o.exit != 0 {
		t.Fatalf("want success, got %v", o)
	}
	return o.stdout
}

// fails asserts the spec's error protocol: a non-zero exit and a JSON error
// on stdout with the code given, whose msg contains each string.
func (o outcome) fails(t *testing.T, code uint, contains ...string) *types.Error {
	t.Helper()
	if o.exit == 0 {
		t.Fatalf("want error code %d, got success: %v", code, o)
	}
	var e types.Error
	if err := json.Unmarshal(o.stdout, &e); err != nil || e.Code == 0 {
		t.Fatalf("want a JSON error on stdout (code %d), got %v", code, o)
	}
	if e.Code != code {
		t.Fatalf("want error code %d, got %d (%q, %q)", code, e.Code, e.Msg, e.Details)
	}
	for _, s := range contains {
		if !strings.Contains(e.Msg, s) {
			t.Fatalf("error %d: msg %q does not name %q (details %q)", e.Code, e.Msg, s, e.Details)
		}
	}
	return &e
}

// ---- libcni ----------------------------------------------------------------

// nodeExec runs plugins inside the node's namespace, as the runtime of that
// node would.
type nodeExec struct {
	*invoke.DefaultExec
	ns ns.NetNS
}

func (e *nodeExec) ExecPlugin(ctx context.Context, path string, stdin []byte, environ []string) ([]byte, error) {
	var out []byte
	var err error
	if nerr := e.ns.Do(func(ns.NetNS) error {
		out, err = e.DefaultExec.ExecPlugin(ctx, path, stdin, environ)
		return nil
	}); nerr != nil {
		return nil, nerr
	}
	return out, err
}

// cni is a libcni runtime on node n, with its own result cache.
func (n *node) cni() *libcni.CNIConfig {
	x := &nodeExec{DefaultExec: &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}}, ns: n.ns}
	return libcni.NewCNIConfigWithCacheDir([]string{filepath.Dir(qinqBin), binDir}, n.t.TempDir(), x)
}

func pluginConf(t *testing.T, c conf) *libcni.PluginConfig {
	t.Helper()
	pc, err := libcni.NetworkPluginConfFromBytes(c.bytes())
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// confList wraps one plugin config in a conflist of the same name and
// version, as a runtime's config file would carry it.
func confList(t *testing.T, c conf) *libcni.NetworkConfigList {
	t.Helper()
	list := conf{"cniVersion": c["cniVersion"], "name": c["name"], "plugins": []conf{c}}
	l, err := libcni.NetworkConfFromBytes(list.bytes())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func rt(c *container, ifName string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: c.id, NetNS: c.path, IfName: ifName}
}

func cniCode(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// wantCNIError asserts err is a CNI error with code, whose message contains
// each string.
func wantCNIError(t *testing.T, err error, code uint, contains ...string) {
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

// ---- snapshots -------------------------------------------------------------

// world is what one case can change: its node, its containers, the VM's own
// namespace, the qinq state directory and the host-local store.
type world struct {
	t    *testing.T
	node *node
	ctrs []*container
}

func newWorld(t *testing.T, ctrs int) (*world, []*container) {
	w := &world{t: t, node: newNode(t)}
	for i := 0; i < ctrs; i++ {
		w.ctrs = append(w.ctrs, newContainer(t))
	}
	return w, w.ctrs
}

// snap maps "where what" to a description; two equal snaps are the same
// observable state.
type snap map[string]string

func (w *world) snap() snap {
	w.t.Helper()
	s := snap{}
	links(w.t, s, "vm", nil)
	links(w.t, s, "node", w.node.ns)
	for _, c := range w.ctrs {
		if !c.gone {
			links(w.t, s, "ctr "+c.id, c.ns)
		}
	}
	files(w.t, s, "state", stateDir, func(rel string) bool {
		// Lock files persist by design: removing a flock file races with
		// another invocation that opened it. Only references count.
		return !strings.Contains(rel, "/locks/")
	})
	files(w.t, s, "ipam", ipamDir, func(rel string) bool {
		// host-local keeps its lock and last-reserved cursor by design.
		base := filepath.Base(rel)
		return base != "lock" && !strings.HasPrefix(base, "last_reserved_ip")
	})
	return s
}

func links(t *testing.T, s snap, where string, in ns.NetNS) {
	t.Helper()
	list := func() error {
		ls, err := netlink.LinkList()
		if err != nil {
			return err
		}
		byIndex := map[int]string{}
		for _, l := range ls {
			byIndex[l.Attrs().Index] = l.Attrs().Name
		}
		for _, l := range ls {
			a := l.Attrs()
			d := fmt.Sprintf("#%d %s mtu %d up=%v", a.Index, l.Type(), a.MTU, a.Flags&1 != 0)
			if a.Alias != "" {
				d += fmt.Sprintf(" alias %q", a.Alias)
			}
			if v, ok := l.(*netlink.Vlan); ok {
				parent := byIndex[v.ParentIndex]
				if parent == "" || a.NetNsID >= 0 {
					parent = fmt.Sprintf("#%d", v.ParentIndex)
				}
				d += fmt.Sprintf(" %s/%d on %s", v.VlanProtocol, v.VlanId, parent)
			}
			s[where+" link "+a.Name] = d
			addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
			if err != nil {
				return err
			}
			for _, ad := range addrs {
				if ad.IP.IsLinkLocalUnicast() {
					continue // IPv6 autoconf, timing-dependent
				}
				s[where+" addr "+a.Name+" "+ad.IPNet.String()] = ""
			}
		}
		return nil
	}
	var err error
	if in == nil {
		err = list()
	} else {
		err = in.Do(func(ns.NetNS) error { return list() })
	}
	if err != nil {
		t.Fatalf("snapshot %s: %v", where, err)
	}
}

func files(t *testing.T, s snap, where, dir string, keep func(string) bool) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if !keep("/" + rel) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s[where+" file "+rel] = fmt.Sprintf("%q", data)
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", where, err)
	}
}

// diff lists what differs from before to after, one line each.
func diff(before, after snap) []string {
	var out []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			out = append(out, "- "+k+" "+v)
		} else if w != v {
			out = append(out, fmt.Sprintf("~ %s: %s -> %s", k, v, w))
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			out = append(out, "+ "+k+" "+v)
		}
	}
	sort.Strings(out)
	return out
}

// unchanged asserts the world is exactly as in before, except for the keys
// the case itself removed (prefixes in gone).
func (w *world) unchanged(before snap, gone ...string) {
	w.t.Helper()
	b := snap{}
	for k, v := range before {
		drop := false
		for _, g := range gone {
			if strings.HasPrefix(k, g) {
				drop = true
			}
		}
		if !drop {
			b[k] = v
		}
	}
	if d := diff(b, w.snap()); len(d) > 0 {
		w.t.Errorf("the world changed:\n  %s", strings.Join(d, "\n  "))
	}
}

// attached asserts that, since before, the node gained a VLAN link, the
// state directory a reference and (when ipam) the IPAM store an allocation:
// the proof that a later "unchanged" is not vacuous.
func (w *world) attached(before snap, ipam bool) snap {
	w.t.Helper()
	now := w.snap()
	var vlan, ref, alloc bool
	for _, line := range diff(before, now) {
		switch {
		case strings.HasPrefix(line, "+ node link ") && strings.Contains(line, " vlan "):
			vlan = true
		case strings.HasPrefix(line, "+ state file "):
			ref = true
		case strings.HasPrefix(line, "+ ipam file "):
			alloc = true
		}
	}
	if !vlan || !ref || (ipam && !alloc) {
		w.t.Fatalf("ADD did not attach (S-link %v, reference %v, IPAM allocation %v):\n  %s",
			vlan, ref, alloc, strings.Join(diff(before, now), "\n  "))
	}
	return now
}

// has reports whether any key with the prefix exists in s.
func (s snap) has(prefix string) bool {
	for k := range s {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// hasWith reports whether some key with prefix has a value containing sub.
func (s snap) hasWith(prefix, sub string) bool {
	for k, v := range s {
		if strings.HasPrefix(k, prefix) && strings.Contains(k+" "+v, sub) {
			return true
		}
	}
	return false
}
