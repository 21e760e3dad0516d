package testenv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// Forged frames: what an attacker with CAP_NET_RAW writes on a link
// (AF_PACKET), byte for byte, tags included; and the counters of the
// namespace that may answer.

// EtherType values of the frames built here.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
)

// EthernetFrame is dst, src, the tags outermost first, etherType and
// payload, padded to the 60-byte minimum.
func EthernetFrame(dst, src net.HardwareAddr, tags []Tag, etherType uint16, payload []byte) []byte {
	f := append(append([]byte{}, dst...), src...)
	for _, t := range tags {
		f = binary.BigEndian.AppendUint16(f, t.TPID)
		f = binary.BigEndian.AppendUint16(f, uint16(t.VID))
	}
	f = binary.BigEndian.AppendUint16(f, etherType)
	f = append(f, payload...)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

// ARPRequest is an ARP request (the EtherTypeARP payload) from sha/spa
// asking who has tpa; spa 0.0.0.0 makes it a duplicate address probe.
func ARPRequest(sha net.HardwareAddr, spa, tpa net.IP) []byte {
	p := []byte{0, 1, 8, 0, 6, 4, 0, 1}
	p = append(p, sha...)
	p = append(p, spa.To4()...)
	p = append(p, make([]byte, 6)...)
	return append(p, tpa.To4()...)
}

// ICMPv4Echo is an IPv4 packet carrying an ICMP echo request (the
// EtherTypeIPv4 payload).
func ICMPv4Echo(src, dst net.IP, seq int) []byte {
	icmp := echoBody(8, seq)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	return ipv4(src, dst, 1, icmp)
}

// ipv4 puts body behind an IPv4 header (DF, TTL 64) for protocol proto.
func ipv4(src, dst net.IP, proto byte, body []byte) []byte {
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(body)))
	ip = append(append(ip, src.To4()...), dst.To4()...)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	return append(ip, body...)
}

// UDPv4 is an IPv4 packet carrying one UDP datagram (the EtherTypeIPv4
// payload; no UDP checksum, which IPv4 allows).
func UDPv4(src, dst net.IP, sport, dport int, data []byte) []byte {
	udp := binary.BigEndian.AppendUint16(nil, uint16(sport))
	udp = binary.BigEndian.AppendUint16(udp, uint16(dport))
	udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(data)))
	udp = append(append(udp, 0, 0), data...)
	return ipv4(src, dst, 17, udp)
}

// ICMPv6Echo is an IPv6 packet carrying an ICMPv6 echo request (the
// EtherTypeIPv6 payload).
func ICMPv6Echo(src, dst net.IP, seq int) []byte {
	icmp := echoBody(128, seq)
	pseudo := append(append([]byte{}, src.To16()...), dst.To16()...)
	pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(icmp)))
	pseudo = append(pseudo, 0, 0, 0, 58)
	binary.BigEndian.PutUint16(icmp[2:], checksum(append(pseudo, icmp...)))
	ip := []byte{0x60, 0, 0, 0, 0, 0, 58, 255}
	binary.BigEndian.PutUint16(ip[4:], uint16(len(icmp)))
	ip = append(append(ip, src.To16()...), dst.To16()...)
	return append(ip, icmp...)
}

// echoBody is an ICMP(v6) echo request of type typ with a 16-byte payload,
// checksum zero.
func echoBody(typ byte, seq int) []byte {
	b := []byte{typ, 0, 0, 0, 0x51, 0x51, byte(seq >> 8), byte(seq)}
	return append(b, []byte("qinq-isolation!!")...)
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// SendFrames writes frames as they are on link ifName in where, through an
// AF_PACKET socket: the link's driver sees exactly these bytes.
func SendFrames(t testing.TB, where ns.NetNS, ifName string, frames ...[]byte) {
	t.Helper()
	sendFrames(t, where, ifName, false, frames)
}

// SendFramesFiltered is SendFrames where a filter may drop frames in the
// sender's call: a filter on a lower link the sending path reaches
// synchronously (a VLAN link, a macvlan) answers ENOBUFS, taken as sent. It
// returns how many the kernel dropped that way.
func SendFramesFiltered(t testing.TB, where ns.NetNS, ifName string, frames ...[]byte) int {
	t.Helper()
	return sendFrames(t, where, ifName, true, frames)
}

func sendFrames(t testing.TB, where ns.NetNS, ifName string, filtered bool, frames [][]byte) (dropped int) {
	InNS(t, where, func() error {
		ifi, err := net.InterfaceByName(ifName)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		defer unix.Close(fd)
		to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
		for _, f := range frames {
			copy(to.Addr[:], f[:6])
			err := unix.Sendto(fd, f, 0, to)
			switch {
			case filtered && errors.Is(err, unix.ENOBUFS):
				dropped++
			case err != nil:
				return fmt.Errorf("send a %d-byte frame on %s: %w", len(f), ifName, err)
			}
		}
		return nil
	})
	return dropped
}

// ARPReplies counts the ARP replies among fs whose sender address is spa.
func ARPReplies(fs []Frame, spa net.IP) int {
	n := 0
	for _, f := range fs {
		p := f.Payload
		if f.EtherType == EtherTypeARP && len(p) >= 18 && binary.BigEndian.Uint16(p[6:]) == 2 && net.IP(p[14:18]).Equal(spa) {
			n++
		}
	}
	return n
}

// Counter reads one of the kernel's SNMP counters of where's own stack:
// ("Icmp", "OutEchoReps") from /proc/net/snmp, ("Icmp6", "OutEchoReplies")
// from /proc/net/snmp6. It reads the calling thread's view, so it counts
// the namespace's own replies, not the test process's.
func Counter(t testing.TB, where ns.NetNS, group, name string) int {
	t.Helper()
	var v int
	InNS(t, where, func() error {
		var err error
		v, err = readCounter(group, name)
		return err
	})
	return v
}

func readCounter(group, name string) (int, error) {
	file := "/proc/thread-self/net/snmp"
	if group == "Icmp6" {
		file += "6"
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var header []string
	for s := bufio.NewScanner(f); s.Scan(); {
		fields := strings.Fields(s.Text())
		switch {
		case group == "Icmp6" && len(fields) == 2 && fields[0] == group+name:
			return strconv.Atoi(fields[1])
		case len(fields) < 2 || fields[0] != group+":":
		case header == nil:
			header = fields
		default:
			for i, h := range header {
				if h == name && i < len(fields) {
					return strconv.Atoi(fields[i])
				}
			}
		}
	}
	return 0, fmt.Errorf("no counter %s %s in %s", group, name, file)
}

// Sysctl reads the sysctl key (slashes as separators: net/ipv4/conf/eth1.100/rp_filter)
// in where.
func Sysctl(t testing.TB, where ns.NetNS, key string) string {
	t.Helper()
	var v string
	InNS(t, where, func() error {
		b, err := os.ReadFile("/proc/sys/" + key)
		v = strings.TrimSpace(string(b))
		return err
	})
	return v
}

// SetSysctl writes the sysctl key in where.
func SetSysctl(t testing.TB, where ns.NetNS, key, value string) {
	t.Helper()
	InNS(t, where, func() error { return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644) })
}
