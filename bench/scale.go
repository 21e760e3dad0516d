package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// ScaleLevel is ADD and DEL latency (ms) of one plugin with Count links
// already on the node.
type ScaleLevel struct {
	Plugin string  `json:"plugin"`
	Count  int     `json:"count"`
	Add    Summary `json:"add"`
	Del    Summary `json:"del"`
}

// Scale is item 3. Every size of a row has a node of its own (a network
// namespace with its masters and qinq's references), all populated first and
// then measured together, interleaved.
type Scale struct {
	// Attachments: Count attachments already share qinq's S-link, and Count
	// VLAN links of containers are on the reference vlan plugin's master.
	Attachments []ScaleLevel `json:"attachments"`
	// SLinks: Count S-links already on qinq's master, and Count VLAN links
	// on the reference's master.
	SLinks []ScaleLevel `json:"sLinks"`
	// BridgePods: Count pods are already ports of qinq's bridge on one
	// (S, C), and Count pods of the reference bridge plugin on its bridge.
	BridgePods []ScaleLevel `json:"bridgePods"`
	// Seconds spent populating and tearing down, for the record.
	PopulateSec float64 `json:"populateSec"`
	TeardownSec float64 `json:"teardownSec"`
}

// population is the links a scale row puts on a node before it measures.
// qinq's attachments are made by the plugin itself (its state is links plus
// its own records, whose layout is its business), 4 at a time with no IPAM
// (the state is the same with it), each with its own container as pods have.
// The reference bridge plugin's ports are made by it too (how it makes them
// is its business: it lists the bridge's VLANs); the reference vlan plugin
// keeps no state but one link, so its links are made directly as it makes them.
type population struct {
	node       *node
	containers bool // each member has a container of its own
	nses       []ns.NetNS
	plugin     string
	conf       func(i int) []byte            // member i (0-based), made by plugin
	direct     func(i int, c ns.NetNS) error // or made directly
	n          int
}

// grow brings the population to n.
func (e *Env) grow(p *population, n int) error {
	have := p.n
	if p.containers {
		more, err := newNSes(n - have)
		p.nses = append(p.nses, more...)
		if err != nil {
			return err
		}
	}
	errs := parallel(n-have, 4, func(j int) error {
		i := have + j
		var c ns.NetNS
		if p.containers {
			c = p.nses[i]
		}
		if p.conf == nil {
			return p.direct(i, c)
		}
		call := Call{Cmd: "ADD", ContainerID: fmt.Sprintf("pop%d", i), IfName: "net1", Netns: c, Conf: p.conf(i), Node: p.node}
		_, err := e.Exec(p.plugin, call)
		return err
	})
	p.n = n
	if len(errs) > 0 {
		return fmt.Errorf("populate %d: %d failed, first: %w", n, len(errs), errs[0])
	}
	return nil
}

// teardown DELs qinq's population, 4 at a time, as a node draining does.
// (A reference's population goes with its node and containers: it keeps no
// state of its own.)
func (e *Env) teardown(p *population) {
	errs := parallel(p.n, 4, func(i int) error {
		call := Call{Cmd: "DEL", ContainerID: fmt.Sprintf("pop%d", i), IfName: "net1", Netns: p.nses[i], Conf: p.conf(i), Node: p.node}
		_, err := e.Exec(p.plugin, call)
		return err
	})
	for _, err := range errs {
		e.problem("scale teardown: %v", err)
	}
}

// row is one scale row: a node per size with qinq's and the reference's
// populations on it, and the pair of variants measured there.
type row struct {
	what             string
	counts           []int
	qMaster, vMaster string                     // vMaster "": the reference needs none
	qinq             func(i int) map[string]any // populated qinq attachment i
	// The reference's populated attachment i, made by refPlugin, or its
	// link i made directly by vlan.
	refPlugin     string
	ref           func(i int) map[string]any
	vlan          func(n *node) func(i int, c ns.NetNS) error
	refContainers bool // the reference's links go into containers
	measured      func(n *node, nses []ns.NetNS) []*variant
}

// refPopulation is the reference's population of r on node n.
func (r row) refPopulation(n *node) *population {
	p := &population{node: n, containers: r.refContainers}
	if r.ref != nil {
		p.plugin, p.conf = r.refPlugin, confs(r.ref)
	} else {
		p.direct = r.vlan(n)
	}
	return p
}

func confs(f func(i int) map[string]any) func(i int) []byte {
	return func(i int) []byte { return conf(f(i)) }
}

// level is one size of a row: its node, populations and measured containers.
type level struct {
	node      *node
	qinq, ref *population
	measured  []ns.NetNS
}

func (l *level) close() {
	closeNSes(l.qinq.nses)
	closeNSes(l.ref.nses)
	closeNSes(l.measured)
	l.node.close()
}

func (e *Env) runRow(r row, p params, s *Scale) ([]ScaleLevel, error) {
	var levels []*level
	var measured []*variant
	defer func() {
		for _, l := range levels {
			l.close()
		}
	}()
	t := time.Now()
	for _, count := range r.counts {
		l, vs, err := e.prepareLevel(r, count)
		if l != nil {
			levels = append(levels, l)
		}
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			v.Name = fmt.Sprintf("%s.%d", v.Name, count) // also in container IDs: no "@"
		}
		measured = append(measured, vs...)
		logf("scale: %d %s on a node of its own (%.0f s so far)", count, r.what, time.Since(t).Seconds())
	}
	s.PopulateSec += time.Since(t).Seconds()
	got := e.interleave(measured, p.scaleRounds, p.scaleBlock)
	t = time.Now()
	for _, l := range levels {
		e.teardown(l.qinq)
	}
	for _, l := range levels { // qinq's store is checked whole: every node is torn down first
		e.checkNode("scale "+r.what, l.node, []string{r.qMaster}, append(l.qinq.nses, l.measured...))
	}
	s.TeardownSec += time.Since(t).Seconds()
	return levelsOf(measured, got), nil
}

