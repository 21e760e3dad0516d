package testenv

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
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The TPIDs a VLAN tag can carry.
const (
	TPID8021AD = 0x88a8
	TPID8021Q  = 0x8100
	TPID9100   = 0x9100 // the pre-standard QinQ TPID: parsed, never sent by Linux
)

// Tag is one VLAN tag of a frame.
type Tag struct {
	TPID uint16
	VID  int
}

// Tag8021AD is an 802.1ad (0x88a8) tag with vid.
func Tag8021AD(vid int) Tag { return Tag{TPID8021AD, vid} }

// Tag8021Q is an 802.1Q (0x8100) tag with vid.
func Tag8021Q(vid int) Tag { return Tag{TPID8021Q, vid} }

func (t Tag) String() string { return fmt.Sprintf("0x%04x/%d", t.TPID, t.VID) }

// Frame is an Ethernet frame as captured: its addresses, its VLAN tags
// outermost first, the EtherType after them, and its length on the wire.
type Frame struct {
	Dst, Src  net.HardwareAddr
	Tags      []Tag
	EtherType uint16
	Length    int
	Payload   []byte // what follows the EtherType, as far as the capture kept it
}

func (f Frame) String() string {
	var s []string
	for _, t := range f.Tags {
		s = append(s, t.String())
	}
	return fmt.Sprintf("%s > %s [%s] 0x%04x len %d", f.Src, f.Dst, strings.Join(s, " "), f.EtherType, f.Length)
}

// Tcpdump is Debian's tcpdump (scripts/vm/setup.sh installs it).
func Tcpdump() (string, error) {
	for _, p := range []string{"/usr/bin/tcpdump", "/usr/sbin/tcpdump"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("tcpdump not found in /usr/bin or /usr/sbin (scripts/vm/setup.sh installs it)")
}

// Capture starts tcpdump on ifName in the node and returns a function that
// stops it and returns the frames seen.
func (n *Node) Capture(ifName string) (stop func() []Frame) {
	n.t.Helper()
	return n.capture(ifName)
}

// CaptureSent is Capture of the frames ifName sends only: on a wire to a
// switch, what the node puts on it, not what the switch floods to it.
func (n *Node) CaptureSent(ifName string) (stop func() []Frame) {
	n.t.Helper()
	return n.capture(ifName, "-Q", "out")
}

func (n *Node) capture(ifName string, extra ...string) (stop func() []Frame) {
	t := n.t
	t.Helper()
	bin, err := Tcpdump()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), ifName+".pcap")
	args := append([]string{"-i", ifName, "-w", file, "-U", "--immediate-mode", "-nn", "-s", "96", "-Z", "root"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, _ := cmd.StderrPipe()
	n.Start(cmd)
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
	return func() []Frame {
		settle(file)
		cmd.Process.Signal(syscall.SIGINT)
		rest, _ := io.ReadAll(lines)
		cmd.Wait()
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) <= 24 {
			t.Logf("tcpdump captured nothing: %s", rest)
		}
		frames, err := ParsePcap(data)
		if err != nil {
			t.Fatal(err)
		}
		return frames
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

// ParsePcap reads a classic little-endian pcap file of Ethernet frames.
// libpcap puts the tag the kernel carried out of band back into the frame,
// so this sees what a switch port would.
func ParsePcap(data []byte) ([]Frame, error) {
	if len(data) < 24 || binary.LittleEndian.Uint32(data) != 0xa1b2c3d4 {
		return nil, fmt.Errorf("not a little-endian pcap file (%d bytes)", len(data))
	}
	var frames []Frame
	for off := 24; off+16 <= len(data); {
		capLen := int(binary.LittleEndian.Uint32(data[off+8:]))
		origLen := int(binary.LittleEndian.Uint32(data[off+12:]))
		pkt := data[off+16 : min(off+16+capLen, len(data))]
		off += 16 + capLen
		if len(pkt) >= 14 {
			frames = append(frames, parseFrame(pkt, origLen))
		}
	}
	return frames, nil
}

// parseFrame reads the tags after the two MAC addresses.
func parseFrame(pkt []byte, length int) Frame {
	f := Frame{Length: length, Dst: net.HardwareAddr(pkt[0:6]), Src: net.HardwareAddr(pkt[6:12])}
	for p := 12; p+4 <= len(pkt); p += 4 {
		et := binary.BigEndian.Uint16(pkt[p:])
		if et != TPID8021AD && et != TPID8021Q && et != TPID9100 {
			f.EtherType, f.Payload = et, pkt[p+2:]
			break
		}
		f.Tags = append(f.Tags, Tag{et, int(binary.BigEndian.Uint16(pkt[p+2:]) & 0x0fff)})
	}
	return f
}

// IPv4Frames keeps the frames that carry IPv4.
func IPv4Frames(fs []Frame) []Frame {
	var out []Frame
	for _, f := range fs {
		if f.EtherType == 0x0800 {
			out = append(out, f)
		}
	}
	return out
}

// AssertTags checks that IPv4 frames were captured (at least a request and a
// reply) and that all carry exactly the tags want, outermost first.
func AssertTags(t testing.TB, fs []Frame, want ...Tag) {
	t.Helper()
	ip := IPv4Frames(fs)
	if len(ip) < 2 {
		t.Fatalf("captured %d IPv4 frames (of %d), want at least a request and a reply: %v", len(ip), len(fs), fs)
	}
	for _, f := range ip {
		if len(f.Tags) != len(want) {
			t.Fatalf("frame %v: %d tags, want %v", f, len(f.Tags), want)
		}
		for i := range want {
			if f.Tags[i] != want[i] {
				t.Fatalf("frame %v: tag %d is %v, want %v", f, i, f.Tags[i], want[i])
			}
		}
	}
	t.Logf("captured %d IPv4 frames, e.g. %v", len(ip), ip[0])
}

// Sources lists the distinct source MACs of the IPv4 frames.
func Sources(fs []Frame) []string {
	var out []string
	for _, f := range IPv4Frames(fs) {
		if !slices.Contains(out, f.Src.String()) {
			out = append(out, f.Src.String())
		}
	}
	slices.Sort(out)
	return out
}
