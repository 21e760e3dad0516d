//go:build kerneltest

package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// TestCnitool: the runtime's view end to end, with the pinned cnitool and
// host-local from the Go module proxy (bin/cnitool, bin/host-local).
func TestCnitool(t *testing.T) {
	spec(t, "add, check, a full-size packet across, del on two nodes with host-local", func(t *testing.T) {
		a, b := &world{t: t, node: &node{t: t, ns: newNS(t)}}, &world{t: t, node: &node{t: t, ns: newNS(t)}}
		wirePair(t, a.node, b.node)
		ca, cb := newContainer(t), newContainer(t)
		a.ctrs, b.ctrs = []*container{ca}, []*container{cb}
		beforeA, beforeB := a.snap(), b.snap()

		// One network, two nodes: each node's host-local hands out its own
		// part of the subnet, as a real deployment would configure it.
		netconf := func(first, last string) string {
			dir := t.TempDir()
			cf := qinq("1.1.0", 3015, 2).with("name", "tenant-a", "ipam", map[string]any{
				"type": "host-local", "dataDir": ipamDir,
				"ranges": [][]map[string]string{{{"subnet": "192.168.2.0/24", "rangeStart": first, "rangeEnd": last}}},
			})
			if err := os.WriteFile(filepath.Join(dir, "10-tenant-a.conf"), cf.bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}
		dirA, dirB := netconf("192.168.2.10", "192.168.2.19"), netconf("192.168.2.20", "192.168.2.29")

		resA := cnitool(t, a.node, dirA, "add", ca)
		resB := cnitool(t, b.node, dirB, "add", cb)
		a.attached(beforeA, true)
		b.attached(beforeB, true)
		ipA, ipB := onlyIP(t, resA), onlyIP(t, resB)
		if !strings.HasPrefix(ipA, "192.168.2.1") || !strings.HasPrefix(ipB, "192.168.2.2") {
			t.Fatalf("addresses %s and %s are not from the two nodes' ranges", ipA, ipB)
		}
		if l, err := linkByName(t, ca.ns, "net1"); err != nil || l.Attrs().MTU != 1496 {
			t.Fatalf("net1 in the container: %v (MTU want 1496)", err)
		}
		cnitool(t, a.node, dirA, "check", ca)
		cnitool(t, b.node, dirB, "check", cb)
		if err := udpEcho(t, ca, cb, strings.Split(ipB, "/")[0], 1496); err != nil {
			t.Fatal(err)
		}
		cnitool(t, a.node, dirA, "del", ca)
		cnitool(t, b.node, dirB, "del", cb)
		a.unchanged(beforeA)
		b.unchanged(beforeB)
	})
}

// wirePair joins two nodes with a veth pair named eth1 on both sides.
func wirePair(t *testing.T, a, b *node) {
	t.Helper()
	a.do(func() error {
		la := netlink.NewLinkAttrs()
		la.Name, la.MTU = master, 1500
		v := &netlink.Veth{LinkAttrs: la, PeerName: "peer1", PeerNamespace: netlink.NsFd(int(b.ns.Fd()))}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		return netlink.LinkSetUp(v)
	})
	b.do(func() error {
		l, err := netlink.LinkByName("peer1")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetName(l, master); err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
}

// cnitool runs bin/cnitool <verb> tenant-a <netns> on node n and returns its
// stdout.
func cnitool(t *testing.T, n *node, confDir, verb string, c *container) []byte {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "cnitool"), verb, "tenant-a", c.path)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "QINQ_STATE_DIR=" + stateDir, "NETCONFPATH=" + confDir,
		"CNI_PATH=" + filepath.Dir(qinqBin) + ":" + binDir, "CNI_IFNAME=net1",
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	var err error
	n.do(func() error { err = cmd.Run(); return nil })
	if err != nil {
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

// udpEcho sends one datagram filling the sender's MTU, with DF, from client
// to server and wants it back.
func udpEcho(t *testing.T, client, server *container, serverIP string, mtu int) error {
	t.Helper()
	var srv *net.UDPConn
	err := server.ns.Do(func(ns.NetNS) error {
		var err error
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(serverIP), Port: 7007})
		return err
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			srv.WriteToUDP(buf[:n], from)
		}
	}()
	var conn net.Conn
	err = client.ns.Do(func(ns.NetNS) error {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, syscall.IP_PMTUDISC_DO)
			})
			return errors.Join(err, serr)
		}}
		var err error
		conn, err = d.Dial("udp4", net.JoinHostPort(serverIP, "7007"))
		return err
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	payload := bytes.Repeat([]byte{0x5a}, mtu-28)
	buf := make([]byte, 65536)
	for try := 0; try < 5; try++ { // the first may wait for ARP
		if _, err := conn.Write(payload); err != nil {
			return fmt.Errorf("send a %d-byte DF packet: %w", mtu, err)
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := conn.Read(buf); err == nil && n == len(payload) {
			return nil
		}
	}
	return fmt.Errorf("no echo of a %d-byte DF packet from %s", mtu, serverIP)
}
