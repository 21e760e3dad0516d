//go:build kerneltest

// The kernel tests build real links on a real kernel (inside the VM that
// scripts/vm/run boots, or on a host with 8021q), exec the real bin/qinq, and
// check real traffic and captured frames. They never skip: a kernel that
// cannot make VLAN links fails the run.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
)

var (
	qinqBin string // the plugin binary under test
	cniPath string // where the IPAM plugins are
)

func TestMain(m *testing.M) {
	root, _ := filepath.Abs("../../..")
	qinqBin = envOr("QINQ_BIN", filepath.Join(root, "bin", "qinq"))
	cniPath = envOr("CNI_PATH", filepath.Join(root, "bin"))
	if err := preflight(); err != nil {
		fmt.Fprintf(os.Stderr, "kernel tests cannot run: %v\n(run them through `make test`, which boots the VM)\n", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// preflight fails loudly instead of letting tests skip.
func preflight() error {
	if os.Getuid() != 0 {
		return errors.New("not root")
	}
	if _, err := os.Stat(qinqBin); err != nil {
		return fmt.Errorf("plugin binary: %w (make build)", err)
	}
	if _, err := os.Stat(filepath.Join(cniPath, "static")); err != nil {
		return fmt.Errorf("IPAM plugins in CNI_PATH: %w (make build)", err)
	}
	if _, err := tcpdumpPath(); err != nil {
		return err
	}
	return ns.WithNetNSPath("/proc/self/ns/net", func(ns.NetNS) error { return nil })
}

// node is a simulated host: its own network namespace holding a "wire0"
// master link and the shared links qinq puts there.
type node struct {
	t  *testing.T
	ns ns.NetNS
}

func newNS(t *testing.T) ns.NetNS {
	t.Helper()
	n, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); _ = testutils.UnmountNS(n) })
	return n
}

// newNode makes a node; when the test ends the node "reboots": its netns and
// its state scope under /run/qinq go together, as /run does at a real reboot
// (a later node may get the same netns inode, and with it the same scope).
func newNode(t *testing.T) *node {
	n := &node{t: t, ns: newNS(t)}
	scope := n.scopeDir()
	t.Cleanup(func() { os.RemoveAll(scope) })
	return n
}

// scopeDir is where qinq keeps this node's references.
func (n *node) scopeDir() string {
	var st syscall.Stat_t
	if err := syscall.Stat(n.ns.Path(), &st); err != nil {
		n.t.Fatal(err)
	}
	return filepath.Join(envOr("QINQ_STATE_DIR", "/run/qinq"), fmt.Sprintf("host-%d", st.Ino))
}

