package main

import (
	"fmt"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ScaleLevel is ADD and DEL latency (ms) of one plugin with Count links
// already on the node.
type ScaleLevel struct {
	Plugin string  `json:"plugin"`
	Count  int     `json:"count"`
	Add    Summary `json:"add"`
	Del    Summary `json:"del"`
}

// Scale is item 3.
type Scale struct {
	// Attachments: Count attachments already share qinq's S-link (and Count
	// VLAN links are on the reference vlan plugin's master).
	Attachments []ScaleLevel `json:"attachments"`
	// SLinks: Count S-links already on qinq's master (0, then the target).
	SLinks []ScaleLevel `json:"sLinks"`
	// Seconds spent populating and tearing down, for the record.
	PopulateSec float64 `json:"populateSec"`
	TeardownSec float64 `json:"teardownSec"`
}

// The measured pair joins an S-link the population shares (cVlan 4000), or
// creates its own S-link (sVlan 4000) among the populated ones.
func scaleVariants(e *Env, qMaster, vMaster string, sVlan int, nses []ns.NetNS) []*variant {
	ipam := staticIPAM("10.20.0.2/24")
	return []*variant{
		{Name: "qinq", Plugin: e.Qinq, NS: nses[0], Conf: conf(map[string]any{"name": "scale-" + qMaster, "type": "qinq",
			"master": qMaster, "sVlan": sVlan, "cVlans": []int{4000}, "ipam": ipam})},
		{Name: "vlan", Plugin: e.Vlan, NS: nses[1], Conf: conf(map[string]any{"name": "scale-" + vMaster, "type": "vlan",
			"master": vMaster, "vlanId": 4000, "ipam": ipam})},
	}
}

func (e *Env) measureLevel(vs []*variant, count int, p params) []ScaleLevel {
	got := e.interleave(vs, p.scaleRounds, p.scaleBlock)
	out := make([]ScaleLevel, len(vs))
	for i, v := range vs {
		out[i] = ScaleLevel{Plugin: v.Name, Count: count, Add: summarize(got[v.Name].add), Del: summarize(got[v.Name].del)}
	}
	return out
}

// population is the attachments a scale row puts on the node before it
// measures; each has its own container, as pods do.
type population struct {
	nses []ns.NetNS
	// qinq makes attachment i (0-based) with the plugin itself; nil: none.
	qinq func(i int) []byte
	// vlanMaster gets VLAN i+1 per container, made in-process.
	vlanMaster string
}

// grow brings the population to n attachments. qinq's are made by the
// plugin (its state is links plus its own records, whose layout is its
// business), 4 at a time with no IPAM (the state is the same with it); the
// reference vlan plugin keeps no state but the kernel's, so its links are
// made directly as it makes them: VLAN i on the master, in the container,
// named net1, up, with an address.
func (e *Env) grow(p *population, n int) error {
	have := len(p.nses)
	more, err := newNSes(n - have)
	p.nses = append(p.nses, more...)
	if err != nil {
		return err
	}
	errs := parallel(n-have, 4, func(j int) error {
		i := have + j
		if p.qinq != nil {
			call := Call{Cmd: "ADD", ContainerID: fmt.Sprintf("pop%d", i), IfName: "net1", Netns: p.nses[i], Conf: p.qinq(i)}
			_, err := e.Exec(e.Qinq, call)
			return err
		}
		return vlanInto(p.vlanMaster, i+1, p.nses[i])
	})
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
	errs := parallel(len(p.nses), 4, func(i int) error {
		call := Call{Cmd: "DEL", ContainerID: fmt.Sprintf("pop%d", i), IfName: "net1", Netns: p.nses[i], Conf: p.qinq(i)}
		_, err := e.Exec(e.Qinq, call)
		return err
	})
	for _, err := range errs {
		e.problem("scale teardown: %v", err)
	}
}

func vlanInto(master string, vid int, n ns.NetNS) error {
	m, err := netlink.LinkByName(master)
	if err != nil {
		return err
	}
	attrs := netlink.LinkAttrs{Name: "net1", ParentIndex: m.Attrs().Index, Namespace: netlink.NsFd(int(n.Fd()))}
	if err := netlink.LinkAdd(&netlink.Vlan{LinkAttrs: attrs, VlanId: vid}); err != nil {
		return fmt.Errorf("vlan %d on %s: %w", vid, master, err)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(n.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName("net1")
	if err == nil {
		err = h.LinkSetUp(l)
	}
	if err == nil {
		addr, _ := netlink.ParseAddr(fmt.Sprintf("10.21.%d.%d/16", vid/250, vid%250+1))
		err = h.AddrAdd(l, addr)
	}
	return err
}

// runScale is item 3: first S-links on one master, then attachments on one
// S-link, each torn down and checked before the next.
func runScale(e *Env, p params) (Scale, error) {
	var s Scale
	var err error
	if s.SLinks, err = e.scaleSLinks(p, &s); err != nil {
		return s, err
	}
	s.Attachments, err = e.scaleAttachments(p, &s)
	return s, err
}

func (e *Env) scaleSLinks(p params, s *Scale) ([]ScaleLevel, error) {
	masters := []string{"ss0", "ssv0"}
	for _, m := range masters {
		if err := dummy(m); err != nil {
			return nil, err
		}
	}
	defer removeLinks(masters...)
	mnses, err := newNSes(2)
	defer closeNSes(mnses)
	if err != nil {
		return nil, err
	}
	vs := scaleVariants(e, "ss0", "ssv0", 4000, mnses)
	pop := &population{qinq: func(i int) []byte {
		return conf(map[string]any{"name": "scale-ss0", "type": "qinq", "master": "ss0", "sVlan": i + 1, "cVlans": []int{10}})
	}}
	defer func() { closeNSes(pop.nses) }()
	levels := e.measureLevel(vs, 0, p)
	t := time.Now()
	if err := e.grow(pop, p.sLinks); err != nil {
		return levels, err
	}
	s.PopulateSec += time.Since(t).Seconds()
	levels = append(levels, e.measureLevel(vs, p.sLinks, p)...)
	t = time.Now()
	e.teardown(pop)
	s.TeardownSec += time.Since(t).Seconds()
	e.checkClean("scale S-links", []string{"ss0", "ssv0"}, append(pop.nses, mnses...))
	return levels, nil
}

func (e *Env) scaleAttachments(p params, s *Scale) ([]ScaleLevel, error) {
	masters := []string{"sa0", "sav0"}
	for _, m := range masters {
		if err := dummy(m); err != nil {
			return nil, err
		}
	}
	defer removeLinks(masters...)
	mnses, err := newNSes(2)
	defer closeNSes(mnses)
	if err != nil {
		return nil, err
	}
	vs := scaleVariants(e, "sa0", "sav0", 100, mnses)
	q := &population{qinq: func(i int) []byte {
		return conf(map[string]any{"name": "scale-sa0", "type": "qinq", "master": "sa0", "sVlan": 100, "cVlans": []int{i + 1}})
	}}
	v := &population{vlanMaster: "sav0"}
	defer func() { closeNSes(q.nses); closeNSes(v.nses) }()
	var levels []ScaleLevel
	for _, n := range p.attachLevels {
		t := time.Now()
		if err := e.grow(q, n); err != nil {
			return levels, err
		}
		if err := e.grow(v, n); err != nil {
			return levels, err
		}
		s.PopulateSec += time.Since(t).Seconds()
		logf("scale: %d attachments on each master (%.0f s to populate)", n, time.Since(t).Seconds())
		levels = append(levels, e.measureLevel(vs, n, p)...)
	}
	t := time.Now()
	e.teardown(q)
	s.TeardownSec += time.Since(t).Seconds()
	e.checkClean("scale attachments", []string{"sa0"}, append(q.nses, mnses...))
	return levels, nil
}