// prepareLevel makes the node for one size, populates it, and returns it
// with the variants to measure there.
func (e *Env) prepareLevel(r row, count int) (*level, []*variant, error) {
	n, err := newNode()
	if err != nil {
		return nil, nil, err
	}
	l := &level{node: n,
		qinq: &population{node: n, containers: true, plugin: e.Qinq, conf: confs(r.qinq)},
		ref:  r.refPopulation(n),
	}
	for _, m := range []string{r.qMaster, r.vMaster} {
		if m == "" {
			continue
		}
		if err := n.dummy(m); err != nil {
			return l, nil, err
		}
	}
	if l.measured, err = newNSes(2); err != nil {
		return l, nil, err
	}
	if err := e.grow(l.qinq, count); err != nil {
		return l, nil, err
	}
	return l, r.measured(n, l.measured), e.grow(l.ref, count)
}

func levelsOf(vs []*variant, got map[string]samples) []ScaleLevel {
	out := make([]ScaleLevel, 0, len(vs))
	for _, v := range vs {
		plugin, count, _ := strings.Cut(v.Name, ".")
		c, _ := strconv.Atoi(count)
		out = append(out, ScaleLevel{Plugin: plugin, Count: c, Add: summarize(got[v.Name].add), Del: summarize(got[v.Name].del)})
	}
	return out
}

// measuredPair: qinq's attachment q (which joins or creates an S-link) and
// the reference's v, named ref. Static IPAM: no state, no lock, the same for
// both.
func measuredPair(e *Env, q map[string]any, refPlugin, ref string, v map[string]any) func(n *node, nses []ns.NetNS) []*variant {
	ipam := staticIPAM("10.20.0.2/24")
	q["ipam"], v["ipam"] = ipam, ipam
	qc, vc := conf(q), conf(v)
	return func(n *node, nses []ns.NetNS) []*variant {
		return []*variant{
			{Name: "qinq", Plugin: e.Qinq, NS: nses[0], Node: n, Conf: qc},
			{Name: ref, Plugin: refPlugin, NS: nses[1], Node: n, Conf: vc},
		}
	}
}

// scaleQinq is qinq's network on master with (sVlan, [cVlan]) and link.
func scaleQinq(master, link string, sVlan, cVlan int) map[string]any {
	return map[string]any{"name": "scale-" + master, "type": "qinq", "containerLink": link, "master": master, "sVlan": sVlan, "cVlans": []int{cVlan}}
}

// scaleVlan is the reference vlan plugin's network on master with vid.
func scaleVlan(master string, vid int) map[string]any {
	return map[string]any{"name": "scale-" + master, "type": "vlan", "master": master, "vlanId": vid}
}

// scaleBridge is the reference bridge plugin's network: vlan 10 on sbr0,
// which it makes and keeps.
func scaleBridge(int) map[string]any {
	return map[string]any{"name": "scale-sbr0", "type": "bridge", "bridge": "sbr0", "vlan": 10}
}

// runScale is item 3: S-links on one master, attachments on one S-link,
// then pods on one bridge.
func runScale(e *Env, p params) (Scale, error) {
	var s Scale
	var err error
	s.SLinks, err = e.runRow(row{
		what: "S-links", counts: []int{0, p.sLinks}, qMaster: "ss0", vMaster: "ssv0",
		qinq:     func(i int) map[string]any { return scaleQinq("ss0", "vlan", i+1, 10) },
		measured: measuredPair(e, scaleQinq("ss0", "vlan", 4000, 10), e.Vlan, "vlan", scaleVlan("ssv0", 4000)),
		vlan: func(n *node) func(int, ns.NetNS) error {
			return func(i int, _ ns.NetNS) error { return n.vlanOn("ssv0", fmt.Sprintf("ssv0.%d", i+1), i+1) }
		},
	}, p, &s)
	if err != nil {
		return s, err
	}
	s.Attachments, err = e.runRow(row{
		what: "attachments", counts: p.attachLevels, qMaster: "sa0", vMaster: "sav0", refContainers: true,
		qinq:     func(i int) map[string]any { return scaleQinq("sa0", "vlan", 100, i+1) },
		measured: measuredPair(e, scaleQinq("sa0", "vlan", 100, 4000), e.Vlan, "vlan", scaleVlan("sav0", 4000)),
		vlan: func(n *node) func(int, ns.NetNS) error {
			return func(i int, c ns.NetNS) error { return n.vlanInto("sav0", i+1, c) }
		},
	}, p, &s)
	if err != nil {
		return s, err
	}
	// Every pod, populated or measured, is a port of the same bridge: qinq's
	// on (S100, C10), the reference's sbr0.
	s.BridgePods, err = e.runRow(row{
		what: "pods on one bridge", counts: p.attachLevels, qMaster: "sb0", refContainers: true,
		qinq:      func(int) map[string]any { return scaleQinq("sb0", "bridge", 100, 10) },
		refPlugin: e.Bridge, ref: scaleBridge,
		measured: measuredPair(e, scaleQinq("sb0", "bridge", 100, 10), e.Bridge, "bridge", scaleBridge(0)),
	}, p, &s)
	return s, err
}
