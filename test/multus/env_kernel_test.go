//go:build kerneltest

package multus

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
)

// Small, self-contained helpers: network namespaces for nodes and pods, a
// veth wire, a tcpdump capture. (internal/testenv is to replace them.)

func newNS(t *testing.T) ns.NetNS {
	t.Helper()
	n, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); testutils.UnmountNS(n) })
	return n
}

func do(t *testing.T, where ns.NetNS, f func() error) {
	t.Helper()
	if err := where.Do(func(ns.NetNS) error { return f() }); err != nil {
		t.Fatal(err)
	}
}

// wire joins nodes a and b with a veth pair named eth1 on both sides (the
// master the deploy/ NADs name), and brings lo up on both.
func wire(t *testing.T, a, b ns.NetNS) {
	t.Helper()
	do(t, a, func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = "eth1", 1500
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "peer1", PeerNamespace: netlink.NsFd(int(b.Fd()))})
	})
	do(t, b, func() error {
		l, err := netlink.LinkByName("peer1")
		if err != nil {
			return err
		}
		return netlink.LinkSetName(l, "eth1")
	})
	for _, n := range []ns.NetNS{a, b} {
		do(t, n, func() error {
			for _, name := range []string{"lo", "eth1"} {
				l, err := netlink.LinkByName(name)
				if err != nil {
					return err
				}
				if err := netlink.LinkSetUp(l); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// links lists the links of a namespace by name.
func links(t *testing.T, where ns.NetNS) map[string]netlink.Link {
	t.Helper()
	out := map[string]netlink.Link{}
	do(t, where, func() error {
		ls, err := netlink.LinkList()
		for _, l := range ls {
			out[l.Attrs().Name] = l
		}
		return err
	})
	return out
}

type tag struct {
	tpid uint16
	vid  int
}

// frame is a captured Ethernet frame: source MAC, VLAN tags outermost
// first, and the EtherType after them.
type frame struct {
	src       net.HardwareAddr
	tags      []tag
	etherType uint16
}

func (f frame) String() string {
	var s []string
	for _, t := range f.tags {
		s = append(s, fmt.Sprintf("0x%04x/%d", t.tpid, t.vid))
	}
	return fmt.Sprintf("%s [%s] 0x%04x", f.src, strings.Join(s, " "), f.etherType)
}

// capture runs tcpdump on ifName in where until the returned function is
// called; that returns the frames seen.
func capture(t *testing.T, where ns.NetNS, ifName string) func() []frame {
	t.Helper()
	bin := "/usr/bin/tcpdump"
	if _, err := os.Stat(bin); err != nil {
		bin = "/usr/sbin/tcpdump"
	}
	file := filepath.Join(t.TempDir(), "wire.pcap")
	cmd := exec.Command(bin, "-i", ifName, "-w", file, "-U", "--immediate-mode", "-nn", "-s", "96", "-Z", "root")
	stderr, _ := cmd.StderrPipe()
	do(t, where, cmd.Start)
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
		io.Copy(io.Discard, lines)
		cmd.Wait()
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return parsePcap(t, data)
	}
}

// settle waits until tcpdump has written what it received: the file stops
// growing (an emulated CPU may lag behind the traffic).
func settle(file string) {
	last, stable := int64(-1), 0
	for i := 0; i < 40 && stable < 3; i++ {
		time.Sleep(100 * time.Millisecond)
		if st, err := os.Stat(file); err == nil && st.Size() == last {
			stable++
		} else if err == nil {
			last, stable = st.Size(), 0
		}
	}
}

// parsePcap reads a classic little-endian pcap file of Ethernet frames
// (libpcap puts the tag the kernel carried out of band back in the frame).
func parsePcap(t *testing.T, data []byte) []frame {
	t.Helper()
	if len(data) < 24 || binary.LittleEndian.Uint32(data) != 0xa1b2c3d4 {
		t.Fatalf("not a little-endian pcap file (%d bytes)", len(data))
	}
	var out []frame
	for off := 24; off+16 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off+8:]))
		pkt := data[off+16 : min(off+16+n, len(data))]
		off += 16 + n
		if len(pkt) < 14 {
			continue
		}
		f := frame{src: net.HardwareAddr(pkt[6:12])}
		for p := 12; p+4 <= len(pkt); p += 4 {
			et := binary.BigEndian.Uint16(pkt[p:])
			if et != 0x88a8 && et != 0x8100 {
				f.etherType = et
				break
			}
			f.tags = append(f.tags, tag{et, int(binary.BigEndian.Uint16(pkt[p+2:]) & 0x0fff)})
		}
		out = append(out, f)
	}
	return out
}

// echoUDP sends datagrams from client to server:port (server answers from a
// goroutine) until one comes back.
func echoUDP(t *testing.T, client, server ns.NetNS, serverIP string) error {
	t.Helper()
	var srv *net.UDPConn
	do(t, server, func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(serverIP), Port: 7007})
		return err
	})
	defer srv.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			srv.WriteToUDP(buf[:n], from)
		}
	}()
	var conn net.Conn
	do(t, client, func() (err error) {
		conn, err = net.Dial("udp4", net.JoinHostPort(serverIP, "7007"))
		return err
	})
	defer conn.Close()
	buf := make([]byte, 2048)
	for i := 0; i < 5; i++ {
		conn.Write([]byte("qinq through multus"))
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Read(buf); err == nil {
			return nil
		}
	}
	return errors.New("no echo from " + serverIP)
}
