package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// DataPath is item 5: iperf3 throughput (Mbit/s received) between two
// containers across a veth wire, per encapsulation and protocol.
type DataPath struct {
	Mode  string    `json:"mode"` // qinq, single, untagged, qinq-bridge, bridge
	Desc  string    `json:"desc"`
	TCP   []float64 `json:"tcpMbps"`
	UDP   []float64 `json:"udpMbps"`
	MTU   int       `json:"containerMTU"`
	TCPMd Num       `json:"tcpMedianMbps"`
	UDPMd Num       `json:"udpMedianMbps"`
}

// pathPair is two containers, a and b, on the two ends of one wire.
type pathPair struct {
	DataPath
	plugin string
	confs  [2][]byte
	nses   [2]ns.NetNS
	ips    [2]string
}

func dataPairs(e *Env) []*pathPair {
	mk := func(mode, desc, plugin string, subnet int, f func(end int) map[string]any) *pathPair {
		p := &pathPair{DataPath: DataPath{Mode: mode, Desc: desc}, plugin: plugin}
		for end := 0; end < 2; end++ {
			p.ips[end] = fmt.Sprintf("10.50.%d.%d", subnet, end+1)
			fields := f(end)
			fields["name"] = "dp-" + mode
			fields["ipam"] = staticIPAM(p.ips[end] + "/24")
			p.confs[end] = conf(fields)
		}
		return p
	}
	return []*pathPair{
		mk("qinq", "qinq: 802.1ad 100 + 802.1Q 10 on each end", e.Qinq, 0, func(end int) map[string]any {
			return map[string]any{"type": "qinq", "containerLink": "vlan", "master": fmt.Sprintf("dq%d", end), "sVlan": 100, "cVlans": []int{10}}
		}),
		mk("single", "reference vlan v1.9.1: 802.1Q 10 on each end", e.Vlan, 1, func(end int) map[string]any {
			return map[string]any{"type": "vlan", "master": fmt.Sprintf("dv%d", end), "vlanId": 10}
		}),
		mk("untagged", "reference macvlan v1.9.1 (bridge) on each end, no tag", e.Macvlan, 2, func(end int) map[string]any {
			return map[string]any{"type": "macvlan", "master": fmt.Sprintf("du%d", end), "mode": "bridge"}
		}),
		mk("qinq-bridge", `qinq "containerLink": "bridge": 802.1ad 100 + 802.1Q 10 on each end`, e.Qinq, 3, func(end int) map[string]any {
			return map[string]any{"type": "qinq", "containerLink": "bridge", "master": fmt.Sprintf("db%d", end), "sVlan": 100, "cVlans": []int{10}}
		}),
		mk("bridge", "reference bridge v1.9.1, vlan 10, on a bridge whose uplink carries 802.1Q 10, on each end", e.Bridge, 4, func(end int) map[string]any {
			return map[string]any{"type": "bridge", "bridge": fmt.Sprintf("drb%d", end), "vlan": 10}
		}),
	}
}

// wires are the data path's wires, one per pair: w0 and w1 are its ends.
var wires = []string{"dq", "dv", "du", "db", "dr"}

// makeWires makes every wire and, on dr's ends, the reference bridge
// plugin's bridges with the ends as their uplinks, as a node would.
func makeWires() error {
	for _, w := range wires {
		if err := wire(w+"0", w+"1"); err != nil {
			return err
		}
	}
	for end := 0; end < 2; end++ {
		if err := trunk(fmt.Sprintf("drb%d", end), fmt.Sprintf("dr%d", end), 10); err != nil {
			return err
		}
	}
	return nil
}

// wireEnds are the links the pairs stack on and put no link on after DEL.
func wireEnds() []string {
	var out []string
	for _, w := range wires {
		out = append(out, w+"0", w+"1")
	}
	return out
}

