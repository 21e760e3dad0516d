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
	// Seconds spent populating and tearing down, for the record.
	PopulateSec float64 `json:"populateSec"`
	TeardownSec float64 `json:"teardownSec"`
}

// population is the links a scale row puts on a node before it measures.
// qinq's attachments are made by the plugin itself (its state is links plus
// its own records, whose layout is its business), 4 at a time with no IPAM
// (the state is the same with it), each with its own container as pods have.
// The reference vlan plugin keeps no state but the kernel's, so its links are
// made directly as it makes them.
type population struct {
	node       *node
	containers bool // each member has a container of its own
	nses       []ns.NetNS
	qinq       func(i int) []byte            // qinq's attachment i (0-based)
	vlan       func(i int, c ns.NetNS) error // or the reference's link i
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
		if p.qinq == nil {
			return p.vlan(i, c)
		}
		call := Call{Cmd: "ADD", ContainerID: fmt.Sprintf("pop%d", i), IfName: "net1", Netns: c, Conf: p.qinq(i), Node: p.node}
		_, err := e.Exec(e.Qinq, call)
		return err
	})
	p.n = n
	if len(errs) > 0 {
		return fmt.Errorf("populate %d: %d failed, first: %w", n, len(errs), errs[0])
	}
	return nil
}

// teardown DELs qinq's population, 4 at a time, as a node draining does.
func (e *Env) teardown(p *population) {
	if p.qinq == nil {
		return
	}
	errs := parallel(p.n, 4, func(i int) error {
		call := Call{Cmd: "DEL", ContainerID: fmt.Sprintf("pop%d", i), IfName: "net1", Netns: p.nses[i], Conf: p.qinq(i), Node: p.node}
		_, err := e.Exec(e.Qinq, call)
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
	qMaster, vMaster string
	qinq             func(i int) map[string]any // populated qinq attachment i
	vlan             func(n *node) func(i int, c ns.NetNS) error
	vlanContainers   bool // the reference's links go into containers
	measured         func(n *node, nses []ns.NetNS) []*variant
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
		qinq: &population{node: n, containers: true, qinq: func(i int) []byte { return conf(r.qinq(i)) }},
		ref:  &population{node: n, containers: r.vlanContainers, vlan: r.vlan(n)},
	}
	for _, m := range []string{r.qMaster, r.vMaster} {
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

// measuredPair: qinq joins (attachments row) or creates (S-links row) an
// S-link with sVlan, cVlans [cVlan]; the reference adds VLAN 4000 to its
// master. Static IPAM: no state, no lock, the same for both.
func measuredPair(e *Env, qMaster, vMaster string, sVlan, cVlan int) func(n *node, nses []ns.NetNS) []*variant {
	ipam := staticIPAM("10.20.0.2/24")
	return func(n *node, nses []ns.NetNS) []*variant {
		return []*variant{
			{Name: "qinq", Plugin: e.Qinq, NS: nses[0], Node: n, Conf: conf(map[string]any{"name": "scale-" + qMaster,
				"type": "qinq", "containerLink": "vlan", "master": qMaster, "sVlan": sVlan, "cVlans": []int{cVlan}, "ipam": ipam})},
			{Name: "vlan", Plugin: e.Vlan, NS: nses[1], Node: n, Conf: conf(map[string]any{"name": "scale-" + vMaster,
				"type": "vlan", "master": vMaster, "vlanId": 4000, "ipam": ipam})},
		}
	}
}

// runScale is item 3: S-links on one master, then attachments on one S-link.
func runScale(e *Env, p params) (Scale, error) {
	var s Scale
	var err error
	s.SLinks, err = e.runRow(row{
		what: "S-links", counts: []int{0, p.sLinks}, qMaster: "ss0", vMaster: "ssv0",
		qinq: func(i int) map[string]any {
			return map[string]any{"name": "scale-ss0", "type": "qinq", "containerLink": "vlan", "master": "ss0", "sVlan": i + 1, "cVlans": []int{10}}
		},
		measured: measuredPair(e, "ss0", "ssv0", 4000, 10),
		vlan: func(n *node) func(int, ns.NetNS) error {
			return func(i int, _ ns.NetNS) error { return n.vlanOn("ssv0", fmt.Sprintf("ssv0.%d", i+1), i+1) }
		},
	}, p, &s)
	if err != nil {
		return s, err
	}
	s.Attachments, err = e.runRow(row{
		what: "attachments", counts: p.attachLevels, qMaster: "sa0", vMaster: "sav0", vlanContainers: true,
		qinq: func(i int) map[string]any {
			return map[string]any{"name": "scale-sa0", "type": "qinq", "containerLink": "vlan", "master": "sa0", "sVlan": 100, "cVlans": []int{i + 1}}
		},
		measured: measuredPair(e, "sa0", "sav0", 100, 4000),
		vlan: func(n *node) func(int, ns.NetNS) error {
			return func(i int, c ns.NetNS) error { return n.vlanInto("sav0", i+1, c) }
		},
	}, p, &s)
	return s, err
}
