package testenv

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// EchoPort is the UDP port the echo server listens on.
const EchoPort = 7007

// Echo sends one UDP datagram of exactly size bytes on the wire (IPv4 and
// UDP headers included), with DF set, from client to server and wants it
// echoed back: it crosses only if every link on the way carries size bytes.
// It tries five times (the first may wait for ARP) and returns an error when
// nothing came back.
func Echo(t testing.TB, client, server *Container, serverIP string, size int) error {
	t.Helper()
	return echo(t, client, server, serverIP, size, 5)
}

// EchoOnce is Echo with a single try: for a datagram that must not leave.
func EchoOnce(t testing.TB, client, server *Container, serverIP string, size int) error {
	t.Helper()
	return echo(t, client, server, serverIP, size, 1)
}

// Unreachable reports whether one datagram gets no echo; a reachable peer
// answers the first try within the deadline.
func Unreachable(t testing.TB, client, server *Container, serverIP string) bool {
	t.Helper()
	return echo(t, client, server, serverIP, 1000, 1) != nil
}

func echo(t testing.TB, client, server *Container, serverIP string, size, tries int) error {
	t.Helper()
	srv := listenUDP(t, server, serverIP)
	defer srv.Close()
	go serveEcho(srv)
	conn := dialUDP(t, client, serverIP)
	defer conn.Close()
	payload := make([]byte, size-20-8) // IPv4 + UDP headers
	for i := range payload {
		payload[i] = byte(i)
	}
	buf := make([]byte, 65536)
	for range tries {
		if _, err := conn.Write(payload); err != nil {
			return fmt.Errorf("send a %d-byte DF packet: %w", size, err)
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := conn.Read(buf); err == nil && n == len(payload) {
			return nil
		}
	}
	return fmt.Errorf("no echo of a %d-byte DF packet from %s", size, serverIP)
}

func listenUDP(t testing.TB, c *Container, ip string) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	c.Do(t, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: EchoPort})
		return err
	})
	return conn
}

func serveEcho(c *net.UDPConn) {
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
func dialUDP(t testing.TB, c *Container, ip string) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	c.Do(t, func() error {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, syscall.IP_PMTUDISC_DO)
			})
			return errors.Join(err, serr)
		}}
		cn, err := d.Dial("udp4", net.JoinHostPort(ip, fmt.Sprint(EchoPort)))
		if err == nil {
			conn = cn.(*net.UDPConn)
		}
		return err
	})
	return conn
}