// runDataPath is item 5. Each encapsulation has its own wire; the rounds
// rotate which goes first.
func runDataPath(e *Env, p params) ([]DataPath, error) {
	defer removeLinks(append(wireEnds(), "drb0", "drb1")...)
	if err := makeWires(); err != nil {
		return nil, err
	}
	pairs := dataPairs(e)
	nses, err := newNSes(2 * len(pairs))
	defer closeNSes(nses)
	if err != nil {
		return nil, err
	}
	for i, pp := range pairs {
		pp.nses = [2]ns.NetNS{nses[2*i], nses[2*i+1]}
		if err := e.attachPair(pp); err != nil {
			return nil, err
		}
	}
	for r := 0; r < p.iperfRounds; r++ {
		for i := range pairs {
			pp := pairs[(i+r)%len(pairs)]
			if err := pp.measure(p.iperfSeconds); err != nil {
				e.problem("data path %s: %v", pp.Mode, err)
			}
		}
	}
	out := make([]DataPath, len(pairs))
	for i, pp := range pairs {
		e.detachPair(pp)
		pp.TCPMd, pp.UDPMd = Num(median(pp.TCP)), Num(median(pp.UDP))
		out[i] = pp.DataPath
	}
	e.checkClean("data path", wireEnds(), nses)
	return out, nil
}

func (e *Env) attachPair(pp *pathPair) error {
	for end := 0; end < 2; end++ {
		call := Call{Cmd: "ADD", ContainerID: fmt.Sprintf("dp-%s-%d", pp.Mode, end), IfName: "net1", Netns: pp.nses[end], Conf: pp.confs[end]}
		if _, err := e.Exec(pp.plugin, call); err != nil {
			return err
		}
	}
	mtu, err := linkMTU(pp.nses[0], "net1")
	pp.MTU = mtu
	return err
}

func (e *Env) detachPair(pp *pathPair) {
	for end := 0; end < 2; end++ {
		call := Call{Cmd: "DEL", ContainerID: fmt.Sprintf("dp-%s-%d", pp.Mode, end), IfName: "net1", Netns: pp.nses[end], Conf: pp.confs[end]}
		if _, err := e.Exec(pp.plugin, call); err != nil {
			e.problem("data path: %v", err)
		}
	}
}

// measure runs one TCP and one UDP iperf3 test from a to b. UDP is sent as
// fast as the sender can (-b 0) in datagrams that fit every MTU here; what
// counts is what b received.
func (pp *pathPair) measure(seconds int) error {
	tcp, err := iperf(pp.nses, pp.ips[1], seconds)
	if err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	udp, err := iperf(pp.nses, pp.ips[1], seconds, "-u", "-b", "0", "-l", "1400")
	if err != nil {
		return fmt.Errorf("udp: %w", err)
	}
	pp.TCP, pp.UDP = append(pp.TCP, tcp), append(pp.UDP, udp)
	return nil
}

const iperf3 = "/usr/bin/iperf3"

// iperf runs a one-shot server in nses[1] and the client in nses[0], and
// returns the Mbit/s the server received.
func iperf(nses [2]ns.NetNS, server string, seconds int, args ...string) (float64, error) {
	srv := exec.Command("/usr/bin/nsenter", "--net="+nses[1].Path(), iperf3, "-s", "-1", "--forceflush", "-B", server)
	out, err := srv.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer srv.Wait()
	defer srv.Process.Kill()
	if err := waitListening(bufio.NewScanner(out)); err != nil {
		return 0, err
	}
	argv := append([]string{"--net=" + nses[0].Path(), iperf3, "-c", server, "-t", fmt.Sprint(seconds), "-J"}, args...)
	cmd := exec.Command("/usr/bin/nsenter", argv...)
	js, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("iperf3 client: %v: %s", err, js)
	}
	var res struct {
		Error string
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		}
	}
	if err := json.Unmarshal(js, &res); err != nil || res.Error != "" {
		return 0, fmt.Errorf("iperf3 client: %v %s", err, res.Error)
	}
	return res.End.SumReceived.BitsPerSecond / 1e6, nil
}

// waitListening reads the server's banner: the client may start once it
// says it listens.
func waitListening(sc *bufio.Scanner) error {
	done := make(chan bool, 1)
	go func() {
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Server listening") {
				done <- true
				for sc.Scan() { // keep draining: the server must never block on stdout
				}
				return
			}
		}
		done <- false
	}()
	select {
	case ok := <-done:
		if !ok {
			return fmt.Errorf("iperf3 server exited before listening")
		}
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("iperf3 server not listening after 30 s")
	}
}