// wire joins two nodes with a veth pair named wire0 on both sides.
func wire(t *testing.T, a, b *node, mtu int) {
	t.Helper()
	err := a.ns.Do(func(ns.NetNS) error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = "wire0", mtu
		v := &netlink.Veth{LinkAttrs: attrs, PeerName: "wirepeer", PeerNamespace: netlink.NsFd(int(b.ns.Fd()))}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		return netlink.LinkSetUp(v)
	})
	if err != nil {
		t.Fatalf("wire: %v", err)
	}
	b.do(func() error {
		l, err := netlink.LinkByName("wirepeer")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetName(l, "wire0"); err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
}

func (n *node) do(f func() error) {
	n.t.Helper()
	if err := n.ns.Do(func(ns.NetNS) error { return f() }); err != nil {
		n.t.Fatal(err)
	}
}

// container is a pod sandbox: a netns and an ID.
type container struct {
	id string
	ns ns.NetNS
}

var ctrSeq int
var ctrMu sync.Mutex

func newContainer(t *testing.T) *container {
	ctrMu.Lock()
	ctrSeq++
	id := fmt.Sprintf("ctr%d-%d", ctrSeq, time.Now().UnixNano()%100000)
	ctrMu.Unlock()
	return &container{id: id, ns: newNS(t)}
}

// conf is a network configuration under construction.
type conf map[string]any

func qinq(sVlan int, cVlans ...int) conf {
	c := conf{"cniVersion": "1.0.0", "name": "qinq-test", "type": "qinq", "master": "wire0", "sVlan": sVlan}
	if cVlans != nil {
		c["cVlans"] = cVlans
	}
	return c
}

func (c conf) with(k string, v any) conf {
	d := conf{}
	for a, b := range c {
		d[a] = b
	}
	d[k] = v
	return d
}

// withIP gives the container a static address.
func (c conf) withIP(cidr string) conf {
	return c.with("ipam", map[string]any{"type": "static", "addresses": []map[string]string{{"address": cidr}}})
}

func (c conf) bytes(t *testing.T) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exec runs bin/qinq with verb on node n, as a runtime would.
func (n *node) exec(verb string, c conf, ctr *container, ifName string) (types.Result, error) {
	return n.execWith(execOpts{}, verb, c, ctr, ifName)
}

// execOpts varies an invocation: another binary (bin/qinq-faults), CNI_ARGS.
type execOpts struct {
	bin     string
	cniArgs string
}

func (n *node) execWith(o execOpts, verb string, c conf, ctr *container, ifName string) (types.Result, error) {
	bin := qinqBin
	if o.bin != "" {
		bin = o.bin
	}
	args := &invoke.Args{Command: verb, ContainerID: ctr.id, IfName: ifName, Path: cniPath, PluginArgsStr: o.cniArgs}
	if ctr.ns != nil {
		args.NetNS = ctr.ns.Path()
	}
	var res types.Result
	var err error
	perr := n.ns.Do(func(ns.NetNS) error {
		if verb == "ADD" {
			res, err = invoke.ExecPluginWithResult(context.Background(), bin, c.bytes(n.t), args, nil)
		} else {
			err = invoke.ExecPluginWithoutResult(context.Background(), bin, c.bytes(n.t), args, nil)
		}
		return nil
	})
	if perr != nil {
		n.t.Fatal(perr)
	}
	return res, err
}

func (n *node) add(c conf, ctr *container, ifName string) *current.Result {
	n.t.Helper()
	r, err := n.exec("ADD", c, ctr, ifName)
	if err != nil {
		n.t.Fatalf("ADD %v: %v", c, err)
	}
	res, err := current.NewResultFromResult(r)
	if err != nil {
		n.t.Fatal(err)
	}
	return res
}

func (n *node) del(c conf, ctr *container, ifName string) {
	n.t.Helper()
	if _, err := n.exec("DEL", c, ctr, ifName); err != nil {
		n.t.Fatalf("DEL %v: %v", c, err)
	}
}

func (n *node) check(c conf, ctr *container, ifName string, prev *current.Result) error {
	_, err := n.exec("CHECK", c.with("prevResult", prev), ctr, ifName)
	return err
}

// vlans lists the VLAN links in a namespace, by name.
func vlans(t *testing.T, where ns.NetNS) map[string]*netlink.Vlan {
	t.Helper()
	out := map[string]*netlink.Vlan{}
	err := where.Do(func(ns.NetNS) error {
		links, err := netlink.LinkList()
		for _, l := range links {
			if v, ok := l.(*netlink.Vlan); ok {
				out[v.Name] = v
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func linkIn(t *testing.T, where ns.NetNS, name string) netlink.Link {
	t.Helper()
	var l netlink.Link
	err := where.Do(func(ns.NetNS) error {
		var err error
		l, err = netlink.LinkByName(name)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return l
}

func cniCode(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// --- traffic -----------------------------------------------------------------

const echoPort = 7007

// exchange sends one UDP datagram that fills the sender's MTU exactly, with
// DF set, from client to server, and expects it echoed back. It returns an
// error when nothing comes back.
func exchange(t *testing.T, client *container, server *container, serverIP string, mtu int) error {
	t.Helper()
	return exchangeN(t, client, server, serverIP, mtu, 4)
}

// unreachable reports whether one datagram gets no echo; a reachable peer
// answers the first try within the deadline.
func unreachable(t *testing.T, client *container, server *container, serverIP string) bool {
	t.Helper()
	return exchangeN(t, client, server, serverIP, 1000, 1) != nil
}

func exchangeN(t *testing.T, client *container, server *container, serverIP string, mtu, attempts int) error {
	srv := listenUDP(t, server, serverIP)
	defer srv.Close()
	go echo(srv)
	conn := dialUDP(t, client, serverIP)
	defer conn.Close()
	payload := make([]byte, mtu-20-8) // IPv4 + UDP headers
	for i := range payload {
		payload[i] = byte(i)
	}
	buf := make([]byte, 65536)
	for attempt := 0; attempt < attempts; attempt++ {
		if _, err := conn.Write(payload); err != nil {
			return fmt.Errorf("send %d bytes with DF: %w", len(payload)+28, err)
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := conn.Read(buf)
		if err == nil && n == len(payload) {
			return nil
		}
	}
	return fmt.Errorf("no echo of a %d-byte DF packet from %s", mtu, serverIP)
}

func listenUDP(t *testing.T, c *container, ip string) *net.UDPConn {
	var conn *net.UDPConn
	err := c.ns.Do(func(ns.NetNS) error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: echoPort})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func echo(c *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		c.WriteToUDP(buf[:n], from)
	}
}

// dialUDP opens a socket in the client container with path MTU discovery
// forced on: every datagram carries DF and is never fragmented.
func dialUDP(t *testing.T, c *container, ip string) *net.UDPConn {
	var conn *net.UDPConn
	err := c.ns.Do(func(ns.NetNS) error {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, syscall.IP_PMTUDISC_DO)
			})
			return errors.Join(err, serr)
		}}
		cn, err := d.Dial("udp4", net.JoinHostPort(ip, fmt.Sprint(echoPort)))
		if err == nil {
			conn = cn.(*net.UDPConn)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// --- capture -----------------------------------------------------------------

// frame is an Ethernet frame as captured: its VLAN tags outermost first and
// the EtherType after them.
type frame struct {
	tags      []tag
	etherType uint16
	length    int
}

type tag struct {
	tpid uint16
	vid  int
}

func (f frame) String() string {
	var s []string
	for _, t := range f.tags {
		s = append(s, fmt.Sprintf("0x%04x/%d", t.tpid, t.vid))
	}
	return fmt.Sprintf("[%s] 0x%04x len %d", strings.Join(s, " "), f.etherType, f.length)
}

func tcpdumpPath() (string, error) {
	for _, p := range []string{"/usr/bin/tcpdump", "/usr/sbin/tcpdump"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("tcpdump not found in /usr/bin or /usr/sbin (scripts/vm/setup.sh installs it)")
}

// capture starts tcpdump on ifName in n and returns a function that stops it
// and returns the frames seen.
func capture(t *testing.T, n *node, ifName string) func() []frame {
	t.Helper()
	bin, err := tcpdumpPath()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "wire.pcap")
	cmd := exec.Command(bin, "-i", ifName, "-w", file, "-U", "--immediate-mode", "-nn", "-s", "96", "-Z", "root")
	stderr, _ := cmd.StderrPipe()
	n.do(cmd.Start)
	// tcpdump says "listening on wire0, ..." once its socket is bound; the
	// line may arrive in pieces.
	lines := bufio.NewReader(stderr)
	for said := ""; !strings.Contains(said, "listening on"); {
		line, err := lines.ReadString('\n')
		said += line
		if err != nil {
			t.Fatalf("tcpdump did not start: %v: %s", err, said)
		}
	}
	return func() []frame {
		settle(file)
		cmd.Process.Signal(syscall.SIGINT)
		rest, _ := io.ReadAll(lines)
		cmd.Wait()
		data, err := os.ReadFile(file)
		if err == nil && len(data) <= 24 {
			t.Logf("tcpdump captured nothing: %s", rest)
		}
		if err != nil {
			t.Fatal(err)
		}
		return parsePcap(t, data)
	}
}

// settle waits until tcpdump has written every frame it received: the file
// stops growing (a slow emulated CPU may lag behind the traffic).
func settle(file string) {
	last, stable := int64(-1), 0
	for i := 0; i < 40 && stable < 3; i++ {
		time.Sleep(100 * time.Millisecond)
		st, err := os.Stat(file)
		if err == nil && st.Size() == last {
			stable++
		} else if err == nil {
			last, stable = st.Size(), 0
		}
	}
}

// parsePcap reads a classic pcap file of Ethernet frames. libpcap puts the
// tag the kernel carried out of band back into the frame, so this sees what
// a switch port would.
func parsePcap(t *testing.T, data []byte) []frame {
	if len(data) < 24 || binary.LittleEndian.Uint32(data) != 0xa1b2c3d4 {
		t.Fatalf("not a little-endian pcap file (%d bytes)", len(data))
	}
	var frames []frame
	for off := 24; off+16 <= len(data); {
		capLen := int(binary.LittleEndian.Uint32(data[off+8:]))
		origLen := int(binary.LittleEndian.Uint32(data[off+12:]))
		pkt := data[off+16 : min(off+16+capLen, len(data))]
		off += 16 + capLen
		if len(pkt) < 14 {
			continue
		}
		f := frame{length: origLen}
		p := 12
		for p+4 <= len(pkt) {
			et := binary.BigEndian.Uint16(pkt[p:])
			if et != 0x88a8 && et != 0x8100 && et != 0x9100 {
				f.etherType = et
				break
			}
			f.tags = append(f.tags, tag{et, int(binary.BigEndian.Uint16(pkt[p+2:]) & 0x0fff)})
			p += 4
		}
		frames = append(frames, f)
	}
	return frames
}

// ipFrames keeps the frames that carry IPv4.
func ipFrames(fs []frame) []frame {
	var out []frame
	for _, f := range fs {
		if f.etherType == 0x0800 {
			out = append(out, f)
		}
	}
	return out
}

// assertTags checks that IPv4 frames were captured and all carry want.
func assertTags(t *testing.T, fs []frame, want ...tag) {
	t.Helper()
	ip := ipFrames(fs)
	if len(ip) < 2 {
		t.Fatalf("captured %d IPv4 frames (of %d), want at least a request and a reply: %v", len(ip), len(fs), fs)
	}
	for _, f := range ip {
		if len(f.tags) != len(want) {
			t.Fatalf("frame %v: %d tags, want %v", f, len(f.tags), want)
		}
		for i := range want {
			if f.tags[i] != want[i] {
				t.Fatalf("frame %v: tag %d is 0x%04x/%d, want 0x%04x/%d", f, i, f.tags[i].tpid, f.tags[i].vid, want[i].tpid, want[i].vid)
			}
		}
	}
	t.Logf("captured %d IPv4 frames, e.g. %v", len(ip), ip[0])
}

// testutils_unmount deletes a container's netns, as a runtime does when a pod
// dies before its DEL.
func testutils_unmount(t *testing.T, c *container) {
	if err := testutils.UnmountNS(c.ns); err != nil {
		t.Fatal(err)
	}
}

// assertNoReferences fails if any reference file of the given containers is
// left in the state directory.
func assertNoReferences(t *testing.T, _ string, containerIDs ...string) {
	t.Helper()
	dir := envOr("QINQ_STATE_DIR", "/run/qinq")
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		for _, id := range containerIDs {
			if strings.HasPrefix(d.Name(), id+":") {
				t.Errorf("reference left behind: %s", path)
			}
		}
		return nil
	})
}
